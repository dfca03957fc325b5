package pgdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Listener receives PostgreSQL notifications (LISTEN/NOTIFY) on one
// connection of its own, for caches that other replicas' writes must
// evict, and hands each to the handler of its channel.
//
// Its connection must be a direct one: a pooler in transaction mode
// (PgBouncer, Neon's pooled URL, Supabase's port 6543) hands each
// statement to whichever server connection is free, so a LISTEN would
// listen on a connection that someone else then uses. Give it
// DATABASE_DIRECT_URL when that is set, DATABASE_URL otherwise.
//
// Notifications are lost while the connection is down: PostgreSQL keeps
// none for a session that is not listening. Generation tells a consumer
// when that may have happened (see there); Run reconnects by itself.
type Listener struct {
	config *pgx.ConnConfig
	opts   ListenerOptions

	mu       sync.Mutex
	handlers map[string]func(payload string)
	started  bool

	// gen counts the times the listener came up and went down: odd while
	// it listens on every channel, even otherwise.
	gen atomic.Uint64
}

// ListenerOptions tune a Listener; the zero value is ready to use.
type ListenerOptions struct {
	// MinBackoff and MaxBackoff bound the pause before each attempt to
	// reconnect, which doubles from MinBackoff up to MaxBackoff while
	// attempts fail (jittered, so that replicas that lost the database
	// together do not all come back in step). Defaults: 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// PingInterval is how long the connection may stay silent before it is
	// checked with a ping, and how long the ping may take, so that a
	// connection that died without a word (a network path gone, a server
	// that vanished) is found and replaced within twice that. A server
	// that ends the session (restart, pg_terminate_backend) says so, and
	// that is seen at once. Default: 10 s.
	PingInterval time.Duration
	// Logger receives a line when the connection is lost and when it is
	// back; nil discards them.
	Logger *slog.Logger
}

// The defaults of ListenerOptions, and how long a connection attempt and a
// close may take.
const (
	defaultMinBackoff   = 100 * time.Millisecond
	defaultMaxBackoff   = 5 * time.Second
	defaultPingInterval = 10 * time.Second
	connectTimeout      = 10 * time.Second
	closeTimeout        = time.Second
)

// NewListener makes a Listener on the database url names. It does not
// connect: Run does, once every consumer has called Handle. The URL may
// carry pgxpool's parameters (pool_max_conns, …), so that DATABASE_URL
// serves both; they are ignored here.
func NewListener(url string, opts ListenerOptions) (*Listener, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("the LISTEN connection's URL is not a usable PostgreSQL URL: %s", parseProblem(err))
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = defaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(defaultMaxBackoff, opts.MinBackoff)
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = defaultPingInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{config: cfg.ConnConfig, opts: opts, handlers: map[string]func(string){}}, nil
}

// Handle makes the Listener LISTEN on channel and call h with the payload
// of each notification on it, in the order they arrive, from Run's
// goroutine: h must be quick and must not block. Channels are set before
// Run starts (one LISTEN per channel at every connect), so Handle
// refuses a channel after that, and a channel handled twice.
func (l *Listener) Handle(channel string, h func(payload string)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.started:
		return fmt.Errorf("listen on %q: the listener is already running; handle every channel before Run", channel)
	case l.handlers[channel] != nil:
		return fmt.Errorf("listen on %q: the channel already has a handler", channel)
	case channel == "" || h == nil:
		return errors.New("listen: a channel needs a name and a handler")
	}
	l.handlers[channel] = h
	return nil
}

// Generation reports whether the Listener is listening now (up) and a
// number that changes every time it comes up and every time it goes
// down. A consumer that saw gen while up and sees the same gen later
// received every notification sent meanwhile; any other answer means it
// may have missed some, and must drop whatever notifications keep
// current. A consumer that fills a cache from the database notes gen
// before it reads: a notification sent after its read is delivered within
// that same gen, since gen turns up only after every LISTEN took effect.
func (l *Listener) Generation() (gen uint64, up bool) {
	gen = l.gen.Load()
	return gen, gen%2 == 1
}

// Run connects, LISTENs on every handled channel and delivers
// notifications until ctx ends; when the connection fails or is lost, it
// goes down (see Generation) and connects again after a capped, jittered
// backoff. It returns once ctx has ended and the connection is closed.
// Run may be called once.
func (l *Listener) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.started {
		l.mu.Unlock()
		return errors.New("pgdb: Listener.Run called twice")
	}
	l.started = true
	handlers := maps.Clone(l.handlers)
	l.mu.Unlock()
	channels := slices.Sorted(maps.Keys(handlers))

	backoff := l.opts.MinBackoff
	for lost := false; ; {
		wasUp, err := l.session(ctx, channels, handlers, lost)
		if ctx.Err() != nil {
			return nil
		}
		lost = lost || wasUp
		if wasUp {
			backoff = l.opts.MinBackoff // a fresh outage starts short again
		}
		pause := backoff/2 + rand.N(backoff/2+1)
		l.opts.Logger.Warn("pgdb: LISTEN connection down; notifications are missed until it is back",
			"err", err, "retry_in", pause)
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		backoff = min(2*backoff, l.opts.MaxBackoff)
	}
}

// session is one connection: connect, LISTEN on every channel, go up,
// deliver notifications until the connection fails or ctx ends, go down.
// wasUp tells whether it got as far as going up. reconnect only words
// the log line.
func (l *Listener) session(ctx context.Context, channels []string, handlers map[string]func(string), reconnect bool) (wasUp bool, err error) {
	connectCtx, cancel := context.WithTimeout(ctx, connectTimeout)
	conn, err := pgx.ConnectConfig(connectCtx, l.config)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		// A context of its own: ctx may have ended, and a close must not
		// hang on a server that does not answer.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		conn.Close(closeCtx)
	}()
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return false, fmt.Errorf("listen on %q: %w", ch, err)
		}
	}
	l.gen.Add(1)       // up: every LISTEN took effect
	defer l.gen.Add(1) // down, before the connection closes
	if reconnect {
		l.opts.Logger.Info("pgdb: LISTEN connection back")
	}

	for {
		waitCtx, cancel := context.WithTimeout(ctx, l.opts.PingInterval)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			if h := handlers[n.Channel]; h != nil {
				h(n.Payload)
			}
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// Silent for PingInterval: make sure the server is still
			// there. A wait that times out leaves the connection usable.
			pingCtx, cancel := context.WithTimeout(ctx, l.opts.PingInterval)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil && ctx.Err() == nil {
				return true, fmt.Errorf("ping: %w", err)
			}
		default:
			return true, fmt.Errorf("wait for notifications: %w", err)
		}
	}
}

// NotifyEach sends each of payloads on channel in one statement, on db (a
// pool, a connection or a transaction): outside a transaction, for
// announcements made after the changes they tell of have committed.
func NotifyEach(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, channel string, payloads []string) error {
	if _, err := db.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, channel, payloads); err != nil {
		return fmt.Errorf("notify %q: %w", channel, err)
	}
	return nil
}
