package jsonscan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func valid(text string, maxDepth int) bool {
	s := Scanner{B: []byte(text), MaxDepth: maxDepth}
	s.WS()
	return s.Value() == nil && s.AtEnd()
}

var docs = []string{
	`{}`, `[]`, ` {"a" : [1, -2.5e+3, 0, true, false, null, "x\u00e9\n\"", {}]} `,
	`"\ud800"`, "\"\xff\"", `0.5`, `-0`, `1E9`,
	`{"a":1,}`, `[1,]`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `NaN`, `tru`, `nul`,
	`"a` + "\x01" + `"`, `"\q"`, `"\u12g4"`, `"abc`, `{"a" 1}`, `{a:1}`, `[1 2]`, `{} {}`, ``, `"\`,
}

// The scanner accepts exactly what encoding/json accepts.
func TestAgreesWithEncodingJSON(t *testing.T) {
	for _, d := range docs {
		if got, want := valid(d, 100), json.Valid([]byte(d)); got != want {
			t.Errorf("%q: scanner %v, encoding/json %v", d, got, want)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	s := Scanner{B: []byte(strings.Repeat("[", 3) + strings.Repeat("]", 3)), MaxDepth: 2}
	if err := s.Value(); !errors.Is(err, ErrTooDeep) || !errors.Is(err, ErrSyntax) {
		t.Fatalf("3 levels with MaxDepth 2: %v", err)
	}
	if !valid(strings.Repeat("[", 2)+strings.Repeat("]", 2), 2) {
		t.Fatal("2 levels with MaxDepth 2 refused")
	}
}

func TestObjectKeysAndSpaced(t *testing.T) {
	s := Scanner{B: []byte(`{"a":1, "b\"c":[2]}`), MaxDepth: 10}
	var keys []string
	err := s.Object(func(key []byte) error {
		keys = append(keys, string(key))
		return s.Value()
	})
	if err != nil || strings.Join(keys, " ") != `"a" "b\"c"` || !s.Spaced {
		t.Fatalf("keys %q, spaced %v, err %v", keys, s.Spaced, err)
	}
}

// Run with: go test -fuzz FuzzAgreesWithEncodingJSON ./internal/jsonscan/
func FuzzAgreesWithEncodingJSON(f *testing.F) {
	for _, d := range docs {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d string) {
		if got, want := valid(d, 10000), json.Valid([]byte(d)); got != want {
			t.Fatalf("%q: scanner %v, encoding/json %v", d, got, want)
		}
	})
}
