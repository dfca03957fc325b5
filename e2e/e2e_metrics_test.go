package e2e

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/metrics/metricstest"
)

// TestMetricsListener: with METRICS_ADDR the server serves /metrics on
// that private address, and never on the public one; without
// METRICS_PPROF it serves no profiles.
func TestMetricsListener(t *testing.T) {
	metricsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	srv := startServer(t, map[string]string{"METRICS_ADDR": metricsAddr})

	get := func(url string) rpcResponse {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		return do(t, req)
	}
	got := get("http://" + metricsAddr + "/metrics")
	if got.Status != http.StatusOK || !strings.Contains(string(got.Body), "\ngo_goroutines ") {
		t.Errorf("GET /metrics on METRICS_ADDR: %d, go_goroutines in it: %v", got.Status, strings.Contains(string(got.Body), "\ngo_goroutines "))
	}
	if got := get(srv.URL + "/metrics"); got.Status != http.StatusNotFound {
		t.Errorf("GET /metrics on the public listener: %d, want 404", got.Status)
	}
	if got := get("http://" + metricsAddr + "/debug/pprof/"); got.Status != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ without METRICS_PPROF: %d, want 404", got.Status)
	}
}

// TestMetricsCountAScriptedRun: after a scripted run against an external
// issuer (anonymous and signed-in calls, allowed and refused, an expired
// token, a revocation by the operator, a rotation of the issuer's keys)
// each counter on /metrics moved by exactly what happened.
func TestMetricsCountAScriptedRun(t *testing.T) {
	t.Parallel()
	metricsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	srv := startServer(t, map[string]string{"METRICS_ADDR": metricsAddr})
	scrape := func() metricstest.Samples { return metricstest.Scrape(t, "http://"+metricsAddr+"/metrics") }
	getenv := func(k string) string { return srv.Env[k] }

	valid := srv.token(t, "alice", "agent-1", "kanban.write")
	readOnly := srv.token(t, "alice", "agent-ro", "kanban.read")
	expiredClaims := srv.Issuer.Standard(srv.MCP(), "alice", "agent-1", "kanban.write")
	expiredClaims["exp"] = time.Now().Add(-time.Hour).Unix()
	expired := srv.Issuer.Mint(t, expiredClaims)
	revoked := srv.token(t, "carol", "agent-revoked", "kanban.write")
	claude := map[string]string{"User-Agent": "Claude-User"}
	callAs := func(token, tool string, args map[string]any, headers map[string]string, status int) {
		t.Helper()
		body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": tool, "arguments": args}})
		if err != nil {
			t.Fatal(err)
		}
		h := map[string]string{}
		maps.Copy(h, headers)
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		if got := srv.post(t, body, h); got.Status != status {
			t.Fatalf("%s: status %d, want %d: %s", tool, got.Status, status, got.Body)
		}
	}

	before := scrape()
	if got := srv.rpc(t, "", "tools/list", nil); got.Status != http.StatusOK {
		t.Fatalf("tools/list: %d", got.Status)
	}
	callAs(valid, "create_board", map[string]any{"title": "Counted"}, claude, http.StatusOK)
	callAs(valid, "list_boards", nil, claude, http.StatusOK)
	callAs(readOnly, "create_board", map[string]any{"title": "Not allowed"}, nil, http.StatusOK) // a challenge in the result
	callAs("", "create_board", map[string]any{"title": "Anonymous"}, nil, http.StatusOK)
	callAs(expired, "list_boards", nil, nil, http.StatusUnauthorized)
	if code, out := runCLI(t, getenv, "", "revoke", "client", "agent-revoked"); code != 0 {
		t.Fatalf("revoke client: %d %s", code, out)
	}
	callAs(revoked, "whoami", nil, nil, http.StatusUnauthorized)
	// The issuer rotates its keys: the first token signed with the new
	// one makes the server fetch the key set again.
	srv.Issuer.Rotate(t)
	callAs(srv.token(t, "alice", "agent-1", "kanban.write"), "list_boards", nil, nil, http.StatusOK)
	after := scrape()

	want := map[string]float64{
		"mcp_auth_results_total|result|none":                                           2,
		"mcp_auth_results_total|result|ok":                                             4,
		"mcp_auth_results_total|result|expired":                                        1,
		"mcp_auth_results_total|result|revoked":                                        1,
		"mcp_auth_results_total|result|insufficient_scope":                             1,
		"mcp_auth_results_total":                                                       9,
		"mcp_tool_calls_total|tool|create_board|outcome|ok|client|claude":              1,
		"mcp_tool_calls_total|tool|list_boards|outcome|ok|client|claude":               1,
		"mcp_tool_calls_total|tool|create_board|outcome|insufficient_scope|client|sdk": 1,
		"mcp_tool_calls_total|tool|create_board|outcome|unauthenticated|client|sdk":    1,
		"mcp_tool_calls_total|tool|list_boards|outcome|unauthenticated|client|sdk":     1,
		"mcp_tool_calls_total|tool|whoami|outcome|unauthenticated|client|sdk":          1,
		"mcp_tool_calls_total|tool|list_boards|outcome|ok|client|sdk":                  1,
		"mcp_tool_calls_total":                                                         7,
		"mcp_tool_call_duration_seconds_count|tool|create_board":                       3,
		"mcp_tool_call_duration_seconds_count|tool|list_boards":                        2, // the expired token's call never reached the tool
		"mcp_auth_cache_lookups_total|cache|token|result|hit":                          1,
		"mcp_auth_cache_lookups_total|cache|token|result|miss":                         5,
		"mcp_auth_cache_lookups_total|cache|revocation|result|hit":                     1,
		"mcp_auth_cache_lookups_total|cache|revocation|result|miss":                    4,
		"mcp_jwks_refreshes_total|result|ok":                                           1,
		"mcp_jwks_refreshes_total|result|failed":                                       0,
		"mcp_http_requests_total|route|/mcp|code|200":                                  6,
		"mcp_http_requests_total|route|/mcp|code|401":                                  2,
		"mcp_http_request_duration_seconds_count|route|/mcp":                           8,
	}
	if diff := cmp.Diff(want, metricstest.Diff(before, after, slices.Collect(maps.Keys(want))...)); diff != "" {
		t.Errorf("what the run moved (-want +got):\n%s", diff)
	}
	// The audit queue and the database pools are read at each scrape.
	for _, series := range [][]string{
		{"mcp_audit_queue_depth"},
		{"mcp_audit_rows_dropped_total", "reason", "queue_full"},
		{"mcp_db_pool_max_connections", "pool", "sqlite_writer"},
		{"mcp_db_pool_max_connections", "pool", "sqlite_reader"},
	} {
		if !after.Has(series[0], series[1:]...) {
			t.Errorf("/metrics has no %v", series)
		}
	}
	if dropped := after.Sum("mcp_audit_rows_dropped_total"); dropped != 0 {
		t.Errorf("%g audit rows dropped in a quiet run", dropped)
	}
	if age := after.Sum("mcp_jwks_age_seconds"); age < 0 || age > 60 {
		t.Errorf("the keys' age right after a fetch = %g s", age)
	}
	// No label holds what a caller sent: no client_id, no subject.
	for name, samples := range after {
		for _, s := range samples {
			for k, v := range s.Labels {
				for _, secret := range []string{"agent-1", "agent-ro", "agent-revoked", "alice", "carol", "Counted"} {
					if strings.Contains(v, secret) {
						t.Errorf("%s{%s=%q} repeats what a caller sent", name, k, v)
					}
				}
			}
		}
	}
}

// TestMetricsCountTheBuiltInServer: a scripted run against the built-in
// authorization server (a registration, a wrong password, a sign-in with
// its code exchange, a refresh, a call, the operator's revocation of the
// client and the call it refuses) moves its counters by exactly that.
func TestMetricsCountTheBuiltInServer(t *testing.T) {
	t.Parallel()
	metricsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": "", "AUTH_CHALLENGE": "http", "METRICS_ADDR": metricsAddr})
	scrape := func() metricstest.Samples { return metricstest.Scrape(t, "http://"+metricsAddr+"/metrics") }
	password, err := os.ReadFile(filepath.Join(filepath.Dir(srv.DBPath), "demo-password.txt"))
	if err != nil {
		t.Fatal(err)
	}

	before := scrape()
	clientID := secRegister(t, srv, "Counted client")
	// A wrong password first, in a browser of its own.
	wrong := secBrowser()
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {secRedirect}, "scope": {"kanban.write"},
		"state": {"s"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	form := hiddenFields(fetchPage(t, wrong, http.MethodGet, srv.URL+"/oauth/authorize?"+q.Encode(), nil))
	form.Set("username", "demo")
	form.Set("password", "not the password")
	if got := browse(t, wrong, http.MethodPost, srv.URL+"/oauth/authorize", form); got.Status != http.StatusBadRequest || !strings.Contains(string(got.Body), `name="password"`) {
		t.Fatalf("a wrong password: %d, want 400 and the sign-in form again", got.Status)
	}
	tokens := secConnect(t, srv, secBrowser(), clientID, "demo", strings.TrimSpace(string(password)), "kanban.write")
	refreshed := secTokensOf(t, secRefresh(t, srv, clientID, tokens.Refresh, ""))
	srv.mustCall(t, refreshed.Access, "whoami", nil)
	secCLI(t, srv, "", "revoke", "client", clientID)
	if got := srv.call(t, refreshed.Access, "whoami", nil); got.Status != http.StatusUnauthorized {
		t.Fatalf("whoami after the client's revocation: %d", got.Status)
	}
	after := scrape()

	want := map[string]float64{
		"mcp_authserver_registrations_total|result|ok":                     1,
		"mcp_authserver_registrations_total":                               1,
		"mcp_authserver_sign_ins_total|result|failed|method|password":      1,
		"mcp_authserver_sign_ins_total|result|ok|method|password":          1,
		"mcp_authserver_sign_ins_total":                                    2,
		"mcp_authserver_tokens_issued_total|grant_type|authorization_code": 1,
		"mcp_authserver_tokens_issued_total|grant_type|refresh_token":      1,
		"mcp_authserver_refresh_reuse_detected_total":                      0,
		"mcp_auth_results_total|result|ok":                                 1,
		"mcp_auth_results_total|result|revoked":                            1,
		"mcp_tool_calls_total|tool|whoami|outcome|ok":                      1,
		"mcp_tool_calls_total|tool|whoami|outcome|unauthenticated":         1,
		"mcp_http_requests_total|route|/oauth/register|code|201":           1,
		"mcp_http_requests_total|route|/oauth/token|code|200":              2,
		"mcp_http_requests_total|route|/mcp|code|401":                      1,
		"mcp_jwks_refreshes_total":                                         0, // its own keys are never fetched
	}
	if diff := cmp.Diff(want, metricstest.Diff(before, after, slices.Collect(maps.Keys(want))...)); diff != "" {
		t.Errorf("what the run moved (-want +got):\n%s", diff)
	}
}
