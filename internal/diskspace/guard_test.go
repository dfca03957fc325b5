package diskspace

import (
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/internal/syncbuf"
)

// fakeDisk reports the free space a test sets.
type fakeDisk struct {
	mu   sync.Mutex
	free uint64
	err  error
}

func (f *fakeDisk) set(free uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.free, f.err = free, err
}

func (f *fakeDisk) available(string) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.free, f.err
}

func TestGuard(t *testing.T) {
	disk := &fakeDisk{free: 100 << 20}
	var logs syncbuf.Buffer
	g := NewGuard(GuardOptions{Dir: "/data", Margin: 64 << 20, Hint: "free some space", Available: disk.available,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	check := func(step string, wantLow bool) {
		t.Helper()
		if g.Low() != wantLow {
			t.Errorf("%s: Low() = %v, want %v", step, g.Low(), wantLow)
		}
		if problem := g.Problem(); (problem != "") != wantLow {
			t.Errorf("%s: Problem() = %q, want a problem: %v", step, problem, wantLow)
		}
	}
	check("100 MiB free", false)

	disk.set(10<<20, nil)
	g.Check()
	check("10 MiB free", true)
	want := "low disk space: 10.0 MiB free on the filesystem of /data, below the margin of 64.0 MiB; free some space"
	if got := g.Problem(); got != want {
		t.Errorf("Problem() = %q, want %q", got, want)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "low disk space") {
		t.Errorf("no warning when space ran low:\n%s", l)
	}

	// A failed measurement keeps the last reading, and is logged once.
	disk.set(0, errors.New("statfs broke"))
	g.Check()
	g.Check()
	check("measuring fails", true)
	if n := strings.Count(logs.String(), "statfs broke"); n != 1 {
		t.Errorf("the measuring error was logged %d times, want once", n)
	}

	disk.set(65<<20, nil)
	g.Check()
	check("65 MiB free", false)
	if l := logs.String(); !strings.Contains(l, "disk space is above the margin again") {
		t.Errorf("no note when space came back:\n%s", l)
	}
}

func TestGuardOff(t *testing.T) {
	g := NewGuard(GuardOptions{Dir: "/data", Margin: 0, Available: func(string) (uint64, error) { return 0, nil }})
	if g.Low() || g.Problem() != "" {
		t.Errorf("a Guard with no margin reports low space: %q", g.Problem())
	}
	g.Run(t.Context(), 1) // returns at once
}

func TestAvailable(t *testing.T) {
	n, err := Available(t.TempDir())
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Available on %s: %v, want ErrUnsupported", runtime.GOOS, err)
		}
		return
	}
	if err != nil || n == 0 {
		t.Errorf("Available(a temporary folder) = %d, %v; want free bytes", n, err)
	}
	if _, err := Available("/no/such/folder/anywhere"); err == nil {
		t.Error("Available of a missing folder succeeded")
	}
}
