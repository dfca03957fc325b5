package e2e

// The real kanban-mcp binary, for tests that run the server as a child
// process (crash safety, benchmarks): built once per test binary and shared
// by every test that asks for it.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaryDirPrefix names the temporary folders the binary is built in; the
// test binary's PID follows it, so that a later run can tell the folders
// of finished runs from those of runs still going.
const binaryDirPrefix = "kanban-mcp-testbin-"

var builtBinary struct {
	once sync.Once
	path string
	skip string // why the binary cannot be built here
	err  error
}

// kanbanBinary returns the path of the kanban-mcp binary built from this
// package (CGO_ENABLED=0, as the release build; never with -race). The first
// call builds it, which takes a while on a cold build cache; later calls in
// the same test binary return the same file. It skips the test only when
// there is no go command to build with.
func kanbanBinary(t *testing.T) string {
	t.Helper()
	builtBinary.once.Do(func() {
		builtBinary.path, builtBinary.skip, builtBinary.err = buildKanbanBinary()
	})
	switch {
	case builtBinary.skip != "":
		t.Skip(builtBinary.skip)
	case builtBinary.err != nil:
		t.Fatalf("building the kanban-mcp binary: %v", builtBinary.err)
	}
	return builtBinary.path
}

func buildKanbanBinary() (path, skip string, err error) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			return "", "this test runs the real kanban-mcp binary and builds it with the go command, which is neither in GOROOT/bin nor on PATH", nil
		}
	}
	removeStaleBinaryDirs()
	// The folder outlives any one test, since the binary is shared; it is
	// removed by the next run after this one ends (removeStaleBinaryDirs).
	dir, err := os.MkdirTemp("", binaryDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(dir, "kanban-mcp")
	if runtime.GOOS == "windows" {
		path += ".exe"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", path, ".")
	cmd.Dir = ".." // the command at the module's root: go test runs these tests in e2e/
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build (after %s): %w\n%s", time.Since(start).Round(time.Millisecond), err, out)
	}
	return path, "", nil
}

// removeStaleBinaryDirs deletes the binary folders of test runs whose
// process has ended. Folders of runs still going (another go test in the
// same tree) are left alone.
func removeStaleBinaryDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), binaryDirPrefix+"*"))
	for _, dir := range dirs {
		pidText, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(dir), binaryDirPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// processAlive reports whether process pid may still be running; when in
// doubt (no permission to signal it) it says yes.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false // Windows: no such process
	}
	return !errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone)
}
