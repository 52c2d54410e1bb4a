package stages

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"
)

func mkInspectedPipeline(t *testing.T, pipelineYAML string, w *strings.Builder) *Pipeline {
	t.Helper()
	var items []any
	if err := yaml.Unmarshal([]byte(pipelineYAML), &items); err != nil {
		t.Fatal(err)
	}
	p, err := NewPipeline(items, Options{Registerer: prometheus.NewRegistry(), Inspector: w})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInspectorReportsChanges(t *testing.T) {
	var w strings.Builder
	p := mkInspectedPipeline(t, `
- regex:
    expression: '^(?P<level>\w+) (?P<msg>.*)$'
- labels:
    level:
- cri: {}
- output:
    source: msg
- template:
    source: msg
    template: ''`, &w)
	e := &Entry{Labels: model.LabelSet{"old": "x"}, Timestamp: mkTime, Line: "info hello"}
	var out []Entry
	p.Process(e, func(o *Entry) { out = append(out, o.Clone()) })
	if len(out) != 1 || out[0].Line != "hello" {
		t.Fatalf("inspection changed the result: %q", mkLines(out))
	}
	got := w.String()
	for _, want := range []string{
		"[inspect: regex stage]:\n",
		"\textracted[\"level\"]: + \"info\"\n",
		"\textracted[\"msg\"]: + \"hello\"\n",
		"[inspect: labels stage]:\n\tlabels[\"level\"]: + \"info\"\n",
		"[inspect: cri stage]: none\n",
		"[inspect: output stage]:\n\tline: \"info hello\" -> \"hello\"\n",
		"[inspect: template stage]:\n\textracted[\"msg\"]: - \"hello\"\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("inspector output lacks %q:\n%s", want, got)
		}
	}
}

func TestInspectorReportsTimestampLabelChangeAndDrop(t *testing.T) {
	var w strings.Builder
	p := mkInspectedPipeline(t, `
- json:
    expressions: {stream: , number: num}
- docker: {}
- labeldrop: [gone]
- multiline:
    firstline: '^never'`, &w)
	e := &Entry{
		Labels:    model.LabelSet{"stream": "before", "gone": "1"},
		Timestamp: mkTime,
		Line:      `{"log":"l","stream":"after","time":"2024-01-01T00:00:00Z","num":2}`,
	}
	p.Process(e, func(*Entry) {})
	got := w.String()
	for _, want := range []string{
		`labels["stream"]: "before" -> "after"`,
		`extracted["number"]: + 2 (float64)`,
		"\ttimestamp: " + mkTime.Format(time.RFC3339Nano) + " -> 2024-01-01T00:00:00Z\n",
		`labels["gone"]: - "1"`,
		"[inspect: multiline stage]:",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("inspector output lacks %q:\n%s", want, got)
		}
	}

	w.Reset()
	p2 := mkInspectedPipeline(t, `
- multiline:
    firstline: '^start'`, &w)
	p2.Process(&Entry{Labels: model.LabelSet{}, Timestamp: mkTime, Line: "start"}, func(*Entry) {})
	if !strings.Contains(w.String(), "[inspect: multiline stage]: entry dropped or held back") {
		t.Errorf("held entry not reported:\n%s", w.String())
	}
	var flushed []string
	p2.Flush(mkTime, true, func(e *Entry) { flushed = append(flushed, e.Line) })
	if len(flushed) != 1 || !strings.Contains(w.String(), "flushed held entry") {
		t.Errorf("flush not reported (%q):\n%s", flushed, w.String())
	}
	if p2.FlushInterval() == 0 {
		t.Error("an inspected multiline stage must still ask for periodic flushes")
	}
}

func TestInspectorStructuredMetadata(t *testing.T) {
	var w strings.Builder
	p := mkInspectedPipeline(t, `
- structured_metadata:
    trace:`, &w)
	p.Process(&Entry{Labels: model.LabelSet{"trace": "abc"}, Timestamp: mkTime, Line: "x"}, func(*Entry) {})
	if !strings.Contains(w.String(), "structured_metadata:") {
		t.Errorf("structured metadata change not reported:\n%s", w.String())
	}
}

func TestPipelineWithoutInspectorDoesNotWrap(t *testing.T) {
	p := mkPipeline(t, "- decolorize: {}")
	if _, wrapped := p.stages[0].(*inspectedStage); wrapped {
		t.Error("stages must not be wrapped when no inspector is set")
	}
}
