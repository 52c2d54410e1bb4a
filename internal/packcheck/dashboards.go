package packcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The parts of a Grafana dashboard's JSON model that hold queries.
type dashboard struct {
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []annotation `json:"list"`
	} `json:"annotations"`
	// Inputs are an exported dashboard's datasource placeholders (${DS_LOKI}).
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
}

type panel struct {
	ID         int             `json:"id"`
	Title      string          `json:"title"`
	Type       string          `json:"type"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []target        `json:"targets"`
	// Panels are the panels of a collapsed row.
	Panels []panel `json:"panels"`
}

type target struct {
	RefID      string          `json:"refId"`
	Datasource json.RawMessage `json:"datasource"`
	Expr       *string         `json:"expr"`
	Hide       bool            `json:"hide"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Datasource json.RawMessage `json:"datasource"`
	Query      json.RawMessage `json:"query"`
	AllValue   string          `json:"allValue"`
	Current    struct {
		Value json.RawMessage `json:"value"`
	} `json:"current"`
	Options []struct {
		Value json.RawMessage `json:"value"`
	} `json:"options"`
}

type annotation struct {
	Name       string          `json:"name"`
	Datasource json.RawMessage `json:"datasource"`
	Expr       string          `json:"expr"`
	BuiltIn    int             `json:"builtIn"`
}

// datasourceRef is a datasource as a panel, target or variable names it:
// {"type": "loki", "uid": "${loki}"}, or, in older dashboards, a string.
type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Datasource UIDs that are Grafana's own, not an instance's.
var builtinDatasources = map[string]bool{
	"-- Grafana --": true, "grafana": true, "-- Mixed --": true, "-- Dashboard --": true,
}

func (c *checker) loadDashboards() error {
	paths, err := files(filepath.Join(c.root, "dashboards"), ".json")
	if err != nil {
		return err
	}
	for _, path := range paths {
		rel := c.rel(path)
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading %s: %w", rel, err)
		}
		c.sum.Dashboards++
		var d dashboard
		if err := json.Unmarshal(data, &d); err != nil {
			c.report(KindDashboards, rel, "", "not a dashboard: %v", err)
			continue
		}
		c.loadDashboard(rel, &d)
	}
	return nil
}

// dashboardScope is what resolving a dashboard's datasources and variables
// needs.
type dashboardScope struct {
	c    *checker
	file string
	d    *dashboard
	vars map[string]*variable
}

func (c *checker) loadDashboard(file string, d *dashboard) {
	s := &dashboardScope{c: c, file: file, d: d, vars: map[string]*variable{}}
	for i := range d.Templating.List {
		v := &d.Templating.List[i]
		s.vars[v.Name] = v
	}
	for i := range d.Templating.List {
		s.variableQuery(&d.Templating.List[i])
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn != 0 || a.Expr == "" {
			continue
		}
		where := fmt.Sprintf("annotation %q", a.Name)
		s.add(where, s.datasourceType(where, a.Datasource), a.Expr)
	}
	var walk func([]panel)
	walk = func(panels []panel) {
		for _, p := range panels {
			pwhere := fmt.Sprintf("panel %q (id %d)", p.Title, p.ID)
			pType := ""
			if len(p.Datasource) > 0 && string(p.Datasource) != "null" {
				pType = s.datasourceType(pwhere, p.Datasource)
			}
			for _, t := range p.Targets {
				where := fmt.Sprintf("%s query %s", pwhere, t.RefID)
				typ := pType
				if len(t.Datasource) > 0 && string(t.Datasource) != "null" {
					typ = s.datasourceType(where, t.Datasource)
				}
				if t.Expr == nil {
					continue
				}
				if strings.TrimSpace(*t.Expr) == "" {
					if !t.Hide {
						c.report(KindDashboards, file, where, "empty expr")
					}
					continue
				}
				s.add(where, typ, *t.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
}

// add queues expr for the checks of its datasource type.
func (s *dashboardScope) add(where, dsType, expr string) {
	s.c.sum.Queries++
	resolved, values, err := s.substitute(expr)
	if err != nil {
		s.c.report(KindDashboards, s.file, where, "%v", err)
		return
	}
	q := query{file: s.file, where: where, expr: resolved, varValues: values}
	switch dsType {
	case "loki":
		s.c.logql = append(s.c.logql, q)
	case "prometheus":
		s.c.promql = append(s.c.promql, q)
	case "":
		s.c.report(KindDashboards, s.file, where, "cannot tell the datasource type of this query, so its expr is not checked")
	default:
		// Another datasource's query language; not the pack's.
	}
}

// datasourceType resolves a datasource reference to its plugin type, and
// reports one that is pinned to somebody's Grafana instance.
func (s *dashboardScope) datasourceType(where string, raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		s.c.report(KindDashboards, s.file, where, "no datasource: Grafana would use its default one")
		return ""
	}
	var ref datasourceRef
	if err := json.Unmarshal(raw, &ref); err != nil {
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			s.c.report(KindDashboards, s.file, where, "datasource %s is neither an object nor a string", raw)
			return ""
		}
		ref.UID = name
	}
	if builtinDatasources[ref.UID] {
		// Grafana's own: no LogQL nor PromQL, and under -- Mixed -- each
		// query names its datasource.
		return ""
	}
	name, isVar := variableName(ref.UID)
	if !isVar {
		if ref.UID != "" {
			s.c.report(KindDashboards, s.file, where, "datasource uid %q is hard-coded; use a datasource variable", ref.UID)
		}
		return ref.Type
	}
	if v, ok := s.vars[name]; ok && v.Type == "datasource" {
		var plugin string
		if json.Unmarshal(v.Query, &plugin) == nil && plugin != "" {
			return plugin
		}
	}
	for _, in := range s.d.Inputs {
		if in.Name == name && in.Type == "datasource" {
			return in.PluginID
		}
	}
	if ref.Type == "" {
		s.c.report(KindDashboards, s.file, where, "datasource %q is not a datasource variable of this dashboard", ref.UID)
	}
	return ref.Type
}

// variableName returns the variable a whole datasource uid refers to: $x,
// ${x} or [[x]].
func variableName(uid string) (string, bool) {
	m := wholeVariable.FindStringSubmatch(uid)
	if m == nil {
		return "", false
	}
	for _, g := range m[1:] {
		if g != "" {
			return g, true
		}
	}
	return "", false
}

var wholeVariable = regexp.MustCompile(`^(?:\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::\w+)?\]\])$`)

// variableRef finds Grafana variable references in a query: ${name},
// ${name:format}, [[name]], [[name:format]] and $name.
var variableRef = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)`)

// builtinValues are plausible values for Grafana's global variables, chosen
// to parse where Grafana would put them (durations in ranges, numbers in
// arithmetic).
var builtinValues = map[string]string{
	"__interval":      "1m",
	"__rate_interval": "4m",
	"__range":         "1h",
	"__auto":          "1m",
	"__interval_ms":   "60000",
	"__range_s":       "3600",
	"__range_ms":      "3600000",
	"__from":          "1793491200000",
	"__to":            "1793494800000",
	"__dashboard":     "dashboard",
	"__name":          "name",
	"__org":           "1",
	"__user":          "user",
}

// substitute replaces every variable in expr with a value it may have: the
// current value saved in the dashboard, else its first option, else a
// placeholder. It fails on a variable the dashboard does not define.
func (s *dashboardScope) substitute(expr string) (string, map[string]bool, error) {
	values := map[string]bool{}
	var unknown []string
	out := variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		if v, ok := builtinValues[name]; ok {
			return v
		}
		v, ok := s.vars[name]
		if !ok {
			unknown = append(unknown, ref)
			return ref
		}
		val := variableValue(v)
		values[val] = true
		return val
	})
	if len(unknown) > 0 {
		return "", nil, fmt.Errorf("uses %s, which the dashboard does not define", strings.Join(unknown, ", "))
	}
	return out, values, nil
}

// variableValue is what Grafana would put in a query for v.
func variableValue(v *variable) string {
	val := rawValue(v.Current.Value)
	if val == "" && len(v.Options) > 0 {
		val = rawValue(v.Options[0].Value)
	}
	if val == "$__all" {
		if v.AllValue != "" {
			return v.AllValue
		}
		return ".+"
	}
	if val == "" && (v.Type == "custom" || v.Type == "interval" || v.Type == "constant" || v.Type == "textbox") {
		var q string
		if json.Unmarshal(v.Query, &q) == nil {
			val = strings.TrimSpace(strings.Split(q, ",")[0])
		}
	}
	if val == "" {
		return "example"
	}
	return val
}

// rawValue reads a saved variable value: a string, or a list of strings
// (a multi-value variable, which Grafana joins as a regex alternation).
func rawValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		if len(list) == 1 {
			return list[0]
		}
		return strings.Join(list, "|")
	}
	return ""
}

// lokiVariableQuery is a Loki query variable saved by a recent Grafana.
type lokiVariableQuery struct {
	Label  string `json:"label"`
	Stream string `json:"stream"`
	Type   int    `json:"type"`
}

// The string forms of a query variable's query, Loki's and Prometheus's.
var (
	labelValuesWithSelector = regexp.MustCompile(`^\s*label_values\(\s*(.+)\s*,\s*(\w+)\s*\)\s*$`)
	labelValuesPlain        = regexp.MustCompile(`^\s*label_values\(\s*(\w+)\s*\)\s*$`)
	queryResult             = regexp.MustCompile(`^\s*query_result\((.+)\)\s*$`)
)

// variableQuery queues the expression of a query variable: the stream
// selector of a Loki label_values query, the series selector or
// query_result expression of a Prometheus one. A Loki label name asked for
// is checked as if it were a selector's.
func (s *dashboardScope) variableQuery(v *variable) {
	if v.Type != "query" {
		return
	}
	where := fmt.Sprintf("variable %q", v.Name)
	dsType := s.datasourceType(where, v.Datasource)
	var text string
	var obj lokiVariableQuery
	if json.Unmarshal(v.Query, &text) != nil {
		if json.Unmarshal(v.Query, &obj) != nil {
			s.c.report(KindDashboards, s.file, where, "query %s is neither a string nor an object", v.Query)
			return
		}
		if dsType == "loki" {
			s.lokiVariable(where, obj.Stream, obj.Label)
			return
		}
		var prom struct {
			Query string `json:"query"`
		}
		_ = json.Unmarshal(v.Query, &prom)
		text = prom.Query
	}
	switch dsType {
	case "loki":
		if m := labelValuesWithSelector.FindStringSubmatch(text); m != nil {
			s.lokiVariable(where, m[1], m[2])
		} else if m := labelValuesPlain.FindStringSubmatch(text); m != nil {
			s.lokiVariable(where, "", m[1])
		}
	case "prometheus":
		if m := labelValuesWithSelector.FindStringSubmatch(text); m != nil {
			s.add(where, "prometheus", m[1])
		} else if m := queryResult.FindStringSubmatch(text); m != nil {
			s.add(where, "prometheus", m[1])
		}
	}
}

// lokiVariable queues a Loki variable's stream selector, and the label it
// lists as a selector {label=~".+"} so that the label name is checked too.
func (s *dashboardScope) lokiVariable(where, stream, label string) {
	if strings.TrimSpace(stream) != "" {
		s.add(where, "loki", stream)
	}
	if label != "" {
		s.add(where+" label", "loki", fmt.Sprintf("{%s=~%q}", label, ".+"))
	}
}
