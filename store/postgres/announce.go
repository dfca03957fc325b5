package postgres

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
)

// announcer tells the other replicas which boards this one changed, on
// BoardsChannel, once the changes have committed: in one statement for
// all the boards changed while the previous statement was on its way, so
// that a busy board is announced about once per round trip however many
// writes it takes.
//
// Not from inside the writing transaction: a NOTIFY there makes the
// write's COMMIT take PostgreSQL's notification lock, one for the whole
// database, and wake every listening session, all while the board's lock
// is held, which on a busy board cost more than the writes themselves.
// Announcements only save work (a cached board is served only after its
// revision is checked), so one that is late, or lost when the database is
// unreachable or the process stops, costs a lookup, never a stale answer.
type announcer struct {
	pool *pgxpool.Pool
	wake chan struct{} // holds a token when pending may be non-empty
	stop context.CancelFunc

	mu      sync.Mutex
	pending map[string]bool // board IDs changed since the last statement
	// changes counts the calls of changed; done is how many of them the
	// statements sent so far (or failed) have covered, or all of them
	// once the announcer has stopped.
	changes, done uint64
	stopped       bool
	progress      *sync.Cond // on mu: done or stopped changed
	exited        chan struct{}
}

// startAnnouncer starts an announcer on pool, which runs until close.
func startAnnouncer(pool *pgxpool.Pool) *announcer {
	ctx, stop := context.WithCancel(context.Background())
	a := &announcer{
		pool: pool, pending: map[string]bool{},
		wake: make(chan struct{}, 1), stop: stop, exited: make(chan struct{}),
	}
	a.progress = sync.NewCond(&a.mu)
	go a.run(ctx)
	return a
}

// changed records that board changed and wakes the announcer.
func (a *announcer) changed(board string) {
	a.mu.Lock()
	a.pending[board] = true
	a.changes++
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default: // awake already: it takes pending before it sends
	}
}

func (a *announcer) run(ctx context.Context) {
	defer func() {
		a.mu.Lock()
		a.stopped = true
		a.progress.Broadcast()
		a.mu.Unlock()
		close(a.exited)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		}
		a.mu.Lock()
		boards := make([]string, 0, len(a.pending))
		for b := range a.pending {
			boards = append(boards, b)
		}
		clear(a.pending)
		covered := a.changes
		a.mu.Unlock()
		if len(boards) > 0 {
			// A failure drops these announcements (see announcer).
			_ = pgdb.NotifyEach(ctx, a.pool, BoardsChannel, boards)
		}
		a.mu.Lock()
		a.done = covered
		a.progress.Broadcast()
		a.mu.Unlock()
	}
}

// flush returns once every change recorded before the call has been
// announced (or its announcement has failed), or the announcer has
// stopped.
func (a *announcer) flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for want := a.changes; a.done < want && !a.stopped; {
		a.progress.Wait()
	}
}

// close stops the announcer, dropping what it has not sent, and waits
// for it to return.
func (a *announcer) close() {
	a.stop()
	<-a.exited
}
