package stages

import "testing"

func TestRegexStage(t *testing.T) {
	mkRunCases(t, []mkCase{
		{
			name: "named groups",
			pipeline: `
- regex:
    expression: '^(?P<level>\w+) (?:(?P<opt>\d+) )?(?P<msg>.*)$'`,
			lines: []string{"info hello world", "warn 42 answer", "!!!"},
			want: []mkWant{
				{line: "info hello world", has: map[string]any{"level": "info", "opt": "", "msg": "hello world"}},
				{line: "warn 42 answer", has: map[string]any{"level": "warn", "opt": "42", "msg": "answer"}},
				{line: "!!!", hasNot: []string{"level", "opt", "msg"}},
			},
		},
		{
			name: "unnamed groups are not extracted",
			pipeline: `
- regex:
    expression: '^(\w+) (?P<rest>.*)'`,
			lines: []string{"a b"},
			want:  []mkWant{{line: "a b", has: map[string]any{"rest": "b"}}},
		},
		{
			name: "source, including non-string values",
			pipeline: `
- json:
    expressions: {req: , num: , obj: }
- regex:
    source: req
    expression: '^(?P<method>[A-Z]+)'
- regex:
    source: num
    expression: '^(?P<int>\d+)\.'
- regex:
    source: missing
    expression: '(?P<never>.*)'`,
			lines: []string{`{"req":"GET /","num":1.5}`, `{"num":null}`},
			want: []mkWant{
				{line: `{"req":"GET /","num":1.5}`, has: map[string]any{"method": "GET", "int": "1"}, hasNot: []string{"never"}},
				{line: `{"num":null}`, hasNot: []string{"method", "int", "never"}},
			},
		},
	})
}

func TestRegexStageConfigErrors(t *testing.T) {
	mkConfigErrors(t, map[string]string{
		"- regex: {}":                                   "expression is required",
		"- regex: {expresion: '(?P<a>.)'}":              "expression is required",
		"- regex: {expression: '(?P<a>.)', source: ''}": "empty source",
		"- regex: {expression: '(?=x)'}":                "could not compile regular expression",
		"- regex: {expression: 5}":                      "expected type 'string'",
	})
}
