package stages

import (
	"strings"
	"testing"
)

func TestReplaceStage(t *testing.T) {
	mkRunCases(t, []mkCase{
		{
			name: "every match of every group",
			pipeline: `
- replace:
    expression: '(\d+)-(\d+)'
    replace: '<{{ .Value }}>'`,
			lines: []string{"1-2 and 30-40", "none"},
			want:  []mkWant{{line: "<1>-<2> and <30>-<40>"}, {line: "none"}},
		},
		{
			name: "nested group inside a replaced one is not spliced",
			pipeline: `
- replace:
    expression: '((a)b)'
    replace: 'X'`,
			lines: []string{"abab"},
			want:  []mkWant{{line: "XX"}},
		},
		{
			name: "empty matches insert, empty replacement deletes",
			pipeline: `
- replace:
    expression: '(x*)'
    replace: '-'
- replace:
    expression: '(b)'
    replace: ''`,
			lines: []string{"axxb"},
			want:  []mkWant{{line: "-a--"}},
		},
		{
			name: "named group gets first match's replacement",
			pipeline: `
- replace:
    expression: 'pw=(?P<secret>\w+)'
    replace: '{{ .Value | ToUpper }}'`,
			lines: []string{"pw=abc pw=def"},
			want:  []mkWant{{line: "pw=ABC pw=DEF", has: map[string]any{"secret": "ABC"}}},
		},
		{
			name: "non-participating named group",
			pipeline: `
- replace:
    expression: '(?P<a>a)|(?P<b>b)'
    replace: '_'`,
			lines: []string{"a"},
			want:  []mkWant{{line: "_", has: map[string]any{"a": "_"}, hasNot: []string{"b"}}},
		},
		{
			name: "template sees extracted values",
			pipeline: `
- regex:
    expression: '^(?P<user>\w+):'
- replace:
    expression: '(secret)'
    replace: '{{ .user }}-{{ .missing }}'`,
			lines: []string{"bob: secret"},
			want:  []mkWant{{line: "bob: bob-<no value>"}},
		},
		{
			name: "source",
			pipeline: `
- json:
    expressions: {path: , num: }
- replace:
    source: path
    expression: '/(\d+)'
    replace: ':id'
- replace:
    source: num
    expression: '(5)'
    replace: 'five'
- replace:
    source: absent
    expression: '(.*)'
    replace: 'x'`,
			lines: []string{`{"path":"/u/12/o/3","num":1.5}`, `{"path":null}`},
			want: []mkWant{
				{line: `{"path":"/u/12/o/3","num":1.5}`, has: map[string]any{"path": "/u/:id/o/:id", "num": "1.five"}, hasNot: []string{"absent"}},
				{line: `{"path":null}`, has: map[string]any{"path": nil}},
			},
		},
		{
			name: "match without groups rewrites nothing",
			pipeline: `
- replace:
    expression: 'abc'
    replace: 'x'`,
			lines: []string{"abc"},
			want:  []mkWant{{line: "abc"}},
		},
		{
			name: "template execution error leaves the line alone",
			pipeline: `
- replace:
    expression: '(a)'
    replace: '{{ ToUpper .missing }}'`,
			lines: []string{"a"},
			want:  []mkWant{{line: "a"}},
		},
		{
			name: "unparsable template is accepted and changes nothing",
			pipeline: `
- replace:
    expression: '(a)'
    replace: '{{ if }}'`,
			lines: []string{"a"},
			want:  []mkWant{{line: "a"}},
		},
	})
}

func TestReplaceStageConfigErrors(t *testing.T) {
	mkConfigErrors(t, map[string]string{
		"- replace: {replace: x}":                          "expression is required",
		"- replace: {expression: '(a)', source: ''}":       "empty source in replace stage",
		"- replace: {expression: '(unclosed', replace: x}": "could not compile regular expression",
		"- replace: {expression: '(a)', replace: [x]}":     "expected type 'string'",
	})
}

func TestReplaceStageWarnsOnBadTemplate(t *testing.T) {
	var logs strings.Builder
	cfg := &ReplaceConfig{Expression: "(a)", Replace: "{{ if }}"}
	if _, err := cfg.NewStage(Options{Logger: mkTextLogger(&logs)}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "does not parse") {
		t.Errorf("no warning logged, got %q", logs.String())
	}
}
