package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestIntrospect: a confidential client the operator added learns whether
// an access token would be accepted at the resource, and what it grants;
// every other token, and every other caller, learns nothing.
func TestIntrospect(t *testing.T) {
	const other = "https://other.example/mcp"
	e := newEPEnv(t, func(o *ServerOptions) { o.ExtraResources = []string{other} })
	public := e.publicClient(t)
	register := func(method string, source ClientSource) (Client, string) {
		return mustRegister(t, e.store, RegistrationRequest{
			RedirectURIs: []string{epRedirect}, TokenEndpointAuthMethod: method,
			GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, ClientName: "Resource server",
		}, source)
	}
	rs, rsSecret := register(AuthMethodClientSecretBasic, SourcePreregistered)
	rsPost, rsPostSecret := register(AuthMethodClientSecretPost, SourcePreregistered)
	dcr, dcrSecret := register(AuthMethodClientSecretBasic, SourceDCR)
	asRS := withBasic(rs.ID, rsSecret)

	// active is what the answer for tok must say, worked out from the
	// token as the resource server verifies it.
	active := func(tok string) map[string]any {
		p := e.verifyAccess(t, tok)
		return map[string]any{
			"active": true, "scope": strings.Join(p.Scopes, " "), "client_id": p.ClientID, "sub": p.Subject,
			"aud": e.resource, "iss": e.issuer, "exp": float64(p.ExpiresAt.Unix()), "token_type": "Bearer", "jti": p.TokenID,
		}
	}
	inactive := map[string]any{"active": false}

	for _, tc := range []struct {
		name string
		// run returns the answer and the body it must have (nil: an error
		// answer, checked by wantStatus and wantError).
		run        func(t *testing.T) (epResp, map[string]any)
		wantStatus int
		wantError  string
	}{{
		name: "active access token, client_secret_basic",
		run: func(t *testing.T) (epResp, map[string]any) {
			tok := e.connect(t, public.ID, epAuthz{})
			return e.postForm(t, PathIntrospect, url.Values{"token": {tok.AccessToken}}, asRS), active(tok.AccessToken)
		},
		wantStatus: http.StatusOK,
	}, {
		name: "active access token, client_secret_post",
		run: func(t *testing.T) (epResp, map[string]any) {
			tok := e.connect(t, public.ID, epAuthz{})
			f := url.Values{"token": {tok.AccessToken}, "client_id": {rsPost.ID}, "client_secret": {rsPostSecret}}
			return e.postForm(t, PathIntrospect, f), active(tok.AccessToken)
		},
		wantStatus: http.StatusOK,
	}, {
		name: "a refresh token is for its client alone",
		run: func(t *testing.T) (epResp, map[string]any) {
			tok := e.connect(t, public.ID, epAuthz{})
			return e.postForm(t, PathIntrospect, url.Values{"token": {tok.RefreshToken}}, asRS), inactive
		},
		wantStatus: http.StatusOK,
	}, {
		name: "the grant was revoked",
		run: func(t *testing.T) (epResp, map[string]any) {
			tok := e.connect(t, public.ID, epAuthz{})
			if r := e.postForm(t, PathRevoke, revokeForm(public.ID, tok.RefreshToken, "")); r.Status != http.StatusOK {
				t.Fatalf("revoke: %d %s", r.Status, r.Body)
			}
			return e.postForm(t, PathIntrospect, url.Values{"token": {tok.AccessToken}}, asRS), inactive
		},
		wantStatus: http.StatusOK,
	}, {
		name: "the user is on the operator's blocklist",
		run: func(t *testing.T) (epResp, map[string]any) {
			tok := e.connect(t, public.ID, epAuthz{})
			e.blocked.set(e.alice.Subject, true)
			defer e.blocked.set(e.alice.Subject, false)
			return e.postForm(t, PathIntrospect, url.Values{"token": {tok.AccessToken}}, asRS), inactive
		},
		wantStatus: http.StatusOK,
	}, {
		name: "a forged token",
		run: func(t *testing.T) (epResp, map[string]any) {
			tok := e.connect(t, public.ID, epAuthz{})
			head, _, _ := strings.Cut(tok.AccessToken, ".")
			return e.postForm(t, PathIntrospect, url.Values{"token": {head + ".e30.c2lnbmF0dXJl"}}, asRS), inactive
		},
		wantStatus: http.StatusOK,
	}, {
		name: "a token for another resource we issue tokens for",
		run: func(t *testing.T) (epResp, map[string]any) {
			verifier, challenge := newPKCE()
			code, err := e.grants.IssueCode(t.Context(), CodeRequest{
				Subject: e.alice.Subject, ClientID: public.ID, RedirectURI: epRedirect, CodeChallenge: challenge,
				Resource: other, Scope: []string{"kanban.read"},
			})
			if err != nil {
				t.Fatal(err)
			}
			f := codeForm(public.ID, code, verifier)
			f.Set("resource", other)
			tok := tokens(t, e.postForm(t, PathToken, f))
			r := e.postForm(t, PathIntrospect, url.Values{"token": {tok.AccessToken}}, asRS)
			got := r.JSON(t)
			if got["aud"] != other || got["active"] != true {
				t.Errorf("answer %v, want active with aud %s", got, other)
			}
			return r, got
		},
		wantStatus: http.StatusOK,
	}, {
		name: "a client the operator blocked",
		run: func(t *testing.T) (epResp, map[string]any) {
			tok := e.connect(t, public.ID, epAuthz{})
			e.blocked.set(rs.ID, true)
			defer e.blocked.set(rs.ID, false)
			return e.postForm(t, PathIntrospect, url.Values{"token": {tok.AccessToken}}, asRS), nil
		},
		wantStatus: http.StatusForbidden, wantError: "unauthorized_client",
	}, {
		name: "no token",
		run: func(t *testing.T) (epResp, map[string]any) {
			return e.postForm(t, PathIntrospect, url.Values{}, asRS), nil
		},
		wantStatus: http.StatusBadRequest, wantError: "invalid_request",
	}, {
		name: "wrong secret",
		run: func(t *testing.T) (epResp, map[string]any) {
			return e.postForm(t, PathIntrospect, url.Values{"token": {"x"}}, withBasic(rs.ID, "wrong")), nil
		},
		wantStatus: http.StatusUnauthorized, wantError: "invalid_client",
	}, {
		name: "a public client",
		run: func(t *testing.T) (epResp, map[string]any) {
			return e.postForm(t, PathIntrospect, url.Values{"token": {"x"}, "client_id": {public.ID}}), nil
		},
		wantStatus: http.StatusUnauthorized, wantError: "invalid_client",
	}, {
		name: "a confidential client registered through DCR",
		run: func(t *testing.T) (epResp, map[string]any) {
			tok := e.connect(t, public.ID, epAuthz{})
			return e.postForm(t, PathIntrospect, url.Values{"token": {tok.AccessToken}}, withBasic(dcr.ID, dcrSecret)), nil
		},
		wantStatus: http.StatusForbidden, wantError: "unauthorized_client",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r, want := tc.run(t)
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, body %s; want %d", r.Status, r.Body, tc.wantStatus)
			}
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			if tc.wantError != "" {
				if got := r.JSON(t)["error"]; got != tc.wantError {
					t.Errorf("error %v, want %s", got, tc.wantError)
				}
				return
			}
			if diff := cmp.Diff(want, r.JSON(t)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}

	// Only POST (TestMetadataDocuments checks that the metadata names the
	// endpoint).
	if r := e.do(t, http.MethodGet, PathIntrospect, "", nil); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET %s: %d, want 405", PathIntrospect, r.Status)
	}
}
