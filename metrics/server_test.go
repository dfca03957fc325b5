package metrics_test

import (
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/metrics"
	"github.com/kanban-mcp/kanban-mcp/metrics/metricstest"
)

// TestRecorders: each recorder moves exactly its own series, by exactly
// what happened.
func TestRecorders(t *testing.T) {
	reg := metrics.New()
	reg.Known(metrics.KnownLabels{Tools: []string{"get_board", "add_card"}, Outcomes: []string{"ok", "quota"}, Clients: []string{"claude", "other"},
		AuthResults: []string{"ok", "expired"}, RetryReasons: []string{"deadlock"}})
	srv := httptest.NewServer(reg.Handler(false))
	t.Cleanup(srv.Close)
	url := srv.URL + "/metrics"

	// Declared label values show at zero before anything happened.
	before := metricstest.Scrape(t, url)
	for _, series := range [][]string{
		{"mcp_tool_calls_total", "tool", "add_card", "outcome", "quota", "client", "claude"},
		{"mcp_auth_results_total", "result", "expired"},
		{"mcp_db_retries_total", "reason", "deadlock"},
		{"mcp_auth_cache_lookups_total", "cache", "revocation", "result", "hit"},
		{"mcp_authserver_sign_ins_total", "result", "throttled", "method", "upstream"},
	} {
		if !before.Has(series[0], series[1:]...) {
			t.Errorf("no %v before any event", series)
		}
	}

	reg.Tools.Call("get_board", "ok", "claude", 3*time.Millisecond)
	reg.Tools.Call("get_board", "ok", "claude", time.Millisecond)
	reg.Tools.Refused("add_card", "unauthenticated", "other")
	reg.Auth.Result("expired")
	reg.Auth.CacheLookup(metrics.CacheToken, true)
	reg.Auth.CacheLookup(metrics.CacheToken, false)
	reg.Auth.CacheLookup(metrics.CacheToken, true)
	reg.Keys.Refreshed(nil)
	reg.Keys.Refreshed(errors.New("issuer down"))
	reg.DB.Retried("deadlock")
	reg.AuthServer.SignIn(metrics.SignInThrottled, "password")
	reg.AuthServer.TokenIssued("refresh_token")
	reg.AuthServer.RefreshReuse()
	reg.AuthServer.Registration("refused")
	reg.AuthServer.ClientMetadataFetch("failed")
	reg.Audit(func() metrics.AuditStats { return metrics.AuditStats{Depth: 7, Dropped: 1, OverBudget: 2, LowDisk: 3} })
	reg.DB.Pool("postgres", func() metrics.PoolStats {
		return metrics.PoolStats{Max: 10, InUse: 4, Idle: 2, Waits: 5, WaitTime: 1500 * time.Millisecond}
	})
	h := reg.HTTP.Route("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
	reg.HTTP.Served("GET /healthz", 200, 2*time.Millisecond)
	reg.HTTP.Served("", 404, time.Millisecond)

	after := metricstest.Scrape(t, url)
	keys := []string{
		"mcp_tool_calls_total|tool|get_board|outcome|ok|client|claude",
		"mcp_tool_calls_total|tool|add_card",
		"mcp_tool_call_duration_seconds_count|tool|get_board",
		"mcp_tool_call_duration_seconds_count|tool|add_card",
		"mcp_auth_results_total|result|expired",
		"mcp_auth_results_total|result|ok",
		"mcp_auth_cache_lookups_total|cache|token|result|hit",
		"mcp_auth_cache_lookups_total|cache|token|result|miss",
		"mcp_auth_cache_lookups_total|cache|revocation",
		"mcp_jwks_refreshes_total|result|ok",
		"mcp_jwks_refreshes_total|result|failed",
		"mcp_db_retries_total|reason|deadlock",
		"mcp_authserver_sign_ins_total|result|throttled|method|password",
		"mcp_authserver_sign_ins_total|result|ok",
		"mcp_authserver_tokens_issued_total|grant_type|refresh_token",
		"mcp_authserver_refresh_reuse_detected_total",
		"mcp_authserver_registrations_total|result|refused",
		"mcp_authserver_client_metadata_fetches_total|result|failed",
		"mcp_audit_queue_depth",
		"mcp_audit_rows_dropped_total|reason|queue_full",
		"mcp_audit_rows_dropped_total|reason|over_budget",
		"mcp_audit_rows_dropped_total|reason|low_disk",
		"mcp_db_pool_connections|pool|postgres|state|in_use",
		"mcp_db_pool_connections|pool|postgres|state|idle",
		"mcp_db_pool_max_connections|pool|postgres",
		"mcp_db_pool_waits_total|pool|postgres",
		"mcp_db_pool_wait_seconds_total|pool|postgres",
		"mcp_http_requests_total|route|GET /healthz|code|200",
		"mcp_http_requests_total|route|unmatched|code|404",
		"mcp_http_request_duration_seconds_count|route|GET /healthz",
		"mcp_http_requests_in_flight|route|GET /healthz",
	}
	want := map[string]float64{
		"mcp_tool_calls_total|tool|get_board|outcome|ok|client|claude":   2,
		"mcp_tool_calls_total|tool|add_card":                             1,
		"mcp_tool_call_duration_seconds_count|tool|get_board":            2,
		"mcp_tool_call_duration_seconds_count|tool|add_card":             0, // refused before the tool: no time
		"mcp_auth_results_total|result|expired":                          1,
		"mcp_auth_results_total|result|ok":                               0,
		"mcp_auth_cache_lookups_total|cache|token|result|hit":            2,
		"mcp_auth_cache_lookups_total|cache|token|result|miss":           1,
		"mcp_auth_cache_lookups_total|cache|revocation":                  0,
		"mcp_jwks_refreshes_total|result|ok":                             1,
		"mcp_jwks_refreshes_total|result|failed":                         1,
		"mcp_db_retries_total|reason|deadlock":                           1,
		"mcp_authserver_sign_ins_total|result|throttled|method|password": 1,
		"mcp_authserver_sign_ins_total|result|ok":                        0,
		"mcp_authserver_tokens_issued_total|grant_type|refresh_token":    1,
		"mcp_authserver_refresh_reuse_detected_total":                    1,
		"mcp_authserver_registrations_total|result|refused":              1,
		"mcp_authserver_client_metadata_fetches_total|result|failed":     1,
		"mcp_audit_queue_depth":                                          7,
		"mcp_audit_rows_dropped_total|reason|queue_full":                 1,
		"mcp_audit_rows_dropped_total|reason|over_budget":                2,
		"mcp_audit_rows_dropped_total|reason|low_disk":                   3,
		"mcp_db_pool_connections|pool|postgres|state|in_use":             4,
		"mcp_db_pool_connections|pool|postgres|state|idle":               2,
		"mcp_db_pool_max_connections|pool|postgres":                      10,
		"mcp_db_pool_waits_total|pool|postgres":                          5,
		"mcp_db_pool_wait_seconds_total|pool|postgres":                   1.5,
		"mcp_http_requests_total|route|GET /healthz|code|200":            1,
		"mcp_http_requests_total|route|unmatched|code|404":               1,
		"mcp_http_request_duration_seconds_count|route|GET /healthz":     1,
		"mcp_http_requests_in_flight|route|GET /healthz":                 0, // back to zero once served
	}
	if diff := cmp.Diff(want, metricstest.Diff(before, after, keys...)); diff != "" {
		t.Errorf("what moved (-want +got):\n%s", diff)
	}
	if got := after.Sum("mcp_tool_call_duration_seconds_sum", "tool", "get_board"); math.Abs(got-0.004) > 1e-9 {
		t.Errorf("get_board's time = %gs, want 0.004s", got)
	}
	if age := after.Sum("mcp_jwks_age_seconds"); age < 0 || age > 60 {
		t.Errorf("keys age after a fetch = %g s, want a few seconds at most", age)
	}
	if age := before.Sum("mcp_jwks_age_seconds"); !math.IsNaN(age) {
		t.Errorf("keys age before any fetch = %g, want NaN", age)
	}
}

// TestNilRecorders: parts built without metrics count nothing and do not
// fail.
func TestNilRecorders(t *testing.T) {
	var r metrics.Registry
	r.Tools.Call("t", "ok", "other", time.Second)
	r.Tools.Refused("t", "ok", "other")
	r.Auth.Result("ok")
	r.Auth.CacheLookup(metrics.CacheToken, true)
	r.Keys.Refreshed(nil)
	r.DB.Retried("deadlock")
	r.DB.Pool("x", func() metrics.PoolStats { t.Fatal("read"); return metrics.PoolStats{} })
	r.AuthServer.SignIn("ok", "password")
	r.AuthServer.TokenIssued("x")
	r.AuthServer.RefreshReuse()
	r.AuthServer.Registration("ok")
	r.AuthServer.ClientMetadataFetch("ok")
	r.HTTP.Served("", 200, 0)
	called := false
	r.HTTP.Route("/x", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	if !called {
		t.Error("a route without metrics was not served")
	}
}

// TestNames: every metric the server defines is listed, under the
// namespace, and nothing else is.
func TestNames(t *testing.T) {
	reg := metrics.New()
	names := reg.Names()
	for _, n := range names {
		if !strings.HasPrefix(n, metrics.Namespace+"_") {
			t.Errorf("%s is not under the namespace %s", n, metrics.Namespace)
		}
	}
	for _, want := range []string{"mcp_http_requests_total", "mcp_tool_calls_total", "mcp_audit_rows_dropped_total", "mcp_db_pool_connections", "mcp_jwks_age_seconds"} {
		if !contains(names, want) {
			t.Errorf("Names() lacks %s: %v", want, names)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestFamilies: every family the server defines has a type and a help
// text for the README's table.
func TestFamilies(t *testing.T) {
	families := metrics.Families()
	if len(families) != len(metrics.New().Names()) {
		t.Errorf("Families() has %d, Names() %d", len(families), len(metrics.New().Names()))
	}
	for _, f := range families {
		if f.Type == "" || f.Help == "" {
			t.Errorf("%s: type %q, help %q", f.Name, f.Type, f.Help)
		}
	}
}
