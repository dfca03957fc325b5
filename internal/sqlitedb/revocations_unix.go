//go:build unix

package sqlitedb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
)

// counterSuffix names the counter file beside the database. It is not
// fileSignalSuffix, the file that older versions (and fileSignal) replace
// by rename at each change: a process that had mapped that path would keep
// the replaced file mapped and miss every later change made that way, and
// it would read an old version's text as a number. So the two never share
// a file, and the old one is left alone. The price is that, while an older
// and a newer version run side by side on one database, the changes of
// one reach the other's cache only when it restarts.
const counterSuffix = ".revocation-counter"

// counterSize is the counter's size in the file: one native-endian uint64,
// which every process on the host reads alike.
const counterSize = 8

// counterSignal is the revocation signal as a counter in shared memory;
// see revocations.go. A change through this process adds to the same word
// that it reads, so it sees its own changes at once, and the counter only
// grows.
type counterSignal struct {
	// word is the counter, in the mapped file: page-aligned, so 8-byte
	// aligned as 64-bit atomics need on every platform.
	word *uint64
}

// NoteRevocationChange implements sqldb.RevocationSignal: it adds one to
// the shared counter, which every process reads. It cannot fail.
func (s *counterSignal) NoteRevocationChange(context.Context) error {
	atomic.AddUint64(s.word, 1)
	return nil
}

// RevocationVersion implements sqldb.RevocationSignal: the counter, read
// with no system call and no allocation. It cannot fail.
func (s *counterSignal) RevocationVersion() (uint64, error) {
	return atomic.LoadUint64(s.word), nil
}

// seedWord starts a word that reads 0, that is a counter just grown (new,
// or cut short and grown back), at the clock's nanoseconds instead. A
// revocation cache (auth.CachedRevocations) trusts its answers while the
// version equals the one they were gathered at, so a counter cut back to
// 0 that counted up to that same number again would bring answers from
// before the cut back to life. Nanoseconds since 1970 are above any count
// that an earlier start reached, unless the clock went back. Only a 0 is
// replaced, so this never loses a count.
func seedWord(word *uint64) {
	atomic.CompareAndSwapUint64(word, 0, uint64(time.Now().UnixNano()))
}

// newRevocationSignal returns the shared counter of the database at
// dbPath, or the file signal where the file system refuses to map it.
func newRevocationSignal(dbPath string) (sqldb.RevocationSignal, error) {
	return openRevocationSignal(dbPath, allocateCounter, mapCounter)
}

// mapCounter maps the counter file's word, shared with every process
// that maps it.
func mapCounter(fd int) ([]byte, error) {
	return syscall.Mmap(fd, 0, counterSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
}

// openRevocationSignal opens (creating if needed) the counter file, grows
// it with allocate when short and maps it with mapFile. Only a failed
// mapping falls back to the file signal, which every process on that file
// system then uses alike; a counter file that cannot be opened or grown
// is an error, as a fallback there would leave this process and the
// others watching different files.
func openRevocationSignal(dbPath string, allocate func(*os.File) error, mapFile func(fd int) ([]byte, error)) (sqldb.RevocationSignal, error) {
	path := dbPath + counterSuffix
	fail := func(err error) (sqldb.RevocationSignal, error) {
		return nil, fmt.Errorf("open the revocation counter %s: %w", filepath.Base(path), err)
	}
	// Never O_TRUNC: the file may hold the count of other processes.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fail(err)
	}
	// The mapping outlives the descriptor.
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	grown := info.Size() < counterSize
	if grown {
		// New (or cut short by a crash before it grew). A full disk fails
		// here, rather than at the first touch of the mapping.
		if err := allocate(f); err != nil {
			return fail(fmt.Errorf("allocate its %d bytes: %w", counterSize, err))
		}
		shareLikeDatabase(f, dbPath)
	}
	mem, err := mapFile(int(f.Fd()))
	if err != nil || len(mem) < counterSize {
		return newFileSignal(dbPath), nil
	}
	s := &counterSignal{word: (*uint64)(unsafe.Pointer(&mem[0]))}
	if grown {
		seedWord(s.word)
	}
	// Unmapped once nothing can read it any more, not at DB.Close: a
	// request that a slow shutdown let run on would fault on a word
	// unmapped under it, where now it reads a valid count.
	runtime.AddCleanup(s, func(mem []byte) { _ = syscall.Munmap(mem) }, mem)
	return s, nil
}

// truncateCounter sets the counter file's size to counterSize, which
// grows a short file and keeps the first counterSize bytes of a longer
// one: it never changes the word, whoever grew the file meanwhile. A
// grown part is a hole, though (see allocateCounter).
func truncateCounter(f *os.File) error { return f.Truncate(counterSize) }

// shareLikeDatabase gives a new counter file the database file's
// permissions (whatever the umask), and its owner when root made it, as
// SQLite does with its -wal and -shm files: whoever may write the
// database may then open the counter, even when root's CLI created it.
// It does its best; a process that still cannot open the counter says so
// in its own Open.
func shareLikeDatabase(f *os.File, dbPath string) {
	db, err := os.Stat(dbPath)
	if err != nil {
		return
	}
	_ = f.Chmod(db.Mode().Perm() &^ 0o111)
	if st, ok := db.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		_ = f.Chown(int(st.Uid), int(st.Gid))
	}
}
