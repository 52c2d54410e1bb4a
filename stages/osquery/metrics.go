package osquery

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the osquery stage's counters. Pipelines are rebuilt on every
// reload and once per job, so the counters are created once per Registerer
// and shared by every stage built on it.
type Metrics struct {
	records         *prometheus.CounterVec
	entries         *prometheus.CounterVec
	splitRows       *prometheus.CounterVec
	parseFailures   *prometheus.CounterVec
	labelsDropped   *prometheus.CounterVec
	labelsTruncated prometheus.Counter
}

// NewMetrics registers the counters on reg, or takes the ones already there.
// A nil reg gives counters that are not exported (for tests and tools).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return &Metrics{
		records: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_osquery_records_total",
			Help: "osquery records read by the osquery stage, by format (event, snapshot, batch, status, tls).",
		}, []string{"format"})),
		entries: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_osquery_entries_total",
			Help: "Entries the osquery stage passed on, by format and action.",
		}, []string{"format", "action"})),
		splitRows: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_osquery_split_rows_total",
			Help: "Entries made by splitting snapshot and batch results into rows and TLS logger bodies into records, by format.",
		}, []string{"format"})),
		parseFailures: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_osquery_parse_failures_total",
			Help: "Lines, records or rows the osquery stage could not read as osquery output, by reason.",
		}, []string{"reason"})),
		labelsDropped: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_osquery_labels_dropped_total",
			Help: "Label values the osquery stage did not set, by reason (too_long, invalid_utf8, too_many_values, guard_full, invalid_name).",
		}, []string{"reason"})),
		labelsTruncated: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "promtail_osquery_labels_truncated_total",
			Help: "Label values the osquery stage cut to max_label_value_length.",
		})),
	}
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// Another collector owns the name with a different shape; keep
		// counting, unexported, rather than fail the pipeline.
		return c
	}
	return c
}

// Formats and actions are small enums so that the hot path indexes an array
// of resolved counters instead of hashing label values.
type format uint8

const (
	formatEvent format = iota
	formatSnapshot
	formatBatch
	formatStatus
	formatTLS
	numFormats
)

var formatNames = [numFormats]string{"event", "snapshot", "batch", "status", "tls"}

func (f format) String() string { return formatNames[f] }

type action uint8

const (
	actionNone action = iota
	actionAdded
	actionRemoved
	actionSnapshot
	actionOther
	numActions
)

var actionNames = [numActions]string{"", "added", "removed", "snapshot", "other"}

func actionOf(b []byte) action {
	switch string(b) {
	case "":
		return actionNone
	case "added":
		return actionAdded
	case "removed":
		return actionRemoved
	case "snapshot":
		return actionSnapshot
	}
	return actionOther
}

type failure uint8

const (
	failNotJSON failure = iota
	failInvalidJSON
	failNotObject
	failUnknownShape
	failSourceMissing
	failBadRow
	numFailures
)

var failureNames = [numFailures]string{"not_json", "invalid_json", "not_object", "unknown_shape", "source_missing", "bad_row"}

type dropReason uint8

const (
	dropTooLong dropReason = iota
	dropInvalidUTF8
	dropTooManyValues
	dropGuardFull
	dropInvalidName
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"too_long", "invalid_utf8", "too_many_values", "guard_full", "invalid_name"}

// counters resolves a stage's series lazily, so that only combinations that
// occur are exported, and then increments them without a map lookup.
type counters struct {
	m         *Metrics
	records   [numFormats]prometheus.Counter
	entries   [numFormats][numActions]prometheus.Counter
	splitRows [numFormats]prometheus.Counter
	failures  [numFailures]prometheus.Counter
	dropped   [numDropReasons]prometheus.Counter
	// changes counts the label values dropped or cut: labels computed while
	// it stays put depend on their input alone and may be reused.
	changes int
}

func (c *counters) record(f format) {
	if c.records[f] == nil {
		c.records[f] = c.m.records.WithLabelValues(formatNames[f])
	}
	c.records[f].Inc()
}

func (c *counters) entry(f format, a action) {
	if c.entries[f][a] == nil {
		c.entries[f][a] = c.m.entries.WithLabelValues(formatNames[f], actionNames[a])
	}
	c.entries[f][a].Inc()
}

func (c *counters) split(f format) {
	if c.splitRows[f] == nil {
		c.splitRows[f] = c.m.splitRows.WithLabelValues(formatNames[f])
	}
	c.splitRows[f].Inc()
}

func (c *counters) failure(r failure) {
	if c.failures[r] == nil {
		c.failures[r] = c.m.parseFailures.WithLabelValues(failureNames[r])
	}
	c.failures[r].Inc()
}

func (c *counters) truncated() {
	c.changes++
	c.m.labelsTruncated.Inc()
}

func (c *counters) drop(r dropReason) {
	c.changes++
	if c.dropped[r] == nil {
		c.dropped[r] = c.m.labelsDropped.WithLabelValues(dropReasonNames[r])
	}
	c.dropped[r].Inc()
}
