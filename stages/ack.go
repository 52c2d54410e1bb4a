package stages

import "sync/atomic"

// Ack tells a source when every copy of the entries it handed on is safe: in
// the durable spool, or accepted by Loki, or dropped on purpose (a filter, a
// limit, a refused request). A file target moves its saved position only past
// lines whose Ack is done, so a crash re-reads what was still in flight instead
// of losing it.
//
// An Ack is a reference count. Its creator holds one reference while it hands
// entries on and releases it when it is done handing; whoever keeps a copy of
// an entry beyond the call that gave it (a client's batch, a stage holding a
// multiline block) holds one more and releases it when the copy is settled.
// When the count reaches zero the done function runs, once.
//
// A nil *Ack is valid and does nothing: sources that cannot replay (stdin, a
// push receiver) hand entries on without one.
type Ack struct {
	refs atomic.Int64
	done func()
}

// NewAck returns an Ack holding one reference, its creator's.
func NewAck(done func()) *Ack {
	a := &Ack{done: done}
	a.refs.Store(1)
	return a
}

// Hold takes n more references.
func (a *Ack) Hold(n int) {
	if a != nil {
		a.refs.Add(int64(n))
	}
}

// Release gives n references back.
func (a *Ack) Release(n int) {
	if a == nil {
		return
	}
	switch left := a.refs.Add(-int64(n)); {
	case left == 0:
		a.done()
	case left < 0:
		panic("stages: Ack released more often than held")
	}
}
