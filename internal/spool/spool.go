// Package spool keeps a client's batches on local disk from the moment they
// are built until Loki has acknowledged them, so that neither an unreachable
// Loki nor a killed agent loses a line.
//
// A spool is a directory of segment files holding checksummed records, one
// compressed push request each (see record.go), and a small file, "acked",
// that says how far Loki has acknowledged. One goroutine appends (Append,
// then Sync), one reads (Next, Wait) and acknowledges (Ack). Segments that
// Loki has acknowledged entirely are deleted. On open, the records after the
// acknowledged position are replayed, and a record cut short by a crash or
// power loss at the end of a segment is cut away.
//
// Spooling whole batches rather than single entries keeps the cost low: the
// bytes written are compressed, and a record is sent as it was stored.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// WhenFull is what Append does when the spool has reached its size cap.
type WhenFull int

const (
	// Block makes Append report ErrFull: the caller waits (WaitRoom) and
	// the readers upstream wait with it. Nothing is lost.
	Block WhenFull = iota
	// DropOldest deletes the oldest segments, unsent or not, and counts
	// their records as dropped.
	DropOldest
)

// Options configure a spool.
type Options struct {
	// Dir is the spool's own directory, created if missing.
	Dir string
	// SegmentSize is the size at which a new segment is started.
	SegmentSize int64
	// MaxSize caps the bytes of all segments.
	MaxSize  int64
	WhenFull WhenFull
	// SyncEachBatch makes Sync call fsync, so that what Sync returns for
	// survives a power loss, not only a crash of the agent.
	SyncEachBatch bool
}

// ErrFull is returned by Append under the Block policy when the entry does
// not fit.
var ErrFull = errors.New("spool is full")

const (
	segmentSuffix = ".seg"
	ackFileName   = "acked"
	// dirCheckEvery spaces out the checks that the directory still exists.
	dirCheckEvery = time.Second
	readChunk     = 256 << 10
)

type segment struct {
	id      uint64
	size    int64 // bytes of complete records, readable
	records int64
	entries int64
}

// mark is a record handed out by the reader and not yet acknowledged.
type mark struct {
	pos      int64
	entries  int64
	appended time.Time
}

// Spool is one client's spool. See the package comment.
type Spool struct {
	opts    Options
	log     *slog.Logger
	metrics *clientMetrics

	mu       sync.Mutex
	segs     []*segment // oldest first; the last is being written
	bytes    int64
	ackSeg   uint64
	ackOff   int64
	marks    []mark
	appended int64 // entries written or replayed since open
	acked    int64
	dropped  int64
	ackFile  *os.File
	closed   bool

	room   chan struct{} // signalled when segments are deleted
	notify chan struct{} // signalled when records become readable

	// Writer state.
	active       *os.File
	activeSeg    *segment
	wbuf         []byte
	wrecords     int64
	wentries     int64
	dirInfo      fs.FileInfo
	lastDirCheck time.Time
	needNewSeg   bool

	// dropBelow is set when DropOldest deleted segments: the reader skips
	// every segment below it.
	dropBelow atomic.Uint64
	// readSeg and readInSeg say where the reader is, for the drop count.
	readSeg   atomic.Uint64
	readInSeg atomic.Int64

	// Reader state, owned by the reading goroutine.
	rf   *os.File
	sc   scanner
	rseg uint64
	roff int64 // offset in rseg of the next record
}

// Open opens or creates the spool in opts.Dir and prepares the records that
// were not acknowledged for replay.
func Open(opts Options, m *Metrics, name string, logger *slog.Logger) (*Spool, error) {
	if opts.SegmentSize <= 0 || opts.MaxSize < 2*opts.SegmentSize {
		return nil, fmt.Errorf("spool %s: the size cap must be at least two segments (%d bytes)", opts.Dir, 2*opts.SegmentSize)
	}
	if opts.SegmentSize >= 1<<32 {
		return nil, fmt.Errorf("spool %s: segments must be smaller than 4 GiB", opts.Dir)
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating spool directory: %w", err)
	}
	s := &Spool{
		opts:    opts,
		log:     logger.With("component", "spool", "dir", opts.Dir),
		metrics: m.forClient(name),
		room:    make(chan struct{}, 1),
		notify:  make(chan struct{}, 1),
	}
	info, err := os.Stat(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("spool directory: %w", err)
	}
	s.dirInfo = info
	if err := s.load(); err != nil {
		if s.ackFile != nil {
			_ = s.ackFile.Close() // and with it the lock
		}
		return nil, err
	}
	if err := s.startSegment(); err != nil {
		_ = s.ackFile.Close()
		return nil, err
	}
	s.rseg, s.roff = s.ackSeg, s.ackOff
	if len(s.segs) > 0 && s.segs[0].id > s.rseg {
		s.rseg, s.roff = s.segs[0].id, 0
	}
	s.readSeg.Store(s.rseg)
	s.updateGauges()
	s.metrics.watch(s)
	return s, nil
}

// openAckFile opens, creating it if needed, and locks the file that holds
// the acknowledged position: the lock keeps a second writer out.
func (s *Spool) openAckFile() (*os.File, error) {
	path := filepath.Join(s.opts.Dir, ackFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := lock(f, s.opts.Dir); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// load reads the acked file and checks every segment, cutting a torn end.
func (s *Spool) load() error {
	f, err := s.openAckFile()
	if err != nil {
		return err
	}
	s.ackFile = f
	var rec [20]byte
	if n, _ := f.ReadAt(rec[:], 0); n == len(rec) && crc32.Checksum(rec[:16], castagnoli) == binary.LittleEndian.Uint32(rec[16:]) {
		s.ackSeg = binary.LittleEndian.Uint64(rec[:8])
		s.ackOff = int64(binary.LittleEndian.Uint64(rec[8:16]))
	} else if n > 0 {
		s.log.Warn("acknowledged position unreadable, replaying every segment (Loki may receive duplicates)")
	}

	ids, err := segmentIDs(s.opts.Dir)
	if err != nil {
		return err
	}
	replayed := int64(0)
	for _, id := range ids {
		path := s.segmentPath(id)
		if id < s.ackSeg {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing acknowledged segment: %w", err)
			}
			continue
		}
		seg, unacked, err := s.scan(id)
		if err != nil {
			return err
		}
		if id == s.ackSeg {
			s.ackOff = min(s.ackOff, seg.size)
			// The reader starts after the acknowledged entries: they are
			// not its to drop.
			s.readInSeg.Store(seg.entries - unacked)
		}
		replayed += unacked
		s.segs = append(s.segs, seg)
		s.bytes += seg.size
	}
	s.appended = replayed
	if replayed > 0 {
		s.metrics.replayed.Add(float64(replayed))
		s.log.Info("replaying entries Loki has not acknowledged", "entries", replayed, "segments", len(s.segs))
	}
	return nil
}

// scan checks a segment record by record and cuts it after the last good one.
// It returns the segment and how many of its entries are after the
// acknowledged position.
func (s *Spool) scan(id uint64) (*segment, int64, error) {
	path := s.segmentPath(id)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("opening segment: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("segment %s: %w", path, err)
	}
	seg := &segment{id: id}
	var unacked int64
	sc := scanner{f: f, limit: info.Size()}
	for {
		payload, err := sc.next()
		if errors.Is(err, io.EOF) {
			break
		}
		var b Batch
		if err == nil {
			b, _, err = decode(payload)
		}
		if err != nil {
			s.log.Warn("segment ends in a damaged or incomplete record, cutting it there",
				"segment", filepath.Base(path), "at", sc.off, "bytes_cut", info.Size()-sc.off, "err", err)
			if err := f.Truncate(sc.off); err != nil {
				return nil, 0, fmt.Errorf("cutting segment %s: %w", path, err)
			}
			if !errors.Is(err, errTorn) {
				s.metrics.corrupt.Inc()
			}
			break
		}
		if id > s.ackSeg || sc.start >= s.ackOff {
			unacked += int64(b.Entries)
		}
		seg.records++
		seg.entries += int64(b.Entries)
	}
	seg.size = sc.off
	return seg, unacked, nil
}

func segmentIDs(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing spool directory: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

func (s *Spool) segmentPath(id uint64) string {
	return filepath.Join(s.opts.Dir, fmt.Sprintf("%016x%s", id, segmentSuffix))
}

// startSegment closes the segment being written and starts the next one.
func (s *Spool) startSegment() error {
	s.mu.Lock()
	// Numbers only grow, even if segment files vanished: the reader and
	// the next start skip everything numbered up to the acknowledged one.
	id := s.ackSeg + 1
	if n := len(s.segs); n > 0 {
		id = max(id, s.segs[n-1].id+1)
	}
	s.mu.Unlock()
	f, err := os.OpenFile(s.segmentPath(id), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("creating segment: %w", err)
	}
	if s.active != nil {
		_ = s.active.Close()
	}
	if s.opts.SyncEachBatch {
		// The new file's directory entry must survive a power loss too.
		if err := syncDir(s.opts.Dir); err != nil {
			_ = f.Close()
			return fmt.Errorf("syncing spool directory: %w", err)
		}
	}
	seg := &segment{id: id}
	s.mu.Lock()
	s.segs = append(s.segs, seg)
	s.mu.Unlock()
	s.active, s.activeSeg = f, seg
	s.needNewSeg = false
	return nil
}

// Append adds b to the records waiting for Sync. Under the Block policy it
// returns ErrFull, and keeps nothing, when b does not fit.
func (s *Spool) Append(b *Batch) error {
	before := len(s.wbuf)
	s.wbuf = appendRecord(s.wbuf, b, time.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.bytes+int64(len(s.wbuf)) > s.opts.MaxSize {
		// With only the segment being written left, no acknowledgement
		// can make room: go over the cap by this record, and the segment
		// is closed at the next Sync and deleted once acknowledged.
		if len(s.segs) < 2 {
			break
		}
		if s.opts.WhenFull == Block {
			s.wbuf = s.wbuf[:before]
			return ErrFull
		}
		s.dropOldestLocked()
	}
	s.wrecords++
	s.wentries += int64(b.Entries)
	return nil
}

// Buffered reports the bytes appended and not yet synced.
func (s *Spool) Buffered() int { return len(s.wbuf) }

// dropOldestLocked deletes the oldest segment; there must be one besides
// the segment being written.
func (s *Spool) dropOldestLocked() {
	seg := s.segs[0]
	unread := seg.entries
	switch rs := s.readSeg.Load(); {
	case rs == seg.id:
		unread -= s.readInSeg.Load()
	case rs > seg.id:
		unread = 0
	}
	s.segs = s.segs[1:]
	s.bytes -= seg.size
	s.dropped += unread
	s.metrics.droppedFull.Add(float64(unread))
	s.dropBelow.Store(s.segs[0].id)
	if err := os.Remove(s.segmentPath(seg.id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Error("deleting the oldest segment of a full spool", "err", err)
	}
	s.log.Warn("spool full, dropped its oldest segment", "segment", seg.id, "entries_dropped", unread)
}

// Sync writes the appended records to the segment file, and with
// SyncEachBatch to stable storage. When it fails (disk full, directory
// deleted or read-only) the records stay buffered and the next Sync tries
// again in a new segment; what a failed Sync wrote is never read.
func (s *Spool) Sync() error {
	if len(s.wbuf) == 0 {
		return nil
	}
	if err := s.checkDir(); err != nil {
		return err
	}
	if s.needNewSeg {
		if err := s.startSegment(); err != nil {
			s.metrics.writeErrors.Inc()
			return err
		}
	}
	if _, err := s.active.Write(s.wbuf); err != nil {
		return s.writeFailed(fmt.Errorf("writing segment: %w", err))
	}
	if s.opts.SyncEachBatch {
		if err := s.active.Sync(); err != nil {
			return s.writeFailed(fmt.Errorf("syncing segment: %w", err))
		}
	}
	s.mu.Lock()
	s.activeSeg.size += int64(len(s.wbuf))
	s.activeSeg.records += s.wrecords
	s.activeSeg.entries += s.wentries
	s.bytes += int64(len(s.wbuf))
	s.appended += s.wentries
	full := s.activeSeg.size >= s.opts.SegmentSize
	s.updateGaugesLocked()
	s.mu.Unlock()
	s.wbuf = s.wbuf[:0]
	s.wrecords, s.wentries = 0, 0
	if cap(s.wbuf) > 4<<20 {
		s.wbuf = nil
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
	if full {
		s.needNewSeg = true
	}
	return nil
}

// writeFailed abandons the segment being written: it may end in part of a
// record now. The bytes counted as readable stay as they were.
func (s *Spool) writeFailed(err error) error {
	s.metrics.writeErrors.Inc()
	s.mu.Lock()
	size := s.activeSeg.size
	s.mu.Unlock()
	if terr := s.active.Truncate(size); terr != nil {
		s.log.Warn("cutting a failed write off the segment", "err", terr)
	}
	s.needNewSeg = true
	return err
}

// checkDir notices, once a second, a spool directory that was deleted or
// replaced, and starts a new segment in a new directory.
func (s *Spool) checkDir() error {
	now := time.Now()
	if now.Sub(s.lastDirCheck) < dirCheckEvery {
		return nil
	}
	s.lastDirCheck = now
	info, err := os.Stat(s.opts.Dir)
	if err == nil && os.SameFile(info, s.dirInfo) {
		return nil
	}
	s.log.Error("spool directory was deleted or replaced; records written to it since are lost, creating it again")
	s.metrics.writeErrors.Inc()
	if err := os.MkdirAll(s.opts.Dir, 0o750); err != nil {
		return fmt.Errorf("creating spool directory again: %w", err)
	}
	if info, err = os.Stat(s.opts.Dir); err != nil {
		return fmt.Errorf("spool directory: %w", err)
	}
	s.dirInfo = info
	f, err := s.openAckFile()
	if err != nil {
		return err
	}
	s.mu.Lock()
	_ = s.ackFile.Close()
	s.ackFile = f
	s.mu.Unlock()
	s.needNewSeg = true
	return nil
}

// WaitRoom blocks until segments have been deleted or done is closed.
func (s *Spool) WaitRoom(done <-chan struct{}) {
	select {
	case <-s.room:
	case <-done:
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
