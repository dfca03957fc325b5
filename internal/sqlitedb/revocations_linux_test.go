package sqlitedb

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAllocateCounter: fallocate grows a short counter file without
// changing its bytes, a file system that refuses fallocate gets the
// truncate of other unixes, which does not change them either, EINTR is
// tried again, and any other error (a full disk) is returned with the
// file left as it was.
func TestAllocateCounter(t *testing.T) {
	short := []byte("abc")
	grown := []byte("abc\x00\x00\x00\x00\x00")
	full := []byte("41414141")
	for _, tc := range []struct {
		name      string
		content   []byte
		errs      []error // of the fallocate calls in turn; then the real one
		wantCalls int
		wantErr   error
		want      []byte
	}{
		{"short", short, nil, 1, nil, grown},
		{"full size", full, nil, 1, nil, full},
		{"unsupported", short, []error{syscall.EOPNOTSUPP}, 1, nil, grown},
		{"unsupported, full size", full, []error{syscall.EOPNOTSUPP}, 1, nil, full},
		{"no syscall", short, []error{syscall.ENOSYS}, 1, nil, grown},
		{"interrupted", short, []error{syscall.EINTR, syscall.EINTR}, 3, nil, grown},
		{"disk full", short, []error{syscall.ENOSPC}, 1, syscall.ENOSPC, short},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "counter")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			calls := 0
			err = allocateWith(f, func(fd int, mode uint32, off, size int64) error {
				if mode != 0 || off != 0 || size != counterSize {
					t.Errorf("fallocate(mode %d, offset %d, size %d); want mode 0 (grow, never change bytes) over [0, %d)", mode, off, size, counterSize)
				}
				calls++
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return syscall.Fallocate(fd, mode, off, size)
			})
			if !errors.Is(err, tc.wantErr) || (err != nil && tc.wantErr == nil) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
			if calls != tc.wantCalls {
				t.Errorf("fallocate called %d times, want %d", calls, tc.wantCalls)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("file content (-want +got):\n%s", diff)
			}
		})
	}
}

// fullTmpfsEnv, when set to a folder, makes the test binary a process in
// a mount namespace of its own that mounts a small tmpfs there and opens
// a database on it once it is full.
const fullTmpfsEnv = "SQLITEDB_TEST_FULL_TMPFS"

// TestRevocationCounterOnFullTmpfs: on a full tmpfs, where the old
// counter's hole raised SIGBUS at the first read, Open fails naming the
// counter file. The tmpfs is mounted by another process (this test binary
// again) in a mount namespace of its own, so that it goes away with it
// whatever happens; the test is skipped where this is not allowed.
func TestRevocationCounterOnFullTmpfs(t *testing.T) {
	if dir := os.Getenv(fullTmpfsEnv); dir != "" {
		openOnFullTmpfs(t, dir)
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRevocationCounterOnFullTmpfs$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), fullTmpfsEnv+"="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	if uid, gid := os.Geteuid(), os.Getegid(); uid != 0 {
		// A user namespace of its own lets it mount a tmpfs all the same,
		// where the kernel allows such namespaces.
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}}
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exit):
		t.Skipf("cannot start a process in a mount namespace of its own: %v", err)
	case err != nil:
		t.Fatalf("the process on the full tmpfs: %v\n%s", err, out)
	case strings.Contains(string(out), "--- SKIP"):
		t.Skipf("the process on the full tmpfs skipped:\n%s", out)
	case !strings.Contains(string(out), "--- PASS: TestRevocationCounterOnFullTmpfs"):
		t.Fatalf("the process on the full tmpfs did not pass:\n%s", out)
	}
}

// openOnFullTmpfs is TestRevocationCounterOnFullTmpfs's other process.
func openOnFullTmpfs(t *testing.T, dir string) {
	// Private first: where the parent's mounts are shared, a mount here
	// would show there too.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		t.Skipf("cannot make the mounts private: %v", err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	// The database with its -wal and -shm files while there is room, kept
	// open so that they stay; only the counter file is gone.
	path := filepath.Join(dir, "kanban.db")
	first, err := Open(t.Context(), path, SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := os.Remove(path + counterSuffix); err != nil {
		t.Fatal(err)
	}
	fill(t, dir)

	db, err := Open(t.Context(), path, SyncNormal)
	if err == nil {
		defer db.Close()
		v, err := db.SQL().RevocationVersion()
		t.Fatalf("Open on a full tmpfs succeeded, reading version %d, %v; want it to fail", v, err)
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), filepath.Base(path+counterSuffix)) {
		t.Errorf("Open on a full tmpfs: %v; want %v naming %s", err, syscall.ENOSPC, filepath.Base(path+counterSuffix))
	}
}

// fill writes a file in dir until its file system has no room left.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}
