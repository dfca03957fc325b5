package httpapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSharedBudget takes and gives bytes in order and checks each answer:
// a client holds at most its share unless it holds nothing, the whole
// budget is never passed, and what is given back can be taken again.
func TestSharedBudget(t *testing.T) {
	const size = 100 // shares of size/BudgetShares
	share := int64(size / BudgetShares)
	type step struct {
		give   bool
		client string
		n      int64
		want   error
		took   int64
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"within a share", []step{
			{client: "a", n: share, took: share},
		}},
		{"past its share", []step{
			{client: "a", n: share - 1, took: share - 1},
			{client: "a", n: 2, want: errClientShare},
			{client: "b", n: 2, took: 2},
		}},
		{"alone, more than a share", []step{
			{client: "a", n: 3 * share, took: 3 * share},
			{client: "a", n: 1, want: errClientShare},
		}},
		{"more than the budget is the budget", []step{
			{client: "a", n: 10 * size, took: size},
			{client: "b", n: 1, want: errBudgetSpent},
		}},
		{"spent by many clients", []step{
			{client: "a", n: share, took: share},
			{client: "b", n: share, took: share},
			{client: "c", n: share, took: share},
			{client: "d", n: share, took: share},
			{client: "e", n: 1, want: errBudgetSpent},
			{give: true, client: "b", n: share},
			{client: "e", n: 1, took: 1},
			{client: "b", n: share, want: errBudgetSpent},
			{client: "b", n: share - 1, took: share - 1},
		}},
		{"given back, taken again", []step{
			{client: "a", n: share, took: share},
			{give: true, client: "a", n: share},
			{client: "a", n: share, took: share},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newSharedBudget(size)
			for i, s := range tt.steps {
				if s.give {
					b.give(s.client, s.n)
					continue
				}
				took, err := b.take(s.client, s.n)
				if !errors.Is(err, s.want) || took != s.took {
					t.Fatalf("step %d: take(%q, %d) = %d, %v; want %d, %v", i, s.client, s.n, took, err, s.took, s.want)
				}
			}
		})
	}
}

// TestCallerLimit: a caller's calls past the limit wait for one of its own
// to end, or fail when their context ends first, or at once when too many
// wait already; other callers do not wait for them.
func TestCallerLimit(t *testing.T) {
	l := newCallerLimit(2)
	ctx := context.Background()
	for range 2 {
		if err := l.enter(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := l.enter(short, "a"); !errors.Is(err, errClientShare) {
		t.Fatalf("a third call of a caller with two in flight: %v, want errClientShare", err)
	}
	if err := l.enter(ctx, "b"); err != nil {
		t.Fatalf("another caller's call: %v", err)
	}
	entered := make(chan error, 1)
	go func() { entered <- l.enter(ctx, "a") }()
	select {
	case err := <-entered:
		t.Fatalf("a third call entered before any ended: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	l.leave("a")
	if err := <-entered; err != nil {
		t.Fatalf("waiting for one of its own calls to end: %v", err)
	}
	// Past maxWaiting waiting calls, one more is refused at once.
	waiting, stopWaiting := context.WithCancel(ctx)
	refused := make(chan error, maxWaiting)
	for range maxWaiting {
		go func() { refused <- l.enter(waiting, "a") }()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		l.mu.Lock()
		calls := l.callers["a"].calls
		l.mu.Unlock()
		if calls == 2+maxWaiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls of a counted, want %d", calls, 2+maxWaiting)
		}
	}
	if err := l.enter(ctx, "a"); !errors.Is(err, errClientShare) {
		t.Fatalf("a call past %d waiting ones: %v, want errClientShare at once", maxWaiting, err)
	}
	stopWaiting()
	for range maxWaiting {
		if err := <-refused; !errors.Is(err, errClientShare) {
			t.Fatalf("a waiting call whose context ended: %v, want errClientShare", err)
		}
	}
	l.leave("a")
	l.leave("a")
	l.leave("b")
	if len(l.callers) != 0 {
		t.Fatalf("callers remembered after every call ended: %v", l.callers)
	}
}
