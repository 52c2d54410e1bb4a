//go:build unix

package spool

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lock takes an exclusive advisory lock on f, the spool's acked file: two
// writers in one directory would interleave their segments.
func lock(f *os.File, dir string) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("spool directory %s is in use (by another agent, or by two clients with the same name)", dir)
	}
	if err != nil {
		return fmt.Errorf("locking spool directory %s: %w", dir, err)
	}
	return nil
}
