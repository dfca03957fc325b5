//go:build unix && !linux

package sqlitedb

import "os"

// allocateCounter gives the counter file its counterSize bytes. Without
// fallocate (the syscall package has none here) it can only set the
// size, leaving a hole that a full disk cannot back.
func allocateCounter(f *os.File) error { return truncateCounter(f) }
