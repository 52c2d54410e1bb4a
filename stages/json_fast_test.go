package stages

import (
	"bufio"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseJMESFieldPath(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{"name", []string{"name"}},
		{"_a1", []string{"_a1"}},
		{"decorations.host_uuid", []string{"decorations", "host_uuid"}},
		{`"a.b"`, []string{"a.b"}},
		{`a."b c".d`, []string{"a", "b c", "d"}},
		{"", nil},
		{"1a", nil},
		{"a.", nil},
		{".a", nil},
		{"a..b", nil},
		{"a .b", nil},
		{"a[0]", nil},
		{"a.*", nil},
		{"length(a)", nil},
		{"a || b", nil},
		{`""`, nil},
		{`"a`, nil},
		{`"a\"b"`, nil},
		{`"a"b`, nil},
		{"`lit`", nil},
	}
	for _, tt := range tests {
		got, ok := parseJMESFieldPath(tt.expr)
		if ok != (tt.want != nil) || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseJMESFieldPath(%q) = %q, %v; want %q", tt.expr, got, ok, tt.want)
		}
	}
}

func TestJSONFieldPathsChosenOnlyForPlainPaths(t *testing.T) {
	tests := []struct {
		exprs map[string]string
		fast  bool
	}{
		{map[string]string{"name": "", "host": "hostIdentifier", "u": "decorations.host_uuid"}, true},
		{map[string]string{"ab": `"a.b"`}, true},
		{map[string]string{"name": "", "first": "items[0]"}, false},
		{map[string]string{"n": "length(items)"}, false},
	}
	for _, tt := range tests {
		st, err := (&JSONConfig{Expressions: tt.exprs}).NewStage(Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := st.(*jsonStage).fields != nil; got != tt.fast {
			t.Errorf("%v: fast path %v, want %v", tt.exprs, got, tt.fast)
		}
	}
}

// trickyJSONDocuments exercise the parser rules the field walker must share
// with parseJSONObject.
var trickyJSONDocuments = []string{
	`{"name":"n","hostIdentifier":"h","action":"added","decorations":{"host_uuid":"u"}}`,
	`{"name":{"b":[1,2,{"c":null}],"a":"x"},"decorations":[1,2]}`,
	`{"name":[],"action":{},"decorations":{}}`,
	`{"name":"esc \" \\ \/ \b\f\n\r\t <>&","action":"\u00e9\u2028\ud83d\ude00"}`,
	`{"name":"lone \ud800 surrogate","action":"\ud800\n","hostIdentifier":"\udc00\ud800x"}`,
	`{"name":"\ud800\ud800\ud800\ud800\ud800\ud800\ud800","skip":"\ud800\ud800\ud800\ud800\ud800\ud800\\x"}`,
	`{"skip":"bad \x escape","name":"n"}`,
	`{"skip":"bad \u12g4","name":"n"}`,
	`{"name":1e-07,"action":12345678901234567890,"hostIdentifier":-0.5,"x":1.0e400}`,
	`{"name":1e-07,"action":12345678901234567890,"hostIdentifier":-0.5}`,
	`{"name":0.1234567,"action":1.5E+3,"hostIdentifier":-0,"calendarTime":123456789012345678901234567890}`,
	`{"name":01}`,
	`{"name":1.}`,
	`{"name":.5}`,
	`{"name":-}`,
	`{"name":"a","name":"b"}`,
	`{"decorations":{"host_uuid":"first"},"decorations":{"other":1}}`,
	`{"decorations":{"host_uuid":"first"},"decorations":"flat"}`,
	`{"decorations":{"host_uuid":"a","host_uuid":"b"}}`,
	`{"name":null,"action":true,"hostIdentifier":false}`,
	`{"other":1}`,
	`{}`,
	`null`,
	` null `,
	`nul`,
	`[]`,
	`[{"name":"x"}]`,
	`"name"`,
	`12`,
	`true`,
	``,
	`   `,
	`{"name":"x"`,
	`{"name":"x",}`,
	`{"name" "x"}`,
	`{"name":"x"} trailing`,
	`{"name":"x"}{}`,
	`{"name":"x"}` + "\x00garbage",
	`{name:"x"}`,
	`{null:"x","name":"y"}`,
	`{"name":"y",null:"x"}`,
	`{"decorations":{null:"x"},"name":"y"}`,
	`{"decorations":{"a":1,null:"x"},"name":"y"}`,
	`{"skip":{null:"x"},"name":"y"}`,
	`{"skip":{"a":1,null:"x"},"name":"y"}`,
	`{"name":{"a":1,null:"x"}}`,
	"{\"name\":\"raw\tcontrol\"}",
	"{\"name\":\"\\n then raw\tcontrol\"}",
	"{\"skip\":\"raw\tcontrol\",\"name\":1}",
	"{\"skip\":\"\\n then raw\tcontrol\",\"name\":1}",
	"{\"name\":\"bad utf8 \xff\xfe\",\"action\":{\"k\xff\":\"v\xc3\"}}",
	"{\"na\xffme\":1,\"name\":\"\xed\xa0\x80\"}",
	`{"na\u006de":"escaped key","decorations":{"host\u005fuuid":"u"}}`,
	`{"a.b":"dotted","a":{"b":"nested"}}`,
	`{"a":{"b":{"c":[1,{"d":2}]}},"a":{"b":"string"}}`,
	"\t\r\n{ \"name\" : \"spaced\" , \"decorations\" : { \"host_uuid\" : 1 } }\n",
	`{"skip":[1,[2,[3,{"x":[]}]],"s",true,false,null],"name":"after"}`,
	`{"skip":[1,2,],"name":"after"}`,
	`{"skip":tru,"name":"after"}`,
	`{"name":"x","decorations":{"host_uuid":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}}`,
	`{"skip":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `,"name":"x"}`,
	`{"skip":` + strings.Repeat(`{"a":`, 9000) + `1` + strings.Repeat("}", 9000) + `,"name":"x"}`,
}

// fieldPathConfigs cover single keys, nesting, a path that is also the
// prefix of another, and quoted identifiers.
var fieldPathConfigs = []map[string]string{
	{"name": "", "host": "hostIdentifier", "calendarTime": "", "action": "", "host_uuid": "decorations.host_uuid"},
	{"level": "", "msg": "", "status": "", "user": "ctx.user", "stream": "", "log": "", "time": ""},
	{"decorations": "", "host_uuid": "decorations.host_uuid", "deep": "a.b.c", "ab": "a.b", "missing": "no.such.key"},
	{"dotted": `"a.b"`, "nested": `a."b"`, "quoted_name": `"name"`, "skip": "skip"},
}

func jsonDifferentialInputs(t *testing.T) []string {
	t.Helper()
	inputs := append([]string(nil), trickyJSONDocuments...)
	files, err := filepath.Glob(filepath.Join(compatStagesDir, "*", "input.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("compat corpus inputs not found under %s: %v", compatStagesDir, err)
	}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			inputs = append(inputs, sc.Text())
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	return inputs
}

type jsonRunResult struct {
	passed    bool
	extracted map[string]any
}

func runJSONStage(st *jsonStage, line string) jsonRunResult {
	e := &Entry{Line: line, Extracted: map[string]any{"pre": "kept", "name": "overwritten?"}}
	var r jsonRunResult
	st.Process(e, func(*Entry) { r.passed = true })
	r.extracted = e.Extracted
	return r
}

func TestJSONFieldPathsMatchJMESPath(t *testing.T) {
	inputs := jsonDifferentialInputs(t)
	for _, exprs := range fieldPathConfigs {
		for _, drop := range []bool{false, true} {
			st, err := (&JSONConfig{Expressions: exprs, DropMalformed: drop}).NewStage(Options{})
			if err != nil {
				t.Fatal(err)
			}
			fast := st.(*jsonStage)
			if fast.fields == nil {
				t.Fatalf("%v: fast path not chosen", exprs)
			}
			slow := *fast
			slow.fields = nil
			for _, line := range inputs {
				_, slowErr := parseJSONObject(line)
				if accepted := fast.fields.extract(line); accepted != (slowErr == nil) {
					t.Errorf("line %.200q: field walker accepts %v, parser error %v", line, accepted, slowErr)
				}
				got, want := runJSONStage(fast, line), runJSONStage(&slow, line)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("exprs %v drop %v line %.200q:\n fast %v %#v\n slow %v %#v",
						exprs, drop, line, got.passed, got.extracted, want.passed, want.extracted)
				}
			}
		}
	}
}

func TestJSONFieldPathsFromSource(t *testing.T) {
	src := "body"
	st, err := (&JSONConfig{Expressions: map[string]string{"u": "decorations.host_uuid"}, Source: &src}).NewStage(Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &Entry{Line: "not json", Extracted: map[string]any{"body": `{"decorations":{"host_uuid":"x"}}`}}
	passed := false
	st.Process(e, func(*Entry) { passed = true })
	if !passed || e.Extracted["u"] != "x" {
		t.Fatalf("passed %v, extracted %v", passed, e.Extracted)
	}
}

// FuzzJSONFieldPaths checks the field walker against the general path on
// arbitrary lines: go test -run '^$' -fuzz FuzzJSONFieldPaths ./stages/
func FuzzJSONFieldPaths(f *testing.F) {
	for _, doc := range trickyJSONDocuments {
		f.Add(doc)
	}
	var fast, slow []*jsonStage
	for _, exprs := range fieldPathConfigs {
		st, err := (&JSONConfig{Expressions: exprs}).NewStage(Options{})
		if err != nil {
			f.Fatal(err)
		}
		s := *st.(*jsonStage)
		s.fields = nil
		fast, slow = append(fast, st.(*jsonStage)), append(slow, &s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		for i := range fast {
			got, want := runJSONStage(fast[i], line), runJSONStage(slow[i], line)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("line %q:\n fast %v %#v\n slow %v %#v", line, got.passed, got.extracted, want.passed, want.extracted)
			}
		}
	})
}
