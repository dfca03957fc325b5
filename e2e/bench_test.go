package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/loadtest"
)

// TestBench builds the binary and runs `kanban-mcp bench` briefly, as a
// user would: three real child processes, real HTTP, real tokens. It
// checks that every scenario was measured without a single error, never
// how fast.
func TestBench(t *testing.T) {
	bin := kanbanBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()

	out := filepath.Join(dir, "r.json")
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "bench", "-duration", "300ms", "-warmup", "100ms", "-concurrency", "4", "-out", out)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatal(err)
		}
		t.Fatalf("bench exited %d\nstdout:\n%s\nstderr:\n%s", exit.ExitCode(), stdout.String(), stderr.String())
	}
	t.Logf("bench output:\n%s", stdout.String())

	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep loadtest.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("the results are not the report's JSON: %v\n%s", err, raw)
	}
	var names []string
	for _, s := range rep.Scenarios {
		names = append(names, s.Name)
		if s.Requests <= 0 || s.RPS <= 0 {
			t.Errorf("%s: %d requests at %.1f req/s; want some", s.Name, s.Requests, s.RPS)
		}
		if s.Errors != 0 || s.BusyErrors != 0 || s.ServerLogBusy != 0 {
			t.Errorf("%s: %d errors, %d busy answers, %d busy log lines; want none (samples: %q)", s.Name, s.Errors, s.BusyErrors, s.ServerLogBusy, s.ErrorSamples)
		}
		if s.RatioBare <= 0 || s.RatioMCPGo <= 0 {
			t.Errorf("%s: ratios %v to bare and %v to mcpgo; want positive", s.Name, s.RatioBare, s.RatioMCPGo)
		}
		if s.P50MS <= 0 || s.P99MS < s.P50MS {
			t.Errorf("%s: p50 %v ms, p99 %v ms; want 0 < p50 ≤ p99", s.Name, s.P50MS, s.P99MS)
		}
	}
	want := []string{loadtest.ScenarioBare, loadtest.ScenarioMCPGo, loadtest.ScenarioToolsList, loadtest.ScenarioListBoards, loadtest.ScenarioGetBoard, loadtest.ScenarioAddCard, loadtest.ScenarioMix, loadtest.ScenarioFullBoard}
	if !slices.Equal(names, want) {
		t.Errorf("scenarios %q, want %q", names, want)
	}
	if rep.StartToReadyMS <= 0 {
		t.Errorf("start-to-ready %v ms; want positive", rep.StartToReadyMS)
	}
	if len(rep.Processes) != 3 {
		t.Errorf("%d processes reported, want the server and two baselines", len(rep.Processes))
	}
	if runtime.GOOS == "linux" {
		if rep.PeakRSSMiB == nil || *rep.PeakRSSMiB <= 0 {
			t.Errorf("peak RSS %v; want a positive number on Linux", rep.PeakRSSMiB)
		}
		for _, s := range rep.Scenarios {
			if s.RSSMaxMiB == nil || *s.RSSMaxMiB <= 0 {
				t.Errorf("%s: RSS during load %v; want a positive number on Linux", s.Name, s.RSSMaxMiB)
			}
		}
	}
	for _, want := range []string{"req/s", "p99 ms", "start-to-ready", "peak RSS", "GOMAXPROCS", "go1."} {
		if !bytes.Contains(stdout.Bytes(), []byte(want)) {
			t.Errorf("the table lacks %q", want)
		}
	}
}
