//go:build unix

package sqlitedb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
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
//
// The word is memory of a file that others can cut short under the
// mapping (an operator's truncate, a restore, cp over it in place), and a
// page past the file's end, or a hole that a full disk cannot back, raises
// SIGBUS when touched, which kills the process unless the goroutine asked
// the runtime to panic instead. So every access runs under a fault
// guard (loadWord, addOneToWord, seedWord), and a fault grows the file
// back and tries once more (regrow).
type counterSignal struct {
	// word is the counter, in the mapped file: page-aligned, so 8-byte
	// aligned as 64-bit atomics need on every platform.
	word *uint64
	// path and allocate grow the file back after a fault.
	path     string
	allocate func(*os.File) error
}

// errCounterShort is in every error of a fault on the counter.
var errCounterShort = errors.New("the file is shorter than this process mapped it (something truncated or replaced it, or its disk is full)")

// NoteRevocationChange implements sqldb.RevocationSignal: it adds one to
// the shared counter, which every process reads. It fails only when the
// counter faults and growing its file back does not help (see regrow);
// this process's own reads of it then fail too, so its cache fails closed
// rather than answer from before the change.
func (s *counterSignal) NoteRevocationChange(context.Context) error {
	if addOneToWord(s.word) {
		return nil
	}
	if err := s.regrow(); err != nil {
		return err
	}
	if addOneToWord(s.word) {
		return nil
	}
	return s.stillShort()
}

// RevocationVersion implements sqldb.RevocationSignal: the counter, read
// with no system call and no allocation. It fails only as
// NoteRevocationChange does.
func (s *counterSignal) RevocationVersion() (uint64, error) {
	if v, ok := loadWord(s.word); ok {
		return v, nil
	}
	return s.loadAfterFault()
}

// loadAfterFault is RevocationVersion once the word faulted, apart so
// that the common path stays short.
func (s *counterSignal) loadAfterFault() (uint64, error) {
	if err := s.regrow(); err != nil {
		return 0, err
	}
	if v, ok := loadWord(s.word); ok {
		return v, nil
	}
	return 0, s.stillShort()
}

// regrow grows the counter file back to counterSize after an access to
// the word faulted, which mends the mapping when the file at the path is
// still the one mapped (cut short in place, or a hole that the disk now
// has room for). It then seeds a word that reads 0, as Open does. The
// file is opened anew, as the mapping kept no descriptor, and never
// created: a new file would not be the one mapped here. Goroutines that
// fault at once all grow it, which changes nothing after the first.
func (s *counterSignal) regrow() error {
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return s.faulted(err)
	}
	defer f.Close()
	if err := s.allocate(f); err != nil {
		return s.faulted(err)
	}
	// A fault here is left to the access that follows, which tells.
	seedWord(s.word)
	return nil
}

// faulted is the error of a fault that growing the file back failed to
// mend, because of err.
func (s *counterSignal) faulted(err error) error {
	return fmt.Errorf("revocation counter %s: %w, and growing it back failed: %w; free disk space if it is full (the next check grows it back), and leave the file to the server and the CLI; if it was removed or replaced, restart the server",
		filepath.Base(s.path), errCounterShort, err)
}

// stillShort is the error of a fault that outlived growing the file back:
// the file at the path is not the one mapped (or, where growing leaves a
// hole, the disk is still full).
func (s *counterSignal) stillShort() error {
	return fmt.Errorf("revocation counter %s: %w, and still is after growing it back, so the file at that path is probably not the one mapped; leave the file to the server and the CLI, and restart the server to map it anew",
		filepath.Base(s.path), errCounterShort)
}

// loadWord reads the word; ok is false if that faulted.
func loadWord(word *uint64) (v uint64, ok bool) {
	ok = guarded(func() { v = atomic.LoadUint64(word) })
	return v, ok
}

// addOneToWord adds one to the word; ok is false if that faulted, and
// then nothing was added.
func addOneToWord(word *uint64) (ok bool) {
	return guarded(func() { atomic.AddUint64(word, 1) })
}

// seedWord starts a word that reads 0, that is a counter just grown (new,
// or cut short and grown back), at the clock's nanoseconds instead. A
// revocation cache (auth.CachedRevocations) trusts its answers while the
// version equals the one they were gathered at, so a counter cut back to
// 0 that counted up to that same number again would bring answers from
// before the cut back to life. Nanoseconds since 1970 are above any count
// that an earlier start reached, unless the clock went back. Only a 0 is
// replaced, so this never loses a count. ok is false if that faulted.
func seedWord(word *uint64) (ok bool) {
	return guarded(func() { atomic.CompareAndSwapUint64(word, 0, uint64(time.Now().UnixNano())) })
}

// guarded runs access, an access to the mapped word, with a memory fault
// made a panic that it recovers: ok is false if access faulted. It
// restores the goroutine's SetPanicOnFault setting as it leaves, and
// recovers only when access did not finish (a recover on every access
// would cost more than the access).
func guarded(access func()) (ok bool) {
	was := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(was)
		if !ok {
			onlyFault(recover())
		}
	}()
	access()
	return true
}

// onlyFault lets a recovered memory fault (SetPanicOnFault panics with a
// value that has Addr) end there, and panics again with anything else.
func onlyFault(r any) {
	if _, fault := r.(interface{ Addr() uintptr }); r != nil && !fault {
		panic(r)
	}
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
	s := &counterSignal{word: (*uint64)(unsafe.Pointer(&mem[0])), path: path, allocate: allocate}
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
