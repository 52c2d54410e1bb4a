package exepages

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Release unmaps the pages of the running executable's read-only mappings
// (code and read-only data) and returns the size of the address ranges it
// released.
func Release() (int64, error) {
	ranges, err := readOnlyMappings()
	if err != nil {
		return 0, err
	}
	var released int64
	for _, m := range ranges {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno != 0 {
			return released, fmt.Errorf("madvise %x-%x: %w", m.start, m.end, errno)
		}
		released += int64(m.end - m.start)
	}
	return released, nil
}

// readOnlyMappings lists the mappings of the running executable that are not
// writable. Writable ones must be left alone: for a private file mapping,
// MADV_DONTNEED throws away what the program wrote there. The executable is
// matched by device and inode, which still hold when its file was replaced
// or deleted since start.
func readOnlyMappings() ([]mapping, error) {
	var exe unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &exe); err != nil {
		return nil, fmt.Errorf("stat of the executable: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	var ranges []mapping
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		m, ok := parseMapping(sc.Text())
		if ok && !m.writable && m.inode == exe.Ino && m.major == unix.Major(exe.Dev) && m.minor == unix.Minor(exe.Dev) {
			ranges = append(ranges, m)
		}
	}
	return ranges, sc.Err()
}

type mapping struct {
	start, end   uintptr
	writable     bool
	major, minor uint32
	inode        uint64
}

// parseMapping reads one line of /proc/self/maps:
// "start-end perms offset major:minor inode [path]", numbers in hex but the inode.
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
		start:    uintptr(start),
		end:      uintptr(end),
		writable: strings.Contains(f[1], "w"),
		major:    uint32(major),
		minor:    uint32(minor),
		inode:    inode,
	}, true
}
