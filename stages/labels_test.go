package stages

import (
	"testing"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"
)

// runLabelStage runs one entry with the given labels and extracted values
// through the pipeline and returns what comes out.
func runLabelStage(t *testing.T, pipelineYAML string, labels model.LabelSet, extracted map[string]any) Entry {
	t.Helper()
	p := stPipeline(t, pipelineYAML, nil)
	e := &Entry{Labels: labels, Extracted: extracted, Line: "line"}
	out := stRun(p, e)
	if len(out) != 1 {
		t.Fatalf("expected one entry, got %d", len(out))
	}
	return out[0]
}

func TestLabelStages(t *testing.T) {
	tests := []struct {
		name      string
		pipeline  string
		labels    model.LabelSet
		extracted map[string]any
		want      model.LabelSet
	}{
		{
			name:      "labels renames and stringifies",
			pipeline:  "- labels: {level: lvl, status_code: code, ok: ok, absent: }",
			extracted: map[string]any{"lvl": "info", "code": float64(200), "ok": true},
			want:      model.LabelSet{"level": "info", "status_code": "200", "ok": "true"},
		},
		{
			name:      "labels keeps an empty value",
			pipeline:  "- labels: {level: }",
			extracted: map[string]any{"level": ""},
			want:      model.LabelSet{"level": ""},
		},
		{
			name:      "labels skips values without text form and invalid UTF-8",
			pipeline:  "- labels: {obj: , bad: , nothing: }",
			extracted: map[string]any{"obj": map[string]any{"a": 1}, "bad": "caf\xe9", "nothing": nil},
			want:      model.LabelSet{},
		},
		{
			name:     "labels sees stream labels copied into extracted",
			pipeline: "- labels: {copy: app}",
			labels:   model.LabelSet{"app": "api"},
			want:     model.LabelSet{"app": "api", "copy": "api"},
		},
		{
			name:     "null and empty labels bodies do nothing",
			pipeline: "- labels:\n- labels: {}\n- static_labels: {a: b}",
			want:     model.LabelSet{"a": "b"},
		},
		{
			name:     "static_labels sets and overrides, skipping empty values",
			pipeline: `- static_labels: {env: prod, cluster: "", none: , app: new}`,
			labels:   model.LabelSet{"app": "old"},
			want:     model.LabelSet{"env": "prod", "app": "new"},
		},
		{
			name:     "static_labels accepts UTF-8 label names",
			pipeline: `- static_labels: {"service.name": api}`,
			want:     model.LabelSet{"service.name": "api"},
		},
		{
			name:     "labeldrop",
			pipeline: "- labeldrop: [pod, nonexistent]",
			labels:   model.LabelSet{"env": "prod", "pod": "api-0"},
			want:     model.LabelSet{"env": "prod"},
		},
		{
			name:     "labelallow",
			pipeline: "- labelallow: [env, unknown]",
			labels:   model.LabelSet{"env": "prod", "pod": "api-0", "filename": "/var/log/x"},
			want:     model.LabelSet{"env": "prod"},
		},
		{
			name:     "labelallow then labeldrop leaves nothing",
			pipeline: "- labelallow: [app]\n- labeldrop: [app]",
			labels:   model.LabelSet{"app": "a", "team": "t"},
			want:     model.LabelSet{},
		},
		{
			name:     "tenant from value",
			pipeline: "- tenant: {value: team-a}",
			want:     model.LabelSet{TenantLabel: "team-a"},
		},
		{
			name:     "tenant from label",
			pipeline: "- tenant: {label: namespace}",
			labels:   model.LabelSet{"namespace": "payments"},
			want:     model.LabelSet{"namespace": "payments", TenantLabel: "payments"},
		},
		{
			name:     "tenant from a missing label sets nothing",
			pipeline: "- tenant: {label: namespace}",
			want:     model.LabelSet{},
		},
		{
			name:      "tenant from source",
			pipeline:  "- tenant: {source: org}",
			extracted: map[string]any{"org": float64(42)},
			want:      model.LabelSet{TenantLabel: "42"},
		},
		{
			name:      "tenant from a source without text form",
			pipeline:  "- tenant: {source: org}",
			extracted: map[string]any{"org": []any{"a"}},
			want:      model.LabelSet{},
		},
		{
			name:     "labeldrop removes the tenant",
			pipeline: "- tenant: {value: x}\n- labeldrop: [__tenant_id__]",
			want:     model.LabelSet{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels := tt.labels
			if labels == nil {
				labels = model.LabelSet{}
			}
			extracted := tt.extracted
			if extracted == nil {
				extracted = map[string]any{}
			}
			got := runLabelStage(t, tt.pipeline, labels, extracted)
			if !got.Labels.Equal(tt.want) {
				t.Fatalf("labels %v, want %v", got.Labels, tt.want)
			}
		})
	}
}

func TestStructuredMetadata(t *testing.T) {
	tests := []struct {
		name      string
		pipeline  string
		labels    model.LabelSet
		extracted map[string]any
		want      model.LabelSet
		wantMeta  push.LabelsAdapter
	}{
		{
			name:      "from extracted",
			pipeline:  "- structured_metadata: {trace_id: }",
			labels:    model.LabelSet{"level": "info"},
			extracted: map[string]any{"trace_id": "abc"},
			want:      model.LabelSet{"level": "info"},
			wantMeta:  push.LabelsAdapter{{Name: "trace_id", Value: "abc"}},
		},
		{
			name:      "moving labels removes them",
			pipeline:  "- structured_metadata: {pod: , sm_level: level}",
			labels:    model.LabelSet{"pod": "api-7c9", "level": "info"},
			extracted: map[string]any{"pod": "api-7c9", "level": "info"},
			want:      model.LabelSet{},
			wantMeta:  push.LabelsAdapter{{Name: "pod", Value: "api-7c9"}, {Name: "sm_level", Value: "info"}},
		},
		{
			name:     "label with a different value stays",
			pipeline: "- static_labels: {user: from-label}\n- regex: {expression: 'user=(?P<user>\\w+)'}\n- structured_metadata: {user: }",
			want:     model.LabelSet{"user": "from-label"},
			wantMeta: push.LabelsAdapter{{Name: "user", Value: "bob"}},
		},
		{
			name:     "label used when extracted lacks the key",
			pipeline: "- static_labels: {user: from-label}\n- structured_metadata: {user: }",
			want:     model.LabelSet{},
			wantMeta: push.LabelsAdapter{{Name: "user", Value: "from-label"}},
		},
		{
			name:      "non_indexed_labels alias",
			pipeline:  "- non_indexed_labels: {trace_id: }",
			extracted: map[string]any{"trace_id": float64(7)},
			want:      model.LabelSet{},
			wantMeta:  push.LabelsAdapter{{Name: "trace_id", Value: "7"}},
		},
		{
			name:      "missing everywhere adds nothing",
			pipeline:  "- structured_metadata: {trace_id: }",
			extracted: map[string]any{},
			want:      model.LabelSet{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels := tt.labels
			if labels == nil {
				labels = model.LabelSet{}
			}
			extracted := tt.extracted
			if extracted == nil {
				extracted = map[string]any{}
			}
			e := &Entry{Labels: labels, Extracted: extracted, Line: "request user=bob"}
			out := stRun(stPipeline(t, tt.pipeline, nil), e)
			if len(out) != 1 {
				t.Fatalf("expected one entry, got %d", len(out))
			}
			if !out[0].Labels.Equal(tt.want) {
				t.Errorf("labels %v, want %v", out[0].Labels, tt.want)
			}
			if len(out[0].StructuredMetadata) != len(tt.wantMeta) {
				t.Fatalf("metadata %v, want %v", out[0].StructuredMetadata, tt.wantMeta)
			}
			for i := range tt.wantMeta {
				if out[0].StructuredMetadata[i] != tt.wantMeta[i] {
					t.Fatalf("metadata %v, want %v", out[0].StructuredMetadata, tt.wantMeta)
				}
			}
		})
	}
}

func TestLabelStageConfigErrors(t *testing.T) {
	tests := []struct {
		name, pipeline, want string
	}{
		{"labels invalid name", "- labels: {bad.name: x}", "invalid label name: bad.name"},
		{"labels non-string value", "- labels: {a: 1}", "expected type 'string'"},
		{"labels list body", "- labels: [a]", "expected a map"},
		{"static_labels non-string value", "- static_labels: {replicas: 3}", "expected type 'string'"},
		{"static_labels boolean key", "- static_labels: {yes: a}", "expected type 'string'"},
		{"structured_metadata invalid name", "- structured_metadata: {bad-name: }", "invalid label name: bad-name"},
		{"labeldrop empty", "- labeldrop: []", "labeldrop stage config cannot be empty"},
		{"labeldrop null", "- labeldrop:", "labeldrop stage config cannot be empty"},
		{"labelallow empty", "- labelallow: []", "labelallow stage config cannot be empty"},
		{"tenant empty", "- tenant: {}", "label, source or value config are required"},
		{"tenant two fields", "- tenant: {label: a, value: b}", "mutually exclusive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stPipelineErr(tt.pipeline, nil)
			stErrContains(t, err, tt.want)
		})
	}
}

func BenchmarkLabels(b *testing.B) {
	st, err := (&LabelsConfig{"level": "", "app": "", "status": "code"}).NewStage(Options{})
	if err != nil {
		b.Fatal(err)
	}
	e := &Entry{
		Labels:    model.LabelSet{"job": "varlogs"},
		Extracted: map[string]any{"level": "info", "app": "api", "code": float64(200)},
	}
	next := func(*Entry) {}
	b.ReportAllocs()
	for b.Loop() {
		st.Process(e, next)
	}
}

func BenchmarkStaticLabels(b *testing.B) {
	st, err := (&StaticLabelsConfig{"env": "prod", "cluster": "eu-1"}).NewStage(Options{})
	if err != nil {
		b.Fatal(err)
	}
	e := &Entry{Labels: model.LabelSet{"job": "varlogs"}}
	next := func(*Entry) {}
	b.ReportAllocs()
	for b.Loop() {
		st.Process(e, next)
	}
}
