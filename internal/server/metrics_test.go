package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsExpositionUsesPromtailNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := testConfig()
	cfg.HTTPPathPrefix = "/promtail"
	cfg.HTTPListenConnLimit = 7
	s := newTestServer(t, cfg, Options{Metrics: NewMetrics(reg), Gatherer: reg, Targets: &fakeSource{ready: true}})

	serve(s, http.MethodGet, "/promtail/ready")
	serve(s, http.MethodGet, "/promtail/service-discovery")
	serve(s, http.MethodGet, "/nope")
	serve(s, "BREW", "/promtail/ready")
	req := httptest.NewRequest(http.MethodGet, "/promtail/ready", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "keep-alive, Upgrade")
	s.http.Handler.ServeHTTP(httptest.NewRecorder(), req)

	body := serve(s, http.MethodGet, "/promtail/metrics").Body.String()
	for _, want := range []string{
		`request_duration_seconds_bucket{method="GET",route="promtail_ready",status_code="200",ws="false",le="0.005"}`,
		`request_duration_seconds_bucket{method="GET",route="promtail_ready",status_code="200",ws="true",le="100"}`,
		`request_duration_seconds_count{method="GET",route="promtail_service_discovery",status_code="200",ws="false"} 1`,
		`request_duration_seconds_count{method="GET",route="other",status_code="404",ws="false"} 1`,
		`request_duration_seconds_count{method="other",route="promtail_ready",status_code="200",ws="false"} 1`,
		`request_message_bytes_bucket{method="GET",route="promtail_ready",le="1.048576e+06"}`,
		`response_message_bytes_sum{method="GET",route="promtail_ready"} 10`,
		`inflight_requests{method="GET",route="promtail_metrics"} 1`,
		`tcp_connections{protocol="http"} 0`,
		`tcp_connections_limit{protocol="http"} 7`,
		"# TYPE request_duration_seconds histogram",
		"# TYPE inflight_requests gauge",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestMetricsOpenMetricsNegotiation(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newTestServer(t, testConfig(), Options{Metrics: NewMetrics(reg), Gatherer: reg})
	tests := []struct {
		accept      string
		contentType string
	}{
		{accept: "", contentType: "text/plain; version=0.0.4"},
		{accept: "application/openmetrics-text; version=1.0.0", contentType: "application/openmetrics-text; version=1.0.0"},
	}
	for _, tc := range tests {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		rec := httptest.NewRecorder()
		s.http.Handler.ServeHTTP(rec, req)
		if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, tc.contentType) {
			t.Errorf("Accept %q: Content-Type %q, want prefix %q", tc.accept, got, tc.contentType)
		}
	}
}

func TestRequestBodyBytesCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	s := newTestServer(t, testConfig(), Options{Metrics: m})
	echo := s.wrap(m, "echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	}))
	echo.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader("12345")))

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`request_message_bytes_sum{method="POST",route="echo"} 5`,
		`response_message_bytes_sum{method="POST",route="echo"} 5`,
		`request_duration_seconds_count{method="POST",route="echo",status_code="200",ws="false"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}

func TestTCPConnectionsGauge(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	s := newTestServer(t, testConfig(), Options{Metrics: m, Targets: &fakeSource{ready: true}})
	go func() { _ = s.Run() }()

	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Get("http://" + s.Addr().String() + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The keep-alive connection stays open after the response.
	if got := testutil.ToFloat64(m.tcpConnections.WithLabelValues("http")); got != 1 {
		t.Fatalf("tcp_connections = %v with one open connection, want 1", got)
	}
	client.CloseIdleConnections()
}

func TestRouteLabel(t *testing.T) {
	tests := map[string]string{
		"/":                  "root",
		"":                   "root",
		"/ready":             "ready",
		"/service-discovery": "service_discovery",
		"/promtail/":         "promtail",
		"/Promtail/Ready":    "promtail_ready",
		"/a--b//c":           "a_b_c",
		"/debug/pprof":       "debug_pprof",
		"/loki/api/v1/push":  "loki_api_v1_push",
	}
	for in, want := range tests {
		if got := routeLabel(in); got != want {
			t.Errorf("routeLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMethodLabel(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "POST": "POST", "PROPFIND": "other", "get": "other"} {
		if got := methodLabel(in); got != want {
			t.Errorf("methodLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
