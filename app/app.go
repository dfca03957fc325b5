// Package app is the kanban-mcp program: it reads the configuration once,
// wires the parts (store, audit, authorization server, verifier, tools,
// HTTP surface) and runs a subcommand. main.go only hands it the process.
//
// Usage:
//
//	kanban-mcp [serve] [flags]          run the server (the default)
//	kanban-mcp healthcheck              probe the local server's /healthz
//	kanban-mcp revoke client <client_id> [-note …]
//	kanban-mcp revoke subject <issuer> <subject> [-client <client_id>] [-note …]
//	kanban-mcp revoke list
//	kanban-mcp unrevoke <id>
//	kanban-mcp users add|list|passwd|disable|enable …   the built-in authorization server's users
//	kanban-mcp clients add|list|remove …                its pre-registered clients
//	kanban-mcp grants list|revoke …                     what people have authorized
//	kanban-mcp keys rotate [-now]                       its signing keys
//	kanban-mcp copy-data -from sqlite:… -to postgres://…  move a SQLite deployment to PostgreSQL (copydata.go)
//	kanban-mcp bench [-duration 10s] [-concurrency 32] …  measure speed against baselines (bench.go)
//
// Configuration comes from the environment (see config.Load); serve also
// takes flags that mirror it.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kanban-mcp/kanban-mcp/audit"
	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/config"
	"github.com/kanban-mcp/kanban-mcp/httpapi"
	"github.com/kanban-mcp/kanban-mcp/internal/diskspace"
	"github.com/kanban-mcp/kanban-mcp/internal/hostclient"
	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
	"github.com/kanban-mcp/kanban-mcp/metrics"
	"github.com/kanban-mcp/kanban-mcp/revocation"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/tools"
	"github.com/kanban-mcp/kanban-mcp/tracing"
)

// Run dispatches a subcommand and returns the process exit code. version
// is the build's (main's, set at link time), shown by the server.
func Run(ctx context.Context, version string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = Serve(ctx, version, args, getenv, stdout, stderr, nil)
	case "healthcheck":
		err = healthcheck(ctx, getenv, stderr)
	case "migrate":
		err = migrate(ctx, args, getenv, stdout, stderr)
	case "copy-data":
		err = copyData(ctx, args, getenv, stdout, stderr)
	case "revoke":
		err = revoke(ctx, args, getenv, stdout, stderr)
	case "unrevoke":
		err = unrevoke(ctx, args, getenv, stdout, stderr)
	case "users":
		err = usersCommand(ctx, args, getenv, stdin, stdout, stderr)
	case "clients":
		err = clientsCommand(ctx, args, getenv, stdout, stderr)
	case "grants":
		err = grantsCommand(ctx, args, getenv, stdout, stderr)
	case "keys":
		err = keysCommand(ctx, args, getenv, stdout, stderr)
	case "bench", "bench-baseline": // bench-baseline: a baseline server that bench starts
		err = benchCommand(ctx, cmd, args, getenv, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage())
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage())
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0 // -h: the flag package has printed the settings
	case err != nil:
		fmt.Fprintf(stderr, "%s %s: %v\n", product.Name, cmd, err)
		return 1
	}
	return 0
}

// usage is the help text, with the command named after the product.
func usage() string { return fmt.Sprintf(usageFormat, product.Name) }

// usageFormat is usage's text; %[1]s is the command's name.
const usageFormat = `Usage:
  %[1]s [serve] [flags]        run the server (flags mirror the environment; -h lists them)
  %[1]s healthcheck            probe the local server's /healthz (for container health checks)
  %[1]s migrate                apply the database's migrations and exit (a release step before replicas start)
  %[1]s copy-data -from sqlite:/data/kanban.db -to postgres://… [-replace]   move a SQLite deployment's data to PostgreSQL (stop its server first; -h says more)
  %[1]s revoke client <client_id> [-note text]
  %[1]s revoke subject <issuer> <subject> [-client client_id] [-note text]
  %[1]s revoke list
  %[1]s unrevoke <id>
  %[1]s users add <name> [-email E] [-password-stdin] | users list | users passwd <name> | users disable <name> | users enable <name>
  %[1]s clients add -name N -redirect-uri URI [-confidential] | clients list | clients remove <client_id>
  %[1]s grants list [-user NAME] | grants revoke <grant_id>
  %[1]s keys rotate [-now]
  %[1]s bench [-duration 10s] [-concurrency 32] [-scenarios …] [-out file]   measure the server's speed against baselines
`

// memoryLimit is the soft memory limit to set for MEMORY_LIMIT, if any:
// none when GOMEMLIMIT is set (the runtime has read it itself, and Go's
// own setting wins) or when the limit is 0.
func memoryLimit(configured uint64, gomemlimit string) (int64, bool) {
	if configured == 0 || gomemlimit != "" {
		return 0, false
	}
	return int64(min(configured, math.MaxInt64)), true
}

// Serve runs the server until ctx ends. ready, when not nil, receives the
// listening address once the server accepts connections (for tests).
func Serve(ctx context.Context, version string, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) error {
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stdout, cfg.LogLevel)
	if limit, ok := memoryLimit(cfg.MemoryLimit, getenv("GOMEMLIMIT")); ok {
		debug.SetMemoryLimit(limit)
	}

	// Counted whether or not METRICS_ADDR serves them: counting costs
	// less than a branch at every place that counts.
	reg := metrics.New()
	reg.Known(knownLabels())
	// Traces only when OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT)
	// asks for them; otherwise tracer is nil and costs nothing.
	tracer, flushTraces, err := tracing.Start(tracingConfig(cfg, version, log))
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := flushTraces(flushCtx); err != nil {
			log.Warn("traces: sending the last spans failed", "err", err)
		}
	}()
	if tracer != nil {
		log.Info("traces are exported", "url", cfg.Tracing.URL, "sampler", cfg.Tracing.Sampler)
	}

	db, err := openDatabase(ctx, cfg, true, log)
	if err != nil {
		return err
	}
	defer db.close()
	db.registerMetrics(reg.DB) // before openStore: the store takes its retry policy when it opens
	st, err := db.openStore(ctx, cfg.Quotas)
	if err != nil {
		return err
	}
	st = tracing.Store(st, tracer, db.system())
	defer db.startListening(ctx)()
	blocklist, err := revocation.New(ctx, db.sql)
	if err != nil {
		return err
	}
	defer blocklist.Close()

	// The disk guard watches SQLite's folder; PostgreSQL's disk is the
	// database server's.
	minFree := cfg.MinFreeDisk
	if db.dir == "" {
		minFree = 0
	}
	disk := diskspace.NewGuard(diskspace.GuardOptions{
		Dir:    db.dir,
		Margin: minFree,
		Hint:   "activity rows of callers without a valid token are not kept; free space or grow the volume before writes fail (MIN_FREE_DISK sets the margin)",
		Logger: log,
	})
	go disk.Run(ctx, diskCheckInterval)
	if err := db.openLimits(ctx, true, log); err != nil {
		return err
	}
	queue := audit.NewQueue(st, audit.Options{
		Logger: log,
		Budget: db.auditBudget(ctx, audit.BudgetOptions{
			PerHour:           cfg.AnonAuditPerHour,
			PerNetworkPerHour: cfg.AnonAuditPerIPPerHour,
			Logger:            log,
		}),
		LowDisk: disk.Low,
	})
	reg.Audit(func() metrics.AuditStats { return metrics.AuditStats(queue.Stats()) })
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := queue.Close(closeCtx); err != nil {
			log.Error("flushing the audit queue failed", "err", err, "dropped", queue.Dropped())
		}
	}()
	go audit.EnforceRetention(ctx, st, cfg.AuditRetention, log)

	// The declared scopes: the tools' requirements, the metadata, and the
	// built-in server's grants and consent page all use this one set.
	scopes, err := tools.ScopeSet()
	if err != nil {
		return err
	}
	authn := &auth.Authenticator{
		Revocations:      cachedRevocations(db.sql, blocklist, reg.Auth),
		ResourceMetadata: httpapi.ResourceMetadataURL(cfg.BaseURL),
		Logger:           log,
		Metrics:          reg.Auth,
	}
	var keysReady func() bool
	var mount func(httpapi.Mux)
	readyChecks := map[string]func(context.Context) string{}
	switch {
	case cfg.BuiltInAuthServer:
		built, err := startAuthServer(ctx, cfg, db, scopes, blocklist, observability{reg, tracer}, log, stdout)
		if err != nil {
			return err
		}
		verifier, err := auth.NewVerifier(ctx, auth.VerifierConfig{
			Issuer:     cfg.Issuer,
			Audience:   cfg.Audience,
			ScopeClaim: auth.ScopeClaimScope,
			Keys:       built.keys,
			Logger:     log,
			Metrics:    reg.Auth,
		})
		if err != nil {
			return err
		}
		// Reference tokens are looked up whatever AUTH_TOKEN_FORMAT says
		// now, so that switching it strands no token already issued.
		authn.Verifier = auth.ByShape{JWT: verifier, Opaque: built.server.ReferenceTokens()}
		authn.Revocations = cachedRevocations(db.sql, auth.AnyRevoked(blocklist, built.grants), reg.Auth)
		keysReady = verifier.Ready
		mount = func(mux httpapi.Mux) { built.server.Routes(mux) }
		readyChecks["users"] = func(ctx context.Context) string {
			// With an upstream provider people get their account by
			// signing in through it: a server without users yet is
			// ready for the first, and out of rotation nobody could be.
			if cfg.Upstream.Enabled() || built.server.HasUsers(ctx) {
				return ""
			}
			return "no user yet: " + product.Name + " users add <name>"
		}
	case cfg.Issuer == "":
		log.Warn("no authorization server: AUTH_SERVER=off and OAUTH_ISSUER is empty, so nobody can sign in and only the tools open to anonymous callers work")
	default:
		// An issuer of opaque tokens need not publish keys: with every token
		// introspected, none are fetched.
		if cfg.IntrospectionURL == "" || cfg.IntrospectMode == auth.IntrospectAuto {
			verifier, err := auth.NewVerifier(ctx, auth.VerifierConfig{
				Issuer:     cfg.Issuer,
				Audience:   cfg.Audience,
				JWKSURL:    cfg.JWKSURL,
				ScopeClaim: cfg.ScopeClaim,
				Logger:     log,
				Metrics:    reg.Auth,
				KeyMetrics: reg.Keys,
				Transport:  tracer.Transport("jwks", nil),
			})
			if err != nil {
				return err
			}
			authn.Verifier = verifier
			keysReady = verifier.Ready
		}
		if cfg.IntrospectionURL != "" {
			introspector, err := auth.NewIntrospector(auth.IntrospectorConfig{
				URL:               cfg.IntrospectionURL,
				ClientID:          cfg.IntrospectionClientID,
				ClientSecret:      cfg.IntrospectionClientSecret,
				Issuer:            cfg.Issuer,
				Audience:          cfg.Audience,
				SkipAudienceCheck: cfg.SkipIntrospectionAudience,
				ScopeClaim:        cfg.ScopeClaim,
				CacheTTL:          cfg.IntrospectionCacheTTL,
				Logger:            log,
				Metrics:           reg.Auth,
				Transport:         tracer.Transport("introspection", nil),
			})
			if err != nil {
				return err
			}
			if authn.Verifier != nil {
				// Auto: JWTs are verified here, the rest introspected.
				authn.Verifier = auth.ByShape{JWT: authn.Verifier, Opaque: introspector}
			} else {
				authn.Verifier = introspector
			}
			log.Info("tokens are checked by introspection", "url", cfg.IntrospectionURL, "mode", cfg.IntrospectMode, "client_id", cfg.IntrospectionClientID)
			if cfg.SkipIntrospectionAudience {
				log.Warn("OAUTH_INTROSPECTION_AUDIENCE_CHECK=off: an introspected token is accepted whatever audience it was issued for, so the issuer's tokens for other services work here too")
			}
		}
	}

	api, err := httpapi.New(httpapi.Options{
		BaseURL:            cfg.BaseURL,
		Issuer:             cfg.Issuer,
		AllowedHosts:       cfg.AllowedHosts,
		TrustedProxyHeader: cfg.TrustedProxyHeader,
		Challenge:          cfg.AuthChallenge,
		InBandUserAgents:   cfg.InBandUserAgents,
		WidgetDomain:       cfg.WidgetDomain,
		AppsChallenge:      cfg.AppsChallenge,
		PrivacyURL:         cfg.PrivacyPolicyURL,
		TermsURL:           cfg.TermsURL,
		ValidateOutput:     cfg.ValidateOutput,
		Version:            version,
		Store:              st,
		Audit:              queue,
		Scopes:             scopes,
		Authenticator:      authn,
		KeysReady:          keysReady,
		Ready:              readyChecks,
		Warn:               map[string]func(context.Context) string{"disk": func(context.Context) string { return disk.Problem() }},
		Mount:              mount,
		Logger:             log,
		Metrics:            reg,
		Tracer:             tracer,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set LISTEN_ADDR or PORT to a free address)", cfg.ListenAddr, err)
	}
	srv := httpapi.NewHTTPServer(api.Handler(), slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	// The public listener's end and the private one's.
	served := make(chan error, 2)
	var ops *http.Server
	if cfg.MetricsAddr != "" {
		// Listening before the server says it is ready, so that /metrics
		// answers from then on.
		if ops, err = serveMetrics(cfg, reg, log, served); err != nil {
			_ = ln.Close()
			return err
		}
	}
	log.Info(product.Name+" listening", "addr", ln.Addr().String(), "mcp_url", httpapi.Resource(cfg.BaseURL),
		"issuer", cfg.Issuer, "audience", cfg.Audience, "auth_challenge", cfg.AuthChallenge, "database", db.name)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = api.Shutdown(shutdownCtx)
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	if ops != nil {
		_ = ops.Shutdown(shutdownCtx)
	}
	return nil
}

// serveMetrics serves reg (and, with METRICS_PPROF, Go's profiles) on
// METRICS_ADDR, the private listener; a failure to serve goes to served,
// which ends the server as the public listener's would.
func serveMetrics(cfg *config.Config, reg *metrics.Registry, log *slog.Logger, served chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s for /metrics: %w (set METRICS_ADDR to a free address, or empty to serve no metrics)", cfg.MetricsAddr, err)
	}
	srv := httpapi.NewHTTPServer(reg.Handler(cfg.MetricsPprof), slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	if cfg.MetricsPprof {
		// A CPU profile takes as long as it is asked to.
		srv.WriteTimeout = 0
	}
	log.Info("metrics listening", "addr", ln.Addr().String(), "pprof", cfg.MetricsPprof)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			served <- fmt.Errorf("metrics listener: %w", err)
		}
	}()
	return srv, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: readableDurations}))
}

// readableDurations writes durations as Go duration strings ("1.5s"): the
// JSON handler's default, integer nanoseconds, reads as a count of seconds
// to anyone who does not know it.
func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// diskCheckInterval is how often free disk space is measured: often enough
// to notice a disk filling up long before it is full, rarely enough to cost
// nothing.
const diskCheckInterval = 5 * time.Second

// revocationCacheEntries bounds the revocation cache: one entry per
// user, client and grant seen since the last revocation.
const revocationCacheEntries = 100_000

// cachedRevocations answers the revocation check of every request from
// memory; any revocation, by this process or by the CLI, drops the cache.
func cachedRevocations(db *sqldb.DB, checks auth.RevocationChecker, m *metrics.Auth) auth.RevocationChecker {
	return auth.CachedRevocations(checks, db.RevocationVersion, revocationCacheEntries, m)
}

// observability is what the parts report to: the metrics (always) and
// the tracer (nil when traces are off).
type observability struct {
	metrics *metrics.Registry
	tracer  *tracing.Tracer
}

// tracingConfig is the tracing package's view of the OTEL_* settings.
func tracingConfig(cfg *config.Config, version string, log *slog.Logger) tracing.Config {
	resource := maps.Clone(cfg.Tracing.Resource)
	if resource != nil && resource["service.version"] == "" {
		resource["service.version"] = version
	}
	return tracing.Config{
		Exporter: tracing.ExporterConfig{
			URL:     cfg.Tracing.URL,
			Headers: cfg.Tracing.Headers,
			Timeout: cfg.Tracing.Timeout,
			Gzip:    cfg.Tracing.Gzip,
			Logger:  log,
		},
		Resource:   resource,
		Sampler:    cfg.Tracing.Sampler,
		SamplerArg: cfg.Tracing.SamplerArg,
	}
}

// knownLabels are the label values the server's parts declare: the tools,
// the outcomes of their calls, the client families and the results of
// authentication.
func knownLabels() metrics.KnownLabels {
	var k metrics.KnownLabels
	for _, t := range tools.All() {
		k.Tools = append(k.Tools, t.Name)
	}
	for _, o := range store.Outcomes() {
		k.Outcomes = append(k.Outcomes, string(o))
	}
	for _, f := range hostclient.Families() {
		k.Clients = append(k.Clients, string(f))
	}
	k.AuthResults = auth.Results()
	k.RetryReasons = pgdb.RetryReasons()
	return k
}
