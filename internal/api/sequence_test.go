package api

import (
	"slices"
	"sync"
	"testing"
)

func TestSequenceCommitsInOrder(t *testing.T) {
	var got []int64
	s := NewSequence(func(pos int64) { got = append(got, pos) })

	a, b, c := s.Begin(), s.Begin(), s.Begin()
	a.Ack.Hold(1) // an entry of a still in a client's batch
	a.End(10)
	b.End(20)
	c.Ack.Hold(2)
	c.End(30)
	if len(got) != 0 {
		t.Fatalf("committed %v while the first batch is pending", got)
	}
	c.Ack.Release(2)
	if len(got) != 0 {
		t.Fatalf("committed %v past a pending batch", got)
	}
	a.Ack.Release(1)
	if !slices.Equal(got, []int64{30}) {
		t.Fatalf("commits = %v, want [30]", got)
	}
	if n := s.Pending(); n != 0 {
		t.Fatalf("%d batches pending", n)
	}

	d := s.Begin()
	d.Ack.Hold(1)
	d.End(40)
	s.Mark(0) // truncation: must come after d
	if !slices.Equal(got, []int64{30}) {
		t.Fatalf("commits = %v, want [30]", got)
	}
	d.Ack.Release(1)
	if !slices.Equal(got, []int64{30, 0}) {
		t.Fatalf("commits = %v, want [30 0]", got)
	}
}

func TestSequenceConcurrentReleases(t *testing.T) {
	var mu sync.Mutex
	var got []int64
	s := NewSequence(func(pos int64) {
		mu.Lock()
		got = append(got, pos)
		mu.Unlock()
	})
	const batches = 200
	var wg sync.WaitGroup
	for i := range batches {
		b := s.Begin()
		b.Ack.Hold(3)
		b.End(int64(i + 1))
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.Ack.Release(1)
			}()
		}
	}
	wg.Wait()
	if !slices.IsSorted(got) || got[len(got)-1] != batches {
		t.Fatalf("commits not increasing or incomplete: %v", got)
	}
}

func TestAckReleasedTooOftenPanics(t *testing.T) {
	s := NewSequence(func(int64) {})
	b := s.Begin()
	b.End(1)
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	b.Ack.Release(1)
}
