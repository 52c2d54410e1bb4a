package client

import (
	"reflect"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// chunkSize is the unit in which encoded entries are stored. Fixed-size
// chunks are recycled between every stream and tenant of a client, so no
// stream regrows a buffer from nothing each batch and a buffer outgrown by one
// stream is never wasted on another. They are small because every stream of a
// batch holds a partly filled one: a batch spread over 500 streams wastes
// at most 1 MiB.
const chunkSize = 2 << 10

// chunkPool keeps the chunks of sent batches for the next ones. It belongs to
// a client's run goroutine.
type chunkPool struct {
	free [][]byte
	// max bounds what is kept, so that one batch of huge entries does not
	// pin its memory.
	max int
}

func newChunkPool(batchSize int) chunkPool {
	// Encoded entries are larger than Promtail's batch size counts them
	// (timestamps, field headers, labels), most with short lines: keeping
	// twice the batch size lets a full batch reuse everything.
	return chunkPool{max: max(2*batchSize/chunkSize, 16)}
}

func (p *chunkPool) get() []byte {
	n := len(p.free)
	if n == 0 {
		return make([]byte, 0, chunkSize)
	}
	c := p.free[n-1]
	p.free[n-1] = nil
	p.free = p.free[:n-1]
	return c
}

func (p *chunkPool) put(c []byte) {
	if len(p.free) < p.max {
		p.free = append(p.free, c[:0])
	}
}

// stream is one stream of a tenant. It outlives a batch by one batch, so that
// a stream that keeps receiving entries is set up once.
type stream struct {
	labels model.LabelSet // kept to tell fingerprint collisions apart
	head   []byte         // the stream's labels field, encoded once
	// chunks hold the entries fields of the pending batch; all but the last
	// are full.
	chunks [][]byte
	size   int  // bytes in chunks
	active bool // has entries in the pending batch
	next   *stream
}

// fieldLen is the length of the stream in a PushRequest, without the field's
// own tag and length.
func (s *stream) fieldLen() int {
	return len(s.head) + s.size
}

// write appends data to the stream's chunks.
func write[T string | []byte](s *stream, pool *chunkPool, data T) {
	for len(data) > 0 {
		n := len(s.chunks)
		if n == 0 || len(s.chunks[n-1]) == chunkSize {
			s.chunks = append(s.chunks, pool.get())
			n++
		}
		last := s.chunks[n-1]
		copied := copy(last[len(last):chunkSize], data)
		s.chunks[n-1] = last[:len(last)+copied]
		s.size += copied
		data = data[copied:]
	}
}

// appendEntry appends one entries field of a StreamAdapter.
func (s *stream) appendEntry(pool *chunkPool, ts time.Time, line string, metadata push.LabelsAdapter) {
	var header [maxEntryHeader]byte
	write(s, pool, appendEntryHeader(header[:0], ts, line, metadata))
	write(s, pool, line)
	for _, l := range metadata {
		write(s, pool, appendFieldHeader(header[:0], tagField3Bytes, labelPairLen(l)))
		if l.Name != "" {
			write(s, pool, appendFieldHeader(header[:0], tagField1Bytes, len(l.Name)))
			write(s, pool, l.Name)
		}
		if l.Value != "" {
			write(s, pool, appendFieldHeader(header[:0], tagField2Bytes, len(l.Value)))
			write(s, pool, l.Value)
		}
	}
}

// batch is what one tenant has pending for the next push request.
type batch struct {
	streams []*stream          // active ones, in the order they are sent in
	index   map[uint64]*stream // active and recently active, by fingerprint
	sets    setIndex           // active ones, by label sets shared between entries
	// bytes is Promtail's batch size: line bytes plus structured metadata
	// bytes, not the encoded size, so batchsize means the same as there.
	bytes     int
	entries   int
	createdAt time.Time
	// acks are the batch's entries' Acks, released once the batch is settled.
	acks acks
}

// ackRun is n consecutive entries sharing one Ack.
type ackRun struct {
	ack *stages.Ack
	n   int
}

// acks collects Acks in runs: entries read together share one, so a batch
// keeps a few runs, not one pointer per entry.
type acks []ackRun

func (a *acks) add(ack *stages.Ack) {
	if ack == nil {
		return
	}
	if n := len(*a); n > 0 && (*a)[n-1].ack == ack {
		(*a)[n-1].n++
		return
	}
	*a = append(*a, ackRun{ack: ack, n: 1})
}

// release settles every entry and empties a, keeping its memory.
func (a *acks) release() {
	for i, r := range *a {
		r.ack.Release(r.n)
		(*a)[i] = ackRun{}
	}
	*a = (*a)[:0]
}

func (b *batch) find(fp uint64, pairs []labelPair) *stream {
	for s := b.index[fp]; s != nil; s = s.next {
		if sameStream(s.labels, pairs) {
			return s
		}
	}
	return nil
}

func (b *batch) addStream(fp uint64, s *stream) {
	if b.index == nil {
		b.index = make(map[uint64]*stream)
	}
	s.next = b.index[fp]
	b.index[fp] = s
}

// activate makes s part of the pending batch.
func (b *batch) activate(s *stream) {
	s.active = true
	b.streams = append(b.streams, s)
}

// reset empties the batch after it was sent: its chunks go back to the pool,
// and the streams that had no entries in it are forgotten.
func (b *batch) reset(pool *chunkPool) {
	b.sets.keepActive()
	for fp, s := range b.index {
		var kept *stream
		for s != nil {
			next := s.next
			if s.active {
				s.next = kept
				kept = s
			}
			s = next
		}
		if kept == nil {
			delete(b.index, fp)
		} else {
			b.index[fp] = kept
		}
	}
	for _, s := range b.streams {
		for i, c := range s.chunks {
			pool.put(c)
			s.chunks[i] = nil
		}
		s.chunks = s.chunks[:0]
		s.size = 0
		s.active = false
	}
	clear(b.streams)
	b.streams = b.streams[:0]
	b.bytes = 0
	b.entries = 0
}

// setIndex finds the stream of an entry by its label set itself, when a
// stage hands one set to many entries (stages.LabelSetMaker under
// LabelsShared): one lookup by the map's address instead of walking,
// hashing and comparing its labels. A set is indexed the second time its
// address is seen (seenSets), so that the sets most stages make for each
// entry do not fill the index. One of those can still get in, when it lands
// at the address of an earlier, collected one; its stream was found by its
// labels, so the entry is right, and a cap bounds how many such sets the
// index holds. Sets stay indexed while their streams are remembered (a
// stream with entries in the last batch sent, see batch.reset). An indexed
// set is kept referenced, so its address cannot be reused while it is in the
// index; label sets never change once handed on (stages.Entry).
type setIndex struct {
	streams map[uintptr]setStream
}

type setStream struct {
	labels model.LabelSet
	stream *stream
}

// seenSets holds the addresses of label sets seen once, one per slot.
type seenSets [1024]uintptr

func setAddress(ls model.LabelSet) uintptr {
	return reflect.ValueOf(ls).Pointer()
}

// find returns the stream indexed for ls, or nil.
func (x *setIndex) find(ls model.LabelSet) *stream {
	if len(x.streams) == 0 {
		return nil
	}
	return x.streams[setAddress(ls)].stream
}

// note records that ls belongs to s, one of the batch's active streams, if
// ls was seen before. active is how many streams the batch holds.
func (x *setIndex) note(ls model.LabelSet, s *stream, seen *seenSets, active int) {
	addr := setAddress(ls)
	if addr == 0 {
		return
	}
	slot := &seen[(uint64(addr)*0x9e3779b97f4a7c15)>>54]
	if *slot != addr {
		*slot = addr
		return
	}
	if len(x.streams) >= 4*active+64 {
		return
	}
	if x.streams == nil {
		x.streams = make(map[uintptr]setStream)
	}
	x.streams[addr] = setStream{labels: ls, stream: s}
}

// keepActive, as a batch is sent, forgets the sets whose streams had no
// entries in it: batch.reset forgets those streams.
func (x *setIndex) keepActive() {
	for addr, e := range x.streams {
		if !e.stream.active {
			delete(x.streams, addr)
		}
	}
}
