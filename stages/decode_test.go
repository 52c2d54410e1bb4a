package stages

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v2"
)

type decodeStrict struct {
	Name         string            `yaml:"name"`
	Ptr          *string           `yaml:"ptr"`
	Count        int               `yaml:"count"`
	Small        int8              `yaml:"small"`
	Size         uint              `yaml:"size"`
	Rate         float64           `yaml:"rate"`
	On           bool              `yaml:"enabled"`
	List         []string          `yaml:"list"`
	Map          map[string]string `yaml:"map"`
	Any          any               `yaml:"any"`
	Wait         time.Duration     `yaml:"wait"`
	Custom       upperText         `yaml:"custom"`
	Ordered      yaml.MapSlice     `yaml:"ordered"`
	Skipped      string            `yaml:"-"`
	Untagged     string
	decodeInline `yaml:",inline"`
}

type decodeInline struct {
	Inner string `yaml:"inner"`
}

type decodeWeak struct {
	decodeStrict `yaml:",inline"`
}

func (*decodeWeak) weaklyTyped() {}

// upperText decodes itself, to check that yaml.Unmarshaler types are honoured.
type upperText string

func (u *upperText) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	*u = upperText(strings.ToUpper(s))
	return nil
}

func decodeYAML(t *testing.T, body string, cfg any) ([]string, error) {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("test YAML: %v", err)
	}
	return decodeBody(v, cfg)
}

func TestDecodeBodyStrict(t *testing.T) {
	hello := "hello"
	tests := []struct {
		body    string
		want    decodeStrict
		wantErr string
	}{
		{body: "", want: decodeStrict{}},
		{body: "name: a\nptr: hello", want: decodeStrict{Name: "a", Ptr: &hello}},
		{body: "ptr: null", want: decodeStrict{}},
		{body: "NAME: upper-case key", want: decodeStrict{Name: "upper-case key"}},
		{body: "count: 2.9", want: decodeStrict{Count: 2}},
		{body: "size: 3\nrate: 2", want: decodeStrict{Size: 3, Rate: 2}},
		{body: "enabled: yes", want: decodeStrict{On: true}},
		{body: "list: [a, b]", want: decodeStrict{List: []string{"a", "b"}}},
		{body: "map: {a: x, b: }", want: decodeStrict{Map: map[string]string{"a": "x", "b": ""}}},
		{body: "map: {}", want: decodeStrict{Map: map[string]string{}}},
		{body: "any: [1, x]", want: decodeStrict{Any: []any{1, "x"}}},
		{body: "wait: 1500ms", want: decodeStrict{Wait: 1500 * time.Millisecond}},
		{body: "wait: 5", want: decodeStrict{Wait: 5}},
		{body: "custom: shout", want: decodeStrict{Custom: "SHOUT"}},
		{body: "ordered: {b: 1, a: 2}", want: decodeStrict{Ordered: yaml.MapSlice{{Key: "a", Value: 2}, {Key: "b", Value: 1}}}}, // a decoded body is a Go map: keys come sorted
		{body: "untagged: u\ninner: i", want: decodeStrict{Untagged: "u", decodeInline: decodeInline{Inner: "i"}}},
		{body: "name: 3", wantErr: "'name' expected type 'string', got unconvertible type 'int', value: '3'"},
		{body: "map: {y: 1}", wantErr: "'map[true]' expected type 'string', got unconvertible type 'bool'"},
		{body: "map: {a: 1}", wantErr: "'map[a]' expected type 'string'"},
		{body: "map: [a]", wantErr: "'map' expected a map, got 'slice'"},
		{body: "count: \"5\"", wantErr: "'count' expected type 'int'"},
		{body: "small: 300", wantErr: "overflows int8"},
		{body: "size: -1", wantErr: "overflows uint"},
		{body: "size: -1.5", wantErr: "overflows uint"},
		{body: "rate: fast", wantErr: "'rate' expected type 'float64'"},
		{body: "enabled: \"true\"", wantErr: "'enabled' expected type 'bool'"},
		{body: "list: a", wantErr: "source data must be an array or slice"},
		{body: "list: [[a]]", wantErr: "'list[0]' expected type 'string'"},
		{body: "wait: soon", wantErr: "'wait': time: invalid duration"},
		{body: "custom: [x]", wantErr: "'custom'"},
		{body: "ordered: x", wantErr: "'ordered' expected a map"},
		{body: "just text", wantErr: "'' expected a map, got 'string'"},
	}
	for _, tt := range tests {
		var got decodeStrict
		_, err := decodeYAML(t, tt.body, &got)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want one containing %q", tt.body, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: unexpected error %v", tt.body, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %+v, want %+v", tt.body, got, tt.want)
		}
	}
}

func TestDecodeBodyWeak(t *testing.T) {
	tests := []struct {
		body    string
		check   func(decodeWeak) bool
		wantErr string
	}{
		{body: "name: 3", check: func(c decodeWeak) bool { return c.Name == "3" }},
		{body: "name: 1.5", check: func(c decodeWeak) bool { return c.Name == "1.5" }},
		{body: "name: true", check: func(c decodeWeak) bool { return c.Name == "1" }},
		{body: "name: false", check: func(c decodeWeak) bool { return c.Name == "0" }},
		{body: "count: \"5\"", check: func(c decodeWeak) bool { return c.Count == 5 }},
		{body: "count: \"0x10\"", check: func(c decodeWeak) bool { return c.Count == 16 }},
		{body: "count: \"\"", check: func(c decodeWeak) bool { return c.Count == 0 }},
		{body: "count: true", check: func(c decodeWeak) bool { return c.Count == 1 }},
		{body: "size: \"7\"", check: func(c decodeWeak) bool { return c.Size == 7 }},
		{body: "size: true", check: func(c decodeWeak) bool { return c.Size == 1 }},
		{body: "size: -1", check: func(c decodeWeak) bool { return c.Size == ^uint(0) }},
		{body: "rate: \"0.5\"", check: func(c decodeWeak) bool { return c.Rate == 0.5 }},
		{body: "rate: true", check: func(c decodeWeak) bool { return c.Rate == 1 }},
		{body: "enabled: \"false\"", check: func(c decodeWeak) bool { return !c.On }},
		{body: "enabled: \"\"", check: func(c decodeWeak) bool { return !c.On }},
		{body: "enabled: 2", check: func(c decodeWeak) bool { return c.On }},
		{body: "enabled: 0.0", check: func(c decodeWeak) bool { return !c.On }},
		{body: "list: single", check: func(c decodeWeak) bool { return slices.Equal(c.List, []string{"single"}) }},
		{body: "list: {}", check: func(c decodeWeak) bool { return c.List != nil && len(c.List) == 0 }},
		{body: "map: []", check: func(c decodeWeak) bool { return c.Map != nil && len(c.Map) == 0 }},
		{body: "map: {1: 2}", check: func(c decodeWeak) bool { return c.Map["1"] == "2" }},
		{body: "count: many", wantErr: "cannot parse 'count' as int"},
		{body: "size: many", wantErr: "cannot parse 'size' as uint"},
		{body: "rate: many", wantErr: "cannot parse 'rate' as float"},
		{body: "enabled: maybe", wantErr: "cannot parse 'enabled' as bool"},
		{body: "name: [a]", wantErr: "'name' expected type 'string'"},
		{body: "enabled: [a]", wantErr: "'enabled' expected type 'bool'"},
	}
	for _, tt := range tests {
		var got decodeWeak
		_, err := decodeYAML(t, tt.body, &got)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want one containing %q", tt.body, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !tt.check(got) {
			t.Errorf("%q: got %+v, error %v", tt.body, got, err)
		}
	}
}

func TestDecodeBodyReportsUnusedKeys(t *testing.T) {
	var cfg decodeStrict
	unused, err := decodeYAML(t, "name: a\nnmae: typo\n1: numeric key", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(unused)
	if want := []string{"1", "nmae"}; !slices.Equal(unused, want) {
		t.Errorf("unused = %q, want %q", unused, want)
	}
}

func TestDecodeBodyPrefersExactKey(t *testing.T) {
	var cfg decodeStrict
	if _, err := decodeYAML(t, "Name: folded\nname: exact", &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "exact" {
		t.Errorf("Name = %q, want the exactly matching key's value", cfg.Name)
	}
}

func TestDecodeBodyKeepsPointerDefault(t *testing.T) {
	def := "default"
	cfg := decodeStrict{Ptr: &def}
	if _, err := decodeYAML(t, "name: x", &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Ptr == nil || *cfg.Ptr != "default" {
		t.Errorf("a key that is absent must leave the field alone, got %v", cfg.Ptr)
	}
}

func TestDecodeBodyUnsupportedField(t *testing.T) {
	var cfg struct {
		Ch chan int `yaml:"ch"`
	}
	if _, err := decodeYAML(t, "ch: 1", &cfg); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("error = %v, want unsupported field type", err)
	}
}

func TestDecodeBodyFromGoMap(t *testing.T) {
	var cfg decodeStrict
	body := map[string]any{"name": "n", "list": []string{"a"}}
	if _, err := decodeBody(body, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "n" || !slices.Equal(cfg.List, []string{"a"}) {
		t.Errorf("got %+v", cfg)
	}
}
