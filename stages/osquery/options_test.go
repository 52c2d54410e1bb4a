package osquery

import (
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

var event5TS = time.Date(2025, 3, 3, 9, 5, 7, 0, time.UTC)

func TestLabelOptions(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		line   string
		labels model.LabelSet
	}{
		{"no decorations", "{decorations: none}", event5,
			ls("job", "osquery", "name", "pack_incident-response_last", "host", "web-01", "action", "added")},
		{"decorations as a boolean", "{decorations: false}", event5,
			ls("job", "osquery", "name", "pack_incident-response_last", "host", "web-01", "action", "added")},
		{"decoration allow-list", "{decorations: [host_uuid]}", event5,
			ls("job", "osquery", "name", "pack_incident-response_last", "host", "web-01", "action", "added", "host_uuid", host1UUID)},
		{"decoration prefix", "{decoration_prefix: osq_, labels: [name]}", event5,
			ls("job", "osquery", "name", "pack_incident-response_last", "osq_host_uuid", host1UUID, "osq_hostname", "web-01")},
		{"no labels at all", "{labels: [], decorations: none}", event5, ls("job", "osquery")},
		{"epoch, format and log_type", "{labels: [epoch, format, log_type], decorations: none}", eventKinesis,
			ls("job", "osquery", "epoch", "0", "format", "event", "log_type", "result")},
		{"promoted column on one query", "{columns: {pack_incident-response_last: [type, username]}, decorations: none}", event5,
			ls("job", "osquery", "name", "pack_incident-response_last", "host", "web-01", "action", "added", "columns_type", "7", "columns_username", "alice")},
		{"promoted column on another query", "{columns: {processes: [pid]}, decorations: none}", event5,
			ls("job", "osquery", "name", "pack_incident-response_last", "host", "web-01", "action", "added")},
		{"promoted column on any query, no prefix", "{columns: {'*': [tty]}, column_prefix: '', decorations: none}", event5,
			ls("job", "osquery", "name", "pack_incident-response_last", "host", "web-01", "action", "added", "tty", "pts/0")},
		{"decoration names sanitised", "{labels: []}",
			`{"name":"q","hostIdentifier":"h","columns":{},"action":"added","decorations":{"os-version":"12.1","2fa":"on","__hidden":"x","":"empty"}}`,
			ls("job", "osquery", "os_version", "12.1", "_2fa", "on")},
		{"a decoration cannot override a record label", "{}",
			`{"name":"q","hostIdentifier":"h","columns":{},"action":"added","decorations":{"name":"fake","host":"fake","action":"fake"}}`,
			ls("job", "osquery", "name", "q", "host", "h", "action", "added")},
		{"a column cannot override a decoration or a record label", "{columns: {'*': [name, host_uuid]}, column_prefix: ''}",
			`{"name":"q","hostIdentifier":"h","columns":{"name":"col","host_uuid":"col"},"action":"added","decorations":{"host_uuid":"dec"}}`,
			ls("job", "osquery", "name", "q", "host", "h", "action", "added", "host_uuid", "dec")},
		{"a record label overrides the target's", "{decorations: none}",
			`{"name":"q","hostIdentifier":"h","columns":{},"action":"added"}`, ls("job", "osquery", "name", "q", "host", "h", "action", "added")},
		{"empty values set no label", "{}",
			`{"name":"","hostIdentifier":"","columns":{},"action":"","decorations":{"username":""}}`, ls("job", "osquery")},
		{"non-string decorations are skipped", "{}",
			`{"name":"q","hostIdentifier":"h","columns":{},"action":"added","decorations":{"n":1,"o":{"a":"b"},"l":["x"],"z":null}}`,
			ls("job", "osquery", "name", "q", "host", "h", "action", "added", "n", "1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := only(t, newHarness(t, tt.body).run(tt.line))
			if !got.Labels.Equal(tt.labels) {
				t.Errorf("labels\n got %v\nwant %v", got.Labels, tt.labels)
			}
		})
	}
}

func TestReservedDecorationNameIsCounted(t *testing.T) {
	h := newHarness(t, "{}")
	h.run(`{"name":"q","hostIdentifier":"h","columns":{},"action":"added","decorations":{"__hidden":"x"}}`)
	if n := h.counter("labels_dropped", "invalid_name"); n != 1 {
		t.Errorf("invalid_name drops = %v, want 1", n)
	}
}

func TestColumnGuard(t *testing.T) {
	h := newHarness(t, "{columns: {'*': [pid]}, decorations: none, labels: [], max_label_values: 2}")
	line := func(pid string) string {
		return `{"name":"processes","hostIdentifier":"web-01","columns":{"pid":"` + pid + `"},"action":"added"}`
	}
	got := h.run(line("1"), line("2"), line("3"), line("1"), line("4"))
	want := []model.LabelValue{"1", "2", "", "1", ""}
	for i, e := range got {
		if e.Labels["columns_pid"] != want[i] {
			t.Errorf("line %d: columns_pid=%q, want %q", i, e.Labels["columns_pid"], want[i])
		}
	}
	if n := h.counter("labels_dropped", "too_many_values"); n != 2 {
		t.Errorf("too_many_values = %v, want 2", n)
	}
	// Another query has its own budget.
	other := only(t, h.run(`{"name":"other","hostIdentifier":"web-01","columns":{"pid":"9"},"action":"added"}`))
	if other.Labels["columns_pid"] != "9" {
		t.Errorf("other query's column not promoted: %v", other.Labels)
	}
}

func TestDecorationGuardPerHost(t *testing.T) {
	// An uptime decorator changes on every run; after max_label_values
	// values on one host it stops making streams. Another host is separate.
	h := newHarness(t, "{labels: [host], max_label_values: 3}")
	line := func(host, uptime string) string {
		return `{"name":"q","hostIdentifier":"` + host + `","columns":{},"action":"added","decorations":{"host_uuid":"` + host + `-uuid","uptime":"` + uptime + `"}}`
	}
	var got []stages.Entry
	for i := range 10 {
		got = append(got, h.run(line("a", strings.Repeat("9", i+1)))...)
	}
	promoted := 0
	for _, e := range got {
		if e.Labels["host_uuid"] != "a-uuid" {
			t.Fatalf("host_uuid lost: %v", e.Labels)
		}
		if e.Labels["uptime"] != "" {
			promoted++
		}
	}
	if promoted != 3 {
		t.Errorf("uptime promoted on %d lines, want 3", promoted)
	}
	if e := only(t, h.run(line("b", "1"))); e.Labels["uptime"] != "1" {
		t.Errorf("host b's first uptime refused: %v", e.Labels)
	}
}

func TestGuardMemoryIsBounded(t *testing.T) {
	g := guard{limit: 1}
	for i := range maxTrackedValues + 10 {
		g.admit(strings.Repeat("h", i%7)+string(rune('a'+i%26))+itoa(i), "l", "v")
	}
	if g.tracked > maxTrackedValues || len(g.scopes) > maxTrackedValues {
		t.Errorf("guard holds %d values in %d scopes, limit %d", g.tracked, len(g.scopes), maxTrackedValues)
	}
	if ok, reason, _ := g.admit("new-scope", "l", "v"); ok || reason != dropGuardFull {
		t.Errorf("full guard admitted a new value (ok=%v reason=%v)", ok, reason)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{digits[i%10]}, b...)
	}
	return string(b)
}

func TestLongLabelValues(t *testing.T) {
	long := strings.Repeat("é", 10) // 20 bytes
	line := `{"name":"` + long + `","hostIdentifier":"h","columns":{},"action":"added"}`
	t.Run("truncate", func(t *testing.T) {
		h := newHarness(t, "{max_label_value_length: 5, labels: [name], extract: [name]}")
		got := only(t, h.run(line))
		if got.Labels["name"] != "éé" {
			t.Errorf("name=%q, want two whole characters", got.Labels["name"])
		}
		if h.counter("labels_truncated") != 1 {
			t.Error("truncation not counted")
		}
		checkExtracted(t, got, map[string]string{"name": long})
	})
	t.Run("drop", func(t *testing.T) {
		h := newHarness(t, "{max_label_value_length: 5, long_label_values: drop, labels: [name]}")
		got := only(t, h.run(line))
		if _, ok := got.Labels["name"]; ok {
			t.Errorf("long name kept: %v", got.Labels)
		}
		if h.counter("labels_dropped", "too_long") != 1 {
			t.Error("drop not counted")
		}
	})
}

func TestInvalidUTF8LabelValue(t *testing.T) {
	h := newHarness(t, "{labels: [name, host]}")
	got := only(t, h.run("{\"name\":\"bad\xff\",\"hostIdentifier\":\"h\",\"columns\":{},\"action\":\"added\"}"))
	if _, ok := got.Labels["name"]; ok || got.Labels["host"] != "h" {
		t.Errorf("labels %v", got.Labels)
	}
	if h.counter("labels_dropped", "invalid_utf8") != 1 {
		t.Error("invalid UTF-8 not counted")
	}
}

func TestStructuredMetadata(t *testing.T) {
	h := newHarness(t, "{structured_metadata: {user: columns_username, counter: '', host_id: decorations_host_uuid, hostIdentifier: }}")
	got := only(t, h.run(event5))
	// hostIdentifier and the host_uuid decoration go to structured metadata
	// instead of labels.
	checkEntry(t, got, ls("job", "osquery", "name", "pack_incident-response_last", "action", "added", "hostname", "web-01"), event5TS, event5)
	// sorted by name, bytewise
	want := push.LabelsAdapter{{Name: "counter", Value: "12"}, {Name: "hostIdentifier", Value: "web-01"}, {Name: "host_id", Value: host1UUID}, {Name: "user", Value: "alice"}}
	if len(got.StructuredMetadata) != len(want) {
		t.Fatalf("structured metadata %v, want %v", got.StructuredMetadata, want)
	}
	for i := range want {
		if got.StructuredMetadata[i] != want[i] {
			t.Errorf("structured metadata %v, want %v", got.StructuredMetadata, want)
		}
	}
}

func TestStructuredMetadataOnSplitRowsAndColumns(t *testing.T) {
	h := newHarness(t, "{structured_metadata: {pid: columns_pid, first_run: }, columns: {'*': [pid]}, extract: none}")
	got := h.run(batch)
	if len(got) != 3 {
		t.Fatalf("got %d entries", len(got))
	}
	for i, pid := range []string{"97650", "97830", "97831"} {
		sm := got[i].StructuredMetadata
		if len(sm) != 2 || sm[0] != (push.LabelAdapter{Name: "first_run", Value: "false"}) || sm[1] != (push.LabelAdapter{Name: "pid", Value: pid}) {
			t.Errorf("row %d structured metadata %v", i, sm)
		}
		if _, ok := got[i].Labels["columns_pid"]; ok {
			t.Errorf("row %d: a column sent as structured metadata is also a label", i)
		}
		if len(got[i].Extracted) != 1 {
			t.Errorf("row %d: extract none wrote %v", i, got[i].Extracted)
		}
	}
}

func TestTimestampOptions(t *testing.T) {
	bad := func(cal, unix string) string {
		return `{"name":"q","hostIdentifier":"h","calendarTime":` + cal + `,"unixTime":` + unix + `,"columns":{"time":"1740992690","bad":"x"},"action":"added"}`
	}
	tests := []struct {
		name string
		body string
		line string
		want time.Time
	}{
		{"calendarTime", "{}", event5, event5TS},
		{"calendarTime placeholder falls back to unixTime", "{}", bad(`"no_time"`, `1740992700`), time.Unix(1740992700, 0)},
		{"empty calendarTime", "{}", bad(`""`, `"1740992701"`), time.Unix(1740992701, 0)},
		{"calendarTime test", "{}", bad(`"test"`, `"1740992702.5"`), time.Unix(1740992702, 500_000_000)},
		{"calendarTime in another zone", "{}", bad(`"Mon Mar  3 09:05:07 2025 CET"`, `1740992703`), time.Unix(1740992703, 0)},
		{"neither parses: time as read", "{}", bad(`"no_time"`, `"soon"`), readTime},
		{"negative unixTime", "{}", bad(`"no_time"`, `-5`), readTime},
		{"unixTime first", "{timestamp: unixTime}", bad(`"Mon Mar  3 09:05:07 2025 UTC"`, `1740992600`), time.Unix(1740992600, 0)},
		{"unixTime junk falls back to calendarTime", "{timestamp: unixTime}", bad(`"Mon Mar  3 09:05:07 2025 UTC"`, `true`), event5TS},
		{"event time from a column", "{timestamp: columns_time}", event5, time.Unix(1740992690, 0)},
		{"bad column falls back to calendarTime", "{timestamp: columns_bad}", bad(`"Mon Mar  3 09:05:07 2025 UTC"`, `1`), event5TS},
		{"none", "{timestamp: none}", event5, readTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := only(t, newHarness(t, tt.body).run(tt.line))
			if !got.Timestamp.Equal(tt.want) {
				t.Errorf("timestamp %v, want %v", got.Timestamp, tt.want)
			}
		})
	}
}

func TestTimestampFromColumnPerRow(t *testing.T) {
	line := `{"diffResults":{"added":[{"time":"100"},{"time":"200"},{"time":"x"}]},"name":"q","hostIdentifier":"h","calendarTime":"Mon Mar  3 09:05:07 2025 UTC","unixTime":1740992707,"counter":3}`
	got := newHarness(t, "{timestamp: columns_time}").run(line)
	want := []time.Time{time.Unix(100, 0), time.Unix(200, 0), event5TS}
	for i, e := range got {
		if !e.Timestamp.Equal(want[i]) {
			t.Errorf("row %d at %v, want %v", i, e.Timestamp, want[i])
		}
	}
}

func TestLineColumns(t *testing.T) {
	h := newHarness(t, "{line: columns}")
	got := h.run(event5, batch, status4)
	if len(got) != 5 {
		t.Fatalf("got %d entries", len(got))
	}
	if want := `{"host":"192.0.2.10","pid":"4242","time":"1740992690","tty":"pts/0","type":"7","type_name":"user-process","username":"alice"}`; got[0].Line != want {
		t.Errorf("event line %s", got[0].Line)
	}
	if want := `{"name":"osqueryd","path":"/opt/osquery/bin/osqueryd","pid":"97650"}`; got[1].Line != want {
		t.Errorf("batch row line %s", got[1].Line)
	}
	if got[4].Line != status4 {
		t.Errorf("a status line has no columns and stays: %s", got[4].Line)
	}
}

func TestExtractOptions(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		got := only(t, newHarness(t, "{extract: none}").run(event5))
		if len(got.Extracted) != 1 || got.Extracted["job"] != "osquery" {
			t.Errorf("extracted %v", got.Extracted)
		}
	})
	t.Run("list", func(t *testing.T) {
		got := only(t, newHarness(t, "{extract: [first_run, columns_username, decorations_hostname, missing]}").run(event5))
		checkExtracted(t, got, map[string]string{"first_run": "false", "columns_username": "alice", "decorations_hostname": "web-01", "missing": "<absent>", "name": "<absent>", "job": "osquery"})
	})
	t.Run("default: everything, first_run included", func(t *testing.T) {
		got := newHarness(t, "{}").run(event2, event5, status4)
		for i, want := range []string{"true", "false"} {
			if got[i].Extracted["first_run"] != want || got[i].Extracted["hostIdentifier"] == nil {
				t.Errorf("entry %d: extracted %v, want every field and first_run=%s", i, got[i].Extracted, want)
			}
		}
		if got[1].Extracted["columns_username"] != "alice" {
			t.Errorf("columns not flattened: %v", got[1].Extracted)
		}
		if _, ok := got[2].Extracted["first_run"]; ok {
			t.Errorf("a status log has no first_run: %v", got[2].Extracted)
		}
	})
	t.Run("last stage with nothing reading extracted values: skipped", func(t *testing.T) {
		for _, body := range []string{"{}", "{extract: all}"} {
			got := only(t, newHarnessWith(t, body, stages.Options{ExtractedUnread: true}).run(event5))
			if len(got.Extracted) != 1 || got.Extracted["job"] != "osquery" {
				t.Errorf("%s: extracted %v, want only what came in", body, got.Extracted)
			}
		}
	})
	t.Run("earlier values are kept", func(t *testing.T) {
		for _, body := range []string{"{}", "{extract: all}"} {
			e := entryAt(event5, readTime)
			e.Extracted["from_earlier_stage"] = 1.5
			got := only(t, newHarness(t, body).runEntry(e))
			if got.Extracted["from_earlier_stage"] != 1.5 {
				t.Errorf("%s: extracted %v", body, got.Extracted)
			}
		}
	})
	t.Run("sanitised nested names", func(t *testing.T) {
		line := `{"name":"q","hostIdentifier":"h","columns":{"type-name":"x","1st":"y"," sp ":"z"},"action":"added","decorations":{"os.version":"1"}}`
		want := map[string]string{"columns_type_name": "x", "columns_1st": "y", "columns_sp": "z", "decorations_os_version": "1"}
		checkExtracted(t, only(t, newHarness(t, "{extract: all}").run(line)), want)
		checkExtracted(t, only(t, newHarness(t, "{extract: [columns_type_name, columns_1st, columns_sp, decorations_os_version]}").run(line)), want)
	})
}

// The stage's extracted map is reused from entry to entry: what a later
// stage sees must still be exactly the current entry's values.
func TestReusedExtractedMapHoldsOnlyTheCurrentEntry(t *testing.T) {
	h := newHarness(t, "{extract: all}")
	got := h.run(event5, status4, event2)
	checkExtracted(t, got[1], map[string]string{"columns_username": "<absent>", "action": "<absent>", "message": "TLS/HTTPS POST request to URI: https://tls.example/log"})
	checkExtracted(t, got[2], map[string]string{"message": "<absent>", "columns_name": "pack_ossec-rootkit_adore_rootkit", "columns_username": "<absent>"})
}

func TestMalformedLines(t *testing.T) {
	tests := []struct {
		name, line, reason string
	}{
		{"text", "hello world", "not_json"},
		{"glog header", glogHead, "not_json"},
		{"empty", "", "not_json"},
		{"broken JSON", `{"name":"q",`, "invalid_json"},
		{"JSON array", `[1,2]`, "not_object"},
		{"unknown object", `{"level":"info","msg":"not osquery"}`, "unknown_shape"},
		{"columns not an object", `{"name":"q","columns":"x","action":"added"}`, "unknown_shape"},
		{"snapshot not an array", `{"name":"q","snapshot":{},"action":"snapshot"}`, "unknown_shape"},
		{"data not an array", `{"node_key":"k","log_type":"result","data":{}}`, "unknown_shape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "{}")
			got := only(t, h.run(tt.line))
			checkEntry(t, got, ls("job", "osquery"), readTime, tt.line)
			if h.counter("parse_failures", tt.reason) != 1 {
				t.Errorf("%s not counted", tt.reason)
			}
			hd := newHarness(t, "{malformed: drop}")
			if got := hd.run(tt.line); len(got) != 0 {
				t.Errorf("malformed: drop passed %v", got)
			}
			if hd.counter("parse_failures", tt.reason) != 1 {
				t.Errorf("%s not counted when dropped", tt.reason)
			}
		})
	}
}

func TestBadRowsAreSkipped(t *testing.T) {
	h := newHarness(t, "{}")
	got := h.run(`{"snapshot":[{"a":"1"},"x",null,{"a":"2"}],"action":"snapshot","name":"q","hostIdentifier":"h"}`)
	if len(got) != 2 {
		t.Fatalf("got %d entries, want 2", len(got))
	}
	if h.counter("parse_failures", "bad_row") != 2 {
		t.Errorf("bad_row = %v", h.counter("parse_failures", "bad_row"))
	}
}

func TestSource(t *testing.T) {
	h := newHarness(t, "{source: osquery_json}")
	e := entryAt(`{"kinesis":"wrapper"}`, readTime)
	e.Extracted["osquery_json"] = event5
	got := only(t, h.runEntry(e))
	checkEntry(t, got, ls("job", "osquery", "name", "pack_incident-response_last", "host", "web-01", "action", "added", "host_uuid", host1UUID, "hostname", "web-01"), event5TS, event5)

	missing := only(t, h.run(`{"kinesis":"wrapper"}`))
	checkEntry(t, missing, ls("job", "osquery"), readTime, `{"kinesis":"wrapper"}`)
	e = entryAt("x", readTime)
	e.Extracted["osquery_json"] = 42.0
	h.runEntry(e)
	if h.counter("parse_failures", "source_missing") != 2 {
		t.Errorf("source_missing = %v, want 2", h.counter("parse_failures", "source_missing"))
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, "{}")
	h.run(event5, event2, snapshotEvent, batch, snapshot, status5, "junk")
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"records", []string{"event"}, 3},
		{"records", []string{"batch"}, 1},
		{"records", []string{"snapshot"}, 1},
		{"records", []string{"status"}, 1},
		{"entries", []string{"event", "added"}, 2},
		{"entries", []string{"event", "snapshot"}, 1},
		{"entries", []string{"batch", "removed"}, 1},
		{"entries", []string{"batch", "added"}, 2},
		{"entries", []string{"snapshot", "snapshot"}, 2},
		{"entries", []string{"status", ""}, 1},
		{"split_rows", []string{"snapshot"}, 2},
		{"parse_failures", []string{"not_json"}, 1},
	}
	for _, c := range checks {
		if got := h.counter(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// Pipelines are rebuilt on reload and once per job: the metrics must be
// registered once and shared, not fail or fork.
func TestMetricsSharedAcrossStages(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := DefaultConfig().NewStage(stages.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	b, err := DefaultConfig().NewStage(stages.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []stages.Stage{a, b} {
		e := entryAt(event5, readTime)
		st.Process(&e, func(*stages.Entry) {})
	}
	if got := testutil.ToFloat64(NewMetrics(reg).entries.WithLabelValues("event", "added")); got != 2 {
		t.Errorf("entries counted %v times on the shared registry, want 2", got)
	}
	if n, err := testutil.GatherAndCount(reg, "promtail_osquery_entries_total"); err != nil || n != 1 {
		t.Errorf("series %d (%v)", n, err)
	}
}

func TestMetricsNameClash(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "promtail_osquery_labels_truncated_total", Help: "someone else's"}))
	st, err := DefaultConfig().NewStage(stages.Options{Registerer: reg})
	if err != nil {
		t.Fatalf("a name clash must not break the pipeline: %v", err)
	}
	e := entryAt(event5, readTime)
	st.Process(&e, func(*stages.Entry) {})
}

// A list of names gives exactly what `extract: all` gives for those names,
// on every fixture: the two code paths must not drift apart.
func TestExtractListMatchesAll(t *testing.T) {
	fixtures := []string{event5, event2, eventKinesis, eventDoc, eventNumerics, eventTopLevel, snapshotEvent,
		batch, snapshot, status4, status5,
		`{"node_key":"k","log_type":"result","data":[` + event5 + `,` + status5 + `]}`,
		`{"name":"q","hostIdentifier":"h","columns":{"type-name":"x","1st":"y"," sp ":"z","n":1.50},"action":"added","decorations":{"os.version":"1"},"extra":true}`}
	for i, line := range fixtures {
		all := newHarness(t, "{extract: all}").run(line)
		for j, e := range all {
			var names []string
			for k := range e.Extracted {
				if k != "job" {
					names = append(names, k)
				}
			}
			body := "{extract: [" + strings.Join(names, ", ") + "]}"
			listed := newHarness(t, body).run(line)
			if len(listed) != len(all) {
				t.Fatalf("fixture %d: %d entries with a list, %d with all", i, len(listed), len(all))
			}
			for _, k := range names {
				if listed[j].Extracted[k] != e.Extracted[k] {
					t.Errorf("fixture %d entry %d: %s is %#v with a list, %#v with all", i, j, k, listed[j].Extracted[k], e.Extracted[k])
				}
			}
		}
	}
}

// A later stage may write into the extracted map; the next row of the same
// result, and the next line, must not see what it wrote.
func TestLaterStageWritesDoNotLeakBetweenEntries(t *testing.T) {
	for _, extract := range []Selection{{Mode: SelectAll}, {Names: []string{"first_run"}}, {Mode: SelectNone}} {
		cfg := DefaultConfig()
		cfg.Extract = extract
		st, err := cfg.NewStage(stages.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range []string{batch, event5, snapshot} {
			e := entryAt(line, readTime)
			st.Process(&e, func(out *stages.Entry) {
				if _, ok := out.Extracted["written_later"]; ok {
					t.Errorf("extract %v: a later stage's value leaked into the next entry", extract)
				}
				if out.Extracted["job"] != "osquery" {
					t.Errorf("extract %v: the target's values are missing: %v", extract, out.Extracted)
				}
				out.Extracted["written_later"] = "x"
			})
		}
	}
}
