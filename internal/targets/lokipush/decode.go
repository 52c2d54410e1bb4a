package lokipush

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// requestError is a request the target refuses: the status it answers, the
// reason promtail_push_api_parsing_errors_total counts it under (none for
// refusals that are not the body's fault) and the message the client reads.
type requestError struct {
	status int
	reason string
	err    error
}

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

func refuse(status int, reason, format string, args ...any) *requestError {
	return &requestError{status: status, reason: reason, err: fmt.Errorf(format, args...)}
}

// errDecodedTooLarge is a compressed body that expands past
// max_send_msg_size: the limit bounds the memory a request may take, not only
// the bytes on the wire.
var errDecodedTooLarge = errors.New("decompressed body is larger than max_send_msg_size")

// connError marks an error of the connection (client gone, read timeout), so
// that it is not reported as corrupt compression.
type connError struct{ err error }

func (e connError) Error() string { return e.err.Error() }
func (e connError) Unwrap() error { return e.err }

type connReader struct{ r io.Reader }

func (c connReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = connError{err}
	}
	return n, err
}

// capReader returns errDecodedTooLarge once more than limit bytes come out
// of r.
type capReader struct {
	r        io.Reader
	n, limit int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n > c.limit {
		return 0, errDecodedTooLarge
	}
	// Reading one byte past the limit tells a body of exactly the limit from
	// a longer one.
	if rest := c.limit + 1 - c.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return n - int(c.n-c.limit), errDecodedTooLarge
	}
	return n, err
}

// openBody returns the request body, decompressed as Content-Encoding says,
// refusing more than limit bytes on the wire or once decompressed.
// snappyPassThrough accepts "Content-Encoding: snappy" as a no-op, as Loki
// does for protobuf bodies, which are snappy blocks anyway.
func openBody(w http.ResponseWriter, r *http.Request, limit int64, snappyPassThrough bool) (io.Reader, *requestError) {
	if r.ContentLength > limit {
		return nil, refuse(http.StatusRequestEntityTooLarge, reasonTooLarge,
			"request body of %d bytes is larger than max_send_msg_size (%d bytes)", r.ContentLength, limit)
	}
	var body io.Reader = connReader{http.MaxBytesReader(w, r.Body, limit)}
	encoding := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch {
	case encoding == "" || encoding == "identity" || (encoding == "snappy" && snappyPassThrough):
		return body, nil
	case encoding == "gzip" || encoding == "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, classifyReadError(err, limit, encoding)
		}
		return &capReader{r: zr, limit: limit}, nil
	case encoding == "deflate":
		// RFC 9110 "deflate" is a zlib stream, but Loki reads raw DEFLATE and
		// clients send either; the zlib header tells them apart.
		br := bufio.NewReader(body)
		head, _ := br.Peek(2)
		if len(head) == 2 && isZlibHeader(head[0], head[1]) {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return nil, classifyReadError(err, limit, encoding)
			}
			return &capReader{r: zr, limit: limit}, nil
		}
		return &capReader{r: flate.NewReader(br), limit: limit}, nil
	}
	return nil, refuse(http.StatusBadRequest, reasonEncoding,
		"Content-Encoding %q is not supported (use gzip or deflate, or none)", r.Header.Get("Content-Encoding"))
}

// isZlibHeader checks the two bytes RFC 1950 puts before a DEFLATE stream:
// method 8, a window of at most 32 KiB, and a check making them a multiple of
// 31.
func isZlibHeader(cmf, flg byte) bool {
	return cmf&0x0f == 8 && cmf>>4 <= 7 && (uint16(cmf)<<8|uint16(flg))%31 == 0
}

func classifyReadError(err error, limit int64, encoding string) *requestError {
	var tooLarge *http.MaxBytesError
	var conn connError
	switch {
	case errors.As(err, &tooLarge):
		return refuse(http.StatusRequestEntityTooLarge, reasonTooLarge,
			"request body is larger than max_send_msg_size (%d bytes)", limit)
	case errors.Is(err, errDecodedTooLarge):
		return refuse(http.StatusRequestEntityTooLarge, reasonTooLarge,
			"%s body expands past max_send_msg_size (%d bytes)", encoding, limit)
	case errors.As(err, &conn):
		return refuse(http.StatusBadRequest, reasonRead, "reading request body: %w", conn.err)
	}
	return refuse(http.StatusBadRequest, reasonDecompression, "decompressing %s body: %w", encoding, err)
}

// Buffers of a request are pooled; the decoded strings are copies, so a
// buffer is free again once the body is decoded. Buffers grown by a huge
// request are left to the garbage collector.
const maxPooledBuffer = 8 << 20

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer {
	b := bufferPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		bufferPool.Put(b)
	}
}

// decodeBody reads and decodes a push request: the body, decompressed as
// Content-Encoding says, is JSON when Content-Type says so and a
// snappy-compressed protobuf message otherwise (also when Content-Type is
// missing, where Loki would refuse it: Loki's own clients are the likely
// sender).
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64) ([]stream, *requestError) {
	src, rerr := openBody(w, r, limit, true)
	if rerr != nil {
		return nil, rerr
	}
	body := getBuffer()
	defer putBuffer(body)
	if r.ContentLength > 0 {
		body.Grow(int(r.ContentLength))
	}
	if _, err := body.ReadFrom(src); err != nil {
		return nil, classifyReadError(err, limit, r.Header.Get("Content-Encoding"))
	}
	if mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mediaType == "application/json" {
		return decodeJSON(body.Bytes())
	}
	scratch := getBuffer()
	defer putBuffer(scratch)
	return decodeProtobuf(body.Bytes(), scratch, limit)
}

// stream is one pushed stream with its labels parsed.
type stream struct {
	labels  labels.Labels
	entries []push.Entry
}

// metricParser reads stream labels, which Loki clients write as a
// Prometheus metric selector ({name="value", ...}). It holds no state.
var metricParser = parser.NewParser(parser.Options{})

// decodeProtobuf decodes a snappy block holding a Loki PushRequest. scratch
// holds the decompressed message; the result does not refer to it.
func decodeProtobuf(body []byte, scratch *bytes.Buffer, limit int64) ([]stream, *requestError) {
	size, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, reasonMalformed, "decoding snappy block: %w", err)
	}
	if int64(size) > limit {
		return nil, refuse(http.StatusRequestEntityTooLarge, reasonTooLarge,
			"push request of %d bytes once decompressed is larger than max_send_msg_size (%d bytes)", size, limit)
	}
	scratch.Grow(size)
	msg, err := snappy.Decode(scratch.AvailableBuffer()[:size], body)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, reasonMalformed, "decoding snappy block: %w", err)
	}
	var req push.PushRequest
	if err := req.Unmarshal(msg); err != nil {
		return nil, refuse(http.StatusBadRequest, reasonMalformed, "decoding protobuf push request: %w", err)
	}
	streams := make([]stream, len(req.Streams))
	for i, s := range req.Streams {
		ls, err := metricParser.ParseMetric(s.Labels)
		if err == nil {
			err = validateLabels(ls)
		}
		if err != nil {
			return nil, refuse(http.StatusBadRequest, reasonInvalidLabels, "stream %d: labels %s: %w", i, quoteShort(s.Labels), err)
		}
		for j := range s.Entries {
			if err := validateMetadata(s.Entries[j].StructuredMetadata); err != nil {
				return nil, refuse(http.StatusBadRequest, reasonInvalidLabels, "stream %d entry %d: %w", i, j, err)
			}
			// Parsed labels are what Loki derives from a line at query
			// time; a pushed entry has none to keep.
			s.Entries[j].Parsed = nil
		}
		streams[i] = stream{labels: ls, entries: s.Entries}
	}
	return streams, nil
}

// validateLabels refuses what Loki would reject for the whole batch later:
// a bad stream must not take the other jobs' entries down with it.
func validateLabels(ls labels.Labels) error {
	err := ls.Validate(func(l labels.Label) error {
		if !model.UTF8Validation.IsValidLabelName(l.Name) {
			return fmt.Errorf("invalid label name %q", l.Name)
		}
		if !utf8.ValidString(l.Value) {
			return fmt.Errorf("value of label %q is not valid UTF-8", l.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if name, dup := ls.HasDuplicateLabelNames(); dup {
		return fmt.Errorf("label %q appears twice", name)
	}
	return nil
}

func validateMetadata(md push.LabelsAdapter) error {
	for _, l := range md {
		if !model.UTF8Validation.IsValidLabelName(l.Name) {
			return fmt.Errorf("invalid structured metadata name %q", l.Name)
		}
		if !utf8.ValidString(l.Value) {
			return fmt.Errorf("value of structured metadata %q is not valid UTF-8", l.Name)
		}
	}
	return nil
}

// quoteShort quotes s for an error message, cut so that a huge label string
// does not flood the client's and the agent's logs.
func quoteShort(s string) string {
	const keep = 120
	if len(s) <= keep {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:keep]) + "..."
}

// The JSON push format: {"streams": [{"stream": {labels}, "values":
// [["<unix ns>", "<line>", {structured metadata}], ...]}]}.
type jsonPushRequest struct {
	Streams []jsonStream `json:"streams"`
}

type jsonStream struct {
	Stream map[string]string `json:"stream"`
	Values []jsonEntry       `json:"values"`
}

type jsonEntry push.Entry

func (e *jsonEntry) UnmarshalJSON(data []byte) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil {
		return fmt.Errorf("an entry must be an array: %w", err)
	}
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("an entry is [timestamp, line] or [timestamp, line, structured metadata], not %d values", len(parts))
	}
	var ts string
	if err := json.Unmarshal(parts[0], &ts); err != nil {
		return fmt.Errorf("entry timestamp must be a string of Unix nanoseconds: %w", err)
	}
	ns, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("entry timestamp %s is not Unix nanoseconds", quoteShort(ts))
	}
	e.Timestamp = time.Unix(0, ns)
	if err := json.Unmarshal(parts[1], &e.Line); err != nil {
		return fmt.Errorf("entry line must be a string: %w", err)
	}
	if len(parts) == 3 {
		md, err := decodeJSONMetadata(parts[2])
		if err != nil {
			return err
		}
		e.StructuredMetadata = md
	}
	return nil
}

// decodeJSONMetadata reads the structured metadata object. Values are
// strings; numbers are kept as written, as Loki does.
func decodeJSONMetadata(raw json.RawMessage) (push.LabelsAdapter, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("structured metadata must be an object of strings: %w", err)
	}
	if len(fields) == 0 {
		return nil, nil
	}
	md := make(push.LabelsAdapter, 0, len(fields))
	for name, v := range fields {
		v = bytes.TrimSpace(v)
		var value string
		switch {
		case len(v) > 0 && v[0] == '"':
			if err := json.Unmarshal(v, &value); err != nil {
				return nil, fmt.Errorf("structured metadata %q: %w", name, err)
			}
		case len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')):
			value = string(v)
		default:
			return nil, fmt.Errorf("structured metadata %q: value must be a string", name)
		}
		md = append(md, push.LabelAdapter{Name: name, Value: value})
	}
	slices.SortFunc(md, func(a, b push.LabelAdapter) int { return cmp.Compare(a.Name, b.Name) })
	if err := validateMetadata(md); err != nil {
		return nil, err
	}
	return md, nil
}

func decodeJSON(body []byte) ([]stream, *requestError) {
	var req jsonPushRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, refuse(http.StatusBadRequest, reasonMalformed, "decoding JSON push request: %w", err)
	}
	streams := make([]stream, len(req.Streams))
	for i, s := range req.Streams {
		ls := labels.FromMap(s.Stream)
		if err := validateLabels(ls); err != nil {
			return nil, refuse(http.StatusBadRequest, reasonInvalidLabels, "stream %d: %w", i, err)
		}
		entries := make([]push.Entry, len(s.Values))
		for j := range s.Values {
			entries[j] = push.Entry(s.Values[j])
		}
		streams[i] = stream{labels: ls, entries: entries}
	}
	return streams, nil
}
