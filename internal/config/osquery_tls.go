package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// OsqueryTLSConfig is a job's osquery_tls: block: the agent plays osquery's
// TLS server (enroll, log and optionally config endpoints), so that osqueryd
// run with --logger_plugin=tls sends its results and status logs straight to
// it. Not a Promtail kind.
type OsqueryTLSConfig struct {
	// ListenAddress is host:port.
	ListenAddress string `yaml:"listen_address"`
	// TLSCertFile and TLSKeyFile are the server's PEM certificate (chain) and
	// key. osqueryd speaks only HTTPS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// TLSClientCAFile, when set, requires every client to present a
	// certificate signed by one of these CAs (osqueryd's --tls_client_cert).
	TLSClientCAFile string `yaml:"tls_client_ca_file"`
	// InsecurePlainHTTP serves plain HTTP instead of TLS: for tests, or behind
	// a TLS-terminating proxy on the same host. Only a loopback listen
	// address may use it.
	InsecurePlainHTTP bool `yaml:"insecure_plain_http"`

	// EnrollSecretFile holds the secret osqueryd sends to enroll (its
	// --enroll_secret_path file); surrounding white space is ignored, as
	// osqueryd ignores it.
	EnrollSecretFile string `yaml:"enroll_secret_file"`
	// NodeKeysFile is where the node keys the agent issues are kept across
	// restarts (as SHA-256 digests, not the keys themselves).
	NodeKeysFile string `yaml:"node_keys_file"`
	// MaxNodes caps the node keys kept; enrolling past it forgets the node
	// seen least recently, which re-enrolls when it next sends.
	MaxNodes int `yaml:"max_nodes"`

	// ConfigFile, when set, is the osquery config (JSON) served at
	// ConfigEndpoint to osqueryd run with --config_plugin=tls.
	ConfigFile string `yaml:"config_file"`

	EnrollEndpoint string `yaml:"enroll_endpoint"`
	LogEndpoint    string `yaml:"log_endpoint"`
	ConfigEndpoint string `yaml:"config_endpoint"`

	// MaxBodyBytes caps a request body, both as received and once
	// decompressed.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// RateLimit caps the records each node may send.
	RateLimit OsqueryTLSRateLimit `yaml:"rate_limit"`
	// AckTimeout is how long a log request waits for its records to be safe
	// (spooled, sent or dropped by rule) before answering osqueryd with a
	// failure, so that it keeps them and sends them again.
	AckTimeout time.Duration `yaml:"ack_timeout"`

	// Labels are added to every entry.
	Labels model.LabelSet `yaml:"labels"`
}

// OsqueryTLSRateLimit is osquery_tls.rate_limit. Records 0 turns it off.
type OsqueryTLSRateLimit struct {
	// Records is the sustained records per second per node.
	Records float64 `yaml:"records"`
	// Burst is how many records a node may send at once after a quiet
	// spell; 0 means the per-second rate, rounded up.
	Burst int `yaml:"burst"`
}

// osquery_tls defaults.
const (
	DefaultOsqueryTLSEnrollEndpoint = "/enroll"
	DefaultOsqueryTLSLogEndpoint    = "/log"
	DefaultOsqueryTLSConfigEndpoint = "/config"
	DefaultOsqueryTLSMaxBodyBytes   = ByteSize(10 << 20)
	DefaultOsqueryTLSMaxNodes       = 10000
	// DefaultOsqueryTLSAckTimeout stays under the 16 seconds osqueryd's HTTP
	// client allows a whole request: an answer after that is not read, and
	// the batch is sent again.
	DefaultOsqueryTLSAckTimeout = 10 * time.Second
)

// UnmarshalYAML decodes the block and fills the defaults.
func (c *OsqueryTLSConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain OsqueryTLSConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	c.SetDefaults()
	return nil
}

// SetDefaults fills every key left at zero with its default.
func (c *OsqueryTLSConfig) SetDefaults() {
	if c.EnrollEndpoint == "" {
		c.EnrollEndpoint = DefaultOsqueryTLSEnrollEndpoint
	}
	if c.LogEndpoint == "" {
		c.LogEndpoint = DefaultOsqueryTLSLogEndpoint
	}
	if c.ConfigEndpoint == "" {
		c.ConfigEndpoint = DefaultOsqueryTLSConfigEndpoint
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultOsqueryTLSMaxBodyBytes
	}
	if c.MaxNodes == 0 {
		c.MaxNodes = DefaultOsqueryTLSMaxNodes
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = DefaultOsqueryTLSAckTimeout
	}
}

// maxOsqueryTLSBody bounds max_body_bytes: a body is held in memory whole.
const maxOsqueryTLSBody = ByteSize(1 << 30)

// Validate checks the block's values; the files it names are read when the
// target starts. Errors name the key, osquery_tls.<key>.
func (c *OsqueryTLSConfig) Validate() error {
	if err := c.validateListener(); err != nil {
		return err
	}
	switch {
	case c.EnrollSecretFile == "":
		return errors.New("osquery_tls.enroll_secret_file: required: osqueryd enrolls with this shared secret")
	case c.NodeKeysFile == "":
		return errors.New("osquery_tls.node_keys_file: required: the node keys issued to osqueryd are kept there across restarts")
	case c.MaxNodes < 0:
		return fmt.Errorf("osquery_tls.max_nodes: %d is negative", c.MaxNodes)
	case c.MaxBodyBytes == 0 || c.MaxBodyBytes > maxOsqueryTLSBody:
		return fmt.Errorf("osquery_tls.max_body_bytes: %d is not between 1 byte and 1GiB", c.MaxBodyBytes)
	case c.AckTimeout < 0:
		return fmt.Errorf("osquery_tls.ack_timeout: %s is negative", c.AckTimeout)
	case c.RateLimit.Records < 0:
		return fmt.Errorf("osquery_tls.rate_limit.records: %g is negative", c.RateLimit.Records)
	case c.RateLimit.Burst < 0:
		return fmt.Errorf("osquery_tls.rate_limit.burst: %d is negative", c.RateLimit.Burst)
	}
	if err := c.validateEndpoints(); err != nil {
		return err
	}
	if err := validateLabels(c.Labels); err != nil {
		return fmt.Errorf("osquery_tls.labels: %w", err)
	}
	return nil
}

func (c *OsqueryTLSConfig) validateListener() error {
	if c.ListenAddress == "" {
		return errors.New("osquery_tls.listen_address: required (host:port)")
	}
	host, port, err := net.SplitHostPort(c.ListenAddress)
	if err != nil {
		return fmt.Errorf("osquery_tls.listen_address: %w", err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("osquery_tls.listen_address: port %q is not a number from 0 to 65535", port)
	}
	if c.InsecurePlainHTTP {
		if c.TLSCertFile != "" || c.TLSKeyFile != "" || c.TLSClientCAFile != "" {
			return errors.New("osquery_tls.insecure_plain_http: set either it or the tls_* files, not both")
		}
		if !isLoopbackHost(host) {
			return fmt.Errorf("osquery_tls.insecure_plain_http: only a loopback listen_address may serve plain HTTP, not %q", host)
		}
		return nil
	}
	switch {
	case c.TLSCertFile == "":
		return errors.New("osquery_tls.tls_cert_file: required: osqueryd only speaks HTTPS (insecure_plain_http serves loopback tests)")
	case c.TLSKeyFile == "":
		return errors.New("osquery_tls.tls_key_file: required with tls_cert_file")
	}
	return nil
}

// isLoopbackHost tells whether a listen host only ever accepts connections
// from this machine. An empty host listens on every interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (c *OsqueryTLSConfig) validateEndpoints() error {
	endpoints := []struct{ key, path string }{
		{"enroll_endpoint", c.EnrollEndpoint},
		{"log_endpoint", c.LogEndpoint},
		{"config_endpoint", c.ConfigEndpoint},
	}
	for i, e := range endpoints {
		if !strings.HasPrefix(e.path, "/") || strings.ContainsAny(e.path, "?# \t") {
			return fmt.Errorf("osquery_tls.%s: %q is not a URL path starting with /", e.key, e.path)
		}
		for _, other := range endpoints[:i] {
			if other.path == e.path {
				return fmt.Errorf("osquery_tls.%s: %q is also %s", e.key, e.path, other.key)
			}
		}
	}
	return nil
}
