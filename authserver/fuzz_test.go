package authserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzEndpointInput sends arbitrary query strings and bodies to the
// authorization server's form, query and JSON endpoints over real HTTP,
// with a registered client so that well-formed seeds reach deep. Whatever
// arrives: no panic (the connection would drop), never a 5xx, OAuth errors
// as JSON with an error code, and a redirect only to the client's
// registered redirect URI or back to this server — never an open redirect.
func FuzzEndpointInput(f *testing.F) {
	e := newEPEnv(f, nil)
	client := e.publicClient(f)
	_, challenge := newPKCE()
	authorize := url.Values{
		"response_type": {"code"}, "client_id": {client.ID}, "redirect_uri": {epRedirect},
		"scope": {"kanban.write"}, "state": {"s1"}, "resource": {e.resource},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}.Encode()
	seeds := []struct {
		endpoint uint8
		query    string
		body     string
	}{
		{0, authorize, ""},
		{0, authorize + "&prompt=none", ""},
		{0, strings.Replace(authorize, url.QueryEscape(epRedirect), url.QueryEscape("https://evil.example/cb"), 1), ""},
		{0, "client_id=" + client.ID + "&redirect_uri=javascript:alert(1)", ""},
		{0, "response_type=token&client_id=x", ""},
		{0, "%zz=%", ""},
		{1, authorize, "username=alice&password=wrong&csrf=x"},
		{1, "", authorize + "&action=allow&csrf=forged"},
		{2, "", "grant_type=authorization_code&code=made-up&code_verifier=" + strings.Repeat("a", 43) + "&client_id=" + client.ID + "&redirect_uri=" + url.QueryEscape(epRedirect)},
		{2, "", "grant_type=refresh_token&refresh_token=made-up&client_id=" + client.ID},
		{2, "", "grant_type=client_credentials"},
		{2, "", "grant_type=authorization_code&grant_type=refresh_token"},
		{2, "code=x", "%%%"},
		{3, "", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code"],"client_name":"x"}`},
		{3, "", `{"redirect_uris":"not a list"}`},
		{3, "", `{"redirect_uris":["http://169.254.169.254/"],"jwks_uri":"file:///etc/passwd"}`},
		{3, "", `[]`},
		{4, "", "token=made-up&client_id=" + client.ID},
		{4, "", "token_type_hint=access_token"},
		{5, "", ""},
		{5, "tab=%00", ""},
	}
	for _, s := range seeds {
		f.Add(s.endpoint, s.query, []byte(s.body))
	}

	type endpoint struct {
		method, path, contentType string
		oauthJSON                 bool // errors are RFC 6749 §5.2 JSON
	}
	endpoints := []endpoint{
		{http.MethodGet, PathAuthorize, "", false},
		{http.MethodPost, PathAuthorize, "application/x-www-form-urlencoded", false},
		{http.MethodPost, PathToken, "application/x-www-form-urlencoded", true},
		{http.MethodPost, PathRegister, "application/json", true},
		{http.MethodPost, PathRevoke, "application/x-www-form-urlencoded", true},
		{http.MethodGet, PathAccount, "", false},
	}
	noRedirects := *e.ts.Client()
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	f.Fuzz(func(t *testing.T, which uint8, query string, body []byte) {
		if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			// Not a request target a client can send: net/http's server
			// refuses the request line itself, before any handler runs.
			return
		}
		ep := endpoints[int(which)%len(endpoints)]
		target := e.ts.URL + ep.path
		if query != "" {
			target += "?" + query
		}
		req, err := http.NewRequestWithContext(t.Context(), ep.method, target, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		if ep.contentType != "" {
			req.Header.Set("Content-Type", ep.contentType)
		}
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v (did the handler panic?)", ep.method, ep.path, err)
		}
		defer resp.Body.Close()
		var answer bytes.Buffer
		_, _ = answer.ReadFrom(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s?%q body %q: status %d\n%s", ep.method, ep.path, query, body, resp.StatusCode, answer.String())
		}
		if loc := resp.Header.Get("Location"); loc != "" {
			to, err := resp.Location()
			if err != nil {
				t.Fatalf("unparsable Location %q", loc)
			}
			own := to.Scheme+"://"+to.Host == e.ts.URL
			toClient := strings.HasPrefix(to.String(), epRedirect+"?")
			if !own && !toClient {
				t.Fatalf("%s %s?%q: redirect to %q, neither this server nor the client's registered redirect URI", ep.method, ep.path, query, loc)
			}
		}
		if ep.oauthJSON && resp.StatusCode >= 400 {
			var oe struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(answer.Bytes(), &oe); err != nil || oe.Error == "" {
				t.Fatalf("%s %s: status %d with a body that is not an OAuth error: %q", ep.method, ep.path, resp.StatusCode, answer.String())
			}
		}
	})
}
