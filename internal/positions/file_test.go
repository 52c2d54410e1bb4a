package positions

import (
	"bytes"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A file laid out exactly as Promtail 3.6 writes it (yaml.v2, sorted keys, quoted numbers) is read,
// and re-encoding it gives the same bytes, so Promtail can in turn read what we write.
func TestPromtailWrittenFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "promtail-positions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parse(data)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := map[string]string{
		"/var/log/app.log.gz":                   "1042",
		"/var/log/auth.log":                     "98213",
		"/var/log/osquery/osqueryd.results.log": "7340032",
		"/var/log/syslog":                       "123456",
		"cursor-cloudflare-zone-0123abcd":       "1700000000123456789",
		"cursor-docker-web-1":                   "1700000000",
		"cursor-journal":                        "s=739ad463348b4ceca5a9e69c95a3c93f;i=4ece7;b=6c7ce457e5f24d2aaf8c5d3c6e9ba0a4;m=2f4b3a9;t=5c9f0e0a3b1d4;x=8d9e1f2a3b4c5d6e",
		"journal-legacy":                        "s=0f1e2d3c4b5a69788796a5b4c3d2e1f0;i=1;b=00112233445566778899aabbccddeeff;m=1;t=1;x=1",
	}
	if !maps.Equal(got, want) {
		t.Errorf("parse = %v\nwant %v", got, want)
	}
	out, err := encode(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, data) {
		t.Errorf("encode differs from Promtail's layout:\n%s\nwant:\n%s", out, data)
	}
}

func TestEncodeParseRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		positions map[string]string
	}{
		{"empty", map[string]string{}},
		{"offsets", map[string]string{"/var/log/a.log": "0", "/var/log/b.log": "9223372036854775807"}},
		{"values that YAML would read as other types", map[string]string{
			"cursor-a": "null", "cursor-b": "true", "cursor-c": "0012", "cursor-d": "-1", "cursor-e": "1.5e3",
			"cursor-f": "", "cursor-g": "~", "cursor-h": "0x1F",
		}},
		{"awkward paths", map[string]string{
			"/logs/with space.log": "1", "/logs/colon: here.log": "2", "/logs/new\nline.log": "3",
			"/logs/#hash.log": "4", "- dash": "5", "/logs/ünïcødé.log": "6", "/logs/quote\".log": "7",
			"": "8",
		}},
		{"path that is not UTF-8", map[string]string{"/logs/\xff\xfe.log": "10"}},
		{"cursor with separators", map[string]string{"cursor-j": "s=ab;i=1;b=cd;m=2;t=3;x=ef"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := encode(tt.positions)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parse(data)
			if err != nil {
				t.Fatalf("parse(%q): %v", data, err)
			}
			if !maps.Equal(got, tt.positions) {
				t.Errorf("round trip = %q, want %q (file %q)", got, tt.positions, data)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	valid := map[string]string{"/var/log/a.log": "12", "cursor-j": "s=1"}
	validData, err := encode(valid)
	if err != nil {
		t.Fatal(err)
	}
	type outcome int
	const (
		sound    outcome = iota
		salvaged         // loaded, whatever ignore_invalid_yaml says, with a copy kept
		invalid          // an error, or with ignore_invalid_yaml an empty start with a copy kept
	)
	tests := []struct {
		name    string
		data    []byte // nil: no file
		outcome outcome
		want    map[string]string
		errMsg  string // for invalid: substring after "invalid yaml positions file [<path>]: "
	}{
		{name: "missing file", data: nil, want: map[string]string{}},
		{name: "empty file", data: []byte{}, want: map[string]string{}},
		{name: "whitespace only", data: []byte("\n  \n"), want: map[string]string{}},
		{name: "positions key without map", data: []byte("positions:\n"), want: map[string]string{}},
		{name: "empty map", data: []byte("positions: {}\n"), want: map[string]string{}},
		{name: "valid", data: validData, want: valid},
		{name: "unquoted numbers from a hand edit", data: []byte("positions:\n  /a: 12\n  /b: 0012\n"),
			want: map[string]string{"/a": "12", "/b": "0012"}},
		{name: "NUL tail after a valid start", data: append(bytes.Clone(validData), make([]byte, 512)...),
			outcome: salvaged, want: valid},
		{name: "cut inside the last value", data: validData[:len(validData)-3], outcome: salvaged,
			want: map[string]string{"/var/log/a.log": "12"}},
		{name: "cut inside the header", data: []byte("positions"), outcome: salvaged, want: map[string]string{}},
		{name: "value without content", data: []byte("positions:\n  /a: \"1\"\n  /b:\n"), outcome: salvaged,
			want: map[string]string{"/a": "1"}},
		{name: "duplicate key", data: []byte("positions:\n  /a: \"1\"\n  /a: \"2\"\n  /b: \"3\"\n"), outcome: salvaged,
			want: map[string]string{"/b": "3"}},
		{name: "all NUL bytes", data: make([]byte, 4096), outcome: invalid, errMsg: "control characters are not allowed"},
		{name: "garbage", data: []byte("}{ ][ not yaml at all"), outcome: invalid, errMsg: "yaml:"},
		{name: "binary garbage", data: []byte("\x89PNG\r\n\x1a\n\x00\x00"), outcome: invalid, errMsg: "yaml:"},
		{name: "top-level scalar", data: []byte("other"), outcome: invalid, errMsg: "cannot unmarshal"},
		{name: "unknown top-level key", data: []byte("positions: {}\nextra: 1\n"), outcome: invalid, errMsg: "field extra not found"},
		{name: "flow sequence", data: []byte("positions: [this is: not, a map\n"), outcome: invalid,
			errMsg: "yaml: line 1: did not find expected ',' or ']'"},
	}
	for _, tt := range tests {
		for _, ignore := range []bool{false, true} {
			name := tt.name
			if ignore {
				name += "/ignore_invalid_yaml"
			}
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "positions.yaml")
				if tt.data != nil {
					if err := os.WriteFile(path, tt.data, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				got, err := load(discardLogger(), path, ignore, false)
				corrupt, corruptErr := os.ReadFile(path + corruptSuffix)

				if tt.outcome == invalid && !ignore {
					wantPrefix := "invalid yaml positions file [" + path + "]: "
					if err == nil || !strings.HasPrefix(err.Error(), wantPrefix) || !strings.Contains(err.Error(), tt.errMsg) {
						t.Fatalf("load error = %v, want %q followed by ...%q...", err, wantPrefix, tt.errMsg)
					}
				} else {
					if err != nil {
						t.Fatalf("load: %v", err)
					}
					want := tt.want
					if tt.outcome == invalid {
						want = map[string]string{}
					}
					if !maps.Equal(got, want) {
						t.Errorf("load = %q, want %q", got, want)
					}
				}

				wantCopy := tt.outcome == salvaged || (tt.outcome == invalid && ignore)
				switch {
				case wantCopy && corruptErr != nil:
					t.Errorf("no copy of the invalid file kept: %v", corruptErr)
				case wantCopy && !bytes.Equal(corrupt, tt.data):
					t.Errorf("copy = %q, want the invalid file's bytes %q", corrupt, tt.data)
				case !wantCopy && corruptErr == nil:
					t.Errorf("unexpected %s written", path+corruptSuffix)
				}
				if wantCopy {
					assertMode(t, path+corruptSuffix, fileMode)
				}
			})
		}
	}
}

func TestLoadReadOnlyInvalidKeepsNoCopy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "positions.yaml")
	if err := os.WriteFile(path, make([]byte, 64), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := load(discardLogger(), path, true, true)
	if err != nil || len(got) != 0 {
		t.Fatalf("load = %v, %v; want empty, nil", got, err)
	}
	assertDirEntries(t, dir, "positions.yaml")
}

func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{"path is a directory", dir},
		{"parent is a regular file", filepath.Join(notDir, "positions.yaml")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(discardLogger(), tt.path, true, false)
			if err == nil || !strings.HasPrefix(err.Error(), "reading positions file ["+tt.path+"]: ") {
				t.Errorf("load error = %v, want a read error naming the path", err)
			}
		})
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing", "parent")
	path := filepath.Join(dir, "positions.yaml")
	for _, content := range []string{"first\n", "second, longer than the first\n", "3\n"} {
		if err := writeAtomic(path, []byte(content)); err != nil {
			t.Fatalf("writeAtomic: %v", err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("file = %q, %v; want %q", got, err, content)
		}
	}
	assertMode(t, path, fileMode)
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm&^dirMode != 0 {
		t.Errorf("created directory mode %v, want at most %v", perm, os.FileMode(dirMode))
	}
	assertDirEntries(t, dir, "positions.yaml")
}

func TestWriteAtomicFailureLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be makes the rename fail after the temp file is written.
	path := filepath.Join(dir, "positions.yaml")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(path, []byte("x")); err == nil {
		t.Fatal("writeAtomic over a non-empty directory succeeded")
	}
	assertDirEntries(t, dir, "positions.yaml")
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s mode = %v, want %v", path, got, want)
	}
}

func assertDirEntries(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}
