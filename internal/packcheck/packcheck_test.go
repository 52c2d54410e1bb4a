package packcheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// requireNodeEnv makes a missing node or npm a failure instead of a skip; CI
// sets it so that the LogQL checks cannot silently stop running.
const requireNodeEnv = "PROMTAIL_OSQUERY_REQUIRE_NODE"

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

var (
	factsOnce sync.Once
	facts     *Facts
	factsErr  error
)

// repoFacts derives the facts once per test binary: the pipelines are fed
// the sample logs in configs/sample, a glog status log (the samples have
// none) and gen-osquery's three result formats.
func repoFacts(t *testing.T) *Facts {
	t.Helper()
	factsOnce.Do(func() {
		root := repoRoot(t)
		samples, err := filepath.Glob(filepath.Join(root, "configs", "sample", "*.log"))
		if err != nil || len(samples) == 0 {
			factsErr = fmt.Errorf("no sample logs in configs/sample (err: %v)", err)
			return
		}
		samples = append(samples, filepath.Join("testdata", "status", "osqueryd.INFO"))
		var inputs []Input
		for _, s := range samples {
			in, err := ReadInput(root, s)
			if err != nil {
				factsErr = err
				return
			}
			inputs = append(inputs, in)
		}
		gen, err := GenOsqueryInput(root, "-n", "3000", "-seed", "5", "-snapshot-frac", "0.2", "-batch-frac", "0.2", "-q")
		if err != nil {
			factsErr = err
			return
		}
		facts, factsErr = Derive(root, append(inputs, gen))
	})
	if factsErr != nil {
		t.Fatalf("deriving what the agent produces: %v", factsErr)
	}
	return facts
}

var (
	nodeOnce   sync.Once
	nodeParser LogQLParser
	nodeSkip   string
	nodeErr    error
)

// logqlParser returns tools/logqlcheck, installing its node_modules first
// when needed. Without node or npm it returns nil and why, unless
// PROMTAIL_OSQUERY_REQUIRE_NODE=1, when the test fails.
func logqlParser(t *testing.T) (LogQLParser, string) {
	t.Helper()
	nodeOnce.Do(func() {
		root := repoRoot(t)
		node, err := exec.LookPath("node")
		if err != nil {
			nodeSkip = "node is not on PATH"
			return
		}
		ok, err := nodeModulesMatch(filepath.Join(root, "tools", "logqlcheck"))
		if err != nil {
			nodeErr = err
			return
		}
		if !ok {
			npm, err := exec.LookPath("npm")
			if err != nil {
				nodeSkip = "npm is not on PATH to install tools/logqlcheck's node_modules"
				return
			}
			out, err := EnsureNodeModules(root, npm)
			if err != nil {
				nodeErr = err
				return
			}
			t.Logf("installed tools/logqlcheck's node_modules:\n%s", out)
		}
		nodeParser = NodeLogQL{Node: node, Dir: root}.Parse
	})
	if nodeErr != nil {
		t.Fatal(nodeErr)
	}
	if nodeParser != nil {
		return nodeParser, ""
	}
	if os.Getenv(requireNodeEnv) == "1" {
		t.Fatalf("%s, and %s=1 requires the LogQL checks", nodeSkip, requireNodeEnv)
	}
	return nil, fmt.Sprintf("%s: LogQL and stream selector checks skipped (%s=1 makes this a failure)", nodeSkip, requireNodeEnv)
}

// needsNode are the kinds of problem only the LogQL parser finds.
var needsNode = map[Kind]bool{KindLogQL: true, KindLabels: true, KindQueryNames: true}

var allKinds = []Kind{KindRules, KindConventions, KindLogQL, KindPromQL, KindLabels, KindQueryNames, KindMetrics, KindDashboards, KindAlertmanager}

// TestPack checks the repository's own alerts/ and dashboards/: the checks
// CI runs on every change to a rule, a panel, a config or the osquery stage.
func TestPack(t *testing.T) {
	root := repoRoot(t)
	f := repoFacts(t)
	parse, skip := logqlParser(t)
	problems, sum, err := Check(root, f, parse)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Empty() {
		t.Skip("the repository has no alerts/ nor dashboards/ to check")
	}
	t.Logf("checked %d rule files (%d rules), %d dashboards (%d queries), alertmanager.yml: %v", sum.RuleFiles, sum.Rules, sum.Dashboards, sum.Queries, sum.Alertmanager)
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			if needsNode[kind] && parse == nil {
				t.Skip(skip)
			}
			for _, p := range problems {
				if p.Kind == kind {
					t.Error(p)
				}
			}
		})
	}
}

// want is a problem a fixture must produce: its file, and substrings of where
// it is and of what is wrong.
type want struct {
	kind        Kind
	file, where string
	msg         string
}

func checkFixture(t *testing.T, dir string, wants []want) {
	t.Helper()
	parse, _ := logqlParser(t)
	problems, _, err := Check(dir, repoFacts(t), parse)
	if err != nil {
		t.Fatal(err)
	}
	used := make([]bool, len(problems))
	for _, w := range wants {
		if needsNode[w.kind] && parse == nil {
			continue
		}
		found := false
		for i, p := range problems {
			if !used[i] && p.Kind == w.kind && p.File == w.file && strings.Contains(p.Where, w.where) && strings.Contains(p.Msg, w.msg) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no %s problem in %s at %q saying %q", w.kind, w.file, w.where, w.msg)
		}
	}
	for i, p := range problems {
		if !used[i] {
			t.Errorf("unexpected problem: [%s] %s", p.Kind, p)
		}
	}
}

func TestGoodFixtureHasNoProblems(t *testing.T) {
	checkFixture(t, filepath.Join("testdata", "good"), nil)
}

func TestBadFixtureProblemsAreReported(t *testing.T) {
	const (
		detections = "alerts/loki/detections.yaml"
		malformed  = "alerts/loki/malformed.yaml"
		agentRules = "alerts/prometheus/agent.yaml"
		dash       = "dashboards/bad.json"
		am         = "alerts/alertmanager.yml"
	)
	checkFixture(t, filepath.Join("testdata", "bad"), []want{
		{KindLogQL, detections, `alert "BrokenLogQL"`, "LogQL syntax error at byte"},
		{KindLabels, detections, `alert "UnknownLabel"`, `uses label "user", which the agent never sets`},
		{KindQueryNames, detections, `alert "UnknownQueryName"`, `name="pack_incident-response_lastlog" matches nothing`},
		{KindQueryNames, detections, `alert "UnknownQueryRegex"`, `name=~"pack_ir_.*" matches none`},
		{KindLabels, detections, `alert "UnknownJob"`, `job="osquery_results" matches nothing`},
		{KindLabels, detections, `alert "UnknownAction"`, `action="add" matches nothing`},
		{KindLogQL, detections, `alert "LogQueryAsRule"`, "only evaluates metric queries"},
		{KindConventions, detections, `alert "NoConventions"`, "no severity label"},
		{KindConventions, detections, `alert "NoConventions"`, "no summary annotation"},
		{KindConventions, detections, `alert "NoConventions"`, "no description annotation"},
		{KindConventions, detections, `alert "NoConventions"`, "docs/runbooks/missing.md, which does not exist"},

		{KindRules, malformed, `group "twice" rule 1 "RuleWithoutExpr"`, "field 'expr' must be set"},
		{KindRules, malformed, `group "twice" rule 2 "AlertAndRecord"`, "only one of 'record' and 'alert'"},
		{KindRules, malformed, "", `groupname: "twice" is repeated`},
		{KindRules, malformed, `group "twice"`, "the group has no rules"},
		{KindConventions, malformed, `alert "RuleWithoutExpr"`, "no summary annotation"},
		{KindConventions, malformed, `alert "RuleWithoutExpr"`, "no description annotation"},
		{KindConventions, malformed, `alert "RuleWithoutExpr"`, "no runbook_url annotation"},
		{KindConventions, malformed, `alert "AlertAndRecord"`, "no severity label"},
		{KindConventions, malformed, `alert "AlertAndRecord"`, "no summary annotation"},
		{KindConventions, malformed, `alert "AlertAndRecord"`, "no description annotation"},
		{KindConventions, malformed, `alert "AlertAndRecord"`, "no runbook_url annotation"},
		{KindRules, "alerts/loki/unknown-field.yaml", "", "field exprr not found"},

		{KindPromQL, agentRules, `group "fixture-agent-bad" rule 1 "BrokenPromQL"`, "could not parse expression"},
		{KindMetrics, agentRules, `alert "UnknownMetric"`, `metric "promtail_sent_lines_total" is neither registered`},
		{KindMetrics, agentRules, `alert "UnknownMetricLabel"`, `promtail_sent_entries_total has no label "tenant"`},
		{KindMetrics, agentRules, `alert "GroupingByMissingLabel"`, `sum by (instance, reason): no series under it has label "reason"`},

		{KindAlertmanager, am, "inhibit rule 1", `source matcher {alertname="RootLoginTypo"}`},
		{KindAlertmanager, am, "inhibit rule 1", `target matcher {alertname="UnknownMetric"}`},
		{KindAlertmanager, am, `route > route 1 (receiver "oncall")`, `matcher {alertname="NoSuchAlert"} names no alert`},

		{KindLabels, dash, `variable "host" label`, `uses label "hostip"`},
		{KindLogQL, dash, `panel "Broken LogQL" (id 1) query A`, "LogQL syntax error"},
		{KindLabels, dash, `panel "Unknown label" (id 2) query A`, `uses label "hostname_ip"`},
		{KindQueryNames, dash, `panel "Unknown query name" (id 3) query A`, `name="pack_incident-response_sudoer" matches nothing`},
		{KindDashboards, dash, `panel "Undefined variable" (id 4) query A`, "uses $hots, which the dashboard does not define"},
		{KindDashboards, dash, `panel "Hard-coded datasource" (id 5)`, `datasource uid "P8E80F9AEF21F6940" is hard-coded`},
		{KindPromQL, dash, `panel "Broken PromQL" (id 6) query A`, "unclosed left parenthesis"},
		{KindMetrics, dash, `panel "Unknown metric" (id 7) query A`, `metric "promtail_files_watched"`},

		{KindDashboards, "dashboards/more.json", `panel "Mixed without a datasource" (id 1) query A`, "cannot tell the datasource type"},
		{KindDashboards, "dashboards/more.json", `panel "Unknown datasource variable" (id 2)`, `datasource "${elastic}" is not a datasource variable`},
		{KindDashboards, "dashboards/more.json", `panel "Unknown datasource variable" (id 2) query A`, "cannot tell the datasource type"},
		{KindDashboards, "dashboards/more.json", `panel "Empty query" (id 3) query A`, "empty expr"},
		{KindDashboards, "dashboards/truncated.json", "", "not a dashboard: unexpected end of JSON input"},
	})
}

// TestFacts checks that the derivation finds what the agent is known to
// produce, so that a derivation gone wrong (nothing read, nothing run) cannot
// pass as "every label is unknown" or the opposite.
func TestFacts(t *testing.T) {
	f := repoFacts(t)
	for _, tc := range []struct {
		label, from string
	}{
		{"job", "static label"},
		{"filename", "added by the file target"},
		{"name", "set by the pipeline"},
		{"host", "set by the pipeline"},
		{"action", "set by the pipeline"},
		{"severity", "set by the pipeline of job \"osquery_status\""},
	} {
		from, ok := f.Labels[tc.label]
		if !ok || !strings.Contains(from, tc.from) {
			t.Errorf("label %q: got %q (found: %v), want it %s", tc.label, from, ok, tc.from)
		}
	}
	for _, v := range []string{"added", "removed", "snapshot"} {
		if !f.Values["action"][v] {
			t.Errorf("action %q not seen; seen %v", v, sortedKeys(f.Values["action"]))
		}
	}
	for _, name := range []string{"pack_incident-response_last", "heartbeat"} {
		if !f.QueryNames[name] {
			t.Errorf("query %q not scheduled; scheduled %v", name, sortedKeys(f.QueryNames))
		}
	}
	for _, tc := range []struct {
		series string
		labels []string
	}{
		{"promtail_sent_entries_total", []string{"host"}},                           // client, a vector with no series yet
		{"promtail_request_duration_seconds_bucket", []string{"status_code", "le"}}, // client histogram
		{"promtail_files_active_total", nil},                                        // file target
		{"promtail_osquery_records_total", []string{"format"}},                      // osquery stage
		{"promtail_build_info", []string{"version"}},                                // version collector
		{"process_resident_memory_bytes", nil},                                      // default registry
	} {
		ls, ok := f.Metrics[tc.series]
		if !ok {
			t.Errorf("metric %q not derived", tc.series)
			continue
		}
		for _, l := range tc.labels {
			if !ls[l] {
				t.Errorf("metric %q: no label %q among %v", tc.series, l, sortedKeys(ls))
			}
		}
	}
	for _, l := range sortedKeys(f.Labels) {
		t.Logf("stream label %s: %s", l, f.Labels[l])
	}
}
