package osquery

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v2"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// The pipeline a Promtail user writes for osquery results today, and the
// osquery stage configured to do the same thing.
const (
	promtailPipeline = `
- json:
    expressions:
      name:
      host: hostIdentifier
      calendarTime:
      action:
- timestamp:
    source: calendarTime
    format: "Mon Jan _2 15:04:05 2006 MST"
- labels:
    name:
    host:
    action:
`
	osqueryPipeline = `
- osquery:
    labels: [name, host, action]
    decorations: none
`
)

// TestSameEntriesAsPromtailPipeline proves that on event-format lines the
// osquery stage gives the entries (labels, timestamp, line) that json +
// timestamp + labels give, so an existing Promtail setup can switch without
// its streams changing.
func TestSameEntriesAsPromtailPipeline(t *testing.T) {
	data, err := os.ReadFile("testdata/bench-events.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	lines = append(lines, event5, event2, eventKinesis, eventNumerics, eventTopLevel, snapshotEvent,
		// From the shared Promtail compatibility corpus's osquery case.
		`{"name":"pack_process_events","hostIdentifier":"db-07","calendarTime":"Tue Dec  1 09:08:07 2026 UTC","unixTime":1796029687,"epoch":0,"counter":12,"numerics":false,"columns":{"pid":"4242","path":"/usr/bin/curl"},"action":"added"}`,
		`{"name":"pack_logged_in_users","hostIdentifier":"db-07","calendarTime":"Mon Nov 30 23:59:59 2026 UTC","unixTime":1796083199,"epoch":0,"counter":13,"numerics":false,"columns":{"user":"root"},"action":"removed"}`,
	)
	want := runPipeline(t, promtailPipeline, lines)
	got := runPipeline(t, osqueryPipeline, lines)
	if len(got) != len(want) {
		t.Fatalf("osquery stage gave %d entries, json+timestamp+labels %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Labels.Equal(want[i].Labels) || !got[i].Timestamp.Equal(want[i].Timestamp) || got[i].Line != want[i].Line {
			t.Errorf("line %d:\nosquery stage: %v %v %s\npromtail:      %v %v %s", i+1,
				got[i].Labels, got[i].Timestamp, got[i].Line, want[i].Labels, want[i].Timestamp, want[i].Line)
		}
	}
}

func runPipeline(t *testing.T, pipelineYAML string, lines []string) []stages.Entry {
	t.Helper()
	var items []any
	if err := yaml.Unmarshal([]byte(pipelineYAML), &items); err != nil {
		t.Fatal(err)
	}
	p, err := stages.NewPipeline(items, stages.Options{})
	if err != nil {
		t.Fatalf("pipeline %s: %v", pipelineYAML, err)
	}
	var out []stages.Entry
	for _, l := range lines {
		out = append(out, (&harness{t: t, pipeline: p}).runEntry(entryAt(l, readTime))...)
	}
	return out
}
