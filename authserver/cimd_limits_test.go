package authserver

// The limits on fetching client metadata documents: per requester, in
// flight overall, the separate failure cache, and what the endpoints
// answer and log. The fetcher-level tests use the fetcher directly; the
// others go through the real HTTP handlers of a Server (epEnv) against a
// local TLS metadata server, whose request count is what was fetched.

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// hitsUnder counts the requests the metadata server got for paths under
// prefix.
func (s *cimdServer) hitsUnder(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, h := range s.hits {
		if strings.HasPrefix(p, prefix) {
			n += h
		}
	}
	return n
}

func TestCIMDRequesterLimit(t *testing.T) {
	srv := newCIMDServer(t)
	clk := newCIMDClock()
	f := newTestCIMDFetcher(srv, CIMDOptions{Now: clk.Now, RequesterFetches: 3, RequesterWindow: 30 * time.Second})
	good := srv.route("/good.json", cimdRoute{body: cimdDoc(srv.URL+"/good.json", nil)})
	if _, err := f.Client(t.Context(), good, "a"); err != nil {
		t.Fatalf("good document: %v", err)
	}
	for i := range 2 {
		_, err := f.Client(t.Context(), srv.URL+"/junk/"+strconv.Itoa(i), "a")
		requireCIMDError(t, err, CIMDBadStatus)
	}
	// The fourth fetch of requester a is refused: nothing fetched, and a
	// wait of one refill interval (30s / 3).
	_, err := f.Client(t.Context(), srv.URL+"/junk/refused", "a")
	if ce := requireCIMDError(t, err, CIMDRateLimited); ce.RetryAfter != 10*time.Second || !ce.Limited() {
		t.Errorf("RetryAfter = %v, Limited %v; want 10s, true", ce.RetryAfter, ce.Limited())
	}
	if n := srv.hitCount("/junk/refused"); n != 0 {
		t.Errorf("a refused lookup was fetched %d times", n)
	}
	// Cached outcomes cost nothing: the good document and a remembered
	// failure are answered while a is limited.
	if _, err := f.Client(t.Context(), good, "a"); err != nil {
		t.Errorf("cached document while limited: %v", err)
	}
	_, err = f.Client(t.Context(), srv.URL+"/junk/0", "a")
	requireCIMDError(t, err, CIMDBadStatus)
	// Another requester is not limited by a.
	_, err = f.Client(t.Context(), srv.URL+"/junk/refused", "b")
	requireCIMDError(t, err, CIMDBadStatus)
	// The refusal was not cached: after the wait, a fetches again.
	clk.Advance(10 * time.Second)
	_, err = f.Client(t.Context(), srv.URL+"/junk/other", "a")
	requireCIMDError(t, err, CIMDBadStatus)
	if n := srv.hitCount("/good.json"); n != 1 {
		t.Errorf("good document fetched %d times, want 1", n)
	}
}

func TestCIMDMaxInFlight(t *testing.T) {
	srv := newCIMDServer(t)
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	slow := func(i int) string {
		p := fmt.Sprintf("/slow/%d.json", i)
		return srv.route(p, cimdBlockingRoute(srv.URL+p, entered, release))
	}
	f := newTestCIMDFetcher(srv, CIMDOptions{MaxInFlight: 2})
	var wg sync.WaitGroup
	for i := range 2 {
		id := slow(i)
		wg.Go(func() {
			if _, err := f.Client(t.Context(), id, fmt.Sprint("requester-", i)); err != nil {
				t.Errorf("slow %d: %v", i, err)
			}
		})
	}
	cimdWait(t, entered, "the first fetch")
	cimdWait(t, entered, "the second fetch")

	third := slow(2)
	_, err := f.Client(t.Context(), third, "requester-3")
	if ce := requireCIMDError(t, err, CIMDBusy); ce.RetryAfter <= 0 {
		t.Errorf("RetryAfter = %v, want a positive wait", ce.RetryAfter)
	}
	close(release)
	wg.Wait()
	// Not cached, and the requester's allowance was not spent: it works
	// now that the slots are free.
	if _, err := f.Client(t.Context(), third, "requester-3"); err != nil {
		t.Errorf("after the slots were freed: %v", err)
	}
	if n := srv.hitCount("/slow/2.json"); n != 1 {
		t.Errorf("the refused document was fetched %d times, want 1 (after the refusal)", n)
	}
}

// TestCIMDFailuresDoNotEvictDocuments: failures have a cache of their own,
// so a flood of junk client_ids cannot push a good document out.
func TestCIMDFailuresDoNotEvictDocuments(t *testing.T) {
	srv := newCIMDServer(t)
	f := newTestCIMDFetcher(srv, CIMDOptions{MaxEntries: 2, MaxFailures: 3})
	good := srv.route("/good.json", cimdRoute{body: cimdDoc(srv.URL+"/good.json", nil)})
	if _, err := f.Client(t.Context(), good, cimdTestRequester); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		_, err := f.Client(t.Context(), srv.URL+"/junk/"+strconv.Itoa(i), cimdTestRequester)
		requireCIMDError(t, err, CIMDBadStatus)
	}
	if _, err := f.Client(t.Context(), good, cimdTestRequester); err != nil {
		t.Fatal(err)
	}
	if n := srv.hitCount("/good.json"); n != 1 {
		t.Errorf("good document fetched %d times, want 1: junk evicted it", n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.docs.len() != 1 || f.failures.len() != 3 {
		t.Errorf("caches hold %d documents and %d failures, want 1 and the bound 3", f.docs.len(), f.failures.len())
	}
}

// TestCIMDCacheKeepsRecentlyUsed: the document cache evicts the least
// recently used document, so one that is used all the time stays.
func TestCIMDCacheKeepsRecentlyUsed(t *testing.T) {
	srv := newCIMDServer(t)
	f := newTestCIMDFetcher(srv, CIMDOptions{MaxEntries: 2})
	id := func(p string) string { return srv.route(p, cimdRoute{body: cimdDoc(srv.URL+p, nil)}) }
	hot, a, b := id("/hot.json"), id("/a.json"), id("/b.json")
	for _, lookup := range []string{hot, a, hot, b, hot} {
		if _, err := f.Client(t.Context(), lookup, cimdTestRequester); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.hitCount("/hot.json"); n != 1 {
		t.Errorf("the document in constant use was fetched %d times, want 1", n)
	}
}

func TestLoggedClientID(t *testing.T) {
	long := "https://client.example/" + strings.Repeat("a", 5000)
	accents := strings.Repeat("é", 300)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"short", "https://chatgpt.com/oauth/client.json", "https://chatgpt.com/oauth/client.json"},
		{"exactly 200", strings.Repeat("x", 200), strings.Repeat("x", 200)},
		{"201", strings.Repeat("x", 201), strings.Repeat("x", 199) + "…"},
		{"5000", long, long[:199] + "…"},
		{"multi-byte characters are not split", accents, strings.Repeat("é", 199) + "…"},
	} {
		got := loggedClientID(tc.in)
		if got != tc.want {
			t.Errorf("%s: loggedClientID = %q, want %q", tc.name, got, tc.want)
		}
		if n := utf8.RuneCountInString(got); n > maxLoggedClientID || !utf8.ValidString(got) {
			t.Errorf("%s: %d characters (valid UTF-8: %v), want at most %d", tc.name, n, utf8.ValidString(got), maxLoggedClientID)
		}
	}
}

// cimdLimitsEnv is a Server whose fetcher uses the production limits but
// may reach the local metadata server (and nothing else).
func cimdLimitsEnv(t *testing.T, docs *cimdServer) *epEnv {
	t.Helper()
	return newEPEnv(t, func(o *ServerOptions) {
		o.CIMD = NewCIMDFetcher(CIMDOptions{RootCAs: docs.certPool(), UnsafeAllowAddressesForTests: cimdLoopbackOnly, Now: o.Now})
	})
}

// cimdAuthorize asks the authorization endpoint, from ip, to authorize
// clientID.
func cimdAuthorize(t *testing.T, e *epEnv, clientID, ip string) epResp {
	t.Helper()
	_, challenge := newPKCE()
	q := hsParams(clientID, "https://client.example/callback", "kanban.read", challenge, nil)
	return e.do(t, http.MethodGet, PathAuthorize+"?"+q.Encode(), "", nil, fromIP(ip))
}

// TestCIMDFetchLimitsAtTheEndpoints: distinct junk client_ids from one
// address make the server fetch only DefaultCIMDRequesterFetches
// documents; the rest are refused with 429 and Retry-After (an error page
// at the authorization endpoint, slow_down at the token and revocation
// endpoints), another address is served, and the refusals are logged with
// the client_id.
func TestCIMDFetchLimitsAtTheEndpoints(t *testing.T) {
	docs := newCIMDServer(t)
	e := cimdLimitsEnv(t, docs)
	const ip = "203.0.113.7"
	junk := func(i int) string { return docs.URL + "/junk/" + strconv.Itoa(i) + ".json" }
	for i := range DefaultCIMDRequesterFetches {
		if r := cimdAuthorize(t, e, junk(i), ip); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "could not be verified") {
			t.Fatalf("junk client_id %d: status %d, want 400 and the refusal page\n%s", i, r.Status, r.Body)
		}
	}
	for i := DefaultCIMDRequesterFetches; i < DefaultCIMDRequesterFetches+20; i++ {
		r := cimdAuthorize(t, e, junk(i), ip)
		if r.Status != http.StatusTooManyRequests || !strings.Contains(string(r.Body), "Try again in a moment") ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("junk client_id %d over the limit: status %d, want 429 and the try-again page\n%s", i, r.Status, r.Body)
		}
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 6 {
			t.Errorf("Retry-After = %q, want 1 to 6 seconds", r.Header.Get("Retry-After"))
		}
	}
	over := junk(100)
	v, _ := newPKCE()
	tokenAnswer := e.postForm(t, PathToken, cfTokenRequest(over, "made-up-code", "https://client.example/callback", v, e.resource), fromIP(ip))
	revokeAnswer := e.postForm(t, PathRevoke, url.Values{"client_id": {over}, "token": {"made-up"}}, fromIP(ip))
	for name, r := range map[string]epResp{"token": tokenAnswer, "revoke": revokeAnswer} {
		if diff := cmp.Diff(hsErr{Status: http.StatusTooManyRequests, Error: "slow_down"}, hsErrOf(t, r)); diff != "" || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s endpoint over the limit (-want +got):\n%sRetry-After %q", name, diff, r.Header.Get("Retry-After"))
		}
	}
	if n := docs.hitsUnder("/junk/"); n != DefaultCIMDRequesterFetches {
		t.Errorf("the metadata server got %d requests from one address's junk client_ids, want %d", n, DefaultCIMDRequesterFetches)
	}
	if r := cimdAuthorize(t, e, over, "203.0.113.8"); r.Status != http.StatusBadRequest {
		t.Errorf("another address: status %d, want 400 (fetched, and refused on its merits)", r.Status)
	}
	if n := docs.hitsUnder("/junk/"); n != DefaultCIMDRequesterFetches+1 {
		t.Errorf("after another address's lookup: %d requests, want %d", n, DefaultCIMDRequesterFetches+1)
	}
	if !strings.Contains(e.logs.String(), "limit reached") || !strings.Contains(e.logs.String(), junk(DefaultCIMDRequesterFetches)) {
		t.Errorf("the refusals are not logged with their client_id:\n%s", e.logs.String())
	}
}

// TestCIMDJunkDoesNotEvictGoodDocument: a good document, once fetched,
// is still served from the cache after 2,000 junk client_ids (from many
// addresses, so that the per-address limit lets them all through) failed.
func TestCIMDJunkDoesNotEvictGoodDocument(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 requests and fetches: skipped under -short")
	}
	docs := newCIMDServer(t)
	e := cimdLimitsEnv(t, docs)
	good := docs.route("/good.json", cimdRoute{body: cimdDoc(docs.URL+"/good.json", nil)})
	if r := cimdAuthorize(t, e, good, "198.51.100.1"); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `name="password"`) {
		t.Fatalf("good client: status %d, want 200 and the sign-in page\n%s", r.Status, r.Body)
	}
	const junk = 2000
	for i := range junk {
		ip := fmt.Sprintf("203.0.%d.%d", 113+i/DefaultCIMDRequesterFetches/250, i/DefaultCIMDRequesterFetches%250+1)
		if r := cimdAuthorize(t, e, fmt.Sprintf("%s/junk/%d.json", docs.URL, i), ip); r.Status != http.StatusBadRequest {
			t.Fatalf("junk %d from %s: status %d, want 400\n%s", i, ip, r.Status, r.Body)
		}
	}
	if n := docs.hitsUnder("/junk/"); n != junk {
		t.Fatalf("%d junk fetches, want %d", n, junk)
	}
	if r := cimdAuthorize(t, e, good, "198.51.100.1"); r.Status != http.StatusOK {
		t.Fatalf("good client after the junk: status %d, want 200\n%s", r.Status, r.Body)
	}
	if n := docs.hitCount("/good.json"); n != 1 {
		t.Errorf("the good document was fetched %d times, want 1: the junk evicted it", n)
	}
}

// TestCIMDBusyAtTheEndpoints: while DefaultCIMDMaxInFlight fetches are
// running, a lookup that needs one more is answered 503 with Retry-After
// (temporarily_unavailable at the token endpoint, an error page at the
// authorization endpoint), and nothing is fetched for it.
func TestCIMDBusyAtTheEndpoints(t *testing.T) {
	docs := newCIMDServer(t)
	e := cimdLimitsEnv(t, docs)
	entered := make(chan struct{}, DefaultCIMDMaxInFlight)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range DefaultCIMDMaxInFlight {
		p := fmt.Sprintf("/slow/%d.json", i)
		id := docs.route(p, cimdBlockingRoute(docs.URL+p, entered, release))
		wg.Go(func() { cimdAuthorize(t, e, id, fmt.Sprintf("198.51.100.%d", i+1)) })
	}
	for i := range DefaultCIMDMaxInFlight {
		cimdWait(t, entered, fmt.Sprintf("fetch %d", i+1))
	}

	one := docs.route("/one-more.json", cimdRoute{body: cimdDoc(docs.URL+"/one-more.json", nil)})
	v, _ := newPKCE()
	r := e.postForm(t, PathToken, cfTokenRequest(one, "made-up-code", "https://client.example/callback", v, e.resource), fromIP("203.0.113.9"))
	if diff := cmp.Diff(hsErr{Status: http.StatusServiceUnavailable, Error: "temporarily_unavailable"}, hsErrOf(t, r)); diff != "" || r.Header.Get("Retry-After") == "" {
		t.Errorf("token endpoint while busy (-want +got):\n%sRetry-After %q", diff, r.Header.Get("Retry-After"))
	}
	p := cimdAuthorize(t, e, one, "203.0.113.9")
	if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") == "" || !strings.Contains(string(p.Body), "Try again in a moment") {
		t.Errorf("authorization endpoint while busy: status %d, Retry-After %q; want 503 with Retry-After and the try-again page\n%s",
			p.Status, p.Header.Get("Retry-After"), p.Body)
	}
	if n := docs.hitCount("/one-more.json"); n != 0 {
		t.Errorf("fetched %d times while busy, want 0", n)
	}
	close(release)
	wg.Wait()
	if r := cimdAuthorize(t, e, one, "203.0.113.9"); r.Status != http.StatusOK {
		t.Errorf("once the fetches are done: status %d, want 200\n%s", r.Status, r.Body)
	}
}

// TestRefusedClientIDIsLoggedCut: a 5,000-character client_id refused at
// the authorization, token and revocation endpoints is logged cut to 200
// characters, never whole.
func TestRefusedClientIDIsLoggedCut(t *testing.T) {
	docs := newCIMDServer(t)
	e := cimdLimitsEnv(t, docs)
	for _, id := range []string{
		"https://client.example/" + strings.Repeat("x", 5000), // too long to be a client ID URL
		docs.URL + "/" + strings.Repeat("y", 1900),            // a client ID URL whose document is missing
	} {
		cimdAuthorize(t, e, id, "203.0.113.20")
		v, _ := newPKCE()
		e.postForm(t, PathToken, cfTokenRequest(id, "made-up-code", "https://client.example/callback", v, e.resource), fromIP("203.0.113.20"))
		e.postForm(t, PathRevoke, url.Values{"client_id": {id}, "token": {"made-up"}}, fromIP("203.0.113.20"))
		logs := e.logs.String()
		if strings.Contains(logs, id[:200]) {
			t.Errorf("the log holds more than 200 characters of a %d-character client_id", len(id))
		}
		if n := strings.Count(logs, "client_id="+id[:199]+"…"); n < 3 {
			t.Errorf("%d log lines name the %d-character client_id cut to 200 characters, want one per endpoint\n%s", n, len(id), logs)
		}
	}
}
