// Package apitest holds what the tests of entry sources share.
package apitest

import (
	"sync"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// Collector is an api.EntryHandler that keeps every entry it is handed and,
// while holding, their Acks, as a client keeps a batch until Loki answers.
// The zero value is ready to use.
type Collector struct {
	mu      sync.Mutex
	entries []stages.Entry
	hold    bool
	held    []*stages.Ack
}

// Handle implements api.EntryHandler.
func (c *Collector) Handle(e stages.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = append(c.entries, e)
	if c.hold && e.Ack != nil {
		e.Ack.Hold(1)
		c.held = append(c.held, e.Ack)
	}
}

// SetHold makes the Collector hold the Acks of the entries it takes next.
func (c *Collector) SetHold(hold bool) {
	c.mu.Lock()
	c.hold = hold
	c.mu.Unlock()
}

// Settle releases every Ack held, as a client does once its batch is safe.
func (c *Collector) Settle() {
	for _, a := range c.TakeHeld() {
		a.Release(1)
	}
}

// TakeHeld hands over the Acks held so far, one per entry taken while
// holding; the caller releases them.
func (c *Collector) TakeHeld() []*stages.Ack {
	c.mu.Lock()
	defer c.mu.Unlock()
	held := c.held
	c.held = nil
	return held
}

// All returns the entries so far.
func (c *Collector) All() []stages.Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]stages.Entry(nil), c.entries...)
}

// Count returns how many entries came.
func (c *Collector) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Lines returns the lines of the entries so far.
func (c *Collector) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.entries))
	for i, e := range c.entries {
		out[i] = e.Line
	}
	return out
}

// Wait returns the entries once at least n came, failing t after 15 s.
func (c *Collector) Wait(t testing.TB, n int) []stages.Entry {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if got := c.All(); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			got := c.All()
			t.Fatalf("got %d entries, want %d: %+v", len(got), n, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
