package spool

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the spool metrics of every client, registered once per
// process and labelled by client name.
type Metrics struct {
	bytes       *prometheus.GaugeVec
	entries     *prometheus.GaugeVec
	replayed    *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	corrupt     *prometheus.CounterVec
	writeErrors *prometheus.CounterVec
	oldestDesc  *prometheus.Desc

	mu     sync.Mutex
	spools map[*Spool]string
}

// NewMetrics registers the spool metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "promtail", Name: name, Help: help}, []string{"client"})
	}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "promtail", Name: name, Help: help}, []string{"client"})
	}
	m := &Metrics{
		bytes: gauge("spool_bytes",
			"Bytes of entries in the client's spool: not yet acknowledged by Loki, or in a segment not yet deleted."),
		entries: gauge("spool_entries",
			"Entries in the client's spool that Loki has not acknowledged."),
		replayed: counter("spool_replayed_entries_total",
			"Entries found in the spool at start, not acknowledged before the agent stopped, and sent again."),
		dropped: counter("spool_dropped_entries_total",
			"Entries the spool deleted unsent because it was full (whenFull: drop_oldest)."),
		corrupt: counter("spool_corrupt_records_total",
			"Spooled batches found damaged or missing on disk and skipped; their entries are lost."),
		writeErrors: counter("spool_write_errors_total",
			"Failed writes to the spool (disk full, directory deleted or read-only); the entries are kept and written again."),
		oldestDesc: prometheus.NewDesc("promtail_spool_oldest_record_age_seconds",
			"Age of the oldest entry handed to Loki and not yet acknowledged; 0 when none waits.",
			[]string{"client"}, nil),
		spools: make(map[*Spool]string),
	}
	if reg != nil {
		reg.MustRegister(m.bytes, m.entries, m.replayed, m.dropped, m.corrupt, m.writeErrors, m)
	}
	return m
}

// Describe implements prometheus.Collector for the oldest-record age, which
// is computed when scraped.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.oldestDesc }

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for s, name := range m.spools {
		s.mu.Lock()
		age := s.oldestAgeLocked(now)
		s.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(m.oldestDesc, prometheus.GaugeValue, age.Seconds(), name)
	}
}

type clientMetrics struct {
	parent                *Metrics
	name                  string
	bytes, entries        prometheus.Gauge
	replayed, droppedFull prometheus.Counter
	corrupt, writeErrors  prometheus.Counter
}

func (m *Metrics) forClient(name string) *clientMetrics {
	return &clientMetrics{
		parent:      m,
		name:        name,
		bytes:       m.bytes.WithLabelValues(name),
		entries:     m.entries.WithLabelValues(name),
		replayed:    m.replayed.WithLabelValues(name),
		droppedFull: m.dropped.WithLabelValues(name),
		corrupt:     m.corrupt.WithLabelValues(name),
		writeErrors: m.writeErrors.WithLabelValues(name),
	}
}

func (c *clientMetrics) watch(s *Spool) {
	c.parent.mu.Lock()
	c.parent.spools[s] = c.name
	c.parent.mu.Unlock()
}

func (c *clientMetrics) forget(s *Spool) {
	c.parent.mu.Lock()
	delete(c.parent.spools, s)
	c.parent.mu.Unlock()
}
