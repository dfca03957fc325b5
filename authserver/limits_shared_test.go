package authserver

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit/pglimits"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit/pglimits/pglimitstest"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb/sqldbtest"
)

// sharedLimits opens a limits backend on the database url with a pool of
// its own, as each replica would.
func sharedLimits(t testing.TB, url string) *pglimits.Backend {
	t.Helper()
	b, _ := pglimitstest.Replica(t, url, pglimits.Options{})
	return b
}

// replicaPair is two servers on one store and one clock, as two replicas
// behind one URL would be, each with its own limits backend: limitsA and
// limitsB, which are two backends on one database for shared limits.
type replicaPair struct {
	*epEnv           // replica a, its httptest server and its fixtures
	b      *Server   // replica b
	both   []*Server // a, b
	urls   []string  // where a and b are served
}

func newReplicaPair(t *testing.T, limitsA, limitsB ratelimit.Backend) *replicaPair {
	t.Helper()
	var opts ServerOptions
	a := newEPEnv(t, func(o *ServerOptions) {
		o.Limits = limitsA
		opts = *o
	})
	opts.Limits = limitsB
	b, err := NewServer(opts)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	mux := http.NewServeMux()
	b.Routes(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &replicaPair{epEnv: a, b: b, both: []*Server{a.srv, b}, urls: []string{a.ts.URL, ts.URL}}
}

// guessSchedule makes guesses wrong passwords for alice from one address,
// the i-th through servers[i % len(servers)], waiting each time a server
// asks to (and moving clock as much), and returns the waits asked.
func guessSchedule(t *testing.T, clock *testClock, servers []*Server, guesses int) []time.Duration {
	t.Helper()
	var waits []time.Duration
	for i := 0; i < guesses; {
		r := httptest.NewRequest(http.MethodPost, PathAuthorize, nil)
		r.Header.Set(epIPHeader, "203.0.113.7")
		_, f, err := servers[i%len(servers)].attemptSignIn(httptest.NewRecorder(), r, "alice", "not the password")
		switch {
		case err != nil:
			t.Fatalf("guess %d: %v", i+1, err)
		case f == nil:
			t.Fatalf("guess %d: a wrong password signed in", i+1)
		case f.status == http.StatusTooManyRequests:
			waits = append(waits, f.retryAfter)
			clock.Advance(f.retryAfter)
		case f.status == http.StatusBadRequest:
			i++
		default:
			t.Fatalf("guess %d: status %d (%s)", i+1, f.status, f.message)
		}
	}
	return waits
}

// TestSignInBackoffSharedByReplicas: a guesser who spreads password
// guesses over two replicas meets the very backoff that one server
// imposes; with limits per replica (memory), it would meet a slower one.
func TestSignInBackoffSharedByReplicas(t *testing.T) {
	sqldbtest.SQLiteOnly(t) // the limits are on PostgreSQL in both runs: once is enough
	url := pgtest.Shared(t).NewDatabase(t)
	pair := newReplicaPair(t, sharedLimits(t, url), sharedLimits(t, url))
	one := newEPEnv(t, nil) // one server, limits in memory

	const guesses = 12
	want := guessSchedule(t, one.clock, []*Server{one.srv}, guesses)
	got := guessSchedule(t, pair.clock, pair.both, guesses)
	if len(want) == 0 {
		t.Fatal("one server never throttled the guesses; the test checks nothing")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("waits over two replicas (-one server +two replicas):\n%s", diff)
	}

	perReplica := newReplicaPair(t, nil, nil)
	if lenient := guessSchedule(t, perReplica.clock, perReplica.both, guesses); cmp.Equal(want, lenient) {
		t.Errorf("limits in each replica's memory gave the same waits %v; the shared case shows nothing", lenient)
	}
}

// TestSignInFailuresOnOneReplicaDelayTheOther: failures through replica a
// delay even the right password on replica b, and only until the wait is
// over.
func TestSignInFailuresOnOneReplicaDelayTheOther(t *testing.T) {
	sqldbtest.SQLiteOnly(t) // the limits are on PostgreSQL in both runs: once is enough
	url := pgtest.Shared(t).NewDatabase(t)
	pair := newReplicaPair(t, sharedLimits(t, url), sharedLimits(t, url))
	guessSchedule(t, pair.clock, pair.both[:1], 4) // Free 3 per (name, address): the fourth earns 1s
	signIn := func() *signInFailure {
		r := httptest.NewRequest(http.MethodPost, PathAuthorize, nil)
		r.Header.Set(epIPHeader, "203.0.113.7")
		_, f, err := pair.b.attemptSignIn(httptest.NewRecorder(), r, "alice", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if f := signIn(); f == nil || f.status != http.StatusTooManyRequests || f.retryAfter != time.Second {
		t.Fatalf("the right password on b after four failures on a: %+v; want 429 with 1s", f)
	}
	pair.clock.Advance(time.Second)
	if f := signIn(); f != nil {
		t.Fatalf("the right password on b after the wait: %+v; want signed in", f)
	}
}

// TestRegistrationBudgetSharedByReplicas: registrations from one address,
// split over two replicas, are refused once the one budget (a burst of
// 10) is spent, whichever replica they reach.
func TestRegistrationBudgetSharedByReplicas(t *testing.T) {
	sqldbtest.SQLiteOnly(t) // the limits are on PostgreSQL in both runs: once is enough
	url := pgtest.Shared(t).NewDatabase(t)
	pair := newReplicaPair(t, sharedLimits(t, url), sharedLimits(t, url))
	var got []int
	for i := range 14 {
		req, err := http.NewRequest(http.MethodPost, pair.urls[i%2]+PathRegister,
			strings.NewReader(`{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(epIPHeader, "203.0.113.9")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	want := []int{201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 429, 429, 429, 429}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("14 registrations over two replicas (-want +got):\n%s", diff)
	}
}

// TestLimitsDown: with the limits' database unreachable, a sign-in is
// refused with 503 and a Retry-After, with the form again and no session,
// even with the right password: never tried without its limits. Other
// limited endpoints refuse the same way rather than fail with a 500.
func TestLimitsDown(t *testing.T) {
	sqldbtest.SQLiteOnly(t) // the limits are on PostgreSQL in both runs: once is enough
	cluster := pgtest.Start(t)
	url := cluster.NewDatabase(t)
	e := newPageEnv(t, pageEnvOptions{limits: sharedLimits(t, url)})
	b := e.browser()
	signInPage := b.authorize(e.params(nil))
	ep := newEPEnv(t, func(o *ServerOptions) { o.Limits = sharedLimits(t, url) })
	cluster.Stop(t)

	p := b.submit(signInPage, map[string]string{"username": "alice", "password": goodPassword})
	if p.status != http.StatusServiceUnavailable || p.header.Get("Retry-After") != "5" {
		t.Errorf("sign-in with the limits down: status %d, Retry-After %q; want 503 and 5", p.status, p.header.Get("Retry-After"))
	}
	if !isSignInPage(p) || !strings.Contains(p.body, "try again in 5 seconds") {
		t.Errorf("sign-in with the limits down: not the form with the wait:\n%s", p.body)
	}
	if v := b.cookie(sessionCookie); v != "" {
		t.Error("a sign-in whose limits could not be checked set a session cookie")
	}

	for _, tt := range []struct {
		name string
		do   func() epResp
	}{
		{"registration", func() epResp {
			return ep.do(t, http.MethodPost, PathRegister, "application/json",
				strings.NewReader(`{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`))
		}},
		{"token request", func() epResp {
			return ep.postForm(t, PathToken, codeForm("some-client", "some-code", "some-verifier"))
		}},
	} {
		if r := tt.do(); r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "5" || r.JSON(t)["error"] != "temporarily_unavailable" {
			t.Errorf("%s with the limits down: status %d, Retry-After %q, body %s; want 503 temporarily_unavailable and 5",
				tt.name, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	}
}

// TestCIMDRequesterLimitSharedByReplicas: the client metadata documents a
// requester makes replicas fetch count against one allowance, whichever
// replica fetches them; a requester whose count cannot be had is refused,
// with nothing fetched.
func TestCIMDRequesterLimitSharedByReplicas(t *testing.T) {
	sqldbtest.SQLiteOnly(t) // the limits are on PostgreSQL in both runs: once is enough
	cluster := pgtest.Start(t)
	url := cluster.NewDatabase(t)
	srv := newCIMDServer(t)
	clk := newCIMDClock()
	var fetchers []*CIMDFetcher
	for range 2 {
		fetchers = append(fetchers, newTestCIMDFetcher(srv, CIMDOptions{Now: clk.Now, RequesterFetches: 3, RequesterWindow: 30 * time.Second,
			Limits: sharedLimits(t, url)}))
	}
	for i := range 3 {
		_, err := fetchers[i%2].Client(t.Context(), srv.URL+"/junk/"+strconv.Itoa(i), "a")
		requireCIMDError(t, err, CIMDBadStatus)
	}
	for i, f := range fetchers {
		_, err := f.Client(t.Context(), srv.URL+"/junk/refused", "a")
		if ce := requireCIMDError(t, err, CIMDRateLimited); ce.RetryAfter != 10*time.Second {
			t.Errorf("replica %d, a's fourth fetch: RetryAfter = %v, want 10s", i, ce.RetryAfter)
		}
	}

	cluster.Stop(t)
	_, err := fetchers[0].Client(t.Context(), srv.URL+"/junk/unlimited", "b")
	if ce := requireCIMDError(t, err, CIMDBusy); ce.RetryAfter != unavailableRetryAfter {
		t.Errorf("with the limits down: RetryAfter = %v, want %v", ce.RetryAfter, unavailableRetryAfter)
	}
	if n := srv.hitsUnder("/junk/refused") + srv.hitsUnder("/junk/unlimited"); n != 0 {
		t.Errorf("refused lookups were fetched %d times", n)
	}
}
