//go:build unix

package file

import (
	"io/fs"
	"os"
	"syscall"
)

// fileID names a file independently of its path, so a renamed file is still
// recognised as the one being read.
type fileID struct {
	dev, ino uint64
}

func idOf(_ string, fi fs.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	// The conversion is needed where Dev is a signed or 32-bit type.
	return fileID{dev: uint64(st.Dev), ino: st.Ino}
}

// unlinked reports whether the open file has no name left: it was deleted
// and only open descriptors keep its blocks allocated.
func unlinked(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}

// openForRead opens without blocking: a path that turned into a named pipe
// between the stat and the open would otherwise block the target until a
// writer appears.
func openForRead(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
