package config

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/discovery"
	"gopkg.in/yaml.v2"

	// The service discovery mechanisms every build links. Each package
	// registers its *_sd_configs key with the discovery package. Kubernetes
	// is in sd_kubernetes.go, the cloud ones in sd_cloud.go.
	_ "github.com/prometheus/prometheus/discovery/consul" // consul_sd_configs
	_ "github.com/prometheus/prometheus/discovery/dns"    // dns_sd_configs
	_ "github.com/prometheus/prometheus/discovery/file"   // file_sd_configs
	_ "github.com/prometheus/prometheus/discovery/moby"   // docker_sd_configs, dockerswarm_sd_configs
)

// Promtail's own consulagent_sd_configs (a fork of the Consul SD that asks the
// local agent) has no Prometheus package. Its key is recognised so configs
// that use it load and pass -check-syntax; the job then fails validation at
// start with a clear message instead of an "unknown field" error.
func init() {
	discovery.RegisterConfig(&unsupportedSD[consulAgentSD]{})
}

// sdName names an unsupported mechanism; one type per mechanism, because the
// discovery registry tells configs apart by their Go type.
type sdName interface{ name() string }

type consulAgentSD struct{}

func (consulAgentSD) name() string { return "consulagent" }

// unsupportedSD stands for a recognised service discovery mechanism this
// build cannot run. Its body is kept as written, so it prints back unchanged.
type unsupportedSD[N sdName] struct {
	Body yaml.MapSlice
}

// Name implements discovery.Config.
func (*unsupportedSD[N]) Name() string {
	var n N
	return n.name()
}

func (c *unsupportedSD[N]) unsupported() error {
	var n N
	if hint, ok := any(n).(interface{ hint() string }); ok {
		return fmt.Errorf("%s_sd_configs %s", c.Name(), hint.hint())
	}
	return fmt.Errorf("%s_sd_configs is not supported yet", c.Name())
}

// NewDiscoverer implements discovery.Config; it always fails.
func (c *unsupportedSD[N]) NewDiscoverer(discovery.DiscovererOptions) (discovery.Discoverer, error) {
	return nil, c.unsupported()
}

// NewDiscovererMetrics implements discovery.Config.
func (*unsupportedSD[N]) NewDiscovererMetrics(prometheus.Registerer, discovery.RefreshMetricsInstantiator) discovery.DiscovererMetrics {
	return &discovery.NoopDiscovererMetrics{}
}

// UnmarshalYAML accepts any mapping.
func (c *unsupportedSD[N]) UnmarshalYAML(unmarshal func(any) error) error {
	return unmarshal(&c.Body)
}

// MarshalYAML prints the body as it was written.
func (c *unsupportedSD[N]) MarshalYAML() (any, error) {
	return c.Body, nil
}

// unsupportedError is implemented by the placeholders of unsupported
// mechanisms; Validate reports them.
type unsupportedError interface{ unsupported() error }
