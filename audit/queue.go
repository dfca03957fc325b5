// Package audit queues the activity rows that are not written together with
// a change — reads, denials and failures — and writes them to the store in
// batches.
//
// Writes record their own activity row in the store's transaction, so that a
// change and its row commit together. Everything else goes through a Queue,
// so that a read never turns into a write transaction of its own: one
// background goroutine writes up to BatchSize rows per transaction.
//
// The queue trades completeness for never slowing a request down: Record
// never blocks, and when the store falls behind the oldest queued rows are
// dropped (and counted) rather than the caller waiting. The waiting rows are
// bounded in number and in bytes. Rows live only in memory until written, so
// a crash loses at most the rows of the last FlushInterval plus one write —
// ≤ 1 s with the defaults. A clean shutdown (Close) loses nothing.
//
// Rows of callers without a valid token (RecordAnonymous) cost an attacker
// nothing, so they are kept only within a Budget and while the disk has
// room; the ones not kept are counted in one summary row (OutcomeDropped)
// and one log line per SummaryInterval.
package audit

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/kanban-mcp/kanban-mcp/internal/clientip"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// Writer stores a batch of activity rows in one go. store.Store satisfies
// it.
type Writer interface {
	RecordActivity(ctx context.Context, rows []store.Activity) error
}

// The store is what the queue normally writes to.
var _ Writer = store.Store(nil)

// The defaults of Options.
const (
	DefaultCapacity        = 4096
	DefaultMaxBytes        = 4 << 20
	DefaultBatchSize       = 256
	DefaultFlushInterval   = 200 * time.Millisecond
	DefaultSummaryInterval = 5 * time.Minute
)

// OutcomeDropped marks the summary row that counts the rows of callers
// without a valid token that were not kept. It is not a tool call, so the
// row names no tool and no caller.
const OutcomeDropped store.Outcome = "dropped"

// Options tune a Queue. Zero (or negative) values take the defaults.
type Options struct {
	// Capacity is how many rows may wait; beyond it the oldest are dropped.
	Capacity int
	// MaxBytes bounds the estimated size of the waiting rows (see
	// rowSize); beyond it the oldest are dropped.
	MaxBytes int
	// BatchSize is the most rows written in one transaction, and the number
	// of waiting rows that triggers a write without waiting for
	// FlushInterval.
	BatchSize int
	// FlushInterval is the longest a row waits before it is written.
	FlushInterval time.Duration
	// Logger receives write failures; nil discards them.
	Logger *slog.Logger

	// Budget bounds the rows that RecordAnonymous keeps; nil keeps them
	// all.
	Budget Budget
	// LowDisk reports that the database's disk is nearly full; while it
	// does, RecordAnonymous keeps no rows. nil never reports so.
	LowDisk func() bool
	// SummaryInterval is how often the rows that RecordAnonymous did not
	// keep are counted in one summary row and one log line.
	SummaryInterval time.Duration
}

// Queue is a bounded, batching, non-blocking queue of activity rows in
// front of a Writer. Its methods are safe for concurrent use.
type Queue struct {
	w         Writer
	batchSize int
	// threshold is the number of waiting rows that triggers a write:
	// BatchSize, or Capacity when that is smaller, so that a full queue is
	// written at once instead of dropping rows until the timer fires.
	threshold int
	// maxBytes bounds bytes; byteThreshold (half of it) triggers a write
	// like threshold does.
	maxBytes, byteThreshold int
	interval                time.Duration
	log                     *slog.Logger

	budget       Budget
	lowDisk      func() bool
	summaryEvery time.Duration

	// mu guards the ring, bytes and closed. It is held only to add or take
	// rows, never during a write, so Record waits at most for a copy of one
	// batch.
	mu     sync.Mutex
	ring   []store.Activity // fixed length Capacity
	head   int              // index of the oldest waiting row
	n      int              // number of waiting rows
	bytes  int              // rowSize of the waiting rows, summed
	closed bool

	dropped atomic.Uint64

	// withheldMu guards withheld: the rows RecordAnonymous did not keep
	// since the last summary.
	withheldMu sync.Mutex
	withheld   withheld
	// overBudgetRows and lowDiskRows count the same rows since the
	// queue was made, for Stats: the summaries start over, counters
	// must not.
	overBudgetRows, lowDiskRows atomic.Uint64

	// wake tells the goroutine that the state changed (first row waiting,
	// threshold reached). Its buffer of one makes signalling non-blocking
	// and loses nothing: the goroutine re-reads the state after any wake.
	wake      chan struct{}
	stop      chan struct{} // closed by the first Close
	done      chan struct{} // closed when the goroutine has exited
	closeOnce sync.Once

	// ctx is the context of every write. Close cancels it when its own
	// deadline passes, so that a stuck write is abandoned rather than
	// outliving the database the caller is about to close.
	ctx    context.Context
	cancel context.CancelFunc

	// abandoned counts the rows the goroutine dropped unwritten after Close
	// gave up; only the goroutine touches it.
	abandoned int

	// reported and reportedAt remember the last drop warning; only the
	// goroutine touches them.
	reported   uint64
	reportedAt time.Time
}

// NewQueue returns a queue writing to w and starts its goroutine. Call
// Close to flush and stop it.
func NewQueue(w Writer, opts Options) *Queue {
	if opts.Capacity <= 0 {
		opts.Capacity = DefaultCapacity
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.SummaryInterval <= 0 {
		opts.SummaryInterval = DefaultSummaryInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LowDisk == nil {
		opts.LowDisk = func() bool { return false }
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		w:             w,
		batchSize:     opts.BatchSize,
		threshold:     min(opts.BatchSize, opts.Capacity),
		maxBytes:      opts.MaxBytes,
		byteThreshold: opts.MaxBytes / 2,
		interval:      opts.FlushInterval,
		log:           opts.Logger,
		budget:        opts.Budget,
		lowDisk:       opts.LowDisk,
		summaryEvery:  opts.SummaryInterval,
		ring:          make([]store.Activity, opts.Capacity),
		wake:          make(chan struct{}, 1),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
		ctx:           ctx,
		cancel:        cancel,
	}
	go q.run()
	return q
}

// Record queues a for writing. It never blocks: when the queue is full (in
// rows or bytes) the oldest waiting rows are dropped to make room, and after
// Close a is dropped; both count in Dropped. A zero a.At is set to now, so
// that the row carries the time of the call rather than of the batch write.
//
// Record takes a.IDs: the row is written later, on another goroutine, so
// the caller must not change the slice's elements afterwards. (Copying
// them instead would cost an allocation on every read.)
func (q *Queue) Record(a store.Activity) {
	if a.At.IsZero() {
		a.At = time.Now()
	}
	a = bounded(a, MaxRowIDs, MaxRowSummary)

	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.dropped.Add(1)
		return
	}
	signal := q.push(a)
	q.mu.Unlock()
	if signal {
		q.signal()
	}
}

// RecordAnonymous queues the row of a caller without a valid token, from
// the address clientIP, like Record, if the disk has room and the Budget
// allows it. Otherwise the row is only counted, for the next summary.
func (q *Queue) RecordAnonymous(clientIP string, a store.Activity) {
	network := clientip.Network(clientIP)
	a = bounded(a, AnonymousRowIDs, AnonymousRowSummary)
	switch {
	case q.lowDisk():
		q.withhold(network, false)
	case q.budget != nil && !q.budget.Allow(network, RowUnits(a)):
		q.withhold(network, true)
	default:
		q.Record(a)
	}
}

// The most that any queued row keeps: a read of a 200-item page names the
// first MaxRowIDs items (its summary says how many there were), and a
// summary quoting long titles is cut.
const (
	MaxRowIDs     = 50
	MaxRowSummary = 300 // characters
)

// bounded cuts a's IDs to the first maxIDs and its summary to maxSummary
// characters, ending a cut summary with "…".
func bounded(a store.Activity, maxIDs, maxSummary int) store.Activity {
	if len(a.IDs) > maxIDs {
		// A copy, not a reslice: a queued row would otherwise hold the
		// caller's whole array, and every string in it, beyond what
		// rowSize counts.
		a.IDs = slices.Clone(a.IDs[:maxIDs])
	}
	if utf8.RuneCountInString(a.Summary) > maxSummary {
		r := []rune(a.Summary)
		a.Summary = string(r[:maxSummary-1]) + "…"
	}
	return a
}

// push adds a to the ring, first dropping the oldest rows (newer rows are
// the more useful ones when the store has been behind for a while) until
// it fits within Capacity and MaxBytes. A row larger than MaxBytes on its
// own is dropped instead. q.mu must be held. It reports whether the
// goroutine needs waking.
func (q *Queue) push(a store.Activity) bool {
	size := rowSize(a)
	if size > q.maxBytes {
		q.dropped.Add(1)
		return false
	}
	for q.n == len(q.ring) || q.bytes+size > q.maxBytes {
		q.bytes -= rowSize(q.ring[q.head])
		q.ring[q.head] = store.Activity{}
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		q.dropped.Add(1)
	}
	q.ring[(q.head+q.n)%len(q.ring)] = a
	q.n++
	q.bytes += size
	return q.n == 1 || q.n == q.threshold || (q.bytes >= q.byteThreshold && q.bytes-size < q.byteThreshold)
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default: // a wake is already pending
	}
}

// rowOverhead is what a row costs in memory besides its strings: the
// struct, the string and slice headers, the time.
const rowOverhead = 256

// rowSize estimates the memory a queued row holds.
func rowSize(a store.Activity) int {
	n := rowOverhead + len(a.Tool) + len(a.Outcome) + len(a.BoardID) + len(a.Summary) +
		len(a.Actor.Issuer) + len(a.Actor.Subject) + len(a.Actor.ClientID) +
		len(a.BoardOwner.Issuer) + len(a.BoardOwner.Subject) + len(a.BoardOwner.ClientID)
	for _, id := range a.IDs {
		n += 16 + len(id)
	}
	return n
}

// withheld counts the rows RecordAnonymous did not keep.
type withheld struct {
	overBudget, lowDisk int
	networks            map[string]struct{} // at most maxWithheldNetworks
}

// maxWithheldNetworks bounds the memory that counting distinct networks
// takes between two summaries.
const maxWithheldNetworks = 10_000

func (q *Queue) withhold(network string, overBudget bool) {
	q.withheldMu.Lock()
	defer q.withheldMu.Unlock()
	w := &q.withheld
	if overBudget {
		w.overBudget++
		q.overBudgetRows.Add(1)
	} else {
		w.lowDisk++
		q.lowDiskRows.Add(1)
	}
	if w.networks == nil {
		w.networks = make(map[string]struct{})
	}
	if len(w.networks) < maxWithheldNetworks {
		w.networks[network] = struct{}{}
	}
}

// summarize turns the rows withheld since the last summary into one
// summary row and one log line; it does nothing when there are none. The
// summary is queued even after Close, so that the last one is written too.
func (q *Queue) summarize() {
	q.withheldMu.Lock()
	w := q.withheld
	q.withheld = withheld{}
	q.withheldMu.Unlock()
	total := w.overBudget + w.lowDisk
	if total == 0 {
		return
	}
	networks := fmt.Sprint(len(w.networks))
	if len(w.networks) == maxWithheldNetworks {
		networks = "at least " + networks
	}
	summary := fmt.Sprintf("dropped %d activity rows of callers without a valid token (%d over budget, %d while disk space was low; client networks: %s)",
		total, w.overBudget, w.lowDisk, networks)
	q.log.Warn("audit: activity rows of callers without a valid token were not kept",
		"dropped", total, "over_budget", w.overBudget, "low_disk", w.lowDisk, "client_networks", len(w.networks))
	q.mu.Lock()
	signal := q.push(store.Activity{At: time.Now(), Outcome: OutcomeDropped, Summary: summary})
	q.mu.Unlock()
	if signal {
		q.signal()
	}
}

// Dropped reports how many rows were lost: pushed out of a full queue,
// recorded after Close, or failed to write.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }

// Pending reports how many rows wait to be written, not counting a batch
// being written right now.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Stats is what a Queue holds and what it did not keep, for the
// server's metrics.
type Stats struct {
	// Depth is the rows waiting to be written (Pending).
	Depth int
	// Dropped is Dropped(). OverBudget and LowDisk are the rows of
	// callers without a valid token that RecordAnonymous did not keep
	// because the Budget was spent or the disk was nearly full; unlike
	// the summaries, they count from the queue's start and never go back.
	Dropped, OverBudget, LowDisk uint64
}

// Stats reports the queue's state. The counts are read one by one, not
// at one instant: a row recorded meanwhile may show in one and not yet in
// another.
func (q *Queue) Stats() Stats {
	return Stats{
		Depth:      q.Pending(),
		Dropped:    q.dropped.Load(),
		OverBudget: q.overBudgetRows.Load(),
		LowDisk:    q.lowDiskRows.Load(),
	}
}

// Close stops accepting rows, writes all waiting rows and waits for the
// goroutine to exit. If ctx ends first, Close abandons the write in
// progress and the rows still waiting (they count as dropped) and returns
// an error wrapping ctx.Err(). Calling Close again waits for the goroutine
// once more.
func (q *Queue) Close(ctx context.Context) error {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		close(q.stop)
	})
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		q.cancel()
		return fmt.Errorf("audit: closed before all rows were written: %w", ctx.Err())
	}
}

// run is the queue's goroutine: it writes a batch whenever threshold rows
// wait, when FlushInterval has passed since it first saw a waiting row, and
// until the queue is empty after Close.
func (q *Queue) run() {
	defer close(q.done)
	defer q.cancel()
	defer func() {
		if q.abandoned > 0 {
			q.log.Error("audit: closed before all activity rows were written; dropped them", "rows", q.abandoned)
		}
	}()

	timer := time.NewTimer(q.interval)
	timer.Stop()
	armed := false
	summaries := time.NewTicker(q.summaryEvery)
	defer summaries.Stop()
	summarizedAtClose := false
	for {
		q.mu.Lock()
		n, bytes, closed := q.n, q.bytes, q.closed
		q.mu.Unlock()

		if closed && !summarizedAtClose {
			q.summarize()
			summarizedAtClose = true
			continue
		}
		switch {
		case closed && n == 0:
			return
		case closed || n >= q.threshold || bytes >= q.byteThreshold:
			q.writeBatch()
			if q.Pending() == 0 {
				timer.Stop()
				armed = false
			}
			continue
		case n > 0 && !armed:
			timer.Reset(q.interval)
			armed = true
		}

		select {
		case <-q.wake:
		case <-q.stop:
		case <-summaries.C:
			q.summarize()
		case <-timer.C:
			armed = false
			// Fewer than threshold rows wait (or they would have been
			// written already), so this one batch takes every row that
			// was due; rows arriving during the write re-arm the timer.
			q.writeBatch()
		}
	}
}

// writeBatch takes up to BatchSize of the oldest waiting rows and writes
// them, retrying once. Rows that cannot be written are counted as dropped:
// retrying forever would stall every later row behind a broken database.
func (q *Queue) writeBatch() {
	q.mu.Lock()
	k := min(q.n, q.batchSize)
	batch := make([]store.Activity, k)
	for i := range k {
		j := (q.head + i) % len(q.ring)
		batch[i] = q.ring[j]
		q.bytes -= rowSize(batch[i])
		q.ring[j] = store.Activity{} // let the strings go
	}
	q.head = (q.head + k) % len(q.ring)
	q.n -= k
	q.mu.Unlock()
	if k == 0 {
		return
	}

	if q.ctx.Err() != nil {
		// Close gave up waiting: the database may be closing under us, so
		// do not even try.
		q.dropped.Add(uint64(k))
		q.abandoned += k
		return
	}
	err := q.w.RecordActivity(q.ctx, batch)
	if err != nil && q.ctx.Err() == nil {
		// One retry after a short pause covers a transient failure (a busy
		// database) without holding the queue up for long.
		pause := time.NewTimer(min(q.interval, 100*time.Millisecond))
		select {
		case <-pause.C:
			err = q.w.RecordActivity(q.ctx, batch)
		case <-q.ctx.Done():
			pause.Stop()
		}
	}
	if err != nil {
		q.dropped.Add(uint64(k))
		// Only the count and the error: row contents (summaries, IDs) do
		// not belong in the process log.
		q.log.Error("audit: could not write activity rows; dropped them", "rows", k, "err", err)
	}
	q.reportDrops()
}

// reportDrops warns, at most once per dropReportInterval, that rows were
// dropped since the last warning, so that gaps in the trail show up in the
// log while the server runs, not only at shutdown. Only the queue's
// goroutine calls it.
func (q *Queue) reportDrops() {
	const dropReportInterval = 10 * time.Second
	total := q.dropped.Load()
	if total == q.reported || time.Since(q.reportedAt) < dropReportInterval {
		return
	}
	q.log.Warn("audit: activity rows were dropped (the queue was full or the database failed)",
		"dropped_since_last_report", total-q.reported, "dropped_total", total)
	q.reported, q.reportedAt = total, time.Now()
}
