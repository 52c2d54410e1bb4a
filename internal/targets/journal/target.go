//go:build linux && cgo && promtail_journal_enabled

package journal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/sdjournal"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/positions"
)

// Supported reports whether this build can read the journal.
const Supported = true

const (
	// maxBatch bounds how many entries share one acknowledgement, so that
	// the saved cursor keeps moving while a large backlog is read.
	maxBatch = 256
	// waitTimeout is how long the reader sleeps in sd_journal_wait before it
	// looks at Stop again; it bounds how long Stop takes.
	waitTimeout = 200 * time.Millisecond
	// The reader reopens the journal after a read error, waiting longer
	// after each failure in a row.
	minRetry = time.Second
	maxRetry = 30 * time.Second
)

// reader is what following the journal needs of an open journal.
type reader interface {
	Next() (uint64, error)
	GetEntry() (*sdjournal.JournalEntry, error)
	Wait(timeout time.Duration) int
	Close() error
}

// Target reads one job's journal and hands every entry to the job's pipeline.
//
// One goroutine, locked to its OS thread, owns the journal handle from open to
// close: sd-journal handles must stay on the thread that opened them.
type Target struct {
	logger  *slog.Logger
	path    string
	matches []string
	maxAge  time.Duration
	handler api.EntryHandler
	pos     *positions.Positions
	key     string

	// seq orders the acknowledgements of the batches; settled maps each
	// batch number to the cursor of its last entry.
	seq     *api.Sequence
	settled cursorLog

	// openReader is open, except in tests that need a journal that fails.
	openReader func(cursor string) (r reader, current bool, err error)
	retry      time.Duration

	// Used by the reader goroutine only.
	conv     *converter
	batch    *api.Batch
	inBatch  int
	batchNo  int64
	lastRead string

	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// New opens the journal and starts reading it: after the cursor saved in pos
// for jobName when there is one no older than max_age, otherwise from max_age
// ago. Errors name the job and the key at fault.
func New(logger *slog.Logger, m *Metrics, jobName string, cfg *config.JournalConfig,
	relabelConfigs []*relabel.Config, handler api.EntryHandler, pos *positions.Positions) (*Target, error) {
	t, err := newTarget(logger, m, jobName, cfg, relabelConfigs, handler, pos)
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", jobName, err)
	}
	if err := t.start(); err != nil {
		return nil, fmt.Errorf("job %q: %w", jobName, err)
	}
	return t, nil
}

// newTarget checks the configuration and prepares the target without opening
// the journal.
func newTarget(logger *slog.Logger, m *Metrics, jobName string, cfg *config.JournalConfig,
	relabelConfigs []*relabel.Config, handler api.EntryHandler, pos *positions.Positions) (*Target, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case m == nil:
		return nil, errors.New("journal: no metrics")
	case cfg == nil:
		return nil, errors.New("journal: no journal config")
	case handler == nil:
		return nil, errors.New("journal: no entry handler")
	case pos == nil:
		return nil, errors.New("journal: no positions")
	}
	maxAge, err := parseMaxAge(cfg.MaxAge)
	if err != nil {
		return nil, err
	}
	matches, err := parseMatches(cfg.Matches)
	if err != nil {
		return nil, err
	}
	rcs := make([]*relabel.Config, 0, len(relabelConfigs))
	for _, rc := range relabelConfigs {
		if rc == nil {
			continue
		}
		c := *rc
		if c.NameValidationScheme == model.UnsetValidation {
			// Loki accepts only legacy label names; an unset scheme would
			// make relabeling panic.
			c.NameValidationScheme = model.LegacyValidation
		}
		rcs = append(rcs, &c)
	}

	t := &Target{
		logger:  logger.With("job", jobName, "target", "journal"),
		path:    cfg.Path,
		matches: matches,
		maxAge:  maxAge,
		handler: handler,
		pos:     pos,
		key:     positions.CursorKey(jobName),
		retry:   minRetry,
		conv:    newConverter(m, cfg.JSON, cfg.Labels.Clone(), rcs),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	t.seq = api.NewSequence(t.save)
	t.openReader = func(cursor string) (reader, bool, error) { return t.open(cursor) }
	return t, nil
}

// start opens the journal on the reader goroutine and returns once it is
// open, or failed to open.
func (t *Target) start() error {
	started := make(chan error, 1)
	go t.run(started)
	if err := <-started; err != nil {
		<-t.done
		return err
	}
	return nil
}

// Stop stops reading and waits for the reader to finish. Entries still on
// their way move the saved cursor when they settle, after Stop returns.
func (t *Target) Stop() {
	t.stopOnce.Do(func() { close(t.quit) })
	<-t.done
}

// Details is the target's state for the /targets page: the saved cursor.
func (t *Target) Details() map[string]string {
	return map[string]string{"position": t.pos.GetString(t.key)}
}

func parseMaxAge(s string) (time.Duration, error) {
	if s == "" {
		s = config.DefaultJournalMaxAge
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("journal.max_age: %w", err)
	}
	if d < 0 {
		return 0, fmt.Errorf("journal.max_age: %s is negative", s)
	}
	return d, nil
}

// parseMatches splits Promtail's space-separated FIELD=value list. Field
// names are checked as sd-journal checks them, for a clear error at start.
func parseMatches(s string) ([]string, error) {
	var out []string
	for _, m := range strings.Fields(s) {
		field, _, ok := strings.Cut(m, "=")
		if !ok {
			return nil, fmt.Errorf("journal.matches: %q is not FIELD=value", m)
		}
		if !validMatchField(field) {
			return nil, fmt.Errorf("journal.matches: %q: a field name is upper-case letters, digits and underscores, not starting with two underscores", m)
		}
		out = append(out, m)
	}
	return out, nil
}

func validMatchField(f string) bool {
	if f == "" || strings.HasPrefix(f, "__") {
		return false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func (t *Target) run(started chan<- error) {
	defer close(t.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	t.lastRead = t.pos.GetString(t.key)
	j, current, err := t.openReader(t.lastRead)
	started <- err
	if err != nil {
		return
	}
	for {
		err := t.follow(j, current)
		if cerr := j.Close(); cerr != nil {
			t.logger.Warn("closing the journal", "err", cerr)
		}
		if err == nil {
			return
		}
		retry := t.retry
		for {
			t.logger.Error("reading the journal failed; reopening it", "err", err, "retry_in", retry)
			if !t.sleep(retry) {
				return
			}
			retry = min(2*retry, maxRetry)
			if j, current, err = t.openReader(t.lastRead); err == nil {
				break
			}
		}
	}
}

// sleep waits d and reports false when Stop came first.
func (t *Target) sleep(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.quit:
		return false
	case <-timer.C:
		return true
	}
}

// open opens the journal with the job's matches and places it at cursor (see
// seek). current reports that the journal already stands on the first entry
// to read.
func (t *Target) open(cursor string) (j *sdjournal.Journal, current bool, err error) {
	if t.path == "" {
		j, err = sdjournal.NewJournal()
	} else {
		var fi os.FileInfo
		if fi, err = os.Stat(t.path); err != nil {
			return nil, false, fmt.Errorf("journal.path: %w", err)
		}
		if fi.IsDir() {
			j, err = sdjournal.NewJournalFromDir(t.path)
		} else {
			j, err = sdjournal.NewJournalFromFiles(t.path)
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("journal: opening the journal: %w", err)
	}
	for _, m := range t.matches {
		if err := j.AddMatch(m); err != nil {
			j.Close()
			return nil, false, fmt.Errorf("journal.matches: %q: %w", m, err)
		}
	}
	if current, err = t.seek(j, cursor); err != nil {
		j.Close()
		return nil, false, fmt.Errorf("journal: %w", err)
	}
	return j, current, nil
}

// seek places j just after the entry cursor names, when there is one and that
// entry is no older than max_age; otherwise at max_age ago (with no max_age,
// at the start of the journal).
func (t *Target) seek(j *sdjournal.Journal, cursor string) (current bool, err error) {
	if cursor != "" {
		current, ok, err := t.seekCursor(j, cursor)
		if err != nil || ok {
			return current, err
		}
	}
	if t.maxAge == 0 {
		return false, j.SeekHead()
	}
	return false, j.SeekRealtimeUsec(uint64(max(time.Now().Add(-t.maxAge).UnixMicro(), 0)))
}

// seekCursor reports ok when j now stands at cursor; current then tells that
// the entry it stands on was not read yet (the saved one is gone from the
// journal). A saved entry older than max_age is not ok, as in Promtail.
func (t *Target) seekCursor(j *sdjournal.Journal, cursor string) (current, ok bool, err error) {
	if err := j.SeekCursor(cursor); err != nil {
		t.logger.Warn("the saved journal cursor is not usable; reading from max_age ago", "cursor", cursor, "err", err)
		return false, false, nil
	}
	n, err := j.Next()
	if err != nil {
		return false, false, err
	}
	if n == 0 {
		// Nothing at or after the cursor yet: the next entry written is the first to read.
		return false, true, nil
	}
	if t.maxAge > 0 {
		usec, err := j.GetRealtimeUsec()
		if err != nil {
			return false, false, err
		}
		if time.Since(time.UnixMicro(int64(usec))) > t.maxAge {
			t.logger.Info("the saved journal cursor is older than max_age; reading from max_age ago", "max_age", t.maxAge)
			return false, false, nil
		}
	}
	if err := j.TestCursor(cursor); err != nil {
		if !errors.Is(err, sdjournal.ErrNoTestCursor) {
			return false, false, err
		}
		t.logger.Warn("the entry of the saved journal cursor is gone; reading on from the next one", "cursor", cursor)
		return true, true, nil
	}
	return false, true, nil
}

// follow reads entries as they come until Stop (it returns nil) or a read
// error. current: j already stands on an entry not read yet.
func (t *Target) follow(j reader, current bool) error {
	defer t.endBatch()
	for {
		if !current {
			select {
			case <-t.quit:
				return nil
			default:
			}
			n, err := j.Next()
			if err != nil {
				return err
			}
			if n == 0 {
				t.endBatch()
				if r := j.Wait(waitTimeout); r < 0 {
					return fmt.Errorf("waiting for the journal: %w", syscall.Errno(-r))
				}
				continue
			}
		}
		current = false
		entry, err := j.GetEntry()
		if err != nil {
			return err
		}
		t.handle(entry)
	}
}

func (t *Target) handle(entry *sdjournal.JournalEntry) {
	if t.batch == nil {
		t.batch = t.seq.Begin()
	}
	if e, ok := t.conv.convert(entry.Fields, entry.RealtimeTimestamp); ok {
		e.Ack = t.batch.Ack
		t.handler.Handle(e)
	}
	t.lastRead = entry.Cursor
	t.inBatch++
	if t.inBatch >= maxBatch {
		t.endBatch()
	}
}

// endBatch closes the open batch; its last cursor is saved once every entry
// of this batch and of those before it is settled.
func (t *Target) endBatch() {
	if t.batch == nil {
		return
	}
	t.batchNo++
	t.settled.push(t.batchNo, t.lastRead)
	b := t.batch
	t.batch, t.inBatch = nil, 0
	b.End(t.batchNo)
}

// save is the Sequence's commit: batch n and all before it are settled.
func (t *Target) save(n int64) {
	if cursor, ok := t.settled.take(n); ok {
		t.pos.PutString(t.key, cursor)
	}
}

// cursorLog holds the last cursor of each batch until the batch is settled.
// Batches are pushed and taken in order.
type cursorLog struct {
	mu    sync.Mutex
	items []batchCursor
}

type batchCursor struct {
	batch  int64
	cursor string
}

func (l *cursorLog) push(batch int64, cursor string) {
	l.mu.Lock()
	l.items = append(l.items, batchCursor{batch, cursor})
	l.mu.Unlock()
}

// take forgets every batch up to and including batch and returns the cursor
// of the last of them.
func (l *cursorLog) take(batch int64) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for n < len(l.items) && l.items[n].batch <= batch {
		n++
	}
	if n == 0 {
		return "", false
	}
	cursor := l.items[n-1].cursor
	rest := copy(l.items, l.items[n:])
	clear(l.items[rest:])
	l.items = l.items[:rest]
	return cursor, true
}
