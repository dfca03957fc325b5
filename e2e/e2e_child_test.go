package e2e

// The real server as a child process: started on a free port with an
// environment of the test's choosing, watched until it is ready, killed
// with SIGKILL; and a tools/call client that any goroutine may use, for
// the tests that load such servers (crash safety, replicas on
// PostgreSQL).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/syncbuf"
)

// childServer is one server process.
type childServer struct {
	Instance int
	URL      string // where it listens: http://127.0.0.1:port
	// BaseURL is its BASE_URL: URL, or the one URL that replicas share.
	BaseURL     string
	Synchronous string // SQLITE_SYNCHRONOUS, when the crash harness chose one
	cmd         *exec.Cmd
	log         *syncbuf.Buffer
	exited      chan struct{}
	waitErr     error // set before exited is closed
}

func (c *childServer) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// describe names c in messages: its instance number, and its SQLite
// durability when the test chose one.
func (c *childServer) describe() string {
	if c.Synchronous == "" {
		return fmt.Sprintf("instance %d", c.Instance)
	}
	return fmt.Sprintf("instance %d (SQLITE_SYNCHRONOUS=%s)", c.Instance, c.Synchronous)
}

// startChild runs `bin serve` on a free port with exactly the environment
// that env returns for its URL and port (nothing of the test's leaks in)
// and waits until /readyz answers 200; started sees every process started,
// also those that failed. The process is killed when the test ends. A port
// taken between freePort and the child's listen is retried on another one.
func startChild(t *testing.T, bin string, instance int, env func(url, port string) []string, started func(*childServer)) *childServer {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port := strconv.Itoa(freePort(t))
		c := &childServer{
			Instance: instance,
			URL:      "http://127.0.0.1:" + port,
			log:      &syncbuf.Buffer{},
			exited:   make(chan struct{}),
		}
		c.cmd = exec.Command(bin, "serve")
		c.cmd.Env = env(c.URL, port)
		for _, kv := range c.cmd.Env {
			if v, ok := strings.CutPrefix(kv, "BASE_URL="); ok {
				c.BaseURL = v
			}
		}
		// A folder of the test's as the working folder, so that nothing a
		// server writes beside itself lands in the source tree.
		c.cmd.Dir = t.TempDir()
		c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
		c.cmd.WaitDelay = 5 * time.Second
		if err := c.cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		if started != nil {
			started(c)
		}
		go func() {
			c.waitErr = c.cmd.Wait()
			close(c.exited)
		}()
		t.Cleanup(func() {
			if c.running() {
				_ = c.cmd.Process.Kill()
				<-c.exited
			}
		})
		err := c.waitReady(30 * time.Second)
		if err == nil {
			return c
		}
		if !c.running() && strings.Contains(c.log.String(), "address already in use") && attempt < 3 {
			continue
		}
		t.Fatalf("server instance %d did not become ready: %v\n%s", c.Instance, err, c.log.String())
	}
}

// waitReady polls /readyz until it answers 200, the process exits or
// timeout passes.
func (c *childServer) waitReady(timeout time.Duration) error {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer yet"
	for {
		resp, err := client.Get(c.URL + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-c.exited:
			return fmt.Errorf("the process exited (%v) before it was ready; last /readyz: %s", c.waitErr, last)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s; last /readyz: %s", timeout, last)
		}
	}
}

// kill sends SIGKILL (os.Process.Kill) and waits for the process to end.
func (c *childServer) kill(t *testing.T) {
	t.Helper()
	if !c.running() {
		t.Fatalf("server instance %d exited by itself before the kill: %v", c.Instance, c.waitErr)
	}
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill server instance %d: %v", c.Instance, err)
	}
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("server instance %d still running 30s after SIGKILL", c.Instance)
	}
	// The verification goes through http.DefaultClient; a later instance
	// may get the same port, and must not be sent a dead connection.
	http.DefaultClient.CloseIdleConnections()
}

// toolCaller makes tools/call requests from any goroutine: unlike the
// testServer helpers it returns errors instead of failing the test.
type toolCaller struct {
	client *http.Client
	url    string // the MCP endpoint
}

// callAnswer is a complete tools/call result.
type callAnswer struct {
	IsError    bool
	Text       string
	Structured json.RawMessage
}

// errNoAnswer wraps the failures after which the caller cannot know
// whether the server ran the call: no connection, or a connection lost
// before the whole answer arrived.
var errNoAnswer = errors.New("no complete answer")

// statusError is a whole answer with another status than 200.
type statusError struct {
	Status     int
	RetryAfter string // the Retry-After header
	Body       []byte
}

func (e *statusError) Error() string {
	if e.RetryAfter != "" {
		return fmt.Sprintf("HTTP %d (Retry-After: %s): %s", e.Status, e.RetryAfter, e.Body)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body)
}

// call sends one tools/call with a bearer token and reads the whole
// answer. Errors wrap errNoAnswer when no complete answer arrived; any
// other error is about an answer that did arrive (a status other than 200,
// a JSON-RPC error, malformed JSON), a *statusError for a status other
// than 200.
func (c toolCaller) call(ctx context.Context, token, tool string, args map[string]any) (callAnswer, error) {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
		"params": map[string]any{"name": tool, "arguments": args}})
	if err != nil {
		return callAnswer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(string(body)))
	if err != nil {
		return callAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.client.Do(req)
	if err != nil {
		return callAnswer{}, fmt.Errorf("%w: %v", errNoAnswer, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return callAnswer{}, fmt.Errorf("%w: HTTP %d, body cut off: %v", errNoAnswer, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return callAnswer{}, &statusError{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After"), Body: raw}
	}
	var msg struct {
		Result *struct {
			IsError    bool            `json:"isError"`
			Content    []toolContent   `json:"content"`
			Structured json.RawMessage `json:"structuredContent"`
		} `json:"result"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(raw, &msg); err != nil {
		return callAnswer{}, fmt.Errorf("answer is not JSON-RPC: %v: %s", err, raw)
	}
	if msg.Result == nil {
		return callAnswer{}, fmt.Errorf("JSON-RPC error: %s", msg.Error)
	}
	var texts []string
	for _, c := range msg.Result.Content {
		texts = append(texts, c.Text)
	}
	return callAnswer{IsError: msg.Result.IsError, Text: strings.Join(texts, "\n"), Structured: msg.Result.Structured}, nil
}

// runBinary runs `bin args…` to its end, as an operator runs a command
// beside the servers, with exactly env as its environment and stdin as its
// input, and returns its exit code and what it printed on each stream.
func runBinary(t *testing.T, bin string, env []string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &exit) && ctx.Err() == nil:
		return exit.ExitCode(), out.String(), errOut.String()
	}
	t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", filepath.Base(bin), strings.Join(args, " "), err, out.String(), errOut.String())
	return 0, "", ""
}
