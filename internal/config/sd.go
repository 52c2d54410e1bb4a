package config

import (
	"fmt"
	"strings"

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

// MarshalYAML prints the body as it was written, with credentials masked.
// The typed configs mask their Secret fields; a placeholder does not know the
// mechanism's types, so it masks by key name.
func (c *unsupportedSD[N]) MarshalYAML() (any, error) {
	return maskSecrets(c.Body), nil
}

// maskSecrets returns v with the scalar values of credential keys replaced
// by Prometheus's mask, copying what it changes.
func maskSecrets(v any) any {
	switch v := v.(type) {
	case yaml.MapSlice:
		out := make(yaml.MapSlice, len(v))
		for i, item := range v {
			out[i] = yaml.MapItem{Key: item.Key, Value: maskValue(item.Key, item.Value)}
		}
		return out
	case map[any]any:
		out := make(map[any]any, len(v))
		for k, value := range v {
			out[k] = maskValue(k, value)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			out[i] = maskSecrets(item)
		}
		return out
	}
	return v
}

func maskValue(key, value any) any {
	switch value.(type) {
	case yaml.MapSlice, map[any]any, []any:
		return maskSecrets(value)
	}
	if k, ok := key.(string); ok && credentialKey(k) {
		return secretMask
	}
	return value
}

// secretMask is what prometheus/common prints for a Secret.
const secretMask = "<secret>"

// credentialKey tells the keys of Prometheus's SD configs whose values are
// credentials (password, bearer_token, client_secret, secret_key,
// auth_token, credentials, a TLS key) from those that name where one is
// (password_file, credentials_file) or are not one (token_url,
// application_credential_id and _name).
func credentialKey(k string) bool {
	k = strings.ToLower(k)
	for _, notSecret := range []string{"_file", "_url", "_ref", "_id", "_name"} {
		if strings.HasSuffix(k, notSecret) {
			return false
		}
	}
	return k == "key" || strings.Contains(k, "password") || strings.Contains(k, "secret") ||
		strings.Contains(k, "token") || strings.Contains(k, "credential")
}

// unsupportedError is implemented by the placeholders of unsupported
// mechanisms; Validate reports them.
type unsupportedError interface{ unsupported() error }
