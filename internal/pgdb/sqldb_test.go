package pgdb

import (
	"testing"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
)

// TestListenedRevocations: a replica's revocation version moves at once
// for its own change and, through NOTIFY, for another replica's; it
// stays put while nothing happens (so a cache may answer); and while its
// Listener is down it moves at every call (so no cache answers).
func TestListenedRevocations(t *testing.T) {
	cluster := pgtest.Start(t)
	url := cluster.NewDatabase(t)
	replica := func() (*ListenedRevocations, *running) {
		pool, err := Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		l, err := NewListener(url, ListenerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewListenedRevocations(pool, l)
		if err != nil {
			t.Fatal(err)
		}
		run := runListener(t, l)
		run.waitUp(t)
		return r, run
	}
	a, _ := replica()
	b, runB := replica()
	version := func(r *ListenedRevocations) uint64 {
		t.Helper()
		v, err := r.RevocationVersion()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	va, vb := version(a), version(b)
	if version(a) != va || version(b) != vb {
		t.Fatal("versions moved while nothing happened")
	}
	if err := a.NoteRevocationChange(t.Context()); err != nil {
		t.Fatal(err)
	}
	if version(a) == va {
		t.Error("a's version did not move at once for its own change")
	}
	pgtest.WaitFor(t, "b to hear a's revocation", func() bool { return version(b) != vb })

	// b's Listener loses its connection: until it is back, every call
	// gives a new version. The cluster stays down while that is checked,
	// so the listener cannot come back between two looks.
	cluster.Stop(t)
	pgtest.WaitFor(t, "b's listener to notice the database is down", func() bool { _, up := runB.l.Generation(); return !up })
	if v1, v2 := version(b), version(b); v1 == v2 {
		t.Errorf("two calls while the listener is down gave the same version %d", v1)
	}
	cluster.Start(t)
	gen := runB.waitUp(t)
	vb = version(b)
	if g, up := runB.l.Generation(); up && g == gen && version(b) != vb {
		t.Errorf("the version moves although the listener is up again (generation %d)", gen)
	}
}
