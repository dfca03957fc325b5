package authserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
)

// tokenShape returns the token answer with every token replaced by
// "<token>" (after checking it is a non-empty string), for comparison.
func tokenShape(t *testing.T, r epResp) map[string]any {
	t.Helper()
	m := r.JSON(t)
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if v, ok := m[k]; ok {
			if s, _ := v.(string); s == "" {
				t.Errorf("%s = %#v, want a non-empty string", k, v)
			}
			m[k] = "<token>"
		}
	}
	return m
}

func TestTokenCodeExchange(t *testing.T) {
	for _, tc := range []struct {
		name        string
		grantTypes  []string
		authz       epAuthz
		wantAnswer  map[string]any
		wantScopes  auth.Scopes
		wantIDToken bool
	}{{
		name:  "kanban scope: access and refresh token, no ID token",
		authz: epAuthz{scope: []string{"kanban.write"}},
		wantAnswer: map[string]any{"access_token": "<token>", "token_type": "Bearer", "expires_in": float64(900),
			"refresh_token": "<token>", "scope": "kanban.write kanban.read"},
		wantScopes: auth.Scopes{"kanban.write", "kanban.read"},
	}, {
		name:  "openid: an ID token too",
		authz: epAuthz{scope: []string{"openid", "kanban.read", "profile"}, nonce: "n-0S6_WzA2Mj"},
		wantAnswer: map[string]any{"access_token": "<token>", "token_type": "Bearer", "expires_in": float64(900),
			"refresh_token": "<token>", "scope": "kanban.read openid profile", "id_token": "<token>"},
		wantScopes:  auth.Scopes{"kanban.read", "openid", "profile"},
		wantIDToken: true,
	}, {
		name:       "client without the refresh_token grant: no refresh token",
		grantTypes: []string{GrantAuthorizationCode},
		authz:      epAuthz{scope: []string{"kanban.admin"}},
		wantAnswer: map[string]any{"access_token": "<token>", "token_type": "Bearer", "expires_in": float64(900),
			"scope": "kanban.admin kanban.write kanban.read"},
		wantScopes: auth.Scopes{"kanban.admin", "kanban.write", "kanban.read"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEPEnv(t, nil)
			c := e.publicClient(t, tc.grantTypes...)
			code, verifier := e.authorize(t, c.ID, tc.authz)
			authorizedAt := e.clock.Now()
			e.clock.Advance(2 * time.Second) // the exchange comes a little later
			form := codeForm(c.ID, code, verifier)
			form.Set("resource", e.resource) // as ChatGPT sends it
			r := e.postForm(t, PathToken, form, withHeader("Origin", "https://app.example"))
			if r.Status != http.StatusOK {
				t.Fatalf("status %d, body %s", r.Status, r.Body)
			}
			if diff := cmp.Diff(tc.wantAnswer, tokenShape(t, r)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			for h, want := range map[string]string{
				"Cache-Control": "no-store", "Pragma": "no-cache", "Content-Type": "application/json",
				"Access-Control-Allow-Origin": "*",
			} {
				if got := r.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			tok := tokens(t, r)

			// The access token, as the resource server sees it.
			grants, err := e.grants.ListGrants(t.Context(), e.alice.Subject)
			if err != nil || len(grants) != 1 {
				t.Fatalf("ListGrants = %v, %v; want one grant", grants, err)
			}
			p := e.verifyAccess(t, tok.AccessToken)
			want := &auth.Principal{Issuer: e.issuer, Subject: e.alice.Subject, ClientID: c.ID, Scopes: tc.wantScopes, GrantID: grants[0].ID, Audience: e.resource}
			if diff := cmp.Diff(want, p, cmpopts.IgnoreFields(auth.Principal{}, "TokenID", "ExpiresAt")); diff != "" {
				t.Errorf("principal (-want +got):\n%s", diff)
			}
			header, claims := decodeJWT(t, tok.AccessToken)
			kids := jwksKIDs(t, e)
			if header["typ"] != "at+jwt" || header["alg"] != "RS256" || !slices.Contains(kids, fmt.Sprint(header["kid"])) {
				t.Errorf("access token header %v: want typ at+jwt, alg RS256 and a kid of the JWKS %v", header, kids)
			}
			if diff := cmp.Diff(strs(e.resource), claims["aud"]); diff != "" {
				t.Errorf("aud (-want +got):\n%s", diff)
			}
			if got, want := claims["exp"], float64(e.clock.Now().Add(15*time.Minute).Unix()); got != want {
				t.Errorf("exp = %v, want %v", got, want)
			}

			// The ID token: signed with a JWKS key, for the client.
			if (tok.IDToken != "") != tc.wantIDToken {
				t.Fatalf("id_token present = %v, want %v", tok.IDToken != "", tc.wantIDToken)
			}
			if tc.wantIDToken {
				kf, err := keyfunc.NewJWKSetJSON(e.do(t, http.MethodGet, PathJWKS, "", nil).Body)
				if err != nil {
					t.Fatalf("keyfunc over the JWKS: %v", err)
				}
				var idClaims jwt.MapClaims
				parsed, err := jwt.ParseWithClaims(tok.IDToken, &idClaims, kf.Keyfunc,
					jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(e.issuer), jwt.WithAudience(c.ID), jwt.WithExpirationRequired())
				if err != nil {
					t.Fatalf("the ID token does not verify: %v", err)
				}
				if parsed.Header["typ"] != "JWT" {
					t.Errorf("ID token typ = %v, want JWT", parsed.Header["typ"])
				}
				got := map[string]any{}
				for _, k := range []string{"iss", "sub", "aud", "nonce", "auth_time"} {
					got[k] = idClaims[k]
				}
				wantID := map[string]any{"iss": e.issuer, "sub": e.alice.Subject, "aud": c.ID, "nonce": tc.authz.nonce,
					"auth_time": float64(authorizedAt.Unix())}
				if diff := cmp.Diff(wantID, got); diff != "" {
					t.Errorf("ID token claims (-want +got):\n%s", diff)
				}
			}

			// The client counts as used, so it does not expire.
			stored, err := e.store.Client(t.Context(), c.ID)
			if err != nil {
				t.Fatalf("Client: %v", err)
			}
			if !stored.LastUsedAt.Equal(e.clock.Now()) {
				t.Errorf("client last used at %v, want %v", stored.LastUsedAt, e.clock.Now())
			}
		})
	}
}

func TestTokenConfidentialClients(t *testing.T) {
	e := newEPEnv(t, nil)
	basic, basicSecret := e.confidentialClient(t, AuthMethodClientSecretBasic)
	post, postSecret := e.confidentialClient(t, AuthMethodClientSecretPost)
	// percentAll encodes every byte, which RFC 6749 §2.3.1's decoding
	// must undo.
	percentAll := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
		return b.String()
	}
	for _, tc := range []struct {
		name   string
		client Client
		form   func(url.Values)
		mods   []epMod
	}{
		{"client_secret_basic", basic, func(f url.Values) { f.Del("client_id") }, []epMod{withBasic(basic.ID, basicSecret)}},
		{"client_secret_basic, client_id repeated in the body", basic, nil, []epMod{withBasic(basic.ID, basicSecret)}},
		{"client_secret_basic, every byte percent-encoded", basic, func(f url.Values) { f.Del("client_id") },
			[]epMod{withRawBasic(percentAll(basic.ID), percentAll(basicSecret))}},
		{"client_secret_post", post, func(f url.Values) { f.Set("client_secret", postSecret) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, verifier := e.authorize(t, tc.client.ID, epAuthz{})
			form := codeForm(tc.client.ID, code, verifier)
			if tc.form != nil {
				tc.form(form)
			}
			tok := tokens(t, e.postForm(t, PathToken, form, tc.mods...))
			if tok.RefreshToken == "" {
				t.Errorf("no refresh token")
			}
			// Refresh with the same authentication.
			rf := refreshForm(tc.client.ID, tok.RefreshToken)
			if tc.form != nil {
				tc.form(rf)
			}
			tokens(t, e.postForm(t, PathToken, rf, tc.mods...))
		})
	}
}

// TestTokenRefusals: each refused token request gets the RFC 6749 §5.2
// (or RFC 8707) error, and no token.
func TestTokenRefusals(t *testing.T) {
	e := newEPEnv(t, nil)
	public := e.publicClient(t)
	codeOnly := e.publicClient(t, GrantAuthorizationCode)
	other := e.publicClient(t)
	basic, basicSecret := e.confidentialClient(t, AuthMethodClientSecretBasic)
	post, postSecret := e.confidentialClient(t, AuthMethodClientSecretPost)

	// request is one token request: a path with a query, a form and
	// modifiers.
	type request struct {
		query string
		body  string // replaces the form when set
		ctype string // replaces the form content type when set
		form  url.Values
		mods  []epMod
	}
	// exchange builds a code exchange for client c, then lets change alter it.
	exchange := func(c Client, change func(*request)) func(t *testing.T) request {
		return func(t *testing.T) request {
			code, verifier := e.authorize(t, c.ID, epAuthz{})
			r := request{form: codeForm(c.ID, code, verifier)}
			if change != nil {
				change(&r)
			}
			return r
		}
	}
	basicAuth := withBasic(basic.ID, basicSecret)
	const basicChallenge = `Basic realm="` + product.Name + `", charset="UTF-8"`

	for i, tc := range []struct {
		name          string
		request       func(t *testing.T) request
		wantStatus    int
		wantError     string
		wantChallenge string
	}{
		{"control: a correct exchange", exchange(public, nil), http.StatusOK, "", ""},
		{"control: resource equal to the Resource", exchange(public, func(r *request) { r.form.Set("resource", e.resource) }), http.StatusOK, "", ""},
		{"wrong code_verifier", exchange(public, func(r *request) { v, _ := newPKCE(); r.form.Set("code_verifier", v) }),
			http.StatusBadRequest, "invalid_grant", ""},
		{"code_verifier too short", exchange(public, func(r *request) { r.form.Set("code_verifier", "short") }),
			http.StatusBadRequest, "invalid_grant", ""},
		{"redirect_uri one character off", exchange(public, func(r *request) { r.form.Set("redirect_uri", epRedirect+"x") }),
			http.StatusBadRequest, "invalid_grant", ""},
		{"foreign resource", exchange(public, func(r *request) { r.form.Set("resource", "https://evil.example/mcp") }),
			http.StatusBadRequest, "invalid_target", ""},
		{"resource with a trailing slash", exchange(public, func(r *request) { r.form.Set("resource", e.resource+"/") }),
			http.StatusBadRequest, "invalid_target", ""},
		{"two resources", exchange(public, func(r *request) { r.form["resource"] = []string{e.resource, "https://evil.example/mcp"} }),
			http.StatusBadRequest, "invalid_target", ""},
		{"unknown code", exchange(public, func(r *request) { r.form.Set("code", "not-a-code") }),
			http.StatusBadRequest, "invalid_grant", ""},
		{"another client's code", exchange(other, func(r *request) { r.form.Set("client_id", public.ID) }),
			http.StatusBadRequest, "invalid_grant", ""},
		{"missing code_verifier", exchange(public, func(r *request) { r.form.Del("code_verifier") }),
			http.StatusBadRequest, "invalid_request", ""},
		{"code sent twice", exchange(public, func(r *request) { r.form.Add("code", "again") }),
			http.StatusBadRequest, "invalid_request", ""},
		{"confidential client, wrong secret", exchange(basic, func(r *request) {
			r.mods = []epMod{withBasic(basic.ID, basicSecret+"x")}
		}), http.StatusUnauthorized, "invalid_client", basicChallenge},
		{"confidential client, no secret", exchange(basic, nil), http.StatusUnauthorized, "invalid_client", basicChallenge},
		{"client_secret_basic client sending client_secret_post", exchange(basic, func(r *request) {
			r.form.Set("client_secret", basicSecret)
		}), http.StatusUnauthorized, "invalid_client", basicChallenge},
		{"client_secret_post client sending Basic", exchange(post, func(r *request) {
			r.mods = []epMod{withBasic(post.ID, postSecret)}
		}), http.StatusUnauthorized, "invalid_client", basicChallenge},
		{"public client sending a secret by Basic", exchange(public, func(r *request) {
			r.mods = []epMod{withBasic(public.ID, "made-up-secret")}
		}), http.StatusUnauthorized, "invalid_client", basicChallenge},
		{"public client sending a secret in the body", exchange(public, func(r *request) {
			r.form.Set("client_secret", "made-up-secret")
		}), http.StatusUnauthorized, "invalid_client", ""},
		{"Basic and client_secret together", exchange(basic, func(r *request) {
			r.mods = []epMod{basicAuth}
			r.form.Set("client_secret", basicSecret)
		}), http.StatusBadRequest, "invalid_request", ""},
		{"Basic that is not base64", exchange(basic, func(r *request) {
			r.mods = []epMod{withHeader("Authorization", "Basic !!!")}
		}), http.StatusUnauthorized, "invalid_client", basicChallenge},
		{"unknown client", exchange(public, func(r *request) { r.form.Set("client_id", "no-such-client") }),
			http.StatusUnauthorized, "invalid_client", ""},
		{"no client_id", exchange(public, func(r *request) { r.form.Del("client_id") }),
			http.StatusUnauthorized, "invalid_client", ""},
		{"client_secret in the URL", exchange(post, func(r *request) {
			r.form.Set("client_secret", postSecret)
			r.query = "client_secret=" + url.QueryEscape(postSecret)
		}), http.StatusBadRequest, "invalid_request", ""},
		{"code in the URL", exchange(public, func(r *request) { r.query = "code=" + r.form.Get("code") }),
			http.StatusBadRequest, "invalid_request", ""},
		{"refresh_token in the URL", exchange(public, func(r *request) { r.query = "refresh_token=x" }),
			http.StatusBadRequest, "invalid_request", ""},
		{"unsupported grant type", exchange(public, func(r *request) { r.form.Set("grant_type", "client_credentials") }),
			http.StatusBadRequest, "unsupported_grant_type", ""},
		{"password grant", exchange(public, func(r *request) { r.form.Set("grant_type", "password") }),
			http.StatusBadRequest, "unsupported_grant_type", ""},
		{"no grant_type", exchange(public, func(r *request) { r.form.Del("grant_type") }),
			http.StatusBadRequest, "invalid_request", ""},
		{"JSON body", exchange(public, func(r *request) {
			b, _ := json.Marshal(map[string]string{"grant_type": "authorization_code", "code": r.form.Get("code"), "client_id": public.ID})
			r.body, r.ctype = string(b), "application/json"
		}), http.StatusBadRequest, "invalid_request", ""},
		{"body over 64 KiB", exchange(public, func(r *request) { r.form.Set("state", strings.Repeat("x", 64<<10)) }),
			http.StatusRequestEntityTooLarge, "invalid_request", ""},
		{"refresh by a client without the refresh_token grant", func(t *testing.T) request {
			return request{form: refreshForm(codeOnly.ID, "whatever")}
		}, http.StatusBadRequest, "unauthorized_client", ""},
		{"refresh asking for a higher level", func(t *testing.T) request {
			tok := e.connect(t, public.ID, epAuthz{scope: []string{"kanban.read"}})
			f := refreshForm(public.ID, tok.RefreshToken)
			f.Set("scope", "kanban.read kanban.write")
			return request{form: f}
		}, http.StatusBadRequest, "invalid_scope", ""},
		{"refresh asking for openid not granted", func(t *testing.T) request {
			tok := e.connect(t, public.ID, epAuthz{scope: []string{"kanban.read"}})
			f := refreshForm(public.ID, tok.RefreshToken)
			f.Set("scope", "openid")
			return request{form: f}
		}, http.StatusBadRequest, "invalid_scope", ""},
		{"refresh with a foreign resource", func(t *testing.T) request {
			tok := e.connect(t, public.ID, epAuthz{})
			f := refreshForm(public.ID, tok.RefreshToken)
			f.Set("resource", "https://evil.example/mcp")
			return request{form: f}
		}, http.StatusBadRequest, "invalid_target", ""},
		{"refresh with another client's token", func(t *testing.T) request {
			tok := e.connect(t, other.ID, epAuthz{})
			return request{form: refreshForm(public.ID, tok.RefreshToken)}
		}, http.StatusBadRequest, "invalid_grant", ""},
		{"refresh without refresh_token", func(t *testing.T) request {
			return request{form: url.Values{"grant_type": {"refresh_token"}, "client_id": {public.ID}}}
		}, http.StatusBadRequest, "invalid_request", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.request(t)
			body, ctype := req.form.Encode(), "application/x-www-form-urlencoded"
			if req.body != "" {
				body, ctype = req.body, req.ctype
			}
			path := PathToken
			if req.query != "" {
				path += "?" + req.query
			}
			// Each case from its own address, clear of the failure limit.
			mods := append([]epMod{fromIP(fmt.Sprintf("192.0.2.%d", i+1))}, req.mods...)
			r := e.do(t, http.MethodPost, path, ctype, strings.NewReader(body), mods...)
			got := r.JSON(t)
			if r.Status != tc.wantStatus || (tc.wantError != "" && got["error"] != tc.wantError) {
				t.Fatalf("status %d, body %s; want %d %s", r.Status, r.Body, tc.wantStatus, tc.wantError)
			}
			if tc.wantError != "" {
				if _, ok := got["access_token"]; ok {
					t.Errorf("a refused request got an access token")
				}
				if d, _ := got["error_description"].(string); d == "" {
					t.Errorf("no error_description")
				}
			}
			if got := r.Header.Get("WWW-Authenticate"); got != tc.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantChallenge)
			}
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
		})
	}

	t.Run("GET", func(t *testing.T) {
		r := e.do(t, http.MethodGet, PathToken, "", nil)
		if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST, OPTIONS" {
			t.Errorf("status %d, Allow %q; want 405 and POST, OPTIONS", r.Status, r.Header.Get("Allow"))
		}
	})
}

func TestTokenRefreshRotation(t *testing.T) {
	e := newEPEnv(t, nil)
	c := e.publicClient(t)
	first := e.connect(t, c.ID, epAuthz{scope: []string{"kanban.write", "openid"}})
	grantID := grantOf(t, first.AccessToken)

	// Refresh, with the optional resource and a narrower scope (and one
	// this server does not know): the access token carries exactly the
	// part asked for, and the answer says so (RFC 6749 §6).
	f := refreshForm(c.ID, first.RefreshToken)
	f.Set("resource", e.resource)
	f.Set("scope", "kanban.read email")
	r := e.postForm(t, PathToken, f)
	want := map[string]any{"access_token": "<token>", "token_type": "Bearer", "expires_in": float64(900),
		"refresh_token": "<token>", "scope": "kanban.read"}
	if diff := cmp.Diff(want, tokenShape(t, r)); diff != "" {
		t.Fatalf("refresh answer (-want +got); no id_token on refresh:\n%s", diff)
	}
	second := tokens(t, r)
	if _, claims := decodeJWT(t, second.AccessToken); claims["scope"] != "kanban.read" {
		t.Errorf("narrowed access token's scope claim = %v, want kanban.read", claims["scope"])
	}
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Errorf("the refresh did not rotate the tokens")
	}
	if p := e.verifyAccess(t, second.AccessToken); p.GrantID != grantID || p.Subject != e.alice.Subject {
		t.Errorf("refreshed access token: grant %q, subject %q; want %q, %q", p.GrantID, p.Subject, grantID, e.alice.Subject)
	}

	// The new token rotates in turn. It keeps the grant's whole scope
	// (RFC 6749 §6: a new refresh token's scope is the old one's), so a
	// refresh without scope gets all of it again.
	third := tokens(t, e.postForm(t, PathToken, refreshForm(c.ID, second.RefreshToken)))
	if third.Scope != "kanban.write kanban.read openid" {
		t.Errorf("refresh without scope after a narrowed one: scope %q, want the whole grant", third.Scope)
	}

	// The first token, used again after its successor was used: reuse.
	// The grant dies, and the live chain with it.
	r = e.postForm(t, PathToken, refreshForm(c.ID, first.RefreshToken))
	if r.Status != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: status %d, body %s; want 400 invalid_grant", r.Status, r.Body)
	}
	if !e.revoked(t, grantID) {
		t.Errorf("the grant survived a refresh-token reuse")
	}
	r = e.postForm(t, PathToken, refreshForm(c.ID, third.RefreshToken))
	if r.Status != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_grant" {
		t.Errorf("the live chain after the reuse: status %d, body %s; want 400 invalid_grant", r.Status, r.Body)
	}
	if !strings.Contains(e.logs.String(), "possible token theft") {
		t.Errorf("the reuse was not logged as a possible theft; log:\n%s", e.logs.String())
	}
}

func TestTokenCodeReplay(t *testing.T) {
	e := newEPEnv(t, nil)
	c := e.publicClient(t)
	code, verifier := e.authorize(t, c.ID, epAuthz{})
	first := tokens(t, e.postForm(t, PathToken, codeForm(c.ID, code, verifier)))
	grantID := grantOf(t, first.AccessToken)

	r := e.postForm(t, PathToken, codeForm(c.ID, code, verifier))
	if r.Status != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_grant" {
		t.Fatalf("replayed code: status %d, body %s; want 400 invalid_grant", r.Status, r.Body)
	}
	if !e.revoked(t, grantID) {
		t.Errorf("the replay did not revoke the grant")
	}
	r = e.postForm(t, PathToken, refreshForm(c.ID, first.RefreshToken))
	if r.Status != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_grant" {
		t.Errorf("the first exchange's refresh token after the replay: status %d, body %s; want 400 invalid_grant", r.Status, r.Body)
	}
}

func TestTokenBlocked(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block func(e *epEnv, c Client) string // returns the blocked id
	}{
		{"client", func(e *epEnv, c Client) string { return c.ID }},
		{"user", func(e *epEnv, c Client) string { return e.alice.Subject }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEPEnv(t, nil)
			c := e.publicClient(t)
			id := tc.block(e, c)

			// A refresh while blocked is refused and does not rotate.
			tok := e.connect(t, c.ID, epAuthz{})
			e.blocked.set(id, true)
			r := e.postForm(t, PathToken, refreshForm(c.ID, tok.RefreshToken))
			if r.Status != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_grant" || strings.Contains(string(r.Body), "access_token") {
				t.Errorf("refresh while blocked: status %d, body %s; want 400 invalid_grant without tokens", r.Status, r.Body)
			}
			// A code exchange while blocked gets nothing either.
			code, verifier := e.authorize(t, c.ID, epAuthz{})
			r = e.postForm(t, PathToken, codeForm(c.ID, code, verifier))
			if r.Status != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_grant" || strings.Contains(string(r.Body), "access_token") {
				t.Errorf("code exchange while blocked: status %d, body %s; want 400 invalid_grant without tokens", r.Status, r.Body)
			}
			if d, _ := r.JSON(t)["error_description"].(string); !strings.Contains(d, "blocked by the operator") {
				t.Errorf("error_description %q does not say the operator blocked access", d)
			}

			// Unblocked, the untouched refresh token works again.
			e.blocked.set(id, false)
			tokens(t, e.postForm(t, PathToken, refreshForm(c.ID, tok.RefreshToken)))
		})
	}
}

// TestTokenFailureLimitPerClientAndIP: failed client authentication slows
// down one (client_id, IP) pair only, while made-up codes slow down nobody;
// the same client from another address and another client from the same
// address are served, and a throttled request does no work.
func TestTokenFailureLimitPerClientAndIP(t *testing.T) {
	e := newEPEnv(t, nil)
	const ip1, ip2 = "203.0.113.10", "203.0.113.20"

	// Made-up codes do not count against the (client_id, IP) pair: every
	// ChatGPT user shares one client ID and OpenAI's addresses, and an
	// attacker can make that backend exchange junk, so counting them would
	// lock everyone out. (Unknown 256-bit codes cannot be guessed.)
	a := e.publicClient(t)
	for i := range 25 {
		r := e.postForm(t, PathToken, codeForm(a.ID, fmt.Sprintf("guess-%d", i), strings.Repeat("v", 43)), fromIP(ip1))
		if r.Status != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_grant" {
			t.Fatalf("made-up code %d: status %d, body %s; want 400 invalid_grant", i+1, r.Status, r.Body)
		}
	}
	code, verifier := e.authorize(t, a.ID, epAuthz{})
	tokens(t, e.postForm(t, PathToken, codeForm(a.ID, code, verifier), fromIP(ip1)))

	// Failed client authentication does count: 20 are free, the 21st
	// starts the backoff (1 s), for that pair only.
	c, secret := e.confidentialClient(t, "client_secret_basic")
	for i := range 21 {
		r := e.postForm(t, PathToken, codeForm(c.ID, "x", strings.Repeat("v", 43)), withBasic(c.ID, secret+"wrong"), fromIP(ip1))
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong secret %d: status %d, body %s; want 401", i+1, r.Status, r.Body)
		}
	}
	code, verifier = e.authorize(t, c.ID, epAuthz{})
	r := e.postForm(t, PathToken, codeForm(c.ID, code, verifier), withBasic(c.ID, secret), fromIP(ip1))
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("after the failures: status %d, Retry-After %q, Cache-Control %q, body %s; want 429, 1, no-store",
			r.Status, r.Header.Get("Retry-After"), r.Header.Get("Cache-Control"), r.Body)
	}

	// Others are not affected: another client from the same address, the
	// same client from another address.
	bCode, bVerifier := e.authorize(t, a.ID, epAuthz{})
	tokens(t, e.postForm(t, PathToken, codeForm(a.ID, bCode, bVerifier), fromIP(ip1)))
	c2Code, c2Verifier := e.authorize(t, c.ID, epAuthz{})
	tokens(t, e.postForm(t, PathToken, codeForm(c.ID, c2Code, c2Verifier), withBasic(c.ID, secret), fromIP(ip2)))

	// After the wait, the code refused with 429 still works: the
	// throttled request did not touch it.
	e.clock.Advance(time.Second)
	tokens(t, e.postForm(t, PathToken, codeForm(c.ID, code, verifier), withBasic(c.ID, secret), fromIP(ip1)))
}

// TestTokenFailureLimitPerGrant: wrong verifiers for one code, each from
// another address, slow that grant down; nothing else.
func TestTokenFailureLimitPerGrant(t *testing.T) {
	e := newEPEnv(t, nil)
	c := e.publicClient(t)
	code, verifier := e.authorize(t, c.ID, epAuthz{})
	// 5 failures are free; the 6th starts the backoff.
	for i := range 6 {
		wrong, _ := newPKCE()
		r := e.postForm(t, PathToken, codeForm(c.ID, code, wrong), fromIP(fmt.Sprintf("198.18.0.%d", i+1)))
		if r.Status != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_grant" {
			t.Fatalf("guess %d: status %d, body %s; want 400 invalid_grant", i+1, r.Status, r.Body)
		}
	}
	r := e.postForm(t, PathToken, codeForm(c.ID, code, verifier), fromIP("198.18.0.100"))
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("the right verifier during the backoff: status %d, Retry-After %q, body %s; want 429 and 1",
			r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	// Another grant of the same client is served at once.
	other, otherVerifier := e.authorize(t, c.ID, epAuthz{})
	tokens(t, e.postForm(t, PathToken, codeForm(c.ID, other, otherVerifier), fromIP("198.18.0.100")))

	e.clock.Advance(time.Second)
	tokens(t, e.postForm(t, PathToken, codeForm(c.ID, code, verifier), fromIP("198.18.0.100")))
}

// TestTokenRequestCeiling: authenticated requests per (client_id, IP) are
// capped (120 a minute), separately from failures.
func TestTokenRequestCeiling(t *testing.T) {
	e := newEPEnv(t, nil)
	c := e.publicClient(t)
	// Requests that pass client authentication but are not failures of a
	// code or token (no code): they count against the ceiling only.
	form := url.Values{"grant_type": {GrantAuthorizationCode}, "client_id": {c.ID}}
	for i := range 120 {
		if r := e.postForm(t, PathToken, form, fromIP("203.0.113.30")); r.Status != http.StatusBadRequest {
			t.Fatalf("request %d: status %d, body %s; want 400", i+1, r.Status, r.Body)
		}
	}
	code, verifier := e.authorize(t, c.ID, epAuthz{})
	r := e.postForm(t, PathToken, codeForm(c.ID, code, verifier), fromIP("203.0.113.30"))
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("request 121: status %d, Retry-After %q, body %s; want 429 and 1", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	tokens(t, e.postForm(t, PathToken, codeForm(c.ID, code, verifier), fromIP("203.0.113.31")))
}

// TestTokenCIMDClient: a client identified by its metadata document URL
// is public, exchanges codes and refreshes like any other.
func TestTokenCIMDClient(t *testing.T) {
	docs := newCIMDServer(t)
	e := newEPEnv(t, func(o *ServerOptions) { o.CIMD = newTestCIMDFetcher(docs, CIMDOptions{}) })
	id := docs.URL + "/client.json"
	docs.route("/client.json", cimdRoute{body: cimdDoc(id, map[string]any{"redirect_uris": []string{epRedirect}})})

	tok := e.connect(t, id, epAuthz{})
	if p := e.verifyAccess(t, tok.AccessToken); p.ClientID != id {
		t.Errorf("client_id claim %q, want %q", p.ClientID, id)
	}
	tokens(t, e.postForm(t, PathToken, refreshForm(id, tok.RefreshToken)))

	code, verifier := e.authorize(t, id, epAuthz{})
	form := codeForm(id, code, verifier)
	form.Set("client_secret", "made-up")
	if r := e.postForm(t, PathToken, form); r.Status != http.StatusUnauthorized || r.JSON(t)["error"] != "invalid_client" {
		t.Errorf("CIMD client with a secret: status %d, body %s; want 401 invalid_client", r.Status, r.Body)
	}
	if strings.Contains(e.logs.String(), "recording the client's use failed") {
		t.Errorf("the server tried to touch a CIMD client, which is not stored:\n%s", e.logs.String())
	}
}

func TestRefreshScope(t *testing.T) {
	grant := Grant{Scope: []string{"kanban.write", "kanban.read", "openid"}}
	tests := []struct {
		requested string
		want      []string // nil: invalid_scope
	}{
		{"", []string{"kanban.write", "kanban.read", "openid"}},
		// Nothing this server knows: the default scopes, as far as held.
		{"email", []string{"kanban.write", "kanban.read"}},
		{"KANBAN.ADMIN", []string{"kanban.write", "kanban.read"}},
		{"kanban.* kanban.", []string{"kanban.write", "kanban.read"}},
		{"   ", []string{"kanban.write", "kanban.read", "openid"}},
		{"kanban.read", []string{"kanban.read"}},
		{"kanban.write", []string{"kanban.write", "kanban.read"}},
		{"kanban.read kanban.write", []string{"kanban.write", "kanban.read"}},
		{"openid kanban.read email", []string{"kanban.read", "openid"}},
		{"openid", []string{"openid"}},
		{"kanban.write kanban.read openid", []string{"kanban.write", "kanban.read", "openid"}},
		{"kanban.admin", nil},
		{"kanban.archive", nil},
		{"kanban.read profile", nil},
	}
	scopes := testScopes(t)
	for _, tc := range tests {
		got, f := refreshScope(tc.requested, grant, scopes)
		switch {
		case tc.want == nil && (f == nil || f.code != errInvalidScope):
			t.Errorf("refreshScope(%q) = %v, %+v; want invalid_scope", tc.requested, got, f)
		case tc.want != nil && f != nil:
			t.Errorf("refreshScope(%q) refused: %+v", tc.requested, f)
		case tc.want != nil:
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("refreshScope(%q) (-want +got):\n%s", tc.requested, diff)
			}
		}
	}
	// A grant with a scope that stands alone: asking for it gives it alone;
	// asking for nothing known gives the defaults it holds.
	archive := Grant{Scope: []string{"kanban.archive", "kanban.read"}}
	for requested, want := range map[string][]string{
		"kanban.archive": {"kanban.archive"},
		"email":          {"kanban.read"},
		"":               {"kanban.archive", "kanban.read"},
	} {
		got, f := refreshScope(requested, archive, scopes)
		if f != nil {
			t.Errorf("refreshScope(%q) on an archive grant refused: %+v", requested, f)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("refreshScope(%q) on an archive grant (-want +got):\n%s", requested, diff)
		}
	}
	if _, f := refreshScope("email", Grant{Scope: []string{"kanban.archive"}}, scopes); f == nil || f.code != errInvalidScope {
		t.Errorf("refreshScope(email) on a grant without default scopes = %+v, want invalid_scope", f)
	}
	if grant.Scope[0] != "kanban.write" || len(grant.Scope) != 3 {
		t.Errorf("refreshScope changed the grant's scope: %v", grant.Scope)
	}
}
