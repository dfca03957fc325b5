package e2e

// What every browser test shares: Debian's headless Chromium started by
// chromedp with the flags of SPEC-NOTES §11, and a console that must stay
// clean. .ci/run installs the browser; a machine without it skips the
// browser tests, except in CI, where its absence is a failure.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kanban-mcp/kanban-mcp/internal/syncbuf"
)

// chromiumPath is Debian's chromium (SPEC-NOTES §11); no browser is ever
// downloaded.
const chromiumPath = "/usr/bin/chromium"

// browserWidth is the narrowest phone width the pages must be tidy at.
const browserWidth = 360

// consoleEnd is the console line that marks the end of what a test reads.
const consoleEnd = "kanban-e2e: end of the console"

// requireChromium skips the test when the browser is missing, or fails it
// when CI=true, where a missing browser would silently drop coverage.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is missing (%v): .ci/run must install Debian's chromium (apt-get install -y chromium)", chromiumPath, err)
		}
		t.Skipf("browser test skipped: %s not found; install Debian's chromium (apt-get install -y chromium) to run it (with CI=true its absence fails)", chromiumPath)
	}
}

// browser is a running headless Chromium and its first tab.
type browser struct {
	// Ctx is the first tab. Its deadline only guards against a hang.
	Ctx context.Context
	// Out is what the browser process printed.
	Out *syncbuf.Buffer
	// serverLog is shown with every failure, next to the browser output.
	serverLog func() string
}

// startBrowser starts Debian's chromium with the flags of SPEC-NOTES §11
// and a fresh profile, and opens its first tab. serverLog is shown with
// every failure. The browser stops when the test ends.
func startBrowser(t *testing.T, timeout time.Duration, serverLog func() string) *browser {
	t.Helper()
	profile := t.TempDir()
	b := &browser{Out: &syncbuf.Buffer{}, serverLog: serverLog}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(profile),
		chromedp.CombinedOutput(b.Out),
	)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	// Cleanups run last-in first-out: the browser has exited before the
	// profile folder is removed.
	t.Cleanup(func() { cancelTab(); cancelAlloc(); cancel() })
	b.Ctx = ctx
	b.do(t, "start "+chromiumPath)
	return b
}

// fail ends the test at step, with the browser output and the server log.
func (b *browser) fail(t *testing.T, step string, err error) {
	t.Helper()
	t.Fatalf("%s: %v\nbrowser output:\n%s\nserver log:\n%s", step, err, b.Out.String(), b.serverLog())
}

// do runs actions in the first tab, failing the test at step.
func (b *browser) do(t *testing.T, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		b.fail(t, step, err)
	}
}

// browserRun runs one browser action and returns its value, failing the
// test with the step's name.
func browserRun[T any](t *testing.T, ctx context.Context, step string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	return v
}

// consoleWatch collects a tab's console, in order: console API calls,
// uncaught exceptions and the browser's own log (failed loads, CSP
// violations), of the page and of its same-site frames, up to the end mark.
type consoleWatch struct {
	messages []chromedp.ConsoleMessage
	done     chan struct{}
}

// watchConsole starts collecting the console of the tab ctx. Start it
// before the tab loads anything: earlier messages are lost.
func watchConsole(ctx context.Context) *consoleWatch {
	w := &consoleWatch{done: make(chan struct{})}
	messages := chromedp.Console(ctx)
	go func() {
		defer close(w.done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleLog && m.Text == consoleEnd {
				return
			}
			w.messages = append(w.messages, m)
		}
	}()
	return w
}

// end writes the end mark to the console of the tab ctx and returns
// everything the tab logged before it.
func (w *consoleWatch) end(t *testing.T, b *browser, ctx context.Context) []chromedp.ConsoleMessage {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("console.log(%q)", consoleEnd))); err != nil {
		b.fail(t, "mark the end of the console", err)
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		t.Fatal("the console never showed the end mark")
	}
	return w.messages
}

// consoleBad reports whether a console message means something went wrong.
func consoleBad(m chromedp.ConsoleMessage) bool {
	return m.Type == chromedp.ConsoleError || m.Type == "assert" || m.IsException()
}

// checkConsoleClean logs the console and fails the test for every error,
// failed assertion or exception in it.
func checkConsoleClean(t *testing.T, messages []chromedp.ConsoleMessage) {
	t.Helper()
	var consoleErrors []string
	for _, m := range messages {
		t.Logf("browser console: %s %s", m, m.URL)
		if consoleBad(m) {
			consoleErrors = append(consoleErrors, fmt.Sprintf("%s at %s:%d", m, m.URL, m.Line+1))
		}
	}
	if len(consoleErrors) > 0 {
		t.Errorf("browser console errors:\n%s", strings.Join(consoleErrors, "\n"))
	}
}

// artifactsDir is where the browser tests save screenshots: KANBAN_ARTIFACTS
// when it is set (CI keeps that folder), else a folder of the test's own.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KANBAN_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
