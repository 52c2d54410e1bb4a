package positions

import (
	"bytes"
	"maps"
	"strconv"
	"testing"
)

// FuzzPositionsParse feeds arbitrary bytes to the positions file reader (seeds:
// testdata/fuzz/FuzzPositionsParse). Whatever the bytes, reading never panics and what it accepts
// survives a write and a second read unchanged, or a restart would silently move offsets. The
// bytes also make a table (keys split at NUL bytes, so they may hold anything a path can) that the
// writer writes: it must read back whole, and cut at byte cut it must read back as exactly the
// records that were whole.
func FuzzPositionsParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		if d, err := decode(data); err == nil {
			assertRoundTrip(t, d.entries, data)
		}

		table := make(map[string]string)
		for i, key := range bytes.Split(data, []byte{0}) {
			table[string(key)] = strconv.Itoa(i*7919 + len(key))
		}
		written := assertRoundTrip(t, table, data)
		c := int(cut) % (len(written) + 1)
		torn, err := decode(written[:c])
		if err != nil {
			t.Fatalf("file %q cut at %d: %v", written, c, err)
		}
		if want := completeAt(table, recordEnds(t, written, table), c); !maps.Equal(torn.entries, want) {
			t.Fatalf("file %q cut at %d read %q, want %q", written, c, torn.entries, want)
		}
	})
}

// assertRoundTrip writes table and reads it back: the file must be sound and hold table exactly.
// It returns the file.
func assertRoundTrip(t *testing.T, table map[string]string, from []byte) []byte {
	t.Helper()
	written, err := encode(table)
	if err != nil {
		t.Fatalf("encode of %q (from %q): %v", table, from, err)
	}
	back, err := decode(written)
	switch {
	case err != nil:
		t.Fatalf("re-read of %q (from %q): %v", written, from, err)
	case back.damage != nil:
		t.Fatalf("re-read of %q (from %q) found damage: %v", written, from, back.damage)
	case !maps.Equal(back.entries, table):
		t.Fatalf("round trip changed %q into %q (file %q, from %q)", table, back.entries, written, from)
	}
	return written
}
