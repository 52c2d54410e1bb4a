package osquerytls

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Records as osquery writes them (values invented): event, batch and
// snapshot results, and status logs before and since osquery 5.10.
const (
	eventRecord    = `{"name":"pack_incident-response_last","hostIdentifier":"web-01","calendarTime":"Mon Mar  3 09:05:07 2025 UTC","unixTime":1740992707,"epoch":0,"counter":12,"numerics":false,"decorations":{"host_uuid":"00000000-0000-4000-8000-000000000001","hostname":"web-01"},"columns":{"host":"192.0.2.10","pid":"4242","time":"1740992690","tty":"pts/0","type":"7","type_name":"user-process","username":"alice"},"action":"added"}`
	batchRecord    = `{"diffResults":{"removed":[{"name":"osqueryd","path":"/opt/osquery/bin/osqueryd","pid":"97650"}],"added":[{"name":"osqueryd","path":"/opt/osquery/bin/osqueryd","pid":"97830"}]},"name":"processes","hostIdentifier":"web-01","calendarTime":"Mon Mar  3 09:05:08 2025 UTC","unixTime":1740992708,"epoch":0,"counter":1,"numerics":false}`
	snapshotRecord = `{"snapshot":[{"gid":"0","groupname":"root"},{"gid":"1","groupname":"daemon"}],"action":"snapshot","name":"pack_it-compliance_groups","hostIdentifier":"web-01","calendarTime":"Mon Mar  3 09:05:09 2025 UTC","unixTime":1740992709,"epoch":0,"counter":0,"numerics":false,"decorations":{"host_uuid":"00000000-0000-4000-8000-000000000001","hostname":"web-01"}}`
	statusRecord   = `{"hostIdentifier":"web-01","calendarTime":"Fri Jun  7 18:29:49 2024 UTC","unixTime":1717784989,"severity":1,"filename":"tls.cpp","line":254,"message":"TLS/HTTPS POST request to URI: https://agent.example:8443/log","version":"5.12.1","decorations":{"host_uuid":"00000000-0000-4000-8000-000000000001","hostname":"web-01"}}`
	statusRecord46 = `{"hostIdentifier":"web-01","calendarTime":"Wed Jun  9 18:29:49 2021 UTC","unixTime":"1623263389","severity":"2","filename":"init.cpp","line":"421","message":"osqueryd initialize failed: Could not open RocksDB","version":"4.6.0.2"}`
)

func TestDecodeLogBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		key     string
		logType string
		records []string
		err     error
	}{
		{
			name:    "osqueryd body",
			body:    `{"node_key":"k1","log_type":"result","data":[` + eventRecord + `,` + batchRecord + `,` + snapshotRecord + `]}`,
			key:     "k1",
			logType: "result",
			records: []string{eventRecord, batchRecord, snapshotRecord},
		},
		{
			name:    "status, keys in another order",
			body:    `{"data":[` + statusRecord + `,` + statusRecord46 + `],"log_type":"status","node_key":"k2"}`,
			key:     "k2",
			logType: "status",
			records: []string{statusRecord, statusRecord46},
		},
		{
			name:    "pretty-printed: records compacted, string contents kept",
			body:    "{\n  \"node_key\" : \"k\",\n  \"log_type\": \"result\",\n  \"data\": [\n    {\"name\": \"a b\",\n     \"columns\": {\"x\": \"1 2\"}, \"action\": \"added\"} ,\n    {}\n  ]\n}\n",
			key:     "k",
			logType: "result",
			records: []string{`{"name":"a b","columns":{"x":"1 2"},"action":"added"}`, `{}`},
		},
		{
			name:    "escaped keys and values",
			body:    `{"node\u005fkey":"k\"\u00e9","log_type":"re\u0073ult","data":[{"m":"say \"hi\" [x] {y}","n":["]","}"]}]}`,
			key:     "k\"é",
			logType: "result",
			records: []string{`{"m":"say \"hi\" [x] {y}","n":["]","}"]}`},
		},
		{
			name:    "a key twice: the last one counts",
			body:    `{"node_key":"old","data":[{"a":1}],"log_type":"status","node_key":"new","data":[{"b":2},{"c":3}]}`,
			key:     "new",
			logType: "status",
			records: []string{`{"b":2}`, `{"c":3}`},
		},
		{
			name:    "other keys skipped, whatever they hold",
			body:    `{"x":[1,{"y":[2,3]},"]"],"z":-1.5e3,"t":true,"n":null,"node_key":"k","log_type":"result","data":[]}`,
			key:     "k",
			logType: "result",
			records: []string{},
		},
		{name: "no data", body: `{"node_key":"k","log_type":"result"}`, key: "k", logType: "result", records: []string{}},
		{name: "empty object", body: `{}`, records: []string{}},
		{name: "not JSON", body: `{"node_key":"k",`, err: errNotJSON},
		{name: "empty body", body: ``, err: errNotJSON},
		{name: "two values", body: `{} {}`, err: errNotJSON},
		{name: "an array", body: `[{"node_key":"k"}]`, err: errNotObject},
		{name: "a string", body: `"x"`, err: errNotObject},
		{name: "numeric node key", body: `{"node_key":1,"data":[]}`, err: errNodeKeyType},
		{name: "null log type", body: `{"log_type":null}`, err: errLogTypeType},
		{name: "data an object", body: `{"data":{"a":1}}`, err: errDataType},
		{name: "data null", body: `{"data":null}`, err: errDataType},
		{name: "a record that is a string", body: `{"data":[{"a":1},"line"]}`, err: errRecordNotObject},
		{name: "a record that is an array", body: `{"data":[[1]]}`, err: errRecordNotObject},
	}
	var body logBody
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeLogBody([]byte(tt.body), &body)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if body.nodeKey != tt.key || body.logType != tt.logType {
				t.Errorf("node_key %q log_type %q, want %q %q", body.nodeKey, body.logType, tt.key, tt.logType)
			}
			got := make([]string, len(body.records))
			for i, r := range body.records {
				got[i] = string(r)
			}
			if strings.Join(got, "\n") != strings.Join(tt.records, "\n") || len(got) != len(tt.records) {
				t.Errorf("records\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.records, "\n"))
			}
		})
	}
}

// TestDecodeLogBodyDepthLimit: nesting is refused where encoding/json
// refuses it, and a body of a million brackets does not exhaust the stack.
func TestDecodeLogBodyDepthLimit(t *testing.T) {
	nested := func(depth int) []byte {
		// The body, data and the record are three levels.
		inner := depth - 3
		return []byte(`{"node_key":"k","log_type":"result","data":[{"a":` + strings.Repeat("[", inner) + strings.Repeat("]", inner) + `}]}`)
	}
	var body logBody
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		b := nested(depth)
		err := decodeLogBody(b, &body)
		if valid := json.Valid(b); (err == nil) != valid {
			t.Errorf("depth %d: decodeLogBody err = %v, json.Valid = %v", depth, err, valid)
		}
	}
	if err := decodeLogBody(bytes.Repeat([]byte("["), 1<<20), &body); !errors.Is(err, errNotJSON) {
		t.Errorf("a million brackets: err = %v", err)
	}
	if err := decodeLogBody([]byte(`{"data":[{"a":`+strings.Repeat("[", 1<<20)), &body); !errors.Is(err, errTooDeep) {
		t.Errorf("a million brackets in a record: err = %v", err)
	}
}

func TestDecodeLogBodyDoesNotCopyRecords(t *testing.T) {
	b := []byte(`{"node_key":"k","log_type":"result","data":[` + eventRecord + `]}`)
	var body logBody
	if err := decodeLogBody(b, &body); err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(b, []byte(eventRecord))
	if &body.records[0][0] != &b[start] {
		t.Error("a record without whitespace was copied out of the body")
	}
	if allocs := testing.AllocsPerRun(50, func() { _ = decodeLogBody(b, &body) }); allocs != 1 {
		// The node key string is the only allocation.
		t.Errorf("%v allocations per body, want 1", allocs)
	}
}

func newBodyRequest(body []byte, encoding string, contentLength bool) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/log", io.NopCloser(bytes.NewReader(body)))
	if contentLength {
		r.ContentLength = int64(len(body))
	} else {
		r.ContentLength = -1
	}
	if encoding != "" {
		r.Header.Set("Content-Encoding", encoding)
	}
	return r
}

func TestReadBody(t *testing.T) {
	payload := []byte(`{"node_key":"k","log_type":"result","data":[` + eventRecord + `]}`)
	gz := gzipBytes(t, payload)
	bomb := gzipBytes(t, bytes.Repeat([]byte(" "), 8<<20))
	twoMembers := append(gzipBytes(t, payload[:10]), gzipBytes(t, payload[10:])...)
	tests := []struct {
		name      string
		body      []byte
		encoding  string
		noLength  bool
		limit     int64
		want      []byte
		err       error
		errDetail string
	}{
		{name: "plain", body: payload, limit: 1 << 20, want: payload},
		{name: "identity", body: payload, encoding: "identity", limit: 1 << 20, want: payload},
		{name: "gzip", body: gz, encoding: "gzip", limit: 1 << 20, want: payload},
		{name: "x-gzip", body: gz, encoding: "x-gzip", limit: 1 << 20, want: payload},
		{name: "gzip in two members", body: twoMembers, encoding: "gzip", limit: 1 << 20, want: payload},
		{name: "exactly the limit", body: payload, limit: int64(len(payload)), want: payload},
		{name: "announced too large", body: payload, limit: int64(len(payload)) - 1, err: errTooLarge},
		{name: "streamed too large", body: payload, noLength: true, limit: int64(len(payload)) - 1, err: errTooLarge},
		{name: "inflates past the limit", body: gz, encoding: "gzip", limit: int64(len(payload)) - 1, err: errTooLarge},
		{name: "gzip bomb", body: bomb, encoding: "gzip", limit: 1 << 20, err: errTooLarge},
		{name: "not gzip", body: payload, encoding: "gzip", limit: 1 << 20, err: errBadGzip},
		{name: "truncated gzip", body: gz[:len(gz)-6], encoding: "gzip", limit: 1 << 20, err: errBadGzip},
		{name: "damaged gzip", body: append(append([]byte{}, gz[:12]...), bytes.Repeat([]byte{0xff}, 40)...), encoding: "gzip", limit: 1 << 20, err: errBadGzip},
		{name: "deflate", body: payload, encoding: "deflate", limit: 1 << 20, err: errBadEncoding},
	}
	rb := new(requestBuffers)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readBody(newBodyRequest(tt.body, tt.encoding, !tt.noLength), tt.limit, rb)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("body %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadBodyError(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/log", io.NopCloser(io.MultiReader(strings.NewReader("{"), errReader{})))
	if _, err := readBody(r, 1<<20, new(requestBuffers)); !errors.Is(err, errReadingBody) {
		t.Fatalf("err = %v, want errReadingBody", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// referenceDecode decodes a log body with encoding/json alone: what
// decodeLogBody must agree with.
func referenceDecode(b []byte) (key, logType string, records [][]byte, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return "", "", nil, err
	}
	str := func(name string) (string, error) {
		raw, ok := top[name]
		if !ok {
			return "", nil
		}
		if raw[0] != '"' {
			return "", errors.New(name + " is not a string")
		}
		var s string
		return s, json.Unmarshal(raw, &s)
	}
	if key, err = str("node_key"); err != nil {
		return "", "", nil, err
	}
	if logType, err = str("log_type"); err != nil {
		return "", "", nil, err
	}
	if raw, ok := top["data"]; ok {
		if raw[0] != '[' {
			return "", "", nil, errors.New("data is not an array")
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return "", "", nil, err
		}
		for _, e := range elems {
			if e[0] != '{' {
				return "", "", nil, errors.New("not an object")
			}
			var c bytes.Buffer
			if err := json.Compact(&c, e); err != nil {
				return "", "", nil, err
			}
			records = append(records, c.Bytes())
		}
	}
	return key, logType, records, nil
}

// FuzzLogBody checks the hand-written decoder against encoding/json: the
// same bodies accepted, the same node key, log type and records (compacted)
// out of them, and no panic on any input. Seeds are in testdata/fuzz.
func FuzzLogBody(f *testing.F) {
	f.Add([]byte(`{"node_key":"k1","log_type":"result","data":[` + eventRecord + `,` + batchRecord + `,` + snapshotRecord + `]}`))
	f.Add([]byte(`{"node_key":"k2","log_type":"status","data":[` + statusRecord + `,` + statusRecord46 + `]}`))
	f.Add([]byte("{ \"node\\u005fkey\" : \"k\\\"\" , \"data\" : [ { \"a\" : [ 1 , \"]\" ] } , { } ] }"))
	f.Add([]byte(`{"data":[{"a":1},"x"]}`))
	f.Add([]byte(`[]`))
	var body logBody
	f.Fuzz(func(t *testing.T, b []byte) {
		err := decodeLogBody(b, &body)
		key, logType, records, refErr := referenceDecode(b)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("decodeLogBody err = %v, encoding/json err = %v, body %q", err, refErr, b)
		}
		if err != nil {
			return
		}
		if body.nodeKey != key || body.logType != logType {
			t.Fatalf("node_key %q log_type %q, encoding/json %q %q", body.nodeKey, body.logType, key, logType)
		}
		if len(body.records) != len(records) {
			t.Fatalf("%d records, encoding/json %d", len(body.records), len(records))
		}
		for i := range records {
			if !bytes.Equal(body.records[i], records[i]) {
				t.Fatalf("record %d = %q, encoding/json %q", i, body.records[i], records[i])
			}
		}
	})
}
