package audit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit/limittest"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit/pglimits"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit/pglimits/pglimitstest"
)

// The SharedBudget's tests run on a real PostgreSQL; pgtest.Main stops its
// cluster.
func TestMain(m *testing.M) { pgtest.Main(m) }

// replicaLimits opens a limits backend on url with a pool of its own, as
// each replica would.
func replicaLimits(t *testing.T, url string) ratelimit.Backend {
	t.Helper()
	b, _ := pglimitstest.Replica(t, url, pglimits.Options{})
	return b
}

// TestSharedBudgetAcrossReplicas: two replicas' budgets on one database
// keep, together, no more rows than the one global budget, whatever
// networks the rows come from and however the replicas' leases and rows
// interleave; at most a lease short of it, the slack of the last top-up.
// The refill over the hour is shared as well.
func TestSharedBudgetAcrossReplicas(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	var clock limittest.Clock
	const perHour, lease = 60, 8
	o := BudgetOptions{PerHour: perHour, PerNetworkPerHour: 1000, Lease: lease, Now: clock.Now}
	replicas := []*SharedBudget{NewSharedBudget(o, replicaLimits(t, url)), NewSharedBudget(o, replicaLimits(t, url))}
	rng := rand.New(rand.NewPCG(7, 8))

	// keep sends rows of one unit from random networks to random
	// replicas, each of which takes a lease now and then, as its Run
	// would, until none of them has kept a row for a long while.
	keep := func() int {
		kept := 0
		for quiet, tries := 0, 0; quiet < 200 && tries < 100*perHour; tries++ {
			r := replicas[rng.IntN(len(replicas))]
			if rng.IntN(4) == 0 {
				if _, err := r.units.Refill(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if r.Allow(fmt.Sprint("192.0.2.", rng.IntN(200)), 1) {
				kept, quiet = kept+1, 0
			} else {
				quiet++
			}
		}
		return kept
	}
	kept := keep()
	if kept > perHour || kept <= perHour-lease {
		t.Errorf("two replicas kept %d rows of a global budget of %d; want at most the budget, and less than a lease (%d) short of it", kept, perHour, lease)
	}
	clock.Advance(30 * time.Minute)
	// What the first round left in the bucket is still there.
	if kept += keep(); kept > perHour+perHour/2 || kept <= perHour+perHour/2-lease {
		t.Errorf("half an hour later, two replicas had kept %d rows in all; want at most the %d the budget gave, less than a lease short of it", kept, perHour+perHour/2)
	}
}

// TestSharedBudgetRun: Run takes a lease at once and tops the allowance up
// as rows are kept; until it has, nothing is kept.
func TestSharedBudgetRun(t *testing.T) {
	b := NewSharedBudget(BudgetOptions{PerHour: 100, PerNetworkPerHour: 100, Lease: 4}, replicaLimits(t, pgtest.Shared(t).NewDatabase(t)))
	if b.Allow("192.0.2.1", 1) {
		t.Fatal("a row was kept before Run took a lease")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	kept := 0
	eventually(t, "Run leases 12 rows' worth, 4 at a time", func() bool {
		if b.Allow("192.0.2.1", 1) {
			kept++
		}
		return kept == 12
	})
}

// TestSharedBudgetDown: with its database down, a replica keeps what it
// holds and then refuses rows, and taking a lease fails.
func TestSharedBudgetDown(t *testing.T) {
	cluster := pgtest.Start(t)
	b := NewSharedBudget(BudgetOptions{PerHour: 100, PerNetworkPerHour: 100, Lease: 4}, replicaLimits(t, cluster.NewDatabase(t)))
	if _, err := b.units.Refill(t.Context()); err != nil {
		t.Fatal(err)
	}
	cluster.Stop(t)
	kept, failed := 0, 0
	for range 10 {
		if _, err := b.units.Refill(t.Context()); err != nil {
			failed++
		}
		if b.Allow("192.0.2.1", 1) {
			kept++
		}
	}
	// Refill asks for a lease once less than half of one (2) is held.
	if kept != 4 || failed != 7 {
		t.Errorf("with the database down, %d rows kept and %d leases failed; want the 4 units held, and 7 failed", kept, failed)
	}
}

// TestSharedBudgetZero: a rate of zero keeps nothing, as in memory.
func TestSharedBudgetZero(t *testing.T) {
	for _, o := range []BudgetOptions{{PerHour: 0, PerNetworkPerHour: 5}, {PerHour: 5, PerNetworkPerHour: 0}} {
		b := NewSharedBudget(o, ratelimit.Memory{})
		b.Run(t.Context()) // returns at once: nothing to lease
		if b.Allow("n", 1) {
			t.Errorf("%+v kept a row", o)
		}
	}
}
