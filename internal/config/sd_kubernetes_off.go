//go:build no_kubernetes_sd

package config

import "github.com/prometheus/prometheus/discovery"

// The Kubernetes client libraries that kubernetes_sd_configs needs register
// every Kubernetes API type when the process starts, which maps about 16 MiB
// of the binary whether a config uses them or not (given back once started,
// but part of the start-up peak). Hosts that are
// not Kubernetes nodes (most osquery fleets) can build without them; the key
// is still recognised, so such a config loads and passes -check-syntax, and
// the job fails at start saying which build runs it.
func init() {
	discovery.RegisterConfig(&unsupportedSD[kubernetesOff]{})
}

type kubernetesOff struct{}

func (kubernetesOff) name() string { return "kubernetes" }

func (kubernetesOff) hint() string {
	return "needs a binary built without -tags no_kubernetes_sd"
}
