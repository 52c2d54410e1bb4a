package file

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"
)

func TestNewLineFormat(t *testing.T) {
	tests := []struct {
		name    string
		sep     string
		decoded bool
		wantErr string
	}{
		{name: "", sep: "\n"},
		{name: "UTF-8", sep: "\n", decoded: true},
		{name: "ISO-8859-1", sep: "\n", decoded: true},
		{name: "UTF-16LE", sep: "\n\x00", decoded: true},
		{name: "UTF-16BE", sep: "\x00\n", decoded: true},
		// The byte order mark the encoder writes first is not part of it.
		{name: "UTF-16", sep: "\x00\n", decoded: true},
		{name: "IBM037", sep: "\x25", decoded: true},
		{name: "no-such-encoding", wantErr: "invalid encoding name"},
		{name: "UTF-32", wantErr: "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := newLineFormat(tt.name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(f.sep) != tt.sep {
				t.Fatalf("sep = %q, want %q", f.sep, tt.sep)
			}
			if (f.decoder() != nil) != tt.decoded {
				t.Fatalf("decoder present = %v, want %v", f.decoder() != nil, tt.decoded)
			}
		})
	}
}

func TestLineDecoder(t *testing.T) {
	tests := []struct {
		encoding string
		in       string
		want     string
	}{
		{encoding: "ISO-8859-1", in: "caf\xe9", want: "café"},
		{encoding: "UTF-16LE", in: "h\x00\xe9\x00", want: "hé"},
		{encoding: "windows-1252", in: "\x80", want: "€"},
		{encoding: "Shift_JIS", in: "\x93\xfa\x96\x7b", want: "日本"},
	}
	for _, tt := range tests {
		t.Run(tt.encoding, func(t *testing.T) {
			f, err := newLineFormat(tt.encoding)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.decoder().decode([]byte(tt.in)); got != tt.want {
				t.Fatalf("decode = %q, want %q", got, tt.want)
			}
		})
	}
}

// failing is a transformer that always fails, as a broken decoder would.
type failing struct{ transform.NopResetter }

func (failing) Transform(_, _ []byte, _ bool) (int, int, error) {
	return 0, 0, errors.New("boom")
}

func TestLineDecoderFailureKeepsPromtailText(t *testing.T) {
	d := &lineDecoder{dec: &encoding.Decoder{Transformer: failing{}}}
	got := d.decode([]byte("anything"))
	want := "the requested encoding conversion for this line failed in Promtail/Grafana Agent: error decoding text: boom"
	if got != want {
		t.Fatalf("decode = %q, want %q", got, want)
	}
}
