package authserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const chatGPTRedirect = "https://chatgpt.com/connector_platform_oauth_redirect"

func TestValidateRegistration(t *testing.T) {
	// defaults is what a request naming only redirect URIs gets.
	defaults := func(uris ...string) Registration {
		return Registration{
			RedirectURIs:            uris,
			TokenEndpointAuthMethod: AuthMethodClientSecretBasic,
			GrantTypes:              []string{GrantAuthorizationCode},
			ResponseTypes:           []string{ResponseTypeCode},
			ApplicationType:         ApplicationTypeWeb,
		}
	}
	for _, tc := range []struct {
		name     string
		req      RegistrationRequest
		want     Registration
		wantCode string // "" for success
	}{
		// Redirect URIs that pass.
		{name: "https, defaults applied", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}}, want: defaults(chatGPTRedirect)},
		{name: "https with port and query", req: RegistrationRequest{RedirectURIs: []string{"https://app.example:8443/cb?x=1"}}, want: defaults("https://app.example:8443/cb?x=1")},
		{name: "http 127.0.0.1 with port", req: RegistrationRequest{RedirectURIs: []string{"http://127.0.0.1:33418/callback"}}, want: defaults("http://127.0.0.1:33418/callback")},
		{name: "http 127.0.0.1 without port", req: RegistrationRequest{RedirectURIs: []string{"http://127.0.0.1/callback"}}, want: defaults("http://127.0.0.1/callback")},
		{name: "http [::1]", req: RegistrationRequest{RedirectURIs: []string{"http://[::1]:6274/oauth/callback"}}, want: defaults("http://[::1]:6274/oauth/callback")},
		{name: "http localhost", req: RegistrationRequest{RedirectURIs: []string{"http://localhost:6274/oauth/callback"}}, want: defaults("http://localhost:6274/oauth/callback")},
		{name: "https localhost", req: RegistrationRequest{RedirectURIs: []string{"https://localhost/cb"}}, want: defaults("https://localhost/cb")},
		{name: "several, duplicates dropped", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect, "http://127.0.0.1/cb", chatGPTRedirect}},
			want: defaults(chatGPTRedirect, "http://127.0.0.1/cb")},

		// Redirect URIs refused.
		{name: "missing redirect_uris", req: RegistrationRequest{}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "empty redirect_uris", req: RegistrationRequest{RedirectURIs: []string{}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "empty string", req: RegistrationRequest{RedirectURIs: []string{""}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "http non-loopback", req: RegistrationRequest{RedirectURIs: []string{"http://app.example/cb"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "http private address", req: RegistrationRequest{RedirectURIs: []string{"http://192.168.1.10/cb"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "http 127.0.0.2", req: RegistrationRequest{RedirectURIs: []string{"http://127.0.0.2/cb"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "http localhost look-alike", req: RegistrationRequest{RedirectURIs: []string{"http://localhost.evil.example/cb"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "loopback as userinfo", req: RegistrationRequest{RedirectURIs: []string{"http://127.0.0.1@evil.example/cb"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "userinfo on https", req: RegistrationRequest{RedirectURIs: []string{"https://user:pw@app.example/cb"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "IPv6 zone", req: RegistrationRequest{RedirectURIs: []string{"http://[::1%25eth0]/cb"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "fragment", req: RegistrationRequest{RedirectURIs: []string{"https://app.example/cb#frag"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "empty fragment", req: RegistrationRequest{RedirectURIs: []string{"https://app.example/cb#"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "relative", req: RegistrationRequest{RedirectURIs: []string{"/callback"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "scheme-relative", req: RegistrationRequest{RedirectURIs: []string{"//app.example/cb"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "custom scheme", req: RegistrationRequest{RedirectURIs: []string{"com.example.app:/oauth2redirect"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "custom scheme for native", req: RegistrationRequest{RedirectURIs: []string{"cursor://anysphere.cursor-retrieval/oauth/callback"}, ApplicationType: "native"}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "javascript", req: RegistrationRequest{RedirectURIs: []string{"javascript:alert(1)"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "no host", req: RegistrationRequest{RedirectURIs: []string{"https:///cb"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "opaque https", req: RegistrationRequest{RedirectURIs: []string{"https:app.example/cb"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "space", req: RegistrationRequest{RedirectURIs: []string{"https://app.example/c b"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "non-ASCII", req: RegistrationRequest{RedirectURIs: []string{"https://app.example/cb/é"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "bad port", req: RegistrationRequest{RedirectURIs: []string{"http://127.0.0.1:99999/cb"}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "too long", req: RegistrationRequest{RedirectURIs: []string{"https://app.example/" + strings.Repeat("a", MaxRedirectURILen)}}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "too many", req: RegistrationRequest{RedirectURIs: slices.Repeat([]string{chatGPTRedirect}, MaxRedirectURIs+1)}, wantCode: ErrCodeInvalidRedirectURI},
		{name: "one bad among good", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect, "http://app.example/cb"}}, wantCode: ErrCodeInvalidRedirectURI},

		// Grant and response types.
		{name: "code and refresh", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, GrantTypes: []string{"authorization_code", "refresh_token"}},
			want: withReg(defaults(chatGPTRedirect), func(r *Registration) { r.GrantTypes = []string{"authorization_code", "refresh_token"} })},
		{name: "duplicate grant types", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, GrantTypes: []string{"refresh_token", "authorization_code", "refresh_token"}},
			want: withReg(defaults(chatGPTRedirect), func(r *Registration) { r.GrantTypes = []string{"refresh_token", "authorization_code"} })},
		{name: "refresh without code", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, GrantTypes: []string{"refresh_token"}}, wantCode: ErrCodeInvalidClientMetadata},
		{name: "client_credentials", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, GrantTypes: []string{"authorization_code", "client_credentials"}}, wantCode: ErrCodeInvalidClientMetadata},
		{name: "implicit", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, GrantTypes: []string{"implicit"}}, wantCode: ErrCodeInvalidClientMetadata},
		{name: "password grant", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, GrantTypes: []string{"password"}}, wantCode: ErrCodeInvalidClientMetadata},
		{name: "response type token", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, ResponseTypes: []string{"token"}}, wantCode: ErrCodeInvalidClientMetadata},
		{name: "response types code and token", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, ResponseTypes: []string{"code", "token"}}, wantCode: ErrCodeInvalidClientMetadata},
		{name: "response type code explicit", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, ResponseTypes: []string{"code"}}, want: defaults(chatGPTRedirect)},

		// Auth method.
		{name: "public client", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, TokenEndpointAuthMethod: "none"},
			want: withReg(defaults(chatGPTRedirect), func(r *Registration) { r.TokenEndpointAuthMethod = AuthMethodNone })},
		{name: "client_secret_post", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, TokenEndpointAuthMethod: "client_secret_post"},
			want: withReg(defaults(chatGPTRedirect), func(r *Registration) { r.TokenEndpointAuthMethod = AuthMethodClientSecretPost })},
		{name: "private_key_jwt", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, TokenEndpointAuthMethod: "private_key_jwt"}, wantCode: ErrCodeInvalidClientMetadata},
		{name: "unknown auth method", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, TokenEndpointAuthMethod: "magic"}, wantCode: ErrCodeInvalidClientMetadata},
		{name: "auth method in other case", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, TokenEndpointAuthMethod: "None"}, wantCode: ErrCodeInvalidClientMetadata},

		// Application type and name.
		{name: "native with loopback", req: RegistrationRequest{RedirectURIs: []string{"http://127.0.0.1/cb"}, ApplicationType: "native"},
			want: withReg(defaults("http://127.0.0.1/cb"), func(r *Registration) { r.ApplicationType = ApplicationTypeNative })},
		{name: "unknown application type", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, ApplicationType: "browser"}, wantCode: ErrCodeInvalidClientMetadata},
		{name: "name trimmed", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, ClientName: "  ChatGPT  "},
			want: withReg(defaults(chatGPTRedirect), func(r *Registration) { r.ClientName = "ChatGPT" })},
		{name: "name of 200 characters", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, ClientName: strings.Repeat("é", 200)},
			want: withReg(defaults(chatGPTRedirect), func(r *Registration) { r.ClientName = strings.Repeat("é", 200) })},
		{name: "name too long", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, ClientName: strings.Repeat("é", 201)}, wantCode: ErrCodeInvalidClientMetadata},
		{name: "name with newline", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, ClientName: "Chat\nGPT"}, wantCode: ErrCodeInvalidClientMetadata},
		{name: "name not UTF-8", req: RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, ClientName: "Chat\xffGPT"}, wantCode: ErrCodeInvalidClientMetadata},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ValidateRegistration(tc.req)
			if tc.wantCode != "" {
				var re *RegistrationError
				if !errors.As(err, &re) || re.Code != tc.wantCode {
					t.Fatalf("ValidateRegistration = %+v, %v; want a *RegistrationError with code %s", got, err, tc.wantCode)
				}
				if re.Description == "" {
					t.Errorf("error %q has no description", re.Code)
				}
				return
			}
			if err != nil {
				t.Fatalf("ValidateRegistration: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ValidateRegistration (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRegistrationRequestJSON: the request decodes from RFC 7591 JSON,
// ignoring fields the server does not use.
func TestRegistrationRequestJSON(t *testing.T) {
	body := `{"client_name":"MCP Inspector","redirect_uris":["http://localhost:6274/oauth/callback"],
		"grant_types":["authorization_code","refresh_token"],"response_types":["code"],
		"token_endpoint_auth_method":"none","scope":"kanban.read","client_uri":"https://example.com"}`
	var req RegistrationRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	got, err := ValidateRegistration(req)
	if err != nil {
		t.Fatalf("ValidateRegistration: %v", err)
	}
	want := Registration{
		RedirectURIs:            []string{"http://localhost:6274/oauth/callback"},
		TokenEndpointAuthMethod: "none",
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		ClientName:              "MCP Inspector",
		ApplicationType:         "web",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func mustValidate(t testing.TB, req RegistrationRequest) Registration {
	t.Helper()
	reg, err := ValidateRegistration(req)
	if err != nil {
		t.Fatalf("ValidateRegistration(%+v): %v", req, err)
	}
	return reg
}

func mustRegister(t testing.TB, s *Store, req RegistrationRequest, source ClientSource) (Client, string) {
	t.Helper()
	c, secret, err := s.RegisterClient(t.Context(), mustValidate(t, req), source)
	if err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	return c, secret
}

var clientIDPattern = regexp.MustCompile(`^[a-z2-7]{32}$`)

func TestRegisterClient(t *testing.T) {
	clock := newTestClock()
	s := openTestStore(t, clock)
	ctx := t.Context()

	pub, pubSecret := mustRegister(t, s, RegistrationRequest{
		RedirectURIs: []string{chatGPTRedirect}, TokenEndpointAuthMethod: "none", ClientName: "ChatGPT",
		GrantTypes: []string{"authorization_code", "refresh_token"},
	}, SourceDCR)
	clock.Advance(time.Minute)
	conf, confSecret := mustRegister(t, s, RegistrationRequest{
		RedirectURIs: []string{"https://app.example/cb"}, ClientName: "Conformance",
	}, SourcePreregistered)

	if pubSecret != "" {
		t.Errorf("public client got a secret %q", pubSecret)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(confSecret); err != nil || len(raw) != 32 {
		t.Errorf("confidential secret %q: want 32 random bytes in unpadded base64url (err %v)", confSecret, err)
	}
	for _, c := range []Client{pub, conf} {
		if !clientIDPattern.MatchString(c.ID) {
			t.Errorf("client_id %q does not match %s", c.ID, clientIDPattern)
		}
	}
	if pub.ID == conf.ID {
		t.Errorf("two clients share the client_id %q", pub.ID)
	}

	wantPub := Client{
		ID: pub.ID, Name: "ChatGPT", RedirectURIs: []string{chatGPTRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		TokenEndpointAuthMethod: "none", ApplicationType: "web", Source: SourceDCR,
		CreatedAt: clock.Now().Add(-time.Minute),
	}
	if diff := cmp.Diff(wantPub, pub); diff != "" {
		t.Errorf("RegisterClient(public) (-want +got):\n%s", diff)
	}
	if !pub.Public() || conf.Public() {
		t.Errorf("Public(): public client %v, confidential client %v", pub.Public(), conf.Public())
	}

	// Read back, one by one and as a list.
	for _, want := range []Client{pub, conf} {
		got, err := s.Client(ctx, want.ID)
		if err != nil {
			t.Fatalf("Client(%q): %v", want.ID, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Client(%q) (-want +got):\n%s", want.ID, diff)
		}
	}
	list, err := s.ListClients(ctx)
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	if diff := cmp.Diff([]Client{pub, conf}, list); diff != "" {
		t.Errorf("ListClients (-want +got):\n%s", diff)
	}

	// Only the secret's hash is stored: the raw column holds SHA-256 of
	// the secret, not the secret; the public client's holds NULL.
	raw := func(id string) []byte {
		var b []byte
		if err := s.db.Reader.QueryRowContext(ctx, `SELECT secret_hash FROM clients WHERE client_id = $1`, id).Scan(&b); err != nil {
			t.Fatalf("read secret_hash: %v", err)
		}
		return b
	}
	sum := sha256.Sum256([]byte(confSecret))
	if got := raw(conf.ID); !slices.Equal(got, sum[:]) {
		t.Errorf("stored secret_hash %x; want SHA-256 of the secret, %x", got, sum)
	}
	if got := raw(pub.ID); got != nil {
		t.Errorf("public client's secret_hash %x; want NULL", got)
	}
	if dump := dumpAllRows(t, ctx, s.db); bytes.Contains(dump, []byte(confSecret)) {
		t.Errorf("the secret is stored in clear: %q", dump)
	}

	// The secret is returned once: reading the client back gives no way to
	// recover it (Client has no secret field), and a second client gets
	// another one.
	_, other := mustRegister(t, s, RegistrationRequest{RedirectURIs: []string{"https://app.example/cb"}}, SourceDCR)
	if other == confSecret {
		t.Errorf("two clients got the same secret")
	}

	if _, err := s.Client(ctx, "nosuchclient"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Client(unknown) = %v; want ErrNotFound", err)
	}
}

func TestRegisterClientRefusals(t *testing.T) {
	s := openTestStore(t, newTestClock())
	ctx := t.Context()
	good := mustValidate(t, RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}})

	var ve *ValidationError
	if _, _, err := s.RegisterClient(ctx, good, "cimd"); !errors.As(err, &ve) || ve.Field != "source" {
		t.Errorf("RegisterClient(source cimd) = %v; want a *ValidationError for source", err)
	}
	// A Registration built by hand is validated again.
	for name, reg := range map[string]Registration{
		"bad redirect":     {RedirectURIs: []string{"http://app.example/cb"}},
		"bad auth method":  withReg(good, func(r *Registration) { r.TokenEndpointAuthMethod = "private_key_jwt" }),
		"refresh only":     withReg(good, func(r *Registration) { r.GrantTypes = []string{"refresh_token"} }),
		"no redirect URIs": withReg(good, func(r *Registration) { r.RedirectURIs = nil }),
	} {
		var re *RegistrationError
		if _, _, err := s.RegisterClient(ctx, reg, SourceDCR); !errors.As(err, &re) {
			t.Errorf("RegisterClient(%s) = %v; want a *RegistrationError", name, err)
		}
	}
	if list, err := s.ListClients(ctx); err != nil || len(list) != 0 {
		t.Errorf("ListClients after refusals = %v, %v; want none", list, err)
	}
}

// withReg returns r changed by f.
func withReg(r Registration, f func(*Registration)) Registration { f(&r); return r }

func TestVerifyClientSecret(t *testing.T) {
	s := openTestStore(t, newTestClock())
	ctx := t.Context()
	conf, secret := mustRegister(t, s, RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, TokenEndpointAuthMethod: "client_secret_post"}, SourceDCR)
	pub, _ := mustRegister(t, s, RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, TokenEndpointAuthMethod: "none"}, SourceDCR)
	_, otherSecret := mustRegister(t, s, RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}}, SourceDCR)

	for _, tc := range []struct {
		name, id, secret string
		wantOK           bool
	}{
		{"right secret", conf.ID, secret, true},
		{"wrong secret", conf.ID, otherFirstChar(secret), false},
		{"secret with extra character", conf.ID, secret + "A", false},
		{"truncated secret", conf.ID, secret[:len(secret)-1], false},
		{"empty secret", conf.ID, "", false},
		{"another client's secret", conf.ID, otherSecret, false},
		{"the hash instead of the secret", conf.ID, string(hashClientSecret(secret)), false},
		{"public client", pub.ID, "", false},
		{"public client with a secret", pub.ID, secret, false},
		{"unknown client", "nosuchclient", secret, false},
	} {
		err := s.VerifyClientSecret(ctx, tc.id, tc.secret)
		if tc.wantOK && err != nil {
			t.Errorf("%s: VerifyClientSecret = %v; want nil", tc.name, err)
		}
		if !tc.wantOK && err != ErrInvalidClient {
			t.Errorf("%s: VerifyClientSecret = %v; want exactly ErrInvalidClient", tc.name, err)
		}
	}
}

// otherFirstChar returns s with a different first character (a fixed
// replacement would equal s whenever s happens to start with it).
func otherFirstChar(s string) string {
	if s[0] == 'x' {
		return "y" + s[1:]
	}
	return "x" + s[1:]
}

func TestAllowsRedirect(t *testing.T) {
	c := Client{RedirectURIs: []string{
		chatGPTRedirect,
		"https://app.example/cb",
		"https://app.example:8443/other?x=1",
		"http://127.0.0.1:33418/callback",
		"http://[::1]/oauth/callback?client=cli",
		"http://localhost:6274/oauth/callback",
	}}
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		// Exact matches.
		{chatGPTRedirect, true},
		{"https://app.example/cb", true},
		{"https://app.example:8443/other?x=1", true},
		{"http://127.0.0.1:33418/callback", true},
		{"http://[::1]/oauth/callback?client=cli", true},

		// One character off, anywhere.
		{"https://chatgpt.com/connector_platform_oauth_redirecT", false},
		{"https://chatgpt.com/connector_platform_oauth_redirectx", false},
		{"https://chatgpt.co/connector_platform_oauth_redirect", false},
		{"https://app.example/cb/", false}, // trailing slash differs
		{"https://app.example/cB", false},
		{"https://app.example/cb?", false},
		{"https://app.example/cb?x=1", false},
		{"https://app.example/%63b", false}, // same path, other spelling
		{"http://app.example/cb", false},    // http instead of https
		{"https://APP.example/cb", false},   // exact means exact, host too
		{"https://app.example:443/cb", false},
		{"https://app.example:8443/other?x=2", false},
		{"https://app.example:9443/other?x=1", false}, // https: port is part of the exact match
		{"https://app.example/cb#frag", false},
		{"", false},

		// Loopback http: any port, all else exact.
		{"http://127.0.0.1:50000/callback", true},
		{"http://127.0.0.1/callback", true},
		{"http://[::1]:61234/oauth/callback?client=cli", true},
		{"http://localhost:1/oauth/callback", true},
		{"http://localhost/oauth/callback", true},
		{"http://127.0.0.1:50000/callback/", false},             // other path
		{"http://127.0.0.1:50000/callbacks", false},             // other path
		{"http://127.0.0.1:50000/callback?x=1", false},          // other query
		{"http://[::1]:61234/oauth/callback", false},            // query missing
		{"http://localhost:50000/callback", false},              // other host than registered
		{"http://127.0.0.1:6274/oauth/callback", false},         // other host than registered
		{"http://127.0.0.2:33418/callback", false},              // not loopback as defined
		{"https://127.0.0.1:50000/callback", false},             // other scheme
		{"http://127.0.0.1:50000/callback#x", false},            // fragment
		{"http://127.0.0.1:99999/callback", false},              // no such port
		{"http://x@127.0.0.1:50000/callback", false},            // userinfo
		{"http://127.0.0.1:50000@evil.example/callback", false}, // host is evil.example
		{"http://evil.example:33418/callback", false},
	} {
		if got := c.AllowsRedirect(tc.uri); got != tc.want {
			t.Errorf("AllowsRedirect(%q) = %v; want %v", tc.uri, got, tc.want)
		}
	}
}

func TestIsLoopbackRedirectURI(t *testing.T) {
	for uri, want := range map[string]bool{
		"http://127.0.0.1:5000/cb":    true,
		"http://[::1]/cb":             true,
		"http://localhost:8080/cb":    true,
		"https://localhost/cb":        true, // any local process can listen with a self-signed certificate
		"https://127.0.0.1:8443/cb":   true,
		chatGPTRedirect:               false,
		"http://app.example/cb":       false,
		"http://127.0.0.1/cb#x":       false,
		"not a uri":                   false,
		"http://localhost.example/cb": false,
	} {
		if got := IsLoopbackRedirectURI(uri); got != want {
			t.Errorf("IsLoopbackRedirectURI(%q) = %v; want %v", uri, got, want)
		}
	}
}

func TestTouchRemoveAndExpireClients(t *testing.T) {
	clock := newTestClock()
	s := openTestStore(t, clock)
	ctx := t.Context()
	req := RegistrationRequest{RedirectURIs: []string{chatGPTRedirect}, TokenEndpointAuthMethod: "none"}

	oldUnused, _ := mustRegister(t, s, req, SourceDCR)
	oldUsed, _ := mustRegister(t, s, req, SourceDCR)
	oldPre, _ := mustRegister(t, s, req, SourcePreregistered)
	clock.Advance(10 * 24 * time.Hour)
	if err := s.TouchClient(ctx, oldUsed.ID); err != nil {
		t.Fatalf("TouchClient: %v", err)
	}
	touchedAt := clock.Now()
	clock.Advance(80 * 24 * time.Hour)
	newUnused, _ := mustRegister(t, s, req, SourceDCR)
	clock.Advance(time.Hour) // oldest are now 90 days + 1 hour old; newUnused 1 hour

	if err := s.TouchClient(ctx, "nosuchclient"); !errors.Is(err, ErrNotFound) {
		t.Errorf("TouchClient(unknown) = %v; want ErrNotFound", err)
	}
	if _, err := s.ExpireUnusedClients(ctx, 0); err == nil {
		t.Errorf("ExpireUnusedClients(0) succeeded; want an error")
	}

	// Nothing is 100 days old yet.
	if n, err := s.ExpireUnusedClients(ctx, 100*24*time.Hour); err != nil || n != 0 {
		t.Errorf("ExpireUnusedClients(100 days) = %d, %v; want 0", n, err)
	}
	n, err := s.ExpireUnusedClients(ctx, 90*24*time.Hour)
	if err != nil || n != 1 {
		t.Errorf("ExpireUnusedClients(90 days) = %d, %v; want 1", n, err)
	}
	ids := func() []string {
		list, err := s.ListClients(ctx)
		if err != nil {
			t.Fatalf("ListClients: %v", err)
		}
		var ids []string
		for _, c := range list {
			ids = append(ids, c.ID)
		}
		return ids
	}
	if diff := cmp.Diff([]string{oldUsed.ID, oldPre.ID, newUnused.ID}, ids()); diff != "" {
		t.Errorf("clients left after expiry (-want +got):\n%s", diff)
	}
	if _, err := s.Client(ctx, oldUnused.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Client(expired) = %v; want ErrNotFound", err)
	}
	used, err := s.Client(ctx, oldUsed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !used.LastUsedAt.Equal(touchedAt) {
		t.Errorf("LastUsedAt = %v; want %v", used.LastUsedAt, touchedAt)
	}
	// The boundary: exactly as old as the period is not yet expired.
	clock.Advance(time.Hour) // newUnused is 2 hours old
	if n, err := s.ExpireUnusedClients(ctx, 2*time.Hour); err != nil || n != 0 {
		t.Errorf("ExpireUnusedClients(its exact age) = %d, %v; want 0", n, err)
	}
	// Pre-registered clients never expire, however old and unused.
	if n, err := s.ExpireUnusedClients(ctx, time.Nanosecond); err != nil || n != 1 {
		t.Errorf("ExpireUnusedClients(1ns) = %d, %v; want 1 (newUnused)", n, err)
	}
	if diff := cmp.Diff([]string{oldUsed.ID, oldPre.ID}, ids()); diff != "" {
		t.Errorf("clients left (-want +got):\n%s", diff)
	}

	if err := s.RemoveClient(ctx, oldPre.ID); err != nil {
		t.Fatalf("RemoveClient: %v", err)
	}
	if err := s.RemoveClient(ctx, oldPre.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveClient twice = %v; want ErrNotFound", err)
	}
	if diff := cmp.Diff([]string{oldUsed.ID}, ids(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("clients left after removal (-want +got):\n%s", diff)
	}
}
