package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/lokitest"
)

// osqueryClient plays osqueryd's TLS logger against the agent: enroll, then
// post gzip batches of log records.
type osqueryClient struct {
	t       *testing.T
	base    string
	nodeKey string
}

func (c *osqueryClient) post(path string, body any, gz bool) map[string]any {
	c.t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	var buf bytes.Buffer
	if gz {
		w := gzip.NewWriter(&buf)
		w.Write(data)
		w.Close()
	} else {
		buf.Write(data)
	}
	req, _ := http.NewRequest(http.MethodPost, c.base+path, &buf)
	req.Header.Set("Content-Type", "application/json")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer map[string]any
	json.NewDecoder(resp.Body).Decode(&answer)
	if answer == nil {
		answer = map[string]any{}
	}
	answer["status"] = resp.StatusCode
	return answer
}

func (c *osqueryClient) enroll(secret string) {
	c.t.Helper()
	answer := c.post("/enroll", map[string]any{"enroll_secret": secret, "host_identifier": "web-prod-03"}, false)
	key, _ := answer["node_key"].(string)
	if key == "" {
		c.t.Fatalf("enroll answered %v", answer)
	}
	c.nodeKey = key
}

// osqueryd's TLS logger sends the bundled sample results to the agent, which
// labels them with the osquery stage exactly as it labels the file lines and
// ships them to Loki; a stale node key is told to enroll again.
func TestOsqueryTLSJobRelaysToLoki(t *testing.T) {
	loki := lokitest.New(nil)
	defer loki.Close()
	dir := t.TempDir()
	port := freePort(t)
	if err := os.WriteFile(filepath.Join(dir, "enroll.secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	agent := startReceiverAgent(t, dir, loki, fmt.Sprintf(`
- job_name: osquery_tls
  osquery_tls:
    listen_address: 127.0.0.1:%[2]d
    insecure_plain_http: true
    enroll_secret_file: %[1]s/enroll.secret
    node_keys_file: %[1]s/nodes.json
    labels: {job: osquery}
  pipeline_stages:
  - osquery: {}
`, dir, port))

	client := &osqueryClient{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := http.Get(client.base + "/enroll"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the osquery endpoint never came up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if answer := client.post("/enroll", map[string]any{"enroll_secret": "wrong"}, false); answer["node_invalid"] != true {
		t.Fatalf("a wrong secret was answered %v", answer)
	}
	client.enroll("s3cret")

	sample, err := os.ReadFile("../../configs/sample/osqueryd.results.log")
	if err != nil {
		t.Fatal(err)
	}
	var records []json.RawMessage
	for _, line := range strings.Split(strings.TrimSpace(string(sample)), "\n") {
		records = append(records, json.RawMessage(line))
	}
	answer := client.post("/log", map[string]any{"node_key": client.nodeKey, "log_type": "result", "data": records}, true)
	if answer["status"] != http.StatusOK || answer["node_invalid"] != false {
		t.Fatalf("log answered %v", answer)
	}
	// The answer came once the records were safe: Loki has them already.
	if n := len(loki.Entries()); n != len(records) {
		t.Fatalf("Loki had %d entries when osqueryd was answered, want %d", n, len(records))
	}
	for _, e := range loki.Entries() {
		if e.Labels["job"] != "osquery" || e.Labels["name"] == "" || e.Labels["host"] == "" || e.Labels["action"] == "" {
			t.Fatalf("entry without the osquery stage's labels: %v", e.Labels)
		}
	}

	stale := &osqueryClient{t: t, base: client.base, nodeKey: "not-a-key"}
	if answer := stale.post("/log", map[string]any{"node_key": stale.nodeKey, "log_type": "result", "data": records[:1]}, false); answer["node_invalid"] != true {
		t.Fatalf("a stale node key was answered %v", answer)
	}
	agent.stop(t)
}
