package authserver

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// cimdRoute is what the test metadata server answers on one path.
type cimdRoute struct {
	status  int               // 0 means 200
	header  map[string]string // Content-Type defaults to application/json; "" removes it
	body    string
	handler http.HandlerFunc // when set, replaces all of the above
}

// cimdServer is a local TLS server (httptest, on 127.0.0.1) serving
// metadata documents, counting the requests per path.
type cimdServer struct {
	*httptest.Server
	mu     sync.Mutex
	routes map[string]cimdRoute
	hits   map[string]int
}

func newCIMDServer(t *testing.T) *cimdServer {
	t.Helper()
	s := &cimdServer{routes: map[string]cimdRoute{}, hits: map[string]int{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *cimdServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	rt, ok := s.routes[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if rt.handler != nil {
		rt.handler(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	for k, v := range rt.header {
		if v == "" {
			w.Header()[k] = nil // nil also stops net/http from sniffing a Content-Type
			continue
		}
		w.Header().Set(k, v)
	}
	if rt.status != 0 {
		w.WriteHeader(rt.status)
	}
	io.WriteString(w, rt.body)
}

// route sets what path answers and returns the client_id URL of path.
func (s *cimdServer) route(path string, rt cimdRoute) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[path] = rt
	return s.URL + path
}

func (s *cimdServer) hitCount(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *cimdServer) certPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return pool
}

// cimdLoopbackOnly is the test-only address policy: the local test server,
// and nothing else, so that no test can reach another host.
func cimdLoopbackOnly(a netip.Addr) bool {
	return a == netip.MustParseAddr("127.0.0.1") || a == netip.MustParseAddr("::1")
}

// cimdTestRequester is the requester of the fetcher tests' lookups.
const cimdTestRequester = "192.0.2.1"

// newTestCIMDFetcher returns a fetcher that trusts srv's certificate and
// may connect to loopback only. Unless opts say otherwise, one requester
// may start a thousand fetches a minute: the tests that are not about that
// limit fetch more than the default's ten.
func newTestCIMDFetcher(srv *cimdServer, opts CIMDOptions) *CIMDFetcher {
	opts.RootCAs = srv.certPool()
	if opts.RequesterFetches == 0 {
		opts.RequesterFetches = 1000
	}
	if opts.UnsafeAllowAddressesForTests == nil {
		opts.UnsafeAllowAddressesForTests = cimdLoopbackOnly
	}
	return NewCIMDFetcher(opts)
}

// cimdAbsent, as a value in cimdDoc's changes, removes the member.
type cimdAbsent struct{}

// cimdDoc returns a valid metadata document for clientID, with changes
// applied (a cimdAbsent value removes a member).
func cimdDoc(clientID string, changes map[string]any) string {
	m := map[string]any{
		"client_id":                  clientID,
		"client_name":                "Test Client",
		"redirect_uris":              []string{"https://client.example/callback", "http://127.0.0.1/callback"},
		"token_endpoint_auth_method": "none",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
	}
	for k, v := range changes {
		if _, ok := v.(cimdAbsent); ok {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// cimdClock is a settable clock for the cache tests.
type cimdClock struct {
	mu sync.Mutex
	t  time.Time
}

func newCIMDClock() *cimdClock {
	return &cimdClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *cimdClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *cimdClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// requireCIMDError fails unless err is a *CIMDError of kind, and returns it.
func requireCIMDError(t *testing.T, err error, kind CIMDErrorKind) *CIMDError {
	t.Helper()
	var ce *CIMDError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want a *CIMDError of kind %q", err, err, kind)
	}
	if ce.Kind != kind {
		t.Fatalf("kind = %q, want %q (error: %v)", ce.Kind, kind, err)
	}
	return ce
}

func TestCIMDHappyPath(t *testing.T) {
	srv := newCIMDServer(t)
	clk := newCIMDClock()
	id := srv.URL + "/oauth/client.json"
	srv.route("/oauth/client.json", cimdRoute{body: cimdDoc(id, map[string]any{
		"client_uri": "https://client.example",
		"logo_uri":   "https://client.example/logo.png",
		"scope":      "kanban.read",
	})})
	f := newTestCIMDFetcher(srv, CIMDOptions{Now: clk.Now})

	c, err := f.Client(t.Context(), id, cimdTestRequester)
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	if c.ID != id || c.Name != "Test Client" || c.Source != SourceCIMD ||
		c.TokenEndpointAuthMethod != AuthMethodNone || !c.Public() || c.ApplicationType != ApplicationTypeWeb {
		t.Errorf("client = %+v", c)
	}
	if want := []string{"https://client.example/callback", "http://127.0.0.1/callback"}; !slices.Equal(c.RedirectURIs, want) {
		t.Errorf("redirect URIs = %q, want %q", c.RedirectURIs, want)
	}
	if !slices.Equal(c.GrantTypes, []string{GrantAuthorizationCode, GrantRefreshToken}) || !slices.Equal(c.ResponseTypes, []string{ResponseTypeCode}) {
		t.Errorf("grant types %q, response types %q", c.GrantTypes, c.ResponseTypes)
	}
	if !c.CreatedAt.Equal(clk.Now()) || !c.LastUsedAt.IsZero() {
		t.Errorf("created %v, last used %v; want %v and zero", c.CreatedAt, c.LastUsedAt, clk.Now())
	}
	for uri, want := range map[string]bool{
		"https://client.example/callback":      true,
		"http://127.0.0.1/callback":            true,
		"http://127.0.0.1:53124/callback":      true, // loopback: any port (RFC 8252)
		"https://client.example/callbacks":     false,
		"https://client.example/callback?x=1":  false,
		"https://evil.example/callback":        false,
		"https://client.example:8443/callback": false,
	} {
		if got := c.AllowsRedirect(uri); got != want {
			t.Errorf("AllowsRedirect(%q) = %v, want %v", uri, got, want)
		}
	}
	if n := srv.hitCount("/oauth/client.json"); n != 1 {
		t.Errorf("the document was requested %d times, want 1", n)
	}
}

func TestCIMDRefusesDocuments(t *testing.T) {
	srv := newCIMDServer(t)
	f := newTestCIMDFetcher(srv, CIMDOptions{})
	privateJWK := map[string]any{"keys": []map[string]any{{"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "c2VjcmV0"}}}

	tests := []struct {
		name    string
		body    func(id string) string
		kind    CIMDErrorKind
		reason  string // a substring of the error
		regCode string // when set, the cause must be a *RegistrationError with this code
	}{
		{name: "client_id with a trailing slash",
			body: func(id string) string { return cimdDoc(id+"/", nil) }, kind: CIMDInvalidDocument, reason: "names the client_id"},
		{name: "client_id of another path",
			body: func(id string) string { return cimdDoc(strings.TrimSuffix(id, ".json")+"-other.json", nil) }, kind: CIMDInvalidDocument, reason: "names the client_id"},
		{name: "client_id in upper-case scheme",
			body: func(id string) string { return cimdDoc("HTTPS"+strings.TrimPrefix(id, "https"), nil) }, kind: CIMDInvalidDocument, reason: "names the client_id"},
		{name: "client_id missing",
			body: func(id string) string { return cimdDoc(id, map[string]any{"client_id": cimdAbsent{}}) }, kind: CIMDInvalidDocument, reason: "has no client_id"},
		{name: "client_id in other case is not client_id",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"client_id": cimdAbsent{}, "Client_ID": id})
			}, kind: CIMDInvalidDocument, reason: "has no client_id"},
		{name: "client_id not a string",
			body: func(id string) string { return cimdDoc(id, map[string]any{"client_id": 42}) }, kind: CIMDInvalidDocument, reason: "client_id must be a string"},
		{name: "client_id given twice",
			body: func(id string) string {
				return `{"client_id":"https://evil.example/c.json",` + strings.TrimPrefix(cimdDoc(id, nil), "{")
			}, kind: CIMDInvalidDocument, reason: "twice"},
		{name: "redirect_uris missing",
			body: func(id string) string { return cimdDoc(id, map[string]any{"redirect_uris": cimdAbsent{}}) },
			kind: CIMDInvalidDocument, reason: "redirect_uris is required", regCode: ErrCodeInvalidRedirectURI},
		{name: "redirect_uris empty",
			body: func(id string) string { return cimdDoc(id, map[string]any{"redirect_uris": []string{}}) },
			kind: CIMDInvalidDocument, reason: "redirect_uris is required", regCode: ErrCodeInvalidRedirectURI},
		{name: "redirect_uris not an array",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"redirect_uris": "https://client.example/callback"})
			}, kind: CIMDInvalidDocument, reason: "redirect_uris must be an array of strings"},
		{name: "http redirect URI on a host that is not loopback",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"redirect_uris": []string{"https://client.example/cb", "http://client.example/cb"}})
			}, kind: CIMDInvalidDocument, reason: "not loopback", regCode: ErrCodeInvalidRedirectURI},
		{name: "redirect URI with a fragment",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"redirect_uris": []string{"https://client.example/cb#x"}})
			}, kind: CIMDInvalidDocument, reason: "fragment", regCode: ErrCodeInvalidRedirectURI},
		{name: "redirect URI with a custom scheme",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"redirect_uris": []string{"com.example.app:/cb"}})
			}, kind: CIMDInvalidDocument, reason: "scheme", regCode: ErrCodeInvalidRedirectURI},
		{name: "client_secret",
			body: func(id string) string { return cimdDoc(id, map[string]any{"client_secret": "s3cret"}) },
			kind: CIMDInvalidDocument, reason: "contains client_secret"},
		{name: "client_secret null",
			body: func(id string) string { return cimdDoc(id, map[string]any{"client_secret": nil}) },
			kind: CIMDInvalidDocument, reason: "contains client_secret"},
		{name: "client_secret_expires_at",
			body: func(id string) string { return cimdDoc(id, map[string]any{"client_secret_expires_at": 0}) },
			kind: CIMDInvalidDocument, reason: "contains client_secret_expires_at"},
		{name: "client_secret_basic",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"token_endpoint_auth_method": "client_secret_basic"})
			}, kind: CIMDInvalidDocument, reason: "shared secret"},
		{name: "client_secret_post",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"token_endpoint_auth_method": "client_secret_post"})
			}, kind: CIMDInvalidDocument, reason: "shared secret"},
		{name: "client_secret_jwt among the methods supported",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"token_endpoint_auth_method": cimdAbsent{},
					"token_endpoint_auth_methods_supported": []string{"none", "client_secret_jwt"}})
			}, kind: CIMDInvalidDocument, reason: "shared secret"},
		{name: "private_key_jwt only",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://client.example/jwks.json"})
			}, kind: CIMDUnsupportedAuthMethod, reason: "private_key_jwt"},
		{name: "methods supported without none, and no method",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"token_endpoint_auth_method": cimdAbsent{},
					"token_endpoint_auth_methods_supported": []string{"private_key_jwt"}})
			}, kind: CIMDUnsupportedAuthMethod, reason: "private_key_jwt"},
		{name: "method not among the methods supported",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"token_endpoint_auth_methods_supported": []string{"private_key_jwt"}})
			}, kind: CIMDInvalidDocument, reason: "not listed"},
		{name: "private key in jwks",
			body: func(id string) string { return cimdDoc(id, map[string]any{"jwks": privateJWK}) },
			kind: CIMDInvalidDocument, reason: "private"},
		{name: "grant types without authorization_code",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"grant_types": []string{"client_credentials"}})
			}, kind: CIMDInvalidDocument, reason: `without "authorization_code"`},
		{name: "response types without code",
			body: func(id string) string { return cimdDoc(id, map[string]any{"response_types": []string{"token"}}) },
			kind: CIMDInvalidDocument, reason: `without "code"`},
		{name: "client_name over two lines",
			body: func(id string) string { return cimdDoc(id, map[string]any{"client_name": "Good App\nEvil App"}) },
			kind: CIMDInvalidDocument, reason: "client_name", regCode: ErrCodeInvalidClientMetadata},
		{name: "unknown application_type",
			body: func(id string) string { return cimdDoc(id, map[string]any{"application_type": "desktop"}) },
			kind: CIMDInvalidDocument, reason: "application_type", regCode: ErrCodeInvalidClientMetadata},
		{name: "a JSON array",
			body: func(id string) string { return "[" + cimdDoc(id, nil) + "]" }, kind: CIMDInvalidDocument, reason: "must be a JSON object"},
		{name: "truncated JSON",
			body: func(id string) string { return strings.TrimSuffix(cimdDoc(id, nil), "}") }, kind: CIMDInvalidDocument, reason: "not valid JSON"},
		{name: "data after the object",
			body: func(id string) string { return cimdDoc(id, nil) + `{"client_id":"x"}` }, kind: CIMDInvalidDocument, reason: "data after"},
		{name: "empty body",
			body: func(string) string { return "" }, kind: CIMDInvalidDocument, reason: "not valid JSON"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fmt.Sprintf("/refused/%d.json", i)
			id := srv.URL + path
			srv.route(path, cimdRoute{body: tt.body(id)})
			c, err := f.Client(t.Context(), id, cimdTestRequester)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			ce := requireCIMDError(t, err, tt.kind)
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not mention %q", err, tt.reason)
			}
			if ce.ClientID != id {
				t.Errorf("ClientID = %q, want %q", ce.ClientID, id)
			}
			var regErr *RegistrationError
			if got := errors.As(err, &regErr); got != (tt.regCode != "") || got && regErr.Code != tt.regCode {
				t.Errorf("registration error = %v, want code %q", regErr, tt.regCode)
			}
			if n := srv.hitCount(path); n != 1 {
				t.Errorf("the document was requested %d times, want 1", n)
			}
		})
	}
}

func TestCIMDAcceptsDocuments(t *testing.T) {
	srv := newCIMDServer(t)
	f := newTestCIMDFetcher(srv, CIMDOptions{})
	publicJWK := map[string]any{"keys": []map[string]any{{"kty": "EC", "crv": "P-256", "x": "AQAB", "y": "AQAB"}}}

	tests := []struct {
		name   string
		query  string // appended to the client_id URL
		header map[string]string
		body   func(id string) string
		check  func(t *testing.T, c Client)
	}{
		{name: "ChatGPT style: none or private_key_jwt offered, no single method",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"token_endpoint_auth_method": cimdAbsent{},
					"token_endpoint_auth_methods_supported": []string{"none", "private_key_jwt"},
					"jwks_uri":                              "https://client.example/jwks.json"})
			}},
		{name: "private_key_jwt preferred, none offered too",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"token_endpoint_auth_method": "private_key_jwt",
					"token_endpoint_auth_methods_supported": []string{"private_key_jwt", "none"},
					"jwks":                                  publicJWK})
			}},
		{name: "no auth method at all means none",
			body: func(id string) string { return cimdDoc(id, map[string]any{"token_endpoint_auth_method": cimdAbsent{}}) }},
		{name: "grant types this server does not support are ignored",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"grant_types": []string{"urn:ietf:params:oauth:grant-type:jwt-bearer", "authorization_code", "refresh_token"},
					"response_types": []string{"code", "id_token"}})
			},
			check: func(t *testing.T, c Client) {
				if !slices.Equal(c.GrantTypes, []string{GrantAuthorizationCode, GrantRefreshToken}) || !slices.Equal(c.ResponseTypes, []string{ResponseTypeCode}) {
					t.Errorf("grant types %q, response types %q", c.GrantTypes, c.ResponseTypes)
				}
			}},
		{name: "no grant or response types means the defaults",
			body: func(id string) string {
				return cimdDoc(id, map[string]any{"grant_types": cimdAbsent{}, "response_types": cimdAbsent{}})
			},
			check: func(t *testing.T, c Client) {
				if !slices.Equal(c.GrantTypes, []string{GrantAuthorizationCode}) || !slices.Equal(c.ResponseTypes, []string{ResponseTypeCode}) {
					t.Errorf("grant types %q, response types %q", c.GrantTypes, c.ResponseTypes)
				}
			}},
		{name: "no client_name",
			body: func(id string) string { return cimdDoc(id, map[string]any{"client_name": cimdAbsent{}}) },
			check: func(t *testing.T, c Client) {
				if c.Name != "" {
					t.Errorf("name = %q, want empty", c.Name)
				}
			}},
		{name: "null optional members",
			body: func(id string) string { return cimdDoc(id, map[string]any{"client_name": nil, "jwks": nil}) }},
		{name: "native application",
			body: func(id string) string { return cimdDoc(id, map[string]any{"application_type": "native"}) },
			check: func(t *testing.T, c Client) {
				if c.ApplicationType != ApplicationTypeNative {
					t.Errorf("application type = %q", c.ApplicationType)
				}
			}},
		{name: "a +json content type with parameters",
			header: map[string]string{"Content-Type": "application/client-metadata+json; charset=utf-8"},
			body:   func(id string) string { return cimdDoc(id, nil) }},
		{name: "a client_id with a query",
			query: "?v=2",
			body:  func(id string) string { return cimdDoc(id, nil) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fmt.Sprintf("/accepted/%d.json", i)
			id := srv.URL + path + tt.query
			srv.route(path, cimdRoute{header: tt.header, body: tt.body(id)})
			c, err := f.Client(t.Context(), id, cimdTestRequester)
			if err != nil {
				t.Fatalf("Client: %v", err)
			}
			if c.ID != id || c.TokenEndpointAuthMethod != AuthMethodNone || c.Source != SourceCIMD {
				t.Errorf("client = %+v", c)
			}
			if !c.AllowsRedirect("https://client.example/callback") {
				t.Errorf("the listed redirect URI is not allowed")
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestCIMDRefusesResponses(t *testing.T) {
	srv := newCIMDServer(t)
	const maxBytes = 1024
	f := newTestCIMDFetcher(srv, CIMDOptions{MaxBytes: maxBytes})

	// padded returns a valid document for id of exactly n bytes.
	padded := func(id string, n int) string {
		base := cimdDoc(id, map[string]any{"x_padding": ""})
		return cimdDoc(id, map[string]any{"x_padding": strings.Repeat("x", n-len(base))})
	}
	tests := []struct {
		name   string
		route  func(id string) cimdRoute
		kind   CIMDErrorKind // "" means accepted
		reason string
	}{
		{name: "404", route: func(id string) cimdRoute { return cimdRoute{status: 404, body: cimdDoc(id, nil)} },
			kind: CIMDBadStatus, reason: "HTTP 404"},
		{name: "500", route: func(id string) cimdRoute { return cimdRoute{status: 500, body: cimdDoc(id, nil)} },
			kind: CIMDBadStatus, reason: "HTTP 500"},
		{name: "203 is not 200", route: func(id string) cimdRoute { return cimdRoute{status: 203, body: cimdDoc(id, nil)} },
			kind: CIMDBadStatus, reason: "HTTP 203"},
		{name: "HTML", route: func(id string) cimdRoute {
			return cimdRoute{header: map[string]string{"Content-Type": "text/html; charset=utf-8"}, body: cimdDoc(id, nil)}
		}, kind: CIMDNotJSON, reason: "text/html"},
		{name: "text/json", route: func(id string) cimdRoute {
			return cimdRoute{header: map[string]string{"Content-Type": "text/json"}, body: cimdDoc(id, nil)}
		}, kind: CIMDNotJSON, reason: "text/json"},
		{name: "application/jsonp", route: func(id string) cimdRoute {
			return cimdRoute{header: map[string]string{"Content-Type": "application/jsonp"}, body: cimdDoc(id, nil)}
		}, kind: CIMDNotJSON, reason: "application/jsonp"},
		{name: "no content type", route: func(id string) cimdRoute {
			return cimdRoute{header: map[string]string{"Content-Type": ""}, body: cimdDoc(id, nil)}
		}, kind: CIMDNotJSON, reason: "without a Content-Type"},
		{name: "exactly the size cap", route: func(id string) cimdRoute { return cimdRoute{body: padded(id, maxBytes)} }},
		{name: "one byte over the cap, with Content-Length", route: func(id string) cimdRoute {
			body := padded(id, maxBytes+1)
			return cimdRoute{header: map[string]string{"Content-Length": strconv.Itoa(len(body))}, body: body}
		}, kind: CIMDTooLarge, reason: "at most 1024"},
		{name: "over the cap, streamed without Content-Length", route: func(id string) cimdRoute {
			body := padded(id, 4*maxBytes)
			return cimdRoute{handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				for chunk := range slices.Chunk([]byte(body), 100) {
					w.Write(chunk)
					w.(http.Flusher).Flush()
				}
			}}
		}, kind: CIMDTooLarge, reason: "larger than 1024"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fmt.Sprintf("/responses/%d.json", i)
			id := srv.URL + path
			srv.route(path, tt.route(id))
			c, err := f.Client(t.Context(), id, cimdTestRequester)
			if tt.kind == "" {
				if err != nil {
					t.Fatalf("Client: %v", err)
				}
				if c.ID != id {
					t.Errorf("client = %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			requireCIMDError(t, err, tt.kind)
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not mention %q", err, tt.reason)
			}
		})
	}
}

func TestCIMDDoesNotFollowRedirects(t *testing.T) {
	srv := newCIMDServer(t)
	f := newTestCIMDFetcher(srv, CIMDOptions{})
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			target := fmt.Sprintf("/target/%d.json", status)
			from := fmt.Sprintf("/moved/%d.json", status)
			id := srv.URL + from
			// The target serves a document that would be valid for id, so
			// following the redirect would succeed.
			srv.route(target, cimdRoute{body: cimdDoc(id, nil)})
			srv.route(from, cimdRoute{handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target, status)
			}})
			_, err := f.Client(t.Context(), id, cimdTestRequester)
			requireCIMDError(t, err, CIMDRedirect)
			if strings.Contains(err.Error(), target) {
				t.Errorf("error %q repeats the redirect target", err)
			}
			if n := srv.hitCount(from); n != 1 {
				t.Errorf("the client_id URL was requested %d times, want 1", n)
			}
			if n := srv.hitCount(target); n != 0 {
				t.Errorf("the redirect target was requested %d times, want 0", n)
			}
		})
	}
}

func TestCIMDTimeout(t *testing.T) {
	srv := newCIMDServer(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before srv.Close, which waits for handlers
	// The handler answers nothing until the test is over, not even when the
	// fetcher gives up: returning on r.Context().Done() sent an empty 200
	// that, under load, could reach the fetcher in the same instant as its
	// own deadline and be judged instead ("served without a Content-Type").
	id := srv.route("/slow.json", cimdRoute{handler: func(http.ResponseWriter, *http.Request) {
		<-release
	}})
	f := newTestCIMDFetcher(srv, CIMDOptions{Timeout: 200 * time.Millisecond})
	_, err := f.Client(t.Context(), id, cimdTestRequester)
	requireCIMDError(t, err, CIMDTimeout)
	if !strings.Contains(err.Error(), "did not send the document") {
		t.Errorf("error = %q", err)
	}
}

func TestCIMDRefusesSpecialAddressesAtConnectTime(t *testing.T) {
	srv := newCIMDServer(t)
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "https://"), ":")
	// Production address policy: only the certificate is trusted.
	f := NewCIMDFetcher(CIMDOptions{RootCAs: srv.certPool()})

	tests := []struct {
		name     string
		clientID string
		leak     string // must not appear in the error
	}{
		// The address of the running test server: only the dial check
		// stands between the fetcher and a valid document.
		{name: "loopback IP", clientID: srv.URL + "/client.json"},
		// A name that resolves to loopback (127.0.0.1, and ::1 where
		// configured): refused after resolution, at connect time.
		{name: "host name resolving to loopback", clientID: "https://localhost:" + port + "/client.json", leak: "127.0.0.1"},
		{name: "IPv6 loopback", clientID: "https://[::1]:" + port + "/client.json"},
		{name: "IPv4-mapped loopback", clientID: "https://[::ffff:127.0.0.1]:" + port + "/client.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.route("/client.json", cimdRoute{body: cimdDoc(tt.clientID, nil)})
			_, err := f.Client(t.Context(), tt.clientID, cimdTestRequester)
			requireCIMDError(t, err, CIMDAddressNotAllowed)
			if !strings.Contains(err.Error(), "not allowed to connect") {
				t.Errorf("error %q does not say the address is not allowed", err)
			}
			if tt.leak != "" && strings.Contains(err.Error(), tt.leak) {
				t.Errorf("error %q shows the resolved address %s", err, tt.leak)
			}
			var addrErr *cimdAddressError
			if !errors.As(err, &addrErr) {
				t.Errorf("the cause %v is not the dial check's", errors.Unwrap(err))
			}
		})
	}
	if n := srv.hitCount("/client.json"); n != 0 {
		t.Errorf("the test server was reached %d times, want 0", n)
	}
}

func TestCIMDAddressAllowed(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"169.254.0.1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fc00::1", false},
		{"fd00:ec2::254", false}, // AWS IMDS over IPv6
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"192.0.0.170", false},
		{"192.0.2.1", false},
		{"198.18.0.1", false},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"192.88.99.1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::127.0.0.1", false},         // IPv4-compatible (deprecated)
		{"64:ff9b::7f00:1", false},     // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false},  // NAT64 of 169.254.169.254
		{"64:ff9b:1::808:808", false},  // local-use NAT64
		{"2002:7f00:1::1", false},      // 6to4 of 127.0.0.1
		{"2001:0:4136:e378::1", false}, // Teredo
		{"2001:db8::1", false},
		{"3fff::1", false},
		{"100::1", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"ff05::1:3", false},
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"100.63.255.255", true}, // just below CGNAT space
		{"172.32.0.1", true},     // just above 172.16/12
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"2606:4700::1111", true},
		{"2a00:1450:4001:80b::200e", true},
	}
	for _, tt := range tests {
		if got := cimdAddressAllowed(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("cimdAddressAllowed(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if cimdAddressAllowed(netip.Addr{}) {
		t.Error("the zero Addr is allowed")
	}
}

func TestIsCIMDClientID(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", MaxCIMDClientIDLen-len("https://example.com/"))
	tests := []struct {
		id   string
		want bool
	}{
		{"https://chatgpt.com/oauth/client.json", true},
		{"https://example.com/", true}, // a path of / is NOT RECOMMENDED, not forbidden
		{"https://example.com:8443/client", true},
		{"https://example.com/client?v=1", true}, // a query SHOULD NOT, but MAY, be used
		{"https://example.com/a%2Fb", true},
		{"https://127.0.0.1/client", true}, // syntax only; the dial check refuses it
		{long, true},
		{long + "a", false},
		{"", false},
		{"abcdefghijklmnopqrstuvwxyz234567", false}, // a DCR client_id
		{"http://example.com/client", false},
		{"HTTPS://example.com/client", false},
		{"https:/example.com/client", false},
		{"ftp://example.com/client", false},
		{"https://example.com", false},
		{"https://user@example.com/client", false},
		{"https://user:pw@example.com/client", false},
		{"https://example.com/client#frag", false},
		{"https://example.com/client#", false},
		{"https://example.com/a/../client", false},
		{"https://example.com/./client", false},
		{"https://example.com/a/..", false},
		{"https://example.com/a/%2e%2e/client", false},
		{"https://example.com/a/%2E/client", false},
		{"https:///client", false},
		{"https://:443/client", false},
		{"https://exa mple.com/client", false},
		{"https://example.com/client\n", false},
		{"https://example.com/clïent", false},
		{"https://example.com:0/client", false},
		{"https://example.com:99999/client", false},
		{"https://[fe80::1%25eth0]/client", false},
		{"https://example.com/a%zz", false},
	}
	for _, tt := range tests {
		if got := IsCIMDClientID(tt.id); got != tt.want {
			t.Errorf("IsCIMDClientID(%q) = %v, want %v (%s)", tt.id, got, tt.want, cimdClientIDProblem(tt.id))
		}
	}
}

func TestCIMDRefusesClientIDsWithoutFetching(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request to %s", r.URL)
	}))
	defer plain.Close()
	srv := newCIMDServer(t)
	f := newTestCIMDFetcher(srv, CIMDOptions{})
	for _, id := range []string{
		plain.URL + "/client.json", // http://127.0.0.1:port/…
		srv.URL,                    // no path
		srv.URL + "/a/../client.json",
		srv.URL + "/client.json#x",
	} {
		_, err := f.Client(t.Context(), id, cimdTestRequester)
		requireCIMDError(t, err, CIMDInvalidClientID)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.hits) != 0 {
		t.Errorf("the TLS server was requested: %v", srv.hits)
	}
}

func TestCIMDTransportIgnoresProxies(t *testing.T) {
	f := NewCIMDFetcher(CIMDOptions{})
	tr, ok := f.http.Transport.(*http.Transport)
	if !ok || tr.Proxy != nil {
		t.Errorf("transport %T has a proxy function; the dial check would see the proxy, not the peer", f.http.Transport)
	}
	if f.http.CheckRedirect == nil {
		t.Error("no CheckRedirect: redirects would be followed")
	}
}

func TestCIMDCacheServesRepeatLookups(t *testing.T) {
	srv := newCIMDServer(t)
	id := srv.URL + "/client.json"
	srv.route("/client.json", cimdRoute{body: cimdDoc(id, nil)})
	f := newTestCIMDFetcher(srv, CIMDOptions{})

	first, err := f.Client(t.Context(), id, cimdTestRequester)
	if err != nil {
		t.Fatal(err)
	}
	// Changing a returned client must not change what the cache holds,
	// whether the client came from the fetch or from the cache.
	first.RedirectURIs[0] = "https://evil.example/callback"
	second, err := f.Client(t.Context(), id, cimdTestRequester)
	if err != nil {
		t.Fatal(err)
	}
	second.GrantTypes[0] = "evil"
	third, err := f.Client(t.Context(), id, cimdTestRequester)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.hitCount("/client.json"); n != 1 {
		t.Errorf("the document was requested %d times for three lookups, want 1", n)
	}
	for i, c := range []Client{second, third} {
		if c.RedirectURIs[0] != "https://client.example/callback" {
			t.Errorf("lookup %d: the cached client was changed through a returned copy: %q", i+2, c.RedirectURIs)
		}
	}
	if third.GrantTypes[0] != GrantAuthorizationCode {
		t.Errorf("the cached client was changed through a returned copy: %q", third.GrantTypes)
	}
}

func TestCIMDLifetime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const def, lo, hi = 5 * time.Minute, time.Minute, 24 * time.Hour
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"no headers: the default", nil, def},
		{"max-age", map[string]string{"Cache-Control": "public, max-age=3600"}, time.Hour},
		{"quoted max-age", map[string]string{"Cache-Control": `max-age="600"`}, 10 * time.Minute},
		{"max-age below the minimum", map[string]string{"Cache-Control": "max-age=10"}, lo},
		{"max-age=0", map[string]string{"Cache-Control": "max-age=0"}, lo},
		{"max-age above the maximum", map[string]string{"Cache-Control": "max-age=31536000"}, hi},
		{"huge max-age", map[string]string{"Cache-Control": "max-age=99999999999999999999"}, hi}, // 2^31 s, RFC 9111 §1.2.2
		{"invalid max-age", map[string]string{"Cache-Control": "max-age=soon"}, lo},
		{"no-store", map[string]string{"Cache-Control": "no-store"}, lo},
		{"no-store wins over max-age", map[string]string{"Cache-Control": "max-age=3600, No-Store"}, lo},
		{"no-cache", map[string]string{"Cache-Control": "no-cache"}, lo},
		{"s-maxage wins over max-age", map[string]string{"Cache-Control": "max-age=3600, s-maxage=1200"}, 20 * time.Minute},
		{"Age is subtracted", map[string]string{"Cache-Control": "max-age=3600", "Age": "1800"}, 30 * time.Minute},
		{"Age beyond max-age", map[string]string{"Cache-Control": "max-age=60", "Age": "600"}, lo},
		{"Expires relative to Date", map[string]string{
			"Date":    now.Add(-time.Minute).Format(http.TimeFormat),
			"Expires": now.Add(119 * time.Minute).Format(http.TimeFormat)}, 2 * time.Hour},
		{"Expires without Date", map[string]string{"Expires": now.Add(2 * time.Hour).Format(http.TimeFormat)}, 2 * time.Hour},
		{"invalid Expires", map[string]string{"Expires": "0"}, lo},
		{"max-age wins over Expires", map[string]string{"Cache-Control": "max-age=600", "Expires": now.Add(2 * time.Hour).Format(http.TimeFormat)}, 10 * time.Minute},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.header {
			h.Set(k, v)
		}
		if got := cimdLifetime(h, now, def, lo, hi); got != tt.want {
			t.Errorf("%s: lifetime = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCIMDCacheHonoursCacheControl(t *testing.T) {
	srv := newCIMDServer(t)
	clk := newCIMDClock()
	f := newTestCIMDFetcher(srv, CIMDOptions{Now: clk.Now})
	paths := map[string]string{ // path → Cache-Control
		"/max-age.json":  "max-age=3600",
		"/no-store.json": "no-store",
		"/none.json":     "",
	}
	for path, cc := range paths {
		h := map[string]string{}
		if cc != "" {
			h["Cache-Control"] = cc
		}
		srv.route(path, cimdRoute{header: h, body: cimdDoc(srv.URL+path, nil)})
	}
	lookupAll := func(step string, want map[string]int) {
		t.Helper()
		for path := range paths {
			if _, err := f.Client(t.Context(), srv.URL+path, cimdTestRequester); err != nil {
				t.Fatalf("%s: %s: %v", step, path, err)
			}
			if n := srv.hitCount(path); n != want[path] {
				t.Errorf("%s: %s requested %d times, want %d", step, path, n, want[path])
			}
		}
	}
	lookupAll("first lookup", map[string]int{"/max-age.json": 1, "/no-store.json": 1, "/none.json": 1})
	clk.Advance(30 * time.Second)
	lookupAll("after 30s", map[string]int{"/max-age.json": 1, "/no-store.json": 1, "/none.json": 1})
	clk.Advance(31 * time.Second) // 61s: past the minimum, which bounds no-store
	lookupAll("after 61s", map[string]int{"/max-age.json": 1, "/no-store.json": 2, "/none.json": 1})
	clk.Advance(4 * time.Minute) // 5m01s: past the default
	lookupAll("after 5m01s", map[string]int{"/max-age.json": 1, "/no-store.json": 3, "/none.json": 2})
	clk.Advance(55 * time.Minute) // 60m01s: past max-age
	lookupAll("after 60m01s", map[string]int{"/max-age.json": 2, "/no-store.json": 4, "/none.json": 3})
}

func TestCIMDRemembersFailuresBriefly(t *testing.T) {
	srv := newCIMDServer(t)
	clk := newCIMDClock()
	id := srv.route("/client.json", cimdRoute{status: http.StatusNotFound})
	f := newTestCIMDFetcher(srv, CIMDOptions{Now: clk.Now, FailureTTL: 30 * time.Second})

	_, err := f.Client(t.Context(), id, cimdTestRequester)
	first := requireCIMDError(t, err, CIMDBadStatus)

	// The document is fixed, but the failure is remembered for 30s: no
	// request reaches the server meanwhile.
	srv.route("/client.json", cimdRoute{body: cimdDoc(id, nil)})
	clk.Advance(29 * time.Second)
	_, err = f.Client(t.Context(), id, cimdTestRequester)
	if again := requireCIMDError(t, err, CIMDBadStatus); again != first {
		t.Errorf("second error %v is not the remembered one", again)
	}
	if n := srv.hitCount("/client.json"); n != 1 {
		t.Errorf("requested %d times within the failure TTL, want 1", n)
	}

	clk.Advance(2 * time.Second)
	if _, err := f.Client(t.Context(), id, cimdTestRequester); err != nil {
		t.Fatalf("after the failure TTL: %v", err)
	}
	if n := srv.hitCount("/client.json"); n != 2 {
		t.Errorf("requested %d times, want 2", n)
	}

	t.Run("off", func(t *testing.T) {
		id := srv.route("/gone.json", cimdRoute{status: http.StatusGone})
		f := newTestCIMDFetcher(srv, CIMDOptions{Now: clk.Now, FailureTTL: -1})
		for range 3 {
			_, err := f.Client(t.Context(), id, cimdTestRequester)
			requireCIMDError(t, err, CIMDBadStatus)
		}
		if n := srv.hitCount("/gone.json"); n != 3 {
			t.Errorf("requested %d times for 3 lookups without failure caching, want 3", n)
		}
	})
}

func TestCIMDCacheIsBounded(t *testing.T) {
	srv := newCIMDServer(t)
	f := newTestCIMDFetcher(srv, CIMDOptions{MaxEntries: 2})
	for _, p := range []string{"/1.json", "/2.json", "/3.json"} {
		srv.route(p, cimdRoute{body: cimdDoc(srv.URL+p, nil)})
	}
	for _, p := range []string{"/1.json", "/2.json", "/3.json", "/3.json", "/2.json", "/1.json"} {
		if _, err := f.Client(t.Context(), srv.URL+p, cimdTestRequester); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	// /1 was evicted when /3 came in; /2 and /3 were still cached.
	for p, want := range map[string]int{"/1.json": 2, "/2.json": 1, "/3.json": 1} {
		if n := srv.hitCount(p); n != want {
			t.Errorf("%s requested %d times, want %d", p, n, want)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.docs.entries) != 2 || f.docs.len() != 2 {
		t.Errorf("cache holds %d entries (%d in order), want 2", len(f.docs.entries), f.docs.len())
	}
}

// cimdBlockingRoute serves a valid document for id once release is closed,
// signalling entered when a request arrives.
func cimdBlockingRoute(id string, entered chan<- struct{}, release <-chan struct{}) cimdRoute {
	return cimdRoute{handler: func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, cimdDoc(id, nil))
	}}
}

// cimdWait receives from ch, failing the test if nothing arrives: a guard
// against a hang when the code under test is broken, not a timing check.
func cimdWait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("gave up waiting for %s", what)
		panic("unreachable")
	}
}

func TestCIMDConcurrentLookupsShareOneFetch(t *testing.T) {
	srv := newCIMDServer(t)
	id := srv.URL + "/client.json"
	entered := make(chan struct{}, 16)
	release := make(chan struct{})
	srv.route("/client.json", cimdBlockingRoute(id, entered, release))
	f := newTestCIMDFetcher(srv, CIMDOptions{})
	const n = 8
	joined := make(chan struct{}, n)
	f.testHookJoined = func() { joined <- struct{}{} }

	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c, err := f.Client(t.Context(), id, cimdTestRequester)
			if err == nil && c.ID != id {
				err = fmt.Errorf("client %q", c.ID)
			}
			errs <- err
		})
	}
	// One lookup fetches (its request is now blocked in the handler); the
	// fetch is released only once the n-1 others have joined it.
	cimdWait(t, entered, "the fetch")
	for i := range n - 1 {
		cimdWait(t, joined, fmt.Sprintf("lookup %d to join", i+2))
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("lookup: %v", err)
		}
	}
	if got := srv.hitCount("/client.json"); got != 1 {
		t.Errorf("%d concurrent lookups made %d requests, want 1", n, got)
	}
}

func TestCIMDCallerGivingUpDoesNotSpoilTheFetch(t *testing.T) {
	srv := newCIMDServer(t)
	id := srv.URL + "/client.json"
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	srv.route("/client.json", cimdBlockingRoute(id, entered, release))
	f := newTestCIMDFetcher(srv, CIMDOptions{})

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := f.Client(ctx, id, cimdTestRequester)
		errc <- err
	}()
	cimdWait(t, entered, "the fetch")
	cancel()
	if err := cimdWait(t, errc, "the cancelled lookup"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled lookup: err = %v, want context.Canceled", err)
	}
	close(release)
	// The fetch went on without the caller: this lookup joins it or finds
	// its result in the cache.
	if _, err := f.Client(t.Context(), id, cimdTestRequester); err != nil {
		t.Fatalf("Client: %v", err)
	}
	if got := srv.hitCount("/client.json"); got != 1 {
		t.Errorf("requested %d times, want 1", got)
	}
}

// TestCIMDUnsafeSwitchIsSetOnlyInTests enforces that the test-only address
// switch cannot be turned on by accident: no non-test Go file of the module
// (main.go, config/, …) other than the file defining it may mention it.
func TestCIMDUnsafeSwitchIsSetOnlyInTests(t *testing.T) {
	const name = "UnsafeAllowAddressesForTests"
	root := ".."
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	self := filepath.Join(root, "authserver", "cimd.go")
	seen := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "node_modules" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		seen++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if path != self && bytes.Contains(b, []byte(name)) {
			t.Errorf("%s mentions %s; only tests may set it", path, name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 2 {
		t.Fatalf("only %d Go files found under %s", seen, root)
	}
}
