//go:build !linux

package exepages

// Release does nothing where /proc/self/maps and MADV_DONTNEED are missing.
func Release() (int64, error) { return 0, ErrUnsupported }
