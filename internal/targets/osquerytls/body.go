package osquerytls

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/promtail-osquery/promtail-osquery/internal/jsonscan"
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
	errNotJSON         = jsonscan.ErrSyntax
	errTooDeep         = jsonscan.ErrTooDeep
	errNotObject       = errors.New("the body is not a JSON object")
	errNodeKeyType     = errors.New("node_key is not a string")
	errLogTypeType     = errors.New("log_type is not a string")
	errDataType        = errors.New("data is not an array")
	errRecordNotObject = errors.New("a data element is not a JSON object")
)

// maxDepth is how deeply arrays and objects may nest, encoding/json's limit.
const maxDepth = 10000

// decodeLogBody reads b into body, reusing body.records. It accepts exactly
// what encoding/json accepts, in one pass that also finds where each record
// starts and ends: checking the body with json.Valid first cost more than
// everything else the endpoint does. A key that appears twice counts once,
// the last time, as in encoding/json.
func decodeLogBody(b []byte, body *logBody) error {
	*body = logBody{records: body.records[:0]}
	p := jsonscan.Scanner{B: b, MaxDepth: maxDepth}
	p.WS()
	if p.Peek() != '{' {
		if p.Value() == nil && p.AtEnd() {
			return errNotObject
		}
		return errNotJSON
	}
	err := p.Object(func(key []byte) error {
		var err error
		switch {
		case keyIs(key, "node_key"):
			body.nodeKey, err = stringValue(&p, errNodeKeyType)
		case keyIs(key, "log_type"):
			body.logType, err = stringValue(&p, errLogTypeType)
		case keyIs(key, "data"):
			body.records, err = records(&p, body.records[:0])
		default:
			err = p.Value()
		}
		return err
	})
	if err != nil {
		return err
	}
	if !p.AtEnd() {
		return errNotJSON
	}
	return nil
}

// stringValue reads a string value; any other value is wrongType.
func stringValue(p *jsonscan.Scanner, wrongType error) (string, error) {
	if p.Peek() != '"' {
		return "", wrongType
	}
	quoted, err := p.String()
	if err != nil {
		return "", err
	}
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
func records(p *jsonscan.Scanner, out [][]byte) ([][]byte, error) {
	if p.Peek() != '[' {
		return out, errDataType
	}
	err := p.Array(func() error {
		if p.Peek() != '{' {
			return errRecordNotObject
		}
		start := p.I
		p.Spaced = false
		if err := p.Value(); err != nil {
			return err
		}
		rec := p.B[start:p.I]
		if p.Spaced {
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
