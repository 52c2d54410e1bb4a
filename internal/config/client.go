package config

import (
	"fmt"
	"net/url"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// ClientConfig is one entry of clients: (or the deprecated client: block).
type ClientConfig struct {
	Name      string            `yaml:"name,omitempty"`
	URL       URL               `yaml:"url,omitempty"`
	TenantID  string            `yaml:"tenant_id,omitempty"`
	BatchWait time.Duration     `yaml:"batchwait"`
	BatchSize int               `yaml:"batchsize"`
	Headers   map[string]string `yaml:"headers,omitempty"`
	Backoff   BackoffConfig     `yaml:"backoff_config"`
	// ExternalLabels are merged into every entry this client sends; the entry's
	// own labels win on conflict.
	ExternalLabels         LabelSet      `yaml:"external_labels,omitempty"`
	Timeout                time.Duration `yaml:"timeout"`
	DropRateLimitedBatches bool          `yaml:"drop_rate_limited_batches,omitempty"`
	// StreamLagLabels is accepted for old configs; Promtail 3 ignores it too.
	StreamLagLabels string `yaml:"stream_lag_labels,omitempty"`

	Client promconfig.HTTPClientConfig `yaml:",inline"`
}

// BackoffConfig is the retry schedule of a client. MaxRetries counts attempts;
// zero retries forever.
type BackoffConfig struct {
	MinPeriod  time.Duration `yaml:"min_period"`
	MaxPeriod  time.Duration `yaml:"max_period"`
	MaxRetries int           `yaml:"max_retries"`
}

// Promtail's client defaults (the -client.* flag defaults).
const (
	DefaultBatchWait  = time.Second
	DefaultBatchSize  = 1 << 20
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Minute
	DefaultMaxRetries = 10
	DefaultTimeout    = 10 * time.Second
)

// DefaultClientConfig is what a client: entry starts from before its YAML is
// applied.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		BatchWait: DefaultBatchWait,
		BatchSize: DefaultBatchSize,
		Backoff: BackoffConfig{
			MinPeriod:  DefaultMinBackoff,
			MaxPeriod:  DefaultMaxBackoff,
			MaxRetries: DefaultMaxRetries,
		},
		Timeout: DefaultTimeout,
		Client:  promconfig.DefaultHTTPClientConfig,
	}
}

// UnmarshalYAML applies the defaults, then the YAML, then validates the HTTP
// client settings as Promtail does while decoding.
func (c *ClientConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultClientConfig()
	type plain ClientConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	return c.Client.Validate()
}

// URL is a URL that decodes from a YAML string and prints back as one.
type URL struct{ *url.URL }

// UnmarshalYAML parses the URL; its error is url.Parse's, as in Promtail.
func (u *URL) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	parsed, err := url.Parse(s)
	if err != nil {
		return err
	}
	u.URL = parsed
	return nil
}

// MarshalYAML prints the URL as a string.
func (u URL) MarshalYAML() (any, error) {
	if u.URL == nil {
		return nil, nil
	}
	return u.String(), nil
}

// LabelSet is a label map that is validated while it is decoded.
type LabelSet = model.LabelSet

// validateLabels checks names by Promtail 3's rules (UTF-8) and values.
func validateLabels(ls model.LabelSet) error {
	for n, v := range ls {
		if !model.UTF8Validation.IsValidLabelName(string(n)) {
			return fmt.Errorf("invalid label name %q", n)
		}
		if !v.IsValid() {
			return fmt.Errorf("invalid label value %q for label %q", v, n)
		}
	}
	return nil
}
