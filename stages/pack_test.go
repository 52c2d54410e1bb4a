package stages

import (
	"testing"
	"time"
)

func TestPackStage(t *testing.T) {
	mkRunCases(t, []mkCase{
		{
			name: "sorted keys, escaped values, labels removed",
			pipeline: `
- static_labels:
    env: prod
- regex:
    expression: '^(?P<pod>\S+) (?P<container>\S+)'
- labels:
    pod:
    container:
- pack:
    labels: [pod, container, env, pod, missing]
    ingest_timestamp: false`,
			lines: []string{`web-1 nginx "q" <t> & \ é`},
			want: []mkWant{{
				line:   `{"container":"nginx","pod":"web-1","_entry":"web-1 nginx \"q\" \u003ct\u003e \u0026 \\ é"}`,
				labels: `{env="prod"}`,
			}},
		},
		{
			name: "no labels listed, weakly typed flag",
			pipeline: `
- pack:
    ingest_timestamp: "false"`,
			lines: []string{"plain"},
			want:  []mkWant{{line: `{"_entry":"plain"}`}},
		},
		{
			name: "single label as a scalar, non-text value skipped",
			pipeline: `
- json:
    expressions: {obj: , nothing: }
- pack:
    labels: nothing
    ingest_timestamp: 0`,
			lines: []string{`{"nothing":null}`},
			want:  []mkWant{{line: `{"_entry":"{\"nothing\":null}"}`}},
		},
	})
}

func TestPackStageIngestTimestamp(t *testing.T) {
	cfg := &PackConfig{}
	st, err := cfg.NewStage(Options{})
	if err != nil {
		t.Fatal(err)
	}
	packed := time.Date(2031, 5, 6, 7, 8, 9, 10, time.UTC)
	st.(*packStage).now = func() time.Time { return packed }
	e := &Entry{Line: "x", Timestamp: mkTime}
	var got *Entry
	st.Process(e, func(o *Entry) { got = o })
	if got == nil || !got.Timestamp.Equal(packed) {
		t.Fatalf("timestamp not set to the packing time: %+v", got)
	}
}

func TestPackStageConfigErrors(t *testing.T) {
	mkConfigErrors(t, map[string]string{
		"- pack: {ingest_timestamp: maybe}": "cannot parse 'ingest_timestamp' as bool",
		"- pack: {labels: [[a]]}":           "expected type 'string'",
		"- pack: [a]":                       "expected a map",
	})
}
