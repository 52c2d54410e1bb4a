package stages

import (
	"sync/atomic"
	"testing"
)

// freshConfig builds a stage that replaces every entry with one it builds
// anew, as a stage splitting records into rows does, forgetting the Ack.
type freshConfig struct{}

func (freshConfig) NewStage(Options) (Stage, error) { return freshStage{}, nil }

type freshStage struct{}

func (freshStage) Process(e *Entry, next func(*Entry)) {
	for _, part := range []string{"a", "b"} {
		next(&Entry{Labels: e.Labels, Timestamp: e.Timestamp, Line: e.Line + part})
	}
}

func init() { Register("test_fresh_entries", func() Config { return &freshConfig{} }) }

// Entries a stage builds anew leave the pipeline with the Ack of the entry
// they came from: the source must not count that entry safe before they are.
func TestPipelineCarriesAckToNewEntries(t *testing.T) {
	p, err := NewPipeline([]any{map[any]any{"test_fresh_entries": map[any]any{}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	ack := NewAck(func() { done.Store(true) })
	var held []*Entry
	p.Process(&Entry{Line: "x", Ack: ack}, func(o *Entry) {
		o.Ack.Hold(1)
		held = append(held, o)
	})
	ack.Release(1)
	if len(held) != 2 {
		t.Fatalf("%d entries out, want 2", len(held))
	}
	for _, o := range held {
		if o.Ack != ack {
			t.Fatalf("entry %q left without the source's Ack", o.Line)
		}
	}
	held[0].Ack.Release(1)
	if done.Load() {
		t.Fatal("Ack done while a split entry is still held")
	}
	held[1].Ack.Release(1)
	if !done.Load() {
		t.Fatal("Ack not done once every entry was settled")
	}
}
