package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/store"

	"github.com/kanban-mcp/kanban-mcp/internal/syncbuf"
)

// recorder is a fake: a recording Writer stands in for the SQLite store,
// which has its own tests; here we test queueing, not storage.
//
// When gate is not nil every write first announces itself on entered (if
// not nil) and then waits until gate is closed or its ctx ends, which lets
// a test hold the queue's goroutine inside a write. When fail is set every
// write fails with it.
type recorder struct {
	gate    chan struct{}
	entered chan struct{}
	fail    error

	mu      sync.Mutex
	rows    []store.Activity
	batches []int
	calls   int
}

func (r *recorder) RecordActivity(ctx context.Context, rows []store.Activity) error {
	r.mu.Lock()
	r.calls++
	r.mu.Unlock()
	if r.gate != nil {
		if r.entered != nil {
			select {
			case r.entered <- struct{}{}:
			default:
			}
		}
		select {
		case <-r.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if r.fail != nil {
		return r.fail
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, rows...)
	r.batches = append(r.batches, len(rows))
	return nil
}

// summaries returns the Summary of every written row, in order.
func (r *recorder) summaries() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.rows))
	for i, a := range r.rows {
		out[i] = a.Summary
	}
	return out
}

func (r *recorder) batchSizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.batches...)
}

func (r *recorder) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// row is an activity row told apart by its summary.
func row(i int) store.Activity {
	return store.Activity{
		Tool:    "get_board",
		Outcome: store.OutcomeOK,
		Actor:   store.Actor{Issuer: "https://id.example", Subject: "alice", ClientID: "claude"},
		Summary: fmt.Sprintf("row %d", i),
	}
}

// names is what summaries returns for rows from..to-1.
func names(from, to int) []string {
	out := []string{}
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("row %d", i))
	}
	return out
}

// closeQueue closes q with a generous deadline and fails the test on error.
func closeQueue(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// eventually polls cond until it holds, failing after 5 s. It asserts
// that something happens, not how fast.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitEntered waits until the gated recorder r is inside a write.
func waitEntered(t *testing.T, r *recorder) {
	t.Helper()
	select {
	case <-r.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the writer was not called within 5s")
	}
}

func TestQueueWritesAllRowsInOrder(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		rows int
	}{
		{"defaults", Options{}, 1000},
		{"small batches", Options{BatchSize: 7}, 1000},
		{"batch larger than capacity", Options{Capacity: 2000, BatchSize: 5000}, 1500},
		{"nothing recorded", Options{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			q := NewQueue(r, tt.opts)
			for i := range tt.rows {
				q.Record(row(i))
			}
			closeQueue(t, q)
			if diff := cmp.Diff(names(0, tt.rows), r.summaries()); diff != "" {
				t.Errorf("written rows (-want +got):\n%s", diff)
			}
			if got := q.Dropped(); got != 0 {
				t.Errorf("Dropped() = %d, want 0", got)
			}
			if got := q.Pending(); got != 0 {
				t.Errorf("Pending() after Close = %d, want 0", got)
			}
		})
	}
}

func TestQueueBatchesNeverExceedBatchSize(t *testing.T) {
	r := &recorder{}
	// A long interval, so that only the batch size triggers writes before
	// Close.
	q := NewQueue(r, Options{BatchSize: 10, FlushInterval: time.Hour})
	for i := range 25 {
		q.Record(row(i))
	}
	closeQueue(t, q)

	sizes := r.batchSizes()
	total := 0
	for _, n := range sizes {
		if n > 10 {
			t.Errorf("batch of %d rows, want at most 10 (all batches: %v)", n, sizes)
		}
		total += n
	}
	if total != 25 {
		t.Errorf("%d rows written in batches %v, want 25", total, sizes)
	}
	if diff := cmp.Diff(names(0, 25), r.summaries()); diff != "" {
		t.Errorf("written rows (-want +got):\n%s", diff)
	}
}

func TestQueueFlushesAfterInterval(t *testing.T) {
	r := &recorder{}
	q := NewQueue(r, Options{FlushInterval: 10 * time.Millisecond})
	defer closeQueue(t, q)

	q.Record(row(0))
	eventually(t, "the one row is written without Close", func() bool { return len(r.summaries()) == 1 })
	// And a later row, after the queue went idle, is written too.
	q.Record(row(1))
	eventually(t, "a second row is written without Close", func() bool { return len(r.summaries()) == 2 })
	if diff := cmp.Diff(names(0, 2), r.summaries()); diff != "" {
		t.Errorf("written rows (-want +got):\n%s", diff)
	}
}

func TestQueueFullDropsOldest(t *testing.T) {
	r := &recorder{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	var logs syncbuf.Buffer
	q := NewQueue(r, Options{Capacity: 5, FlushInterval: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	// Hold the goroutine inside the write of a first row, so that the
	// next rows can only queue up.
	q.Record(store.Activity{Summary: "plug"})
	waitEntered(t, r)

	for i := range 8 {
		q.Record(row(i))
	}
	if got := q.Dropped(); got != 3 {
		t.Errorf("Dropped() = %d, want 3", got)
	}
	if got := q.Pending(); got != 5 {
		t.Errorf("Pending() = %d, want 5", got)
	}

	close(r.gate)
	closeQueue(t, q)
	want := append([]string{"plug"}, names(3, 8)...)
	if diff := cmp.Diff(want, r.summaries()); diff != "" {
		t.Errorf("written rows (-want +got):\n%s", diff)
	}
	if got := q.Dropped(); got != 3 {
		t.Errorf("Dropped() after Close = %d, want 3", got)
	}
	// The drops were reported while the queue ran, not only counted.
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "dropped_total=3") {
		t.Errorf("no drop warning in the log:\n%s", l)
	}
}

func TestQueueRecordDoesNotBlockOnStuckWriter(t *testing.T) {
	r := &recorder{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	q := NewQueue(r, Options{Capacity: 100, BatchSize: 10})
	q.Record(store.Activity{Summary: "plug"})
	waitEntered(t, r)

	const n = 10000
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for i := range n {
			q.Record(row(i))
		}
	}()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("Record blocked while the writer was stuck")
	}
	if got, want := q.Dropped(), uint64(n-100); got != want {
		t.Errorf("Dropped() = %d, want %d", got, want)
	}

	close(r.gate)
	closeQueue(t, q)
	want := append([]string{"plug"}, names(n-100, n)...)
	if diff := cmp.Diff(want, r.summaries()); diff != "" {
		t.Errorf("written rows (-want +got):\n%s", diff)
	}
}

func TestQueueConcurrentRecorders(t *testing.T) {
	r := &recorder{}
	q := NewQueue(r, Options{BatchSize: 16, FlushInterval: time.Millisecond})
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				q.Record(row(g*each + i))
				if i%50 == 0 {
					_ = q.Pending()
				}
			}
		})
	}
	wg.Wait()
	closeQueue(t, q)

	got := r.summaries()
	if len(got) != goroutines*each {
		t.Fatalf("%d rows written, want %d", len(got), goroutines*each)
	}
	// Each recorder's own rows keep their order.
	last := map[int]int{}
	for _, s := range got {
		var i int
		if _, err := fmt.Sscanf(s, "row %d", &i); err != nil {
			t.Fatalf("unexpected summary %q", s)
		}
		g := i / each
		if prev, ok := last[g]; ok && i <= prev {
			t.Errorf("row %d written after row %d of the same goroutine", i, prev)
		}
		last[g] = i
	}
}

func TestQueueRecordAfterCloseIsDropped(t *testing.T) {
	r := &recorder{}
	q := NewQueue(r, Options{})
	q.Record(row(0))
	closeQueue(t, q)

	q.Record(row(1))
	q.Record(row(2))
	if got := q.Dropped(); got != 2 {
		t.Errorf("Dropped() = %d, want 2", got)
	}
	if got := q.Pending(); got != 0 {
		t.Errorf("Pending() = %d, want 0", got)
	}
	if diff := cmp.Diff(names(0, 1), r.summaries()); diff != "" {
		t.Errorf("written rows (-want +got):\n%s", diff)
	}
	// Closing again is harmless.
	closeQueue(t, q)
}

func TestQueueCloseWithExpiredContext(t *testing.T) {
	r := &recorder{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	var logs bytes.Buffer
	q := NewQueue(r, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	q.Record(row(0))
	waitEntered(t, r)
	q.Record(row(1))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := q.Close(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Close(expired ctx) = %v, want an error wrapping context.Canceled", err)
	}

	// The abandoned write sees its ctx end, so the goroutine exits without
	// the gate ever opening; a second Close waits for that.
	closeQueue(t, q)
	if got := q.Dropped(); got != 2 {
		t.Errorf("Dropped() = %d, want 2 (the abandoned write and the waiting row)", got)
	}
	if got := len(r.summaries()); got != 0 {
		t.Errorf("%d rows written, want 0", got)
	}
	close(r.gate)
}

func TestQueueWriteErrorIsLoggedAndDropped(t *testing.T) {
	const secret = "moved card «acquisition of Initech» to Done"
	r := &recorder{fail: errors.New("disk I/O error")}
	var logs bytes.Buffer
	q := NewQueue(r, Options{
		FlushInterval: time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(&logs, nil)),
	})
	for i := range 3 {
		a := row(i)
		a.Summary = secret
		a.BoardID = "b_secretboard"
		a.IDs = []string{"b_secretboard", "c_secretcard"}
		q.Record(a)
	}
	closeQueue(t, q)

	if got := q.Dropped(); got != 3 {
		t.Errorf("Dropped() = %d, want 3", got)
	}
	if calls := r.callCount(); calls < 1 || calls > 2*3 {
		t.Errorf("writer called %d times; want at least one attempt and at most one retry per batch", calls)
	}
	// Close has returned, so the goroutine is done writing to logs.
	out := logs.String()
	for _, want := range []string{"level=ERROR", "disk I/O error", "rows="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, leak := range []string{"Initech", "secretboard", "secretcard", "alice"} {
		if strings.Contains(out, leak) {
			t.Errorf("log contains row content %q:\n%s", leak, out)
		}
	}
}

// TestQueueRecordStampsTheTime: a row without a time gets the time of
// Record, not of its batch's write, and keeps its IDs.
func TestQueueRecordStampsTheTime(t *testing.T) {
	r := &recorder{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	q := NewQueue(r, Options{})
	q.Record(store.Activity{Summary: "plug"})
	waitEntered(t, r)

	before := time.Now()
	q.Record(store.Activity{Summary: "row", IDs: []string{"b_1", "c_1"}})
	after := time.Now()
	close(r.gate)
	closeQueue(t, q)

	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rows) != 2 {
		t.Fatalf("%d rows written, want 2", len(r.rows))
	}
	got := r.rows[1]
	if diff := cmp.Diff([]string{"b_1", "c_1"}, got.IDs); diff != "" {
		t.Errorf("IDs (-want +got):\n%s", diff)
	}
	if got.At.Before(before) || got.At.After(after) {
		t.Errorf("At = %v, want the time of Record (between %v and %v)", got.At, before, after)
	}
}

// TestQueueStats: Depth is the rows waiting, Dropped the rows lost, and
// OverBudget and LowDisk the anonymous rows withheld since the start, not
// reset by a summary, which still counts only the rows since the last one.
func TestQueueStats(t *testing.T) {
	r := &recorder{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	var low atomic.Bool
	q := NewQueue(r, Options{
		Capacity: 4, BatchSize: 2,
		FlushInterval: time.Hour, SummaryInterval: time.Hour,
		Budget:  &fakeBudget{n: 1},
		LowDisk: low.Load,
	})
	check := func(when string, want Stats) {
		t.Helper()
		if diff := cmp.Diff(want, q.Stats()); diff != "" {
			t.Errorf("Stats() %s (-want +got):\n%s", when, diff)
		}
	}
	check("at the start", Stats{})

	// Two rows reach BatchSize: the writer takes them and is held.
	q.Record(row(0))
	q.Record(row(1))
	waitEntered(t, r)
	for i := 2; i < 8; i++ {
		q.Record(row(i)) // rows 2, 3 pushed out by 6, 7
	}
	check("with the writer held", Stats{Depth: 4, Dropped: 2})

	q.RecordAnonymous("192.0.2.1", row(8)) // within budget: pushes row 4 out
	q.RecordAnonymous("192.0.2.1", row(9)) // over budget
	q.RecordAnonymous("192.0.2.1", row(10))
	low.Store(true)
	q.RecordAnonymous("198.51.100.1", row(11)) // low disk
	low.Store(false)
	check("after anonymous rows", Stats{Depth: 4, Dropped: 3, OverBudget: 2, LowDisk: 1})

	q.summarize() // its row pushes row 5 out
	check("after a summary", Stats{Depth: 4, Dropped: 4, OverBudget: 2, LowDisk: 1})
	q.RecordAnonymous("192.0.2.1", row(12))
	check("after a summary and one more", Stats{Depth: 4, Dropped: 4, OverBudget: 3, LowDisk: 1})
	q.summarize() // pushes row 6 out; Close then has nothing to summarise
	check("after a second summary", Stats{Depth: 4, Dropped: 5, OverBudget: 3, LowDisk: 1})

	close(r.gate)
	closeQueue(t, q)
	q.Record(row(13))
	check("after Close", Stats{Depth: 0, Dropped: 6, OverBudget: 3, LowDisk: 1})

	want := append(names(0, 2), "row 7", "row 8",
		"dropped 3 activity rows of callers without a valid token (2 over budget, 1 while disk space was low; client networks: 2)",
		"dropped 1 activity rows of callers without a valid token (1 over budget, 0 while disk space was low; client networks: 1)")
	if diff := cmp.Diff(want, r.summaries()); diff != "" {
		t.Errorf("written rows (-want +got):\n%s", diff)
	}
}
