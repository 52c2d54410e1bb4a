package config

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func parseOsqueryTLS(t *testing.T, block string) (*OsqueryTLSConfig, error) {
	t.Helper()
	doc := "scrape_configs:\n- job_name: osq\n  osquery_tls:\n" + indent(block, "    ")
	cfg, err := parse(t, doc)
	if err != nil {
		return nil, err
	}
	sc := cfg.ScrapeConfigs[0]
	if sc.Kind() != KindOsqueryTLS || sc.Kind().String() != "osquery_tls" {
		t.Fatalf("kind = %v", sc.Kind())
	}
	return sc.OsqueryTLS, nil
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

const osqueryTLSMinimal = `listen_address: 0.0.0.0:8443
tls_cert_file: /etc/pki/agent.crt
tls_key_file: /etc/pki/agent.key
enroll_secret_file: /etc/promtail-osquery/enroll.secret
node_keys_file: /var/lib/promtail-osquery/osquery-nodes.json
`

func TestOsqueryTLSDefaults(t *testing.T) {
	c, err := parseOsqueryTLS(t, osqueryTLSMinimal)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := OsqueryTLSConfig{
		ListenAddress:    "0.0.0.0:8443",
		TLSCertFile:      "/etc/pki/agent.crt",
		TLSKeyFile:       "/etc/pki/agent.key",
		EnrollSecretFile: "/etc/promtail-osquery/enroll.secret",
		NodeKeysFile:     "/var/lib/promtail-osquery/osquery-nodes.json",
		MaxNodes:         10000,
		EnrollEndpoint:   "/enroll",
		LogEndpoint:      "/log",
		ConfigEndpoint:   "/config",
		MaxBodyBytes:     10 << 20,
		AckTimeout:       10 * time.Second,
	}
	if c.ListenAddress != want.ListenAddress || c.TLSCertFile != want.TLSCertFile || c.TLSKeyFile != want.TLSKeyFile ||
		c.EnrollSecretFile != want.EnrollSecretFile || c.NodeKeysFile != want.NodeKeysFile || c.MaxNodes != want.MaxNodes ||
		c.EnrollEndpoint != want.EnrollEndpoint || c.LogEndpoint != want.LogEndpoint || c.ConfigEndpoint != want.ConfigEndpoint ||
		c.MaxBodyBytes != want.MaxBodyBytes || c.AckTimeout != want.AckTimeout || c.RateLimit != (OsqueryTLSRateLimit{}) ||
		c.InsecurePlainHTTP || c.ConfigFile != "" || len(c.Labels) != 0 {
		t.Errorf("decoded %+v\nwant    %+v", *c, want)
	}
}

func TestOsqueryTLSAllKeys(t *testing.T) {
	c, err := parseOsqueryTLS(t, `listen_address: 127.0.0.1:8080
insecure_plain_http: true
enroll_secret_file: s
node_keys_file: n
max_nodes: 5
config_file: configs/osquery/osquery.conf
enroll_endpoint: /api/osquery/enroll
log_endpoint: /api/osquery/log
config_endpoint: /api/osquery/config
max_body_bytes: 2MB
rate_limit: {records: 50.5, burst: 2048}
ack_timeout: 3s
labels: {job: osquery, env: prod}
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if !c.InsecurePlainHTTP || c.MaxNodes != 5 || c.ConfigFile != "configs/osquery/osquery.conf" ||
		c.EnrollEndpoint != "/api/osquery/enroll" || c.LogEndpoint != "/api/osquery/log" || c.ConfigEndpoint != "/api/osquery/config" ||
		c.MaxBodyBytes != 2<<20 || c.RateLimit != (OsqueryTLSRateLimit{Records: 50.5, Burst: 2048}) || c.AckTimeout != 3*time.Second ||
		!c.Labels.Equal(model.LabelSet{"job": "osquery", "env": "prod"}) {
		t.Errorf("decoded %+v", *c)
	}
}

func TestOsqueryTLSUnknownKey(t *testing.T) {
	_, err := parseOsqueryTLS(t, osqueryTLSMinimal+"listen_port: 8443\n")
	if err == nil || !strings.Contains(err.Error(), "listen_port") {
		t.Fatalf("err = %v, want the unknown key named", err)
	}
}

func TestOsqueryTLSValidate(t *testing.T) {
	tests := []struct {
		name  string
		block string
		want  string // substring of the error
	}{
		{"no listen address", strings.Replace(osqueryTLSMinimal, "listen_address: 0.0.0.0:8443\n", "", 1), "osquery_tls.listen_address: required"},
		{"no port", strings.Replace(osqueryTLSMinimal, "0.0.0.0:8443", "0.0.0.0", 1), "osquery_tls.listen_address:"},
		{"bad port", strings.Replace(osqueryTLSMinimal, "0.0.0.0:8443", "0.0.0.0:https", 1), `port "https" is not a number`},
		{"port too large", strings.Replace(osqueryTLSMinimal, "0.0.0.0:8443", "0.0.0.0:70000", 1), `port "70000"`},
		{"no cert", strings.Replace(osqueryTLSMinimal, "tls_cert_file: /etc/pki/agent.crt\n", "", 1), "osquery_tls.tls_cert_file: required"},
		{"no key", strings.Replace(osqueryTLSMinimal, "tls_key_file: /etc/pki/agent.key\n", "", 1), "osquery_tls.tls_key_file: required"},
		{"plain on all interfaces", "listen_address: :8080\ninsecure_plain_http: true\nenroll_secret_file: s\nnode_keys_file: n\n", "only a loopback listen_address"},
		{"plain on a LAN address", "listen_address: 192.0.2.1:8080\ninsecure_plain_http: true\nenroll_secret_file: s\nnode_keys_file: n\n", `not "192.0.2.1"`},
		{"plain with a certificate", strings.Replace(osqueryTLSMinimal, "0.0.0.0:8443", "127.0.0.1:8443", 1) + "insecure_plain_http: true\n", "either it or the tls_* files"},
		{"no secret", strings.Replace(osqueryTLSMinimal, "enroll_secret_file: /etc/promtail-osquery/enroll.secret\n", "", 1), "osquery_tls.enroll_secret_file: required"},
		{"no node keys file", strings.Replace(osqueryTLSMinimal, "node_keys_file: /var/lib/promtail-osquery/osquery-nodes.json\n", "", 1), "osquery_tls.node_keys_file: required"},
		{"negative max nodes", osqueryTLSMinimal + "max_nodes: -1\n", "osquery_tls.max_nodes: -1 is negative"},
		{"huge body limit", osqueryTLSMinimal + "max_body_bytes: 2GB\n", "osquery_tls.max_body_bytes:"},
		{"negative ack timeout", osqueryTLSMinimal + "ack_timeout: -1s\n", "osquery_tls.ack_timeout: -1s is negative"},
		{"negative rate", osqueryTLSMinimal + "rate_limit: {records: -1}\n", "osquery_tls.rate_limit.records: -1 is negative"},
		{"negative burst", osqueryTLSMinimal + "rate_limit: {records: 1, burst: -2}\n", "osquery_tls.rate_limit.burst: -2 is negative"},
		{"relative endpoint", osqueryTLSMinimal + "log_endpoint: log\n", `osquery_tls.log_endpoint: "log" is not a URL path`},
		{"endpoint with a query", osqueryTLSMinimal + "config_endpoint: /config?x=1\n", "osquery_tls.config_endpoint:"},
		{"same endpoint twice", osqueryTLSMinimal + "log_endpoint: /enroll\n", `osquery_tls.log_endpoint: "/enroll" is also enroll_endpoint`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseOsqueryTLS(t, tt.block)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			err = c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestOsqueryTLSBadLabelValue(t *testing.T) {
	c, err := parseOsqueryTLS(t, osqueryTLSMinimal)
	if err != nil {
		t.Fatal(err)
	}
	c.Labels = model.LabelSet{"job": "\xff"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "osquery_tls.labels: invalid label value") {
		t.Fatalf("Validate() = %v", err)
	}
}

func TestOsqueryTLSLoopbackHosts(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "localhost": true, "LocalHost": true,
		"": false, "0.0.0.0": false, "::": false, "192.0.2.1": false, "example.com": false,
	} {
		if got := isLoopbackHost(host); got != want {
			t.Errorf("isLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestOsqueryTLSKindComesLast(t *testing.T) {
	// osquery_tls is not Promtail's: with a Promtail kind in the same job, the
	// Promtail kind wins as it would in Promtail.
	cfg := mustParse(t, "scrape_configs:\n- job_name: j\n  syslog: {}\n  osquery_tls:\n"+indent(osqueryTLSMinimal, "    "))
	if k := cfg.ScrapeConfigs[0].Kind(); k != KindSyslog {
		t.Errorf("kind = %v, want syslog", k)
	}
}

// TestOsqueryTLSExampleConfig loads configs/osquery-tls.yaml as the agent
// does, and prints and reloads it unchanged.
func TestOsqueryTLSExampleConfig(t *testing.T) {
	t.Setenv("LOKI_URL", "http://127.0.0.1:3100/loki/api/v1/push")
	cfg, _, err := Load("../../configs/osquery-tls.yaml", true)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Setup()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	sc := cfg.ScrapeConfigs[0]
	if sc.Kind() != KindOsqueryTLS {
		t.Fatalf("kind %v", sc.Kind())
	}
	c := sc.OsqueryTLS
	if err := c.Validate(); err != nil {
		t.Fatalf("osquery_tls: %v", err)
	}
	if c.ListenAddress != "0.0.0.0:8443" || c.ConfigFile == "" || c.RateLimit.Records != 200 || c.Labels["job"] != "osquery" ||
		len(sc.RelabelConfigs) != 1 || len(sc.PipelineStages) != 1 {
		t.Errorf("decoded %+v", *c)
	}

	printed := cfg.String()
	again := &Config{}
	if err := Parse(again, []byte(printed), false); err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, printed)
	}
	again.Setup()
	if reprinted := again.String(); reprinted != printed {
		t.Errorf("printed and reloaded config differs:\n%s\n---\n%s", printed, reprinted)
	}
	if !strings.Contains(printed, "ack_timeout: 10s") || !strings.Contains(printed, "max_body_bytes: 10MB") {
		t.Errorf("printed osquery_tls block:\n%s", printed)
	}
}
