package targets

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"golang.org/x/time/rate"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/api/apitest"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// holdStage keeps every entry until it is flushed, to see JobPipeline's flushes.
type holdStage struct{ held []stages.Entry }

func (h *holdStage) Process(e *stages.Entry, _ func(*stages.Entry)) {
	h.held = append(h.held, e.Clone())
}
func (h *holdStage) FlushInterval() time.Duration { return 10 * time.Millisecond }
func (h *holdStage) Flush(_ time.Time, _ bool, next func(*stages.Entry)) {
	for i := range h.held {
		next(&h.held[i])
	}
	h.held = nil
}

type holdConfig struct{}

func (holdConfig) NewStage(stages.Options) (stages.Stage, error) { return &holdStage{}, nil }

type upperConfig struct{}
type upperStage struct{}

func (upperConfig) NewStage(stages.Options) (stages.Stage, error) { return upperStage{}, nil }
func (upperStage) Process(e *stages.Entry, next func(*stages.Entry)) {
	e.Labels["seen"] = "yes"
	e.Line += "!"
	next(e)
}

type passConfig struct{}
type passStage struct{}

func (passConfig) NewStage(stages.Options) (stages.Stage, error)    { return passStage{}, nil }
func (passStage) Process(e *stages.Entry, next func(*stages.Entry)) { next(e) }

// ExtractedKeys says the stage reads no extracted value, so that the
// pipeline copies no label into them, as for the osquery stage's defaults.
func (passStage) ExtractedKeys() ([]string, bool) { return nil, false }

func init() {
	stages.Register("test_pass", func() stages.Config { return &passConfig{} })
	stages.Register("test_hold", func() stages.Config { return &holdConfig{} })
	stages.Register("test_upper", func() stages.Config { return &upperConfig{} })
}

type collector = apitest.Collector

func build(t *testing.T, items ...string) *stages.Pipeline {
	t.Helper()
	var cfg []any
	for _, it := range items {
		cfg = append(cfg, map[any]any{it: nil})
	}
	p, err := stages.NewPipeline(cfg, stages.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestJobPipelineRunsStagesAndKeepsTargetLabels(t *testing.T) {
	var got collector
	j := NewJobPipeline(build(t, "test_upper"), &got, nil)
	shared := model.LabelSet{"job": "a"}
	j.Handle(stages.Entry{Labels: shared, Line: "x"})
	j.Stop()
	all := got.All()
	if len(all) != 1 {
		t.Fatalf("got %d entries", len(all))
	}
	e := all[0]
	if e.Line != "x!" || e.Labels["seen"] != "yes" {
		t.Errorf("stage did not run: %+v", e)
	}
	if _, changed := shared["seen"]; changed {
		t.Error("the pipeline changed the target's shared label set")
	}
	if e.Extracted != nil {
		t.Error("extracted values leaked out of the pipeline")
	}
}

func TestJobPipelineFlushesHeldEntriesPeriodicallyAndOnStop(t *testing.T) {
	var got collector
	j := NewJobPipeline(build(t, "test_hold"), &got, nil)
	j.Handle(stages.Entry{Labels: model.LabelSet{}, Line: "1"})
	deadline := time.Now().Add(5 * time.Second)
	for got.Count() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got.Count() != 1 {
		t.Fatal("held entry was not flushed by the periodic flush")
	}
	j.Handle(stages.Entry{Labels: model.LabelSet{}, Line: "2"})
	j.Stop()
	if got.Count() != 2 {
		t.Fatalf("Stop did not flush the held entry: %d entries", got.Count())
	}
}

func TestJobPipelineReadlineLimitDrops(t *testing.T) {
	var got collector
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	limit := &ReadlineLimit{Limiter: rate.NewLimiter(rate.Limit(0.001), 2), Drop: true, Dropped: dropped}
	j := NewJobPipeline(build(t), api.EntryHandler(&got), limit)
	for range 5 {
		j.Handle(stages.Entry{Labels: model.LabelSet{}, Line: "x"})
	}
	j.Stop()
	if got.Count() != 2 {
		t.Errorf("burst of 2 should pass 2 entries, passed %d", got.Count())
	}
	if v := testutil.ToFloat64(dropped); v != 3 {
		t.Errorf("dropped counter = %v, want 3", v)
	}
}

// Per line, the pipeline's copy of the labels is the only allocation the job
// pipeline makes: the entry itself stays off the heap.
func TestJobPipelineAllocatesOnlyTheLabelCopy(t *testing.T) {
	// As the agent builds pipelines: extracted values never leave them.
	p, err := stages.NewPipeline([]any{map[any]any{"test_pass": nil}}, stages.Options{ExtractedUnread: true})
	if err != nil {
		t.Fatal(err)
	}
	j := NewJobPipeline(p, api.EntryHandlerFunc(func(stages.Entry) {}), nil)
	defer j.Stop()
	labels := model.LabelSet{"job": "app"}
	allocs := testing.AllocsPerRun(1000, func() {
		j.Handle(stages.Entry{Labels: labels, Line: "line"})
	})
	// Go's maps take one allocation for a small map's header and one for its
	// table; the entry escaping made it three.
	if allocs > 2 {
		t.Errorf("%v allocations per entry, want at most 2 (the labels' copy: a map and its table)", allocs)
	}
}
