package client

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// addBatch adds entries from entries[from:] (cycling) until about size bytes
// of lines, and returns where it stopped.
func addBatch(c *client, entries []stages.Entry, from, size int) int {
	for n := 0; n < size; from++ {
		e := entries[from%len(entries)]
		n += len(e.Line)
		c.add(&e)
	}
	return from
}

// Once the buffers have grown, batches of the same shape cost no allocation
// but the payload's small header.
func TestSteadyStateBatchesDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for _, streams := range []int{1, 50} {
		t.Run(fmt.Sprintf("%d streams", streams), func(t *testing.T) {
			entries := osqueryEntries(streams)
			c := idleClient(t, Options{})
			next := 0
			cycle := func() {
				next = addBatch(c, entries, next, c.cfg.BatchSize-1000)
				sendBatch(c, c.tenantOf(nil))
			}
			for range 3 {
				cycle()
			}
			if allocs := testing.AllocsPerRun(5, cycle); allocs > 1 {
				t.Errorf("%v allocations per batch, want at most 1", allocs)
			}
		})
	}
}

// One batch of huge entries must not leave a client holding more than about
// two batches' worth of buffers.
func TestHugeBatchDoesNotPinMemory(t *testing.T) {
	cfg := testConfig(t, "http://127.0.0.1:1/loki/api/v1/push")
	cfg.BatchSize = 64 << 10
	c, err := newClient(NewMetrics(nil), discardLogger(), cfg, Options{}, "promtail/test")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	line := make([]byte, 2<<20)
	for i := range line {
		line[i] = byte(rng.Uint32())
	}
	huge := entry(string(line), "job", "a")
	c.add(&huge)
	sendBatch(c, c.tenantOf(nil))

	if kept := len(c.chunks.free) * chunkSize; kept > 2*cfg.BatchSize {
		t.Errorf("%d bytes of chunks kept, want at most %d", kept, 2*cfg.BatchSize)
	}
	if b := c.spareBody.get(); b != nil {
		t.Errorf("compressed body of %d bytes kept for a batch size of %d", cap(b), cfg.BatchSize)
	}
}

func TestIdleStreamsForgotten(t *testing.T) {
	c := idleClient(t, Options{})
	send := func(streams ...string) {
		for _, s := range streams {
			e := entry("line", "s", s)
			c.add(&e)
		}
		sendBatch(c, c.tenantOf(nil))
	}
	known := func() []string {
		var names []string
		for _, s := range c.tenantOf(nil).batch.index {
			for ; s != nil; s = s.next {
				names = append(names, string(s.labels["s"]))
			}
		}
		slices.Sort(names)
		return names
	}

	send("a", "b")
	if got := known(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("after a batch of a and b, streams %q are kept", got)
	}
	send("a", "c")
	if got := known(); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("after a batch of a and c, streams %q are kept, want b forgotten", got)
	}
}

// Request bodies are reused once the transport lets go of them. A server that
// answers before reading the body makes the transport retry or close while
// the client moves on: every batch must still arrive intact, and the race
// detector must see no read of a buffer being rewritten.
func TestBodiesIntactWhenServerAnswersEarly(t *testing.T) {
	var mu sync.Mutex
	var got []string
	attempts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts++
		early := attempts%3 == 1
		mu.Unlock()
		if early {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		raw, err := snappy.Decode(nil, body)
		var req push.PushRequest
		if err == nil {
			err = req.Unmarshal(raw)
		}
		if err != nil {
			t.Errorf("corrupt request body: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, s := range req.Streams {
			for _, e := range s.Entries {
				got = append(got, e.Line)
			}
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig(t, srv.URL)
	cfg.BatchSize = 4 << 10
	cfg.Backoff = config.BackoffConfig{MinPeriod: time.Microsecond, MaxPeriod: time.Microsecond, MaxRetries: 10}
	m, err := NewManager(NewMetrics(prometheus.NewRegistry()), discardLogger(), []config.ClientConfig{cfg}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 2000 {
		line := fmt.Sprintf("%06d %s", i, strings.Repeat("x", i%300))
		want = append(want, line)
		m.Handle(entry(line, "job", "a"))
	}
	m.Stop()
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Errorf("got %d lines, want %d, in order", len(got), len(want))
	}
}

// A label set handed to many entries is found by its address from its second
// entry on, for as long as its stream is remembered; copies of it (label
// sets of one entry each) are not kept and go to the same stream.
func TestSharedLabelSetsIndexed(t *testing.T) {
	c := idleClient(t, Options{})
	b := &c.tenantOf(nil).batch
	shared := model.LabelSet{"job": "a"}
	add := func(ls model.LabelSet) {
		e := stages.Entry{Labels: ls, Timestamp: time.Unix(1700000000, 0), Line: "line"}
		c.add(&e)
	}

	add(shared)
	if b.sets.find(shared) != nil {
		t.Fatal("a set seen once is indexed")
	}
	add(shared)
	s := b.sets.find(shared)
	if s == nil || s.labels["job"] != "a" {
		t.Fatalf("a set seen twice is not indexed: %v", s)
	}
	// Kept alive, so that no copy can take the address of another.
	copies := make([]model.LabelSet, 100)
	for i := range copies {
		copies[i] = model.LabelSet{"job": "a"}
		add(copies[i])
	}
	if len(b.streams) != 1 || len(b.sets.streams) != 1 {
		t.Errorf("%d streams, %d indexed sets, want 1 and 1: copies of a set are not kept", len(b.streams), len(b.sets.streams))
	}
	if b.streams[0] != s || b.entries != 102 {
		t.Errorf("copies of the set went to another stream, or entries were lost (%d)", b.entries)
	}

	sendBatch(c, c.tenantOf(nil))
	if b.sets.find(shared) != s || s.active {
		t.Fatal("a set whose stream had entries in the batch sent is no longer indexed, or its stream is still active")
	}
	add(shared)
	if len(b.streams) != 1 || !b.streams[0].active || b.streams[0] != s {
		t.Error("after the batch was sent, the set's stream was not taken up again")
	}

	// A batch without it: the stream is forgotten, and the set with it.
	sendBatch(c, c.tenantOf(nil))
	add(model.LabelSet{"job": "b"})
	sendBatch(c, c.tenantOf(nil))
	if b.sets.find(shared) != nil {
		t.Error("a set is still indexed after its stream was forgotten")
	}
	add(shared)
	if n := b.streams[0]; n == s || n.labels["job"] != "a" {
		t.Errorf("a forgotten stream came back, or the set went to %v", n.labels)
	}
}

// With max_streams reached, an indexed set whose stream is not in the
// pending batch is dropped like any new stream.
func TestSharedLabelSetsKeepStreamLimit(t *testing.T) {
	c := idleClient(t, Options{MaxStreams: 1})
	a, b := model.LabelSet{"job": "a"}, model.LabelSet{"job": "b"}
	add := func(ls model.LabelSet) {
		e := stages.Entry{Labels: ls, Timestamp: time.Unix(1700000000, 0), Line: "line"}
		c.add(&e)
	}
	add(a)
	add(a) // indexed
	sendBatch(c, c.tenantOf(nil))
	add(b) // the batch's one stream
	add(a) // indexed, its stream remembered but over the limit
	batch := &c.tenantOf(nil).batch
	if len(batch.streams) != 1 || batch.streams[0].labels["job"] != "b" || batch.entries != 1 {
		t.Errorf("streams %d, entries %d: the limit was not kept for an indexed set", len(batch.streams), batch.entries)
	}
}

// However many label sets of one entry each get indexed (one landing at the
// address of a collected one), the index of a batch stays within a few
// times its streams.
func TestSetIndexBounded(t *testing.T) {
	var (
		x    setIndex
		seen seenSets
		s    stream
	)
	sets := make([]model.LabelSet, 500) // kept alive: distinct addresses
	for i := range sets {
		sets[i] = model.LabelSet{"n": model.LabelValue(fmt.Sprint(i))}
		x.note(sets[i], &s, &seen, 1)
		x.note(sets[i], &s, &seen, 1) // seen before: indexed, up to the cap
	}
	if n := len(x.streams); n != 4*1+64 {
		t.Errorf("%d sets indexed for one stream, want the cap of %d", n, 4*1+64)
	}
	s.active = false
	x.keepActive()
	if len(x.streams) != 0 {
		t.Errorf("%d sets left after their stream went quiet", len(x.streams))
	}
}
