// Package server is the agent's main HTTP server, laid out as Promtail 3.6
// serves it: readiness, Prometheus metrics, the targets, service-discovery and
// config pages, runtime reload and profiling, all under http_path_prefix.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Texts of /ready, kept byte for byte as Promtail writes them because probes
// and scripts match on them.
const (
	readyText    = "Ready"
	notReadyText = "Not ready: Unable to find any logs to tail. Please verify permissions, volumes, scrape_config, etc."
)

// Options are the collaborators of the server.
type Options struct {
	// Logger receives start-up, request (debug) and error logs; nil discards.
	Logger *slog.Logger
	// Metrics records the HTTP middleware metrics; nil records nothing.
	Metrics *Metrics
	// Gatherer is exposed on /metrics; nil means prometheus.DefaultGatherer,
	// as in Promtail.
	Gatherer prometheus.Gatherer
	// Targets feeds /ready, /targets and /service-discovery; nil means no
	// targets (so /ready fails when health_check_target is on). Swap it after
	// a reload with SetTargetSource.
	Targets TargetSource
	// ConfigText returns the effective config as YAML, secrets already
	// masked, for /config. It is called on every request, so a reload shows
	// at once; nil shows an empty config.
	ConfigText func() string
	// Reload re-reads the config and rebuilds the pipeline; POST /reload
	// calls it and reports its error. Required with enable_runtime_reload.
	// Concurrent requests call it concurrently, so it must serialise itself
	// (it also races with SIGHUP reloads).
	Reload func() error
}

// Server is the main HTTP server. A server built from a config with
// server.disable (or http_listen_port -1) binds nothing and serves nothing:
// its Run blocks until Shutdown and returns nil, so callers handle both kinds
// alike.
type Server struct {
	cfg      Config
	log      *slog.Logger
	disabled bool

	listener net.Listener
	http     *http.Server

	targets    atomic.Pointer[sourceBox]
	configText func() string
	reload     func() error

	running  atomic.Bool
	runDone  chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
}

// sourceBox lets a TargetSource interface value sit in an atomic.Pointer.
type sourceBox struct{ TargetSource }

// New validates cfg and binds the listener at once, so that a port already
// in use is a start-up error naming the address. Serving starts with Run.
func New(cfg Config, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:        cfg,
		log:        log,
		configText: opts.ConfigText,
		reload:     opts.Reload,
		runDone:    make(chan struct{}),
		stop:       make(chan struct{}),
	}
	s.targets.Store(&sourceBox{opts.Targets})
	if cfg.Disable || cfg.HTTPListenPort == -1 {
		s.disabled = true
		log.Info("HTTP server disabled")
		return s, nil
	}
	if cfg.EnableRuntimeReload && opts.Reload == nil {
		return nil, errors.New("server: enable_runtime_reload is set but no reload function was given")
	}
	tlsConfig, err := NewTLSConfig(cfg.HTTPTLSConfig, cfg.TLSMinVersion, cfg.TLSCipherSuites, log)
	if err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	prefix := NormalizePrefix(cfg.HTTPPathPrefix)
	externalPath, err := externalURLPath(cfg.ExternalURL)
	if err != nil {
		return nil, fmt.Errorf("server config: parse external_url %q: %w", cfg.ExternalURL, err)
	}
	network, err := ListenNetwork(cfg.HTTPListenNetwork)
	if err != nil {
		return nil, fmt.Errorf("server config: http_listen_network %w", err)
	}
	gatherer := opts.Gatherer
	if gatherer == nil {
		gatherer = prometheus.DefaultGatherer
	}
	handler := s.routes(prefix, externalPath+prefix, opts.Metrics, gatherer)

	addr := net.JoinHostPort(strings.Trim(cfg.HTTPListenAddress, "[]"), strconv.Itoa(cfg.HTTPListenPort))
	ln, err := Listen(network, addr, cfg.HTTPListenConnLimit, cfg.ProxyProtocolEnabled, cfg.HTTPServerReadHeaderTimeout)
	if err != nil {
		return nil, fmt.Errorf("starting HTTP server on %s: %w", addr, err)
	}
	if m := opts.Metrics; m != nil {
		ln = &countingListener{Listener: ln, open: m.tcpConnections.WithLabelValues("http")}
		m.tcpConnectionsLimit.WithLabelValues("http").Set(float64(max(cfg.HTTPListenConnLimit, 0)))
	}
	s.listener = ln
	s.http = &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadTimeout:       cfg.HTTPServerReadTimeout,
		ReadHeaderTimeout: cfg.HTTPServerReadHeaderTimeout,
		WriteTimeout:      cfg.HTTPServerWriteTimeout,
		IdleTimeout:       cfg.HTTPServerIdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("server listening on addresses", "http", ln.Addr().String(), "tls", tlsConfig != nil)
	return s, nil
}

// Run serves until Shutdown and then returns nil; any other serving error is
// returned. It may be called once.
func (s *Server) Run() error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("server: Run called twice")
	}
	defer close(s.runDone)
	if s.disabled {
		<-s.stop
		return nil
	}
	err := Serve(s.http, s.listener)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("HTTP server: %w", err)
}

// Shutdown stops accepting connections, lets in-flight requests finish for
// at most graceful_shutdown_timeout (or until ctx ends), then closes what is
// left and waits for Run to return. It is safe to call more than once and
// without Run.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	if s.disabled {
		s.waitRun()
		return nil
	}
	if t := s.cfg.GracefulShutdownTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = fmt.Errorf("graceful shutdown of HTTP server: %w", err)
		_ = s.http.Close()
	}
	// Serve owns the listener once running; before that it is ours to close.
	if cerr := s.listener.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
		err = fmt.Errorf("closing HTTP listener: %w", cerr)
	}
	s.waitRun()
	return err
}

func (s *Server) waitRun() {
	if s.running.Load() {
		<-s.runDone
	}
}

// Addr is the bound address (useful with port 0), or nil when disabled.
func (s *Server) Addr() net.Addr {
	if s.disabled {
		return nil
	}
	return s.listener.Addr()
}

// SetTargetSource replaces the source behind /ready and the target pages,
// e.g. after a config reload rebuilt the target managers.
func (s *Server) SetTargetSource(ts TargetSource) {
	s.targets.Store(&sourceBox{ts})
}

func (s *Server) source() TargetSource {
	return s.targets.Load().TargetSource
}

// externalURLPath keeps only the path of external_url, normalised the way
// Promtail does; it is the base of the redirect and of page links.
func externalURLPath(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	return NormalizePrefix(u.Path), nil
}

// router dispatches on the exact request path. Every route carries its own
// instrumented handler, so the route label is fixed when the server is built.
type router struct {
	routes    map[string]http.Handler
	pprofBase string
	pprof     http.Handler
	notFound  http.Handler
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if h, ok := rt.routes[p]; ok {
		h.ServeHTTP(w, r)
		return
	}
	if rt.pprof != nil && (p == rt.pprofBase || strings.HasPrefix(p, rt.pprofBase+"/")) {
		rt.pprof.ServeHTTP(w, r)
		return
	}
	rt.notFound.ServeHTTP(w, r)
}

func (s *Server) routes(prefix, base string, m *Metrics, gatherer prometheus.Gatherer) http.Handler {
	rt := &router{
		routes:   make(map[string]http.Handler),
		notFound: s.wrap(m, "other", http.NotFoundHandler()),
	}
	add := func(p string, h http.Handler) {
		full := prefix + p
		rt.routes[full] = s.wrap(m, routeLabel(full), h)
	}
	targetsPath := path.Join("/", base, "targets")
	add("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, targetsPath, http.StatusSeeOther)
	}))
	add("/ready", http.HandlerFunc(s.serveReady))
	add("/targets", s.pageHandler(base, targetsTemplate, s.targetsData))
	add("/service-discovery", s.pageHandler(base, serviceDiscoveryTemplate, s.serviceDiscoveryData))
	add("/config", s.pageHandler(base, configTemplate, s.configData))
	if s.cfg.RegisterInstrumentation {
		add("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	}
	if s.cfg.EnableRuntimeReload {
		add("/reload", http.HandlerFunc(s.serveReload))
	}
	if s.cfg.ProfilingEnabled {
		rt.pprofBase = prefix + "/debug/pprof"
		rt.pprof = s.wrap(m, routeLabel(rt.pprofBase), pprofHandler(prefix))
	}
	return rt
}

// wrap adds request metrics (when m is not nil) and request logging to one
// route.
func (s *Server) wrap(m *Metrics, route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := methodLabel(r.Method)
		if m != nil {
			inflight := m.inflightRequests.WithLabelValues(method, route)
			inflight.Inc()
			defer inflight.Dec()
		}
		body := &countingBody{ReadCloser: r.Body}
		if r.Body != nil {
			r.Body = body
		}
		rec := &statusRecorder{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(rec, r)
		elapsed := time.Since(start)

		status := rec.statusCode()
		if m != nil {
			m.observe(method, route, status, isWebSocketHandshake(r), body.n, rec.written, elapsed)
		}
		level := slog.LevelDebug
		if status >= http.StatusInternalServerError {
			level = slog.LevelWarn
		}
		if s.log.Enabled(r.Context(), level) {
			s.log.Log(r.Context(), level, "HTTP request", "method", r.Method, "path", r.URL.Path,
				"status", status, "duration", elapsed, "remote", r.RemoteAddr)
		}
	})
}

func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.HealthCheckTarget {
		if ts := s.source(); ts == nil || !ts.Ready() {
			http.Error(w, notReadyText, http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(readyText))
}

func (s *Server) serveReload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "method not allowed: use POST", http.StatusMethodNotAllowed)
		return
	}
	if err := s.reload(); err != nil {
		s.log.Error("reload requested over HTTP failed", "err", err)
		http.Error(w, "failed to reload config: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.log.Info("config reloaded on HTTP request")
	w.WriteHeader(http.StatusOK)
}
