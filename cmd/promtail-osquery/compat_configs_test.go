package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// compatDir is the corpus recorded from Promtail 3.6.15; CI clones the repo
// with shared/ beside it.
const compatConfigsDir = "../../../shared/compat/configs"

// unsupportedTargetKinds are the cases Promtail starts and we refuse because
// their target kind is not built yet, or (journal) not in this build: we fail
// at start naming it, never silently ignoring the job. Each names the words
// our error must contain.
var unsupportedTargetKinds = map[string]string{
	"gelf-and-heroku-jobs": "gelf targets are not supported yet",
	"journal-job":          "journal targets need a build with -tags promtail_journal_enabled",
}

type compatResult struct {
	CheckSyntaxExit   int               `json:"check_syntax_exit"`
	CheckSyntaxOutput string            `json:"check_syntax_output"`
	DryRunError       string            `json:"dry_run_error"`
	DryRunExit        *int              `json:"dry_run_exit"`
	Env               map[string]string `json:"env"`
	Args              []string          `json:"args"`
}

// TestCompatConfigs runs every recorded config case the way it was recorded
// (-check-syntax, then -dry-run stopped after 3 s) and checks that we reach
// Promtail's verdict: the same exit status, and a running agent where Promtail
// kept running.
func TestCompatConfigs(t *testing.T) {
	cases, err := os.ReadDir(compatConfigsDir)
	if err != nil {
		t.Fatalf("the compatibility corpus must be beside the repo: %v", err)
	}
	for _, c := range cases {
		if !c.IsDir() {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			t.Parallel()
			src := filepath.Join(compatConfigsDir, c.Name())
			raw, err := os.ReadFile(filepath.Join(src, "result.json"))
			if err != nil {
				t.Fatal(err)
			}
			var want compatResult
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			dir := copyDir(t, src)
			env := []string{"TZ=UTC"}
			for k, v := range want.Env {
				env = append(env, k+"="+v)
			}
			args := append([]string{"-config.file=promtail.yaml"}, want.Args...)

			out, code := runIn(t, dir, env, 20*time.Second, "", append(args, "-check-syntax")...)
			if code != want.CheckSyntaxExit {
				t.Fatalf("-check-syntax exit %d, Promtail %d\nours: %s\nPromtail: %s", code, want.CheckSyntaxExit, out, want.CheckSyntaxOutput)
			}

			// A run Promtail kept going is cut after 3s; one that must fail
			// gets time to fail on a loaded machine.
			timeout := 3 * time.Second
			_, unsupported := unsupportedTargetKinds[c.Name()]
			if want.DryRunExit != nil || unsupported {
				timeout = 20 * time.Second
			}
			out, code = runIn(t, dir, env, timeout, "", append(args, "-dry-run")...)
			for try := 1; code == 1 && strings.Contains(out, "address already in use") && try < 3; try++ {
				// A recorded config's fixed port (syslog-job's 41514) lies
				// in the ephemeral range: a connection of another test
				// may hold it for a moment.
				time.Sleep(time.Second)
				out, code = runIn(t, dir, env, timeout, "", append(args, "-dry-run")...)
			}
			if reason, ok := unsupportedTargetKinds[c.Name()]; ok {
				if code != 1 || !strings.Contains(out, reason) {
					t.Fatalf("want a start-up failure naming %q, got exit %d:\n%s", reason, code, out)
				}
				return
			}
			switch {
			case want.DryRunExit == nil && code != -1:
				t.Fatalf("Promtail kept running; we exited %d:\n%s", code, out)
			case want.DryRunExit != nil && code != *want.DryRunExit:
				t.Fatalf("dry-run exit %d, Promtail %d\nours: %s\nPromtail: %s", code, *want.DryRunExit, out, want.DryRunError)
			case code > 0 && strings.TrimSpace(out) == "":
				t.Fatalf("refused without saying why:\n%s", out)
			}
		})
	}
}

// runIn runs the agent in dir with stdin as its standard input and returns
// its combined output and exit code, or -1 when it was still running after
// timeout (and was then killed).
func runIn(t *testing.T, dir string, env []string, timeout time.Duration, stdin string, args ...string) (string, int) {
	t.Helper()
	var out strings.Builder
	return runInSplit(t, dir, env, timeout, stdin, &out, args...)
}

// runInSplit is runIn with standard output going to stdout; the returned
// output is standard error alone, or both when stdout is the same builder.
func runInSplit(t *testing.T, dir string, env []string, timeout time.Duration, stdin string, stdout *strings.Builder, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	combined := func() string { return stdout.String() + stderr.String() }
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return combined(), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return combined(), 0
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		return combined(), -1
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
