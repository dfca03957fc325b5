package audit

import (
	"context"
	"log/slog"
	"time"

	"github.com/kanban-mcp/kanban-mcp/store"

	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
)

// Budget bounds the activity rows of callers without a valid token
// (anonymous callers, and calls refused for their token). Such rows cost
// an attacker nothing, so without a bound they could fill the disk.
//
// The Queue asks the Budget before it keeps such a row; a row it refuses is
// counted in the queue's summary instead. Implementations must be safe for
// concurrent use and must not block: Allow runs on the request path.
type Budget interface {
	// Allow reports whether one more row of cost units (see RowUnits) from
	// the client network (see clientip.Network: an IPv4 address, or an IPv6
	// /64) may be kept, and takes them from the budget when so.
	Allow(network string, units int) bool
}

// BudgetOptions configure a MemoryBudget or a SharedBudget. A rate of zero
// keeps no rows.
type BudgetOptions struct {
	// PerHour is how many row units the whole server keeps per hour; a
	// quiet hour's worth may come at once.
	PerHour int
	// PerNetworkPerHour is how many of them one client network may use.
	PerNetworkPerHour int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Lease, for a SharedBudget, is how many units of PerHour one
	// process takes from the shared budget at a time: the most it holds
	// unspent. 0 means DefaultBudgetLease(PerHour); it is at most
	// PerHour.
	Lease int
	// Logger, for a SharedBudget, receives the failures of the shared
	// budget's database; nil discards them.
	Logger *slog.Logger
}

// MemoryBudget is a Budget kept in this process's memory: a token bucket for
// the whole server and one per client network. It starts full at every
// start of the process.
type MemoryBudget struct{ budget }

// budget is what both Budgets do: the network's bucket first, then the
// global one (global), so that rows one network may not keep never use up
// the global budget.
type budget struct {
	perNetwork *ratelimit.Window    // nil when a rate is zero
	global     func(units int) bool // takes units from the global budget
}

// Allow implements Budget.
func (b *budget) Allow(network string, units int) bool {
	if b.perNetwork == nil {
		return false
	}
	if ok, _ := b.perNetwork.AllowN(network, units); !ok {
		return false
	}
	return b.global(units)
}

// newBudget is a budget of o's per-network limit, and global when both
// rates are positive.
func newBudget(o BudgetOptions, global func(units int) bool) budget {
	if o.PerHour <= 0 || o.PerNetworkPerHour <= 0 {
		return budget{}
	}
	// Networks beyond the window's key bound are forgotten (least
	// recently used first), which can only refill their buckets early;
	// the global bucket still holds.
	perNetwork := ratelimit.NewWindow(ratelimit.WindowOptions{Rate: o.PerNetworkPerHour, Per: time.Hour, Now: o.Now})
	return budget{perNetwork: perNetwork, global: global}
}

// globalWindow is the options of the global bucket.
func globalWindow(o BudgetOptions) ratelimit.WindowOptions {
	return ratelimit.WindowOptions{Rate: o.PerHour, Per: time.Hour, MaxKeys: 1, Now: o.Now}
}

// The global bucket's only key.
const globalKey = "*"

// NewMemoryBudget returns a MemoryBudget. Negative rates count as zero.
func NewMemoryBudget(o BudgetOptions) *MemoryBudget {
	if o.PerHour <= 0 || o.PerNetworkPerHour <= 0 {
		return &MemoryBudget{}
	}
	global := ratelimit.NewWindow(globalWindow(o))
	return &MemoryBudget{newBudget(o, func(units int) bool {
		ok, _ := global.AllowN(globalKey, units)
		return ok
	})}
}

// SharedBudget is a Budget whose global bucket all the replicas of the
// server share, through a ratelimit.Backend on their database: the whole
// deployment keeps PerHour units an hour, however many replicas it runs.
//
// Allow runs on the request path and must not wait for the database, so
// each replica spends units it has leased beforehand (ratelimit.Allowance):
// Run takes Lease units from the shared bucket in the background whenever
// less than half a lease is left. The trade-off:
//
//   - Every unit is taken from the shared bucket before a row is kept, so
//     all the replicas together never keep more than the bucket gives: a
//     quiet hour's worth at once, PerHour an hour after.
//   - Each replica holds up to Lease units unspent, which the others cannot
//     use meanwhile, and which are lost when it stops. So over a span of
//     time, the rows kept can exceed what the bucket gave during the span
//     by the units held at its start, at most Lease per replica; and up
//     to Lease per replica of the budget may go unused.
//   - While the database is down, and before the first lease arrives, a
//     replica keeps rows until its units are spent, then refuses them
//     (they are counted in the queue's summary): it fails closed.
//   - Each network's share (PerNetworkPerHour) stays in each replica's
//     memory: a network whose calls reach several replicas may keep up to
//     its share on each, but never more than the shared budget. Sharing
//     it too would take a lease per network, and a new network's first
//     rows would be refused while its lease was fetched.
type SharedBudget struct {
	budget
	units *ratelimit.Allowance // nil when a rate is zero
}

// DefaultBudgetLease is the default Lease of a SharedBudget of perHour
// units an hour: a twentieth of it, so that twenty replicas together hold
// at most an hour's worth, but at least 8 units, enough for the largest
// row a caller without a valid token makes (a client_id URL of 2 KB), and
// at most perHour.
func DefaultBudgetLease(perHour int) int { return min(perHour, max(8, perHour/20)) }

// NewSharedBudget returns a SharedBudget whose global bucket is the window
// "audit.anonymous-rows" of shared; it keeps nothing until Run has taken
// its first lease. Negative rates count as zero.
func NewSharedBudget(o BudgetOptions, shared ratelimit.Backend) *SharedBudget {
	if o.PerHour <= 0 || o.PerNetworkPerHour <= 0 {
		return &SharedBudget{}
	}
	lease := o.Lease
	if lease <= 0 {
		lease = DefaultBudgetLease(o.PerHour)
	}
	units := ratelimit.NewAllowance(ratelimit.AllowanceOptions{
		Source: shared.Window("audit.anonymous-rows", globalWindow(o)),
		Key:    globalKey,
		Lease:  min(lease, o.PerHour),
		Logger: o.Logger,
	})
	return &SharedBudget{budget: newBudget(o, units.Take), units: units}
}

// Run takes the budget's leases until ctx ends; run it in a goroutine of
// its own for as long as the Queue that asks the budget.
func (b *SharedBudget) Run(ctx context.Context) {
	if b.units != nil {
		b.units.Run(ctx)
	}
}

// RowUnitBytes is the size of one unit of the budget: a row of callers
// without a valid token costs one unit per RowUnitBytes of what it stores,
// or part of it, so the budget bounds bytes on disk, not only rows.
const RowUnitBytes = 512

// The most that a row of a caller without a valid token keeps: such a row
// says who asked what, not everything they were shown (an anonymous
// list_boards would otherwise store every public board's ID, every time).
const (
	AnonymousRowIDs     = 5
	AnonymousRowSummary = 120 // characters
)

// RowUnits is what a row costs in the budget: one unit per RowUnitBytes,
// or part of it, of the text it stores.
func RowUnits(a store.Activity) int {
	return 1 + storedBytes(a)/RowUnitBytes
}

// storedBytes is the text a row stores, roughly as the database keeps it
// (an ID list is a JSON array).
func storedBytes(a store.Activity) int {
	n := len(a.Tool) + len(a.Outcome) + len(a.BoardID) + len(a.Summary) + 2 +
		len(a.Actor.Issuer) + len(a.Actor.Subject) + len(a.Actor.ClientID) +
		len(a.BoardOwner.Issuer) + len(a.BoardOwner.Subject) + len(a.BoardOwner.ClientID)
	for _, id := range a.IDs {
		n += len(id) + 3
	}
	return n
}
