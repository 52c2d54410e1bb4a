package stages

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestParseJSONObject(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]any
		bad  bool
	}{
		{in: `{}`, want: map[string]any{}},
		{in: ` null `, want: nil},
		{in: `{"a":1,"b":"x","c":true,"d":false,"e":null}`, want: map[string]any{"a": 1.0, "b": "x", "c": true, "d": false, "e": nil}},
		{in: `{"a":{"b":[1,"2",[]]}}`, want: map[string]any{"a": map[string]any{"b": []any{1.0, "2", []any{}}}}},
		{in: "{ \"a\" :\t1 ,\r\n\"b\": {} }", want: map[string]any{"a": 1.0, "b": map[string]any{}}},
		{in: `{"a":1,"a":2}`, want: map[string]any{"a": 2.0}},
		{in: `{"s":"q\" b\\ s\/ \b\f\n\r\t \u00e9 \ud83d\ude00"}`, want: map[string]any{"s": "q\" b\\ s/ \b\f\n\r\t é 😀"}},
		{in: `{"s":"\ud800x"}`, want: map[string]any{"s": "\ufffdx"}},
		{in: `{"s":"\ud800\n"}`, want: map[string]any{"s": "\ufffd\n"}},
		{in: `{"s":"\ud800\u0041"}`, want: map[string]any{"s": "\ufffdA"}},
		{in: "{\"s\":\"\xe2\x82\"}", want: map[string]any{"s": "\xe2\x82"}},
		{in: "{\"s\":\"\\n raw\ttab after escape\"}", want: map[string]any{"s": "\n raw\ttab after escape"}},
		{in: `{"n":[0,-0,1.5,-2.25,1e3,1E-2,0.000001,123456789012345678901234567890]}`, want: map[string]any{"n": []any{0.0, math.Copysign(0, -1), 1.5, -2.25, 1000.0, 0.01, 0.000001, 1.2345678901234568e29}}},
		{in: `{"n":-+1}`, want: map[string]any{"n": -1.0}},
		{in: `{null:1}`, want: map[string]any{"": 1.0}},
		{in: `{"o":{"a":1,null:2}}`, want: map[string]any{"o": map[string]any{"a": 1.0, "": 2.0}}},
		{in: ``, bad: true},
		{in: `   `, bad: true},
		{in: `[]`, bad: true},
		{in: `"text"`, bad: true},
		{in: `5`, bad: true},
		{in: `{"a":1} trailing`, bad: true},
		{in: `{"a":1}}`, bad: true},
		{in: `{"a":1,}`, bad: true},
		{in: `{"a" 1}`, bad: true},
		{in: `{"a":1 "b":2}`, bad: true},
		{in: `{'a':1}`, bad: true},
		{in: `{"o":{null:1}}`, bad: true},
		{in: `{"a":[1,]}`, bad: true},
		{in: `{"a":[1 2]}`, bad: true},
		{in: `{"a":tru}`, bad: true},
		{in: `{"a":fals}`, bad: true},
		{in: `{"a":nul}`, bad: true},
		{in: `nul`, bad: true},
		{in: `{"a":01}`, bad: true},
		{in: `{"a":1.}`, bad: true},
		{in: `{"a":1.e5}`, bad: true},
		{in: `{"a":.5}`, bad: true},
		{in: `{"a":-.5}`, bad: true},
		{in: `{"a":--1}`, bad: true},
		{in: `{"a":+1}`, bad: true},
		{in: `{"a":1e400}`, bad: true},
		{in: `{"a":1.2.3}`, bad: true},
		{in: `{"a":-}`, bad: true},
		{in: "{\"a\":\"raw\nnewline\"}", bad: true},
		{in: `{"a":"\x"}`, bad: true},
		{in: `{"a":"\u12"}`, bad: true},
		{in: `{"a":"\ud800\u12"}`, bad: true},
		{in: `{"a":"\`, bad: true},
		{in: `{"a":"unterminated`, bad: true},
		{in: `{"a":"x\`, bad: true},
		{in: `{"a":`, bad: true},
		{in: `{"a":[`, bad: true},
		{in: `{`, bad: true},
		{in: `{"a":@}`, bad: true},
	}
	for _, tt := range tests {
		got, err := parseJSONObject(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("parseJSONObject(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseJSONObject(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseJSONObject(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestParseJSONNegativeZero(t *testing.T) {
	m, err := parseJSONObject(`{"z":-0.0}`)
	if err != nil {
		t.Fatal(err)
	}
	if f := m["z"].(float64); f != 0 || !math.Signbit(f) {
		t.Errorf("-0.0 decoded as %v", f)
	}
}

func TestParseJSONDepthLimit(t *testing.T) {
	deep := `{"a":` + strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1) + `}`
	if _, err := parseJSONObject(deep); err == nil {
		t.Error("nesting beyond the limit must be refused")
	}
	ok := `{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	if _, err := parseJSONObject(ok); err != nil {
		t.Errorf("moderate nesting refused: %v", err)
	}
	deepObj := strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1)
	if _, err := parseJSONObject(deepObj); err == nil {
		t.Error("object nesting beyond the limit must be refused")
	}
}

func TestAppendJSON(t *testing.T) {
	tests := []struct {
		in   any
		want string
		bad  bool
	}{
		{in: nil, want: `null`},
		{in: true, want: `true`},
		{in: "a<b>&c\"\\\n\r\t\b\f\x01\x7f", want: `"a\u003cb\u003e\u0026c\"\\\n\r\t\u0008\u000c\u0001` + "\x7f" + `"`},
		{in: "bad \xff utf8 é", want: `"bad \ufffd utf8 é"`},
		{in: "sep \u2028 \u2029", want: `"sep \u2028 \u2029"`},
		{in: 100.0, want: `100`},
		{in: 1e-7, want: `1e-07`},
		{in: 0.000001, want: `0.000001`},
		{in: 1e20, want: `100000000000000000000`},
		{in: 1e21, want: `1e+21`},
		{in: math.Copysign(0, -1), want: `-0`},
		{in: map[string]any{"b": 1.0, "a": []any{"x", nil}}, want: `{"a":["x",null],"b":1}`},
		{in: []any{}, want: `[]`},
		{in: map[string]any{}, want: `{}`},
		{in: 3, want: `3`},
		{in: uint8(4), want: `4`},
		{in: float32(0.5), want: `0.5`},
		{in: []string{"a", "b"}, want: `["a","b"]`},
		{in: [2]bool{true, false}, want: `[true,false]`},
		{in: []int(nil), want: `null`},
		{in: map[string]int{"k": 1}, want: `{"k":1}`},
		{in: (*int)(nil), want: `null`},
		{in: new(string), want: `""`},
		{in: math.Inf(1), bad: true},
		{in: math.NaN(), bad: true},
		{in: []any{math.NaN()}, bad: true},
		{in: map[string]any{"x": math.Inf(-1)}, bad: true},
		{in: map[int]string{1: "x"}, bad: true},
		{in: make(chan int), bad: true},
		{in: []any{make(chan int)}, bad: true},
	}
	for _, tt := range tests {
		got, err := appendJSON(nil, tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("appendJSON(%#v) = %s, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("appendJSON(%#v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestStoreJSONValue(t *testing.T) {
	extracted := map[string]any{}
	var buf []byte
	storeJSONValue(extracted, "f", 1.5, &buf)
	storeJSONValue(extracted, "o", map[string]any{"k": "<v>"}, &buf)
	storeJSONValue(extracted, "a", []any{1.0}, &buf)
	storeJSONValue(extracted, "bad", []any{math.NaN()}, &buf)
	want := map[string]any{"f": 1.5, "o": `{"k":"\u003cv\u003e"}`, "a": "[1]"}
	if !reflect.DeepEqual(extracted, want) {
		t.Errorf("extracted = %#v, want %#v", extracted, want)
	}
}
