package ratelimit

import (
	"context"
	"time"
)

// A Backend makes limiters whose state lives in one place: Memory keeps it
// in this process, which is all that one process needs; a backend on a
// database (package pglimits) keeps it where every replica of the server
// finds it, so that a client spreading its requests over replicas meets
// the same limit as against one. Dividing each limit by the number of
// replicas instead is no answer: nobody knows that number under
// autoscaling.
//
// Limiters answer through the interfaces below, which take a context and
// may fail: a limiter whose state is in a database cannot decide while the
// database cannot be reached. What a caller does then is its own choice,
// and each caller documents it; the guessing limits (sign-in, client
// secrets, codes) refuse, so that an outage never means unlimited guesses.
type Backend interface {
	// Window returns the window limiter called name, with options o. Every
	// limiter of a backend has a name of its own; on a shared backend,
	// limiters of one name share their keys' state, so every replica must
	// give one limit one name and the same options. It panics on invalid
	// options, as NewWindow does.
	Window(name string, o WindowOptions) WindowLimiter
	// Backoff is Window's counterpart for backoff limiters.
	Backoff(name string, o BackoffOptions) BackoffLimiter
}

// WindowLimiter is a Window wherever its buckets are kept. An error means
// that the limiter could not decide, and took nothing.
type WindowLimiter interface {
	// AllowN is Window.AllowN: n tokens (at least one) from key's bucket,
	// or none and the time until n will be there.
	AllowN(ctx context.Context, key string, n int) (ok bool, retryAfter time.Duration, err error)
}

// BackoffLimiter is a Backoff wherever its failures are kept. The methods
// are those of Backoff, with the same meaning.
//
// Fail, Succeed and the ends of an Attempt record what already happened:
// they run to completion even when ctx has been cancelled (the client went
// away after its guess was tried, which must still count), bounded by the
// implementation's own timeout.
type BackoffLimiter interface {
	Check(ctx context.Context, key string) (wait time.Duration, err error)
	Fail(ctx context.Context, key string) error
	Succeed(ctx context.Context, key string) error
	// Reserve returns a nil Attempt and the wait when key may not try now;
	// on error it reserved nothing.
	Reserve(ctx context.Context, key string) (a Attempt, wait time.Duration, err error)
}

// Attempt is an attempt in flight, reserved by BackoffLimiter.Reserve.
// Exactly one of its methods must be called; after the first, the others
// do nothing, so Cancel may be deferred. An attempt that never ends holds
// its slot until the backend lets it go (Memory: never; pglimits: after a
// lease).
type Attempt interface {
	Fail(ctx context.Context) error
	Succeed(ctx context.Context) error
	Cancel(ctx context.Context) error
}

// Memory is the Backend that keeps limiter state in this process's memory,
// as Window and Backoff do: limits hold per process, which is exact for
// one process (the server on SQLite). Its limiters never fail. Names are
// not looked at: every call makes a limiter of its own.
type Memory struct{}

var _ Backend = Memory{}

// Window returns NewWindow(o) as a WindowLimiter.
func (Memory) Window(_ string, o WindowOptions) WindowLimiter { return memoryWindow{NewWindow(o)} }

// Backoff returns NewBackoff(o) as a BackoffLimiter.
func (Memory) Backoff(_ string, o BackoffOptions) BackoffLimiter { return memoryBackoff{NewBackoff(o)} }

type memoryWindow struct{ w *Window }

func (m memoryWindow) AllowN(_ context.Context, key string, n int) (bool, time.Duration, error) {
	ok, retryAfter := m.w.AllowN(key, n)
	return ok, retryAfter, nil
}

type memoryBackoff struct{ b *Backoff }

func (m memoryBackoff) Check(_ context.Context, key string) (time.Duration, error) {
	return m.b.Check(key), nil
}

func (m memoryBackoff) Fail(_ context.Context, key string) error {
	m.b.Fail(key)
	return nil
}

func (m memoryBackoff) Succeed(_ context.Context, key string) error {
	m.b.Succeed(key)
	return nil
}

func (m memoryBackoff) Reserve(_ context.Context, key string) (Attempt, time.Duration, error) {
	r, wait := m.b.Reserve(key)
	if r == nil {
		// A nil *Reservation in the interface would not be a nil Attempt.
		return nil, wait, nil
	}
	return memoryAttempt{r}, 0, nil
}

type memoryAttempt struct{ r *Reservation }

func (m memoryAttempt) Fail(context.Context) error    { m.r.Fail(); return nil }
func (m memoryAttempt) Succeed(context.Context) error { m.r.Succeed(); return nil }
func (m memoryAttempt) Cancel(context.Context) error  { m.r.Cancel(); return nil }
