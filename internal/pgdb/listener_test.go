package pgdb

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
)

// inbox records the notifications a handler receives.
type inbox struct {
	mu  sync.Mutex
	got []string
}

func (in *inbox) handle(payload string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.got = append(in.got, payload)
}

func (in *inbox) payloads() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.got)
}

// has reports whether payload arrived.
func (in *inbox) has(payload string) bool { return slices.Contains(in.payloads(), payload) }

// withAppName returns dbURL with an application_name, by which the
// listener's session can be found in pg_stat_activity.
func withAppName(t *testing.T, dbURL, name string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// running is a Listener whose Run goroutine the test can stop.
type running struct {
	l    *Listener
	stop context.CancelFunc
	wait func() error // waits for Run to return, and returns its result
}

// runListener starts l.Run and stops it when t ends.
func runListener(t *testing.T, l *Listener) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	r := &running{l: l, stop: cancel, wait: sync.OnceValue(func() error { return <-done })}
	t.Cleanup(func() {
		cancel()
		r.wait()
	})
	return r
}

// waitUp waits until the listener is up at a generation other than
// those in not, and returns that generation.
func (r *running) waitUp(t *testing.T, not ...uint64) uint64 {
	t.Helper()
	var gen uint64
	pgtest.WaitFor(t, "the listener to be up", func() bool {
		g, up := r.l.Generation()
		gen = g
		return up && !slices.Contains(not, g)
	})
	return gen
}

// notifyIn sends a notification from inside tx: PostgreSQL delivers it
// at COMMIT, and not at all on rollback.
func notifyIn(ctx context.Context, tx pgx.Tx, channel, payload string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload)
	return err
}

// notify sends a notification in a transaction of its own on pool.
func notify(t *testing.T, pool *pgxpool.Pool, channel, payload string) {
	t.Helper()
	err := InTx(t.Context(), pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		return notifyIn(t.Context(), tx, channel, payload)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// listenForBoards opens a pool on dbURL and runs a Listener on listenURL
// (the same database, reached another way or named otherwise) that hands
// the "boards" channel to an inbox, and waits until it is up.
func listenForBoards(t *testing.T, dbURL, listenURL string, opts ListenerOptions) (*pgxpool.Pool, *inbox, *running, uint64) {
	t.Helper()
	pool, err := Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	l, err := NewListener(listenURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	got := &inbox{}
	if err := l.Handle("boards", got.handle); err != nil {
		t.Fatal(err)
	}
	r := runListener(t, l)
	return pool, got, r, r.waitUp(t)
}

// TestListenerDelivers: each channel's notifications reach its handler in
// order, a notification sent in a transaction arrives only once that
// commits, and one rolled back never arrives.
func TestListenerDelivers(t *testing.T) {
	dbURL := pgtest.Shared(t).NewDatabase(t)
	pool, err := Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l, err := NewListener(dbURL, ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var boards, tokens inbox
	for ch, h := range map[string]func(string){"boards": boards.handle, "Tokens.Revoked": tokens.handle} {
		if err := l.Handle(ch, h); err != nil {
			t.Fatal(err)
		}
	}
	if _, up := l.Generation(); up {
		t.Fatal("a listener that never ran says it is up")
	}
	r := runListener(t, l)
	gen := r.waitUp(t)

	ctx := t.Context()
	// In an open transaction: not sent before COMMIT.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := notifyIn(ctx, tx, "boards", "b_in_tx"); err != nil {
		t.Fatal(err)
	}
	notify(t, pool, "boards", "b1")
	pgtest.WaitFor(t, "b1", func() bool { return boards.has("b1") })
	if boards.has("b_in_tx") {
		t.Fatal("a notification arrived before its transaction committed")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Rolled back: never sent. Notifications arrive in commit order, so
	// once the next one is in, a sent one would be too.
	err = InTx(ctx, pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if err := notifyIn(ctx, tx, "boards", "b_rolled_back"); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("the transaction meant to roll back committed")
	}
	// Several in one statement, outside a transaction, as the board
	// store announces its writes.
	if err := NotifyEach(ctx, pool, "Tokens.Revoked", []string{"t1"}); err != nil {
		t.Fatal(err)
	}
	if err := NotifyEach(ctx, pool, "boards", []string{"b2", "b2'"}); err != nil {
		t.Fatal(err)
	}
	notify(t, pool, "unhandled", "x") // nobody listens: dropped
	notify(t, pool, "boards", "b3")
	pgtest.WaitFor(t, "b3", func() bool { return boards.has("b3") })

	if d := cmp.Diff([]string{"b1", "b_in_tx", "b2", "b2'", "b3"}, boards.payloads()); d != "" {
		t.Errorf("boards channel (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"t1"}, tokens.payloads()); d != "" {
		t.Errorf("Tokens.Revoked channel (-want +got):\n%s", d)
	}
	if g, up := l.Generation(); g != gen || !up {
		t.Errorf("generation %d (up %v) after deliveries on a connection that never broke, want %d", g, up, gen)
	}
}

// TestListenerReconnects cuts the listener's connection in each way a
// server can (its session terminated, the whole server restarted): the
// listener goes down, comes back by itself at a new generation, and
// delivers what is sent after that.
func TestListenerReconnects(t *testing.T) {
	tests := []struct {
		name string
		cut  func(t *testing.T, c *pgtest.Cluster, pool *pgxpool.Pool, r *running)
	}{
		{"session terminated", func(t *testing.T, _ *pgtest.Cluster, pool *pgxpool.Pool, _ *running) {
			var n int
			err := pool.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'pgdb_listener'`).Scan(&n)
			if err != nil || n != 1 {
				t.Fatalf("terminated %d sessions (%v), want the listener's one", n, err)
			}
		}},
		{"cluster restarted", func(t *testing.T, c *pgtest.Cluster, _ *pgxpool.Pool, r *running) {
			c.Stop(t)
			pgtest.WaitFor(t, "the listener to go down", func() bool { _, up := r.l.Generation(); return !up })
			c.Start(t)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := pgtest.Start(t)
			dbURL := c.NewDatabase(t)
			pool, got, r, before := listenForBoards(t, dbURL, withAppName(t, dbURL, "pgdb_listener"),
				ListenerOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
			notify(t, pool, "boards", "before")
			pgtest.WaitFor(t, "the notification before the cut", func() bool { return got.has("before") })

			tt.cut(t, c, pool, r)
			after := r.waitUp(t, before)
			if after < before+2 {
				t.Errorf("generation %d after the cut, %d before: want it to have gone down and up (+2 at least)", after, before)
			}
			// Pool connections the cut broke are retried by InTx.
			notify(t, pool, "boards", "after")
			pgtest.WaitFor(t, "the notification after the reconnect", func() bool { return got.has("after") })
		})
	}
}

// TestListenerNoticesASilentConnection: a connection that stops carrying
// anything without being closed (a network path gone) is found by the
// ping and replaced. A proxy between listener and server plays the lost
// path: it stops relaying on the connections it had.
func TestListenerNoticesASilentConnection(t *testing.T) {
	c := pgtest.Shared(t)
	dbURL := c.NewDatabase(t)
	p := newProxy(t, "127.0.0.1", c.Port())
	u, _ := url.Parse(dbURL)
	u.Host = p.addr()
	pool, got, r, before := listenForBoards(t, dbURL, u.String(),
		ListenerOptions{PingInterval: 100 * time.Millisecond, MinBackoff: 10 * time.Millisecond})

	p.silenceAll()
	r.waitUp(t, before) // a new connection through the proxy
	notify(t, pool, "boards", "after")
	pgtest.WaitFor(t, "the notification after the reconnect", func() bool { return got.has("after") })
}

// proxy relays TCP connections to a server until silenceAll, which makes
// every connection it relays so far go quiet without closing.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	quiet []chan struct{} // one per relayed connection, closed to silence it
	conns []net.Conn
}

func newProxy(t *testing.T, host string, port int) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: net.JoinHostPort(host, strconv.Itoa(port))}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", p.target)
			if err != nil {
				client.Close()
				continue
			}
			quiet := make(chan struct{})
			p.mu.Lock()
			p.quiet = append(p.quiet, quiet)
			p.conns = append(p.conns, client, server)
			p.mu.Unlock()
			wg.Go(func() { relay(server, client, quiet) })
			wg.Go(func() { relay(client, server, quiet) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// silenceAll stops relaying on every connection made so far; they stay
// open, and later connections relay as usual.
func (p *proxy) silenceAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, q := range p.quiet {
		close(q)
	}
	p.quiet = nil
}

// relay copies from src to dst until either fails, dropping what it reads
// once quiet is closed.
func relay(dst, src net.Conn, quiet chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-quiet:
			default:
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				dst.Close()
			}
			return
		}
	}
}

// TestListenerStops: ending Run's context closes the connection before
// Run returns, leaves the listener down, the server without the session,
// and no goroutine behind.
func TestListenerStops(t *testing.T) {
	baseline := pgxGoroutines()
	dbURL := pgtest.Shared(t).NewDatabase(t)
	pool, err := Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewListener(withAppName(t, dbURL, "pgdb_stopping"), ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Every connection the listener makes, to see that it closed them.
	var (
		mu    sync.Mutex
		conns []*closeRecorder
	)
	dial := l.config.DialFunc
	l.config.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, &closeRecorder{Conn: c})
		return conns[len(conns)-1], nil
	}
	if err := l.Handle("boards", func(string) {}); err != nil {
		t.Fatal(err)
	}
	r := runListener(t, l)
	r.waitUp(t)
	sessions := func() int {
		var n int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgdb_stopping'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := sessions(); n != 1 {
		t.Fatalf("%d listener sessions on the server, want 1", n)
	}

	r.stop()
	if err := r.wait(); err != nil {
		t.Errorf("Run after its context ended: %v", err)
	}
	mu.Lock()
	for i, c := range conns {
		if !c.closed.Load() {
			t.Errorf("connection %d of %d still open after Run returned", i+1, len(conns))
		}
	}
	mu.Unlock()
	if _, up := l.Generation(); up {
		t.Error("a stopped listener says it is up")
	}
	// The server ends a session a moment after its client closed it.
	pgtest.WaitFor(t, "the server to drop the listener's session", func() bool { return sessions() == 0 })
	pool.Close()
	pgtest.WaitFor(t, "pgx's goroutines to end", func() bool { return pgxGoroutines() <= baseline })
}

// closeRecorder is a connection that records that it was closed.
type closeRecorder struct {
	net.Conn
	closed atomic.Bool
}

func (c *closeRecorder) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// pgxGoroutines counts the goroutines running pgx or Listener code. The
// tests of this package do not run in parallel, so a test that starts
// and ends at this count leaked none.
func pgxGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/jackc/pgx") || strings.Contains(g, "pgdb.(*Listener)") {
			count++
		}
	}
	return count
}

// TestListenerRules: channels are handled once each, before Run; Run
// runs once; a bad URL is refused without showing its password, and
// pgxpool's parameters in a good one are accepted.
func TestListenerRules(t *testing.T) {
	if _, err := NewListener("postgres://u:s3cret@h:notaport/db", ListenerOptions{}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("NewListener with a bad URL: %v", err)
	}
	dbURL := pgtest.Shared(t).NewDatabase(t)
	l, err := NewListener(dbURL+"&pool_max_conns=2", ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nop := func(string) {}
	if err := l.Handle("boards", nop); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		channel string
		h       func(string)
	}{
		{"twice", "boards", nop},
		{"no name", "", nop},
		{"no handler", "other", nil},
	} {
		if err := l.Handle(tt.channel, tt.h); err == nil {
			t.Errorf("Handle %s succeeded", tt.name)
		}
	}
	r := runListener(t, l)
	r.waitUp(t) // connected, pool_max_conns notwithstanding
	if err := l.Handle("late", nop); err == nil {
		t.Error("Handle after Run succeeded")
	}
	if err := l.Run(t.Context()); err == nil {
		t.Error("a second Run succeeded")
	}
}
