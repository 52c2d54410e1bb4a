package osquerytls

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

func TestOsquerydSession(t *testing.T) {
	e := newEnv(t)
	e.cfg.Labels = model.LabelSet{"job": "osquery", "__hidden": "x"}
	e.start()
	o := e.osqueryd("web-01")

	a := o.enroll()
	if a.code != http.StatusOK || a.failed || o.nodeKey == "" || a.json["node_invalid"] != false {
		t.Fatalf("enroll: %d %s", a.code, a.raw)
	}

	o.gzip = true
	results := []string{eventRecord, batchRecord, snapshotRecord}
	if a := o.send("result", results); a.failed || a.code != http.StatusOK || a.raw != `{"node_invalid":false}`+"\n" {
		t.Fatalf("gzip result batch: %d %s", a.code, a.raw)
	}
	o.gzip = false
	statuses := []string{statusRecord, statusRecord46}
	if a := o.send("status", statuses); a.failed || a.code != http.StatusOK {
		t.Fatalf("plain status batch: %d %s", a.code, a.raw)
	}

	entries := e.sink.All()
	want := append(append([]string{}, results...), statuses...)
	if got := e.sink.Lines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, en := range entries {
		if !en.Labels.Equal(model.LabelSet{"job": "osquery"}) {
			t.Errorf("entry %d labels %v, want only the static job label", i, en.Labels)
		}
		if time.Since(en.Timestamp) > time.Minute || en.Ack == nil {
			t.Errorf("entry %d: timestamp %v, ack %v", i, en.Timestamp, en.Ack)
		}
	}

	checks := []struct {
		metric string
		labels []string
		want   float64
	}{
		{"enrollments", []string{"success"}, 1},
		{"records", []string{"result"}, 3},
		{"records", []string{"status"}, 2},
		{"requests", []string{"enroll", "200"}, 1},
		{"requests", []string{"log", "200"}, 2},
	}
	for _, c := range checks {
		if got := e.counter(c.metric, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.metric, c.labels, got, c.want)
		}
	}
}

func TestStaleNodeKeyReenrolls(t *testing.T) {
	e := newEnv(t)
	e.start()
	o := e.osqueryd("web-01")
	o.nodeKey = "key-from-another-server"
	o.log("result", eventRecord, snapshotRecord)
	o.log("status", statusRecord)

	// First period: the stale key is refused with node_invalid; osqueryd drops
	// the key and keeps its records.
	if o.flush() {
		t.Fatal("a stale node key was accepted")
	}
	if o.nodeKey != "" || len(o.buffer["result"]) != 2 {
		t.Fatalf("after node_invalid: key %q, %d records buffered", o.nodeKey, len(o.buffer["result"]))
	}
	if n := len(e.sink.All()); n != 0 {
		t.Fatalf("%d entries from a stale key", n)
	}
	// Second period: it enrolls and sends everything.
	if !o.flush() {
		t.Fatal("the second period failed")
	}
	if got := e.sink.Lines(); strings.Join(got, "\n") != strings.Join([]string{eventRecord, snapshotRecord, statusRecord}, "\n") {
		t.Fatalf("lines %q", got)
	}
	if got := e.counter("rejected", reasonUnknownNode); got != 1 {
		t.Errorf("rejected{unknown_node} = %v, want 1", got)
	}
	if got := e.counter("requests", "log", "401"); got != 1 {
		t.Errorf("requests{log,401} = %v, want 1", got)
	}
}

func TestNodeKeysSurviveRestart(t *testing.T) {
	e := newEnv(t)
	e.start()
	o := e.osqueryd("web-01")
	if a := o.enroll(); a.failed {
		t.Fatalf("enroll: %s", a.raw)
	}
	key := o.nodeKey
	e.restart()
	o.base = e.baseURL()
	if a := o.send("result", []string{eventRecord}); a.failed {
		t.Fatalf("after a restart the node key is refused: %d %s", a.code, a.raw)
	}
	if o.nodeKey != key || e.counter("enrollments", "success") != 1 {
		t.Error("the node enrolled again")
	}
	data, err := os.ReadFile(e.cfg.NodeKeysFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(key)) || !bytes.Contains(data, []byte(`"host_identifier": "web-01"`)) {
		t.Errorf("node keys file:\n%s", data)
	}
}

func TestRejections(t *testing.T) {
	e := newEnv(t)
	e.cfg.MaxBodyBytes = 64 << 10
	e.cfg.ConfigFile = "../../../configs/osquery/osquery.conf"
	e.start()
	o := e.osqueryd("web-01")
	if a := o.enroll(); a.failed {
		t.Fatalf("enroll: %s", a.raw)
	}
	validBody := func(records ...string) []byte { return o.logBody("result", records) }
	big := strings.Repeat(eventRecord+",", (64<<10)/len(eventRecord)) + eventRecord
	bomb := gzipBytes(t, append(append(validBody()[:len(validBody())-2], bytes.Repeat([]byte(" "), 16<<20)...), "]}"...))

	tests := []struct {
		name        string
		method      string
		path        string
		body        []byte
		encoding    string
		code        int
		reason      string // rejected_total reason; "" for none
		nodeInvalid bool
	}{
		{name: "oversized body", path: "/log", body: []byte(`{"node_key":"` + o.nodeKey + `","log_type":"result","data":[` + big + `]}`), code: 413, reason: reasonTooLarge},
		{name: "gzip bomb", path: "/log", body: bomb, encoding: "gzip", code: 413, reason: reasonTooLarge},
		{name: "not JSON", path: "/log", body: []byte(`{"node_key":`), code: 400, reason: reasonBadBody},
		{name: "damaged gzip", path: "/log", body: validBody(eventRecord), encoding: "gzip", code: 400, reason: reasonBadBody},
		{name: "deflate", path: "/log", body: validBody(eventRecord), encoding: "deflate", code: 415, reason: reasonBadBody},
		{name: "unknown log type", path: "/log", body: []byte(`{"node_key":"` + o.nodeKey + `","log_type":"distributed","data":[]}`), code: 400, reason: reasonBadBody},
		{name: "a record that is not an object", path: "/log", body: []byte(`{"node_key":"` + o.nodeKey + `","log_type":"result","data":["x"]}`), code: 400, reason: reasonBadBody},
		{name: "unknown node key", path: "/log", body: []byte(`{"node_key":"guess","log_type":"result","data":[` + eventRecord + `]}`), code: 401, reason: reasonUnknownNode, nodeInvalid: true},
		{name: "no node key", path: "/log", body: []byte(`{"log_type":"result","data":[` + eventRecord + `]}`), code: 401, reason: reasonUnknownNode, nodeInvalid: true},
		{name: "wrong secret", path: "/enroll", body: []byte(`{"enroll_secret":"s3cret","host_identifier":"intruder"}`), code: 401, reason: reasonBadSecret, nodeInvalid: true},
		{name: "empty secret", path: "/enroll", body: []byte(`{"host_identifier":"intruder"}`), code: 401, reason: reasonBadSecret, nodeInvalid: true},
		{name: "enroll body not JSON", path: "/enroll", body: []byte(`enroll_secret=` + testSecret), code: 400, reason: reasonBadBody},
		{name: "config for an unknown node", path: "/config", body: []byte(`{"node_key":"guess"}`), code: 401, reason: reasonUnknownNode, nodeInvalid: true},
		{name: "GET log", method: http.MethodGet, path: "/log", code: 405},
		{name: "GET enroll", method: http.MethodGet, path: "/enroll", code: 405},
		{name: "unknown path", path: "/distributed_read", body: []byte(`{}`), code: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := 0.0
			if tt.reason != "" {
				before = e.counter("rejected", tt.reason)
			}
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, e.baseURL()+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			resp, err := o.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var answer map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
				t.Fatalf("the answer is not JSON: %v", err)
			}
			if resp.StatusCode != tt.code {
				t.Errorf("status %d, want %d (%v)", resp.StatusCode, tt.code, answer)
			}
			// Every refusal is a failure to osqueryd (it keeps its records);
			// only node_invalid makes it enroll again.
			invalid, _ := answer["node_invalid"].(bool)
			_, hasErr := answer["error"]
			if invalid != tt.nodeInvalid || (!tt.nodeInvalid && !hasErr) {
				t.Errorf("answer %v: node_invalid %v (want %v), error present %v", answer, invalid, tt.nodeInvalid, hasErr)
			}
			if _, ok := answer["node_key"]; ok {
				t.Errorf("a refusal handed out a node key: %v", answer)
			}
			if tt.reason != "" {
				if got := e.counter("rejected", tt.reason); got != before+1 {
					t.Errorf("rejected{%s} went from %v to %v", tt.reason, before, got)
				}
			}
		})
	}
	if n := len(e.sink.All()); n != 0 {
		t.Errorf("%d entries from refused requests", n)
	}
	if got := e.counter("enrollments", "bad_secret"); got != 2 {
		t.Errorf("enrollments{bad_secret} = %v, want 2", got)
	}
	if got := e.counter("enrollments", "bad_body"); got != 1 {
		t.Errorf("enrollments{bad_body} = %v, want 1", got)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t)
	e.cfg.RateLimit = config.OsqueryTLSRateLimit{Records: 0.001, Burst: 3}
	e.start()
	o := e.osqueryd("web-01")
	if a := o.enroll(); a.failed {
		t.Fatal(a.raw)
	}
	other := e.osqueryd("web-02")
	if a := other.enroll(); a.failed {
		t.Fatal(a.raw)
	}
	if a := o.send("result", []string{eventRecord, eventRecord, eventRecord}); a.failed {
		t.Fatalf("within the burst: %d %s", a.code, a.raw)
	}
	a := o.send("status", []string{statusRecord})
	if !a.failed || a.nodeInvalid || a.code != http.StatusTooManyRequests {
		t.Fatalf("over the rate: %d %s", a.code, a.raw)
	}
	// The limit is per node.
	if a := other.send("result", []string{eventRecord}); a.failed {
		t.Fatalf("another node was limited: %d %s", a.code, a.raw)
	}
	if got := len(e.sink.All()); got != 4 {
		t.Errorf("%d entries, want 4", got)
	}
	if got := e.counter("rejected", reasonRateLimited); got != 1 {
		t.Errorf("rejected{rate_limited} = %v", got)
	}
}

func TestAnswerWaitsUntilRecordsAreSafe(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.sink.SetHold(true)
	o := e.osqueryd("web-01")
	if a := o.enroll(); a.failed {
		t.Fatal(a.raw)
	}
	answered := make(chan answer, 1)
	go func() { answered <- o.send("result", []string{eventRecord, batchRecord}) }()
	waitFor(t, func() bool { return len(e.sink.All()) == 2 })
	select {
	case a := <-answered:
		t.Fatalf("answered %d %s before the records were safe", a.code, a.raw)
	case <-time.After(200 * time.Millisecond):
	}
	e.sink.Settle()
	select {
	case a := <-answered:
		if a.failed || a.code != http.StatusOK {
			t.Fatalf("answer %d %s", a.code, a.raw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer after the records were safe")
	}
}

func TestAckTimeoutAsksForAResend(t *testing.T) {
	e := newEnv(t)
	e.cfg.AckTimeout = 300 * time.Millisecond
	e.start()
	e.sink.SetHold(true)
	t.Cleanup(e.sink.Settle)
	o := e.osqueryd("web-01")
	o.log("result", eventRecord)
	start := time.Now()
	if o.flush() {
		t.Fatal("answered success while the records were not safe")
	}
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond {
		t.Errorf("answered after %v, before ack_timeout", elapsed)
	}
	if o.nodeKey == "" || len(o.buffer["result"]) != 1 {
		t.Fatal("osqueryd lost its key or its records on a timeout")
	}
	if got := e.counter("rejected", reasonAckTimeout); got != 1 {
		t.Errorf("rejected{ack_timeout} = %v", got)
	}
	if got := e.counter("requests", "log", "503"); got != 1 {
		t.Errorf("requests{log,503} = %v", got)
	}
	// The resend duplicates the record: at least once, never lost.
	e.sink.SetHold(false)
	if !o.flush() {
		t.Fatal("the resend failed")
	}
	if got := e.sink.Lines(); len(got) != 2 || got[0] != eventRecord || got[1] != eventRecord {
		t.Errorf("lines %q", got)
	}
}

func TestStopAnswersWaitingRequests(t *testing.T) {
	e := newEnv(t)
	e.cfg.AckTimeout = time.Minute
	e.start()
	e.sink.SetHold(true)
	t.Cleanup(e.sink.Settle)
	o := e.osqueryd("web-01")
	if a := o.enroll(); a.failed {
		t.Fatal(a.raw)
	}
	answered := make(chan answer, 1)
	go func() { answered <- o.send("result", []string{eventRecord}) }()
	waitFor(t, func() bool { return len(e.sink.All()) == 1 })
	stopped := make(chan struct{})
	go func() { e.target.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return")
	}
	a := <-answered
	if !a.failed || a.nodeInvalid || a.code != http.StatusServiceUnavailable {
		t.Errorf("answer on stop %d %s, want a failure osqueryd retries", a.code, a.raw)
	}
	if _, err := net.DialTimeout("tcp", e.target.Addr().String(), time.Second); err == nil {
		t.Error("still listening after Stop")
	}
}

func TestConfigEndpoint(t *testing.T) {
	e := newEnv(t)
	e.cfg.ConfigFile = "../../../configs/osquery/osquery.conf"
	e.cfg.ConfigEndpoint = "/api/osquery/config"
	e.start()
	o := e.osqueryd("web-01")
	if a := o.enroll(); a.failed {
		t.Fatal(a.raw)
	}
	want, err := os.ReadFile(e.cfg.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	a := o.post("/api/osquery/config", []byte(`{"node_key":"`+o.nodeKey+`"}`), false)
	if a.code != http.StatusOK || a.raw != string(want) {
		t.Fatalf("config: %d %q", a.code, a.raw)
	}
	// --tls_node_api puts the key in the URL.
	resp, err := o.client.Get(e.baseURL() + "/api/osquery/config?node_key=" + o.nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET with the key in the URL: %d", resp.StatusCode)
	}

	noConfig := newEnv(t)
	noConfig.start()
	p := noConfig.osqueryd("web-01")
	if a := p.enroll(); a.failed {
		t.Fatal(a.raw)
	}
	if a := p.post("/config", []byte(`{"node_key":"`+p.nodeKey+`"}`), false); a.code != http.StatusNotFound || !a.failed {
		t.Errorf("config without config_file: %d %s", a.code, a.raw)
	}
}

func TestRelabeling(t *testing.T) {
	e := newEnv(t)
	e.cfg.Labels = model.LabelSet{"job": "osquery"}
	e.relabel = []*relabel.Config{
		{SourceLabels: model.LabelNames{LabelLogType}, Regex: relabel.MustNewRegexp("status"), Action: relabel.Drop},
		{SourceLabels: model.LabelNames{LabelHostIdentifier}, Regex: relabel.MustNewRegexp("(.*)"), TargetLabel: "enrolled_as", Replacement: "$1", Action: relabel.Replace},
		{SourceLabels: model.LabelNames{LabelRemoteIP}, Regex: relabel.MustNewRegexp("(.*)"), TargetLabel: "source", Replacement: "$1", Action: relabel.Replace},
	}
	e.start()
	o := e.osqueryd("web-01")
	o.log("result", eventRecord)
	o.log("status", statusRecord)
	if !o.flush() {
		t.Fatal("flush failed")
	}
	entries := e.sink.All()
	if len(entries) != 1 {
		t.Fatalf("%d entries, want the result only (status dropped by relabeling)", len(entries))
	}
	want := model.LabelSet{"job": "osquery", "enrolled_as": "web-01", "source": "127.0.0.1"}
	if !entries[0].Labels.Equal(want) {
		t.Errorf("labels %v, want %v", entries[0].Labels, want)
	}
}

func TestPlainHTTPOnLoopback(t *testing.T) {
	e := newEnv(t)
	e.cfg.InsecurePlainHTTP = true
	e.cfg.TLSCertFile, e.cfg.TLSKeyFile = "", ""
	e.start()
	o := e.osqueryd("web-01")
	o.log("result", eventRecord)
	if !o.flush() {
		t.Fatal("flush over plain HTTP failed")
	}
	if len(e.sink.All()) != 1 {
		t.Error("record not received")
	}
}

func TestClientCertificates(t *testing.T) {
	e := newEnv(t)
	e.cfg.TLSClientCAFile = e.pki.clientCAFile
	e.start()
	anonymous := e.osqueryd("web-01")
	if _, err := anonymous.client.Post(e.baseURL()+"/enroll", "application/json", strings.NewReader("{}")); err == nil {
		t.Error("a client without a certificate got through")
	}
	withCert := e.osqueryd("web-02")
	withCert.client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{e.pki.clientCert}
	withCert.log("result", eventRecord)
	if !withCert.flush() {
		t.Fatal("a client with a certificate failed")
	}
}

func TestManyNodesAtOnce(t *testing.T) {
	e := newEnv(t)
	e.start()
	const nodes, batches = 6, 5
	var wg sync.WaitGroup
	for i := range nodes {
		o := e.osqueryd(fmt.Sprintf("host-%d", i))
		o.gzip = i%2 == 0
		wg.Go(func() {
			for b := range batches {
				o.log("result", fmt.Sprintf(`{"name":"q","hostIdentifier":%q,"calendarTime":"Mon Mar  3 09:05:07 2025 UTC","unixTime":1740992707,"epoch":0,"counter":%d,"columns":{"n":"%d"},"action":"added"}`, o.host, b, b))
				if !o.flush() {
					t.Errorf("%s batch %d failed", o.host, b)
				}
			}
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for _, l := range e.sink.Lines() {
		seen[l]++
	}
	if len(seen) != nodes*batches {
		t.Errorf("%d distinct records, want %d", len(seen), nodes*batches)
	}
	for l, n := range seen {
		if n != 1 {
			t.Errorf("%d copies of %s", n, l)
		}
	}
	if got := e.counter("enrollments", "success"); got != nodes {
		t.Errorf("%v enrollments", got)
	}
}

func TestNewErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name   string
		adjust func(e *testEnv)
		want   string
	}{
		{"invalid config", func(e *testEnv) { e.cfg.ListenAddress = "nowhere" }, `job "osquery": osquery_tls.listen_address:`},
		{"missing secret file", func(e *testEnv) { e.cfg.EnrollSecretFile = filepath.Join(e.dir, "none") }, "osquery_tls.enroll_secret_file:"},
		{"empty secret", func(e *testEnv) { writeFile(t, e.cfg.EnrollSecretFile, " \n") }, "osquery_tls.enroll_secret_file: " + "%s is empty"},
		{"missing config file", func(e *testEnv) { e.cfg.ConfigFile = filepath.Join(e.dir, "none.conf") }, "osquery_tls.config_file:"},
		{"config file not JSON", func(e *testEnv) {
			e.cfg.ConfigFile = filepath.Join(e.dir, "osquery.conf")
			writeFile(t, e.cfg.ConfigFile, "// comment\n{}")
		}, "is not a JSON object"},
		{"config file an array", func(e *testEnv) {
			e.cfg.ConfigFile = filepath.Join(e.dir, "osquery.conf")
			writeFile(t, e.cfg.ConfigFile, "[]")
		}, "is not a JSON object"},
		{"key does not match", func(e *testEnv) { e.cfg.TLSKeyFile = e.pki.clientCAFile }, "osquery_tls.tls_cert_file/tls_key_file:"},
		{"missing client CA", func(e *testEnv) { e.cfg.TLSClientCAFile = filepath.Join(e.dir, "none.pem") }, "osquery_tls.tls_client_ca_file:"},
		{"client CA without PEM", func(e *testEnv) { e.cfg.TLSClientCAFile = e.cfg.EnrollSecretFile }, "no PEM certificate"},
		{"node keys file under a file", func(e *testEnv) { e.cfg.NodeKeysFile = filepath.Join(e.cfg.EnrollSecretFile, "nodes.json") }, "osquery_tls.node_keys_file:"},
		{"address in use", func(e *testEnv) { e.cfg.ListenAddress = busy.Addr().String() }, "osquery_tls.listen_address:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.adjust(e)
			want := tt.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, e.cfg.EnrollSecretFile)
			}
			tg, err := New(slog.New(slog.DiscardHandler), e.m, "osquery", &e.cfg, nil, e.sink)
			if err == nil {
				tg.Stop()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), `job "osquery": `) {
				t.Errorf("err = %v, want it to name the job and contain %q", err, want)
			}
		})
	}
}

func TestDamagedNodeKeysFileStartsEmpty(t *testing.T) {
	e := newEnv(t)
	if err := os.MkdirAll(filepath.Dir(e.cfg.NodeKeysFile), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.cfg.NodeKeysFile, "{not json")
	e.start()
	o := e.osqueryd("web-01")
	o.nodeKey = "old"
	o.log("result", eventRecord)
	if o.flush() || !o.flush() {
		t.Fatal("the node did not re-enroll and send")
	}
	if _, err := os.Stat(e.cfg.NodeKeysFile + ".damaged"); err != nil {
		t.Errorf("damaged file not kept: %v", err)
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
