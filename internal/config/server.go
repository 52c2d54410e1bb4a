package config

import (
	"fmt"
	"math"
	"time"

	promconfig "github.com/prometheus/common/config"
)

// ServerConfig is the listening-server schema Promtail borrows from dskit. It
// is the body of server: (inside MainServerConfig) and of the server: blocks
// of loki_push_api, heroku_drain and gcplog. Keys that only matter to dskit's
// gRPC server are accepted so that existing configs load; nothing serves gRPC.
type ServerConfig struct {
	HTTPListenNetwork           string `yaml:"http_listen_network"`
	HTTPListenAddress           string `yaml:"http_listen_address"`
	HTTPListenPort              int    `yaml:"http_listen_port"`
	HTTPConnLimit               int    `yaml:"http_listen_conn_limit"`
	GRPCListenNetwork           string `yaml:"grpc_listen_network"`
	GRPCListenAddress           string `yaml:"grpc_listen_address"`
	GRPCListenPort              int    `yaml:"grpc_listen_port"`
	GRPCConnLimit               int    `yaml:"grpc_listen_conn_limit"`
	GRPCCollectMaxStreamsByConn bool   `yaml:"grpc_collect_max_streams_by_conn"`
	ProxyProtocolEnabled        bool   `yaml:"proxy_protocol_enabled"`

	TLSCipherSuites string          `yaml:"tls_cipher_suites"`
	TLSMinVersion   string          `yaml:"tls_min_version"`
	HTTPTLSConfig   ServerTLSConfig `yaml:"http_tls_config"`
	GRPCTLSConfig   ServerTLSConfig `yaml:"grpc_tls_config"`

	RegisterInstrumentation               bool `yaml:"register_instrumentation"`
	ReportGRPCCodesInInstrumentationLabel bool `yaml:"report_grpc_codes_in_instrumentation_label_enabled"`

	GracefulShutdownTimeout     time.Duration `yaml:"graceful_shutdown_timeout"`
	HTTPServerReadTimeout       time.Duration `yaml:"http_server_read_timeout"`
	HTTPServerReadHeaderTimeout time.Duration `yaml:"http_server_read_header_timeout"`
	HTTPServerWriteTimeout      time.Duration `yaml:"http_server_write_timeout"`
	HTTPServerIdleTimeout       time.Duration `yaml:"http_server_idle_timeout"`

	HTTPLogClosedConnectionsWithoutResponse bool `yaml:"http_log_closed_connections_without_response_enabled"`

	GRPCServerMaxRecvMsgSize           int           `yaml:"grpc_server_max_recv_msg_size"`
	GRPCServerMaxSendMsgSize           int           `yaml:"grpc_server_max_send_msg_size"`
	GRPCServerMaxConcurrentStreams     uint          `yaml:"grpc_server_max_concurrent_streams"`
	GRPCServerMaxConnectionIdle        time.Duration `yaml:"grpc_server_max_connection_idle"`
	GRPCServerMaxConnectionAge         time.Duration `yaml:"grpc_server_max_connection_age"`
	GRPCServerMaxConnectionAgeGrace    time.Duration `yaml:"grpc_server_max_connection_age_grace"`
	GRPCServerKeepaliveTime            time.Duration `yaml:"grpc_server_keepalive_time"`
	GRPCServerKeepaliveTimeout         time.Duration `yaml:"grpc_server_keepalive_timeout"`
	GRPCServerMinTimeBetweenPings      time.Duration `yaml:"grpc_server_min_time_between_pings"`
	GRPCServerPingWithoutStreamAllowed bool          `yaml:"grpc_server_ping_without_stream_allowed"`
	GRPCServerNumWorkers               int           `yaml:"grpc_server_num_workers"`
	GRPCServerStatsTrackingEnabled     bool          `yaml:"grpc_server_stats_tracking_enabled"`
	GRPCServerRecvBufferPoolsEnabled   bool          `yaml:"grpc_server_recv_buffer_pools_enabled"`

	LogFormat                    LogFormat `yaml:"log_format"`
	LogLevel                     LogLevel  `yaml:"log_level"`
	LogSourceIPs                 bool      `yaml:"log_source_ips_enabled"`
	LogSourceIPsFull             bool      `yaml:"log_source_ips_full"`
	LogSourceIPsHeader           string    `yaml:"log_source_ips_header"`
	LogSourceIPsRegex            string    `yaml:"log_source_ips_regex"`
	LogRequestHeaders            bool      `yaml:"log_request_headers"`
	LogRequestAtInfoLevel        bool      `yaml:"log_request_at_info_level_enabled"`
	LogRequestExcludeHeadersList string    `yaml:"log_request_exclude_headers_list"`

	TraceRequestHeaders            bool   `yaml:"trace_request_headers"`
	TraceRequestExcludeHeadersList string `yaml:"trace_request_exclude_headers_list"`

	HTTPPathPrefix string `yaml:"http_path_prefix"`

	ClusterValidation ClusterValidationConfig `yaml:"cluster_validation"`
	CreateNewTraces   bool                    `yaml:"create_new_traces"`
}

// ServerTLSConfig is dskit's http_tls_config / grpc_tls_config block.
type ServerTLSConfig struct {
	Cert           string            `yaml:"cert,omitempty"`
	Key            promconfig.Secret `yaml:"key,omitempty"`
	ClientCA       string            `yaml:"client_ca,omitempty"`
	CertFile       string            `yaml:"cert_file,omitempty"`
	KeyFile        string            `yaml:"key_file,omitempty"`
	ClientAuthType string            `yaml:"client_auth_type,omitempty"`
	ClientCAFile   string            `yaml:"client_ca_file,omitempty"`
}

// ClusterValidationConfig is dskit's experimental cluster_validation block,
// accepted for compatibility; it only concerns gRPC.
type ClusterValidationConfig struct {
	Label string                          `yaml:"label,omitempty"`
	GRPC  ClusterValidationProtocolConfig `yaml:"grpc,omitempty"`
}

// ClusterValidationProtocolConfig is cluster_validation.grpc.
type ClusterValidationProtocolConfig struct {
	Enabled        bool `yaml:"enabled,omitempty"`
	SoftValidation bool `yaml:"soft_validation,omitempty"`
}

// MainServerConfig is the top-level server: block: the dskit keys plus the
// ones Promtail adds for its own HTTP server.
type MainServerConfig struct {
	ServerConfig `yaml:",inline"`

	// ExternalURL is the URL the agent is reached at through a proxy.
	ExternalURL string `yaml:"external_url"`
	// HealthCheckTarget makes /ready fail while no target is ready.
	HealthCheckTarget bool `yaml:"health_check_target"`
	// Disable turns the HTTP server off.
	Disable          bool `yaml:"disable"`
	ProfilingEnabled bool `yaml:"profiling_enabled"`
	// EnableRuntimeReload serves POST /reload.
	EnableRuntimeReload bool `yaml:"enable_runtime_reload"`
}

// dskit's server defaults (its flag defaults).
const (
	DefaultHTTPListenPort          = 80
	DefaultGRPCListenPort          = 9095
	DefaultListenNetwork           = "tcp"
	DefaultGracefulShutdownTimeout = 30 * time.Second
	DefaultHTTPReadTimeout         = 30 * time.Second
	DefaultHTTPWriteTimeout        = 30 * time.Second
	DefaultHTTPIdleTimeout         = 120 * time.Second
	DefaultGRPCMaxMsgSize          = 4 << 20
	DefaultGRPCMaxConcurrentStream = 100
	// infiniteDuration is dskit's "no limit" for the gRPC connection ages.
	infiniteDuration = time.Duration(math.MaxInt64)
)

// DefaultServerConfig returns dskit's defaults. Push-style targets start their
// own server: block from it, so an unset key gets the default while a port
// explicitly set to 0 stays 0 (a random port), as in Promtail.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		HTTPListenNetwork:               DefaultListenNetwork,
		HTTPListenPort:                  DefaultHTTPListenPort,
		GRPCListenNetwork:               DefaultListenNetwork,
		GRPCListenPort:                  DefaultGRPCListenPort,
		GRPCCollectMaxStreamsByConn:     true,
		RegisterInstrumentation:         true,
		GracefulShutdownTimeout:         DefaultGracefulShutdownTimeout,
		HTTPServerReadTimeout:           DefaultHTTPReadTimeout,
		HTTPServerWriteTimeout:          DefaultHTTPWriteTimeout,
		HTTPServerIdleTimeout:           DefaultHTTPIdleTimeout,
		GRPCServerMaxRecvMsgSize:        DefaultGRPCMaxMsgSize,
		GRPCServerMaxSendMsgSize:        DefaultGRPCMaxMsgSize,
		GRPCServerMaxConcurrentStreams:  DefaultGRPCMaxConcurrentStream,
		GRPCServerMaxConnectionIdle:     infiniteDuration,
		GRPCServerMaxConnectionAge:      infiniteDuration,
		GRPCServerMaxConnectionAgeGrace: infiniteDuration,
		GRPCServerKeepaliveTime:         2 * time.Hour,
		GRPCServerKeepaliveTimeout:      20 * time.Second,
		GRPCServerMinTimeBetweenPings:   5 * time.Minute,
		GRPCServerStatsTrackingEnabled:  true,
		LogFormat:                       LogFormatLogfmt,
		LogLevel:                        LogLevelInfo,
	}
}

// DefaultMainServerConfig returns the defaults of the top-level server: block.
func DefaultMainServerConfig() MainServerConfig {
	return MainServerConfig{ServerConfig: DefaultServerConfig(), HealthCheckTarget: true}
}

// LogLevel is server.log_level / -log.level.
type LogLevel string

// The log levels Promtail accepts.
const (
	LogLevelDebug LogLevel = "debug"
	LogLevelInfo  LogLevel = "info"
	LogLevelWarn  LogLevel = "warn"
	LogLevelError LogLevel = "error"
)

// Set implements flag.Value; the check is dskit's (case-sensitive).
func (l *LogLevel) Set(s string) error {
	switch v := LogLevel(s); v {
	case LogLevelDebug, LogLevelInfo, LogLevelWarn, LogLevelError:
		*l = v
		return nil
	}
	return fmt.Errorf("unrecognized log level %q", s)
}

func (l *LogLevel) String() string { return string(*l) }

// UnmarshalYAML rejects an unknown level while the file is decoded, which is
// when Promtail reports it.
func (l *LogLevel) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	return l.Set(s)
}

// LogFormat is server.log_format / -log.format.
type LogFormat string

// The log formats Promtail accepts.
const (
	LogFormatLogfmt LogFormat = "logfmt"
	LogFormatJSON   LogFormat = "json"
)

// Set implements flag.Value.
func (f *LogFormat) Set(s string) error {
	switch v := LogFormat(s); v {
	case LogFormatLogfmt, LogFormatJSON:
		*f = v
		return nil
	}
	return fmt.Errorf("unrecognized log format %q", s)
}

func (f *LogFormat) String() string { return string(*f) }

// UnmarshalYAML rejects an unknown format while the file is decoded.
func (f *LogFormat) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	return f.Set(s)
}
