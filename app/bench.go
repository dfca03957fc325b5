package app

// `kanban-mcp bench` (and the internal `bench-baseline`, the baselines'
// servers it starts): the flags live here, the harness in
// internal/loadtest (see Bench there for what it measures and how).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/loadtest"
	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
)

// benchCommand runs `bench` or, for `bench-baseline`, one baseline server.
func benchCommand(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if cmd == "bench-baseline" {
		return loadtest.ServeBaseline(ctx, args, stderr)
	}
	opts, err := parseBenchFlags(args, stderr)
	if err != nil {
		return err
	}
	return loadtest.Bench(ctx, opts, getenv, stdout, stderr)
}

func parseBenchFlags(args []string, stderr io.Writer) (loadtest.BenchOptions, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o loadtest.BenchOptions
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long each scenario is measured")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "how long each scenario runs, uncounted, before it is measured")
	fs.IntVar(&o.Concurrency, "concurrency", 32, "concurrent keep-alive connections, each sending its next request when the last is answered")
	fs.StringVar(&o.Out, "out", "bench-results.json", "file the results are written to as JSON")
	list := fs.String("scenarios", strings.Join(loadtest.ServerScenarios(), ","),
		"comma-separated server scenarios to run; the baselines ("+strings.Join(loadtest.BaselineScenarios(), ", ")+") always run, since every ratio needs them")
	fs.StringVar(&o.Database, "database", "",
		"a PostgreSQL URL (postgres://user@host:5432/db?sslmode=…): also measure the server on PostgreSQL, alone ("+loadtest.PrefixPostgres+"…) and as two replicas ("+
			loadtest.PrefixReplicas+strings.Join(loadtest.ReplicaScenarios(), ", "+loadtest.PrefixReplicas)+"), against the same scenarios on SQLite. "+
			"bench never writes to the URL's database: it creates one of its own, "+loadtest.BenchDatabasePrefix+"<random>, with CREATE DATABASE (the role needs CREATEDB) "+
			"and drops it at the end. Only host and database are ever printed; a password is better kept in PGPASSWORD or ~/.pgpass, since the process list shows arguments")
	fs.StringVar(&o.CPUProfiles, "cpuprofile", "",
		"a folder to write CPU profiles to: one per scenario and server process, of the measured time (<scenario>.<process>.pprof; read them with go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q; bench takes only flags (-h lists them)", fs.Args())
	}
	switch {
	case o.Duration <= 0:
		return o, fmt.Errorf("-duration %s must be positive, e.g. 10s", o.Duration)
	case o.Warmup < 0:
		return o, fmt.Errorf("-warmup %s must not be negative", o.Warmup)
	case o.Concurrency < 1 || o.Concurrency > 10_000:
		return o, fmt.Errorf("-concurrency %d must be between 1 and 10000", o.Concurrency)
	case o.Out == "":
		return o, errors.New("-out must name a file")
	}
	// Never repeat the URL in an error: it may hold a password.
	if o.Database != "" {
		if !pgdb.IsURL(o.Database) {
			return o, errors.New("-database takes a postgres:// or postgresql:// URL; the SQLite server always runs, on a temporary file of its own")
		}
		if err := pgdb.CheckURL(o.Database); err != nil {
			return o, fmt.Errorf("-database %w", err)
		}
	}
	for name := range strings.SplitSeq(*list, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "", slices.Contains(loadtest.BaselineScenarios(), name), slices.Contains(o.Scenarios, name):
			// The baselines run anyway; a repeat adds nothing.
		case slices.Contains(loadtest.ServerScenarios(), name):
			o.Scenarios = append(o.Scenarios, name)
		default:
			return o, fmt.Errorf("-scenarios: unknown scenario %q; choose from %s", name, strings.Join(loadtest.ServerScenarios(), ", "))
		}
	}
	return o, nil
}
