package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// revokeForm is the RFC 7009 request of a public client.
func revokeForm(clientID, token, hint string) url.Values {
	f := url.Values{"token": {token}, "client_id": {clientID}}
	if hint != "" {
		f.Set("token_type_hint", hint)
	}
	return f
}

func TestRevoke(t *testing.T) {
	e := newEPEnv(t, nil)
	public, other := e.publicClient(t), e.publicClient(t)
	basic, secret := e.confidentialClient(t, AuthMethodClientSecretBasic)

	for _, tc := range []struct {
		name string
		// run connects as needed, then revokes; it returns the answer
		// and the grant whose fate is checked ("" for none).
		run         func(t *testing.T) (epResp, string)
		wantStatus  int
		wantError   string
		wantRevoked bool
	}{{
		name: "refresh token",
		run: func(t *testing.T) (epResp, string) {
			tok := e.connect(t, public.ID, epAuthz{})
			return e.postForm(t, PathRevoke, revokeForm(public.ID, tok.RefreshToken, "refresh_token")), grantOf(t, tok.AccessToken)
		},
		wantStatus: http.StatusOK, wantRevoked: true,
	}, {
		name: "refresh token with the wrong hint",
		run: func(t *testing.T) (epResp, string) {
			tok := e.connect(t, public.ID, epAuthz{})
			return e.postForm(t, PathRevoke, revokeForm(public.ID, tok.RefreshToken, "access_token")), grantOf(t, tok.AccessToken)
		},
		wantStatus: http.StatusOK, wantRevoked: true,
	}, {
		name: "access token",
		run: func(t *testing.T) (epResp, string) {
			tok := e.connect(t, public.ID, epAuthz{})
			return e.postForm(t, PathRevoke, revokeForm(public.ID, tok.AccessToken, "")), grantOf(t, tok.AccessToken)
		},
		wantStatus: http.StatusOK, wantRevoked: true,
	}, {
		name: "confidential client, Basic",
		run: func(t *testing.T) (epResp, string) {
			code, verifier := e.authorize(t, basic.ID, epAuthz{})
			f := codeForm(basic.ID, code, verifier)
			tok := tokens(t, e.postForm(t, PathToken, f, withBasic(basic.ID, secret)))
			return e.postForm(t, PathRevoke, url.Values{"token": {tok.RefreshToken}}, withBasic(basic.ID, secret)), grantOf(t, tok.AccessToken)
		},
		wantStatus: http.StatusOK, wantRevoked: true,
	}, {
		name: "unknown token",
		run: func(t *testing.T) (epResp, string) {
			return e.postForm(t, PathRevoke, revokeForm(public.ID, "no-such-token", "")), ""
		},
		wantStatus: http.StatusOK,
	}, {
		name: "something shaped like a JWT",
		run: func(t *testing.T) (epResp, string) {
			return e.postForm(t, PathRevoke, revokeForm(public.ID, "a.b.c", "access_token")), ""
		},
		wantStatus: http.StatusOK,
	}, {
		name: "another client's refresh token is left alone",
		run: func(t *testing.T) (epResp, string) {
			tok := e.connect(t, other.ID, epAuthz{})
			return e.postForm(t, PathRevoke, revokeForm(public.ID, tok.RefreshToken, "")), grantOf(t, tok.AccessToken)
		},
		wantStatus: http.StatusOK, wantRevoked: false,
	}, {
		name: "another client's access token is left alone",
		run: func(t *testing.T) (epResp, string) {
			tok := e.connect(t, other.ID, epAuthz{})
			return e.postForm(t, PathRevoke, revokeForm(public.ID, tok.AccessToken, "")), grantOf(t, tok.AccessToken)
		},
		wantStatus: http.StatusOK, wantRevoked: false,
	}, {
		name: "wrong client secret",
		run: func(t *testing.T) (epResp, string) {
			code, verifier := e.authorize(t, basic.ID, epAuthz{})
			tok := tokens(t, e.postForm(t, PathToken, codeForm(basic.ID, code, verifier), withBasic(basic.ID, secret)))
			return e.postForm(t, PathRevoke, url.Values{"token": {tok.RefreshToken}}, withBasic(basic.ID, secret+"x")), grantOf(t, tok.AccessToken)
		},
		wantStatus: http.StatusUnauthorized, wantError: "invalid_client", wantRevoked: false,
	}, {
		name: "no token",
		run: func(t *testing.T) (epResp, string) {
			return e.postForm(t, PathRevoke, url.Values{"client_id": {public.ID}}), ""
		},
		wantStatus: http.StatusBadRequest, wantError: "invalid_request",
	}, {
		name: "token in the URL",
		run: func(t *testing.T) (epResp, string) {
			tok := e.connect(t, public.ID, epAuthz{})
			return e.postForm(t, PathRevoke, revokeForm(public.ID, tok.RefreshToken, ""), withQuery("token="+tok.RefreshToken)), grantOf(t, tok.AccessToken)
		},
		wantStatus: http.StatusBadRequest, wantError: "invalid_request", wantRevoked: false,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r, grantID := tc.run(t)
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, body %s; want %d", r.Status, r.Body, tc.wantStatus)
			}
			if tc.wantError == "" {
				if len(r.Body) != 0 {
					t.Errorf("body %q, want none", r.Body)
				}
			} else if got := r.JSON(t)["error"]; got != tc.wantError {
				t.Errorf("error %v, want %s", got, tc.wantError)
			}
			if grantID != "" {
				if got := e.revoked(t, grantID); got != tc.wantRevoked {
					t.Errorf("grant revoked = %v, want %v", got, tc.wantRevoked)
				}
			}
		})
	}

	t.Run("a revoked refresh token no longer refreshes", func(t *testing.T) {
		tok := e.connect(t, public.ID, epAuthz{})
		if r := e.postForm(t, PathRevoke, revokeForm(public.ID, tok.RefreshToken, "")); r.Status != http.StatusOK {
			t.Fatalf("revoke: status %d", r.Status)
		}
		r := e.postForm(t, PathToken, refreshForm(public.ID, tok.RefreshToken))
		if r.Status != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_grant" {
			t.Errorf("refresh after revocation: status %d, body %s; want 400 invalid_grant", r.Status, r.Body)
		}
	})
}

func TestUserinfo(t *testing.T) {
	e := newEPEnv(t, nil)
	c := e.publicClient(t)
	ctx := t.Context()
	bob := mustAddUser(t, e.users, "bob", goodPassword, "bob@example.com") // unverified
	carol := mustAddUser(t, e.users, "Carol", goodPassword, "")
	if err := e.users.SetEmail(ctx, "carol", "carol@example.com", true); err != nil {
		t.Fatalf("SetEmail: %v", err)
	}
	openid := []string{"kanban.read", "openid"}

	bearer := func(tok string) epMod { return withHeader("Authorization", "Bearer "+tok) }
	for _, tc := range []struct {
		name          string
		request       func(t *testing.T) epResp
		wantStatus    int
		wantBody      map[string]any
		wantChallenge string
	}{{
		name: "no email",
		request: func(t *testing.T) epResp {
			tok := e.connect(t, c.ID, epAuthz{scope: openid})
			return e.do(t, http.MethodGet, PathUserinfo, "", nil, bearer(tok.AccessToken))
		},
		wantStatus: http.StatusOK,
		wantBody:   map[string]any{"sub": e.alice.Subject, "preferred_username": "alice"},
	}, {
		name: "unverified email is not shown",
		request: func(t *testing.T) epResp {
			tok := e.connect(t, c.ID, epAuthz{subject: bob.Subject, scope: openid})
			return e.do(t, http.MethodGet, PathUserinfo, "", nil, bearer(tok.AccessToken))
		},
		wantStatus: http.StatusOK,
		wantBody:   map[string]any{"sub": bob.Subject, "preferred_username": "bob"},
	}, {
		name: "verified email, by POST",
		request: func(t *testing.T) epResp {
			tok := e.connect(t, c.ID, epAuthz{subject: carol.Subject, scope: openid})
			return e.do(t, http.MethodPost, PathUserinfo, "", nil, bearer(tok.AccessToken))
		},
		wantStatus: http.StatusOK,
		wantBody: map[string]any{"sub": carol.Subject, "preferred_username": "Carol",
			"email": "carol@example.com", "email_verified": true},
	}, {
		name: "token without openid",
		request: func(t *testing.T) epResp {
			tok := e.connect(t, c.ID, epAuthz{scope: []string{"kanban.admin"}})
			return e.do(t, http.MethodGet, PathUserinfo, "", nil, bearer(tok.AccessToken))
		},
		wantStatus: http.StatusForbidden,
		wantBody: map[string]any{"error": "insufficient_scope",
			"error_description": "The userinfo endpoint needs an access token granted with the openid scope."},
		wantChallenge: `Bearer scope="openid", error="insufficient_scope", error_description="The userinfo endpoint needs an access token granted with the openid scope."`,
	}, {
		name: "revoked grant",
		request: func(t *testing.T) epResp {
			tok := e.connect(t, c.ID, epAuthz{scope: openid})
			if _, err := e.grants.RevokeGrant(ctx, grantOf(t, tok.AccessToken), RevokeReasonUser); err != nil {
				t.Fatalf("RevokeGrant: %v", err)
			}
			return e.do(t, http.MethodGet, PathUserinfo, "", nil, bearer(tok.AccessToken))
		},
		wantStatus:    http.StatusUnauthorized,
		wantBody:      map[string]any{"error": "invalid_token", "error_description": "<set>"},
		wantChallenge: "<invalid_token>",
	}, {
		name: "blocked user",
		request: func(t *testing.T) epResp {
			dave := mustAddUser(t, e.users, "dave", goodPassword, "")
			tok := e.connect(t, c.ID, epAuthz{subject: dave.Subject, scope: openid})
			e.blocked.set(dave.Subject, true)
			return e.do(t, http.MethodGet, PathUserinfo, "", nil, bearer(tok.AccessToken))
		},
		wantStatus:    http.StatusUnauthorized,
		wantBody:      map[string]any{"error": "invalid_token", "error_description": "<set>"},
		wantChallenge: "<invalid_token>",
	}, {
		name: "an ID token is not an access token",
		request: func(t *testing.T) epResp {
			tok := e.connect(t, c.ID, epAuthz{scope: openid})
			return e.do(t, http.MethodGet, PathUserinfo, "", nil, bearer(tok.IDToken))
		},
		wantStatus:    http.StatusUnauthorized,
		wantBody:      map[string]any{"error": "invalid_token", "error_description": "<set>"},
		wantChallenge: "<invalid_token>",
	}, {
		name: "garbage token",
		request: func(t *testing.T) epResp {
			return e.do(t, http.MethodGet, PathUserinfo, "", nil, bearer("not.a.token"))
		},
		wantStatus:    http.StatusUnauthorized,
		wantBody:      map[string]any{"error": "invalid_token", "error_description": "<set>"},
		wantChallenge: "<invalid_token>",
	}, {
		name: "no token",
		request: func(t *testing.T) epResp {
			return e.do(t, http.MethodGet, PathUserinfo, "", nil)
		},
		wantStatus:    http.StatusUnauthorized,
		wantChallenge: "Bearer",
	}, {
		name: "token in the URL",
		request: func(t *testing.T) epResp {
			tok := e.connect(t, c.ID, epAuthz{scope: openid})
			return e.do(t, http.MethodGet, PathUserinfo+"?access_token="+tok.AccessToken, "", nil)
		},
		wantStatus:    http.StatusBadRequest,
		wantBody:      map[string]any{"error": "invalid_request", "error_description": "<set>"},
		wantChallenge: "<invalid_request>",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.request(t)
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, body %s; want %d", r.Status, r.Body, tc.wantStatus)
			}
			if tc.wantBody != nil {
				got := r.JSON(t)
				if d, ok := got["error_description"].(string); ok && d != "" && tc.wantBody["error_description"] == "<set>" {
					got["error_description"] = "<set>"
				}
				if diff := cmp.Diff(tc.wantBody, got); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
			challenge := r.Header.Get("WWW-Authenticate")
			switch tc.wantChallenge {
			case "":
				if challenge != "" {
					t.Errorf("WWW-Authenticate = %q, want none", challenge)
				}
			case "<invalid_token>", "<invalid_request>":
				code := strings.Trim(tc.wantChallenge, "<>")
				if !strings.HasPrefix(challenge, `Bearer error="`+code+`", error_description="`) {
					t.Errorf("WWW-Authenticate = %q, want a Bearer %s challenge", challenge, code)
				}
			default:
				if challenge != tc.wantChallenge {
					t.Errorf("WWW-Authenticate = %q, want %q", challenge, tc.wantChallenge)
				}
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

// TestNoSecretsInLogs runs registration, code exchange (with an ID token),
// refresh, refusals, userinfo and revocation with the server's log
// captured, and looks for every secret that went over the wire.
func TestNoSecretsInLogs(t *testing.T) {
	e := newEPEnv(t, nil)
	var secrets []string

	reg := e.do(t, http.MethodPost, PathRegister, "application/json",
		strings.NewReader(`{"redirect_uris":["`+epRedirect+`"],"grant_types":["authorization_code","refresh_token"],"client_name":"Logged"}`))
	if reg.Status != http.StatusCreated {
		t.Fatalf("register: status %d, body %s", reg.Status, reg.Body)
	}
	id, _ := reg.JSON(t)["client_id"].(string)
	secret, _ := reg.JSON(t)["client_secret"].(string)
	secrets = append(secrets, secret)

	code, verifier := e.authorize(t, id, epAuthz{scope: []string{"kanban.write", "openid"}, nonce: "nonce-in-log-test"})
	secrets = append(secrets, code, verifier)
	// A refusal first (wrong secret), then the exchange.
	e.postForm(t, PathToken, codeForm(id, code, verifier), withBasic(id, secret+"x"))
	tok := tokens(t, e.postForm(t, PathToken, codeForm(id, code, verifier), withBasic(id, secret)))
	// A replay, which is logged as a warning.
	e.postForm(t, PathToken, codeForm(id, code, verifier), withBasic(id, secret))
	secrets = append(secrets, tok.AccessToken, tok.RefreshToken, tok.IDToken)

	code2, verifier2 := e.authorize(t, id, epAuthz{scope: []string{"kanban.read", "openid"}})
	tok2 := tokens(t, e.postForm(t, PathToken, codeForm(id, code2, verifier2), withBasic(id, secret)))
	next := tokens(t, e.postForm(t, PathToken, refreshForm(id, tok2.RefreshToken), withBasic(id, secret)))
	secrets = append(secrets, code2, verifier2, tok2.AccessToken, tok2.RefreshToken, tok2.IDToken, next.AccessToken, next.RefreshToken)
	e.do(t, http.MethodGet, PathUserinfo, "", nil, withHeader("Authorization", "Bearer "+next.AccessToken))
	e.do(t, http.MethodGet, PathUserinfo, "", nil, withHeader("Authorization", "Bearer "+tok.AccessToken)) // revoked by the replay
	e.postForm(t, PathRevoke, url.Values{"token": {next.AccessToken}}, withBasic(id, secret))
	e.postForm(t, PathRevoke, url.Values{"token": {next.RefreshToken}}, withBasic(id, secret))

	log := e.logs.String()
	for _, want := range []string{"client registered", "tokens issued", "possible token theft", "grant revoked by its client"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q, so the flow did not run as planned; log:\n%s", want, log)
		}
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatalf("a secret of the flow is empty; the flow did not run as planned")
		}
		if strings.Contains(log, s) {
			t.Errorf("the log contains a secret (%.8s…):\n%s", s, log)
		}
		// A token's signature part alone is secret enough to matter.
		if parts := strings.Split(s, "."); len(parts) == 3 && strings.Contains(log, parts[2]) {
			t.Errorf("the log contains a token signature (%.8s…)", parts[2])
		}
	}
}
