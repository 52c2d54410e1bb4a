package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/lokitest"
)

// TestSoakLokiDownSpoolRSS is issue 6's memory check: with Loki down for
// PROMTAIL_OSQUERY_SOAK (a duration, e.g. 10m; unset skips the test) while
// 2,000 lines a second are written, the agent's RSS stays flat because the
// backlog lives in the spool; when Loki returns every line arrives. Run it
// with `make soak`.
func TestSoakLokiDownSpoolRSS(t *testing.T) {
	spec := os.Getenv("PROMTAIL_OSQUERY_SOAK")
	if spec == "" {
		t.Skip("long test: set PROMTAIL_OSQUERY_SOAK=10m (or run make soak)")
	}
	down, err := time.ParseDuration(spec)
	if err != nil {
		t.Fatalf("PROMTAIL_OSQUERY_SOAK: %v", err)
	}
	const rate = 2000
	loki := lokitest.New(nil)
	defer loki.Close()
	flaky := newFlakyLoki(t, loki)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "osqueryd.results.log")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
server: {disable: true}
positions: {filename: %[1]s/positions.yaml}
wal: {enabled: true, dir: %[1]s/spool, maxSize: 4GB}
clients: [{url: %[2]s, batchwait: 1s, batchsize: 1048576}]
scrape_configs:
- job_name: osquery
  static_configs: [{labels: {job: osquery, __path__: %[3]s}}]
  pipeline_stages: [{osquery: {}}]
`, dir, flaky.pushURL(), logFile))
	agent := startAgent(t, nil, "-config.file="+cfg)

	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	start := time.Now()
	written := 0
	var samples []int
	nextSample := start.Add(30 * time.Second)
	for tick := time.NewTicker(100 * time.Millisecond); time.Since(start) < down; <-tick.C {
		for range rate / 10 {
			fmt.Fprintf(w, `{"name":"pack_incident-response_last","hostIdentifier":"h%d.example","calendarTime":"Mon Nov 30 00:00:00 2026 UTC","unixTime":1795910400,"epoch":0,"counter":%d,"numerics":false,"decorations":{"host_uuid":"u%d"},"columns":{"host":"10.0.0.%d","pid":"%d","time":"1795910400","tty":"pts/0","type":"7","type_name":"user-process","username":"soak%d"},"action":"added"}`+"\n",
				written%50, written, written%50, written%250, written, written)
			written++
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(nextSample) {
			samples = append(samples, rssKiB(t, agent.cmd.Process.Pid))
			nextSample = nextSample.Add(30 * time.Second)
		}
	}
	t.Logf("Loki down for %v, %d lines written; RSS every 30s (KiB): %v", down, written, samples)
	if len(samples) >= 2 {
		first, peak := samples[0], 0
		for _, s := range samples {
			peak = max(peak, s)
		}
		if growth := peak - first; growth > 32<<10 {
			t.Errorf("RSS grew by %d KiB while Loki was down (from %d KiB): the backlog is not on disk", growth, first)
		}
	}
	up := time.Now()
	flaky.up(t)
	if !loki.WaitFor(down+5*time.Minute, func(es []lokitest.Entry) bool { return len(es) >= written }) {
		t.Fatalf("%d of %d lines arrived after Loki came back", len(loki.Entries()), written)
	}
	t.Logf("backlog of %d lines drained in %v", written, time.Since(up).Round(time.Second))
	agent.stop(t)
}

func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
