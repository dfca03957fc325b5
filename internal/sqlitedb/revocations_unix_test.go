//go:build unix

package sqlitedb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
)

// newDatabaseFile returns the path of an empty database file in a folder
// of its own, as the signal expects one to exist.
func newDatabaseFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kanban.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// openCounter opens the signal of the database at path and checks that
// it is the shared counter.
func openCounter(t *testing.T, path string) *counterSignal {
	t.Helper()
	s, err := newRevocationSignal(path)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := s.(*counterSignal)
	if !ok {
		t.Fatalf("newRevocationSignal gave a %T, want the shared counter", s)
	}
	return c
}

func TestRevocationCounterAcrossHandles(t *testing.T) {
	path := newDatabaseFile(t)
	checkSignalPair(t, openCounter(t, path), openCounter(t, path))
}

// TestRevocationVersionAllocatesNothing reads the version as every
// authenticated request does, through the database's shared face.
func TestRevocationVersionAllocatesNothing(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "kanban.db"), SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	shared := db.SQL()
	var sink uint64
	if n := testing.AllocsPerRun(1000, func() {
		v, _ := shared.RevocationVersion()
		sink += v
	}); n != 0 {
		t.Errorf("RevocationVersion allocates %v times per call, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = shared.NoteRevocationChange(t.Context()) }); n != 0 {
		t.Errorf("NoteRevocationChange allocates %v times per call, want 0", n)
	}
	_ = sink
}

// TestRevocationCounterOnlyGrows notes changes through two handles at
// once while a third reads: every read is at least the one before, and in
// the end every change counted once.
func TestRevocationCounterOnlyGrows(t *testing.T) {
	path := newDatabaseFile(t)
	a, b, reader := openCounter(t, path), openCounter(t, path), openCounter(t, path)
	start := version(t, reader)
	const perWriter = 10_000
	var wg sync.WaitGroup
	for _, w := range []*counterSignal{a, b} {
		wg.Go(func() {
			for range perWriter {
				_ = w.NoteRevocationChange(t.Context())
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	last := start
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		v := version(t, reader)
		if v < last {
			t.Fatalf("version went back from %d to %d", last, v)
		}
		last = v
	}
	if got, want := version(t, reader), start+2*perWriter; got != want {
		t.Errorf("after %d changes the version is %d, want %d", 2*perWriter, got, want)
	}
}

// TestRevocationCounterKeepsItsCount: opening never resets the count that
// other processes see, and a file cut short is grown, not replaced.
func TestRevocationCounterKeepsItsCount(t *testing.T) {
	path := newDatabaseFile(t)
	counter := path + counterSuffix
	var word [counterSize]byte
	binary.NativeEndian.PutUint64(word[:], 41)
	if err := os.WriteFile(counter, word[:], 0o600); err != nil {
		t.Fatal(err)
	}
	s := openCounter(t, path)
	if v := version(t, s); v != 41 {
		t.Fatalf("version of an existing counter = %d, want 41", v)
	}
	if err := s.NoteRevocationChange(t.Context()); err != nil {
		t.Fatal(err)
	}
	if v := version(t, openCounter(t, path)); v != 42 {
		t.Fatalf("version after a change and a reopening = %d, want 42", v)
	}
	if b, err := os.ReadFile(counter); err != nil || binary.NativeEndian.Uint64(b) != 42 {
		t.Fatalf("counter file = %v, %v; want 42 in the file", b, err)
	}

	// A crash between creating the file and growing it leaves it empty.
	if err := os.WriteFile(counter, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openCounter(t, path)
	if info, err := os.Stat(counter); err != nil || info.Size() != counterSize {
		t.Fatalf("an empty counter file was not grown to %d bytes: %v, %v", counterSize, info, err)
	}
	checkSignalPair(t, s, openCounter(t, path))
}

// TestRevocationCounterLeavesTheOldSignalAlone: the file that older
// versions replace at each change is neither read nor written.
func TestRevocationCounterLeavesTheOldSignalAlone(t *testing.T) {
	path := newDatabaseFile(t)
	old := []byte("revocations changed at 2025-01-01T00:00:00Z (00)\n")
	if err := os.WriteFile(path+fileSignalSuffix, old, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openCounter(t, path)
	counter, err := os.ReadFile(path + counterSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if v, want := version(t, s), binary.NativeEndian.Uint64(counter); v != want {
		t.Errorf("a new counter beside an old signal file reads %d, want %d from its own file", v, want)
	}
	if err := s.NoteRevocationChange(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path + fileSignalSuffix); err != nil || string(b) != string(old) {
		t.Errorf("the old signal file was touched: %q, %v", b, err)
	}
}

// TestRevocationCounterStartsAtTheClock: a counter that Open grows, new
// or left empty, starts at the clock's nanoseconds rather than at 0 (see
// seedWord), while a count already there is kept (see
// TestRevocationCounterKeepsItsCount).
func TestRevocationCounterStartsAtTheClock(t *testing.T) {
	for _, tc := range countersToGrow() {
		t.Run(tc.name, func(t *testing.T) {
			path := newDatabaseFile(t)
			if err := tc.setUp(path + counterSuffix); err != nil {
				t.Fatal(err)
			}
			before := uint64(time.Now().UnixNano())
			v := version(t, openCounter(t, path))
			after := uint64(time.Now().UnixNano())
			if v < before || v > after {
				t.Errorf("counter (%s) starts at %d, want the clock's nanoseconds, in [%d, %d]", tc.name, v, before, after)
			}
		})
	}
}

// writeCounter writes a counter file holding v for the database at path.
func writeCounter(t *testing.T, path string, v uint64) {
	t.Helper()
	var word [counterSize]byte
	binary.NativeEndian.PutUint64(word[:], v)
	if err := os.WriteFile(path+counterSuffix, word[:], 0o600); err != nil {
		t.Fatal(err)
	}
}

// cutCounter truncates the counter file of the database at path to
// nothing under the mappings of it, as an operator's truncate, a restore
// or a cp over it in place does.
func cutCounter(t *testing.T, path string) {
	t.Helper()
	if err := os.Truncate(path+counterSuffix, 0); err != nil {
		t.Fatal(err)
	}
}

// firstAccess is one of the two ways a process touches the counter after
// it was cut short; it gives the version after it.
type firstAccess struct {
	name   string
	access func(context.Context, *counterSignal) (uint64, error)
}

func firstAccesses() []firstAccess {
	return []firstAccess{
		{"read", func(_ context.Context, s *counterSignal) (uint64, error) { return s.RevocationVersion() }},
		{"change", func(ctx context.Context, s *counterSignal) (uint64, error) {
			if err := s.NoteRevocationChange(ctx); err != nil {
				return 0, err
			}
			return s.RevocationVersion()
		}},
	}
}

// TestRevocationCounterCutShortIsGrownBack: a counter file cut short while
// mapped (which used to kill the process with SIGBUS) is grown back by
// the first access and starts again at the clock, above the count before
// the cut, so that a cache holding answers from before drops them; and
// both handles count on from there.
func TestRevocationCounterCutShortIsGrownBack(t *testing.T) {
	for _, first := range firstAccesses() {
		t.Run(first.name, func(t *testing.T) {
			path := newDatabaseFile(t)
			writeCounter(t, path, 41)
			server, cli := openCounter(t, path), openCounter(t, path)
			if v := version(t, server); v != 41 {
				t.Fatalf("version before the cut = %d, want 41", v)
			}
			cutCounter(t, path)
			cut := uint64(time.Now().UnixNano())

			v, err := first.access(t.Context(), server)
			if err != nil {
				t.Fatalf("first %s after the cut: %v", first.name, err)
			}
			if v < cut {
				t.Errorf("version after the cut = %d, want it started again at the clock (at least %d), above the 41 a cache saw", v, cut)
			}
			if info, err := os.Stat(path + counterSuffix); err != nil || info.Size() != counterSize {
				t.Fatalf("the counter file was not grown back to %d bytes: %v, %v", counterSize, info, err)
			}

			if err := cli.NoteRevocationChange(t.Context()); err != nil {
				t.Fatal(err)
			}
			got := []uint64{version(t, server), version(t, cli)}
			if diff := cmp.Diff([]uint64{v + 1, v + 1}, got); diff != "" {
				t.Errorf("versions (server, CLI) after one more change (-want +got):\n%s", diff)
			}
		})
	}
}

// revokedSwitch is the revocation answer of the database in
// TestRevocationCounterCutShortDropsCachedAnswers, and counts how often
// the cache asked.
type revokedSwitch struct {
	revoked bool
	asked   int
}

func (r *revokedSwitch) Revoked(context.Context, *auth.Principal) (bool, error) {
	r.asked++
	return r.revoked, nil
}

// TestRevocationCounterCutShortDropsCachedAnswers: after a cut, a counter
// that counted up from 0 again would reach the version that the server's
// cache holds answers for, and the cache would answer from before the
// cut. The CLI that grows the file back starts it at the clock instead.
func TestRevocationCounterCutShortDropsCachedAnswers(t *testing.T) {
	path := newDatabaseFile(t)
	writeCounter(t, path, 3)
	server := openCounter(t, path)
	db := &revokedSwitch{}
	cache := auth.CachedRevocations(db, server.RevocationVersion, 10, nil)
	p := &auth.Principal{Issuer: "https://issuer.example", Subject: "alice"}
	for range 2 {
		if revoked, err := cache.Revoked(t.Context(), p); err != nil || revoked {
			t.Fatalf("Revoked before the cut = %v, %v; want false", revoked, err)
		}
	}
	if db.asked != 1 {
		t.Fatalf("the cache asked the database %d times for one principal at one version, want 1", db.asked)
	}

	cutCounter(t, path)
	// The CLI, started after the cut, grows the file back and makes three
	// changes, the last of which revokes alice.
	cli := openCounter(t, path)
	for range 3 {
		if err := cli.NoteRevocationChange(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	db.revoked = true
	if revoked, err := cache.Revoked(t.Context(), p); err != nil || !revoked {
		t.Errorf("Revoked after the cut and the revocation = %v, %v; want true (version %d)", revoked, err, version(t, server))
	}
}

// TestRevocationCounterFaultIsAnError: when the counter file cut short
// under the mapping cannot be grown back, reading or changing the counter
// fails, saying so and naming the file, instead of killing the process;
// and it works again once the file can be grown.
func TestRevocationCounterFaultIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name string
		// spoil makes the path unfit after the cut; noRoom makes allocate
		// fail until it is set to false.
		spoil  func(t *testing.T, counter string)
		noRoom bool
		// cause is the error of growing back, nil when growing back
		// succeeds but does not mend the mapping.
		cause error
		// then checks what is left once both accesses failed; again
		// makes room on the disk and runs the first access once more.
		then func(t *testing.T, counter string, again func() error)
	}{
		{
			name:   "disk full",
			noRoom: true,
			cause:  syscall.ENOSPC,
			then: func(t *testing.T, _ string, again func() error) {
				if err := again(); err != nil {
					t.Errorf("the same access once the disk has room: %v", err)
				}
			},
		},
		{
			name: "replaced by a folder",
			spoil: func(t *testing.T, counter string) {
				if err := os.Remove(counter); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(counter, 0o700); err != nil {
					t.Fatal(err)
				}
			},
			cause: syscall.EISDIR,
		},
		{
			name: "removed",
			spoil: func(t *testing.T, counter string) {
				if err := os.Remove(counter); err != nil {
					t.Fatal(err)
				}
			},
			cause: fs.ErrNotExist,
			then: func(t *testing.T, counter string, _ func() error) {
				if _, err := os.Lstat(counter); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a removed counter file was created again (%v): it would not be the file mapped", err)
				}
			},
		},
		{
			// Growing the new file back changes nothing, the mapping is
			// still of the old one.
			name: "replaced by another file",
			spoil: func(t *testing.T, counter string) {
				var word [counterSize]byte
				binary.NativeEndian.PutUint64(word[:], 7)
				if err := os.WriteFile(counter+".new", word[:], 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(counter+".new", counter); err != nil {
					t.Fatal(err)
				}
			},
			then: func(t *testing.T, counter string, _ func() error) {
				if b, err := os.ReadFile(counter); err != nil || binary.NativeEndian.Uint64(b) != 7 {
					t.Errorf("the file that replaced the counter holds %v, %v; want 7 untouched", b, err)
				}
			},
		},
	} {
		for _, first := range firstAccesses() {
			t.Run(tc.name+"/"+first.name, func(t *testing.T) {
				path := newDatabaseFile(t)
				counter := path + counterSuffix
				writeCounter(t, path, 41)
				noRoom := false
				allocate := func(f *os.File) error {
					if noRoom {
						return syscall.ENOSPC
					}
					return allocateCounter(f)
				}
				signal, err := openRevocationSignal(path, allocate, mapCounter)
				if err != nil {
					t.Fatal(err)
				}
				s := signal.(*counterSignal)
				cutCounter(t, path)
				noRoom = tc.noRoom
				if tc.spoil != nil {
					tc.spoil(t, counter)
				}

				_, err = first.access(t.Context(), s)
				if err == nil {
					t.Fatalf("first %s after the cut succeeded; want an error", first.name)
				}
				if !errors.Is(err, errCounterShort) || (tc.cause != nil && !errors.Is(err, tc.cause)) {
					t.Errorf("error = %v; want it to wrap %v and %v", err, errCounterShort, tc.cause)
				}
				if !strings.Contains(err.Error(), filepath.Base(counter)) {
					t.Errorf("error = %v; want it to name the file %s", err, filepath.Base(counter))
				}
				// The other access fails alike.
				if _, err := s.RevocationVersion(); !errors.Is(err, errCounterShort) {
					t.Errorf("RevocationVersion after: %v; want %v", err, errCounterShort)
				}
				if err := s.NoteRevocationChange(t.Context()); !errors.Is(err, errCounterShort) {
					t.Errorf("NoteRevocationChange after: %v; want %v", err, errCounterShort)
				}

				if tc.then != nil {
					tc.then(t, counter, func() error {
						noRoom = false
						_, err := first.access(t.Context(), s)
						return err
					})
				}
			})
		}
	}
}

// TestRevocationCounterFaultGuard: the accesses to the word restore the
// goroutine's SetPanicOnFault setting whether they succeed, fault or
// panic otherwise, and let a panic other than a fault (here a nil word's)
// go on.
func TestRevocationCounterFaultGuard(t *testing.T) {
	path := newDatabaseFile(t)
	good := openCounter(t, path).word
	cutPath := newDatabaseFile(t)
	cut := openCounter(t, cutPath).word
	cutCounter(t, cutPath)

	accesses := []struct {
		name   string
		access func(*uint64) bool
	}{
		{"loadWord", func(w *uint64) bool { _, ok := loadWord(w); return ok }},
		{"addOneToWord", addOneToWord},
		{"seedWord", seedWord},
	}
	words := []struct {
		name      string
		word      *uint64
		wantOK    bool
		wantPanic bool
	}{
		{"mapped", good, true, false},
		{"cut", cut, false, false},
		{"nil", nil, false, true},
	}
	for _, a := range accesses {
		for _, w := range words {
			for _, was := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/setting %v", a.name, w.name, was), func(t *testing.T) {
					debug.SetPanicOnFault(was)
					defer debug.SetPanicOnFault(false)
					var ok bool
					panicked := func() (panicked bool) {
						defer func() { panicked = recover() != nil }()
						ok = a.access(w.word)
						return false
					}()
					if got := debug.SetPanicOnFault(was); got != was {
						t.Errorf("setting after the access = %v, want %v as before", got, was)
					}
					if ok != w.wantOK || panicked != w.wantPanic {
						t.Errorf("ok, panicked = %v, %v; want %v, %v", ok, panicked, w.wantOK, w.wantPanic)
					}
				})
			}
		}
	}
}

// TestRevocationCounterFullDiskFailsOpen: when the counter's bytes cannot
// be allocated, Open fails naming the file, rather than map a hole that
// faults at the first touch (see also TestRevocationCounterOnFullTmpfs).
func TestRevocationCounterFullDiskFailsOpen(t *testing.T) {
	for _, tc := range countersToGrow() {
		t.Run(tc.name, func(t *testing.T) {
			path := newDatabaseFile(t)
			counter := path + counterSuffix
			if err := tc.setUp(counter); err != nil {
				t.Fatal(err)
			}
			mapped := false
			_, err := openRevocationSignal(path,
				func(*os.File) error { return syscall.ENOSPC },
				func(fd int) ([]byte, error) { mapped = true; return mapCounter(fd) })
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), filepath.Base(counter)) {
				t.Errorf("error = %v; want %v naming %s", err, syscall.ENOSPC, filepath.Base(counter))
			}
			if mapped {
				t.Error("the counter was mapped although it could not be allocated")
			}
			if info, err := os.Stat(counter); err != nil || info.Size() != 0 {
				t.Errorf("counter file after the failure: %v, %v; want it left empty", info, err)
			}
		})
	}
}

func TestRevocationCounterFallsBackWhenMappingIsRefused(t *testing.T) {
	path := newDatabaseFile(t)
	s, err := openRevocationSignal(path, allocateCounter, func(int) ([]byte, error) { return nil, syscall.ENODEV })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*fileSignal); !ok {
		t.Fatalf("with mapping refused the signal is a %T, want the file signal", s)
	}
}

// TestRevocationCounterFailsWhenUnopenable: a counter that cannot be
// opened fails Open, rather than leave this process watching another file
// than the others.
func TestRevocationCounterFailsWhenUnopenable(t *testing.T) {
	path := newDatabaseFile(t)
	if _, err := newRevocationSignal(filepath.Join(path, "inside-a-file")); err == nil {
		t.Fatal("a counter under a regular file opened; want an error")
	}
}

// TestRevocationCounterTakesTheDatabasePermissions: whoever may write the
// database may open the counter, whatever the umask of its creator.
func TestRevocationCounterTakesTheDatabasePermissions(t *testing.T) {
	path := newDatabaseFile(t)
	if err := os.Chmod(path, 0o660); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	openCounter(t, path)
	info, err := os.Stat(path + counterSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o660 {
		t.Errorf("counter file mode = %v, want -rw-rw---- like the database", got)
	}
}

// noteRevocationEnv, when set to a database path, makes the test binary a
// second process that notes one revocation change on that database.
const noteRevocationEnv = "SQLITEDB_TEST_NOTE_REVOCATION"

// TestRevocationCounterAcrossRealProcesses runs the CLI's side in another
// process (this test binary again): its change reaches this process's
// mapping at once.
func TestRevocationCounterAcrossRealProcesses(t *testing.T) {
	if path := os.Getenv(noteRevocationEnv); path != "" {
		db, err := Open(t.Context(), path, SyncNormal)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.SQL().NoteRevocationChange(t.Context()); err != nil {
			t.Fatal(err)
		}
		return
	}
	path := filepath.Join(t.TempDir(), "kanban.db")
	server, err := Open(t.Context(), path, SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	var signal sqldb.RevocationSignal = server.SQL()
	for i := range 2 {
		before := version(t, signal)
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRevocationCounterAcrossRealProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), noteRevocationEnv+"="+path)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the other process: %v\n%s", err, out)
		}
		if after := version(t, signal); after != before+1 {
			t.Fatalf("change %s in another process: version went from %d to %d, want %d", strconv.Itoa(i+1), before, after, before+1)
		}
	}
}

// BenchmarkRevocationVersion is the check every authenticated request
// makes: the shared counter, and the file signal it replaced (one stat).
func BenchmarkRevocationVersion(b *testing.B) {
	path := filepath.Join(b.TempDir(), "kanban.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	counter, err := newRevocationSignal(path)
	if err != nil {
		b.Fatal(err)
	}
	file := newFileSignal(path)
	if err := file.NoteRevocationChange(b.Context()); err != nil {
		b.Fatal(err)
	}
	for _, s := range []struct {
		name   string
		signal sqldb.RevocationSignal
	}{{"counter", counter}, {"file", file}} {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.signal.RevocationVersion(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// counterToGrow is a counter file that Open must grow: none yet, or an
// empty one.
type counterToGrow struct {
	name  string
	setUp func(counter string) error
}

func countersToGrow() []counterToGrow {
	return []counterToGrow{
		{"new", func(string) error { return nil }},
		{"empty", func(counter string) error { return os.WriteFile(counter, nil, 0o600) }},
	}
}
