package stages

import "testing"

func TestLogfmtStage(t *testing.T) {
	mkRunCases(t, []mkCase{
		{
			name: "mapping and renames",
			pipeline: `
- logfmt:
    mapping:
      level:
      severity: lvl
      msg:`,
			lines: []string{`level=info lvl=warn msg="hello world" other=1`, `just words`, `level=a level=b`},
			want: []mkWant{
				{line: `level=info lvl=warn msg="hello world" other=1`, has: map[string]any{"level": "info", "severity": "warn", "msg": "hello world"}, hasNot: []string{"other", "lvl"}},
				{line: `just words`, hasNot: []string{"level", "msg"}},
				{line: `level=a level=b`, has: map[string]any{"level": "b"}},
			},
		},
		{
			name: "values before a syntax error are kept",
			pipeline: `
- logfmt:
    mapping: {a: , b: }`,
			lines: []string{`a=1 b="open`, `a=2 "b"=3`},
			want: []mkWant{
				{line: `a=1 b="open`, has: map[string]any{"a": "1"}, hasNot: []string{"b"}},
				{line: `a=2 "b"=3`, has: map[string]any{"a": "2"}, hasNot: []string{"b"}},
			},
		},
		{
			name: "source",
			pipeline: `
- json:
    expressions: {inner: , num: }
- logfmt:
    source: inner
    mapping: {k: }
- logfmt:
    source: num
    mapping: {num_key: "1.5"}
- logfmt:
    source: absent
    mapping: {never: }`,
			lines: []string{`{"inner":"k=v","num":1.5}`, `{"inner":null}`},
			want: []mkWant{
				{line: `{"inner":"k=v","num":1.5}`, has: map[string]any{"k": "v", "num_key": ""}, hasNot: []string{"never"}},
				{line: `{"inner":null}`, hasNot: []string{"k"}},
			},
		},
	})
}

func TestLogfmtStageConfigErrors(t *testing.T) {
	mkConfigErrors(t, map[string]string{
		"- logfmt: {}":                           "logfmt mapping is required",
		"- logfmt: {mapping: {}}":                "logfmt mapping is required",
		"- logfmt: {mapping: {a: }, source: ''}": "empty source",
		"- logfmt: {mapping: [a]}":               "expected a map",
	})
}
