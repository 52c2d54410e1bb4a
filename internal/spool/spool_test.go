package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"
)

func testOptions(dir string) Options {
	return Options{Dir: dir, SegmentSize: 4 << 10, MaxSize: 1 << 20, SyncEachBatch: true}
}

func open(t *testing.T, opts Options, m *Metrics) *Spool {
	t.Helper()
	s, err := Open(opts, m, "test", promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func batch(i int) Batch {
	return Batch{
		Tenant:  fmt.Sprintf("t%d", i%3),
		Entries: i%5 + 1,
		Body:    fmt.Appendf(nil, `body %d %0100d`, i, i),
	}
}

func write(t *testing.T, s *Spool, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		e := batch(i)
		if err := s.Append(&e); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
}

// readAll reads what is readable now, checks it is entries from..., and
// returns the position after the last.
func readAll(t *testing.T, s *Spool, from int) (next int, end int64) {
	t.Helper()
	next = from
	for {
		b, p, ok, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return next, end
		}
		want := batch(next)
		if b.Tenant != want.Tenant || b.Entries != want.Entries || string(b.Body) != string(want.Body) {
			t.Fatalf("record %d = %+v, want %+v", next, b, want)
		}
		next++
		end = p
	}
}

func TestAppendReadAckReplay(t *testing.T) {
	dir := t.TempDir()
	m := NewMetrics(prometheus.NewRegistry())
	s := open(t, testOptions(dir), m)
	write(t, s, 0, 100)
	n, end := readAll(t, s, 0)
	if n != 100 {
		t.Fatalf("read %d records, want 100", n)
	}
	segs, _ := segmentIDs(dir)
	if len(segs) < 3 {
		t.Fatalf("only %d segments for 100 records of ~150 bytes at 4 KiB a segment", len(segs))
	}
	// Loki acknowledged the first 40 only: find the position after record 39.
	s.Ack(posAfter(t, dir, 40))
	// Records i hold i%5+1 entries: 300 in all, 120 in the first 40.
	if got := testutil.ToFloat64(m.entries.WithLabelValues("test")); got != 180 {
		t.Fatalf("entries gauge = %v, want 180", got)
	}
	if age := s.oldestAgeLocked(time.Now()); age <= 0 {
		t.Fatalf("oldest unacknowledged age = %v with 60 records waiting", age)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, testOptions(dir), m)
	defer s.Close()
	n, end = readAll(t, s, 40)
	if n != 100 {
		t.Fatalf("replay ended at %d, want 100", n)
	}
	if got := testutil.ToFloat64(m.replayed.WithLabelValues("test")); got != 180 {
		t.Fatalf("replayed entries = %v, want 180", got)
	}
	s.Ack(end)
	if got := testutil.ToFloat64(m.entries.WithLabelValues("test")); got != 0 {
		t.Fatalf("entries gauge = %v after everything was acknowledged", got)
	}
	segs, _ = segmentIDs(dir)
	if len(segs) != 1 {
		t.Fatalf("%d segments left after everything was acknowledged, want only the one being written", len(segs))
	}
}

// posAfter finds the position after the first n records by reading a fresh
// spool over dir.
func posAfter(t *testing.T, dir string, n int) int64 {
	t.Helper()
	ids, _ := segmentIDs(dir)
	count := 0
	for _, id := range ids {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("%016x.seg", id)))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := f.Stat()
		sc := scanner{f: f, limit: info.Size()}
		for {
			if _, err := sc.next(); err != nil {
				break
			}
			count++
			if count == n {
				f.Close()
				return pos(id, sc.off)
			}
		}
		f.Close()
	}
	t.Fatalf("fewer than %d records", n)
	return 0
}

// A crash can leave the last segment cut anywhere. Whatever the cut, the
// spool opens, keeps every complete record and replays it.
func TestTornSegmentAtEveryOffset(t *testing.T) {
	src := t.TempDir()
	s := open(t, Options{Dir: src, SegmentSize: 1 << 20, MaxSize: 4 << 20, SyncEachBatch: true}, NewMetrics(nil))
	write(t, s, 0, 5)
	s.Close()
	ids, _ := segmentIDs(src)
	data, err := os.ReadFile(filepath.Join(src, fmt.Sprintf("%016x.seg", ids[0])))
	if err != nil {
		t.Fatal(err)
	}
	// Record boundaries, to know how many records each cut keeps.
	var ends []int
	for off := 0; off < len(data); {
		n, _ := checkHeader(data[off:])
		off += headerSize + n
		ends = append(ends, off)
	}
	for cut := 0; cut <= len(data); cut++ {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%016x.seg", ids[0])), data[:cut], 0o640); err != nil {
			t.Fatal(err)
		}
		s, err := Open(Options{Dir: dir, SegmentSize: 1 << 20, MaxSize: 4 << 20}, NewMetrics(nil), "test", promslog.NewNopLogger())
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		complete := 0
		for _, e := range ends {
			if e <= cut {
				complete++
			}
		}
		if n, _ := readAll(t, s, 0); n != complete {
			t.Fatalf("cut at %d: replayed %d records, want %d", cut, n, complete)
		}
		s.Close()
	}
}

func TestDamagedRecordSkipsRestOfSegment(t *testing.T) {
	dir := t.TempDir()
	m := NewMetrics(prometheus.NewRegistry())
	s := open(t, testOptions(dir), m)
	write(t, s, 0, 100)
	s.Close()
	ids, _ := segmentIDs(dir)
	first := filepath.Join(dir, fmt.Sprintf("%016x.seg", ids[0]))
	data, _ := os.ReadFile(first)
	data[headerSize+3] ^= 0xff // inside the first record's payload
	os.WriteFile(first, data, 0o640)

	s = open(t, testOptions(dir), m)
	defer s.Close()
	var lines int
	for {
		_, _, ok, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		lines++
	}
	if lines == 0 || lines >= 100 {
		t.Fatalf("read %d records after damaging the first segment's first record", lines)
	}
	if got := testutil.ToFloat64(m.corrupt.WithLabelValues("test")); got == 0 {
		t.Fatal("damage not counted")
	}
}

func TestFullBlocksThenDropsOldest(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentSize: 2 << 10, MaxSize: 4 << 10, SyncEachBatch: true}
	s := open(t, opts, NewMetrics(nil))
	var err error
	i := 0
	for ; i < 1000 && err == nil; i++ {
		e := batch(i)
		if err = s.Append(&e); err == nil {
			err = s.Sync()
		}
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Append never reported a full spool: %v", err)
	}
	// Acknowledging everything read makes room.
	_, end := readAll(t, s, 0)
	done := make(chan struct{})
	go func() { s.WaitRoom(nil); close(done) }()
	s.Ack(end)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WaitRoom not woken by an acknowledgement that deleted segments")
	}
	s.Close()

	m := NewMetrics(prometheus.NewRegistry())
	opts.WhenFull = DropOldest
	opts.Dir = t.TempDir()
	s = open(t, opts, m)
	defer s.Close()
	write(t, s, 0, 200)
	if got := testutil.ToFloat64(m.dropped.WithLabelValues("test")); got == 0 {
		t.Fatal("nothing counted as dropped")
	}
	if got := testutil.ToFloat64(m.bytes.WithLabelValues("test")); got > float64(opts.MaxSize+opts.SegmentSize) {
		t.Fatalf("spool holds %v bytes, cap %d", got, opts.MaxSize)
	}
	// The reader starts at the oldest kept record and reads to the end.
	e, _, ok, err := s.Next()
	if err != nil || !ok || string(e.Body) == string(batch(0).Body) {
		t.Fatalf("first record after drops: %v %v %q", ok, err, e.Body)
	}
}

// Every entry ever appended is acknowledged, counted as dropped or still
// there to read, across a restart too: the entries of the oldest segment
// acknowledged before the restart are not counted again when it is dropped.
func TestDropOldestCountsAfterRestart(t *testing.T) {
	opts := Options{Dir: t.TempDir(), SegmentSize: 2 << 10, MaxSize: 4 << 10, SyncEachBatch: true, WhenFull: DropOldest}
	s := open(t, opts, NewMetrics(nil))
	write(t, s, 0, 5)
	acked := 0
	var end int64
	for i := range 3 {
		_, p, ok, err := s.Next()
		if err != nil || !ok {
			t.Fatalf("record %d: %v %v", i, ok, err)
		}
		acked += batch(i).Entries
		end = p
	}
	s.Ack(end)
	s.Close()

	m := NewMetrics(prometheus.NewRegistry())
	s = open(t, opts, m)
	defer s.Close()
	write(t, s, 5, 200)
	dropped := int(testutil.ToFloat64(m.dropped.WithLabelValues("test")))
	if dropped == 0 {
		t.Fatal("nothing dropped: the test needs the first segment to go")
	}
	readable := 0
	for {
		b, _, ok, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		readable += b.Entries
	}
	total := 0
	for i := range 200 {
		total += batch(i).Entries
	}
	if acked+dropped+readable != total {
		t.Fatalf("acknowledged %d + dropped %d + readable %d = %d entries, %d were appended", acked, dropped, readable, acked+dropped+readable, total)
	}
}

// A failing disk (here /dev/full: every write is ENOSPC) is an error from
// Sync, counted, with the records kept; once the disk has room again they are
// written.
func TestDiskFullKeepsRecordsAndRecovers(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	dir := t.TempDir()
	m := NewMetrics(prometheus.NewRegistry())
	s := open(t, testOptions(dir), m)
	defer s.Close()
	write(t, s, 0, 3)
	// The next segment the spool starts is /dev/full.
	s.needNewSeg = true
	next := filepath.Join(dir, fmt.Sprintf("%016x.seg", s.activeSeg.id+1))
	if err := os.Symlink("/dev/full", next); err != nil {
		t.Fatal(err)
	}
	e := batch(3)
	if err := s.Append(&e); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err == nil {
		t.Fatal("Sync on a full disk succeeded")
	}
	if got := testutil.ToFloat64(m.writeErrors.WithLabelValues("test")); got == 0 {
		t.Fatal("write error not counted")
	}
	// Room again: the symlink goes, the segment is created anew.
	os.Remove(next)
	if err := s.Sync(); err != nil {
		t.Fatalf("Sync after the disk has room: %v", err)
	}
	if n, _ := readAll(t, s, 0); n != 4 {
		t.Fatalf("read %d records, want 4", n)
	}
}

func TestReadableAfterSync(t *testing.T) {
	s := open(t, testOptions(t.TempDir()), NewMetrics(nil))
	defer s.Close()
	errc := make(chan error, 1)
	go func() {
		b := batch(0)
		if err := s.Append(&b); err != nil {
			errc <- err
			return
		}
		errc <- s.Sync()
	}()
	select {
	case <-s.Readable():
	case <-time.After(5 * time.Second):
		t.Fatal("Readable not signalled by Sync")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := s.Next(); !ok || err != nil {
		t.Fatalf("Next after the signal: %v %v", ok, err)
	}
}

// Someone deletes the spool directory under a running agent: the next sync
// notices, creates it again and goes on; records written after that are read.
func TestDeletedDirectoryIsCreatedAgain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	m := NewMetrics(prometheus.NewRegistry())
	s := open(t, testOptions(dir), m)
	defer s.Close()
	write(t, s, 0, 3)
	if n, _ := readAll(t, s, 0); n != 3 {
		t.Fatalf("read %d records, want 3", n)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	time.Sleep(dirCheckEvery + 100*time.Millisecond)
	write(t, s, 3, 6)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("spool directory not created again: %v", err)
	}
	if got := testutil.ToFloat64(m.writeErrors.WithLabelValues("test")); got == 0 {
		t.Fatal("the deleted directory was not counted")
	}
	if n, _ := readAll(t, s, 3); n != 6 {
		t.Fatalf("read up to record %d after the directory came back, want 6", n)
	}
}

// A segment that cannot be created (a read-only directory; here, as tests may
// run as root, a directory squatting on the segment's name) is an error from
// Sync with the records kept, and writing resumes once it can be created.
func TestUncreatableSegmentRecovers(t *testing.T) {
	dir := t.TempDir()
	m := NewMetrics(prometheus.NewRegistry())
	s := open(t, testOptions(dir), m)
	defer s.Close()
	write(t, s, 0, 2)
	s.needNewSeg = true
	squatter := filepath.Join(dir, fmt.Sprintf("%016x.seg", s.activeSeg.id+1))
	if err := os.Mkdir(squatter, 0o755); err != nil {
		t.Fatal(err)
	}
	e := batch(2)
	if err := s.Append(&e); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err == nil {
		t.Fatal("Sync succeeded without a segment to write to")
	}
	if got := testutil.ToFloat64(m.writeErrors.WithLabelValues("test")); got == 0 {
		t.Fatal("the failure was not counted")
	}
	if err := os.Remove(squatter); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatalf("Sync once the segment can be created: %v", err)
	}
	if n, _ := readAll(t, s, 0); n != 3 {
		t.Fatalf("read %d records, want 3", n)
	}
}

// A second spool on a directory in use is refused with a clear error, and
// allowed once the first is closed.
func TestDirectoryInUseIsRefused(t *testing.T) {
	dir := t.TempDir()
	first := open(t, testOptions(dir), NewMetrics(nil))
	if _, err := Open(testOptions(dir), NewMetrics(nil), "test", promslog.NewNopLogger()); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open: %v, want an error saying the directory is in use", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := open(t, testOptions(dir), NewMetrics(nil))
	second.Close()
}

// Under the block policy, a record that does not fit beside the segment
// being written, when nothing else is left to acknowledge, or a record larger
// than the whole cap, still goes in: waiting could never make room.
func TestBlockNeverWaitsForRoomThatCannotCome(t *testing.T) {
	opts := Options{Dir: t.TempDir(), SegmentSize: 4 << 10, MaxSize: 8 << 10, WhenFull: Block}
	s := open(t, opts, NewMetrics(nil))
	defer s.Close()
	small := Batch{Entries: 1, Body: bytes.Repeat([]byte("x"), 3<<10)}
	if err := s.Append(&small); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	_, end, ok, _ := s.Next()
	if !ok {
		t.Fatal("nothing to read")
	}
	s.Ack(end)
	big := Batch{Entries: 1, Body: bytes.Repeat([]byte("y"), 9<<10)}
	if err := s.Append(&big); err != nil {
		t.Fatalf("a record larger than the cap, with everything acknowledged: %v", err)
	}
}

// The acknowledged position survives while the segment files do not (an
// operator clearing the backlog): new segments are numbered above it, so
// they are read, and not deleted as acknowledged at the next start.
func TestNumberingStaysAboveAcknowledged(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir)
	s := open(t, opts, NewMetrics(nil))
	write(t, s, 0, 200)
	_, end := readAll(t, s, 0)
	s.Ack(end)
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	for _, p := range segs {
		os.Remove(p)
	}
	s = open(t, opts, NewMetrics(nil))
	write(t, s, 0, 5)
	if n, _ := readAll(t, s, 0); n != 5 {
		t.Fatalf("read %d of 5 records written after the restart", n)
	}
	s.Close()
	s = open(t, opts, NewMetrics(nil))
	defer s.Close()
	if n, _ := readAll(t, s, 0); n != 5 {
		t.Fatalf("replayed %d of the 5 unacknowledged records", n)
	}
}
