package stages

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestDropMetricsRegisterOncePerRegisterer(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewDropMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewDropMetrics(reg)
	if err != nil {
		t.Fatalf("second NewDropMetrics on the same registry: %v", err)
	}
	if a.Lines != b.Lines || a.LinesByLabel != b.LinesByLabel {
		t.Fatal("second call returned new counters instead of the registered ones")
	}
	a.Lines.WithLabelValues("x").Inc()
	if got := testutil.ToFloat64(b.Lines.WithLabelValues("x")); got != 1 {
		t.Fatalf("shared counter %v, want 1", got)
	}

	// A wrapping registerer hands back the collector it registered.
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"component": "c"}, prometheus.NewRegistry())
	w1, err := NewDropMetrics(wrapped)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := NewDropMetrics(wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if w1.Lines != w2.Lines {
		t.Fatal("wrapped registerer: counters not reused")
	}
}

func TestDropMetricsNilRegisterer(t *testing.T) {
	dm, err := NewDropMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	dm.Lines.WithLabelValues("x").Inc()
	dm.LinesByLabel.WithLabelValues("app", "a").Inc()
}

func TestDropMetricsConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "logentry_dropped_lines_total",
		Help: "A count of all log lines dropped as a result of a pipeline stage",
	}, []string{"reason"}))
	_, err := NewDropMetrics(reg)
	stErrContains(t, err, "registering metric logentry_dropped_lines_total")
	_, err = stPipelineErr("- drop: {expression: x}", reg)
	stErrContains(t, err, "registering metric logentry_dropped_lines_total")
}
