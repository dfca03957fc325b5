package audit

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/internal/syncbuf"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// bigRow is row(i) holding about n bytes more, in its client ID: the one
// part of a row that the queue does not cut (it comes from a verified
// token, and a CIMD client_id is a URL of up to 2,048 bytes).
func bigRow(i, n int) store.Activity {
	a := row(i)
	a.Actor.ClientID = strings.Repeat("x", n)
	return a
}

func (q *Queue) pendingBytes() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// TestQueueByteBoundDropsOldest: rows that fit the row capacity but not the
// byte bound push the oldest rows out, so that memory stays bounded
// whatever the rows hold.
func TestQueueByteBoundDropsOldest(t *testing.T) {
	r := &recorder{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	const rowBytes = 10_000
	size := rowSize(bigRow(0, rowBytes))
	q := NewQueue(r, Options{Capacity: 1000, MaxBytes: 4 * size, FlushInterval: time.Millisecond})

	q.Record(store.Activity{Summary: "plug"})
	waitEntered(t, r)
	for i := range 10 {
		q.Record(bigRow(i, rowBytes))
		if got := q.pendingBytes(); got > 4*size {
			t.Fatalf("after row %d: %d bytes wait, want at most %d", i, got, 4*size)
		}
	}
	if got := q.Pending(); got != 4 {
		t.Errorf("Pending() = %d, want 4 (the byte bound)", got)
	}
	if got := q.Dropped(); got != 6 {
		t.Errorf("Dropped() = %d, want 6", got)
	}

	close(r.gate)
	closeQueue(t, q)
	want := append([]string{"plug"}, names(6, 10)...)
	if diff := cmp.Diff(want, r.summaries()); diff != "" {
		t.Errorf("written rows (-want +got):\n%s", diff)
	}
	if got := q.pendingBytes(); got != 0 {
		t.Errorf("%d bytes counted as waiting after Close, want 0", got)
	}
}

// TestQueueRowLargerThanMaxBytes: a row that cannot fit on its own is
// dropped, and does not push out the rows that wait.
func TestQueueRowLargerThanMaxBytes(t *testing.T) {
	r := &recorder{}
	q := NewQueue(r, Options{MaxBytes: 4096, FlushInterval: time.Hour})
	q.Record(row(0))
	q.Record(bigRow(1, 5000))
	q.Record(row(2))
	closeQueue(t, q)
	if diff := cmp.Diff([]string{"row 0", "row 2"}, r.summaries()); diff != "" {
		t.Errorf("written rows (-want +got):\n%s", diff)
	}
	if got := q.Dropped(); got != 1 {
		t.Errorf("Dropped() = %d, want 1", got)
	}
}

// TestQueueByteThresholdTriggersWrite: a queue whose bytes reach half the
// bound writes without waiting for the interval or the row threshold.
func TestQueueByteThresholdTriggersWrite(t *testing.T) {
	r := &recorder{}
	size := rowSize(bigRow(0, 1000))
	q := NewQueue(r, Options{MaxBytes: 4 * size, BatchSize: 100, FlushInterval: time.Hour})
	defer closeQueue(t, q)
	q.Record(bigRow(0, 1000))
	q.Record(bigRow(1, 1000))
	eventually(t, "two rows of half the byte bound are written before the interval", func() bool { return len(r.summaries()) == 2 })
}

func TestMemoryBudget(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	allowed := func(b Budget, network string, n int) int {
		k := 0
		for range n {
			if b.Allow(network, 1) {
				k++
			}
		}
		return k
	}

	t.Run("per network, then globally", func(t *testing.T) {
		b := NewMemoryBudget(BudgetOptions{PerHour: 10, PerNetworkPerHour: 3, Now: clock})
		if got := allowed(b, "192.0.2.1", 100); got != 3 {
			t.Errorf("one network kept %d of 100 rows, want its 3", got)
		}
		// The refusals above took nothing from the global budget.
		if got := allowed(b, "192.0.2.2", 100) + allowed(b, "192.0.2.3", 100) + allowed(b, "192.0.2.4", 100); got != 7 {
			t.Errorf("three more networks kept %d rows, want the 7 left of the global 10", got)
		}
		if b.Allow("192.0.2.5", 1) {
			t.Error("a fifth network was allowed a row past the global budget")
		}
	})
	t.Run("refills over the hour", func(t *testing.T) {
		now := now
		b := NewMemoryBudget(BudgetOptions{PerHour: 60, PerNetworkPerHour: 6, Now: func() time.Time { return now }})
		if got := allowed(b, "n", 100); got != 6 {
			t.Fatalf("kept %d, want 6", got)
		}
		now = now.Add(10 * time.Minute) // one row per 10 minutes per network
		if got := allowed(b, "n", 100); got != 1 {
			t.Errorf("10 minutes later kept %d, want 1", got)
		}
	})
	t.Run("a row costs its units", func(t *testing.T) {
		b := NewMemoryBudget(BudgetOptions{PerHour: 10, PerNetworkPerHour: 5, Now: clock})
		if !b.Allow("n", 3) || b.Allow("n", 3) {
			t.Error("a network with 5 units kept two rows of 3, or not the first")
		}
		if !b.Allow("n", 2) {
			t.Error("the 2 units left were refused")
		}
	})
	t.Run("zero keeps nothing", func(t *testing.T) {
		for _, o := range []BudgetOptions{{PerHour: 0, PerNetworkPerHour: 5}, {PerHour: 5, PerNetworkPerHour: 0}} {
			if got := allowed(NewMemoryBudget(o), "n", 10); got != 0 {
				t.Errorf("%+v kept %d rows, want 0", o, got)
			}
		}
	})
}

// TestRowBounds: an anonymous row keeps at most AnonymousRowIDs IDs and an
// AnonymousRowSummary-character summary, any queued row at most MaxRowIDs
// and MaxRowSummary, and the budget is charged by what a row stores.
func TestRowBounds(t *testing.T) {
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprintf("b_%020d", i)
	}
	long := strings.Repeat("\U0001F600", 400) // 4 bytes each
	r := &recorder{}
	q := NewQueue(r, Options{FlushInterval: time.Hour})
	q.RecordAnonymous("192.0.2.9", store.Activity{Tool: "list_boards", IDs: ids, Summary: long})
	q.Record(store.Activity{Tool: "list_boards", IDs: ids, Summary: long})
	closeQueue(t, q)
	r.mu.Lock()
	rows := slices.Clone(r.rows)
	r.mu.Unlock()
	if len(rows) != 2 {
		t.Fatalf("%d rows written, want 2", len(rows))
	}
	for i, want := range []struct{ ids, summary int }{{AnonymousRowIDs, AnonymousRowSummary}, {MaxRowIDs, MaxRowSummary}} {
		got := rows[i]
		if len(got.IDs) != want.ids || utf8.RuneCountInString(got.Summary) != want.summary || !strings.HasSuffix(got.Summary, "…") {
			t.Errorf("row %d kept %d IDs and %d characters of summary; want %d and %d ending in …", i, len(got.IDs), utf8.RuneCountInString(got.Summary), want.ids, want.summary)
		}
		if got.IDs[0] != ids[0] {
			t.Errorf("row %d kept IDs from %q; want the first ones", i, got.IDs[0])
		}
		if &got.IDs[0] == &ids[0] {
			t.Errorf("row %d holds the caller's array of %d IDs to keep %d; want a copy of only those", i, len(ids), len(got.IDs))
		}
	}
	if u := RowUnits(rows[0]); u < 1 || u > 2 {
		t.Errorf("a bounded anonymous row costs %d units; want 1 or 2 (%d bytes stored)", u, storedBytes(rows[0]))
	}
	if RowUnits(store.Activity{Tool: "whoami", Outcome: "ok"}) != 1 {
		t.Error("a small row costs more than one unit")
	}
}

// fakeBudget allows the first n rows of each network.
type fakeBudget struct {
	n    int
	mu   sync.Mutex
	seen map[string]int
}

func (b *fakeBudget) Allow(network string, _ int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen == nil {
		b.seen = map[string]int{}
	}
	b.seen[network]++
	return b.seen[network] <= b.n
}

// TestQueueRecordAnonymous: rows of callers without a valid token are
// kept within the budget (per network: an IPv6 /64 is one) and while the
// disk has room; the others are counted in one summary row and one log
// line, written at Close at the latest. Rows through Record are never
// budgeted.
func TestQueueRecordAnonymous(t *testing.T) {
	r := &recorder{}
	var logs syncbuf.Buffer
	var low atomic.Bool
	q := NewQueue(r, Options{
		Budget:          &fakeBudget{n: 2},
		LowDisk:         low.Load,
		FlushInterval:   time.Hour,
		SummaryInterval: time.Hour,
		Logger:          slog.New(slog.NewTextHandler(&logs, nil)),
	})
	for i := range 5 {
		q.RecordAnonymous("192.0.2.1", row(i)) // rows 0, 1 kept
	}
	for i := 5; i < 10; i++ {
		q.RecordAnonymous(fmt.Sprintf("2001:db8:1:2::%d", i), row(i)) // one /64: rows 5, 6 kept
	}
	for i := 10; i < 15; i++ {
		q.Record(row(i)) // attributed: all kept
	}
	low.Store(true)
	q.RecordAnonymous("198.51.100.1", row(15)) // low disk: not kept, budget untouched
	low.Store(false)
	q.RecordAnonymous("198.51.100.1", row(16))
	closeQueue(t, q)

	want := []string{"row 0", "row 1", "row 5", "row 6", "row 10", "row 11", "row 12", "row 13", "row 14", "row 16",
		"dropped 7 activity rows of callers without a valid token (6 over budget, 1 while disk space was low; client networks: 3)"}
	if diff := cmp.Diff(want, r.summaries()); diff != "" {
		t.Errorf("written rows (-want +got):\n%s", diff)
	}
	r.mu.Lock()
	last := r.rows[len(r.rows)-1]
	r.mu.Unlock()
	if last.Outcome != OutcomeDropped || last.Tool != "" || last.Actor != (store.Actor{}) || len(last.IDs) != 0 || last.At.IsZero() {
		t.Errorf("summary row = %+v, want outcome %q, a time, and no tool, caller or IDs", last, OutcomeDropped)
	}
	if got := q.Dropped(); got != 0 {
		t.Errorf("Dropped() = %d, want 0: rows over budget are not queue losses", got)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "dropped=7 over_budget=6 low_disk=1 client_networks=3") {
		t.Errorf("no summary in the log:\n%s", l)
	}
}

// TestQueueSummaryEveryInterval: while the queue runs, the withheld rows
// are summarised every interval, not only at Close, and every withheld row
// is counted exactly once.
func TestQueueSummaryEveryInterval(t *testing.T) {
	r := &recorder{}
	q := NewQueue(r, Options{Budget: &fakeBudget{n: 0}, FlushInterval: time.Millisecond, SummaryInterval: 20 * time.Millisecond})
	counted := func() int {
		total := 0
		for _, s := range r.summaries() {
			var n, over, low, networks int
			if _, err := fmt.Sscanf(s, "dropped %d activity rows of callers without a valid token (%d over budget, %d while disk space was low; client networks: %d)", &n, &over, &low, &networks); err != nil {
				t.Fatalf("summary %q: %v", s, err)
			}
			if n == 0 || n != over+low {
				t.Errorf("summary %q does not add up", s)
			}
			total += n
		}
		return total
	}
	for range 3 {
		q.RecordAnonymous("192.0.2.1", row(0))
	}
	eventually(t, "the 3 withheld rows summarised while the queue runs", func() bool { return counted() == 3 })
	q.RecordAnonymous("192.0.2.2", row(0))
	eventually(t, "a later withheld row summarised while the queue runs", func() bool { return counted() == 4 })
	closeQueue(t, q)
	if got := counted(); got != 4 {
		t.Errorf("summaries count %d rows, want 4", got)
	}
}
