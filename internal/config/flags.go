package config

import (
	"encoding/csv"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Options are the command-line flags that are not part of the configuration.
type Options struct {
	ConfigFile            string // -config.file: comma-separated list, the first existing file is used
	ExpandEnv             bool   // -config.expand-env
	DryRun                bool   // -dry-run
	Inspect               bool   // -inspect
	CheckSyntax           bool   // -check-syntax
	PrintConfigStderr     bool   // -print-config-stderr
	LogConfigReverseOrder bool   // -log-config-reverse-order
	Version               bool   // -version
	AdaptiveProcs         bool   // -runtime.adaptive-procs
	// Stdin is the -stdin flag alone; target_config.stdin turns stdin mode
	// on too, so read Config.TargetConfig.Stdin after Apply.
	Stdin bool
}

// Flags are the configuration flags registered on a FlagSet. Their defaults
// are the configuration defaults; Apply copies the ones given on the command
// line over a loaded configuration.
type Flags struct {
	fs   *flag.FlagSet
	opts Options
	// values holds what the configuration flags parsed to.
	values *Config
	// apply copies one flag's value from values into a configuration.
	apply map[string]func(*Config)
	// noEffect names the flags accepted for compatibility with Promtail's
	// command line that change nothing in this agent (gRPC server, tracing,
	// request logging details).
	noEffect map[string]bool
}

// ParseArgs registers every Promtail flag on fs and parses args. Errors are
// the flag package's (flag.ErrHelp for -h); Promtail exits 2 on them.
func ParseArgs(fs *flag.FlagSet, args []string) (*Options, *Flags, error) {
	f := RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	opts := f.Options()
	return &opts, f, nil
}

// RegisterFlags registers every Promtail flag on fs, with Promtail's defaults.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{
		fs:       fs,
		values:   DefaultConfig(),
		apply:    map[string]func(*Config){},
		noEffect: map[string]bool{},
	}
	f.registerOptions()
	f.registerAgent()
	f.registerClient()
	f.registerServer()
	return f
}

// Options returns the parsed non-configuration flags.
func (f *Flags) Options() Options {
	o := f.opts
	o.Stdin = f.values.TargetConfig.Stdin
	return o
}

// Apply copies the flags given on the command line over c (so they win over
// the file), then runs c.Setup. It returns warnings to log once the logger
// exists: the deprecated client block, and the flags that were set but have
// no effect here. Call it once per loaded configuration, flags or not.
func (f *Flags) Apply(c *Config) []string {
	var ignored []string
	f.fs.Visit(func(fl *flag.Flag) {
		if apply, ok := f.apply[fl.Name]; ok {
			apply(c)
		}
		if f.noEffect[fl.Name] {
			ignored = append(ignored, "-"+fl.Name)
		}
	})
	warnings := c.Setup()
	if len(ignored) > 0 {
		warnings = append(warnings, "these flags are accepted for compatibility and have no effect: "+strings.Join(ignored, ", "))
	}
	return warnings
}

// Load loads the configuration file named by -config.file and applies the
// flags: the whole of Promtail's configuration step, also used on reload.
func (f *Flags) Load() (cfg *Config, file string, warnings []string, err error) {
	cfg, file, err = Load(f.opts.ConfigFile, f.opts.ExpandEnv)
	if err != nil {
		return nil, file, nil, err
	}
	return cfg, file, f.Apply(cfg), nil
}

func (f *Flags) registerOptions() {
	fs := f.fs
	fs.StringVar(&f.opts.ConfigFile, "config.file", "", "YAML configuration file to load; with a comma-separated list, the first file that exists.")
	fs.BoolVar(&f.opts.ExpandEnv, "config.expand-env", false, "Expand ${VAR} and ${VAR:-default} in the configuration file from the environment ($$ is a literal $).")
	fs.BoolVar(&f.opts.DryRun, "dry-run", false, "Read and process logs but print the entries to stdout instead of sending them; positions are not written.")
	fs.BoolVar(&f.opts.Inspect, "inspect", false, "Print what each pipeline stage changes to stderr.")
	fs.BoolVar(&f.opts.CheckSyntax, "check-syntax", false, "Check the configuration file's syntax and exit.")
	fs.BoolVar(&f.opts.PrintConfigStderr, "print-config-stderr", false, "Print the effective configuration to stderr at start.")
	fs.BoolVar(&f.opts.LogConfigReverseOrder, "log-config-reverse-order", false, "Log the effective configuration at info level, lines in reverse order.")
	fs.BoolVar(&f.opts.Version, "version", false, "Print version information and exit.")
	fs.BoolVar(&f.opts.AdaptiveProcs, "runtime.adaptive-procs", true, "Run the Go scheduler on one thread (GOMAXPROCS) while one keeps up, adding threads up to Go's own choice while all are busy. Off, or GOMAXPROCS set in the environment: Go's choice. Not a Promtail flag.")
}

func (f *Flags) registerAgent() {
	f.duration("file-watch.min_poll_frequency", "Shortest interval between polls of a file that has not changed.",
		func(c *Config) *time.Duration { return &c.Global.FileWatch.MinPollFrequency })
	f.duration("file-watch.max_poll_frequency", "Longest interval between polls of a file that has not changed.",
		func(c *Config) *time.Duration { return &c.Global.FileWatch.MaxPollFrequency })
	f.duration("target.sync-period", "How often file targets look for new files matching their globs.",
		func(c *Config) *time.Duration { return &c.TargetConfig.SyncPeriod })
	f.boolean("stdin", "Read log lines from standard input instead of the configured targets.",
		func(c *Config) *bool { return &c.TargetConfig.Stdin })

	f.str("positions.file", "File where read positions are saved.",
		func(c *Config) *string { return &c.Positions.Filename })
	f.duration("positions.sync-period", "How often positions are written to the positions file.",
		func(c *Config) *time.Duration { return &c.Positions.SyncPeriod })
	f.boolean("positions.ignore-invalid-yaml", "Start with empty positions when the positions file is not valid YAML.",
		func(c *Config) *bool { return &c.Positions.IgnoreInvalidYaml })

	f.float("limit.readline-rate", "Lines per second this agent may read when rate limiting is on.",
		func(c *Config) *float64 { return &c.LimitsConfig.ReadlineRate })
	f.integer("limit.readline-burst", "Lines that may be read in a burst above the rate.",
		func(c *Config) *int { return &c.LimitsConfig.ReadlineBurst })
	f.boolean("limit.readline-rate-enabled", "Turn read rate limiting on.",
		func(c *Config) *bool { return &c.LimitsConfig.ReadlineRateEnabled })
	f.boolean("limit.readline-rate-drop", "Drop lines over the rate limit instead of waiting.",
		func(c *Config) *bool { return &c.LimitsConfig.ReadlineRateDrop })
	f.integer("max-streams", "Maximum number of active streams; 0 is no limit.",
		func(c *Config) *int { return &c.LimitsConfig.MaxStreams })
	value(f, "max-line-size", "Longest line in bytes (e.g. 256kb, 2M) before it is dropped or truncated; 0 is no limit.",
		func(c *Config) *ByteSize { return &c.LimitsConfig.MaxLineSize })
	f.boolean("max-line-size-truncate", "Truncate lines longer than -max-line-size instead of dropping them.",
		func(c *Config) *bool { return &c.LimitsConfig.MaxLineSizeTruncate })

	f.boolean("tracing.enabled", "Promtail's Jaeger tracing switch; this agent does no tracing.",
		func(c *Config) *bool { return &c.Tracing.Enabled })
	f.noEffect["tracing.enabled"] = true
}

func (f *Flags) registerClient() {
	value(f, "client.url", "Loki push URL of one more client (deprecated: use clients in the file).",
		func(c *Config) *urlValue { return (*urlValue)(&c.Client.URL) })
	f.duration("client.batch-wait", "Longest wait before a batch is sent (deprecated).",
		func(c *Config) *time.Duration { return &c.Client.BatchWait })
	f.integer("client.batch-size-bytes", "Batch size in bytes that triggers a send (deprecated).",
		func(c *Config) *int { return &c.Client.BatchSize })
	f.integer("client.max-retries", "Attempts before a batch is dropped; 0 retries forever (deprecated).",
		func(c *Config) *int { return &c.Client.Backoff.MaxRetries })
	f.duration("client.min-backoff", "First wait between retries (deprecated).",
		func(c *Config) *time.Duration { return &c.Client.Backoff.MinPeriod })
	f.duration("client.max-backoff", "Longest wait between retries (deprecated).",
		func(c *Config) *time.Duration { return &c.Client.Backoff.MaxPeriod })
	f.duration("client.timeout", "Timeout of one push request (deprecated).",
		func(c *Config) *time.Duration { return &c.Client.Timeout })
	value(f, "client.external-labels", "Labels added to every entry of every client, as k1=v1,k2=v2; a client's own external_labels win.",
		func(c *Config) *labelsValue { return (*labelsValue)(&c.Client.ExternalLabels) })
	f.str("client.tenant-id", "Tenant ID sent as X-Scope-OrgID (deprecated).",
		func(c *Config) *string { return &c.Client.TenantID })
	f.boolean("client.drop-rate-limited-batches", "Drop batches Loki answers with 429 instead of retrying them (deprecated).",
		func(c *Config) *bool { return &c.Client.DropRateLimitedBatches })
}

func (f *Flags) registerServer() {
	srv := func(c *Config) *ServerConfig { return &c.Server.ServerConfig }

	f.boolean("server.disable", "Do not run the HTTP server.",
		func(c *Config) *bool { return &c.Server.Disable })
	f.boolean("server.profiling_enabled", "Serve /debug/pprof.",
		func(c *Config) *bool { return &c.Server.ProfilingEnabled })
	f.boolean("server.enable-runtime-reload", "Serve POST /reload.",
		func(c *Config) *bool { return &c.Server.EnableRuntimeReload })

	f.str("server.http-listen-network", "HTTP server listen network: tcp, tcp4 or tcp6.",
		func(c *Config) *string { return &srv(c).HTTPListenNetwork })
	f.str("server.http-listen-address", "HTTP server listen address.",
		func(c *Config) *string { return &srv(c).HTTPListenAddress })
	f.integer("server.http-listen-port", "HTTP server listen port; 0 picks a free port.",
		func(c *Config) *int { return &srv(c).HTTPListenPort })
	f.integer("server.http-conn-limit", "Maximum simultaneous HTTP connections; 0 or less is no limit.",
		func(c *Config) *int { return &srv(c).HTTPConnLimit })
	f.boolean("server.register-instrumentation", "Serve /metrics.",
		func(c *Config) *bool { return &srv(c).RegisterInstrumentation })
	f.duration("server.graceful-shutdown-timeout", "How long shutdown waits for requests in flight.",
		func(c *Config) *time.Duration { return &srv(c).GracefulShutdownTimeout })
	f.duration("server.http-read-timeout", "Timeout for reading a whole request.",
		func(c *Config) *time.Duration { return &srv(c).HTTPServerReadTimeout })
	f.duration("server.http-read-header-timeout", "Timeout for reading request headers; 0 uses -server.http-read-timeout.",
		func(c *Config) *time.Duration { return &srv(c).HTTPServerReadHeaderTimeout })
	f.duration("server.http-write-timeout", "Timeout for writing a response.",
		func(c *Config) *time.Duration { return &srv(c).HTTPServerWriteTimeout })
	f.duration("server.http-idle-timeout", "Idle keep-alive connections are closed after this.",
		func(c *Config) *time.Duration { return &srv(c).HTTPServerIdleTimeout })
	f.str("server.path-prefix", "Path prefix of every HTTP route, e.g. /promtail.",
		func(c *Config) *string { return &srv(c).HTTPPathPrefix })
	f.str("server.tls-cipher-suites", "Comma-separated TLS cipher suites; empty keeps Go's defaults.",
		func(c *Config) *string { return &srv(c).TLSCipherSuites })
	f.str("server.tls-min-version", "Minimum TLS version: VersionTLS10 to VersionTLS13.",
		func(c *Config) *string { return &srv(c).TLSMinVersion })
	f.str("server.http-tls-cert-path", "HTTP server certificate file.",
		func(c *Config) *string { return &srv(c).HTTPTLSConfig.CertFile })
	f.str("server.http-tls-key-path", "HTTP server key file.",
		func(c *Config) *string { return &srv(c).HTTPTLSConfig.KeyFile })
	f.str("server.http-tls-client-auth", "HTTP TLS client authentication type, e.g. RequireAndVerifyClientCert.",
		func(c *Config) *string { return &srv(c).HTTPTLSConfig.ClientAuthType })
	f.str("server.http-tls-ca-path", "CA file that HTTP client certificates are verified against.",
		func(c *Config) *string { return &srv(c).HTTPTLSConfig.ClientCAFile })
	f.boolean("server.proxy-protocol-enabled", "Accept a PROXY protocol (v1 or v2) header ahead of each HTTP connection.",
		func(c *Config) *bool { return &srv(c).ProxyProtocolEnabled })
	value(f, "log.level", "Log level: debug, info, warn or error.",
		func(c *Config) *LogLevel { return &srv(c).LogLevel })
	value(f, "log.format", "Log format: logfmt or json.",
		func(c *Config) *LogFormat { return &srv(c).LogFormat })

	// dskit's gRPC and request-logging flags: this agent serves no gRPC and
	// logs no requests, so they only land in the configuration.
	f.compat(func() {
		f.boolean("server.http-log-closed-connections-without-response-enabled", "Accepted for compatibility.",
			func(c *Config) *bool { return &srv(c).HTTPLogClosedConnectionsWithoutResponse })
		f.str("server.grpc-listen-network", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *string { return &srv(c).GRPCListenNetwork })
		f.str("server.grpc-listen-address", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *string { return &srv(c).GRPCListenAddress })
		f.integer("server.grpc-listen-port", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *int { return &srv(c).GRPCListenPort })
		f.integer("server.grpc-conn-limit", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *int { return &srv(c).GRPCConnLimit })
		f.boolean("server.grpc-collect-max-streams-by-conn", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *bool { return &srv(c).GRPCCollectMaxStreamsByConn })
		f.boolean("server.report-grpc-codes-in-instrumentation-label-enabled", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *bool { return &srv(c).ReportGRPCCodesInInstrumentationLabel })
		f.integer("server.grpc-max-recv-msg-size-bytes", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *int { return &srv(c).GRPCServerMaxRecvMsgSize })
		f.integer("server.grpc-max-send-msg-size-bytes", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *int { return &srv(c).GRPCServerMaxSendMsgSize })
		f.unsigned("server.grpc-max-concurrent-streams", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *uint { return &srv(c).GRPCServerMaxConcurrentStreams })
		f.duration("server.grpc.keepalive.max-connection-idle", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *time.Duration { return &srv(c).GRPCServerMaxConnectionIdle })
		f.duration("server.grpc.keepalive.max-connection-age", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *time.Duration { return &srv(c).GRPCServerMaxConnectionAge })
		f.duration("server.grpc.keepalive.max-connection-age-grace", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *time.Duration { return &srv(c).GRPCServerMaxConnectionAgeGrace })
		f.duration("server.grpc.keepalive.time", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *time.Duration { return &srv(c).GRPCServerKeepaliveTime })
		f.duration("server.grpc.keepalive.timeout", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *time.Duration { return &srv(c).GRPCServerKeepaliveTimeout })
		f.duration("server.grpc.keepalive.min-time-between-pings", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *time.Duration { return &srv(c).GRPCServerMinTimeBetweenPings })
		f.boolean("server.grpc.keepalive.ping-without-stream-allowed", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *bool { return &srv(c).GRPCServerPingWithoutStreamAllowed })
		f.boolean("server.grpc.stats-tracking-enabled", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *bool { return &srv(c).GRPCServerStatsTrackingEnabled })
		f.boolean("server.grpc.recv-buffer-pools-enabled", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *bool { return &srv(c).GRPCServerRecvBufferPoolsEnabled })
		f.integer("server.grpc.num-workers", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *int { return &srv(c).GRPCServerNumWorkers })
		f.str("server.grpc-tls-cert-path", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *string { return &srv(c).GRPCTLSConfig.CertFile })
		f.str("server.grpc-tls-key-path", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *string { return &srv(c).GRPCTLSConfig.KeyFile })
		f.str("server.grpc-tls-client-auth", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *string { return &srv(c).GRPCTLSConfig.ClientAuthType })
		f.str("server.grpc-tls-ca-path", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *string { return &srv(c).GRPCTLSConfig.ClientCAFile })
		f.boolean("server.log-source-ips-enabled", "Accepted for compatibility: requests are not logged.",
			func(c *Config) *bool { return &srv(c).LogSourceIPs })
		f.boolean("server.log-source-ips-full", "Accepted for compatibility: requests are not logged.",
			func(c *Config) *bool { return &srv(c).LogSourceIPsFull })
		f.str("server.log-source-ips-header", "Accepted for compatibility: requests are not logged.",
			func(c *Config) *string { return &srv(c).LogSourceIPsHeader })
		f.str("server.log-source-ips-regex", "Accepted for compatibility: requests are not logged.",
			func(c *Config) *string { return &srv(c).LogSourceIPsRegex })
		f.boolean("server.log-request-headers", "Accepted for compatibility: requests are not logged.",
			func(c *Config) *bool { return &srv(c).LogRequestHeaders })
		f.str("server.log-request-headers-exclude-list", "Accepted for compatibility: requests are not logged.",
			func(c *Config) *string { return &srv(c).LogRequestExcludeHeadersList })
		f.boolean("server.log-request-at-info-level-enabled", "Accepted for compatibility: requests are not logged.",
			func(c *Config) *bool { return &srv(c).LogRequestAtInfoLevel })
		f.boolean("server.trace-request-headers", "Accepted for compatibility: no tracing.",
			func(c *Config) *bool { return &srv(c).TraceRequestHeaders })
		f.str("server.trace-request-headers-exclude-list", "Accepted for compatibility: no tracing.",
			func(c *Config) *string { return &srv(c).TraceRequestExcludeHeadersList })
		f.boolean("server.create-new-traces", "Accepted for compatibility: no tracing.",
			func(c *Config) *bool { return &srv(c).CreateNewTraces })
		f.str("server.cluster-validation.label", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *string { return &srv(c).ClusterValidation.Label })
		f.boolean("server.cluster-validation.grpc.enabled", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *bool { return &srv(c).ClusterValidation.GRPC.Enabled })
		f.boolean("server.cluster-validation.grpc.soft-validation", "Accepted for compatibility: no gRPC server runs.",
			func(c *Config) *bool { return &srv(c).ClusterValidation.GRPC.SoftValidation })

		// dskit flags without a YAML key.
		f.fs.Duration("server.throughput.latency-cutoff", 0, "Accepted for compatibility.")
		f.fs.String("server.throughput.unit", "samples_processed", "Accepted for compatibility.")
		f.fs.Int("server.grpc.read-buffer-size-bytes", 32<<10, "Accepted for compatibility: no gRPC server runs.")
		f.fs.Int("server.grpc.write-buffer-size-bytes", 32<<10, "Accepted for compatibility: no gRPC server runs.")
		f.fs.Bool("server.enable-open-metrics-text-created-samples", false, "Accepted for compatibility.")
	})
}

// compat marks every flag that register registers as having no effect.
func (f *Flags) compat(register func()) {
	var before []string
	f.fs.VisitAll(func(fl *flag.Flag) { before = append(before, fl.Name) })
	register()
	f.fs.VisitAll(func(fl *flag.Flag) {
		if !slices.Contains(before, fl.Name) {
			f.noEffect[fl.Name] = true
		}
	})
}

// bind registers one configuration flag: p is its field in f.values (which
// holds the default), and apply copies it to the same field of another
// configuration.
func bind[T any](f *Flags, name string, field func(*Config) *T) *T {
	p := field(f.values)
	f.apply[name] = func(c *Config) { *field(c) = *p }
	return p
}

func (f *Flags) str(name, usage string, field func(*Config) *string) {
	p := bind(f, name, field)
	f.fs.StringVar(p, name, *p, usage)
}

func (f *Flags) boolean(name, usage string, field func(*Config) *bool) {
	p := bind(f, name, field)
	f.fs.BoolVar(p, name, *p, usage)
}

func (f *Flags) integer(name, usage string, field func(*Config) *int) {
	p := bind(f, name, field)
	f.fs.IntVar(p, name, *p, usage)
}

func (f *Flags) unsigned(name, usage string, field func(*Config) *uint) {
	p := bind(f, name, field)
	f.fs.UintVar(p, name, *p, usage)
}

func (f *Flags) float(name, usage string, field func(*Config) *float64) {
	p := bind(f, name, field)
	f.fs.Float64Var(p, name, *p, usage)
}

func (f *Flags) duration(name, usage string, field func(*Config) *time.Duration) {
	p := bind(f, name, field)
	f.fs.DurationVar(p, name, *p, usage)
}

// value registers a flag whose type parses itself.
func value[T any, PT interface {
	*T
	flag.Value
}](f *Flags, name, usage string, field func(*Config) *T) {
	f.fs.Var(PT(bind(f, name, field)), name, usage)
}

// urlValue is -client.url.
type urlValue URL

func (u *urlValue) Set(s string) error {
	parsed, err := url.Parse(s)
	if err != nil {
		return err
	}
	u.URL = parsed
	return nil
}

func (u *urlValue) String() string {
	if u == nil || u.URL == nil {
		return ""
	}
	return u.URL.String()
}

// labelsValue is -client.external-labels: k1=v1,k2=v2 (CSV quoting allowed).
type labelsValue model.LabelSet

func (l *labelsValue) Set(s string) error {
	var pairs []string
	switch strings.Count(s, "=") {
	case 0:
		return fmt.Errorf("%s must be formatted as key=value", s)
	case 1:
		pairs = []string{strings.Trim(s, `"`)}
	default:
		var err error
		if pairs, err = csv.NewReader(strings.NewReader(s)).Read(); err != nil {
			return err
		}
	}
	ls := model.LabelSet{}
	for _, pair := range pairs {
		name, val, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("%s must be formatted as key=value", pair)
		}
		ls[model.LabelName(name)] = model.LabelValue(val)
	}
	if err := validateLabels(ls); err != nil {
		return err
	}
	*l = labelsValue(ls)
	return nil
}

func (l *labelsValue) String() string {
	if l == nil || len(*l) == 0 {
		return ""
	}
	return model.LabelSet(*l).String()
}
