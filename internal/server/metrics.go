package server

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the HTTP middleware metrics that dskit gives Promtail, with the
// same names and labels and no namespace, so existing dashboards and the
// Promtail mixin alerts keep working.
type Metrics struct {
	requestDuration     *prometheus.HistogramVec
	requestBytes        *prometheus.HistogramVec
	responseBytes       *prometheus.HistogramVec
	inflightRequests    *prometheus.GaugeVec
	tcpConnections      *prometheus.GaugeVec
	tcpConnectionsLimit *prometheus.GaugeVec
}

// Bucket layouts follow dskit so that histogram_quantile results line up with
// Promtail's.
var (
	durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25, 50, 100}
	bodySizeBuckets = []float64{1 << 20, 2.5 * (1 << 20), 5 << 20, 10 << 20, 25 << 20, 50 << 20, 100 << 20, 250 << 20}
)

// NewMetrics creates the server metrics and registers them on reg. Call it
// once per process; the server is not rebuilt on config reload.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "request_duration_seconds",
			Help:    "Time taken to serve HTTP requests, in seconds.",
			Buckets: durationBuckets,
		}, []string{"method", "route", "status_code", "ws"}),
		requestBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "request_message_bytes",
			Help:    "Size of HTTP request bodies, in bytes.",
			Buckets: bodySizeBuckets,
		}, []string{"method", "route"}),
		responseBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "response_message_bytes",
			Help:    "Size of HTTP response bodies, in bytes.",
			Buckets: bodySizeBuckets,
		}, []string{"method", "route"}),
		inflightRequests: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "inflight_requests",
			Help: "HTTP requests being served right now.",
		}, []string{"method", "route"}),
		tcpConnections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tcp_connections",
			Help: "Accepted TCP connections that are still open.",
		}, []string{"protocol"}),
		tcpConnectionsLimit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tcp_connections_limit",
			Help: "Maximum number of simultaneous TCP connections (0 means no limit).",
		}, []string{"protocol"}),
	}
	reg.MustRegister(m.requestDuration, m.requestBytes, m.responseBytes,
		m.inflightRequests, m.tcpConnections, m.tcpConnectionsLimit)
	return m
}

func (m *Metrics) observe(method, route string, status int, ws bool, requestBytes, responseBytes int64, elapsed time.Duration) {
	m.requestBytes.WithLabelValues(method, route).Observe(float64(requestBytes))
	m.responseBytes.WithLabelValues(method, route).Observe(float64(responseBytes))
	m.requestDuration.WithLabelValues(method, route, strconv.Itoa(status), strconv.FormatBool(ws)).
		Observe(elapsed.Seconds())
}

// methodLabel keeps the method label bounded: scanners send arbitrary verbs.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

func isWebSocketHandshake(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for part := range strings.SplitSeq(r.Header.Get("Connection"), ",") {
		if strings.EqualFold(strings.TrimSpace(part), "upgrade") {
			return true
		}
	}
	return false
}

// routeLabel turns a route path into the route label value dskit would give
// it: runs of non-alphanumerics become "_", edges are trimmed, letters are
// lowercased, and the empty result is "root". "/service-discovery" becomes
// "service_discovery".
func routeLabel(path string) string {
	var b strings.Builder
	pendingUnderscore := false
	for _, c := range path {
		isAlnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !isAlnum {
			pendingUnderscore = b.Len() > 0
			continue
		}
		if pendingUnderscore {
			b.WriteByte('_')
			pendingUnderscore = false
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	if b.Len() == 0 {
		return "root"
	}
	return b.String()
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// statusRecorder captures the status code and body size. Unwrap lets
// http.ResponseController reach the underlying writer's optional methods.
type statusRecorder struct {
	http.ResponseWriter
	status  int
	written int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.written += int64(n)
	return n, err
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		if r.status == 0 {
			r.status = http.StatusOK
		}
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) statusCode() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// countingListener keeps a gauge of open accepted connections.
type countingListener struct {
	net.Listener
	open prometheus.Gauge
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Inc()
	return &countedConn{Conn: c, open: l.open}, nil
}

type countedConn struct {
	net.Conn
	open prometheus.Gauge
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.open.Dec)
	return c.Conn.Close()
}
