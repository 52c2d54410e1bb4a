package client

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
)

// snappyBlockSize is the piece of input compressed at a time. A snappy block
// is the input's length followed by copies and literals; a copy may reach
// back across pieces, but need not, so pieces compressed on their own and
// laid end to end still make one valid block, built without assembling the
// whole request first. 64 KiB is where snappy.Encode cuts its input too, so
// the ratio is the same.
const snappyBlockSize = 64 << 10

// compressor writes a snappy block (the format of Loki push bodies) of the
// concatenation of what it is given. It belongs to a client's run goroutine.
type compressor struct {
	window  []byte // input gathered up to snappyBlockSize
	encoded []byte // one piece's snappy.Encode output
	out     []byte
}

// start begins a block of total bytes in dst.
func (z *compressor) start(dst []byte, total int) {
	if z.window == nil {
		z.window = make([]byte, 0, snappyBlockSize)
		z.encoded = make([]byte, s2.MaxEncodedLen(snappyBlockSize))
	}
	z.window = z.window[:0]
	z.out = binary.AppendUvarint(dst[:0], uint64(total))
}

// write adds p to the block. Input is compressed straight from p when a
// whole piece of it lies there, and gathered in the window otherwise.
func (z *compressor) write(p []byte) {
	for len(p) > 0 {
		if len(z.window) == 0 && len(p) >= snappyBlockSize {
			z.compress(p[:snappyBlockSize])
			p = p[snappyBlockSize:]
			continue
		}
		n := copy(z.window[len(z.window):snappyBlockSize], p)
		z.window = z.window[:len(z.window)+n]
		p = p[n:]
		if len(z.window) == snappyBlockSize {
			z.compress(z.window)
			z.window = z.window[:0]
		}
	}
}

// finish returns the block, whose buffer the compressor lets go of.
func (z *compressor) finish() []byte {
	if len(z.window) > 0 {
		z.compress(z.window)
		z.window = z.window[:0]
	}
	out := z.out
	z.out = nil
	return out
}

// compress appends one piece without the length a block starts with. s2's
// snappy-compatible encoder is about twice as fast as golang/snappy's for
// log lines and Loki decodes its output with snappy.Decode like any other.
func (z *compressor) compress(piece []byte) {
	encoded := s2.EncodeSnappy(z.encoded, piece)
	z.out = append(z.out, encoded[varintLen(uint64(len(piece))):]...)
}

// payload is a compressed push request, shared by the attempts to send it.
// The HTTP transport may read a request body after Client.Do has returned
// (it closes the body when it is done, possibly from another goroutine), so
// the buffer is only handed back for reuse once the client and every body
// given to the transport have let go of it. A body the transport never closes
// just leaves its buffer to the garbage collector.
type payload struct {
	data  []byte
	refs  atomic.Int32
	spare *spareBuffer
}

// newPayload returns a payload holding one reference, the caller's.
func newPayload(data []byte, spare *spareBuffer) *payload {
	p := &payload{data: data, spare: spare}
	p.refs.Store(1)
	return p
}

// newReader returns a new request body reading the payload.
func (p *payload) newReader() io.ReadCloser {
	p.refs.Add(1)
	b := &payloadBody{payload: p}
	b.reader.Reset(p.data)
	return b
}

// release drops one reference; the last one hands the buffer back.
func (p *payload) release() {
	if p.refs.Add(-1) == 0 {
		p.spare.put(p.data)
	}
}

var errBodyClosed = errors.New("push request body read after close")

// payloadBody reads a payload. Close waits for a Read in progress and makes
// later ones fail, so no read can see the buffer once it is reused, whichever
// goroutines the transport reads and closes from.
type payloadBody struct {
	mu      sync.Mutex
	reader  bytes.Reader
	closed  bool
	payload *payload
}

func (b *payloadBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errBodyClosed
	}
	return b.reader.Read(p)
}

func (b *payloadBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		b.payload.release()
	}
	return nil
}

// spareBuffer keeps one buffer for reuse. Buffers come back from any
// goroutine; those above maxCap are left to the garbage collector, so that one
// huge request does not pin its memory.
type spareBuffer struct {
	buffers chan []byte
	maxCap  int
}

func newSpareBuffer(maxCap int) *spareBuffer {
	return &spareBuffer{buffers: make(chan []byte, 1), maxCap: maxCap}
}

// get returns the spare buffer, empty, or nil if there is none.
func (s *spareBuffer) get() []byte {
	select {
	case b := <-s.buffers:
		return b
	default:
		return nil
	}
}

// put keeps b unless it is too large or a buffer is kept already.
func (s *spareBuffer) put(b []byte) {
	if s == nil || cap(b) > s.maxCap {
		return
	}
	select {
	case s.buffers <- b[:0]:
	default:
	}
}
