package app

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/metrics"
	"github.com/kanban-mcp/kanban-mcp/metrics/metricstest"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// poolSample is one value of a pool: the metric, its label pairs (the
// pool's first), and the value.
type poolSample struct {
	name   string
	labels []string
	want   float64
}

// wantPools fails t for each sample of want that s lacks or holds with
// another value, and for each pool of s that want does not name.
func wantPools(t *testing.T, s metricstest.Samples, want []poolSample) {
	t.Helper()
	named := map[string]bool{}
	for _, w := range want {
		if !s.Has(w.name, w.labels...) {
			t.Errorf("%s %v: absent, want %v", w.name, w.labels, w.want)
		} else if got := s.Sum(w.name, w.labels...); got != w.want {
			t.Errorf("%s %v = %v, want %v", w.name, w.labels, got, w.want)
		}
		named[w.labels[1]] = true
	}
	for _, sample := range s["mcp_db_pool_max_connections"] {
		if !named[sample.Labels["pool"]] {
			t.Errorf("unexpected pool %q", sample.Labels["pool"])
		}
	}
}

// TestRegisterMetricsSQLite: both pools of a SQLite file are read at each
// scrape (a wait for the one writer connection shows), and the database's
// retry policy counts in the registry.
func TestRegisterMetricsSQLite(t *testing.T) {
	ctx := t.Context()
	db, err := openDatabase(ctx, mustConfig(t, envOf(filepath.Join(t.TempDir(), "kanban.db"))), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.close()
	reg := metrics.New()
	db.registerMetrics(reg.DB)
	if _, err := db.openStore(ctx, store.Quotas{}); err != nil {
		t.Fatal(err)
	}

	// Hold the writer connection, and have another caller wait for it.
	held, err := db.sqlite.Writer.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	readers := float64(max(4, runtime.GOMAXPROCS(0)*2))
	writer := func(labels ...string) []string { return append([]string{"pool", "sqlite_writer"}, labels...) }
	reader := func(labels ...string) []string { return append([]string{"pool", "sqlite_reader"}, labels...) }
	wantPools(t, metricstest.Read(t, reg), []poolSample{
		{"mcp_db_pool_max_connections", writer(), 1},
		{"mcp_db_pool_connections", writer("state", "in_use"), 1},
		{"mcp_db_pool_connections", writer("state", "idle"), 0},
		{"mcp_db_pool_waits_total", writer(), 0},
		{"mcp_db_pool_max_connections", reader(), readers},
		{"mcp_db_pool_connections", reader("state", "in_use"), 0},
	})
	waited := make(chan error, 1)
	go func() {
		c, err := db.sqlite.Writer.Conn(ctx)
		if err == nil {
			err = c.Close()
		}
		waited <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); db.sqlite.Writer.Stats().WaitCount == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second caller did not wait for the writer within 5s")
		}
	}
	time.Sleep(10 * time.Millisecond) // a wait that lasts
	if err := held.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	s := metricstest.Read(t, reg)
	wantPools(t, s, []poolSample{
		{"mcp_db_pool_max_connections", writer(), 1},
		{"mcp_db_pool_connections", writer("state", "in_use"), 0},
		{"mcp_db_pool_connections", writer("state", "idle"), 1},
		{"mcp_db_pool_waits_total", writer(), 1},
		{"mcp_db_pool_max_connections", reader(), readers},
	})
	if got := s.Sum("mcp_db_pool_wait_seconds_total", writer()...); got < 0.01 {
		t.Errorf("mcp_db_pool_wait_seconds_total of the writer = %v after a wait of 10ms or more", got)
	}

	db.retry.OnRetry(pgdb.ReasonDeadlock)
	if got := metricstest.Read(t, reg).Sum("mcp_db_retries_total", "reason", pgdb.ReasonDeadlock); got != 1 {
		t.Errorf("retries counted for a deadlock: %v, want 1", got)
	}
}

// TestRegisterMetricsPostgres: the one pgx pool, which the store, the
// limits and the authorization server share, is the one pool read; the
// store's retries count in the registry.
func TestRegisterMetricsPostgres(t *testing.T) {
	ctx := t.Context()
	db, err := openDatabase(ctx, mustConfig(t, envOf(pgtest.Shared(t).NewDatabase(t)+"&pool_max_conns=3")), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.close()
	reg := metrics.New()
	db.registerMetrics(reg.DB)
	if _, err := db.openStore(ctx, store.Quotas{}); err != nil {
		t.Fatal(err)
	}
	held, err := db.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := metricstest.Read(t, reg)
	held.Release()
	wantPools(t, s, []poolSample{
		{"mcp_db_pool_max_connections", []string{"pool", "postgres"}, 3},
		{"mcp_db_pool_connections", []string{"pool", "postgres", "state", "in_use"}, 1},
	})
	// The policy that openStore handed the store counts here (that the
	// store runs under it is store/postgres's TestRetryPolicy).
	db.retry.OnRetry(pgdb.ReasonSerialization)
	if got := metricstest.Read(t, reg).Sum("mcp_db_retries_total", "reason", pgdb.ReasonSerialization); got != 1 {
		t.Errorf("retries counted for a serialization failure: %v, want 1", got)
	}

	defer func() {
		if recover() == nil {
			t.Error("registerMetrics after openStore did not panic")
		}
	}()
	db.registerMetrics(metrics.New().DB)
}
