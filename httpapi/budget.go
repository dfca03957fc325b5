package httpapi

import (
	"context"
	"errors"
	"sync"

	"golang.org/x/sync/semaphore"
)

// sharedBudget is a number of bytes that requests take while they hold
// memory (request bodies) and give back when done, of which one client
// may hold at most a share. Without the share, one client that opens
// connections and never finishes them would spend the whole budget and
// make everybody else fail; with it, doing that takes as many client
// networks as the budget has shares.
type sharedBudget struct {
	total *semaphore.Weighted
	size  int64
	share int64

	mu   sync.Mutex
	held map[string]int64 // bytes held, by client
}

// Why take refused; both are answered with Retry-After.
var (
	errClientShare = errors.New("the client holds its share")
	errBudgetSpent = errors.New("the budget is spent")
)

// BudgetShares is how many clients it takes to spend a budget.
const BudgetShares = 4

func newSharedBudget(size int64) *sharedBudget {
	return &sharedBudget{total: semaphore.NewWeighted(size), size: size, share: size / BudgetShares, held: make(map[string]int64)}
}

// take takes n bytes for client, at most the whole budget, and returns how
// many it took, for give. A client that holds nothing may take more than a
// share; one that holds something may not go past it. take never waits:
// it fails at once when the budget is spent.
func (b *sharedBudget) take(client string, n int64) (int64, error) {
	n = min(n, b.size)
	b.mu.Lock()
	if h := b.held[client]; h > 0 && h+n > b.share {
		b.mu.Unlock()
		return 0, errClientShare
	}
	b.held[client] += n
	b.mu.Unlock()
	if !b.total.TryAcquire(n) {
		b.drop(client, n)
		return 0, errBudgetSpent
	}
	return n, nil
}

// give gives back n bytes that take took for client.
func (b *sharedBudget) give(client string, n int64) {
	if n == 0 {
		return
	}
	b.total.Release(n)
	b.drop(client, n)
}

func (b *sharedBudget) drop(client string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held[client] -= n; b.held[client] <= 0 {
		delete(b.held, client)
	}
}

// callerLimit bounds how many calls one caller has in flight at once;
// further calls of that caller wait, first come first served, for one of
// its own to end, and past maxWaiting of them are refused at once. A
// caller that never reads its answers thus holds at most n of them, and
// its further calls wait in line without holding anything the others
// need.
type callerLimit struct {
	n int64

	mu      sync.Mutex
	callers map[string]*callerCalls
}

// callerCalls is one caller's calls: in flight (holding sem) or waiting.
type callerCalls struct {
	sem   *semaphore.Weighted
	calls int
}

// maxWaiting is how many calls of one caller may wait beyond those in
// flight: more would only hold goroutines and connections.
const maxWaiting = 64

func newCallerLimit(n int) *callerLimit {
	return &callerLimit{n: int64(n), callers: make(map[string]*callerCalls)}
}

// enter waits until caller has fewer than n calls in flight and counts one
// more; it fails with errClientShare when ctx ends first or too many of
// the caller's calls wait already. Each successful enter needs one leave.
func (l *callerLimit) enter(ctx context.Context, caller string) error {
	l.mu.Lock()
	c := l.callers[caller]
	if c == nil {
		c = &callerCalls{sem: semaphore.NewWeighted(l.n)}
		l.callers[caller] = c
	}
	if c.calls >= int(l.n)+maxWaiting {
		l.mu.Unlock()
		return errClientShare
	}
	c.calls++
	l.mu.Unlock()
	if c.sem.Acquire(ctx, 1) != nil {
		l.done(caller, c)
		return errClientShare
	}
	return nil
}

// leave ends a call that enter counted.
func (l *callerLimit) leave(caller string) {
	l.mu.Lock()
	c := l.callers[caller]
	l.mu.Unlock()
	c.sem.Release(1)
	l.done(caller, c)
}

// done forgets a call of c, and c once it has none.
func (l *callerLimit) done(caller string, c *callerCalls) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.calls--; c.calls == 0 {
		delete(l.callers, caller)
	}
}
