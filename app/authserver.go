package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/term"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/authserver"
	"github.com/kanban-mcp/kanban-mcp/authserver/upstream"
	"github.com/kanban-mcp/kanban-mcp/config"
	"github.com/kanban-mcp/kanban-mcp/httpapi"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
	"github.com/kanban-mcp/kanban-mcp/tracing"
)

// builtInAuthServer is the built-in authorization server, wired.
type builtInAuthServer struct {
	server *authserver.Server
	keys   auth.KeySource         // feeds the resource server's verifier
	grants auth.RevocationChecker // refuses tokens of revoked grants
	users  *authserver.Users
}

// startAuthServer opens the built-in authorization server on the shared
// database: keys (created on first start), users (a demo user on a purely
// local setup), clients, grants and the HTTP side. Its issuer is BASE_URL.
func startAuthServer(ctx context.Context, cfg *config.Config, db *database, scopes *auth.ScopeSet, blocklist auth.RevocationChecker, obs observability, log *slog.Logger, stdout io.Writer) (*builtInAuthServer, error) {
	st, err := authserver.Open(ctx, db.sql, authserver.Options{})
	if err != nil {
		return nil, err
	}
	encKey, err := authserver.ParseEncryptionKey(cfg.KeyEncryptionKey)
	if err != nil {
		return nil, err
	}
	local := localOnly(cfg)
	if encKey == nil && !local {
		log.Warn("KEY_ENCRYPTION_KEY is not set: the authorization server's signing keys are stored unencrypted in the database; set it to a long random secret (openssl rand -base64 32)")
	}
	keys, err := st.Keys(ctx, authserver.KeyOptions{EncryptionKey: encKey, TokenLifetime: cfg.AccessTokenTTL, Logger: log})
	if err != nil {
		return nil, err
	}
	keySource, err := keys.KeySource(ctx)
	if err != nil {
		return nil, err
	}
	hasher, err := authserver.NewHasher(authserver.HasherOptions{})
	if err != nil {
		return nil, err
	}
	users := authserver.NewUsers(st, hasher)
	grants, err := st.Grants(users, authserver.GrantOptions{Scopes: scopes, RefreshTokenLifetime: cfg.RefreshTokenTTL,
		UpstreamSessionMaxAge: cfg.Upstream.SessionMaxAge})
	if err != nil {
		return nil, err
	}

	setupHint := ""
	n, err := users.CountUsers(ctx)
	if err != nil {
		return nil, err
	}
	federated := cfg.Upstream.Enabled()
	switch {
	case n == 0 && federated:
		// People get their account by signing in through the provider.
	case n == 0 && local:
		// Another replica on the same PostgreSQL database may have made it
		// a moment ago: its banner names the password.
		if err := createDemoUser(ctx, cfg, db.dir, users, stdout); err != nil && !errors.Is(err, authserver.ErrUserExists) {
			return nil, err
		}
	case n == 0:
		setupHint = "Add one on the server with: " + product.Name + " users add <name>"
		log.Warn("no user can sign in yet; the authorization endpoints answer 503 until one is added with: " + product.Name + " users add <name>")
	case !local:
		// A database first made by a local `go run .` keeps its demo user;
		// on a reachable server that account (whose password sat in a
		// file) must not work.
		if err := retireDemoUser(ctx, users, log); err != nil {
			return nil, err
		}
	}

	upstreamOpts, err := upstreamOptions(cfg, obs.tracer, log)
	if err != nil {
		return nil, err
	}
	privacy, terms := httpapi.LegalURLs(cfg.BaseURL, cfg.PrivacyPolicyURL, cfg.TermsURL)
	server, err := authserver.NewServer(authserver.ServerOptions{
		Issuer:         cfg.Issuer,
		Resource:       cfg.Resource,
		ExtraResources: cfg.ExtraResources,
		TokenFormat:    cfg.TokenFormat,
		Store:          st,
		Keys:           keys,
		IDTokenKeys:    keySource,
		Users:          users,
		Grants:         grants,
		CIMD: authserver.NewCIMDFetcher(authserver.CIMDOptions{Limits: db.limits, WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return obs.tracer.ForeignTransport("client_metadata", rt)
		}}),
		Limits:              db.limits,
		Blocked:             blocklist,
		Upstream:            upstreamOpts,
		AccessTokenLifetime: cfg.AccessTokenTTL,
		// ID tokens must not outlive their key's time in the JWKS, which
		// the keys size by the access-token lifetime.
		IDTokenLifetime:    min(15*time.Minute, cfg.AccessTokenTTL),
		TrustedProxyHeader: cfg.TrustedProxyHeader,
		SetupHint:          setupHint,
		PrivacyURL:         privacy,
		TermsURL:           terms,
		Logger:             log,
		Metrics:            obs.metrics.AuthServer,
	})
	if err != nil {
		return nil, err
	}
	go authserver.Housekeep(ctx, st, grants, cfg.UnusedClientExpiry, log)
	return &builtInAuthServer{server: server, keys: keySource, grants: grants.RevocationChecker(cfg.Issuer), users: users}, nil
}

// localOnly reports whether nobody but this machine can reach the server:
// BASE_URL and LISTEN_ADDR are both loopback. Only then is a demo user
// created and are plain signing keys unremarkable.
func localOnly(cfg *config.Config) bool {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || !config.IsLoopbackHost(u.Hostname()) {
		return false
	}
	host, _, err := net.SplitHostPort(cfg.ListenAddr)
	return err == nil && host != "" && config.IsLoopbackHost(host)
}

// createDemoUser adds the user "demo" with a random password on the first
// local start. The password never passes through the structured logger: it
// is printed only to a terminal, and otherwise written to a 0600 file in
// dir (next to the SQLite file; the working folder when dir is "", on
// PostgreSQL), which the banner names.
func createDemoUser(ctx context.Context, cfg *config.Config, dir string, users *authserver.Users, stdout io.Writer) error {
	var b [18]byte
	_, _ = rand.Read(b[:])
	password := base64.RawURLEncoding.EncodeToString(b[:])
	if _, err := users.AddUser(ctx, "demo", password, ""); err != nil {
		return fmt.Errorf("create the demo user: %w", err)
	}
	fmt.Fprintf(stdout, "\n%s is ready at %s\nSign in as user \"demo\" ", product.Name, cfg.Resource)
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stdout, "with password %s\n\n", password)
		return nil
	}
	path := filepath.Join(dir, "demo-password.txt")
	// A fresh file, never an existing one (whose mode, or a symlink,
	// could expose the password).
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("replace the demo password file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write the demo password file: %w", err)
	}
	if _, err := f.WriteString(password + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write the demo password file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write the demo password file: %w", err)
	}
	fmt.Fprintf(stdout, "with the password in %s\n\n", path)
	return nil
}

// retireDemoUser disables the demo user, if there is an active one (which
// also revokes its grants).
func retireDemoUser(ctx context.Context, users *authserver.Users, log *slog.Logger) error {
	changed, err := users.DisableUser(ctx, "demo")
	if errors.Is(err, authserver.ErrNotFound) || (err == nil && !changed) {
		return nil
	}
	if err != nil {
		return err
	}
	log.Warn("disabled the demo user: this server is reachable beyond this machine; add real users with: " + product.Name + " users add <name>")
	return nil
}

// upstreamOptions configures sign-in through the upstream provider, or
// returns nil when UPSTREAM_OIDC_ISSUER is not set. The provider is not
// contacted here: discovery happens at the first sign-in, so that a
// provider that is down does not keep the server from starting.
func upstreamOptions(cfg *config.Config, tracer *tracing.Tracer, log *slog.Logger) (*authserver.UpstreamOptions, error) {
	u := cfg.Upstream
	if !u.Enabled() {
		return nil, nil
	}
	provider, err := upstream.New(upstream.Options{
		Issuer:       u.Issuer,
		ClientID:     u.ClientID,
		ClientSecret: u.ClientSecret,
		Scopes:       u.Scopes,
		RedirectURL:  cfg.BaseURL + authserver.PathUpstreamCallback,
		DisplayName:  u.DisplayName,
		Transport:    tracer.Transport("upstream", nil),
	})
	if err != nil {
		return nil, err
	}
	log.Info("people sign in through an upstream provider", "issuer", u.Issuer, "name", provider.Name(),
		"allowed_emails", len(u.AllowedEmails), "allowed_domains", len(u.AllowedDomains), "allowed_tenants", len(u.AllowedTenants),
		"allow_any", u.AllowAny, "password_sign_in", !u.Only, "session_max_age", u.SessionMaxAge)
	if u.AllowAny {
		log.Warn("UPSTREAM_ALLOW_ANY=true: everyone " + provider.Name() + " signs in may use this server")
	}
	return &authserver.UpstreamOptions{
		Provider: provider,
		Policy: upstream.Policy{
			Emails: u.AllowedEmails, Domains: u.AllowedDomains, Tenants: u.AllowedTenants, AllowAny: u.AllowAny,
		},
		Only: u.Only,
	}, nil
}
