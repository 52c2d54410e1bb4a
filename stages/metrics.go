package stages

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
)

func init() {
	Register("metrics", func() Config { return &MetricsConfig{} })
}

const (
	defaultMetricPrefix  = "promtail_custom_"
	defaultMetricMaxIdle = 5 * time.Minute
)

// MetricsConfig is the body of a metrics stage: metric name → definition. The
// stage records metrics from entries and changes nothing in them.
type MetricsConfig map[string]MetricConfig

// MetricConfig defines one metric of a metrics stage.
type MetricConfig struct {
	// Type is Counter, Gauge or Histogram, in any case.
	Type        string `yaml:"type"`
	Description string `yaml:"description"`
	// Source is the extracted key read; the metric's name when unset.
	Source *string `yaml:"source"`
	// Prefix goes before the name; promtail_custom_ when empty.
	Prefix string `yaml:"prefix"`
	// MaxIdleDuration is how long a series lives without updates (5m, at
	// least 1s).
	MaxIdleDuration *string      `yaml:"max_idle_duration"`
	Config          MetricAction `yaml:"config"`
}

// MetricAction is the config block of a metric. Which keys apply depends on
// the type: counters take Action (inc, add), Value, MatchAll and CountBytes;
// gauges take Action (set, inc, dec, add, sub) and Value; histograms take
// Value and Buckets.
type MetricAction struct {
	Action string `yaml:"action"`
	// Value, when set, only counts entries whose source value equals it.
	Value *string `yaml:"value"`
	// MatchAll counts every entry, whether the source exists or not.
	MatchAll *bool `yaml:"match_all"`
	// CountBytes adds the line's length in bytes (with MatchAll and add).
	CountBytes *bool     `yaml:"count_entry_bytes"`
	Buckets    []float64 `yaml:"buckets"`
}

type metricKind int

const (
	kindCounter metricKind = iota
	kindGauge
	kindHistogram
)

func (k metricKind) String() string {
	return [...]string{"counter", "gauge", "histogram"}[k]
}

type metricOp int

const (
	opInc metricOp = iota
	opAdd
	opSet
	opDec
	opSub
	opObserve
)

// metricRule is one metric of a stage, resolved from its MetricConfig.
type metricRule struct {
	metric     *customMetric
	source     string
	op         metricOp
	value      *string
	matchAll   bool
	countBytes bool
	buckets    []float64
}

// NewStage implements Config.
func (c *MetricsConfig) NewStage(opts Options) (Stage, error) {
	names := make([]string, 0, len(*c))
	for name := range *c {
		names = append(names, name)
	}
	sort.Strings(names)
	st := &metricsStage{}
	for _, name := range names {
		rule, err := newMetricRule(name, (*c)[name], opts)
		if err != nil {
			return nil, err
		}
		st.rules = append(st.rules, rule)
	}
	return st, nil
}

func newMetricRule(name string, mc MetricConfig, opts Options) (metricRule, error) {
	var kind metricKind
	switch t := strings.ToLower(mc.Type); t {
	case "counter":
		kind = kindCounter
	case "gauge":
		kind = kindGauge
	case "histogram":
		kind = kindHistogram
	default:
		return metricRule{}, fmt.Errorf("invalid metric type '%s', metric type must be one of 'counter', 'gauge', or 'histogram'", t)
	}
	maxIdle := defaultMetricMaxIdle
	if mc.MaxIdleDuration != nil {
		d, err := time.ParseDuration(*mc.MaxIdleDuration)
		if err != nil {
			return metricRule{}, fmt.Errorf("max_idle_duration could not be parsed as a time.Duration: %w", err)
		}
		if d < time.Second {
			return metricRule{}, errors.New("max_idle_duration less than 1s not allowed")
		}
		maxIdle = d
	}
	rule := metricRule{source: name, value: mc.Config.Value}
	if mc.Source != nil {
		rule.source = *mc.Source
	}
	if err := rule.setAction(kind, mc.Config); err != nil {
		return metricRule{}, fmt.Errorf("metric %s: %w", name, err)
	}
	if rule.matchAll && rule.op == opAdd && !rule.countBytes {
		opts.Logger.Warn("counter with match_all and action add but without count_entry_bytes never changes", "metric", name)
	}

	prefix := mc.Prefix
	if prefix == "" {
		prefix = defaultMetricPrefix
	}
	full := prefix + name
	if !model.LegacyValidation.IsValidMetricName(full) {
		return metricRule{}, fmt.Errorf("invalid metric name %q", full)
	}
	m, err := registerCustomMetric(opts.Registerer, newCustomMetric(full, mc.Description, kind, maxIdle))
	if err != nil {
		return metricRule{}, err
	}
	if m.help != mc.Description {
		opts.Logger.Warn("metric already defined with another description; keeping the first one until restart", "metric", full)
	}
	rule.metric = m
	return rule, nil
}

// setAction validates the config block for the metric kind.
func (r *metricRule) setAction(kind metricKind, a MetricAction) error {
	action := strings.ToLower(a.Action)
	switch kind {
	case kindCounter:
		switch action {
		case "":
			return errors.New("counter action must be defined as either `inc` or `add`")
		case "inc":
			r.op = opInc
		case "add":
			r.op = opAdd
		default:
			return fmt.Errorf("action %s is not valid, action must be either `inc` or `add`", action)
		}
		r.matchAll = a.MatchAll != nil && *a.MatchAll
		r.countBytes = a.CountBytes != nil && *a.CountBytes
		if r.matchAll && a.Value != nil {
			return errors.New("`match_all: true` cannot be combined with `value`, please remove `match_all` or `value`")
		}
		if r.countBytes && !r.matchAll {
			return errors.New("`count_entry_bytes: true` can only be set with `match_all: true`")
		}
		if r.countBytes && r.op != opAdd {
			return errors.New("`count_entry_bytes: true` can only be used with `action: add`")
		}
	case kindGauge:
		ops := map[string]metricOp{"set": opSet, "inc": opInc, "dec": opDec, "add": opAdd, "sub": opSub}
		if action == "" {
			return errors.New("gauge action must be defined as `set`, `inc`, `dec`, `add`, or `sub`")
		}
		op, ok := ops[action]
		if !ok {
			return fmt.Errorf("action %s is not valid, action must be `set`, `inc`, `dec`, `add`, or `sub`", action)
		}
		r.op = op
	case kindHistogram:
		r.op = opObserve
		r.buckets = a.Buckets
		// client_golang panics on buckets that do not strictly increase.
		for i := range r.buckets {
			if math.IsNaN(r.buckets[i]) {
				return errors.New("histogram buckets cannot be NaN")
			}
			if i > 0 && r.buckets[i] <= r.buckets[i-1] {
				return fmt.Errorf("histogram buckets must be in increasing order: %v comes after %v", r.buckets[i], r.buckets[i-1])
			}
		}
	}
	return nil
}

type metricsStage struct {
	rules []metricRule
}

// Process implements Stage.
func (s *metricsStage) Process(e *Entry, next func(*Entry)) {
	// One clock read per entry: series only track idleness in seconds.
	now := time.Now().Unix()
	for i := range s.rules {
		s.rules[i].record(e, now)
	}
	next(e)
}

func (r *metricRule) record(e *Entry, now int64) {
	if r.matchAll {
		switch {
		case r.countBytes:
			r.metric.apply(e.Labels, r.op, float64(len(e.Line)), r.buckets, now)
		case r.op == opInc:
			r.metric.apply(e.Labels, opInc, 0, nil, now)
		}
		return
	}
	v, ok := e.Extracted[r.source]
	if !ok {
		return
	}
	if r.value != nil {
		text, err := stringify(v)
		if err != nil || text != *r.value {
			return
		}
	}
	var f float64
	if r.op != opInc && r.op != opDec {
		var ok bool
		if f, ok = metricFloat(v); !ok {
			return
		}
	}
	r.metric.apply(e.Labels, r.op, f, r.buckets, now)
}

// metricFloat converts an extracted value to a number: numbers as they are,
// booleans as 1 or 0, strings as a decimal number or else as a Go duration in
// seconds ("250ms" is 0.25).
func metricFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			return f, true
		}
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, false
		}
		return d.Seconds(), true
	}
	return 0, false
}

// customMetric is one metric family of metrics stages. It is registered once
// per Registerer and shared by every stage that defines the same name there
// (another job, the pipeline rebuilt by a config reload), so that the series
// keep counting and registration never collides.
//
// Its series are keyed by the entry's stream labels, minus the reserved ones
// ("__" prefix). A series not updated for maxIdle is removed.
type customMetric struct {
	name, help string
	kind       metricKind
	// desc only identifies the family to the registry; the series carry their
	// own descriptors with help and labels.
	desc    *prometheus.Desc
	maxIdle atomic.Int64 // seconds

	mu        sync.Mutex
	series    map[uint64][]*customSeries
	lastPrune int64
}

type customSeries struct {
	labels  model.LabelSet
	metric  prometheus.Metric
	lastMod int64 // unix seconds, guarded by customMetric.mu
}

func newCustomMetric(name, help string, kind metricKind, maxIdle time.Duration) *customMetric {
	m := &customMetric{
		name:   name,
		help:   help,
		kind:   kind,
		desc:   prometheus.NewDesc(name, "Custom metric defined by a metrics pipeline stage.", nil, nil),
		series: make(map[uint64][]*customSeries),
	}
	m.maxIdle.Store(int64(maxIdle / time.Second))
	return m
}

// registerCustomMetric registers m on reg, or returns the metric of the same
// name registered there before.
func registerCustomMetric(reg prometheus.Registerer, m *customMetric) (*customMetric, error) {
	if reg == nil {
		return m, nil
	}
	err := reg.Register(m)
	if err == nil {
		return m, nil
	}
	var already prometheus.AlreadyRegisteredError
	if !errors.As(err, &already) {
		return nil, fmt.Errorf("registering metric %s: %w", m.name, err)
	}
	existing, ok := already.ExistingCollector.(*customMetric)
	if !ok {
		return nil, fmt.Errorf("metric %s is already registered by another component", m.name)
	}
	if existing.kind != m.kind {
		return nil, fmt.Errorf("metric %s is already defined as a %s by another metrics stage; it cannot also be a %s", m.name, existing.kind, m.kind)
	}
	// The newest definition decides how long idle series live.
	existing.maxIdle.Store(m.maxIdle.Load())
	return existing, nil
}

// Describe implements prometheus.Collector.
func (m *customMetric) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.desc
}

// Collect implements prometheus.Collector.
func (m *customMetric) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(time.Now().Unix())
	for _, chain := range m.series {
		for _, s := range chain {
			ch <- s.metric
		}
	}
}

// prune removes idle series. Called with mu held.
func (m *customMetric) prune(now int64) {
	m.lastPrune = now
	maxIdle := m.maxIdle.Load()
	for h, chain := range m.series {
		kept := chain[:0]
		for _, s := range chain {
			if now-s.lastMod < maxIdle {
				kept = append(kept, s)
			}
		}
		if len(kept) == 0 {
			delete(m.series, h)
		} else {
			m.series[h] = kept
		}
	}
}

// apply updates the series of ls at now (unix seconds). The value update
// itself is atomic and happens outside the lock.
func (m *customMetric) apply(ls model.LabelSet, op metricOp, v float64, buckets []float64, now int64) {
	if m.kind == kindCounter && v < 0 {
		// A counter cannot go down; client_golang would panic.
		return
	}
	metric := m.with(ls, buckets, now)
	// Switch on the kind, not the type: a Gauge also has Inc and Add, so it
	// satisfies prometheus.Counter.
	switch m.kind {
	case kindCounter:
		c := metric.(prometheus.Counter)
		if op == opInc {
			c.Inc()
		} else {
			c.Add(v)
		}
	case kindGauge:
		g := metric.(prometheus.Gauge)
		switch op {
		case opSet:
			g.Set(v)
		case opInc:
			g.Inc()
		case opDec:
			g.Dec()
		case opAdd:
			g.Add(v)
		case opSub:
			g.Sub(v)
		}
	case kindHistogram:
		metric.(prometheus.Histogram).Observe(v)
	}
}

// with returns the series for ls, creating it if needed, and marks it updated
// at now.
func (m *customMetric) with(ls model.LabelSet, buckets []float64, now int64) prometheus.Metric {
	h := m.seriesHash(ls)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.series[h] {
		if m.sameSeries(ls, s.labels) {
			s.lastMod = now
			return s.metric
		}
	}
	if now-m.lastPrune >= m.maxIdle.Load() {
		m.prune(now)
	}
	s := &customSeries{labels: m.seriesLabels(ls), lastMod: now}
	s.metric = m.newSeriesMetric(s.labels, buckets)
	m.series[h] = append(m.series[h], s)
	return s.metric
}

func (m *customMetric) newSeriesMetric(ls model.LabelSet, buckets []float64) prometheus.Metric {
	constLabels := make(prometheus.Labels, len(ls))
	for k, v := range ls {
		constLabels[string(k)] = string(v)
	}
	switch m.kind {
	case kindCounter:
		return prometheus.NewCounter(prometheus.CounterOpts{Name: m.name, Help: m.help, ConstLabels: constLabels})
	case kindGauge:
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: m.name, Help: m.help, ConstLabels: constLabels})
	default:
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: m.name, Help: m.help, ConstLabels: constLabels, Buckets: buckets})
	}
}

// keepsLabel tells which stream labels become metric labels: not the reserved
// ones, none that client_golang would refuse, and no "le" on a histogram,
// where it names the buckets.
func (m *customMetric) keepsLabel(name model.LabelName, value model.LabelValue) bool {
	if strings.HasPrefix(string(name), "__") || !model.UTF8Validation.IsValidLabelName(string(name)) || !value.IsValid() {
		return false
	}
	return m.kind != kindHistogram || name != model.BucketLabel
}

func (m *customMetric) seriesLabels(ls model.LabelSet) model.LabelSet {
	out := make(model.LabelSet, len(ls))
	for k, v := range ls {
		if m.keepsLabel(k, v) {
			out[k] = v
		}
	}
	return out
}

// seriesHash hashes the kept labels without allocating; the XOR of per-pair
// FNV-1a hashes does not depend on map order. Collisions are resolved by
// sameSeries.
func (m *customMetric) seriesHash(ls model.LabelSet) uint64 {
	var h uint64
	for k, v := range ls {
		if m.keepsLabel(k, v) {
			h ^= pairHash(string(k), string(v))
		}
	}
	return h
}

func (m *customMetric) sameSeries(ls, series model.LabelSet) bool {
	n := 0
	for k, v := range ls {
		if !m.keepsLabel(k, v) {
			continue
		}
		if sv, ok := series[k]; !ok || sv != v {
			return false
		}
		n++
	}
	return n == len(series)
}

func pairHash(name, value string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * prime
	}
	h = (h ^ uint64(model.SeparatorByte)) * prime
	for i := 0; i < len(value); i++ {
		h = (h ^ uint64(value[i])) * prime
	}
	return h
}
