package osquerytls

import (
	"bufio"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/targets"
	"github.com/promtail-osquery/promtail-osquery/stages"
	_ "github.com/promtail-osquery/promtail-osquery/stages/osquery"
)

// osqueryPipeline builds a job pipeline with the osquery stage, as the agent
// does for `pipeline_stages: [{osquery: {}}]`, ending in sink.
func osqueryPipeline(t testing.TB, sink api.EntryHandler) *targets.JobPipeline {
	t.Helper()
	var items []any
	if err := yaml.Unmarshal([]byte("- osquery: {}\n"), &items); err != nil {
		t.Fatal(err)
	}
	p, err := stages.NewPipeline(items, stages.Options{Registerer: prometheus.NewRegistry(), JobName: "osquery", ExtractedUnread: true})
	if err != nil {
		t.Fatal(err)
	}
	jp := targets.NewJobPipeline(p, sink, nil)
	t.Cleanup(jp.Stop)
	return jp
}

func TestThroughTheOsqueryStage(t *testing.T) {
	e := newEnv(t)
	e.cfg.Labels = model.LabelSet{"job": "osquery"}
	e.handler = osqueryPipeline(t, e.sink)
	e.start()
	o := e.osqueryd("web-01")
	o.gzip = true
	o.log("result", eventRecord, batchRecord, snapshotRecord)
	o.log("status", statusRecord, statusRecord46)
	if !o.flush() {
		t.Fatal("flush failed")
	}

	decorations := model.LabelSet{"host_uuid": "00000000-0000-4000-8000-000000000001", "hostname": "web-01"}
	withDecorations := func(ls model.LabelSet) model.LabelSet { return ls.Merge(decorations) }
	want := []struct {
		labels model.LabelSet
		ts     time.Time
		line   string
	}{
		{withDecorations(model.LabelSet{"job": "osquery", "name": "pack_incident-response_last", "host": "web-01", "action": "added"}),
			time.Date(2025, 3, 3, 9, 5, 7, 0, time.UTC), eventRecord},
		{model.LabelSet{"job": "osquery", "name": "processes", "host": "web-01", "action": "removed"},
			time.Date(2025, 3, 3, 9, 5, 8, 0, time.UTC), `"columns":{"name":"osqueryd","path":"/opt/osquery/bin/osqueryd","pid":"97650"},"action":"removed"}`},
		{model.LabelSet{"job": "osquery", "name": "processes", "host": "web-01", "action": "added"},
			time.Date(2025, 3, 3, 9, 5, 8, 0, time.UTC), `"pid":"97830"},"action":"added"}`},
		{withDecorations(model.LabelSet{"job": "osquery", "name": "pack_it-compliance_groups", "host": "web-01", "action": "snapshot"}),
			time.Date(2025, 3, 3, 9, 5, 9, 0, time.UTC), `"columns":{"gid":"0","groupname":"root"},"action":"snapshot"}`},
		{withDecorations(model.LabelSet{"job": "osquery", "name": "pack_it-compliance_groups", "host": "web-01", "action": "snapshot"}),
			time.Date(2025, 3, 3, 9, 5, 9, 0, time.UTC), `"columns":{"gid":"1","groupname":"daemon"},"action":"snapshot"}`},
		{withDecorations(model.LabelSet{"job": "osquery", "host": "web-01"}),
			time.Date(2024, 6, 7, 18, 29, 49, 0, time.UTC), statusRecord},
		{model.LabelSet{"job": "osquery", "host": "web-01"},
			time.Date(2021, 6, 9, 18, 29, 49, 0, time.UTC), statusRecord46},
	}
	got := e.sink.All()
	if len(got) != len(want) {
		for _, g := range got {
			t.Logf("%v %v %s", g.Labels, g.Timestamp, g.Line)
		}
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if !g.Labels.Equal(w.labels) || !g.Timestamp.Equal(w.ts) || !strings.HasSuffix(g.Line, w.line) {
			t.Errorf("entry %d:\n got %v %v %s\nwant %v %v …%s", i, g.Labels, g.Timestamp, g.Line, w.labels, w.ts, w.line)
		}
	}
}

// TestSameAsFromAFile sends the sample logs through the endpoint and reads
// the same lines as a file target hands them on: the osquery stage must
// make the same entries of both.
func TestSameAsFromAFile(t *testing.T) {
	var results []string
	for _, f := range []string{"../../../configs/sample/osqueryd.results.log", "../../../configs/sample/osqueryd.snapshots.log"} {
		results = append(results, readLines(t, f)...)
	}
	statuses := []string{statusRecord, statusRecord46}

	e := newEnv(t)
	e.cfg.Labels = model.LabelSet{"job": "osquery"}
	e.handler = osqueryPipeline(t, e.sink)
	e.start()
	o := e.osqueryd("web-01")
	o.gzip = true
	o.log("result", results...)
	o.log("status", statuses...)
	if !o.flush() {
		t.Fatal("flush failed")
	}

	fromFile := &collector{}
	file := osqueryPipeline(t, fromFile)
	read := time.Now()
	for _, line := range append(results, statuses...) {
		file.Handle(stages.Entry{Labels: model.LabelSet{"job": "osquery"}, Timestamp: read, Line: line})
	}

	got, want := e.sink.All(), fromFile.All()
	if len(got) != len(want) || len(got) < len(results) {
		t.Fatalf("%d entries through the endpoint, %d from the file (%d lines)", len(got), len(want), len(results)+len(statuses))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Labels.Equal(w.Labels) || !g.Timestamp.Equal(w.Timestamp) || g.Line != w.Line {
			t.Errorf("entry %d:\nendpoint %v %v %s\n    file %v %v %s", i, g.Labels, g.Timestamp, g.Line, w.Labels, w.Timestamp, w.Line)
		}
	}
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestSplitRowsShareTheRequestAck: the stage splits a snapshot into rows;
// the request is answered only when the client has settled every row.
func TestSplitRowsShareTheRequestAck(t *testing.T) {
	e := newEnv(t)
	e.handler = osqueryPipeline(t, e.sink)
	e.start()
	e.sink.SetHold(true)
	o := e.osqueryd("web-01")
	if a := o.enroll(); a.failed {
		t.Fatal(a.raw)
	}
	answered := make(chan answer, 1)
	go func() { answered <- o.send("result", []string{snapshotRecord}) }()
	waitFor(t, func() bool { return len(e.sink.All()) == 2 })
	held := e.sink.TakeHeld()
	if len(held) != 2 || held[0] != held[1] {
		// Fails while the osquery stage's split rows lose Entry.Ack
		// (stages/osquery startOutput does not copy it).
		t.Fatalf("rows hold %d acks, want the request's one twice", len(held))
	}
	held[0].Release(1)
	select {
	case a := <-answered:
		t.Fatalf("answered %d %s with a row still unsettled", a.code, a.raw)
	case <-time.After(200 * time.Millisecond):
	}
	held[1].Release(1)
	select {
	case a := <-answered:
		if a.failed || a.code != http.StatusOK {
			t.Fatalf("answer %d %s", a.code, a.raw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer once every row was settled")
	}
}
