package packcheck

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSubstitute(t *testing.T) {
	vars := []variable{
		{Name: "host", Type: "query", AllValue: ".*", Current: struct {
			Value json.RawMessage `json:"value"`
		}{json.RawMessage(`["$__all"]`)}},
		{Name: "node", Type: "query", Current: struct {
			Value json.RawMessage `json:"value"`
		}{json.RawMessage(`"$__all"`)}},
		{Name: "users", Type: "query", Current: struct {
			Value json.RawMessage `json:"value"`
		}{json.RawMessage(`["root","admin"]`)}},
		{Name: "top", Type: "custom", Query: json.RawMessage(`"5, 10, 20"`)},
		{Name: "blank", Type: "textbox"},
	}
	s := &dashboardScope{c: &checker{}, vars: map[string]*variable{}}
	for i := range vars {
		s.vars[vars[i].Name] = &vars[i]
	}
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: `rate({a="b"}[$__rate_interval])`, want: `rate({a="b"}[4m])`},
		{in: `x[$__interval] * $__range_s`, want: `x[1m] * 3600`},
		{in: `{host=~"$host"}`, want: `{host=~".*"}`},
		{in: `{host=~"${host:regex}"}`, want: `{host=~".*"}`},
		{in: `{host=~"[[host]]"}`, want: `{host=~".*"}`},
		{in: `{node=~"$node"}`, want: `{node=~".+"}`},
		{in: `{user=~"${users}"}`, want: `{user=~"root|admin"}`},
		{in: `topk($top, x)`, want: `topk(5, x)`},
		{in: `{a="$blank"}`, want: `{a="example"}`},
		{in: `{a=~"^x$"} |~ "y$|z"`, want: `{a=~"^x$"} |~ "y$|z"`},
		{in: `{a="$nope", b="${__nope}"}`, err: "uses $nope, ${__nope}, which the dashboard does not define"},
	} {
		got, _, err := s.substitute(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("substitute(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("substitute(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestReadDesc(t *testing.T) {
	for _, tc := range []struct {
		desc   *prometheus.Desc
		name   string
		labels []string
	}{
		{prometheus.NewDesc("a_total", "help", nil, nil), "a_total", nil},
		{prometheus.NewDesc("b_seconds", "help with \"quotes\", and {braces}", []string{"host", "status_code"}, prometheus.Labels{"k": `v}, x="y"`}), "b_seconds", []string{"host", "k", "status_code"}},
		{prometheus.V2.NewDesc("c_bytes", "help", prometheus.ConstrainedLabels{{Name: "path", Constraint: strings.ToLower}}, nil), "c_bytes", []string{"path"}},
	} {
		name, labels, err := readDesc(tc.desc)
		if err != nil {
			t.Errorf("%s: %v", tc.desc, err)
			continue
		}
		if got := sortedKeys(labels); name != tc.name || !reflect.DeepEqual(got, append([]string{}, tc.labels...)) {
			t.Errorf("%s: got %q %v, want %q %v", tc.desc, name, got, tc.name, tc.labels)
		}
	}
}

func TestScheduledQueries(t *testing.T) {
	got, err := ScheduledQueries(filepath.Join("testdata", "osquery-delim"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"heartbeat", "pack/inline/uptime", "pack/ir/last"}
	if !reflect.DeepEqual(sortedKeys(got), want) {
		t.Errorf("got %v, want %v", sortedKeys(got), want)
	}

	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, conf, want string
	}{
		{"missing osquery.conf", "", "osquery.conf"},
		{"not JSON", `{"schedule": `, "osquery.conf"},
		{"pack file missing", `{"packs": {"ir": "/etc/osquery/packs/gone.conf"}}`, `pack "ir"`},
		{"inline pack not an object", `{"packs": {"ir": 3}}`, `pack "ir" in osquery.conf`},
		{"nothing scheduled", `{"schedule": {}}`, "schedules no query"},
	} {
		os.Remove(filepath.Join(dir, "osquery.conf"))
		if tc.conf != "" {
			write("osquery.conf", tc.conf)
		}
		if _, err := ScheduledQueries(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestNodeModulesMatch(t *testing.T) {
	dir := t.TempDir()
	if _, err := nodeModulesMatch(dir); err == nil {
		t.Error("no package.json: want an error")
	}
	write := func(path, text string) {
		t.Helper()
		full := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("package.json", `{"dependencies": {"@scope/grammar": "1.2.3"}}`)
	for _, tc := range []struct {
		name, installed string
		want            bool
	}{
		{"not installed", "", false},
		{"other version", `{"version": "1.2.4"}`, false},
		{"unreadable version", `{"version": 1}`, false},
		{"pinned version", `{"version": "1.2.3"}`, true},
	} {
		os.RemoveAll(filepath.Join(dir, "node_modules"))
		if tc.installed != "" {
			write("node_modules/@scope/grammar/package.json", tc.installed)
		}
		got, err := nodeModulesMatch(dir)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestGenOsqueryNeedsShared(t *testing.T) {
	_, err := GenOsqueryInput(filepath.Join(t.TempDir(), "repo"))
	if err == nil || !strings.Contains(err.Error(), "need ../shared beside the repository") {
		t.Errorf("got %v, want an error saying ../shared is needed", err)
	}
}

func TestCheckEmptyTree(t *testing.T) {
	problems, sum, err := Check(t.TempDir(), nil, nil)
	if err != nil || len(problems) != 0 || !sum.Empty() {
		t.Errorf("got %v, %+v, %v; want nothing checked", problems, sum, err)
	}
}

// TestLogQLScript checks check.mjs's own contract: its answers for the
// shapes the checks rely on, and its refusal of input it cannot read.
func TestLogQLScript(t *testing.T) {
	parse, skip := logqlParser(t)
	if parse == nil {
		t.Skip(skip)
	}
	res, err := parse([]string{
		"{job=\"é\", name=~`pack_.*`} | json | host=\"x\"",
		`sum(count_over_time({job="a"}[5m])`,
		``,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []LogQLResult{
		{Expr: "{job=\"é\", name=~`pack_.*`} | json | host=\"x\"", Kind: "log", Matchers: []LogQLMatcher{{Name: "job", Op: "=", Value: `"é"`, From: 1}, {Name: "name", Op: "=~", Value: "`pack_.*`", From: 11}}},
		{Expr: `sum(count_over_time({job="a"}[5m])`, Kind: "metric", Errors: []LogQLError{{From: 34, To: 34}}, Matchers: []LogQLMatcher{{Name: "job", Op: "=", Value: `"a"`, From: 21}}},
		{Expr: ``, Kind: "", Errors: []LogQLError{{}}},
	}
	for i := range want {
		if want[i].Errors == nil {
			want[i].Errors = []LogQLError{}
		}
		if want[i].Matchers == nil {
			want[i].Matchers = []LogQLMatcher{}
		}
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("got  %+v\nwant %+v", res, want)
	}

	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	for _, in := range []string{`{"not": "a list"}`, `not json`} {
		cmd := exec.Command(node, filepath.Join("tools", "logqlcheck", "check.mjs"))
		cmd.Dir = repoRoot(t)
		cmd.Stdin = strings.NewReader(in)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("input %s: got %v (%s), want exit status 2", in, err, out)
		}
	}
	if _, err := (NodeLogQL{Node: node, Dir: t.TempDir()}).Parse([]string{"{a=\"b\"}"}); err == nil {
		t.Error("check.mjs missing: want an error")
	}
}
