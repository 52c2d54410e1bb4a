package file

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/positions"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// releaseAfterIdle is how long a file must stay idle before its read buffer is
// freed: long enough that a file written every few seconds keeps its buffer
// instead of allocating a new one for every line.
const releaseAfterIdle = 30 * time.Second

// tailer reads one open file, on its own goroutine, and hands its lines on.
//
// It follows the file it opened (its device and inode), not a path: when the
// file is renamed the target decides what the reader becomes — the same reader
// under the new name when that name still matches the glob, or a detached
// reader that drains the file and closes it. The path the reader is known by
// can change; its labels never do (filename is the name the file had when it
// was opened, so the rest of a rotated file stays in the stream it was in).
type tailer struct {
	t       *target
	log     *slog.Logger
	handler api.EntryHandler
	dec     *lineDecoder
	f       *os.File
	id      fileID
	labels  model.LabelSet

	// mu guards what the target changes while the reader runs.
	mu sync.Mutex
	// key is the path the file is known by now: its positions key and the
	// path label of its metrics.
	key string
	// attached: key still names this file. A detached reader no longer owns
	// key's position or gauges; it only drains what is left.
	attached bool
	// lostPath: the file no longer has the name it was opened under, so the
	// next reader of that name waits for this one to reach the end first.
	lostPath bool
	pm       *pathMetrics
	// ident is the file's identity as saved beside its position; its
	// checksum grows with the file up to headBytes.
	ident identity
	// head is the start of the file, to recognise a copy of it.
	head []byte

	offset atomic.Int64 // end of the last complete line handed on
	size   atomic.Int64 // size at the last check
	// acked is the end of the last line whose entries are all safe (spooled
	// or acknowledged); only it is saved as the file's position, so a crash
	// re-reads what was in flight instead of losing it.
	acked atomic.Int64
	seq   *api.Sequence

	// Used by the reader goroutine only.
	readPos   int64
	copyCheck bool
	lines     lineBuffer
	lastTS    time.Time
	lastData  time.Time
	exitErr   error
	deleted   bool

	// after is closed when the previous reader of this path has drained.
	after     <-chan struct{}
	drained   chan struct{}
	drainOnce sync.Once
	wakeC     chan struct{}
	quit      chan struct{}
	stopOnce  sync.Once
	done      chan struct{}
}

func newTailer(t *target, f *os.File, id fileID, path string, start int64, pm *pathMetrics) *tailer {
	labels := make(model.LabelSet, len(t.labels)+1)
	for k, v := range t.labels {
		labels[k] = v
	}
	labels[filenameLabel] = model.LabelValue(path)
	r := &tailer{
		t:        t,
		log:      t.log.With("path", path),
		handler:  t.handler,
		dec:      t.job.format.decoder(),
		f:        f,
		id:       id,
		labels:   labels,
		key:      path,
		attached: true,
		pm:       pm,
		readPos:  start,
		lines:    lineBuffer{sep: t.job.format.sep},
		drained:  make(chan struct{}),
		wakeC:    make(chan struct{}, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	r.offset.Store(start)
	r.acked.Store(start)
	r.ident = identityOf(id, f)
	r.seq = api.NewSequence(r.saveAcked)
	return r
}

// wake makes an idle reader look at its file now instead of at its next poll.
func (r *tailer) wake() {
	select {
	case r.wakeC <- struct{}{}:
	default:
	}
}

// stop asks the reader to finish; it returns without waiting (see wait).
func (r *tailer) stop() {
	r.stopOnce.Do(func() { close(r.quit) })
}

func (r *tailer) wait() { <-r.done }

func (r *tailer) status() (key string, attached bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.key, r.attached
}

// rehome makes path the name the reader is known by (the file was renamed to
// another matching name). It returns the path metrics it stopped using.
func (r *tailer) rehome(path string, pm *pathMetrics) *pathMetrics {
	r.mu.Lock()
	old := r.pm
	r.key, r.pm, r.attached, r.lostPath = path, pm, true, true
	r.t.m.pos.Put(path, r.acked.Load())
	r.t.m.pos.PutString(positions.IdentityKey(path), r.ident.String())
	pm.readBytes.Set(float64(r.offset.Load()))
	pm.fileBytes.Set(float64(r.size.Load()))
	r.mu.Unlock()
	r.wake()
	return old
}

// detach tells the reader that its path now names another file, or none.
func (r *tailer) detach() {
	r.mu.Lock()
	r.attached, r.lostPath = false, true
	r.mu.Unlock()
	r.wake()
}

func (r *tailer) quitting() bool {
	select {
	case <-r.quit:
		return true
	default:
		return false
	}
}

func (r *tailer) run() {
	defer r.finish()
	if r.after != nil {
		select {
		case <-r.after:
		case <-r.quit:
			return
		}
	}
	if r.copyCheck && !r.resolveCopy() {
		return
	}
	r.lastData = time.Now()
	minPoll, maxPoll := r.t.m.minPoll, r.t.m.maxPoll
	poll := minPoll
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for {
		n, err := r.readToEOF()
		if err != nil {
			r.exitErr = err
			return
		}
		if r.quitting() {
			return
		}
		now := time.Now()
		if n > 0 {
			r.lastData = now
			poll = minPoll
		}
		fi, err := r.f.Stat()
		if err != nil {
			r.exitErr = fmt.Errorf("stat open file: %w", err)
			return
		}
		if fi.Size() < r.readPos {
			if err := r.truncated(fi.Size()); err != nil {
				r.exitErr = err
				return
			}
			poll = minPoll
			continue
		}
		r.observeSize(fi.Size())
		r.refreshHead(fi.Size())
		if unlinked(fi) {
			// Deleted: one last read for what a writer that still holds the
			// file added meanwhile; closing the descriptor is what frees
			// the disk space.
			r.deleted = true
			if _, err := r.readToEOF(); err != nil {
				r.exitErr = err
				return
			}
			r.flushPartial()
			r.log.Info("file was deleted, stopped reading it")
			return
		}
		r.mu.Lock()
		key, attached, lost := r.key, r.attached, r.lostPath
		r.mu.Unlock()
		if lost {
			r.signalDrained()
		}
		if attached {
			if st, err := os.Stat(key); err != nil || idOf(key, st) != r.id {
				r.t.requestCheck(key)
			}
		} else if now.Sub(r.lastData) >= r.t.m.detachedGrace {
			r.flushPartial()
			r.log.Info("stopped reading a rotated file after reading it to its end", "now_known_as", key)
			return
		}
		if now.Sub(r.lastData) > releaseAfterIdle {
			r.lines.release()
		}
		timer.Reset(poll)
		select {
		case <-r.quit:
			return
		case <-r.wakeC:
			poll = minPoll
		case <-timer.C:
			poll = min(2*poll, maxPoll)
		}
	}
}

// readToEOF reads and hands on every complete line up to the current end of
// the file, one read (one batch) at a time.
func (r *tailer) readToEOF() (int64, error) {
	var total int64
	for !r.quitting() {
		n, err := r.lines.fill(r.f)
		if n > 0 {
			total += int64(n)
			r.readPos += int64(n)
			r.emitLines()
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("read %s: %w", r.labels[filenameLabel], err)
		}
	}
	return total, nil
}

// nextTimestamp is the read time, kept strictly increasing per file so that
// equal lines read in one batch are not taken by Loki for duplicates.
func (r *tailer) nextTimestamp() time.Time {
	now := time.Now()
	if !now.After(r.lastTS) {
		now = r.lastTS.Add(time.Nanosecond)
	}
	return now
}

func (r *tailer) emitLines() {
	ts := r.nextTimestamp()
	count := 0
	var batch *api.Batch
	for {
		line, ok := r.lines.next()
		if !ok {
			break
		}
		if batch == nil {
			batch = r.seq.Begin()
		}
		r.handle(line, ts, batch.Ack)
		r.lastTS = ts
		ts = ts.Add(time.Nanosecond)
		count++
	}
	if count > 0 {
		offset := r.readPos - int64(r.lines.pending())
		r.commit(offset, count)
		batch.End(offset)
	}
}

func (r *tailer) handle(line []byte, ts time.Time, ack *stages.Ack) {
	var text string
	if r.dec != nil {
		text = r.dec.decode(line)
	} else {
		text = string(line)
	}
	r.handler.Handle(stages.Entry{Labels: r.labels, Timestamp: ts, Line: text, Ack: ack})
}

// commit records, once per batch, how far the file has been handed on.
func (r *tailer) commit(offset int64, lines int) {
	r.offset.Store(offset)
	r.mu.Lock()
	if r.attached {
		r.pm.readBytes.Set(float64(offset))
	}
	r.pm.readLines.Add(float64(lines))
	r.mu.Unlock()
}

// saveAcked makes offset the file's saved position: every line before it is
// safe. A reader that no longer owns its path saves nothing.
func (r *tailer) saveAcked(offset int64) {
	r.acked.Store(offset)
	r.mu.Lock()
	if r.attached {
		r.t.m.pos.Put(r.key, offset)
		if r.ident.head < headBytes && offset > int64(r.ident.head) {
			// The checksum must cover what the position skips.
			if grown := identityOf(r.id, r.f); grown.head > r.ident.head {
				r.ident = grown
				r.t.m.pos.PutString(positions.IdentityKey(r.key), grown.String())
			}
		}
	}
	r.mu.Unlock()
}

func (r *tailer) observeSize(size int64) {
	r.size.Store(size)
	r.mu.Lock()
	if r.attached {
		r.pm.fileBytes.Set(float64(size))
	}
	r.mu.Unlock()
}

// flushPartial hands on the unterminated last line of a file that will not
// grow any more here (deleted, truncated, rotated away): its bytes were in the
// file, so they are a line.
func (r *tailer) flushPartial() {
	rest := r.lines.takeRest()
	if len(rest) == 0 {
		return
	}
	ts := r.nextTimestamp()
	batch := r.seq.Begin()
	r.handle(rest, ts, batch.Ack)
	r.lastTS = ts
	r.commit(r.readPos, 1)
	batch.End(r.readPos)
}

// truncated handles a file that became shorter than what was read
// (copytruncate): everything that was in it has been read, so reading starts
// again at 0.
func (r *tailer) truncated(size int64) error {
	key, _ := r.status()
	r.log.Info("file was truncated, reading it again from the start", "now_known_as", key, "read_offset", r.readPos, "size", size)
	r.flushPartial()
	r.mu.Lock()
	head := r.head
	r.head = nil
	r.mu.Unlock()
	if len(head) > 0 {
		r.t.addGhost(head, r.readPos)
	}
	if _, err := r.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("seek to start after truncation: %w", err)
	}
	r.readPos = 0
	r.lines.reset()
	r.commit(0, 0)
	// The file's first bytes are new: the saved checksum must follow them,
	// or the next start would take the file for another one.
	r.mu.Lock()
	r.ident = identityOf(r.id, r.f)
	if r.attached {
		r.t.m.pos.PutString(positions.IdentityKey(r.key), r.ident.String())
	}
	r.mu.Unlock()
	r.seq.Mark(0)
	r.observeSize(size)
	return nil
}

func (r *tailer) signalDrained() {
	r.drainOnce.Do(func() { close(r.drained) })
}

func (r *tailer) finish() {
	if err := r.f.Close(); err != nil {
		r.log.Warn("closing file", "err", err)
	}
	r.t.m.metrics.filesActive.Dec()
	r.signalDrained()
	close(r.done)
	r.t.readerExited(r)
}
