package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/lokitest"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitHTTP(t *testing.T, url string, want int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return string(body)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s never answered %d (last error %v)", url, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// postReload asks the agent at base to reload and returns the status code.
func postReload(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Post(base+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServerAndReload checks the HTTP endpoints of a running agent and that
// POST /reload and SIGHUP apply a changed config without losing lines.
func TestServerAndReload(t *testing.T) {
	loki := lokitest.New(nil)
	defer loki.Close()
	dir := t.TempDir()
	port := freePort(t)
	logFile := filepath.Join(dir, "app.log")
	config := func(env string) string {
		return fmt.Sprintf(`
server: {http_listen_address: 127.0.0.1, http_listen_port: %d, grpc_listen_port: 0, enable_runtime_reload: true}
positions: {filename: %s/positions.yaml}
clients: [{url: %s, batchwait: 50ms, basic_auth: {username: u, password: hunter2}}]
global: {file_watch_config: {min_poll_frequency: 50ms, max_poll_frequency: 100ms}}
scrape_configs:
- job_name: app
  static_configs: [{labels: {job: app, env: %s, __path__: %s}}]
`, port, dir, loki.PushURL(), env, logFile)
	}
	cfg := writeConfig(t, dir, config("before"))
	appendLines(t, logFile, "line", 0, 10)
	agent := startAgent(t, nil, "-config.file="+cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	waitHTTP(t, base+"/ready", http.StatusOK)
	if page := waitHTTP(t, base+"/config", http.StatusOK); strings.Contains(page, "hunter2") {
		t.Error("/config shows the client password")
	}
	if page := waitHTTP(t, base+"/targets", http.StatusOK); !strings.Contains(page, logFile) {
		t.Errorf("/targets does not show %s", logFile)
	}
	waitHTTP(t, base+"/service-discovery", http.StatusOK)

	countEnv := func(env string, n int) func([]lokitest.Entry) bool {
		return func(got []lokitest.Entry) bool {
			c := 0
			for _, e := range got {
				if e.Labels["env"] == env {
					c++
				}
			}
			return c >= n
		}
	}
	if !loki.WaitFor(20*time.Second, countEnv("before", 10)) {
		t.Fatal("lines before the reload did not arrive")
	}
	metrics := waitHTTP(t, base+"/metrics", http.StatusOK)
	for _, name := range []string{"promtail_build_info", "promtail_files_active_total", "promtail_read_lines_total", "promtail_sent_entries_total", "promtail_request_duration_seconds"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	writeConfig(t, dir, config("after"))
	if code := postReload(t, base); code != http.StatusOK {
		t.Fatalf("POST /reload answered %d", code)
	}
	appendLines(t, logFile, "line", 10, 20)
	if !loki.WaitFor(20*time.Second, countEnv("after", 10)) {
		t.Fatal("lines after POST /reload did not carry the new label")
	}

	writeConfig(t, dir, config("hup"))
	agent.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(time.Second)
	appendLines(t, logFile, "line", 20, 30)
	if !loki.WaitFor(20*time.Second, countEnv("hup", 10)) {
		t.Fatal("lines after SIGHUP did not carry the new label")
	}

	// A broken config is refused and the running one keeps working.
	if err := os.WriteFile(cfg, []byte("clients: [{url: \"http://[::1\"}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := postReload(t, base); code != http.StatusInternalServerError {
		t.Errorf("reload of a broken config answered %d, want 500", code)
	}
	appendLines(t, logFile, "line", 30, 40)
	if !loki.WaitFor(20*time.Second, countEnv("hup", 20)) {
		t.Fatal("the agent stopped shipping after a failed reload")
	}

	// A config that parses but cannot start (an unknown stage): the previous
	// one is started again from the positions in memory.
	writeConfig(t, dir, config("bad")+"  pipeline_stages: [{jsonn: {}}]\n")
	if code := postReload(t, base); code != http.StatusInternalServerError {
		t.Errorf("reload of a config that cannot start answered %d, want 500", code)
	}
	appendLines(t, logFile, "line", 40, 50)
	if !loki.WaitFor(20*time.Second, countEnv("hup", 30)) {
		t.Fatal("the agent stopped shipping after a reload that could not start")
	}
	agent.stop(t)

	seen := map[string]int{}
	for _, e := range loki.Entries() {
		seen[e.Line]++
	}
	for i := range 50 {
		if n := seen[fmt.Sprintf("line %d", i)]; n != 1 {
			t.Errorf("line %d arrived %d times", i, n)
		}
	}
}
