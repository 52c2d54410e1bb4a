package stages

import "testing"

func TestOutputStage(t *testing.T) {
	mkRunCases(t, []mkCase{{
		name: "values with and without a text form",
		pipeline: `
- json:
    expressions: {m: }
- output:
    source: m`,
		lines: []string{`{"m":"text"}`, `{"m":12.50}`, `{"m":false}`, `{"m":null}`, `{"m":[1]}`, `{"m":""}`, `{"x":1}`},
		want: []mkWant{
			{line: "text"}, {line: "12.5"}, {line: "false"}, {line: `{"m":null}`}, {line: "[1]"}, {line: ""}, {line: `{"x":1}`},
		},
	}})
}

func TestOutputStageConfigErrors(t *testing.T) {
	mkConfigErrors(t, map[string]string{
		"- output: {}":          "output source value is required",
		"- output:":             "output source value is required",
		"- output: {source: 1}": "expected type 'string'",
	})
}
