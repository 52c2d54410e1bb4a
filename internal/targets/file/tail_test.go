package file

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"golang.org/x/text/encoding/unicode"
)

func TestChunkedWritesWithPartialLastLine(t *testing.T) {
	h := newHarness(t)
	path := h.path("app.log")
	appendFile(t, path, "")
	h.start(pathJob(h.path("*.log")))
	waitFor(t, 5*time.Second, "file opened", h.m.Ready)

	steps := []struct {
		write string
		want  []string
	}{
		{write: "one\ntw", want: []string{"one"}},
		{write: "o\r\nthr", want: []string{"one", "two\r"}},
		{write: "ee", want: []string{"one", "two\r"}},
		{write: "\n\nfour\n", want: []string{"one", "two\r", "three", "", "four"}},
	}
	for i, s := range steps {
		appendFile(t, path, s.write)
		h.waitLines(len(s.want))
		// Give a held-back line the chance to leak out before checking.
		time.Sleep(3 * h.watch.MaxPollFrequency)
		if got := h.out.Lines(); strings.Join(got, "|") != strings.Join(s.want, "|") || len(got) != len(s.want) {
			t.Fatalf("step %d: lines = %q, want %q", i, got, s.want)
		}
	}
	e := h.out.All()[0]
	want := model.LabelSet{"job": "test", "filename": model.LabelValue(path)}
	if !e.Labels.Equal(want) {
		t.Fatalf("labels = %v, want %v", e.Labels, want)
	}
	if time.Since(e.Timestamp) > time.Minute || e.Timestamp.After(time.Now()) {
		t.Fatalf("timestamp %v is not the read time", e.Timestamp)
	}
	if got := h.pos.snapshot()[path]; got != fmt.Sprint(len("one\ntwo\r\nthree\n\nfour\n")) {
		t.Fatalf("position = %s", got)
	}
}

func TestNewFilesPickedUpQuickly(t *testing.T) {
	h := newHarness(t)
	// A sync period this long means only the directory watch can find the
	// files in time.
	h.syncPeriod = time.Hour
	h.start(pathJob(h.path("*.log")))
	time.Sleep(200 * time.Millisecond) // let discovery run its first sync with no file
	for i := range 3 {
		name := h.path(fmt.Sprintf("new-%d.log", i))
		appendFile(t, name, fmt.Sprintf("hello %d\n", i))
		h.waitLines(i + 1)
	}
	appendFile(t, h.path("ignored.txt"), "not matched\n")
	time.Sleep(100 * time.Millisecond)
	assertExactlyOnce(t, h.out.Lines(), []string{"hello 0", "hello 1", "hello 2"})
}

func TestFilesInNewDirectories(t *testing.T) {
	h := newHarness(t)
	h.start(pathJob(h.path("*/app.log")))
	time.Sleep(100 * time.Millisecond)
	if err := os.Mkdir(h.path("a"), 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, h.path("a/app.log"), "in a\n")
	h.waitLines(1)
	if err := os.MkdirAll(h.path("b"), 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, h.path("b/app.log"), "in b\n")
	h.waitLines(2)
	assertExactlyOnce(t, h.out.Lines(), []string{"in a", "in b"})
}

func rotateByRename(t *testing.T, path string, gen int) {
	t.Helper()
	if err := os.Rename(path, fmt.Sprintf("%s.%d", path, gen)); err != nil {
		t.Fatal(err)
	}
}

func TestRotateRenameCreate(t *testing.T) {
	tests := []struct {
		name string
		glob string
		// gate waits for the new file to be opened before rotating again.
		// Without it, a file renamed to a name the glob does not match
		// before it was ever opened cannot be found by any reader.
		gate bool
		// ordered: the rest of a rotated file is read before the new one.
		ordered bool
	}{
		{name: "rotated name not matched", glob: "app.log", gate: true, ordered: true},
		{name: "rotated name matched", glob: "app.log*", gate: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			path := h.path("app.log")
			appendFile(t, path, "")
			h.start(pathJob(h.path(tt.glob)))
			waitFor(t, 5*time.Second, "file opened", h.m.Ready)

			const total, every = 20000, 2000
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := range total {
				line := fmt.Sprintf("line %d", i)
				want = append(want, line)
				if _, err := f.WriteString(line + "\n"); err != nil {
					t.Fatal(err)
				}
				if i%every == every-1 {
					if tt.gate {
						h.waitLines(i - every + 2)
					}
					if err := f.Close(); err != nil {
						t.Fatal(err)
					}
					rotateByRename(t, path, i/every)
					if f, err = os.Create(path); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			h.waitLines(total)
			time.Sleep(300 * time.Millisecond) // duplicates would arrive now
			got := h.out.Lines()
			assertExactlyOnce(t, got, want)
			if tt.ordered {
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("line %d is %q, want %q: the old file was not drained before the new one", i, got[i], want[i])
					}
				}
			}
		})
	}
}

func TestRotatedFileStillMatchingIsNotReread(t *testing.T) {
	h := newHarness(t)
	path := h.path("app.log")
	appendFile(t, path, numbered("old", 0, 100))
	h.start(pathJob(h.path("app.log*")))
	h.waitLines(100)

	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	appendFile(t, rotated, numbered("late", 0, 5)) // the application had not reopened yet
	appendFile(t, path, numbered("new", 0, 10))
	h.waitLines(115)
	time.Sleep(3 * h.syncPeriod) // several syncs see app.log.1: none may re-read it

	want := splitLines(numbered("old", 0, 100) + numbered("late", 0, 5) + numbered("new", 0, 10))
	assertExactlyOnce(t, h.out.Lines(), want)
	fi, err := os.Stat(rotated)
	if err != nil {
		t.Fatal(err)
	}
	pos := h.pos.snapshot()
	if pos[rotated] != fmt.Sprint(fi.Size()) {
		t.Fatalf("position of the rotated file = %q, want its size %d", pos[rotated], fi.Size())
	}
	if pos[path] != fmt.Sprint(len(numbered("new", 0, 10))) {
		t.Fatalf("position of the new file = %q", pos[path])
	}
	// The rest of the rotated file keeps the stream it was read in.
	for _, e := range h.out.All() {
		if strings.HasPrefix(e.Line, "late") && e.Labels[filenameLabel] != model.LabelValue(path) {
			t.Fatalf("line %q has filename %q, want %q", e.Line, e.Labels[filenameLabel], path)
		}
	}
}

func TestCopyTruncate(t *testing.T) {
	h := newHarness(t)
	path := h.path("app.log")
	appendFile(t, path, numbered("before", 0, 200)+"unterminated")
	h.start(pathJob(h.path("*.log")))
	h.waitLines(200)

	// logrotate copytruncate: copy, then truncate in place.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.path("app.log.1"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, numbered("after", 0, 20))
	h.waitLines(221)
	time.Sleep(3 * h.watch.MaxPollFrequency)
	want := splitLines(numbered("before", 0, 200) + "unterminated\n" + numbered("after", 0, 20))
	assertExactlyOnce(t, h.out.Lines(), want)
	if got := h.pos.snapshot()[path]; got != fmt.Sprint(len(numbered("after", 0, 20))) {
		t.Fatalf("position after truncation = %s", got)
	}
}

func TestTruncatedWhileRunning(t *testing.T) {
	h := newHarness(t)
	path := h.path("app.log")
	appendFile(t, path, numbered("first", 0, 50))
	h.start(pathJob(path))
	h.waitLines(50)
	if err := os.WriteFile(path, []byte("short\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitLines(51)
	time.Sleep(3 * h.watch.MaxPollFrequency)
	assertExactlyOnce(t, h.out.Lines(), append(splitLines(numbered("first", 0, 50)), "short"))
}

func TestDeletedFileIsClosed(t *testing.T) {
	h := newHarness(t)
	path := h.path("app.log")
	other := h.path("other.log")
	appendFile(t, path, "a\nb\n")
	appendFile(t, other, "x\n")
	h.start(pathJob(h.path("*.log")))
	h.waitLines(3)
	if n := openFDsTo(t, path); n != 1 {
		t.Fatalf("%d descriptors open on the file, want 1", n)
	}
	if !seriesExists(t, h.reg, "promtail_file_bytes_total", path) {
		t.Fatal("no promtail_file_bytes_total series for the file")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "descriptor closed", func() bool { return openFDsTo(t, path) == 0 })
	waitFor(t, 5*time.Second, "position dropped", func() bool {
		_, ok := h.pos.snapshot()[path]
		return !ok
	})
	for _, metric := range []string{"promtail_file_bytes_total", "promtail_read_bytes_total", "promtail_read_lines_total"} {
		waitFor(t, 5*time.Second, metric+" series deleted", func() bool { return !seriesExists(t, h.reg, metric, path) })
	}
	if !seriesExists(t, h.reg, "promtail_read_lines_total", other) {
		t.Fatal("the series of a file still read was deleted")
	}
	if got := testutil.ToFloat64(h.metrics.filesActive); got != 1 {
		t.Fatalf("promtail_files_active_total = %v, want 1", got)
	}
	// A new file at the same path is new: read from its start.
	appendFile(t, path, "c\n")
	h.waitLines(4)
	assertExactlyOnce(t, h.out.Lines(), []string{"a", "b", "x", "c"})
}

func TestRestartFromSavedPositions(t *testing.T) {
	tests := []struct {
		name     string
		saved    func(path string) map[string]string
		content  string
		appended string
		want     []string
	}{
		{
			name:     "resume after the last line read",
			content:  "one\ntwo\n",
			saved:    func(p string) map[string]string { return map[string]string{p: "4"} },
			appended: "three\n",
			want:     []string{"two", "three"},
		},
		{
			name:    "saved position past the end: truncated while stopped",
			content: "short\n",
			saved:   func(p string) map[string]string { return map[string]string{p: "1000"} },
			want:    []string{"short"},
		},
		{
			name:    "unusable saved position: from the start",
			content: "a\n",
			saved:   func(p string) map[string]string { return map[string]string{p: "cursor"} },
			want:    []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			path := h.path("app.log")
			appendFile(t, path, tt.content)
			h.pos = newMemPositions(tt.saved(path))
			h.start(pathJob(path))
			if tt.appended != "" {
				waitFor(t, 5*time.Second, "file opened", h.m.Ready)
				appendFile(t, path, tt.appended)
			}
			h.waitLines(len(tt.want))
			time.Sleep(3 * h.watch.MaxPollFrequency)
			assertExactlyOnce(t, h.out.Lines(), tt.want)
		})
	}
}

func TestStopSavesPositionsAndRestartResumes(t *testing.T) {
	h := newHarness(t)
	path := h.path("app.log")
	appendFile(t, path, "one\ntwo\npart")
	h.start(pathJob(path))
	h.waitLines(2)
	h.m.Stop()
	if got := h.pos.snapshot()[path]; got != "8" {
		t.Fatalf("position after Stop = %q, want 8 (the held-back line is not counted)", got)
	}
	appendFile(t, path, "ial\nthree\n")

	h2 := newHarness(t)
	h2.pos = h.pos
	h2.start(pathJob(path))
	h2.waitLines(2)
	time.Sleep(3 * h.watch.MaxPollFrequency)
	assertExactlyOnce(t, h2.out.Lines(), []string{"partial", "three"})
}

func TestTailFromEnd(t *testing.T) {
	h := newHarness(t)
	old := h.path("old.log")
	saved := h.path("saved.log")
	appendFile(t, old, "old 1\nold 2\nbeing writ")
	appendFile(t, saved, "s1\ns2\n")
	h.pos = newMemPositions(map[string]string{saved: "3"})
	job := pathJob(h.path("*.log"))
	job.TailFromEnd = true
	h.start(job)
	waitFor(t, 5*time.Second, "both files opened", func() bool {
		n := 0
		for _, ts := range h.m.ActiveTargets() {
			n += len(ts.Files)
		}
		return n == 2
	})
	appendFile(t, old, "ten\n")
	appendFile(t, h.path("created-later.log"), "all of it\n")
	h.waitLines(3)
	time.Sleep(3 * h.watch.MaxPollFrequency)
	// A saved position wins; a file created after the start is new, so all
	// of it is read; the line being written at the end is read whole.
	assertExactlyOnce(t, h.out.Lines(), []string{"being written", "s2", "all of it"})
}

func TestExcludeGlob(t *testing.T) {
	h := newHarness(t)
	for _, name := range []string{"a.log", "b.log", "debug.log"} {
		appendFile(t, h.path(name), name+"\n")
	}
	h.start(staticJob("test", model.LabelSet{
		pathLabel:        model.LabelValue(h.path("*.log")),
		pathExcludeLabel: model.LabelValue(h.path("debug*")),
	}))
	h.waitLines(2)
	appendFile(t, h.path("debug-2.log"), "excluded\n")
	appendFile(t, h.path("c.log"), "c.log\n")
	h.waitLines(3)
	time.Sleep(2 * h.syncPeriod)
	assertExactlyOnce(t, h.out.Lines(), []string{"a.log", "b.log", "c.log"})
}

func TestBinaryAndInvalidUTF8PassThrough(t *testing.T) {
	h := newHarness(t)
	path := h.path("bin.log")
	rng := rand.New(rand.NewPCG(1, 2))
	var want [][]byte
	var content bytes.Buffer
	for range 50 {
		line := make([]byte, rng.IntN(300))
		for i := range line {
			line[i] = byte(rng.UintN(256))
			if line[i] == '\n' {
				line[i] = 0
			}
		}
		want = append(want, line)
		content.Write(line)
		content.WriteByte('\n')
	}
	want = append(want, []byte("\xff\xfe invalid \xc3\x28 utf-8 \x00 nul"))
	content.WriteString("\xff\xfe invalid \xc3\x28 utf-8 \x00 nul\n")
	if err := os.WriteFile(path, content.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	h.start(pathJob(path))
	h.waitLines(len(want))
	got := h.out.Lines()
	for i := range want {
		if got[i] != string(want[i]) {
			t.Fatalf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestTenMiBLine(t *testing.T) {
	h := newHarness(t)
	path := h.path("big.log")
	appendFile(t, path, "")
	h.start(pathJob(path))
	waitFor(t, 5*time.Second, "file opened", h.m.Ready)
	big := strings.Repeat("0123456789abcdef", 10<<20/16)
	// Written in pieces so that most of it sits held back for a while.
	for i := 0; i < len(big); i += 1 << 20 {
		appendFile(t, path, big[i:i+1<<20])
	}
	appendFile(t, path, "\nafter\n")
	h.waitLines(2)
	got := h.out.Lines()
	if len(got[0]) != len(big) || got[0] != big || got[1] != "after" {
		t.Fatalf("got lines of %d and %q, want %d bytes then \"after\"", len(got[0]), got[1], len(big))
	}
}

func TestEmptyFile(t *testing.T) {
	h := newHarness(t)
	path := h.path("empty.log")
	appendFile(t, path, "")
	h.start(pathJob(path))
	waitFor(t, 5*time.Second, "file opened", h.m.Ready)
	time.Sleep(3 * h.watch.MaxPollFrequency)
	if n := h.out.Count(); n != 0 {
		t.Fatalf("%d entries from an empty file", n)
	}
	files := h.m.ActiveTargets()[0].Files
	if len(files) != 1 || files[0] != (FileStatus{Path: path}) {
		t.Fatalf("files = %+v", files)
	}
	if got := h.pos.snapshot()[path]; got != "0" {
		t.Fatalf("position = %q, want 0", got)
	}
}

func TestDirectoryAndFIFOMatchingTheGlob(t *testing.T) {
	h := newHarness(t)
	if err := os.Mkdir(h.path("dir.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(h.path("fifo.log"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	appendFile(t, h.path("real.log"), "real\n")
	h.start(pathJob(h.path("*.log")))
	h.waitLines(1)
	time.Sleep(3 * h.syncPeriod)
	if got := h.out.Lines(); len(got) != 1 || got[0] != "real" {
		t.Fatalf("lines = %q", got)
	}
	for _, kind := range []string{"type=directory", "type=named pipe"} {
		if n := h.logs.countContaining("not a regular file", kind); n != 1 {
			t.Fatalf("%q logged %d times over several syncs, want once", kind, n)
		}
	}
	if files := h.m.ActiveTargets()[0].Files; len(files) != 1 {
		t.Fatalf("files = %+v, want only real.log", files)
	}
}

func TestEncoding(t *testing.T) {
	utf16le := func(s string) string {
		out, err := unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewEncoder().String(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		encoding string
		content  string
		want     []string
	}{
		// U+0A0A encodes as the bytes 0x0A 0x0A: splitting on the byte
		// 0x0A would cut that line, and shift every later one by a byte.
		{encoding: "UTF-16LE", content: utf16le("héllo\nਊ wörld\r\nlast\n"), want: []string{"héllo", "ਊ wörld\r", "last"}},
		{encoding: "ISO-8859-1", content: "caf\xe9\nna\xefve\n", want: []string{"café", "naïve"}},
	}
	for _, tt := range tests {
		t.Run(tt.encoding, func(t *testing.T) {
			h := newHarness(t)
			path := h.path("enc.log")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			job := pathJob(path)
			job.Encoding = tt.encoding
			h.start(job)
			h.waitLines(len(tt.want))
			time.Sleep(3 * h.watch.MaxPollFrequency)
			if got := h.out.Lines(); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("lines = %q, want %q", got, tt.want)
			}
			if got := h.pos.snapshot()[path]; got != fmt.Sprint(len(tt.content)) {
				t.Fatalf("position = %s, want %d", got, len(tt.content))
			}
		})
	}
}

func TestReadMetrics(t *testing.T) {
	h := newHarness(t)
	path := h.path("m.log")
	appendFile(t, path, "a\nbb\nccc\n")
	h.start(pathJob(path))
	h.waitLines(3)
	waitFor(t, 5*time.Second, "metrics", func() bool {
		return testutil.ToFloat64(h.metrics.readLines.WithLabelValues(path)) == 3 &&
			testutil.ToFloat64(h.metrics.readBytes.WithLabelValues(path)) == 9 &&
			testutil.ToFloat64(h.metrics.fileBytes.WithLabelValues(path)) == 9
	})
	if got := testutil.ToFloat64(h.metrics.filesActive); got != 1 {
		t.Fatalf("promtail_files_active_total = %v", got)
	}
	if got := testutil.ToFloat64(h.metrics.targetsActive); got != 1 {
		t.Fatalf("promtail_targets_active_total = %v", got)
	}
	h.m.Stop()
	if got := testutil.ToFloat64(h.metrics.filesActive); got != 0 {
		t.Fatalf("promtail_files_active_total after Stop = %v", got)
	}
	if got := testutil.ToFloat64(h.metrics.targetsActive); got != 0 {
		t.Fatalf("promtail_targets_active_total after Stop = %v", got)
	}
	if seriesExists(t, h.reg, "promtail_read_lines_total", path) {
		t.Fatal("per-path series left after Stop")
	}
}

// copytruncate where the copy's name matches the glob too (dateext with the
// extension kept, or app.log*): the copy must not be read again, and lines
// that only the copy holds must be read from it.
func TestCopyTruncateCopyMatchesGlob(t *testing.T) {
	tests := []struct {
		name string
		// unread lines are written just before the rotation, without waiting
		// for the reader: only the copy may still hold them.
		unread int
	}{
		{name: "everything read before the truncate"},
		{name: "lines written just before the truncate", unread: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			path := h.path("app.log")
			appendFile(t, path, numbered("before", 0, 200))
			h.start(pathJob(h.path("app*.log")))
			h.waitLines(200)

			appendFile(t, path, numbered("racing", 0, tt.unread))
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(h.path("app-20240510.log"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, numbered("after", 0, 20))
			want := splitLines(numbered("before", 0, 200) + numbered("racing", 0, tt.unread) + numbered("after", 0, 20))
			h.waitLines(len(want))
			time.Sleep(3 * h.syncPeriod) // a re-read of the copy would show now
			assertExactlyOnce(t, h.out.Lines(), want)
		})
	}
}

func TestStopWaitsForEveryGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	h := newHarness(t)
	for i := range 5 {
		appendFile(t, h.path(fmt.Sprintf("f%d.log", i)), "x\n")
	}
	h.start(pathJob(h.path("*.log")), staticJob("other", model.LabelSet{pathLabel: model.LabelValue(h.path("f0.log"))}))
	// The second job shares f0.log's saved position with the first (positions
	// are keyed by path, as in Promtail), so f0.log's line comes once or twice.
	h.waitLines(5)
	h.m.Stop()
	// Goroutines of the runtime and of libraries may take a moment to go.
	waitFor(t, 5*time.Second, "goroutines gone", func() bool { return runtime.NumGoroutine() <= before })
	if openFDsTo(t, h.path("f0.log")) != 0 {
		t.Fatal("a file is still open after Stop")
	}
}

// A file rotated while the agent was stopped (renamed to a name the glob
// still matches, a new file under the old name) is recognised by its saved
// identity: the rotated file continues at its offset, the new one is read
// from its start. Promtail, keying positions by path, reads the rotated file
// again whole and the new file from the old offset.
func TestRotationWhileStopped(t *testing.T) {
	h := newHarness(t)
	path := h.path("app.log")
	appendFile(t, path, numbered("old", 0, 50))
	h.start(pathJob(h.path("app.log*")))
	h.waitLines(50)
	h.m.Stop()

	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	appendFile(t, rotated, numbered("late", 0, 5))
	appendFile(t, path, numbered("new", 0, 300)) // longer than the old offset

	h2 := newHarness(t)
	h2.pos = h.pos
	h2.start(pathJob(h.path("app.log*")))
	h2.waitLines(305)
	time.Sleep(3 * h.syncPeriod)
	assertExactlyOnce(t, h2.out.Lines(), splitLines(numbered("late", 0, 5)+numbered("new", 0, 300)))
}

// A positions file written by Promtail has no identities: offsets are taken
// by path, as Promtail does.
func TestPromtailPositionsWithoutIdentity(t *testing.T) {
	h := newHarness(t)
	path := h.path("app.log")
	appendFile(t, path, numbered("seen", 0, 10)+numbered("unseen", 0, 5))
	h.pos = newMemPositions(map[string]string{path: fmt.Sprint(len(numbered("seen", 0, 10)))})
	h.start(pathJob(path))
	h.waitLines(5)
	time.Sleep(3 * h.watch.MaxPollFrequency)
	assertExactlyOnce(t, h.out.Lines(), splitLines(numbered("unseen", 0, 5)))
	if h.pos.snapshot()["file-identity:"+path] == "" {
		t.Fatal("the file's identity was not saved beside its offset")
	}
}

// A file deleted while the agent is stopped frees its inode, which the file
// system may give at once to the next new file. That file is not taken for
// the old one renamed: its first bytes differ from the ones saved, so it is
// read whole.
func TestReusedInodeIsNotTakenForRename(t *testing.T) {
	h := newHarness(t)
	oldPath := h.path("pod-a.log")
	appendFile(t, oldPath, numbered("a", 0, 10))
	h.start(pathJob(h.path("*.log")))
	h.waitLines(10)
	h.m.Stop()
	if err := os.Remove(oldPath); err != nil {
		t.Fatal(err)
	}
	newPath := h.path("pod-b.log")
	appendFile(t, newPath, numbered("b", 0, 50))

	h2 := newHarness(t)
	h2.pos = h.pos
	h2.pos.PutString("file-identity:"+oldPath, h.pos.GetString("file-identity:"+oldPath))
	h2.pos.Put(oldPath, int64(len(numbered("a", 0, 10))))
	h2.start(pathJob(h.path("*.log")))
	h2.waitLines(50)
	time.Sleep(3 * h.watch.MaxPollFrequency)
	assertExactlyOnce(t, h2.out.Lines(), splitLines(numbered("b", 0, 50)))
}
