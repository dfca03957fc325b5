//go:build !linux && !darwin

package diskspace

import (
	"errors"
	"fmt"
	"runtime"
)

// Available is not implemented on this system: it always fails, and the
// Guard then stays off.
func Available(string) (uint64, error) {
	return 0, fmt.Errorf("measuring free disk space on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
