package stages

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"
)

// stPipeline builds a pipeline from a pipeline_stages YAML list.
func stPipeline(t testing.TB, pipelineYAML string, reg prometheus.Registerer) *Pipeline {
	t.Helper()
	p, err := stPipelineErr(pipelineYAML, reg)
	if err != nil {
		t.Fatalf("building pipeline: %v", err)
	}
	return p
}

func stPipelineErr(pipelineYAML string, reg prometheus.Registerer) (*Pipeline, error) {
	var items []any
	if err := yaml.Unmarshal([]byte(pipelineYAML), &items); err != nil {
		return nil, err
	}
	return NewPipeline(items, Options{Registerer: reg, JobName: "test"})
}

// stEntry is a fresh entry for a line, with optional labels "k=v,k=v".
func stEntry(line, labels string) *Entry {
	ls := model.LabelSet{}
	if labels != "" {
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
	}
	return &Entry{Labels: ls, Line: line, Timestamp: time.Unix(1, 0).UTC()}
}

// stRun runs entries through p and returns clones of what comes out.
func stRun(p *Pipeline, entries ...*Entry) []Entry {
	var out []Entry
	for _, e := range entries {
		p.Process(e, func(o *Entry) { out = append(out, o.Clone()) })
	}
	return out
}

func stErrContains(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error containing %q, got none", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func stDiscardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
