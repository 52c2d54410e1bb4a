package packcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// LogQLResult is what Grafana's grammar found in one expression.
type LogQLResult struct {
	Expr string `json:"expr"`
	// Kind is "log" or "metric", or "" when the parser could not tell.
	Kind     string         `json:"kind"`
	Errors   []LogQLError   `json:"errors"`
	Matchers []LogQLMatcher `json:"matchers"`
}

// LogQLError is an error node of the parse tree; offsets are in bytes.
type LogQLError struct {
	From int    `json:"from"`
	To   int    `json:"to"`
	Near string `json:"near"`
}

// LogQLMatcher is a matcher of a stream selector. Value is the string
// literal as written, quotes included.
type LogQLMatcher struct {
	Name  string `json:"name"`
	Op    string `json:"op"`
	Value string `json:"value"`
	From  int    `json:"from"`
}

// LogQLParser parses LogQL expressions, returning one result per expression.
type LogQLParser func(exprs []string) ([]LogQLResult, error)

// NodeLogQL is tools/logqlcheck: check.mjs run by node from dir (the
// repository root), with its node_modules already installed.
type NodeLogQL struct {
	Node string // path of the node binary
	Dir  string
}

// Parse runs check.mjs once over every expression.
func (n NodeLogQL) Parse(exprs []string) ([]LogQLResult, error) {
	in, err := json.Marshal(exprs)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.Node, filepath.Join("tools", "logqlcheck", "check.mjs"))
	cmd.Dir = n.Dir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("node tools/logqlcheck/check.mjs: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var out []LogQLResult
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("reading the output of tools/logqlcheck/check.mjs: %w", err)
	}
	if len(out) != len(exprs) {
		return nil, fmt.Errorf("tools/logqlcheck/check.mjs answered %d results for %d expressions", len(out), len(exprs))
	}
	for i := range out {
		if out[i].Expr != exprs[i] {
			return nil, fmt.Errorf("tools/logqlcheck/check.mjs answered for %q where %q was asked", out[i].Expr, exprs[i])
		}
	}
	return out, nil
}

// EnsureNodeModules installs tools/logqlcheck's locked dependencies with npm
// ci when node_modules does not hold exactly the versions package.json pins,
// so that a fresh clone's go test ./... needs nothing but node and npm. It
// returns npm's output when it ran.
func EnsureNodeModules(root, npm string) (string, error) {
	dir := filepath.Join(root, "tools", "logqlcheck")
	ok, err := nodeModulesMatch(dir)
	if err != nil || ok {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("npm ci in tools/logqlcheck: %w\n%s", err, out)
	}
	if ok, err := nodeModulesMatch(dir); err != nil || !ok {
		return string(out), fmt.Errorf("npm ci in tools/logqlcheck did not install the pinned versions (err: %v)", err)
	}
	return string(out), nil
}

// nodeModulesMatch reports whether every dependency of package.json is
// installed at the exact version it pins.
func nodeModulesMatch(dir string) (bool, error) {
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return false, fmt.Errorf("reading tools/logqlcheck/package.json: %w", err)
	}
	if err := json.Unmarshal(data, &pkg); err != nil {
		return false, fmt.Errorf("tools/logqlcheck/package.json: %w", err)
	}
	for name, want := range pkg.Dependencies {
		var installed struct {
			Version string `json:"version"`
		}
		data, err := os.ReadFile(filepath.Join(dir, "node_modules", filepath.FromSlash(name), "package.json"))
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if json.Unmarshal(data, &installed) != nil || installed.Version != want {
			return false, nil
		}
	}
	return true, nil
}

// Labels whose values the pack can know in advance; a selector that asks for
// another value matches nothing.
const (
	labelJob    = "job"
	labelName   = "name"
	labelAction = "action"
)

func (c *checker) checkLogQL(parse LogQLParser) error {
	if len(c.logql) == 0 {
		return nil
	}
	exprs := make([]string, len(c.logql))
	for i, q := range c.logql {
		exprs[i] = q.expr
	}
	results, err := parse(exprs)
	if err != nil {
		return err
	}
	for i, q := range c.logql {
		r := results[i]
		for _, e := range r.Errors {
			c.report(KindLogQL, q.file, q.where, "LogQL syntax error at byte %d:\n\t%s\n\t%s^", e.From, oneLine(q.expr), strings.Repeat(" ", caretColumn(q.expr, e.From)))
		}
		if len(r.Errors) == 0 && q.rule && r.Kind != "metric" {
			c.report(KindLogQL, q.file, q.where, "the Loki ruler only evaluates metric queries; this is a log query: %s", oneLine(q.expr))
		}
		for _, m := range r.Matchers {
			c.checkMatcher(q, m)
		}
	}
	return nil
}

// checkMatcher checks one stream selector matcher against what the agent
// sends: the label name must be one it sets, and for labels whose values the
// pack knows (job, name, action), the value must be one of them.
func (c *checker) checkMatcher(q query, m LogQLMatcher) {
	if m.Name == "" || m.Value == "" {
		return // a syntax error, already reported
	}
	if c.facts == nil {
		return
	}
	if _, ok := c.facts.Labels[m.Name]; !ok {
		c.report(KindLabels, q.file, q.where, "stream selector uses label %q, which the agent never sets for the configs in configs/ (it sets %s)", m.Name, strings.Join(sortedKeys(c.facts.Labels), ", "))
		return
	}
	value, err := strconv.Unquote(m.Value)
	if err != nil {
		c.report(KindLogQL, q.file, q.where, "label %s: %s is not a valid string: %v", m.Name, m.Value, err)
		return
	}
	if q.varValues[value] {
		return
	}
	var known map[string]bool
	kind := KindLabels
	switch m.Name {
	case labelName:
		known, kind = c.facts.QueryNames, KindQueryNames
	case labelJob, labelAction:
		known = c.facts.Values[m.Name]
	default:
		return
	}
	switch m.Op {
	case "=":
		if !known[value] {
			c.report(kind, q.file, q.where, "%s=%q matches nothing: the agent's %s values are %s", m.Name, value, m.Name, strings.Join(sortedKeys(known), ", "))
		}
	case "=~":
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			c.report(KindLogQL, q.file, q.where, "%s=~%q: %v", m.Name, value, err)
			return
		}
		for v := range known {
			if re.MatchString(v) {
				return
			}
		}
		c.report(kind, q.file, q.where, "%s=~%q matches none of the agent's %s values (%s)", m.Name, value, m.Name, strings.Join(sortedKeys(known), ", "))
	}
}

// oneLine puts a multi-line expression on one line for a message, keeping
// byte offsets.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// caretColumn is how many characters precede byte offset off.
func caretColumn(s string, off int) int {
	if off > len(s) {
		off = len(s)
	}
	return len([]rune(s[:off]))
}
