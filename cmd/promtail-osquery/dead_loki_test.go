package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/lokitest"
)

// TestStopsWithLokiDown checks that SIGTERM ends the agent promptly while Loki
// answers 500 to everything and every queue is full, a state in which the
// file readers are blocked handing entries on.
func TestStopsWithLokiDown(t *testing.T) {
	loki := lokitest.New(func(int) int { return http.StatusInternalServerError })
	defer loki.Close()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")
	var lines strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	if err := os.WriteFile(logFile, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf(`
server: {disable: true}
positions: {filename: %s/positions.yaml}
clients: [{url: %s, batchwait: 50ms, batchsize: 1024, backoff_config: {min_period: 100ms, max_period: 200ms, max_retries: 0}}]
scrape_configs:
- job_name: app
  static_configs: [{labels: {job: app, __path__: %s}}]
`, dir, loki.PushURL(), logFile))
	agent := startAgent(t, nil, "-config.file="+cfg)
	deadline := time.Now().Add(20 * time.Second)
	for loki.Requests() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if loki.Requests() < 3 {
		t.Fatal("the agent never tried to push")
	}
	time.Sleep(500 * time.Millisecond) // let the queues fill up
	start := time.Now()
	agent.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-agent.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not exit within 30s of SIGTERM with Loki down")
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("stopping took %v", took)
	}
	if code := agent.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
