package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
)

type fakeSource struct {
	mu      sync.Mutex
	ready   bool
	active  map[string][]TargetStatus
	dropped map[string][]DroppedTarget
}

func (f *fakeSource) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

func (f *fakeSource) ActiveTargets() map[string][]TargetStatus   { return f.active }
func (f *fakeSource) DroppedTargets() map[string][]DroppedTarget { return f.dropped }

// testConfig binds a free loopback port and keeps the rest at Promtail's
// defaults.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.HTTPListenAddress = "127.0.0.1"
	cfg.HTTPListenPort = 0
	return cfg
}

func newTestServer(t *testing.T, cfg Config, opts Options) *Server {
	t.Helper()
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

func serve(s *Server, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.http.Handler.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func readySource() *fakeSource {
	return &fakeSource{
		ready: true,
		active: map[string][]TargetStatus{
			"varlogs": {{
				Labels:           model.LabelSet{"job": "varlogs", "filename": "/var/log/syslog"},
				DiscoveredLabels: model.LabelSet{"__path__": "/var/log/*log"},
				Details:          map[string]string{"/var/log/syslog": "1024/4096"},
				Ready:            true,
			}},
		},
		dropped: map[string][]DroppedTarget{
			"varlogs": {{DiscoveredLabels: model.LabelSet{"__path__": "/tmp/x"}, Reason: "dropping target, no labels"}},
		},
	}
}

func TestEndpoints(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		cfg        func(*Config)
		opts       func(*Options)
		method     string
		path       string
		wantStatus int
		wantBody   string // exact when wantExact, else a substring
		wantExact  bool
		wantHeader map[string]string
	}{
		{name: "root redirects to targets", path: "/", wantStatus: http.StatusSeeOther,
			wantHeader: map[string]string{"Location": "/targets"}},
		{name: "root redirect keeps the prefix", cfg: func(c *Config) { c.HTTPPathPrefix = "/promtail" },
			path: "/promtail/", wantStatus: http.StatusSeeOther, wantHeader: map[string]string{"Location": "/promtail/targets"}},
		{name: "root redirect uses the external URL path", cfg: func(c *Config) {
			c.HTTPPathPrefix = "/promtail"
			c.ExternalURL = "https://proxy.example.com/agent/"
		}, path: "/promtail/", wantStatus: http.StatusSeeOther, wantHeader: map[string]string{"Location": "/agent/promtail/targets"}},
		{name: "ready", path: "/ready", wantStatus: http.StatusOK, wantBody: "Ready", wantExact: true,
			wantHeader: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
		{name: "not ready", opts: func(o *Options) { o.Targets = &fakeSource{} }, path: "/ready",
			wantStatus: http.StatusInternalServerError, wantBody: notReadyText + "\n", wantExact: true},
		{name: "no target source is not ready", opts: func(o *Options) { o.Targets = nil }, path: "/ready",
			wantStatus: http.StatusInternalServerError, wantBody: notReadyText + "\n", wantExact: true},
		{name: "health check off skips the target check", cfg: func(c *Config) { c.HealthCheckTarget = false },
			opts: func(o *Options) { o.Targets = nil }, path: "/ready", wantStatus: http.StatusOK, wantBody: "Ready", wantExact: true},
		{name: "metrics", path: "/metrics", wantStatus: http.StatusOK, wantBody: "test_gauge 42"},
		{name: "metrics off", cfg: func(c *Config) { c.RegisterInstrumentation = false }, path: "/metrics",
			wantStatus: http.StatusNotFound},
		{name: "targets page", path: "/targets", wantStatus: http.StatusOK, wantBody: "1024/4096",
			wantHeader: map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{name: "service discovery page", path: "/service-discovery", wantStatus: http.StatusOK,
			wantBody: "dropping target, no labels"},
		{name: "config page", path: "/config", wantStatus: http.StatusOK, wantBody: "password: &lt;secret&gt;"},
		{name: "reload off", path: "/reload", method: http.MethodPost, wantStatus: http.StatusNotFound},
		{name: "reload", cfg: func(c *Config) { c.EnableRuntimeReload = true }, path: "/reload",
			method: http.MethodPost, wantStatus: http.StatusOK, wantBody: "", wantExact: true},
		{name: "reload with PUT", cfg: func(c *Config) { c.EnableRuntimeReload = true }, path: "/reload",
			method: http.MethodPut, wantStatus: http.StatusOK},
		{name: "reload refuses GET", cfg: func(c *Config) { c.EnableRuntimeReload = true }, path: "/reload",
			wantStatus: http.StatusMethodNotAllowed, wantHeader: map[string]string{"Allow": "POST, PUT"}},
		{name: "reload failure", cfg: func(c *Config) { c.EnableRuntimeReload = true },
			opts: func(o *Options) { o.Reload = func() error { return boom } }, path: "/reload", method: http.MethodPost,
			wantStatus: http.StatusInternalServerError, wantBody: "failed to reload config: boom\n", wantExact: true},
		{name: "pprof off", path: "/debug/pprof/", wantStatus: http.StatusNotFound},
		{name: "pprof index", cfg: func(c *Config) { c.ProfilingEnabled = true }, path: "/debug/pprof/",
			wantStatus: http.StatusOK, wantBody: "goroutine"},
		{name: "pprof named profile", cfg: func(c *Config) { c.ProfilingEnabled = true }, path: "/debug/pprof/goroutine?debug=1",
			wantStatus: http.StatusOK, wantBody: "goroutine profile"},
		{name: "pprof cmdline", cfg: func(c *Config) { c.ProfilingEnabled = true }, path: "/debug/pprof/cmdline",
			wantStatus: http.StatusOK},
		{name: "pprof under prefix", cfg: func(c *Config) { c.ProfilingEnabled = true; c.HTTPPathPrefix = "/p" },
			path: "/p/debug/pprof/heap?debug=1", wantStatus: http.StatusOK, wantBody: "heap profile"},
		{name: "pprof base redirects", cfg: func(c *Config) { c.ProfilingEnabled = true; c.HTTPPathPrefix = "/p" },
			path: "/p/debug/pprof", wantStatus: http.StatusMovedPermanently,
			wantHeader: map[string]string{"Location": "/p/debug/pprof/"}},
		{name: "pprof lookalike is not pprof", cfg: func(c *Config) { c.ProfilingEnabled = true },
			path: "/debug/pprofx", wantStatus: http.StatusNotFound},
		{name: "unknown path", path: "/nope", wantStatus: http.StatusNotFound},
		{name: "prefixed route", cfg: func(c *Config) { c.HTTPPathPrefix = "/promtail" }, path: "/promtail/ready",
			wantStatus: http.StatusOK, wantBody: "Ready", wantExact: true},
		{name: "unprefixed route is gone under a prefix", cfg: func(c *Config) { c.HTTPPathPrefix = "/promtail" },
			path: "/ready", wantStatus: http.StatusNotFound},
		{name: "prefix is normalised", cfg: func(c *Config) { c.HTTPPathPrefix = "promtail/" }, path: "/promtail/metrics",
			wantStatus: http.StatusOK, wantBody: "test_gauge"},
		{name: "prefixed page links carry the prefix", cfg: func(c *Config) { c.HTTPPathPrefix = "/promtail" },
			path: "/promtail/config", wantStatus: http.StatusOK, wantBody: `href="/promtail/service-discovery"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_gauge", Help: "h"})
			g.Set(42)
			reg.MustRegister(g)
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			opts := Options{
				Gatherer:   reg,
				Targets:    readySource(),
				ConfigText: func() string { return "clients:\n- password: <secret>\n" },
				Reload:     func() error { return nil },
			}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			s := newTestServer(t, cfg, opts)
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			rec := serve(s, method, tc.path)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %q", rec.Code, tc.wantStatus, rec.Body.String())
			}
			body := rec.Body.String()
			if tc.wantExact && body != tc.wantBody {
				t.Errorf("body = %q, want %q", body, tc.wantBody)
			}
			if !tc.wantExact && !strings.Contains(body, tc.wantBody) {
				t.Errorf("body does not contain %q:\n%s", tc.wantBody, body)
			}
			for k, v := range tc.wantHeader {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestSetTargetSourceSwapsReadiness(t *testing.T) {
	s := newTestServer(t, testConfig(), Options{Targets: &fakeSource{}})
	if rec := serve(s, http.MethodGet, "/ready"); rec.Code != http.StatusInternalServerError {
		t.Fatalf("before swap: status %d, want 500", rec.Code)
	}
	s.SetTargetSource(&fakeSource{ready: true})
	if rec := serve(s, http.MethodGet, "/ready"); rec.Code != http.StatusOK {
		t.Fatalf("after swap: status %d, want 200", rec.Code)
	}
}

func TestConfigPageCallsCallbackEachTime(t *testing.T) {
	text := "first: 1"
	s := newTestServer(t, testConfig(), Options{ConfigText: func() string { return text }})
	if body := serve(s, http.MethodGet, "/config").Body.String(); !strings.Contains(body, "first: 1") {
		t.Fatalf("config page lacks first config:\n%s", body)
	}
	text = "second: 2"
	if body := serve(s, http.MethodGet, "/config").Body.String(); !strings.Contains(body, "second: 2") {
		t.Fatalf("config page lacks reloaded config:\n%s", body)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*Config)
		opts    Options
		wantErr string
	}{
		{name: "reload without callback", cfg: func(c *Config) { c.EnableRuntimeReload = true },
			wantErr: "enable_runtime_reload is set but no reload function"},
		{name: "unsupported network", cfg: func(c *Config) { c.HTTPListenNetwork = "unix" },
			opts: Options{Reload: func() error { return nil }}, wantErr: `http_listen_network "unix"`},
		{name: "bad external URL", cfg: func(c *Config) { c.ExternalURL = "http://[::1" }, wantErr: "parse external_url"},
		{name: "bad TLS version", cfg: func(c *Config) { c.TLSMinVersion = "TLS1.2" }, wantErr: "invalid tls_min_version"},
		{name: "bad port", cfg: func(c *Config) { c.HTTPListenPort = 70000 }, wantErr: "starting HTTP server on 127.0.0.1:70000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.cfg(&cfg)
			s, err := New(cfg, tc.opts)
			if err == nil {
				_ = s.Shutdown(context.Background())
				t.Fatalf("New succeeded, want error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestPortConflictNamesAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig()
	cfg.HTTPListenPort = busy.Addr().(*net.TCPAddr).Port
	_, err = New(cfg, Options{})
	if err == nil {
		t.Fatal("New succeeded on a port in use")
	}
	if want := busy.Addr().String(); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
}

func TestDisabledServer(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		cfg  func(*Config)
	}{
		{name: "disable", cfg: func(c *Config) { c.Disable = true }},
		{name: "port -1", cfg: func(c *Config) { c.HTTPListenPort = -1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			// A busy port and an invalid TLS setting prove nothing is bound
			// or validated.
			cfg.HTTPListenPort = busy.Addr().(*net.TCPAddr).Port
			cfg.TLSMinVersion = "bogus"
			tc.cfg(&cfg)
			s, err := New(cfg, Options{})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if s.Addr() != nil {
				t.Errorf("Addr = %v, want nil", s.Addr())
			}
			s.SetTargetSource(&fakeSource{})
			done := make(chan error, 1)
			go func() { done <- s.Run() }()
			select {
			case err := <-done:
				t.Fatalf("Run returned before Shutdown: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
			if err := s.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

func TestLifecycleOverLoopback(t *testing.T) {
	s, err := New(testConfig(), Options{Targets: &fakeSource{ready: true}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run() }()

	resp, err := http.Get("http://" + s.Addr().String() + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "Ready" {
		t.Fatalf("GET /ready = %d %q", resp.StatusCode, body)
	}

	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := s.Run(); err == nil {
		t.Fatal("second Run succeeded")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if _, err := http.Get("http://" + s.Addr().String() + "/ready"); err == nil {
		t.Fatal("server still answers after Shutdown")
	}
}

func TestShutdownWithoutRunReleasesPort(t *testing.T) {
	s, err := New(testConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	ln.Close()
}

func TestGracefulShutdownTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.EnableRuntimeReload = true
	cfg.GracefulShutdownTimeout = 50 * time.Millisecond
	entered := make(chan struct{})
	release := make(chan struct{})
	s, err := New(cfg, Options{Reload: func() error {
		close(entered)
		<-release
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer close(release)
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	go func() {
		resp, err := http.Post("http://"+s.Addr().String()+"/reload", "text/plain", nil)
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered

	start := time.Now()
	err = s.Shutdown(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown error = %v, want deadline exceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("Shutdown took %v despite a 50ms timeout", elapsed)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestConnLimit(t *testing.T) {
	cfg := testConfig()
	cfg.HTTPListenConnLimit = 1
	reg := prometheus.NewRegistry()
	s := newTestServer(t, cfg, Options{Metrics: NewMetrics(reg), Targets: &fakeSource{ready: true}})
	go func() { _ = s.Run() }()

	request := "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"
	first, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := io.WriteString(first, request); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	if _, err := first.Read(buf); err != nil {
		t.Fatalf("first connection: %v", err)
	}

	second, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if _, err := io.WriteString(second, request); err != nil {
		t.Fatal(err)
	}
	_ = second.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if _, err := second.Read(buf); err == nil {
		t.Fatal("second connection served while the first holds the only slot")
	}
	first.Close()
	_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := second.Read(buf)
	if err != nil {
		t.Fatalf("second connection after the first closed: %v", err)
	}
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
		t.Fatalf("second response = %q", buf[:n])
	}
}

func TestNormalizePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "/": "", "/a": "/a", "a": "/a", "/a/": "/a", "a/b//": "/a/b",
	} {
		if got := NormalizePrefix(in); got != want {
			t.Errorf("NormalizePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExternalURLPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"http://host:9080/", ""},
		{"http://host/agent/", "/agent"},
		{"https://host/a/b", "/a/b"},
	}
	for _, tc := range tests {
		got, err := externalURLPath(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("externalURLPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := externalURLPath("http://[::1"); err == nil {
		t.Error("externalURLPath accepted an invalid URL")
	}
}

func TestListenAddressForms(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "[::1]", "::1"} {
		t.Run(addr, func(t *testing.T) {
			cfg := testConfig()
			cfg.HTTPListenAddress = addr
			s, err := New(cfg, Options{})
			if err != nil {
				if strings.Contains(addr, ":") && strings.Contains(err.Error(), "cannot assign") {
					t.Skip("no IPv6 loopback here")
				}
				t.Fatalf("New: %v", err)
			}
			defer s.Shutdown(context.Background())
			if _, port, _ := net.SplitHostPort(s.Addr().String()); port == "" || port == strconv.Itoa(0) {
				t.Fatalf("bound address %v has no port", s.Addr())
			}
		})
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
