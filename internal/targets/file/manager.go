// Package file is the file target: it discovers files through Prometheus
// service discovery and relabeling, as Promtail does, and reads them.
//
// Where it deliberately differs from Promtail:
//   - files are followed by device and inode, not only by path: a rotated file
//     that still matches the glob is not read again from the start, and the
//     rest of a renamed file is read before the new file at its path;
//   - a truncated file is noticed on every poll and on write events, and the
//     bytes of an unterminated last line are not lost;
//   - a deleted file is closed as soon as it has been read to its end;
//   - per-path metric series are deleted when their file is no longer read;
//   - UTF-16 files are split on the UTF-16 newline, not on the byte 0x0A;
//   - the copy made by copytruncate is recognised when its name matches the
//     glob too: it is read only from where the original had been read to;
//   - tail_from_end (not in Promtail) starts the files found at start-up
//     that have no saved position at their last line; files and targets that
//     appear later are new and read from their start.
package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

const (
	pathLabel        = "__path__"
	pathExcludeLabel = "__path_exclude__"
	hostLabel        = "__host__"
)

// Positions is what the file target needs of the positions file.
// *positions.Positions implements it. Keys are absolute file paths.
type Positions interface {
	Get(path string) (int64, error)
	// GetString returns "" when nothing is saved for key.
	GetString(key string) string
	Put(path string, offset int64)
	PutString(key, value string)
	Remove(key string)
	// Snapshot returns every saved key and value.
	Snapshot() map[string]string
}

// ManagerOptions configures a Manager.
type ManagerOptions struct {
	Logger    *slog.Logger
	Metrics   *Metrics
	Positions Positions
	// ScrapeConfigs are the file jobs: those with service discovery configs.
	ScrapeConfigs []config.ScrapeConfig
	WatchConfig   config.WatchConfig
	TargetConfig  config.TargetConfig
	// Handler returns the handler of a job's pipeline; it is called once per
	// job. Handle may block: the reader of the file waits.
	Handler func(job string) api.EntryHandler
}

// FileStatus is one file of an active target. Position is the byte offset
// read up to, or the number of lines read for a compressed file.
type FileStatus struct {
	Path     string
	Position int64
	Size     int64
}

// TargetStatus is an active target, for the /targets page.
type TargetStatus struct {
	Job              string
	Path             string
	PathExclude      string
	Labels           model.LabelSet
	DiscoveredLabels model.LabelSet
	Files            []FileStatus
}

// DroppedTarget is a discovered target that is not read, and why, for the
// /service-discovery page.
type DroppedTarget struct {
	Job              string
	DiscoveredLabels model.LabelSet
	Reason           string
}

// Manager runs the service discovery of every file job and the targets it
// yields.
type Manager struct {
	log        *slog.Logger
	metrics    *Metrics
	pos        Positions
	minPoll    time.Duration
	maxPoll    time.Duration
	syncPeriod time.Duration
	// detachedGrace is how long a renamed-away file stays open after its
	// last write, for an application that has not reopened its log yet.
	detachedGrace time.Duration
	started       time.Time
	hostname      string   // Promtail's: $HOSTNAME, else the OS host name
	localNames    []string // names __host__ may have

	jobs   []*job
	byName map[string]*job

	disc    *discovery.Manager
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	watcher *fsnotify.Watcher
	evDone  chan struct{}

	wmu       sync.Mutex
	watches   map[string]map[*target]struct{}
	watchedBy map[*target]map[string]struct{}

	pmMu sync.Mutex
	pms  map[string]*pathMetrics

	stopOnce sync.Once
}

type job struct {
	m           *Manager
	name        string
	log         *slog.Logger
	handler     api.EntryHandler
	relabel     []*relabel.Config
	format      lineFormat
	decompress  *config.DecompressionConfig // nil unless enabled
	tailFromEnd bool

	mu      sync.Mutex
	targets map[string]*target
	dropped []DroppedTarget
}

// NewManager checks the file jobs, starts their service discovery and
// returns the running manager.
func NewManager(opts ManagerOptions) (*Manager, error) {
	if opts.Positions == nil {
		return nil, errors.New("file targets: no positions")
	}
	if opts.Handler == nil {
		return nil, errors.New("file targets: no entry handler")
	}
	if opts.Metrics == nil {
		return nil, errors.New("file targets: no metrics")
	}
	if opts.Metrics.sdErr != nil {
		return nil, fmt.Errorf("file targets: service discovery metrics: %w", opts.Metrics.sdErr)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hostname, localNames, err := hostnames()
	if err != nil {
		return nil, err
	}
	m := &Manager{
		log:        logger,
		started:    time.Now(),
		metrics:    opts.Metrics,
		pos:        opts.Positions,
		minPoll:    orDefault(opts.WatchConfig.MinPollFrequency, config.DefaultMinPollFrequency),
		maxPoll:    orDefault(opts.WatchConfig.MaxPollFrequency, config.DefaultMaxPollFrequency),
		syncPeriod: orDefault(opts.TargetConfig.SyncPeriod, config.DefaultTargetSyncPeriod),
		hostname:   hostname,
		localNames: localNames,
		byName:     map[string]*job{},
		evDone:     make(chan struct{}),
		watches:    map[string]map[*target]struct{}{},
		watchedBy:  map[*target]map[string]struct{}{},
		pms:        map[string]*pathMetrics{},
	}
	m.maxPoll = max(m.maxPoll, m.minPoll)
	m.detachedGrace = max(m.syncPeriod, 4*m.maxPoll)

	sdConfigs := map[string]discovery.Configs{}
	for _, sc := range opts.ScrapeConfigs {
		j, err := m.newJob(sc, opts.Handler)
		if err != nil {
			return nil, err
		}
		m.jobs = append(m.jobs, j)
		m.byName[j.name] = j
		sdConfigs[j.name] = adaptSDConfigs(sc.ServiceDiscoveryConfigs, hostname)
	}

	if m.watcher, err = fsnotify.NewWatcher(); err != nil {
		return nil, fmt.Errorf("file targets: starting the file watcher: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	// The discovery manager's own metrics go to a private registry: a reload
	// builds a new manager, and Promtail exports none of them.
	m.disc = discovery.NewManager(ctx, logger.With("component", "discovery"), prometheus.NewRegistry(), opts.Metrics.sd)
	if m.disc == nil {
		cancel()
		_ = m.watcher.Close()
		return nil, errors.New("file targets: cannot create the discovery manager")
	}
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		if err := m.disc.Run(); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("service discovery stopped", "err", err)
		}
	}()
	go func() {
		defer m.wg.Done()
		m.runSync(ctx)
	}()
	go m.runEvents()
	if err := m.disc.ApplyConfig(sdConfigs); err != nil {
		m.Stop()
		return nil, fmt.Errorf("file targets: applying service discovery config: %w", err)
	}
	return m, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func hostnames() (string, []string, error) {
	env := os.Getenv("HOSTNAME")
	osName, err := os.Hostname()
	if err != nil && env == "" {
		return "", nil, fmt.Errorf("file targets: cannot get the host name: %w", err)
	}
	var names []string
	for _, n := range []string{env, osName} {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names[0], names, nil
}

func (m *Manager) newJob(sc config.ScrapeConfig, handler func(string) api.EntryHandler) (*job, error) {
	if sc.JobName == "" {
		return nil, errors.New("file targets: a job has no job_name")
	}
	if _, dup := m.byName[sc.JobName]; dup {
		return nil, fmt.Errorf("file targets: job %q is defined twice", sc.JobName)
	}
	format, err := newLineFormat(sc.Encoding)
	if err != nil {
		return nil, fmt.Errorf("file targets: job %q: %w", sc.JobName, err)
	}
	j := &job{
		m:           m,
		name:        sc.JobName,
		log:         m.log.With("component", "file_target", "job", sc.JobName),
		format:      format,
		tailFromEnd: sc.TailFromEnd,
		targets:     map[string]*target{},
	}
	if d := sc.Decompression; d != nil && d.Enabled {
		if err := checkDecompression(d.Format); err != nil {
			return nil, fmt.Errorf("file targets: job %q: %w", sc.JobName, err)
		}
		dc := *d
		j.decompress = &dc
	}
	for _, rc := range sc.RelabelConfigs {
		if rc == nil {
			continue
		}
		c := *rc
		if c.NameValidationScheme == model.UnsetValidation {
			// Loki accepts only legacy label names; an unset scheme would
			// make relabeling panic.
			c.NameValidationScheme = model.LegacyValidation
		}
		j.relabel = append(j.relabel, &c)
	}
	j.handler = handler(sc.JobName)
	if j.handler == nil {
		return nil, fmt.Errorf("file targets: job %q: no entry handler", sc.JobName)
	}
	return j, nil
}

// adaptSDConfigs applies Promtail's adjustments to a job's discovery configs,
// on copies: a static group without targets gets one (localhost), so that a
// static_configs entry with only labels yields a target; a Kubernetes pod
// discovery only asks for the pods of this node.
func adaptSDConfigs(in discovery.Configs, hostname string) discovery.Configs {
	out := make(discovery.Configs, 0, len(in))
	for _, c := range in {
		switch c := c.(type) {
		case discovery.StaticConfig:
			groups := make(discovery.StaticConfig, 0, len(c))
			for i, g := range c {
				if g == nil {
					continue
				}
				ng := *g
				if len(ng.Targets) == 0 {
					ng.Targets = []model.LabelSet{{model.AddressLabel: "localhost"}}
				}
				if ng.Source == "" {
					ng.Source = strconv.Itoa(i)
				}
				groups = append(groups, &ng)
			}
			out = append(out, groups)
		default:
			out = append(out, onThisNode(c, hostname))
		}
	}
	return out
}

func (m *Manager) runSync(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case groups, ok := <-m.disc.SyncCh():
			if !ok {
				return
			}
			for name, g := range groups {
				if j := m.byName[name]; j != nil {
					j.sync(g)
				}
			}
		}
	}
}

// sync applies the job's current target groups: relabeling, the __host__ and
// __path__ checks, then starts new targets and stops vanished ones.
func (j *job) sync(groups []*targetgroup.Group) {
	m := j.m
	seen := map[string]struct{}{}
	var dropped []DroppedTarget
	drop := func(discovered model.LabelSet, reason, metricReason string) {
		dropped = append(dropped, DroppedTarget{Job: j.name, DiscoveredLabels: discovered, Reason: reason})
		m.metrics.targetsFailed.WithLabelValues(metricReason).Inc()
	}
	j.mu.Lock()
	for _, g := range groups {
		if g == nil {
			continue
		}
		for _, tl := range g.Targets {
			discovered := g.Labels.Merge(tl)
			lb := labels.NewBuilder(labels.EmptyLabels())
			for k, v := range discovered {
				lb.Set(string(k), string(v))
			}
			if !relabel.ProcessBuilder(lb, j.relabel...) {
				drop(discovered, "dropped target", reasonDropped)
				continue
			}
			final := model.LabelSet{}
			lb.Labels().Range(func(l labels.Label) {
				final[model.LabelName(l.Name)] = model.LabelValue(l.Value)
			})
			if host, ok := final[hostLabel]; ok && !slices.Contains(m.localNames, string(host)) {
				drop(discovered, fmt.Sprintf("ignoring target, wrong host (labels:%s hostname:%s)", final, m.hostname), reasonWrongHost)
				continue
			}
			path, ok := final[pathLabel]
			if !ok {
				drop(discovered, "no path for target", reasonNoPath)
				continue
			}
			exclude := final[pathExcludeLabel]
			for name := range final {
				if strings.HasPrefix(string(name), "__") {
					delete(final, name)
				}
			}
			key := string(path) + ":" + final.String()
			if exclude != "" {
				key += ":" + string(exclude)
			}
			if _, dup := seen[key]; dup {
				drop(discovered, "ignoring target, already exists", reasonExists)
				continue
			}
			seen[key] = struct{}{}
			if _, running := j.targets[key]; running {
				continue
			}
			t, err := newTarget(j, string(path), string(exclude), final, discovered)
			if err != nil {
				j.log.Error("cannot start target", "key", key, "err", err)
				drop(discovered, "Failed to create target: "+err.Error(), reasonError)
				continue
			}
			j.log.Info("adding target", "key", key)
			j.targets[key] = t
			m.metrics.targetsActive.Inc()
		}
	}
	var removed []*target
	for key, t := range j.targets {
		if _, ok := seen[key]; !ok {
			j.log.Info("removing target", "key", key)
			delete(j.targets, key)
			removed = append(removed, t)
		}
	}
	j.dropped = dropped
	j.mu.Unlock()
	for _, t := range removed {
		t.stop()
		m.metrics.targetsActive.Dec()
	}
}

func (j *job) stopAll() {
	j.mu.Lock()
	targets := slices.Collect(maps.Values(j.targets))
	clear(j.targets)
	j.mu.Unlock()
	for _, t := range targets {
		t.stop()
		j.m.metrics.targetsActive.Dec()
	}
}

// Ready reports whether at least one file is being read.
func (m *Manager) Ready() bool {
	for _, j := range m.jobs {
		j.mu.Lock()
		targets := slices.Collect(maps.Values(j.targets))
		j.mu.Unlock()
		for _, t := range targets {
			if t.ready() {
				return true
			}
		}
	}
	return false
}

// ActiveTargets lists the running targets, by job then path.
func (m *Manager) ActiveTargets() []TargetStatus {
	var out []TargetStatus
	for _, j := range m.jobs {
		j.mu.Lock()
		keys := slices.Sorted(maps.Keys(j.targets))
		targets := make([]*target, len(keys))
		for i, k := range keys {
			targets[i] = j.targets[k]
		}
		j.mu.Unlock()
		for _, t := range targets {
			out = append(out, TargetStatus{
				Job:              j.name,
				Path:             t.pattern,
				PathExclude:      t.exclude,
				Labels:           t.labels,
				DiscoveredLabels: t.discovered,
				Files:            t.files(),
			})
		}
	}
	return out
}

// DroppedTargets lists the targets of the last discovery update that are not
// read, with the reason.
func (m *Manager) DroppedTargets() []DroppedTarget {
	var out []DroppedTarget
	for _, j := range m.jobs {
		j.mu.Lock()
		out = append(out, j.dropped...)
		j.mu.Unlock()
	}
	return out
}

// Stop stops discovery and every target, and waits for all of them. Every
// reader has recorded its last position when Stop returns.
func (m *Manager) Stop() {
	m.stopOnce.Do(func() {
		m.cancel()
		m.wg.Wait()
		for _, j := range m.jobs {
			j.stopAll()
		}
		if err := m.watcher.Close(); err != nil {
			m.log.Warn("closing the file watcher", "err", err)
		}
		<-m.evDone
	})
}

// setWatches makes dirs the directories watched for t.
func (m *Manager) setWatches(t *target, dirs map[string]struct{}) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	cur := m.watchedBy[t]
	for d := range cur {
		if _, keep := dirs[d]; keep {
			continue
		}
		delete(cur, d)
		set := m.watches[d]
		delete(set, t)
		if len(set) == 0 {
			delete(m.watches, d)
			if err := m.watcher.Remove(d); err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
				m.log.Debug("removing directory watch", "dir", d, "err", err)
			}
		}
	}
	if len(dirs) == 0 {
		delete(m.watchedBy, t)
		return
	}
	if cur == nil {
		cur = map[string]struct{}{}
		m.watchedBy[t] = cur
	}
	for d := range dirs {
		if _, ok := cur[d]; ok {
			continue
		}
		set := m.watches[d]
		if set == nil {
			if err := m.watcher.Add(d); err != nil {
				// Files there are still found by the periodic sync.
				m.log.Debug("cannot watch directory", "dir", d, "err", err)
				continue
			}
			set = map[*target]struct{}{}
			m.watches[d] = set
		}
		set[t] = struct{}{}
		cur[d] = struct{}{}
	}
}

func (m *Manager) runEvents() {
	defer close(m.evDone)
	for {
		select {
		case ev, ok := <-m.watcher.Events:
			if !ok {
				return
			}
			m.dispatch(ev)
		case err, ok := <-m.watcher.Errors:
			if !ok {
				return
			}
			m.log.Warn("file watcher error, rescanning all files", "err", err)
			m.wmu.Lock()
			for t := range m.watchedBy {
				t.requestResync()
			}
			m.wmu.Unlock()
		}
	}
}

func (m *Manager) dispatch(ev fsnotify.Event) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	for t := range m.watches[filepath.Dir(ev.Name)] {
		if ev.Op == fsnotify.Write {
			t.fileWritten(ev.Name)
		} else {
			t.requestCheck(ev.Name)
		}
	}
	if set, ok := m.watches[ev.Name]; ok && (ev.Op.Has(fsnotify.Remove) || ev.Op.Has(fsnotify.Rename)) {
		// A watched directory went away: its watch is gone with it, so the
		// next sync must add it again if it comes back.
		for t := range set {
			delete(m.watchedBy[t], ev.Name)
			t.requestResync()
		}
		delete(m.watches, ev.Name)
	}
}

func (m *Manager) acquirePathMetrics(path string) *pathMetrics {
	m.pmMu.Lock()
	defer m.pmMu.Unlock()
	pm := m.pms[path]
	if pm == nil {
		pm = m.metrics.newPathMetrics(path)
		m.pms[path] = pm
	}
	pm.refs++
	return pm
}

func (m *Manager) releasePathMetrics(pm *pathMetrics) {
	m.pmMu.Lock()
	defer m.pmMu.Unlock()
	pm.refs--
	if pm.refs == 0 && m.pms[pm.path] == pm {
		delete(m.pms, pm.path)
		m.metrics.deletePath(pm.path)
	}
}
