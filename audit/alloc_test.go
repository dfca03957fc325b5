package audit

import (
	"context"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// idleQueue is a queue with room for every row the caller records, whose
// goroutine writes nothing until the test ends: what is measured is
// Record's own cost, not a batch's.
func idleQueue(tb testing.TB, opts Options) *Queue {
	tb.Helper()
	r := &recorder{gate: make(chan struct{})}
	opts.Capacity, opts.BatchSize, opts.MaxBytes = 1<<16, 1<<16, 1<<30
	opts.FlushInterval, opts.SummaryInterval = time.Hour, time.Hour
	q := NewQueue(r, opts)
	tb.Cleanup(func() {
		close(r.gate)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = q.Close(ctx)
	})
	return q
}

// readRow is the row of a typical read: one ID, a short summary.
func readRow() store.Activity {
	return store.Activity{
		Tool: "get_board", Outcome: store.OutcomeOK, BoardID: "b_0123456789abcdef",
		IDs:     []string{"b_0123456789abcdef"},
		Actor:   store.Actor{Issuer: "https://id.example", Subject: "alice", ClientID: "claude"},
		Summary: "read board 'Roadmap'",
	}
}

// roomyBudget is a MemoryBudget that allows every row of the tests.
func roomyBudget() Budget {
	return NewMemoryBudget(BudgetOptions{PerHour: 1 << 30, PerNetworkPerHour: 1 << 30})
}

// TestRecordAllocatesNothing: queueing the row of a read, which every read
// tool call does, allocates nothing when the queue has room; nor does an
// anonymous row from an IPv4 address that the budget allows.
func TestRecordAllocatesNothing(t *testing.T) {
	q := idleQueue(t, Options{Budget: roomyBudget()})
	a := readRow()
	if n := testing.AllocsPerRun(1000, func() { q.Record(a) }); n != 0 {
		t.Errorf("Record allocates %v times per row, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { q.RecordAnonymous("192.0.2.7", a) }); n != 0 {
		t.Errorf("RecordAnonymous from an IPv4 address allocates %v times per row, want 0", n)
	}
	if got := q.Stats(); got.Dropped != 0 || got.OverBudget != 0 {
		t.Fatalf("rows were not kept (%+v): the runs measured another path", got)
	}
}

// BenchmarkRecord is the audit's cost on the request path: a read's row,
// and an anonymous row that the budget allows, from IPv4 and IPv6.
func BenchmarkRecord(b *testing.B) {
	a := readRow()
	for _, bc := range []struct {
		name   string
		record func(q *Queue)
	}{
		{"read", func(q *Queue) { q.Record(a) }},
		{"anonymous-ipv4", func(q *Queue) { q.RecordAnonymous("192.0.2.7", a) }},
		{"anonymous-ipv6", func(q *Queue) { q.RecordAnonymous("2001:db8:1:2::7", a) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := idleQueue(b, Options{Budget: roomyBudget()})
			b.ReportAllocs()
			for b.Loop() {
				bc.record(q)
			}
		})
	}
}
