//go:build linux || darwin

package diskspace

import "syscall"

// Available returns the bytes that an unprivileged process may still write
// on the filesystem holding path (the blocks not reserved for root).
func Available(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
