package stages

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLimitDrop(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := stPipeline(t, "- limit: {rate: 0.001, burst: 3, drop: true}", reg)
	var in []*Entry
	for i := range 6 {
		in = append(in, stEntry(fmt.Sprintf("l%d", i+1), ""))
	}
	if got := mkLines(stRun(p, in...)); !slices.Equal(got, []string{"l1", "l2", "l3"}) {
		t.Fatalf("kept %q", got)
	}
	dm, err := NewDropMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(dm.Lines.WithLabelValues(DropReasonRateLimit)); got != 3 {
		t.Fatalf("drop counter %v, want 3", got)
	}
}

func TestLimitBlocks(t *testing.T) {
	p := stPipeline(t, "- limit: {rate: 50, burst: 1}", nil)
	start := time.Now()
	var in []*Entry
	for range 4 {
		in = append(in, stEntry("x", ""))
	}
	if out := stRun(p, in...); len(out) != 4 {
		t.Fatalf("blocking limit lost entries: %d of 4", len(out))
	}
	// One token at start, then one every 20ms.
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
		t.Fatalf("4 lines at 50/s with burst 1 took only %v", elapsed)
	}
}

func TestLimitByLabel(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := stPipeline(t, "- limit: {rate: 0.001, burst: 1, drop: true, by_label_name: app}", reg)
	out := stRun(p,
		stEntry("a1", "app=a"), stEntry("a2", "app=a"),
		stEntry("b1", "app=b"), stEntry("b2", "app=b"), stEntry("b3", "app=b"),
		stEntry("none1", ""), stEntry("none2", ""),
	)
	if got := mkLines(out); !slices.Equal(got, []string{"a1", "b1", "none1", "none2"}) {
		t.Fatalf("kept %q", got)
	}
	dm, err := NewDropMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(dm.LinesByLabel.WithLabelValues("app", "b")); got != 2 {
		t.Errorf("by-label counter for b %v, want 2", got)
	}
	if got := testutil.ToFloat64(dm.Lines.WithLabelValues(DropReasonRateLimit)); got != 3 {
		t.Errorf("drop counter %v, want 3", got)
	}
}

func TestLimiterGenerations(t *testing.T) {
	g := newLimiterGenerations(2)
	a, rotated := g.get("a", 1, 1)
	if rotated {
		t.Fatal("rotated after one value")
	}
	if _, rotated = g.get("b", 1, 1); !rotated {
		t.Fatal("did not rotate when the generation filled up")
	}
	// "a" survives one rotation with its bucket...
	if again, _ := g.get("a", 1, 1); again != a {
		t.Fatal("value from the old generation got a new limiter")
	}
	g.get("c", 1, 1) // rotates: a and c are current, b is old
	g.get("d", 1, 1)
	g.get("e", 1, 1) // rotates again: b is forgotten
	if _, ok := g.previous["b"]; ok {
		t.Fatal("value older than two generations is still kept")
	}
	if len(g.current)+len(g.previous) > 4 {
		t.Fatalf("holds %d limiters, want at most 4", len(g.current)+len(g.previous))
	}
}

func TestLimitConfigErrors(t *testing.T) {
	tests := []struct {
		name, pipeline, want string
	}{
		{"no rate", "- limit: {burst: 1}", "failed to parse rate or burst"},
		{"no burst", "- limit: {rate: 1}", "failed to parse rate or burst"},
		{"by label without drop", "- limit: {rate: 10, burst: 10, by_label_name: app}", "When ratelimiting by label, drop must be true"},
		{"rate not a number", "- limit: {rate: fast, burst: 1}", "cannot parse 'rate' as float"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stPipelineErr(tt.pipeline, nil)
			stErrContains(t, err, tt.want)
		})
	}
	// Weak decoding: quoted numbers and booleans work as in Promtail.
	if _, err := stPipelineErr(`- limit: {rate: "10", burst: "5", drop: "true", by_label_name: app, max_distinct_labels: 5}`, nil); err != nil {
		t.Fatalf("weakly typed limit config refused: %v", err)
	}
}
