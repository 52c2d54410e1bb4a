package packcheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// promqlParser is the parser Prometheus itself starts with.
var promqlParser = parser.NewParser(parser.Options{})

// lokiExprParser lets rulefmt validate a Loki rule file — strict decoding,
// group names, alert or record, labels, annotation templates — without
// reading expr as PromQL: LogQL is checked apart, with Grafana's grammar.
type lokiExprParser struct{ parser.Parser }

func (lokiExprParser) ParseExpr(string) (parser.Expr, error) { return nil, nil }

// warnings collects what rulefmt only logs (a second YAML document, which it
// ignores), since a rule hidden there would never be loaded.
type warnings struct {
	msgs *[]string
}

func (w warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w warnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		*w.msgs = append(*w.msgs, r.Message)
	}
	return nil
}
func (w warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w warnings) WithGroup(string) slog.Handler      { return w }

func (c *checker) loadRules() error {
	c.lokiAlerts, c.promAlerts, c.recorded = map[string]bool{}, map[string]bool{}, map[string]bool{}
	lokiFiles, err := files(filepath.Join(c.root, "alerts", "loki"), ".yaml", ".yml")
	if err != nil {
		return err
	}
	promFiles, err := files(filepath.Join(c.root, "alerts", "prometheus"), ".yaml", ".yml")
	if err != nil {
		return err
	}
	for _, f := range lokiFiles {
		if err := c.loadRuleFile(f, true); err != nil {
			return err
		}
	}
	for _, f := range promFiles {
		if err := c.loadRuleFile(f, false); err != nil {
			return err
		}
	}
	return nil
}

// loadRuleFile validates one rule file and queues its expressions: LogQL for
// a Loki file (which rulefmt does not parse), nothing more for a Prometheus
// one, whose PromQL rulefmt has already parsed.
func (c *checker) loadRuleFile(path string, loki bool) error {
	rel := c.rel(path)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", rel, err)
	}
	c.sum.RuleFiles++
	p := parser.Parser(lokiExprParser{promqlParser})
	if !loki {
		p = promqlParser
	}
	var warned []string
	groups, errs := rulefmt.Parse(data, false, model.LegacyValidation, p, slog.New(warnings{&warned}))
	for _, w := range warned {
		c.report(KindRules, rel, "", "%s", w)
	}
	for _, err := range errs {
		where, msg := "", err.Error()
		var re *rulefmt.Error
		if errors.As(err, &re) {
			where = fmt.Sprintf("group %q rule %d %q", re.Group, re.Rule, re.RuleName)
			msg = re.Err.Error()
		}
		kind := KindRules
		if !loki && strings.Contains(msg, "could not parse expression") {
			kind = KindPromQL
		}
		c.report(kind, rel, where, "%s", msg)
	}
	if groups == nil {
		return nil
	}
	if len(groups.Groups) == 0 {
		c.report(KindRules, rel, "", "no rule groups: a rule file needs a top-level groups: list")
	}
	for _, g := range groups.Groups {
		if len(g.Rules) == 0 {
			c.report(KindRules, rel, fmt.Sprintf("group %q", g.Name), "the group has no rules")
		}
		for i, r := range g.Rules {
			c.sum.Rules++
			where := ruleWhere(g.Name, i, r)
			switch {
			case r.Alert != "" && loki:
				c.lokiAlerts[r.Alert] = true
			case r.Alert != "":
				c.promAlerts[r.Alert] = true
			case r.Record != "":
				c.recorded[r.Record] = true
			}
			if r.Alert != "" {
				c.checkConventions(rel, where, r)
			}
			if loki && r.Expr != "" {
				c.logql = append(c.logql, query{file: rel, where: where, expr: r.Expr, rule: true})
			}
			if !loki && r.Expr != "" {
				c.promql = append(c.promql, query{file: rel, where: where, expr: r.Expr, rule: true})
			}
		}
	}
	return nil
}

func ruleWhere(group string, i int, r rulefmt.Rule) string {
	switch {
	case r.Alert != "":
		return fmt.Sprintf("group %q alert %q", group, r.Alert)
	case r.Record != "":
		return fmt.Sprintf("group %q record %q", group, r.Record)
	}
	return fmt.Sprintf("group %q rule %d", group, i+1)
}

// runbookPath finds the runbook a runbook_url names, wherever the docs are
// served from: the part from docs/runbooks/ on, anchor dropped.
var runbookPath = regexp.MustCompile(`docs/runbooks/[^#?]+`)

// checkConventions holds every alert to what issue 5 asks of the pack: a
// severity to route on, a summary and description for the person paged, and
// a runbook in docs/runbooks/ that exists.
func (c *checker) checkConventions(file, where string, r rulefmt.Rule) {
	if r.Labels["severity"] == "" {
		c.report(KindConventions, file, where, "no severity label")
	}
	for _, a := range []string{"summary", "description", "runbook_url"} {
		if strings.TrimSpace(r.Annotations[a]) == "" {
			c.report(KindConventions, file, where, "no %s annotation", a)
		}
	}
	url := r.Annotations["runbook_url"]
	if url == "" {
		return
	}
	doc := runbookPath.FindString(url)
	if doc == "" {
		c.report(KindConventions, file, where, "runbook_url %q does not point into docs/runbooks/", url)
		return
	}
	if _, err := os.Stat(filepath.Join(c.root, filepath.FromSlash(doc))); err != nil {
		c.report(KindConventions, file, where, "runbook_url names %s, which does not exist", doc)
	}
}
