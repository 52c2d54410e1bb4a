package osquery

import (
	"fmt"
	"maps"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// fastConfigs are configurations that let event lines take the fast path,
// covering what it reads: decorations all, listed or none, with a prefix and
// a tight guard, each label field, and every timestamp source it serves.
func fastConfigs() []*Config {
	plain := DefaultConfig()
	plain.Extract = Selection{Mode: SelectNone}

	listed := DefaultConfig()
	listed.Extract = Selection{Mode: SelectNone}
	listed.Decorations = Selection{Names: []string{"hostname", "username", "bad key", "__x"}}
	listed.DecorationPrefix = "d_"
	listed.Labels = []string{"name", "host", "action", "format", "severity", "epoch"}
	listed.Timestamp = TimestampUnixTime
	listed.MaxLabelValueLength = 12
	listed.MaxLabelValues = 2

	bare := DefaultConfig()
	bare.Extract = Selection{Mode: SelectNone}
	bare.Decorations = Selection{Mode: SelectNone}
	bare.Timestamp = TimestampNone
	bare.LongLabelValues = LongValuesDrop
	bare.MaxLabelValueLength = 12
	bare.Malformed = MalformedDrop

	return []*Config{plain, listed, bare}
}

// fastCases are event lines the fast path reads (fast) and lines it must
// leave to the full parse because it would read them differently or not
// at all.
var fastCases = []struct {
	name string
	line string
	fast bool
}{
	{"5.x event", event5, true},
	{"2.x strings", event2, true},
	{"numerics as numbers", eventNumerics, true},
	{"another epoch", strings.Replace(eventNumerics, `"epoch":3`, `"epoch":4`, 1), true},
	{"no epoch", strings.Replace(eventNumerics, `"epoch":3,`, ``, 1), true},
	{"top-level decorations", eventTopLevel, true},
	{"spaces everywhere", " \t{ \"name\" : \"q\" ,\r\n\"hostIdentifier\":\"h\", \"columns\" : { \"a\" : [ 1 , -2.5e3 , true , null , { } , [ ] ] } , \"action\":\"added\" } \n", true},
	{"duplicated keys, the last wins", `{"name":"a","name":"b","hostIdentifier":"h1","hostIdentifier":"h2","decorations":{"x":"1"},"decorations":{"y":"2"},"columns":{},"action":"added","action":"removed"}`, true},
	{"non-string values", `{"name":7,"hostIdentifier":true,"calendarTime":5,"unixTime":"1793491200","epoch":"3","action":1,"decorations":{"a":null,"b":{"c":1},"d":[1],"e":false,"f":1.5},"columns":{"x":"y"}}`, true},
	{"null host", `{"name":"q","hostIdentifier":null,"columns":{},"action":"added"}`, true},
	{"escapes only where skipped", `{"name":"q","hostIdentifier":"h","columns":{"k\"\\ey":"v\\\"al\u00e9","n":"\\"},"action":"added","counter":"0"}`, true},
	{"unknown non-string fields", `{"name":"q","hostIdentifier":"h","columns":{},"extra":{"deep":[1,2,{"x":null}]},"n":1}`, true},
	{"invalid UTF-8 in a label", "{\"name\":\"q\xff\",\"hostIdentifier\":\"h\",\"columns\":{}}", true},
	{"long label values", `{"name":"a-very-long-query-name-indeed","hostIdentifier":"h","decorations":{"hostname":"a-very-long-hostname"},"columns":{}}`, true},
	{"many hosts past the guard", `{"name":"q","hostIdentifier":"h","decorations":{"username":"u3"},"columns":{}}`, true},
	{"other formats present, columns win", `{"name":"q","hostIdentifier":"h","snapshot":[{"a":1}],"diffResults":{},"severity":0,"message":"m","columns":{"a":"b"}}`, true},

	{"escaped host", `{"name":"q","hostIdentifier":"h\u00e9","columns":{}}`, false},
	{"escaped key", `{"na\u006de":"q","hostIdentifier":"h","columns":{}}`, false},
	{"escaped decoration", `{"name":"q","hostIdentifier":"h","decorations":{"a":"\"x\""},"columns":{}}`, false},
	{"escaped top-level decoration", `{"name":"q","hostIdentifier":"h","extra":"a\\b","columns":{}}`, false},
	{"no hostIdentifier", `{"name":"q","hostname":"h","columns":{}}`, false},
	{"columns not an object", `{"name":"q","hostIdentifier":"h","columns":"x"}`, false},
	{"no columns", `{"name":"q","hostIdentifier":"h","snapshot":[]}`, false},
	{"snapshot", snapshot, false},
	{"batch", batch, false},
	{"status", status5, false},
	{"loose number", `{"name":"q","hostIdentifier":"h","columns":{"a":1.},"unixTime":01}`, false},
	{"NaN", `{"name":"q","hostIdentifier":"h","columns":{"a":NaN}}`, false},
	{"trailing text", `{"name":"q","hostIdentifier":"h","columns":{}} x`, false},
	{"unterminated", `{"name":"q","hostIdentifier":"h","columns":{"a":"b}`, false},
	{"array at the top", `[{"name":"q"}]`, false},
	{"too deep", `{"name":"q","hostIdentifier":"h","columns":{"a":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}}`, false},
	{"missing comma", `{"name":"q" "hostIdentifier":"h","columns":{}}`, false},
	{"truthy prefix", `{"name":"q","hostIdentifier":"h","columns":{"a":tru}}`, false},
}

func TestFastPathReadsWhatItShould(t *testing.T) {
	var ev eventText
	for _, tc := range fastCases {
		if got := scanEvent(tc.line, &ev); got != tc.fast {
			t.Errorf("%s: fast path taken = %v, want %v", tc.name, got, tc.fast)
		}
	}
	for _, cfg := range fastConfigs() {
		if !newStageHarness(t, cfg).stage.fast {
			t.Errorf("config %+v does not take the fast path", cfg)
		}
	}
	for _, cfg := range fuzzConfigs()[:4] {
		if newStageHarness(t, cfg).stage.fast {
			t.Errorf("config %+v takes the fast path but needs the columns or extracted values", cfg)
		}
	}
}

// TestFastPathMatchesFullParse runs every case and the bench lines through
// each fast configuration twice, with and without the fast path, and wants
// the same entries and the same counters.
func TestFastPathMatchesFullParse(t *testing.T) {
	data, err := os.ReadFile("testdata/bench-events.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for _, tc := range fastCases {
		lines = append(lines, tc.line)
	}
	// Twice: the second time, labels come from the memo.
	lines = append(lines, lines...)
	for i, cfg := range fastConfigs() {
		fast, full := newFastFull(t, cfg)
		for j, line := range lines {
			compareFastFull(t, fast, full, line, arrivingLabels[j%len(arrivingLabels)])
		}
		if t.Failed() {
			t.Fatalf("config %d differs", i)
		}
	}
}

// FuzzFastPath holds the fast path to the full parse on any input. Run
// with: go test -fuzz FuzzFastPath ./stages/osquery/
func FuzzFastPath(f *testing.F) {
	for _, tc := range fastCases {
		f.Add(tc.line)
	}
	cfgs := fastConfigs()
	f.Fuzz(func(t *testing.T, line string) {
		for _, cfg := range cfgs {
			fast, full := newFastFull(t, cfg)
			for _, in := range arrivingLabels {
				compareFastFull(t, fast, full, line, in)
				compareFastFull(t, fast, full, line, in) // from the memos
			}
		}
	})
}

// arrivingLabels are the label sets lines arrive with in the comparisons:
// the fast path keeps its shared sets by them too.
var arrivingLabels = []model.LabelSet{{"job": "osquery"}, {"job": "osquery", "filename": "/var/log/osquery/osqueryd.results.log"}}

// newFastFull returns two stages built from cfg: one taking the fast path
// with its label sets shared, as in the agent, and one always parsing fully.
func newFastFull(t *testing.T, cfg *Config) (fast, full *harness) {
	fast, full = newStageHarness(t, cfg), newStageHarness(t, cfg)
	fast.stage.shareLabels = true
	full.stage.fast = false
	return fast, full
}

func compareFastFull(t *testing.T, fast, full *harness, line string, in model.LabelSet) {
	t.Helper()
	before := maps.Clone(in)
	entry := func() stages.Entry {
		return stages.Entry{Labels: in, Extracted: map[string]any{"job": "osquery"}, Timestamp: readTime, Line: line}
	}
	got, want := fast.runEntry(entry()), full.runEntry(entry())
	if !maps.Equal(in, before) {
		t.Errorf("%q: the labels the line arrived with changed from %v to %v", line, before, in)
	}
	if len(got) != len(want) {
		t.Errorf("%q: %d entries on the fast path, %d on the full parse", line, len(got), len(want))
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		if !reflect.DeepEqual(g.Labels, w.Labels) || !g.Timestamp.Equal(w.Timestamp) || g.Line != w.Line ||
			!reflect.DeepEqual(g.StructuredMetadata, w.StructuredMetadata) || !reflect.DeepEqual(g.Extracted, w.Extracted) {
			t.Errorf("%q:\n fast %v %v %q %v\n full %v %v %q %v", line, g.Labels, g.Timestamp, g.Line, g.Extracted, w.Labels, w.Timestamp, w.Line, w.Extracted)
		}
	}
	if g, w := gatherText(t, fast.reg), gatherText(t, full.reg); g != w {
		t.Errorf("%q: counters differ\n fast:\n%s\n full:\n%s", line, g, w)
	}
}

func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			b.WriteString(mf.GetName())
			for _, l := range m.GetLabel() {
				b.WriteString(" " + l.GetName() + "=" + l.GetValue())
			}
			fmt.Fprintf(&b, " %g\n", m.GetCounter().GetValue())
		}
	}
	return b.String()
}

// Per line, the fast path allocates nothing when its label sets may be
// shared (the agent's case), even when a decoration that is not a label
// (uptime here) changes on every line, and one label set otherwise; the full
// parse copies the labels the entry arrived with. None of them writes into
// those.
func TestFastPathAllocatesNothingForKnownLabels(t *testing.T) {
	tests := []struct {
		name         string
		fast, shared bool
		allocs       float64
	}{
		{"fast path, shared sets", true, true, 0},
		{"fast path, a set per line", true, false, 2},
		{"full parse", false, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Extract = Selection{Mode: SelectNone}
			cfg.Decorations = Selection{Names: []string{"hostname"}}
			h := newStageHarness(t, cfg)
			h.stage.fast = tt.fast
			h.stage.shareLabels = tt.shared
			lines := make([]string, 1000)
			for i := range lines {
				lines[i] = fmt.Sprintf(`{"name":"q%d","hostIdentifier":"web-%d","calendarTime":"Sun Nov  1 00:00:%02d 2026 UTC","unixTime":%d,"decorations":{"hostname":"web-%d","uptime":"%d"},"columns":{"a":"b"},"action":"added"}`,
					i%3, i%2, i%60, 1793491200+i, i%2, 100000+i)
			}
			in := model.LabelSet{"job": "osquery"}
			var e stages.Entry
			i := 0
			next := func(*stages.Entry) {}
			run := func() {
				e = stages.Entry{Labels: in, Line: lines[i%len(lines)]}
				i++
				h.stage.Process(&e, next)
			}
			for range 10 {
				run()
			}
			// The allocation bound is a ceiling: Go's maps take one
			// allocation for a small map and one for its table.
			if allocs := testing.AllocsPerRun(500, run); allocs > tt.allocs {
				t.Errorf("%v allocations per line, want at most %v", allocs, tt.allocs)
			}
			if e.Labels["hostname"] == "" || e.Labels["host"] == "" || e.Labels["job"] != "osquery" {
				t.Errorf("labels %v", e.Labels)
			}
			if len(in) != 1 {
				t.Errorf("the stage wrote into the labels the entry arrived with: %v", in)
			}
		})
	}
}

// Under LabelsShared, lines of one kind get one label set, lines of another
// kind (host, action, arriving labels) another, and a set holding a cut
// value is made anew for every line, so that every cut is counted.
func TestFastPathSharesLabelSets(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxLabelValueLength = 8
	// As the agent builds the last stage of a job.
	reg := prometheus.NewRegistry()
	st, err := cfg.NewStage(stages.Options{Registerer: reg, ExtractedUnread: true, LabelsShared: true})
	if err != nil {
		t.Fatal(err)
	}
	job := model.LabelSet{"job": "osquery"}
	other := model.LabelSet{"job": "osquery", "filename": "b.log"}
	line := func(host, action string) string {
		return fmt.Sprintf(`{"name":"q","hostIdentifier":%q,"calendarTime":"Sun Nov  1 00:00:00 2026 UTC","unixTime":1793491200,"decorations":{"hostname":"h"},"columns":{"a":"b"},"action":%q}`, host, action)
	}
	inputs := []struct {
		in   model.LabelSet
		line string
	}{
		{job, line("a", "added")},                     // 0
		{job, line("a", "added")},                     // 1: as 0
		{job, line("b", "added")},                     // 2: another host
		{job, line("a", "removed")},                   // 3: another action
		{other, line("a", "added")},                   // 4: other arriving labels
		{job, line("a", "added")},                     // 5: as 0
		{job, line("a-very-long-host-name", "added")}, // 6: host cut
		{job, line("a-very-long-host-name", "added")}, // 7: as 6, cut again
	}
	var got []model.LabelSet
	for _, in := range inputs {
		e := stages.Entry{Labels: in.in, Line: in.line}
		st.Process(&e, func(o *stages.Entry) { got = append(got, o.Labels) })
	}
	same := func(i, j int) bool { return reflect.ValueOf(got[i]).Pointer() == reflect.ValueOf(got[j]).Pointer() }
	for _, p := range [][2]int{{0, 1}, {0, 5}} {
		if !same(p[0], p[1]) {
			t.Errorf("lines %d and %d are of one kind but got different sets", p[0], p[1])
		}
	}
	for _, p := range [][2]int{{0, 2}, {0, 3}, {0, 4}, {2, 3}, {6, 7}} {
		if same(p[0], p[1]) {
			t.Errorf("lines %d and %d share a set: %v", p[0], p[1], got[p[0]])
		}
	}
	want := []model.LabelSet{
		0: {"job": "osquery", "name": "q", "host": "a", "hostname": "h", "action": "added"},
		3: {"job": "osquery", "name": "q", "host": "a", "hostname": "h", "action": "removed"},
		4: {"job": "osquery", "filename": "b.log", "name": "q", "host": "a", "hostname": "h", "action": "added"},
		7: {"job": "osquery", "name": "q", "host": "a-very-l", "hostname": "h", "action": "added"},
	}
	for i, w := range want {
		if w != nil && !maps.Equal(got[i], w) {
			t.Errorf("line %d: labels %v, want %v", i, got[i], w)
		}
	}
	if !maps.Equal(job, model.LabelSet{"job": "osquery"}) || len(other) != 2 {
		t.Errorf("arriving labels changed: %v, %v", job, other)
	}
	h := &harness{t: t, reg: reg}
	if n := h.counter("labels_truncated"); n != 2 {
		t.Errorf("%v cut values counted, want 2", n)
	}
}

// Inputs that make different labels never share a memo key: a decoration
// moved between the nested and top-level lists, a text absent or empty, a
// value that is not a scalar, bytes shifted between key and value.
func TestMemoKeyTellsInputsApart(t *testing.T) {
	s := newStageHarness(t, DefaultConfig()).stage
	d := func(key, value string, scalar bool) decorationText {
		return decorationText{key: []byte(key), value: []byte(value), scalar: scalar}
	}
	events := []eventText{
		{},
		{host: []byte(""), hasHost: true},
		{host: []byte("h"), hasHost: true},
		{host: []byte("h"), hasHost: true, name: []byte(""), hasName: true},
		{host: []byte("h"), hasHost: true, name: []byte("q"), hasName: true},
		{host: []byte("h"), hasHost: true, decorations: []decorationText{d("a", "b", true)}},
		{host: []byte("h"), hasHost: true, topDecorations: []decorationText{d("a", "b", true)}},
		{host: []byte("h"), hasHost: true, decorations: []decorationText{d("a", "", true)}},
		{host: []byte("h"), hasHost: true, decorations: []decorationText{d("a", "", false)}},
		{host: []byte("h"), hasHost: true, decorations: []decorationText{d("ab", "", true)}},
		{host: []byte("h"), hasHost: true, decorations: []decorationText{d("a", "b", true), d("c", "d", true)}},
		{host: []byte("h"), hasHost: true, decorations: []decorationText{d("a", "b", true)}, topDecorations: []decorationText{d("c", "d", true)}},
	}
	seen := map[string]int{}
	for i := range events {
		key := string(s.memoKey(&events[i]))
		if j, ok := seen[key]; ok {
			t.Errorf("events %d and %d share memo key %q", j, i, key)
		}
		seen[key] = i
	}
}

// The pipeline gives the stage the labels an entry arrived with (a target's
// own set, shared by its every line) without copying them, since the stage
// makes label sets: no path of the stage may write into that set or pass it
// on to a later stage that writes (static_labels here).
func TestNoPathWritesIntoArrivingLabels(t *testing.T) {
	lines := []string{
		event5, event2, eventKinesis, eventDoc, eventNumerics, eventTopLevel, snapshotEvent, // fast path or not
		`{"name":"q\u0041","hostIdentifier":"h","calendarTime":"Sun Nov  1 00:00:00 2026 UTC","unixTime":1,"columns":{},"action":"added"}`,
		batch, batchEmpty, snapshot, snapshotEmpty, status4, status5,
		`{"node_key":"k","log_type":"result","data":[` + event5 + `,` + snapshot + `]}`,
		glogInfo, glogError, glogHead, `not json`, `[1,2]`, `{"unknown":"shape"}`, `{"name":`,
	}
	for _, body := range []string{"{}", "{source: record}", "{malformed: drop}"} {
		t.Run(body, func(t *testing.T) {
			var items []any
			if err := yaml.Unmarshal([]byte("- osquery: "+body+"\n- static_labels: {added_later: \"yes\"}"), &items); err != nil {
				t.Fatal(err)
			}
			p, err := stages.NewPipeline(items, stages.Options{Registerer: prometheus.NewRegistry(), ExtractedUnread: true, LabelsShared: true})
			if err != nil {
				t.Fatal(err)
			}
			in := model.LabelSet{"job": "osquery"}
			for _, line := range lines {
				n := 0
				p.Process(&stages.Entry{Labels: in, Line: line}, func(e *stages.Entry) {
					n++
					if e.Labels["added_later"] != "yes" {
						t.Errorf("%.40q: entry without the later stage's label: %v", line, e.Labels)
					}
				})
				if !maps.Equal(in, model.LabelSet{"job": "osquery"}) {
					t.Fatalf("%.40q: the arriving labels became %v", line, in)
				}
				if n == 0 && body == "{}" && !strings.HasPrefix(line, `{"diffResults":{"removed":[]`) && line != snapshotEmpty {
					t.Errorf("%.40q: no entry", line)
				}
			}
		})
	}
}
