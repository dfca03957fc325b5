package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// introspectionServer is an RFC 7662 endpoint on loopback: it checks our
// client_secret_basic credentials and answers each token with the answer
// set for it ({"active": false} for any other), counting the requests.
type introspectionServer struct {
	*httptest.Server
	mu       sync.Mutex
	answers  map[string]any
	status   int           // when not 0, every answer has this status
	release  chan struct{} // when not nil, answers wait for it
	requests atomic.Int64
}

const (
	isClientID = "resource-server"
	isSecret   = "s3cret:with/odd&chars"
	isResource = "https://kanban.example/mcp"
	isIssuer   = "https://issuer.example"
)

func newIntrospectionServer(t *testing.T) *introspectionServer {
	s := &introspectionServer{answers: map[string]any{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if r.URL.Path == "/elsewhere" {
			// Where a redirect points: an answer the endpoint never gave.
			_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "sub": "redirected", "aud": isResource})
			return
		}
		if s.release != nil {
			<-s.release
		}
		id, secret, ok := r.BasicAuth()
		// RFC 6749 §2.3.1: both parts are form-encoded before Basic.
		if !ok || id != isClientID || secret != "s3cret%3Awith%2Fodd%26chars" || r.Method != http.MethodPost {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		s.mu.Lock()
		status, answer, found := s.status, s.answers[r.PostFormValue("token")], false
		if answer != nil {
			found = true
		}
		s.mu.Unlock()
		if status == http.StatusTemporaryRedirect {
			// Following it would post the token again, to wherever it says.
			http.Redirect(w, r, s.URL+"/elsewhere", status)
			return
		}
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		if !found {
			answer = map[string]any{"active": false}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *introspectionServer) set(token string, answer any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[token] = answer
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newIntrospector(t *testing.T, s *introspectionServer, clock *fakeClock, mod func(*auth.IntrospectorConfig)) *auth.Introspector {
	t.Helper()
	cfg := auth.IntrospectorConfig{
		URL: s.URL, ClientID: isClientID, ClientSecret: isSecret, Issuer: isIssuer, Audience: isResource,
		CacheTTL: time.Minute, InactiveTTL: 5 * time.Second, Now: clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	in, err := auth.NewIntrospector(cfg)
	if err != nil {
		t.Fatalf("NewIntrospector: %v", err)
	}
	return in
}

// TestIntrospectorJudgesAnswers: the answer is checked as strictly as RFC
// 7662 allows, each optional member when it is present.
func TestIntrospectorJudgesAnswers(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	exp := now.Add(30 * time.Minute).Unix()
	good := func(change func(m map[string]any)) map[string]any {
		m := map[string]any{"active": true, "sub": "alice", "client_id": "chatgpt", "aud": isResource, "iss": isIssuer,
			"exp": exp, "scope": "kanban.read kanban.write", "token_type": "Bearer", "jti": "t-1"}
		if change != nil {
			change(m)
		}
		return m
	}
	want := &auth.Principal{Issuer: isIssuer, Subject: "alice", ClientID: "chatgpt", Scopes: auth.Scopes{"kanban.read", "kanban.write"},
		TokenID: "t-1", ExpiresAt: time.Unix(exp, 0)}
	tests := []struct {
		name     string
		answer   map[string]any
		skipAud  bool
		want     *auth.Principal
		wantDesc string // the TokenError's description when refused
	}{
		{name: "active", answer: good(nil), want: want},
		{name: "aud as a list", answer: good(func(m map[string]any) { m["aud"] = []string{"other", isResource} }), want: want},
		{name: "no iss: the configured issuer", answer: good(func(m map[string]any) { delete(m, "iss") }), want: want},
		{name: "no exp", answer: good(func(m map[string]any) { delete(m, "exp") }),
			want: &auth.Principal{Issuer: isIssuer, Subject: "alice", ClientID: "chatgpt", Scopes: want.Scopes, TokenID: "t-1"}},
		{name: "scp as an array, by presence", answer: good(func(m map[string]any) { delete(m, "scope"); m["scp"] = []string{"kanban.read"} }),
			want: &auth.Principal{Issuer: isIssuer, Subject: "alice", ClientID: "chatgpt", Scopes: auth.Scopes{"kanban.read"}, TokenID: "t-1", ExpiresAt: time.Unix(exp, 0)}},
		{name: "no aud, check off", answer: good(func(m map[string]any) { delete(m, "aud") }), skipAud: true, want: want},
		{name: "inactive", answer: map[string]any{"active": false},
			wantDesc: "The access token is not active: the authorization server says it is expired, revoked or unknown."},
		{name: "no aud", answer: good(func(m map[string]any) { delete(m, "aud") }), wantDesc: "The access token is meant for a different audience."},
		{name: "another audience", answer: good(func(m map[string]any) { m["aud"] = "https://other.example/mcp" }), wantDesc: "The access token is meant for a different audience."},
		{name: "malformed aud", answer: good(func(m map[string]any) { m["aud"] = 7 }), wantDesc: "The introspection answer's audience is malformed."},
		{name: "another issuer", answer: good(func(m map[string]any) { m["iss"] = "https://evil.example" }), wantDesc: "The access token was issued by a different issuer."},
		{name: "expired", answer: good(func(m map[string]any) { m["exp"] = now.Add(-time.Second).Unix() }), wantDesc: "The access token has expired."},
		{name: "not valid yet", answer: good(func(m map[string]any) { m["nbf"] = now.Add(time.Minute).Unix() }), wantDesc: "The access token is not valid yet."},
		{name: "malformed exp", answer: good(func(m map[string]any) { m["exp"] = "soon" }), wantDesc: "The introspection answer's exp is malformed."},
		{name: "a refresh token", answer: good(func(m map[string]any) { m["token_type"] = "refresh_token" }), wantDesc: "The token is not an access token."},
		{name: "no subject", answer: good(func(m map[string]any) { delete(m, "sub") }), wantDesc: "The access token has no subject (sub)."},
		{name: "malformed scope", answer: good(func(m map[string]any) { m["scope"] = 5 }), wantDesc: "The access token's scope claim is malformed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newIntrospectionServer(t)
			s.set("opaque-token", tt.answer)
			in := newIntrospector(t, s, &fakeClock{t: now}, func(c *auth.IntrospectorConfig) { c.SkipAudienceCheck = tt.skipAud })
			p, err := in.Verify(t.Context(), "opaque-token")
			if tt.wantDesc != "" {
				var te *auth.TokenError
				if !errors.As(err, &te) || te.Description != tt.wantDesc {
					t.Fatalf("Verify = %+v, %v; want the TokenError %q", p, err, tt.wantDesc)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(tt.want, p); diff != "" {
				t.Errorf("principal (-want +got):\n%s", diff)
			}
		})
	}
}

// TestIntrospectorUnavailable: when the endpoint cannot say, the error is
// ErrIntrospectionUnavailable (answered 503), never a verdict on the token;
// a token already in the cache is still served.
func TestIntrospectorUnavailable(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		break_ func(s *introspectionServer, in *auth.IntrospectorConfig)
	}{
		{"server error", func(s *introspectionServer, _ *auth.IntrospectorConfig) { s.status = http.StatusBadGateway }},
		{"our credentials refused", func(_ *introspectionServer, c *auth.IntrospectorConfig) { c.ClientSecret = "wrong" }},
		{"not JSON", func(s *introspectionServer, _ *auth.IntrospectorConfig) { s.status = http.StatusOK }},
		{"down", func(s *introspectionServer, _ *auth.IntrospectorConfig) { s.Close() }},
		{"redirected elsewhere", func(s *introspectionServer, _ *auth.IntrospectorConfig) { s.status = http.StatusTemporaryRedirect }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newIntrospectionServer(t)
			s.set("cached", map[string]any{"active": true, "sub": "alice", "aud": isResource})
			s.set("new", map[string]any{"active": true, "sub": "bob", "aud": isResource})
			clock := &fakeClock{t: now}
			cfg := auth.IntrospectorConfig{URL: s.URL, ClientID: isClientID, ClientSecret: isSecret, Audience: isResource, Now: clock.Now}
			first, err := auth.NewIntrospector(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := first.Verify(t.Context(), "cached"); err != nil {
				t.Fatalf("Verify before the outage: %v", err)
			}
			tt.break_(s, &cfg)
			in := first
			if cfg.ClientSecret != isSecret {
				if in, err = auth.NewIntrospector(cfg); err != nil {
					t.Fatal(err)
				}
				if _, err := in.Verify(t.Context(), "cached"); !errors.Is(err, auth.ErrIntrospectionUnavailable) {
					t.Fatalf("Verify with refused credentials = %v, want ErrIntrospectionUnavailable", err)
				}
				return
			}
			if _, err := in.Verify(t.Context(), "new"); !errors.Is(err, auth.ErrIntrospectionUnavailable) {
				t.Errorf("Verify of a new token during the outage = %v, want ErrIntrospectionUnavailable", err)
			}
			if p, err := in.Verify(t.Context(), "cached"); err != nil || p.Subject != "alice" {
				t.Errorf("Verify of a cached token during the outage = %+v, %v; want alice", p, err)
			}
		})
	}
}

// TestIntrospectorCache: an active answer is reused until the earlier of
// its exp and the TTL, a refusal for InactiveTTL; concurrent first uses of
// one token make one request.
func TestIntrospectorCache(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	s := newIntrospectionServer(t)
	clock := &fakeClock{t: now}
	in := newIntrospector(t, s, clock, nil)
	s.set("long", map[string]any{"active": true, "sub": "alice", "aud": isResource, "exp": now.Add(time.Hour).Unix()})
	// Used first at now+60s, it expires 20 s later.
	s.set("short", map[string]any{"active": true, "sub": "alice", "aud": isResource, "exp": now.Add(80 * time.Second).Unix()})
	verify := func(tok string) error {
		_, err := in.Verify(t.Context(), tok)
		return err
	}
	steps := []struct {
		name         string
		advance      time.Duration
		token        string
		wantErr      bool
		wantRequests int64 // in total, after the step
	}{
		{"first use asks", 0, "long", false, 1},
		{"second use is cached", 0, "long", false, 1},
		{"still cached before the TTL", 59 * time.Second, "long", false, 1},
		{"asked again after the TTL", time.Second, "long", false, 2},
		{"a short-lived token asks", 0, "short", false, 3},
		{"cached within its exp", 0, "short", false, 3},
		{"an inactive token asks", 0, "unknown", true, 4},
		{"its refusal is cached", 4 * time.Second, "unknown", true, 4},
		{"and asked again after InactiveTTL", time.Second, "unknown", true, 5},
		{"a short-lived token is not served past its exp", 20 * time.Second, "short", true, 6},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		err := verify(st.token)
		if (err != nil) != st.wantErr || s.requests.Load() != st.wantRequests {
			t.Fatalf("%s: err %v, %d requests; want error %v, %d requests", st.name, err, s.requests.Load(), st.wantErr, st.wantRequests)
		}
	}

	// Concurrent first uses: each either joins the one request in flight or
	// finds its answer in the cache.
	s.set("burst", map[string]any{"active": true, "sub": "alice", "aud": isResource})
	s.release = make(chan struct{})
	before := s.requests.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() { errs <- verify("burst") })
	}
	close(s.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Verify: %v", err)
		}
	}
	if got := s.requests.Load() - before; got != 1 {
		t.Errorf("32 concurrent first uses made %d requests, want 1", got)
	}
}

// TestIntrospectorModes: in auto mode (the Introspector behind ByShape) a
// JWT is verified locally and only other tokens are introspected; in
// always mode (the Introspector alone) every token is, JWTs too.
func TestIntrospectorModes(t *testing.T) {
	s := newIntrospectionServer(t)
	const jwtShaped = "aGVhZA.Ym9keQ.c2ln"
	s.set(jwtShaped, map[string]any{"active": true, "sub": "introspected", "aud": isResource})
	s.set("opaque", map[string]any{"active": true, "sub": "introspected", "aud": isResource})
	local := verifierFunc(func(context.Context, string) (*auth.Principal, error) { return &auth.Principal{Subject: "local"}, nil })
	for _, tt := range []struct {
		mode, token, wantSubject string
	}{
		{auth.IntrospectAuto, jwtShaped, "local"},
		{auth.IntrospectAuto, "opaque", "introspected"},
		{auth.IntrospectAlways, jwtShaped, "introspected"},
		{auth.IntrospectAlways, "opaque", "introspected"},
	} {
		var v auth.TokenVerifier = newIntrospector(t, s, &fakeClock{t: time.Now()}, nil)
		if tt.mode == auth.IntrospectAuto {
			v = auth.ByShape{JWT: local, Opaque: v}
		}
		p, err := v.Verify(t.Context(), tt.token)
		if err != nil || p.Subject != tt.wantSubject {
			t.Errorf("%s mode, %s: %+v, %v; want subject %s", tt.mode, tt.token, p, err, tt.wantSubject)
		}
	}
}

// verifierFunc is a TokenVerifier made of a function: the local JWT check
// that auto mode hands JWTs to, whose own tests are in verifier_test.go.
type verifierFunc func(context.Context, string) (*auth.Principal, error)

func (f verifierFunc) Verify(ctx context.Context, raw string) (*auth.Principal, error) {
	return f(ctx, raw)
}

// BenchmarkIntrospectorCached: a cached answer costs what a cached JWT
// does (BenchmarkVerifyCached).
func BenchmarkIntrospectorCached(b *testing.B) {
	s := &introspectionServer{answers: map[string]any{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "sub": "alice", "aud": isResource})
	}))
	defer s.Close()
	in, err := auth.NewIntrospector(auth.IntrospectorConfig{URL: s.URL, ClientID: isClientID, ClientSecret: isSecret, Audience: isResource})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := in.Verify(b.Context(), "opaque"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.Verify(b.Context(), "opaque"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIntrospectorMiss: a token not in the cache costs one request
// to the endpoint (here on loopback), and the cache then answers the rest;
// compare BenchmarkIntrospectorCached.
func BenchmarkIntrospectorMiss(b *testing.B) {
	s := &introspectionServer{answers: map[string]any{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "sub": "alice", "aud": isResource})
	}))
	defer s.Close()
	in, err := auth.NewIntrospector(auth.IntrospectorConfig{URL: s.URL, ClientID: isClientID, ClientSecret: isSecret, Audience: isResource})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		if _, err := in.Verify(b.Context(), "opaque-"+strconv.Itoa(n)); err != nil {
			b.Fatal(err)
		}
	}
	if got := s.requests.Load(); got != int64(n) {
		b.Fatalf("%d misses made %d requests, want one each", n, got)
	}
}
