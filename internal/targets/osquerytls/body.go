package osquerytls

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// logBody is one TLS logger request, {"node_key":…,"log_type":…,"data":[…]}.
// Each record is the JSON text of one data element exactly as osqueryd sent
// it (whitespace between tokens removed, if any), which is the line its
// filesystem logger would have written: osqueryd parses each log line and
// embeds the object, and both come out of the same JSON writer.
//
// Records point into the request body unless they had to be compacted.
type logBody struct {
	nodeKey string
	logType string
	records [][]byte
}

var (
	errNotJSON         = errors.New("the body is not JSON")
	errNotObject       = errors.New("the body is not a JSON object")
	errNodeKeyType     = errors.New("node_key is not a string")
	errLogTypeType     = errors.New("log_type is not a string")
	errDataType        = errors.New("data is not an array")
	errRecordNotObject = errors.New("a data element is not a JSON object")
)

// maxDepth is how deeply arrays and objects may nest, encoding/json's limit:
// the parser recurses once per level.
const maxDepth = 10000

var errTooDeep = fmt.Errorf("%w: nested deeper than %d", errNotJSON, maxDepth)

// decodeLogBody reads b into body, reusing body.records. It accepts exactly
// what encoding/json accepts, in one pass that also finds where each record
// starts and ends: checking the body with json.Valid first cost more than
// everything else the endpoint does. A key that appears twice counts once,
// the last time, as in encoding/json.
func decodeLogBody(b []byte, body *logBody) error {
	*body = logBody{records: body.records[:0]}
	p := parser{b: b}
	p.ws()
	if p.peek() != '{' {
		if p.value() == nil && p.atEnd() {
			return errNotObject
		}
		return errNotJSON
	}
	err := p.object(func(key []byte) error {
		var err error
		switch {
		case keyIs(key, "node_key"):
			body.nodeKey, err = p.stringValue(errNodeKeyType)
		case keyIs(key, "log_type"):
			body.logType, err = p.stringValue(errLogTypeType)
		case keyIs(key, "data"):
			body.records, err = p.records(body.records[:0])
		default:
			err = p.value()
		}
		return err
	})
	if err != nil {
		return err
	}
	if !p.atEnd() {
		return errNotJSON
	}
	return nil
}

// parser checks JSON text by the grammar of RFC 8259 as encoding/json reads
// it (strings may hold any byte but control characters; their UTF-8 is not
// checked). Each method starts at the first byte of what it reads and
// returns errNotJSON at the first byte that does not fit.
type parser struct {
	b     []byte
	i     int
	depth int
	// spaced is set whenever whitespace is skipped.
	spaced bool
}

func (p *parser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *parser) ws() {
	start := p.i
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
			continue
		}
		break
	}
	if p.i > start {
		p.spaced = true
	}
}

// atEnd skips trailing whitespace and tells whether nothing else follows.
func (p *parser) atEnd() bool {
	p.ws()
	return p.i == len(p.b)
}

func (p *parser) value() error {
	switch c := p.peek(); {
	case c == '{':
		return p.object(nil)
	case c == '[':
		return p.array(nil)
	case c == '"':
		return p.str()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || isDigit(c):
		return p.number()
	}
	return errNotJSON
}

// object reads an object, calling member (or value, when member is nil) for
// each member's value, positioned on its first byte.
func (p *parser) object(member func(key []byte) error) error {
	if p.depth++; p.depth > maxDepth {
		return errTooDeep
	}
	p.i++
	p.ws()
	if p.peek() == '}' {
		p.i++
		p.depth--
		return nil
	}
	for {
		if p.peek() != '"' {
			return errNotJSON
		}
		start := p.i
		if err := p.str(); err != nil {
			return err
		}
		key := p.b[start:p.i]
		p.ws()
		if p.peek() != ':' {
			return errNotJSON
		}
		p.i++
		p.ws()
		var err error
		if member != nil {
			err = member(key)
		} else {
			err = p.value()
		}
		if err != nil {
			return err
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
			p.ws()
		case '}':
			p.i++
			p.depth--
			return nil
		default:
			return errNotJSON
		}
	}
}

// array reads an array, calling elem (or value, when elem is nil) on each
// element's first byte.
func (p *parser) array(elem func() error) error {
	if p.depth++; p.depth > maxDepth {
		return errTooDeep
	}
	p.i++
	p.ws()
	if p.peek() == ']' {
		p.i++
		p.depth--
		return nil
	}
	for {
		var err error
		if elem != nil {
			err = elem()
		} else {
			err = p.value()
		}
		if err != nil {
			return err
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
			p.ws()
		case ']':
			p.i++
			p.depth--
			return nil
		default:
			return errNotJSON
		}
	}
}

func (p *parser) str() error {
	p.i++
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return nil
		case c == '\\':
			p.i++
			switch p.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				if p.i+4 >= len(p.b) || !isHex(p.b[p.i+1]) || !isHex(p.b[p.i+2]) || !isHex(p.b[p.i+3]) || !isHex(p.b[p.i+4]) {
					return errNotJSON
				}
				p.i += 5
			default:
				return errNotJSON
			}
		case c < 0x20:
			return errNotJSON
		default:
			p.i++
		}
	}
	return errNotJSON
}

func (p *parser) number() error {
	if p.peek() == '-' {
		p.i++
	}
	switch c := p.peek(); {
	case c == '0':
		p.i++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		return errNotJSON
	}
	if p.peek() == '.' {
		p.i++
		if !isDigit(p.peek()) {
			return errNotJSON
		}
		p.digits()
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if !isDigit(p.peek()) {
			return errNotJSON
		}
		p.digits()
	}
	return nil
}

func (p *parser) digits() {
	for p.i < len(p.b) && isDigit(p.b[p.i]) {
		p.i++
	}
}

func (p *parser) literal(word string) error {
	if !bytes.HasPrefix(p.b[p.i:], []byte(word)) {
		return errNotJSON
	}
	p.i += len(word)
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// stringValue reads a string value; any other value is wrongType.
func (p *parser) stringValue(wrongType error) (string, error) {
	if p.peek() != '"' {
		return "", wrongType
	}
	start := p.i
	if err := p.str(); err != nil {
		return "", err
	}
	quoted := p.b[start:p.i]
	if plain(quoted) {
		return string(quoted[1 : len(quoted)-1]), nil
	}
	var v string
	if err := json.Unmarshal(quoted, &v); err != nil {
		return "", fmt.Errorf("%w: %w", wrongType, err)
	}
	return v, nil
}

// records reads the data array. A record with whitespace between its
// tokens is compacted into a copy; the others stay slices of the body.
func (p *parser) records(out [][]byte) ([][]byte, error) {
	if p.peek() != '[' {
		return out, errDataType
	}
	err := p.array(func() error {
		if p.peek() != '{' {
			return errRecordNotObject
		}
		start := p.i
		p.spaced = false
		if err := p.value(); err != nil {
			return err
		}
		rec := p.b[start:p.i]
		if p.spaced {
			var buf bytes.Buffer
			if err := json.Compact(&buf, rec); err != nil {
				return fmt.Errorf("compacting a record: %w", err)
			}
			rec = buf.Bytes()
		}
		out = append(out, rec)
		return nil
	})
	return out, err
}

// plain tells whether a quoted JSON string reads as its bytes: no escapes,
// and ASCII only (encoding/json replaces invalid UTF-8, so other bytes go
// through it to give the same string).
func plain(quoted []byte) bool {
	if len(quoted) < 2 {
		return false
	}
	for _, c := range quoted[1 : len(quoted)-1] {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// keyIs compares a quoted object key with name.
func keyIs(quoted []byte, name string) bool {
	if plain(quoted) {
		return string(quoted[1:len(quoted)-1]) == name
	}
	var k string
	return json.Unmarshal(quoted, &k) == nil && k == name
}

var (
	errTooLarge     = errors.New("the body is larger than max_body_bytes")
	errBadEncoding  = errors.New("unsupported Content-Encoding")
	errBadGzip      = errors.New("the gzip body does not decompress")
	errReadingBody  = errors.New("reading the body")
	gzipMagicPrefix = []byte{0x1f, 0x8b}
)

// requestBuffers are reused from request to request: a log body is read
// into raw and, when gzipped, decompressed into plain.
type requestBuffers struct {
	raw, plain bytes.Buffer
	zr         *gzip.Reader
	body       logBody
}

// maxPooledBuffer keeps a rare huge body from pinning its memory in the pool.
const maxPooledBuffer = 16 << 20

func (rb *requestBuffers) reusable() bool {
	return rb.raw.Cap() <= maxPooledBuffer && rb.plain.Cap() <= maxPooledBuffer
}

// readBody reads the request body, gunzipping it when it says so, and never
// holds more than limit bytes of either form: a small gzip body that
// inflates past the limit (a gzip bomb) is refused once limit+1 bytes have
// come out.
func readBody(r *http.Request, limit int64, rb *requestBuffers) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	rb.raw.Reset()
	if r.ContentLength > 0 {
		rb.raw.Grow(int(r.ContentLength))
	}
	if _, err := rb.raw.ReadFrom(io.LimitReader(r.Body, limit+1)); err != nil {
		return nil, fmt.Errorf("%w: %w", errReadingBody, err)
	}
	if int64(rb.raw.Len()) > limit {
		return nil, errTooLarge
	}
	switch r.Header.Get("Content-Encoding") {
	case "", "identity":
		return rb.raw.Bytes(), nil
	case "gzip", "x-gzip":
	default:
		return nil, errBadEncoding
	}
	if !bytes.HasPrefix(rb.raw.Bytes(), gzipMagicPrefix) {
		return nil, errBadGzip
	}
	var err error
	if rb.zr == nil {
		rb.zr, err = gzip.NewReader(&rb.raw)
	} else {
		err = rb.zr.Reset(&rb.raw)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadGzip, err)
	}
	rb.plain.Reset()
	if _, err := rb.plain.ReadFrom(io.LimitReader(rb.zr, limit+1)); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadGzip, err)
	}
	if int64(rb.plain.Len()) > limit {
		return nil, errTooLarge
	}
	return rb.plain.Bytes(), nil
}
