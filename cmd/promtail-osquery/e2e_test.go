package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/lokitest"
)

// binary is the agent built once for every test in this package, so the tests
// exercise the same command line a user runs.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "promtail-osquery-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "promtail-osquery")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the agent:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agentProcess is one run of the binary with its output captured.
type agentProcess struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	output bytes.Buffer
	done   chan struct{}
}

func (a *agentProcess) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.output.Write(p)
}

func (a *agentProcess) Output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.output.String()
}

func startAgent(t *testing.T, stdin io.Reader, args ...string) *agentProcess {
	t.Helper()
	return startAgentWith(t, stdin, os.Environ(), args...)
}

// startAgentEnv starts the agent without GOMAXPROCS from the test's
// environment, with env added.
func startAgentEnv(t *testing.T, env []string, args ...string) *agentProcess {
	t.Helper()
	base := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") })
	return startAgentWith(t, nil, append(base, env...), args...)
}

func startAgentWith(t *testing.T, stdin io.Reader, env []string, args ...string) *agentProcess {
	t.Helper()
	a := &agentProcess{cmd: exec.Command(binary, args...), done: make(chan struct{})}
	a.cmd.Stdout, a.cmd.Stderr, a.cmd.Stdin = a, a, stdin
	a.cmd.Env = append(env, "TZ=UTC")
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		<-a.done
		if t.Failed() {
			t.Logf("agent output:\n%s", a.Output())
		}
	})
	return a
}

// stop sends SIGTERM and waits for a clean exit.
func (a *agentProcess) stop(t *testing.T) {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop within 20s of SIGTERM")
	}
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("agent exited %d after SIGTERM, want 0", code)
	}
}

func appendLines(t *testing.T, path string, prefix string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	return writeConfigAs(t, dir, "promtail.yaml", body)
}

func writeConfigAs(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestShipsEveryLineExactlyOnce writes lines, rotates files both ways,
// truncates one, deletes one and restarts the agent, and checks that every line
// reached Loki exactly once with its labels.
func TestShipsEveryLineExactlyOnce(t *testing.T) {
	loki := lokitest.New(nil)
	defer loki.Close()
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf(`
server: {http_listen_address: 127.0.0.1, http_listen_port: 0, grpc_listen_port: 0}
positions: {filename: %s/positions/positions.yaml, sync_period: 200ms}
clients: [{url: %s, batchwait: 100ms}]
global: {file_watch_config: {min_poll_frequency: 50ms, max_poll_frequency: 100ms}}
target_config: {sync_period: 200ms}
scrape_configs:
- job_name: e2e
  static_configs:
  - labels: {job: e2e, __path__: '%s/*.log*', __path_exclude__: '%s/*.copy'}
`, dir, loki.PushURL(), logs, logs))

	want := map[string]string{} // line -> filename label it must carry
	add := func(file, prefix string, from, to int) {
		appendLines(t, filepath.Join(logs, file), prefix, from, to)
		for i := from; i < to; i++ {
			want[fmt.Sprintf("%s %d", prefix, i)] = filepath.Join(logs, file)
		}
	}
	// A line's filename label is where it was first read; rotated lines keep it.
	expect := func(stage string) {
		t.Helper()
		ok := loki.WaitFor(20*time.Second, func(got []lokitest.Entry) bool {
			seen := map[string]bool{}
			for _, e := range got {
				seen[e.Line] = true
			}
			for l := range want {
				if !seen[l] {
					return false
				}
			}
			return true
		})
		if !ok {
			t.Fatalf("%s: not every line arrived", stage)
		}
	}

	add("app.log", "app", 0, 100)
	add("other.log", "other", 0, 50)
	agent := startAgent(t, nil, "-config.file="+cfg)
	expect("initial read")

	// Rename and create: app.log.1 still matches the glob and must not be read again.
	add("app.log", "app", 100, 150)
	if err := os.Rename(filepath.Join(logs, "app.log"), filepath.Join(logs, "app.log.1")); err != nil {
		t.Fatal(err)
	}
	add("app.log", "app", 150, 200)
	expect("rename rotation")

	// Copy and truncate: the copy is excluded, the original starts again at 0.
	content, err := os.ReadFile(filepath.Join(logs, "other.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logs, "other.copy"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(logs, "other.log"), 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	add("other.log", "other", 50, 80)
	expect("copytruncate")

	// Delete one file; the agent must let go of it.
	if err := os.Remove(filepath.Join(logs, "app.log.1")); err != nil {
		t.Fatal(err)
	}
	agent.stop(t)

	// Lines written while the agent is down arrive after restart, once.
	add("app.log", "app", 200, 250)
	add("late.log", "late", 0, 10)
	agent = startAgent(t, nil, "-config.file="+cfg)
	expect("after restart")
	time.Sleep(500 * time.Millisecond) // a duplicate would arrive in this window
	agent.stop(t)

	counts := map[string]int{}
	for _, e := range loki.Entries() {
		counts[e.Line]++
		if wantFile, ok := want[e.Line]; ok {
			if e.Labels["job"] != "e2e" {
				t.Errorf("line %q has labels %v, want job=e2e", e.Line, e.Labels)
			}
			if e.Labels["filename"] != wantFile && !(strings.HasPrefix(e.Line, "app ") && e.Labels["filename"] == filepath.Join(logs, "app.log.1")) {
				t.Errorf("line %q has filename %q, want %q", e.Line, e.Labels["filename"], wantFile)
			}
		}
		for name := range e.Labels {
			if strings.HasPrefix(name, "__") {
				t.Errorf("reserved label %q was shipped", name)
			}
		}
	}
	for line, n := range counts {
		if _, ok := want[line]; !ok {
			t.Errorf("unexpected line %q", line)
		} else if n != 1 {
			t.Errorf("line %q arrived %d times", line, n)
		}
	}
	positions, err := os.ReadFile(filepath.Join(dir, "positions", "positions.yaml"))
	if err != nil {
		t.Fatalf("positions file not written: %v", err)
	}
	if !strings.Contains(string(positions), filepath.Join(logs, "app.log")) {
		t.Errorf("positions file lacks app.log:\n%s", positions)
	}
}
