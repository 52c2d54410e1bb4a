//go:build linux

package file

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unprivilegedEnv marks the copy of the test binary that runs as nobody.
const unprivilegedEnv = "FILE_TARGET_TEST_UNPRIVILEGED"

// TestUnreadableFile needs a file its process cannot read. Root reads
// everything, so as root the test runs itself again as the user nobody, in a
// copy of the test binary that nobody may execute.
func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		if os.Getenv(unprivilegedEnv) != "" {
			t.Fatal("still root after dropping privileges")
		}
		runAsNobody(t, "TestUnreadableFile")
		return
	}
	h := newHarness(t)
	locked := h.path("locked.log")
	appendFile(t, locked, "secret\n")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, h.path("open.log"), "visible\n")
	h.start(pathJob(h.path("*.log")))
	h.waitLines(1)
	time.Sleep(4 * h.syncPeriod) // retried at every sync, logged once
	if n := h.logs.countContaining("cannot open file", "permission denied"); n != 1 {
		t.Fatalf("the unreadable file was logged %d times, want once", n)
	}
	if err := os.Chmod(locked, 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitLines(2)
	assertExactlyOnce(t, h.out.Lines(), []string{"visible", "secret"})
}

func runAsNobody(t *testing.T, test string) {
	t.Helper()
	const nobody = 65534
	dir, err := os.MkdirTemp("", "filetarget-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "file.test")
	if err := copyExecutable(self, bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), unprivilegedEnv+"=1", "TMPDIR="+dir, "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, NoSetGroups: true}}
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		t.Fatalf("%s as nobody failed:\n%s", test, out)
	default:
		t.Skipf("cannot run the test as an unprivileged user (%v): root reads every file, so unreadability cannot be tested", err)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skipf("skipped as nobody:\n%s", out)
	}
	if !strings.Contains(string(out), "--- PASS: "+test) {
		t.Fatalf("%s did not pass as nobody:\n%s", test, out)
	}
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
