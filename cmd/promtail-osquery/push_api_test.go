package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/lokitest"
)

// A loki_push_api job relays what is pushed to it, through its pipeline, to
// the clients: JSON in, the real protobuf out, labels from the stream, the
// job's labels and the pipeline.
func TestPushAPIJobRelaysToLoki(t *testing.T) {
	loki := lokitest.New(nil)
	defer loki.Close()
	dir := t.TempDir()
	port := freePort(t)
	agent := startReceiverAgent(t, dir, loki, fmt.Sprintf(`
- job_name: push
  loki_push_api:
    server: {http_listen_address: 127.0.0.1, http_listen_port: %d, grpc_listen_port: 0}
    labels: {pushserver: push1}
    use_incoming_timestamp: true
  pipeline_stages:
  - static_labels: {stage: seen}
`, port))
	url := fmt.Sprintf("http://127.0.0.1:%d/loki/api/v1/push", port)
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/ready", port), http.StatusOK)

	body := `{"streams":[{"stream":{"app":"web"},"values":[["1795910400000000000","hello"],["1795910401000000000","world",{"trace_id":"abc"}]]}]}`
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("push answered %d, want 204", resp.StatusCode)
	}
	if !loki.WaitFor(10*time.Second, func(es []lokitest.Entry) bool { return len(es) == 2 }) {
		t.Fatalf("Loki got %d entries, want 2", len(loki.Entries()))
	}
	for _, e := range loki.Entries() {
		want := map[string]string{"app": "web", "pushserver": "push1", "stage": "seen"}
		for k, v := range want {
			if e.Labels[k] != v {
				t.Fatalf("entry %q labels %v, want %v", e.Line, e.Labels, want)
			}
		}
		if e.Line == "world" && e.StructuredMetadata["trace_id"] != "abc" {
			t.Fatalf("structured metadata lost: %v", e.StructuredMetadata)
		}
		if e.Timestamp.Unix() < 1795910400 || e.Timestamp.Unix() > 1795910401 {
			t.Fatalf("timestamp %v is not the pushed one", e.Timestamp)
		}
	}
	agent.stop(t)
}

// startReceiverAgent starts the agent with one job that receives its
// entries (push, syslog, osquery_tls), described by scrape (a scrape_configs
// item), shipping to loki.
func startReceiverAgent(t *testing.T, dir string, loki *lokitest.Server, scrape string) *agentProcess {
	t.Helper()
	cfg := writeConfig(t, dir, fmt.Sprintf(`
server: {disable: true}
positions: {filename: %s/positions.yaml}
clients: [{url: %s, batchwait: 50ms}]
scrape_configs:
%s`, dir, loki.PushURL(), scrape))
	return startAgent(t, nil, "-config.file="+cfg)
}
