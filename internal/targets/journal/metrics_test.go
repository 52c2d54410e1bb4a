package journal

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsArePromtails(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.lines.Add(2)
	m.errors.WithLabelValues(reasonNoMessage).Inc()
	m.errors.WithLabelValues(reasonEmptyLabels).Add(3)
	want := `
# HELP promtail_journal_target_lines_total Journal entries handed to the pipeline.
# TYPE promtail_journal_target_lines_total counter
promtail_journal_target_lines_total 2
# HELP promtail_journal_target_parsing_errors_total Journal entries skipped, by reason: no_message (no MESSAGE field) or empty_labels (no label left after relabeling).
# TYPE promtail_journal_target_parsing_errors_total counter
promtail_journal_target_parsing_errors_total{error="empty_labels"} 3
promtail_journal_target_parsing_errors_total{error="no_message"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestNewMetricsWithoutRegistry(t *testing.T) {
	m := NewMetrics(nil)
	m.lines.Inc()
	if got := testutil.ToFloat64(m.lines); got != 1 {
		t.Fatalf("lines = %v, want 1", got)
	}
}
