package file

import (
	"bytes"
	"io"
)

// Read buffer sizes. A file starts with a small buffer; one that keeps filling
// it (a busy file) gets larger reads, up to maxReadBuffer. Only a line longer
// than that grows the buffer further: there is no maximum line length.
// 128 KiB reads cost no more CPU than 1 MiB ones (the copy out of the page
// cache is the same; a few thousand more read calls per GiB are nothing),
// and every busy file holds its buffer.
const (
	minReadBuffer = 32 << 10
	maxReadBuffer = 128 << 10
)

// lineBuffer holds bytes read from a file and cuts them into lines. The bytes
// of an unterminated last line stay in the buffer until their separator
// arrives.
type lineBuffer struct {
	sep   []byte
	buf   []byte
	start int  // first byte of the next line
	scan  int  // where the search for the next separator resumes
	full  bool // the last read filled all free space: the file has more
}

// fill reads once from r, after making room.
func (b *lineBuffer) fill(r io.Reader) (int, error) {
	b.compact()
	if b.buf == nil {
		b.buf = make([]byte, 0, minReadBuffer)
	}
	if len(b.buf) == cap(b.buf) || (b.full && cap(b.buf) < maxReadBuffer) {
		b.resize(2 * cap(b.buf))
	}
	free := b.buf[len(b.buf):cap(b.buf)]
	n, err := r.Read(free)
	b.buf = b.buf[:len(b.buf)+n]
	b.full = n == len(free)
	return n, err
}

// next returns the next complete line without its separator. The slice is
// valid until the next fill.
func (b *lineBuffer) next() ([]byte, bool) {
	if len(b.sep) == 1 {
		i := bytes.IndexByte(b.buf[b.scan:], b.sep[0])
		if i < 0 {
			b.scan = len(b.buf)
			return nil, false
		}
		end := b.scan + i
		line := b.buf[b.start:end]
		b.start = end + 1
		b.scan = b.start
		return line, true
	}
	// A multi-byte separator (UTF-16) only counts at a character boundary:
	// lines start on one, and characters are len(sep) bytes wide.
	unit := len(b.sep)
	p := b.scan
	for ; p+unit <= len(b.buf); p += unit {
		if bytes.Equal(b.buf[p:p+unit], b.sep) {
			line := b.buf[b.start:p]
			b.start = p + unit
			b.scan = b.start
			return line, true
		}
	}
	b.scan = p
	return nil, false
}

// pending is the number of bytes held back: the unterminated last line.
func (b *lineBuffer) pending() int {
	return len(b.buf) - b.start
}

// takeRest returns the held-back bytes as a final line and forgets them.
func (b *lineBuffer) takeRest() []byte {
	rest := b.buf[b.start:]
	b.start = len(b.buf)
	b.scan = b.start
	return rest
}

// reset forgets everything, keeping the memory.
func (b *lineBuffer) reset() {
	b.buf = b.buf[:0]
	b.start, b.scan = 0, 0
	b.full = false
}

// release frees the memory of an idle file that holds no partial line.
func (b *lineBuffer) release() {
	if b.pending() == 0 {
		b.buf = nil
		b.start, b.scan = 0, 0
		b.full = false
	}
}

func (b *lineBuffer) compact() {
	if b.start == 0 {
		return
	}
	n := copy(b.buf, b.buf[b.start:])
	b.buf = b.buf[:n]
	b.scan -= b.start
	b.start = 0
	// A very long line grew the buffer; give the memory back once it is gone.
	if cap(b.buf) > maxReadBuffer && n <= maxReadBuffer/2 {
		b.resize(maxReadBuffer)
	}
}

func (b *lineBuffer) resize(size int) {
	if size < minReadBuffer {
		size = minReadBuffer
	}
	nb := make([]byte, len(b.buf), size)
	copy(nb, b.buf)
	b.buf = nb
}
