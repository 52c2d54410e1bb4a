package file

import (
	"bytes"
	"io"
	"time"
)

// Recognising the copy made by copytruncate.
//
// logrotate's copytruncate copies the file to its rotated name, then truncates
// the original in place. When the rotated name also matches the glob, the
// copy looks like a new file and would be read again from the start. And any
// line written between the last read of the original and the truncation is
// only left in the copy. So a new file that starts with the same bytes as a
// file that was just truncated is that file's copy: it is read from the offset
// the original had been read up to — exactly the lines the original lost.

const (
	// headSize is how much of the start of a file identifies it.
	headSize = 1024
)

// ghost is what a truncated file was: its first bytes and how far it had
// been read.
type ghost struct {
	head   []byte
	offset int64
	at     time.Time
}

// ghostTTL is how long after a truncation its copy may still show up: at
// least two syncs, for a copy in a directory that is not watched.
func (t *target) ghostTTL() time.Duration {
	return max(2*t.m.syncPeriod, 10*time.Second)
}

// copyWait is how long a new file that starts like a file being read waits
// for that file to be truncated, counted from the new file's last growth.
func (t *target) copyWait() time.Duration {
	return max(time.Second, 4*t.m.maxPoll)
}

func (t *target) addGhost(head []byte, offset int64) {
	now := time.Now()
	t.ghostMu.Lock()
	defer t.ghostMu.Unlock()
	kept := t.ghosts[:0]
	for _, g := range t.ghosts {
		if now.Sub(g.at) < t.ghostTTL() {
			kept = append(kept, g)
		}
	}
	t.ghosts = append(kept, ghost{head: bytes.Clone(head), offset: offset, at: now})
}

// takeGhost returns the offset to start a copy at when content, the start of
// a new file of size bytes, is the start of a recently truncated file.
func (t *target) takeGhost(content []byte, size int64) (int64, bool) {
	now := time.Now()
	t.ghostMu.Lock()
	defer t.ghostMu.Unlock()
	for i, g := range t.ghosts {
		if now.Sub(g.at) >= t.ghostTTL() || len(content) < len(g.head) || !bytes.Equal(content[:len(g.head)], g.head) {
			continue
		}
		t.ghosts = append(t.ghosts[:i], t.ghosts[i+1:]...)
		return min(g.offset, size), true
	}
	return 0, false
}

// copySuspect reports whether content, the start of a new file, could be a
// copy in progress of a file another reader has open.
func (t *target) copySuspect(self *tailer, content []byte) bool {
	t.mu.Lock()
	readers := make([]*tailer, 0, len(t.byID))
	for _, r := range t.byID {
		if r != self {
			readers = append(readers, r)
		}
	}
	t.mu.Unlock()
	for _, r := range readers {
		r.mu.Lock()
		h := r.head
		r.mu.Unlock()
		n := min(len(h), len(content))
		if len(h) > 0 && bytes.Equal(content[:n], h[:n]) {
			return true
		}
	}
	return false
}

// refreshHead keeps the reader's copy of the first bytes of its file, until
// it has headSize of them.
func (r *tailer) refreshHead(size int64) {
	r.mu.Lock()
	have := len(r.head)
	r.mu.Unlock()
	if have >= headSize || size <= int64(have) {
		return
	}
	buf := make([]byte, min(size, headSize))
	n, err := r.f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return
	}
	r.mu.Lock()
	r.head = buf[:n]
	r.mu.Unlock()
}

// resolveCopy runs before a new file is read: if it is the copy of a file
// truncated by copytruncate, reading starts where the original had been read
// to. It returns false when the reader is stopped meanwhile.
func (r *tailer) resolveCopy() bool {
	buf := make([]byte, headSize)
	lastSize, lastGrowth := int64(-1), time.Now()
	timer := time.NewTimer(r.t.m.minPoll)
	defer timer.Stop()
	for {
		fi, err := r.f.Stat()
		if err != nil {
			return true
		}
		size := fi.Size()
		n, err := r.f.ReadAt(buf[:min(size, headSize)], 0)
		if err != nil && err != io.EOF {
			return true
		}
		content := buf[:n]
		if off, ok := r.t.takeGhost(content, size); ok {
			if _, err := r.f.Seek(off, io.SeekStart); err != nil {
				return true
			}
			r.readPos = off
			r.commit(off, 0)
			r.log.Info("file is the copy of a truncated file, reading it from where the original had been read to", "offset", off)
			return true
		}
		if !r.t.copySuspect(r, content) {
			return true
		}
		now := time.Now()
		if size != lastSize {
			lastSize, lastGrowth = size, now
		} else if now.Sub(lastGrowth) >= r.t.copyWait() {
			return true
		}
		timer.Reset(r.t.m.minPoll)
		select {
		case <-r.quit:
			return false
		case <-r.wakeC:
		case <-timer.C:
		}
	}
}
