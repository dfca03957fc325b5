package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// addQueue gathers this process's AddCard calls per board, so that the
// calls that arrive while one transaction holds a board's lock go
// together in the next one: one lock, one COMMIT and so one WAL flush for
// all of them, where each would otherwise hold the lock through a flush of
// its own. A busy board's writers then wait here, as parked goroutines,
// rather than in PostgreSQL, each with a pooled connection and a backend
// that every release of the lock wakes. The board row's lock still keeps
// writes correct, across replicas too: the queue only means that each
// replica sends one transaction per board at a time.
//
// Nobody waits for a batch to fill: the first call finds the board idle
// and runs alone at once, and whoever arrives meanwhile goes in the next
// batch, which the first of them runs as soon as the previous one ends.
//
// The zero value is not ready: run must be set. Boards that nobody writes
// take no memory.
type addQueue struct {
	// run carries out a batch of requests for one board, setting each
	// request's outcome (card, err). ctx ends only when every request's
	// own context has.
	run func(ctx context.Context, batch []*addRequest)

	mu    sync.Mutex
	lines map[string]*addLine
}

// maxAddBatch bounds a batch, and so how long one transaction holds the
// board's lock while another replica waits for it.
const maxAddBatch = 32

// addLine is the queue of one board.
type addLine struct {
	waiting []*addRequest // in the order they came; waiting[0] runs the next batch
}

// addRequest is one AddCard call in the queue.
type addRequest struct {
	ctx  context.Context
	call store.Call
	in   store.NewCard

	// Set by the batch that carried the request, before done is closed:
	// the card, or an error, or neither when its insert's condition
	// failed (see AddCard).
	card *store.Card
	err  error
	// lead is set instead, under addQueue.mu, when the request is to run
	// the next batch.
	lead bool
	done chan struct{}
}

// add queues req behind the batch of its board that is running, if any,
// and returns its outcome once a batch has carried it. A call whose
// context ends while it waits leaves the queue with the context's error;
// one already taken into a batch waits for that batch's outcome, which is
// the truth about its write.
func (q *addQueue) add(req *addRequest) (*store.Card, error) {
	key := req.in.BoardID
	req.done = make(chan struct{})
	q.mu.Lock()
	if q.lines == nil {
		q.lines = map[string]*addLine{}
	}
	l, busy := q.lines[key]
	if !busy {
		q.lines[key] = &addLine{}
	} else {
		l.waiting = append(l.waiting, req)
	}
	q.mu.Unlock()

	if busy {
		select {
		case <-req.done:
		case <-req.ctx.Done():
			if q.withdraw(key, req) {
				return nil, req.ctx.Err()
			}
			<-req.done
		}
		if !req.lead {
			return req.card, req.err
		}
	}
	q.lead(key, req)
	return req.card, req.err
}

// lead runs the batch that starts with leader, answers its requests and
// hands the board on. Should run panic, every request of the batch gets
// an error, the board is handed on all the same and the panic goes on up
// to the leader's caller: neither the other callers nor the board's later
// calls wait for a batch that will never end.
func (q *addQueue) lead(key string, leader *addRequest) {
	batch := q.take(key, leader)
	ended := false
	defer func() {
		if !ended {
			for _, r := range batch {
				r.card, r.err = nil, errors.New("add card: the batch stopped with a panic")
			}
		}
		q.pass(key)
		for _, r := range batch[1:] {
			close(r.done)
		}
	}()
	ctx, cancel := batchContext(batch)
	defer cancel()
	q.run(ctx, batch)
	ended = true
}

// take returns the batch that leader runs: leader, then as many of the
// waiting requests as fit, in order.
func (q *addQueue) take(key string, leader *addRequest) []*addRequest {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.lines[key]
	n := min(len(l.waiting), maxAddBatch-1)
	batch := append([]*addRequest{leader}, l.waiting[:n]...)
	clear(l.waiting[:n]) // the array may outlive them
	l.waiting = l.waiting[n:]
	return batch
}

// pass hands the board to the first waiting request, which runs the next
// batch, or, with nobody waiting, leaves the board idle.
func (q *addQueue) pass(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.lines[key]
	if len(l.waiting) == 0 {
		delete(q.lines, key)
		return
	}
	next := l.waiting[0]
	l.waiting[0] = nil
	l.waiting = l.waiting[1:]
	next.lead = true
	close(next.done)
}

// withdraw takes req out of its board's queue if no batch has taken it
// yet, and reports whether it did.
func (q *addQueue) withdraw(key string, req *addRequest) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.lines[key]
	if l == nil {
		return false
	}
	for i, r := range l.waiting {
		if r == req {
			l.waiting = append(l.waiting[:i], l.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// batchContext is the context of a batch's transaction: it carries the
// leader's values and ends only once every request's context has ended,
// so that one caller who goes away does not fail the others' writes.
func batchContext(batch []*addRequest) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	var left atomic.Int64
	left.Store(int64(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, r := range batch {
		stops[i] = context.AfterFunc(r.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
