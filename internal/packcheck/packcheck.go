// Package packcheck checks the incident-response pack that users copy: the
// Loki and Prometheus rule files in alerts/, alerts/alertmanager.yml and the
// Grafana dashboards in dashboards/. Rule groups are decoded with Prometheus's
// rulefmt, PromQL goes through Prometheus's parser, Alertmanager's config
// through Alertmanager's loader and LogQL through Grafana's own lezer grammar
// (tools/logqlcheck, run with Node.js). What the expressions may name — stream
// labels, osquery query names, metric names — is not a hand-kept list: Derive
// reads it off the agent's code and the configs in configs/.
//
// The package's tests run these checks on the repository (so go test ./...
// fails on a broken rule or panel) and on broken fixtures in testdata.
package packcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Kind names the check a Problem comes from, so that a test can report each
// kind apart.
type Kind string

const (
	KindRules        Kind = "rules"        // rule group structure
	KindConventions  Kind = "conventions"  // what the pack promises of every alert
	KindLogQL        Kind = "logql"        // LogQL syntax
	KindPromQL       Kind = "promql"       // PromQL syntax
	KindLabels       Kind = "labels"       // stream selector label names and values
	KindQueryNames   Kind = "query-names"  // name="…" matchers against the osquery schedule
	KindMetrics      Kind = "metrics"      // metric names against what the agent registers
	KindDashboards   Kind = "dashboards"   // dashboard JSON, datasources, variables
	KindAlertmanager Kind = "alertmanager" // alertmanager.yml
)

// Problem is one thing wrong in the pack.
type Problem struct {
	Kind  Kind
	File  string // relative to the checked root
	Where string // the rule group and rule, or the panel and query
	Msg   string
}

func (p Problem) String() string {
	if p.Where == "" {
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", p.File, p.Where, p.Msg)
}

// Summary counts what a Check looked at, so that a run that checked nothing
// says so.
type Summary struct {
	RuleFiles, Rules, Dashboards, Queries int
	Alertmanager                          bool
}

// Empty reports whether there was nothing to check.
func (s Summary) Empty() bool {
	return s.RuleFiles == 0 && s.Dashboards == 0 && !s.Alertmanager
}

// Check runs every check on the pack under root (a tree laid out like the
// repository: alerts/loki, alerts/prometheus, alerts/alertmanager.yml,
// dashboards). It checks whatever of these exists. logql parses LogQL; nil
// leaves out the checks that need it (LogQL syntax and stream selectors).
func Check(root string, facts *Facts, logql LogQLParser) ([]Problem, Summary, error) {
	c := &checker{root: root, facts: facts}
	if err := c.loadRules(); err != nil {
		return nil, c.sum, err
	}
	if err := c.loadDashboards(); err != nil {
		return nil, c.sum, err
	}
	if logql != nil {
		if err := c.checkLogQL(logql); err != nil {
			return nil, c.sum, err
		}
	}
	c.checkPromQL()
	if err := c.checkAlertmanager(); err != nil {
		return nil, c.sum, err
	}
	sort.SliceStable(c.problems, func(i, j int) bool {
		a, b := c.problems[i], c.problems[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Where < b.Where
	})
	return c.problems, c.sum, nil
}

// query is one expression found in the pack, with where it was found.
type query struct {
	file, where string
	expr        string // as it is parsed: Grafana variables replaced
	// varValues are the values given to the dashboard's own variables; a
	// matcher whose value is one of them is the viewer's choice, not the
	// pack's, and its value is not checked.
	varValues map[string]bool
	// rule is set for rule expressions, which the Loki ruler only accepts as
	// metric queries.
	rule bool
}

type checker struct {
	root     string
	facts    *Facts
	problems []Problem
	sum      Summary

	logql  []query
	promql []query
	// Alert and recording rule names, for Alertmanager's matchers and for
	// PromQL that reads recorded series.
	lokiAlerts, promAlerts, recorded map[string]bool
}

func (c *checker) report(kind Kind, file, where, format string, args ...any) {
	c.problems = append(c.problems, Problem{Kind: kind, File: file, Where: where, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) rel(path string) string {
	if r, err := filepath.Rel(c.root, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}

// files lists the files under dir (recursively) whose names end in one of
// exts, sorted; a missing dir has none.
func files(dir string, exts ...string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == dir {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		for _, ext := range exts {
			if filepath.Ext(path) == ext {
				out = append(out, path)
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	sort.Strings(out)
	return out, nil
}
