package packcheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	amconfig "github.com/prometheus/alertmanager/config"
	amcommon "github.com/prometheus/alertmanager/config/common"
	amlabels "github.com/prometheus/alertmanager/pkg/labels"
)

// alertnameMatcher is one condition on alertname, from any of
// Alertmanager's three matcher syntaxes.
type alertnameMatcher struct {
	text    string
	matches func(string) bool
}

// alertnameMatchers picks the positive alertname conditions: a negative one
// (!=, !~) says nothing about which alerts exist.
func alertnameMatchers(match map[string]string, re amcommon.MatchRegexps, ms amcommon.Matchers) []alertnameMatcher {
	var out []alertnameMatcher
	if v, ok := match["alertname"]; ok {
		out = append(out, alertnameMatcher{fmt.Sprintf("alertname: %s", v), func(s string) bool { return s == v }})
	}
	if r, ok := re["alertname"]; ok && r.Regexp != nil {
		out = append(out, alertnameMatcher{fmt.Sprintf("alertname: ~%s", r.Original), r.MatchString})
	}
	for _, m := range ms {
		if m.Name == "alertname" && (m.Type == amlabels.MatchEqual || m.Type == amlabels.MatchRegexp) {
			out = append(out, alertnameMatcher{m.String(), m.Matches})
		}
	}
	return out
}

// checkAlertmanager loads alerts/alertmanager.yml with Alertmanager's own
// loader and checks that every alert its inhibit rules name is an alert of
// alerts/loki, and every alert its routes name is one of alerts/.
func (c *checker) checkAlertmanager() error {
	path := filepath.Join(c.root, "alerts", "alertmanager.yml")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	c.sum.Alertmanager = true
	rel := c.rel(path)
	cfg, err := amconfig.LoadFile(path)
	if err != nil {
		c.report(KindAlertmanager, rel, "", "Alertmanager would not load it: %v", err)
		return nil
	}
	for i, r := range cfg.InhibitRules {
		where := fmt.Sprintf("inhibit rule %d", i+1)
		if r.Name != "" {
			where = fmt.Sprintf("inhibit rule %q", r.Name)
		}
		for _, side := range []struct {
			name string
			ms   []alertnameMatcher
		}{
			{"source", alertnameMatchers(r.SourceMatch, r.SourceMatchRE, r.SourceMatchers)},
			{"target", alertnameMatchers(r.TargetMatch, r.TargetMatchRE, r.TargetMatchers)},
		} {
			for _, m := range side.ms {
				if !anyMatches(m, c.lokiAlerts) {
					c.report(KindAlertmanager, rel, where, "%s matcher {%s} names no alert of alerts/loki (%s)", side.name, m.text, strings.Join(sortedKeys(c.lokiAlerts), ", "))
				}
			}
		}
	}
	all := map[string]bool{}
	for a := range c.lokiAlerts {
		all[a] = true
	}
	for a := range c.promAlerts {
		all[a] = true
	}
	var walk func(r *amconfig.Route, where string)
	walk = func(r *amconfig.Route, where string) {
		for _, m := range alertnameMatchers(r.Match, r.MatchRE, r.Matchers) {
			if !anyMatches(m, all) {
				c.report(KindAlertmanager, rel, where, "matcher {%s} names no alert of alerts/", m.text)
			}
		}
		for i, child := range r.Routes {
			walk(child, fmt.Sprintf("%s > route %d (receiver %q)", where, i+1, child.Receiver))
		}
	}
	walk(cfg.Route, "route")
	return nil
}

func anyMatches(m alertnameMatcher, alerts map[string]bool) bool {
	for a := range alerts {
		if m.matches(a) {
			return true
		}
	}
	return false
}
