package tools

import (
	"context"
	"sync/atomic"
)

// Outage carries "the database is unavailable" (store.ErrUnavailable) from
// a tool call, deep inside mcp-go, out to the HTTP layer, which then
// answers 503 with Retry-After rather than a JSON-RPC error inside a 200:
// a client or load balancer retries a 503 later, while an error in a 200
// reads as this call having failed for good. The HTTP layer places one in
// the request context before mcp-go runs the call, and reads it after.
type Outage struct{ hit atomic.Bool }

type outageKey struct{}

// WithOutage returns a context carrying a new Outage, and that Outage.
func WithOutage(ctx context.Context) (context.Context, *Outage) {
	o := &Outage{}
	return context.WithValue(ctx, outageKey{}, o), o
}

// Happened reports whether a call in the request found the database
// unavailable.
func (o *Outage) Happened() bool { return o.hit.Load() }

// noteOutage marks the context's Outage, when it has one.
func noteOutage(ctx context.Context) {
	if o, _ := ctx.Value(outageKey{}).(*Outage); o != nil {
		o.hit.Store(true)
	}
}
