//go:build linux && cgo && promtail_journal_enabled

package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/sdjournal"

	"github.com/promtail-osquery/promtail-osquery/internal/api/apitest"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/positions"
)

// requireJournalEnv makes a missing systemd-journal-remote a failure instead
// of a skip (CI installs it).
const requireJournalEnv = "PROMTAIL_OSQUERY_REQUIRE_JOURNAL"

// journalRemote finds systemd-journal-remote, which Debian installs outside
// PATH.
func journalRemote(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("systemd-journal-remote"); err == nil {
		return p
	}
	for _, p := range []string{"/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	if os.Getenv(requireJournalEnv) != "" {
		t.Fatalf("systemd-journal-remote is not installed and %s is set", requireJournalEnv)
	}
	t.Skip("systemd-journal-remote is not installed (Debian: apt-get install systemd-journal-remote)")
	return ""
}

// record is one journal entry to write: its time and its fields in order.
type record struct {
	ts     time.Time
	fields [][2]string
}

func rec(ts time.Time, kv ...string) record {
	r := record{ts: ts}
	for i := 0; i+1 < len(kv); i += 2 {
		r.fields = append(r.fields, [2]string{kv[i], kv[i+1]})
	}
	return r
}

const testBootID = "0123456789abcdef0123456789abcdef"

// journalFile is a journal file the test writes with systemd-journal-remote,
// which turns Journal Export Format into a .journal file and appends to an
// existing one.
type journalFile struct {
	t      *testing.T
	remote string
	path   string
	mono   uint64
}

func newJournalFile(t *testing.T, dir, name string) *journalFile {
	t.Helper()
	return &journalFile{t: t, remote: journalRemote(t), path: filepath.Join(dir, name)}
}

func (f *journalFile) append(records ...record) {
	f.t.Helper()
	var in bytes.Buffer
	for _, r := range records {
		f.mono += 1000
		fmt.Fprintf(&in, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n", r.ts.UnixMicro(), f.mono, testBootID)
		for _, kv := range r.fields {
			if strings.Contains(kv[1], "\n") {
				// The export format's binary form: name, newline, little-endian length, data.
				in.WriteString(kv[0] + "\n")
				_ = binary.Write(&in, binary.LittleEndian, uint64(len(kv[1])))
				in.WriteString(kv[1] + "\n")
				continue
			}
			in.WriteString(kv[0] + "=" + kv[1] + "\n")
		}
		in.WriteString("\n")
	}
	cmd := exec.Command(f.remote, "-o", f.path, "-")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		f.t.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
}

// cursors lists the cursors of the file's entries, in order.
func (f *journalFile) cursors() []string {
	f.t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	j, err := sdjournal.NewJournalFromFiles(f.path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer j.Close()
	var out []string
	for {
		n, err := j.Next()
		if err != nil {
			f.t.Fatal(err)
		}
		if n == 0 {
			return out
		}
		c, err := j.GetCursor()
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, c)
	}
}

// collector keeps what it is handed; holding, it keeps each entry's Ack
// unsettled, like a client whose batch is still on its way.
type collector = apitest.Collector

// release settles the held entries i..j-1 of c.
func release(c *collector, i, j int) {
	for _, e := range c.All()[i:j] {
		e.Ack.Release(1)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newPositions(t *testing.T, dir string) *positions.Positions {
	t.Helper()
	p, err := positions.New(nil, config.PositionsConfig{Filename: filepath.Join(dir, "positions.yaml"), SyncPeriod: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

func startTarget(t *testing.T, m *Metrics, job string, cfg config.JournalConfig, rules string, h *collector, pos *positions.Positions) *Target {
	t.Helper()
	tg, err := New(nil, m, job, &cfg, mustRelabel(t, rules), h, pos)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Stop)
	return tg
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}
