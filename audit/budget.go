package audit

import (
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

// BudgetOptions configure a MemoryBudget. A rate of zero keeps no rows.
type BudgetOptions struct {
	// PerHour is how many row units the whole server keeps per hour; a
	// quiet hour's worth may come at once.
	PerHour int
	// PerNetworkPerHour is how many of them one client network may use.
	PerNetworkPerHour int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MemoryBudget is a Budget kept in this process's memory: a token bucket for
// the whole server and one per client network. It starts full at every
// start of the process.
type MemoryBudget struct {
	global, perNetwork *ratelimit.Window // nil when the rate is zero
}

// The global bucket's only key.
const globalKey = "*"

// NewMemoryBudget returns a MemoryBudget. Negative rates count as zero.
func NewMemoryBudget(o BudgetOptions) *MemoryBudget {
	window := func(perHour, maxKeys int) *ratelimit.Window {
		if perHour <= 0 {
			return nil
		}
		return ratelimit.NewWindow(ratelimit.WindowOptions{Rate: perHour, Per: time.Hour, MaxKeys: maxKeys, Now: o.Now})
	}
	return &MemoryBudget{
		global: window(o.PerHour, 1),
		// Networks beyond the window's key bound are forgotten (least
		// recently used first), which can only refill their buckets early;
		// the global bucket still holds.
		perNetwork: window(o.PerNetworkPerHour, ratelimit.DefaultMaxKeys),
	}
}

// Allow implements Budget. The network's bucket is asked first, so that
// rows one network may not keep never use up the global budget.
func (b *MemoryBudget) Allow(network string, units int) bool {
	if b.global == nil || b.perNetwork == nil {
		return false
	}
	if ok, _ := b.perNetwork.AllowN(network, units); !ok {
		return false
	}
	ok, _ := b.global.AllowN(globalKey, units)
	return ok
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
