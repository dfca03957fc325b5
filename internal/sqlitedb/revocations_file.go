package sqlitedb

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// fileSignal is the revocation signal where the shared counter cannot be
// (see revocations.go): platforms without mmap, file systems that refuse
// to map a file.
//
// Within the process a counter carries the news. Across processes a small
// file beside the database does: a change replaces it (a new file, by
// rename), and a check compares its identity and modification time with
// the last seen, which costs one stat call (and its allocations) and no
// SQL.
type fileSignal struct {
	path  string
	local atomic.Uint64 // changes made through this process
	seen  atomic.Uint64 // changes of the file this process has noticed

	mu   sync.Mutex
	last os.FileInfo // nil: no file seen yet
}

// fileSignalSuffix names the file of a fileSignal beside the database;
// versions before the shared counter used it on every platform.
const fileSignalSuffix = ".revocations"

func newFileSignal(dbPath string) *fileSignal {
	return &fileSignal{path: dbPath + fileSignalSuffix}
}

// NoteRevocationChange implements sqldb.RevocationSignal: it records that
// revocations changed (an entry added to or removed from the blocklist, a
// grant revoked, a user disabled or enabled, a client removed), for this
// process at once and for the others through the file. Call it after the
// change committed. An error means that other processes were not told: the
// change is in the database, but a running server may go on answering from
// its cache until restarted.
func (s *fileSignal) NoteRevocationChange(context.Context) error {
	s.local.Add(1)
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	tmp := fmt.Sprintf("%s.%x.tmp", s.path, nonce[:4])
	content := fmt.Sprintf("revocations changed at %s (%x)\n", time.Now().UTC().Format(time.RFC3339Nano), nonce)
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return fmt.Errorf("signal a revocation to other processes: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("signal a revocation to other processes: %w", err)
	}
	return nil
}

// RevocationVersion implements sqldb.RevocationSignal: a number that
// changes whenever revocations changed, in this process or another one,
// since the last call. It fails only when the signal file cannot be read,
// and a caller must then not trust a cached answer.
func (s *fileSignal) RevocationVersion() (uint64, error) {
	info, err := os.Stat(s.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("read the revocation signal %s: %w", filepath.Base(s.path), err)
	}
	s.mu.Lock()
	if changed(s.last, info) {
		s.last = info
		s.seen.Add(1)
	}
	s.mu.Unlock()
	// Both counters only grow, so their sum changes whenever either does.
	return s.local.Load() + s.seen.Load(), nil
}

// changed reports whether the signal file is not the one seen last.
func changed(last, now os.FileInfo) bool {
	switch {
	case last == nil && now == nil:
		return false
	case last == nil || now == nil:
		return true
	}
	return !os.SameFile(last, now) || !last.ModTime().Equal(now.ModTime()) || last.Size() != now.Size()
}
