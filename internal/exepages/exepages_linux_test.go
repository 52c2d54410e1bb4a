package exepages

import (
	"bytes"
	"os"
	"slices"
	"testing"
)

// written lives in the executable's writable data (a non-zero initial value
// keeps it out of bss), the mapping Release must not touch.
var written = [8192]byte{1, 2, 3}

// residentKiB sums the resident size of the executable's mappings that
// start where one of ranges does.
func residentKiB(t *testing.T, ranges []mapping) int {
	t.Helper()
	ms, err := exeMappingsNow()
	if err != nil {
		t.Fatal(err)
	}
	var total int
	for _, m := range ms {
		if slices.ContainsFunc(ranges, func(r mapping) bool { return r.start == m.start }) {
			total += int(m.rssKiB)
		}
	}
	return total
}

// readOnlyBytes reads every mapping of the executable that is not writable,
// released or not, through /proc/self/mem.
func readOnlyBytes(t *testing.T, mem *os.File) map[uint64][]byte {
	t.Helper()
	ms, err := exeMappingsNow()
	if err != nil {
		t.Fatal(err)
	}
	contents := make(map[uint64][]byte)
	for _, m := range ms {
		if m.writable {
			continue
		}
		b := make([]byte, m.end-m.start)
		if _, err := mem.ReadAt(b, int64(m.start)); err != nil {
			t.Fatalf("reading %x-%x: %v", m.start, m.end, err)
		}
		contents[m.start] = b
	}
	return contents
}

func TestReleaseUnmapsReadOnlyPagesAndKeepsWrites(t *testing.T) {
	ranges, err := releasableNow()
	if err != nil {
		t.Fatal(err)
	}
	if len(ranges) == 0 {
		t.Fatal("found nothing of the executable to release")
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
		size += int(m.end-m.start) / 1024
	}
	// Every read-only page reads the same after Release: a private copy
	// (relocated pointers in a PIE or externally linked build) given back
	// would read as the file's bytes instead.
	contents := readOnlyBytes(t, mem)
	written[0], written[len(written)-1] = 42, 43
	before := residentKiB(t, ranges)

	released, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	after := residentKiB(t, ranges)
	t.Logf("releasable mappings %d KiB: resident %d KiB before Release, %d after", size, before, after)

	if released != int64(size)*1024 {
		t.Errorf("released %d bytes, want the %d KiB of releasable mappings", released, size)
	}
	if before < size*9/10 {
		t.Fatalf("only %d of %d KiB resident after reading them all", before, size)
	}
	// What runs between Release and the count (this test, the runtime) comes
	// back, in whole page-cache folios on recent kernels; for a small test
	// binary that is a large share (about 60% here, 85% linked externally).
	if after > before*9/10 {
		t.Errorf("releasable mappings resident %d KiB -> %d KiB, want at least a tenth released", before, after)
	}
	for start, b := range readOnlyBytes(t, mem) {
		if !bytes.Equal(b, contents[start]) {
			t.Errorf("read-only mapping at %x reads differently after Release", start)
		}
	}
	if written[0] != 42 || written[len(written)-1] != 43 || written[1] != 2 {
		t.Errorf("writable data changed by Release: %v ... %v", written[:3], written[len(written)-1])
	}
}

// Only mappings of the executable that hold nothing but the file's own pages
// are released: not the writable data, not a read-only segment with private
// copies (a PIE binary's relocated pointers), not other files, not
// anonymous memory.
func TestReleasableSkipsPrivateCopies(t *testing.T) {
	const smaps = `00400000-01c6b000 r-xp 00000000 fd:01 2621447                            /usr/bin/promtail-osquery
Size:              24996 kB
Rss:               16552 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
01c6b000-03626000 r--p 0186b000 fd:01 2621447                            /usr/bin/promtail-osquery
Rss:               15404 kB
Anonymous:             0 kB
03626000-036a0000 r--p 03226000 fd:01 2621447                            /usr/bin/promtail-osquery
Rss:                 488 kB
Anonymous:           488 kB
036a0000-03777000 rw-p 032a0000 fd:01 2621447                            /usr/bin/promtail-osquery
Rss:                 708 kB
Anonymous:           120 kB
7f1850f83000-7f1850fe3000 r--p 00000000 fd:01 99                         /usr/lib/locale/C.utf8/LC_CTYPE
Rss:                 112 kB
Anonymous:             0 kB
7ffe83e87000-7ffe83ea8000 rw-p 00000000 00:00 0                          [stack]
Rss:                  16 kB
Anonymous:            16 kB
`
	ms, err := exeMappings([]byte(smaps), fileID{0xfd, 1, 2621447})
	if err != nil {
		t.Fatal(err)
	}
	got := releasable(ms)
	want := []mapping{
		{start: 0x400000, end: 0x1c6b000, file: fileID{0xfd, 1, 2621447}, rssKiB: 16552},
		{start: 0x1c6b000, end: 0x3626000, file: fileID{0xfd, 1, 2621447}, rssKiB: 15404},
	}
	if !slices.Equal(got, want) {
		t.Errorf("releasable = %+v, want %+v", got, want)
	}
	if _, err := exeMappings([]byte("00400000-01c6b000 r-xp 00000000 fd:01 1 /x\nAnonymous: lots kB\n"), fileID{0xfd, 1, 1}); err == nil {
		t.Error("an unreadable Anonymous line was accepted")
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
			want: mapping{start: 0x400000, end: 0x1c6b000, file: fileID{0xfd, 1, 2621447}},
			ok:   true,
		},
		{
			line: "03626000-03777000 rw-p 03226000 fd:01 2621447 /usr/bin/promtail-osquery (deleted)",
			want: mapping{start: 0x3626000, end: 0x3777000, writable: true, file: fileID{0xfd, 1, 2621447}},
			ok:   true,
		},
		{line: "7ffe83e87000-7ffe83ea8000 rw-p 00000000 00:00 0                          [stack]",
			want: mapping{start: 0x7ffe83e87000, end: 0x7ffe83ea8000, writable: true}, ok: true},
		{line: "VmFlags: rd ex mr mw me dw sd", ok: false},
		{line: "Anonymous:             0 kB", ok: false},
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
