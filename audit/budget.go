package audit

import (
	"time"

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
	// Allow reports whether one more row from the client network (see
	// clientip.Network: an IPv4 address, or an IPv6 /64) may be kept, and
	// takes it from the budget when so.
	Allow(network string) bool
}

// BudgetOptions configure a MemoryBudget. A rate of zero keeps no rows.
type BudgetOptions struct {
	// PerHour is how many rows the whole server keeps per hour; a quiet
	// hour's worth may come at once.
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
func (b *MemoryBudget) Allow(network string) bool {
	if b.global == nil || b.perNetwork == nil {
		return false
	}
	if ok, _ := b.perNetwork.Allow(network); !ok {
		return false
	}
	ok, _ := b.global.Allow(globalKey)
	return ok
}
