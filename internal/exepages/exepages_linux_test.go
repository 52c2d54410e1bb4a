package exepages

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// written lives in the executable's writable data (a non-zero initial value
// keeps it out of bss), the mapping Release must not touch.
var written = [8192]byte{1, 2, 3}

// residentKiB sums the resident size of the mappings, as /proc/self/smaps
// gives it.
func residentKiB(t *testing.T, ranges []mapping) int {
	t.Helper()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	starts := make(map[string]bool)
	for _, m := range ranges {
		starts[strconv.FormatUint(uint64(m.start), 16)] = true
	}
	var total int
	counting := false
	for _, line := range strings.Split(string(smaps), "\n") {
		if m, ok := parseMapping(line); ok {
			counting = starts[strconv.FormatUint(uint64(m.start), 16)]
			continue
		}
		if v, ok := strings.CutPrefix(line, "Rss:"); ok && counting {
			kib, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("smaps line %q: %v", line, err)
			}
			total += kib
		}
	}
	return total
}

func TestReleaseUnmapsReadOnlyPagesAndKeepsWrites(t *testing.T) {
	ranges, err := readOnlyMappings()
	if err != nil {
		t.Fatal(err)
	}
	if len(ranges) < 2 {
		t.Fatalf("found %d read-only mappings of the executable, want code and read-only data", len(ranges))
	}
	// Reading them through /proc/self/mem maps every page, so that what
	// Release leaves resident is measured against all of it.
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	var size int
	for _, m := range ranges {
		if _, err := mem.ReadAt(make([]byte, m.end-m.start), int64(m.start)); err != nil {
			t.Fatalf("reading %x-%x: %v", m.start, m.end, err)
		}
		size += int(m.end-m.start) / 1024
	}
	written[0], written[len(written)-1] = 42, 43
	before := residentKiB(t, ranges)

	released, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	after := residentKiB(t, ranges)
	t.Logf("read-only mappings %d KiB: resident %d KiB before Release, %d after", size, before, after)

	if released != int64(size)*1024 {
		t.Errorf("released %d bytes, want the %d KiB of read-only mappings", released, size)
	}
	if before < size*9/10 {
		t.Fatalf("only %d of %d KiB resident after reading them all", before, size)
	}
	// What runs between Release and the count (this test, the runtime) comes
	// back, in whole page-cache folios on recent kernels; for a small test
	// binary that is a large share.
	if after > before*3/4 {
		t.Errorf("read-only mappings resident %d KiB -> %d KiB, want at most three quarters", before, after)
	}
	if written[0] != 42 || written[len(written)-1] != 43 || written[1] != 2 {
		t.Errorf("writable data changed by Release: %v ... %v", written[:3], written[len(written)-1])
	}
}

func TestParseMapping(t *testing.T) {
	for _, tc := range []struct {
		line string
		want mapping
		ok   bool
	}{
		{
			line: "00400000-01c6b000 r-xp 00000000 fd:01 2621447                            /usr/bin/promtail-osquery",
			want: mapping{start: 0x400000, end: 0x1c6b000, major: 0xfd, minor: 1, inode: 2621447},
			ok:   true,
		},
		{
			line: "03626000-03777000 rw-p 03226000 fd:01 2621447 /usr/bin/promtail-osquery (deleted)",
			want: mapping{start: 0x3626000, end: 0x3777000, writable: true, major: 0xfd, minor: 1, inode: 2621447},
			ok:   true,
		},
		{line: "7ffe83e87000-7ffe83ea8000 rw-p 00000000 00:00 0                          [stack]",
			want: mapping{start: 0x7ffe83e87000, end: 0x7ffe83ea8000, writable: true}, ok: true},
		{line: "", ok: false},
		{line: "zz-01 r-xp 0 fd:01 1", ok: false},
		{line: "01000-01000 r-xp 0 fd:01 1", ok: false},
		{line: "00400000-01c6b000 r-xp 00000000 fd01 2621447", ok: false},
	} {
		got, ok := parseMapping(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseMapping(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}
