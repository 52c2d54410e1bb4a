// Package journal reads the systemd journal, as Promtail's journal target does:
// one reader per job, every journal field offered to relabeling as a
// __journal_<field> label, the position kept as a journal cursor in the
// positions file.
//
// Reading the journal needs libsystemd through cgo, so the reader is only
// compiled on Linux with cgo and the build tag promtail_journal_enabled (the
// tag Promtail's own builds use, so existing build recipes carry over):
//
//	go build -tags promtail_journal_enabled ./...
//
// Building needs libsystemd's headers (Debian: libsystemd-dev); the binary
// loads libsystemd.so.0 when a journal job starts. In any other build New
// returns ErrNotBuilt.
//
// Where this target deliberately differs from Promtail 3.6:
//   - The cursor is saved only once every entry before it is settled (spooled,
//     accepted by Loki, or dropped on purpose), so a crash re-reads what was in
//     flight instead of losing it; Promtail saves it as soon as an entry is read.
//   - A restart resumes after the saved entry; Promtail reads that entry again.
//   - path may name a single journal file as well as a directory.
//   - A matches value may contain "="; only the first one splits field from value.
//   - max_age: 0 means no age limit; Promtail then re-reads the whole journal on
//     every start. A negative max_age is an error.
//   - A read error reopens the journal after a pause and goes on after the last
//     entry read; Promtail's reader stops for good.
package journal

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// BuildTag is the build tag that compiles the journal reader in.
const BuildTag = "promtail_journal_enabled"

// ErrNotBuilt is what New returns in a build without journal support.
var ErrNotBuilt = errors.New("journal targets need a build with -tags " + BuildTag +
	" and libsystemd; this binary was built without")

// Reasons counted by promtail_journal_target_parsing_errors_total, Promtail's.
const (
	reasonNoMessage   = "no_message"
	reasonEmptyLabels = "empty_labels"
)

// Metrics are the journal target's metrics, with Promtail's names and labels.
type Metrics struct {
	lines  prometheus.Counter
	errors *prometheus.CounterVec
}

// NewMetrics creates the journal metrics and registers them on reg, once per
// process. A nil reg registers nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "promtail_journal_target_lines_total",
			Help: "Journal entries handed to the pipeline.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promtail_journal_target_parsing_errors_total",
			Help: "Journal entries skipped, by reason: no_message (no MESSAGE field) or empty_labels (no label left after relabeling).",
		}, []string{"error"}),
	}
	if reg != nil {
		reg.MustRegister(m.lines, m.errors)
	}
	return m
}
