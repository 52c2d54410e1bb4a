package client

import (
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

func TestNewManagerErrors(t *testing.T) {
	valid := testConfig(t, "http://127.0.0.1:1/push")
	named := func(name string) config.ClientConfig {
		c := valid
		c.Name = name
		return c
	}
	noURL := valid
	noURL.URL = config.URL{}
	badHTTP := valid
	badHTTP.Client = promconfig.HTTPClientConfig{BasicAuth: &promconfig.BasicAuth{Username: "u"}, BearerToken: "t"}

	tests := []struct {
		name    string
		metrics *Metrics
		cfgs    []config.ClientConfig
		want    string
	}{
		{"no clients", NewMetrics(nil), nil, "at least one client config must be provided"},
		{"no URL", NewMetrics(nil), []config.ClientConfig{noURL}, "client needs target URL"},
		{"duplicate names", NewMetrics(nil), []config.ClientConfig{named("a"), named("a")}, `found duplicate for name "a"`},
		{"identical unnamed configs", NewMetrics(nil), []config.ClientConfig{valid, valid}, "duplicate client configs are not allowed"},
		{"invalid HTTP settings", NewMetrics(nil), []config.ClientConfig{badHTTP}, "at most one of basic_auth"},
		{"no metrics", nil, []config.ClientConfig{valid}, "client metrics are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewManager(tt.metrics, discardLogger(), tt.cfgs, Options{})
			if err == nil {
				m.StopNow()
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDefaultName(t *testing.T) {
	a := testConfig(t, "http://127.0.0.1:1/push")
	b := testConfig(t, "http://127.0.0.1:1/push")
	c := testConfig(t, "http://127.0.0.1:2/push")
	na, err := defaultName(a)
	if err != nil {
		t.Fatal(err)
	}
	nb, _ := defaultName(b)
	nc, _ := defaultName(c)
	if len(na) != 6 {
		t.Errorf("name %q is not 6 hex digits", na)
	}
	if _, err := hex.DecodeString(na); err != nil {
		t.Errorf("name %q is not hex", na)
	}
	if na != nb {
		t.Errorf("equal configs named %q and %q", na, nb)
	}
	if na == nc {
		t.Errorf("different URLs both named %q", na)
	}
	m, err := NewManager(NewMetrics(nil), discardLogger(), []config.ClientConfig{a, c}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.StopNow()
	if m.clients[0].name != na || m.clients[1].name != nc {
		t.Errorf("clients named %q, %q; want %q, %q", m.clients[0].name, m.clients[1].name, na, nc)
	}
}

// hangingLoki never answers until the test ends (or the request is
// cancelled): a client sending to it is stuck in its request.
func hangingLoki(t *testing.T) *fakeLoki {
	return gatedLoki(t, make(chan struct{}), http.StatusServiceUnavailable)
}

// gatedLoki answers code once open is closed.
func gatedLoki(t *testing.T, open chan struct{}, code int) *fakeLoki {
	done := make(chan struct{})
	loki := newFakeLoki(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-open:
		case <-done:
		case <-r.Context().Done():
		}
		w.WriteHeader(code)
	})
	t.Cleanup(func() { close(done) })
	return loki
}

// stuckConfig makes a client send each entry alone, and only when the next
// one arrives, so that filling it up is deterministic.
func stuckConfig(t *testing.T, loki *fakeLoki) config.ClientConfig {
	cfg := testConfig(t, loki.srv.URL)
	cfg.BatchSize = 1
	cfg.BatchWait = time.Hour
	cfg.Timeout = time.Minute
	return cfg
}

// jam hands entries until each client sending to a gated server holds one
// entry in its hanging request, one in hand and a full queue. It returns how
// many entries it handed.
func jam(t *testing.T, m *Manager, gated ...*fakeLoki) int {
	t.Helper()
	queuesEmpty := func() bool {
		for _, c := range m.clients {
			if len(c.queue) > 0 {
				return false
			}
		}
		return true
	}
	m.Handle(entry("jam", "a", "b"))
	eventually(t, "queues to drain", queuesEmpty)
	m.Handle(entry("jam", "a", "b"))
	for _, l := range gated {
		l.waitStarted(1)
	}
	eventually(t, "queues to drain", queuesEmpty)
	capacity := cap(m.clients[0].queue)
	for i := 0; i < capacity; i++ {
		m.Handle(entry("jam", "a", "b"))
	}
	eventually(t, "gated clients' queues to fill", func() bool {
		for _, c := range m.clients {
			for _, l := range gated {
				if c.host == l.srv.Listener.Addr().String() && len(c.queue) < capacity {
					return false
				}
			}
		}
		return true
	})
	return 2 + capacity
}

func TestDeadClientDoesNotStallOthers(t *testing.T) {
	dead := hangingLoki(t)
	healthy := newFakeLoki(t, nil)
	m, reg := startManager(t, Options{QueueCapacity: 4, FlushTimeout: 50 * time.Millisecond},
		stuckConfig(t, dead), testConfig(t, healthy.srv.URL))
	handed := jam(t, m, dead)

	const flood = 500
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < flood; i++ {
			m.Handle(entry("x", "a", "b"))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Handle blocked behind the dead client")
	}
	eventually(t, "healthy client to ship everything", func() bool { return len(healthy.allEntries()) == handed+flood })

	queueFull := func(l *fakeLoki) float64 {
		return metricValue(t, reg, "promtail_dropped_entries_total",
			map[string]string{"host": l.srv.Listener.Addr().String(), "tenant": "", "reason": "queue_full"})
	}
	if got := queueFull(dead); got != flood {
		t.Errorf("dead client dropped %v entries as queue_full, want %d", got, flood)
	}
	if got := queueFull(healthy); got != 0 {
		t.Errorf("healthy client dropped %v entries", got)
	}
}

func TestAllClientsStuckBlocksHandle(t *testing.T) {
	lokis := []*fakeLoki{hangingLoki(t), hangingLoki(t)}
	m, reg := startManager(t, Options{QueueCapacity: 1, FlushTimeout: 50 * time.Millisecond},
		stuckConfig(t, lokis[0]), stuckConfig(t, lokis[1]))
	jam(t, m, lokis...)

	returned := make(chan struct{})
	go func() {
		m.Handle(entry("blocked", "a", "b"))
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("Handle returned while no client could take the entry")
	case <-time.After(100 * time.Millisecond):
	}
	m.StopNow()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Handle still blocked after StopNow")
	}
	for _, l := range lokis {
		host := l.srv.Listener.Addr().String()
		if got := metricValue(t, reg, "promtail_dropped_entries_total", map[string]string{"host": host, "tenant": "", "reason": "queue_full"}); got != 1 {
			t.Errorf("%s: %v queue_full drops, want the 1 blocked entry", host, got)
		}
	}
}

// When every queue is full, the first client to free a slot takes the entry
// and the others, still full, drop it.
func TestBlockedEntryGoesToFirstFreeClient(t *testing.T) {
	failStuck := make(chan struct{})
	stuck := gatedLoki(t, failStuck, http.StatusServiceUnavailable)
	open := make(chan struct{})
	released := gatedLoki(t, open, http.StatusNoContent)
	m, reg := startManager(t, Options{QueueCapacity: 1, FlushTimeout: 5 * time.Second},
		stuckConfig(t, stuck), stuckConfig(t, released))
	handed := jam(t, m, stuck, released)

	returned := make(chan struct{})
	go func() {
		m.Handle(entry("last", "a", "b"))
		close(returned)
	}()
	time.Sleep(20 * time.Millisecond)
	close(open)
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Handle still blocked after a client freed a slot")
	}
	close(failStuck) // let the stuck client give up so Stop is quick
	m.Stop()
	if got := len(released.allEntries()); got != handed+1 {
		t.Errorf("released client shipped %d entries, want %d", got, handed+1)
	}
	host := stuck.srv.Listener.Addr().String()
	if got := metricValue(t, reg, "promtail_dropped_entries_total", map[string]string{"host": host, "tenant": "", "reason": "queue_full"}); got != 1 {
		t.Errorf("stuck client: %v queue_full drops, want 1", got)
	}
}

func TestHandleConcurrentWithStop(t *testing.T) {
	loki := newFakeLoki(t, nil)
	m, _ := startManager(t, Options{QueueCapacity: 2}, testConfig(t, loki.srv.URL))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				m.Handle(entry("x", "a", "b"))
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	m.Stop()
	wg.Wait()
	if got := len(loki.allEntries()); got == 0 || got > 800 {
		t.Errorf("Loki got %d entries of 800", got)
	}
}
