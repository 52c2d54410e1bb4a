package osquerytls

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the osquery_tls target's metrics, shared by every osquery_tls
// target of the process.
type Metrics struct {
	enrollments *prometheus.CounterVec
	requests    *prometheus.CounterVec
	records     *prometheus.CounterVec
	rejected    *prometheus.CounterVec
}

// Enrollment results.
const (
	enrollSuccess   = "success"
	enrollBadSecret = "bad_secret"
	enrollBadBody   = "bad_body"
	enrollError     = "error"
)

// Rejection reasons: every answer that is not a success, by cause.
const (
	reasonBadSecret   = "bad_secret"
	reasonUnknownNode = "unknown_node"
	reasonTooLarge    = "too_large"
	reasonRateLimited = "rate_limited"
	reasonBadBody     = "bad_body"
	// reasonAckTimeout: the records were not safe within ack_timeout (or
	// the target stopped first); osqueryd sends them again.
	reasonAckTimeout = "ack_timeout"
)

// Endpoints as the requests metric names them.
const (
	endpointEnroll = "enroll"
	endpointLog    = "log"
	endpointConfig = "config"
	endpointOther  = "other"
)

// NewMetrics creates the metrics and registers them on reg, once per process.
// A nil reg registers nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		enrollments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_osquery_tls_enrollments_total",
			Help: "osqueryd enrollment requests, by result (success, bad_secret, bad_body, error).",
		}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_osquery_tls_requests_total",
			Help: "Requests to the osquery TLS endpoints, by endpoint (enroll, log, config, other) and HTTP status code.",
		}, []string{"endpoint", "code"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_osquery_tls_records_total",
			Help: "osquery log records received and handed to the pipeline, by log_type (result, status).",
		}, []string{"log_type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_osquery_tls_rejected_total",
			Help: "Requests refused, by reason (bad_secret, unknown_node, too_large, rate_limited, bad_body, ack_timeout).",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.enrollments, m.requests, m.records, m.rejected)
	}
	return m
}
