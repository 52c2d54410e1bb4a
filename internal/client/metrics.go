package client

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/promtail-osquery/promtail-osquery/internal/spool"
)

// Drop and mutation reasons, the values of the reason label. queueFull is
// ours: Promtail blocks every client behind the slowest one instead.
const (
	reasonIngesterError = iota
	reasonRateLimited
	reasonStreamLimited
	reasonLineTooLong
	reasonQueueFull
	numReasons
)

var reasonNames = [numReasons]string{
	reasonIngesterError: "ingester_error",
	reasonRateLimited:   "rate_limited",
	reasonStreamLimited: "stream_limited",
	reasonLineTooLong:   "line_too_long",
	reasonQueueFull:     "queue_full",
}

// Metrics are the push client's metrics, named and labelled as Promtail's so
// that existing dashboards and alerts keep working. They are created once per
// process and shared by every Manager built on config reloads.
type Metrics struct {
	encodedBytes    *prometheus.CounterVec
	sentBytes       *prometheus.CounterVec
	sentEntries     *prometheus.CounterVec
	droppedBytes    *prometheus.CounterVec
	droppedEntries  *prometheus.CounterVec
	mutatedEntries  *prometheus.CounterVec
	mutatedBytes    *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	batchRetries    *prometheus.CounterVec
	spool           *spool.Metrics
}

// NewMetrics creates the client metrics and registers them with reg, unless
// reg is nil. Registering twice with one registry panics: call it once.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "promtail", Name: name, Help: help,
		}, labels)
	}
	m := &Metrics{
		encodedBytes: counter("encoded_bytes_total",
			"Bytes of compressed push requests built, before sending.", "host"),
		sentBytes: counter("sent_bytes_total",
			"Bytes of compressed push requests Loki accepted.", "host"),
		sentEntries: counter("sent_entries_total",
			"Log entries Loki accepted.", "host"),
		droppedBytes: counter("dropped_bytes_total",
			"Bytes of log entries given up on, by reason.", "host", "tenant", "reason"),
		droppedEntries: counter("dropped_entries_total",
			"Log entries given up on, by reason.", "host", "tenant", "reason"),
		mutatedEntries: counter("mutated_entries_total",
			"Log entries changed by the client before sending (truncated lines).", "host", "tenant", "reason"),
		mutatedBytes: counter("mutated_bytes_total",
			"Bytes removed from log entries by the client before sending.", "host", "tenant", "reason"),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "promtail",
			Name:      "request_duration_seconds",
			Help:      "Duration of push requests to Loki; status_code is -1 when no response came back.",
		}, []string{"status_code", "host"}),
		batchRetries: counter("batch_retries_total",
			"Push attempts that failed with a retryable error.", "host", "tenant"),
		spool: spool.NewMetrics(reg),
	}
	if reg != nil {
		reg.MustRegister(m.encodedBytes, m.sentBytes, m.sentEntries, m.droppedBytes,
			m.droppedEntries, m.mutatedEntries, m.mutatedBytes, m.requestDuration, m.batchRetries)
	}
	return m
}

// tenantMetrics are the series of one (host, tenant) pair, looked up once
// when the client first sees the tenant rather than on every entry.
type tenantMetrics struct {
	droppedEntries [numReasons]prometheus.Counter
	droppedBytes   [numReasons]prometheus.Counter
	mutatedEntries prometheus.Counter
	mutatedBytes   prometheus.Counter
	retries        prometheus.Counter
}

// forTenant looks the series up; creating them exports them at zero, as
// Promtail does when a tenant's first batch is created, so that rate() and
// absent() work before the first drop.
func (m *Metrics) forTenant(host, tenant string) tenantMetrics {
	var t tenantMetrics
	for r, name := range reasonNames {
		t.droppedEntries[r] = m.droppedEntries.WithLabelValues(host, tenant, name)
		t.droppedBytes[r] = m.droppedBytes.WithLabelValues(host, tenant, name)
		m.mutatedEntries.WithLabelValues(host, tenant, name)
		m.mutatedBytes.WithLabelValues(host, tenant, name)
	}
	t.mutatedEntries = m.mutatedEntries.WithLabelValues(host, tenant, reasonNames[reasonLineTooLong])
	t.mutatedBytes = m.mutatedBytes.WithLabelValues(host, tenant, reasonNames[reasonLineTooLong])
	t.retries = m.batchRetries.WithLabelValues(host, tenant)
	return t
}

func (t *tenantMetrics) drop(reason, entries, bytes int) {
	t.droppedEntries[reason].Add(float64(entries))
	t.droppedBytes[reason].Add(float64(bytes))
}
