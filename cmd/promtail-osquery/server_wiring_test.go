package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serverConfig writes a config whose main server listens on port, with
// extra keys in its server block, and one job over an empty directory.
func serverConfig(t *testing.T, port int, extra string) string {
	t.Helper()
	dir := t.TempDir()
	return writeConfig(t, dir, fmt.Sprintf(`
server: {http_listen_address: 127.0.0.1, http_listen_port: %d, grpc_listen_port: 0, %s}
positions: {filename: %s/positions.yaml}
clients: [{url: "http://127.0.0.1:1/loki/api/v1/push"}]
scrape_configs:
- job_name: app
  static_configs: [{labels: {__path__: %s/*.log}}]
`, port, extra, dir, dir))
}

// The binary wires the main server's proxy_protocol_enabled through, and
// gives back its start-up pages once started (internal/exepages).
func TestMainServerProxyProtocolAndStartupPages(t *testing.T) {
	port := freePort(t)
	cfg := serverConfig(t, port, "proxy_protocol_enabled: true")
	agent := startAgent(t, nil, "-config.file="+cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitHTTP(t, "http://"+addr+"/metrics", http.StatusOK)

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprint(conn, "PROXY TCP4 192.0.2.10 127.0.0.1 40000 80\r\nGET /metrics HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET behind a PROXY header: status %d, want 200", resp.StatusCode)
	}

	if runtime.GOOS == "linux" {
		released := regexp.MustCompile(`released the start-up pages of the executable" mapped_bytes=[1-9][0-9]*`)
		if !released.MatchString(agent.Output()) {
			t.Errorf("no start-up pages released; agent output:\n%s", agent.Output())
		}
	}
}

// The binary runs the Go scheduler on one thread by default (internal/procs)
// and leaves the count to Go when told to or when GOMAXPROCS is set.
func TestGoSchedulerThreads(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  string
		want func(int) bool
		log  string
	}{
		{"governed", nil, "", func(n int) bool { return n == 1 }, "running the Go scheduler on as few threads as the load needs"},
		{"governor off", []string{"-runtime.adaptive-procs=false"}, "", func(n int) bool { return n >= min(2, runtime.NumCPU()) }, "the Go scheduler's thread count is left to Go"},
		{"environment", nil, "GOMAXPROCS=3", func(n int) bool { return n == 3 }, "GOMAXPROCS is set in the environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.args == nil && tt.env == "" && runtime.NumCPU() < 2 {
				t.Skip("one CPU: Go's own choice is one thread, nothing to govern")
			}
			port := freePort(t)
			cfg := serverConfig(t, port, "")
			agent := startAgentEnv(t, []string{tt.env}, append([]string{"-config.file=" + cfg}, tt.args...)...)
			url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
			body := waitHTTP(t, url, http.StatusOK)
			threads := regexp.MustCompile(`(?m)^go_sched_gomaxprocs_threads ([0-9]+)$`)
			var got int
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				m := threads.FindStringSubmatch(body)
				if m == nil {
					t.Fatalf("no go_sched_gomaxprocs_threads in /metrics:\n%s", body)
				}
				got, _ = strconv.Atoi(m[1])
				if tt.want(got) && strings.Contains(agent.Output(), tt.log) {
					return
				}
				if time.Now().After(deadline) {
					break
				}
				body = waitHTTP(t, url, http.StatusOK)
			}
			t.Errorf("go_sched_gomaxprocs_threads = %d, or no log line %q; agent output:\n%s", got, tt.log, agent.Output())
		})
	}
}
