package osquerytls

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/api/apitest"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/testpki"
)

// testPKI is a CA and a server certificate for 127.0.0.1 it signed, written to
// files as the agent reads them, plus a client certificate for mutual TLS.
type testPKI struct {
	certFile, keyFile string
	clientCert        tls.Certificate
	clientCAFile      string // the CA that signed clientCert
	pool              *x509.CertPool
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.NewCA(t, "osquery-tls test CA")
	server := ca.Issue(t, "agent", x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	clientCA := testpki.NewCA(t, "osquery-tls test client CA")
	return &testPKI{
		certFile:     testpki.WriteFile(t, dir, "agent.pem", server.CertPEM),
		keyFile:      testpki.WriteFile(t, dir, "agent.key", server.KeyPEM),
		clientCAFile: testpki.WriteFile(t, dir, "client-ca.pem", clientCA.PEM),
		clientCert:   clientCA.Issue(t, "osqueryd", x509.ExtKeyUsageClientAuth).TLS,
		pool:         ca.Pool(),
	}
}

const testSecret = "s3cret-enroll-value"

// testEnv is one target with its files, metrics and collector.
type testEnv struct {
	t       testing.TB
	pki     *testPKI
	dir     string
	cfg     config.OsqueryTLSConfig
	reg     *prometheus.Registry
	m       *Metrics
	relabel []*relabel.Config
	sink    *collector
	// handler, when set, receives the entries instead of sink (a pipeline
	// that ends in sink).
	handler api.EntryHandler
	target  *Target
}

// newEnv prepares a TLS target's files; adjust cfg, then call start.
func newEnv(t testing.TB) *testEnv {
	t.Helper()
	dir := t.TempDir()
	pki := newTestPKI(t)
	secretFile := filepath.Join(dir, "enroll.secret")
	// osqueryd trims the secret file; so does the agent.
	if err := os.WriteFile(secretFile, []byte("  "+testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	e := &testEnv{
		t:   t,
		pki: pki,
		dir: dir,
		cfg: config.OsqueryTLSConfig{
			ListenAddress:    "127.0.0.1:0",
			TLSCertFile:      pki.certFile,
			TLSKeyFile:       pki.keyFile,
			EnrollSecretFile: secretFile,
			NodeKeysFile:     filepath.Join(dir, "state", "nodes.json"),
			AckTimeout:       5 * time.Second,
		},
		reg:  reg,
		m:    NewMetrics(reg),
		sink: &collector{},
	}
	return e
}

func (e *testEnv) start() *Target {
	e.t.Helper()
	var h api.EntryHandler = e.sink
	if e.handler != nil {
		h = e.handler
	}
	tg, err := New(slog.New(slog.DiscardHandler), e.m, "osquery", &e.cfg, e.relabel, h)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.target = tg
	e.t.Cleanup(tg.Stop)
	return tg
}

// restart stops the target and starts a new one on the same files and port,
// as a config reload or an agent restart does.
func (e *testEnv) restart() {
	e.t.Helper()
	addr := e.target.Addr().String()
	e.target.Stop()
	e.cfg.ListenAddress = addr
	e.start()
}

func (e *testEnv) baseURL() string {
	scheme := "https"
	if e.cfg.InsecurePlainHTTP {
		scheme = "http"
	}
	return scheme + "://" + e.target.Addr().String()
}

// osqueryd returns a simulated osqueryd that trusts the test CA.
func (e *testEnv) osqueryd(host string) *fakeOsqueryd {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pki.pool, MinVersion: tls.VersionTLS12}}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &fakeOsqueryd{
		t:      e.t,
		client: &http.Client{Transport: tr, Timeout: 16 * time.Second},
		base:   e.baseURL(),
		secret: testSecret,
		host:   host,
	}
}

func (e *testEnv) counter(name string, labelValues ...string) float64 {
	e.t.Helper()
	var vec *prometheus.CounterVec
	switch name {
	case "enrollments":
		vec = e.m.enrollments
	case "requests":
		vec = e.m.requests
	case "records":
		vec = e.m.records
	case "rejected":
		vec = e.m.rejected
	default:
		e.t.Fatalf("no metric %s", name)
	}
	return testutil.ToFloat64(vec.WithLabelValues(labelValues...))
}

// fakeOsqueryd speaks to the agent as osqueryd's TLS enroll and logger
// plugins do: JSON bodies, the answer read only from the JSON it returns, a
// cleared node key on node_invalid, buffered records kept until a send
// succeeds.
type fakeOsqueryd struct {
	t       testing.TB
	client  *http.Client
	base    string
	secret  string
	host    string
	nodeKey string
	gzip    bool
	// buffer holds records not yet accepted, per log type, oldest first.
	buffer map[string][]string
}

// answer is an osquery-side reading of a reply.
type answer struct {
	code        int
	raw         string
	json        map[string]any
	nodeInvalid bool
	failed      bool // what osqueryd counts as a failed request
}

func (o *fakeOsqueryd) post(path string, body []byte, compress bool) answer {
	o.t.Helper()
	if compress {
		body = gzipBytes(o.t, body)
	}
	req, err := http.NewRequest(http.MethodPost, o.base+path, bytes.NewReader(body))
	if err != nil {
		o.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "osquery/5.12.1")
	if compress {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := o.client.Do(req)
	if err != nil {
		o.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		o.t.Fatalf("reading the answer to %s: %v", path, err)
	}
	a := answer{code: resp.StatusCode, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.json); err != nil {
		a.failed = true
		return a
	}
	if v, ok := a.json["node_invalid"].(bool); ok && v {
		a.nodeInvalid, a.failed = true, true
	}
	if _, ok := a.json["error"]; ok {
		a.failed = true
	}
	return a
}

// enroll asks for a node key and keeps it.
func (o *fakeOsqueryd) enroll() answer {
	o.t.Helper()
	body, _ := json.Marshal(map[string]any{
		"enroll_secret":   o.secret,
		"host_identifier": o.host,
		"platform_type":   "9",
		"host_details": map[string]any{
			"os_version":   map[string]string{"name": "Debian GNU/Linux", "version": "12"},
			"osquery_info": map[string]string{"version": "5.12.1"},
			"system_info":  map[string]string{"hostname": o.host},
		},
	})
	a := o.post("/enroll", body, false)
	if key, ok := a.json["node_key"].(string); ok && key != "" && !a.failed {
		o.nodeKey = key
	}
	return a
}

// logBody is what osqueryd posts for records of one log type.
func (o *fakeOsqueryd) logBody(logType string, records []string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"node_key":`)
	key, _ := json.Marshal(o.nodeKey)
	b.Write(key)
	b.WriteString(`,"log_type":"` + logType + `","data":[`)
	for i, r := range records {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(r)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// send posts records once.
func (o *fakeOsqueryd) send(logType string, records []string) answer {
	o.t.Helper()
	a := o.post("/log", o.logBody(logType, records), o.gzip)
	if a.nodeInvalid {
		o.nodeKey = ""
	}
	return a
}

// log buffers records as osqueryd's buffered logger does.
func (o *fakeOsqueryd) log(logType string, records ...string) {
	if o.buffer == nil {
		o.buffer = map[string][]string{}
	}
	o.buffer[logType] = append(o.buffer[logType], records...)
}

// flush is one period of osqueryd's TLS logger: enroll when it has no key,
// then send each log type's buffer, keeping it on failure. It reports
// whether everything was sent.
func (o *fakeOsqueryd) flush() bool {
	o.t.Helper()
	if o.nodeKey == "" {
		if a := o.enroll(); a.failed {
			return false
		}
	}
	ok := true
	for _, logType := range []string{"result", "status"} {
		records := o.buffer[logType]
		if len(records) == 0 {
			continue
		}
		a := o.send(logType, records)
		if a.nodeInvalid {
			// Without a key there is nothing more to send this period.
			return false
		}
		if a.failed {
			ok = false
			continue
		}
		o.buffer[logType] = nil
	}
	return ok
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// collector records the entries a target hands on.
type collector = apitest.Collector
