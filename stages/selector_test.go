package stages

import (
	"strings"
	"testing"

	"github.com/prometheus/common/model"
)

func TestParseSelectorMatches(t *testing.T) {
	tests := []struct {
		name     string
		selector string
		labels   model.LabelSet
		line     string
		want     bool
	}{
		{"equal", `{app="api"}`, model.LabelSet{"app": "api"}, "", true},
		{"equal, other value", `{app="api"}`, model.LabelSet{"app": "web"}, "", false},
		{"missing label is empty", `{app=""}`, model.LabelSet{}, "", true},
		{"not equal", `{app!="api"}`, model.LabelSet{"app": "web"}, "", true},
		{"regex is anchored", `{level=~"debug|trace"}`, model.LabelSet{"level": "debugger"}, "", false},
		{"regex", `{level=~"debug|trace"}`, model.LabelSet{"level": "trace"}, "", true},
		{"not regex", `{level!~"debug.*"}`, model.LabelSet{"level": "debugger"}, "", false},
		{"several matchers", `{a="1", b!="2" , c=~".+"}`, model.LabelSet{"a": "1", "b": "3", "c": "x"}, "", true},
		{"several matchers, one fails", `{a="1",b!="2"}`, model.LabelSet{"a": "1", "b": "2"}, "", false},
		{"contains", `{a="1"} |= "err"`, model.LabelSet{"a": "1"}, "an error", true},
		{"not contains", `{a="1"} != "err"`, model.LabelSet{"a": "1"}, "an error", false},
		{"line regex is not anchored", `{a="1"} |~ "code=5\\d\\d"`, model.LabelSet{"a": "1"}, "x code=503 y", true},
		{"not line regex", `{a="1"} !~ "(?i)ignored"`, model.LabelSet{"a": "1"}, "IGNORED", false},
		{"chained filters", `{a="1"} |= "error" != "timeout" |~ "code=5\\d\\d" !~ "(?i)ignored"`, model.LabelSet{"a": "1"}, "error code=500 upstream", true},
		{"chained filters, one fails", `{a="1"} |= "error" != "timeout"`, model.LabelSet{"a": "1"}, "error timeout", false},
		{"escapes in strings", `{a="x\"y\\z\n"}`, model.LabelSet{"a": "x\"y\\z\n"}, "", true},
		{"unicode", `{a="é"} |= "ü"`, model.LabelSet{"a": "é"}, "über ü", true},
		{"newlines between tokens", "{a=\"1\",\n b=\"2\"}\n|= \"x\"", model.LabelSet{"a": "1", "b": "2"}, "x", true},
		{"same label twice", `{a=~"1.*", a!="12"}`, model.LabelSet{"a": "12"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := parseSelector(tt.selector)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := sel.matches(tt.labels, tt.line); got != tt.want {
				t.Fatalf("matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseSelectorErrors(t *testing.T) {
	tests := []struct {
		selector, want string
	}{
		{``, "parse error at line 1, col 1: syntax error: unexpected end of input, expecting {"},
		{`app="x"`, "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER, expecting {"},
		{`{}`, "parse error at line 1, col 2: syntax error: unexpected }, expecting IDENTIFIER"},
		{"{app=\"x\"} |= `error`", "parse error at line 1, col 14: syntax error: unexpected `raw string`"},
		{`{app="x"`, "parse error at line 1, col 9: syntax error: unexpected end of input, expecting , or }"},
		{`{app="x",}`, "col 10: syntax error: unexpected }, expecting IDENTIFIER"},
		{`{app "x"}`, "col 6: syntax error: unexpected STRING, expecting =, !=, =~ or !~"},
		{`{app=x}`, "col 6: syntax error: unexpected IDENTIFIER, expecting STRING"},
		{`{app="x}`, "col 6: syntax error: unterminated string"},
		{`{app="\q"}`, `col 6: syntax error: invalid string "\q"`},
		{"{app=\"a\nb\"}", "col 6: syntax error: newline in string"},
		{`{app="x"} | json`, "col 11: syntax error: unexpected character '|'"},
		{`{app="x"} = "y"`, "col 11: syntax error: unexpected =, expecting |=, !=, |~, !~ or end of input"},
		{`{app="x"} |=`, "col 13: syntax error: unexpected end of input, expecting STRING"},
		{"{a=\"1\",\n  b=}", "parse error at line 2, col 5: syntax error: unexpected }, expecting STRING"},
		{`{é="x"}`, "col 2: syntax error: unexpected character 'é'"},
		{`{app="x"} @`, "col 11: syntax error: unexpected character '@'"},
		{`{app=~"(bad"}`, "col 7: invalid regex in label matcher app"},
		{`{app="x"} |~ "(bad"`, "col 14: invalid regex in line filter |~: error parsing regexp: missing closing ): `(bad`"},
		{`{app="x"} !~ "a**"`, "col 14: invalid regex in line filter !~"},
	}
	for _, tt := range tests {
		t.Run(tt.selector, func(t *testing.T) {
			_, err := parseSelector(tt.selector)
			stErrContains(t, err, tt.want)
		})
	}
}

func FuzzParseSelector(f *testing.F) {
	for _, seed := range []string{
		`{app="x"}`,
		`{a="1", b!="2", c=~"x.*", d!~"y|z"} |= "a" != "b" |~ "c+" !~ "d?"`,
		"{app=\"x\"} |= `error`",
		`{}`,
		`{a="\u00e9\x41\n"}`,
		"{a=\"1\",\n b=\"2\"}",
		`{a=~"(bad"}`,
		`{a="x"} |~ "(bad"`,
		`{a="x`,
		`{a="x\`,
		"\xff{",
	} {
		f.Add(seed)
	}
	labels := model.LabelSet{"a": "1", "app": "x", "b": "2"}
	f.Fuzz(func(t *testing.T, input string) {
		sel, err := parseSelector(input)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "parse error at line ") {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		if len(sel.matchers) == 0 {
			t.Fatalf("selector %q parsed without a label matcher", input)
		}
		sel.matches(labels, input)
	})
}
