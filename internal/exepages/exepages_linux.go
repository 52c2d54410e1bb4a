package exepages

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Release unmaps the pages of the running executable's releasable mappings
// (see releasable) and returns the size of the address ranges it released.
func Release() (int64, error) {
	ranges, err := releasableNow()
	if err != nil {
		return 0, err
	}
	var released int64
	for _, m := range ranges {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(m.start), uintptr(m.end-m.start), unix.MADV_DONTNEED); errno != 0 {
			return released, fmt.Errorf("madvise %x-%x: %w", m.start, m.end, errno)
		}
		released += int64(m.end - m.start)
	}
	return released, nil
}

// releasableNow lists the executable's releasable mappings as they are now.
func releasableNow() ([]mapping, error) {
	ms, err := exeMappingsNow()
	if err != nil {
		return nil, err
	}
	return releasable(ms), nil
}

// exeMappingsNow lists the executable's mappings as they are now.
func exeMappingsNow() ([]mapping, error) {
	var exe unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &exe); err != nil {
		return nil, fmt.Errorf("stat of the executable: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	return exeMappings(smaps, fileID{unix.Major(uint64(exe.Dev)), unix.Minor(uint64(exe.Dev)), uint64(exe.Ino)})
}

// fileID is a file's device (major, minor) and inode, as /proc/PID/maps
// gives them.
type fileID struct {
	major, minor uint32
	inode        uint64
}

// exeMappings lists, from the text of /proc/self/smaps, the mappings of the
// file exe, matched by device and inode, which still hold when its file was
// replaced or deleted since start.
func exeMappings(smaps []byte, exe fileID) ([]mapping, error) {
	var ranges []mapping
	var cur *mapping
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		if m, ok := parseMapping(line); ok {
			ranges = append(ranges, m)
			cur = &ranges[len(ranges)-1]
			continue
		}
		if cur == nil {
			continue
		}
		var err error
		if v, ok := strings.CutPrefix(line, "Anonymous:"); ok {
			cur.anonymousKiB, err = parseKiB(v)
		} else if v, ok := strings.CutPrefix(line, "Rss:"); ok {
			cur.rssKiB, err = parseKiB(v)
		}
		if err != nil {
			return nil, fmt.Errorf("smaps line %q: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ranges, func(m mapping) bool { return m.file != exe }), nil
}

// parseKiB reads the value of an smaps size line, "   488 kB".
func parseKiB(v string) (uint64, error) {
	return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
}

// releasable keeps the mappings whose every resident page is the file's
// own: not writable, and no private copy of a page (smaps' Anonymous).
// MADV_DONTNEED discards private copies, and those hold what the program or
// its loader wrote: the relocated pointers of a position-independent or
// externally linked binary's read-only-after-relocation segment, a
// debugger's breakpoints, anything in a writable segment.
func releasable(ms []mapping) []mapping {
	return slices.DeleteFunc(ms, func(m mapping) bool { return m.writable || m.anonymousKiB != 0 })
}

type mapping struct {
	start, end   uint64
	writable     bool
	file         fileID
	anonymousKiB uint64 // private copies of pages, from smaps
	rssKiB       uint64 // resident, from smaps
}

// parseMapping reads the first line of a mapping in /proc/self/maps or
// smaps: "start-end perms offset major:minor inode [path]", numbers in hex
// but the inode.
func parseMapping(line string) (mapping, bool) {
	f := strings.Fields(line)
	if len(f) < 5 {
		return mapping{}, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	maj, min, ok2 := strings.Cut(f[3], ":")
	if !ok || !ok2 {
		return mapping{}, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	major, err3 := strconv.ParseUint(maj, 16, 32)
	minor, err4 := strconv.ParseUint(min, 16, 32)
	inode, err5 := strconv.ParseUint(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || end <= start {
		return mapping{}, false
	}
	return mapping{
		start:    start,
		end:      end,
		writable: strings.Contains(f[1], "w"),
		file:     fileID{uint32(major), uint32(minor), inode},
	}, true
}
