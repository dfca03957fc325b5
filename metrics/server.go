package metrics

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace begins the name of every metric the server defines (the Go
// runtime's go_* and the process's process_* have their own). It does not
// follow the product's name: dashboards and alert rules name the metrics,
// and a fork's should keep working.
const Namespace = "mcp"

// Every label value below comes from a fixed set that the server declares
// (routes, tools, outcomes, client families, reasons), never from the
// wire: no client_id, user, board or token reaches a label, so the number
// of series stays bounded whoever calls.

// latencyBuckets are the histograms' bounds in seconds: from a cached
// board read (well under a millisecond) to a full board's answer under
// load, with the 5 s of a database outage's fail-fast at the top.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// HTTP is what the public listener served, by route: the pattern that the
// request matched (one of the server's own, "unmatched" for none).
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec

	served series[routeCode, servedSeries]
}

type routeCode struct {
	route string
	code  int
}

// servedSeries are what one answered request moves.
type servedSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// Unmatched is the route label of a request that matched no route (a 404,
// or a request refused before routing, such as a wrong Host).
const Unmatched = "unmatched"

func newHTTP(r *Registry) *HTTP {
	h := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered on the public listener, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its answer, by route pattern.",
			Buckets: latencyBuckets,
		}, []string{"route"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_in_flight",
			Help: "Requests being served now, by route pattern.",
		}, []string{"route"}),
	}
	r.register(h.requests, h.duration, h.inFlight)
	h.served.resolve = func(k routeCode) servedSeries {
		return servedSeries{h.requests.WithLabelValues(k.route, statusText(k.code)), h.duration.WithLabelValues(k.route)}
	}
	return h
}

// Route wraps the handler of route so that its requests in flight are
// counted. Wrapping at registration resolves the series once, not per
// request.
func (h *HTTP) Route(route string, next http.Handler) http.Handler {
	if h == nil {
		return next
	}
	g := h.inFlight.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.Inc()
		defer g.Dec()
		next.ServeHTTP(w, r)
	})
}

// Served records an answered request: its route ("" means Unmatched), its
// status code and how long it took.
func (h *HTTP) Served(route string, code int, took time.Duration) {
	if h == nil {
		return
	}
	if route == "" {
		route = Unmatched
	}
	s := h.served.get(routeCode{route, code})
	s.requests.Inc()
	s.duration.Observe(took.Seconds())
}

// statusTexts holds the code labels of every valid status, so that
// labelling a request allocates nothing.
var statusTexts = func() (t [600]string) {
	for code := 100; code < len(t); code++ {
		t[code] = strconv.Itoa(code)
	}
	return t
}()

func statusText(code int) string {
	if code >= 100 && code < len(statusTexts) {
		return statusTexts[code]
	}
	return "other"
}

// Tools is what the tools were asked and how each call ended.
type Tools struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec

	counts series[toolCall, prometheus.Counter]
	times  series[string, prometheus.Observer]
}

type toolCall struct{ tool, outcome, client string }

func newTools(r *Registry) *Tools {
	t := &Tools{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "tool", Name: "calls_total",
			Help: "Tool calls by tool, outcome (as the activity trail records it) and client family (chatgpt, claude, sdk, other).",
		}, []string{"tool", "outcome", "client"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "tool", Name: "call_duration_seconds",
			Help:    "Time a tool call took, from the check of its requirement to its result, by tool.",
			Buckets: latencyBuckets,
		}, []string{"tool"}),
	}
	r.register(t.calls, t.duration)
	t.counts.resolve = func(k toolCall) prometheus.Counter { return t.calls.WithLabelValues(k.tool, k.outcome, k.client) }
	t.times.resolve = func(tool string) prometheus.Observer { return t.duration.WithLabelValues(tool) }
	return t
}

// Call records a tool call of the declared tool, how it ended, the client
// family that made it, and how long it took.
func (t *Tools) Call(tool, outcome, client string, took time.Duration) {
	if t == nil {
		return
	}
	t.counts.get(toolCall{tool, outcome, client}).Inc()
	t.times.get(tool).Observe(took.Seconds())
}

// Refused records a call that was refused before it reached its tool (a
// bad, expired or revoked token), which takes no tool time.
func (t *Tools) Refused(tool, outcome, client string) {
	if t == nil {
		return
	}
	t.counts.get(toolCall{tool, outcome, client}).Inc()
}

// Auth is how the bearer tokens of requests were judged, and how the
// caches in front of those judgements did.
type Auth struct {
	results *prometheus.CounterVec
	lookups *prometheus.CounterVec

	byResult series[string, prometheus.Counter]
	byLookup series[cacheResult, prometheus.Counter]
}

type cacheResult struct {
	cache string
	hit   bool
}

// The caches that Auth.CacheLookup counts.
const (
	CacheToken         = "token"         // verified JWTs
	CacheIntrospection = "introspection" // introspection answers
	CacheRevocation    = "revocation"    // revocation checks
)

func newAuth(r *Registry) *Auth {
	a := &Auth{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "auth", Name: "results_total",
			Help: "Requests by how their access token was judged: ok, none (anonymous), or why it was refused; insufficient_scope counts tool calls refused afterwards for a scope the accepted token lacks.",
		}, []string{"result"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "auth", Name: "cache_lookups_total",
			Help: "Lookups in the caches of token checks (token, introspection, revocation), by result (hit, miss).",
		}, []string{"cache", "result"}),
	}
	r.register(a.results, a.lookups)
	a.byResult.resolve = func(result string) prometheus.Counter { return a.results.WithLabelValues(result) }
	a.byLookup.resolve = func(k cacheResult) prometheus.Counter {
		result := "miss"
		if k.hit {
			result = "hit"
		}
		return a.lookups.WithLabelValues(k.cache, result)
	}
	for _, c := range []string{CacheToken, CacheIntrospection, CacheRevocation} {
		a.byLookup.get(cacheResult{c, true})
		a.byLookup.get(cacheResult{c, false})
	}
	return a
}

// Result counts a request's authentication result, one of a fixed set of
// words (auth.Results).
func (a *Auth) Result(result string) {
	if a == nil {
		return
	}
	a.byResult.get(result).Inc()
}

// CacheLookup counts a lookup in cache (CacheToken, …) and whether it hit.
func (a *Auth) CacheLookup(cache string, hit bool) {
	if a == nil {
		return
	}
	a.byLookup.get(cacheResult{cache, hit}).Inc()
}

// Keys is the fetching of an external issuer's signing keys (its JWKS).
type Keys struct {
	refreshes *prometheus.CounterVec
	loadedAt  atomic.Int64 // Unix nanoseconds of the last successful fetch; 0 before
	now       func() time.Time
}

func newKeys(r *Registry) *Keys {
	k := &Keys{
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "jwks", Name: "refreshes_total",
			Help: "Fetches of the issuer's signing keys (JWKS), by result (ok, failed): at start, on schedule, and for a token signed with a key not yet known.",
		}, []string{"result"}),
		now: time.Now,
	}
	k.refreshes.WithLabelValues("ok")
	k.refreshes.WithLabelValues("failed")
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "jwks", Name: "age_seconds",
		Help: "Seconds since the issuer's signing keys were last fetched successfully; NaN until the first fetch, and always with the built-in authorization server, whose keys are not fetched.",
	}, k.age)
	r.register(k.refreshes, age)
	return k
}

// Refreshed records a fetch of the key set that ended with err.
func (k *Keys) Refreshed(err error) {
	if k == nil {
		return
	}
	if err != nil {
		k.refreshes.WithLabelValues("failed").Inc()
		return
	}
	k.refreshes.WithLabelValues("ok").Inc()
	k.loadedAt.Store(k.now().UnixNano())
}

func (k *Keys) age() float64 {
	at := k.loadedAt.Load()
	if at == 0 {
		return nan
	}
	return k.now().Sub(time.Unix(0, at)).Seconds()
}

// AuditStats is what the audit queue reports at each scrape.
type AuditStats struct {
	Depth int // rows waiting to be written
	// Rows not kept, by why: the queue was full (Dropped), an
	// anonymous caller's budget was spent (OverBudget), or the disk was
	// nearly full (LowDisk).
	Dropped, OverBudget, LowDisk uint64
}

// Audit gives the audit queue's figures, read from stats at each scrape,
// so that recording a row costs nothing more. Until it is called the
// audit metrics are absent.
func (r *Registry) Audit(stats func() AuditStats) {
	r.audit.stats.Store(&stats)
}

// auditCollector reports the audit queue: its depth and the rows it did
// not keep, all from one call of stats.
type auditCollector struct {
	stats          atomic.Pointer[func() AuditStats]
	depth, dropped *prometheus.Desc
}

func newAuditCollector() *auditCollector {
	return &auditCollector{
		depth: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "audit", "queue_depth"),
			"Activity rows (reads, refusals, failures) waiting to be written.", nil, nil),
		dropped: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "audit", "rows_dropped_total"),
			"Activity rows not kept, by reason: queue_full (the database fell behind), over_budget (an anonymous caller's audit budget was spent), low_disk.",
			[]string{"reason"}, nil),
	}
}

func (a *auditCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- a.depth
	ch <- a.dropped
}

func (a *auditCollector) Collect(ch chan<- prometheus.Metric) {
	stats := a.stats.Load()
	if stats == nil {
		return
	}
	s := (*stats)()
	ch <- prometheus.MustNewConstMetric(a.depth, prometheus.GaugeValue, float64(s.Depth))
	ch <- prometheus.MustNewConstMetric(a.dropped, prometheus.CounterValue, float64(s.Dropped), "queue_full")
	ch <- prometheus.MustNewConstMetric(a.dropped, prometheus.CounterValue, float64(s.OverBudget), "over_budget")
	ch <- prometheus.MustNewConstMetric(a.dropped, prometheus.CounterValue, float64(s.LowDisk), "low_disk")
}

// PoolStats is a database connection pool's state at a scrape.
type PoolStats struct {
	Max, InUse, Idle int
	// Waits is how many times a connection was waited for since the
	// pool opened, and WaitTime how long those waits took in all.
	Waits    int64
	WaitTime time.Duration
}

// DB is the database's connection pools and the transactions run again.
type DB struct {
	retries *prometheus.CounterVec
	pools   *poolCollector
}

func newDB(r *Registry) *DB {
	d := &DB{
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "db", Name: "retries_total",
			Help: "Database operations run again after a transient failure, by reason (serialization_failure, deadlock, connection_lost).",
		}, []string{"reason"}),
		pools: newPoolCollector(),
	}
	r.register(d.retries, d.pools)
	return d
}

// Retried counts an operation run again for reason.
func (d *DB) Retried(reason string) {
	if d == nil {
		return
	}
	d.retries.WithLabelValues(reason).Inc()
}

// Pool adds a connection pool, read at each scrape; name says which
// (postgres, sqlite_writer, sqlite_reader).
func (d *DB) Pool(name string, stats func() PoolStats) {
	if d == nil {
		return
	}
	d.pools.add(name, stats)
}

// AuthServer is what the built-in authorization server did.
type AuthServer struct {
	signIns       *prometheus.CounterVec
	tokens        *prometheus.CounterVec
	refreshReuse  prometheus.Counter
	registrations *prometheus.CounterVec
	metadata      *prometheus.CounterVec
}

// The results of AuthServer's counters.
const (
	SignInOK        = "ok"
	SignInFailed    = "failed"    // a wrong name or password
	SignInThrottled = "throttled" // refused by the backoff before the password was checked
)

func newAuthServer(r *Registry) *AuthServer {
	a := &AuthServer{
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "authserver", Name: "sign_ins_total",
			Help: "Sign-ins at the built-in authorization server, by result (ok, failed, throttled) and method (password, upstream).",
		}, []string{"result", "method"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "authserver", Name: "tokens_issued_total",
			Help: "Access tokens issued, by grant type (authorization_code, refresh_token).",
		}, []string{"grant_type"}),
		refreshReuse: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "authserver", Name: "refresh_reuse_detected_total",
			Help: "Refresh tokens presented again after they were used: each revoked its whole grant (a stolen token, or a client that lost an answer).",
		}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "authserver", Name: "registrations_total",
			Help: "Dynamic client registrations, by result (ok, refused, throttled).",
		}, []string{"result"}),
		metadata: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "authserver", Name: "client_metadata_fetches_total",
			Help: "Fetches of client ID metadata documents (URL client_ids), by result (ok, failed, throttled).",
		}, []string{"result"}),
	}
	for _, m := range []string{"password", "upstream"} {
		for _, res := range []string{SignInOK, SignInFailed, SignInThrottled} {
			a.signIns.WithLabelValues(res, m)
		}
	}
	for _, g := range []string{"authorization_code", "refresh_token"} {
		a.tokens.WithLabelValues(g)
	}
	for _, res := range []string{"ok", "refused", "throttled"} {
		a.registrations.WithLabelValues(res)
	}
	for _, res := range []string{"ok", "failed", "throttled"} {
		a.metadata.WithLabelValues(res)
	}
	r.register(a.signIns, a.tokens, a.refreshReuse, a.registrations, a.metadata)
	return a
}

// SignIn counts a sign-in attempt by result (SignInOK, …) and method
// ("password" or "upstream").
func (a *AuthServer) SignIn(result, method string) {
	if a == nil {
		return
	}
	a.signIns.WithLabelValues(result, method).Inc()
}

// TokenIssued counts an access token issued for grantType.
func (a *AuthServer) TokenIssued(grantType string) {
	if a == nil {
		return
	}
	a.tokens.WithLabelValues(grantType).Inc()
}

// RefreshReuse counts a refresh token presented again.
func (a *AuthServer) RefreshReuse() {
	if a == nil {
		return
	}
	a.refreshReuse.Inc()
}

// Registration counts a dynamic client registration by result (ok,
// refused, throttled).
func (a *AuthServer) Registration(result string) {
	if a == nil {
		return
	}
	a.registrations.WithLabelValues(result).Inc()
}

// ClientMetadataFetch counts a fetch of a client ID metadata document by
// result (ok, failed, throttled).
func (a *AuthServer) ClientMetadataFetch(result string) {
	if a == nil {
		return
	}
	a.metadata.WithLabelValues(result).Inc()
}

// Known creates the series of every combination of the given label values
// at zero, so that a rate over them starts at the first scrape rather
// than at the first call, and a dashboard shows zero rather than nothing.
func (r *Registry) Known(k KnownLabels) {
	for _, tool := range k.Tools {
		r.Tools.times.get(tool)
		for _, o := range k.Outcomes {
			for _, c := range k.Clients {
				r.Tools.counts.get(toolCall{tool, o, c})
			}
		}
	}
	for _, res := range k.AuthResults {
		r.Auth.byResult.get(res)
	}
	for _, reason := range k.RetryReasons {
		r.DB.retries.WithLabelValues(reason)
	}
}

// KnownLabels are the label values that the server's parts declare.
type KnownLabels struct {
	Tools, Outcomes, Clients []string
	AuthResults              []string
	RetryReasons             []string
}

// Names are the metric families this package defines, sorted: what
// dashboards may name besides go_* and process_*.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.families))
	for _, f := range r.families {
		names = append(names, f.Name)
	}
	slices.Sort(names)
	return names
}

// series remembers the series of a vector by their label values, so that
// the hot path resolves each once: client_golang's WithLabelValues hashes
// the values and takes a lock at every call. Every key comes from a
// bounded set (see the top of this file), so the map stays small.
type series[K comparable, M any] struct {
	m       sync.Map // K → M
	resolve func(K) M
}

func (s *series[K, M]) get(k K) M {
	if v, ok := s.m.Load(k); ok {
		return v.(M)
	}
	v, _ := s.m.LoadOrStore(k, s.resolve(k))
	return v.(M)
}
