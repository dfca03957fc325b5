//go:build unix && !linux

package sqlitedb

import "os"

// allocateCounter gives the counter file its counterSize bytes. Without
// fallocate (the syscall package has none here) it can only set the
// size, leaving a hole that a full disk cannot back; touching it then
// faults, which the counter's accesses turn into an error (see
// counterSignal).
func allocateCounter(f *os.File) error { return truncateCounter(f) }
