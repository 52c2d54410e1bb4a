package positions

import (
	"bytes"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

// lockedBuffer lets the sync goroutine log while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTestPositions(t *testing.T, cfg config.PositionsConfig) *Positions {
	t.Helper()
	if cfg.SyncPeriod == 0 {
		cfg.SyncPeriod = time.Hour
	}
	p, err := New(discardLogger(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

func readFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parse(data)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return got
}

// eventually polls cond for up to 5s; the sync goroutine runs on its own clock.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func touch(t *testing.T, path string) string {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	notDir := touch(t, filepath.Join(dir, "file"))
	nulFile := filepath.Join(dir, "nul.yaml")
	if err := os.WriteFile(nulFile, make([]byte, 128), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     config.PositionsConfig
		wantErr string
	}{
		{"empty filename", config.PositionsConfig{}, "filename is empty"},
		{"negative sync period", config.PositionsConfig{Filename: filepath.Join(dir, "p.yaml"), SyncPeriod: -time.Second}, "sync_period must be positive"},
		{"unreadable path", config.PositionsConfig{Filename: filepath.Join(notDir, "p.yaml")}, "reading positions file"},
		{"invalid file", config.PositionsConfig{Filename: nulFile + "/."}, "invalid yaml positions file [" + nulFile + "]: yaml: control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(nil, tt.cfg)
			if err == nil {
				p.Stop()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewDefaultsSyncPeriod(t *testing.T) {
	p, err := New(nil, config.PositionsConfig{Filename: filepath.Join(t.TempDir(), "p.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if p.SyncPeriod() != config.DefaultPositionsSyncPeriod {
		t.Errorf("SyncPeriod = %v, want %v", p.SyncPeriod(), config.DefaultPositionsSyncPeriod)
	}
}

func TestGetPutRemove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "positions.yaml")
	if err := os.WriteFile(path, []byte("positions:\n  /loaded: \"0012\"\n  /text: abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newTestPositions(t, config.PositionsConfig{Filename: path})
	p.Put("/put", 42)
	p.PutString(CursorKey("job"), "s=1;i=2")
	p.Put("/removed", 7)
	p.Remove("/removed")
	p.Remove("/never-there")

	tests := []struct {
		key        string
		wantOffset int64
		wantErr    bool
		wantString string
	}{
		{key: "/absent", wantOffset: 0, wantString: ""},
		{key: "/put", wantOffset: 42, wantString: "42"},
		{key: "/loaded", wantOffset: 12, wantString: "0012"},
		{key: "/text", wantErr: true, wantString: "abc"},
		{key: "cursor-job", wantErr: true, wantString: "s=1;i=2"},
		{key: "/removed", wantOffset: 0, wantString: ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got, err := p.Get(tt.key)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Get error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.key) {
				t.Errorf("Get error %q does not name the key", err)
			}
			if got != tt.wantOffset {
				t.Errorf("Get = %d, want %d", got, tt.wantOffset)
			}
			if s := p.GetString(tt.key); s != tt.wantString {
				t.Errorf("GetString = %q, want %q", s, tt.wantString)
			}
		})
	}
}

func TestSnapshotIsACopy(t *testing.T) {
	p := newTestPositions(t, config.PositionsConfig{Filename: filepath.Join(t.TempDir(), "p.yaml")})
	p.Put("/a", 1)
	snap := p.Snapshot()
	snap["/a"] = "999"
	snap["/b"] = "2"
	if want := map[string]string{"/a": "1"}; !maps.Equal(p.Snapshot(), want) {
		t.Errorf("Snapshot after editing a copy = %v, want %v", p.Snapshot(), want)
	}
}

func TestPutDoesNotAllocate(t *testing.T) {
	p := newTestPositions(t, config.PositionsConfig{Filename: filepath.Join(t.TempDir(), "p.yaml")})
	const key = "/var/log/osquery/osqueryd.results.log"
	p.Put(key, 1)
	offset := int64(1)
	if allocs := testing.AllocsPerRun(200, func() {
		offset += 4096
		p.Put(key, offset)
	}); allocs != 0 {
		t.Errorf("Put allocates %v times per call, want 0", allocs)
	}
}

// Positions written by one run are read by the next, with every kind of value.
func TestRoundTripThroughFile(t *testing.T) {
	dir := t.TempDir()
	logA := touch(t, filepath.Join(dir, "a.log"))
	logB := touch(t, filepath.Join(dir, "b with space.log"))
	cfg := config.PositionsConfig{Filename: filepath.Join(dir, "positions.yaml"), SyncPeriod: time.Hour}

	first, err := New(nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	first.Put(logA, 1<<40)
	first.Put(logB, 0)
	first.PutString(CursorKey("journal"), "s=ab;i=1;b=cd;m=2;t=3;x=ef")
	first.PutString(CursorKey("zone"), "1700000000123456789")
	first.PutString("journal-old", "null")
	want := first.Snapshot()
	first.Stop()

	second, err := New(nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Stop()
	if got := second.Snapshot(); !maps.Equal(got, want) {
		t.Errorf("second run read %q, want %q", got, want)
	}
	if got, err := second.Get(logA); err != nil || got != 1<<40 {
		t.Errorf("Get(%s) = %d, %v; want %d", logA, got, err, int64(1<<40))
	}
}

func TestStopWritesFinalState(t *testing.T) {
	dir := t.TempDir()
	logA := touch(t, filepath.Join(dir, "a.log"))
	path := filepath.Join(dir, "positions.yaml")
	p, err := New(nil, config.PositionsConfig{Filename: path, SyncPeriod: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p.Put(logA, 10)
	p.Put(logA, 20)
	p.PutString(CursorKey("x"), "c")
	p.Stop()
	p.Stop()

	if got, want := readFile(t, path), map[string]string{logA: "20", "cursor-x": "c"}; !maps.Equal(got, want) {
		t.Errorf("file after Stop = %q, want %q", got, want)
	}
	assertMode(t, path, fileMode)
}

func TestPeriodicSync(t *testing.T) {
	dir := t.TempDir()
	logA := touch(t, filepath.Join(dir, "a.log"))
	path := filepath.Join(dir, "positions.yaml")
	p := newTestPositions(t, config.PositionsConfig{Filename: path, SyncPeriod: 10 * time.Millisecond})
	p.Put(logA, 5)
	eventually(t, "the first periodic write", func() bool {
		data, err := os.ReadFile(path)
		return err == nil && bytes.Contains(data, []byte(`"5"`))
	})
	p.Put(logA, 6)
	eventually(t, "a later periodic write", func() bool {
		data, err := os.ReadFile(path)
		return err == nil && bytes.Contains(data, []byte(`"6"`))
	})
}

func TestSyncDropsVanishedFilesKeepsCursors(t *testing.T) {
	dir := t.TempDir()
	kept := touch(t, filepath.Join(dir, "kept.log"))
	deletedLater := touch(t, filepath.Join(dir, "deleted-later.log"))
	path := filepath.Join(dir, "positions.yaml")
	p := newTestPositions(t, config.PositionsConfig{Filename: path})

	p.Put(kept, 1)
	p.Put(deletedLater, 2)
	p.Put(filepath.Join(dir, "never-existed.log"), 3)
	p.Put(filepath.Join(kept, "under-a-file.log"), 4)
	p.PutString(CursorKey("journal"), "s=1")
	p.PutString("journal-legacy", "s=2")

	if err := p.SyncNow(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{kept: "1", deletedLater: "2", "cursor-journal": "s=1", "journal-legacy": "s=2"}
	if got := readFile(t, path); !maps.Equal(got, want) {
		t.Errorf("file after first sync = %q, want %q", got, want)
	}

	if err := os.Remove(deletedLater); err != nil {
		t.Fatal(err)
	}
	if err := p.SyncNow(); err != nil {
		t.Fatal(err)
	}
	delete(want, deletedLater)
	if got := readFile(t, path); !maps.Equal(got, want) {
		t.Errorf("file after the log was deleted = %q, want %q", got, want)
	}
	if got := p.Snapshot(); !maps.Equal(got, want) {
		t.Errorf("Snapshot = %q, want %q", got, want)
	}
}

func TestMissingDirectoryIsCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "promtail")
	path := filepath.Join(dir, "positions.yaml")
	p := newTestPositions(t, config.PositionsConfig{Filename: path})
	p.PutString(CursorKey("a"), "1")
	if err := p.SyncNow(); err != nil {
		t.Fatalf("SyncNow: %v", err)
	}
	if got := readFile(t, path); !maps.Equal(got, map[string]string{"cursor-a": "1"}) {
		t.Errorf("file = %q", got)
	}
}

// The write failure path as any user, root included: a regular file where the directory should be.
func TestWriteFailureIsLoggedAndRetried(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "state")
	path := filepath.Join(dir, "positions.yaml")
	logs := &lockedBuffer{}
	p, err := New(slog.New(slog.NewTextHandler(logs, nil)),
		config.PositionsConfig{Filename: path, SyncPeriod: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	touch(t, dir)
	p.PutString(CursorKey("a"), "1")

	if err := p.SyncNow(); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("SyncNow error = %v, want one naming %s", err, path)
	}
	eventually(t, "the write failure to be logged with the path", func() bool {
		out := logs.String()
		return strings.Contains(out, "level=ERROR") && strings.Contains(out, "path="+path)
	})

	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the retry to write the file", func() bool {
		data, err := os.ReadFile(path)
		return err == nil && bytes.Contains(data, []byte("cursor-a"))
	})
}

func TestReadOnlyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	// Root (or CAP_DAC_OVERRIDE) writes into a 0500 directory regardless, so the permission cannot
	// produce the failure; TestWriteFailureIsLoggedAndRetried covers the same path for every user.
	if f, err := os.CreateTemp(dir, "probe"); err == nil {
		f.Close()
		t.Skip("directory permissions are not enforced for this user (root); failure path covered by TestWriteFailureIsLoggedAndRetried")
	}

	path := filepath.Join(dir, "positions.yaml")
	p := newTestPositions(t, config.PositionsConfig{Filename: path})
	p.PutString(CursorKey("a"), "1")
	if err := p.SyncNow(); err == nil || !errors.Is(err, os.ErrPermission) {
		t.Fatalf("SyncNow in a read-only directory = %v, want a permission error", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := p.SyncNow(); err != nil {
		t.Fatalf("SyncNow after the directory became writable: %v", err)
	}
	if got := readFile(t, path); !maps.Equal(got, map[string]string{"cursor-a": "1"}) {
		t.Errorf("file = %q", got)
	}
}

func TestReadOnlyNeverWrites(t *testing.T) {
	existing := []byte("positions:\n  cursor-a: \"1\"\n  /gone.log: 9\n")
	tests := []struct {
		name    string
		content []byte // nil: no file and no directory
		ignore  bool
		want    map[string]string
	}{
		{"existing file", existing, false, map[string]string{"cursor-a": "1", "/gone.log": "9"}},
		{"missing directory", nil, false, map[string]string{}},
		{"invalid file ignored", make([]byte, 32), true, map[string]string{}},
		{"torn file salvaged", []byte("positions:\n  cursor-a: \"1\"\n  /b: \"2"), false, map[string]string{"cursor-a": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			path := filepath.Join(dir, "positions.yaml")
			if tt.content != nil {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, tt.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p, err := New(nil, config.PositionsConfig{Filename: path, SyncPeriod: time.Millisecond,
				IgnoreInvalidYaml: tt.ignore, ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Snapshot(); !maps.Equal(got, tt.want) {
				t.Errorf("loaded %q, want %q", got, tt.want)
			}
			p.Put("/new.log", 1)
			p.Remove("cursor-a")
			if err := p.SyncNow(); err != nil {
				t.Errorf("SyncNow in read-only mode: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
			p.Stop()

			if tt.content == nil {
				if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("read-only mode created %s (stat: %v)", dir, err)
				}
				return
			}
			assertDirEntries(t, dir, "positions.yaml")
			if got, _ := os.ReadFile(path); !bytes.Equal(got, tt.content) {
				t.Errorf("read-only mode changed the file to %q", got)
			}
			assertMode(t, path, 0o644)
		})
	}
}

// A file that is not a positions file at all is fatal by default (TestNewRejectsBadConfig); with
// ignore_invalid_yaml the start is empty, with one warning and the bytes kept.
func TestIgnoreInvalidYamlStartsEmptyAndWarns(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "positions.yaml")
	garbage := make([]byte, 116)
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	p, err := New(slog.New(slog.NewTextHandler(logs, nil)),
		config.PositionsConfig{Filename: path, SyncPeriod: time.Hour, IgnoreInvalidYaml: true})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got := p.Snapshot(); len(got) != 0 {
		t.Errorf("started with %q, want nothing", got)
	}
	out := logs.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "path="+path) ||
		!strings.Contains(out, "copy="+path+corruptSuffix) {
		t.Errorf("want one warning naming the file and its copy, got: %s", out)
	}
	p.Stop()

	if got := readFile(t, path); len(got) != 0 {
		t.Errorf("file after Stop = %q, want an empty table", got)
	}
	if copied, err := os.ReadFile(path + corruptSuffix); err != nil || !bytes.Equal(copied, garbage) {
		t.Errorf("corrupt copy = %q, %v; want %q", copied, err, garbage)
	}
}

// A torn file starts with its whole records whatever ignore_invalid_yaml says, warns once with
// the counts, keeps the torn bytes, and the first sync replaces it with a sound file.
func TestNewSalvagesTornFile(t *testing.T) {
	for name, ignore := range map[string]bool{"default": false, "ignore_invalid_yaml": true} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			logA := touch(t, filepath.Join(dir, "a.log"))
			logB := touch(t, filepath.Join(dir, "b.log"))
			path := filepath.Join(dir, "positions.yaml")
			torn := []byte("positions:\n  " + logA + ": \"120\"\n  cursor-j: s=1;i=2\n  " + logB + ": \"12")
			if err := os.WriteFile(path, torn, 0o600); err != nil {
				t.Fatal(err)
			}
			logs := &lockedBuffer{}
			p, err := New(slog.New(slog.NewTextHandler(logs, nil)),
				config.PositionsConfig{Filename: path, SyncPeriod: time.Hour, IgnoreInvalidYaml: ignore})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			want := map[string]string{logA: "120", "cursor-j": "s=1;i=2"}
			if got := p.Snapshot(); !maps.Equal(got, want) {
				t.Errorf("started with %q, want %q", got, want)
			}
			out := logs.String()
			for _, part := range []string{"level=WARN", "path=" + path, "salvaged=2", "dropped=1", "copy=" + path + corruptSuffix} {
				if !strings.Contains(out, part) {
					t.Errorf("warning lacks %q: %s", part, out)
				}
			}
			if n := strings.Count(out, "\n"); n != 1 {
				t.Errorf("logged %d lines, want one warning: %s", n, out)
			}
			p.Stop()

			if got := readFile(t, path); !maps.Equal(got, want) {
				t.Errorf("file after Stop = %q, want %q", got, want)
			}
			if copied, err := os.ReadFile(path + corruptSuffix); err != nil || !bytes.Equal(copied, torn) {
				t.Errorf("corrupt copy = %q, %v; want %q", copied, err, torn)
			}
		})
	}
}

func TestStaleTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "positions.yaml")
	stale := touch(t, path+tempInfix+"123456")
	unrelated := touch(t, filepath.Join(dir, "other.yaml"+tempInfix+"1"))
	newTestPositions(t, config.PositionsConfig{Filename: path})
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file survived (stat: %v)", err)
	}
	if _, err := os.Stat(unrelated); err != nil {
		t.Errorf("another file's temp file was touched: %v", err)
	}
}

// Run with -race: the hot path, readers, syncs and the sync goroutine together.
func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	logs := make([]string, 4)
	for i := range logs {
		logs[i] = touch(t, filepath.Join(dir, string(rune('a'+i))+".log"))
	}
	path := filepath.Join(dir, "positions.yaml")
	p := newTestPositions(t, config.PositionsConfig{Filename: path, SyncPeriod: time.Millisecond})

	var wg sync.WaitGroup
	for i, log := range logs {
		wg.Go(func() {
			for n := range int64(2000) {
				p.Put(log, n)
				if _, err := p.Get(log); err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				if n%500 == 0 {
					p.PutString(CursorKey(log), "c")
					p.Remove(CursorKey(log))
					_ = p.Snapshot()
				}
			}
		})
		if i == 0 {
			wg.Go(func() {
				for range 20 {
					if err := p.SyncNow(); err != nil {
						t.Errorf("SyncNow: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	p.Stop()
	got := readFile(t, path)
	for _, log := range logs {
		if got[log] != "1999" {
			t.Errorf("%s = %q in file, want 1999", log, got[log])
		}
	}
}

// SyncSoon writes a change within soonGap, long before the period, and
// leaves the search for vanished files to the periodic sync.
func TestSyncSoonWritesPromptlyWithoutPruning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "positions.yaml")
	live := filepath.Join(dir, "live.log")
	if err := os.WriteFile(live, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p := newTestPositions(t, config.PositionsConfig{Filename: path, SyncPeriod: time.Hour})
	gone := filepath.Join(dir, "gone.log")
	p.Put(gone, 7)
	p.Put(live, 42)
	p.SyncSoon()
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), `"42"`) {
			if !strings.Contains(string(data), "gone.log") {
				t.Fatalf("SyncSoon dropped a vanished file's position:\n%s", data)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SyncSoon did not write within 5s:\n%s", data)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.SyncNow(); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); strings.Contains(string(data), "gone.log") {
		t.Fatalf("the full sync kept a vanished file's position:\n%s", data)
	}
}
