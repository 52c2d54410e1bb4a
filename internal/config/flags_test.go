package config

import (
	"errors"
	"flag"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("promtail", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// loadArgs runs the whole configuration step on a command line.
func loadArgs(t *testing.T, args ...string) (*Config, []string) {
	t.Helper()
	_, flags, err := ParseArgs(newFlagSet(), args)
	if err != nil {
		t.Fatalf("ParseArgs(%q): %v", args, err)
	}
	cfg, _, warnings, err := flags.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg, warnings
}

func TestOptions(t *testing.T) {
	opts, _, err := ParseArgs(newFlagSet(), []string{
		"-config.file=a.yaml,b.yaml", "--config.expand-env", "-dry-run", "-inspect", "-check-syntax",
		"-print-config-stderr", "-log-config-reverse-order", "-version", "-stdin", "-runtime.adaptive-procs=false",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{ConfigFile: "a.yaml,b.yaml", ExpandEnv: true, DryRun: true, Inspect: true, CheckSyntax: true,
		PrintConfigStderr: true, LogConfigReverseOrder: true, Version: true, Stdin: true}
	if *opts != want {
		t.Errorf("options = %+v", *opts)
	}
	none, _, err := ParseArgs(newFlagSet(), nil)
	if err != nil || *none != (Options{AdaptiveProcs: true}) {
		t.Errorf("default options = %+v, %v", none, err)
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"-h"}, flag.ErrHelp.Error()},
		{[]string{"-log.level=verbose"}, `unrecognized log level "verbose"`},
		{[]string{"-log.format=xml"}, `unrecognized log format "xml"`},
		{[]string{"-max-line-size=huge"}, "invalid value"},
		{[]string{"-client.url=http://[::1"}, "missing ']' in host"},
		{[]string{"-client.external-labels=novalue"}, "must be formatted as key=value"},
		{[]string{"-client.external-labels=a=1,b=2,c"}, "c must be formatted as key=value"},
		{[]string{"-client.external-labels=a=1,\"b=2"}, "quote"},
		{[]string{"-client.external-labels=a=1,=2"}, "invalid label name"},
		{[]string{"-server.http-listen-port=x"}, "invalid value"},
		{[]string{"-client.batch-wait=1d"}, "invalid value"},
	}
	for _, tt := range tests {
		_, _, err := ParseArgs(newFlagSet(), tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseArgs(%q) error = %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestFlagDefaultsMatchConfigDefaults(t *testing.T) {
	cfg, warnings := loadArgs(t)
	if len(warnings) != 0 {
		t.Errorf("warnings = %q", warnings)
	}
	if !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Errorf("flag defaults differ from DefaultConfig:\n%s\nvs\n%s", cfg, DefaultConfig())
	}
	fs := newFlagSet()
	RegisterFlags(fs)
	defaults := map[string]string{
		"server.http-listen-port":                   "80",
		"server.grpc-listen-port":                   "9095",
		"server.grpc.keepalive.time":                "2h0m0s",
		"server.grpc.keepalive.max-connection-idle": "2562047h47m16.854775807s",
		"positions.file":                            "/var/log/positions.yaml",
		"limit.readline-rate-drop":                  "true",
		"limit.readline-rate":                       "10000",
		"tracing.enabled":                           "true",
		"client.max-backoff":                        "5m0s",
		"client.batch-size-bytes":                   "1048576",
		"log.level":                                 "info",
		"log.format":                                "logfmt",
		"max-line-size":                             "0B",
		"file-watch.min_poll_frequency":             "250ms",
		"server.throughput.unit":                    "samples_processed",
	}
	for name, want := range defaults {
		fl := fs.Lookup(name)
		if fl == nil {
			t.Errorf("flag -%s missing", name)
			continue
		}
		if fl.DefValue != want {
			t.Errorf("-%s default = %q, want %q", name, fl.DefValue, want)
		}
	}
}

func TestFlagPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "promtail.yaml")
	writeFile(t, path, `server:
  http_listen_port: 9080
  log_level: warn
positions:
  filename: /from/file.yaml
  sync_period: 30s
limits_config:
  max_line_size: 1MB
  readline_rate_drop: false
target_config:
  sync_period: 20s
`)
	// Only the file.
	cfg, _ := loadArgs(t, "-config.file="+path)
	if cfg.Server.HTTPListenPort != 9080 || cfg.Server.LogLevel != LogLevelWarn || cfg.Positions.Filename != "/from/file.yaml" ||
		cfg.Positions.SyncPeriod != 30*time.Second || cfg.LimitsConfig.MaxLineSize != 1<<20 || cfg.LimitsConfig.ReadlineRateDrop ||
		cfg.TargetConfig.SyncPeriod != 20*time.Second {
		t.Errorf("file values not applied: %s", cfg)
	}
	// A default the file does not set stays.
	if cfg.Server.HTTPServerReadTimeout != DefaultHTTPReadTimeout || cfg.Positions.IgnoreInvalidYaml {
		t.Error("defaults lost")
	}
	// Explicit flags win over the file, even when they repeat the default.
	cfg, _ = loadArgs(t, "-config.file="+path, "-server.http-listen-port=80", "-log.level=debug",
		"-positions.file", "/from/flag.yaml", "-max-line-size=2kb", "-limit.readline-rate-drop",
		"-target.sync-period=1s", "-stdin", "-positions.ignore-invalid-yaml")
	if cfg.Server.HTTPListenPort != 80 || cfg.Server.LogLevel != LogLevelDebug || cfg.Positions.Filename != "/from/flag.yaml" ||
		cfg.LimitsConfig.MaxLineSize != 2048 || !cfg.LimitsConfig.ReadlineRateDrop || cfg.TargetConfig.SyncPeriod != time.Second ||
		!cfg.TargetConfig.Stdin || !cfg.Positions.IgnoreInvalidYaml {
		t.Errorf("flags did not win: %s", cfg)
	}
	// Values the flags did not name still come from the file.
	if cfg.Positions.SyncPeriod != 30*time.Second {
		t.Errorf("positions sync = %v", cfg.Positions.SyncPeriod)
	}
}

func TestClientFlags(t *testing.T) {
	dir := t.TempDir()
	withClients := filepath.Join(dir, "clients.yaml")
	writeFile(t, withClients, `clients:
- url: http://a/loki/api/v1/push
  external_labels: {team: yaml}
- url: http://b/loki/api/v1/push
`)
	withBlock := filepath.Join(dir, "block.yaml")
	writeFile(t, withBlock, "client: {url: http://old/loki/api/v1/push, batchwait: 7s, timeout: 4s}\n")

	t.Run("client.url appends a client built from the client flags", func(t *testing.T) {
		cfg, warnings := loadArgs(t, "-config.file="+withClients, "-client.url=http://c/loki/api/v1/push",
			"-client.batch-wait=3s", "-client.batch-size-bytes=10", "-client.max-retries=0", "-client.min-backoff=1s",
			"-client.max-backoff=9s", "-client.timeout=2s", "-client.tenant-id=t", "-client.drop-rate-limited-batches")
		if len(cfg.Clients) != 3 {
			t.Fatalf("clients = %d", len(cfg.Clients))
		}
		c := cfg.Clients[2]
		want := BackoffConfig{MinPeriod: time.Second, MaxPeriod: 9 * time.Second, MaxRetries: 0}
		if c.URL.Host != "c" || c.BatchWait != 3*time.Second || c.BatchSize != 10 || c.Backoff != want ||
			c.Timeout != 2*time.Second || c.TenantID != "t" || !c.DropRateLimitedBatches || !c.Client.FollowRedirects {
			t.Errorf("flag client = %+v", c)
		}
		if cfg.Clients[0].BatchWait != DefaultBatchWait {
			t.Error("client flags changed a clients: entry")
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], "deprecated") {
			t.Errorf("warnings = %q", warnings)
		}
	})
	t.Run("external labels go to every client, YAML wins", func(t *testing.T) {
		cfg, _ := loadArgs(t, "-config.file="+withClients, "-client.external-labels=team=flag,env=prod")
		if len(cfg.Clients) != 2 {
			t.Fatalf("clients = %d", len(cfg.Clients))
		}
		if l := cfg.Clients[0].ExternalLabels; l["team"] != "yaml" || l["env"] != "prod" {
			t.Errorf("client a labels = %v", l)
		}
		if l := cfg.Clients[1].ExternalLabels; l["team"] != "flag" || l["env"] != "prod" {
			t.Errorf("client b labels = %v", l)
		}
	})
	t.Run("client block with flags over it", func(t *testing.T) {
		cfg, _ := loadArgs(t, "-config.file="+withBlock, "-client.timeout=1s")
		if len(cfg.Clients) != 1 {
			t.Fatalf("clients = %d", len(cfg.Clients))
		}
		c := cfg.Clients[0]
		if c.URL.Host != "old" || c.BatchWait != 7*time.Second || c.Timeout != time.Second {
			t.Errorf("client = %+v", c)
		}
	})
	t.Run("client.url replaces the block's url", func(t *testing.T) {
		cfg, _ := loadArgs(t, "-config.file="+withBlock, "-client.url=http://new/loki/api/v1/push")
		if len(cfg.Clients) != 1 || cfg.Clients[0].URL.Host != "new" || cfg.Clients[0].BatchWait != 7*time.Second {
			t.Errorf("clients = %+v", cfg.Clients)
		}
	})
	t.Run("quoted single label", func(t *testing.T) {
		cfg, _ := loadArgs(t, "-client.url=http://x/loki/api/v1/push", `-client.external-labels="k=v,w"`)
		if l := cfg.Clients[0].ExternalLabels; l["k"] != "v,w" {
			t.Errorf("labels = %v", l)
		}
	})
}

func TestIgnoredFlagsWarning(t *testing.T) {
	cfg, warnings := loadArgs(t, "-server.grpc-listen-port=0", "-server.grpc.keepalive.time=1h", "-tracing.enabled=false",
		"-server.throughput.unit=x", "-server.http-listen-port=9080", "-server.proxy-protocol-enabled")
	if len(warnings) != 1 {
		t.Fatalf("warnings = %q", warnings)
	}
	w := warnings[0]
	for _, name := range []string{"-server.grpc-listen-port", "-server.grpc.keepalive.time", "-tracing.enabled", "-server.throughput.unit"} {
		if !strings.Contains(w, name) {
			t.Errorf("warning %q lacks %s", w, name)
		}
	}
	if strings.Contains(w, "http-listen-port") || strings.Contains(w, "proxy-protocol") {
		t.Errorf("warning names an effective flag: %q", w)
	}
	if cfg.Server.GRPCListenPort != 0 || cfg.Server.GRPCServerKeepaliveTime != time.Hour || cfg.Tracing.Enabled ||
		!cfg.Server.ProxyProtocolEnabled {
		t.Error("accepted flags did not reach the configuration")
	}
}

func TestFlagsLoadError(t *testing.T) {
	_, flags, err := ParseArgs(newFlagSet(), []string{"-config.file=" + filepath.Join(t.TempDir(), "none.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := flags.Load(); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Load error = %v", err)
	}
	var fe *FileError
	if errors.As(err, &fe) {
		t.Error("a missing file is not a FileError")
	}
}
