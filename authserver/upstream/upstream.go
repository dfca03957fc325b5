// Package upstream signs people in through an upstream OpenID Connect
// provider (Google, Entra ID, Okta, Auth0, Keycloak, another kanban-mcp):
// the authorization code flow with PKCE, state and nonce, and the checks of
// the ID token that comes back (signature against the provider's JWKS,
// iss, aud, azp, exp, nonce), with github.com/coreos/go-oidc/v3.
//
// It knows the provider and who may come in (Policy); it keeps nothing.
// The authorization server stores the pending sign-ins and the users, and
// turns an Identity into its own session.
package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// DefaultScopes are what the provider is asked for when Options.Scopes is
// empty: the subject, the email and a name.
var DefaultScopes = []string{oidc.ScopeOpenID, "email", "profile"}

// GoogleIssuer is Google's issuer, whose hosted-domain claim (hd) decides
// Policy.Domains there.
const GoogleIssuer = "https://accounts.google.com"

// Errors of Finish and AuthURL; compare with errors.Is.
var (
	// ErrUnavailable: the provider could not be asked (discovery, the
	// token endpoint or userinfo did not answer, or answered a server
	// error). Trying again later may work.
	ErrUnavailable = errors.New("upstream: the sign-in provider cannot be reached")
	// ErrRejected: the provider refused the code (used already, expired,
	// issued to another client), or what it sent back does not pass the
	// checks (signature, issuer, audience, expiry, nonce). The person
	// must start again.
	ErrRejected = errors.New("upstream: the sign-in did not pass the checks")
)

// Options configure a Provider.
type Options struct {
	// Issuer is the provider's issuer identifier, compared with the
	// discovery document's issuer and the ID token's iss exactly.
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes default to DefaultScopes; openid is added when missing.
	Scopes []string
	// RedirectURL is this server's callback, registered at the provider.
	RedirectURL string
	// DisplayName names the provider on the sign-in button; empty derives
	// it from the issuer (DisplayName).
	DisplayName string
	// HTTPClient makes every request to the provider; nil uses one with a
	// 10 s timeout. It must not follow redirects (New makes sure of it):
	// the token request carries the client secret.
	HTTPClient *http.Client
	// Transport carries the default client's requests (HTTPClient nil): a
	// traced one, for instance; nil: Go's default.
	Transport http.RoundTripper
	// RetryDiscoveryAfter is how long a failed discovery is remembered
	// before the next sign-in asks again (default 5 s).
	RetryDiscoveryAfter time.Duration
	Now                 func() time.Time
}

// Provider is a configured upstream provider. Discovery happens on first
// use, not at start-up, so that a provider that is down when the server
// starts only delays sign-ins; a successful discovery is kept.
type Provider struct {
	opts Options

	mu         sync.Mutex
	discovered *discovered
	failedAt   time.Time
	failure    error
}

// discovered is what the discovery document gave.
type discovered struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
}

// New checks opts and returns the provider, without contacting it.
func New(opts Options) (*Provider, error) {
	switch {
	case opts.Issuer == "":
		return nil, errors.New("upstream: Issuer is required")
	case opts.ClientID == "":
		return nil, errors.New("upstream: ClientID is required")
	case opts.RedirectURL == "":
		return nil, errors.New("upstream: RedirectURL is required")
	}
	if len(opts.Scopes) == 0 {
		opts.Scopes = DefaultScopes
	}
	if !slices.Contains(opts.Scopes, oidc.ScopeOpenID) {
		opts.Scopes = append([]string{oidc.ScopeOpenID}, opts.Scopes...)
	}
	if opts.DisplayName == "" {
		opts.DisplayName = DisplayName(opts.Issuer)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: opts.Transport}
	}
	client := *opts.HTTPClient
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	opts.HTTPClient = &client
	if opts.RetryDiscoveryAfter <= 0 {
		opts.RetryDiscoveryAfter = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Provider{opts: opts}, nil
}

// Issuer returns the provider's issuer identifier.
func (p *Provider) Issuer() string { return p.opts.Issuer }

// Name returns the provider's name for people ("Google").
func (p *Provider) Name() string { return p.opts.DisplayName }

// DisplayName names well-known providers by their issuer, and any other
// by its host.
func DisplayName(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return issuer
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "accounts.google.com":
		return "Google"
	case host == "login.microsoftonline.com":
		return "Microsoft"
	case strings.HasSuffix(host, ".okta.com"):
		return "Okta"
	case strings.HasSuffix(host, ".auth0.com"):
		return "Auth0"
	}
	return u.Host
}

// context returns ctx carrying the provider's HTTP client, for go-oidc
// and x/oauth2.
func (p *Provider) context(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, p.opts.HTTPClient)
}

// discover returns the discovered provider, fetching the discovery
// document when it has not been yet (or a failure has aged out).
func (p *Provider) discover(ctx context.Context) (*discovered, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.discovered != nil {
		return p.discovered, nil
	}
	if p.failure != nil && p.opts.Now().Sub(p.failedAt) < p.opts.RetryDiscoveryAfter {
		return nil, p.failure
	}
	// Not the request's context: the key set that discovery sets up
	// keeps it for its later fetches, and a sign-in that gave up must not
	// leave a discovery half done for the next.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	prov, err := oidc.NewProvider(p.context(dctx), p.opts.Issuer)
	if err != nil {
		p.failedAt = p.opts.Now()
		p.failure = fmt.Errorf("%w: discovery at %s: %v", ErrUnavailable, p.opts.Issuer, err)
		if strings.Contains(err.Error(), "did not match the issuer") {
			// Not an outage but a setting off by a character (often a
			// trailing slash): say which.
			p.failure = fmt.Errorf("%w: UPSTREAM_OIDC_ISSUER must be exactly the issuer the provider names: %v", ErrUnavailable, err)
		}
		return nil, p.failure
	}
	p.discovered = &discovered{
		provider: prov,
		verifier: prov.Verifier(&oidc.Config{ClientID: p.opts.ClientID, Now: p.opts.Now}),
		oauth: oauth2.Config{
			ClientID:     p.opts.ClientID,
			ClientSecret: p.opts.ClientSecret,
			Endpoint:     prov.Endpoint(),
			RedirectURL:  p.opts.RedirectURL,
			Scopes:       p.opts.Scopes,
		},
	}
	p.failure = nil
	return p.discovered, nil
}

// Start is one sign-in sent to the provider.
type Start struct {
	// State, Nonce and Verifier are fresh random values that the caller
	// keeps until the callback (NewStart makes them).
	State, Nonce, Verifier string
	// PromptLogin asks the provider to sign the person in again even if
	// it has a session (the client sent prompt=login).
	PromptLogin bool
}

// NewStart returns a Start with fresh random state, nonce and PKCE verifier.
func NewStart() Start {
	return Start{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier()}
}

// AuthURL returns where to send the person: the provider's authorization
// endpoint with the code flow, PKCE S256, state and nonce.
func (p *Provider) AuthURL(ctx context.Context, s Start) (string, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(s.Nonce), oauth2.S256ChallengeOption(s.Verifier)}
	if s.PromptLogin {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	return d.oauth.AuthCodeURL(s.State, opts...), nil
}

// Identity is who the provider says signed in, from the verified ID token
// and, for what it lacks, the userinfo endpoint.
type Identity struct {
	Issuer, Subject string
	Email           string
	// EmailVerified is the provider's email_verified: false when it sent
	// none (Entra ID never does).
	EmailVerified     bool
	Name              string
	PreferredUsername string
	// HostedDomain is Google's hd: the Workspace domain of the account.
	HostedDomain string
	// TenantID is Entra ID's tid: the directory the account belongs to.
	TenantID string
}

// claims are the ID token and userinfo claims read into an Identity.
type claims struct {
	Subject           string       `json:"sub"`
	Email             string       `json:"email"`
	EmailVerified     flexibleBool `json:"email_verified"`
	Name              string       `json:"name"`
	PreferredUsername string       `json:"preferred_username"`
	HostedDomain      string       `json:"hd"`
	TenantID          string       `json:"tid"`
	AuthorizedParty   string       `json:"azp"`
}

// flexibleBool reads a JSON boolean, or the strings "true" and "false"
// that some providers (AWS Cognito) send for email_verified.
type flexibleBool bool

func (b *flexibleBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*b = flexibleBool(v)
	case string:
		*b = flexibleBool(v == "true")
	default:
		*b = false
	}
	return nil
}

// Finish redeems the code that came back to the callback (with the PKCE
// verifier of its Start), verifies the ID token and its nonce, and returns
// the identity. The email comes from the ID token, or from userinfo when
// the ID token has none.
func (p *Provider) Finish(ctx context.Context, code string, s Start) (Identity, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	ctx = p.context(ctx)
	tok, err := d.oauth.Exchange(ctx, code, oauth2.VerifierOption(s.Verifier))
	if err != nil {
		return Identity{}, exchangeError(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, fmt.Errorf("%w: the token response has no id_token (is openid among the scopes?)", ErrRejected)
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: ID token: %v", ErrRejected, err)
	}
	if idt.Nonce != s.Nonce {
		// An ID token from another sign-in (a replay or an injection).
		return Identity{}, fmt.Errorf("%w: the ID token's nonce is not this sign-in's", ErrRejected)
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		return Identity{}, fmt.Errorf("%w: ID token claims: %v", ErrRejected, err)
	}
	// OIDC Core §3.1.3.7: with several audiences, azp must be us.
	if len(idt.Audience) > 1 && c.AuthorizedParty != p.opts.ClientID {
		return Identity{}, fmt.Errorf("%w: the ID token has several audiences and azp is not this client", ErrRejected)
	}
	id := Identity{
		// The configured issuer, not idt.Issuer: go-oidc also accepts
		// Google's ID tokens whose iss is "accounts.google.com" without
		// the scheme, and one person must map to one (issuer, sub) and
		// meet Google's hd rule whichever form Google sent.
		Issuer: p.opts.Issuer, Subject: idt.Subject,
		Email: c.Email, EmailVerified: bool(c.EmailVerified),
		Name: c.Name, PreferredUsername: c.PreferredUsername,
		HostedDomain: c.HostedDomain, TenantID: c.TenantID,
	}
	if id.Email == "" && d.provider.UserInfoEndpoint() != "" {
		if err := p.fillFromUserinfo(ctx, d, tok, &id); err != nil {
			return Identity{}, err
		}
	}
	return id, nil
}

// fillFromUserinfo completes id from the userinfo endpoint, whose subject
// must be the ID token's (OIDC Core §5.3.2).
func (p *Provider) fillFromUserinfo(ctx context.Context, d *discovered, tok *oauth2.Token, id *Identity) error {
	info, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return fmt.Errorf("%w: userinfo: %v", ErrUnavailable, err)
	}
	var c claims
	if err := info.Claims(&c); err != nil {
		return fmt.Errorf("%w: userinfo claims: %v", ErrRejected, err)
	}
	if c.Subject != id.Subject {
		return fmt.Errorf("%w: userinfo names another subject than the ID token", ErrRejected)
	}
	id.Email, id.EmailVerified = c.Email, bool(c.EmailVerified)
	if id.Name == "" {
		id.Name = c.Name
	}
	if id.PreferredUsername == "" {
		id.PreferredUsername = c.PreferredUsername
	}
	return nil
}

// exchangeError sorts a failed code redemption: the provider's OAuth error
// answer (invalid_grant for a used code) means the person must start again;
// anything else means the provider could not be asked.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil && re.Response.StatusCode >= 500 {
			return fmt.Errorf("%w: token endpoint answered %d", ErrUnavailable, re.Response.StatusCode)
		}
		code := re.ErrorCode
		if code == "" && re.Response != nil {
			code = re.Response.Status
		}
		return fmt.Errorf("%w: the provider refused the code: %s", ErrRejected, code)
	}
	return fmt.Errorf("%w: token endpoint: %v", ErrUnavailable, err)
}
