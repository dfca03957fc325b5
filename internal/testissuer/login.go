package testissuer

// The issuer as an OpenID provider that signs people in (EnableLogin): an
// authorization endpoint that answers at once, without a page, with a code
// for the identity SetLogin chose; a token endpoint that checks the client
// secret, the redirect URI, PKCE S256 and single use, and answers with an
// ID token signed by the issuer's key; and a userinfo endpoint. It stands
// in for the providers that cannot run here (Google, Entra ID, Okta), whose
// claim shapes SetLogin reproduces; the end-to-end tests sign in through a
// real kanban-mcp instead.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Login is who the authorization endpoint signs in, and how the token and
// userinfo endpoints answer for them.
type Login struct {
	// Claims are the ID token's claims besides iss, aud, iat, exp and
	// nonce; "sub" is required.
	Claims Claims
	// Userinfo is the userinfo answer for this sign-in's access token
	// (its sub defaults to Claims' sub).
	Userinfo Claims
	// Nonce, when set, replaces the request's nonce in the ID token: an ID
	// token that belongs to another sign-in.
	Nonce string
	// Audience, when set, replaces the client ID as the ID token's aud.
	Audience any
}

type loginState struct {
	mu       sync.Mutex
	t        testing.TB
	clientID string
	secret   string
	current  *Login
	codes    map[string]*pendingCode
	access   map[string]Claims // access token → userinfo
}

type pendingCode struct {
	login       Login
	redirectURI string
	challenge   string
	nonce       string
	used        bool
}

// EnableLogin makes the issuer an OpenID provider for one confidential
// client. The first SetLogin chooses who signs in.
func (iss *Issuer) EnableLogin(t testing.TB, clientID, secret string) {
	l := &iss.login
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t, l.clientID, l.secret = t, clientID, secret
	l.codes, l.access = map[string]*pendingCode{}, map[string]Claims{}
}

// SetLogin chooses who the next visits of the authorization endpoint sign
// in.
func (iss *Issuer) SetLogin(login Login) {
	iss.login.mu.Lock()
	defer iss.login.mu.Unlock()
	iss.login.current = &login
}

func (iss *Issuer) loginEnabled() bool {
	iss.login.mu.Lock()
	defer iss.login.mu.Unlock()
	return iss.login.clientID != ""
}

func randomString() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func (iss *Issuer) routeLogin(mux *http.ServeMux) {
	l := &iss.login
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		l.mu.Lock()
		defer l.mu.Unlock()
		switch {
		case l.clientID == "" || l.current == nil:
			http.Error(w, "login not enabled", http.StatusNotFound)
			return
		case q.Get("client_id") != l.clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
			q.Get("code_challenge") == "" || q.Get("redirect_uri") == "" || !strings.Contains(" "+q.Get("scope")+" ", " openid "):
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		code := randomString()
		l.codes[code] = &pendingCode{login: *l.current, redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), nonce: q.Get("nonce")}
		back, _ := url.Parse(q.Get("redirect_uri"))
		v := back.Query()
		v.Set("code", code)
		v.Set("state", q.Get("state"))
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request")
			return
		}
		id, secret, ok := r.BasicAuth()
		if ok {
			id, _ = url.QueryUnescape(id)
			secret, _ = url.QueryUnescape(secret)
		} else {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if id != l.clientID || secret != l.secret {
			oauthError(w, http.StatusUnauthorized, "invalid_client")
			return
		}
		pc := l.codes[r.PostForm.Get("code")]
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		switch {
		case r.PostForm.Get("grant_type") != "authorization_code":
			oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
			return
		case pc == nil || pc.used || pc.redirectURI != r.PostForm.Get("redirect_uri") ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != pc.challenge:
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		pc.used = true
		now := time.Now()
		c := Claims{"iss": iss.URL, "aud": l.clientID, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		if pc.nonce != "" {
			c["nonce"] = pc.nonce
		}
		if pc.login.Nonce != "" {
			c["nonce"] = pc.login.Nonce
		}
		if pc.login.Audience != nil {
			c["aud"] = pc.login.Audience
		}
		for k, v := range pc.login.Claims {
			c[k] = v
		}
		idToken, err := sign(iss.SigningKey(), c, nil)
		if err != nil {
			l.t.Errorf("testissuer: sign ID token: %v", err)
			oauthError(w, http.StatusInternalServerError, "server_error")
			return
		}
		access := randomString()
		info := Claims{"sub": pc.login.Claims["sub"]}
		for k, v := range pc.login.Userinfo {
			info[k] = v
		}
		l.access[access] = info
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": idToken,
		})
	})
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		l.mu.Lock()
		info, known := l.access[token]
		l.mu.Unlock()
		if !ok || !known {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "unknown token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(info)
	})
}
