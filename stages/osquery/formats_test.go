package osquery

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// Fixture lines, one per format and osquery version quirk of
// shared/reference/osquery-formats.md. Hosts, users and addresses are
// invented.
const (
	// 5.x event line (numerics key, type_name column, decorations).
	event5 = `{"name":"pack_incident-response_last","hostIdentifier":"web-01","calendarTime":"Mon Mar  3 09:05:07 2025 UTC","unixTime":1740992707,"epoch":0,"counter":12,"numerics":false,"decorations":{"host_uuid":"00000000-0000-4000-8000-000000000001","hostname":"web-01"},"columns":{"host":"192.0.2.10","pid":"4242","time":"1740992690","tty":"pts/0","type":"7","type_name":"user-process","username":"alice"},"action":"added"}`
	// 2.x property-tree serialiser: keys sorted, every value a string, no
	// numerics key, first run (counter "0").
	event2 = `{"action":"added","calendarTime":"Mon Jan  8 14:51:55 2018 UTC","columns":{"executions":"40","interval":"60","name":"pack_ossec-rootkit_adore_rootkit"},"counter":"0","decorations":{"host_uuid":"00000000-0000-4000-8000-000000000002","username":"bob"},"epoch":"0","hostIdentifier":"db-02","name":"pack_osquery-monitoring_schedule","unixTime":"1515423115"}`
	// 3.4-4.1 through an AWS Kinesis logger: re-stringified, the
	// logNumericsAsNumbers key, log_type appended.
	eventKinesis = `{"name":"pack_test_pack_time","hostIdentifier":"WIN-HOST-01","calendarTime":"Fri Nov 22 01:47:25 2019 UTC","unixTime":"1574387245","epoch":"0","counter":"728","logNumericsAsNumbers":"true","decorations":{"hardware_serial":"0","hostname":"WIN-HOST-01","uuid":"00000000-0000-4000-8000-000000000003"},"columns":{"datetime":"2019-11-22T01:47:25Z","day":"22","hour":"1","year":"2019"},"action":"added","log_type":"result"}`
	// The logging doc's outdated example: action first, hostname key,
	// numbers as strings, calendarTime without " UTC".
	eventDoc = `{"action":"removed","name":"processes","hostname":"mac-07","calendarTime":"Tue Sep 30 17:37:30 2014","unixTime":"1412123850","epoch":"0","counter":"5","columns":{"name":"osqueryd","pid":"80","path":"/usr/local/bin/osqueryd"}}`
	// --logger_numerics: INTEGER and DOUBLE columns as JSON numbers.
	eventNumerics = `{"name":"uptime","hostIdentifier":"web-01","calendarTime":"Sun Nov  1 00:00:00 2026 UTC","unixTime":1793491200,"epoch":3,"counter":9,"numerics":true,"columns":{"days":2,"load":2.0,"name":"web"},"action":"added"}`
	// --decorations_top_level: decorations merged into the top level.
	eventTopLevel = `{"name":"pack_incident-response_last","hostIdentifier":"web-03","calendarTime":"Mon Mar  3 09:05:07 2025 UTC","unixTime":1740992707,"epoch":0,"counter":12,"numerics":false,"host_uuid":"00000000-0000-4000-8000-000000000006","hostname":"web-03","columns":{"host":"","pid":"4242","time":"1740992790","tty":"pts/0","type":"8","type_name":"dead-process","username":""},"action":"added"}`
	// --logger_snapshot_event_type, 2.x: one line per row, action snapshot,
	// counter always "0".
	snapshotEvent = `{"name":"groups_snapshot","hostIdentifier":"db-04","calendarTime":"Mon Oct 16 05:50:00 2017 UTC","unixTime":"1508133000","epoch":"0","counter":"0","columns":{"gid":"0","gid_signed":"0","groupname":"root"},"action":"snapshot"}`

	batch = `{"diffResults":{"removed":[{"name":"osqueryd","path":"/opt/osquery/bin/osqueryd","pid":"97650"}],"added":[{"name":"osqueryd","path":"/opt/osquery/bin/osqueryd","pid":"97830"},{"name":"sshd","path":"/usr/sbin/sshd","pid":"97831"}]},"name":"processes","hostIdentifier":"web-01","calendarTime":"Mon Mar  3 09:05:07 2025 UTC","unixTime":1740992707,"epoch":0,"counter":1,"numerics":false,"decorations":{"host_uuid":"00000000-0000-4000-8000-000000000001","hostname":"web-01"}}`
	// First run of a batch query: counter 0 with empty arrays.
	batchEmpty = `{"diffResults":{"removed":[],"added":[]},"name":"processes","hostIdentifier":"web-01","calendarTime":"Mon Mar  3 09:05:07 2025 UTC","unixTime":1740992707,"epoch":0,"counter":0,"numerics":false}`
	// Fleet-style snapshot: the query name has slashes and spaces.
	snapshot      = `{"snapshot":[{"bundle_identifier":"com.example.app","display_name":"Example","path":"/Applications/Example.app"},{"bundle_identifier":"com.example.other","display_name":"Other \"beta\"\u0001","path":"/Applications/Other.app"}],"action":"snapshot","name":"pack/Global/App Usage","hostIdentifier":"00000000-0000-4000-8000-000000000004","calendarTime":"Mon Mar 17 13:39:51 2025 UTC","unixTime":1742218791,"epoch":0,"counter":0,"numerics":false,"decorations":{"host_uuid":"00000000-0000-4000-8000-000000000004","hostname":"mac-host-01"}}`
	snapshotEmpty = `{"snapshot":[],"action":"snapshot","name":"pack_it-compliance_users","hostIdentifier":"web-01","calendarTime":"Mon Mar  3 09:05:07 2025 UTC","unixTime":1740992707,"epoch":0,"counter":0,"numerics":false,"decorations":{"host_uuid":"00000000-0000-4000-8000-000000000001","hostname":"web-01"}}`

	// Status logs of buffered loggers: strings before 5.10, numbers since.
	status4 = `{"hostIdentifier":"db-05","calendarTime":"Wed Jun  9 18:29:49 2021 UTC","unixTime":"1623263389","severity":"0","filename":"tls.cpp","line":"254","message":"TLS/HTTPS POST request to URI: https://tls.example/log","version":"4.6.0.2","decorations":{"host_uuid":"00000000-0000-4000-8000-000000000005","hostname":"db-05"}}`
	status5 = `{"hostIdentifier":"db-05","calendarTime":"Fri Jun  7 18:29:49 2024 UTC","unixTime":1717784989,"severity":2,"filename":"tls.cpp","line":254,"message":"TLS/HTTPS POST request to URI: https://tls.example/log","version":"5.12.1","decorations":{"host_uuid":"00000000-0000-4000-8000-000000000005","hostname":"db-05"}}`

	glogInfo  = `I0412 08:03:59.664191 3056837568 init.cpp:380] osquery initialized [version=2.4.0]`
	glogError = `E0118 17:10:09.520731 1913696256 init.cpp:421] [Ref #1629] osqueryd initialize failed: Could not open RocksDB`
	glogHead  = `Log file created at: 2024/04/12 08:03:59`
)

const host1UUID = "00000000-0000-4000-8000-000000000001"

func TestEventFormatsAcrossVersions(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		labels    model.LabelSet
		ts        time.Time
		extracted map[string]string
	}{
		{
			name:   "5.x event line",
			line:   event5,
			labels: ls("job", "osquery", "name", "pack_incident-response_last", "host", "web-01", "action", "added", "host_uuid", host1UUID, "hostname", "web-01"),
			ts:     time.Date(2025, 3, 3, 9, 5, 7, 0, time.UTC),
			extracted: map[string]string{
				"name": "pack_incident-response_last", "hostIdentifier": "web-01", "calendarTime": "Mon Mar  3 09:05:07 2025 UTC",
				"unixTime": "1740992707", "epoch": "0", "counter": "12", "numerics": "false", "action": "added",
				"decorations_host_uuid": host1UUID, "decorations_hostname": "web-01",
				"columns_username": "alice", "columns_host": "192.0.2.10", "columns_type": "7", "columns_type_name": "user-process",
				"first_run": "false", "job": "osquery",
			},
		},
		{
			name:   "2.x strings, sorted keys, first run",
			line:   event2,
			labels: ls("job", "osquery", "name", "pack_osquery-monitoring_schedule", "host", "db-02", "action", "added", "host_uuid", "00000000-0000-4000-8000-000000000002", "username", "bob"),
			ts:     time.Date(2018, 1, 8, 14, 51, 55, 0, time.UTC),
			extracted: map[string]string{
				"counter": "0", "epoch": "0", "unixTime": "1515423115", "first_run": "true",
				"columns_name": "pack_ossec-rootkit_adore_rootkit", "decorations_username": "bob", "numerics": "<absent>",
			},
		},
		{
			name:   "AWS logger: logNumericsAsNumbers and log_type",
			line:   eventKinesis,
			labels: ls("job", "osquery", "name", "pack_test_pack_time", "host", "WIN-HOST-01", "action", "added", "hardware_serial", "0", "hostname", "WIN-HOST-01", "uuid", "00000000-0000-4000-8000-000000000003"),
			ts:     time.Date(2019, 11, 22, 1, 47, 25, 0, time.UTC),
			extracted: map[string]string{
				"logNumericsAsNumbers": "true", "log_type": "result", "counter": "728", "unixTime": "1574387245",
				"columns_datetime": "2019-11-22T01:47:25Z", "first_run": "false",
			},
		},
		{
			name:   "logging doc example: hostname key, no UTC suffix",
			line:   eventDoc,
			labels: ls("job", "osquery", "name", "processes", "host", "mac-07", "action", "removed"),
			ts:     time.Date(2014, 9, 30, 17, 37, 30, 0, time.UTC),
			extracted: map[string]string{
				"hostname": "mac-07", "hostIdentifier": "<absent>", "columns_pid": "80", "action": "removed",
			},
		},
		{
			name:   "numerics: numbers keep their text",
			line:   eventNumerics,
			labels: ls("job", "osquery", "name", "uptime", "host", "web-01", "action", "added"),
			ts:     time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			extracted: map[string]string{
				"columns_days": "2", "columns_load": "2.0", "numerics": "true", "epoch": "3",
			},
		},
		{
			name:   "decorations at the top level",
			line:   eventTopLevel,
			labels: ls("job", "osquery", "name", "pack_incident-response_last", "host", "web-03", "action", "added", "host_uuid", "00000000-0000-4000-8000-000000000006", "hostname", "web-03"),
			ts:     time.Date(2025, 3, 3, 9, 5, 7, 0, time.UTC),
			extracted: map[string]string{
				"host_uuid": "00000000-0000-4000-8000-000000000006", "hostname": "web-03", "columns_username": "", "columns_type": "8",
			},
		},
		{
			name:   "snapshot as events: counter 0 is not a first run",
			line:   snapshotEvent,
			labels: ls("job", "osquery", "name", "groups_snapshot", "host", "db-04", "action", "snapshot"),
			ts:     time.Date(2017, 10, 16, 5, 50, 0, 0, time.UTC),
			extracted: map[string]string{
				"first_run": "false", "action": "snapshot", "columns_groupname": "root",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "{extract: all}")
			got := only(t, h.run(tt.line))
			checkEntry(t, got, tt.labels, tt.ts, tt.line)
			checkExtracted(t, got, tt.extracted)
		})
	}
}

func TestBatchIsSplitRemovedFirst(t *testing.T) {
	h := newHarness(t, "{extract: all}")
	got := h.run(batch)
	if len(got) != 3 {
		t.Fatalf("got %d entries, want 3", len(got))
	}
	ts := time.Date(2025, 3, 3, 9, 5, 7, 0, time.UTC)
	head := `{"name":"processes","hostIdentifier":"web-01","calendarTime":"Mon Mar  3 09:05:07 2025 UTC","unixTime":1740992707,"epoch":0,"counter":1,"numerics":false,"decorations":{"host_uuid":"00000000-0000-4000-8000-000000000001","hostname":"web-01"}`
	want := []struct {
		action, line string
	}{
		{"removed", head + `,"columns":{"name":"osqueryd","path":"/opt/osquery/bin/osqueryd","pid":"97650"},"action":"removed"}`},
		{"added", head + `,"columns":{"name":"osqueryd","path":"/opt/osquery/bin/osqueryd","pid":"97830"},"action":"added"}`},
		{"added", head + `,"columns":{"name":"sshd","path":"/usr/sbin/sshd","pid":"97831"},"action":"added"}`},
	}
	for i, w := range want {
		checkEntry(t, got[i], ls("job", "osquery", "name", "processes", "host", "web-01", "action", w.action, "host_uuid", host1UUID, "hostname", "web-01"), ts, w.line)
		checkExtracted(t, got[i], map[string]string{"action": w.action, "counter": "1", "first_run": "false"})
	}
	checkExtracted(t, got[2], map[string]string{"columns_name": "sshd", "columns_pid": "97831"})
	if n := h.counter("split_rows", "batch"); n != 3 {
		t.Errorf("split rows = %v, want 3", n)
	}
	if n := h.counter("entries", "batch", "added"); n != 2 {
		t.Errorf("batch/added entries = %v, want 2", n)
	}
}

func TestSplitRowsParseAsEventLines(t *testing.T) {
	h := newHarness(t, "{extract: all}")
	got := h.run(snapshot)
	if len(got) != 2 {
		t.Fatalf("got %d entries, want 2", len(got))
	}
	want := `{"name":"pack/Global/App Usage","hostIdentifier":"00000000-0000-4000-8000-000000000004","calendarTime":"Mon Mar 17 13:39:51 2025 UTC","unixTime":1742218791,"epoch":0,"counter":0,"numerics":false,"decorations":{"host_uuid":"00000000-0000-4000-8000-000000000004","hostname":"mac-host-01"},"columns":{"bundle_identifier":"com.example.other","display_name":"Other \"beta\"\u0001","path":"/Applications/Other.app"},"action":"snapshot"}`
	checkEntry(t, got[1], ls("job", "osquery", "name", "pack/Global/App Usage", "host", "00000000-0000-4000-8000-000000000004", "action", "snapshot",
		"host_uuid", "00000000-0000-4000-8000-000000000004", "hostname", "mac-host-01"), time.Date(2025, 3, 17, 13, 39, 51, 0, time.UTC), want)
	checkExtracted(t, got[1], map[string]string{"columns_display_name": "Other \"beta\"\x01", "action": "snapshot", "first_run": "false"})
	for _, e := range got {
		var v struct {
			Name    string            `json:"name"`
			Columns map[string]string `json:"columns"`
			Action  string            `json:"action"`
		}
		if err := json.Unmarshal([]byte(e.Line), &v); err != nil {
			t.Fatalf("split row is not JSON: %v\n%s", err, e.Line)
		}
		if v.Name != "pack/Global/App Usage" || v.Action != "snapshot" || v.Columns["path"] == "" {
			t.Errorf("split row decoded to %+v", v)
		}
	}
}

func TestEmptyResultsMakeNoEntries(t *testing.T) {
	h := newHarness(t, "{}")
	if got := h.run(batchEmpty, snapshotEmpty); len(got) != 0 {
		t.Fatalf("got %d entries, want none", len(got))
	}
	if h.counter("records", "batch") != 1 || h.counter("records", "snapshot") != 1 {
		t.Error("empty results are still counted as records")
	}
}

func TestSplitOff(t *testing.T) {
	h := newHarness(t, "{split: false, extract: all}")
	got := h.run(snapshot, batch)
	if len(got) != 2 {
		t.Fatalf("got %d entries, want 2", len(got))
	}
	checkEntry(t, got[0], ls("job", "osquery", "name", "pack/Global/App Usage", "host", "00000000-0000-4000-8000-000000000004", "action", "snapshot",
		"host_uuid", "00000000-0000-4000-8000-000000000004", "hostname", "mac-host-01"), time.Date(2025, 3, 17, 13, 39, 51, 0, time.UTC), snapshot)
	checkEntry(t, got[1], ls("job", "osquery", "name", "processes", "host", "web-01", "host_uuid", host1UUID, "hostname", "web-01"),
		time.Date(2025, 3, 3, 9, 5, 7, 0, time.UTC), batch)
	checkExtracted(t, got[1], map[string]string{"counter": "1", "action": "<absent>", "columns_pid": "<absent>", "first_run": "false"})
}

func TestTopLevelDecorationsStayTopLevelWhenSplit(t *testing.T) {
	line := `{"snapshot":[{"port":"22"}],"action":"snapshot","name":"ports","hostIdentifier":"web-03","calendarTime":"Mon Mar  3 09:05:07 2025 UTC","unixTime":1740992707,"epoch":0,"counter":0,"numerics":false,"host_uuid":"u-3","hostname":"web-03"}`
	got := only(t, newHarness(t, "{}").run(line))
	want := `{"name":"ports","hostIdentifier":"web-03","calendarTime":"Mon Mar  3 09:05:07 2025 UTC","unixTime":1740992707,"epoch":0,"counter":0,"numerics":false,"host_uuid":"u-3","hostname":"web-03","columns":{"port":"22"},"action":"snapshot"}`
	checkEntry(t, got, ls("job", "osquery", "name", "ports", "host", "web-03", "action", "snapshot", "host_uuid", "u-3", "hostname", "web-03"),
		time.Date(2025, 3, 3, 9, 5, 7, 0, time.UTC), want)
}

func TestStringTypedSnapshotKeepsItsTypes(t *testing.T) {
	// A 2.x snapshot: numbers as strings, no numerics key. Split rows keep
	// the types so they read like that version's event lines.
	line := `{"action":"snapshot","calendarTime":"Mon Oct 16 05:50:00 2017 UTC","counter":"0","epoch":"0","hostIdentifier":"db-04","name":"groups","snapshot":[{"gid":"0","groupname":"root"}],"unixTime":"1508133000"}`
	got := only(t, newHarness(t, "{}").run(line))
	want := `{"name":"groups","hostIdentifier":"db-04","calendarTime":"Mon Oct 16 05:50:00 2017 UTC","unixTime":"1508133000","epoch":"0","counter":"0","columns":{"gid":"0","groupname":"root"},"action":"snapshot"}`
	if got.Line != want {
		t.Errorf("line\n got %s\nwant %s", got.Line, want)
	}
}

func TestStatusLogs(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		ts        time.Time
		extracted map[string]string
	}{
		{"strings before 5.10", status4, time.Date(2021, 6, 9, 18, 29, 49, 0, time.UTC),
			map[string]string{"severity": "0", "line": "254", "filename": "tls.cpp", "version": "4.6.0.2", "unixTime": "1623263389", "decorations_hostname": "db-05", "first_run": "<absent>", "action": "<absent>"}},
		{"numbers since 5.10", status5, time.Date(2024, 6, 7, 18, 29, 49, 0, time.UTC),
			map[string]string{"severity": "2", "line": "254", "message": "TLS/HTTPS POST request to URI: https://tls.example/log", "version": "5.12.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "{extract: all}")
			got := only(t, h.run(tt.line))
			checkEntry(t, got, ls("job", "osquery", "host", "db-05", "host_uuid", "00000000-0000-4000-8000-000000000005", "hostname", "db-05"), tt.ts, tt.line)
			checkExtracted(t, got, tt.extracted)
			if h.counter("entries", "status", "") != 1 {
				t.Error("status entry not counted")
			}
		})
	}
}

func TestStatusLabels(t *testing.T) {
	h := newHarness(t, "{labels: [host, format, severity], decorations: none}")
	got := only(t, h.run(status5))
	checkEntry(t, got, ls("job", "osquery", "host", "db-05", "format", "status", "severity", "error"), time.Date(2024, 6, 7, 18, 29, 49, 0, time.UTC), status5)
}

func TestGlogStatusLines(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Labels = []string{"severity", "format"}
	cfg.Extract = Selection{Mode: SelectAll}
	h := newStageHarness(t, cfg)
	h.stage.glogLocation = time.UTC
	read := time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		line      string
		labels    model.LabelSet
		ts        time.Time
		extracted map[string]string
	}{
		{glogInfo, ls("job", "osquery", "severity", "info", "format", "status"), time.Date(2024, 4, 12, 8, 3, 59, 664191000, time.UTC),
			map[string]string{"severity": "0", "filename": "init.cpp", "line": "380", "message": "osquery initialized [version=2.4.0]", "thread": "3056837568"}},
		// January 18 read on January 3: last year's line.
		{glogError, ls("job", "osquery", "severity", "error", "format", "status"), time.Date(2024, 1, 18, 17, 10, 9, 520731000, time.UTC),
			map[string]string{"severity": "2", "message": "[Ref #1629] osqueryd initialize failed: Could not open RocksDB"}},
		{`W1231 23:59:59.000001  12 events.cpp:824] Event publisher not enabled: auditeventpublisher`, ls("job", "osquery", "severity", "warning", "format", "status"),
			time.Date(2024, 12, 31, 23, 59, 59, 1000, time.UTC), map[string]string{"thread": "12", "filename": "events.cpp"}},
	}
	for _, tt := range tests {
		got := only(t, h.runEntry(entryAt(tt.line, read)))
		checkEntry(t, got, tt.labels, tt.ts, tt.line)
		checkExtracted(t, got, tt.extracted)
	}
}

// glog lines name no host; with glog_host: hostname they get this
// machine's, and only where the host label is wanted and its value passes
// the label checks.
func TestGlogHost(t *testing.T) {
	realHostname := hostname
	t.Cleanup(func() { hostname = realHostname })
	tests := []struct {
		name     string
		body     string
		hostname string
		want     model.LabelSet
		err      string
	}{
		{"default: none", "{labels: [host, severity]}", "web-01", ls("job", "osquery", "severity", "info"), ""},
		{"hostname", "{labels: [host, severity], glog_host: hostname}", "web-01", ls("job", "osquery", "severity", "info", "host", "web-01"), ""},
		{"host label not wanted", "{labels: [severity], glog_host: hostname}", "web-01", ls("job", "osquery", "severity", "info"), ""},
		{"too long, cut", "{labels: [host], glog_host: hostname, max_label_value_length: 3}", "web-01", ls("job", "osquery", "host", "web"), ""},
		{"no host name", "{glog_host: hostname}", "", nil, "glog_host: reading this machine's host name: it is empty"},
		{"no host name, host not a label", "{labels: [severity], glog_host: hostname}", "", ls("job", "osquery", "severity", "info"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hostname = func() (string, error) { return tt.hostname, nil }
			full := DefaultConfig()
			if err := yaml.Unmarshal([]byte(tt.body), full); err != nil {
				t.Fatal(err)
			}
			st, err := full.NewStage(stages.Options{})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("NewStage() = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []stages.Entry
			e := entryAt(glogInfo, readTime)
			st.Process(&e, func(e *stages.Entry) { got = append(got, e.Clone()) })
			if len(got) != 1 || !reflect.DeepEqual(got[0].Labels, tt.want) {
				t.Fatalf("got %v, want labels %v", got, tt.want)
			}
		})
	}
}

func TestGlogYear(t *testing.T) {
	g, ok := parseGlog("I0229 10:00:00.000000 1 a.cpp:1] leap")
	if !ok {
		t.Fatal("29 February line not parsed")
	}
	got, ok := g.time(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.UTC)
	if !ok || !got.Equal(time.Date(2024, 2, 29, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("29 February read in 2025 placed at %v %v, want 2024", got, ok)
	}
	g, _ = parseGlog("I0103 00:00:00.000000 1 a.cpp:1] skew")
	if got, _ := g.time(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.UTC); got.Year() != 2025 {
		t.Errorf("a line two days ahead of the reader's clock went to %d", got.Year())
	}
}

func TestNotGlog(t *testing.T) {
	for _, l := range []string{
		glogHead,
		"Running on machine: web-01",
		"Log line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg",
		"I0412 08:03:59.664191 3056837568 init.cpp] no line number",
		"I1312 08:03:59.664191 1 a.cpp:1] month 13",
		"I0412 08:03:59 1 a.cpp:1] no microseconds",
		"X0412 08:03:59.664191 1 a.cpp:1] severity X",
		"I0412 08:03:59.664191 a.cpp:1] no thread",
	} {
		if _, ok := parseGlog(l); ok {
			t.Errorf("parsed %q as a glog line", l)
		}
	}
}

func TestTLSLoggerBody(t *testing.T) {
	body := `{"node_key":"secret-node-key","log_type":"result","data":[` + event5 + `,` + snapshot + `,7,{"unknown":"shape"}]}`
	h := newHarness(t, "{extract: all}")
	got := h.run(body)
	if len(got) != 3 {
		t.Fatalf("got %d entries, want 3 (one event, two snapshot rows)", len(got))
	}
	checkEntry(t, got[0], ls("job", "osquery", "name", "pack_incident-response_last", "host", "web-01", "action", "added", "host_uuid", host1UUID, "hostname", "web-01"),
		time.Date(2025, 3, 3, 9, 5, 7, 0, time.UTC), event5)
	checkExtracted(t, got[0], map[string]string{"log_type": "result", "columns_username": "alice"})
	if got[1].Labels["action"] != "snapshot" || got[2].Labels["name"] != "pack/Global/App Usage" {
		t.Errorf("snapshot rows: %v / %v", got[1].Labels, got[2].Labels)
	}
	for _, e := range got {
		for k, v := range e.Extracted {
			if k == "node_key" || v == "secret-node-key" {
				t.Errorf("the node key leaked into extracted[%q]", k)
			}
		}
		if strings.Contains(e.Line, "secret-node-key") {
			t.Errorf("the node key leaked into a line: %s", e.Line)
		}
	}
	if h.counter("parse_failures", "bad_row") != 2 {
		t.Errorf("bad_row = %v, want 2 (a number and an object of no known shape)", h.counter("parse_failures", "bad_row"))
	}
	if h.counter("split_rows", "tls") != 1 || h.counter("split_rows", "snapshot") != 2 {
		t.Errorf("split rows: tls %v, snapshot %v", h.counter("split_rows", "tls"), h.counter("split_rows", "snapshot"))
	}
}

func TestTLSStatusBody(t *testing.T) {
	body := `{"node_key":"k","log_type":"status","data":[` + status4 + `,` + status5 + `]}`
	got := newHarness(t, "{labels: [host, log_type], extract: all}").run(body)
	if len(got) != 2 {
		t.Fatalf("got %d entries, want 2", len(got))
	}
	for _, e := range got {
		if e.Labels["log_type"] != "status" || e.Labels["host"] != "db-05" {
			t.Errorf("labels %v", e.Labels)
		}
		checkExtracted(t, e, map[string]string{"log_type": "status", "filename": "tls.cpp"})
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(got[1].Line), &v); err != nil || v["severity"] != 2.0 {
		t.Errorf("status record line %s (%v)", got[1].Line, err)
	}
}

func entryAt(line string, read time.Time) stages.Entry {
	return stages.Entry{Labels: model.LabelSet{"job": "osquery"}, Extracted: map[string]any{"job": "osquery"}, Timestamp: read, Line: line}
}

func TestLenientNumbersAreWrittenAsStrings(t *testing.T) {
	line := `{"snapshot":[{"a":1.,"b":nan,"c":-1.5e3,"d":01,"e":0}],"action":"snapshot","name":"q","hostIdentifier":"h","unixTime":inf}`
	got := only(t, newHarness(t, "{}").run(line))
	want := `{"name":"q","hostIdentifier":"h","unixTime":"inf","columns":{"a":"1.","b":"nan","c":-1.5e3,"d":"01","e":0},"action":"snapshot"}`
	if got.Line != want {
		t.Errorf("line\n got %s\nwant %s", got.Line, want)
	}
	if !json.Valid([]byte(got.Line)) {
		t.Error("not JSON")
	}
}
