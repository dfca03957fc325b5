package e2e

// Client ID Metadata Document fetches that anyone can trigger, through
// app.Serve: the built-in authorization server must not fetch a document
// for every distinct client_id one address sends, and must not log a
// refused client_id whole.

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kanban-mcp/kanban-mcp/authserver"
)

// cimdJunkClientID is a client ID URL whose document this server will try
// to fetch and cannot: it points at loopback, which the production fetcher
// refuses to connect to (the attempt is logged as "client metadata
// document refused"). Each i is a distinct client_id.
func cimdJunkClientID(i int) string { return "https://127.0.0.1:1/junk-" + strconv.Itoa(i) + ".json" }

// cimdAuthorizeFrom asks the authorization endpoint, from c, to authorize
// clientID.
func cimdAuthorizeFrom(t *testing.T, srv *testServer, c *http.Client, clientID string) rpcResponse {
	t.Helper()
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {"https://client.example/callback"},
		"scope": {"kanban.read"}, "code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"},
	}
	resp, err := hardDo(c, mustRequest(t, http.MethodGet, srv.URL+"/oauth/authorize?"+q.Encode()))
	if err != nil {
		t.Fatalf("GET /oauth/authorize: %v", err)
	}
	return resp
}

// cimdFetchAttempts counts the documents the server tried to fetch: each
// failed fetch of a junk client_id is logged once.
func cimdFetchAttempts(t *testing.T, srv *testServer) int {
	t.Helper()
	n := 0
	for _, m := range hardLogLines(t, srv) {
		if m["msg"] == "client metadata document refused" && m["kind"] == "address_not_allowed" {
			n++
		}
	}
	return n
}

// TestCIMDFetchesPerAddressAreLimited: 30 distinct client ID URLs from one
// address make the server try only the per-address allowance of fetches
// (plus one per refill interval the test took); the others are answered
// 429 with Retry-After on the error page, and another address is served.
func TestCIMDFetchesPerAddressAreLimited(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": "", "TRUSTED_PROXY_HEADER": hardProxyHeader})
	flood := hardFrom("203.0.113.70")
	const sent = 30
	started := time.Now()
	refused, limited := 0, 0
	for i := range sent {
		r := cimdAuthorizeFrom(t, srv, flood, cimdJunkClientID(i))
		switch {
		case r.Status == http.StatusBadRequest && strings.Contains(string(r.Body), "could not be verified"):
			refused++
		case r.Status == http.StatusTooManyRequests && strings.Contains(string(r.Body), "Try again in a moment"):
			hardRetryAfter(t, r.Header, 60)
			limited++
		default:
			t.Fatalf("junk client_id %d: status %d, want 400 (fetch failed) or 429 (limited)\n%s", i, r.Status, r.Body)
		}
	}
	elapsed := time.Since(started)
	interval := authserver.DefaultCIMDRequesterWindow / authserver.DefaultCIMDRequesterFetches
	most := authserver.DefaultCIMDRequesterFetches + int(elapsed/interval)
	attempts := cimdFetchAttempts(t, srv)
	t.Logf("%d distinct client_ids from one address in %v: %d fetches tried, %d limited (bound %d)", sent, elapsed, attempts, limited, most)
	if attempts != refused {
		t.Errorf("%d fetches tried, but %d answers say the document could not be used", attempts, refused)
	}
	if attempts < 1 || attempts > most {
		t.Errorf("one address made the server try %d fetches for %d client_ids; the limit allows %d", attempts, sent, most)
	}

	if r := cimdAuthorizeFrom(t, srv, hardFrom("203.0.113.71"), cimdJunkClientID(sent)); r.Status != http.StatusBadRequest {
		t.Errorf("another address: status %d, want 400 (fetched, and refused on its merits)\n%s", r.Status, r.Body)
	}
	if got := cimdFetchAttempts(t, srv); got != attempts+1 {
		t.Errorf("after another address's lookup: %d fetches tried, want %d", got, attempts+1)
	}
	hardNoServerErrors(t, srv)
}

// TestRefusedClientIDLoggedCut: a 5,000-character client_id sent to the
// token and authorization endpoints is refused, and logged cut to 200
// characters, never whole.
func TestRefusedClientIDLoggedCut(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": ""})
	long := "https://client.example/" + strings.Repeat("x", 5000)

	r := hardForm(t, hardClient, srv.URL+"/oauth/token", url.Values{
		"grant_type": {"authorization_code"}, "client_id": {long}, "code": {"made-up"},
		"redirect_uri": {"https://client.example/callback"}, "code_verifier": {strings.Repeat("v", 43)},
	}, "", "")
	secOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
	if r := cimdAuthorizeFrom(t, srv, hardClient, long); r.Status != http.StatusBadRequest {
		t.Errorf("authorization endpoint: status %d, want 400", r.Status)
	}

	if strings.Contains(srv.Log.String(), long[:200]) {
		t.Errorf("the log holds more than 200 characters of the refused client_id")
	}
	cut := 0
	for _, m := range hardLogLines(t, srv) {
		id, _ := m["client_id"].(string)
		if !strings.HasPrefix(id, "https://client.example/xxx") {
			continue
		}
		if id != long[:199]+"…" || utf8.RuneCountInString(id) != 200 {
			t.Errorf("%q logs client_id %q (%d characters), want it cut to 200", m["msg"], id, utf8.RuneCountInString(id))
		}
		cut++
	}
	if cut < 2 {
		t.Errorf("%d log lines name the refused client_id, want one from each endpoint", cut)
	}
}
