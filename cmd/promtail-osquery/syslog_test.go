package main

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/lokitest"
)

// A syslog job turns RFC 5424 messages framed by octet counting into
// entries whose labels come from relabeling Promtail's __syslog_* labels.
func TestSyslogJobRelaysToLoki(t *testing.T) {
	loki := lokitest.New(nil)
	defer loki.Close()
	dir := t.TempDir()
	port := freePort(t)
	agent := startReceiverAgent(t, dir, loki, fmt.Sprintf(`
- job_name: syslog
  syslog:
    listen_address: 127.0.0.1:%d
    labels: {job: syslog}
  relabel_configs:
  - {source_labels: [__syslog_message_hostname], target_label: host}
  - {source_labels: [__syslog_message_app_name], target_label: app}
`, port))

	var conn net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("syslog listener never came up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, msg := range []string{
		`<34>1 2026-11-30T03:00:00Z web-01 sshd 4242 - - Accepted publickey for deploy from 10.0.0.7`,
		`<38>1 2026-11-30T03:00:01Z web-01 sshd 4242 - - Disconnected from 10.0.0.7`,
	} {
		fmt.Fprintf(conn, "%d %s", len(msg), msg)
	}
	conn.Close()
	if !loki.WaitFor(10*time.Second, func(es []lokitest.Entry) bool { return len(es) == 2 }) {
		t.Fatalf("Loki got %d entries, want 2", len(loki.Entries()))
	}
	for _, e := range loki.Entries() {
		if e.Labels["host"] != "web-01" || e.Labels["app"] != "sshd" || e.Labels["job"] != "syslog" {
			t.Fatalf("entry %q has labels %v", e.Line, e.Labels)
		}
	}
	agent.stop(t)
}
