package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const tlsProductConfig = "../../configs/osquery-tls.yaml"

// tlsInput is osqueryd's TLS logger: the agent runs configs/osquery-tls.yaml
// (on loopback, plain HTTP, files in a temporary folder) and every write is
// one log request, as osqueryd sends its buffer each --logger_tls_period.
type tlsInput struct {
	client *osqueryClient
}

func (in *tlsInput) start(t *testing.T, pushURL string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "enroll.secret"), []byte("ruler-test-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(tlsProductConfig)
	if err != nil {
		t.Fatal(err)
	}
	port, httpPort := freePort(t), freePort(t)
	cfg := string(raw)
	for _, r := range []struct{ old, new string }{
		{"listen_address: 0.0.0.0:8443", fmt.Sprintf("listen_address: 127.0.0.1:%d\n      insecure_plain_http: true", port)},
		{"      tls_cert_file: /etc/promtail-osquery/tls/agent.crt\n", ""},
		{"      tls_key_file: /etc/promtail-osquery/tls/agent.key\n", ""},
		{"      config_file: /etc/promtail-osquery/osquery.conf\n", ""},
		{"/etc/promtail-osquery/", dir + "/"},
		{"/var/lib/promtail-osquery/", dir + "/"},
		{"http_listen_port: 9080", fmt.Sprintf("http_listen_port: %d", httpPort)},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("%s no longer contains %q: adapt this test to it", tlsProductConfig, r.old)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	path := writeConfigAs(t, dir, "osquery-tls.yaml", cfg)
	t.Setenv("LOKI_URL", pushURL)
	startAgent(t, nil, "-config.file="+path, "-config.expand-env=true")
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/ready", httpPort), http.StatusOK)
	in.client = &osqueryClient{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	in.client.enroll("ruler-test-secret")
}

func (in *tlsInput) write(t *testing.T, _ osqueryLog, lines [][]byte) {
	t.Helper()
	records := make([]json.RawMessage, 0, len(lines))
	for _, l := range lines {
		records = append(records, json.RawMessage(bytes.TrimSpace(l)))
	}
	answer := in.client.post("/log", map[string]any{"node_key": in.client.nodeKey, "log_type": "result", "data": records}, true)
	if answer["status"] != http.StatusOK || answer["node_invalid"] != false {
		t.Fatalf("the agent answered a log request with %v", answer)
	}
}

// The same alerts, each within the same time, when osqueryd sends its results
// to the agent over its TLS logger instead of writing files.
func TestRulerAlertsThroughOsqueryTLS(t *testing.T) {
	lokiBin := os.Getenv("LOKI_BIN")
	if lokiBin == "" {
		t.Skip("LOKI_BIN is not set: no Loki 3.x binary to run the ruler against (see alerts/README.md)")
	}
	gen := buildGenOsquery(t)
	receiver := newAlertReceiver(t)
	loki := startLoki(t, lokiBin, receiver.URL)
	start := time.Now()
	runRulerScenario(t, loki, receiver, &tlsInput{}, gen)
	t.Logf("scenario took %v", time.Since(start).Round(time.Second))
}
