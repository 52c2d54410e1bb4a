package file

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns its chunks one Read at a time, then io.EOF.
type chunkReader struct{ chunks []string }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func TestLineBuffer(t *testing.T) {
	utf16nl := []byte{'\n', 0}
	tests := []struct {
		name   string
		sep    []byte
		chunks []string
		want   []string
		rest   string
	}{
		{name: "one line per chunk", sep: newline, chunks: []string{"a\n", "b\n"}, want: []string{"a", "b"}},
		{name: "line split across chunks", sep: newline, chunks: []string{"hel", "lo\nwor", "ld\n"}, want: []string{"hello", "world"}},
		{name: "unterminated last line held back", sep: newline, chunks: []string{"a\nb"}, want: []string{"a"}, rest: "b"},
		{name: "carriage return kept", sep: newline, chunks: []string{"a\r\n"}, want: []string{"a\r"}},
		{name: "empty lines", sep: newline, chunks: []string{"\n\n"}, want: []string{"", ""}},
		{name: "nothing", sep: newline, chunks: nil},
		{name: "utf-16 split on aligned newline only", sep: utf16nl,
			// U+0A0A is "\n\n" in UTF-16LE: a byte split would cut it.
			chunks: []string{"a\x00\x0a\x0a\n\x00", "b\x00\n\x00"}, want: []string{"a\x00\x0a\x0a", "b\x00"}},
		{name: "utf-16 newline straddling reads", sep: utf16nl, chunks: []string{"a\x00\n", "\x00b\x00"}, want: []string{"a\x00"}, rest: "b\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := lineBuffer{sep: tt.sep}
			r := &chunkReader{chunks: append([]string(nil), tt.chunks...)}
			var got []string
			for {
				n, err := b.fill(r)
				if n > 0 {
					for {
						line, ok := b.next()
						if !ok {
							break
						}
						got = append(got, string(line))
					}
				}
				if err != nil {
					break
				}
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Fatalf("lines = %q, want %q", got, tt.want)
			}
			if rest := string(b.takeRest()); rest != tt.rest {
				t.Fatalf("rest = %q, want %q", rest, tt.rest)
			}
		})
	}
}

func TestLineBufferLongLineAndShrink(t *testing.T) {
	long := strings.Repeat("x", 3*maxReadBuffer+17)
	r := iotest.HalfReader(strings.NewReader(long + "\nshort\n"))
	b := lineBuffer{sep: newline}
	var got []string
	for {
		n, err := b.fill(r)
		if n > 0 {
			for line, ok := b.next(); ok; line, ok = b.next() {
				got = append(got, string(line))
			}
		}
		if err != nil {
			break
		}
	}
	if len(got) != 2 || got[0] != long || got[1] != "short" {
		t.Fatalf("got %d lines (first %d bytes), want the long line and \"short\"", len(got), len(got[0]))
	}
	b.compact()
	if cap(b.buf) > maxReadBuffer {
		t.Fatalf("buffer kept %d bytes after the long line was handed on", cap(b.buf))
	}
	b.release()
	if b.buf != nil {
		t.Fatal("release kept the buffer of an idle file")
	}
}

func TestLastLineStart(t *testing.T) {
	tests := []struct {
		name    string
		content string
		sep     []byte
		want    int64
	}{
		{name: "ends with newline", content: "a\nbb\n", sep: newline, want: 5},
		{name: "line being written", content: "a\nbb", sep: newline, want: 2},
		{name: "single partial line", content: "abc", sep: newline, want: 0},
		{name: "empty", content: "", sep: newline, want: 0},
		{name: "utf-16", content: "a\x00\n\x00b\x00", sep: []byte{'\n', 0}, want: 4},
		{name: "utf-16 misaligned newline ignored", content: "\n\n\x00\x00", sep: []byte{'\n', 0}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got := lastLineStart(f, int64(len(tt.content)), tt.sep); got != tt.want {
				t.Fatalf("lastLineStart = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLastLineStartLongLastLine(t *testing.T) {
	content := "first\n" + strings.Repeat("y", 100<<10)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The last newline is out of reach: reading starts at the end.
	if got := lastLineStart(f, int64(len(content)), newline); got != int64(len(content)) {
		t.Fatalf("lastLineStart = %d, want %d", got, len(content))
	}
}
