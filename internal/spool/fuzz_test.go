package spool

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
)

// FuzzRecordDecode feeds arbitrary payloads to the decoder: it must return
// an entry or an error, never panic, and what it accepts must encode back to
// a record that decodes to the same entry.
func FuzzRecordDecode(f *testing.F) {
	for i := range 3 {
		e := entry(i)
		rec := appendRecord(nil, &e, time.Unix(1_800_000_000, 0))
		f.Add(rec[headerSize:])
	}
	f.Add([]byte{})
	f.Add([]byte{0x80, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, payload []byte) {
		var d decoder
		e, appended, err := d.decode(payload)
		if err != nil {
			return
		}
		rec := appendRecord(nil, &e, appended)
		var d2 decoder
		again, _, err := d2.decode(rec[headerSize:])
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if again.Line != e.Line || !again.Timestamp.Equal(e.Timestamp) || !again.Labels.Equal(e.Labels) || len(again.StructuredMetadata) != len(e.StructuredMetadata) {
			t.Fatalf("round trip changed the entry: %+v -> %+v", e, again)
		}
	})
}

// FuzzSegmentReplay opens a spool whose only segment holds arbitrary bytes:
// the spool must open and replay the intact records before the first damage,
// whatever follows.
func FuzzSegmentReplay(f *testing.F) {
	var seg []byte
	for i := range 3 {
		e := entry(i)
		seg = appendRecord(seg, &e, time.Unix(1_800_000_000, 0))
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-5])
	f.Add([]byte("not a segment at all"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "0000000000000001.seg"), data, 0o640); err != nil {
			t.Fatal(err)
		}
		s, err := Open(Options{Dir: dir, SegmentSize: 1 << 20, MaxSize: 4 << 20}, NewMetrics(nil), "fuzz", promslog.NewNopLogger())
		if err != nil {
			t.Fatalf("a damaged segment stopped the spool from opening: %v", err)
		}
		defer s.Close()
		for range len(data) + 1 {
			_, _, ok, err := s.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
		}
		t.Fatal("more records than bytes")
	})
}
