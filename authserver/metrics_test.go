package authserver

import (
	"bufio"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/metrics"
)

// amCounters reads the authorization server's counters the way Prometheus
// does, from the text of /metrics, and checks what moved between two
// readings. Every series of the family is compared, so a count under the
// wrong label, or a second count of one event, fails as surely as a
// missing one.
type amCounters struct {
	t    *testing.T
	ts   *httptest.Server
	last map[string]float64
}

// amPrefix begins the series the authorization server counts in.
const amPrefix = metrics.Namespace + "_authserver_"

// newAMCounters returns the counters to give the server, and their reader,
// its baseline read.
func newAMCounters(t *testing.T) (*metrics.AuthServer, *amCounters) {
	t.Helper()
	reg := metrics.New()
	ts := httptest.NewServer(reg.Handler(false))
	t.Cleanup(ts.Close)
	c := &amCounters{t: t, ts: ts}
	c.last = c.read()
	// The series exist at zero from the start: a reading that found none
	// would make every "nothing moved" below pass.
	if v, ok := c.last[amPrefix+`sign_ins_total{method="password",result="ok"}`]; !ok || v != 0 {
		t.Fatalf("the first reading has sign_ins_total{password, ok} = %v (present %v), want 0; read:\n%v", v, ok, c.last)
	}
	return reg.AuthServer, c
}

// read scrapes /metrics and returns the authorization server's series,
// named as exposed (name{label="value",…}), with their values.
func (c *amCounters) read() map[string]float64 {
	c.t.Helper()
	resp, err := c.ts.Client().Get(c.ts.URL + "/metrics")
	if err != nil {
		c.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET /metrics: status %d", resp.StatusCode)
	}
	series := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, amPrefix) {
			continue // comments, and the other parts' metrics
		}
		name, value, ok := strings.Cut(line, " ")
		v, err := strconv.ParseFloat(value, 64)
		if !ok || err != nil {
			c.t.Fatalf("unreadable line of /metrics: %q", line)
		}
		series[name] = v
	}
	if err := sc.Err(); err != nil {
		c.t.Fatalf("read /metrics: %v", err)
	}
	return series
}

// moved checks that since the last reading exactly the series of want
// moved, each by its amount, and takes a new baseline. want's keys are
// series without amPrefix.
func (c *amCounters) moved(what string, want map[string]float64) {
	c.t.Helper()
	now := c.read()
	for name := range want {
		if _, ok := now[amPrefix+name]; !ok {
			c.t.Errorf("%s: no series %s%s in /metrics", what, amPrefix, name)
		}
	}
	keys := slices.Sorted(maps.Keys(now))
	for _, k := range keys {
		if got, exp := now[k]-c.last[k], want[strings.TrimPrefix(k, amPrefix)]; got != exp {
			c.t.Errorf("%s: %s moved by %v, want %v", what, k, got, exp)
		}
	}
	c.last = now
}

// rebase takes a new baseline, whatever moved: after a test's setup.
func (c *amCounters) rebase() {
	c.t.Helper()
	c.last = c.read()
}

// Series of the authorization server's counters, as /metrics names them.
func amSignIn(method, result string) string {
	return fmt.Sprintf(`sign_ins_total{method=%q,result=%q}`, method, result)
}
func amTokens(grantType string) string {
	return fmt.Sprintf(`tokens_issued_total{grant_type=%q}`, grantType)
}
func amRegistration(result string) string {
	return fmt.Sprintf(`registrations_total{result=%q}`, result)
}
func amFetch(result string) string {
	return fmt.Sprintf(`client_metadata_fetches_total{result=%q}`, result)
}

const amReuse = `refresh_reuse_detected_total`

func TestMetricsPasswordSignIns(t *testing.T) {
	wrong := map[string]string{"username": "alice", "password": "not the password at all"}
	right := map[string]string{"username": "alice", "password": goodPassword}
	for _, tc := range []struct {
		name string
		// setup runs before the baseline; attempt is what is counted.
		setup      func(e *pageEnv, b *ptBrowser, page ptResponse)
		attempt    func(e *pageEnv, b *ptBrowser, page ptResponse) ptResponse
		wantStatus int
		want       map[string]float64
	}{{
		name:       "right password",
		attempt:    func(_ *pageEnv, b *ptBrowser, page ptResponse) ptResponse { return b.submit(page, right) },
		wantStatus: http.StatusOK,
		want:       map[string]float64{amSignIn("password", "ok"): 1},
	}, {
		name:       "wrong password",
		attempt:    func(_ *pageEnv, b *ptBrowser, page ptResponse) ptResponse { return b.submit(page, wrong) },
		wantStatus: http.StatusBadRequest,
		want:       map[string]float64{amSignIn("password", "failed"): 1},
	}, {
		name: "unknown user",
		attempt: func(_ *pageEnv, b *ptBrowser, page ptResponse) ptResponse {
			return b.submit(page, map[string]string{"username": "mallory", "password": goodPassword})
		},
		wantStatus: http.StatusBadRequest,
		want:       map[string]float64{amSignIn("password", "failed"): 1},
	}, {
		name: "disabled account, right password",
		setup: func(e *pageEnv, _ *ptBrowser, _ ptResponse) {
			if _, err := e.users.DisableUser(e.t.Context(), "bob"); err != nil {
				e.t.Fatalf("DisableUser: %v", err)
			}
		},
		attempt: func(_ *pageEnv, b *ptBrowser, page ptResponse) ptResponse {
			return b.submit(page, map[string]string{"username": "bob", "password": goodPassword})
		},
		wantStatus: http.StatusBadRequest,
		want:       map[string]float64{amSignIn("password", "failed"): 1},
	}, {
		// Wrong passwords until the backoff holds; then the right one is
		// refused unchecked, and counts as throttled, not as ok.
		name: "throttled",
		setup: func(e *pageEnv, b *ptBrowser, page ptResponse) {
			for i := 0; b.submit(page, wrong).status != http.StatusTooManyRequests; i++ {
				if i > 20 {
					e.t.Fatalf("no 429 after %d wrong passwords", i)
				}
			}
		},
		attempt:    func(_ *pageEnv, b *ptBrowser, page ptResponse) ptResponse { return b.submit(page, right) },
		wantStatus: http.StatusTooManyRequests,
		want:       map[string]float64{amSignIn("password", "throttled"): 1},
	}, {
		name:       "empty form: no attempt",
		attempt:    func(_ *pageEnv, b *ptBrowser, page ptResponse) ptResponse { return b.submit(page, nil) },
		wantStatus: http.StatusBadRequest,
		want:       nil,
	}, {
		name: "the account page's form",
		attempt: func(_ *pageEnv, b *ptBrowser, _ ptResponse) ptResponse {
			return b.submit(b.get(PathAccount), right)
		},
		wantStatus: http.StatusSeeOther,
		want:       map[string]float64{amSignIn("password", "ok"): 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m, counters := newAMCounters(t)
			e := newPageEnv(t, pageEnvOptions{metrics: m})
			b := e.browser()
			page := b.authorize(e.params(nil))
			if tc.setup != nil {
				tc.setup(e, b, page)
				counters.rebase()
			}
			if p := tc.attempt(e, b, page); p.status != tc.wantStatus {
				t.Fatalf("status %d, want %d:\n%s", p.status, tc.wantStatus, p.body)
			}
			counters.moved(tc.name, tc.want)
		})
	}
}

func TestMetricsUpstreamSignIns(t *testing.T) {
	// One server for all cases, which keeps the test quick: each case
	// signs in with a browser of its own.
	m, counters := newAMCounters(t)
	e := newUpstreamEnv(t, false, func(o *pageEnvOptions) { o.metrics = m })
	for _, tc := range []struct {
		name string
		// setup runs before the baseline; attempt runs the sign-in on
		// the sign-in page (page) and returns the last answer.
		setup      func(e *upEnv)
		attempt    func(e *upEnv, b *ptBrowser, page ptResponse) ptResponse
		wantStatus int
		want       map[string]float64
	}{{
		name: "admitted",
		attempt: func(e *upEnv, b *ptBrowser, page ptResponse) ptResponse {
			return b.signInUpstream(e, page, person("idp-gina", "gina@example.com"))
		},
		wantStatus: http.StatusOK,
		want:       map[string]float64{amSignIn("upstream", "ok"): 1},
	}, {
		name: "refused by the allow-lists",
		attempt: func(e *upEnv, b *ptBrowser, page ptResponse) ptResponse {
			return b.signInUpstream(e, page, person("idp-ivan", "ivan@elsewhere.example"))
		},
		wantStatus: http.StatusForbidden,
		want:       map[string]float64{amSignIn("upstream", "failed"): 1},
	}, {
		name: "an answer that does not verify",
		attempt: func(e *upEnv, b *ptBrowser, page ptResponse) ptResponse {
			login := person("idp-gina", "gina@example.com")
			login.Nonce = "the-nonce-of-another-sign-in"
			return b.signInUpstream(e, page, login)
		},
		wantStatus: http.StatusBadRequest,
		want:       map[string]float64{amSignIn("upstream", "failed"): 1},
	}, {
		name: "declined at the provider",
		attempt: func(_ *upEnv, b *ptBrowser, page ptResponse) ptResponse {
			state := b.toProvider(page).Query().Get("state")
			return b.get(PathUpstreamCallback + "?error=access_denied&state=" + url.QueryEscape(state))
		},
		wantStatus: http.StatusSeeOther,
		want:       map[string]float64{amSignIn("upstream", "failed"): 1},
	}, {
		name: "an answer without a code",
		attempt: func(_ *upEnv, b *ptBrowser, page ptResponse) ptResponse {
			state := b.toProvider(page).Query().Get("state")
			return b.get(PathUpstreamCallback + "?state=" + url.QueryEscape(state))
		},
		wantStatus: http.StatusBadRequest,
		want:       map[string]float64{amSignIn("upstream", "failed"): 1},
	}, {
		name: "an answer naming another issuer",
		attempt: func(e *upEnv, b *ptBrowser, page ptResponse) ptResponse {
			e.provider.SetLogin(person("idp-gina", "gina@example.com"))
			back := atProvider(e.t, e, b.toProvider(page))
			return b.get(back + "&iss=" + url.QueryEscape("https://evil.example"))
		},
		wantStatus: http.StatusBadRequest,
		want:       map[string]float64{amSignIn("upstream", "failed"): 1},
	}, {
		name: "disabled account",
		setup: func(e *upEnv) {
			b := e.browser()
			b.signInUpstream(e, b.authorize(e.params(nil)), person("idp-hank", "hank@example.com"))
			if _, err := e.users.DisableUser(e.t.Context(), "hank"); err != nil {
				e.t.Fatalf("DisableUser: %v", err)
			}
		},
		attempt: func(e *upEnv, b *ptBrowser, page ptResponse) ptResponse {
			return b.signInUpstream(e, page, person("idp-hank", "hank@example.com"))
		},
		wantStatus: http.StatusForbidden,
		want:       map[string]float64{amSignIn("upstream", "failed"): 1},
	}, {
		name: "a callback of no sign-in: not one",
		attempt: func(_ *upEnv, b *ptBrowser, _ ptResponse) ptResponse {
			return b.get(PathUpstreamCallback + "?code=whatever&state=not-a-state")
		},
		wantStatus: http.StatusBadRequest,
		want:       nil,
	}, {
		name: "started, never back: not counted",
		attempt: func(_ *upEnv, b *ptBrowser, page ptResponse) ptResponse {
			b.toProvider(page)
			return b.get(PathAccount)
		},
		wantStatus: http.StatusOK,
		want:       nil,
	}, {
		// Starts until the limit holds: only the one refused counts.
		// Last, as it spends the address's allowance.
		name: "throttled",
		attempt: func(e *upEnv, b *ptBrowser, page ptResponse) ptResponse {
			action, fields := upstreamForm(e.t, page)
			for i := 0; ; i++ {
				if p := b.post(action, fields); p.status != http.StatusSeeOther || i > 100 {
					return p
				}
			}
		},
		wantStatus: http.StatusTooManyRequests,
		want:       map[string]float64{amSignIn("upstream", "throttled"): 1},
	}} {
		if tc.setup != nil {
			tc.setup(e)
		}
		b := e.browser()
		page := b.authorize(e.params(nil))
		counters.rebase()
		if p := tc.attempt(e, b, page); p.status != tc.wantStatus {
			t.Fatalf("%s: status %d, want %d:\n%s", tc.name, p.status, tc.wantStatus, p.body)
		}
		counters.moved(tc.name, tc.want)
	}
}

func TestMetricsTokens(t *testing.T) {
	m, counters := newAMCounters(t)
	e := newEPEnv(t, func(o *ServerOptions) { o.Metrics = m })
	c := e.publicClient(t)
	code, verifier := e.authorize(t, c.ID, epAuthz{})
	other, otherVerifier := e.authorize(t, c.ID, epAuthz{})
	// The steps run in order, each on the tokens the ones before got.
	got := map[string]epTokens{}
	for _, step := range []struct {
		name       string
		form       func() url.Values
		wantStatus int
		want       map[string]float64
	}{{
		name:       "code exchange",
		form:       func() url.Values { return codeForm(c.ID, code, verifier) },
		wantStatus: http.StatusOK,
		want:       map[string]float64{amTokens(GrantAuthorizationCode): 1},
	}, {
		name:       "refresh",
		form:       func() url.Values { return refreshForm(c.ID, got["code exchange"].RefreshToken) },
		wantStatus: http.StatusOK,
		want:       map[string]float64{amTokens(GrantRefreshToken): 1},
	}, {
		// The first token again, its successor unused: the one retry
		// of a lost answer, which is no reuse.
		name:       "grace retry",
		form:       func() url.Values { return refreshForm(c.ID, got["code exchange"].RefreshToken) },
		wantStatus: http.StatusOK,
		want:       map[string]float64{amTokens(GrantRefreshToken): 1},
	}, {
		// The successor the retry replaced: reuse, and the grant goes.
		name:       "reuse",
		form:       func() url.Values { return refreshForm(c.ID, got["refresh"].RefreshToken) },
		wantStatus: http.StatusBadRequest,
		want:       map[string]float64{amReuse: 1},
	}, {
		name:       "refresh of the revoked grant",
		form:       func() url.Values { return refreshForm(c.ID, got["grace retry"].RefreshToken) },
		wantStatus: http.StatusBadRequest,
		want:       nil,
	}, {
		name:       "unknown refresh token",
		form:       func() url.Values { return refreshForm(c.ID, "no-such-token") },
		wantStatus: http.StatusBadRequest,
		want:       nil,
	}, {
		name:       "another code exchange",
		form:       func() url.Values { return codeForm(c.ID, other, otherVerifier) },
		wantStatus: http.StatusOK,
		want:       map[string]float64{amTokens(GrantAuthorizationCode): 1},
	}, {
		// Revokes its live grant too (checked below), but is no refresh
		// token's reuse.
		name:       "code replay",
		form:       func() url.Values { return codeForm(c.ID, other, otherVerifier) },
		wantStatus: http.StatusBadRequest,
		want:       nil,
	}} {
		r := e.postForm(t, PathToken, step.form())
		if r.Status != step.wantStatus {
			t.Fatalf("%s: status %d, body %s; want %d", step.name, r.Status, r.Body, step.wantStatus)
		}
		counters.moved(step.name, step.want)
		if r.Status == http.StatusOK {
			got[step.name] = tokens(t, r)
		}
	}
	if !e.revoked(t, grantOf(t, got["another code exchange"].AccessToken)) {
		t.Errorf("the code replay left its grant live: it tested no revocation")
	}
}

func TestMetricsRegistrations(t *testing.T) {
	m, counters := newAMCounters(t)
	e := newEPEnv(t, func(o *ServerOptions) { o.Metrics = m })
	const good = `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`
	// Each case comes from its own address, so that none spends
	// another's allowance.
	for i, tc := range []struct {
		name        string
		method      string // default POST
		contentType string
		body        string
		// before, registrations of good from the same address first.
		before     int
		wantStatus int
		want       map[string]float64
	}{
		{name: "ok", contentType: "application/json", body: good, wantStatus: http.StatusCreated,
			want: map[string]float64{amRegistration("ok"): 1}},
		{name: "invalid metadata", contentType: "application/json",
			body:       `{"redirect_uris":["http://app.example/cb"],"token_endpoint_auth_method":"none"}`,
			wantStatus: http.StatusBadRequest, want: map[string]float64{amRegistration("refused"): 1}},
		{name: "not JSON metadata", contentType: "application/json", body: `["not", "an", "object"]`,
			wantStatus: http.StatusBadRequest, want: map[string]float64{amRegistration("refused"): 1}},
		{name: "not JSON", contentType: "application/x-www-form-urlencoded", body: "redirect_uris=https://app.example/cb",
			wantStatus: http.StatusUnsupportedMediaType, want: map[string]float64{amRegistration("refused"): 1}},
		{name: "over the limit", contentType: "application/json", body: good, before: 10,
			wantStatus: http.StatusTooManyRequests, want: map[string]float64{amRegistration("throttled"): 1}},
		{name: "GET: no registration", method: http.MethodGet, wantStatus: http.StatusMethodNotAllowed},
	} {
		ip := fmt.Sprintf("203.0.113.%d", i+1)
		for range tc.before {
			if r := e.do(t, http.MethodPost, PathRegister, "application/json", strings.NewReader(good), fromIP(ip)); r.Status != http.StatusCreated {
				t.Fatalf("%s: registration before: status %d, body %s", tc.name, r.Status, r.Body)
			}
		}
		counters.rebase()
		method := tc.method
		if method == "" {
			method = http.MethodPost
		}
		if r := e.do(t, method, PathRegister, tc.contentType, strings.NewReader(tc.body), fromIP(ip)); r.Status != tc.wantStatus {
			t.Fatalf("%s: status %d, body %s; want %d", tc.name, r.Status, r.Body, tc.wantStatus)
		}
		counters.moved(tc.name, tc.want)
	}
}

func TestMetricsClientMetadataFetches(t *testing.T) {
	docs := newCIMDServer(t)
	good := docs.URL + "/good.json"
	docs.route("/good.json", cimdRoute{body: cimdDoc(good, nil)})
	other := docs.URL + "/other.json"
	docs.route("/other.json", cimdRoute{body: cimdDoc(other, nil)})
	third := docs.URL + "/third.json"
	docs.route("/third.json", cimdRoute{body: cimdDoc(third, nil)})
	gone := docs.URL + "/gone.json"
	docs.route("/gone.json", cimdRoute{status: http.StatusNotFound, body: `{}`})

	m, counters := newAMCounters(t)
	// The fetcher is built without metrics, as app builds it: the server
	// hands it its own.
	f := newTestCIMDFetcher(docs, CIMDOptions{RequesterFetches: 2})
	newEPEnv(t, func(o *ServerOptions) { o.CIMD, o.Metrics = f, m })

	for _, tc := range []struct {
		name, clientID, requester string
		wantErr                   CIMDErrorKind // "" for none
		want                      map[string]float64
	}{
		{"fetched", good, "198.51.100.1", "", map[string]float64{amFetch("ok"): 1}},
		{"from the cache", good, "198.51.100.1", "", nil},
		{"failed", gone, "198.51.100.2", CIMDBadStatus, map[string]float64{amFetch("failed"): 1}},
		{"failure remembered", gone, "198.51.100.2", CIMDBadStatus, nil},
		{"not a client ID URL: nothing fetched", "http://client.example/doc", "198.51.100.3", CIMDInvalidClientID, nil},
		// 198.51.100.2 has spent its two fetches (gone.json, other.json).
		{"requester's second fetch", other, "198.51.100.2", "", map[string]float64{amFetch("ok"): 1}},
		{"requester over its limit", third, "198.51.100.2", CIMDRateLimited, map[string]float64{amFetch("throttled"): 1}},
	} {
		_, err := f.Client(t.Context(), tc.clientID, tc.requester)
		if tc.wantErr == "" && err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.wantErr != "" {
			requireCIMDError(t, err, tc.wantErr)
		}
		counters.moved(tc.name, tc.want)
	}
}

// TestMetricsClientMetadataFetchInFlight: lookups that join a fetch add
// nothing to its one count, and a lookup refused for the fetches in
// flight counts as throttled.
func TestMetricsClientMetadataFetchInFlight(t *testing.T) {
	docs := newCIMDServer(t)
	slow := docs.URL + "/slow.json"
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	docs.route("/slow.json", cimdBlockingRoute(slow, entered, release))
	other := docs.route("/other.json", cimdRoute{body: cimdDoc(docs.URL+"/other.json", nil)})

	m, counters := newAMCounters(t)
	f := newTestCIMDFetcher(docs, CIMDOptions{MaxInFlight: 1})
	joined := make(chan struct{}, 4)
	f.testHookJoined = func() { joined <- struct{}{} }
	newEPEnv(t, func(o *ServerOptions) { o.CIMD, o.Metrics = f, m })

	const n = 3
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := f.Client(t.Context(), slow, cimdTestRequester)
			errs <- err
		})
	}
	cimdWait(t, entered, "the fetch")
	for i := range n - 1 {
		cimdWait(t, joined, fmt.Sprintf("lookup %d to join", i+2))
	}
	_, err := f.Client(t.Context(), other, cimdTestRequester)
	requireCIMDError(t, err, CIMDBusy)
	counters.moved("a lookup while the one slot is taken", map[string]float64{amFetch("throttled"): 1})

	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("lookup: %v", err)
		}
	}
	counters.moved(fmt.Sprintf("%d lookups of one fetch", n), map[string]float64{amFetch("ok"): 1})
}
