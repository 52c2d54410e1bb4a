package file

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

func compress(t *testing.T, format, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch format {
	case "gz":
		w = gzip.NewWriter(&buf)
	case "z":
		w = zlib.NewWriter(&buf)
	case "bz2":
		// Go has no bzip2 writer; the fixture holds this same content.
		data, err := os.ReadFile("testdata/lines.bz2")
		if err != nil {
			t.Fatal(err)
		}
		return data
	default:
		t.Fatalf("no format %q", format)
	}
	if _, err := w.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecompression(t *testing.T) {
	// The content of testdata/lines.bz2.
	const content = "first line\nsecond line\r\nthird line without newline"
	tests := []struct {
		format string
		saved  string
		want   []string
	}{
		{format: "gz", want: []string{"first line", "second line", "third line without newline"}},
		{format: "z", want: []string{"first line", "second line", "third line without newline"}},
		{format: "bz2", want: []string{"first line", "second line", "third line without newline"}},
		{format: "gz", saved: "2", want: []string{"third line without newline"}},
		{format: "bz2", saved: "3"},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/saved="+tt.saved, func(t *testing.T) {
			h := newHarness(t)
			path := h.path("app.log." + tt.format)
			if err := os.WriteFile(path, compress(t, tt.format, content), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.saved != "" {
				h.pos = newMemPositions(map[string]string{path: tt.saved})
			}
			job := staticJob("test", model.LabelSet{pathLabel: model.LabelValue(h.path("*." + tt.format))})
			job.Decompression = &config.DecompressionConfig{Enabled: true, Format: tt.format, InitialDelay: 20 * time.Millisecond}
			h.start(job)
			waitFor(t, 5*time.Second, "file read", func() bool {
				return h.logs.countContaining("compressed file read to its end") == 1
			})
			time.Sleep(2 * h.syncPeriod) // read once: later syncs must not read it again
			if got := h.out.Lines(); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("lines = %q, want %q", got, tt.want)
			}
			if got := h.pos.snapshot()[path]; got != "3" {
				t.Fatalf("position = %q, want the line count 3", got)
			}
			if !h.m.Ready() {
				t.Fatal("a read compressed file does not count for readiness")
			}
			if seriesExists(t, h.reg, "promtail_read_lines_total", path) {
				t.Fatal("per-path series left after the file was read")
			}
			for _, e := range h.out.All() {
				if e.Labels[filenameLabel] != model.LabelValue(path) {
					t.Fatalf("labels = %v", e.Labels)
				}
			}
		})
	}
}

// A compressed file deleted while its lines are still in flight loses its
// saved position, and the lines settling afterwards must not write it back:
// it would stay in the positions file for a file that no longer exists.
func TestDecompressedFileGoneBeforeItsLinesSettle(t *testing.T) {
	h := newHarness(t)
	held := &collector{}
	held.SetHold(true)
	h.handler = held
	path := h.path("app.log.gz")
	if err := os.WriteFile(path, compress(t, "gz", "one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	job := staticJob("test", model.LabelSet{pathLabel: model.LabelValue(h.path("*.gz"))})
	job.Decompression = &config.DecompressionConfig{Enabled: true, Format: "gz", InitialDelay: 20 * time.Millisecond}
	h.start(job)
	waitFor(t, 5*time.Second, "file read", func() bool { return held.Count() == 3 })
	if _, saved := h.pos.snapshot()[path]; saved {
		t.Fatal("position saved before the lines settled")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * h.syncPeriod) // the target notices the file is gone
	held.Settle()
	time.Sleep(50 * time.Millisecond)
	if pos, saved := h.pos.snapshot()[path]; saved {
		t.Fatalf("position %q written back for a deleted file", pos)
	}
}

func TestDecompressionCorruptFile(t *testing.T) {
	h := newHarness(t)
	path := h.path("bad.gz")
	good := compress(t, "gz", "one\ntwo\nthree\n")
	if err := os.WriteFile(path, good[:len(good)-6], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.path("notgzip.gz"), []byte("plain text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	job := staticJob("test", model.LabelSet{pathLabel: model.LabelValue(h.path("*.gz"))})
	job.Decompression = &config.DecompressionConfig{Enabled: true, Format: "gz"}
	h.start(job)
	waitFor(t, 5*time.Second, "errors logged", func() bool {
		return h.logs.countContaining("decompressing file failed") == 1 && h.logs.countContaining("cannot decompress file") == 1
	})
	time.Sleep(2 * h.syncPeriod)
	if got := h.out.Lines(); strings.Join(got, "|") != "one|two|three" {
		t.Fatalf("lines = %q: the lines before the corruption should be kept", got)
	}
	if n := h.logs.countContaining("decompressing file failed"); n != 1 {
		t.Fatalf("the corrupt file was read %d times", n)
	}
}
