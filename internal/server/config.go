package server

import (
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

// Config holds the `server:` keys of a Promtail 3.6 config file that the main
// HTTP server honours. Field comments give the YAML key and the dskit/Promtail
// default; DefaultConfig returns those defaults.
//
// The gRPC keys of the same block are accepted by the config loader but are
// not served: nothing Promtail-specific lives on the gRPC server.
type Config struct {
	// HTTPListenNetwork (http_listen_network, default "tcp") is tcp, tcp4 or tcp6.
	HTTPListenNetwork string
	// HTTPListenAddress (http_listen_address, default "") is the host to bind;
	// empty binds every interface.
	HTTPListenAddress string
	// HTTPListenPort (http_listen_port, default 80) is the port to bind; 0 picks
	// a free port and -1 turns the HTTP server off, as in dskit.
	HTTPListenPort int
	// HTTPServerReadTimeout (http_server_read_timeout, default 30s) bounds
	// reading a whole request.
	HTTPServerReadTimeout time.Duration
	// HTTPServerReadHeaderTimeout (http_server_read_header_timeout, default 0)
	// bounds reading request headers; 0 falls back to the read timeout.
	HTTPServerReadHeaderTimeout time.Duration
	// HTTPServerWriteTimeout (http_server_write_timeout, default 30s) bounds
	// writing a response. It also caps /debug/pprof/profile durations.
	HTTPServerWriteTimeout time.Duration
	// HTTPServerIdleTimeout (http_server_idle_timeout, default 120s) closes idle
	// keep-alive connections.
	HTTPServerIdleTimeout time.Duration
	// HTTPListenConnLimit (http_listen_conn_limit, default 0) caps simultaneous
	// connections; 0 or less means no cap.
	HTTPListenConnLimit int
	// GracefulShutdownTimeout (graceful_shutdown_timeout, default 30s) is how
	// long Shutdown waits for in-flight requests before closing connections;
	// 0 waits as long as the caller's context allows.
	GracefulShutdownTimeout time.Duration
	// HTTPPathPrefix (http_path_prefix, default "") is put in front of every
	// route, e.g. "/promtail" serves "/promtail/ready". A missing leading slash
	// is added and a trailing one dropped.
	HTTPPathPrefix string
	// RegisterInstrumentation (register_instrumentation, default true) serves
	// /metrics.
	RegisterInstrumentation bool
	// ExternalURL (external_url, default "") is the URL the agent is reached
	// at through a proxy; only its path is used, as the base of the / redirect
	// and of the links in the HTML pages.
	ExternalURL string
	// HealthCheckTarget (health_check_target, default TRUE) makes /ready fail
	// while no target is ready. Its zero value is false, so whoever fills a
	// Config without DefaultConfig must set it explicitly.
	HealthCheckTarget bool
	// Disable (disable, default false) turns the whole server off.
	Disable bool
	// ProfilingEnabled (profiling_enabled, default false) serves /debug/pprof/.
	ProfilingEnabled bool
	// EnableRuntimeReload (enable_runtime_reload, default false) serves
	// POST /reload.
	EnableRuntimeReload bool
	// ProxyProtocolEnabled (proxy_protocol_enabled, default false) accepts a
	// PROXY protocol header (v1 or v2) ahead of each connection, as a load
	// balancer sends it; connections without one are served as they are.
	ProxyProtocolEnabled bool
	// HTTPTLSConfig (http_tls_config) serves HTTPS when it holds a
	// certificate and its key (see NewTLSConfig).
	HTTPTLSConfig config.ServerTLSConfig
	// TLSMinVersion (tls_min_version, default "") is VersionTLS10, VersionTLS11,
	// VersionTLS12 or VersionTLS13; empty keeps Go's default (TLS 1.2).
	TLSMinVersion string
	// TLSCipherSuites (tls_cipher_suites, default "") is a comma-separated list
	// of Go cipher suite names (e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
	// empty keeps Go's defaults.
	TLSCipherSuites string
}

// DefaultConfig returns the defaults Promtail 3.6 applies to the keys above.
func DefaultConfig() Config {
	return Config{
		HTTPListenNetwork:       "tcp",
		HTTPListenPort:          80,
		HTTPServerReadTimeout:   30 * time.Second,
		HTTPServerWriteTimeout:  30 * time.Second,
		HTTPServerIdleTimeout:   120 * time.Second,
		GracefulShutdownTimeout: 30 * time.Second,
		RegisterInstrumentation: true,
		HealthCheckTarget:       true,
	}
}
