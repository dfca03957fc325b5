package pgtest

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// shared is the one cluster of a test binary that uses Main and Shared.
//
// Why package state: making a cluster (initdb, a first start) costs far
// more than making a database in it, so the tests of a package share one
// cluster and each makes its own database. Tests have no common owner
// except TestMain, so the cluster lives here, is started lazily by the
// first test that asks (a package whose tests are all skipped or filtered
// out starts none), and is stopped by Main when m.Run returns. Shared
// refuses to work without Main, the only place that can stop it; there is
// no init() and nothing starts on import.
var shared struct {
	mu     sync.Mutex
	inMain bool
	c      *Cluster
	err    error // a failed start, reported to every test that asks
}

// Main runs the tests of a package that uses Shared and then stops the
// shared cluster and removes its folder. Use it as the package's TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()

	code := m.Run()

	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.c != nil {
		if err := shared.c.destroy(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping the shared cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		shared.c = nil
	}
	// A TestMain that returns exits with m.Run's code; this one may have
	// to report a cluster that would not stop.
	os.Exit(code)
}

// Shared returns the test binary's shared cluster, starting it on first
// use; the package's TestMain must be Main. Each test makes its own
// database in it with NewDatabase. Tests run in parallel on it, so a test
// that stops, kills or restarts PostgreSQL takes a cluster of its own with
// Start instead. Without PostgreSQL's binaries Shared skips t, or fails it
// under CI=true.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	bin := requireBin(t, BinRoot)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("pgtest.Shared needs the package's TestMain to be pgtest.Main (func TestMain(m *testing.M) { pgtest.Main(m) }), which stops the shared cluster when the tests end")
	}
	if shared.c == nil && shared.err == nil {
		shared.c, shared.err = start(bin, t.Logf)
	}
	if shared.err != nil {
		t.Fatalf("pgtest: the shared cluster did not start: %v", shared.err)
	}
	c := shared.c
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: the end of the shared server's log (all tests' lines):\n%s", c.logTail(30))
		}
	})
	return c
}
