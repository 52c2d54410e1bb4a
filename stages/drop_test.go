package stages

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
)

func TestDropStage(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		pipeline string
		entries  []*Entry
		want     []string
	}{
		{
			name:     "expression on the line",
			pipeline: "- drop: {expression: '(?i)health(z|check)'}",
			entries:  []*Entry{stEntry("GET /healthz 200", ""), stEntry("GET /orders 200", ""), stEntry("HealthCheck ok", "")},
			want:     []string{"GET /orders 200"},
		},
		{
			name:     "longer_than in bytes, not characters",
			pipeline: "- drop: {longer_than: 10}",
			entries:  []*Entry{stEntry("1234567890", ""), stEntry("12345678901", ""), stEntry("héllo wö", ""), stEntry("héllo wörl", "")},
			want:     []string{"1234567890", "héllo wö"},
		},
		{
			name:     "longer_than with a unit",
			pipeline: "- drop: {longer_than: 1kb}",
			entries:  []*Entry{stEntry(strings.Repeat("a", 1024), ""), stEntry(strings.Repeat("a", 1025), "")},
			want:     []string{strings.Repeat("a", 1024)},
		},
		{
			name:     "source exists",
			pipeline: "- logfmt: {mapping: {debug: }}\n- drop: {source: debug}",
			entries:  []*Entry{stEntry("msg=a debug=1", ""), stEntry("msg=b", "")},
			want:     []string{"msg=b"},
		},
		{
			name:     "all sources must exist",
			pipeline: "- logfmt: {mapping: {a: , b: }}\n- drop: {source: [a, b]}",
			entries:  []*Entry{stEntry("a=1 b=2", ""), stEntry("a=1", "")},
			want:     []string{"a=1"},
		},
		{
			name:     "value is an exact match",
			pipeline: "- regex: {expression: 'level=(?P<level>\\w+)'}\n- drop: {source: level, value: debug}",
			entries:  []*Entry{stEntry("level=debug a", ""), stEntry("level=debugging b", ""), stEntry("no level", "")},
			want:     []string{"level=debugging b", "no level"},
		},
		{
			name:     "value is weakly typed",
			pipeline: "- json: {expressions: {code: }}\n- drop: {source: code, value: 200}",
			entries:  []*Entry{stEntry(`{"code":200}`, ""), stEntry(`{"code":404}`, "")},
			want:     []string{`{"code":404}`},
		},
		{
			name:     "several sources joined with the separator",
			pipeline: "- regex: {expression: '^(?P<app>\\w+)(?: (?P<env>\\w+))?'}\n- drop: {source: [app, env, nothere], separator: '|', expression: '^(web\\|dev|solo\\|)$'}",
			entries:  []*Entry{stEntry("web dev drop", ""), stEntry("web prod keep", ""), stEntry("solo", ""), stEntry("web", "")},
			want:     []string{"web prod keep", "web"},
		},
		{
			name:     "a source without text form keeps the entry",
			pipeline: "- json: {expressions: {obj: }}\n- drop: {source: obj, expression: '.*'}",
			entries:  []*Entry{stEntry(`{"obj":null}`, ""), stEntry(`{"obj":"x"}`, "")},
			want:     []string{`{"obj":null}`},
		},
		{
			name:     "conditions are ANDed",
			pipeline: "- regex: {expression: '^(?P<level>\\w+) '}\n- drop: {source: level, expression: '^debug$', longer_than: 20}",
			entries:  []*Entry{stEntry("debug short", ""), stEntry("debug this one is long enough", ""), stEntry("info this one is long enough too", "")},
			want:     []string{"debug short", "info this one is long enough too"},
		},
		{
			name:     "older_than",
			pipeline: "- drop: {older_than: 1h}",
			entries: []*Entry{
				{Labels: model.LabelSet{}, Line: "old", Timestamp: now.Add(-2 * time.Hour)},
				{Labels: model.LabelSet{}, Line: "new", Timestamp: now.Add(-time.Minute)},
			},
			want: []string{"new"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mkLines(stRun(stPipeline(t, tt.pipeline, nil), tt.entries...))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("kept %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDropStageCountsDrops(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := stPipeline(t, "- drop: {expression: a}\n- drop: {expression: b, drop_counter_reason: why}", reg)
	stRun(p, stEntry("a", ""), stEntry("a", ""), stEntry("b", ""), stEntry("c", ""))
	dm, err := NewDropMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(dm.Lines.WithLabelValues(DropReasonDrop)); got != 2 {
		t.Errorf("drop_stage count %v, want 2", got)
	}
	if got := testutil.ToFloat64(dm.Lines.WithLabelValues("why")); got != 1 {
		t.Errorf("why count %v, want 1", got)
	}
}

func TestDropConfigErrors(t *testing.T) {
	tests := []struct {
		name, pipeline, want string
	}{
		{"empty", "- drop: {separator: ','}", "must contain at least one of"},
		{"null body", "- drop:", "must contain at least one of"},
		{"value without source", "- drop: {value: x}", "must contain at least one of"},
		{"value and expression", "- drop: {source: a, value: x, expression: y}", "`value` and `expression` cannot both be defined"},
		{"bad duration", "- drop: {older_than: 1d}", `unknown unit "d"`},
		{"bad size", "- drop: {longer_than: 10 apples}", "failed to parse longer_than to bytes"},
		{"bad regex", "- drop: {expression: '(x'}", "drop stage regex compilation error"},
		{"non-string source in list", "- drop: {source: [a, 1]}", "source list item 2 must be a string"},
		{"source a map", "- drop: {source: {a: b}}", "should be string or list of strings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stPipelineErr(tt.pipeline, nil)
			stErrContains(t, err, tt.want)
		})
	}
}

func BenchmarkDrop(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  DropConfig
	}{
		{"expression", DropConfig{Expression: strPtr("health(z|check)")}},
		{"source value", DropConfig{Source: "level", Value: strPtr("debug")}},
		{"two sources", DropConfig{Source: []string{"level", "app"}, Expression: strPtr("^debug;api$")}},
		{"longer_than", DropConfig{LongerThan: strPtr("1KB")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st, err := bc.cfg.NewStage(Options{})
			if err != nil {
				b.Fatal(err)
			}
			e := &Entry{
				Labels:    model.LabelSet{"job": "x"},
				Extracted: map[string]any{"level": "info", "app": "api"},
				Line:      "GET /orders 200 took=12ms",
			}
			next := func(*Entry) {}
			b.ReportAllocs()
			for b.Loop() {
				st.Process(e, next)
			}
		})
	}
}
