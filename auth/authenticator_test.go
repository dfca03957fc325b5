package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
	"github.com/kanban-mcp/kanban-mcp/metrics"
	"github.com/kanban-mcp/kanban-mcp/metrics/metricstest"
)

// fakeRevocations stands in for the operator's SQLite blocklist (which is
// tested against a real database in revocation/): it answers with a fixed
// verdict and records whom it was asked about.
type fakeRevocations struct {
	revoked bool
	err     error

	mu    sync.Mutex
	asked []*auth.Principal
}

func (f *fakeRevocations) Revoked(_ context.Context, p *auth.Principal) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, p)
	return f.revoked, f.err
}

func TestAuthenticator(t *testing.T) {
	t.Parallel()
	iss := testissuer.New(t, testissuer.Options{})
	v := newVerifier(t, auth.VerifierConfig{Issuer: iss.URL})
	waitReady(t, v)

	claims := iss.Standard(testAudience, "user-7", "agent-7", "kanban.read kanban.write")
	good := iss.Mint(t, claims)
	wantPrincipal := &auth.Principal{
		Issuer:    iss.URL,
		Subject:   "user-7",
		ClientID:  "agent-7",
		Scopes:    auth.Scopes{"kanban.read", "kanban.write"},
		TokenID:   claims["jti"].(string),
		Audience:  testAudience,
		ExpiresAt: time.Unix(claims["exp"].(int64), 0),
	}
	expired := iss.Mint(t, with(claims, testissuer.Claims{"exp": time.Now().Add(-time.Hour).Unix()}))

	const noIssuerDesc = "This server has no authorization server configured, so it cannot accept any token."
	const headerDesc = `The Authorization header must be a single "Bearer <token>".`
	const urlDesc = "Access tokens are not accepted in the URL; send them in the Authorization header."

	type want struct {
		ok        bool
		principal *auth.Principal
		status    int    // 0: nothing written
		errCode   string // the challenge's error, when a challenge is expected
		desc      string // exact error_description
		descHas   string // or a substring of it
		result    string // the result counted (auth.Result*)
	}
	tests := []struct {
		name        string
		target      string
		headers     []string // Authorization values
		noVerifier  bool
		revocations *fakeRevocations
		want        want
	}{
		{name: "no header is anonymous", target: "/mcp", want: want{ok: true, result: auth.ResultNone}},
		{name: "valid token", target: "/mcp", headers: []string{"Bearer " + good}, want: want{ok: true, principal: wantPrincipal, result: auth.ResultOK}},
		{name: "scheme is case-insensitive", target: "/mcp", headers: []string{"bearer " + good}, want: want{ok: true, principal: wantPrincipal}},
		{name: "query access_token", target: "/mcp?access_token=" + good, want: want{status: 400, errCode: "invalid_request", desc: urlDesc, result: auth.ResultBadRequest}},
		{name: "query access_token beside a good header", target: "/mcp?access_token=x", headers: []string{"Bearer " + good}, want: want{status: 400, errCode: "invalid_request", desc: urlDesc}},
		{name: "empty query access_token", target: "/mcp?access_token=", want: want{status: 400, errCode: "invalid_request", desc: urlDesc}},
		{name: "two Authorization headers", target: "/mcp", headers: []string{"Bearer " + good, "Bearer " + good}, want: want{status: 400, errCode: "invalid_request", desc: headerDesc, result: auth.ResultBadRequest}},
		{name: "another scheme is no bearer token", target: "/mcp", headers: []string{"Basic x"}, want: want{ok: true, result: auth.ResultNone}},
		{name: "Bearer beside another scheme", target: "/mcp", headers: []string{"Basic x", "Bearer " + good}, want: want{status: 400, errCode: "invalid_request", desc: headerDesc}},
		{name: "Bearer alone", target: "/mcp", headers: []string{"Bearer"}, want: want{status: 400, errCode: "invalid_request", desc: headerDesc}},
		{name: "Bearer and spaces", target: "/mcp", headers: []string{"Bearer   "}, want: want{status: 400, errCode: "invalid_request", desc: headerDesc}},
		{name: "token with a space", target: "/mcp", headers: []string{"Bearer a b"}, want: want{status: 400, errCode: "invalid_request", desc: headerDesc}},
		{name: "empty header is no bearer token", target: "/mcp", headers: []string{""}, want: want{ok: true}},
		{name: "bad token", target: "/mcp", headers: []string{"Bearer not-a-jwt"}, want: want{status: 401, errCode: "invalid_token", desc: descMalformed, result: auth.ResultMalformed}},
		{name: "expired token", target: "/mcp", headers: []string{"Bearer " + expired}, want: want{status: 401, errCode: "invalid_token", desc: descExpired, result: auth.ResultExpired}},
		{name: "no verifier", target: "/mcp", headers: []string{"Bearer " + good}, noVerifier: true, want: want{status: 401, errCode: "invalid_token", desc: noIssuerDesc, result: auth.ResultNoIssuer}},
		{name: "no verifier, no token", target: "/mcp", noVerifier: true, want: want{ok: true}},
		{name: "revoked (the principal is returned for the audit)", target: "/mcp", headers: []string{"Bearer " + good}, revocations: &fakeRevocations{revoked: true}, want: want{principal: wantPrincipal, status: 401, errCode: "invalid_token", descHas: "revoked", result: auth.ResultRevoked}},
		{name: "revocation check fails", target: "/mcp", headers: []string{"Bearer " + good}, revocations: &fakeRevocations{err: errors.New("database is locked")}, want: want{status: 503, result: auth.ResultUnavailable}},
		{name: "not revoked", target: "/mcp", headers: []string{"Bearer " + good}, revocations: &fakeRevocations{}, want: want{ok: true, principal: wantPrincipal}},
		{name: "bad token never reaches the revocation check", target: "/mcp", headers: []string{"Bearer not-a-jwt"}, revocations: &fakeRevocations{}, want: want{status: 401, errCode: "invalid_token", desc: descMalformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := metrics.New()
			a := &auth.Authenticator{ResourceMetadata: testPRM, Metrics: reg.Auth}
			if !tt.noVerifier {
				a.Verifier = v
			}
			if tt.revocations != nil {
				a.Revocations = tt.revocations
			}
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, tt.target, strings.NewReader(`{}`))
			for _, h := range tt.headers {
				req.Header.Add("Authorization", h)
			}
			rec := httptest.NewRecorder()
			p, ok := a.Authenticate(rec, req)
			if tt.want.result != "" {
				// Exactly one result per request, and the one expected.
				counted := metricstest.Read(t, reg)
				if got, all := counted.Sum("mcp_auth_results_total", "result", tt.want.result), counted.Sum("mcp_auth_results_total"); got != 1 || all != 1 {
					t.Errorf("results counted: %g of %q, %g in all; want 1 and 1", got, tt.want.result, all)
				}
			}

			if ok != tt.want.ok {
				t.Errorf("ok = %v, want %v", ok, tt.want.ok)
			}
			if diff := cmp.Diff(tt.want.principal, p); diff != "" {
				t.Errorf("principal mismatch (-want +got):\n%s", diff)
			}
			res := rec.Result()
			if tt.want.status == 0 {
				if rec.Body.Len() != 0 || len(res.Header) != 0 {
					t.Errorf("wrote a response (%d, %v, %q), want nothing", res.StatusCode, res.Header, rec.Body.String())
				}
			} else if res.StatusCode != tt.want.status {
				t.Errorf("status = %d, want %d (body %q)", res.StatusCode, tt.want.status, rec.Body.String())
			}
			// Every "cannot check now" answer asks for the same wait, the
			// MCP endpoint's when its database is out of reach, and carries
			// no challenge: the token is not at fault.
			if tt.want.status == http.StatusServiceUnavailable {
				if got := res.Header.Get("Retry-After"); got != auth.UnavailableRetryAfter || res.Header.Get("WWW-Authenticate") != "" {
					t.Errorf("503 with Retry-After %q and WWW-Authenticate %q; want %s and none", got, res.Header.Get("WWW-Authenticate"), auth.UnavailableRetryAfter)
				}
			}

			if tt.revocations != nil {
				tt.revocations.mu.Lock()
				asked := tt.revocations.asked
				tt.revocations.mu.Unlock()
				switch {
				case tt.want.principal != nil || tt.want.descHas == "revoked" || tt.want.status == 503:
					if diff := cmp.Diff([]*auth.Principal{wantPrincipal}, asked); diff != "" {
						t.Errorf("revocation check asked about (-want +got):\n%s", diff)
					}
				case len(asked) != 0:
					t.Errorf("revocation check asked about %v for a refused token", asked)
				}
			}

			if tt.want.status == 503 {
				if got := res.Header.Get("Retry-After"); got == "" {
					t.Error("503 without Retry-After")
				}
				if strings.Contains(rec.Body.String(), "database is locked") {
					t.Errorf("503 body leaks the internal error: %q", rec.Body.String())
				}
				return
			}
			if tt.want.errCode == "" {
				return
			}

			// A challenge: WWW-Authenticate, no-store and the OAuth error body.
			params, err := parseBearer(res.Header.Get("WWW-Authenticate"))
			if err != nil {
				t.Fatalf("WWW-Authenticate %q: %v", res.Header.Get("WWW-Authenticate"), err)
			}
			if params["resource_metadata"] != testPRM {
				t.Errorf("resource_metadata = %q, want %q", params["resource_metadata"], testPRM)
			}
			if params["error"] != tt.want.errCode {
				t.Errorf("error = %q, want %q", params["error"], tt.want.errCode)
			}
			if _, has := params["scope"]; has {
				t.Errorf("challenge has a scope (%q); a bad token needs none", params["scope"])
			}
			desc := params["error_description"]
			if tt.want.desc != "" && desc != tt.want.desc {
				t.Errorf("error_description = %q, want %q", desc, tt.want.desc)
			}
			if tt.want.descHas != "" && !strings.Contains(desc, tt.want.descHas) {
				t.Errorf("error_description = %q, want it to contain %q", desc, tt.want.descHas)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
			}
			if diff := cmp.Diff(map[string]string{"error": tt.want.errCode, "error_description": desc}, body); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
			if strings.Contains(rec.Body.String()+res.Header.Get("WWW-Authenticate"), good) {
				t.Error("the response echoes the token")
			}
		})
	}
}

// TestAuthenticatorBadTokenChallenge pins the exact header of a bad-token
// refusal (SPEC-NOTES §4: resource_metadata, error, error_description).
func TestAuthenticatorBadTokenChallenge(t *testing.T) {
	t.Parallel()
	iss := testissuer.New(t, testissuer.Options{})
	v := newVerifier(t, auth.VerifierConfig{Issuer: iss.URL})
	waitReady(t, v)
	a := &auth.Authenticator{Verifier: v, ResourceMetadata: testPRM}

	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		req := httptest.NewRequestWithContext(t.Context(), method, "/mcp", nil)
		req.Header.Set("Authorization", "Bearer abc.def")
		rec := httptest.NewRecorder()
		if p, ok := a.Authenticate(rec, req); ok || p != nil {
			t.Errorf("%s: Authenticate = (%v, %v), want (nil, false)", method, p, ok)
		}
		want := `Bearer resource_metadata="` + testPRM + `", error="invalid_token", error_description="The access token is malformed."`
		if diff := cmp.Diff(want, rec.Header().Get("WWW-Authenticate")); diff != "" {
			t.Errorf("%s: WWW-Authenticate mismatch (-want +got):\n%s", method, diff)
		}
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: status = %d, want 401", method, rec.Code)
		}
	}
}

func TestAnyRevoked(t *testing.T) {
	p := &auth.Principal{Issuer: "https://i", Subject: "s"}
	failing := &fakeRevocations{err: errors.New("down")}
	tests := []struct {
		name    string
		checks  []auth.RevocationChecker
		want    bool
		wantErr bool
	}{
		{"none", nil, false, false},
		{"all clear", []auth.RevocationChecker{&fakeRevocations{}, &fakeRevocations{}}, false, false},
		{"second revokes", []auth.RevocationChecker{&fakeRevocations{}, &fakeRevocations{revoked: true}}, true, false},
		{"a failure fails closed", []auth.RevocationChecker{&fakeRevocations{}, failing}, false, true},
	}
	for _, tt := range tests {
		got, err := auth.AnyRevoked(tt.checks...).Revoked(t.Context(), p)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: Revoked = %v, %v; want %v, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}
