package file

import (
	"errors"
	"fmt"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/transform"
)

// encodingFailedPrefix starts the line that replaces one whose conversion to
// UTF-8 failed. The text is Promtail's: users search their logs for it.
const encodingFailedPrefix = "the requested encoding conversion for this line failed in Promtail/Grafana Agent: "

var newline = []byte{'\n'}

// lineFormat is how a job's files separate and encode their lines.
type lineFormat struct {
	// sep is the line separator as it appears in the file: "\n" in UTF-8 and
	// the ASCII-compatible encodings, "\n\x00" in UTF-16LE, "\x25" in EBCDIC.
	// Splitting UTF-16 on the byte 0x0A, as Promtail does, cuts every line
	// after the first in the middle of a character.
	sep []byte
	enc encoding.Encoding // nil: lines are passed on as they are
}

// newLineFormat resolves an IANA encoding name ("" for none).
func newLineFormat(name string) (lineFormat, error) {
	if name == "" {
		return lineFormat{sep: newline}, nil
	}
	enc, err := ianaindex.IANA.Encoding(name)
	if err != nil {
		return lineFormat{}, fmt.Errorf("encoding %q: %w", name, err)
	}
	if enc == nil {
		return lineFormat{}, fmt.Errorf("encoding %q is known but not supported", name)
	}
	// Encoding two newlines and keeping the second leaves out any byte order
	// mark the encoder writes first.
	one, err := enc.NewEncoder().Bytes([]byte("\n"))
	if err != nil {
		return lineFormat{}, fmt.Errorf("encoding %q cannot encode a newline: %w", name, err)
	}
	two, err := enc.NewEncoder().Bytes([]byte("\n\n"))
	if err != nil || len(two) <= len(one) {
		return lineFormat{}, fmt.Errorf("encoding %q cannot encode a newline", name)
	}
	return lineFormat{sep: two[len(one):], enc: enc}, nil
}

// decoder returns a converter for one reader; x/text decoders keep state and
// must not be shared between goroutines.
func (f lineFormat) decoder() *lineDecoder {
	if f.enc == nil {
		return nil
	}
	return &lineDecoder{dec: f.enc.NewDecoder()}
}

type lineDecoder struct {
	dec *encoding.Decoder
	buf []byte // reused output, so a line costs one allocation: its string
}

var errDecode = errors.New("error decoding text")

// decode converts one line to UTF-8. A line that cannot be converted becomes
// Promtail's error text rather than being dropped, so its absence is visible.
func (d *lineDecoder) decode(line []byte) string {
	d.dec.Reset()
	out, _, err := transform.Append(d.dec, d.buf[:0], line)
	d.buf = out
	if cap(d.buf) > maxReadBuffer {
		d.buf = nil // a very long line; do not keep its buffer
	}
	if err != nil {
		return encodingFailedPrefix + fmt.Errorf("%w: %w", errDecode, err).Error()
	}
	return string(out)
}
