package client

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

func TestBatching(t *testing.T) {
	tests := []struct {
		name      string
		batchSize int
		batchWait time.Duration
		entries   []stages.Entry
		// want is the entries of each request, in order.
		want [][]string
	}{
		{
			name:      "size: a batch is sent before the entry that would overflow it",
			batchSize: 10,
			batchWait: time.Hour,
			entries:   []stages.Entry{entry("aaaa", "j", "1"), entry("bbbb", "j", "1"), entry("cccc", "j", "1"), entry("dd", "j", "2")},
			want: [][]string{
				{`{j="1"} aaaa`, `{j="1"} bbbb`},
				{`{j="1"} cccc`, `{j="2"} dd`},
			},
		},
		{
			name:      "size: an entry larger than batchsize goes alone",
			batchSize: 3,
			batchWait: time.Hour,
			entries:   []stages.Entry{entry("a", "j", "1"), entry("bbbbbb", "j", "1"), entry("c", "j", "1")},
			want:      [][]string{{`{j="1"} a`}, {`{j="1"} bbbbbb`}, {`{j="1"} c`}},
		},
		{
			name:      "wait: entries are grouped by stream in one request",
			batchSize: 1 << 20,
			batchWait: 30 * time.Millisecond,
			entries:   []stages.Entry{entry("1", "j", "a"), entry("2", "j", "b"), entry("3", "j", "a")},
			want:      [][]string{{`{j="a"} 1`, `{j="a"} 3`, `{j="b"} 2`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loki := newFakeLoki(t, nil)
			cfg := testConfig(t, loki.srv.URL)
			cfg.BatchSize = tt.batchSize
			cfg.BatchWait = tt.batchWait
			m, _ := startManager(t, Options{}, cfg)
			start := time.Now()
			for _, e := range tt.entries {
				m.Handle(e)
			}
			sizeOnly := tt.batchWait == time.Hour
			if sizeOnly {
				loki.waitRequests(len(tt.want) - 1)
				m.Stop() // the last batch only goes out on the final flush
			} else {
				loki.waitRequests(len(tt.want))
				if waited := time.Since(start); waited < tt.batchWait {
					t.Errorf("batch sent after %v, before batchwait %v", waited, tt.batchWait)
				}
			}
			got := loki.pushes()
			if len(got) != len(tt.want) {
				t.Fatalf("got %d requests, want %d", len(got), len(tt.want))
			}
			for i, p := range got {
				entries := p.entries()
				slices.Sort(entries)
				if !slices.Equal(entries, tt.want[i]) {
					t.Errorf("request %d: got %q, want %q", i, entries, tt.want[i])
				}
			}
		})
	}
}

func TestStructuredMetadataCountsTowardsBatchSize(t *testing.T) {
	loki := newFakeLoki(t, nil)
	cfg := testConfig(t, loki.srv.URL)
	cfg.BatchWait = time.Hour
	meta := push.LabelsAdapter{{Name: "k", Value: "v"}} // 6 bytes on the wire
	cfg.BatchSize = 2*(4+6) - 1
	m, _ := startManager(t, Options{}, cfg)
	for _, line := range []string{"aaaa", "bbbb"} {
		e := entry(line, "j", "1")
		e.StructuredMetadata = meta
		m.Handle(e)
	}
	loki.waitRequests(1)
	got := loki.pushes()[0].request.Streams[0].Entries
	if len(got) != 1 || got[0].Line != "aaaa" || !slices.Equal(got[0].StructuredMetadata, meta) {
		t.Errorf("first request holds %+v, want only aaaa with its metadata", got)
	}
}

func TestTenants(t *testing.T) {
	tests := []struct {
		name       string
		tenantID   string
		external   model.LabelSet
		labels     []string
		wantTenant string // "" = no X-Scope-OrgID header
		wantLabels string
	}{
		{"no tenant", "", nil, []string{"a", "1"}, "", `{a="1"}`},
		{"configured tenant", "cfg", nil, []string{"a", "1"}, "cfg", `{a="1"}`},
		{"label wins over config", "cfg", nil, []string{"a", "1", "__tenant_id__", "lbl"}, "lbl", `{a="1"}`},
		{"empty tenant label means no tenant", "cfg", nil, []string{"a", "1", "__tenant_id__", ""}, "", `{a="1"}`},
		{"tenant from external labels", "cfg", model.LabelSet{"__tenant_id__": "ext"}, []string{"a", "1"}, "ext", `{a="1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loki := newFakeLoki(t, nil)
			cfg := testConfig(t, loki.srv.URL)
			cfg.TenantID = tt.tenantID
			cfg.ExternalLabels = tt.external
			m, _ := startManager(t, Options{}, cfg)
			m.Handle(entry("x", tt.labels...))
			loki.waitRequests(1)
			p := loki.pushes()[0]
			if got := p.header.Get("X-Scope-OrgID"); got != tt.wantTenant {
				t.Errorf("X-Scope-OrgID = %q, want %q", got, tt.wantTenant)
			}
			if _, present := p.header["X-Scope-Orgid"]; present != (tt.wantTenant != "") {
				t.Errorf("X-Scope-OrgID present = %v", present)
			}
			if got := p.request.Streams[0].Labels; got != tt.wantLabels {
				t.Errorf("stream labels %s, want %s", got, tt.wantLabels)
			}
		})
	}
}

func TestOneBatchPerTenant(t *testing.T) {
	loki := newFakeLoki(t, nil)
	cfg := testConfig(t, loki.srv.URL)
	cfg.BatchWait = time.Hour
	m, _ := startManager(t, Options{}, cfg)
	for i := 0; i < 3; i++ {
		for _, tenant := range []string{"t1", "t2"} {
			m.Handle(entry(fmt.Sprint(i), "__tenant_id__", tenant, "j", "x"))
		}
	}
	m.Stop()
	got := map[string][]string{}
	for _, p := range loki.pushes() {
		tenant := p.header.Get("X-Scope-OrgID")
		got[tenant] = append(got[tenant], p.entries()...)
	}
	want := []string{`{j="x"} 0`, `{j="x"} 1`, `{j="x"} 2`}
	if len(loki.pushes()) != 2 || !slices.Equal(got["t1"], want) || !slices.Equal(got["t2"], want) {
		t.Errorf("got %d requests: %v", len(loki.pushes()), got)
	}
}

func TestExternalLabels(t *testing.T) {
	loki := newFakeLoki(t, nil)
	cfg := testConfig(t, loki.srv.URL)
	cfg.ExternalLabels = model.LabelSet{"host": "h1", "env": "prod"}
	m, _ := startManager(t, Options{}, cfg)
	a := entry("a", "job", "j")
	b := entry("b", "job", "j", "env", "dev")
	m.Handle(a)
	m.Handle(b)
	loki.waitRequests(1)
	got := loki.allEntries()
	slices.Sort(got)
	want := []string{`{env="dev", host="h1", job="j"} b`, `{env="prod", host="h1", job="j"} a`}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(a.Labels) != 1 || len(b.Labels) != 2 || b.Labels["env"] != "dev" {
		t.Errorf("entry labels were changed: %v %v", a.Labels, b.Labels)
	}
	if len(cfg.ExternalLabels) != 2 {
		t.Errorf("external labels were changed: %v", cfg.ExternalLabels)
	}
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		name     string
		tenant   string
		headers  map[string]string
		want     map[string]string
		wantGone []string
	}{
		{
			name:     "fixed headers",
			want:     map[string]string{"Content-Type": "application/x-protobuf", "User-Agent": "promtail/"},
			wantGone: []string{"Content-Encoding", "X-Scope-OrgID"},
		},
		{
			name:    "configured headers added, fixed ones kept",
			headers: map[string]string{"x-custom": "1", "content-type": "text/plain", "User-Agent": "me"},
			want:    map[string]string{"X-Custom": "1", "Content-Type": "application/x-protobuf", "User-Agent": "promtail/"},
		},
		{
			name:    "configured X-Scope-OrgID sent without a tenant",
			headers: map[string]string{"X-Scope-OrgID": "from-header"},
			want:    map[string]string{"X-Scope-OrgID": "from-header"},
		},
		{
			name:    "tenant replaces configured X-Scope-OrgID",
			tenant:  "t",
			headers: map[string]string{"X-Scope-OrgID": "from-header"},
			want:    map[string]string{"X-Scope-OrgID": "t"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loki := newFakeLoki(t, nil)
			cfg := testConfig(t, loki.srv.URL)
			cfg.TenantID = tt.tenant
			cfg.Headers = tt.headers
			m, _ := startManager(t, Options{}, cfg)
			m.Handle(entry("x", "a", "b"))
			loki.waitRequests(1)
			h := loki.pushes()[0].header
			for k, v := range tt.want {
				if got := h.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want [%q]", k, got, v)
				}
			}
			for _, k := range tt.wantGone {
				if _, ok := h[http.CanonicalHeaderKey(k)]; ok {
					t.Errorf("unexpected header %s: %q", k, h.Get(k))
				}
			}
		})
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name   string
		client promconfig.HTTPClientConfig
		want   string
	}{
		{"basic auth", promconfig.HTTPClientConfig{BasicAuth: &promconfig.BasicAuth{Username: "u", Password: "p"}}, "Basic dTpw"},
		{"bearer token", promconfig.HTTPClientConfig{BearerToken: "tok"}, "Bearer tok"},
		{"authorization", promconfig.HTTPClientConfig{Authorization: &promconfig.Authorization{Type: "Custom", Credentials: "c"}}, "Custom c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loki := newFakeLoki(t, nil)
			cfg := testConfig(t, loki.srv.URL)
			cfg.Client = tt.client
			m, _ := startManager(t, Options{}, cfg)
			m.Handle(entry("x", "a", "b"))
			loki.waitRequests(1)
			if got := loki.pushes()[0].header.Get("Authorization"); got != tt.want {
				t.Errorf("Authorization = %q, want %q", got, tt.want)
			}
		})
	}
}

// sequence answers the n-th request with codes[n], and the last code after.
func sequence(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		code := codes[min(n, len(codes)-1)]
		w.WriteHeader(code)
		if code/100 != 2 {
			fmt.Fprintf(w, "status %d line one\nline two\n", code)
		}
	}
}

func TestRetries(t *testing.T) {
	type counts struct{ sent, ingesterError, rateLimited, retries float64 }
	tests := []struct {
		name         string
		respond      func(int, http.ResponseWriter, *http.Request)
		dropLimited  bool
		maxRetries   int
		wantRequests int
		want         counts
		wantStatuses map[string]float64
	}{
		{"2xx accepted", sequence(200), false, 3, 1, counts{sent: 1}, map[string]float64{"200": 1}},
		{"400 dropped at once", sequence(400), false, 3, 1, counts{ingesterError: 1}, map[string]float64{"400": 1}},
		{"404 dropped at once", sequence(404), false, 3, 1, counts{ingesterError: 1}, map[string]float64{"404": 1}},
		{"500 retried then sent", sequence(500, 503, 204), false, 5, 3, counts{sent: 1, retries: 2}, map[string]float64{"500": 1, "503": 1, "204": 1}},
		{"429 retried then sent", sequence(429, 204), false, 5, 2, counts{sent: 1, retries: 1}, map[string]float64{"429": 1, "204": 1}},
		{"429 until out of attempts", sequence(429), false, 3, 3, counts{rateLimited: 1, retries: 3}, map[string]float64{"429": 3}},
		{"last status decides the reason", sequence(429, 429, 500), false, 3, 3, counts{ingesterError: 1, retries: 3}, map[string]float64{"429": 2, "500": 1}},
		{"500 until out of attempts", sequence(500), false, 2, 2, counts{ingesterError: 1, retries: 2}, map[string]float64{"500": 2}},
		{"429 dropped at once with drop_rate_limited_batches", sequence(429), true, 3, 1, counts{rateLimited: 1}, map[string]float64{"429": 1}},
		{"500 still retried with drop_rate_limited_batches", sequence(500, 204), true, 3, 2, counts{sent: 1, retries: 1}, map[string]float64{"500": 1, "204": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loki := newFakeLoki(t, tt.respond)
			cfg := testConfig(t, loki.srv.URL)
			cfg.DropRateLimitedBatches = tt.dropLimited
			cfg.Backoff.MaxRetries = tt.maxRetries
			m, reg := startManager(t, Options{}, cfg)
			m.Handle(entry("x", "a", "b"))
			loki.waitRequests(tt.wantRequests)
			m.Stop()
			if got := loki.requests(); got != tt.wantRequests {
				t.Errorf("%d requests, want %d", got, tt.wantRequests)
			}
			host := loki.srv.Listener.Addr().String()
			got := counts{
				sent:          metricValue(t, reg, "promtail_sent_entries_total", map[string]string{"host": host}),
				ingesterError: metricValue(t, reg, "promtail_dropped_entries_total", map[string]string{"host": host, "tenant": "", "reason": "ingester_error"}),
				rateLimited:   metricValue(t, reg, "promtail_dropped_entries_total", map[string]string{"host": host, "tenant": "", "reason": "rate_limited"}),
				retries:       metricValue(t, reg, "promtail_batch_retries_total", map[string]string{"host": host, "tenant": ""}),
			}
			if got != tt.want {
				t.Errorf("metrics %+v, want %+v", got, tt.want)
			}
			for code, n := range tt.wantStatuses {
				if got := metricValue(t, reg, "promtail_request_duration_seconds", map[string]string{"host": host, "status_code": code}); got != n {
					t.Errorf("request_duration_seconds{status_code=%q} count = %v, want %v", code, got, n)
				}
			}
		})
	}
}

func TestErrorBodyFirstLine(t *testing.T) {
	tests := []struct {
		body string
		want string
	}{
		{"entry too far behind\nsecond line", "entry too far behind"},
		{"windows line\r\nnext", "windows line"},
		{"", ""},
		{strings.Repeat("x", 3000), strings.Repeat("x", maxErrorLine)},
	}
	for _, tt := range tests {
		if got := firstLine(strings.NewReader(tt.body)); got != tt.want {
			t.Errorf("firstLine(%.20q...) = %.20q... (%d bytes), want %d bytes", tt.body, got, len(got), len(tt.want))
		}
	}
}

func TestHangingServerTimesOutThenRetries(t *testing.T) {
	loki := newFakeLoki(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			<-r.Context().Done() // never answer; the client's timeout ends it
		}
		w.WriteHeader(http.StatusNoContent)
	})
	cfg := testConfig(t, loki.srv.URL)
	cfg.Timeout = 50 * time.Millisecond
	m, reg := startManager(t, Options{}, cfg)
	m.Handle(entry("x", "a", "b"))
	loki.waitRequests(2)
	m.Stop()
	host := loki.srv.Listener.Addr().String()
	if got := metricValue(t, reg, "promtail_request_duration_seconds", map[string]string{"host": host, "status_code": "-1"}); got != 1 {
		t.Errorf("%v timed-out requests recorded, want 1", got)
	}
	if got := metricValue(t, reg, "promtail_sent_entries_total", map[string]string{"host": host}); got != 1 {
		t.Errorf("sent entries %v, want 1", got)
	}
	if got := loki.allEntries(); len(got) != 1 {
		t.Errorf("Loki stored %q", got)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestTransportErrorRetriedThenDropped(t *testing.T) {
	addr := closedPort(t)
	cfg := testConfig(t, "http://"+addr+"/loki/api/v1/push")
	cfg.Backoff.MaxRetries = 4
	m, reg := startManager(t, Options{}, cfg)
	m.Handle(entry("abc", "a", "b"))
	m.Stop()
	if got := metricValue(t, reg, "promtail_request_duration_seconds", map[string]string{"host": addr, "status_code": "-1"}); got != 4 {
		t.Errorf("%v attempts recorded, want 4", got)
	}
	labels := map[string]string{"host": addr, "tenant": "", "reason": "ingester_error"}
	if got := metricValue(t, reg, "promtail_dropped_entries_total", labels); got != 1 {
		t.Errorf("dropped entries %v, want 1", got)
	}
	encoded := metricValue(t, reg, "promtail_encoded_bytes_total", map[string]string{"host": addr})
	if got := metricValue(t, reg, "promtail_dropped_bytes_total", labels); got != encoded || got <= 0 {
		t.Errorf("dropped bytes %v, want the %v encoded bytes", got, encoded)
	}
}

func TestMaxRetriesZeroRetriesUntilStop(t *testing.T) {
	loki := newFakeLoki(t, status(http.StatusServiceUnavailable))
	cfg := testConfig(t, loki.srv.URL)
	cfg.Backoff = config.BackoffConfig{MinPeriod: time.Millisecond, MaxPeriod: time.Millisecond, MaxRetries: 0}
	m, reg := startManager(t, Options{FlushTimeout: 100 * time.Millisecond}, cfg)
	m.Handle(entry("x", "a", "b"))
	loki.waitRequests(20)
	start := time.Now()
	m.Stop()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Stop took %v with a 100ms flush timeout", took)
	}
	host := loki.srv.Listener.Addr().String()
	if got := metricValue(t, reg, "promtail_dropped_entries_total", map[string]string{"host": host, "tenant": "", "reason": "ingester_error"}); got != 1 {
		t.Errorf("dropped entries %v, want 1", got)
	}
}

func TestStopNowInterruptsBackoff(t *testing.T) {
	loki := newFakeLoki(t, status(http.StatusInternalServerError))
	cfg := testConfig(t, loki.srv.URL)
	cfg.Backoff = config.BackoffConfig{MinPeriod: time.Hour, MaxPeriod: time.Hour, MaxRetries: 10}
	m, reg := startManager(t, Options{FlushTimeout: time.Minute}, cfg)
	m.Handle(entry("x", "a", "b"))
	loki.waitRequests(1)
	start := time.Now()
	m.StopNow()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("StopNow took %v during an hour-long backoff", took)
	}
	host := loki.srv.Listener.Addr().String()
	if got := metricValue(t, reg, "promtail_dropped_entries_total", map[string]string{"host": host, "tenant": "", "reason": "ingester_error"}); got != 1 {
		t.Errorf("dropped entries %v, want 1", got)
	}
}

func TestStopFlushesPendingBatches(t *testing.T) {
	loki := newFakeLoki(t, nil)
	cfg := testConfig(t, loki.srv.URL)
	cfg.BatchWait = time.Hour
	m, _ := startManager(t, Options{}, cfg)
	for i := 0; i < 100; i++ {
		m.Handle(entry(fmt.Sprint(i), "__tenant_id__", fmt.Sprint(i%3), "j", "x"))
	}
	m.Stop()
	if got := len(loki.allEntries()); got != 100 {
		t.Errorf("Loki got %d entries after Stop, want 100", got)
	}
	m.Handle(entry("late", "j", "x")) // dropped, must not panic or block
	m.Stop()
	m.StopNow()
}

func TestStopBoundedByFlushTimeout(t *testing.T) {
	release := make(chan struct{})
	loki := newFakeLoki(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	})
	t.Cleanup(func() { close(release) })
	cfg := testConfig(t, loki.srv.URL)
	cfg.Timeout = time.Minute
	m, reg := startManager(t, Options{FlushTimeout: 100 * time.Millisecond}, cfg)
	m.Handle(entry("x", "a", "b"))
	start := time.Now()
	m.Stop()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Stop took %v with a 100ms flush timeout", took)
	}
	host := loki.srv.Listener.Addr().String()
	if got := metricValue(t, reg, "promtail_dropped_entries_total", map[string]string{"host": host, "tenant": "", "reason": "ingester_error"}); got != 1 {
		t.Errorf("dropped entries %v, want 1", got)
	}
}

func TestMaxLineSize(t *testing.T) {
	tests := []struct {
		name        string
		truncate    bool
		wantLines   []string
		wantDropped [2]float64 // entries, bytes
		wantMutated [2]float64
	}{
		{"drop", false, []string{"short"}, [2]float64{1, 11}, [2]float64{0, 0}},
		{"truncate", true, []string{"short", "toolo"}, [2]float64{0, 0}, [2]float64{1, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loki := newFakeLoki(t, nil)
			cfg := testConfig(t, loki.srv.URL)
			m, reg := startManager(t, Options{MaxLineSize: 5, MaxLineSizeTruncate: tt.truncate}, cfg)
			m.Handle(entry("short", "a", "b"))
			m.Handle(entry("toolongline", "a", "b"))
			m.Stop()
			var lines []string
			for _, p := range loki.pushes() {
				for _, s := range p.request.Streams {
					for _, e := range s.Entries {
						lines = append(lines, e.Line)
					}
				}
			}
			if !slices.Equal(lines, tt.wantLines) {
				t.Errorf("Loki got %q, want %q", lines, tt.wantLines)
			}
			labels := map[string]string{"host": loki.srv.Listener.Addr().String(), "tenant": "", "reason": "line_too_long"}
			dropped := [2]float64{metricValue(t, reg, "promtail_dropped_entries_total", labels), metricValue(t, reg, "promtail_dropped_bytes_total", labels)}
			mutated := [2]float64{metricValue(t, reg, "promtail_mutated_entries_total", labels), metricValue(t, reg, "promtail_mutated_bytes_total", labels)}
			if dropped != tt.wantDropped || mutated != tt.wantMutated {
				t.Errorf("dropped %v mutated %v, want %v %v", dropped, mutated, tt.wantDropped, tt.wantMutated)
			}
		})
	}
}

func TestMaxStreams(t *testing.T) {
	loki := newFakeLoki(t, nil)
	cfg := testConfig(t, loki.srv.URL)
	cfg.BatchWait = time.Hour
	cfg.BatchSize = 9 // a1 b1 a2 b2 fill it; c2 starts the next batch
	m, reg := startManager(t, Options{MaxStreams: 2}, cfg)
	for _, e := range []stages.Entry{
		entry("a1", "s", "a"), entry("b1", "s", "b"),
		entry("c1", "s", "c"),                        // third stream: dropped
		entry("a2", "s", "a"), entry("b2", "s", "b"), // the client keeps going
		entry("c2", "s", "c"), entry("c3", "s", "c"), // a new batch takes it
		entry("a3", "s", "a"),
		entry("b3", "s", "b"), // known from the last batch, still a third stream here
	} {
		m.Handle(e)
	}
	m.Stop()
	got := loki.allEntries()
	slices.Sort(got)
	want := []string{`{s="a"} a1`, `{s="a"} a2`, `{s="a"} a3`, `{s="b"} b1`, `{s="b"} b2`, `{s="c"} c2`, `{s="c"} c3`}
	if !slices.Equal(got, want) {
		t.Errorf("Loki got %q, want %q", got, want)
	}
	labels := map[string]string{"host": loki.srv.Listener.Addr().String(), "tenant": "", "reason": "stream_limited"}
	if e, b := metricValue(t, reg, "promtail_dropped_entries_total", labels), metricValue(t, reg, "promtail_dropped_bytes_total", labels); e != 2 || b != 4 {
		t.Errorf("stream_limited drops: %v entries %v bytes, want 2 and 4", e, b)
	}
}

func TestInvalidTimestampDroppedAlone(t *testing.T) {
	loki := newFakeLoki(t, nil)
	m, reg := startManager(t, Options{}, testConfig(t, loki.srv.URL))
	bad := entry("bad", "a", "b")
	bad.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	m.Handle(bad)
	m.Handle(entry("good", "a", "b"))
	m.Stop()
	if got := loki.allEntries(); !slices.Equal(got, []string{`{a="b"} good`}) {
		t.Errorf("Loki got %q", got)
	}
	labels := map[string]string{"host": loki.srv.Listener.Addr().String(), "tenant": "", "reason": "ingester_error"}
	if got := metricValue(t, reg, "promtail_dropped_entries_total", labels); got != 1 {
		t.Errorf("dropped %v, want 1", got)
	}
}

func TestMetrics(t *testing.T) {
	loki := newFakeLoki(t, nil)
	cfg := testConfig(t, loki.srv.URL)
	cfg.BatchWait = time.Hour
	m, reg := startManager(t, Options{}, cfg)
	host := loki.srv.Listener.Addr().String()

	for _, name := range []string{"promtail_encoded_bytes_total", "promtail_sent_bytes_total", "promtail_sent_entries_total"} {
		if got := metricValue(t, reg, name, map[string]string{"host": host}); got != 0 {
			t.Errorf("%s at start = %v, want an exported 0", name, got)
		}
	}

	for i := 0; i < 5; i++ {
		m.Handle(entry(fmt.Sprint("line", i), "__tenant_id__", "t", "j", "x"))
	}
	m.Stop()
	pushes := loki.pushes()
	if len(pushes) != 1 {
		t.Fatalf("%d requests, want 1", len(pushes))
	}
	encoded := metricValue(t, reg, "promtail_encoded_bytes_total", map[string]string{"host": host})
	sent := metricValue(t, reg, "promtail_sent_bytes_total", map[string]string{"host": host})
	if encoded <= 0 || sent != encoded {
		t.Errorf("encoded %v sent %v bytes, want equal and positive", encoded, sent)
	}
	if got := metricValue(t, reg, "promtail_sent_entries_total", map[string]string{"host": host}); got != 5 {
		t.Errorf("sent entries %v, want 5", got)
	}
	for _, reason := range []string{"ingester_error", "rate_limited", "stream_limited", "line_too_long", "queue_full"} {
		labels := map[string]string{"host": host, "tenant": "t", "reason": reason}
		for _, name := range []string{"promtail_dropped_entries_total", "promtail_dropped_bytes_total", "promtail_mutated_entries_total", "promtail_mutated_bytes_total"} {
			if got := metricValue(t, reg, name, labels); got != 0 {
				t.Errorf("%s%v = %v, want an exported 0", name, labels, got)
			}
		}
	}
	if got := metricValue(t, reg, "promtail_batch_retries_total", map[string]string{"host": host, "tenant": "t"}); got != 0 {
		t.Errorf("batch_retries_total = %v, want an exported 0", got)
	}
	if got := metricValue(t, reg, "promtail_request_duration_seconds", map[string]string{"host": host, "status_code": "204"}); got != 1 {
		t.Errorf("request_duration_seconds count = %v, want 1", got)
	}
}
