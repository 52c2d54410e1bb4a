package syslog

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// chunkReader hands out one chunk per Read, as TCP segments arrive.
type chunkReader struct {
	chunks []string
	err    error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

// frames runs a framer to the end and describes what it returned.
func frames(f *framer) []string {
	var out []string
	for range 1000 {
		msg, err := f.next()
		switch {
		case err == nil:
			out = append(out, string(msg))
			continue
		case errors.Is(err, errOversized):
			out = append(out, "!oversized")
			continue
		case errors.Is(err, errFraming):
			out = append(out, "!framing")
		case errors.Is(err, io.EOF):
		default:
			out = append(out, "!"+err.Error())
		}
		return out
	}
	panic("framer does not end")
}

func TestFramer(t *testing.T) {
	errBroken := errors.New("broken")
	tests := []struct {
		name     string
		chunks   []string
		err      error
		datagram bool
		limit    int
		want     []string
	}{
		{name: "empty stream", want: nil},
		{name: "octet counting", chunks: []string{"3 <1>5 <2>ab"}, want: []string{"<1>", "<2>ab"}},
		{name: "octet count split across reads", chunks: []string{"1", "0 <1>", "1 - x", "yz"}, want: []string{"<1>1 - xyz"}},
		{name: "octet counting, newlines between and inside", chunks: []string{"4 <1>\n\r\n5 <2>\r\n"}, want: []string{"<1>", "<2>"}},
		{name: "octet count not followed by a space", chunks: []string{"3x<1>"}, want: []string{"!framing"}},
		{name: "octet count of zero", chunks: []string{"0 "}, want: []string{"!framing"}},
		{name: "octet count too long", chunks: []string{"99999999999 x"}, want: []string{"!framing"}},
		{name: "octet count above MaxInt32", chunks: []string{"9999999999 x"}, limit: 1 << 30, want: []string{"!framing"}},
		{name: "octet count cut by the end", chunks: []string{"12"}, want: []string{"!framing"}},
		{name: "octet message cut by the end", chunks: []string{"5 <1>"}, want: []string{"!framing"}},
		{name: "oversized octet message skipped", chunks: []string{"6 <1>abc3 <2>"}, limit: 5, want: []string{"!oversized", "<2>"}},
		{name: "oversized octet message cut by the end", chunks: []string{"60 <1>"}, limit: 5, want: []string{"!framing"}},
		{name: "read error inside an octet message", chunks: []string{"5 <1>"}, err: errBroken, want: []string{"!broken"}},
		{name: "unknown framing", chunks: []string{"hello\n"}, want: []string{"!framing"}},
		{name: "lines", chunks: []string{"<1>a\n<2>b\r\n\n\n<3>c"}, want: []string{"<1>a", "<2>b", "<3>c"}},
		{name: "continuation in the same read joins", chunks: []string{"<1>a\nmore\n<2>b\n"}, want: []string{"<1>a\nmore", "<2>b"}},
		{name: "continuation in a later read stands alone", chunks: []string{"<1>a\n", "more\n"}, want: []string{"<1>a", "more"}},
		{name: "continuation in a datagram joins", chunks: []string{"<1>a\n", "more"}, datagram: true, want: []string{"<1>a\nmore"}},
		{name: "line split across reads", chunks: []string{"<1>a", "bc", "\n"}, want: []string{"<1>abc"}},
		{name: "line longer than the read buffer", chunks: []string{"<1>" + strings.Repeat("x", 40) + "\n<2>"}, limit: 100, want: []string{"<1>" + strings.Repeat("x", 40), "<2>"}},
		{name: "oversized line skipped", chunks: []string{"<1>" + strings.Repeat("x", 40) + "\n<2>ok\n"}, limit: 20, want: []string{"!oversized", "<2>ok"}},
		{name: "line one over the limit", chunks: []string{"<1>abc\r\n<2>ab\r\n"}, limit: 5, want: []string{"!oversized", "<2>ab"}},
		{name: "oversized last line without trailer", chunks: []string{"<2>ok\n<1>" + strings.Repeat("x", 40)}, limit: 20, want: []string{"<2>ok", "!oversized"}},
		{name: "partial line before a read error", chunks: []string{"<1>a\n<2>part"}, err: errBroken, want: []string{"<1>a", "<2>part", "!broken"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.limit
			if limit == 0 {
				limit = 64
			}
			// A small read buffer makes long lines go through ErrBufferFull.
			r := bufio.NewReaderSize(&chunkReader{chunks: append([]string(nil), tt.chunks...), err: tt.err}, 16)
			got := frames(newFramer(r, limit, tt.datagram))
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// A framer is reused for every datagram: reset forgets the previous one's
// framing and end.
func TestFramerReset(t *testing.T) {
	f := newFramer(bufio.NewReaderSize(strings.NewReader(""), 16), 64, true)
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"3 <1>", []string{"<1>"}},
		{"<2>x\n<3>y", []string{"<2>x", "<3>y"}},
		{"junk", []string{"!framing"}},
		{"3 <4>", []string{"<4>"}},
	} {
		f.reset(strings.NewReader(tt.in))
		if got := frames(f); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
	}
}
