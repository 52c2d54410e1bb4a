//go:build !unix

package file

import (
	"hash/fnv"
	"io/fs"
	"os"
)

// fileID names a file. Without inode numbers the best available name is the
// path, so on these systems files are followed by path only: a renamed file is
// a new file, and a file replaced at the same path is noticed only when it is
// smaller than what was read (as a truncation).
type fileID struct {
	dev, ino uint64
}

func idOf(path string, _ fs.FileInfo) fileID {
	h := fnv.New64a()
	h.Write([]byte(path))
	return fileID{ino: h.Sum64()}
}

func unlinked(fs.FileInfo) bool { return false }

func openForRead(path string) (*os.File, error) {
	return os.Open(path)
}
