//go:build linux && cgo && promtail_journal_enabled

package journal

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/sdjournal"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/positions"
)

const unitAndLevel = "[{source_labels: [__journal__systemd_unit], target_label: unit}, {source_labels: [__journal_priority_keyword], target_label: level}]"

// sampleRecords are four entries of the last minutes; the third has no MESSAGE.
func sampleRecords(now time.Time) []record {
	return []record{
		rec(now.Add(-4*time.Minute), "MESSAGE", "Server listening on 0.0.0.0 port 22.", "PRIORITY", "6", "_SYSTEMD_UNIT", "ssh.service", "SYSLOG_IDENTIFIER", "sshd"),
		rec(now.Add(-3*time.Minute), "MESSAGE", "(root) CMD (run-parts)\nsecond line", "PRIORITY", "5", "_SYSTEMD_UNIT", "cron.service"),
		rec(now.Add(-2*time.Minute), "CODE_FUNC", "main", "_SYSTEMD_UNIT", "ssh.service"),
		rec(now.Add(-1*time.Minute), "MESSAGE", "Accepted publickey for root from 10.0.0.1", "PRIORITY", "3", "_SYSTEMD_UNIT", "ssh.service"),
	}
}

func TestReadJournal(t *testing.T) {
	now := time.Now().Truncate(time.Microsecond)
	records := sampleRecords(now)
	jsonLine := func(r record) string {
		fields := map[string]string{"_BOOT_ID": testBootID}
		for _, kv := range r.fields {
			fields[kv[0]] = kv[1]
		}
		b, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	job := model.LabelSet{"job": "systemd-journal"}
	withUnit := func(unit, level string) model.LabelSet {
		return model.LabelSet{"job": "systemd-journal", "unit": model.LabelValue(unit), "level": model.LabelValue(level)}
	}
	tests := []struct {
		name        string
		cfg         config.JournalConfig
		dirPath     bool
		rules       string
		want        []int // indexes into records
		wantLines   []string
		wantLabels  []model.LabelSet
		noMessage   float64
		emptyLabels float64
	}{{
		name:       "file path, labels and relabeling",
		cfg:        config.JournalConfig{Labels: job},
		rules:      unitAndLevel,
		want:       []int{0, 1, 3},
		wantLabels: []model.LabelSet{withUnit("ssh.service", "info"), withUnit("cron.service", "notice"), withUnit("ssh.service", "error")},
		noMessage:  1,
	}, {
		name:    "directory path",
		cfg:     config.JournalConfig{Labels: job},
		dirPath: true,
		want:    []int{0, 1, 3},
		wantLabels: []model.LabelSet{
			job, job, job,
		},
		noMessage: 1,
	}, {
		name:       "json lines",
		cfg:        config.JournalConfig{Labels: job, JSON: true},
		want:       []int{0, 1, 2, 3},
		wantLines:  []string{jsonLine(records[0]), jsonLine(records[1]), jsonLine(records[2]), jsonLine(records[3])},
		wantLabels: []model.LabelSet{job, job, job, job},
	}, {
		name:       "one match",
		cfg:        config.JournalConfig{Labels: job, Matches: "_SYSTEMD_UNIT=ssh.service"},
		want:       []int{0, 3},
		wantLabels: []model.LabelSet{job, job},
		noMessage:  1,
	}, {
		name:       "matches on two fields must all hold",
		cfg:        config.JournalConfig{Labels: job, Matches: "_SYSTEMD_UNIT=ssh.service PRIORITY=3"},
		want:       []int{3},
		wantLabels: []model.LabelSet{job},
	}, {
		name:       "matches on one field are alternatives",
		cfg:        config.JournalConfig{Labels: job, Matches: "_SYSTEMD_UNIT=cron.service _SYSTEMD_UNIT=ssh.service"},
		rules:      unitAndLevel,
		want:       []int{0, 1, 3},
		wantLabels: []model.LabelSet{withUnit("ssh.service", "info"), withUnit("cron.service", "notice"), withUnit("ssh.service", "error")},
		noMessage:  1,
	}, {
		name:        "entries without labels are dropped",
		cfg:         config.JournalConfig{},
		noMessage:   1,
		emptyLabels: 3,
	}, {
		name:  "entries dropped by relabeling",
		cfg:   config.JournalConfig{Labels: job},
		rules: "[{source_labels: [__journal__systemd_unit], regex: ssh.service, action: drop}]",
		want:  []int{1},
		// The entry without MESSAGE is counted before relabeling, as in Promtail.
		wantLabels: []model.LabelSet{job},
		noMessage:  1,
	}}
	// The subtests only read the file, so they share it.
	jdir := filepath.Join(t.TempDir(), "journal")
	if err := os.Mkdir(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := newJournalFile(t, jdir, "test.journal")
	f.append(records...)
	cursors := f.cursors()
	if len(cursors) != len(records) {
		t.Fatalf("journal holds %d entries, want %d", len(cursors), len(records))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := tc.cfg
			cfg.Path = f.path
			if tc.dirPath {
				cfg.Path = jdir
			}
			cfg.MaxAge = "1h"
			pos := newPositions(t, dir)
			m := NewMetrics(nil)
			h := &collector{}
			startTarget(t, m, "journal", cfg, tc.rules, h, pos)

			key := positions.CursorKey("journal")
			waitFor(t, "the cursor of the last entry", func() bool { return pos.GetString(key) == cursors[len(cursors)-1] })
			got := h.All()
			if len(got) != len(tc.want) {
				t.Fatalf("got %d entries %q, want %d", len(got), h.Lines(), len(tc.want))
			}
			for i, e := range got {
				r := records[tc.want[i]]
				wantLine := r.fields[0][1]
				if tc.wantLines != nil {
					wantLine = tc.wantLines[i]
				}
				if e.Line != wantLine {
					t.Errorf("entry %d line %q, want %q", i, e.Line, wantLine)
				}
				if !e.Timestamp.Equal(r.ts) {
					t.Errorf("entry %d timestamp %v, want %v", i, e.Timestamp, r.ts)
				}
				if !e.Labels.Equal(tc.wantLabels[i]) {
					t.Errorf("entry %d labels %v, want %v", i, e.Labels, tc.wantLabels[i])
				}
				if e.Ack == nil {
					t.Errorf("entry %d has no Ack", i)
				}
			}
			if got := testutil.ToFloat64(m.lines); got != float64(len(tc.want)) {
				t.Errorf("lines_total = %v, want %d", got, len(tc.want))
			}
			if got := testutil.ToFloat64(m.errors.WithLabelValues(reasonNoMessage)); got != tc.noMessage {
				t.Errorf("no_message = %v, want %v", got, tc.noMessage)
			}
			if got := testutil.ToFloat64(m.errors.WithLabelValues(reasonEmptyLabels)); got != tc.emptyLabels {
				t.Errorf("empty_labels = %v, want %v", got, tc.emptyLabels)
			}
		})
	}
}

func TestMaxAge(t *testing.T) {
	now := time.Now()
	records := []record{
		rec(now.Add(-3*time.Hour), "MESSAGE", "old 1"),
		rec(now.Add(-2*time.Hour), "MESSAGE", "old 2"),
		rec(now.Add(-time.Minute), "MESSAGE", "recent"),
	}
	tests := []struct {
		name   string
		maxAge string
		// saved is the index of the entry whose cursor is saved, -1 for none.
		saved int
		want  []string
	}{
		{name: "first start reads from max_age ago", maxAge: "1h", saved: -1, want: []string{"recent"}},
		{name: "max_age reaching back further reads more", maxAge: "150m", saved: -1, want: []string{"old 2", "recent"}},
		{name: "a cursor older than max_age is not used", maxAge: "1h", saved: 0, want: []string{"recent"}},
		{name: "a cursor within max_age is used", maxAge: "4h", saved: 0, want: []string{"old 2", "recent"}},
		{name: "max_age 0 has no limit", maxAge: "0s", saved: -1, want: []string{"old 1", "old 2", "recent"}},
		{name: "max_age 0 still resumes at the cursor", maxAge: "0s", saved: 1, want: []string{"recent"}},
	}
	f := newJournalFile(t, t.TempDir(), "test.journal")
	f.append(records...)
	cursors := f.cursors()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pos := newPositions(t, t.TempDir())
			key := positions.CursorKey("j")
			if tc.saved >= 0 {
				pos.PutString(key, cursors[tc.saved])
			}
			h := &collector{}
			startTarget(t, NewMetrics(nil), "j", config.JournalConfig{Path: f.path, MaxAge: tc.maxAge, Labels: model.LabelSet{"job": "j"}}, "", h, pos)
			waitFor(t, "the cursor of the last entry", func() bool { return pos.GetString(key) == cursors[2] })
			if got := h.Lines(); !equalStrings(got, tc.want) {
				t.Fatalf("lines %q, want %q", got, tc.want)
			}
		})
	}
}

// A restart goes on after the last entry it saved: nothing read twice, nothing
// lost, including what was written while the agent was stopped; the cursor
// reaches the positions file under cursor-<job>.
func TestResumeAfterRestart(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	f := newJournalFile(t, dir, "test.journal")
	f.append(rec(now.Add(-3*time.Second), "MESSAGE", "one"), rec(now.Add(-2*time.Second), "MESSAGE", "two"), rec(now.Add(-time.Second), "MESSAGE", "three"))
	cfg := config.JournalConfig{Path: f.path, MaxAge: "1h", Labels: model.LabelSet{"job": "j"}}
	key := positions.CursorKey("j")

	pos := newPositions(t, dir)
	first := &collector{}
	tg := startTarget(t, NewMetrics(nil), "j", cfg, "", first, pos)
	cursors := f.cursors()
	waitFor(t, "three entries saved", func() bool { return pos.GetString(key) == cursors[2] })
	if d := tg.Details(); d["position"] != cursors[2] {
		t.Errorf("Details = %v", d)
	}
	tg.Stop()
	tg.Stop()

	f.append(rec(now, "MESSAGE", "four"), rec(now.Add(time.Millisecond), "MESSAGE", "five"))
	second := &collector{}
	startTarget(t, NewMetrics(nil), "j", cfg, "", second, pos)
	cursors = f.cursors()
	waitFor(t, "five entries saved", func() bool { return pos.GetString(key) == cursors[4] })

	// Followed while running.
	f.append(rec(now.Add(2*time.Millisecond), "MESSAGE", "six"))
	cursors = f.cursors()
	waitFor(t, "six entries saved", func() bool { return pos.GetString(key) == cursors[5] })

	if got, want := first.Lines(), []string{"one", "two", "three"}; !equalStrings(got, want) {
		t.Errorf("first run read %q, want %q", got, want)
	}
	if got, want := second.Lines(), []string{"four", "five", "six"}; !equalStrings(got, want) {
		t.Errorf("second run read %q, want %q", got, want)
	}

	if err := pos.SyncNow(); err != nil {
		t.Fatal(err)
	}
	reloaded, err := positions.New(nil, config.PositionsConfig{Filename: pos.Path(), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := reloaded.GetString("cursor-j"); got != cursors[5] {
		t.Errorf("positions file holds cursor-j %q, want %q", got, cursors[5])
	}
}

// The cursor moves only past settled entries, in order: entries still on
// their way when the agent dies are read again after the restart.
func TestCursorWaitsForSettledEntries(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	f := newJournalFile(t, dir, "test.journal")
	cfg := config.JournalConfig{Path: f.path, MaxAge: "1h", Labels: model.LabelSet{"job": "j"}}
	key := positions.CursorKey("j")
	pos := newPositions(t, dir)
	h := &collector{}
	h.SetHold(true)

	f.append(rec(now, "MESSAGE", "1"), rec(now.Add(time.Millisecond), "MESSAGE", "2"), rec(now.Add(2*time.Millisecond), "MESSAGE", "3"))
	tg := startTarget(t, NewMetrics(nil), "j", cfg, "", h, pos)
	waitFor(t, "three entries", func() bool { return len(h.All()) == 3 })
	f.append(rec(now.Add(3*time.Millisecond), "MESSAGE", "4"), rec(now.Add(4*time.Millisecond), "MESSAGE", "5"))
	waitFor(t, "five entries", func() bool { return len(h.All()) == 5 })
	cursors := f.cursors()

	if got := pos.GetString(key); got != "" {
		t.Fatalf("cursor saved while every entry is in flight: %q", got)
	}
	release(h, 3, 5)
	if got := pos.GetString(key); got != "" {
		t.Fatalf("cursor saved past unsettled entries 1-3: %q", got)
	}
	release(h, 0, 3)
	if got := pos.GetString(key); got != cursors[4] {
		t.Fatalf("cursor %q once all settled, want entry 5's %q", got, cursors[4])
	}

	f.append(rec(now.Add(5*time.Millisecond), "MESSAGE", "6"), rec(now.Add(6*time.Millisecond), "MESSAGE", "7"))
	waitFor(t, "seven entries", func() bool { return len(h.All()) == 7 })
	// The agent dies with 6 and 7 unsettled.
	tg.Stop()
	if got := pos.GetString(key); got != cursors[4] {
		t.Fatalf("cursor %q after stopping with 6 and 7 in flight, want entry 5's", got)
	}

	again := &collector{}
	startTarget(t, NewMetrics(nil), "j", cfg, "", again, pos)
	cursors = f.cursors()
	waitFor(t, "seven entries saved", func() bool { return pos.GetString(key) == cursors[6] })
	if got, want := again.Lines(), []string{"6", "7"}; !equalStrings(got, want) {
		t.Fatalf("after the restart read %q, want %q", got, want)
	}
}

func TestUnusableSavedCursor(t *testing.T) {
	now := time.Now()
	// other is a different journal: its cursors name entries this one lacks.
	other := newJournalFile(t, t.TempDir(), "other.journal")
	other.append(rec(now.Add(-3*time.Minute), "MESSAGE", "a1"), rec(now.Add(-2*time.Minute), "MESSAGE", "a2"))
	foreign := other.cursors()[1]

	f := newJournalFile(t, t.TempDir(), "test.journal")
	f.append(rec(now.Add(-2*time.Hour), "MESSAGE", "old"), rec(now.Add(-2*time.Minute), "MESSAGE", "b2"), rec(now.Add(-time.Minute), "MESSAGE", "b3"))
	cursors := f.cursors()
	tests := []struct {
		name, saved, maxAge string
		want                []string
	}{
		{name: "not a cursor: read from max_age ago", saved: "not a cursor", maxAge: "1h", want: []string{"b2", "b3"}},
		// The other journal's second entry has the same boot and monotonic
		// time as this one's second: reading starts there, with that entry
		// (max_age would reach "old" too).
		{name: "its entry is gone: read on from the next one", saved: foreign, maxAge: "4h", want: []string{"b2", "b3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := positions.CursorKey("j")
			pos := newPositions(t, t.TempDir())
			pos.PutString(key, tc.saved)
			h := &collector{}
			startTarget(t, NewMetrics(nil), "j", config.JournalConfig{Path: f.path, MaxAge: tc.maxAge, Labels: model.LabelSet{"job": "j"}}, "", h, pos)
			waitFor(t, "the last entry saved", func() bool { return pos.GetString(key) == cursors[2] })
			if got := h.Lines(); !equalStrings(got, tc.want) {
				t.Fatalf("read %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	notJournal := filepath.Join(dir, "plain.journal")
	if err := os.WriteFile(notJournal, []byte("not a journal\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pos := newPositions(t, dir)
	m := NewMetrics(nil)
	h := &collector{}
	tests := []struct {
		name    string
		cfg     *config.JournalConfig
		m       *Metrics
		noPos   bool
		noH     bool
		wantErr string
	}{
		{name: "missing path", cfg: &config.JournalConfig{Path: filepath.Join(dir, "nonexistent")}, m: m,
			wantErr: `job "j": journal.path: stat ` + filepath.Join(dir, "nonexistent") + `: no such file or directory`},
		{name: "not a journal file", cfg: &config.JournalConfig{Path: notJournal}, m: m, wantErr: `job "j": journal: opening the journal: `},
		{name: "bad match", cfg: &config.JournalConfig{Path: dir, Matches: "unit=ssh"}, m: m, wantErr: `job "j": journal.matches: "unit=ssh": `},
		{name: "bad max_age", cfg: &config.JournalConfig{Path: dir, MaxAge: "7 hours"}, m: m, wantErr: `job "j": journal.max_age: `},
		{name: "no config", m: m, wantErr: `job "j": journal: no journal config`},
		{name: "no metrics", cfg: &config.JournalConfig{Path: dir}, wantErr: `job "j": journal: no metrics`},
		{name: "no positions", cfg: &config.JournalConfig{Path: dir}, m: m, noPos: true, wantErr: `job "j": journal: no positions`},
		{name: "no handler", cfg: &config.JournalConfig{Path: dir}, m: m, noH: true, wantErr: `job "j": journal: no entry handler`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pos
			if tc.noPos {
				p = nil
			}
			var handler api.EntryHandler = h
			if tc.noH {
				handler = nil
			}
			tg, err := New(nil, tc.m, "j", tc.cfg, nil, handler, p)
			if tg != nil {
				tg.Stop()
				t.Fatal("New returned a target")
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q...", err, tc.wantErr)
			}
		})
	}
}

// With no path the system journal is read; the test only checks that it opens
// and stops, since what it holds depends on the machine.
func TestSystemJournalOpens(t *testing.T) {
	dir := t.TempDir()
	tg, err := New(nil, NewMetrics(nil), "j", &config.JournalConfig{MaxAge: "1s"}, nil, &collector{}, newPositions(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tg.Stop()
	if took := time.Since(start); took > 2*waitTimeout+time.Second {
		t.Fatalf("Stop took %v", took)
	}
}

// failingReader is a real journal whose calls fail at set points.
type failingReader struct {
	reader
	nextCalls, failNextAt int
	waitCalls, failWaitAt int
	entryCalls, failEntry int
}

func (r *failingReader) Next() (uint64, error) {
	r.nextCalls++
	if r.nextCalls == r.failNextAt {
		return 0, errors.New("failed to iterate journal: bad message")
	}
	return r.reader.Next()
}

func (r *failingReader) GetEntry() (*sdjournal.JournalEntry, error) {
	r.entryCalls++
	if r.entryCalls == r.failEntry {
		return nil, errors.New("failed to read message field: bad message")
	}
	return r.reader.GetEntry()
}

func (r *failingReader) Wait(d time.Duration) int {
	r.waitCalls++
	if r.waitCalls == r.failWaitAt {
		return -int(syscall.EBADF)
	}
	return r.reader.Wait(d)
}

// After a read error the journal is opened again and reading goes on after
// the last entry read: nothing lost, nothing twice. Opening again may fail too.
func TestReopenAfterReadError(t *testing.T) {
	now := time.Now()
	f := newJournalFile(t, t.TempDir(), "test.journal")
	f.append(rec(now, "MESSAGE", "1"), rec(now.Add(time.Millisecond), "MESSAGE", "2"), rec(now.Add(2*time.Millisecond), "MESSAGE", "3"))
	cursors := f.cursors()
	tests := []struct {
		name string
		// faults returns the reader for the n-th opening (from 1), or an error.
		faults func(n int, r reader) (reader, error)
		opens  int
	}{
		{name: "next fails after two entries", opens: 2, faults: func(n int, r reader) (reader, error) {
			if n == 1 {
				return &failingReader{reader: r, failNextAt: 3}, nil
			}
			return r, nil
		}},
		{name: "reading an entry fails", opens: 2, faults: func(n int, r reader) (reader, error) {
			if n == 1 {
				return &failingReader{reader: r, failEntry: 2}, nil
			}
			return r, nil
		}},
		{name: "waiting fails, then opening fails twice", opens: 4, faults: func(n int, r reader) (reader, error) {
			switch n {
			case 1:
				return &failingReader{reader: r, failWaitAt: 1}, nil
			case 2, 3:
				r.Close()
				return nil, errors.New("failed to open journal: too many open files")
			}
			return r, nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pos := newPositions(t, t.TempDir())
			h := &collector{}
			tg, err := newTarget(nil, NewMetrics(nil), "j", &config.JournalConfig{Path: f.path, MaxAge: "1h", Labels: model.LabelSet{"job": "j"}}, nil, h, pos)
			if err != nil {
				t.Fatal(err)
			}
			tg.retry = time.Millisecond
			var opens atomic.Int32
			tg.openReader = func(cursor string) (reader, bool, error) {
				j, current, err := tg.open(cursor)
				if err != nil {
					return nil, false, err
				}
				r, err := tc.faults(int(opens.Add(1)), j)
				return r, current, err
			}
			if err := tg.start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(tg.Stop)
			key := positions.CursorKey("j")
			waitFor(t, "the last entry saved", func() bool { return pos.GetString(key) == cursors[2] })
			waitFor(t, "the last opening", func() bool { return int(opens.Load()) >= tc.opens })
			tg.Stop()
			if got, want := h.Lines(), []string{"1", "2", "3"}; !equalStrings(got, want) {
				t.Fatalf("read %q, want %q", got, want)
			}
			if got := int(opens.Load()); got != tc.opens {
				t.Fatalf("opened %d times, want %d", got, tc.opens)
			}
		})
	}
}
