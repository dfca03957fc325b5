package authserver

// The whole authorization flow for a client identified by a Client ID
// Metadata Document, against a local TLS metadata server (httptest, on
// 127.0.0.1), and the CIMD refusals as the authorization and token
// endpoints answer them. The fetcher-level behaviour (redirects, address
// checks, cache) is in cimd_test.go; this file checks what a person and a
// client see.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// cfCallback is the test's own loopback redirect URI: a plain http server
// on 127.0.0.1 that records the query of every request it gets.
type cfCallback struct {
	*httptest.Server
	redirectURI string
	mu          sync.Mutex
	got         []url.Values
}

func newCFCallback(t *testing.T) *cfCallback {
	t.Helper()
	cb := &cfCallback{}
	cb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb.mu.Lock()
		cb.got = append(cb.got, r.URL.Query())
		cb.mu.Unlock()
		io.WriteString(w, "You may close this window.")
	}))
	t.Cleanup(cb.Close)
	cb.redirectURI = cb.URL + "/callback"
	return cb
}

// follow makes the browser's request to the Location of a redirect to the
// callback, and returns what the callback received.
func (cb *cfCallback) follow(t *testing.T, p ptResponse) url.Values {
	t.Helper()
	loc := p.header.Get("Location")
	if !strings.HasPrefix(loc, cb.redirectURI+"?") {
		t.Fatalf("Location %q is not the callback %s", loc, cb.redirectURI)
	}
	resp, err := cb.Client().Get(loc)
	if err != nil {
		t.Fatalf("GET the callback: %v", err)
	}
	resp.Body.Close()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if len(cb.got) == 0 {
		t.Fatalf("the callback received nothing")
	}
	return cb.got[len(cb.got)-1]
}

// cfRefusalPage is what the tests check of an authorization request
// refused before its redirect URI could be verified.
type cfRefusalPage struct {
	Status   int
	Location string
	HTML     bool
	Says     bool // the page contains the expected explanation
	HasForm  bool
}

func cfRefusal(p ptResponse, says string) cfRefusalPage {
	return cfRefusalPage{
		Status:   p.status,
		Location: p.header.Get("Location"),
		HTML:     strings.HasPrefix(p.header.Get("Content-Type"), "text/html"),
		Says:     strings.Contains(p.body, says),
		HasForm:  strings.Contains(p.body, "<form"),
	}
}

var cfWantRefusal = cfRefusalPage{Status: http.StatusBadRequest, HTML: true, Says: true}

// cfTokenRequest is a code exchange of a CIMD client: client_id is the
// document URL, no secret.
func cfTokenRequest(clientID, code, redirectURI, verifier, resource string) url.Values {
	return url.Values{
		"grant_type":    {GrantAuthorizationCode},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
		"client_id":     {clientID},
		"resource":      {resource},
	}
}

func TestCIMDFullFlow(t *testing.T) {
	cb := newCFCallback(t)
	docs := newCIMDServer(t)
	clientID := docs.URL + "/client.json"
	docs.route("/client.json", cimdRoute{body: cimdDoc(clientID, map[string]any{
		"client_name":                "CIMD Flow Client",
		"redirect_uris":              []string{cb.redirectURI},
		"token_endpoint_auth_method": "none",
	})})
	docsHost := strings.TrimPrefix(docs.URL, "https://")
	cbHost := strings.TrimPrefix(cb.URL, "http://")

	// A second TLS server, another origin, that a redirect points to.
	elsewhere := newCIMDServer(t)

	e := newEPEnv(t, func(o *ServerOptions) {
		o.CIMD = NewCIMDFetcher(CIMDOptions{
			RootCAs: docs.certPool(),
			// Loopback only: the local TLS servers, nothing else.
			UnsafeAllowAddressesForTests: cimdLoopbackOnly,
			// The cache follows the test's clock (the server's), not the
			// wall clock.
			Now: o.Now,
		})
	})
	res := newHSResource(t, e)

	t.Run("flow", func(t *testing.T) {
		b := hsPages(t, e, Client{ID: clientID}).browser()
		verifier, challenge := newPKCE()
		params := hsParams(clientID, cb.redirectURI, "kanban.write", challenge, map[string]string{"resource": e.resource})

		p := b.authorize(params)
		if p.status != http.StatusOK || !isSignInPage(p) {
			t.Fatalf("authorize: status %d, want 200 and the sign-in page:\n%s", p.status, p.body)
		}
		if !strings.Contains(p.body, "CIMD Flow Client") {
			t.Errorf("the sign-in page does not name the client")
		}

		p = b.signIn(p, "alice")
		if p.status != http.StatusOK || !isConsentPage(p) {
			t.Fatalf("sign-in: status %d, want 200 and the consent page:\n%s", p.status, p.body)
		}
		for _, want := range []string{
			"CIMD Flow Client",
			"Published by", "<code>" + docsHost + "</code>", // the CIMD host
			"<code>" + cbHost + "</code>", "(a program on this computer)", // the loopback redirect host
		} {
			if !strings.Contains(p.body, want) {
				t.Errorf("the consent page lacks %q", want)
			}
		}
		if strings.Contains(p.body, "name chosen by the application") {
			t.Errorf("the CIMD client's name is flagged as unverified; its host vouches for it")
		}
		levels, checked := offeredLevels(p.body)
		if diff := cmp.Diff([]string{"kanban.read", "kanban.write"}, levels); diff != "" || checked != "kanban.write" {
			t.Errorf("offered levels (-want +got):\n%s\npreselected %q, want kanban.write", diff, checked)
		}

		p = b.allow(p, scopeWrite)
		if p.status != http.StatusSeeOther {
			t.Errorf("allow: status %d, want 303", p.status)
		}
		q := cb.follow(t, p)
		code := q.Get("code")
		if code == "" {
			t.Fatalf("the callback got no code: %v", q)
		}
		q.Del("code")
		if diff := cmp.Diff(url.Values{"state": {ptState}, "iss": {e.issuer}}, q); diff != "" {
			t.Errorf("callback parameters besides code (-want +got):\n%s", diff)
		}

		r := e.postForm(t, PathToken, cfTokenRequest(clientID, code, cb.redirectURI, verifier, e.resource))
		want := map[string]any{"access_token": "<token>", "token_type": "Bearer", "expires_in": float64(900),
			"refresh_token": "<token>", "scope": "kanban.write kanban.read"}
		if diff := cmp.Diff(want, tokenShape(t, r)); diff != "" {
			t.Fatalf("token answer (-want +got):\n%s", diff)
		}
		tok := tokens(t, r)
		_, claims := decodeJWT(t, tok.AccessToken)
		if claims["client_id"] != clientID {
			t.Errorf("client_id claim %v, want the document URL %s", claims["client_id"], clientID)
		}
		principal := e.verifyAccess(t, tok.AccessToken)
		wantP := &auth.Principal{Issuer: e.issuer, Subject: e.alice.Subject, ClientID: clientID,
			Scopes: auth.Scopes{"kanban.write", "kanban.read"}, GrantID: grantOf(t, tok.AccessToken), Audience: e.resource}
		if diff := cmp.Diff(wantP, principal, cmpopts.IgnoreFields(auth.Principal{}, "TokenID", "ExpiresAt")); diff != "" {
			t.Errorf("principal (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(hsAnswer{Status: http.StatusOK, Scope: "kanban.write kanban.read"}, res.call(t, tok.AccessToken)); diff != "" {
			t.Errorf("resource (-want +got):\n%s", diff)
		}

		// Refresh, as the same CIMD client.
		next := tokens(t, e.postForm(t, PathToken, refreshForm(clientID, tok.RefreshToken)))
		if p := e.verifyAccess(t, next.AccessToken); p.ClientID != clientID {
			t.Errorf("refreshed access token's client_id %q, want %q", p.ClientID, clientID)
		}

		// One fetch served the whole flow (the cache follows the test's
		// clock, which did not move).
		if n := docs.hitCount("/client.json"); n != 1 {
			t.Errorf("the document was fetched %d times, want 1", n)
		}

		// The loopback redirect URI never skips consent, even for a client
		// the person just approved; a second code then dies with a block.
		verifier2, challenge2 := newPKCE()
		p = b.authorize(hsParams(clientID, cb.redirectURI, "kanban.write", challenge2, nil))
		if !isConsentPage(p) {
			t.Fatalf("second authorization to a loopback redirect URI: status %d, want the consent page", p.status)
		}
		code2 := cb.follow(t, b.allow(p, scopeRead)).Get("code")

		e.blocked.set(clientID, true)
		t.Cleanup(func() { e.blocked.set(clientID, false) })
		r = e.postForm(t, PathToken, cfTokenRequest(clientID, code2, cb.redirectURI, verifier2, e.resource))
		if diff := cmp.Diff(hsInvalidGrant, hsErrOf(t, r)); diff != "" {
			t.Errorf("code exchange of a blocked CIMD client (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(hsInvalidGrant, hsErrOf(t, e.postForm(t, PathToken, refreshForm(clientID, next.RefreshToken)))); diff != "" {
			t.Errorf("refresh of a blocked CIMD client (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(hsRevokedToken, res.call(t, next.AccessToken)); diff != "" {
			t.Errorf("resource with a blocked CIMD client's token (-want +got):\n%s", diff)
		}
		q = cb.follow(t, b.authorize(hsParams(clientID, cb.redirectURI, "kanban.write", challenge2, nil)))
		q.Del("error_description")
		if diff := cmp.Diff(url.Values{"error": {"access_denied"}, "state": {ptState}, "iss": {e.issuer}}, q); diff != "" {
			t.Errorf("authorization of a blocked CIMD client (-want +got):\n%s", diff)
		}
	})

	// Refusals of documents the loopback-allowed fetcher can reach.
	const redirectTarget = "/target.json"
	for _, tc := range []struct {
		name        string
		path        string
		route       func(id string) cimdRoute
		redirectURI string // default the callback
		says        string
		// wantToken is the token endpoint's answer to a made-up code of
		// this client_id; zero to skip.
		wantToken hsErr
	}{
		{
			name: "document URL redirecting on the same server",
			path: "/moved.json",
			route: func(id string) cimdRoute {
				docs.route(redirectTarget, cimdRoute{body: cimdDoc(id, map[string]any{"redirect_uris": []string{cb.redirectURI}})})
				return cimdRoute{handler: func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, redirectTarget, http.StatusFound)
				}}
			},
			says:      "answered with a redirect",
			wantToken: hsErr{Status: http.StatusUnauthorized, Error: "invalid_client"},
		},
		{
			name: "document URL redirecting to another origin",
			path: "/moved-away.json",
			route: func(id string) cimdRoute {
				elsewhere.route(redirectTarget, cimdRoute{body: cimdDoc(id, map[string]any{"redirect_uris": []string{cb.redirectURI}})})
				return cimdRoute{handler: func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, elsewhere.URL+redirectTarget, http.StatusPermanentRedirect)
				}}
			},
			says:      "answered with a redirect",
			wantToken: hsErr{Status: http.StatusUnauthorized, Error: "invalid_client"},
		},
		{
			name: "document whose client_id is not its URL",
			path: "/impostor.json",
			route: func(id string) cimdRoute {
				return cimdRoute{body: cimdDoc(clientID, map[string]any{"redirect_uris": []string{cb.redirectURI}})}
			},
			says:      "could not be used",
			wantToken: hsErr{Status: http.StatusUnauthorized, Error: "invalid_client"},
		},
		{
			name:        "redirect URI not listed in the document",
			path:        "/client.json",
			redirectURI: cb.redirectURI + "x",
			says:        "is not one that this application registered",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := docs.URL + tc.path
			if tc.route != nil {
				docs.route(tc.path, tc.route(id))
			}
			redirectURI := tc.redirectURI
			if redirectURI == "" {
				redirectURI = cb.redirectURI
			}
			cb.mu.Lock()
			callbacksBefore := len(cb.got)
			cb.mu.Unlock()
			_, challenge := newPKCE()
			p := hsPages(t, e, Client{ID: id}).browser().authorize(hsParams(id, redirectURI, "kanban.read", challenge, nil))
			if diff := cmp.Diff(cfWantRefusal, cfRefusal(p, tc.says)); diff != "" {
				t.Errorf("authorize (-want +got):\n%s\nbody:\n%s", diff, p.body)
			}
			if strings.Contains(p.body, redirectTarget) || strings.Contains(p.body, elsewhere.URL) {
				t.Errorf("the error page shows where the redirect pointed:\n%s", p.body)
			}
			if tc.wantToken != (hsErr{}) {
				v, _ := newPKCE()
				r := e.postForm(t, PathToken, cfTokenRequest(id, "made-up-code", redirectURI, v, e.resource))
				if diff := cmp.Diff(tc.wantToken, hsErrOf(t, r)); diff != "" {
					t.Errorf("token endpoint (-want +got):\n%s", diff)
				}
			}
			// Never requested: the redirect targets; never sent anything:
			// the callback.
			if n := docs.hitCount(redirectTarget) + elsewhere.hitCount(redirectTarget); n != 0 {
				t.Errorf("a redirect target was requested %d times, want 0", n)
			}
			cb.mu.Lock()
			if len(cb.got) != callbacksBefore {
				t.Errorf("the callback was reached by a refused request")
			}
			cb.mu.Unlock()
		})
	}

	// A fetcher without the test-only switch: the production address
	// policy, where loopback, like any private address, is not allowed,
	// even though the certificate is trusted and the document is valid.
	t.Run("host resolving to a private address", func(t *testing.T) {
		guarded := newCIMDServer(t)
		_, port, _ := strings.Cut(strings.TrimPrefix(guarded.URL, "https://"), ":")
		pe := newEPEnv(t, func(o *ServerOptions) {
			o.CIMD = NewCIMDFetcher(CIMDOptions{RootCAs: guarded.certPool()})
		})
		for _, tc := range []struct {
			name, clientID string
			leak           string // must not appear on the page
		}{
			{name: "loopback IP", clientID: guarded.URL + "/client.json"},
			{name: "host name resolving to loopback", clientID: "https://localhost:" + port + "/client.json", leak: "127.0.0.1"},
			{name: "IPv6 loopback", clientID: "https://[::1]:" + port + "/client.json"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				guarded.route("/client.json", cimdRoute{body: cimdDoc(tc.clientID, map[string]any{"redirect_uris": []string{cb.redirectURI}})})
				_, challenge := newPKCE()
				p := hsPages(t, pe, Client{ID: tc.clientID}).browser().authorize(hsParams(tc.clientID, cb.redirectURI, "kanban.read", challenge, nil))
				if diff := cmp.Diff(cfWantRefusal, cfRefusal(p, "not allowed to connect")); diff != "" {
					t.Errorf("authorize (-want +got):\n%s\nbody:\n%s", diff, p.body)
				}
				if tc.leak != "" && strings.Contains(p.body, tc.leak) {
					t.Errorf("the page shows the resolved address %s", tc.leak)
				}
				v, _ := newPKCE()
				r := pe.postForm(t, PathToken, cfTokenRequest(tc.clientID, "made-up-code", cb.redirectURI, v, pe.resource))
				if diff := cmp.Diff(hsErr{Status: http.StatusUnauthorized, Error: "invalid_client"}, hsErrOf(t, r)); diff != "" {
					t.Errorf("token endpoint (-want +got):\n%s", diff)
				}
			})
		}
		if n := guarded.hitCount("/client.json"); n != 0 {
			t.Errorf("the metadata server was reached %d times, want 0", n)
		}
	})
}
