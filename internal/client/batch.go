package client

import (
	"time"

	"github.com/prometheus/common/model"
)

// stream is one stream of a batch: its labels, kept to tell fingerprint
// collisions apart, and its encoding so far (labels field, then entries).
type stream struct {
	labels model.LabelSet
	body   []byte
	next   *stream // another stream with the same fingerprint
}

// batch is what one tenant has pending for the next push request.
type batch struct {
	streams []*stream          // in creation order, the order they are sent in
	index   map[uint64]*stream // by fingerprint
	// bytes is Promtail's batch size: line bytes plus structured metadata
	// bytes, not the encoded size, so batchsize means the same as there.
	bytes     int
	entries   int
	createdAt time.Time
}

func (b *batch) find(fp uint64, ls, external model.LabelSet) *stream {
	for s := b.index[fp]; s != nil; s = s.next {
		if sameStream(s.labels, ls, external) {
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
	b.streams = append(b.streams, s)
}

// encode appends the uncompressed PushRequest.
func (b *batch) encode(dst []byte) []byte {
	for _, s := range b.streams {
		dst = appendStream(dst, s.body)
	}
	return dst
}

// reset empties the batch, keeping its map and slice for the next one.
func (b *batch) reset() {
	clear(b.index)
	clear(b.streams)
	b.streams = b.streams[:0]
	b.bytes = 0
	b.entries = 0
}
