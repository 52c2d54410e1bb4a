package stages

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
)

// mkTime is the read time given to test entries.
var mkTime = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// mkPipeline builds a pipeline from pipeline_stages YAML, with a registry of
// its own, or fails the test.
func mkPipeline(t testing.TB, pipelineYAML string) *Pipeline {
	t.Helper()
	return stPipeline(t, pipelineYAML, prometheus.NewRegistry())
}

func mkPipelineErr(pipelineYAML string) (*Pipeline, error) {
	return stPipelineErr(pipelineYAML, prometheus.NewRegistry())
}

// mkRun feeds lines (with no labels, read at mkTime) through p, flushes it at
// the end, and returns copies of what came out.
func mkRun(p *Pipeline, lines ...string) []Entry {
	var out []Entry
	collect := func(e *Entry) { out = append(out, e.Clone()) }
	for _, l := range lines {
		p.Process(&Entry{Labels: model.LabelSet{}, Timestamp: mkTime, Line: l}, collect)
	}
	p.Flush(mkTime, true, collect)
	return out
}

// mkLines returns the lines of entries.
func mkLines(entries []Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Line
	}
	return out
}

// mkLabels renders labels as a stable string for comparisons.
func mkLabels(e Entry) string {
	return e.Labels.String()
}

// mkWant describes one entry a pipeline should emit.
type mkWant struct {
	line   string
	labels string         // as model.LabelSet.String(); "" means no labels
	has    map[string]any // extracted values that must be present with these values
	hasNot []string       // extracted keys that must be absent
	ts     time.Time      // zero: the read time mkTime
}

// mkCase is a table row: a pipeline, its input lines and what must come out.
type mkCase struct {
	name     string
	pipeline string
	lines    []string
	want     []mkWant
}

func mkRunCases(t *testing.T, cases []mkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mkCheck(t, mkRun(mkPipeline(t, tc.pipeline), tc.lines...), tc.want)
		})
	}
}

func mkCheck(t *testing.T, got []Entry, want []mkWant) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries %q, want %d", len(got), mkLines(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Line != w.line {
			t.Errorf("entry %d: line %q, want %q", i, g.Line, w.line)
		}
		wantLabels := w.labels
		if wantLabels == "" {
			wantLabels = "{}"
		}
		if l := mkLabels(g); l != wantLabels {
			t.Errorf("entry %d: labels %s, want %s", i, l, wantLabels)
		}
		for k, v := range w.has {
			if gv, ok := g.Extracted[k]; !ok || gv != v {
				t.Errorf("entry %d: extracted[%q] = %#v (present %v), want %#v", i, k, gv, ok, v)
			}
		}
		for _, k := range w.hasNot {
			if gv, ok := g.Extracted[k]; ok {
				t.Errorf("entry %d: extracted[%q] = %#v, want it absent", i, k, gv)
			}
		}
		wantTS := w.ts
		if wantTS.IsZero() {
			wantTS = mkTime
		}
		if !g.Timestamp.Equal(wantTS) {
			t.Errorf("entry %d: timestamp %s, want %s", i, g.Timestamp.Format(time.RFC3339Nano), wantTS.Format(time.RFC3339Nano))
		}
	}
}

// mkConfigErrors checks that each pipeline is refused with an error containing
// the given text.
func mkConfigErrors(t *testing.T, cases map[string]string) {
	t.Helper()
	for pipeline, want := range cases {
		_, err := mkPipelineErr(pipeline)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("pipeline %q: error %v, want one containing %q", pipeline, err, want)
		}
	}
}

// mkTextLogger logs everything to w as text.
func mkTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
