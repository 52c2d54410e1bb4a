package packcheck

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"gopkg.in/yaml.v2"

	"github.com/promtail-osquery/promtail-osquery/agent"
	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/targets/file"
	"github.com/promtail-osquery/promtail-osquery/internal/targets/osquerytls"
	"github.com/promtail-osquery/promtail-osquery/stages"
	// The shipped binary's stages: configs/ use the osquery stage.
	_ "github.com/promtail-osquery/promtail-osquery/stages/osquery"
)

// Facts are what the pack's expressions may name, read off the agent's code
// and the repository's configs.
type Facts struct {
	// Labels are the stream label names the agent sends for the configs in
	// configs/, each with where it comes from.
	Labels map[string]string
	// Values are the values seen for each label on the inputs fed to the
	// pipelines; the checks trust them only for labels whose values the
	// configs fix (job, action).
	Values map[string]map[string]bool
	// QueryNames are the names osquery gives the queries it schedules.
	QueryNames map[string]bool
	// Metrics are the series the agent exposes on /metrics, each with the
	// label names its samples carry.
	Metrics map[string]map[string]bool
}

// Input is a log fed to every job's pipeline.
type Input struct {
	Name  string
	Lines []string
}

// ReadInput reads a log file as an Input named by its path relative to root.
func ReadInput(root, path string) (Input, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Input{}, fmt.Errorf("reading %s: %w", path, err)
	}
	name := path
	if rel, err := filepath.Rel(root, path); err == nil {
		name = filepath.ToSlash(rel)
	}
	return Input{Name: name, Lines: splitLines(data)}, nil
}

func splitLines(data []byte) []string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// GenOsqueryDir is where gen-osquery's source lies for a repository at root:
// shared/ is laid beside the repository, here and in CI.
func GenOsqueryDir(root string) string {
	return filepath.Join(filepath.Dir(root), "shared", "bench", "gen-osquery")
}

// GenOsqueryInput builds ../shared/bench/gen-osquery and runs it with args,
// returning its lines.
func GenOsqueryInput(root string, args ...string) (Input, error) {
	src := GenOsqueryDir(root)
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		return Input{}, fmt.Errorf("gen-osquery's source is not at %s: the pack checks feed its lines to the pipelines, and need ../shared beside the repository as CI lays it out: %w", src, err)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return Input{}, fmt.Errorf("building gen-osquery: %w", err)
	}
	dir, err := os.MkdirTemp("", "packcheck-gen-")
	if err != nil {
		return Input{}, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "gen-osquery")
	build := exec.CommandContext(ctx, gobin, "build", "-o", bin, ".")
	build.Dir = src
	// gen-osquery is a module of its own; no workspace around it applies.
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		return Input{}, fmt.Errorf("building gen-osquery in %s: %w\n%s", src, err, out)
	}
	var stdout, stderr bytes.Buffer
	run := exec.CommandContext(ctx, bin, args...)
	run.Stdout, run.Stderr = &stdout, &stderr
	if err := run.Run(); err != nil {
		return Input{}, fmt.Errorf("gen-osquery %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return Input{Name: "gen-osquery " + strings.Join(args, " "), Lines: splitLines(stdout.Bytes())}, nil
}

// Derive reads the facts off the code for the repository at root: every
// agent config in configs/ is loaded with the agent's own loader; each job's
// file target is run on a scratch file to see the labels it gives a line
// (static labels and the file name label, whose name is unexported), then
// each job's pipeline, built as the agent builds it, is fed every input and
// the labels that come out are collected. Clients' external labels are added.
// The metric names are those an agent built from configs/promtail.yaml
// registers, with those of the default registry it uses in production. The
// query names come from configs/osquery.
func Derive(root string, inputs []Input) (*Facts, error) {
	f := &Facts{Labels: map[string]string{}, Values: map[string]map[string]bool{}, Metrics: map[string]map[string]bool{}}
	var err error
	if f.QueryNames, err = ScheduledQueries(filepath.Join(root, "configs", "osquery")); err != nil {
		return nil, err
	}
	cfgPaths, err := filepath.Glob(filepath.Join(root, "configs", "*.yaml"))
	if err != nil {
		return nil, err
	}
	// The production config first, so that the labels' sources name it.
	sort.SliceStable(cfgPaths, func(i, j int) bool {
		return filepath.Base(cfgPaths[i]) == "promtail.yaml" && filepath.Base(cfgPaths[j]) != "promtail.yaml"
	})
	reg := prometheus.NewRegistry()
	rec := &descRecorder{Registerer: reg, families: map[string]map[string]bool{}}
	var agentCfg *config.Config
	for _, path := range cfgPaths {
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		cfg, err := loadAgentConfig(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		if cfg == nil {
			continue
		}
		if filepath.Base(path) == "promtail.yaml" {
			agentCfg = cfg
		}
		if err := f.addConfig(rel, cfg, inputs, rec); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
	}
	if agentCfg == nil {
		return nil, errors.New("configs/promtail.yaml is missing or has no scrape_configs")
	}
	if err := agentMetrics(agentCfg, reg, rec); err != nil {
		return nil, err
	}
	if rec.err != nil {
		return nil, rec.err
	}
	for name, labels := range rec.families {
		f.addFamily(name, labels, nil)
	}
	// The agent registers on Prometheus's default registry, which comes with
	// the Go and process collectors.
	for _, g := range []prometheus.Gatherer{prometheus.DefaultGatherer, reg} {
		families, err := g.Gather()
		if err != nil {
			return nil, fmt.Errorf("gathering metrics: %w", err)
		}
		for _, mf := range families {
			labels := map[string]bool{}
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					labels[lp.GetName()] = true
				}
			}
			t := mf.GetType()
			f.addFamily(mf.GetName(), labels, &t)
		}
	}
	return f, nil
}

// loadAgentConfig loads path as the binary does with -config.expand-env=true,
// or returns nil for a YAML file that is not an agent config (no
// scrape_configs).
func loadAgentConfig(path string) (*config.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var top map[string]any
	if err := yaml.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	if _, ok := top["scrape_configs"]; !ok {
		return nil, nil
	}
	fs := flag.NewFlagSet("packcheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	_, flags, err := config.ParseArgs(fs, []string{"-config.file=" + path, "-config.expand-env=true"})
	if err != nil {
		return nil, err
	}
	cfg, _, _, err := flags.Load()
	return cfg, err
}

func (f *Facts) addLabel(name, value, from string) {
	if strings.HasPrefix(name, model.ReservedLabelPrefix) {
		return
	}
	if _, ok := f.Labels[name]; !ok {
		f.Labels[name] = from
	}
	if f.Values[name] == nil {
		f.Values[name] = map[string]bool{}
	}
	f.Values[name][value] = true
}

// addConfig collects the labels of every job of one config.
func (f *Facts) addConfig(file string, cfg *config.Config, inputs []Input, reg prometheus.Registerer) error {
	read, err := runFileTargets(cfg)
	if err != nil {
		return err
	}
	received, err := runOsqueryTLSTargets(cfg)
	if err != nil {
		return err
	}
	maps.Copy(read, received)
	for i, c := range cfg.Clients {
		for n, v := range c.ExternalLabels {
			f.addLabel(string(n), string(v), fmt.Sprintf("external label of client %d in %s", i+1, file))
		}
	}
	for _, sc := range cfg.ScrapeConfigs {
		sets := read[sc.JobName]
		static := sc.StaticLabels()
		for _, set := range sets {
			for n, v := range set {
				from := fmt.Sprintf("added by the file target of job %q in %s", sc.JobName, file)
				if _, ok := static[n]; ok {
					from = fmt.Sprintf("static label of job %q in %s", sc.JobName, file)
				}
				f.addLabel(string(n), string(v), from)
			}
		}
		if len(sets) == 0 {
			// A job with no __path__ only ever reads standard input
			// (-stdin), labelled with its static labels alone.
			for n, v := range static {
				f.addLabel(string(n), string(v), fmt.Sprintf("static label of job %q in %s", sc.JobName, file))
			}
			sets = []model.LabelSet{static}
		}
		p, err := stages.NewPipeline(sc.PipelineStages, stages.Options{Registerer: reg, JobName: sc.JobName, ExtractedUnread: true})
		if err != nil {
			return fmt.Errorf("job %q: %w", sc.JobName, err)
		}
		for _, in := range inputs {
			from := fmt.Sprintf("set by the pipeline of job %q in %s on %s", sc.JobName, file, in.Name)
			collect := func(e *stages.Entry) {
				for n, v := range e.Labels {
					f.addLabel(string(n), string(v), from)
				}
			}
			for _, set := range sets {
				for _, line := range in.Lines {
					e := stages.Entry{Labels: set, Line: line, Timestamp: time.Now()}
					p.Process(&e, collect)
				}
				p.Flush(time.Now(), true, collect)
			}
		}
	}
	return nil
}

// noPositions starts every file at its beginning and keeps nothing.
type noPositions struct{}

func (noPositions) Get(string) (int64, error) { return 0, nil }
func (noPositions) GetString(string) string   { return "" }
func (noPositions) Put(string, int64)         {}
func (noPositions) Remove(string)             {}
func (noPositions) PutString(string, string)  {}
func (noPositions) Snapshot() map[string]string {
	return nil
}

// runFileTargets runs the file jobs of cfg with each static __path__ pointed
// at a scratch file holding one line, and returns the labels each job's
// target gave those lines. Only static_configs are supported: the pack's
// configs use nothing else.
func runFileTargets(cfg *config.Config) (map[string][]model.LabelSet, error) {
	dir, err := os.MkdirTemp("", "packcheck-targets-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	want := map[string]int{}
	var jobs []config.ScrapeConfig
	for _, sc := range cfg.ScrapeConfigs {
		switch k := sc.Kind(); k {
		case config.KindFile, config.KindNone:
		case config.KindOsqueryTLS:
			continue // runOsqueryTLSTargets
		default:
			return nil, fmt.Errorf("job %q: %s jobs are not known to packcheck, which derives the labels of file and osquery_tls jobs", sc.JobName, k)
		}
		for _, sd := range sc.ServiceDiscoveryConfigs {
			static, ok := sd.(discovery.StaticConfig)
			if !ok {
				return nil, fmt.Errorf("job %q: only static_configs are known to packcheck", sc.JobName)
			}
			for gi, g := range static {
				if _, ok := g.Labels["__path__"]; !ok {
					continue
				}
				path := filepath.Join(dir, fmt.Sprintf("%s-%d.log", sc.JobName, gi))
				if err := os.WriteFile(path, []byte("packcheck\n"), 0o600); err != nil {
					return nil, err
				}
				g.Labels["__path__"] = model.LabelValue(path)
				want[sc.JobName]++
			}
		}
		if want[sc.JobName] > 0 {
			jobs = append(jobs, sc)
		}
	}
	got := map[string][]model.LabelSet{}
	if len(jobs) == 0 {
		return got, nil
	}
	var mu sync.Mutex
	done := make(chan struct{})
	pending := len(want)
	m, err := file.NewManager(file.ManagerOptions{
		Logger:        slog.New(slog.DiscardHandler),
		Metrics:       file.NewMetrics(prometheus.NewRegistry()),
		Positions:     noPositions{},
		ScrapeConfigs: jobs,
		WatchConfig:   cfg.Global.FileWatch,
		TargetConfig:  cfg.TargetConfig,
		Handler: func(job string) api.EntryHandler {
			return api.EntryHandlerFunc(func(e stages.Entry) {
				mu.Lock()
				defer mu.Unlock()
				got[job] = append(got[job], e.Labels.Clone())
				if len(got[job]) == want[job] {
					if pending--; pending == 0 {
						close(done)
					}
				}
			})
		},
	})
	if err != nil {
		return nil, err
	}
	defer m.Stop()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		return nil, fmt.Errorf("the file targets read %d of %d jobs' scratch files within 20 s", len(want)-pending, len(want))
	}
	return got, nil
}

// runOsqueryTLSTargets runs the osquery_tls jobs of cfg on loopback (plain
// HTTP, scratch secret and node keys), enrolls, sends one result and one
// status record to each, and returns the labels the target gave them.
func runOsqueryTLSTargets(cfg *config.Config) (map[string][]model.LabelSet, error) {
	got := map[string][]model.LabelSet{}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.Kind() != config.KindOsqueryTLS {
			continue
		}
		sets, err := runOsqueryTLSTarget(sc)
		if err != nil {
			return nil, fmt.Errorf("job %q: %w", sc.JobName, err)
		}
		got[sc.JobName] = sets
	}
	return got, nil
}

func runOsqueryTLSTarget(sc config.ScrapeConfig) ([]model.LabelSet, error) {
	dir, err := os.MkdirTemp("", "packcheck-osquery-tls-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	const secret = "packcheck"
	tc := *sc.OsqueryTLS
	tc.ListenAddress = "127.0.0.1:0"
	tc.InsecurePlainHTTP = true
	tc.TLSCertFile, tc.TLSKeyFile, tc.TLSClientCAFile, tc.ConfigFile = "", "", "", ""
	tc.EnrollSecretFile = filepath.Join(dir, "secret")
	tc.NodeKeysFile = filepath.Join(dir, "nodes.json")
	if err := os.WriteFile(tc.EnrollSecretFile, []byte(secret), 0o600); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var sets []model.LabelSet
	target, err := osquerytls.New(slog.New(slog.DiscardHandler), osquerytls.NewMetrics(prometheus.NewRegistry()), sc.JobName, &tc, sc.RelabelConfigs,
		api.EntryHandlerFunc(func(e stages.Entry) {
			mu.Lock()
			sets = append(sets, e.Labels.Clone())
			mu.Unlock()
		}))
	if err != nil {
		return nil, err
	}
	defer target.Stop()
	base := "http://" + target.Addr().String()
	var enrolled struct {
		NodeKey string `json:"node_key"`
	}
	if err := postJSON(base+tc.EnrollEndpoint, map[string]any{"enroll_secret": secret, "host_identifier": "packcheck"}, &enrolled); err != nil {
		return nil, fmt.Errorf("enrolling: %w", err)
	}
	records := map[string]string{
		"result": `{"name":"pack_incident-response_last","hostIdentifier":"packcheck","calendarTime":"Sun Nov  1 00:00:00 2026 UTC","unixTime":1793491200,"epoch":0,"counter":1,"numerics":false,"decorations":{"host_uuid":"u","hostname":"packcheck"},"columns":{"host":"10.0.0.1","type":"7","username":"u"},"action":"added"}`,
		"status": `{"hostIdentifier":"packcheck","calendarTime":"Sun Nov  1 00:00:00 2026 UTC","unixTime":1793491200,"severity":1,"filename":"x.cpp","line":1,"message":"packcheck","version":"5.12.1","decorations":{"host_uuid":"u","hostname":"packcheck"}}`,
	}
	for _, logType := range slices.Sorted(maps.Keys(records)) {
		body := map[string]any{"node_key": enrolled.NodeKey, "log_type": logType, "data": []json.RawMessage{json.RawMessage(records[logType])}}
		if err := postJSON(base+tc.LogEndpoint, body, nil); err != nil {
			return nil, fmt.Errorf("sending a %s record: %w", logType, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sets) != len(records) {
		return nil, fmt.Errorf("the target passed on %d of %d records", len(sets), len(records))
	}
	return sets, nil
}

func postJSON(url string, body, answer any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	if answer == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(answer)
}

// agentMetrics builds an agent from cfg as -stdin -dry-run would, which
// registers every metric of the agent's components, and stops it.
func agentMetrics(cfg *config.Config, gather prometheus.Gatherer, reg prometheus.Registerer) error {
	a, err := agent.New(cfg, agent.Options{
		DryRun:     true,
		Stdin:      strings.NewReader(""),
		Stdout:     io.Discard,
		Registerer: reg,
		Gatherer:   gather,
	})
	if err != nil {
		return fmt.Errorf("building an agent from configs/promtail.yaml: %w", err)
	}
	a.Stop()
	return nil
}

// ScheduledQueries lists the names osquery logs results under for the
// config in dir (osquery.conf, its packs, and osquery.flags for the pack
// delimiter): schedule queries by their own name, pack queries as
// pack<delim><pack><delim><query>.
func ScheduledQueries(dir string) (map[string]bool, error) {
	var conf struct {
		Schedule map[string]json.RawMessage `json:"schedule"`
		Packs    map[string]json.RawMessage `json:"packs"`
	}
	if err := readJSON(filepath.Join(dir, "osquery.conf"), &conf); err != nil {
		return nil, err
	}
	delim, err := packDelimiter(filepath.Join(dir, "osquery.flags"))
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for q := range conf.Schedule {
		names[q] = true
	}
	for pack, raw := range conf.Packs {
		var body struct {
			Queries map[string]json.RawMessage `json:"queries"`
		}
		var path string
		if json.Unmarshal(raw, &path) == nil {
			// The path is where the pack is installed; the repository keeps
			// it in packs/ beside osquery.conf.
			if err := readJSON(filepath.Join(dir, "packs", filepath.Base(path)), &body); err != nil {
				return nil, fmt.Errorf("pack %q: %w", pack, err)
			}
		} else if err := json.Unmarshal(raw, &body); err != nil {
			return nil, fmt.Errorf("pack %q in osquery.conf: %w", pack, err)
		}
		for q := range body.Queries {
			names["pack"+delim+pack+delim+q] = true
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s schedules no query", dir)
	}
	return names, nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// packDelimiter is osqueryd's --pack_delimiter, "_" unless the flags file
// sets it.
func packDelimiter(flagsFile string) (string, error) {
	data, err := os.ReadFile(flagsFile)
	if errors.Is(err, os.ErrNotExist) {
		return "_", nil
	}
	if err != nil {
		return "", err
	}
	delim := "_"
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "--pack_delimiter="); ok {
			delim = v
		}
	}
	return delim, nil
}
