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
// dropped (and counted) rather than the caller waiting. Rows live only in
// memory until written, so a crash loses at most the rows of the last
// FlushInterval plus one write — ≤ 1 s with the defaults. A clean shutdown
// (Close) loses nothing.
package audit

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	DefaultCapacity      = 4096
	DefaultBatchSize     = 256
	DefaultFlushInterval = 200 * time.Millisecond
)

// Options tune a Queue. Zero (or negative) values take the defaults.
type Options struct {
	// Capacity is how many rows may wait; beyond it the oldest are dropped.
	Capacity int
	// BatchSize is the most rows written in one transaction, and the number
	// of waiting rows that triggers a write without waiting for
	// FlushInterval.
	BatchSize int
	// FlushInterval is the longest a row waits before it is written.
	FlushInterval time.Duration
	// Logger receives write failures; nil discards them.
	Logger *slog.Logger
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
	interval  time.Duration
	log       *slog.Logger

	// mu guards the ring and closed. It is held only to add or take rows,
	// never during a write, so Record waits at most for a copy of one batch.
	mu     sync.Mutex
	ring   []store.Activity // fixed length Capacity
	head   int              // index of the oldest waiting row
	n      int              // number of waiting rows
	closed bool

	dropped atomic.Uint64

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
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		w:         w,
		batchSize: opts.BatchSize,
		threshold: min(opts.BatchSize, opts.Capacity),
		interval:  opts.FlushInterval,
		log:       opts.Logger,
		ring:      make([]store.Activity, opts.Capacity),
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		ctx:       ctx,
		cancel:    cancel,
	}
	go q.run()
	return q
}

// Record queues a for writing. It never blocks: when the queue is full the
// oldest waiting row is dropped to make room, and after Close a is dropped;
// both count in Dropped. A zero a.At is set to now, so that the row carries
// the time of the call rather than of the batch write.
func (q *Queue) Record(a store.Activity) {
	if a.At.IsZero() {
		a.At = time.Now()
	}
	// The caller may reuse its slice once Record returns; the write happens
	// later on another goroutine.
	a.IDs = slices.Clone(a.IDs)

	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.dropped.Add(1)
		return
	}
	if q.n == len(q.ring) {
		// Full: overwrite the oldest row. Newer rows are the more useful
		// ones when the store has been behind for a while.
		q.ring[q.head] = a
		q.head = (q.head + 1) % len(q.ring)
		q.mu.Unlock()
		q.dropped.Add(1)
		return
	}
	q.ring[(q.head+q.n)%len(q.ring)] = a
	q.n++
	signal := q.n == 1 || q.n == q.threshold
	q.mu.Unlock()

	if signal {
		select {
		case q.wake <- struct{}{}:
		default: // a wake is already pending
		}
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
	for {
		q.mu.Lock()
		n, closed := q.n, q.closed
		q.mu.Unlock()

		switch {
		case closed && n == 0:
			return
		case closed || n >= q.threshold:
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
