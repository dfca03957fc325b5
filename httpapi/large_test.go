package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/httpapi"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// TestLargeAnswersAreBuiltAFewAtATime calls a tool declared LargeAnswer
// from many clients at once: no more calls run than LargeAnswers allows,
// every call is answered in the end, and a tool without the declaration is
// not held back by the ones waiting. A call whose client leaves while it
// waits never runs.
func TestLargeAnswersAreBuiltAFewAtATime(t *testing.T) {
	const slots, callers = 2, 12
	var running, most, ran atomic.Int64
	release := make(chan struct{})
	tool := func(name string, large bool) tools.Tool {
		return tools.Tool{
			Name:        name,
			Description: "waits until the test lets it answer",
			Output:      mcp.WithOutputSchema[struct{}](),
			Requires:    auth.Requirement{Anonymous: true},
			Effect:      tools.Reads,
			LargeAnswer: large,
			Handle: tools.Bound(func(ctx context.Context, _ store.Store, _ *tools.Call, _ tools.NoArguments) (*tools.Result, error) {
				if !large {
					return &tools.Result{Structured: struct{}{}, Summary: "small"}, nil
				}
				n := running.Add(1)
				defer running.Add(-1)
				ran.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				<-release
				return &tools.Result{Structured: struct{}{}, Summary: "large"}, nil
			}),
		}
	}
	srv, err := httpapi.New(httpapi.Options{
		BaseURL: "http://127.0.0.1:8080", Challenge: auth.ChallengeToolResult,
		Store: openStore(t), Audit: discard{}, Authenticator: &auth.Authenticator{},
		Tools: []tools.Tool{tool("large", true), tool("small", false)}, LargeAnswers: slots,
	})
	if err != nil {
		t.Fatal(err)
	}
	call := func(ctx context.Context, name string) string {
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:8080/mcp",
			strings.NewReader(fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, name)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec.Body.String()
	}

	var wg sync.WaitGroup
	answers := make(chan string, callers)
	for range callers {
		wg.Go(func() { answers <- call(context.Background(), "large") })
	}
	waitFor := func(what string, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !done(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waited 10s for %s", what)
			}
		}
	}
	waitFor("the first calls to run", func() bool { return running.Load() == slots })

	if got := call(context.Background(), "small"); !strings.Contains(got, `"small"`) {
		t.Errorf("a small call while large ones wait: %s", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	left := make(chan string, 1)
	go func() { left <- call(ctx, "large") }()
	time.Sleep(50 * time.Millisecond) // let it queue behind the others
	cancel()
	if got := <-left; got != "" {
		t.Errorf("a call whose client left while waiting was answered: %s", got)
	}

	close(release)
	wg.Wait()
	close(answers)
	for a := range answers {
		if !strings.Contains(a, `"large"`) {
			t.Errorf("a waiting call was not answered: %s", a)
		}
	}
	if m := most.Load(); m != slots {
		t.Errorf("%d large answers were built at once, want at most (and under this load exactly) %d", m, slots)
	}
	if r := ran.Load(); r != callers {
		t.Errorf("the tool ran %d times, want %d: the call whose client left must not run", r, callers)
	}
}
