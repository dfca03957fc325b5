package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// recorder is an addQueue's run for the tests of the queue alone: it
// records each batch as the titles of its requests and answers each with
// a card of that title. While blocked, a batch waits for unblock.
type recorder struct {
	mu      sync.Mutex
	batches [][]string
	running map[string]int // batches running per board
	overlap bool           // two batches of one board ran at once
	started chan string    // the first title of each batch, as it starts
	unblock chan struct{}  // closed or sent to, to let a batch finish
}

func newRecorder() *recorder {
	return &recorder{running: map[string]int{}, started: make(chan string, 1000), unblock: make(chan struct{})}
}

func (r *recorder) run(ctx context.Context, batch []*addRequest) {
	board := batch[0].in.BoardID
	r.mu.Lock()
	if r.running[board]++; r.running[board] > 1 {
		r.overlap = true
	}
	var titles []string
	for _, req := range batch {
		titles = append(titles, req.in.Title)
	}
	r.batches = append(r.batches, titles)
	r.mu.Unlock()
	r.started <- titles[0]
	select {
	case <-r.unblock:
	case <-ctx.Done():
		for _, req := range batch {
			req.err = ctx.Err()
		}
	}
	r.mu.Lock()
	r.running[board]--
	r.mu.Unlock()
	for _, req := range batch {
		if req.err == nil {
			req.card = &store.Card{Title: req.in.Title}
		}
	}
}

// request is an AddCard call for the queue's tests.
func request(ctx context.Context, board, title string) *addRequest {
	return &addRequest{ctx: ctx, in: store.NewCard{BoardID: board, Title: title}}
}

// result is what add returned.
type result struct {
	title string
	err   error
}

// addAsync calls q.add(req) on a goroutine of its own and sends what it
// returned on out.
func addAsync(q *addQueue, req *addRequest, out chan<- result) {
	go func() {
		card, err := q.add(req)
		title := ""
		if card != nil {
			title = card.Title
		}
		out <- result{title, err}
	}()
}

// waitQueued waits until n requests wait on board's line.
func waitQueued(t *testing.T, q *addQueue, board string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q.mu.Lock()
		l := q.lines[board]
		got := 0
		if l != nil {
			got = len(l.waiting)
		}
		q.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests wait on board %s, want %d", got, board, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// busyBoard starts a batch of board b1 on q, which runs until rec lets it
// end, so that the calls after it queue; its outcome goes to out.
func busyBoard(t *testing.T, q *addQueue, rec *recorder, out chan<- result) {
	t.Helper()
	addAsync(q, request(t.Context(), "b1", "first"), out)
	if got := <-rec.started; got != "first" {
		t.Fatalf("the first batch starts with %q, want first", got)
	}
}

// enqueue queues req on board b1 behind the n-1 calls already there, and
// returns once it waits there; its outcome goes to out.
func enqueue(t *testing.T, q *addQueue, req *addRequest, out chan<- result, n int) {
	t.Helper()
	addAsync(q, req, out)
	waitQueued(t, q, "b1", n)
}

// TestAddQueueBatches: the first call runs alone at once; the calls that
// arrive while it runs go in the next batch, in their order, at most
// maxAddBatch to a batch; every call gets its own outcome; and the board's
// line is gone once the last batch ends.
func TestAddQueueBatches(t *testing.T) {
	rec := newRecorder()
	q := &addQueue{run: rec.run}
	out := make(chan result, 100)
	busyBoard(t, q, rec, out)
	waiting := maxAddBatch + 3
	var want []string
	for i := range waiting {
		title := fmt.Sprintf("w%02d", i)
		want = append(want, title)
		enqueue(t, q, request(t.Context(), "b1", title), out, i+1) // in this order
	}
	close(rec.unblock)

	var got []string
	for range waiting + 1 {
		r := <-out
		if r.err != nil {
			t.Fatalf("add: %v", r.err)
		}
		got = append(got, r.title)
	}
	slices.Sort(got)
	if d := cmp.Diff(append([]string{"first"}, want...), got); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	wantBatches := [][]string{{"first"}, want[:maxAddBatch], want[maxAddBatch:]}
	if d := cmp.Diff(wantBatches, rec.batches); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
	if rec.overlap {
		t.Error("two batches of one board ran at once")
	}
	if len(q.lines) != 0 {
		t.Errorf("%d lines left after the last batch, want none", len(q.lines))
	}
}

// TestAddQueueBoardsApart: a batch of one board does not hold up another
// board's calls.
func TestAddQueueBoardsApart(t *testing.T) {
	rec := newRecorder()
	q := &addQueue{run: rec.run}
	out := make(chan result, 2)
	addAsync(q, request(t.Context(), "b1", "one"), out)
	<-rec.started
	addAsync(q, request(t.Context(), "b2", "two"), out)
	if got := <-rec.started; got != "two" {
		t.Fatalf("started %q, want two while b1's batch runs", got)
	}
	close(rec.unblock)
	<-out
	<-out
}

// TestAddQueueCancel: a call whose context ends while it waits leaves the
// queue with the context's error and is in no batch; a leader whose
// context ends does not fail the rest of its batch, which ends only when
// every caller in it has gone.
func TestAddQueueCancel(t *testing.T) {
	t.Run("waiting", func(t *testing.T) {
		rec := newRecorder()
		q := &addQueue{run: rec.run}
		out := make(chan result, 3)
		busyBoard(t, q, rec, out)
		ctx, cancel := context.WithCancel(t.Context())
		gone := make(chan result, 1)
		enqueue(t, q, request(ctx, "b1", "gone"), gone, 1)
		enqueue(t, q, request(t.Context(), "b1", "stays"), out, 2)
		cancel()
		if r := <-gone; !errors.Is(r.err, context.Canceled) || r.title != "" {
			t.Errorf("the cancelled call returned (%q, %v), want context.Canceled", r.title, r.err)
		}
		close(rec.unblock)
		<-out
		<-out
		if d := cmp.Diff([][]string{{"first"}, {"stays"}}, rec.batches); d != "" {
			t.Errorf("batches (-want +got):\n%s", d)
		}
	})
	t.Run("leader", func(t *testing.T) {
		rec := newRecorder()
		q := &addQueue{run: rec.run}
		out := make(chan result, 3)
		busyBoard(t, q, rec, out)
		leaderCtx, cancelLeader := context.WithCancel(t.Context())
		otherCtx, cancelOther := context.WithCancel(t.Context())
		enqueue(t, q, request(leaderCtx, "b1", "leader"), out, 1)
		enqueue(t, q, request(otherCtx, "b1", "other"), out, 2)
		rec.unblock <- struct{}{} // the first batch ends
		<-out
		if got := <-rec.started; got != "leader" {
			t.Fatalf("second batch starts with %q, want leader", got)
		}
		cancelLeader()
		select {
		case r := <-out:
			t.Fatalf("a call of the batch returned (%q, %v) while another caller still waited", r.title, r.err)
		case <-time.After(50 * time.Millisecond):
		}
		cancelOther() // now every caller of the batch has gone
		for range 2 {
			if r := <-out; !errors.Is(r.err, context.Canceled) {
				t.Errorf("a call of the abandoned batch returned (%q, %v), want context.Canceled", r.title, r.err)
			}
		}
	})
}

// TestAddQueuePanic: a batch whose run panics answers its other calls with
// an error, hands the board on, and lets the panic reach the leader's
// caller.
func TestAddQueuePanic(t *testing.T) {
	rec := newRecorder()
	panicking := true
	q := &addQueue{}
	q.run = func(ctx context.Context, batch []*addRequest) {
		if panicking && batch[0].in.Title == "leader" {
			rec.started <- "leader"
			<-rec.unblock
			panic("boom")
		}
		rec.run(ctx, batch)
	}
	first := make(chan result, 1)
	busyBoard(t, q, rec, first)
	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		_, _ = q.add(request(t.Context(), "b1", "leader"))
	}()
	waitQueued(t, q, "b1", 1)
	out := make(chan result, 1)
	enqueue(t, q, request(t.Context(), "b1", "with the leader"), out, 2)
	rec.unblock <- struct{}{} // the first batch ends
	<-first
	if got := <-rec.started; got != "leader" {
		t.Fatalf("second batch starts with %q, want leader", got)
	}
	rec.unblock <- struct{}{} // the leader's batch panics
	if r := <-out; r.err == nil || r.title != "" {
		t.Errorf("a call of the panicking batch returned (%q, %v), want an error", r.title, r.err)
	}
	if p := <-recovered; p != "boom" {
		t.Errorf("the leader's caller recovered %v, want the panic", p)
	}
	close(rec.unblock)
	if card, err := q.add(request(t.Context(), "b1", "after")); err != nil || card.Title != "after" {
		t.Errorf("a call after the panic: (%v, %v), want its card", card, err)
	}
}
