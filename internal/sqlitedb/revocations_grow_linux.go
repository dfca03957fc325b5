package sqlitedb

import (
	"errors"
	"os"
	"syscall"
)

// allocateCounter gives the counter file its counterSize bytes, on disk
// and not as a hole: a hole that a full disk cannot back raises SIGBUS at
// the first touch of the mapping (on tmpfs even a read), whereas fallocate
// fails here with ENOSPC. Mode 0 grows the size when short and never
// changes bytes already there, so two processes growing the file at once
// cannot lose a count.
func allocateCounter(f *os.File) error { return allocateWith(f, syscall.Fallocate) }

// allocateWith is allocateCounter with the fallocate call as a parameter,
// so that tests can refuse it as some file systems do.
func allocateWith(f *os.File, fallocate func(fd int, mode uint32, off, size int64) error) error {
	for {
		err := fallocate(int(f.Fd()), 0, 0, counterSize)
		switch {
		case errors.Is(err, syscall.EINTR):
			// tmpfs gives up on a pending signal (Go's preemption sends
			// them) with EINTR, which SA_RESTART does not restart.
			continue
		case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS):
			// Some file systems (older ZFS, some network and FUSE ones)
			// cannot: grow it as other unixes do (see there).
			return truncateCounter(f)
		}
		return err
	}
}
