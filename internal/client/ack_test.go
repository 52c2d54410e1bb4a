package client

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// sendWithAck hands n entries sharing one Ack to m and reports whether the
// Ack completed.
func sendWithAck(m *Manager, n int) *atomic.Bool {
	var done atomic.Bool
	ack := stages.NewAck(func() { done.Store(true) })
	for i := range n {
		e := entry("line", "job", "a")
		e.Line = e.Line + string(rune('a'+i%26))
		e.Ack = ack
		m.Handle(e)
	}
	ack.Release(1)
	return &done
}

func TestAckSettlesWhenLokiTakesOrRefusesTheBatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		settle bool
	}{
		{"accepted", http.StatusNoContent, true},
		{"refused with a 4xx is dropped by rule", http.StatusBadRequest, true},
		{"retries exhausted is dropped by rule", http.StatusInternalServerError, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loki := newFakeLoki(t, status(tc.status))
			m, _ := startManager(t, Options{}, testConfig(t, loki.srv.URL))
			done := sendWithAck(m, 10)
			eventually(t, "the Ack to complete", done.Load)
		})
	}
}

func TestAckWaitsWhileLokiFails(t *testing.T) {
	var ok atomic.Bool
	loki := newFakeLoki(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if ok.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	cfg := testConfig(t, loki.srv.URL)
	cfg.Backoff.MaxRetries = 1000
	cfg.Backoff.MaxPeriod = 20 * time.Millisecond
	m, _ := startManager(t, Options{}, cfg)
	done := sendWithAck(m, 5)
	loki.waitRequests(3)
	if done.Load() {
		t.Fatal("Ack completed while Loki refused the batch")
	}
	ok.Store(true)
	eventually(t, "the Ack to complete once Loki takes the batch", done.Load)
}

// Entries a stop cuts off stay unsettled: their source must read them again.
func TestAckNotSettledByStop(t *testing.T) {
	loki := newFakeLoki(t, status(http.StatusServiceUnavailable))
	cfg := testConfig(t, loki.srv.URL)
	cfg.Backoff.MaxRetries = 1000
	m, _ := startManager(t, Options{FlushTimeout: 200 * time.Millisecond}, cfg)
	done := sendWithAck(m, 5)
	loki.waitRequests(2)
	m.StopNow()
	if done.Load() {
		t.Fatal("Ack completed for entries Loki never took")
	}
}

// With two clients, the Ack completes only when both have the entry.
func TestAckWaitsForEveryClient(t *testing.T) {
	var ok atomic.Bool
	slow := newFakeLoki(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if ok.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	fast := newFakeLoki(t, status(http.StatusNoContent))
	slowCfg := testConfig(t, slow.srv.URL)
	slowCfg.Backoff.MaxRetries = 1000
	slowCfg.Backoff.MaxPeriod = 20 * time.Millisecond
	m, _ := startManager(t, Options{}, slowCfg, testConfig(t, fast.srv.URL))
	done := sendWithAck(m, 3)
	fast.waitRequests(1)
	slow.waitRequests(2)
	if done.Load() {
		t.Fatal("Ack completed while one client still retries")
	}
	ok.Store(true)
	eventually(t, "the Ack to complete", done.Load)
}

// The spooling client settles an entry once it is on disk, before Loki has
// it, and sends it from the spool after a restart.
func TestSpoolSettlesOnDiskAndReplays(t *testing.T) {
	dir := t.TempDir()
	loki := newFakeLoki(t, status(http.StatusServiceUnavailable))
	cfg := testConfig(t, loki.srv.URL)
	cfg.Name = "main"
	opts := Options{FlushTimeout: 200 * time.Millisecond, Spool: &SpoolOptions{Dir: dir, SegmentSize: 64 << 10, MaxSize: 1 << 20, SyncEachBatch: true}}
	m, _ := startManager(t, opts, cfg)
	done := sendWithAck(m, 20)
	eventually(t, "the Ack to complete once the entries are spooled", done.Load)
	loki.waitRequests(2)
	m.StopNow()

	good := newFakeLoki(t, status(http.StatusNoContent))
	cfg = testConfig(t, good.srv.URL)
	cfg.Name = "main"
	m, _ = startManager(t, opts, cfg)
	eventually(t, "the spooled entries to reach Loki after the restart", func() bool {
		return len(good.allEntries()) == 20
	})
	m.Stop()
}

// With spools, a client whose Loki is down keeps its backlog on disk while
// the other client goes on shipping.
func TestSpoolIsolatesClients(t *testing.T) {
	dir := t.TempDir()
	down := newFakeLoki(t, status(http.StatusServiceUnavailable))
	up := newFakeLoki(t, status(http.StatusNoContent))
	downCfg, upCfg := testConfig(t, down.srv.URL), testConfig(t, up.srv.URL)
	downCfg.Name, upCfg.Name = "down", "up"
	opts := Options{FlushTimeout: 200 * time.Millisecond, Spool: &SpoolOptions{Dir: dir, SegmentSize: 64 << 10, MaxSize: 1 << 20, SyncEachBatch: true}}
	m, _ := startManager(t, opts, downCfg, upCfg)
	for round := range 20 {
		done := sendWithAck(m, 10)
		eventually(t, "the entries to be spooled by both clients", done.Load)
		eventually(t, "the healthy client to ship them", func() bool { return len(up.allEntries()) == 10*(round+1) })
	}
	if down.requests() == 0 {
		t.Fatal("the client of the dead Loki never tried")
	}
}
