//go:build !no_kubernetes_sd

package file

import (
	"strings"

	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/kubernetes"
)

// onThisNode narrows a Kubernetes pod discovery to the pods of this node, as
// Promtail does: an agent runs on every node and tails only its own pods'
// logs. Other configs are returned as they are.
func onThisNode(c discovery.Config, hostname string) discovery.Config {
	k, ok := c.(*kubernetes.SDConfig)
	if !ok || k.Role != kubernetes.RolePod {
		return c
	}
	field := "spec.nodeName=" + hostname
	nc := *k
	if len(k.Selectors) == 0 {
		nc.Selectors = []kubernetes.SelectorConfig{{Role: kubernetes.RolePod, Field: field}}
		return &nc
	}
	nc.Selectors = make([]kubernetes.SelectorConfig, len(k.Selectors))
	for i, s := range k.Selectors {
		switch {
		case s.Role != kubernetes.RolePod:
		case s.Field == "":
			s.Field = field
		case !strings.Contains(s.Field, field):
			s.Field += "," + field
		}
		nc.Selectors[i] = s
	}
	return &nc
}
