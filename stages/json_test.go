package stages

import "testing"

func TestJSONStage(t *testing.T) {
	mkRunCases(t, []mkCase{
		{
			name: "expressions and types",
			pipeline: `
- json:
    expressions:
      level:
      cnt: count
      ok: flag
      nothing: missing
      obj: ctx
      arr: tags
      first: tags[0]
      ntags: length(tags)`,
			lines: []string{`{"level":"info","count":3,"flag":true,"ctx":{"b":"<x>"},"tags":["a","b"]}`},
			want: []mkWant{{
				line: `{"level":"info","count":3,"flag":true,"ctx":{"b":"<x>"},"tags":["a","b"]}`,
				has: map[string]any{
					"level": "info", "cnt": 3.0, "ok": true, "nothing": nil,
					"obj": `{"b":"\u003cx\u003e"}`, "arr": `["a","b"]`, "first": "a", "ntags": 2.0,
				},
			}},
		},
		{
			name: "quoted keys with dots",
			pipeline: `
- json:
    expressions:
      svc: '"service.name"'`,
			lines: []string{`{"service.name":"api"}`},
			want:  []mkWant{{line: `{"service.name":"api"}`, has: map[string]any{"svc": "api"}}},
		},
		{
			name: "malformed lines pass unchanged",
			pipeline: `
- json:
    expressions: {level: }`,
			lines: []string{`{"level":`, `[1]`, `plain`, `null`},
			want: []mkWant{
				{line: `{"level":`, hasNot: []string{"level"}},
				{line: `[1]`, hasNot: []string{"level"}},
				{line: `plain`, hasNot: []string{"level"}},
				{line: `null`, has: map[string]any{"level": nil}},
			},
		},
		{
			name: "drop_malformed",
			pipeline: `
- json:
    expressions: {level: }
    drop_malformed: true`,
			lines: []string{`not json`, `{"level":"warn"}`},
			want:  []mkWant{{line: `{"level":"warn"}`, has: map[string]any{"level": "warn"}}},
		},
		{
			name: "source",
			pipeline: `
- json:
    expressions: {payload: }
- json:
    source: payload
    expressions: {op: }`,
			lines: []string{
				`{"payload":"{\"op\":\"charge\"}"}`,
				`{"payload":{"op":"refund"}}`,
				`{"payload":5}`,
				`{"payload":null}`,
				`{"other":1}`,
			},
			want: []mkWant{
				{line: `{"payload":"{\"op\":\"charge\"}"}`, has: map[string]any{"op": "charge"}},
				{line: `{"payload":{"op":"refund"}}`, has: map[string]any{"op": "refund"}},
				{line: `{"payload":5}`, hasNot: []string{"op"}},
				{line: `{"payload":null}`, hasNot: []string{"op"}},
				{line: `{"other":1}`, hasNot: []string{"op"}},
			},
		},
		{
			name: "source missing from extracted",
			pipeline: `
- json:
    source: nowhere
    expressions: {a: }
    drop_malformed: true`,
			lines: []string{`not json either`},
			want:  []mkWant{{line: `not json either`, hasNot: []string{"a"}}},
		},
		{
			name: "failing search leaves key unset",
			pipeline: `
- json:
    expressions:
      bad: abs(name)
      good: name`,
			lines: []string{`{"name":"x"}`},
			want:  []mkWant{{line: `{"name":"x"}`, has: map[string]any{"good": "x"}, hasNot: []string{"bad"}}},
		},
	})
}

func TestJSONStageConfigErrors(t *testing.T) {
	mkConfigErrors(t, map[string]string{
		"- json:":                   "JMES expression is required",
		"- json: {expressions: {}}": "JMES expression is required",
		"- json: {expressions: {a: }, source: ''}":        "empty source",
		"- json: {expressions: {a: 'x[?'}}":               "could not compile JMES expression",
		"- json: {expressions: {y: a}}":                   "expected type 'string'",
		"- json: level":                                   "expected a map",
		"- json: {expressions: {a: }, drop_malformed: 1}": "expected type 'bool'",
	})
}
