package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"time"
)

// scanner reads the records of one segment file up to limit, with few
// system calls and never past limit: bytes after it may be a write in
// progress.
type scanner struct {
	f        *os.File
	limit    int64
	off      int64 // start of the next record
	start    int64 // start of the record last returned
	buf      []byte
	bufStart int64 // file offset of buf[0]
}

// next returns the next record's payload, valid until the following call. It
// returns io.EOF at limit, errTorn when limit cuts a record and errCorrupt
// for a damaged one.
func (sc *scanner) next() ([]byte, error) {
	if sc.off >= sc.limit {
		return nil, io.EOF
	}
	h, err := sc.bytes(sc.off, headerSize)
	if err != nil {
		return nil, err
	}
	n, err := checkHeader(h)
	if err != nil {
		return nil, err
	}
	rec, err := sc.bytes(sc.off, headerSize+n)
	if err != nil {
		return nil, err
	}
	if err := checkPayload(rec[:headerSize], rec[headerSize:]); err != nil {
		return nil, err
	}
	sc.start = sc.off
	sc.off += int64(headerSize + n)
	return rec[headerSize:], nil
}

// bytes returns n bytes at file offset off, reading ahead in large chunks.
func (sc *scanner) bytes(off int64, n int) ([]byte, error) {
	if off+int64(n) > sc.limit {
		return nil, errTorn
	}
	if off >= sc.bufStart && off+int64(n) <= sc.bufStart+int64(len(sc.buf)) {
		i := off - sc.bufStart
		return sc.buf[i : i+int64(n)], nil
	}
	want := max(n, readChunk)
	want = int(min(int64(want), sc.limit-off))
	if cap(sc.buf) < want {
		sc.buf = make([]byte, want)
	}
	sc.buf = sc.buf[:want]
	got, err := sc.f.ReadAt(sc.buf, off)
	sc.buf = sc.buf[:got]
	sc.bufStart = off
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, errTorn
		}
		return nil, fmt.Errorf("reading segment: %w", err)
	}
	return sc.buf[:n], nil
}

// Pos is where a record ends: the segment in the high 32 bits, the offset
// in the low ones.
func pos(seg uint64, off int64) int64 { return int64(seg<<32) | off }

func splitPos(p int64) (uint64, int64) { return uint64(p) >> 32, p & (1<<32 - 1) }

// Next returns the next batch to send and the position after it, to give
// to Ack once Loki has it, or ok=false when every record written so far has
// been read. Records of a damaged segment are skipped (counted) rather than
// stopping the spool.
func (s *Spool) Next() (b Batch, end int64, ok bool, err error) {
	for {
		if below := s.dropBelow.Load(); s.rseg < below {
			s.closeReader()
			s.rseg, s.roff = below, 0
			s.readSeg.Store(below)
			s.readInSeg.Store(0)
		}
		limit, last, exists := s.readable(s.rseg)
		if !exists {
			if !s.advance() {
				return Batch{}, 0, false, nil
			}
			continue
		}
		if s.roff >= limit {
			if last || !s.advance() {
				return Batch{}, 0, false, nil
			}
			continue
		}
		if s.rf == nil {
			f, err := os.Open(s.segmentPath(s.rseg))
			if errors.Is(err, fs.ErrNotExist) {
				s.log.Error("segment vanished before it was sent; its records are lost", "segment", s.rseg)
				s.metrics.corrupt.Inc()
				if !s.advance() {
					return Batch{}, 0, false, nil
				}
				continue
			}
			if err != nil {
				return Batch{}, 0, false, fmt.Errorf("opening segment: %w", err)
			}
			s.rf = f
			s.sc = scanner{f: f, off: s.roff}
		}
		s.sc.limit = limit
		payload, err := s.sc.next()
		if err != nil {
			s.log.Error("damaged record in the spool; skipping the rest of its segment", "segment", s.rseg, "at", s.sc.off, "err", err)
			s.metrics.corrupt.Inc()
			s.roff, s.sc.off = limit, limit
			continue
		}
		batch, appended, err := decode(payload)
		s.roff = s.sc.off
		if err != nil {
			s.log.Error("record in the spool does not parse; skipped", "segment", s.rseg, "at", s.sc.start, "err", err)
			s.metrics.corrupt.Inc()
			continue
		}
		s.readInSeg.Add(int64(batch.Entries))
		end := pos(s.rseg, s.roff)
		s.mu.Lock()
		s.marks = append(s.marks, mark{pos: end, entries: int64(batch.Entries), appended: appended})
		s.mu.Unlock()
		return batch, end, true, nil
	}
}

// readable returns how far segment id can be read, whether it is the one
// being written, and whether it still exists.
func (s *Spool) readable(id uint64) (limit int64, last, exists bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, seg := range s.segs {
		if seg.id == id {
			return seg.size, i == len(s.segs)-1, true
		}
	}
	return 0, false, false
}

// advance moves the reader to the first segment after its own, if any.
func (s *Spool) advance() bool {
	s.mu.Lock()
	next := uint64(0)
	for _, seg := range s.segs {
		if seg.id > s.rseg {
			next = seg.id
			break
		}
	}
	s.mu.Unlock()
	if next == 0 {
		return false
	}
	s.closeReader()
	s.rseg, s.roff = next, 0
	s.readSeg.Store(next)
	s.readInSeg.Store(0)
	return true
}

func (s *Spool) closeReader() {
	if s.rf != nil {
		_ = s.rf.Close()
		s.rf = nil
	}
}

// Readable receives a value when records may have become readable.
func (s *Spool) Readable() <-chan struct{} { return s.notify }

// Ack records that Loki has every record up to end: segments before it are
// deleted and the position is saved for the next start. The position is
// written without fsync: after a power loss the spool replays from an older
// one, which duplicates lines but loses none.
func (s *Spool) Ack(end int64) {
	seg, off := splitPos(end)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || seg < s.ackSeg || (seg == s.ackSeg && off <= s.ackOff) {
		return
	}
	s.ackSeg, s.ackOff = seg, off
	n := 0
	for n < len(s.marks) && s.marks[n].pos <= end {
		s.acked += s.marks[n].entries
		n++
	}
	s.marks = append(s.marks[:0], s.marks[n:]...)

	deleted := false
	for len(s.segs) > 1 && (s.segs[0].id < seg || (s.segs[0].id == seg && s.segs[0].size <= off)) {
		old := s.segs[0]
		if err := os.Remove(s.segmentPath(old.id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("deleting an acknowledged segment", "segment", old.id, "err", err)
		}
		s.segs = s.segs[1:]
		s.bytes -= old.size
		deleted = true
	}
	var rec [20]byte
	binary.LittleEndian.PutUint64(rec[:8], seg)
	binary.LittleEndian.PutUint64(rec[8:16], uint64(off))
	binary.LittleEndian.PutUint32(rec[16:], crc32.Checksum(rec[:16], castagnoli))
	if _, err := s.ackFile.WriteAt(rec[:], 0); err != nil {
		s.metrics.writeErrors.Inc()
		s.log.Warn("saving the acknowledged position; a restart will resend more", "err", err)
	}
	s.updateGaugesLocked()
	if deleted {
		select {
		case s.room <- struct{}{}:
		default:
		}
	}
}

// Close closes the spool's files. Records not acknowledged stay for the
// next start.
func (s *Spool) Close() error {
	s.closeReader()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	var errs []error
	if s.active != nil {
		errs = append(errs, s.active.Close())
	}
	errs = append(errs, s.ackFile.Close())
	s.metrics.forget(s)
	return errors.Join(errs...)
}

// oldestAge is the age of the oldest record not yet acknowledged, as far
// as the reader has seen.
func (s *Spool) oldestAgeLocked(now time.Time) time.Duration {
	if len(s.marks) == 0 {
		return 0
	}
	return now.Sub(s.marks[0].appended)
}

func (s *Spool) updateGauges() {
	s.mu.Lock()
	s.updateGaugesLocked()
	s.mu.Unlock()
}

func (s *Spool) updateGaugesLocked() {
	s.metrics.bytes.Set(float64(s.bytes))
	s.metrics.entries.Set(float64(s.appended - s.acked - s.dropped))
}
