package packcheck

import (
	"sort"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// seriesPrometheusMakes are series that Prometheus itself writes about a
// scrape or an alert, not the agent: a query may use them as well as what
// the agent registers. Their labels are not checked (ALERTS carries each
// alert's own).
var seriesPrometheusMakes = map[string]bool{
	"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true,
	"scrape_samples_post_metric_relabeling": true, "scrape_series_added": true,
	"ALERTS": true, "ALERTS_FOR_STATE": true,
}

// targetLabels are the labels Prometheus gives every series it scrapes.
var targetLabels = map[string]bool{"job": true, "instance": true}

// checkPromQL parses every PromQL expression and checks the series it reads:
// the agent's (with label names the agent sets, or job and instance), a
// recorded series of the pack's rules, or one of Prometheus's own; and that
// an aggregation groups by labels its input has.
func (c *checker) checkPromQL() {
	for _, q := range c.promql {
		expr, err := promqlParser.ParseExpr(q.expr)
		if err != nil {
			// rulefmt has already reported a rule's.
			if !q.rule {
				c.report(KindPromQL, q.file, q.where, "%v\n\t%s", err, oneLine(q.expr))
			}
			continue
		}
		if c.facts == nil {
			continue
		}
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			switch n := node.(type) {
			case *parser.VectorSelector:
				c.checkSelector(q, n)
			case *parser.AggregateExpr:
				c.checkGrouping(q, n)
			}
			return nil
		})
	}
}

// selectorName is the metric name a selector asks for, or "".
func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

func (c *checker) checkSelector(q query, vs *parser.VectorSelector) {
	name := selectorName(vs)
	if name == "" {
		return
	}
	ls, ok := c.facts.Metrics[name]
	if !ok {
		if !c.recorded[name] && !seriesPrometheusMakes[name] {
			c.report(KindMetrics, q.file, q.where, "metric %q is neither registered by the agent nor recorded by a rule in alerts/", name)
		}
		return
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel || targetLabels[m.Name] || ls[m.Name] {
			continue
		}
		c.report(KindMetrics, q.file, q.where, "%s has no label %q (it has %s, and Prometheus adds job and instance)", name, m.Name, strings.Join(sortedKeys(ls), ", "))
	}
}

// checkGrouping checks that every label of a by (...) clause is one that a
// series under the aggregation carries, or one that a label_replace or
// label_join under it makes. An aggregation over a series whose labels are
// unknown (recorded, or Prometheus's own) is not checked.
func (c *checker) checkGrouping(q query, agg *parser.AggregateExpr) {
	if agg.Without || len(agg.Grouping) == 0 {
		return
	}
	have := map[string]bool{}
	for l := range targetLabels {
		have[l] = true
	}
	known := true
	parser.Inspect(agg.Expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			ls, ok := c.facts.Metrics[selectorName(n)]
			if !ok {
				known = false
			}
			for l := range ls {
				have[l] = true
			}
		case *parser.Call:
			if (n.Func.Name == "label_replace" || n.Func.Name == "label_join") && len(n.Args) > 1 {
				if dst, ok := n.Args[1].(*parser.StringLiteral); ok {
					have[dst.Val] = true
				}
			}
		}
		return nil
	})
	if !known {
		return
	}
	for _, l := range agg.Grouping {
		if !have[l] {
			c.report(KindMetrics, q.file, q.where, "%s by (%s): no series under it has label %q", agg.Op, strings.Join(agg.Grouping, ", "), l)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
