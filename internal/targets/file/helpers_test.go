package file

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/api/apitest"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

// collector is an entry handler that keeps everything it is handed.
type collector = apitest.Collector

// memPositions is an in-memory positions table.
type memPositions struct {
	mu sync.Mutex
	m  map[string]string
}

func newMemPositions(init map[string]string) *memPositions {
	p := &memPositions{m: map[string]string{}}
	maps.Copy(p.m, init)
	return p
}

func (p *memPositions) Get(path string) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.m[path]
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("position of %q: %w", path, err)
	}
	return n, nil
}

func (p *memPositions) GetString(key string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[key]
}

func (p *memPositions) Put(path string, offset int64) {
	p.mu.Lock()
	p.m[path] = strconv.FormatInt(offset, 10)
	p.mu.Unlock()
}

func (p *memPositions) PutString(key, value string) {
	p.mu.Lock()
	p.m[key] = value
	p.mu.Unlock()
}

func (p *memPositions) Snapshot() map[string]string { return p.snapshot() }

func (p *memPositions) Remove(key string) {
	p.mu.Lock()
	delete(p.m, key)
	p.mu.Unlock()
}

func (p *memPositions) snapshot() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.m)
}

// logRecorder keeps log records so tests can check what was logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.msgs = append(l.msgs, b.String())
	l.mu.Unlock()
	return nil
}

// countContaining counts records whose message and attributes contain all of
// the given parts.
func (l *logRecorder) countContaining(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
outer:
	for _, m := range l.msgs {
		for _, p := range parts {
			if !strings.Contains(m, p) {
				continue outer
			}
		}
		n++
	}
	return n
}

// harness runs a Manager over temporary files.
type harness struct {
	t          *testing.T
	dir        string
	pos        *memPositions
	reg        *prometheus.Registry
	metrics    *Metrics
	out        *collector
	logs       *logRecorder
	m          *Manager
	watch      config.WatchConfig
	syncPeriod time.Duration
	// handler, when set, takes the entries instead of out.
	handler api.EntryHandler
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	return &harness{
		t:          t,
		dir:        t.TempDir(),
		pos:        newMemPositions(nil),
		reg:        reg,
		metrics:    NewMetrics(reg),
		out:        &collector{},
		logs:       &logRecorder{},
		watch:      config.WatchConfig{MinPollFrequency: 10 * time.Millisecond, MaxPollFrequency: 50 * time.Millisecond},
		syncPeriod: 200 * time.Millisecond,
	}
}

func (h *harness) path(name string) string { return filepath.Join(h.dir, name) }

func (h *harness) start(jobs ...config.ScrapeConfig) {
	h.t.Helper()
	m, err := NewManager(ManagerOptions{
		Logger:        slog.New(h.logs),
		Metrics:       h.metrics,
		Positions:     h.pos,
		ScrapeConfigs: jobs,
		WatchConfig:   h.watch,
		TargetConfig:  config.TargetConfig{SyncPeriod: h.syncPeriod},
		Handler: func(string) api.EntryHandler {
			if h.handler != nil {
				return h.handler
			}
			return h.out
		},
	})
	if err != nil {
		h.t.Fatalf("NewManager: %v", err)
	}
	h.m = m
	h.t.Cleanup(m.Stop)
}

// staticJob is a job with one static target group carrying labels.
func staticJob(name string, labels model.LabelSet) config.ScrapeConfig {
	return config.ScrapeConfig{
		JobName: name,
		ServiceDiscoveryConfigs: discovery.Configs{
			discovery.StaticConfig{&targetgroup.Group{Labels: labels}},
		},
	}
}

func pathJob(glob string) config.ScrapeConfig {
	return staticJob("test", model.LabelSet{"job": "test", pathLabel: model.LabelValue(glob)})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) waitLines(n int) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.out.Count() < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %d lines, have %d", n, h.out.Count())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// numbered returns "prefix <i>\n" for i in [from, to).
func numbered(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	return b.String()
}

// assertExactlyOnce checks that got holds every line of want exactly once.
func assertExactlyOnce(t *testing.T, got []string, want []string) {
	t.Helper()
	counts := map[string]int{}
	for _, l := range got {
		counts[l]++
	}
	var missing, dup []string
	for _, l := range want {
		switch counts[l] {
		case 0:
			missing = append(missing, l)
		case 1:
		default:
			dup = append(dup, l)
		}
		delete(counts, l)
	}
	var extra []string
	for l := range counts {
		extra = append(extra, l)
	}
	if len(missing)+len(dup)+len(extra) > 0 {
		t.Fatalf("got %d lines, want %d: %d missing (first %v), %d duplicated (first %v), %d unexpected (first %v)",
			len(got), len(want), len(missing), first(missing), len(dup), first(dup), len(extra), first(extra))
	}
}

func first(s []string) []string {
	return s[:min(len(s), 3)]
}

func splitLines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// openFDsTo lists this process's descriptors open on path (deleted or not).
func openFDsTo(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue
		}
		if target == path || target == path+" (deleted)" {
			n++
		}
	}
	return n
}

// seriesExists reports whether the registry has a series of metric with the
// given path label.
func seriesExists(t *testing.T, reg *prometheus.Registry, metric, path string) bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "path" && l.GetValue() == path {
					return true
				}
			}
		}
	}
	return false
}
