package stages

import (
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"
)

func TestNewPipelineWarnsAboutUnusedKeys(t *testing.T) {
	var logs strings.Builder
	var items []any
	if err := yaml.Unmarshal([]byte("- regex:\n    expression: '(?P<a>.)'\n    sorce: typo"), &items); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPipeline(items, Options{Logger: mkTextLogger(&logs), JobName: "j"}); err != nil {
		t.Fatal(err)
	}
	if got := logs.String(); !strings.Contains(got, "does not use") || !strings.Contains(got, "keys=sorce") || !strings.Contains(got, "job=j") {
		t.Errorf("no typo warning: %q", got)
	}
}

func TestNewPipelineDecodesLikePromtail(t *testing.T) {
	mkConfigErrors(t, map[string]string{
		"- json: {expressions: {y: a}}": "expected type 'string', got unconvertible type 'bool'",
		"- output: {source: [a]}":       "invalid output stage config: 'source' expected type 'string'",
		"- regex: {expression: 5}":      "invalid regex stage config",
	})
	// Weakly typed bodies accept what Promtail's weak decoding accepts.
	for _, ok := range []string{
		"- cri: {max_partial_lines: '3', max_partial_line_size_truncate: 'true'}",
		"- multiline: {firstline: 5, max_lines: '2', max_wait_time: 1s}",
		"- pack: {labels: a, ingest_timestamp: 'false'}",
	} {
		if _, err := mkPipelineErr(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
}

func TestCompareCompatFindsDifferences(t *testing.T) {
	ts := "2024-01-01T00:00:00Z"
	b64 := "/w==" // the single byte 0xff
	want := []compatExpected{
		{TS: &ts, Labels: map[string]string{"a": "1"}, Line: "x"},
		{Labels: map[string]string{}, Line: "\ufffd", LineBase64: &b64},
	}
	good := []Entry{
		{Labels: map[model.LabelName]model.LabelValue{"a": "1"}, Timestamp: mkTS(ts), Line: "x"},
		{Line: "\xff", Timestamp: mkTime},
	}
	if d := compareCompat(good, want); d != "" {
		t.Fatalf("matching entries reported as different: %s", d)
	}
	tests := map[string][]Entry{
		"line":  {good[0], {Line: "\ufffd"}},
		"label": {{Labels: map[model.LabelName]model.LabelValue{"a": "2"}, Timestamp: mkTS(ts), Line: "x"}, good[1]},
		"ts":    {{Labels: good[0].Labels, Timestamp: mkTS(ts).Add(1), Line: "x"}, good[1]},
		"count": {good[0]},
		"extra": {good[0], good[1], good[1]},
	}
	for name, got := range tests {
		if d := compareCompat(got, want); d == "" {
			t.Errorf("%s difference not found", name)
		}
	}
}
