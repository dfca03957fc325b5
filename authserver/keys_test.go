package authserver_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/authserver"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb/sqldbtest"
)

const (
	testIssuer   = "https://as.example"
	testAudience = "https://as.example/mcp"
	// Long enough for ParseEncryptionKey; two different secrets.
	testSecret      = "correct horse battery staple 42"
	testOtherSecret = "another secret, just as long!!!"
)

// fakeClock is a settable clock for Options.Now, so that tests move time
// instead of waiting for it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openKeys opens the store on db and its signing keys.
func openKeys(t *testing.T, db *sqldb.DB, clk *fakeClock, opts authserver.KeyOptions) (*authserver.Keys, error) {
	t.Helper()
	s, err := authserver.Open(t.Context(), db, authserver.Options{Now: clk.Now})
	if err != nil {
		t.Fatalf("authserver.Open: %v", err)
	}
	return s.Keys(t.Context(), opts)
}

func mustKeys(t *testing.T, db *sqldb.DB, clk *fakeClock, opts authserver.KeyOptions) *authserver.Keys {
	t.Helper()
	k, err := openKeys(t, db, clk, opts)
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	return k
}

func mustEncryptionKey(t *testing.T, secret string) []byte {
	t.Helper()
	key, err := authserver.ParseEncryptionKey(secret)
	if err != nil {
		t.Fatalf("ParseEncryptionKey: %v", err)
	}
	return key
}

func countKeys(t *testing.T, db *sqldb.DB) int {
	t.Helper()
	var n int
	if err := db.Reader.QueryRowContext(t.Context(), `SELECT count(*) FROM signing_keys`).Scan(&n); err != nil {
		t.Fatalf("count keys: %v", err)
	}
	return n
}

// jwksKIDs returns the kids in k's JWKS, sorted.
func jwksKIDs(t *testing.T, k *authserver.Keys) []string {
	t.Helper()
	raw, err := k.JWKS(t.Context())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("decode JWKS %s: %v", raw, err)
	}
	kids := []string{}
	for _, key := range set.Keys {
		kids = append(kids, key.KID)
	}
	slices.Sort(kids)
	return kids
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func signerKID(t *testing.T, k *authserver.Keys) string {
	t.Helper()
	kid, _, err := k.Signer(t.Context())
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	return kid
}

// accessClaims are claims like the token endpoint's, valid in real time
// (the verifier checks exp against the real clock).
func accessClaims(sub string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss":       testIssuer,
		"sub":       sub,
		"aud":       []string{testAudience},
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(10 * time.Minute).Unix(),
		"jti":       "jti-" + sub,
		"client_id": "client-1",
		"scope":     "kanban.read",
	}
}

func mustSign(t *testing.T, k *authserver.Keys, sub string) string {
	t.Helper()
	tok, err := k.Sign(t.Context(), accessClaims(sub), map[string]any{"typ": "at+jwt"})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// verifyWithJWKS verifies tok against k's current JWKS document, as an
// external resource server would, and returns its header.
func verifyWithJWKS(t *testing.T, k *authserver.Keys, tok string) (map[string]any, error) {
	t.Helper()
	raw, err := k.JWKS(t.Context())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	kf, err := keyfunc.NewJWKSetJSON(raw)
	if err != nil {
		t.Fatalf("keyfunc.NewJWKSetJSON: %v", err)
	}
	parsed, err := jwt.Parse(tok, kf.Keyfunc,
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithIssuer(testIssuer),
		jwt.WithAudience(testAudience),
		jwt.WithExpirationRequired())
	if err != nil {
		return nil, err
	}
	return parsed.Header, nil
}

func newVerifier(t *testing.T, ks auth.KeySource) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(t.Context(), auth.VerifierConfig{Issuer: testIssuer, Audience: testAudience, Keys: ks})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func keySource(t *testing.T, k *authserver.Keys) auth.KeySource {
	t.Helper()
	ks, err := k.KeySource(t.Context())
	if err != nil {
		t.Fatalf("KeySource: %v", err)
	}
	return ks
}

func TestKeysFirstUseCreatesOneKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret string
	}{
		{"plain", ""},
		{"encrypted", testSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := sqldbtest.Reopener(t)
			db := open(t)
			clk := newFakeClock()
			opts := authserver.KeyOptions{EncryptionKey: mustEncryptionKey(t, tc.secret)}
			k := mustKeys(t, db, clk, opts)
			if got := countKeys(t, db); got != 1 {
				t.Fatalf("keys after first use = %d, want 1", got)
			}
			// Opening again, here and from another connection pool, must
			// not add a key.
			mustKeys(t, db, clk, opts)
			mustKeys(t, open(t), clk, opts)
			if got := countKeys(t, db); got != 1 {
				t.Fatalf("keys after reopening = %d, want 1", got)
			}

			kid, key, err := k.Signer(t.Context())
			if err != nil {
				t.Fatalf("Signer: %v", err)
			}
			if bits := key.N.BitLen(); bits < 2048 {
				t.Errorf("key size = %d bits, want >= 2048", bits)
			}

			raw, err := k.JWKS(t.Context())
			if err != nil {
				t.Fatalf("JWKS: %v", err)
			}
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(raw, &set); err != nil {
				t.Fatalf("decode JWKS %s: %v", raw, err)
			}
			if len(set.Keys) != 1 {
				t.Fatalf("JWKS has %d keys, want 1: %s", len(set.Keys), raw)
			}
			jwk := set.Keys[0]
			wantFields := map[string]any{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "e": "AQAB"}
			gotFields := map[string]any{}
			for name := range wantFields {
				gotFields[name] = jwk[name]
			}
			if diff := cmp.Diff(wantFields, gotFields); diff != "" {
				t.Errorf("JWK fields (-want +got):\n%s", diff)
			}
			var private []string
			for _, name := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
				if _, ok := jwk[name]; ok {
					private = append(private, name)
				}
			}
			if len(private) > 0 {
				t.Errorf("JWK carries private members %v: %s", private, raw)
			}
			n, err := base64.RawURLEncoding.DecodeString(jwk["n"].(string))
			if err != nil {
				t.Fatalf("decode n: %v", err)
			}
			if !bytes.Equal(n, key.N.Bytes()) {
				t.Errorf("JWK n is not the signing key's modulus")
			}
		})
	}
}

func TestKeysSignVerifies(t *testing.T) {
	db := sqldbtest.Open(t)
	k := mustKeys(t, db, newFakeClock(), authserver.KeyOptions{})
	kid := signerKID(t, k)
	v := newVerifier(t, keySource(t, k))

	for _, tc := range []struct {
		name       string
		header     map[string]any
		wantHeader map[string]any
	}{
		{"access token", map[string]any{"typ": "at+jwt"}, map[string]any{"alg": "RS256", "kid": kid, "typ": "at+jwt"}},
		{"no extra header", nil, map[string]any{"alg": "RS256", "kid": kid, "typ": "JWT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := k.Sign(t.Context(), accessClaims("user-1"), tc.header)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			header, err := verifyWithJWKS(t, k, tok)
			if err != nil {
				t.Fatalf("verify with the JWKS: %v", err)
			}
			if diff := cmp.Diff(tc.wantHeader, header); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}

			p, err := v.Verify(t.Context(), tok)
			if err != nil {
				t.Fatalf("Verifier.Verify: %v", err)
			}
			want := &auth.Principal{
				Issuer:    testIssuer,
				Subject:   "user-1",
				ClientID:  "client-1",
				Scopes:    auth.Scopes{"kanban.read"},
				TokenID:   "jti-user-1",
				Audience:  testAudience,
				ExpiresAt: p.ExpiresAt, // real time; checked by the verifier
			}
			if diff := cmp.Diff(want, p); diff != "" {
				t.Errorf("principal (-want +got):\n%s", diff)
			}
		})
	}

	// A token that differs in one signature byte must not verify.
	t.Run("tampered", func(t *testing.T) {
		tok := mustSign(t, k, "user-1")
		i := strings.LastIndex(tok, ".") + 5
		c := byte('A')
		if tok[i] == 'A' {
			c = 'B'
		}
		bad := tok[:i] + string(c) + tok[i+1:]
		if _, err := verifyWithJWKS(t, k, bad); err == nil {
			t.Errorf("tampered token verified with the JWKS")
		}
		if _, err := v.Verify(t.Context(), bad); err == nil {
			t.Errorf("tampered token verified with the verifier")
		}
	})
}

func TestKeysSignRefusesAlgAndKIDHeaders(t *testing.T) {
	db := sqldbtest.Open(t)
	k := mustKeys(t, db, newFakeClock(), authserver.KeyOptions{})
	for _, name := range []string{"alg", "kid"} {
		t.Run(name, func(t *testing.T) {
			_, err := k.Sign(t.Context(), accessClaims("u"), map[string]any{name: "x"})
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("Sign with header %q: err = %v, want a refusal naming it", name, err)
			}
		})
	}
}

func TestKeysRotateWithDelay(t *testing.T) {
	const (
		lifetime = 10 * time.Minute
		delay    = time.Hour
	)
	db := sqldbtest.Open(t)
	clk := newFakeClock()
	k := mustKeys(t, db, clk, authserver.KeyOptions{TokenLifetime: lifetime, RotationDelay: delay})
	oldKID := signerKID(t, k)
	oldToken := mustSign(t, k, "before-rotation")

	clk.Add(time.Minute)
	newKID, activeAt, err := k.Rotate(t.Context(), false)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if want := clk.Now().Add(delay); !activeAt.Equal(want) {
		t.Errorf("new key active at %v, want %v", activeAt, want)
	}
	if newKID == oldKID {
		t.Fatalf("Rotate returned the old kid")
	}
	name := map[string]string{oldKID: "old", newKID: "new"}

	// Each step moves the clock by advance from the previous one.
	steps := []struct {
		name       string
		advance    time.Duration
		wantSigner string
		wantJWKS   []string
	}{
		{"just rotated: published, old key signs", 0, "old", []string{"new", "old"}},
		{"just before the delay", delay - time.Nanosecond, "old", []string{"new", "old"}},
		{"delay passed: new key signs", time.Nanosecond, "new", []string{"new", "old"}},
		{"old key's tokens may still be alive", lifetime, "new", []string{"new", "old"}},
		{"old key's tokens all expired", time.Hour, "new", []string{"new"}},
	}
	for _, st := range steps {
		clk.Add(st.advance)
		var got []string
		for _, kid := range jwksKIDs(t, k) {
			got = append(got, name[kid])
		}
		if diff := cmp.Diff(sorted(st.wantJWKS...), sorted(got...)); diff != "" {
			t.Errorf("%s: JWKS (-want +got):\n%s", st.name, diff)
		}
		if got := name[signerKID(t, k)]; got != st.wantSigner {
			t.Errorf("%s: signer = %s key, want %s key", st.name, got, st.wantSigner)
		}
		_, err := verifyWithJWKS(t, k, oldToken)
		if wantOK := slices.Contains(st.wantJWKS, "old"); (err == nil) != wantOK {
			t.Errorf("%s: token signed before the rotation: verify err = %v, want ok = %v", st.name, err, wantOK)
		}
	}
}

func TestKeysRotateNow(t *testing.T) {
	db := sqldbtest.Open(t)
	clk := newFakeClock()
	k := mustKeys(t, db, clk, authserver.KeyOptions{})
	ks := keySource(t, k) // loaded before the rotation
	v := newVerifier(t, ks)
	oldKID := signerKID(t, k)
	oldToken := mustSign(t, k, "old")

	clk.Add(time.Minute)
	newKID, activeAt, err := k.Rotate(t.Context(), true)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if !activeAt.Equal(clk.Now()) {
		t.Errorf("active at %v, want now (%v)", activeAt, clk.Now())
	}
	if got := signerKID(t, k); got != newKID {
		t.Errorf("signer = %s, want the new key %s", got, newKID)
	}
	newToken := mustSign(t, k, "new")
	if diff := cmp.Diff(sorted(oldKID, newKID), jwksKIDs(t, k)); diff != "" {
		t.Errorf("JWKS (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name, token, sub, kid string
	}{
		{"token signed by the old key", oldToken, "old", oldKID},
		{"token signed by the new key", newToken, "new", newKID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header, err := verifyWithJWKS(t, k, tc.token)
			if err != nil {
				t.Fatalf("verify with the JWKS: %v", err)
			}
			if header["kid"] != tc.kid {
				t.Errorf("kid = %v, want %s", header["kid"], tc.kid)
			}
			p, err := v.Verify(t.Context(), tc.token)
			if err != nil {
				t.Fatalf("Verifier.Verify: %v", err)
			}
			if p.Subject != tc.sub {
				t.Errorf("subject = %q, want %q", p.Subject, tc.sub)
			}
		})
	}
}

func TestKeysRotationSupersedesPendingKey(t *testing.T) {
	db := sqldbtest.Open(t)
	clk := newFakeClock()
	k := mustKeys(t, db, clk, authserver.KeyOptions{RotationDelay: time.Hour})
	oldKID := signerKID(t, k)

	pendingKID, pendingAt, err := k.Rotate(t.Context(), false)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	clk.Add(time.Minute)
	nowKID, _, err := k.Rotate(t.Context(), true)
	if err != nil {
		t.Fatalf("Rotate now: %v", err)
	}
	if diff := cmp.Diff(sorted(oldKID, nowKID), jwksKIDs(t, k)); diff != "" {
		t.Errorf("JWKS after superseding %s (-want +got):\n%s", pendingKID, diff)
	}
	// The superseded key must not take over when its time comes.
	clk.Add(pendingAt.Sub(clk.Now()) + time.Second)
	if got := signerKID(t, k); got != nowKID {
		t.Errorf("signer after the superseded key's activation = %s, want %s", got, nowKID)
	}
}

func TestKeySourceSeesRotationByAnotherProcess(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret string
		// hostileFirst sends a token with a made-up kid just before the
		// rotation: it uses up the unknown-kid reload, so the rotated key
		// is refused until the limit (1 s) has passed.
		hostileFirst bool
	}{
		{name: "plain"},
		{name: "encrypted", secret: testSecret},
		{name: "after a made-up kid", hostileFirst: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := sqldbtest.Reopener(t)
			clk := newFakeClock()
			opts := authserver.KeyOptions{EncryptionKey: mustEncryptionKey(t, tc.secret)}
			server := mustKeys(t, open(t), clk, opts)
			v := newVerifier(t, keySource(t, server))
			if !v.Ready() {
				t.Fatalf("verifier not ready after KeySource returned")
			}
			if _, err := v.Verify(t.Context(), mustSign(t, server, "before")); err != nil {
				t.Fatalf("token signed before the rotation: %v", err)
			}

			if tc.hostileFirst {
				forged := forgeToken(t, "made-up-kid")
				_, err := v.Verify(t.Context(), forged)
				var te *auth.TokenError
				if !errors.As(err, &te) || te.Description != "The access token was signed with a key this server does not know." {
					t.Fatalf("token with a made-up kid: %v; want the unknown-key TokenError", err)
				}
			}

			// The CLI: its own pools on the same file, its own Keys.
			cli := mustKeys(t, open(t), clk, opts)
			newKID, _, err := cli.Rotate(t.Context(), true)
			if err != nil {
				t.Fatalf("Rotate from the other process: %v", err)
			}
			tok := mustSign(t, cli, "after")

			p, err := v.Verify(t.Context(), tok)
			if tc.hostileFirst {
				if err == nil {
					t.Fatalf("rotated key accepted within the unknown-kid limit; the limiter is not working")
				}
				clk.Add(time.Second)
				p, err = v.Verify(t.Context(), tok)
			}
			if err != nil {
				t.Fatalf("token signed with the key rotated in by another process: %v", err)
			}
			if p.Subject != "after" {
				t.Errorf("subject = %q, want after", p.Subject)
			}
			// The server process signs with the new key too, reading
			// (and decrypting) it from the table.
			if got := signerKID(t, server); got != newKID {
				t.Errorf("server's signer = %s, want %s", got, newKID)
			}
		})
	}
}

// forgeToken signs valid-looking claims with a key of its own, under kid.
func forgeToken(t *testing.T, kid string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, accessClaims("forger"))
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// rawKey is a row as stored.
type rawKey struct {
	kid       string
	encrypted bool
	blob      []byte
}

func rawKeys(t *testing.T, db *sqldb.DB) []rawKey {
	t.Helper()
	rows, err := db.Reader.QueryContext(t.Context(), `SELECT kid, encrypted, private_key FROM signing_keys ORDER BY id`)
	if err != nil {
		t.Fatalf("read raw keys: %v", err)
	}
	defer rows.Close()
	var out []rawKey
	for rows.Next() {
		var r rawKey
		if err := rows.Scan(&r.kid, &r.encrypted, &r.blob); err != nil {
			t.Fatalf("read raw keys: %v", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read raw keys: %v", err)
	}
	return out
}

// pkcs8RSAPrefix is how every PKCS#8 RSA key's DER goes on after its outer
// SEQUENCE header: version 0, then the rsaEncryption AlgorithmIdentifier.
const pkcs8RSAPrefix = "\x02\x01\x00\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00"

// holdsPlaintext reports whether blob is, or contains, a PKCS#8 key.
func holdsPlaintext(blob []byte) bool {
	if _, err := x509.ParsePKCS8PrivateKey(blob); err == nil {
		return true
	}
	return bytes.Contains(blob, []byte(pkcs8RSAPrefix))
}

func TestKeysEncryption(t *testing.T) {
	type step struct {
		secret        string
		wantErr       *authserver.EncryptionKeyError // nil: opens
		wantEncrypted bool
	}
	// The kid is filled in once known: the first key's.
	missing := &authserver.EncryptionKeyError{Missing: true}
	wrong := &authserver.EncryptionKeyError{}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"encrypted from the start", []step{
			{secret: testSecret, wantEncrypted: true},
			{secret: testSecret, wantEncrypted: true},
			{secret: "", wantErr: missing},
			{secret: testOtherSecret, wantErr: wrong},
			{secret: testSecret, wantEncrypted: true},
		}},
		{"plain, then encrypted in place", []step{
			{secret: "", wantEncrypted: false},
			{secret: "", wantEncrypted: false},
			{secret: testSecret, wantEncrypted: true},
			{secret: "", wantErr: missing},
			{secret: testOtherSecret, wantErr: wrong},
			{secret: testSecret, wantEncrypted: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := sqldbtest.Reopener(t)
			clk := newFakeClock()
			var firstKID string
			var firstN []byte
			for i, st := range tc.steps {
				db := open(t) // a fresh start each time
				k, err := openKeys(t, db, clk, authserver.KeyOptions{EncryptionKey: mustEncryptionKey(t, st.secret)})
				if st.wantErr != nil {
					var got *authserver.EncryptionKeyError
					if !errors.As(err, &got) {
						t.Fatalf("step %d: err = %v, want an *EncryptionKeyError", i, err)
					}
					want := *st.wantErr
					want.KID = firstKID
					if diff := cmp.Diff(want, *got); diff != "" {
						t.Errorf("step %d: error (-want +got):\n%s", i, diff)
					}
					if !strings.Contains(err.Error(), "set KEY_ENCRYPTION_KEY to the value used when they were created") {
						t.Errorf("step %d: error %q does not say how to fix it", i, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: Keys: %v", i, err)
				}
				kid, key, err := k.Signer(t.Context())
				if err != nil {
					t.Fatalf("step %d: Signer: %v", i, err)
				}
				if i == 0 {
					firstKID, firstN = kid, key.N.Bytes()
				}
				if kid != firstKID || !bytes.Equal(key.N.Bytes(), firstN) {
					t.Errorf("step %d: signing key changed (kid %s, want %s)", i, kid, firstKID)
				}
				raw := rawKeys(t, db)
				if len(raw) != 1 {
					t.Fatalf("step %d: %d stored keys, want 1", i, len(raw))
				}
				if raw[0].encrypted != st.wantEncrypted {
					t.Errorf("step %d: encrypted column = %v, want %v", i, raw[0].encrypted, st.wantEncrypted)
				}
				if got := holdsPlaintext(raw[0].blob); got == st.wantEncrypted {
					t.Errorf("step %d: stored blob holds a plaintext PKCS#8 key = %v, want %v", i, got, !st.wantEncrypted)
				}
				if _, err := verifyWithJWKS(t, k, mustSign(t, k, "u")); err != nil {
					t.Errorf("step %d: token does not verify: %v", i, err)
				}
			}
		})
	}
}

func TestKeysRotateEncrypted(t *testing.T) {
	db := sqldbtest.Open(t)
	k := mustKeys(t, db, newFakeClock(), authserver.KeyOptions{EncryptionKey: mustEncryptionKey(t, testSecret)})
	if _, _, err := k.Rotate(t.Context(), true); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	raw := rawKeys(t, db)
	if len(raw) != 2 {
		t.Fatalf("%d stored keys, want 2", len(raw))
	}
	for _, r := range raw {
		if !r.encrypted || holdsPlaintext(r.blob) {
			t.Errorf("key %s stored in the clear (encrypted column %v)", r.kid, r.encrypted)
		}
	}
}

func TestKeysOptionsValidation(t *testing.T) {
	db := sqldbtest.Open(t)
	for _, tc := range []struct {
		name string
		opts authserver.KeyOptions
	}{
		{"16-byte encryption key", authserver.KeyOptions{EncryptionKey: make([]byte, 16)}},
		{"negative token lifetime", authserver.KeyOptions{TokenLifetime: -time.Second}},
		{"negative rotation delay", authserver.KeyOptions{RotationDelay: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := openKeys(t, db, newFakeClock(), tc.opts); err == nil {
				t.Errorf("Keys accepted %+v", tc.opts)
			}
		})
	}
	if got := countKeys(t, db); got != 0 {
		t.Errorf("refused options still created %d keys", got)
	}
}

func TestParseEncryptionKey(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secret  string
		wantNil bool   // no encryption
		wantErr string // part of the error, "" for none
	}{
		{name: "unset", secret: "", wantNil: true},
		{name: "only white space", secret: " \n", wantNil: true},
		{name: "short", secret: "hunter2", wantErr: "at least 16"},
		{name: "15 bytes", secret: strings.Repeat("x", 15), wantErr: "openssl rand"},
		{name: "15 bytes padded with spaces", secret: "  " + strings.Repeat("x", 15) + "  ", wantErr: "at least 16"},
		{name: "16 bytes", secret: strings.Repeat("x", 16)},
		{name: "long", secret: testSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := authserver.ParseEncryptionKey(tc.secret)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEncryptionKey: %v", err)
			}
			if tc.wantNil {
				if key != nil {
					t.Errorf("key = %x, want nil", key)
				}
				return
			}
			if len(key) != 32 {
				t.Errorf("key length = %d, want 32", len(key))
			}
			if bytes.Contains(key, []byte(strings.TrimSpace(tc.secret))[:16]) {
				t.Errorf("key contains the secret itself")
			}
		})
	}

	t.Run("deterministic, distinct, trimmed", func(t *testing.T) {
		a := mustEncryptionKey(t, testSecret)
		if diff := cmp.Diff(a, mustEncryptionKey(t, testSecret)); diff != "" {
			t.Errorf("same secret, different keys (-first +second):\n%s", diff)
		}
		if diff := cmp.Diff(a, mustEncryptionKey(t, testSecret+"\n")); diff != "" {
			t.Errorf("trailing newline changed the key (-without +with):\n%s", diff)
		}
		if bytes.Equal(a, mustEncryptionKey(t, testOtherSecret)) {
			t.Errorf("different secrets gave the same key")
		}
	})
}

func TestKeySourceSeesInProcessRotationAtOnce(t *testing.T) {
	db := sqldbtest.Open(t)
	clk := newFakeClock()
	k := mustKeys(t, db, clk, authserver.KeyOptions{})
	v := newVerifier(t, keySource(t, k))
	// A made-up kid takes the unknown-kid reload; a rotation through the
	// same Keys must not depend on it.
	if _, err := v.Verify(t.Context(), forgeToken(t, "made-up-kid")); err == nil {
		t.Fatalf("token with a made-up kid verified")
	}
	if _, _, err := k.Rotate(t.Context(), true); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if _, err := v.Verify(t.Context(), mustSign(t, k, "after")); err != nil {
		t.Errorf("token signed with the key rotated in by this process: %v", err)
	}
}

func TestKeysEncryptedBlobIsBoundToItsRow(t *testing.T) {
	open := sqldbtest.Reopener(t)
	db := open(t)
	clk := newFakeClock()
	opts := authserver.KeyOptions{EncryptionKey: mustEncryptionKey(t, testSecret)}
	k := mustKeys(t, db, clk, opts)
	if _, _, err := k.Rotate(t.Context(), true); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	raw := rawKeys(t, db)
	if len(raw) != 2 {
		t.Fatalf("%d stored keys, want 2", len(raw))
	}
	// Swap the two ciphertexts: each must then fail to decrypt, since the
	// kid is the associated data.
	for i, j := range []int{1, 0} {
		if _, err := db.ExecWrite(t.Context(), `UPDATE signing_keys SET private_key = $1 WHERE kid = $2`, raw[j].blob, raw[i].kid); err != nil {
			t.Fatalf("swap: %v", err)
		}
	}
	_, err := openKeys(t, open(t), clk, opts)
	var got *authserver.EncryptionKeyError
	if !errors.As(err, &got) {
		t.Fatalf("err = %v, want an *EncryptionKeyError", err)
	}
	if diff := cmp.Diff(authserver.EncryptionKeyError{KID: raw[0].kid}, *got); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestKeysSignerWhenTheClockStepsBack(t *testing.T) {
	db := sqldbtest.Open(t)
	clk := newFakeClock()
	k := mustKeys(t, db, clk, authserver.KeyOptions{RotationDelay: time.Hour})
	first := signerKID(t, k)
	if _, _, err := k.Rotate(t.Context(), false); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	// Before the first key's creation no key is active; the first one
	// (which was signing) must keep signing, not the pending one.
	clk.Add(-time.Minute)
	if got := signerKID(t, k); got != first {
		t.Errorf("signer = %s, want the first key %s", got, first)
	}
}
