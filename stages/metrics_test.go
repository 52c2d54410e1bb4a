package stages

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
)

const metricsPipeline = `
- regex:
    expression: '^(?P<level>\w+)(?: took=(?P<took>\S+))?'
- metrics:
    lines_total:
      type: Counter
      description: all lines
      config: {match_all: true, action: inc}
    bytes_total:
      type: Counter
      description: bytes
      config: {match_all: true, count_entry_bytes: true, action: add}
    errors_total:
      type: counter
      description: error lines
      source: level
      config: {value: error, action: inc}
    last_took:
      type: Gauge
      description: last duration
      source: took
      prefix: my_
      config: {action: set}
    took_seconds:
      type: Histogram
      description: durations
      source: took
      config: {buckets: [0.1, 1, 10]}
`

func TestMetricsStage(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := stPipeline(t, metricsPipeline, reg)
	in := []*Entry{
		stEntry("info took=0.25", "app=api,__tenant_id__=t1"),
		stEntry("error took=3", "app=api"),
		stEntry("debug took=250ms", "app=web"),
		stEntry("debug took=soon", "app=web"),
	}
	out := stRun(p, in...)
	if len(out) != 4 || out[0].Line != "info took=0.25" || !out[0].Labels.Equal(model.LabelSet{"app": "api", "__tenant_id__": "t1"}) {
		t.Fatalf("metrics stage changed the entries: %+v", out)
	}
	want := `
# HELP my_last_took last duration
# TYPE my_last_took gauge
my_last_took{app="api"} 3
my_last_took{app="web"} 0.25
# HELP promtail_custom_bytes_total bytes
# TYPE promtail_custom_bytes_total counter
promtail_custom_bytes_total{app="api"} 26
promtail_custom_bytes_total{app="web"} 31
# HELP promtail_custom_errors_total error lines
# TYPE promtail_custom_errors_total counter
promtail_custom_errors_total{app="api"} 1
# HELP promtail_custom_lines_total all lines
# TYPE promtail_custom_lines_total counter
promtail_custom_lines_total{app="api"} 2
promtail_custom_lines_total{app="web"} 2
# HELP promtail_custom_took_seconds durations
# TYPE promtail_custom_took_seconds histogram
promtail_custom_took_seconds_bucket{app="api",le="0.1"} 0
promtail_custom_took_seconds_bucket{app="api",le="1"} 1
promtail_custom_took_seconds_bucket{app="api",le="10"} 2
promtail_custom_took_seconds_bucket{app="api",le="+Inf"} 2
promtail_custom_took_seconds_sum{app="api"} 3.25
promtail_custom_took_seconds_count{app="api"} 2
promtail_custom_took_seconds_bucket{app="web",le="0.1"} 0
promtail_custom_took_seconds_bucket{app="web",le="1"} 1
promtail_custom_took_seconds_bucket{app="web",le="10"} 1
promtail_custom_took_seconds_bucket{app="web",le="+Inf"} 1
promtail_custom_took_seconds_sum{app="web"} 0.25
promtail_custom_took_seconds_count{app="web"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsGaugeActions(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := stPipeline(t, `
- regex: {expression: '^(?P<op>\w+) (?P<v>\S+)$'}
- metrics:
    g_set: {type: gauge, source: v, config: {action: set}}
    g_inc: {type: gauge, source: v, config: {action: inc}}
    g_dec: {type: gauge, source: v, config: {action: Dec}}
    g_add: {type: gauge, source: v, config: {action: add}}
    g_sub: {type: gauge, source: v, config: {action: sub}}
`, reg)
	stRun(p, stEntry("x 5", ""), stEntry("x 2", ""), stEntry("x bad", ""))
	want := map[string]float64{
		"promtail_custom_g_set": 2,
		"promtail_custom_g_inc": 3, // inc and dec need no number
		"promtail_custom_g_dec": -3,
		"promtail_custom_g_add": 7,
		"promtail_custom_g_sub": -7,
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if got := mf.GetMetric()[0].GetGauge().GetValue(); got != want[mf.GetName()] {
			t.Errorf("%s = %v, want %v", mf.GetName(), got, want[mf.GetName()])
		}
		delete(want, mf.GetName())
	}
	if len(want) != 0 {
		t.Errorf("missing metrics %v", want)
	}
}

func TestMetricsCounterIgnoresNegativeAdd(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := stPipeline(t, `
- regex: {expression: '^(?P<v>\S+)$'}
- metrics:
    c_total: {type: counter, source: v, config: {action: add}}
    h: {type: histogram, source: v, config: {}}
`, reg)
	stRun(p, stEntry("-5", "le=x"), stEntry("2", "le=x"))
	want := `
# HELP promtail_custom_c_total 
# TYPE promtail_custom_c_total counter
promtail_custom_c_total{le="x"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "promtail_custom_c_total"); err != nil {
		t.Fatal(err)
	}
	// The stream label "le" would clash with the histogram's bucket label.
	if n, err := testutil.GatherAndCount(reg, "promtail_custom_h"); err != nil || n != 1 {
		t.Fatalf("histogram series: %d, %v", n, err)
	}
}

func TestMetricsSharedAcrossPipelines(t *testing.T) {
	reg := prometheus.NewRegistry()
	def := "- metrics: {lines_total: {type: Counter, description: d, config: {match_all: true, action: inc}}}"
	first := stPipeline(t, def, reg)
	second := stPipeline(t, def, reg) // a reload, or another job
	stRun(first, stEntry("x", "job=a"))
	stRun(second, stEntry("x", "job=a"), stEntry("x", "job=b"))
	want := `
# HELP promtail_custom_lines_total d
# TYPE promtail_custom_lines_total counter
promtail_custom_lines_total{job="a"} 2
promtail_custom_lines_total{job="b"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	// A new description keeps the registered one (and the pipeline builds).
	if _, err := stPipelineErr("- metrics: {lines_total: {type: counter, description: other, config: {match_all: true, action: inc}}}", reg); err != nil {
		t.Fatalf("redefinition with another description: %v", err)
	}
	_, err := stPipelineErr("- metrics: {lines_total: {type: gauge, config: {action: inc}}}", reg)
	stErrContains(t, err, "already defined as a counter")
}

func TestMetricsIdleSeriesExpire(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := stPipeline(t, "- metrics: {c: {type: counter, max_idle_duration: 1s, config: {match_all: true, action: inc}}}", reg)
	stRun(p, stEntry("x", "job=old"), stEntry("x", "job=new"))
	m := p.stages[0].(*metricsStage).rules[0].metric
	m.mu.Lock()
	for _, chain := range m.series {
		for _, s := range chain {
			if s.labels["job"] == "old" {
				s.lastMod -= 2
			}
		}
	}
	m.mu.Unlock()
	want := `
# HELP promtail_custom_c 
# TYPE promtail_custom_c counter
promtail_custom_c{job="new"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsSeriesLookupSurvivesHashCollisions(t *testing.T) {
	m := newCustomMetric("c", "", kindCounter, time.Minute)
	a, b := model.LabelSet{"x": "1"}, model.LabelSet{"x": "2"}
	// Force both label sets into one hash chain, as a collision would.
	ma := m.with(a, nil, time.Now().Unix())
	h := m.seriesHash(a)
	m.series[h] = append(m.series[h], &customSeries{labels: b, metric: prometheus.NewCounter(prometheus.CounterOpts{Name: "c"}), lastMod: time.Now().Unix()})
	if m.with(a, nil, time.Now().Unix()) != ma {
		t.Fatal("lookup of a returned another series")
	}
	if m.with(b, nil, time.Now().Unix()) == ma {
		t.Fatal("lookup of b returned a's series")
	}
}

func TestMetricsConfigErrors(t *testing.T) {
	tests := []struct {
		name, pipeline, want string
	}{
		{"invalid type", "- metrics: {foo: {type: Summary, config: {action: inc}}}", "invalid metric type 'summary'"},
		{"no type", "- metrics: {foo: {config: {action: inc}}}", "invalid metric type ''"},
		{"match_all with value", "- metrics: {c: {type: counter, config: {match_all: true, value: x, action: inc}}}", "`match_all: true` cannot be combined with `value`"},
		{"count bytes without match_all", "- metrics: {c: {type: counter, config: {count_entry_bytes: true, action: add}}}", "can only be set with `match_all: true`"},
		{"count bytes with inc", "- metrics: {c: {type: counter, config: {match_all: true, count_entry_bytes: true, action: inc}}}", "can only be used with `action: add`"},
		{"counter without action", "- metrics: {c: {type: counter}}", "counter action must be defined"},
		{"counter bad action", "- metrics: {c: {type: counter, config: {action: set}}}", "action set is not valid"},
		{"gauge without action", "- metrics: {g: {type: gauge}}", "gauge action must be defined"},
		{"gauge bad action", "- metrics: {g: {type: gauge, config: {action: observe}}}", "action observe is not valid"},
		{"sub-second idle", "- metrics: {c: {type: counter, max_idle_duration: 500ms, config: {match_all: true, action: inc}}}", "max_idle_duration less than 1s not allowed"},
		{"bad idle", "- metrics: {c: {type: counter, max_idle_duration: soon, config: {match_all: true, action: inc}}}", "max_idle_duration could not be parsed"},
		{"unsorted buckets", "- metrics: {h: {type: histogram, config: {buckets: [1, 0.5]}}}", "buckets must be in increasing order"},
		{"bad metric name", "- metrics: {bad-name: {type: counter, config: {match_all: true, action: inc}}}", `invalid metric name "promtail_custom_bad-name"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stPipelineErr(tt.pipeline, prometheus.NewRegistry())
			stErrContains(t, err, tt.want)
		})
	}
}

func TestMetricFloat(t *testing.T) {
	tests := []struct {
		in   any
		want float64
		ok   bool
	}{
		{float64(1.5), 1.5, true}, {int(3), 3, true}, {true, 1, true}, {false, 0, true},
		{"2.5", 2.5, true}, {"1m30s", 90, true}, {"soon", 0, false}, {nil, 0, false}, {[]any{1}, 0, false},
	}
	for _, tt := range tests {
		got, ok := metricFloat(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("metricFloat(%#v) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func BenchmarkMetrics(b *testing.B) {
	p := stPipeline(b, `
- metrics:
    lines_total: {type: counter, config: {match_all: true, action: inc}}
    took: {type: histogram, source: took, config: {buckets: [0.1, 1, 10]}}
    level: {type: gauge, source: level, config: {action: set}}
`, prometheus.NewRegistry())
	st := p.stages[0]
	e := &Entry{
		Labels:    model.LabelSet{"job": "varlogs", "host": "a", "filename": "/var/log/app.log"},
		Extracted: map[string]any{"took": "0.25", "level": float64(3)},
		Line:      "info took=0.25",
	}
	next := func(*Entry) {}
	b.ReportAllocs()
	for b.Loop() {
		st.Process(e, next)
	}
}
