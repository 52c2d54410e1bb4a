package spool

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
)

// FuzzRecordDecode feeds arbitrary payloads to the decoder: it must return
// a batch or an error, never panic, and what it accepts must encode back to
// a record that decodes to the same batch.
func FuzzRecordDecode(f *testing.F) {
	for i := range 3 {
		b := batch(i)
		rec := appendRecord(nil, &b, time.Unix(1_800_000_000, 0))
		f.Add(rec[headerSize:])
	}
	f.Add([]byte{})
	f.Add([]byte{0x80, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, payload []byte) {
		b, appended, err := decode(payload)
		if err != nil {
			return
		}
		rec := appendRecord(nil, &b, appended)
		again, when, err := decode(rec[headerSize:])
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if again.Tenant != b.Tenant || again.Entries != b.Entries || string(again.Body) != string(b.Body) || !when.Equal(appended) {
			t.Fatalf("round trip changed the batch: %+v -> %+v", b, again)
		}
	})
}

// FuzzSegmentReplay opens a spool whose only segment holds arbitrary bytes:
// the spool must open and replay the intact records before the first damage,
// whatever follows.
func FuzzSegmentReplay(f *testing.F) {
	var seg []byte
	for i := range 3 {
		b := batch(i)
		seg = appendRecord(seg, &b, time.Unix(1_800_000_000, 0))
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
