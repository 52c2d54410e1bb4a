package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/file"
	"github.com/prometheus/prometheus/model/relabel"
)

// parse decodes a YAML document over the defaults, as Load does.
func parse(t *testing.T, doc string) (*Config, error) {
	t.Helper()
	cfg := DefaultConfig()
	err := Parse(cfg, []byte(doc), false)
	return cfg, err
}

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	cfg, err := parse(t, doc)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, doc)
	}
	return cfg
}

func TestDefaults(t *testing.T) {
	cfg := DefaultConfig()
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"min poll", cfg.Global.FileWatch.MinPollFrequency, 250 * time.Millisecond},
		{"max poll", cfg.Global.FileWatch.MaxPollFrequency, 250 * time.Millisecond},
		{"target sync", cfg.TargetConfig.SyncPeriod, 10 * time.Second},
		{"stdin", cfg.TargetConfig.Stdin, false},
		{"positions file", cfg.Positions.Filename, "/var/log/positions.yaml"},
		{"positions sync", cfg.Positions.SyncPeriod, 10 * time.Second},
		{"positions ignore invalid", cfg.Positions.IgnoreInvalidYaml, false},
		{"readline rate", cfg.LimitsConfig.ReadlineRate, 10000.0},
		{"readline burst", cfg.LimitsConfig.ReadlineBurst, 10000},
		{"readline enabled", cfg.LimitsConfig.ReadlineRateEnabled, false},
		{"readline drop", cfg.LimitsConfig.ReadlineRateDrop, true},
		{"max streams", cfg.LimitsConfig.MaxStreams, 0},
		{"max line size", cfg.LimitsConfig.MaxLineSize, ByteSize(0)},
		{"tracing", cfg.Tracing.Enabled, true},
		{"batch wait", cfg.Client.BatchWait, time.Second},
		{"batch size", cfg.Client.BatchSize, 1 << 20},
		{"max retries", cfg.Client.Backoff.MaxRetries, 10},
		{"min backoff", cfg.Client.Backoff.MinPeriod, 500 * time.Millisecond},
		{"max backoff", cfg.Client.Backoff.MaxPeriod, 5 * time.Minute},
		{"client timeout", cfg.Client.Timeout, 10 * time.Second},
		{"follow redirects", cfg.Client.Client.FollowRedirects, true},
		{"http port", cfg.Server.HTTPListenPort, 80},
		{"grpc port", cfg.Server.GRPCListenPort, 9095},
		{"http network", cfg.Server.HTTPListenNetwork, "tcp"},
		{"register instrumentation", cfg.Server.RegisterInstrumentation, true},
		{"graceful shutdown", cfg.Server.GracefulShutdownTimeout, 30 * time.Second},
		{"read timeout", cfg.Server.HTTPServerReadTimeout, 30 * time.Second},
		{"read header timeout", cfg.Server.HTTPServerReadHeaderTimeout, time.Duration(0)},
		{"write timeout", cfg.Server.HTTPServerWriteTimeout, 30 * time.Second},
		{"idle timeout", cfg.Server.HTTPServerIdleTimeout, 120 * time.Second},
		{"grpc recv", cfg.Server.GRPCServerMaxRecvMsgSize, 4194304},
		{"grpc streams", cfg.Server.GRPCServerMaxConcurrentStreams, uint(100)},
		{"grpc keepalive time", cfg.Server.GRPCServerKeepaliveTime, 2 * time.Hour},
		{"log level", cfg.Server.LogLevel, LogLevelInfo},
		{"log format", cfg.Server.LogFormat, LogFormatLogfmt},
		{"health check target", cfg.Server.HealthCheckTarget, true},
		{"server disable", cfg.Server.Disable, false},
		{"wal segments", cfg.WAL.MaxSegmentAge, time.Hour},
		{"wal min read", cfg.WAL.WatchConfig.MinReadFrequency, 250 * time.Millisecond},
		{"wal max read", cfg.WAL.WatchConfig.MaxReadFrequency, time.Second},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	empty, file, err := Load("", false)
	if err != nil || file != "" {
		t.Fatalf("Load(\"\") = %q, %v", file, err)
	}
	if !reflect.DeepEqual(empty, cfg) {
		t.Error("Load without a file differs from DefaultConfig")
	}
}

func TestDecodeKeyGroups(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "global",
			doc:  "global: {file_watch_config: {min_poll_frequency: 100ms, max_poll_frequency: 2s}}",
			check: func(t *testing.T, c *Config) {
				if c.Global.FileWatch.MinPollFrequency != 100*time.Millisecond || c.Global.FileWatch.MaxPollFrequency != 2*time.Second {
					t.Errorf("file watch = %+v", c.Global.FileWatch)
				}
			},
		},
		{
			name: "server keeps unset defaults",
			doc: `server:
  http_listen_address: 127.0.0.1
  http_listen_port: 9080
  grpc_listen_port: 0
  log_level: debug
  log_format: json
  http_path_prefix: /promtail
  external_url: http://example/promtail
  health_check_target: false
  disable: true
  profiling_enabled: true
  enable_runtime_reload: true
  http_tls_config: {cert_file: c.pem, key_file: k.pem, client_auth_type: RequireAndVerifyClientCert, client_ca_file: ca.pem}
  grpc_server_max_concurrent_streams: 5
  cluster_validation: {label: a, grpc: {enabled: true}}`,
			check: func(t *testing.T, c *Config) {
				s := c.Server
				if s.HTTPListenAddress != "127.0.0.1" || s.HTTPListenPort != 9080 || s.GRPCListenPort != 0 ||
					s.LogLevel != LogLevelDebug || s.LogFormat != LogFormatJSON || s.HTTPPathPrefix != "/promtail" ||
					s.ExternalURL != "http://example/promtail" || s.HealthCheckTarget || !s.Disable ||
					!s.ProfilingEnabled || !s.EnableRuntimeReload || s.HTTPTLSConfig.ClientCAFile != "ca.pem" ||
					s.GRPCServerMaxConcurrentStreams != 5 || !s.ClusterValidation.GRPC.Enabled {
					t.Errorf("server = %+v", s)
				}
				if s.HTTPServerReadTimeout != 30*time.Second || s.HTTPListenNetwork != "tcp" {
					t.Errorf("server defaults lost: %+v", s)
				}
			},
		},
		{
			name: "clients",
			doc: `clients:
  - url: http://loki:3100/loki/api/v1/push
    name: main
    tenant_id: t1
    batchwait: 2s
    batchsize: 100
    timeout: 3s
    headers: {X-A: b}
    external_labels: {cluster: c1}
    backoff_config: {min_period: 1s, max_period: 2m, max_retries: 0}
    drop_rate_limited_batches: true
    basic_auth: {username: u, password: p}
    tls_config: {insecure_skip_verify: true}
  - url: http://other/loki/api/v1/push`,
			check: func(t *testing.T, c *Config) {
				if len(c.Clients) != 2 {
					t.Fatalf("clients = %d", len(c.Clients))
				}
				a, b := c.Clients[0], c.Clients[1]
				if a.URL.String() != "http://loki:3100/loki/api/v1/push" || a.Name != "main" || a.TenantID != "t1" ||
					a.BatchWait != 2*time.Second || a.BatchSize != 100 || a.Timeout != 3*time.Second ||
					a.Headers["X-A"] != "b" || a.ExternalLabels["cluster"] != "c1" || a.Backoff.MaxRetries != 0 ||
					a.Backoff.MaxPeriod != 2*time.Minute || !a.DropRateLimitedBatches ||
					a.Client.BasicAuth == nil || a.Client.BasicAuth.Password != "p" || !a.Client.TLSConfig.InsecureSkipVerify {
					t.Errorf("client 0 = %+v", a)
				}
				if b.BatchWait != DefaultBatchWait || b.Backoff.MaxRetries != DefaultMaxRetries || b.Timeout != DefaultTimeout {
					t.Errorf("client 1 lacks defaults: %+v", b)
				}
			},
		},
		{
			name: "positions target_config options tracing",
			doc: `positions: {filename: p.yaml, sync_period: 30s, ignore_invalid_yaml: true}
target_config: {sync_period: 15s, stdin: true}
options: {}
tracing: {enabled: false}`,
			check: func(t *testing.T, c *Config) {
				if c.Positions != (PositionsConfig{Filename: "p.yaml", SyncPeriod: 30 * time.Second, IgnoreInvalidYaml: true}) {
					t.Errorf("positions = %+v", c.Positions)
				}
				if c.TargetConfig != (TargetConfig{SyncPeriod: 15 * time.Second, Stdin: true}) {
					t.Errorf("target_config = %+v", c.TargetConfig)
				}
				if c.Tracing.Enabled {
					t.Error("tracing still enabled")
				}
			},
		},
		{
			name: "limits",
			doc: `limits_config:
  readline_rate: 12.5
  readline_burst: 7
  readline_rate_enabled: true
  readline_rate_drop: false
  max_streams: 3
  max_line_size: 256kb
  max_line_size_truncate: true`,
			check: func(t *testing.T, c *Config) {
				want := LimitsConfig{ReadlineRate: 12.5, ReadlineBurst: 7, ReadlineRateEnabled: true, MaxStreams: 3, MaxLineSize: 256 << 10, MaxLineSizeTruncate: true}
				if c.LimitsConfig != want {
					t.Errorf("limits = %+v", c.LimitsConfig)
				}
			},
		},
		{
			name: "wal camelCase",
			doc:  "wal: {enabled: true, dir: /w, cleanSegmentsOlderThan: 2h, watchConfig: {minReadFrequency: 1s, maxReadFrequency: 5s}, maxSize: 2GB, whenFull: drop_oldest}",
			check: func(t *testing.T, c *Config) {
				want := WALConfig{Enabled: true, Dir: "/w", MaxSegmentAge: 2 * time.Hour, WatchConfig: WALWatchConfig{MinReadFrequency: time.Second, MaxReadFrequency: 5 * time.Second},
					MaxSize: 2 << 30, SegmentSize: DefaultWALSegmentSize, WhenFull: WALWhenFullDropOldest, Sync: WALSyncBatch}
				if c.WAL != want {
					t.Errorf("wal = %+v", c.WAL)
				}
			},
		},
		{
			name: "deprecated client block",
			doc:  "client: {url: http://one/loki/api/v1/push, batchwait: 3s}",
			check: func(t *testing.T, c *Config) {
				if c.Client.URL.String() != "http://one/loki/api/v1/push" || c.Client.BatchWait != 3*time.Second || c.Client.Timeout != DefaultTimeout {
					t.Errorf("client = %+v", c.Client)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, mustParse(t, tt.doc)) })
	}
}

func TestDecodeScrapeConfigs(t *testing.T) {
	doc := `scrape_configs:
- job_name: files
  encoding: UTF-16
  decompression: {enabled: true, initial_delay: 5s, format: gz}
  tail_from_end: true
  pipeline_stages:
  - json: {expressions: {level: lvl}}
  static_configs:
  - labels: {job: a, __path__: /var/log/*.log}
  - targets: [host1]
    labels: {job: b}
  file_sd_configs:
  - files: [t.json]
  kubernetes_sd_configs:
  - role: pod
  relabel_configs:
  - source_labels: [__meta_x]
    target_label: x
- job_name: journal
  journal: {json: true, path: /j, matches: "_SYSTEMD_UNIT=a.service", labels: {job: j}}
- job_name: syslog
  syslog: {listen_address: ":1514", label_structured_data: true, use_rfc5424_message: true, syslog_format: rfc3164, tls_config: {cert_file: c, key_file: k}}
- job_name: gcp
  gcplog: {project_id: p, subscription: s, use_full_line: true, push_timeout: 2s, server: {http_listen_port: 8080}}
- job_name: push
  loki_push_api:
    server: {http_listen_port: 3500, grpc_listen_port: 0}
    labels: {pushserver: a}
    use_incoming_timestamp: true
- job_name: windows
  windows_events: {eventlog_name: Application, bookmark_path: b.xml, exclude_user_data: true, locale: 1033}
- job_name: kafka
  kafka:
    brokers: [k:9092]
    topics: [^logs-.*]
    authentication:
      type: sasl
      sasl_config: {mechanism: SCRAM-SHA-512, user: u, password: secret, use_tls: true, insecure_skip_verify: true}
- job_name: azure
  azure_event_hubs: {fully_qualified_namespace: "ns:9093", event_hubs: [h], connection_string: cs, disallow_custom_messages: true}
- job_name: gelf
  gelf: {use_incoming_timestamp: true}
- job_name: cloudflare
  cloudflare: {api_token: tok, zone_id: z, pull_range: 1d, fields_type: all, additional_fields: [a]}
- job_name: docker
  docker_sd_configs: [{host: "unix:///var/run/docker.sock", refresh_interval: 5s}]
- job_name: heroku
  heroku_drain: {server: {http_listen_port: 8081}, use_incoming_timestamp: true}
`
	cfg := mustParse(t, doc)
	jobs := map[string]*ScrapeConfig{}
	for i := range cfg.ScrapeConfigs {
		jobs[cfg.ScrapeConfigs[i].JobName] = &cfg.ScrapeConfigs[i]
	}

	f := jobs["files"]
	if f.Encoding != "UTF-16" || f.Decompression == nil || f.Decompression.InitialDelay != 5*time.Second || !f.TailFromEnd || len(f.PipelineStages) != 1 {
		t.Errorf("files job = %+v", f)
	}
	if len(f.ServiceDiscoveryConfigs) != 3 {
		t.Fatalf("files SD configs = %d, want 3 (file, kubernetes, static)", len(f.ServiceDiscoveryConfigs))
	}
	var static discovery.StaticConfig
	for _, sd := range f.ServiceDiscoveryConfigs {
		switch sd := sd.(type) {
		case discovery.StaticConfig:
			static = sd
		case *file.SDConfig:
			if sd.Files[0] != "t.json" {
				t.Errorf("file SD = %+v", sd)
			}
		default:
			// Named, not typed: builds with -tags no_kubernetes_sd hold a
			// placeholder under the same key.
			if sd.Name() != "kubernetes" {
				t.Errorf("unexpected SD config %T", sd)
			}
		}
	}
	if len(static) != 2 || static[0].Targets[0][model.AddressLabel] != "localhost" || static[1].Targets[0][model.AddressLabel] != "host1" {
		t.Errorf("static groups = %+v", static)
	}
	if rc := f.RelabelConfigs[0]; rc.TargetLabel != "x" || rc.Action != relabel.Replace || rc.NameValidationScheme != model.UTF8Validation {
		t.Errorf("relabel = %+v", rc)
	}

	if j := jobs["journal"].Journal; j.MaxAge != "7h" || !j.JSON || j.Path != "/j" || j.Matches == "" {
		t.Errorf("journal = %+v", j)
	}
	if s := jobs["syslog"].Syslog; s.ListenProtocol != "tcp" || s.IdleTimeout != 120*time.Second || s.MaxMessageLength != 8192 ||
		s.SyslogFormat != SyslogFormatRFC3164 || !s.LabelStructuredData || s.TLSConfig.CertFile != "c" {
		t.Errorf("syslog = %+v", s)
	}
	if g := jobs["gcp"].GCPLog; g.SubscriptionType != "pull" || g.Server.HTTPListenPort != 8080 || g.Server.GRPCListenPort != DefaultGRPCListenPort || g.PushTimeout != 2*time.Second {
		t.Errorf("gcplog = %+v", g)
	}
	if p := jobs["push"].PushAPI; p.Server.HTTPListenPort != 3500 || p.Server.GRPCListenPort != 0 || p.Server.HTTPServerReadTimeout != 30*time.Second ||
		p.MaxSendMsgSize != 100<<20 || !p.UseIncomingTimestamp || p.Labels["pushserver"] != "a" {
		t.Errorf("push = %+v", p)
	}
	if w := jobs["windows"].WindowsEvents; w.Query != "*" || w.PollInterval != 3*time.Second || w.Locale != 1033 || !w.ExcludeUserData {
		t.Errorf("windows = %+v", w)
	}
	if k := jobs["kafka"].Kafka; k.GroupID != "promtail" || k.Version != "2.2.1" || k.Assignor != "range" ||
		k.Authentication.SASLConfig.Password != "secret" || !k.Authentication.SASLConfig.TLSConfig.InsecureSkipVerify {
		t.Errorf("kafka = %+v", k)
	}
	if a := jobs["azure"].AzureEventHubs; a.GroupID != "promtail" || a.ConnectionString != "cs" || !a.DisallowCustomMessages {
		t.Errorf("azure = %+v", a)
	}
	if g := jobs["gelf"].GELF; g.ListenAddress != ":12201" || !g.UseIncomingTimestamp {
		t.Errorf("gelf = %+v", g)
	}
	if c := jobs["cloudflare"].Cloudflare; c.Workers != 3 || c.PullRange != model.Duration(24*time.Hour) || c.FieldsType != "all" {
		t.Errorf("cloudflare = %+v", c)
	}
	if d := jobs["docker"]; len(d.DockerSDConfigs) != 1 || len(d.ServiceDiscoveryConfigs) != 0 || d.DockerSDConfigs[0].Host != "unix:///var/run/docker.sock" {
		t.Errorf("docker = %+v", d)
	}
	if h := jobs["heroku"].HerokuDrain; h.Server.HTTPListenPort != 8081 || !h.UseIncomingTimestamp {
		t.Errorf("heroku = %+v", h)
	}

	wantKinds := map[string]TargetKind{
		"files": KindFile, "journal": KindJournal, "syslog": KindSyslog, "gcp": KindGCPLog, "push": KindPushAPI,
		"windows": KindWindowsEvents, "kafka": KindKafka, "azure": KindAzureEventHubs, "gelf": KindGELF,
		"cloudflare": KindCloudflare, "docker": KindDocker, "heroku": KindHerokuDrain,
	}
	for name, want := range wantKinds {
		if got := jobs[name].Kind(); got != want {
			t.Errorf("job %s kind = %v, want %v", name, got, want)
		}
	}
}

func TestKindOrder(t *testing.T) {
	// Each document configures the kind named first and every later kind in
	// Promtail's order; the first must win.
	blocks := []struct {
		kind TargetKind
		yaml string
	}{
		{KindFile, "static_configs: [{labels: {__path__: /x}}]"},
		{KindJournal, "journal: {}"},
		{KindSyslog, "syslog: {}"},
		{KindGCPLog, "gcplog: {}"},
		{KindPushAPI, "loki_push_api: {}"},
		{KindWindowsEvents, "windows_events: {}"},
		{KindKafka, "kafka: {}"},
		{KindAzureEventHubs, "azure_event_hubs: {}"},
		{KindGELF, "gelf: {}"},
		{KindCloudflare, "cloudflare: {}"},
		{KindDocker, "docker_sd_configs: [{host: 'unix:///d.sock'}]"},
		{KindHerokuDrain, "heroku_drain: {}"},
	}
	for i, b := range blocks {
		var doc strings.Builder
		doc.WriteString("scrape_configs:\n- job_name: j\n")
		for _, later := range blocks[i:] {
			doc.WriteString("  " + later.yaml + "\n")
		}
		cfg := mustParse(t, doc.String())
		if got := cfg.ScrapeConfigs[0].Kind(); got != b.kind {
			t.Errorf("kind = %v, want %v", got, b.kind)
		}
	}
	none := mustParse(t, "scrape_configs: [{job_name: j}]")
	if k := none.ScrapeConfigs[0].Kind(); k != KindNone || k.String() != "none" {
		t.Errorf("job without target: kind %v", k)
	}
	names := map[TargetKind]string{KindFile: "file", KindSyslog: "syslog", KindPushAPI: "loki_push_api", KindDocker: "docker_sd_configs", KindAzureEventHubs: "azure_event_hubs", TargetKind(99): "unknown"}
	for k, want := range names {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(k), k.String(), want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // part of the error
	}{
		{"unknown top-level key", "scrape_config: []", "field scrape_config not found in type config.plain"},
		{"unknown server key", "server: {http_port: 1}", "field http_port not found"},
		{"unknown client key", "clients: [{url: http://a, batch_wait: 1s}]", "field batch_wait not found"},
		{"unknown positions key", "positions: {file: x}", "field file not found"},
		{"unknown limits key", "limits_config: {max_line: 1}", "field max_line not found"},
		{"unknown global key", "global: {file_watch: {}}", "field file_watch not found"},
		{"unknown wal key", "wal: {clean_segments_older_than: 1h}", "field clean_segments_older_than not found"},
		{"options has no keys", "options: {stream_lag_labels: a}", "field stream_lag_labels not found"},
		{"unknown scrape key", "scrape_configs: [{job_name: a, static_config: []}]", "field static_config not found in type config.ScrapeConfig"},
		{"scrape entry not a map", "scrape_configs: [a]", "into config.ScrapeConfig"},
		{"unknown syslog key", "scrape_configs: [{job_name: a, syslog: {listen: x}}]", "field listen not found"},
		{"unknown static key", "scrape_configs: [{job_name: a, static_configs: [{target: [x]}]}]", "field target not found"},
		{"unknown kubernetes key", "scrape_configs: [{job_name: a, kubernetes_sd_configs: [{rol: pod}]}]", "field rol not found"},
		{"dskit-only push server", "scrape_configs: [{job_name: a, loki_push_api: {server: {disable: true}}}]", "field disable not found"},
		{"unknown relabel key", "scrape_configs: [{job_name: a, relabel_configs: [{target: x}]}]", "field target not found"},
		{"unknown kafka sasl key", "scrape_configs: [{job_name: a, kafka: {authentication: {sasl_config: {pass: x}}}}]", "field pass not found"},
		{"empty job name", "scrape_configs: [{static_configs: []}]", "job_name is empty"},
		{"duplicate job", "scrape_configs: [{job_name: same}, {job_name: same}]", `found multiple scrape configs with job name "same"`},
		{"bad log level", "server: {log_level: verbose}", `unrecognized log level "verbose"`},
		{"bad log format", "server: {log_format: xml}", `unrecognized log format "xml"`},
		{"bad duration", "positions: {sync_period: 1 second}", "cannot unmarshal !!str `1 second` into time.Duration"},
		{"day duration", "target_config: {sync_period: 1d}", "into time.Duration"},
		{"bad int", "server:\n  http_listen_port: ${PORT}", "cannot unmarshal !!str `${PORT}` into int"},
		{"bad byte size", "limits_config: {max_line_size: 12 parsecs}", "12 PARSECS"},
		{"bad url", `clients: [{url: "http://[::1"}]`, `missing ']' in host`},
		{"basic auth and bearer", "clients: [{url: http://a, basic_auth: {username: u, password: p}, bearer_token: t}]", "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"},
		{"relabel regex", "scrape_configs: [{job_name: a, relabel_configs: [{regex: '(x'}]}]", "error parsing regexp: missing closing ): `^(?s:(x)$`"},
		{"relabel action", "scrape_configs: [{job_name: a, relabel_configs: [{action: rename}]}]", `unknown relabel action "rename"`},
		{"bad label name", "clients: [{url: http://a, external_labels: {\"\": x}}]", "not a valid label name"},
		{"null SD section", "scrape_configs: [{job_name: a, file_sd_configs: [null]}]", "empty or null section in file_sd_configs"},
		{"tabs", "server:\n\tdisable: true", "found character that cannot start any token"},
		{"not a mapping", "- a", "cannot unmarshal !!seq into config.plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !kubernetesSDLinked && strings.Contains(tt.doc, "kubernetes_sd_configs") {
				t.Skip("without Kubernetes discovery the body is kept as written, unchecked")
			}
			_, err := parse(t, tt.doc)
			if err == nil {
				t.Fatalf("no error for\n%s", tt.doc)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr bool
	}{
		{"0", 0, false},
		{"1024", 1024, false},
		{"256kb", 256 << 10, false},
		{"256KB", 256 << 10, false},
		{"2M", 2 << 20, false},
		{"2mb", 2 << 20, false},
		{"1 megabyte", 1 << 20, false},
		{"3 gigabytes", 3 << 30, false},
		{"1Kb", 1 << 10, false}, // upper-cased first, so not bits
		{"", 0, false},
		{"kb", 0, true},
		{"1 parsec", 0, true},
		{"99999999999999999999", 0, true},
	}
	for _, tt := range tests {
		var b ByteSize
		err := b.Set(tt.in)
		if (err != nil) != tt.wantErr || (err == nil && b != tt.want) {
			t.Errorf("Set(%q) = %d, %v; want %d, error %v", tt.in, b, err, tt.want, tt.wantErr)
		}
	}
	b := ByteSize(256 << 10)
	if s := b.String(); s != "256KB" {
		t.Errorf("String = %q", s)
	}
}

func TestSetup(t *testing.T) {
	cfg := mustParse(t, `
server: {log_level: warn, log_format: json}
client: {url: http://old/loki/api/v1/push, external_labels: {env: prod, team: a}}
clients:
- url: http://new/loki/api/v1/push
  external_labels: {team: b}
scrape_configs:
- job_name: push
  loki_push_api: {server: {http_listen_port: 0}}
`)
	warnings := cfg.Setup()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "deprecated") {
		t.Errorf("warnings = %q", warnings)
	}
	if len(cfg.Clients) != 2 || cfg.Clients[1].URL.Host != "old" {
		t.Fatalf("clients = %+v", cfg.Clients)
	}
	if got := cfg.Clients[0].ExternalLabels; got["env"] != "prod" || got["team"] != "b" {
		t.Errorf("client labels = %v, want env=prod and its own team=b", got)
	}
	if got := cfg.Clients[1].ExternalLabels; got["team"] != "a" {
		t.Errorf("deprecated client labels = %v", got)
	}
	push := cfg.ScrapeConfigs[0].PushAPI.Server
	if push.LogLevel != LogLevelWarn || push.LogFormat != LogFormatJSON {
		t.Errorf("push server logging = %s %s", push.LogLevel, push.LogFormat)
	}
	if again := cfg.Setup(); len(again) != 0 || len(cfg.Clients) != 2 {
		t.Errorf("second Setup: warnings %q, %d clients", again, len(cfg.Clients))
	}
}

func TestValidate(t *testing.T) {
	const client = "clients: [{url: http://loki/loki/api/v1/push}]\n"
	tests := []struct {
		name string
		doc  string
		want string // "" = valid
	}{
		{"valid", client + "scrape_configs: [{job_name: a, static_configs: [{labels: {__path__: /x}}]}]", ""},
		{"no clients", "scrape_configs: []", "at least one client config must be provided"},
		{"client without url", "clients: [{tenant_id: x}]", "client needs target URL"},
		{"job without target", client + "scrape_configs: [{job_name: only-stages, pipeline_stages: [{docker: {}}]}]", `no valid target scrape config defined for "only-stages"`},
		{"stdin job without target", client + "target_config: {stdin: true}\nscrape_configs: [{job_name: a}]", ""},
		{"replace without target_label", client + "scrape_configs: [{job_name: a, static_configs: [{}], relabel_configs: [{source_labels: [x]}]}]", `job "a": relabel_configs[0]: relabel configuration for replace action requires 'target_label' value`},
		{"hashmod without modulus", client + "scrape_configs: [{job_name: a, static_configs: [{}], relabel_configs: [{action: hashmod, target_label: x}]}]", "requires non-zero modulus"},
		{"null relabel entry", client + "scrape_configs: [{job_name: a, static_configs: [{}], relabel_configs: [null]}]", "relabel_configs[0] is empty"},
		{"consulagent", client + "scrape_configs: [{job_name: a, consulagent_sd_configs: [{server: 'localhost:8500'}]}]", `job "a": consulagent_sd_configs is not supported yet`},
		{"journal max_age", client + "scrape_configs: [{job_name: a, journal: {max_age: 1d}}]", "journal max_age"},
		{"syslog protocol", client + "scrape_configs: [{job_name: a, syslog: {listen_protocol: sctp}}]", `listen_protocol "sctp"`},
		{"syslog format", client + "scrape_configs: [{job_name: a, syslog: {syslog_format: rfc9999}}]", `syslog_format "rfc9999"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, tt.doc)
			cfg.Setup()
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestStringMasksSecrets(t *testing.T) {
	cfg := mustParse(t, `
clients:
- url: http://a/loki/api/v1/push
  basic_auth: {username: user, password: pw-basic}
- url: http://b/loki/api/v1/push
  bearer_token: pw-bearer
- url: http://c/loki/api/v1/push
  oauth2: {client_id: id, client_secret: pw-oauth, token_url: http://t}
scrape_configs:
- job_name: k
  kafka: {authentication: {type: sasl, sasl_config: {user: u, password: pw-kafka}}}
- job_name: c
  cloudflare: {api_token: pw-cloudflare, zone_id: z}
- job_name: z
  azure_event_hubs: {connection_string: pw-azure}
- job_name: f
  static_configs: [{labels: {__path__: /x}}]
  kubernetes_sd_configs: [{role: pod, api_server: "https://k8s", basic_auth: {username: u, password: pw-k8s}}]
- job_name: s
  syslog: {tls_config: {cert: c, key: pw-tls-key}}
`)
	out := cfg.String()
	if strings.Contains(out, "pw-") {
		t.Errorf("a secret is printed:\n%s", out)
	}
	if strings.Count(out, "<secret>") < 8 {
		t.Errorf("expected 8 masked secrets:\n%s", out)
	}
	for _, want := range []string{"user", "http://a/loki/api/v1/push", "kubernetes_sd_configs", "__path__: /x", "targets:\n    - localhost"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// What String prints decodes back to the same jobs.
	again, err := parse(t, out)
	if err != nil {
		t.Fatalf("String output does not parse: %v\n%s", err, out)
	}
	if len(again.ScrapeConfigs) != len(cfg.ScrapeConfigs) {
		t.Errorf("round trip: %d jobs, want %d", len(again.ScrapeConfigs), len(cfg.ScrapeConfigs))
	}
}

func TestLoadFileList(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, good, "server: {http_listen_port: 9080}\n")
	writeFile(t, bad, "server: {nope: 1}\n")
	missing := filepath.Join(dir, "missing.yaml")

	cfg, used, err := Load(missing+", "+good+","+bad, false)
	if err != nil || used != good || cfg.Server.HTTPListenPort != 9080 {
		t.Fatalf("Load = %v, %q, %v", cfg != nil, used, err)
	}

	_, used, err = Load(bad+","+good, false)
	var fe *FileError
	if !errors.As(err, &fe) || used != bad || fe.File != bad {
		t.Fatalf("want a FileError for %s, got %q %v", bad, used, err)
	}
	if !strings.HasPrefix(err.Error(), bad+": yaml: unmarshal errors:") {
		t.Errorf("error = %q", err)
	}
	hinted := WithExpandEnvHint(err, false).Error()
	if !strings.HasSuffix(hinted, ". "+ExpandEnvHint) {
		t.Errorf("hint missing: %q", hinted)
	}
	if WithExpandEnvHint(err, true) != err {
		t.Error("hint added although -config.expand-env is on")
	}

	list := missing + "," + filepath.Join(dir, "other.yaml")
	_, _, err = Load(list, false)
	if err == nil || err.Error() != list+" does not exist, set config.file for custom config path" {
		t.Errorf("error = %v", err)
	}
	if WithExpandEnvHint(err, false) != err {
		t.Error("hint added to a missing-file error")
	}

	unreadable := filepath.Join(dir, "dir.yaml")
	if err := os.Mkdir(unreadable, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(unreadable, false); !errors.As(err, &fe) {
		t.Errorf("reading a directory: %v", err)
	}
}

func TestExpandEnv(t *testing.T) {
	t.Setenv("PE_PORT", "9081")
	t.Setenv("PE_URL", "http://loki:3100/loki/api/v1/push")
	t.Setenv("PE_EMPTY", "")
	doc := `server:
  http_listen_port: ${PE_PORT}
  http_listen_address: ${PE_UNDEFINED}
  http_path_prefix: $PE_PORT
clients:
  - url: ${PE_URL}
    tenant_id: ${PE_TENANT:-default-tenant}
    name: ${PE_EMPTY:-fallback}
scrape_configs:
  - job_name: env
    pipeline_stages:
      - replace: {expression: '(\d+)', replace: '$${1}-masked'}
    static_configs:
      - labels: {__path__: /var/log/*.log, price: "$$5"}
`
	cfg := DefaultConfig()
	if err := Parse(cfg, []byte(doc), true); err != nil {
		t.Fatal(err)
	}
	c := cfg.Clients[0]
	if cfg.Server.HTTPListenPort != 9081 || cfg.Server.HTTPListenAddress != "" || cfg.Server.HTTPPathPrefix != "$PE_PORT" || c.URL.Host != "loki:3100" ||
		c.TenantID != "default-tenant" || c.Name != "fallback" {
		t.Errorf("expanded config: server %+v client %+v", cfg.Server.ServerConfig, c)
	}
	stage := cfg.ScrapeConfigs[0].PipelineStages[0].(map[any]any)["replace"].(map[any]any)
	if stage["replace"] != "${1}-masked" {
		t.Errorf("$$ not turned into $: %q", stage["replace"])
	}
	static := cfg.ScrapeConfigs[0].ServiceDiscoveryConfigs[0].(discovery.StaticConfig)
	if static[0].Labels["price"] != "$5" {
		t.Errorf("price = %q", static[0].Labels["price"])
	}

	// Without expansion the text is taken literally.
	raw := DefaultConfig()
	if err := Parse(raw, []byte("clients: [{url: http://a, tenant_id: '${PE_PORT}'}]"), false); err != nil {
		t.Fatal(err)
	}
	if raw.Clients[0].TenantID != "${PE_PORT}" {
		t.Errorf("tenant = %q", raw.Clients[0].TenantID)
	}
	if err := Parse(DefaultConfig(), []byte("a: ${PE_PORT"), true); err == nil {
		t.Error("unterminated ${ accepted")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestUnsupportedSDKeepsItsBody(t *testing.T) {
	cfg := mustParse(t, `scrape_configs:
- job_name: cloud
  consulagent_sd_configs:
  - server: localhost:8500
    services: [web]
`)
	job := &cfg.ScrapeConfigs[0]
	if job.Kind() != KindFile || len(job.ServiceDiscoveryConfigs) != 1 {
		t.Fatalf("kind %v, %d SD configs", job.Kind(), len(job.ServiceDiscoveryConfigs))
	}
	sd := job.ServiceDiscoveryConfigs[0]
	if sd.Name() != "consulagent" {
		t.Errorf("name = %q", sd.Name())
	}
	if _, err := sd.NewDiscoverer(discovery.DiscovererOptions{}); err == nil || err.Error() != "consulagent_sd_configs is not supported yet" {
		t.Errorf("NewDiscoverer error = %v", err)
	}
	if m := sd.NewDiscovererMetrics(nil, nil); m.Register() != nil {
		t.Error("noop metrics failed to register")
	}
	if out := cfg.String(); !strings.Contains(out, "consulagent_sd_configs:\n  - server: localhost:8500\n    services:\n    - web") {
		t.Errorf("body not printed back:\n%s", out)
	}
}

func TestWALValidation(t *testing.T) {
	for _, tc := range []struct{ wal, err string }{
		{"{enabled: true, dir: /s}", ""},
		{"{enabled: false, whenFull: nonsense}", ""},
		{"{enabled: true}", "wal.dir"},
		{"{enabled: true, dir: /s, whenFull: drop_newest}", "wal.whenFull"},
		{"{enabled: true, dir: /s, sync: always}", "wal.sync"},
		{"{enabled: true, dir: /s, segmentSize: 1KB}", "wal.segmentSize"},
		{"{enabled: true, dir: /s, segmentSize: 8MB, maxSize: 10MB}", "wal.maxSize"},
	} {
		t.Run(tc.wal, func(t *testing.T) {
			cfg := DefaultConfig()
			doc := "clients: [{url: http://l/loki/api/v1/push}]\nwal: " + tc.wal
			if err := Parse(cfg, []byte(doc), false); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error = %v, want one naming %s", err, tc.err)
			}
		})
	}
}
