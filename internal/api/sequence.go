package api

import (
	"sync"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// Sequence turns acknowledgements that arrive in any order into positions
// that only move forward. A source reads in batches; each batch's entries
// share one Ack, and the batch ends at a position (a file offset, a spool
// record). A position is committed once its batch and every batch begun
// before it are done, so a committed position never passes an entry that is
// still on its way.
type Sequence struct {
	mu sync.Mutex
	// batches are the batches not yet committed, oldest first.
	batches []*Batch
	commit  func(pos int64)
}

// Batch is one batch of a Sequence. Hand its Ack with every entry of the
// batch, then call End.
type Batch struct {
	Ack  *stages.Ack
	seq  *Sequence
	pos  int64
	done bool
}

// NewSequence returns a Sequence that calls commit with each position it
// commits, in order, never concurrently.
func NewSequence(commit func(pos int64)) *Sequence {
	return &Sequence{commit: commit}
}

// Begin starts the next batch.
func (s *Sequence) Begin() *Batch {
	b := &Batch{seq: s}
	b.Ack = stages.NewAck(b.settled)
	s.mu.Lock()
	s.batches = append(s.batches, b)
	s.mu.Unlock()
	return b
}

// End records the position the batch reached and gives up the reference
// Begin took; the batch is done when its entries are settled too.
func (b *Batch) End(pos int64) {
	b.seq.mu.Lock()
	b.pos = pos
	b.seq.mu.Unlock()
	b.Ack.Release(1)
}

// Mark commits pos after every batch begun so far, with no entries of its
// own: a position change such as a truncated file starting again at 0.
func (s *Sequence) Mark(pos int64) {
	s.Begin().End(pos)
}

// Pending reports how many batches wait for their entries to settle.
func (s *Sequence) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.batches)
}

func (b *Batch) settled() {
	s := b.seq
	s.mu.Lock()
	defer s.mu.Unlock()
	b.done = true
	n := 0
	for n < len(s.batches) && s.batches[n].done {
		n++
	}
	if n == 0 {
		return
	}
	pos := s.batches[n-1].pos
	clear(s.batches[:n])
	s.batches = s.batches[n:]
	if len(s.batches) == 0 {
		s.batches = s.batches[:0:0]
	}
	s.commit(pos)
}
