package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
)

// FuzzVerifyClaims signs arbitrary payloads with the issuer's real key, so
// that the fuzzer gets past the signature and exercises the claim checks
// and the normalisation of scope and client claims. Whatever the payload,
// Verify must not panic, must refuse with a *TokenError, and may accept
// only a token whose iss, aud, exp and sub are right; the scopes must come
// from the first present claim of scope, scp, permissions (null counts as
// present, and names no scope), never merged.
func FuzzVerifyClaims(f *testing.F) {
	iss := testissuer.New(f, testissuer.Options{Alg: "ES256"})
	v, err := auth.NewVerifier(f.Context(), auth.VerifierConfig{Issuer: iss.URL, Audience: testAudience})
	if err != nil {
		f.Fatal(err)
	}
	if !eventually(readyDeadline, v.Ready) {
		f.Fatal("keys never loaded")
	}
	key := iss.SigningKey()
	exp := time.Now().Add(time.Hour).Unix()
	base := fmt.Sprintf(`"iss":%q,"aud":%q,"sub":"user-1","exp":%d`, iss.URL, testAudience, exp)
	for _, payload := range []string{
		`{` + base + `,"scope":"kanban.read kanban.write","client_id":"agent"}`,
		`{` + base + `,"scp":["kanban.read"],"cid":"okta-app"}`,
		`{` + base + `,"scp":"kanban.admin","appid":"entra-app"}`,
		`{` + base + `,"permissions":["kanban.write"],"azp":"auth0-app"}`,
		`{` + base + `,"scope":"openid","permissions":["kanban.admin"]}`,
		`{` + base + `,"scope":null,"scp":"kanban.read"}`,
		`{` + base + `,"scope":["a b","c"]}`,
		`{` + base + `,"scope":{"x":1}}`,
		`{` + base + `,"scope":"` + strings.Repeat("s ", 200) + `"}`,
		`{` + base + `,"client_id":"` + testAudience + `"}`,
		`{` + base + `,"aud":["other",` + fmt.Sprintf("%q", testAudience) + `]}`,
		`{` + base + `,"nbf":99999999999}`,
		`{` + base + `,"exp":"soon"}`,
		`{` + base + `,"sub":""}`,
		`{"iss":"` + iss.URL + `/","aud":"` + testAudience + `","sub":"x","exp":` + fmt.Sprint(exp) + `}`,
		`{` + base + `,"grant_id":"g_1","jti":"j"}`,
		`[]`, `null`, `{`, `{"exp":1e400}`, "{\"sub\":\"\xff\"}",
	} {
		f.Add([]byte(payload), "at+jwt")
		f.Add([]byte(payload), "")
	}

	f.Fuzz(func(t *testing.T, payload []byte, typ string) {
		header := map[string]any{"alg": "ES256", "kid": key.ID}
		if typ != "" {
			header["typ"] = typ
		}
		token := signES256(t, key.Private, header, payload)
		p, err := v.Verify(t.Context(), token)
		if err != nil {
			var te *auth.TokenError
			if !errors.As(err, &te) || te.Description == "" {
				t.Fatalf("refusal is %T %v, want a *auth.TokenError with a description", err, err)
			}
			return
		}
		var c map[string]json.RawMessage
		if json.Unmarshal(payload, &c) != nil {
			t.Fatalf("accepted a payload that is not a JSON object: %q", payload)
		}
		if p.Issuer != iss.URL || p.Subject == "" {
			t.Fatalf("accepted issuer %q subject %q from %q", p.Issuer, p.Subject, payload)
		}
		if !audienceHas(c["aud"], testAudience) {
			t.Fatalf("accepted audience %s", c["aud"])
		}
		if p.ClientID == testAudience {
			t.Fatalf("accepted a token issued to the audience itself: %q", payload)
		}
		if !time.Now().Before(p.ExpiresAt.Add(auth.Leeway)) {
			t.Fatalf("accepted an expired token: exp %v", p.ExpiresAt)
		}
		for _, s := range p.Scopes {
			if s == "" || strings.ContainsAny(s, " \t\n\r") {
				t.Fatalf("scope %q from %q", s, payload)
			}
		}
		// The first present claim decides, alone.
		var want []string
		for _, name := range []string{"scope", "scp", "permissions"} {
			// Present means the name is there, even with null: falling
			// through to the next claim is what must never happen.
			raw, ok := c[name]
			if !ok {
				continue
			}
			var s string
			var list []string
			if json.Unmarshal(raw, &s) == nil {
				want = strings.Fields(s)
			} else if json.Unmarshal(raw, &list) == nil {
				for _, item := range list {
					want = append(want, strings.Fields(item)...)
				}
			}
			break
		}
		if diff := cmp.Diff(want, []string(p.Scopes), cmpEmptyEqual()); diff != "" {
			t.Fatalf("scopes from %q (-want +got):\n%s", payload, diff)
		}
	})
}

// FuzzVerifyRaw feeds arbitrary strings to Verify, seeded with a real
// token and its mangled forms: no panic, and every refusal is a
// *TokenError.
func FuzzVerifyRaw(f *testing.F) {
	iss := testissuer.New(f, testissuer.Options{Alg: "RS256"})
	v, err := auth.NewVerifier(f.Context(), auth.VerifierConfig{Issuer: iss.URL, Audience: testAudience})
	if err != nil {
		f.Fatal(err)
	}
	if !eventually(readyDeadline, v.Ready) {
		f.Fatal("keys never loaded")
	}
	good := iss.Mint(f, standardClaims(iss.URL))
	parts := strings.Split(good, ".")
	for _, seed := range []string{
		good, "", ".", "..", "a.b.c", parts[0] + "." + parts[1] + ".", parts[0] + "." + parts[1],
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"x"}`)) + "." + parts[1] + "." + parts[2],
		strings.Repeat("a", 17<<10), good + "=", " " + good,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := v.Verify(t.Context(), raw)
		if err == nil {
			if p.Issuer != iss.URL || p.Subject == "" {
				t.Fatalf("accepted %q as %+v", raw, p)
			}
			return
		}
		var te *auth.TokenError
		if !errors.As(err, &te) {
			t.Fatalf("refusal of %q is %T %v, want a *auth.TokenError", raw, err, err)
		}
	})
}

// FuzzChallengeRoundTrip builds WWW-Authenticate values from arbitrary
// parts and parses them back with an RFC 9110 §11.6.1 parser: the header
// must always parse, as one Bearer challenge, and carry exactly the parts
// (with characters RFC 6750 forbids replaced by '?').
func FuzzChallengeRoundTrip(f *testing.F) {
	f.Add("https://h/.well-known/oauth-protected-resource/mcp", "kanban.write", auth.ErrInsufficientScope, "needs kanban.write")
	f.Add("", "", "", "")
	f.Add("https://h/x", "a b", auth.ErrInvalidToken, `quote " and \ backslash, comma`)
	f.Add("https://h/\r\nSet-Cookie: x=1", "kanban.read", auth.ErrInvalidRequest, "line\r\nbreak é ünïcode \x00")
	f.Add("x", "", "", "description without an error is dropped")
	f.Fuzz(func(t *testing.T, metadata, scope, code, description string) {
		c := auth.Challenge{ResourceMetadata: metadata, Scope: auth.ParseScopes(scope), Error: code, Description: description}
		header := c.String()
		if strings.ContainsAny(header, "\r\n\x00") {
			t.Fatalf("header can be split: %q", header)
		}
		scheme, params, err := parseChallenge(header)
		if err != nil {
			t.Fatalf("%q does not parse: %v", header, err)
		}
		if scheme != "Bearer" {
			t.Fatalf("scheme %q", scheme)
		}
		want := [][2]string{}
		if metadata != "" {
			want = append(want, [2]string{"resource_metadata", sanitized(metadata)})
		}
		if len(c.Scope) > 0 {
			want = append(want, [2]string{"scope", sanitized(strings.Join(c.Scope, " "))})
		}
		if code != "" {
			want = append(want, [2]string{"error", sanitized(code)})
			if description != "" {
				want = append(want, [2]string{"error_description", sanitized(description)})
			}
		}
		if diff := cmp.Diff(want, params); diff != "" {
			t.Fatalf("%q parsed back (-want +got):\n%s", header, diff)
		}
	})
}

// sanitized is what a value must read as after the round trip.
func sanitized(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			b.WriteByte('?')
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// parseChallenge parses one challenge, strictly: scheme, then
// auth-params (token "=" token / quoted-string) separated by commas.
func parseChallenge(h string) (string, [][2]string, error) {
	scheme, rest, _ := strings.Cut(h, " ")
	if !isToken(scheme) {
		return "", nil, fmt.Errorf("bad scheme %q", scheme)
	}
	params := [][2]string{}
	for i := 0; i < len(rest); {
		if len(params) > 0 {
			if !strings.HasPrefix(rest[i:], ", ") {
				return "", nil, fmt.Errorf("no comma at %d", i)
			}
			i += 2
		}
		eq := strings.IndexByte(rest[i:], '=')
		if eq <= 0 || !isToken(rest[i:i+eq]) {
			return "", nil, fmt.Errorf("bad parameter name at %d", i)
		}
		name := rest[i : i+eq]
		i += eq + 1
		if i >= len(rest) || rest[i] != '"' {
			return "", nil, fmt.Errorf("%s: value is not quoted", name)
		}
		var v strings.Builder
		i++
		for {
			if i >= len(rest) {
				return "", nil, fmt.Errorf("%s: unterminated quoted-string", name)
			}
			ch := rest[i]
			if ch == '"' {
				i++
				break
			}
			if ch == '\\' {
				if i+1 >= len(rest) {
					return "", nil, fmt.Errorf("%s: dangling escape", name)
				}
				ch = rest[i+1]
				i++
			}
			if ch < 0x20 && ch != '\t' || ch == 0x7f {
				return "", nil, fmt.Errorf("%s: control character %q", name, ch)
			}
			v.WriteByte(ch)
			i++
		}
		params = append(params, [2]string{name, v.String()})
	}
	return scheme, params, nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= 0x20 || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

func audienceHas(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	return json.Unmarshal(raw, &many) == nil && slices.Contains(many, want)
}

// cmpEmptyEqual treats nil and empty scope lists alike.
func cmpEmptyEqual() cmp.Option {
	return cmp.FilterValues(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())
}

// signES256 builds a JWS over payload exactly as given (not re-encoded),
// so that the fuzzer controls the claims byte for byte.
func signES256(t *testing.T, key crypto.Signer, header map[string]any, payload []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}
