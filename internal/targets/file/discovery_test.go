package file

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	filesd "github.com/prometheus/prometheus/discovery/file"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

func TestTargetSelection(t *testing.T) {
	t.Setenv("HOSTNAME", "this-host")
	tests := []struct {
		name    string
		labels  func(dir string) model.LabelSet
		relabel []*relabel.Config
		// wantLabels are the labels of the entries; nil when the target is
		// dropped.
		wantLabels model.LabelSet
		wantReason string
		wantMetric string
	}{
		{
			name: "double-underscore labels removed, filename added",
			labels: func(dir string) model.LabelSet {
				return model.LabelSet{pathLabel: model.LabelValue(dir + "/*.log"), "job": "j", "__meta_team": "core", "__private": "x"}
			},
			relabel: []*relabel.Config{{
				SourceLabels: model.LabelNames{"__meta_team"}, Regex: relabel.MustNewRegexp("(.*)"),
				TargetLabel: "team", Replacement: "$1", Action: relabel.Replace, Separator: ";",
			}},
			wantLabels: model.LabelSet{"job": "j", "team": "core"},
		},
		{
			name: "host matches",
			labels: func(dir string) model.LabelSet {
				return model.LabelSet{pathLabel: model.LabelValue(dir + "/*.log"), hostLabel: "this-host"}
			},
			wantLabels: model.LabelSet{},
		},
		{
			name: "wrong host",
			labels: func(dir string) model.LabelSet {
				return model.LabelSet{pathLabel: model.LabelValue(dir + "/*.log"), hostLabel: "elsewhere"}
			},
			wantReason: "ignoring target, wrong host",
			wantMetric: reasonWrongHost,
		},
		{
			name:       "no path",
			labels:     func(string) model.LabelSet { return model.LabelSet{"job": "j"} },
			wantReason: "no path for target",
			wantMetric: reasonNoPath,
		},
		{
			name: "dropped by relabeling",
			labels: func(dir string) model.LabelSet {
				return model.LabelSet{pathLabel: model.LabelValue(dir + "/*.log"), "env": "dev"}
			},
			relabel: []*relabel.Config{{
				SourceLabels: model.LabelNames{"env"}, Regex: relabel.MustNewRegexp("dev"), Action: relabel.Drop, Separator: ";",
			}},
			wantReason: "dropped target",
			wantMetric: reasonDropped,
		},
		{
			name: "path set by relabeling",
			labels: func(dir string) model.LabelSet {
				return model.LabelSet{"__meta_dir": model.LabelValue(dir)}
			},
			relabel: []*relabel.Config{{
				SourceLabels: model.LabelNames{"__meta_dir"}, Regex: relabel.MustNewRegexp("(.*)"),
				TargetLabel: pathLabel, Replacement: "$1/*.log", Action: relabel.Replace, Separator: ";",
			}},
			wantLabels: model.LabelSet{},
		},
		{
			name: "invalid glob",
			labels: func(dir string) model.LabelSet {
				return model.LabelSet{pathLabel: model.LabelValue(dir + "/[.log")}
			},
			wantReason: "Failed to create target: invalid __path__ glob",
			wantMetric: reasonError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			appendFile(t, h.path("a.log"), "line\n")
			job := staticJob("j", tt.labels(h.dir))
			job.RelabelConfigs = tt.relabel
			h.start(job)
			if tt.wantLabels != nil {
				h.waitLines(1)
				want := tt.wantLabels.Clone()
				want[filenameLabel] = model.LabelValue(h.path("a.log"))
				if got := h.out.All()[0].Labels; !got.Equal(want) {
					t.Fatalf("labels = %v, want %v", got, want)
				}
				if d := h.m.DroppedTargets(); len(d) != 0 {
					t.Fatalf("dropped = %+v", d)
				}
				return
			}
			waitFor(t, 5*time.Second, "target dropped", func() bool { return len(h.m.DroppedTargets()) == 1 })
			d := h.m.DroppedTargets()[0]
			if d.Job != "j" || !strings.HasPrefix(d.Reason, tt.wantReason) {
				t.Fatalf("dropped = %+v, want reason %q", d, tt.wantReason)
			}
			if !d.DiscoveredLabels.Equal(tt.labels(h.dir).Merge(model.LabelSet{model.AddressLabel: "localhost"})) {
				t.Fatalf("discovered labels = %v", d.DiscoveredLabels)
			}
			if got := testutil.ToFloat64(h.metrics.targetsFailed.WithLabelValues(tt.wantMetric)); got != 1 {
				t.Fatalf("promtail_targets_failed_total{reason=%q} = %v, want 1", tt.wantMetric, got)
			}
			if len(h.m.ActiveTargets()) != 0 || h.m.Ready() {
				t.Fatal("a dropped target is active")
			}
		})
	}
}

func TestDuplicateTargetCountedOnce(t *testing.T) {
	h := newHarness(t)
	appendFile(t, h.path("a.log"), "line\n")
	labels := model.LabelSet{pathLabel: model.LabelValue(h.path("*.log"))}
	h.start(config.ScrapeConfig{
		JobName: "j",
		ServiceDiscoveryConfigs: discovery.Configs{discovery.StaticConfig{
			&targetgroup.Group{Labels: labels},
			&targetgroup.Group{Labels: labels},
		}},
	})
	h.waitLines(1)
	time.Sleep(2 * h.syncPeriod)
	if n := h.out.Count(); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
	d := h.m.DroppedTargets()
	if len(d) != 1 || d[0].Reason != "ignoring target, already exists" {
		t.Fatalf("dropped = %+v", d)
	}
	if got := testutil.ToFloat64(h.metrics.targetsFailed.WithLabelValues(reasonExists)); got != 1 {
		t.Fatalf("exists = %v", got)
	}
}

func TestActiveTargets(t *testing.T) {
	h := newHarness(t)
	appendFile(t, h.path("a.log"), "12345\n")
	appendFile(t, h.path("b.log"), "")
	h.start(staticJob("j", model.LabelSet{pathLabel: model.LabelValue(h.path("*.log")), "team": "x", pathExcludeLabel: "*.gz"}))
	h.waitLines(1)
	waitFor(t, 5*time.Second, "ready", h.m.Ready)
	got := h.m.ActiveTargets()
	if len(got) != 1 {
		t.Fatalf("targets = %+v", got)
	}
	ts := got[0]
	wd, _ := os.Getwd()
	if ts.Job != "j" || ts.Path != h.path("*.log") || ts.PathExclude != wd+"/*.gz" || !ts.Labels.Equal(model.LabelSet{"team": "x"}) {
		t.Fatalf("target = %+v", ts)
	}
	if ts.DiscoveredLabels["team"] != "x" || ts.DiscoveredLabels[pathLabel] == "" {
		t.Fatalf("discovered labels = %v", ts.DiscoveredLabels)
	}
	want := []FileStatus{{Path: h.path("a.log"), Position: 6, Size: 6}, {Path: h.path("b.log")}}
	if len(ts.Files) != 2 || ts.Files[0] != want[0] || ts.Files[1] != want[1] {
		t.Fatalf("files = %+v, want %+v", ts.Files, want)
	}
}

func TestNewManagerErrors(t *testing.T) {
	pos := newMemPositions(nil)
	handler := func(string) api.EntryHandler { return &collector{} }
	metrics := NewMetrics(nil)
	tests := []struct {
		name    string
		opts    ManagerOptions
		wantErr string
	}{
		{name: "no positions", opts: ManagerOptions{Metrics: metrics, Handler: handler}, wantErr: "no positions"},
		{name: "no handler", opts: ManagerOptions{Metrics: metrics, Positions: pos}, wantErr: "no entry handler"},
		{name: "no metrics", opts: ManagerOptions{Positions: pos, Handler: handler}, wantErr: "no metrics"},
		{
			name: "unknown encoding",
			opts: ManagerOptions{Metrics: metrics, Positions: pos, Handler: handler,
				ScrapeConfigs: []config.ScrapeConfig{{JobName: "j", Encoding: "klingon"}}},
			wantErr: `job "j": encoding "klingon"`,
		},
		{
			name: "unknown decompression format",
			opts: ManagerOptions{Metrics: metrics, Positions: pos, Handler: handler,
				ScrapeConfigs: []config.ScrapeConfig{{JobName: "j", Decompression: &config.DecompressionConfig{Enabled: true, Format: "zip"}}}},
			wantErr: `unsupported decompression format "zip"`,
		},
		{
			name: "duplicate job",
			opts: ManagerOptions{Metrics: metrics, Positions: pos, Handler: handler,
				ScrapeConfigs: []config.ScrapeConfig{{JobName: "j"}, {JobName: "j"}}},
			wantErr: `job "j" is defined twice`,
		},
		{
			name: "nameless job",
			opts: ManagerOptions{Metrics: metrics, Positions: pos, Handler: handler,
				ScrapeConfigs: []config.ScrapeConfig{{}}},
			wantErr: "no job_name",
		},
		{
			name: "job without handler",
			opts: ManagerOptions{Metrics: metrics, Positions: pos, Handler: func(string) api.EntryHandler { return nil },
				ScrapeConfigs: []config.ScrapeConfig{{JobName: "j"}}},
			wantErr: `job "j": no entry handler`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewManager(tt.opts)
			if err == nil {
				m.Stop()
				t.Fatal("NewManager succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestAdaptSDConfigs(t *testing.T) {
	static := discovery.StaticConfig{
		&targetgroup.Group{Labels: model.LabelSet{"a": "1"}},
		&targetgroup.Group{Targets: []model.LabelSet{{model.AddressLabel: "x"}}, Source: "mine"},
	}
	other := &filesd.SDConfig{Files: []string{"/etc/targets/*.yaml"}}
	out := adaptSDConfigs(discovery.Configs{static, other}, "n1")

	gotStatic := out[0].(discovery.StaticConfig)
	if len(gotStatic[0].Targets) != 1 || gotStatic[0].Targets[0][model.AddressLabel] != "localhost" || gotStatic[0].Source != "0" {
		t.Fatalf("static group without targets = %+v", gotStatic[0])
	}
	if gotStatic[1].Targets[0][model.AddressLabel] != "x" || gotStatic[1].Source != "mine" {
		t.Fatalf("static group with targets = %+v", gotStatic[1])
	}
	if len(static[0].Targets) != 0 {
		t.Fatal("the caller's static config was changed")
	}
	if out[1] != other {
		t.Fatal("a file discovery config was changed")
	}
}

func TestDiscoveryUpdatesStartAndStopTargets(t *testing.T) {
	h := newHarness(t)
	sdFile := h.path("targets.yaml")
	write := func(glob string) {
		content := "- targets: [localhost]\n  labels:\n    __path__: " + glob + "\n"
		tmp := sdFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, sdFile); err != nil {
			t.Fatal(err)
		}
	}
	appendFile(t, h.path("a.log"), "a\n")
	appendFile(t, h.path("b.log"), "b\n")
	write(h.path("a.log"))
	sd := fileSDConfig(t, sdFile)
	h.start(config.ScrapeConfig{JobName: "j", ServiceDiscoveryConfigs: discovery.Configs{sd}})
	h.waitLines(1)
	write(h.path("b.log"))
	h.waitLines(2)
	waitFor(t, 10*time.Second, "old target removed", func() bool {
		ts := h.m.ActiveTargets()
		return len(ts) == 1 && ts[0].Path == h.path("b.log")
	})
	// The gauge follows the target list a moment later.
	waitFor(t, 10*time.Second, "promtail_targets_active_total at 1", func() bool {
		return testutil.ToFloat64(h.metrics.targetsActive) == 1
	})
	assertExactlyOnce(t, h.out.Lines(), []string{"a", "b"})
}

func fileSDConfig(t *testing.T, path string) *filesd.SDConfig {
	t.Helper()
	return &filesd.SDConfig{Files: []string{path}, RefreshInterval: model.Duration(time.Minute)}
}

func TestTailFromEndOnlyForTargetsFoundAtStart(t *testing.T) {
	h := newHarness(t)
	sdFile := h.path("targets.yaml")
	write := func(glob string) {
		content := "- targets: [localhost]\n  labels:\n    __path__: " + glob + "\n"
		if err := os.WriteFile(sdFile+".tmp", []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(sdFile+".tmp", sdFile); err != nil {
			t.Fatal(err)
		}
	}
	appendFile(t, h.path("early.log"), "old\n")
	appendFile(t, h.path("late.log"), "discovered later\n")
	write(h.path("early.log"))
	job := config.ScrapeConfig{JobName: "j", TailFromEnd: true, ServiceDiscoveryConfigs: discovery.Configs{fileSDConfig(t, sdFile)}}
	h.start(job)
	waitFor(t, 5*time.Second, "early.log opened", h.m.Ready)
	appendFile(t, h.path("early.log"), "new\n")
	h.waitLines(1)
	time.Sleep(2 * h.syncPeriod)
	write(h.path("*.log"))
	h.waitLines(2)
	time.Sleep(3 * h.watch.MaxPollFrequency)
	assertExactlyOnce(t, h.out.Lines(), []string{"new", "discovered later"})
}
