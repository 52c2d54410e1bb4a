package osquery

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v2"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		body, want string
	}{
		{"{labels: [counter]}", `labels: "counter" cannot be a label`},
		{"{labels: [hostIdentifier]}", `labels: "hostIdentifier" cannot be a label`},
		{"{decorations: some}", `decorations: "some" is not all, none or a list`},
		{"{decorations: ['']}", "decorations: empty name"},
		{"{decorations: {a: b}}", `must be "all", "none" or a list of names`},
		{"{extract: everything}", `extract: "everything" is not all, none`},
		{"{decoration_prefix: 'osq-'}", "decoration_prefix"},
		{"{decoration_prefix: '1x'}", "decoration_prefix"},
		{"{column_prefix: '__'}", "column_prefix"},
		{"{columns: {'': [type]}}", "empty query name"},
		{"{columns: {last: ['  ']}}", "empty column name"},
		{"{structured_metadata: {'user-name': columns_username}}", `"user-name" is not a valid name`},
		{"{structured_metadata: {__user: columns_username}}", "reserved"},
		{"{timestamp: columns_}", "timestamp"},
		{"{timestamp: time}", `timestamp: "time" is not calendarTime`},
		{"{line: raw}", `line: "raw" is not event or columns`},
		{"{malformed: keep}", `malformed: "keep" is not pass or drop`},
		{"{glog_host: localhost}", `glog_host: "localhost" is not none or hostname`},
		{"{long_label_values: cut}", "long_label_values"},
		{"{max_label_value_length: 0}", "max_label_value_length"},
		{"{max_label_values: -1}", "max_label_values"},
		{"{split: maybe}", "split"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			var items []any
			if err := yaml.Unmarshal([]byte("- osquery: "+tt.body), &items); err != nil {
				t.Fatal(err)
			}
			_, err := stages.NewPipeline(items, stages.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	for _, body := range []string{"", "{}", "null"} {
		var items []any
		if err := yaml.Unmarshal([]byte("- osquery: "+body), &items); err != nil {
			t.Fatal(err)
		}
		p, err := stages.NewPipeline(items, stages.Options{})
		if err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		e := entryAt(event5, readTime)
		var got []stages.Entry
		p.Process(&e, func(e *stages.Entry) { got = append(got, e.Clone()) })
		checkEntry(t, only(t, got), ls("job", "osquery", "name", "pack_incident-response_last", "host", "web-01", "action", "added", "host_uuid", host1UUID, "hostname", "web-01"),
			time.Date(2025, 3, 3, 9, 5, 7, 0, time.UTC), event5)
	}
}

func TestSelectionRoundTrip(t *testing.T) {
	for _, in := range []string{"all\n", "none\n", "- a\n- b\n"} {
		var s Selection
		if err := yaml.Unmarshal([]byte(in), &s); err != nil {
			t.Fatal(err)
		}
		out, err := yaml.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != in {
			t.Errorf("%q came back as %q", in, out)
		}
	}
}
