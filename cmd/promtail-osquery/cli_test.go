package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCommandLine checks the command-line behaviours that have no recorded
// Promtail case: exit codes, -version, the config printers and -stdin's
// built-in job.
func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf(`
server: {disable: true}
positions: {filename: %s/positions.yaml}
clients: [{url: "http://127.0.0.1:1/loki/api/v1/push", basic_auth: {username: u, password: hunter2}}]
`, dir))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyCfg := writeConfigAs(t, dir, "busy.yaml", fmt.Sprintf(`
server: {http_listen_address: 127.0.0.1, http_listen_port: %d}
positions: {filename: %s/positions.yaml}
clients: [{url: "http://127.0.0.1:1/loki/api/v1/push"}]
scrape_configs:
- job_name: app
  static_configs: [{labels: {__path__: %s/*.log}}]
`, busy.Addr().(*net.TCPAddr).Port, dir, dir))
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		want     []string // substrings of the output
		notWant  []string
	}{
		{"unknown flag is a usage error", []string{"-no-such-flag"}, "", 2, []string{"flag provided but not defined: -no-such-flag", "Run with -help"}, nil},
		{"help", []string{"-help"}, "", 2, []string{"-config.file"}, nil},
		{"version", []string{"-version"}, "", 0, []string{"promtail-osquery, version"}, nil},
		{"check-syntax without a file", []string{"-check-syntax"}, "", 1, []string{"Invalid config file"}, nil},
		{"missing config file", []string{"-config.file=nope.yaml,also-nope.yaml"}, "", 1, []string{"nope.yaml,also-nope.yaml does not exist"}, nil},
		{"print-config-stderr masks secrets", []string{"-config.file=" + cfg, "-stdin", "-dry-run", "-print-config-stderr"}, "", 0, []string{"clients:", "password: <secret>"}, []string{"hunter2"}},
		{"log-config-reverse-order", []string{"-config.file=" + cfg, "-stdin", "-dry-run", "-log-config-reverse-order"}, "", 0, []string{"msg=clients:"}, []string{"hunter2"}},
		{"HTTP port in use", []string{"-config.file=" + busyCfg}, "", 1, []string{"error creating promtail", busy.Addr().String(), "address already in use"}, nil},
		{"stdin without a scrape config uses the stdin job", []string{"-config.file=" + cfg, "-stdin", "-dry-run"}, "hello\n", 0, []string{fmt.Sprintf("\t{hostname=%q, job=\"stdin\"}\thello", host)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runIn(t, dir, []string{"TZ=UTC"}, 20*time.Second, tt.stdin, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d:\n%s", code, tt.wantCode, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output contains %q:\n%s", w, out)
				}
			}
		})
	}
}
