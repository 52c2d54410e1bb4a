package osquery

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// The user pack in configs/ ships with this stage: its agent configs must
// build pipelines, its sample logs must be read without a failure, and the
// osquery configuration must schedule every query the samples show.

const configsDir = "../../configs"

type scrapeFile struct {
	ScrapeConfigs []struct {
		JobName        string `yaml:"job_name"`
		PipelineStages []any  `yaml:"pipeline_stages"`
	} `yaml:"scrape_configs"`
}

func loadScrapeConfigs(t *testing.T, name string) scrapeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(configsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var f scrapeFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(f.ScrapeConfigs) == 0 {
		t.Fatalf("%s has no scrape config", name)
	}
	return f
}

func sampleLines(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(configsDir, "sample", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func TestPackConfigsBuild(t *testing.T) {
	for _, name := range []string{"promtail.yaml", "demo.yaml"} {
		for _, sc := range loadScrapeConfigs(t, name).ScrapeConfigs {
			if _, err := stages.NewPipeline(sc.PipelineStages, stages.Options{Registerer: prometheus.NewRegistry()}); err != nil {
				t.Errorf("%s job %s: %v", name, sc.JobName, err)
			}
		}
	}
}

// TestDemoOnSamples is what the README's demo command shows: the first job
// of demo.yaml (the one -stdin uses) on the bundled logs.
func TestDemoOnSamples(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := stages.NewPipeline(loadScrapeConfigs(t, "demo.yaml").ScrapeConfigs[0].PipelineStages, stages.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, reg: reg, pipeline: p}
	results := h.run(sampleLines(t, "osqueryd.results.log")...)
	snapshots := h.run(sampleLines(t, "osqueryd.snapshots.log")...)
	if len(results) != 40 || len(snapshots) != 7 {
		t.Errorf("%d result entries (want 40), %d snapshot rows (want 3+3+0+1)", len(results), len(snapshots))
	}
	logins := 0
	for _, e := range append(results, snapshots...) {
		for _, l := range []string{"name", "host", "action", "host_uuid", "hostname"} {
			if e.Labels[model.LabelName(l)] == "" {
				t.Errorf("entry without %s: %v %s", l, e.Labels, e.Line)
			}
		}
		if e.Timestamp.Equal(readTime) {
			t.Errorf("entry not timed from calendarTime: %s", e.Line)
		}
		var row struct {
			Columns struct {
				Type string `json:"type"`
				Host string `json:"host"`
			} `json:"columns"`
		}
		if err := json.Unmarshal([]byte(e.Line), &row); err != nil {
			t.Fatalf("line is not JSON: %s", e.Line)
		}
		if e.Labels["name"] == "pack_incident-response_last" && e.Labels["action"] == "added" &&
			row.Columns.Type == "7" && row.Columns.Host != "" && e.Extracted["first_run"] == "false" {
			logins++
		}
	}
	if logins != 3 {
		t.Errorf("%d SSH logins in the sample, want the 3 planted", logins)
	}
	for _, reason := range failureNames {
		if n := h.counter("parse_failures", reason); n != 0 {
			t.Errorf("%v sample lines failed: %s", n, reason)
		}
	}
}

// TestOsqueryConfigSchedulesTheSampleQueries keeps the osquery side and the
// samples (and the alert rules written against them) in step.
func TestOsqueryConfigSchedulesTheSampleQueries(t *testing.T) {
	var conf struct {
		Decorators struct {
			Load []string `json:"load"`
		} `json:"decorators"`
		Schedule map[string]json.RawMessage `json:"schedule"`
		Packs    map[string]string          `json:"packs"`
	}
	readJSON(t, "osquery/osquery.conf", &conf)
	scheduled := map[string]bool{}
	for q := range conf.Schedule {
		scheduled[q] = true
	}
	for pack, path := range conf.Packs {
		var p struct {
			Queries map[string]struct {
				Query    string `json:"query"`
				Interval int    `json:"interval"`
			} `json:"queries"`
		}
		readJSON(t, filepath.Join("osquery", "packs", filepath.Base(path)), &p)
		for q, def := range p.Queries {
			if def.Query == "" || def.Interval <= 0 {
				t.Errorf("pack %s query %s: empty query or interval", pack, q)
			}
			scheduled["pack_"+pack+"_"+q] = true
		}
	}
	for _, q := range []string{"pack_incident-response_last", "pack_incident-response_authorized_keys", "pack_incident-response_users",
		"pack_incident-response_listening_ports", "pack_incident-response_crontab", "pack_incident-response_sudoers", "heartbeat"} {
		if !scheduled[q] {
			t.Errorf("%s is not scheduled", q)
		}
	}
	decorators := strings.Join(conf.Decorators.Load, " ")
	if !strings.Contains(decorators, "AS host_uuid") || !strings.Contains(decorators, "hostname") {
		t.Errorf("decorators %q lack host_uuid or hostname", decorators)
	}
	for _, file := range []string{"osqueryd.results.log", "osqueryd.snapshots.log"} {
		for _, l := range sampleLines(t, file) {
			var rec struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if !scheduled[rec.Name] {
				t.Errorf("%s: query %q is not in configs/osquery", file, rec.Name)
			}
		}
	}
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(configsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// The production config's status job labels glog lines with this machine's
// host name, so that the dashboards' host filter selects them with the
// results of the same machine.
func TestProductionStatusLinesCarryTheHost(t *testing.T) {
	host, err := hostname()
	if err != nil || host == "" {
		t.Skipf("no host name here: %v", err)
	}
	for _, sc := range loadScrapeConfigs(t, "promtail.yaml").ScrapeConfigs {
		if sc.JobName != "osquery_status" {
			continue
		}
		p, err := stages.NewPipeline(sc.PipelineStages, stages.Options{Registerer: prometheus.NewRegistry(), ExtractedUnread: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []model.LabelSet
		e := stages.Entry{Labels: model.LabelSet{"job": "osquery_status"}, Line: glogInfo}
		p.Process(&e, func(e *stages.Entry) { got = append(got, e.Labels.Clone()) })
		if len(got) != 1 || got[0]["host"] != model.LabelValue(host) || got[0]["severity"] != "info" {
			t.Fatalf("status line labels %v, want host=%q and severity=info", got, host)
		}
		return
	}
	t.Fatal("configs/promtail.yaml has no osquery_status job")
}
