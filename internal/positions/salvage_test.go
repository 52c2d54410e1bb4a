package positions

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

func TestDecode(t *testing.T) {
	long := "/var/log/" + strings.Repeat("deep/", 30) + "app.log"
	longSpaced := "/var/log/" + strings.Repeat("dir with spaces/", 8) + "app.log"
	type outcome int
	const (
		sound outcome = iota
		salvaged
		invalid
	)
	tests := []struct {
		name    string
		data    string
		outcome outcome
		want    map[string]string
		dropped int
	}{
		{name: "empty file", data: "", outcome: sound, want: map[string]string{}},
		{name: "blank lines", data: "\n \n\n", outcome: sound, want: map[string]string{}},
		{name: "only the header", data: "positions:\n", outcome: sound, want: map[string]string{}},
		{name: "only the header, no line end", data: "positions:", outcome: sound, want: map[string]string{}},
		{name: "empty table", data: "positions: {}\n", outcome: sound, want: map[string]string{}},
		{name: "cut inside the header", data: "positi", outcome: salvaged, want: map[string]string{}},
		{name: "cut inside an empty table", data: "positions: {", outcome: salvaged, want: map[string]string{}},
		{name: "cut inside the header after a byte order mark", data: "\ufeffpos", outcome: salvaged, want: map[string]string{}},
		{name: "cut after the first record's indentation", data: "positions:\n  ", outcome: sound, want: map[string]string{}},
		{name: "cut inside the first key", data: "positions:\n  /var/lo", outcome: salvaged, want: map[string]string{}, dropped: 1},
		{name: "cut after a colon", data: "positions:\n  /a: \"1\"\n  /b:", outcome: salvaged,
			want: map[string]string{"/a": "1"}, dropped: 1},
		{name: "cut inside a quoted value", data: "positions:\n  /a: \"1\"\n  /b: \"12", outcome: salvaged,
			want: map[string]string{"/a": "1"}, dropped: 1},
		{name: "cut before the last line end", data: "positions:\n  /a: \"1\"\n  /b: \"12\"", outcome: salvaged,
			want: map[string]string{"/a": "1"}, dropped: 1},
		{name: "cut inside a plain cursor, which still decodes", data: "positions:\n  /a: \"1\"\n  cursor-j: s=12;i=", outcome: salvaged,
			want: map[string]string{"/a": "1"}, dropped: 1},
		{name: "windows line endings", data: "positions:\r\n  /a: \"1\"\r\n  cursor-j: s=1;i=2\r\n", outcome: sound,
			want: map[string]string{"/a": "1", "cursor-j": "s=1;i=2"}},
		{name: "windows line endings cut between CR and LF", data: "positions:\r\n  /a: \"1\"\r\n  /b: \"2\"\r", outcome: salvaged,
			want: map[string]string{"/a": "1"}, dropped: 1},
		{name: "windows line endings cut inside a value", data: "positions:\r\n  /a: \"1\"\r\n  /b: \"2\"\r\n  /c: \"3", outcome: salvaged,
			want: map[string]string{"/a": "1", "/b": "2"}, dropped: 1},
		{name: "quoted paths with colons, spaces and escapes",
			data:    "positions:\n  '/logs/colon: here.log': \"1\"\n  \"/logs/with space\\tand tab.log\": \"2\"\n  '/it''s.log': \"3\"\n  /b: \"",
			outcome: salvaged, want: map[string]string{"/logs/colon: here.log": "1", "/logs/with space\tand tab.log": "2", "/it's.log": "3"}, dropped: 1},
		{name: "long key written over two lines", data: "positions:\n  ? " + long + "\n  : \"7\"\n  /z: \"", outcome: salvaged,
			want: map[string]string{long: "7"}, dropped: 1},
		{name: "long key cut before its value", data: "positions:\n  /a: \"1\"\n  ? " + long + "\n", outcome: salvaged,
			want: map[string]string{"/a": "1"}, dropped: 1},
		{name: "folded key cut between its lines", data: "positions:\n  /a: \"1\"\n  ? " + longSpaced[:60] + "\n", outcome: salvaged,
			want: map[string]string{"/a": "1"}, dropped: 1},
		{name: "key holding a line break", data: "positions:\n  ? |-\n    /new\n    line.log\n  : \"3\"\n  /z:", outcome: salvaged,
			want: map[string]string{"/new\nline.log": "3"}, dropped: 1},
		{name: "path line without a value", data: "positions:\n  /a: \"1\"\n  /b:\n  /c: \"3\"\n", outcome: salvaged,
			want: map[string]string{"/a": "1", "/c": "3"}, dropped: 1},
		{name: "path line without a colon", data: "positions:\n  /a: \"1\"\n  /b\n  /c: \"3\"\n", outcome: salvaged,
			want: map[string]string{"/a": "1", "/c": "3"}, dropped: 1},
		{name: "explicit null", data: "positions:\n  /a: ~\n  /b: \"2\"\n", outcome: salvaged,
			want: map[string]string{"/b": "2"}, dropped: 1},
		{name: "sequence value", data: "positions:\n  /a: [1]\n  /b: \"2\"\n", outcome: salvaged,
			want: map[string]string{"/b": "2"}, dropped: 1},
		{name: "huge offset", data: "positions:\n  /a: \"99999999999999999999\"\n", outcome: sound,
			want: map[string]string{"/a": "99999999999999999999"}},
		{name: "negative offset", data: "positions:\n  /a: \"-5\"\n", outcome: sound,
			want: map[string]string{"/a": "-5"}},
		{name: "huge and negative offsets in a damaged file", data: "positions:\n  /a: \"99999999999999999999\"\n  /b: \"-5\"\n  /c: \"1",
			outcome: salvaged, want: map[string]string{"/a": "99999999999999999999", "/b": "-5"}, dropped: 1},
		{name: "unquoted numbers from a hand edit", data: "positions:\n  /a: 12\n  /b: 0012\n", outcome: sound,
			want: map[string]string{"/a": "12", "/b": "0012"}},
		{name: "NUL tail after whole records", data: "positions:\n  /a: \"1\"\n" + strings.Repeat("\x00", 64), outcome: salvaged,
			want: map[string]string{"/a": "1"}, dropped: 1},
		{name: "NUL bytes inside the last record", data: "positions:\n  /a: \"1\"\n  /b: \"2\x00\x00\x00", outcome: salvaged,
			want: map[string]string{"/a": "1"}, dropped: 1},
		{name: "damaged line between whole records", data: "positions:\n  /a: \"1\"\n\x00\x00\x00\n  /b: \"2\"\n", outcome: salvaged,
			want: map[string]string{"/a": "1", "/b": "2"}, dropped: 1},
		{name: "continuation line with no record", data: "positions:\n\x00\n    more\n  /b: \"2\"\n", outcome: salvaged,
			want: map[string]string{"/b": "2"}, dropped: 2},
		{name: "unknown top-level key after the records", data: "positions:\n  /a: \"1\"\nextra: 1\n", outcome: salvaged,
			want: map[string]string{"/a": "1"}, dropped: 1},
		{name: "same key twice with the same value", data: "positions:\n  /a: \"1\"\n  /a: \"1\"\n", outcome: salvaged,
			want: map[string]string{"/a": "1"}},
		{name: "same key twice with different values", data: "positions:\n  /a: \"1\"\n  /b: \"2\"\n  /a: \"3\"\n  /a: \"4\"\n", outcome: salvaged,
			want: map[string]string{"/b": "2"}, dropped: 3},
		{name: "comments and a byte order mark before the header", data: "\ufeff# moved from host a\n\npositions:\n  # kept\n  /a: \"1\"\n  /b: \"2",
			outcome: salvaged, want: map[string]string{"/a": "1"}, dropped: 1},
		{name: "deeper indentation from a hand edit", data: "positions:\n    /a: \"1\"\n    /b: \"2", outcome: salvaged,
			want: map[string]string{"/a": "1"}, dropped: 1},
		{name: "multi-line cursor", data: "positions:\n  cursor-x: |\n    line1\n\n    line2\n  /b: \"2\"\n  /c: \"", outcome: salvaged,
			want: map[string]string{"cursor-x": "line1\n\nline2\n", "/b": "2"}, dropped: 1},
		{name: "hand-made flow mapping without a line end", data: "{positions: {/a: '1'}}", outcome: sound,
			want: map[string]string{"/a": "1"}},
		{name: "positions is a list", data: "positions:\n- a\n", outcome: salvaged, want: map[string]string{}, dropped: 1},

		{name: "all NUL bytes", data: strings.Repeat("\x00", 128), outcome: invalid},
		{name: "garbage", data: "}{ ][ not yaml at all", outcome: invalid},
		{name: "binary garbage", data: "\x89PNG\r\n\x1a\n\x00\x00", outcome: invalid},
		{name: "flow sequence, as in the compatibility corpus", data: "positions: [this is: not, a map\n", outcome: invalid},
		{name: "empty table then more", data: "positions: {}\nextra: 1\n", outcome: invalid},
		{name: "text before the header", data: "state:\npositions:\n  /a: \"1\"\n  /b", outcome: invalid},
		{name: "header with a value on its line", data: "positions: x\n  /a: \"1\"\n", outcome: invalid},
		{name: "header cut inside a first line that is not a header", data: "other", outcome: invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decode([]byte(tt.data))
			switch tt.outcome {
			case invalid:
				if err == nil {
					t.Fatalf("decode = %q (damage %v), want an error", got.entries, got.damage)
				}
				return
			case sound:
				if err != nil || got.damage != nil {
					t.Fatalf("decode: err %v, damage %v; want a sound file", err, got.damage)
				}
			case salvaged:
				if err != nil || got.damage == nil {
					t.Fatalf("decode: err %v, damage %v; want a salvaged file", err, got.damage)
				}
			}
			if !maps.Equal(got.entries, tt.want) {
				t.Errorf("entries = %q, want %q", got.entries, tt.want)
			}
			if got.dropped != tt.dropped {
				t.Errorf("dropped = %d, want %d", got.dropped, tt.dropped)
			}
		})
	}
}

func TestDecodeCutShortDamage(t *testing.T) {
	got, err := decode([]byte("positions:\n  /a: \"1\"\n  /b: \"2\""))
	if err != nil || !errors.Is(got.damage, errCutShort) {
		t.Fatalf("decode: err %v, damage %v; want damage %v", err, got.damage, errCutShort)
	}
}

// writtenFile writes positions through the package's own writer (New, Put, Stop) and returns the
// file's bytes and the table that was written. The keys are real files, or the sync would drop
// them, and cover every layout YAML gives a key: plain, quoted, over two lines, block, binary.
func writtenFile(t *testing.T) ([]byte, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	deep := filepath.Join(dir, strings.Repeat("nested-directory/", 8))
	spaced := filepath.Join(dir, strings.Repeat("a directory with spaces/", 4))
	for _, d := range []string{deep, spaced} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	offsets := map[string]int64{
		"a.log":                        0,
		"b with space.log":             1 << 40,
		"colon: here.log":              123456,
		"quote\"d 'both'.log":          9223372036854775807,
		"#hash.log":                    42,
		"ünïcødé.log":                  7,
		"new\nline.log":                3,
		"tab\there.log":                12,
		"\xff\xfe not utf-8.log":       99,
		filepath.Join(deep, "x.log"):   5,
		filepath.Join(spaced, "y.log"): 6,
	}
	path := filepath.Join(dir, "positions.yaml")
	p, err := New(nil, config.PositionsConfig{Filename: path, SyncPeriod: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for name, off := range offsets {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		touch(t, name)
		p.Put(name, off)
	}
	p.PutString(CursorKey("journal"), "s=739ad463348b4ceca5a9e69c95a3c93f;i=4ece7;b=6c7ce457e5f24d2aaf8c5d3c6e9ba0a4;m=2f4b3a9;t=5c9f0e0a3b1d4;x=8d9e1f2a3b4c5d6e")
	p.PutString(CursorKey("zone"), "1700000000123456789")
	p.PutString("journal-legacy", "s=1;i=2")
	p.PutString(CursorKey("empty"), "")
	want := p.Snapshot()
	p.Stop()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data, want
}

// recordEnds gives, for each key of table, the offset in data just past its record, found by
// encoding each entry alone, so it does not rely on the salvage's own idea of a record.
func recordEnds(t testing.TB, data []byte, table map[string]string) map[string]int {
	t.Helper()
	records := make(map[string][]byte, len(table))
	for k, v := range table {
		one, err := encode(map[string]string{k: v})
		if err != nil {
			t.Fatal(err)
		}
		records[k] = bytes.TrimPrefix(one, []byte(headerLine+"\n"))
	}
	ends := make(map[string]int, len(table))
	pos := len(headerLine) + 1
	if len(table) == 0 {
		pos = len(data)
	}
	for pos < len(data) {
		found, size := "", 0
		for k, r := range records {
			if _, done := ends[k]; !done && bytes.HasPrefix(data[pos:], r) && len(r) > size {
				found, size = k, len(r)
			}
		}
		if size == 0 {
			t.Fatalf("no record of the table starts at offset %d: %q", pos, data[pos:])
		}
		pos += size
		ends[found] = pos
	}
	if len(ends) != len(table) {
		t.Fatalf("found %d records in the file, want %d", len(ends), len(table))
	}
	return ends
}

// completeAt is the part of table whose records end at or before cut.
func completeAt(table map[string]string, ends map[string]int, cut int) map[string]string {
	out := map[string]string{}
	for k, end := range ends {
		if end <= cut {
			out[k] = table[k]
		}
	}
	return out
}

// A file cut at any byte loads, whatever ignore_invalid_yaml says, with exactly the entries whose
// record was whole and their exact values. The file the writer wrote goes through load; the other
// layouts through decode, which is load without the I/O.
func TestLoadTruncatedAtEveryOffset(t *testing.T) {
	written, table := writtenFile(t)
	ends := recordEnds(t, written, table)
	path := filepath.Join(t.TempDir(), "positions.yaml")
	if err := os.WriteFile(path, written, 0o600); err != nil {
		t.Fatal(err)
	}
	// Cutting the one copy shorter and shorter costs a syscall per offset, not a file write.
	for cut := len(written); cut >= 0; cut-- {
		if err := os.Truncate(path, int64(cut)); err != nil {
			t.Fatal(err)
		}
		want := completeAt(table, ends, cut)
		for _, ignore := range []bool{false, true} {
			got, err := load(discardLogger(), path, ignore, true)
			if err != nil {
				t.Fatalf("cut at %d (ignore_invalid_yaml %v): %v", cut, ignore, err)
			}
			if !maps.Equal(got, want) {
				t.Fatalf("cut at %d (ignore_invalid_yaml %v) of %q:\n got %q\nwant %q", cut, ignore, written[:cut], got, want)
			}
		}
	}
}

func TestDecodeTruncatedAtEveryOffset(t *testing.T) {
	written, table := writtenFile(t)
	ends := recordEnds(t, written, table)
	crlfEnds := make(map[string]int, len(ends))
	for k, end := range ends {
		crlfEnds[k] = end + bytes.Count(written[:end], []byte("\n"))
	}
	empty, err := encode(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name  string
		data  []byte
		table map[string]string
		ends  map[string]int
	}{
		{"windows line endings", bytes.ReplaceAll(written, []byte("\n"), []byte("\r\n")), table, crlfEnds},
		{"empty table", empty, map[string]string{}, map[string]int{}},
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			for cut := 0; cut <= len(f.data); cut++ {
				got, err := decode(f.data[:cut])
				if err != nil {
					t.Fatalf("cut at %d: %v", cut, err)
				}
				if want := completeAt(f.table, f.ends, cut); !maps.Equal(got.entries, want) {
					t.Fatalf("cut at %d of %q:\n got %q\nwant %q", cut, f.data[:cut], got.entries, want)
				}
			}
		})
	}
}

// At a record boundary the file is sound and left alone; one byte short of it, it is damaged and
// its bytes are kept as <file>.corrupt.
func TestLoadTruncatedKeepsCorruptCopy(t *testing.T) {
	written, table := writtenFile(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "positions.yaml")
	for k, end := range recordEnds(t, written, table) {
		for _, cut := range []int{end, end - 1} {
			_ = os.Remove(path + corruptSuffix)
			torn := written[:cut]
			if err := os.WriteFile(path, torn, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := load(discardLogger(), path, false, false); err != nil {
				t.Fatalf("cut at %d: %v", cut, err)
			}
			copied, err := os.ReadFile(path + corruptSuffix)
			switch {
			case cut == end && err == nil:
				t.Errorf("cut after the record of %q: a sound file was copied to %s", k, path+corruptSuffix)
			case cut < end && (err != nil || !bytes.Equal(copied, torn)):
				t.Errorf("cut inside the record of %q: copy = %q, %v; want the torn bytes", k, copied, err)
			}
		}
	}
}
