package jsonscan

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func valid(text string, maxDepth int) bool {
	s := Scanner{B: []byte(text), MaxDepth: maxDepth}
	s.WS()
	return s.Value() == nil && s.AtEnd()
}

var docs = []string{
	`{}`, `[]`, ` {"a" : [1, -2.5e+3, 0, true, false, null, "x\u00e9\n\"", {}]} `,
	`"\ud800"`, "\"\xff\"", `0.5`, `-0`, `1E9`,
	`{"a":1,}`, `[1,]`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `NaN`, `tru`, `nul`,
	`"a` + "\x01" + `"`, `"\q"`, `"\u12g4"`, `"abc`, `{"a" 1}`, `{a:1}`, `[1 2]`, `{} {}`, ``, `"\`,
	// Flat objects of strings, osquery's columns, and the ways out of
	// their fast path.
	`{"a":"b","c":"d"}`, `{"a":"b",}`, `{"a":"b" }`, `{"a":"b"`, `{"a":"b"}}`, `{"a":"b","c":1}`,
	`{"a":"b\"c"}`, `{"a":"` + "\x1f" + `"}`, `{"a":"b",,"c":"d"}`, `{"a":"b":"c"}`, `{"a":"b"]`, `{"a"`, `{"a":`,
	`{"":""}`, `{"a":"b","a":"b"}`,
}

// The scanner accepts exactly what encoding/json accepts.
func TestAgreesWithEncodingJSON(t *testing.T) {
	for _, d := range docs {
		if got, want := valid(d, 100), json.Valid([]byte(d)); got != want {
			t.Errorf("%q: scanner %v, encoding/json %v", d, got, want)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	s := Scanner{B: []byte(strings.Repeat("[", 3) + strings.Repeat("]", 3)), MaxDepth: 2}
	if err := s.Value(); !errors.Is(err, ErrTooDeep) || !errors.Is(err, ErrSyntax) {
		t.Fatalf("3 levels with MaxDepth 2: %v", err)
	}
	if !valid(strings.Repeat("[", 2)+strings.Repeat("]", 2), 2) {
		t.Fatal("2 levels with MaxDepth 2 refused")
	}
}

func TestObjectKeysAndSpaced(t *testing.T) {
	s := Scanner{B: []byte(`{"a":1, "b\"c":[2]}`), MaxDepth: 10}
	var keys []string
	err := s.Object(func(key []byte) error {
		keys = append(keys, string(key))
		return s.Value()
	})
	if err != nil || strings.Join(keys, " ") != `"a" "b\"c"` || !s.Spaced {
		t.Fatalf("keys %q, spaced %v, err %v", keys, s.Spaced, err)
	}
}

// Run with: go test -fuzz FuzzAgreesWithEncodingJSON ./internal/jsonscan/
func FuzzAgreesWithEncodingJSON(f *testing.F) {
	for _, d := range docs {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d string) {
		if got, want := valid(d, 10000), json.Valid([]byte(d)); got != want {
			t.Fatalf("%q: scanner %v, encoding/json %v", d, got, want)
		}
	})
}

// Strings are stepped over eight bytes at a time: every byte that matters, at
// every offset in and around a word, must still be seen.
func TestStringEveryOffset(t *testing.T) {
	for _, c := range []string{`"`, `\`, `\"`, `\u00e9`, `\x`, "\x00", "\x1f", " ", "\x7f", "\x80", "\xff", "é"} {
		for before := range 20 {
			for after := range 12 {
				d := `"` + strings.Repeat("a", before) + c + strings.Repeat("b", after) + `"`
				if got, want := valid(d, 10), json.Valid([]byte(d)); got != want {
					t.Errorf("%q: scanner %v, encoding/json %v", d, got, want)
				}
			}
		}
	}
}

// specialBytes's lowest bit names the first special byte of the word, or
// none is set when the word holds none.
func TestSpecialBytesFindsTheFirst(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	interesting := []byte{'"', '\\', 0, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff}
	var w [8]byte
	for range 200000 {
		for i := range w {
			if rng.IntN(3) == 0 {
				w[i] = interesting[rng.IntN(len(interesting))]
			} else {
				w[i] = byte(rng.Uint32())
			}
		}
		first := slices.IndexFunc(w[:], func(c byte) bool { return special[c] })
		m := specialBytes(binary.LittleEndian.Uint64(w[:]))
		got := -1
		if m != 0 {
			got = bits.TrailingZeros64(m) / 8
		}
		if got != first {
			t.Fatalf("% x: specialBytes says byte %d, want %d", w, got, first)
		}
	}
}

func BenchmarkObjectOsqueryLine(b *testing.B) {
	line := []byte(`{"name":"pack_ir_logged_in_users","hostIdentifier":"web-01.example.net",` +
		`"calendarTime":"Mon Nov  2 10:04:05 2026 UTC","unixTime":1793613845,"epoch":0,"counter":12,` +
		`"numerics":false,"decorations":{"host_uuid":"4c4c4544-0038-5210-8052-b4c04f4e3332","hostname":"web-01",` +
		`"username":"root"},"columns":{"host":"203.0.113.7","pid":"48211","time":"1793613840",` +
		`"tty":"pts/0","type":"user","user":"alice","path":"/usr/sbin/sshd -D [listener] 0 of 10-100 startups"},` +
		`"action":"added"}`)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		s := Scanner{B: line, MaxDepth: 64}
		if err := s.Object(nil); err != nil {
			b.Fatal(err)
		}
	}
}
