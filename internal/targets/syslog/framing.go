package syslog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
)

// A stream carries its messages in one of the two framings of RFC 6587, and
// its first byte tells which: a digit starts an octet count, '<' starts the
// PRI of a message in non-transparent framing. Promtail decides the same way,
// once per connection (once per datagram for UDP).
type framing int

const (
	framingUnknown framing = iota
	framingOctetCounting
	framingNonTransparent
)

// maxLengthDigits bounds the octet count so that it cannot overflow; the
// count is then checked against math.MaxInt32.
const maxLengthDigits = 10

var (
	// errFraming means the stream cannot be split into messages any more:
	// the connection is closed after it.
	errFraming = errors.New("invalid syslog framing")
	// errOversized means one message was longer than max_message_length. It
	// is skipped whole and the stream goes on with the next one.
	errOversized = errors.New("syslog message longer than max_message_length")
)

// framer splits a byte stream into syslog messages. It holds at most
// limit bytes of a message (plus the reader's buffer), whatever the sender
// claims or sends.
type framer struct {
	r     *bufio.Reader
	limit int
	// buf holds the current message; it is reused, so a message returned by
	// next is only valid until the following call.
	buf     []byte
	framing framing
	// datagram tells that the whole input is already at hand, so looking
	// past a trailer never waits for the network.
	datagram bool
	// err is the read error that ended the stream, kept while the message
	// read before it is handed out.
	err error
}

func newFramer(r *bufio.Reader, limit int, datagram bool) *framer {
	return &framer{r: r, limit: limit, datagram: datagram}
}

// reset starts a new stream on r (the next datagram).
func (f *framer) reset(r io.Reader) {
	f.r.Reset(r)
	f.framing = framingUnknown
	f.err = nil
}

// next returns the next message. An error wrapping errOversized skips one
// message; any other error ends the stream: errFraming for input that is
// not syslog framing, io.EOF at a clean end, or the reader's error.
func (f *framer) next() ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	if f.framing == framingUnknown {
		b, err := f.r.Peek(1)
		if err != nil {
			f.err = err
			return nil, err
		}
		switch c := b[0]; {
		case c == '<':
			f.framing = framingNonTransparent
		case c >= '0' && c <= '9':
			f.framing = framingOctetCounting
		default:
			f.err = fmt.Errorf("%w: first byte %q is neither a digit nor '<'", errFraming, c)
			return nil, f.err
		}
	}
	if f.framing == framingOctetCounting {
		return f.nextCounted()
	}
	return f.nextLine()
}

// nextCounted reads "MSG-LEN SP SYSLOG-MSG". A newline between messages,
// which some senders add, is skipped, and so is one they count in the
// message: trailing CR and LF are cut as in non-transparent framing.
func (f *framer) nextCounted() ([]byte, error) {
	c, err := f.r.ReadByte()
	for err == nil && (c == '\n' || c == '\r') {
		c, err = f.r.ReadByte()
	}
	if err != nil {
		f.err = err
		return nil, err
	}
	if c < '1' || c > '9' {
		f.err = fmt.Errorf("%w: message length starts with %q", errFraming, c)
		return nil, f.err
	}
	n := int64(c - '0')
	for digits := 1; ; digits++ {
		c, err = f.r.ReadByte()
		if err != nil {
			f.err = f.endedInside(err)
			return nil, f.err
		}
		if c == ' ' {
			break
		}
		if c < '0' || c > '9' || digits == maxLengthDigits {
			f.err = fmt.Errorf("%w: invalid message length", errFraming)
			return nil, f.err
		}
		n = n*10 + int64(c-'0')
	}
	if n > math.MaxInt32 {
		f.err = fmt.Errorf("%w: message length %d", errFraming, n)
		return nil, f.err
	}
	if n > int64(f.limit) {
		if _, err := f.r.Discard(int(n)); err != nil {
			f.err = f.endedInside(err)
			return nil, f.err
		}
		return nil, fmt.Errorf("%w: %d bytes (max_message_length %d)", errOversized, n, f.limit)
	}
	f.buf = grow(f.buf, int(n))
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		f.err = f.endedInside(err)
		return nil, f.err
	}
	return trimTrailer(f.buf), nil
}

// endedInside reports a stream that ended in the middle of a counted message.
func (f *framer) endedInside(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: stream ended inside a message", errFraming)
	}
	return err
}

// nextLine reads a message ended by LF. As in Promtail, a line that does
// not start with '<' continues the message before it, so multi-line
// messages stay whole; unlike Promtail, a message is handed out as soon as
// its LF arrives with nothing after it, instead of waiting for the next
// message to begin. Trailing CR and LF are cut; empty lines are skipped. At
// the end of the stream, what was read without a trailer is the last message.
func (f *framer) nextLine() ([]byte, error) {
	for {
		f.buf = f.buf[:0]
		oversized := false
		for {
			chunk, err := f.r.ReadSlice('\n')
			if !oversized {
				// Two bytes of slack for the CR LF that are cut below.
				if len(f.buf)+len(chunk) > f.limit+2 {
					oversized = true
				} else {
					f.buf = append(f.buf, chunk...)
				}
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				f.err = err
				break
			}
			if !f.continues() {
				break
			}
		}
		msg := trimTrailer(f.buf)
		if oversized || len(msg) > f.limit {
			return nil, fmt.Errorf("%w (max_message_length %d)", errOversized, f.limit)
		}
		if len(msg) > 0 {
			return msg, nil
		}
		if f.err != nil {
			return nil, f.err
		}
	}
}

// continues tells whether the line after a trailer belongs to the same
// message. On a stream it only looks at bytes that already arrived: a
// message is never held back waiting for the sender's next one.
func (f *framer) continues() bool {
	if !f.datagram && f.r.Buffered() == 0 {
		return false
	}
	b, err := f.r.Peek(1)
	return err == nil && b[0] != '<'
}

func trimTrailer(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// grow returns b resized to n bytes, reusing its storage when it is large enough.
func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]byte, n)
}
