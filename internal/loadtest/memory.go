package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is a process's resident memory, in bytes, from
// /proc/<pid>/status.
type Memory struct {
	RSS  int64 // VmRSS: resident now
	Peak int64 // VmHWM: the most it has ever been resident
}

// ReadMemory reads the memory of process pid. It fails where there is no
// Linux /proc.
func ReadMemory(pid int) (Memory, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, fmt.Errorf("read the memory of process %d: %w", pid, err)
	}
	defer f.Close()
	return parseStatus(f)
}

// parseStatus reads VmRSS and VmHWM (in kB) from a /proc/<pid>/status.
func parseStatus(r io.Reader) (Memory, error) {
	var m Memory
	var found int
	s := bufio.NewScanner(r)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("parse %s %q: %w", name, value, err)
		}
		if name == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.Peak = kb << 10
		}
		found++
	}
	if err := s.Err(); err != nil {
		return Memory{}, fmt.Errorf("read process status: %w", err)
	}
	if found < 2 {
		return Memory{}, errors.New("process status lacks VmRSS or VmHWM")
	}
	return m, nil
}

// SampleRSS reads the resident memory of pid every interval until the
// returned stop is called; stop returns the largest value seen, and false
// when none could be read (no /proc).
func SampleRSS(pid int, interval time.Duration) (stop func() (int64, bool)) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg   sync.WaitGroup
		most int64
		seen bool
	)
	sample := func() {
		if m, err := ReadMemory(pid); err == nil {
			most, seen = max(most, m.RSS), true
		}
	}
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			sample()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() (int64, bool) {
		cancel()
		wg.Wait()
		sample() // the state at the very end counts too
		return most, seen
	}
}
