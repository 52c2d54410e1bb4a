// Package positions keeps the positions file: how far each target has read. The file format is
// Promtail's, so an agent replacing Promtail resumes where Promtail stopped (and the other way round).
//
// # Damaged files
//
// This package fsyncs and renames, so it never leaves a torn file. Older Promtail releases wrote in
// place and left files cut in their last line (grafana/loki #1457); Promtail renames without an
// fsync, which can leave a file of NUL bytes after a crash (#6268); disks fail and people edit by
// hand. Either way Promtail then refuses to start until someone edits the file. How a file is read:
//
//   - Missing, empty or blank: no positions, as in Promtail.
//   - Sound: its table, as in Promtail. One exception: a last record with no line end is treated
//     as cut short, since a cut inside a plain value still decodes, to a wrong value.
//   - Damaged, but its first line is the header ("positions:" with nothing after the colon), or
//     the file was cut inside that first line: salvaged, whatever ignore_invalid_yaml says. Every
//     record that is whole (all its lines end with a line end) and decodes on its own is kept with
//     its exact value; torn or malformed records, keys without a value, keys found twice with
//     different values and stray lines are dropped. A file whose entry was dropped has no
//     position, so its target reads it as a new file (for the file target: from the start, unless
//     tail_from_end): duplicates, never a wrong offset. The damaged bytes are kept as
//     <file>.corrupt and one warning gives the number of entries salvaged and dropped.
//   - Anything else: garbage or NUL bytes from the first byte, another YAML layout (such as
//     "positions: [a, b"). Promtail's documented behaviour applies: start fails with "invalid yaml
//     positions file [<file>]: <error>", or, with ignore_invalid_yaml, starts with no positions
//     after keeping the file as <file>.corrupt. Nothing can be recovered from such a file and
//     starting empty reads every file again from the start, so that stays the operator's call.
//
// Values are kept as text: a negative offset or one beyond int64 is loaded as written, and what it
// means is the target's business (Get reports an offset beyond int64 as an error). In dry-run
// (read-only) mode no copy is kept. One limit remains: a value that YAML folds over several lines (a
// free-form cursor over 80 bytes with spaces; offsets never are) cut exactly at one of its line ends
// still reads as a shorter value, since nothing in the format tells it from a whole one.
package positions

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

// Keys with these prefixes are not file paths (journal cursors, API timestamps). The sync never
// drops them for "file vanished". "journal-" is the prefix older Promtail releases wrote.
const (
	cursorKeyPrefix  = "cursor-"
	journalKeyPrefix = "journal-"
)

// identityKeyPrefix marks the entry that records which file (device and
// inode) a path's offset belongs to. Promtail keys positions by path alone,
// so a file rotated while the agent was stopped was read again whole, and the
// new file under the old name from the old offset; with the identity the
// agent recognises both. Promtail ignores such keys, as it finds no file by
// that name.
const identityKeyPrefix = "file-identity:"

// IdentityKey is the key under which a file target records the identity of
// the file whose offset is saved under path.
func IdentityKey(path string) string {
	return identityKeyPrefix + path
}

// CursorKey names a position that is not a file offset. Targets that are not file targets must build
// their keys with it, otherwise the periodic sync takes the key for a vanished file and drops it.
func CursorKey(name string) string {
	return cursorKeyPrefix + name
}

func isCursorKey(key string) bool {
	return strings.HasPrefix(key, cursorKeyPrefix) || strings.HasPrefix(key, journalKeyPrefix)
}

// value holds an offset as an integer when it came from Put, so the hot path never formats a number;
// the text form is produced only at sync time. Values read from the file or given to PutString keep
// their exact text so they are written back unchanged.
type value struct {
	text    string
	offset  int64
	numeric bool
}

func (v value) String() string {
	if v.numeric {
		return strconv.FormatInt(v.offset, 10)
	}
	return v.text
}

// Positions is the in-memory table of positions, synced to the positions file every sync period and
// on Stop. All methods are safe for concurrent use.
type Positions struct {
	logger   *slog.Logger
	path     string
	period   time.Duration
	readOnly bool

	mu      sync.Mutex
	entries map[string]value
	// dirty is set by every change and cleared by a successful write, so an idle agent does not
	// rewrite and fsync an unchanged file every period.
	dirty bool

	// writeMu is held from snapshot to rename: two concurrent syncs could otherwise rename an older
	// snapshot over a newer one.
	writeMu sync.Mutex

	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
	// soon asks the writer for an early write (SyncSoon).
	soon chan struct{}
}

// soonGap is the least time between two writes that SyncSoon asks for: the
// positions file is fsynced on every write.
const soonGap = 100 * time.Millisecond

// SyncSoon asks for the file to be written within soonGap instead of at the
// next period. A spooling agent calls it when lines became safe, so that a
// crash re-reads, and sends twice, as little as possible.
func (p *Positions) SyncSoon() {
	select {
	case p.soon <- struct{}{}:
	default:
	}
}

// New loads the positions file and, unless cfg.ReadOnly, starts the goroutine that writes it every
// cfg.SyncPeriod. A missing or empty file is an empty start; a damaged one is salvaged and a file
// that is not a positions file is an error unless cfg.IgnoreInvalidYaml (see the package comment).
func New(logger *slog.Logger, cfg config.PositionsConfig) (*Positions, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Filename == "" {
		return nil, errors.New("positions: filename is empty")
	}
	period := cfg.SyncPeriod
	if period == 0 {
		period = config.DefaultPositionsSyncPeriod
	}
	if period < 0 {
		return nil, fmt.Errorf("positions: sync_period must be positive, got %s", period)
	}
	path := filepath.Clean(cfg.Filename)

	loaded, err := load(logger, path, cfg.IgnoreInvalidYaml, cfg.ReadOnly)
	if err != nil {
		return nil, err
	}
	p := &Positions{
		logger:   logger,
		path:     path,
		period:   period,
		readOnly: cfg.ReadOnly,
		entries:  make(map[string]value, len(loaded)),
		// The first sync always writes: it creates a missing directory early and replaces an
		// ignored corrupt file, or a file in another layout, with a clean one.
		dirty: true,
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		soon:  make(chan struct{}, 1),
	}
	for k, v := range loaded {
		p.entries[k] = value{text: v}
	}
	if p.readOnly {
		close(p.done)
		return p, nil
	}
	removeStaleTemps(logger, path)
	go p.run()
	return p, nil
}

// Path is the cleaned path of the positions file.
func (p *Positions) Path() string { return p.path }

// SyncPeriod is how often the file is written; targets may use it to pace their own Put calls.
func (p *Positions) SyncPeriod() time.Duration { return p.period }

// Get returns the offset stored for path, 0 when there is none, and an error when the stored value
// is not a decimal integer (for instance a cursor).
func (p *Positions) Get(path string) (int64, error) {
	p.mu.Lock()
	v, ok := p.entries[path]
	p.mu.Unlock()
	if !ok {
		return 0, nil
	}
	if v.numeric {
		return v.offset, nil
	}
	n, err := strconv.ParseInt(v.text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("position of %q is not a number: %w", path, err)
	}
	return n, nil
}

// GetString returns the value stored for key, "" when there is none.
func (p *Positions) GetString(key string) string {
	p.mu.Lock()
	v, ok := p.entries[key]
	p.mu.Unlock()
	if !ok {
		return ""
	}
	return v.String()
}

// Put records offset for path. It does no I/O and, for a key already present, no allocation.
func (p *Positions) Put(path string, offset int64) {
	p.mu.Lock()
	p.entries[path] = value{offset: offset, numeric: true}
	p.dirty = true
	p.mu.Unlock()
}

// PutString records a free-form position (a cursor); key should come from CursorKey.
func (p *Positions) PutString(key, val string) {
	p.mu.Lock()
	p.entries[key] = value{text: val}
	p.dirty = true
	p.mu.Unlock()
}

// Remove forgets key.
func (p *Positions) Remove(key string) {
	p.mu.Lock()
	if _, ok := p.entries[key]; ok {
		delete(p.entries, key)
		p.dirty = true
	}
	p.mu.Unlock()
}

// Snapshot returns a copy of all positions in their file form.
func (p *Positions) Snapshot() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snapshotLocked()
}

func (p *Positions) snapshotLocked() map[string]string {
	out := make(map[string]string, len(p.entries))
	for k, v := range p.entries {
		out[k] = v.String()
	}
	return out
}

// SyncNow drops vanished files and writes the file now, even if nothing changed. In read-only mode
// it does nothing and returns nil.
func (p *Positions) SyncNow() error {
	return p.sync(true, true)
}

// Stop writes the final state and waits for the sync goroutine to end. It is safe to call twice.
func (p *Positions) Stop() {
	p.stopOnce.Do(func() { close(p.quit) })
	<-p.done
}

func (p *Positions) run() {
	defer close(p.done)
	ticker := time.NewTicker(p.period)
	defer ticker.Stop()
	for {
		select {
		case <-p.quit:
			p.syncAndLog(true, true)
			return
		case <-ticker.C:
			p.syncAndLog(false, true)
		case <-p.soon:
			// Only what changed is written: looking for vanished files
			// stats every saved path, work for the periodic sync.
			p.syncAndLog(false, false)
			select {
			case <-p.quit:
				p.syncAndLog(true, true)
				return
			case <-time.After(soonGap):
			}
		}
	}
}

// syncAndLog never fails the caller: a full disk or a read-only directory must not stop the agent,
// and the state stays dirty so the next period tries again.
func (p *Positions) syncAndLog(force, prune bool) {
	if err := p.sync(force, prune); err != nil {
		p.logger.Error("cannot write positions file, will retry next sync", "path", p.path, "err", err)
	}
}

// sync writes the file if anything changed, or always with force; prune
// first forgets the files that no longer exist.
func (p *Positions) sync(force, prune bool) error {
	if p.readOnly {
		return nil
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()

	if prune {
		p.dropVanishedFiles()
	}

	p.mu.Lock()
	if !p.dirty && !force {
		p.mu.Unlock()
		return nil
	}
	snapshot := p.snapshotLocked()
	p.dirty = false
	p.mu.Unlock()

	data, err := encode(snapshot)
	if err == nil {
		err = writeAtomic(p.path, data)
	}
	if err != nil {
		p.mu.Lock()
		p.dirty = true
		p.mu.Unlock()
		return fmt.Errorf("writing positions file [%s]: %w", p.path, err)
	}
	return nil
}

// dropVanishedFiles removes the keys of files that no longer exist, as Promtail does on each sync.
// The stat calls run without the lock so Put is never stuck behind disk I/O; a key is removed only
// if its value did not change meanwhile (a changed value means a tailer is still at work on it).
func (p *Positions) dropVanishedFiles() {
	p.mu.Lock()
	files := make(map[string]value, len(p.entries))
	for k, v := range p.entries {
		if !isCursorKey(k) {
			files[k] = v
		}
	}
	p.mu.Unlock()

	var vanished []string
	for k := range files {
		_, err := os.Stat(strings.TrimPrefix(k, identityKeyPrefix))
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			vanished = append(vanished, k)
		default:
			p.logger.Warn("cannot tell whether a file in the positions file still exists; keeping its position",
				"path", k, "err", err)
		}
	}
	if len(vanished) == 0 {
		return
	}

	p.mu.Lock()
	for _, k := range vanished {
		if cur, ok := p.entries[k]; ok && cur == files[k] {
			delete(p.entries, k)
			p.dirty = true
		}
	}
	p.mu.Unlock()
}
