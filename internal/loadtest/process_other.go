//go:build !linux

package loadtest

import "os/exec"

// dieWithParent does nothing here: only Linux can tie a child's life to
// its parent's; Stop, deferred by the benchmark, ends the children.
func dieWithParent(*exec.Cmd) {}
