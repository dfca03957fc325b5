package loadtest

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStatus(t *testing.T) {
	status := "Name:\tkanban-mcp\nVmPeak:\t 1500000 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   30720 kB\nThreads:\t8\n"
	got, err := parseStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Memory{RSS: 30 << 20, Peak: 40 << 20}, got); diff != "" {
		t.Errorf("parseStatus (-want +got):\n%s", diff)
	}
	if _, err := parseStatus(strings.NewReader("Name:\tkthreadd\n")); err == nil {
		t.Error("a status without VmRSS (a kernel thread) parsed")
	}
}

func TestReadMemoryOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/<pid>/status is Linux's")
	}
	m, err := ReadMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.Peak < m.RSS {
		t.Errorf("ReadMemory = %+v; want 0 < RSS ≤ Peak", m)
	}
}
