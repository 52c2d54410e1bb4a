package lokipush

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

var (
	ts1 = time.Unix(1715350921, 123456789).UTC()
	ts2 = time.Unix(1715350922, 5).UTC()
)

func TestPushProtobuf(t *testing.T) {
	cfg := testConfig()
	cfg.Labels = model.LabelSet{"pushserver": "push1"}
	cfg.UseIncomingTimestamp = true
	h := start(t, cfg, nil)

	body := protoBody(t,
		push.Stream{Labels: `{app="api", env="prod"}`, Entries: []push.Entry{
			{Timestamp: ts1, Line: "first", StructuredMetadata: push.LabelsAdapter{{Name: "trace_id", Value: "abc"}}},
			{Timestamp: ts2, Line: "second"},
		}},
		push.Stream{Labels: `{app="db", pushserver="overridden"}`, Entries: []push.Entry{
			{Timestamp: ts2, Line: "third"},
		}},
	)
	status, text := post(t, h.url+PushPath, body, map[string]string{"Content-Type": "application/x-protobuf"})
	if status != http.StatusNoContent {
		t.Fatalf("status %d (%s), want 204", status, text)
	}
	want := []stages.Entry{
		{Labels: model.LabelSet{"app": "api", "env": "prod", "pushserver": "push1"}, Timestamp: ts1, Line: "first",
			StructuredMetadata: push.LabelsAdapter{{Name: "trace_id", Value: "abc"}}},
		{Labels: model.LabelSet{"app": "api", "env": "prod", "pushserver": "push1"}, Timestamp: ts2, Line: "second"},
		{Labels: model.LabelSet{"app": "db", "pushserver": "push1"}, Timestamp: ts2, Line: "third"},
	}
	assertEntries(t, h.got.All(), want)
	if got := testutil.ToFloat64(h.metrics.entries.WithLabelValues(testJob, endpointPush)); got != 3 {
		t.Errorf("entries metric = %v, want 3", got)
	}
	if got := testutil.ToFloat64(h.metrics.requests.WithLabelValues(testJob, endpointPush, "204")); got != 1 {
		t.Errorf("requests{204} = %v, want 1", got)
	}
}

func TestEntriesOwnTheirLabels(t *testing.T) {
	h := start(t, testConfig(), nil)
	body := protoBody(t, push.Stream{Labels: `{app="api"}`, Entries: []push.Entry{{Line: "a"}, {Line: "b"}, {Line: "c"}}})
	if status, text := post(t, h.url+PushPath, body, nil); status != http.StatusNoContent {
		t.Fatalf("status %d (%s)", status, text)
	}
	got := h.got.All()
	got[0].Labels["mutated"] = "yes"
	for _, e := range got[1:] {
		if _, ok := e.Labels["mutated"]; ok {
			t.Fatalf("entries share one label set: %v", e.Labels)
		}
	}
}

func TestPushJSON(t *testing.T) {
	cfg := testConfig()
	cfg.UseIncomingTimestamp = true
	h := start(t, cfg, nil)

	body := fmt.Sprintf(`{"streams": [
		{"stream": {"app": "api"}, "values": [
			[%q, "plain"],
			[%q, "with metadata", {"user": "alice", "code": 42, "trace_id": "t\u00e9"}]
		]},
		{"stream": {"app": "db", "__meta_x": "gone"}, "values": [[%q, "db line"]]}
	]}`, strconv.FormatInt(ts1.UnixNano(), 10), strconv.FormatInt(ts2.UnixNano(), 10), strconv.FormatInt(ts1.UnixNano(), 10))
	status, text := post(t, h.url+PushPath, []byte(body), map[string]string{"Content-Type": "application/json; charset=utf-8"})
	if status != http.StatusNoContent {
		t.Fatalf("status %d (%s), want 204", status, text)
	}
	want := []stages.Entry{
		{Labels: model.LabelSet{"app": "api"}, Timestamp: ts1, Line: "plain"},
		{Labels: model.LabelSet{"app": "api"}, Timestamp: ts2, Line: "with metadata", StructuredMetadata: push.LabelsAdapter{
			{Name: "code", Value: "42"}, {Name: "trace_id", Value: "té"}, {Name: "user", Value: "alice"},
		}},
		{Labels: model.LabelSet{"app": "db"}, Timestamp: ts1, Line: "db line"},
	}
	assertEntries(t, h.got.All(), want)
}

func TestContentEncodings(t *testing.T) {
	proto := protoBody(t, push.Stream{Labels: `{app="api"}`, Entries: []push.Entry{{Timestamp: ts1, Line: "proto line"}}})
	jsonBody := []byte(fmt.Sprintf(`{"streams":[{"stream":{"app":"api"},"values":[["%d","json line"]]}]}`, ts1.UnixNano()))
	const protoType, jsonType = "application/x-protobuf", "application/json"
	tests := []struct {
		name, contentType, encoding string
		body                        []byte
		wantLine                    string
	}{
		{"protobuf plain", protoType, "", proto, "proto line"},
		{"protobuf without content type", "", "", proto, "proto line"},
		{"protobuf snappy header", protoType, "snappy", proto, "proto line"},
		{"protobuf gzip", protoType, "gzip", gzipped(t, proto), "proto line"},
		{"protobuf deflate", protoType, "deflate", deflated(t, proto), "proto line"},
		{"json gzip", jsonType, "gzip", gzipped(t, jsonBody), "json line"},
		{"json deflate raw", jsonType, "deflate", deflated(t, jsonBody), "json line"},
		{"json deflate zlib", jsonType, "deflate", zlibbed(t, jsonBody), "json line"},
		{"json upper-case encoding", jsonType, "GZIP", gzipped(t, jsonBody), "json line"},
	}
	cfg := testConfig()
	cfg.UseIncomingTimestamp = true
	h := start(t, cfg, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.got.All())
			headers := map[string]string{"Content-Type": tt.contentType, "Content-Encoding": tt.encoding}
			if status, text := post(t, h.url+PushPath, tt.body, headers); status != http.StatusNoContent {
				t.Fatalf("status %d (%s), want 204", status, text)
			}
			got := h.got.All()[before:]
			want := []stages.Entry{{Labels: model.LabelSet{"app": "api"}, Timestamp: ts1, Line: tt.wantLine}}
			assertEntries(t, got, want)
		})
	}
}

func TestRawEndpoint(t *testing.T) {
	cfg := testConfig()
	cfg.Labels = model.LabelSet{"source": "raw"}
	cfg.UseIncomingTimestamp = true // the raw endpoint has no timestamps: always now
	h := start(t, cfg, []*relabel.Config{mustRelabel(t, relabel.Drop, "source", "raw")})

	tests := []struct {
		name, encoding string
		body           []byte
		want           []string
	}{
		{"plain", "", []byte("one\ntwo\r\n\n\n  three \nlast without newline"), []string{"one", "two", "  three ", "last without newline"}},
		{"gzip", "gzip", gzipped(t, []byte("g1\ng2\n")), []string{"g1", "g2"}},
		{"empty", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.got.All())
			start := time.Now()
			status, text := post(t, h.url+RawPath, tt.body, map[string]string{"Content-Encoding": tt.encoding})
			if status != http.StatusNoContent {
				t.Fatalf("status %d (%s), want 204", status, text)
			}
			got := h.got.All()[before:]
			if !slices.Equal(lines(got), tt.want) {
				t.Fatalf("lines %q, want %q", lines(got), tt.want)
			}
			for _, e := range got {
				// Promtail applies neither relabel_configs nor incoming
				// timestamps to raw lines.
				if !reflect.DeepEqual(e.Labels, model.LabelSet{"source": "raw"}) {
					t.Errorf("labels %v, want the config labels", e.Labels)
				}
				if e.Timestamp.Before(start) || e.Timestamp.After(time.Now()) {
					t.Errorf("timestamp %v is not the time of arrival", e.Timestamp)
				}
			}
		})
	}
	if got := testutil.ToFloat64(h.metrics.entries.WithLabelValues(testJob, endpointRaw)); got != 6 {
		t.Errorf("raw entries metric = %v, want 6", got)
	}
}

func TestRelabelDropsOneStreamOfThree(t *testing.T) {
	cfg := testConfig()
	cfg.Labels = model.LabelSet{"__pushed": "yes"}
	rc := []*relabel.Config{
		mustRelabel(t, relabel.Drop, "app", "noisy"),
		{
			SourceLabels: model.LabelNames{"__pushed", "app"}, Separator: "-", Regex: relabel.MustNewRegexp("(.*)"),
			TargetLabel: "origin", Replacement: "$1", Action: relabel.Replace, NameValidationScheme: model.UTF8Validation,
		},
	}
	h := start(t, cfg, rc)

	body := protoBody(t,
		push.Stream{Labels: `{app="api"}`, Entries: []push.Entry{{Line: "api 1"}, {Line: "api 2"}}},
		push.Stream{Labels: `{app="noisy"}`, Entries: []push.Entry{{Line: "noise 1"}, {Line: "noise 2"}, {Line: "noise 3"}}},
		push.Stream{Labels: `{app="db", __internal="x"}`, Entries: []push.Entry{{Line: "db 1"}}},
	)
	if status, text := post(t, h.url+PushPath, body, nil); status != http.StatusNoContent {
		t.Fatalf("status %d (%s), want 204", status, text)
	}
	got := h.got.All()
	if want := []string{"api 1", "api 2", "db 1"}; !slices.Equal(lines(got), want) {
		t.Fatalf("lines %q, want %q (the stream after the dropped one must arrive)", lines(got), want)
	}
	if want := (model.LabelSet{"app": "api", "origin": "yes-api"}); !reflect.DeepEqual(got[0].Labels, want) {
		t.Errorf("labels %v, want %v (config labels seen by relabeling, __ labels dropped after)", got[0].Labels, want)
	}
	if want := (model.LabelSet{"app": "db", "origin": "yes-db"}); !reflect.DeepEqual(got[2].Labels, want) {
		t.Errorf("labels %v, want %v", got[2].Labels, want)
	}
	if n := testutil.ToFloat64(h.metrics.droppedStreams.WithLabelValues(testJob, reasonRelabelDrop)); n != 1 {
		t.Errorf("dropped streams = %v, want 1", n)
	}
	if n := testutil.ToFloat64(h.metrics.droppedEntries.WithLabelValues(testJob, reasonRelabelDrop)); n != 3 {
		t.Errorf("dropped entries = %v, want 3", n)
	}
}

func TestStreamLeftWithoutLabelsIsDropped(t *testing.T) {
	h := start(t, testConfig(), nil)
	body := protoBody(t,
		push.Stream{Labels: `{__only="internal"}`, Entries: []push.Entry{{Line: "lost"}}},
		push.Stream{Labels: `{}`, Entries: []push.Entry{{Line: "lost too"}}},
		push.Stream{Labels: `{app="api"}`, Entries: []push.Entry{{Line: "kept"}}},
	)
	if status, text := post(t, h.url+PushPath, body, nil); status != http.StatusNoContent {
		t.Fatalf("status %d (%s), want 204", status, text)
	}
	if got := lines(h.got.All()); !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("lines %q, want [kept]", got)
	}
	if n := testutil.ToFloat64(h.metrics.droppedStreams.WithLabelValues(testJob, reasonNoLabels)); n != 2 {
		t.Errorf("dropped streams = %v, want 2", n)
	}
}

func TestTimestamps(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("use_incoming_timestamp=%v", keep), func(t *testing.T) {
			cfg := testConfig()
			cfg.UseIncomingTimestamp = keep
			h := start(t, cfg, nil)
			before := time.Now()
			body := protoBody(t, push.Stream{Labels: `{app="api"}`, Entries: []push.Entry{{Timestamp: ts1, Line: "x"}}})
			if status, text := post(t, h.url+PushPath, body, nil); status != http.StatusNoContent {
				t.Fatalf("status %d (%s)", status, text)
			}
			got := h.got.All()[0].Timestamp
			if keep && !got.Equal(ts1) {
				t.Errorf("timestamp %v, want the pushed %v", got, ts1)
			}
			if !keep && (got.Before(before) || got.After(time.Now())) {
				t.Errorf("timestamp %v, want the time of arrival", got)
			}
		})
	}
}

// Promtail does not carry the tenant of a pushed request over: entries go
// to the tenant of the agent's own clients (or a tenant stage).
func TestTenantHeaderIsNotPropagated(t *testing.T) {
	h := start(t, testConfig(), nil)
	body := protoBody(t, push.Stream{Labels: `{app="api"}`, Entries: []push.Entry{{Line: "x"}}})
	if status, text := post(t, h.url+PushPath, body, map[string]string{"X-Scope-OrgID": "team-a"}); status != http.StatusNoContent {
		t.Fatalf("status %d (%s)", status, text)
	}
	if got := h.got.All()[0].Labels; !reflect.DeepEqual(got, model.LabelSet{"app": "api"}) {
		t.Errorf("labels %v, want only the stream's", got)
	}
}

func TestBadRequests(t *testing.T) {
	valid := protoBody(t, push.Stream{Labels: `{app="api"}`, Entries: []push.Entry{{Line: "valid"}}})
	huge := bytes.Repeat([]byte("a"), 4096)
	tests := []struct {
		name       string
		path       string
		method     string
		headers    map[string]string
		body       []byte
		wantStatus int
		wantReason string
		wantText   string
	}{
		{name: "garbage snappy", body: []byte("\xff\xff\xff\xff\xff not snappy"), wantStatus: 400, wantReason: reasonMalformed, wantText: "snappy"},
		{name: "garbage protobuf", body: snappyOf([]byte("\x0a\xff\xff\xff")), wantStatus: 400, wantReason: reasonMalformed, wantText: "protobuf"},
		{
			name: "invalid stream labels refuse the whole request",
			body: protoBody(t,
				push.Stream{Labels: `{app="ok"}`, Entries: []push.Entry{{Line: "not handed"}}},
				push.Stream{Labels: `{app=~"regex"}`, Entries: []push.Entry{{Line: "x"}}}),
			wantStatus: 400, wantReason: reasonInvalidLabels, wantText: "stream 1",
		},
		{
			name:       "duplicate label",
			body:       protoBody(t, push.Stream{Labels: `{a="1", a="2"}`, Entries: []push.Entry{{Line: "x"}}}),
			wantStatus: 400, wantReason: reasonInvalidLabels, wantText: `label "a" appears twice`,
		},
		{
			name:       "label value not UTF-8",
			body:       protoBody(t, push.Stream{Labels: "{a=\"\xff\"}", Entries: []push.Entry{{Line: "x"}}}),
			wantStatus: 400, wantReason: reasonInvalidLabels, wantText: "UTF-8",
		},
		{
			name: "structured metadata name empty",
			body: protoBody(t, push.Stream{Labels: `{a="1"}`, Entries: []push.Entry{
				{Line: "x", StructuredMetadata: push.LabelsAdapter{{Name: "", Value: "v"}}}}}),
			wantStatus: 400, wantReason: reasonInvalidLabels, wantText: "structured metadata",
		},
		{name: "json syntax", headers: jsonType, body: []byte(`{"streams": [`), wantStatus: 400, wantReason: reasonMalformed, wantText: "JSON"},
		{name: "json timestamp not a string", headers: jsonType, body: []byte(`{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}`), wantStatus: 400, wantReason: reasonMalformed, wantText: "timestamp"},
		{name: "json timestamp not a number", headers: jsonType, body: []byte(`{"streams":[{"stream":{"a":"b"},"values":[["yesterday","x"]]}]}`), wantStatus: 400, wantReason: reasonMalformed, wantText: "Unix nanoseconds"},
		{name: "json entry arity", headers: jsonType, body: []byte(`{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}`), wantStatus: 400, wantReason: reasonMalformed, wantText: "not 1 values"},
		{name: "json line not a string", headers: jsonType, body: []byte(`{"streams":[{"stream":{"a":"b"},"values":[["1",{}]]}]}`), wantStatus: 400, wantReason: reasonMalformed, wantText: "line"},
		{name: "json metadata not strings", headers: jsonType, body: []byte(`{"streams":[{"stream":{"a":"b"},"values":[["1","x",{"k":[1]}]]}]}`), wantStatus: 400, wantReason: reasonMalformed, wantText: `structured metadata "k"`},
		{name: "json label value not a string", headers: jsonType, body: []byte(`{"streams":[{"stream":{"a":1},"values":[]}]}`), wantStatus: 400, wantReason: reasonMalformed},
		{name: "json invalid label name", headers: jsonType, body: []byte(`{"streams":[{"stream":{"":"b"},"values":[]}]}`), wantStatus: 400, wantReason: reasonInvalidLabels, wantText: "invalid label name"},
		{name: "unsupported encoding", headers: map[string]string{"Content-Encoding": "br"}, body: valid, wantStatus: 400, wantReason: reasonEncoding, wantText: `"br" is not supported`},
		{name: "corrupt gzip header", headers: map[string]string{"Content-Encoding": "gzip"}, body: valid, wantStatus: 400, wantReason: reasonDecompression, wantText: "gzip"},
		{name: "truncated gzip", headers: map[string]string{"Content-Encoding": "gzip"}, body: gzipped(t, valid)[:20], wantStatus: 400, wantReason: reasonDecompression, wantText: "gzip"},
		{name: "corrupt deflate", headers: map[string]string{"Content-Encoding": "deflate"}, body: []byte("\xff\xff\xff"), wantStatus: 400, wantReason: reasonDecompression, wantText: "deflate"},
		{name: "oversized body", body: huge, wantStatus: 413, wantReason: reasonTooLarge, wantText: "max_send_msg_size"},
		{name: "oversized raw body", path: RawPath, body: huge, wantStatus: 413, wantReason: reasonTooLarge},
		{name: "gzip expanding past the limit", headers: map[string]string{"Content-Encoding": "gzip"}, body: gzipped(t, huge), wantStatus: 413, wantReason: reasonTooLarge, wantText: "expands"},
		{name: "snappy expanding past the limit", body: snappyOf(huge), wantStatus: 413, wantReason: reasonTooLarge, wantText: "decompressed"},
		{name: "raw corrupt gzip", path: RawPath, headers: map[string]string{"Content-Encoding": "gzip"}, body: []byte("nope"), wantStatus: 400, wantReason: reasonDecompression},
		{name: "raw does not take snappy", path: RawPath, headers: map[string]string{"Content-Encoding": "snappy"}, body: []byte("x"), wantStatus: 400, wantReason: reasonEncoding},
		{name: "GET on push", method: http.MethodGet, wantStatus: 405},
		{name: "POST on ready", path: ReadyPath, wantStatus: 405},
		{name: "unknown path", path: "/loki/api/v1/tail", wantStatus: 404},
	}
	cfg := testConfig()
	cfg.MaxSendMsgSize = 1024
	h := start(t, cfg, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = PushPath
			}
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			var before float64
			if tt.wantReason != "" {
				before = testutil.ToFloat64(h.metrics.parsingErrors.WithLabelValues(testJob, tt.wantReason))
			}
			req, err := http.NewRequest(method, h.url+path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			text, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, text, tt.wantStatus)
			}
			if !strings.Contains(string(text), tt.wantText) {
				t.Errorf("answer %q does not mention %q", text, tt.wantText)
			}
			if tt.wantReason != "" {
				if got := testutil.ToFloat64(h.metrics.parsingErrors.WithLabelValues(testJob, tt.wantReason)); got != before+1 {
					t.Errorf("parsing errors{%s} = %v, want %v", tt.wantReason, got, before+1)
				}
			}
			if got := h.got.All(); len(got) != 0 {
				t.Errorf("a refused request handed on %q", lines(got))
			}
		})
	}
}

var jsonType = map[string]string{"Content-Type": "application/json"}

// TestOversizedChunkedBody covers a body without Content-Length, which only
// the read limit catches.
func TestOversizedChunkedBody(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSendMsgSize = 1024
	h := start(t, cfg, nil)
	for _, path := range []string{PushPath, RawPath} {
		pr, pw := io.Pipe()
		go func() {
			// Short lines: the raw endpoint hands on what it read before
			// the limit, as Promtail does.
			_, _ = pw.Write(bytes.Repeat([]byte("line\n"), 400))
			_ = pw.Close()
		}()
		req, err := http.NewRequest(http.MethodPost, h.url+path, pr)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: status %d, want 413", path, resp.StatusCode)
		}
	}
	if got := len(h.got.All()); got != 1024/5 {
		t.Errorf("raw lines handed before the limit = %d, want %d", got, 1024/5)
	}
}

func TestReadyAndPathPrefix(t *testing.T) {
	cfg := testConfig()
	cfg.Server.HTTPPathPrefix = "edge/"
	h := start(t, cfg, nil)
	resp, err := http.Get(h.url + "/edge" + ReadyPath)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(text) != "ready" {
		t.Fatalf("ready: %d %q, want 200 \"ready\"", resp.StatusCode, text)
	}
	body := protoBody(t, push.Stream{Labels: `{app="api"}`, Entries: []push.Entry{{Line: "x"}}})
	if status, _ := post(t, h.url+PushPath, body, nil); status != http.StatusNotFound {
		t.Errorf("push without the prefix: status %d, want 404", status)
	}
	if status, text := post(t, h.url+"/edge"+PushPath, body, nil); status != http.StatusNoContent {
		t.Errorf("push with the prefix: status %d (%s), want 204", status, text)
	}
}

func TestNewErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name  string
		edit  func(c *config.PushConfig)
		wants []string
	}{
		{"negative max_send_msg_size", func(c *config.PushConfig) { c.MaxSendMsgSize = -1 }, []string{`job "push"`, "loki_push_api.max_send_msg_size"}},
		{"tls key pair incomplete", func(c *config.PushConfig) { c.Server.HTTPTLSConfig.CertFile = "cert.pem" }, []string{`job "push"`, "loki_push_api.server", "http_tls_config"}},
		{"network", func(c *config.PushConfig) { c.Server.HTTPListenNetwork = "unix" }, []string{"loki_push_api.server.http_listen_network", `"unix"`}},
		{"port in use", func(c *config.PushConfig) { c.Server.HTTPListenPort = busyPort }, []string{"loki_push_api.server", "listening on 127.0.0.1:" + strconv.Itoa(busyPort)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.edit(cfg)
			target, err := New(nil, NewMetrics(nil), testJob, cfg, nil, &collector{})
			if err == nil {
				target.Stop()
				t.Fatal("New succeeded, want an error")
			}
			for _, want := range tt.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// TestStopAbandonsBlockedRequest: a pipeline that never frees up must not
// keep Stop waiting past graceful_shutdown_timeout plus the entry in hand.
func TestStopAbandonsBlockedRequest(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var handed []string
	blocking := api.EntryHandlerFunc(func(e stages.Entry) {
		mu.Lock()
		handed = append(handed, e.Line)
		first := len(handed) == 1
		mu.Unlock()
		if first {
			<-release
		}
	})
	cfg := testConfig()
	cfg.Server.GracefulShutdownTimeout = 50 * time.Millisecond
	h := startWith(t, cfg, nil, blocking)

	body := protoBody(t, push.Stream{Labels: `{app="api"}`, Entries: []push.Entry{{Line: "1"}, {Line: "2"}, {Line: "3"}}})
	answered := make(chan error, 1)
	go func() {
		resp, err := http.Post(h.url+PushPath, "application/x-protobuf", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				err = fmt.Errorf("status %d, want 503 or a closed connection", resp.StatusCode)
			} else {
				err = errors.New("503")
			}
		}
		answered <- err
	}()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(handed) == 1 })

	stopped := make(chan struct{})
	go func() {
		h.target.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("Stop returned while a request handler was still running")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return after the pipeline freed up")
	}
	if err := <-answered; err != nil && !strings.Contains(err.Error(), "503") && !isConnClosed(err) {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(handed, []string{"1"}) {
		t.Errorf("handed %q after Stop, want only the entry in hand", handed)
	}
	if _, err := http.Get(h.url + ReadyPath); err == nil {
		t.Error("the server still answers after Stop")
	}
}

func isConnClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "connection reset") ||
		strings.Contains(err.Error(), "EOF")
}

func TestConcurrentPushes(t *testing.T) {
	h := start(t, testConfig(), nil)
	const clients, requests, perRequest = 4, 10, 50
	entries := make([]push.Entry, perRequest)
	for i := range entries {
		entries[i] = push.Entry{Line: "line " + strconv.Itoa(i)}
	}
	body := protoBody(t, push.Stream{Labels: `{app="api"}`, Entries: entries})
	var wg sync.WaitGroup
	errs := make(chan error, clients*requests)
	for range clients {
		wg.Go(func() {
			for range requests {
				resp, err := http.Post(h.url+PushPath, "application/x-protobuf", bytes.NewReader(body))
				if err != nil {
					errs <- err
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(h.got.All()); got != clients*requests*perRequest {
		t.Errorf("%d entries, want %d", got, clients*requests*perRequest)
	}
}

func TestMetricsRegisterOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	for range 2 {
		cfg := testConfig()
		target, err := New(slog.New(slog.DiscardHandler), m, testJob, cfg, nil, &collector{})
		if err != nil {
			t.Fatal(err)
		}
		target.Stop()
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func assertEntries(t *testing.T, got, want []stages.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d entries %q, want %d %q", len(got), lines(got), len(want), lines(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Line != w.Line || !g.Timestamp.Equal(w.Timestamp) || !reflect.DeepEqual(g.Labels, w.Labels) ||
			!slices.Equal(g.StructuredMetadata, w.StructuredMetadata) {
			t.Errorf("entry %d:\n got  %v %v %q %v\n want %v %v %q %v", i,
				g.Labels, g.Timestamp, g.Line, g.StructuredMetadata, w.Labels, w.Timestamp, w.Line, w.StructuredMetadata)
		}
	}
}
