package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Child is a process under load: the server or a baseline, each a child
// of the benchmark so that its CPU and memory are its own.
type Child struct {
	Name    string
	cmd     *exec.Cmd
	started time.Time
	log     *logWatch
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
}

// StartChild starts path with args and exactly the environment env. Its
// output is watched (see BusyLines and LogTail), not shown. Stop ends it;
// it is also killed if the benchmark dies without stopping it (on Linux).
func StartChild(name, path string, args, env []string) (*Child, error) {
	c := &Child{Name: name, log: &logWatch{}, exited: make(chan struct{})}
	c.cmd = exec.Command(path, args...)
	c.cmd.Env = env
	c.cmd.Stdout = c.log
	c.cmd.Stderr = c.log
	// Wait also waits for the output to be copied; never for long.
	c.cmd.WaitDelay = time.Second
	dieWithParent(c.cmd)
	c.started = time.Now()
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// Pid is the process ID.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// WaitReady polls url every 2 ms until it answers 200, and returns the
// time from spawning the process to that answer. It gives up when the
// process exits, after timeout, or when ctx ends.
func (c *Child) WaitReady(ctx context.Context, url string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A client of its own: a refused connection must fail at once rather
	// than wait for an idle connection of the load's transport.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	last := "no answer yet"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, fmt.Errorf("%s: readiness request: %w", c.Name, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(c.started), nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(body.String()))
		} else {
			last = err.Error()
		}
		select {
		case <-c.exited:
			return 0, fmt.Errorf("%s exited before it was ready (%v); its output:\n%s", c.Name, c.waitErr, c.LogTail())
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return 0, fmt.Errorf("%s was not ready within %s (last answer from %s: %s); its output:\n%s", c.Name, timeout, url, last, c.LogTail())
			}
			return 0, fmt.Errorf("%s: waiting for readiness: %w", c.Name, ctx.Err())
		case <-tick.C:
		}
	}
}

// Running reports whether the process has not exited yet.
func (c *Child) Running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// Stop kills the process and waits for it. It is safe to call twice.
func (c *Child) Stop() {
	_ = c.cmd.Process.Kill() // fails only if it has exited already
	<-c.exited
}

// BusyLines counts the output lines so far that mention SQLite's busy
// error. The server reports an internal error to the client without its
// cause and logs the cause, so this is where a busy database shows.
func (c *Child) BusyLines() int64 { return c.log.busy.Load() }

// LogTail returns the last lines the process wrote.
func (c *Child) LogTail() string { return c.log.tail() }

// logWatch receives a child's output: it counts busy lines and keeps the
// last few lines for error messages.
type logWatch struct {
	busy    atomic.Int64
	mu      sync.Mutex
	partial []byte   // an unfinished line
	last    []string // the last tailLines lines
}

const tailLines = 30

func (l *logWatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	// An endless line must not grow without bound.
	if len(l.partial) > 64<<10 {
		l.line(string(l.partial))
		l.partial = nil
	}
	return len(p), nil
}

func (l *logWatch) line(s string) {
	if MentionsBusy(s) {
		l.busy.Add(1)
	}
	l.last = append(l.last, clipString(s))
	if len(l.last) > tailLines {
		l.last = l.last[1:]
	}
}

func (l *logWatch) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := append([]string(nil), l.last...)
	if len(l.partial) > 0 {
		lines = append(lines, clipString(string(l.partial)))
	}
	if len(lines) == 0 {
		return "  (nothing)"
	}
	return "  " + strings.Join(lines, "\n  ")
}
