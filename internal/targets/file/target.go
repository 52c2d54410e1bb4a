package file

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/positions"
)

const filenameLabel = model.LabelName("filename")

// target is one discovered target of a file job: a __path__ glob, an optional
// __path_exclude__ glob and the labels its lines get. It finds the files the
// glob matches — every sync period and at once on directory events — and owns
// one reader per open file.
//
// All decisions about which file a path names are taken on the target's own
// goroutine; readers only report what they see.
type target struct {
	m          *Manager
	job        *job
	log        *slog.Logger
	pattern    string // absolute
	exclude    string // absolute, or ""
	labels     model.LabelSet
	discovered model.LabelSet
	handler    api.EntryHandler

	// mu guards the reader maps for readers outside the target goroutine
	// (status pages, event dispatch); the target goroutine is their only
	// writer.
	mu         sync.Mutex
	byPath     map[string]*tailer // readers attached to a path
	byID       map[fileID]*tailer // every live reader, attached or draining
	compressed map[string]*decompressor

	// Used by the target goroutine only.
	predecessor map[string]*tailer // reader that lost a path still draining
	seen        map[string]struct{}
	resume      map[fileID]int64
	// savedIDs maps the file identities in the positions file at start to
	// their saved path and offset (see savedUnderOtherName).
	savedIDs map[string]savedPosition
	notes    map[string]string // why a path is not read, logged once
	synced   bool
	// fromEnd: files without a saved position found by the first sync start
	// at their end (tail_from_end). Only targets of the initial discovery get
	// it: a target discovered later (a new pod) is new, and so are its files.
	fromEnd bool

	ghostMu sync.Mutex
	ghosts  []ghost // recently truncated files, see copytruncate.go

	evMu     sync.Mutex
	events   map[string]struct{}
	resync   bool
	exited   []*tailer
	finished []*decompressor
	kick     chan struct{}

	quit chan struct{}
	done chan struct{}
}

func newTarget(j *job, pattern, exclude string, labels, discovered model.LabelSet) (*target, error) {
	abs := func(p string) (string, error) {
		if p == "" || filepath.IsAbs(p) {
			return p, nil
		}
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("making %q absolute: %w", p, err)
		}
		return filepath.Join(wd, p), nil
	}
	var err error
	if pattern, err = abs(pattern); err != nil {
		return nil, err
	}
	if exclude, err = abs(exclude); err != nil {
		return nil, err
	}
	if !doublestar.ValidatePathPattern(pattern) {
		return nil, fmt.Errorf("invalid __path__ glob %q", pattern)
	}
	if exclude != "" && !doublestar.ValidatePathPattern(exclude) {
		return nil, fmt.Errorf("invalid __path_exclude__ glob %q", exclude)
	}
	t := &target{
		m:           j.m,
		job:         j,
		log:         j.log.With("target", pattern),
		pattern:     pattern,
		exclude:     exclude,
		labels:      labels,
		discovered:  discovered,
		handler:     j.handler,
		byPath:      map[string]*tailer{},
		byID:        map[fileID]*tailer{},
		compressed:  map[string]*decompressor{},
		predecessor: map[string]*tailer{},
		seen:        map[string]struct{}{},
		resume:      map[fileID]int64{},
		notes:       map[string]string{},
		events:      map[string]struct{}{},
		fromEnd:     j.tailFromEnd && time.Since(j.m.started) < j.m.syncPeriod,
		kick:        make(chan struct{}, 1),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	go t.run()
	return t, nil
}

func (t *target) run() {
	defer close(t.done)
	t.sync()
	ticker := time.NewTicker(t.m.syncPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-t.quit:
			t.shutdown()
			return
		case <-ticker.C:
			t.sync()
		case <-t.kick:
			t.handleEvents()
		}
	}
}

// stop ends the target and waits for all its readers. Their last positions
// are recorded by then.
func (t *target) stop() {
	close(t.quit)
	<-t.done
}

func (t *target) poke() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// requestCheck asks the target to look at path again: a reader saw its path
// change, or a directory event named it.
func (t *target) requestCheck(path string) {
	t.evMu.Lock()
	t.events[path] = struct{}{}
	t.evMu.Unlock()
	t.poke()
}

func (t *target) requestResync() {
	t.evMu.Lock()
	t.resync = true
	t.evMu.Unlock()
	t.poke()
}

func (t *target) readerExited(r *tailer) {
	t.evMu.Lock()
	t.exited = append(t.exited, r)
	t.evMu.Unlock()
	t.poke()
}

func (t *target) decompressorFinished(d *decompressor) {
	t.evMu.Lock()
	t.finished = append(t.finished, d)
	t.evMu.Unlock()
	t.poke()
}

// fileWritten wakes the reader of path, if any, so it reads now rather than
// at its next poll.
func (t *target) fileWritten(path string) {
	t.mu.Lock()
	r := t.byPath[path]
	t.mu.Unlock()
	if r != nil {
		r.wake()
	}
}

// matches reports whether path is one of the target's files by name.
func (t *target) matches(path string) bool {
	if path != t.pattern && !doublestar.PathMatchUnvalidated(t.pattern, path) {
		return false
	}
	return !t.excluded(path)
}

func (t *target) excluded(path string) bool {
	return t.exclude != "" && (path == t.exclude || doublestar.PathMatchUnvalidated(t.exclude, path))
}

func (t *target) handleEvents() {
	t.evMu.Lock()
	events, resync, exited, finished := t.events, t.resync, t.exited, t.finished
	t.events, t.resync, t.exited, t.finished = map[string]struct{}{}, false, nil, nil
	t.evMu.Unlock()

	for _, r := range exited {
		t.reap(r)
	}
	for _, d := range finished {
		t.reapDecompressor(d)
	}
	if resync {
		t.sync()
		return
	}
	var paths, gone []string
	for p := range events {
		if t.matches(p) {
			paths = append(paths, p)
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			// A new directory may hold files the glob matches; only a full
			// glob finds them.
			t.sync()
			return
		}
		if t.owns(p) {
			gone = append(gone, p)
		}
	}
	sort.Strings(paths)
	t.reconcile(paths, gone)
}

func (t *target) owns(path string) bool {
	_, ok := t.byPath[path]
	if !ok {
		_, ok = t.compressed[path]
	}
	return ok
}

// sync globs the target's files and brings the readers in line with them.
func (t *target) sync() {
	matches, err := t.glob()
	if err != nil {
		t.log.Error("listing files failed", "err", err)
		return
	}
	matched := make(map[string]struct{}, len(matches))
	dirs := map[string]struct{}{}
	for _, p := range matches {
		matched[p] = struct{}{}
		dirs[filepath.Dir(p)] = struct{}{}
	}
	// Watching the glob's fixed leading directory as well means a file that
	// appears where none matched yet is picked up at once.
	base, _ := doublestar.SplitPattern(filepath.ToSlash(t.pattern))
	if base = filepath.FromSlash(base); base != "" {
		if fi, err := os.Stat(base); err == nil && fi.IsDir() {
			dirs[base] = struct{}{}
		}
	}
	t.m.setWatches(t, dirs)

	var gone []string
	for p := range t.byPath {
		if _, ok := matched[p]; !ok {
			gone = append(gone, p)
		}
	}
	for p := range t.compressed {
		if _, ok := matched[p]; !ok {
			gone = append(gone, p)
		}
	}
	for p := range t.notes {
		if _, ok := matched[p]; !ok {
			delete(t.notes, p)
		}
	}
	// A vanished path has lost its saved position too, so a file that
	// appears there later is read from its start without this memory.
	for p := range t.seen {
		if _, ok := matched[p]; !ok && t.byPath[p] == nil {
			delete(t.seen, p)
		}
	}
	t.reconcile(matches, gone)

	if len(t.resume) > 0 {
		live := make(map[fileID]struct{}, len(matches))
		for _, p := range matches {
			if fi, err := os.Stat(p); err == nil {
				live[idOf(p, fi)] = struct{}{}
			}
		}
		for id := range t.resume {
			if _, ok := live[id]; !ok {
				delete(t.resume, id)
			}
		}
	}
	t.synced = true
}

// glob lists the files the target matches, absolute and without the excluded
// ones. A __path__ that names an existing file is used as is, even when it
// contains glob characters.
func (t *target) glob() ([]string, error) {
	var matches []string
	if fi, err := os.Stat(t.pattern); err == nil && !fi.IsDir() {
		matches = []string{t.pattern}
	} else {
		matches, err = doublestar.FilepathGlob(t.pattern)
		if err != nil {
			return nil, fmt.Errorf("glob %q: %w", t.pattern, err)
		}
	}
	kept := matches[:0]
	for _, p := range matches {
		if !t.excluded(p) {
			kept = append(kept, p)
		}
	}
	sort.Strings(kept)
	return kept, nil
}

// note logs why path is not read, once per distinct reason.
func (t *target) note(path, msg string, args ...any) {
	key := fmt.Sprint(append([]any{msg}, args...)...)
	if t.notes[path] == key {
		return
	}
	t.notes[path] = key
	t.log.Warn(msg, append([]any{"path", path}, args...)...)
}

type candidate struct {
	path string
	id   fileID
}

// reconcile looks at paths (matched by the glob) and gone (paths the target
// reads that no longer match), in that order of precedence: a file already
// being read is recognised by its inode under a new name before any new file
// is opened, so a rotated file that still matches is never read twice.
func (t *target) reconcile(paths, gone []string) {
	if t.job.decompress != nil {
		t.reconcileCompressed(paths, gone)
		return
	}
	var fresh []candidate
	for _, p := range paths {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			gone = append(gone, p)
			continue
		case err != nil:
			t.note(p, "cannot stat file, will retry", "err", err)
			gone = append(gone, p)
			continue
		case !fi.Mode().IsRegular():
			t.note(p, "not a regular file, not reading it", "type", fileType(fi.Mode()))
			gone = append(gone, p)
			continue
		}
		id := idOf(p, fi)
		if r := t.byID[id]; r != nil {
			t.adopt(r, p)
			continue
		}
		fresh = append(fresh, candidate{path: p, id: id})
	}
	for _, p := range gone {
		if r := t.byPath[p]; r != nil {
			t.lose(p, r)
		}
	}
	for _, c := range fresh {
		if r := t.byID[c.id]; r != nil {
			t.adopt(r, c.path)
			continue
		}
		if r := t.byPath[c.path]; r != nil {
			t.lose(c.path, r)
		}
		t.open(c.path)
	}
}

// adopt handles a matched path that names a file a reader already has open.
func (t *target) adopt(r *tailer, path string) {
	key, attached := r.status()
	if key == path && attached {
		return
	}
	if attached && key != path {
		if fi, err := os.Stat(key); err == nil && idOf(key, fi) == r.id {
			// Two names for one file (a hard link): it is read once.
			return
		}
	}
	if owner := t.byPath[path]; owner != nil && owner != r {
		t.lose(path, owner)
	}
	if attached && t.byPath[key] == r {
		t.mu.Lock()
		delete(t.byPath, key)
		t.mu.Unlock()
		t.predecessor[key] = r
		t.pathLost(key)
	}
	pm := t.m.acquirePathMetrics(path)
	t.m.releasePathMetrics(r.rehome(path, pm))
	t.mu.Lock()
	t.byPath[path] = r
	t.mu.Unlock()
	t.seen[path] = struct{}{}
	t.log.Info("file was renamed, continuing where it was", "from", key, "to", path, "offset", r.offset.Load())
}

// lose detaches the reader of path: the path now names another file, or
// nothing. The reader drains its file and closes it.
func (t *target) lose(path string, r *tailer) {
	t.mu.Lock()
	delete(t.byPath, path)
	t.mu.Unlock()
	r.detach()
	t.predecessor[path] = r
	t.pathLost(path)
}

// pathLost deals with the position of a path that has no reader any more.
func (t *target) pathLost(path string) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.m.pos.Remove(path)
		t.m.pos.Remove(positions.IdentityKey(path))
		return
	}
	// Something else has the name now; a check opens it if it matches.
	t.requestCheck(path)
}

func (t *target) open(path string) {
	f, err := openForRead(path)
	if err != nil {
		t.note(path, "cannot open file, will retry at the next sync", "err", err)
		return
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		_ = f.Close()
		if err != nil {
			t.note(path, "cannot stat open file, will retry at the next sync", "err", err)
		} else {
			t.note(path, "not a regular file, not reading it", "type", fileType(fi.Mode()))
		}
		return
	}
	id := idOf(path, fi)
	if t.byID[id] != nil {
		// Replaced between the stat and the open by a file already read.
		_ = f.Close()
		return
	}
	size := fi.Size()
	_, seenBefore := t.seen[path]
	unknown := !seenBefore && t.m.pos.GetString(path) == ""
	start := t.startOffset(path, id, f, size)
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		_ = f.Close()
		t.note(path, "cannot seek in file, will retry at the next sync", "err", err)
		return
	}
	pm := t.m.acquirePathMetrics(path)
	r := newTailer(t, f, id, path, start, pm)
	if prev := t.predecessor[path]; prev != nil {
		r.after = prev.drained
		delete(t.predecessor, path)
	}
	// A file that appears while the target runs may be a copytruncate copy.
	r.copyCheck = t.synced && unknown && start == 0
	r.size.Store(size)
	t.mu.Lock()
	t.byPath[path] = r
	t.byID[id] = r
	t.mu.Unlock()
	t.seen[path] = struct{}{}
	delete(t.notes, path)
	t.m.pos.Put(path, start)
	t.m.pos.PutString(positions.IdentityKey(path), r.ident.String())
	pm.readBytes.Set(float64(start))
	pm.fileBytes.Set(float64(size))
	t.m.metrics.filesActive.Inc()
	t.log.Info("reading file", "path", path, "offset", start, "size", size)
	go r.run()
}

// startOffset is where reading a newly opened file begins.
func (t *target) startOffset(path string, id fileID, f *os.File, size int64) int64 {
	if off, ok := t.resume[id]; ok {
		delete(t.resume, id)
		if off <= size {
			return off
		}
		return 0
	}
	if _, ok := t.seen[path]; ok {
		// An earlier file at this path was read by this process: the saved
		// position is that file's, and everything in this one is new.
		return 0
	}
	cur := identityOf(id, f)
	if savedText := t.m.pos.GetString(positions.IdentityKey(path)); savedText != "" {
		saved, ok := parseIdentity(savedText)
		off, err := t.m.pos.Get(path)
		if !ok || err != nil || !saved.vouchesFor(cur, f, off) {
			// The saved offset belongs to another file: this one was
			// rotated in, or the name reused, while we were not looking.
			if from, off, ok := t.savedUnderOtherName(path, cur, f, size); ok {
				t.log.Info("file was renamed while the agent was stopped, continuing where it was",
					"from", from, "to", path, "offset", off)
				return off
			}
			t.log.Info("file was replaced while the agent was stopped, reading the new one from the start", "path", path)
			return 0
		}
	} else if from, off, ok := t.savedUnderOtherName(path, cur, f, size); ok {
		t.log.Info("file was renamed while the agent was stopped, continuing where it was",
			"from", from, "to", path, "offset", off)
		return off
	}
	if t.m.pos.GetString(path) == "" {
		if t.fromEnd && !t.synced {
			return lastLineStart(f, size, t.job.format.sep)
		}
		return 0
	}
	off, err := t.m.pos.Get(path)
	if err != nil {
		t.log.Warn("saved position is unusable, reading the file from the start", "path", path, "err", err)
		return 0
	}
	if off < 0 || off > size {
		t.log.Info("saved position is past the end of the file (truncated while stopped), reading it from the start", "path", path, "position", off, "size", size)
		return 0
	}
	return off
}

// savedPosition is a file's saved offset found through its identity.
type savedPosition struct {
	path   string
	offset int64
	ident  identity
}

// savedUnderOtherName looks for the file id among the identities saved for
// other paths: a file renamed while the agent was stopped. Its offset must
// still fit in the file, and its first bytes must be the ones saved. Only
// the files found by the first sync are looked up (later renames are
// followed as they happen); the saved identities are read before any file is
// opened, as opening a new file under an old name replaces what was saved for
// that name.
func (t *target) savedUnderOtherName(path string, cur identity, f *os.File, size int64) (string, int64, bool) {
	if t.synced {
		t.savedIDs = nil
		return "", 0, false
	}
	if t.savedIDs == nil {
		t.savedIDs = map[string]savedPosition{}
		for key, value := range t.m.pos.Snapshot() {
			p, ok := strings.CutPrefix(key, positions.IdentityKey(""))
			if !ok {
				continue
			}
			ident, ok := parseIdentity(value)
			if off, err := t.m.pos.Get(p); ok && err == nil && t.m.pos.GetString(p) != "" {
				t.savedIDs[ident.id] = savedPosition{path: p, offset: off, ident: ident}
			}
		}
	}
	saved, ok := t.savedIDs[cur.id]
	if !ok || saved.path == path || saved.offset < 0 || saved.offset > size || !saved.ident.vouchesFor(cur, f, saved.offset) {
		return "", 0, false
	}
	delete(t.savedIDs, cur.id)
	return saved.path, saved.offset, true
}

// lastLineStart finds where the last line of the file starts, so that
// tail_from_end skips complete lines only: a line being written at the end is
// read whole.
func lastLineStart(f *os.File, size int64, sep []byte) int64 {
	const window = 64 << 10
	unit := int64(len(sep))
	from := max(size-window, 0)
	from -= from % unit
	buf := make([]byte, size-from)
	n, err := f.ReadAt(buf, from)
	if err != nil && !errors.Is(err, io.EOF) {
		return size
	}
	buf = buf[:n]
	for p := (int64(len(buf)) - unit) / unit * unit; p >= 0; p -= unit {
		if string(buf[p:p+unit]) == string(sep) {
			return from + p + unit
		}
	}
	if from == 0 {
		return 0
	}
	return size
}

// reap handles a reader that has exited.
func (t *target) reap(r *tailer) {
	key, attached := r.status()
	t.mu.Lock()
	if t.byID[r.id] == r {
		delete(t.byID, r.id)
	}
	owned := attached && t.byPath[key] == r
	if owned {
		delete(t.byPath, key)
	}
	t.mu.Unlock()
	for p, prev := range t.predecessor {
		if prev == r {
			delete(t.predecessor, p)
		}
	}
	r.mu.Lock()
	pm := r.pm
	r.mu.Unlock()
	t.m.releasePathMetrics(pm)
	if r.exitErr != nil {
		t.log.Warn("reading file failed, it is reopened at the next sync", "path", key, "err", r.exitErr)
		if !r.deleted {
			t.resume[r.id] = r.offset.Load()
		}
		return
	}
	if owned {
		// Entries still in flight must not bring back the position of a
		// path that is being forgotten.
		r.detach()
		t.pathLost(key)
	}
}

// shutdown stops every reader and waits for them.
func (t *target) shutdown() {
	readers := make([]*tailer, 0, len(t.byID))
	for _, r := range t.byID {
		readers = append(readers, r)
		r.stop()
	}
	decs := make([]*decompressor, 0, len(t.compressed))
	for _, d := range t.compressed {
		decs = append(decs, d)
		d.stop()
	}
	for _, r := range readers {
		r.wait()
		r.mu.Lock()
		pm := r.pm
		r.mu.Unlock()
		t.m.releasePathMetrics(pm)
	}
	for _, d := range decs {
		d.wait()
		t.releaseDecompressor(d)
	}
	t.m.setWatches(t, nil)
	t.mu.Lock()
	clear(t.byPath)
	clear(t.byID)
	clear(t.compressed)
	t.mu.Unlock()
}

// ready reports whether the target has at least one file open.
func (t *target) ready() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byPath) > 0 || len(t.compressed) > 0
}

func (t *target) files() []FileStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]FileStatus, 0, len(t.byPath)+len(t.compressed))
	for p, r := range t.byPath {
		out = append(out, FileStatus{Path: p, Position: r.offset.Load(), Size: r.size.Load()})
	}
	for p, d := range t.compressed {
		out = append(out, FileStatus{Path: p, Position: d.lines.Load(), Size: d.size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func fileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	default:
		return m.Type().String()
	}
}
