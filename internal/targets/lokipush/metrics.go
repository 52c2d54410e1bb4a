package lokipush

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the push target's metrics. Promtail has none for this target,
// so the names are this project's, under promtail_push_api_. Every series
// carries the job, since one process may run several push jobs.
type Metrics struct {
	requests       *prometheus.CounterVec
	entries        *prometheus.CounterVec
	parsingErrors  *prometheus.CounterVec
	droppedStreams *prometheus.CounterVec
	droppedEntries *prometheus.CounterVec
}

// Values of the endpoint label.
const (
	endpointPush = "push"
	endpointRaw  = "raw"
)

// Reasons counted by promtail_push_api_parsing_errors_total (a rejected
// request) and promtail_push_api_dropped_{streams,entries}_total.
const (
	reasonTooLarge      = "too_large"
	reasonEncoding      = "unsupported_encoding"
	reasonDecompression = "decompression"
	reasonRead          = "read_error"
	reasonMalformed     = "malformed"
	reasonInvalidLabels = "invalid_labels"

	reasonRelabelDrop = "relabel_drop"
	reasonNoLabels    = "no_labels"
)

// NewMetrics creates the push target metrics and registers them on reg, once
// per process. A nil reg registers nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_push_api_requests_total",
			Help: "Push requests answered, by endpoint and HTTP status code.",
		}, []string{"job", "endpoint", "status_code"}),
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_push_api_entries_total",
			Help: "Entries received and handed to the job's pipeline.",
		}, []string{"job", "endpoint"}),
		parsingErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_push_api_parsing_errors_total",
			Help: "Push requests rejected because their body could not be read or decoded, by reason.",
		}, []string{"job", "reason"}),
		droppedStreams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_push_api_dropped_streams_total",
			Help: "Pushed streams dropped by relabel_configs or left without labels.",
		}, []string{"job", "reason"}),
		droppedEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_push_api_dropped_entries_total",
			Help: "Entries of the pushed streams dropped by relabel_configs or left without labels.",
		}, []string{"job", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.entries, m.parsingErrors, m.droppedStreams, m.droppedEntries)
	}
	return m
}

// jobMetrics are one job's series, resolved once so that a request does not
// look them up by label values.
type jobMetrics struct {
	pushEntries prometheus.Counter
	rawEntries  prometheus.Counter
	m           *Metrics
	job         string
}

func (m *Metrics) forJob(job string) *jobMetrics {
	return &jobMetrics{
		pushEntries: m.entries.WithLabelValues(job, endpointPush),
		rawEntries:  m.entries.WithLabelValues(job, endpointRaw),
		m:           m,
		job:         job,
	}
}

func (j *jobMetrics) request(endpoint string, status int) {
	j.m.requests.WithLabelValues(j.job, endpoint, strconv.Itoa(status)).Inc()
}

func (j *jobMetrics) rejected(reason string) {
	j.m.parsingErrors.WithLabelValues(j.job, reason).Inc()
}

func (j *jobMetrics) dropped(reason string, entries int) {
	j.m.droppedStreams.WithLabelValues(j.job, reason).Inc()
	j.m.droppedEntries.WithLabelValues(j.job, reason).Add(float64(entries))
}
