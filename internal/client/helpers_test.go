package client

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// pushed is one request a fakeLoki decoded.
type pushed struct {
	header  http.Header
	request push.PushRequest
}

// entries flattens the request into "labels line" strings.
func (p pushed) entries() []string {
	var out []string
	for _, s := range p.request.Streams {
		for _, e := range s.Entries {
			out = append(out, s.Labels+" "+e.Line)
		}
	}
	return out
}

// fakeLoki is a loopback push endpoint that decodes every request with the
// real protobuf and snappy decoders and answers with respond(n) for the n-th
// request (counting from 0).
type fakeLoki struct {
	t       *testing.T
	srv     *httptest.Server
	respond func(n int, w http.ResponseWriter, r *http.Request)

	mu       sync.Mutex
	attempts int
	accepted []pushed
	started  chan struct{} // one send per request when it arrives
	answered chan struct{} // one send per request when it is answered
}

func newFakeLoki(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *fakeLoki {
	t.Helper()
	f := &fakeLoki{t: t, respond: respond, started: make(chan struct{}, 1<<16), answered: make(chan struct{}, 1<<16)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// status answers every request with code.
func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func (f *fakeLoki) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client gave up on the request
	}
	var p pushed
	p.header = r.Header.Clone()
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		f.t.Errorf("request body is not snappy block format: %v", err)
	}
	if err := p.request.Unmarshal(raw); err != nil {
		f.t.Errorf("request body is not a PushRequest: %v", err)
	}
	if r.Method != http.MethodPost || r.ProtoMajor != 1 {
		f.t.Errorf("request is %s %s, want POST over HTTP/1.1", r.Method, r.Proto)
	}

	f.mu.Lock()
	n := f.attempts
	f.attempts++
	f.mu.Unlock()
	f.started <- struct{}{}

	rec := httptest.NewRecorder()
	if f.respond != nil {
		f.respond(n, rec, r)
	} else {
		rec.WriteHeader(http.StatusNoContent)
	}
	if rec.Code/100 == 2 && r.Context().Err() == nil {
		f.mu.Lock()
		f.accepted = append(f.accepted, p)
		f.mu.Unlock()
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
	f.answered <- struct{}{}
}

// waitRequests waits until n more requests have been answered.
func (f *fakeLoki) waitRequests(n int) {
	f.t.Helper()
	waitN(f.t, f.answered, n, "answered push requests")
}

// waitStarted waits until n more requests have arrived.
func (f *fakeLoki) waitStarted(n int) {
	f.t.Helper()
	waitN(f.t, f.started, n, "push requests")
}

func waitN(t *testing.T, ch <-chan struct{}, n int, what string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("got %d of %d expected %s", i, n, what)
		}
	}
}

func (f *fakeLoki) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

func (f *fakeLoki) pushes() []pushed {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pushed(nil), f.accepted...)
}

func (f *fakeLoki) allEntries() []string {
	var out []string
	for _, p := range f.pushes() {
		out = append(out, p.entries()...)
	}
	return out
}

// testConfig is a client config for rawURL with fast batching and retries.
func testConfig(t testing.TB, rawURL string) config.ClientConfig {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultClientConfig()
	cfg.URL = config.URL{URL: u}
	cfg.BatchWait = 20 * time.Millisecond
	cfg.Backoff = config.BackoffConfig{MinPeriod: time.Millisecond, MaxPeriod: 2 * time.Millisecond, MaxRetries: 3}
	cfg.Timeout = 5 * time.Second
	return cfg
}

func discardLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// startManager builds a manager with fresh metrics; it is stopped when the
// test ends if the test did not stop it.
func startManager(t *testing.T, opts Options, cfgs ...config.ClientConfig) (*Manager, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewManager(NewMetrics(reg), discardLogger(), cfgs, opts)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	t.Cleanup(m.StopNow)
	return m, reg
}

func entry(line string, labels ...string) stages.Entry {
	ls := model.LabelSet{}
	for i := 0; i+1 < len(labels); i += 2 {
		ls[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return stages.Entry{Labels: ls, Timestamp: time.Unix(1700000000, 123456789), Line: line}
}

// metricValue returns the value of the counter, or the sample count of the
// histogram, with exactly these labels; -1 if there is no such series.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if matchLabels(m.GetLabel(), labels) {
				if h := m.GetHistogram(); h != nil {
					return float64(h.GetSampleCount())
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func matchLabels(pairs []*dto.LabelPair, want map[string]string) bool {
	if len(pairs) != len(want) {
		return false
	}
	for _, p := range pairs {
		if v, ok := want[p.GetName()]; !ok || v != p.GetValue() {
			return false
		}
	}
	return true
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
