// Package ratelimit holds the two abuse limiters that the built-in
// authorization server uses, both keyed by an arbitrary string:
//
//   - Window, a token bucket: at most Rate events per Per, with bursts of up
//     to Burst. It caps things that are fine in moderation (dynamic client
//     registrations per IP, successful token requests per client and IP).
//   - Backoff, a growing delay after failures: a few failures are free, then
//     each further failure doubles the wait before the next attempt, up to a
//     cap. It slows down guessing (passwords, codes, client secrets) without
//     ever locking anybody out. Its Reserve also bounds how many attempts
//     per key may be in flight at once, so that parallel requests cannot
//     all be tried before the first of their failures is counted.
//
// Window and Backoff keep their state in this process's memory. Callers
// that may run as several replicas use them through a Backend instead
// (backend.go): Memory gives Window and Backoff, and a backend on a
// database that the replicas share (package pglimits) gives limiters with
// the same rules (rules.go) and the same answers, checked by one contract
// suite (package limittest). Allowance lets a caller that must never wait
// draw on such a shared limit.
//
// # Choosing keys
//
// A limit can be turned against innocent people when many of them share its
// key. Every ChatGPT user reaches the server with the same CIMD client_id and
// from OpenAI's addresses, and offices share one NAT address; a limit keyed
// on the client alone or on the address alone would let one attacker exhaust
// it for everybody behind it. Callers should therefore key on combinations
// (Key(clientID, ip), Key("user", name) and Key("user-ip", name, ip), a
// grant id), check each applicable limiter, and refuse when any of them
// refuses. A key that mixes attacker-chosen parts (a client_id, a user name)
// should also be guarded by a per-IP limit, so that one address cannot mint
// fresh keys without bound (see "Bounded memory").
//
// # Answer 429, never sleep
//
// A refusal comes with the time until the next attempt can succeed. Answer
// 429 Too Many Requests with a Retry-After header (RetryAfterSeconds) and
// return at once. Sleeping in the handler instead would hold a goroutine, a
// connection and its memory per waiting attempt, which is exactly the
// resource an attacker flooding the endpoint wants to exhaust.
//
// # Bounded memory
//
// Each limiter tracks at most MaxKeys keys. When a new key arrives at a full
// limiter, the least recently used key is forgotten. Forgetting a key can
// only make the limiter more lenient for that key: a key the limiter does
// not know is treated as brand new (a full bucket, no failures), so eviction
// never refuses or delays anybody. The price is that an attacker who can
// create MaxKeys fresh keys faster than a victim key is used can reset that
// key's state; size MaxKeys well above the number of keys active within the
// limiter's memory (Per, Forget), and keep a per-IP limit in front of keys
// built from attacker-chosen strings. Sweep (or RunSweeper) drops keys whose
// state has returned to "brand new", so that idle keys do not sit in memory
// until evicted.
//
// The standard library is enough for this, and golang.org/x/time/rate would
// still need the keyed, bounded, clock-injectable map around it; so the
// package has no dependencies.
package ratelimit

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMaxKeys is the number of keys a limiter tracks when its options
// leave MaxKeys zero. Ten thousand keys take on the order of a couple of
// megabytes.
const DefaultMaxKeys = 10_000

// WindowOptions configures a Window.
type WindowOptions struct {
	// Rate events are allowed per Per on average, per key. Both must be
	// positive.
	Rate int
	Per  time.Duration
	// Burst is how many events a key that has been quiet may make at once.
	// Zero means Rate.
	Burst int
	// MaxKeys bounds memory; zero means DefaultMaxKeys.
	MaxKeys int
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
}

// Window is a per-key token bucket: each key holds up to Burst tokens, gets
// one back every Per/Rate, and each allowed event takes one.
//
// It is implemented as GCRA (the "generic cell rate algorithm"): the only
// state per key is the time at which its bucket will be full again, so it
// needs no floating point and no background refill.
//
// Refused events take nothing, so a client that keeps hammering does not
// push its own retry time further out: a refusal never asks to wait more
// than one refill interval.
//
// A Window is safe for concurrent use. A nil *Window allows everything, so
// that a disabled limit needs no branch at the call site.
type Window struct {
	now  func() time.Time
	rule WindowRule

	mu   sync.Mutex
	keys *lru[time.Time] // key → when its bucket is full again (GCRA's TAT)
}

// NewWindow returns a Window. It panics when the options are invalid (a
// non-positive Rate or Per, a negative Burst or MaxKeys), because those
// are programming errors, like a negative duration for time.NewTicker.
func NewWindow(o WindowOptions) *Window {
	return &Window{
		now:  clockOrDefault(o.Now),
		rule: o.Rule(),
		keys: newLRU[time.Time](o.MaxKeys),
	}
}

// Allow takes one token from key's bucket. When the bucket is empty it
// takes nothing and reports false with retryAfter, the time until one token
// will be there (for the Retry-After header, see RetryAfterSeconds).
func (w *Window) Allow(key string) (ok bool, retryAfter time.Duration) {
	return w.AllowN(key, 1)
}

// AllowN takes n tokens (at least one) from key's bucket, or none: when
// fewer than n are there it reports false with retryAfter, the time until
// n will be. More than Burst tokens are never there at once.
func (w *Window) AllowN(key string, n int) (ok bool, retryAfter time.Duration) {
	if w == nil {
		return true, 0
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	tat, found := w.keys.get(key)
	if !found {
		// The zero time is long past: a new key has a full bucket.
		tat = w.keys.add(key, time.Time{})
	}
	next, ok, retryAfter := w.rule.Take(*tat, now, n)
	if ok {
		*tat = next
	}
	return ok, retryAfter
}

// Sweep forgets the keys whose buckets have refilled completely: they are
// indistinguishable from keys never seen.
func (w *Window) Sweep() {
	if w == nil {
		return
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.keys.removeIf(func(tat *time.Time) bool { return !tat.After(now) })
}

// Len reports how many keys the Window tracks now.
func (w *Window) Len() int {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.keys.len()
}

// RunSweeper calls Sweep every interval until ctx ends, then returns; run
// it in its own goroutine. The ticker uses real time, whatever the Now
// option says. every must be positive.
func (w *Window) RunSweeper(ctx context.Context, every time.Duration) {
	if w == nil {
		return
	}
	SweepEvery(ctx, every, w.Sweep)
}

// BackoffOptions configures a Backoff.
type BackoffOptions struct {
	// Free is how many failures a key may have before any delay (≥ 0).
	Free int
	// Base is the delay after failure Free+1; each further failure doubles
	// it. Must be positive.
	Base time.Duration
	// Max caps the delay; at least Base.
	Max time.Duration
	// Forget resets a key that has had no failure for this long. At least
	// Max, so that every delay can run its full course before the key's
	// history is dropped.
	Forget time.Duration
	// MaxKeys bounds memory; zero means DefaultMaxKeys.
	MaxKeys int
	// MaxInFlight is how many attempts Reserve lets run at once per key;
	// zero means one. (Check and Fail ignore it.)
	MaxInFlight int
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
}

// Backoff slows down repeated failures for a key without ever locking it.
//
// After Free failures, the next attempt must wait Base after the last
// failure, then 2×Base, 4×Base and so on, never more than Max. The wait is
// always measured from the last failure and capped, so it cannot be made to
// grow without bound: whoever holds the right password (or code, or secret)
// can always get in after at most Max, however many failures an attacker
// has piled up on the key. That is the difference from a lockout, which an
// attacker could trigger on purpose to keep a person out of their account.
// An attacker can still fail once per Max to keep a shared key slow; that is
// why the per-user-name limit deserves a smaller Max than a per-(user, IP)
// one, and why a success clears the key.
//
// Where an attempt is costly to try and its failure is known only at the
// end (a password hash), reserve it, for every key that applies:
//
//	r, wait := b.Reserve(key)
//	if wait > 0 { answer 429 with Retry-After: RetryAfterSeconds(wait) }
//	… try …
//	if failed { r.Fail() } else { r.Succeed() }   // or r.Cancel(): nothing learned
//
// Reserve checks the delay and marks the attempt in flight in one step, and
// refuses (with a wait of at least Base) while MaxInFlight attempts of the
// key are in flight. A burst of parallel attempts therefore gets no further
// than a sequence would: at most Free+MaxInFlight attempts are tried before
// the first delay, and none while one is due.
//
// Check and Fail are the same without a reservation, for attempts that are
// cheap and cannot be raced in a useful way:
//
//	if wait := b.Check(key); wait > 0 { answer 429 with Retry-After: RetryAfterSeconds(wait) }
//	… try …
//	if failed { b.Fail(key) } else { b.Succeed(key) }
//
// Attempts refused by Check must not be tried and so must not call Fail.
// Check reserves nothing: attempts that pass Check at the same moment all
// proceed, and each of their failures counts only afterwards.
//
// A Backoff is safe for concurrent use. A nil *Backoff never delays
// anything.
type Backoff struct {
	now  func() time.Time
	rule BackoffRule

	mu   sync.Mutex
	keys *lru[backoffState]
}

type backoffState struct {
	failures int       // since the last success or reset; stops growing once the delay is at max
	last     time.Time // time of the last failure
	inFlight int       // reserved attempts not yet released
}

// idle reports whether st is indistinguishable from a key never seen.
func (st *backoffState) idle() bool { return st.failures == 0 && st.inFlight == 0 }

// NewBackoff returns a Backoff. It panics when the options are invalid (a
// negative Free, MaxKeys or MaxInFlight, a non-positive Base, Max below Base, Forget
// below Max), because those are programming errors.
func NewBackoff(o BackoffOptions) *Backoff {
	rule := o.Rule()
	keys := newLRU[backoffState](o.MaxKeys)
	// A key with an attempt in flight is never evicted: forgetting it
	// would let another attempt start beside it. Memory then exceeds
	// MaxKeys by at most the number of attempts in flight.
	keys.pinned = func(st *backoffState) bool { return st.inFlight > 0 }
	return &Backoff{
		now:  clockOrDefault(o.Now),
		rule: rule,
		keys: keys,
	}
}

// stale reports whether st is old enough to be forgotten.
func (b *Backoff) stale(st *backoffState, now time.Time) bool {
	return b.rule.Stale(st.last, now)
}

// Check reports how long key must wait before its next attempt: 0 when it
// may try now. The answer is never more than Max.
func (b *Backoff) Check(key string) (wait time.Duration) {
	if b == nil {
		return 0
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	st, found := b.keys.get(key)
	if !found {
		return 0
	}
	if b.stale(st, now) {
		b.forgetFailuresLocked(key, st)
		return 0
	}
	return b.rule.Wait(st.failures, st.last, now)
}

// forgetFailuresLocked clears key's failures, and drops the key unless an
// attempt of it is in flight. b.mu must be held.
func (b *Backoff) forgetFailuresLocked(key string, st *backoffState) {
	st.failures, st.last = 0, time.Time{}
	if st.idle() {
		b.keys.remove(key)
	}
}

// Fail records a failed attempt for key, made now.
func (b *Backoff) Fail(key string) {
	if b == nil {
		return
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	st, found := b.keys.get(key)
	if !found {
		st = b.keys.add(key, backoffState{})
	}
	b.failLocked(st, now)
}

// failLocked records a failure made now in st. b.mu must be held.
func (b *Backoff) failLocked(st *backoffState, now time.Time) {
	if b.stale(st, now) {
		st.failures = 0
	}
	st.failures = b.rule.Failed(st.failures)
	st.last = now
}

// Succeed forgets key's failures: the attempt proved the caller knows the
// secret, so there is nothing left to slow down.
func (b *Backoff) Succeed(key string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if st, found := b.keys.get(key); found {
		b.forgetFailuresLocked(key, st)
	}
}

// Reserve is Check and the start of an attempt in one step: when key may
// try now and fewer than MaxInFlight of its attempts are in flight, it
// returns a Reservation, whose Fail, Succeed or Cancel ends the attempt.
// Otherwise it returns a nil Reservation and how long to wait: the delay
// Check would report, or, when attempts are in flight, the delay that
// their failure would bring and at least Base (they are usually over well
// before that).
//
// Exactly one of the Reservation's methods must be called, whatever
// happens to the attempt (defer Cancel: after Fail or Succeed it does
// nothing); a reservation never released would hold its slot for good.
func (b *Backoff) Reserve(key string) (r *Reservation, wait time.Duration) {
	if b == nil {
		return &Reservation{}, 0
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	st, found := b.keys.get(key)
	if !found {
		st = b.keys.add(key, backoffState{})
	}
	if b.stale(st, now) {
		st.failures, st.last = 0, time.Time{}
	}
	// Every refusal below leaves st with failures or attempts in flight,
	// so no idle key stays behind.
	if wait := b.rule.Wait(st.failures, st.last, now); wait > 0 {
		return nil, wait
	}
	if st.inFlight >= b.rule.MaxInFlight {
		return nil, b.rule.Busy(st.failures, st.inFlight)
	}
	st.inFlight++
	return &Reservation{b: b, key: key}, 0
}

// Reservation is an attempt in flight, made by Backoff.Reserve. A nil
// *Reservation, and one of a nil *Backoff, does nothing.
type Reservation struct {
	b     *Backoff
	key   string
	ended bool // guarded by b.mu
}

// Fail ends the attempt as a failure: it counts as Backoff.Fail does.
func (r *Reservation) Fail() { r.end(outcomeFailed) }

// Succeed ends the attempt as a success: the key's failures are
// forgotten, as Backoff.Succeed does.
func (r *Reservation) Succeed() { r.end(outcomeSucceeded) }

// Cancel ends the attempt without counting it either way: it was not
// tried, or failed for reasons that are not the caller's (a database
// error). After Fail or Succeed it does nothing, so it may be deferred.
func (r *Reservation) Cancel() { r.end(outcomeCancelled) }

type outcome int

const (
	outcomeFailed outcome = iota
	outcomeSucceeded
	outcomeCancelled
)

func (r *Reservation) end(o outcome) {
	if r == nil || r.b == nil {
		return
	}
	b := r.b
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.ended {
		return
	}
	r.ended = true
	// The key is there: a key with an attempt in flight is neither
	// evicted nor swept.
	st, found := b.keys.get(r.key)
	if !found {
		st = b.keys.add(r.key, backoffState{inFlight: 1})
	}
	st.inFlight--
	switch o {
	case outcomeFailed:
		b.failLocked(st, now)
	case outcomeSucceeded:
		st.failures, st.last = 0, time.Time{}
	}
	if st.idle() {
		b.keys.remove(r.key)
	}
}

// Sweep forgets keys with no failure for Forget.
func (b *Backoff) Sweep() {
	if b == nil {
		return
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keys.removeIf(func(st *backoffState) bool { return st.inFlight == 0 && b.stale(st, now) })
}

// Len reports how many keys the Backoff tracks now.
func (b *Backoff) Len() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.keys.len()
}

// RunSweeper calls Sweep every interval until ctx ends, then returns; run
// it in its own goroutine. The ticker uses real time, whatever the Now
// option says. every must be positive.
func (b *Backoff) RunSweeper(ctx context.Context, every time.Duration) {
	if b == nil {
		return
	}
	SweepEvery(ctx, every, b.Sweep)
}

// SweepEvery calls sweep every interval until ctx ends, then returns: the
// loop of every limiter's RunSweeper, whether its state is in memory or
// in a database (pglimits). The ticker uses real time. every must be
// positive.
func SweepEvery(ctx context.Context, every time.Duration, sweep func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sweep()
		}
	}
}

// Key joins parts into one limiter key that no other list of parts
// produces: each part is prefixed with its length. Plain joining with a
// separator would be ambiguous, because client IDs (CIMD URLs), user
// names and IPv6 addresses can contain any separator, so ("a:b", "c") and
// ("a", "b:c") would share a bucket.
//
// A key longer than maxKeyLen is replaced by its SHA-256: its parts are
// often the client's (a client_id can be as long as a request body), and
// a limiter holds thousands of keys, so a long key would let one client
// pin megabytes of memory per request.
func Key(parts ...string) string {
	var sb strings.Builder
	for _, p := range parts {
		sb.WriteString(strconv.Itoa(len(p)))
		sb.WriteByte(':')
		sb.WriteString(p)
	}
	if sb.Len() <= maxKeyLen {
		return sb.String()
	}
	sum := sha256.Sum256([]byte(sb.String()))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// maxKeyLen is the longest key kept as it is: room for a user name or a
// client_id URL of ordinary length and an IPv6 network.
const maxKeyLen = 256

// RetryAfterSeconds formats d for the Retry-After header: whole seconds,
// rounded up, so that a client that waits as told is not refused again for
// a fraction of a second. A non-positive d gives "0".
func RetryAfterSeconds(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	s := d / time.Second
	if d%time.Second != 0 {
		s++
	}
	return strconv.FormatInt(int64(s), 10)
}

func clockOrDefault(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// lru is a map of at most max keys that forgets the least recently used
// key to make room. It is not safe for concurrent use; the limiters lock
// around it.
type lru[V any] struct {
	max   int
	order *list.List               // of *lruEntry[V], most recently used first
	index map[string]*list.Element // key → its element in order
	// pinned, when set, names values that must not be evicted; add then
	// evicts the least recently used value that is not pinned, and none
	// when all are.
	pinned func(*V) bool
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](maxKeys int) *lru[V] {
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	return &lru[V]{max: maxKeys, order: list.New(), index: make(map[string]*list.Element)}
}

// get returns a pointer to key's value, valid until the caller unlocks,
// and marks key as just used.
func (l *lru[V]) get(key string) (*V, bool) {
	e, ok := l.index[key]
	if !ok {
		return nil, false
	}
	l.order.MoveToFront(e)
	return &e.Value.(*lruEntry[V]).val, true
}

// add inserts key, which must be absent, evicting the least recently used
// key that is not pinned when full, and returns a pointer to the stored
// value.
func (l *lru[V]) add(key string, val V) *V {
	if l.order.Len() >= l.max {
		for e := l.order.Back(); e != nil; e = e.Prev() {
			if ent := e.Value.(*lruEntry[V]); l.pinned == nil || !l.pinned(&ent.val) {
				delete(l.index, ent.key)
				l.order.Remove(e)
				break
			}
		}
	}
	ent := &lruEntry[V]{key: key, val: val}
	l.index[key] = l.order.PushFront(ent)
	return &ent.val
}

func (l *lru[V]) remove(key string) {
	if e, ok := l.index[key]; ok {
		delete(l.index, key)
		l.order.Remove(e)
	}
}

func (l *lru[V]) removeIf(drop func(*V) bool) {
	for e := l.order.Front(); e != nil; {
		next := e.Next()
		ent := e.Value.(*lruEntry[V])
		if drop(&ent.val) {
			delete(l.index, ent.key)
			l.order.Remove(e)
		}
		e = next
	}
}

func (l *lru[V]) len() int { return l.order.Len() }
