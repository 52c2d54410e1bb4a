package stages

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
)

func TestMatchStage(t *testing.T) {
	tests := []struct {
		name       string
		pipeline   string
		entries    []*Entry
		wantLines  []string
		wantLabels []model.LabelSet
	}{
		{
			name:      "drop action",
			pipeline:  "- match: {selector: '{level=~\"debug|trace\"}', action: drop}",
			entries:   []*Entry{stEntry("a", "level=info"), stEntry("b", "level=debug"), stEntry("c", "level=debugger"), stEntry("d", "level=trace")},
			wantLines: []string{"a", "c"},
		},
		{
			name:      "drop with line filters",
			pipeline:  "- match: {selector: '{job=\"app\"} |= \"error\" != \"timeout\"', action: drop}",
			entries:   []*Entry{stEntry("error boom", "job=app"), stEntry("error timeout", "job=app"), stEntry("error other job", "job=web")},
			wantLines: []string{"error timeout", "error other job"},
		},
		{
			name: "keep runs nested stages on matching entries only",
			pipeline: `
- match:
    selector: '{app="checkout"}'
    stages:
    - static_labels: {team: payments}
    - regex: {expression: '^(?P<msg>.*)$'}
    - template: {source: msg, template: '[{{ .Value }}]'}
    - output: {source: msg}`,
			entries:    []*Entry{stEntry("search", "app=search"), stEntry("checkout", "app=checkout")},
			wantLines:  []string{"search", "[checkout]"},
			wantLabels: []model.LabelSet{{"app": "search"}, {"app": "checkout", "team": "payments"}},
		},
		{
			name: "nested match",
			pipeline: `
- match:
    selector: '{env="prod"}'
    stages:
    - static_labels: {alert: candidate}
    - match:
        selector: '{level="error"}'
        stages:
        - static_labels: {page: "true"}`,
			entries:   []*Entry{stEntry("1", "env=dev,level=error"), stEntry("2", "env=prod,level=info"), stEntry("3", "env=prod,level=error")},
			wantLines: []string{"1", "2", "3"},
			wantLabels: []model.LabelSet{
				{"env": "dev", "level": "error"},
				{"env": "prod", "level": "info", "alert": "candidate"},
				{"env": "prod", "level": "error", "alert": "candidate", "page": "true"},
			},
		},
		{
			name:      "sampling inside match drops only matching entries",
			pipeline:  "- match: {selector: '{app=\"noisy\"} |= \"debug\"', stages: [{sampling: {rate: 0}}]}",
			entries:   []*Entry{stEntry("info kept", "app=noisy"), stEntry("debug dropped", "app=noisy"), stEntry("debug other app", "app=calm")},
			wantLines: []string{"info kept", "debug other app"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := stRun(stPipeline(t, tt.pipeline, nil), tt.entries...)
			if got := mkLines(out); !slices.Equal(got, tt.wantLines) {
				t.Fatalf("lines %q, want %q", got, tt.wantLines)
			}
			for i, want := range tt.wantLabels {
				if !out[i].Labels.Equal(want) {
					t.Errorf("entry %d labels %v, want %v", i, out[i].Labels, want)
				}
			}
		})
	}
}

func TestMatchDropCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := stPipeline(t, `
- match: {selector: '{a="1"}', action: drop}
- match: {selector: '{a="2"}', action: drop, drop_counter_reason: two}`, reg)
	stRun(p, stEntry("x", "a=1"), stEntry("x", "a=2"), stEntry("x", "a=2"), stEntry("x", "a=3"))
	dm, err := NewDropMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(dm.Lines.WithLabelValues(DropReasonMatch)); got != 1 {
		t.Errorf("match_stage %v, want 1", got)
	}
	if got := testutil.ToFloat64(dm.Lines.WithLabelValues("two")); got != 2 {
		t.Errorf("two %v, want 2", got)
	}
}

func TestMatchFlushesNestedStages(t *testing.T) {
	p := stPipeline(t, `
- match:
    selector: '{app="java"}'
    stages:
    - multiline: {firstline: '^\d', max_wait_time: 1s}`, nil)
	if p.FlushInterval() == 0 {
		t.Fatal("the outer pipeline does not know the nested multiline stage needs flushing")
	}
	out := stRun(p, stEntry("1 start", "app=java"), stEntry("  at x", "app=java"))
	if len(out) != 0 {
		t.Fatalf("multiline block emitted before flush: %q", mkLines(out))
	}
	p.Flush(time.Now(), true, func(e *Entry) { out = append(out, e.Clone()) })
	if got := mkLines(out); !slices.Equal(got, []string{"1 start\n  at x"}) {
		t.Fatalf("flushed %q", got)
	}
}

func TestMatchConfigErrors(t *testing.T) {
	tests := []struct {
		name, pipeline, want string
	}{
		{"no selector", "- match: {action: drop}", "selector statement required"},
		{"empty pipeline name", "- match: {selector: '{a=\"x\"}', pipeline_name: '', stages: [{labels: {a: }}]}", "pipeline name can be omitted but cannot be an empty string"},
		{"unknown action", "- match: {selector: '{a=\"x\"}', action: discard}", "action should be 'keep' or 'drop'"},
		{"keep without stages", "- match: {selector: '{a=\"x\"}'}", "requires at least one additional stage"},
		{"drop with stages", "- match: {selector: '{a=\"x\"}', action: drop, stages: [{labels: {a: }}]}", "cannot contains stages"},
		{"bad selector", "- match: {selector: 'app=\"x\"', action: drop}", "invalid selector syntax for match stage: parse error at line 1, col 1"},
		{"bad label regex", "- match: {selector: '{a=~\"(x\"}', action: drop}", "invalid regex in label matcher a"},
		{"bad nested stage", "- match: {selector: '{a=\"x\"}', stages: [{nosuch: {}}]}", "Unknown stage type: nosuch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stPipelineErr(tt.pipeline, nil)
			stErrContains(t, err, tt.want)
		})
	}
}

func BenchmarkMatch(b *testing.B) {
	for _, bc := range []struct{ name, selector string }{
		{"equal", `{app="checkout"}`},
		{"regex and filters", `{app=~"check.*", env!="dev"} |= "error" !~ "(?i)ignored"`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st, err := (&MatchConfig{Selector: bc.selector, Action: "drop"}).NewStage(Options{})
			if err != nil {
				b.Fatal(err)
			}
			e := &Entry{Labels: model.LabelSet{"app": "search", "env": "prod"}, Line: "error: payment declined"}
			next := func(*Entry) {}
			b.ReportAllocs()
			for b.Loop() {
				st.Process(e, next)
			}
		})
	}
}
