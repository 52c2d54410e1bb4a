package osquery

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// readTime is when the test target "read" every line: the timestamp an entry
// keeps when the stage finds no time in it.
var readTime = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// harness runs lines through a pipeline holding one osquery stage built from
// its YAML body, the way a scrape config builds it.
type harness struct {
	t        *testing.T
	reg      *prometheus.Registry
	pipeline *stages.Pipeline
	stage    *Stage // set instead of pipeline by newStageHarness
}

// newStageHarness builds the stage directly, for tests that set unexported
// fields.
func newStageHarness(t *testing.T, cfg *Config) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	st, err := cfg.NewStage(stages.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, reg: reg, stage: st.(*Stage)}
}

func newHarness(t *testing.T, body string) *harness {
	t.Helper()
	return newHarnessWith(t, body, stages.Options{})
}

// newHarnessWith builds the pipeline `- osquery: body` with opts (a fresh
// registry and the job name are filled in).
func newHarnessWith(t *testing.T, body string, opts stages.Options) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	var items []any
	if err := yaml.Unmarshal([]byte("- osquery: "+body), &items); err != nil {
		t.Fatalf("test YAML %q: %v", body, err)
	}
	opts.Registerer, opts.JobName = reg, "osquery"
	p, err := stages.NewPipeline(items, opts)
	if err != nil {
		t.Fatalf("building `osquery: %s`: %v", body, err)
	}
	return &harness{t: t, reg: reg, pipeline: p}
}

// run processes each line as a fresh entry labelled job="osquery" and
// returns clones of what came out (the stage reuses its extracted map).
func (h *harness) run(lines ...string) []stages.Entry {
	var out []stages.Entry
	for _, l := range lines {
		out = append(out, h.runEntry(entryAt(l, readTime))...)
	}
	return out
}

// runEntry processes one prepared entry.
func (h *harness) runEntry(e stages.Entry) []stages.Entry {
	var out []stages.Entry
	collect := func(e *stages.Entry) { out = append(out, e.Clone()) }
	if h.stage != nil {
		h.stage.Process(&e, collect)
	} else {
		h.pipeline.Process(&e, collect)
	}
	return out
}

// counter reads one series of a stage counter.
func (h *harness) counter(name string, labels ...string) float64 {
	h.t.Helper()
	m := NewMetrics(h.reg)
	var c prometheus.Counter
	switch name {
	case "records":
		c = m.records.WithLabelValues(labels...)
	case "entries":
		c = m.entries.WithLabelValues(labels...)
	case "split_rows":
		c = m.splitRows.WithLabelValues(labels...)
	case "parse_failures":
		c = m.parseFailures.WithLabelValues(labels...)
	case "labels_dropped":
		c = m.labelsDropped.WithLabelValues(labels...)
	case "labels_truncated":
		c = m.labelsTruncated
	default:
		h.t.Fatalf("unknown counter %s", name)
	}
	return testutil.ToFloat64(c)
}

func ls(pairs ...string) model.LabelSet {
	s := model.LabelSet{}
	for i := 0; i+1 < len(pairs); i += 2 {
		s[model.LabelName(pairs[i])] = model.LabelValue(pairs[i+1])
	}
	return s
}

// only returns the single entry or fails.
func only(t *testing.T, got []stages.Entry) stages.Entry {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("got %d entries, want 1: %+v", len(got), got)
	}
	return got[0]
}

func checkEntry(t *testing.T, got stages.Entry, labels model.LabelSet, ts time.Time, line string) {
	t.Helper()
	if !got.Labels.Equal(labels) {
		t.Errorf("labels\n got %v\nwant %v", got.Labels, labels)
	}
	if !got.Timestamp.Equal(ts) {
		t.Errorf("timestamp got %v, want %v", got.Timestamp, ts)
	}
	if line != "" && got.Line != line {
		t.Errorf("line\n got %s\nwant %s", got.Line, line)
	}
}

func checkExtracted(t *testing.T, got stages.Entry, want map[string]string) {
	t.Helper()
	for k, v := range want {
		g, ok := got.Extracted[k]
		switch {
		case v == "<absent>":
			if ok {
				t.Errorf("extracted[%q] = %v, want absent", k, g)
			}
		case !ok:
			t.Errorf("extracted[%q] missing, want %q (have %v)", k, v, keys(got.Extracted))
		case g != v:
			t.Errorf("extracted[%q] = %#v, want %q", k, g, v)
		}
	}
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return strings.Join(ks, ",")
}
