package positions

import (
	"maps"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the positions parser (seeds: testdata/fuzz/FuzzParse). It must
// never panic, and whatever it accepts must survive a write and a second read unchanged, or a
// restart would silently move offsets.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := parse(data)
		if err != nil {
			return
		}
		encoded, err := encode(first)
		if err != nil {
			t.Fatalf("encode of accepted input %q: %v", data, err)
		}
		second, err := parse(encoded)
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", encoded, data, err)
		}
		if !maps.Equal(first, second) {
			t.Fatalf("round trip changed %q into %q (file %q)", first, second, encoded)
		}
	})
}
