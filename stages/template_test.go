package stages

import (
	"fmt"
	"testing"
)

func TestTemplateStage(t *testing.T) {
	mkRunCases(t, []mkCase{
		{
			name: "value, entry and extracted values",
			pipeline: `
- regex:
    expression: '^(?P<level>\w+) (?P<msg>.*)$'
- template:
    source: level
    template: '{{ ToUpper .Value }}'
- template:
    source: summary
    template: '{{ .level }}:{{ .Entry | len }}:{{ .Value }}'`,
			lines: []string{"warn disk full"},
			want:  []mkWant{{line: "warn disk full", has: map[string]any{"level": "WARN", "summary": "WARN:14:<no value>"}}},
		},
		{
			name: "non-string values are given as text",
			pipeline: `
- json:
    expressions: {num: , flag: , obj: , nothing: }
- template:
    source: out
    template: '{{ .num }} {{ .flag }} {{ .obj }} {{ .nothing }}'`,
			lines: []string{`{"num":1.5,"flag":true,"obj":{},"nothing":null}`},
			want:  []mkWant{{line: `{"num":1.5,"flag":true,"obj":{},"nothing":null}`, has: map[string]any{"out": "1.5 true {} <no value>"}}},
		},
		{
			name: "empty result deletes the key",
			pipeline: `
- regex:
    expression: '^(?P<level>\w+)'
- template:
    source: level
    template: '{{ if eq .Value "debug" }}{{ else }}{{ .Value }}{{ end }}'`,
			lines: []string{"debug x", "error y"},
			want: []mkWant{
				{line: "debug x", hasNot: []string{"level"}},
				{line: "error y", has: map[string]any{"level": "error"}},
			},
		},
		{
			name: "execution error leaves values alone",
			pipeline: `
- regex:
    expression: '^(?P<level>\w+)'
- template:
    source: level
    template: '{{ ToUpper .missing }}'`,
			lines: []string{"info"},
			want:  []mkWant{{line: "info", has: map[string]any{"level": "info"}}},
		},
		{
			name: "Promtail and Sprig functions",
			pipeline: `
- template:
    source: out
    template: '{{ Replace .Entry "a" "b" -1 }}|{{ ToLower "AB" }}|{{ Trim "xyx" "x" }}|{{ TrimLeft "aab" "a" }}|{{ TrimRight "baa" "a" }}|{{ TrimPrefix "pre-x" "pre-" }}|{{ TrimSuffix "x.log" ".log" }}|{{ TrimSpace "  s  " }}|{{ .Entry | upper | trunc 3 }}'`,
			lines: []string{"banana"},
			want:  []mkWant{{line: "banana", has: map[string]any{"out": "bbnbnb|ab|y|b|b|x|x|s|BAN"}}},
		},
		{
			name: "hashes",
			pipeline: `
- template:
    source: sha3
    template: '{{ Hash "pepper" .Entry }}'
- template:
    source: sha2
    template: '{{ Sha2Hash "pepper" .Entry }}'`,
			lines: []string{"someone@example.org"},
			want: []mkWant{{line: "someone@example.org", has: map[string]any{
				"sha3": "7dfceb247510edbcd233841809e2edb24ad77b422dc383f9a159a6becb808c77",
				"sha2": "8ff2c56fa33e874437faf935aa54bf58ea88ff4f6757692cad6531c6fd603251",
			}}},
		},
		{
			name: "regex helpers",
			pipeline: `
- template:
    source: out
    template: '{{ regexReplaceAll "(\\d+)" .Entry "<$1>" }}|{{ regexReplaceAllLiteral "\\d+" .Entry "$1" }}'
- template:
    source: bad
    template: '{{ regexReplaceAll "(" .Entry "x" }}'
- template:
    source: badlit
    template: '{{ regexReplaceAllLiteral "(" .Entry "x" }}'`,
			lines: []string{"a1b22"},
			want:  []mkWant{{line: "a1b22", has: map[string]any{"out": "a<1>b<22>|a$1b$1"}, hasNot: []string{"bad", "badlit"}}},
		},
	})
}

func TestTemplateStageConfigErrors(t *testing.T) {
	mkConfigErrors(t, map[string]string{
		"- template: {template: x}":                             "template source value is required",
		"- template: {source: x, template: '{{ if }}'}":         "missing value for if",
		"- template: {source: x, template: '{{ nosuchfunc }}'}": "function \"nosuchfunc\" not defined",
	})
}

func TestTemplateRegexCacheIsBounded(t *testing.T) {
	var c templateRegexes
	for i := range maxCachedTemplateRegexes + 10 {
		if _, err := c.compile(fmt.Sprintf("p%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.cache) != maxCachedTemplateRegexes {
		t.Errorf("cache holds %d patterns, want %d", len(c.cache), maxCachedTemplateRegexes)
	}
	re1, _ := c.compile("p1")
	re2, _ := c.compile("p1")
	if re1 != re2 {
		t.Error("a cached pattern was compiled again")
	}
}
