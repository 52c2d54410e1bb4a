//go:build no_kubernetes_sd

package file

import "github.com/prometheus/prometheus/discovery"

// onThisNode has no Kubernetes discovery to narrow in this build.
func onThisNode(c discovery.Config, _ string) discovery.Config { return c }
