//go:build linux && cgo && promtail_journal_enabled

package journal

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
	"gopkg.in/yaml.v2"
)

func mustRelabel(t testing.TB, yamlRules string) []*relabel.Config {
	t.Helper()
	var rcs []*relabel.Config
	if err := yaml.UnmarshalStrict([]byte(yamlRules), &rcs); err != nil {
		t.Fatalf("relabel rules: %v", err)
	}
	for _, rc := range rcs {
		rc.NameValidationScheme = model.LegacyValidation
	}
	return rcs
}

func TestConvert(t *testing.T) {
	fields := map[string]string{
		"MESSAGE":       "Accepted publickey for root",
		"PRIORITY":      "6",
		"_SYSTEMD_UNIT": "ssh.service",
		"_HOSTNAME":     "web-1",
		"EMPTY":         "",
	}
	const usec = 1_700_000_000_123_456
	tests := []struct {
		name       string
		json       bool
		static     model.LabelSet
		rules      string
		fields     map[string]string
		wantOK     bool
		wantLine   string
		wantLabels model.LabelSet
		wantReason string
	}{{
		name:     "journal labels relabeled, internal ones dropped",
		static:   model.LabelSet{"job": "systemd-journal"},
		rules:    "[{source_labels: [__journal__systemd_unit], target_label: unit}, {source_labels: [__journal_priority_keyword], target_label: level}, {source_labels: [__journal_priority], target_label: priority}, {source_labels: [__journal_message], target_label: message}]",
		fields:   fields,
		wantOK:   true,
		wantLine: "Accepted publickey for root",
		wantLabels: model.LabelSet{
			"job": "systemd-journal", "unit": "ssh.service", "level": "info", "priority": "6",
			"message": "Accepted publickey for root",
		},
	}, {
		name:       "labelmap keeps every field, lowercased",
		rules:      `[{action: labelmap, regex: "__journal_(.*)", replacement: "j_${1}"}]`,
		fields:     fields,
		wantOK:     true,
		wantLine:   "Accepted publickey for root",
		wantLabels: model.LabelSet{"j_message": "Accepted publickey for root", "j_priority": "6", "j_priority_keyword": "info", "j__systemd_unit": "ssh.service", "j__hostname": "web-1"},
	}, {
		name:       "static labels override journal labels of the same name",
		static:     model.LabelSet{"__journal__hostname": "pinned", "job": "j"},
		rules:      "[{source_labels: [__journal__hostname], target_label: host}]",
		fields:     fields,
		wantOK:     true,
		wantLine:   "Accepted publickey for root",
		wantLabels: model.LabelSet{"job": "j", "host": "pinned"},
	}, {
		name:       "json line holds every field",
		json:       true,
		static:     model.LabelSet{"job": "j"},
		fields:     map[string]string{"MESSAGE": "a <b> & \"c\"\n", "_PID": "42"},
		wantOK:     true,
		wantLine:   `{"MESSAGE":"a \u003cb\u003e \u0026 \"c\"\n","_PID":"42"}`,
		wantLabels: model.LabelSet{"job": "j"},
	}, {
		name:       "json needs no MESSAGE",
		json:       true,
		static:     model.LabelSet{"job": "j"},
		fields:     map[string]string{"_PID": "42"},
		wantOK:     true,
		wantLine:   `{"_PID":"42"}`,
		wantLabels: model.LabelSet{"job": "j"},
	}, {
		name:       "no MESSAGE",
		static:     model.LabelSet{"job": "j"},
		fields:     map[string]string{"_PID": "42"},
		wantReason: reasonNoMessage,
	}, {
		name:       "no label left",
		fields:     fields,
		wantReason: reasonEmptyLabels,
	}, {
		name:   "dropped by relabeling",
		static: model.LabelSet{"job": "j"},
		rules:  "[{source_labels: [__journal__systemd_unit], regex: ssh.service, action: drop}]",
		fields: fields,
	}, {
		name:       "unknown priority is kept as it is",
		static:     model.LabelSet{"job": "j"},
		rules:      "[{source_labels: [__journal_priority_keyword], target_label: level}]",
		fields:     map[string]string{"MESSAGE": "m", "PRIORITY": "9"},
		wantOK:     true,
		wantLine:   "m",
		wantLabels: model.LabelSet{"job": "j", "level": "9"},
	}, {
		name:       "fields differing only in case share a label",
		static:     model.LabelSet{"job": "j"},
		rules:      "[{source_labels: [__journal_unit], target_label: unit}]",
		fields:     map[string]string{"MESSAGE": "m", "UNIT": "a", "unit": "a"},
		wantOK:     true,
		wantLine:   "m",
		wantLabels: model.LabelSet{"job": "j", "unit": "a"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics(nil)
			var rcs []*relabel.Config
			if tc.rules != "" {
				rcs = mustRelabel(t, tc.rules)
			}
			c := newConverter(m, tc.json, tc.static, rcs)
			e, ok := c.convert(tc.fields, usec)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v (entry %+v)", ok, tc.wantOK, e)
			}
			lines := testutil.ToFloat64(m.lines)
			if !ok {
				if lines != 0 {
					t.Errorf("lines counted %v for a skipped entry", lines)
				}
				for _, reason := range []string{reasonNoMessage, reasonEmptyLabels} {
					want := 0.0
					if reason == tc.wantReason {
						want = 1
					}
					if got := testutil.ToFloat64(m.errors.WithLabelValues(reason)); got != want {
						t.Errorf("errors{%s} = %v, want %v", reason, got, want)
					}
				}
				return
			}
			if lines != 1 {
				t.Errorf("lines = %v, want 1", lines)
			}
			if e.Line != tc.wantLine {
				t.Errorf("line = %q\nwant   %q", e.Line, tc.wantLine)
			}
			if !e.Labels.Equal(tc.wantLabels) {
				t.Errorf("labels = %v\nwant     %v", e.Labels, tc.wantLabels)
			}
			if want := time.UnixMicro(usec); !e.Timestamp.Equal(want) {
				t.Errorf("timestamp = %v, want %v", e.Timestamp, want)
			}
		})
	}
}

// The converter reuses its buffers: an entry must not change when the next
// one is converted.
func TestConvertEntriesDoNotShareMemory(t *testing.T) {
	c := newConverter(NewMetrics(nil), true, model.LabelSet{"job": "j"}, nil)
	first, _ := c.convert(map[string]string{"MESSAGE": "first"}, 1)
	second, _ := c.convert(map[string]string{"MESSAGE": "second entry, longer"}, 2)
	if first.Line != `{"MESSAGE":"first"}` || second.Line != `{"MESSAGE":"second entry, longer"}` {
		t.Fatalf("lines %q, %q", first.Line, second.Line)
	}
	first.Labels["job"] = "changed"
	if second.Labels["job"] != "j" {
		t.Fatal("entries share their label set")
	}
}

func TestPriorityName(t *testing.T) {
	want := map[string]string{
		"0": "emerg", "1": "alert", "2": "crit", "3": "error", "4": "warning", "5": "notice", "6": "info", "7": "debug",
		"8": "8", "": "", "10": "10", "x": "x",
	}
	for in, out := range want {
		if got := priorityName(in); got != out {
			t.Errorf("priorityName(%q) = %q, want %q", in, got, out)
		}
	}
}

func TestLabelNameCacheIsBounded(t *testing.T) {
	c := newConverter(NewMetrics(nil), false, nil, nil)
	for i := range maxCachedNames + 10 {
		name := c.labelName("F" + strings.Repeat("X", i%7) + string(rune('A'+i%26)) + strings.Repeat("Y", i/26))
		if !strings.HasPrefix(name, "__journal_f") {
			t.Fatalf("label name %q", name)
		}
	}
	if len(c.names) != maxCachedNames {
		t.Fatalf("cache holds %d names, want %d", len(c.names), maxCachedNames)
	}
}

func TestEncodeJSON(t *testing.T) {
	fields := map[string]string{"MESSAGE": "m <1>", "_PID": "1", "A": "\xff", "CODE_FILE": "a/b.c"}
	want := `{"A":"\ufffd","CODE_FILE":"a/b.c","MESSAGE":"m \u003c1\u003e","_PID":"1"}`
	if got := encodeJSON(fields); got != want {
		t.Fatalf("encodeJSON = %s, want %s", got, want)
	}
}

func TestParseMatches(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "_SYSTEMD_UNIT=ssh.service", want: []string{"_SYSTEMD_UNIT=ssh.service"}},
		{in: "  _SYSTEMD_UNIT=ssh.service\tPRIORITY=3  ", want: []string{"_SYSTEMD_UNIT=ssh.service", "PRIORITY=3"}},
		{in: "MESSAGE=a=b", want: []string{"MESSAGE=a=b"}},
		{in: "PRIORITY=", want: []string{"PRIORITY="}},
		{in: "PRIORITY", wantErr: `journal.matches: "PRIORITY" is not FIELD=value`},
		{in: "=3", wantErr: `journal.matches: "=3": a field name is`},
		{in: "priority=3", wantErr: `journal.matches: "priority=3": a field name is`},
		{in: "__CURSOR=x", wantErr: `journal.matches: "__CURSOR=x": a field name is`},
		{in: "UNIT-NAME=x", wantErr: `journal.matches: "UNIT-NAME=x": a field name is`},
	}
	for _, tc := range tests {
		got, err := parseMatches(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("parseMatches(%q) error = %v, want %q...", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("parseMatches(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseMaxAge(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "", want: 7 * time.Hour},
		{in: "12h", want: 12 * time.Hour},
		{in: "0s", want: 0},
		{in: "-1h", wantErr: "journal.max_age: -1h is negative"},
		{in: "1d", wantErr: `journal.max_age: time: unknown unit "d" in duration "1d"`},
	}
	for _, tc := range tests {
		got, err := parseMaxAge(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("parseMaxAge(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseMaxAge(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestCursorLog(t *testing.T) {
	var l cursorLog
	if _, ok := l.take(1); ok {
		t.Fatal("empty log returned a cursor")
	}
	l.push(1, "a")
	l.push(2, "b")
	l.push(3, "c")
	if c, ok := l.take(2); !ok || c != "b" {
		t.Fatalf("take(2) = %q, %v; want b", c, ok)
	}
	if c, ok := l.take(2); ok {
		t.Fatalf("take(2) again = %q", c)
	}
	l.push(4, "d")
	if c, ok := l.take(4); !ok || c != "d" || len(l.items) != 0 {
		t.Fatalf("take(4) = %q, %v, %d left; want d and none left", c, ok, len(l.items))
	}
}
