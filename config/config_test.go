package config_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/config"
	"github.com/kanban-mcp/kanban-mcp/internal/hostclient"
	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// envNames are every variable Load reads; each test starts with all of
// them empty (which Load treats as unset), whatever the machine exports.
var envNames = []string{
	"PORT", "LISTEN_ADDR", "BASE_URL", "DATABASE_URL", "OAUTH_ISSUER",
	"OAUTH_AUDIENCE", "OAUTH_JWKS_URL", "OAUTH_SCOPE_CLAIM", "AUTH_CHALLENGE", "INBAND_CHALLENGE_USER_AGENTS",
	"OAUTH_INTROSPECTION_URL", "OAUTH_INTROSPECTION_CLIENT_ID", "OAUTH_INTROSPECTION_CLIENT_SECRET", "OAUTH_INTROSPECT",
	"OAUTH_INTROSPECTION_AUDIENCE_CHECK", "INTROSPECTION_CACHE_TTL", "AUTH_EXTRA_RESOURCES", "AUTH_TOKEN_FORMAT",
	"WIDGET_DOMAIN", "OPENAI_APPS_CHALLENGE", "PRIVACY_POLICY_URL", "TERMS_URL",
	"ALLOWED_HOSTS", "TRUSTED_PROXY_HEADER", "AUDIT_RETENTION",
	"AUDIT_ANON_ROWS_PER_HOUR", "AUDIT_ANON_ROWS_PER_IP_PER_HOUR", "MIN_FREE_DISK", "MEMORY_LIMIT",
	"SQLITE_SYNCHRONOUS", "MAX_BOARDS_PER_USER", "MAX_CARDS_PER_BOARD",
	"LOG_LEVEL", "VALIDATE_OUTPUT",
	"UPSTREAM_OIDC_ISSUER", "UPSTREAM_OIDC_CLIENT_ID", "UPSTREAM_OIDC_CLIENT_SECRET", "UPSTREAM_OIDC_SCOPES",
	"UPSTREAM_DISPLAY_NAME", "UPSTREAM_ALLOWED_EMAIL_DOMAINS", "UPSTREAM_ALLOWED_EMAILS", "UPSTREAM_ALLOWED_TENANTS",
	"UPSTREAM_ALLOW_ANY", "UPSTREAM_SESSION_MAX_AGE", "UPSTREAM_ONLY",
}

// load sets env (after clearing every other variable) and loads the
// configuration with args.
func load(t *testing.T, env map[string]string, args ...string) (*config.Config, error) {
	t.Helper()
	for _, n := range envNames {
		t.Setenv(n, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	return config.Load(args, os.Getenv, io.Discard)
}

// mustLoad loads and fails the test on an error.
func mustLoad(t *testing.T, env map[string]string, args ...string) *config.Config {
	t.Helper()
	c, err := load(t, env, args...)
	if err != nil {
		t.Fatalf("Load(env %v, args %q): %v", env, args, err)
	}
	return c
}

// problems asserts that err is a *config.Error and returns its messages.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	var out []string
	for _, p := range ce.Problems {
		out = append(out, p.Error())
	}
	return out
}

// wantOneProblem asserts exactly one problem, containing every fragment.
func wantOneProblem(t *testing.T, err error, fragments ...string) {
	t.Helper()
	ps := problems(t, err)
	if len(ps) != 1 {
		t.Fatalf("problems = %q, want exactly one", ps)
	}
	for _, f := range fragments {
		if !strings.Contains(ps[0], f) {
			t.Errorf("problem %q does not mention %q", ps[0], f)
		}
	}
}

// view is the part of Config these tests pin, so that fields added later
// do not break them.
type view struct {
	ListenAddr, BaseURL, Resource, DatabasePath string
	MetricsAddr                                 string
	MetricsPprof                                bool
	PostgresURL, PostgresDirectURL              string
	Issuer, Audience, JWKSURL, ScopeClaim       string
	IntrospectionURL, IntrospectionClientID     string
	IntrospectionClientSecret, IntrospectMode   string
	SkipIntrospectionAudience                   bool
	IntrospectionCacheTTL                       time.Duration
	ExtraResources                              []string
	TokenFormat                                 string
	AuthChallenge                               auth.ChallengeMode
	InBandUserAgents                            []string
	WidgetDomain, AppsChallenge                 string
	PrivacyPolicyURL, TermsURL                  string
	AllowedHosts                                []string
	TrustedProxyHeader                          string
	AuditRetention                              time.Duration
	AnonAuditPerHour, AnonAuditPerIPPerHour     int
	MinFreeDisk, MemoryLimit                    uint64
	Synchronous                                 sqlitedb.Synchronous
	Quotas                                      store.Quotas
	LogLevel                                    string
	ValidateOutput                              bool
	BuiltInAuthServer                           bool
	KeyEncryptionKey                            string
	AccessTokenTTL, RefreshTokenTTL             time.Duration
	UnusedClientExpiry                          time.Duration
	Upstream                                    config.Upstream
}

func viewOf(c *config.Config) view {
	return view{
		ListenAddr: c.ListenAddr, BaseURL: c.BaseURL, Resource: c.Resource, DatabasePath: c.DatabasePath,
		MetricsAddr: c.MetricsAddr, MetricsPprof: c.MetricsPprof,
		PostgresURL: c.PostgresURL, PostgresDirectURL: c.PostgresDirectURL,
		Issuer: c.Issuer, Audience: c.Audience, JWKSURL: c.JWKSURL, ScopeClaim: c.ScopeClaim,
		IntrospectionURL: c.IntrospectionURL, IntrospectionClientID: c.IntrospectionClientID,
		IntrospectionClientSecret: c.IntrospectionClientSecret, IntrospectMode: c.IntrospectMode,
		SkipIntrospectionAudience: c.SkipIntrospectionAudience, IntrospectionCacheTTL: c.IntrospectionCacheTTL,
		ExtraResources: c.ExtraResources, TokenFormat: c.TokenFormat,
		AuthChallenge: c.AuthChallenge, InBandUserAgents: c.InBandUserAgents,
		WidgetDomain: c.WidgetDomain, AppsChallenge: c.AppsChallenge, PrivacyPolicyURL: c.PrivacyPolicyURL, TermsURL: c.TermsURL,
		AllowedHosts: c.AllowedHosts, TrustedProxyHeader: c.TrustedProxyHeader,
		AuditRetention: c.AuditRetention, AnonAuditPerHour: c.AnonAuditPerHour, AnonAuditPerIPPerHour: c.AnonAuditPerIPPerHour,
		MinFreeDisk: c.MinFreeDisk, MemoryLimit: c.MemoryLimit, Synchronous: c.Synchronous, Quotas: c.Quotas, LogLevel: c.LogLevel, ValidateOutput: c.ValidateOutput,
		BuiltInAuthServer: c.BuiltInAuthServer, KeyEncryptionKey: c.KeyEncryptionKey,
		AccessTokenTTL: c.AccessTokenTTL, RefreshTokenTTL: c.RefreshTokenTTL, UnusedClientExpiry: c.UnusedClientExpiry,
		Upstream: c.Upstream,
	}
}

func defaults() view {
	return view{
		ListenAddr:            "127.0.0.1:8080",
		BaseURL:               "http://localhost:8080",
		Resource:              "http://localhost:8080/mcp",
		DatabasePath:          "./data/kanban.db",
		Audience:              "http://localhost:8080/mcp",
		ScopeClaim:            "auto",
		IntrospectMode:        "auto",
		TokenFormat:           "jwt",
		IntrospectionCacheTTL: time.Minute,
		AuthChallenge:         auth.ChallengeAuto,
		InBandUserAgents:      hostclient.DefaultInBandUserAgents(),
		AuditRetention:        2160 * time.Hour,
		// 60 anonymous rows an hour, 10 per address, and a 64 MiB margin:
		// see the README's Audit section for what they mean on disk.
		AnonAuditPerHour:      60,
		AnonAuditPerIPPerHour: 10,
		MinFreeDisk:           64 << 20,
		MemoryLimit:           128 << 20,
		Synchronous:           sqlitedb.SyncNormal,
		Quotas:                store.Quotas{BoardsPerUser: 100, CardsPerBoard: 1000},
		LogLevel:              "info",
		// No OAUTH_ISSUER: the built-in authorization server, issuer BASE_URL.
		BuiltInAuthServer:  true,
		Issuer:             "http://localhost:8080",
		AccessTokenTTL:     15 * time.Minute,
		RefreshTokenTTL:    720 * time.Hour,
		UnusedClientExpiry: 2160 * time.Hour,
	}
}

func TestLoadDefaults(t *testing.T) {
	c := mustLoad(t, nil)
	if diff := cmp.Diff(defaults(), viewOf(c)); diff != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadSettings(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		change func(*view)
	}{
		{
			name: "PORT without LISTEN_ADDR",
			env:  map[string]string{"PORT": "9000"},
			change: func(v *view) {
				v.ListenAddr, v.BaseURL, v.Resource, v.Audience = ":9000", "http://localhost:9000", "http://localhost:9000/mcp", "http://localhost:9000/mcp"
			},
		},
		{
			name: "LISTEN_ADDR wins over PORT",
			env:  map[string]string{"PORT": "9000", "LISTEN_ADDR": "127.0.0.1:7000"},
			change: func(v *view) {
				v.ListenAddr, v.BaseURL, v.Resource, v.Audience = "127.0.0.1:7000", "http://localhost:7000", "http://localhost:7000/mcp", "http://localhost:7000/mcp"
			},
		},
		{
			name: "-listen-addr wins over PORT",
			env:  map[string]string{"PORT": "9000"},
			args: []string{"-listen-addr=127.0.0.1:7001"},
			change: func(v *view) {
				v.ListenAddr, v.BaseURL, v.Resource, v.Audience = "127.0.0.1:7001", "http://localhost:7001", "http://localhost:7001/mcp", "http://localhost:7001/mcp"
			},
		},
		{
			name: "PORT with BASE_URL",
			env:  map[string]string{"PORT": "9000", "BASE_URL": "https://kanban.example"},
			change: func(v *view) {
				v.ListenAddr, v.BaseURL, v.Resource, v.Audience = ":9000", "https://kanban.example", "https://kanban.example/mcp", "https://kanban.example/mcp"
			},
		},
		{
			name: "flags override the environment",
			env:  map[string]string{"BASE_URL": "https://env.example", "LOG_LEVEL": "warn", "OAUTH_SCOPE_CLAIM": "scp"},
			args: []string{"-base-url=https://x.example", "-log-level", "debug", "--oauth-scope-claim=permissions"},
			change: func(v *view) {
				v.BaseURL, v.Resource, v.Audience = "https://x.example", "https://x.example/mcp", "https://x.example/mcp"
				v.LogLevel, v.ScopeClaim = "debug", "permissions"
			},
		},
		{
			name: "BASE_URL with a trailing slash",
			env:  map[string]string{"BASE_URL": "https://x.example/"},
			change: func(v *view) {
				v.BaseURL, v.Resource, v.Audience = "https://x.example", "https://x.example/mcp", "https://x.example/mcp"
			},
		},
		{
			name: "BASE_URL with a port",
			env:  map[string]string{"BASE_URL": "https://x.example:8443"},
			change: func(v *view) {
				v.BaseURL, v.Resource, v.Audience = "https://x.example:8443", "https://x.example:8443/mcp", "https://x.example:8443/mcp"
			},
		},
		{
			name: "BASE_URL http on 127.0.0.1",
			env:  map[string]string{"BASE_URL": "http://127.0.0.1:8080"},
			change: func(v *view) {
				v.BaseURL, v.Resource, v.Audience = "http://127.0.0.1:8080", "http://127.0.0.1:8080/mcp", "http://127.0.0.1:8080/mcp"
			},
		},
		{
			name: "BASE_URL http on [::1]",
			env:  map[string]string{"BASE_URL": "http://[::1]:8080"},
			change: func(v *view) {
				v.BaseURL, v.Resource, v.Audience = "http://[::1]:8080", "http://[::1]:8080/mcp", "http://[::1]:8080/mcp"
			},
		},
		{
			name: "BASE_URL http on foo.localhost",
			env:  map[string]string{"BASE_URL": "http://foo.localhost:8080"},
			change: func(v *view) {
				v.BaseURL, v.Resource, v.Audience = "http://foo.localhost:8080", "http://foo.localhost:8080/mcp", "http://foo.localhost:8080/mcp"
			},
		},
		{name: "DATABASE_URL plain path", env: map[string]string{"DATABASE_URL": "/data/kanban.db"}, change: func(v *view) { v.DatabasePath = "/data/kanban.db" }},
		{name: "DATABASE_URL file: relative", env: map[string]string{"DATABASE_URL": "file:./a.db"}, change: func(v *view) { v.DatabasePath = "./a.db" }},
		{name: "DATABASE_URL sqlite:///", env: map[string]string{"DATABASE_URL": "sqlite:///data/a.db"}, change: func(v *view) { v.DatabasePath = "/data/a.db" }},
		{name: "DATABASE_URL file:///", env: map[string]string{"DATABASE_URL": "file:///data/a.db"}, change: func(v *view) { v.DatabasePath = "/data/a.db" }},
		{name: "DATABASE_URL postgres", env: map[string]string{"DATABASE_URL": "postgres://u:p@db.example/kanban?sslmode=require&pool_max_conns=20"}, change: func(v *view) {
			v.DatabasePath, v.PostgresURL, v.PostgresDirectURL = "", "postgres://u:p@db.example/kanban?sslmode=require&pool_max_conns=20", "postgres://u:p@db.example/kanban?sslmode=require&pool_max_conns=20"
		}},
		{name: "DATABASE_URL postgresql with a direct URL", env: map[string]string{"DATABASE_URL": "postgresql://u:p@pooler.example:6543/kanban", "DATABASE_DIRECT_URL": "postgresql://u:p@db.example:5432/kanban"}, change: func(v *view) {
			v.DatabasePath, v.PostgresURL, v.PostgresDirectURL = "", "postgresql://u:p@pooler.example:6543/kanban", "postgresql://u:p@db.example:5432/kanban"
		}},
		{
			name: "OAUTH_ISSUER with a trailing slash is kept byte for byte",
			env:  map[string]string{"OAUTH_ISSUER": "https://tenant.auth0.com/"},
			change: func(v *view) {
				v.Issuer, v.BuiltInAuthServer = "https://tenant.auth0.com/", false
			},
		},
		{
			name:   "OAUTH_ISSUER http on loopback",
			env:    map[string]string{"OAUTH_ISSUER": "http://127.0.0.1:9999/realms/kanban"},
			change: func(v *view) { v.Issuer, v.BuiltInAuthServer = "http://127.0.0.1:9999/realms/kanban", false },
		},
		{
			name: "OAUTH_AUDIENCE and OAUTH_JWKS_URL",
			env: map[string]string{
				"OAUTH_ISSUER":   "https://login.example/tenant/v2.0",
				"OAUTH_AUDIENCE": "api://kanban",
				"OAUTH_JWKS_URL": "https://login.example/tenant/discovery/v2.0/keys",
			},
			change: func(v *view) {
				v.Issuer, v.Audience, v.JWKSURL = "https://login.example/tenant/v2.0", "api://kanban", "https://login.example/tenant/discovery/v2.0/keys"
				v.BuiltInAuthServer = false
			},
		},
		{
			name:   "AUTH_TOKEN_FORMAT=reference",
			env:    map[string]string{"AUTH_TOKEN_FORMAT": "Reference"},
			change: func(v *view) { v.TokenFormat = "reference" },
		},
		{
			name:   "AUTH_EXTRA_RESOURCES",
			env:    map[string]string{"AUTH_EXTRA_RESOURCES": " https://other.example/mcp, http://127.0.0.1:9000/mcp "},
			change: func(v *view) { v.ExtraResources = []string{"https://other.example/mcp", "http://127.0.0.1:9000/mcp"} },
		},
		{
			name: "introspection of every token, without the audience check",
			env: map[string]string{
				"OAUTH_ISSUER":                       "https://idp.example",
				"OAUTH_INTROSPECTION_URL":            "https://idp.example/oauth2/introspect",
				"OAUTH_INTROSPECTION_CLIENT_ID":      "kanban-rs",
				"OAUTH_INTROSPECTION_CLIENT_SECRET":  "a-secret",
				"OAUTH_INTROSPECT":                   "always",
				"OAUTH_INTROSPECTION_AUDIENCE_CHECK": "off",
				"INTROSPECTION_CACHE_TTL":            "30s",
			},
			change: func(v *view) {
				v.Issuer, v.BuiltInAuthServer = "https://idp.example", false
				v.IntrospectionURL, v.IntrospectionClientID, v.IntrospectionClientSecret = "https://idp.example/oauth2/introspect", "kanban-rs", "a-secret"
				v.IntrospectMode, v.SkipIntrospectionAudience, v.IntrospectionCacheTTL = "always", true, 30*time.Second
			},
		},
		{
			name: "sign-in through Google, a Workspace domain only",
			env: map[string]string{
				"UPSTREAM_OIDC_ISSUER": "https://accounts.google.com", "UPSTREAM_OIDC_CLIENT_ID": "123.apps.googleusercontent.com",
				"UPSTREAM_OIDC_CLIENT_SECRET": "g-secret", "UPSTREAM_ALLOWED_EMAIL_DOMAINS": " example.com, corp.example ",
				"UPSTREAM_OIDC_SCOPES": "openid email", "UPSTREAM_SESSION_MAX_AGE": "8h", "UPSTREAM_ONLY": "true",
			},
			change: func(v *view) {
				v.Upstream = config.Upstream{
					Issuer: "https://accounts.google.com", ClientID: "123.apps.googleusercontent.com", ClientSecret: "g-secret",
					Scopes: []string{"openid", "email"}, AllowedDomains: []string{"example.com", "corp.example"},
					SessionMaxAge: 8 * time.Hour, Only: true,
				}
			},
		},
		{
			name: "sign-in through Entra ID by tenant, and a listed guest",
			env: map[string]string{
				"UPSTREAM_OIDC_ISSUER":    "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
				"UPSTREAM_OIDC_CLIENT_ID": "app-id", "UPSTREAM_OIDC_CLIENT_SECRET": "e-secret",
				"UPSTREAM_ALLOWED_TENANTS": "9188040d-6c67-4c5b-b112-36a304b66dad", "UPSTREAM_ALLOWED_EMAILS": "guest@partner.example",
				"UPSTREAM_DISPLAY_NAME": "Contoso",
			},
			change: func(v *view) {
				v.Upstream = config.Upstream{
					Issuer: "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0", ClientID: "app-id", ClientSecret: "e-secret",
					Scopes: []string{"openid", "email", "profile"}, DisplayName: "Contoso",
					AllowedTenants: []string{"9188040d-6c67-4c5b-b112-36a304b66dad"}, AllowedEmails: []string{"guest@partner.example"},
					SessionMaxAge: 24 * time.Hour,
				}
			},
		},
		{
			name: "sign-in through a loopback provider, everyone it signs in",
			env: map[string]string{
				"UPSTREAM_OIDC_ISSUER": "http://127.0.0.1:9000", "UPSTREAM_OIDC_CLIENT_ID": "c", "UPSTREAM_OIDC_CLIENT_SECRET": "s",
				"UPSTREAM_ALLOW_ANY": "true",
			},
			change: func(v *view) {
				v.Upstream = config.Upstream{Issuer: "http://127.0.0.1:9000", ClientID: "c", ClientSecret: "s",
					Scopes: []string{"openid", "email", "profile"}, AllowAny: true, SessionMaxAge: 24 * time.Hour}
			},
		},
		{
			name:   "AUTH_SERVER=off with no issuer: nobody can sign in",
			env:    map[string]string{"AUTH_SERVER": "off"},
			change: func(v *view) { v.Issuer, v.BuiltInAuthServer = "", false },
		},
		{
			name:   "AUTH_SERVER=on with OAUTH_ISSUER equal to BASE_URL",
			env:    map[string]string{"AUTH_SERVER": "on", "OAUTH_ISSUER": "http://localhost:8080"},
			change: func(v *view) {},
		},
		{
			name: "built-in server settings",
			env:  map[string]string{"KEY_ENCRYPTION_KEY": "0123456789abcdef0123", "ACCESS_TOKEN_TTL": "5m", "REFRESH_TOKEN_TTL": "24h", "CLIENT_UNUSED_TTL": "48h"},
			change: func(v *view) {
				v.KeyEncryptionKey, v.AccessTokenTTL, v.RefreshTokenTTL, v.UnusedClientExpiry = "0123456789abcdef0123", 5*time.Minute, 24*time.Hour, 48*time.Hour
			},
		},
		{name: "OAUTH_SCOPE_CLAIM any case", env: map[string]string{"OAUTH_SCOPE_CLAIM": "Permissions"}, change: func(v *view) { v.ScopeClaim = "permissions" }},
		{name: "AUTH_CHALLENGE http", env: map[string]string{"AUTH_CHALLENGE": "http"}, change: func(v *view) { v.AuthChallenge = auth.ChallengeHTTP }},
		{name: "AUTH_CHALLENGE tool-result", env: map[string]string{"AUTH_CHALLENGE": "Tool-Result"}, change: func(v *view) { v.AuthChallenge = auth.ChallengeToolResult }},
		{name: "app directory settings", env: map[string]string{"WIDGET_DOMAIN": "https://w.example.com/", "OPENAI_APPS_CHALLENGE": "tok-123",
			"PRIVACY_POLICY_URL": "https://example.com/p", "TERMS_URL": "https://example.com/t"}, change: func(v *view) {
			v.WidgetDomain, v.AppsChallenge, v.PrivacyPolicyURL, v.TermsURL = "https://w.example.com", "tok-123", "https://example.com/p", "https://example.com/t"
		}},
		{name: "INBAND_CHALLENGE_USER_AGENTS", env: map[string]string{"INBAND_CHALLENGE_USER_AGENTS": `openai-mcp/.*, acme/[0-9]+`}, change: func(v *view) { v.InBandUserAgents = []string{"openai-mcp/.*", "acme/[0-9]+"} }},
		{name: "SQLITE_SYNCHRONOUS full", env: map[string]string{"SQLITE_SYNCHRONOUS": "FULL"}, change: func(v *view) { v.Synchronous = sqlitedb.SyncFull }},
		{name: "ALLOWED_HOSTS", env: map[string]string{"ALLOWED_HOSTS": "a.example, B.example"}, change: func(v *view) { v.AllowedHosts = []string{"a.example", "b.example"} }},
		{name: "ALLOWED_HOSTS with empty entries", env: map[string]string{"ALLOWED_HOSTS": " ,a.example,, "}, change: func(v *view) { v.AllowedHosts = []string{"a.example"} }},
		{name: "TRUSTED_PROXY_HEADER", env: map[string]string{"TRUSTED_PROXY_HEADER": "Fly-Client-IP"}, change: func(v *view) { v.TrustedProxyHeader = "Fly-Client-IP" }},
		{name: "AUDIT_RETENTION", env: map[string]string{"AUDIT_RETENTION": "720h"}, change: func(v *view) { v.AuditRetention = 720 * time.Hour }},
		{name: "anonymous audit budget", env: map[string]string{"AUDIT_ANON_ROWS_PER_HOUR": "1000", "AUDIT_ANON_ROWS_PER_IP_PER_HOUR": "0"}, change: func(v *view) {
			v.AnonAuditPerHour, v.AnonAuditPerIPPerHour = 1000, 0
		}},
		{name: "MIN_FREE_DISK in MB", env: map[string]string{"MIN_FREE_DISK": "500MB"}, change: func(v *view) { v.MinFreeDisk = 500_000_000 }},
		{name: "MIN_FREE_DISK in GiB with a space", env: map[string]string{"MIN_FREE_DISK": "2 GiB"}, change: func(v *view) { v.MinFreeDisk = 2 << 30 }},
		{name: "MIN_FREE_DISK in bytes", env: map[string]string{"MIN_FREE_DISK": "1048576"}, change: func(v *view) { v.MinFreeDisk = 1 << 20 }},
		{name: "MIN_FREE_DISK off", env: map[string]string{"MIN_FREE_DISK": "0"}, change: func(v *view) { v.MinFreeDisk = 0 }},
		{name: "MEMORY_LIMIT in GiB", env: map[string]string{"MEMORY_LIMIT": "1GiB"}, change: func(v *view) { v.MemoryLimit = 1 << 30 }},
		{name: "MEMORY_LIMIT at its floor", env: map[string]string{"MEMORY_LIMIT": "32MiB"}, change: func(v *view) { v.MemoryLimit = 32 << 20 }},
		{name: "MEMORY_LIMIT none", env: map[string]string{"MEMORY_LIMIT": "0"}, change: func(v *view) { v.MemoryLimit = 0 }},
		{name: "quotas", env: map[string]string{"MAX_BOARDS_PER_USER": "3", "MAX_CARDS_PER_BOARD": "50"}, change: func(v *view) { v.Quotas = store.Quotas{BoardsPerUser: 3, CardsPerBoard: 50} }},
		{name: "LOG_LEVEL", env: map[string]string{"LOG_LEVEL": "WARN"}, change: func(v *view) { v.LogLevel = "warn" }},
		{name: "VALIDATE_OUTPUT", env: map[string]string{"VALIDATE_OUTPUT": "true"}, change: func(v *view) { v.ValidateOutput = true }},
		{name: "METRICS_ADDR", env: map[string]string{"METRICS_ADDR": ":9091"}, change: func(v *view) { v.MetricsAddr = ":9091" }},
		{name: "METRICS_ADDR with METRICS_PPROF", env: map[string]string{"METRICS_ADDR": "127.0.0.1:9091", "METRICS_PPROF": "true"}, change: func(v *view) {
			v.MetricsAddr, v.MetricsPprof = "127.0.0.1:9091", true
		}},
		{name: "METRICS_ADDR on any free port", args: []string{"-metrics-addr", "127.0.0.1:0"}, change: func(v *view) { v.MetricsAddr = "127.0.0.1:0" }},
		{name: "surrounding spaces are trimmed", env: map[string]string{"BASE_URL": " https://x.example ", "LOG_LEVEL": " debug "}, change: func(v *view) {
			v.BaseURL, v.Resource, v.Audience, v.LogLevel = "https://x.example", "https://x.example/mcp", "https://x.example/mcp", "debug"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.env, tt.args...)
			want := defaults()
			tt.change(&want)
			if want.BuiltInAuthServer {
				// The built-in server's issuer follows BASE_URL.
				want.Issuer = want.BaseURL
			}
			if diff := cmp.Diff(want, viewOf(c)); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		fragments []string // each must appear in the single problem
	}{
		{"BASE_URL http on a public host", map[string]string{"BASE_URL": "http://kanban.example"}, []string{"BASE_URL", "https"}},
		{"BASE_URL http on a lookalike of localhost", map[string]string{"BASE_URL": "http://localhost.evil.example"}, []string{"BASE_URL", "https"}},
		{"BASE_URL with a path", map[string]string{"BASE_URL": "https://x.example/app"}, []string{"BASE_URL", "origin"}},
		{"BASE_URL with /mcp", map[string]string{"BASE_URL": "https://x.example/mcp"}, []string{"BASE_URL"}},
		{"BASE_URL with a query", map[string]string{"BASE_URL": "https://x.example?a=1"}, []string{"BASE_URL"}},
		{"BASE_URL without a scheme", map[string]string{"BASE_URL": "x.example"}, []string{"BASE_URL"}},
		{"BASE_URL ftp", map[string]string{"BASE_URL": "ftp://x.example"}, []string{"BASE_URL"}},
		{"LISTEN_ADDR without a port", map[string]string{"LISTEN_ADDR": "127.0.0.1"}, []string{"LISTEN_ADDR"}},
		{"METRICS_ADDR without a port", map[string]string{"METRICS_ADDR": "127.0.0.1"}, []string{"METRICS_ADDR", ":9091"}},
		{"METRICS_ADDR on the public port", map[string]string{"LISTEN_ADDR": ":8080", "METRICS_ADDR": "127.0.0.1:8080"}, []string{"METRICS_ADDR", "public port"}},
		{"METRICS_PPROF without METRICS_ADDR", map[string]string{"METRICS_PPROF": "true"}, []string{"METRICS_PPROF", "METRICS_ADDR"}},
		{"METRICS_PPROF not a boolean", map[string]string{"METRICS_ADDR": ":9091", "METRICS_PPROF": "sure"}, []string{"METRICS_PPROF"}},
		{"DATABASE_URL postgres with a bad port", map[string]string{"DATABASE_URL": "postgres://u:p@db.example:port/kanban"}, []string{"DATABASE_URL", "PostgreSQL URL"}},
		{"DATABASE_URL postgres with an unknown sslmode", map[string]string{"DATABASE_URL": "postgres://db.example/kanban?sslmode=sometimes"}, []string{"DATABASE_URL", "PostgreSQL URL"}},
		{"DATABASE_DIRECT_URL with SQLite", map[string]string{"DATABASE_DIRECT_URL": "postgres://db.example/kanban"}, []string{"DATABASE_DIRECT_URL", "DATABASE_URL is not a PostgreSQL URL"}},
		{"DATABASE_DIRECT_URL not postgres", map[string]string{"DATABASE_URL": "postgres://db.example/kanban", "DATABASE_DIRECT_URL": "/data/kanban.db"}, []string{"DATABASE_DIRECT_URL", "postgres://"}},
		{"DATABASE_DIRECT_URL with a bad port", map[string]string{"DATABASE_URL": "postgres://db.example/kanban", "DATABASE_DIRECT_URL": "postgres://db.example:port/kanban"}, []string{"DATABASE_DIRECT_URL", "PostgreSQL URL"}},
		{"DATABASE_URL mysql", map[string]string{"DATABASE_URL": "mysql://x"}, []string{"DATABASE_URL"}},
		{"DATABASE_URL with a query", map[string]string{"DATABASE_URL": "a.db?x=1"}, []string{"DATABASE_URL"}},
		{"DATABASE_URL file: with a query", map[string]string{"DATABASE_URL": "file:a.db?_pragma=foo"}, []string{"DATABASE_URL"}},
		{"DATABASE_URL file: with nothing", map[string]string{"DATABASE_URL": "file:"}, []string{"DATABASE_URL"}},
		{"OAUTH_ISSUER http on a public host", map[string]string{"OAUTH_ISSUER": "http://issuer.example"}, []string{"OAUTH_ISSUER", "https"}},
		{"OAUTH_ISSUER not a URL", map[string]string{"OAUTH_ISSUER": "issuer.example"}, []string{"OAUTH_ISSUER"}},
		{"UPSTREAM_OIDC_ISSUER with nobody allowed in", upstreamEnv(nil), []string{"UPSTREAM_OIDC_ISSUER", "nobody is allowed in", "UPSTREAM_ALLOW_ANY=true"}},
		{"UPSTREAM_ALLOW_ANY beside a list", upstreamEnv(map[string]string{"UPSTREAM_ALLOW_ANY": "true", "UPSTREAM_ALLOWED_EMAILS": "a@example.com"}), []string{"UPSTREAM_ALLOW_ANY", "would do nothing"}},
		{"UPSTREAM_ALLOW_ANY not a boolean", upstreamEnv(map[string]string{"UPSTREAM_ALLOW_ANY": "sure", "UPSTREAM_ALLOWED_EMAILS": "a@example.com"}), []string{"UPSTREAM_ALLOW_ANY"}},
		{"UPSTREAM_OIDC_ISSUER without a secret", upstreamEnv(map[string]string{"UPSTREAM_OIDC_CLIENT_SECRET": "", "UPSTREAM_ALLOWED_EMAILS": "a@example.com"}),
			[]string{"UPSTREAM_OIDC_CLIENT_SECRET", "/oauth/upstream/callback"}},
		{"UPSTREAM_OIDC_ISSUER over http", upstreamEnv(map[string]string{"UPSTREAM_OIDC_ISSUER": "http://idp.example", "UPSTREAM_ALLOWED_EMAILS": "a@example.com"}),
			[]string{"UPSTREAM_OIDC_ISSUER", "https"}},
		{"UPSTREAM_OIDC_ISSUER with credentials", upstreamEnv(map[string]string{"UPSTREAM_OIDC_ISSUER": "https://u:p@idp.example", "UPSTREAM_ALLOWED_EMAILS": "a@example.com"}),
			[]string{"UPSTREAM_OIDC_ISSUER", "credentials"}},
		{"UPSTREAM_OIDC_ISSUER beside an external issuer", upstreamEnv(map[string]string{"OAUTH_ISSUER": "https://other.example", "UPSTREAM_ALLOWED_EMAILS": "a@example.com"}),
			[]string{"UPSTREAM_OIDC_ISSUER", "OAUTH_ISSUER"}},
		{"UPSTREAM_ALLOWED_EMAIL_DOMAINS with an address", upstreamEnv(map[string]string{"UPSTREAM_ALLOWED_EMAIL_DOMAINS": "@example.com"}), []string{"UPSTREAM_ALLOWED_EMAIL_DOMAINS", "example.com"}},
		{"UPSTREAM_ALLOWED_EMAILS with a domain", upstreamEnv(map[string]string{"UPSTREAM_ALLOWED_EMAILS": "example.com"}), []string{"UPSTREAM_ALLOWED_EMAILS", "alice@example.com"}},
		{"UPSTREAM_SESSION_MAX_AGE past the refresh tokens", upstreamEnv(map[string]string{"UPSTREAM_ALLOWED_EMAILS": "a@example.com", "UPSTREAM_SESSION_MAX_AGE": "1000h"}),
			[]string{"UPSTREAM_SESSION_MAX_AGE", "REFRESH_TOKEN_TTL"}},
		{"UPSTREAM_SESSION_MAX_AGE under the access tokens' lifetime", upstreamEnv(map[string]string{"UPSTREAM_ALLOWED_EMAILS": "a@example.com", "UPSTREAM_SESSION_MAX_AGE": "10m"}),
			[]string{"UPSTREAM_SESSION_MAX_AGE", "ACCESS_TOKEN_TTL"}},
		{"UPSTREAM_* without the issuer", map[string]string{"UPSTREAM_ALLOWED_EMAIL_DOMAINS": "example.com"}, []string{"UPSTREAM_OIDC_ISSUER"}},
		{"UPSTREAM_ONLY without the issuer", map[string]string{"UPSTREAM_ONLY": "true"}, []string{"UPSTREAM_OIDC_ISSUER"}},
		{"OAUTH_INTROSPECTION_URL without OAUTH_ISSUER", map[string]string{"OAUTH_INTROSPECTION_URL": "https://idp.example/introspect",
			"OAUTH_INTROSPECTION_CLIENT_ID": "rs", "OAUTH_INTROSPECTION_CLIENT_SECRET": "s"}, []string{"OAUTH_INTROSPECTION_URL", "OAUTH_ISSUER"}},
		{"OAUTH_INTROSPECTION_URL without a client", map[string]string{"OAUTH_ISSUER": "https://idp.example", "OAUTH_INTROSPECTION_URL": "https://idp.example/introspect"},
			[]string{"OAUTH_INTROSPECTION_CLIENT_ID", "OAUTH_INTROSPECTION_CLIENT_SECRET"}},
		{"OAUTH_INTROSPECTION_URL over http", map[string]string{"OAUTH_ISSUER": "https://idp.example", "OAUTH_INTROSPECTION_URL": "http://idp.example/introspect",
			"OAUTH_INTROSPECTION_CLIENT_ID": "rs", "OAUTH_INTROSPECTION_CLIENT_SECRET": "s"}, []string{"OAUTH_INTROSPECTION_URL", "https"}},
		{"OAUTH_INTROSPECTION_URL with AUTH_SERVER=off and no issuer", map[string]string{"AUTH_SERVER": "off", "OAUTH_INTROSPECTION_URL": "https://idp.example/introspect",
			"OAUTH_INTROSPECTION_CLIENT_ID": "rs", "OAUTH_INTROSPECTION_CLIENT_SECRET": "s"}, []string{"OAUTH_INTROSPECTION_URL", "OAUTH_ISSUER"}},
		{"OAUTH_INTROSPECTION_URL with credentials", map[string]string{"OAUTH_ISSUER": "https://idp.example", "OAUTH_INTROSPECTION_URL": "https://u:pw@idp.example/introspect",
			"OAUTH_INTROSPECTION_CLIENT_ID": "rs", "OAUTH_INTROSPECTION_CLIENT_SECRET": "s"}, []string{"OAUTH_INTROSPECTION_URL", "credentials"}},
		{"an introspection client without the URL", map[string]string{"OAUTH_INTROSPECTION_CLIENT_ID": "rs"}, []string{"OAUTH_INTROSPECTION_URL"}},
		{"AUTH_TOKEN_FORMAT unknown", map[string]string{"AUTH_TOKEN_FORMAT": "paseto"}, []string{"AUTH_TOKEN_FORMAT", "reference"}},
		{"AUTH_TOKEN_FORMAT=reference with another issuer", map[string]string{"OAUTH_ISSUER": "https://idp.example", "AUTH_TOKEN_FORMAT": "reference"},
			[]string{"AUTH_TOKEN_FORMAT", "OAUTH_ISSUER"}},
		{"AUTH_EXTRA_RESOURCES with another issuer", map[string]string{"OAUTH_ISSUER": "https://idp.example", "AUTH_EXTRA_RESOURCES": "https://other.example/mcp"},
			[]string{"AUTH_EXTRA_RESOURCES", "OAUTH_ISSUER"}},
		{"AUTH_EXTRA_RESOURCES naming our own", map[string]string{"AUTH_EXTRA_RESOURCES": "http://localhost:8080/mcp"}, []string{"AUTH_EXTRA_RESOURCES", "own resource"}},
		{"AUTH_EXTRA_RESOURCES twice", map[string]string{"AUTH_EXTRA_RESOURCES": "https://o.example/mcp,https://o.example/mcp"}, []string{"AUTH_EXTRA_RESOURCES", "twice"}},
		{"AUTH_EXTRA_RESOURCES over http", map[string]string{"AUTH_EXTRA_RESOURCES": "http://other.example/mcp"}, []string{"AUTH_EXTRA_RESOURCES", "https"}},
		{"OAUTH_INTROSPECT unknown", map[string]string{"OAUTH_INTROSPECT": "sometimes"}, []string{"OAUTH_INTROSPECT", "always"}},
		{"OAUTH_INTROSPECTION_AUDIENCE_CHECK unknown", map[string]string{"OAUTH_INTROSPECTION_AUDIENCE_CHECK": "maybe"}, []string{"OAUTH_INTROSPECTION_AUDIENCE_CHECK"}},
		{"OAUTH_JWKS_URL without OAUTH_ISSUER", map[string]string{"OAUTH_JWKS_URL": "https://issuer.example/keys"}, []string{"OAUTH_JWKS_URL", "OAUTH_ISSUER"}},
		{"OAUTH_JWKS_URL http on a public host", map[string]string{"OAUTH_ISSUER": "https://issuer.example", "OAUTH_JWKS_URL": "http://issuer.example/keys"}, []string{"OAUTH_JWKS_URL", "https"}},
		{"OAUTH_SCOPE_CLAIM", map[string]string{"OAUTH_SCOPE_CLAIM": "roles"}, []string{"OAUTH_SCOPE_CLAIM"}},
		{"AUTH_SERVER unknown", map[string]string{"AUTH_SERVER": "maybe"}, []string{"AUTH_SERVER"}},
		{"AUTH_SERVER=on with a foreign issuer", map[string]string{"AUTH_SERVER": "on", "OAUTH_ISSUER": "https://tenant.auth0.com/"}, []string{"AUTH_SERVER=on", "OAUTH_ISSUER"}},
		{"KEY_ENCRYPTION_KEY too short", map[string]string{"KEY_ENCRYPTION_KEY": "short"}, []string{"KEY_ENCRYPTION_KEY", "openssl rand"}},
		{"ACCESS_TOKEN_TTL too long", map[string]string{"ACCESS_TOKEN_TTL": "48h"}, []string{"ACCESS_TOKEN_TTL"}},
		{"REFRESH_TOKEN_TTL not a duration", map[string]string{"REFRESH_TOKEN_TTL": "30d"}, []string{"REFRESH_TOKEN_TTL"}},
		{"AUTH_CHALLENGE", map[string]string{"AUTH_CHALLENGE": "html"}, []string{"AUTH_CHALLENGE"}},
		{"WIDGET_DOMAIN with a path", map[string]string{"WIDGET_DOMAIN": "https://w.example.com/widget"}, []string{"WIDGET_DOMAIN", "https origin"}},
		{"WIDGET_DOMAIN over http", map[string]string{"WIDGET_DOMAIN": "http://w.example.com"}, []string{"WIDGET_DOMAIN"}},
		{"OPENAI_APPS_CHALLENGE with a space", map[string]string{"OPENAI_APPS_CHALLENGE": "two words"}, []string{"OPENAI_APPS_CHALLENGE"}},
		{"PRIVACY_POLICY_URL over http", map[string]string{"PRIVACY_POLICY_URL": "http://example.com/privacy"}, []string{"PRIVACY_POLICY_URL", "https"}},
		{"TERMS_URL not a URL", map[string]string{"TERMS_URL": "terms"}, []string{"TERMS_URL"}},
		{"INBAND_CHALLENGE_USER_AGENTS not an expression", map[string]string{"INBAND_CHALLENGE_USER_AGENTS": "openai-mcp/("}, []string{"INBAND_CHALLENGE_USER_AGENTS", "regular expression"}},
		{"SQLITE_SYNCHRONOUS", map[string]string{"SQLITE_SYNCHRONOUS": "off"}, []string{"SQLITE_SYNCHRONOUS"}},
		{"LOG_LEVEL", map[string]string{"LOG_LEVEL": "verbose"}, []string{"LOG_LEVEL"}},
		{"VALIDATE_OUTPUT", map[string]string{"VALIDATE_OUTPUT": "sometimes"}, []string{"VALIDATE_OUTPUT"}},
		{"ALLOWED_HOSTS with a scheme", map[string]string{"ALLOWED_HOSTS": "https://a.example"}, []string{"ALLOWED_HOSTS"}},
		{"ALLOWED_HOSTS with a port", map[string]string{"ALLOWED_HOSTS": "a.example:443"}, []string{"ALLOWED_HOSTS"}},
		{"TRUSTED_PROXY_HEADER with a colon", map[string]string{"TRUSTED_PROXY_HEADER": "Fly-Client-IP:"}, []string{"TRUSTED_PROXY_HEADER"}},
		{"AUDIT_RETENTION in days", map[string]string{"AUDIT_RETENTION": "90d"}, []string{"AUDIT_RETENTION", "hours"}},
		{"AUDIT_RETENTION under an hour", map[string]string{"AUDIT_RETENTION": "30m"}, []string{"AUDIT_RETENTION"}},
		{"AUDIT_RETENTION negative", map[string]string{"AUDIT_RETENTION": "-2160h"}, []string{"AUDIT_RETENTION"}},
		{"AUDIT_ANON_ROWS_PER_HOUR negative", map[string]string{"AUDIT_ANON_ROWS_PER_HOUR": "-1"}, []string{"AUDIT_ANON_ROWS_PER_HOUR", "between 0 and"}},
		{"AUDIT_ANON_ROWS_PER_IP_PER_HOUR not a number", map[string]string{"AUDIT_ANON_ROWS_PER_IP_PER_HOUR": "many"}, []string{"AUDIT_ANON_ROWS_PER_IP_PER_HOUR"}},
		{"AUDIT_ANON_ROWS_PER_HOUR too large", map[string]string{"AUDIT_ANON_ROWS_PER_HOUR": "10000000000"}, []string{"AUDIT_ANON_ROWS_PER_HOUR"}},
		{"MIN_FREE_DISK unknown unit", map[string]string{"MIN_FREE_DISK": "64 megs"}, []string{"MIN_FREE_DISK", "64MiB"}},
		{"MEMORY_LIMIT not a size", map[string]string{"MEMORY_LIMIT": "lots"}, []string{"MEMORY_LIMIT", "128MiB"}},
		{"MEMORY_LIMIT below its floor", map[string]string{"MEMORY_LIMIT": "31MiB"}, []string{"MEMORY_LIMIT", "32MiB", "0 for none"}},
		{"MIN_FREE_DISK fraction", map[string]string{"MIN_FREE_DISK": "1.5GiB"}, []string{"MIN_FREE_DISK"}},
		{"MIN_FREE_DISK negative", map[string]string{"MIN_FREE_DISK": "-1MiB"}, []string{"MIN_FREE_DISK"}},
		{"MIN_FREE_DISK overflowing", map[string]string{"MIN_FREE_DISK": "99999999999TiB"}, []string{"MIN_FREE_DISK", "too large"}},
		{"MAX_BOARDS_PER_USER zero", map[string]string{"MAX_BOARDS_PER_USER": "0"}, []string{"MAX_BOARDS_PER_USER"}},
		{"MAX_BOARDS_PER_USER negative", map[string]string{"MAX_BOARDS_PER_USER": "-5"}, []string{"MAX_BOARDS_PER_USER"}},
		{"MAX_CARDS_PER_BOARD not a number", map[string]string{"MAX_CARDS_PER_BOARD": "lots"}, []string{"MAX_CARDS_PER_BOARD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.env)
			if err == nil {
				t.Fatalf("Load succeeded with %+v, want an error", viewOf(c))
			}
			if c != nil {
				t.Errorf("Load returned a config beside the error")
			}
			wantOneProblem(t, err, tt.fragments...)
		})
	}
}

// TestLoadBadPort: a PORT that is not a number is reported as a PORT
// problem, not only as a broken BASE_URL the operator never set.
func TestLoadBadPort(t *testing.T) {
	for _, port := range []string{"abc", "http", "99999"} {
		t.Run(port, func(t *testing.T) {
			_, err := load(t, map[string]string{"PORT": port})
			ps := problems(t, err)
			named := false
			for _, p := range ps {
				named = named || strings.HasPrefix(p, "PORT ")
			}
			if !named {
				t.Errorf("PORT=%s: no problem names PORT; problems:\n%s", port, strings.Join(ps, "\n"))
			}
		})
	}
}

func TestLoadBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"unknown flag", []string{"-no-such-flag=1"}},
		{"positional argument", []string{"serve"}},
		{"flag then positional", []string{"-log-level=debug", "extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := load(t, nil, tt.args...); err == nil {
				t.Errorf("Load(%q) = %+v, want an error", tt.args, viewOf(c))
			}
		})
	}
}

func TestLoadSeveralProblems(t *testing.T) {
	_, err := load(t, map[string]string{
		"BASE_URL":            "http://kanban.example",
		"DATABASE_URL":        "mysql://db.example/kanban",
		"OAUTH_SCOPE_CLAIM":   "roles",
		"AUDIT_RETENTION":     "90d",
		"MAX_BOARDS_PER_USER": "0",
		"LOG_LEVEL":           "loud",
	})
	ps := problems(t, err)
	for _, name := range []string{"BASE_URL", "DATABASE_URL", "OAUTH_SCOPE_CLAIM", "AUDIT_RETENTION", "MAX_BOARDS_PER_USER", "LOG_LEVEL"} {
		n := 0
		for _, p := range ps {
			if strings.HasPrefix(p, name+" ") || strings.HasPrefix(p, name+":") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d problems are about %s, want 1; problems:\n%s", n, name, strings.Join(ps, "\n"))
		}
	}
	if len(ps) != 6 {
		t.Errorf("got %d problems, want 6:\n%s", len(ps), strings.Join(ps, "\n"))
	}

	// The message lists each problem on its own line.
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(ps)+1 {
		t.Fatalf("message has %d lines, want a heading and %d problems:\n%s", len(lines), len(ps), err)
	}
	for i, p := range ps {
		if !strings.Contains(lines[i+1], p) {
			t.Errorf("line %d = %q, want it to hold problem %q", i+1, lines[i+1], p)
		}
	}
	if strings.Contains(lines[0], "BASE_URL") {
		t.Errorf("heading %q already holds a problem", lines[0])
	}
}

func TestIsLoopbackHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LOCALHOST", true},
		{"localhost.", true},
		{"foo.localhost", true},
		{"a.b.localhost", true},
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"[::1]", true},
		{"0:0:0:0:0:0:0:1", true},
		{"", false},
		{"example.com", false},
		{"localhost.example.com", false},
		{"evil-localhost", false},
		{"notlocalhost", false},
		{"128.0.0.1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"10.0.0.1", false},
		{"192.168.1.1", false},
		{"127.0.0.1.nip.io", false},
		{"[::1]:8080", false}, // a host with a port is not a host
	}
	for _, tt := range tests {
		if got := config.IsLoopbackHost(tt.host); got != tt.want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

// TestIntrospectionSecretIsNotPrinted: the introspection client's secret,
// from the environment, is in no flag default that -h or a flag error
// prints, nor in any start-up error, yet it takes effect.
// TestSettingSecretsAreNotPrinted: a client secret from the environment
// shows up in no flag error, no -h output and no validation problem, and
// still takes effect.
func TestSettingSecretsAreNotPrinted(t *testing.T) {
	const secret = "client-secret-value-42"
	tests := []struct {
		env     map[string]string // valid with the secret
		invalid map[string]string // added to make Load fail
		got     func(*config.Config) string
	}{
		{
			env: map[string]string{"OAUTH_ISSUER": "https://idp.example", "OAUTH_INTROSPECTION_URL": "https://idp.example/introspect",
				"OAUTH_INTROSPECTION_CLIENT_ID": "rs", "OAUTH_INTROSPECTION_CLIENT_SECRET": secret},
			invalid: map[string]string{"OAUTH_INTROSPECT": "sometimes"},
			got:     func(c *config.Config) string { return c.IntrospectionClientSecret },
		},
		{
			env: map[string]string{"UPSTREAM_OIDC_ISSUER": "https://idp.example", "UPSTREAM_OIDC_CLIENT_ID": "kanban",
				"UPSTREAM_OIDC_CLIENT_SECRET": secret, "UPSTREAM_ALLOW_ANY": "true"},
			invalid: map[string]string{"UPSTREAM_ALLOWED_EMAILS": "not-an-address"},
			got:     func(c *config.Config) string { return c.Upstream.ClientSecret },
		},
	}
	for _, tt := range tests {
		var name string
		for k, v := range tt.env {
			if v == secret {
				name = k
			}
		}
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if _, err := load(t, tt.env, "-bogus"); err == nil {
				t.Fatal("Load accepted an unknown flag")
			}
			if _, err := config.Load([]string{"-h"}, os.Getenv, &out); err == nil {
				t.Fatal("Load with -h returned no error")
			}
			for k, v := range tt.invalid {
				t.Setenv(k, v)
			}
			_, err := config.Load(nil, os.Getenv, &out)
			if err == nil {
				t.Fatalf("Load accepted %v", tt.invalid)
			}
			if strings.Contains(out.String()+err.Error(), secret) {
				t.Errorf("the secret was printed:\n%s\n%v", out.String(), err)
			}
			for k := range tt.invalid {
				t.Setenv(k, "")
			}
			c, err := config.Load(nil, os.Getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(c); got != secret {
				t.Errorf("%s = %q, want the environment's value", name, got)
			}
		})
	}
}

// TestSecretsAreNotPrintedAsFlagDefaults: -h and flag errors print every
// flag's default; a secret from the environment must not be one, yet it
// still takes effect.
func TestSecretsAreNotPrintedAsFlagDefaults(t *testing.T) {
	const secret = "super-secret-encryption-key-123"
	t.Setenv("KEY_ENCRYPTION_KEY", secret)
	var out bytes.Buffer
	if _, err := config.Load([]string{"-bogus"}, os.Getenv, &out); err == nil {
		t.Fatal("Load accepted an unknown flag")
	}
	if strings.Contains(out.String(), secret) {
		t.Errorf("the flag usage shows KEY_ENCRYPTION_KEY:\n%s", out.String())
	}
	c, err := config.Load(nil, os.Getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyEncryptionKey != secret {
		t.Errorf("KeyEncryptionKey = %q, want the environment's value", c.KeyEncryptionKey)
	}
	c, err = config.Load([]string{"-key-encryption-key=from-the-flag-0123456789"}, os.Getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyEncryptionKey != "from-the-flag-0123456789" {
		t.Errorf("the flag did not override the environment: %q", c.KeyEncryptionKey)
	}
}

// TestDatabasePasswordIsNotPrinted: a PostgreSQL URL holds a password;
// it shows up in no flag error, no -h output and no validation problem,
// and still takes effect.
func TestDatabasePasswordIsNotPrinted(t *testing.T) {
	const password = "db-password-value-42"
	for _, env := range []string{"DATABASE_URL", "DATABASE_DIRECT_URL"} {
		t.Run(env, func(t *testing.T) {
			good := "postgres://kanban:" + password + "@db.example:5432/kanban"
			t.Setenv("DATABASE_URL", good)
			t.Setenv(env, good)
			var out bytes.Buffer
			if _, err := config.Load([]string{"-bogus"}, os.Getenv, &out); err == nil {
				t.Fatal("Load accepted an unknown flag")
			}
			if _, err := config.Load([]string{"-h"}, os.Getenv, &out); err == nil {
				t.Fatal("Load with -h returned no error")
			}
			c, err := config.Load(nil, os.Getenv, &out)
			if err != nil {
				t.Fatal(err)
			}
			if got := map[string]string{"DATABASE_URL": c.PostgresURL, "DATABASE_DIRECT_URL": c.PostgresDirectURL}[env]; got != good {
				t.Errorf("%s took effect as %q, want %q", env, got, good)
			}
			t.Setenv(env, "postgres://kanban:"+password+"@db.example:port/kanban")
			_, err = config.Load(nil, os.Getenv, &out)
			if err == nil {
				t.Fatal("Load accepted a URL with a bad port")
			}
			if !strings.Contains(err.Error(), env) {
				t.Errorf("the problem does not name %s: %v", env, err)
			}
			if strings.Contains(out.String()+err.Error(), password) {
				t.Errorf("the password was printed:\n%s\n%v", out.String(), err)
			}
		})
	}
}

// upstreamEnv is a federation setup with its issuer and client, changed by
// changes (an empty value unsets a variable).
func upstreamEnv(changes map[string]string) map[string]string {
	env := map[string]string{
		"UPSTREAM_OIDC_ISSUER": "https://idp.example", "UPSTREAM_OIDC_CLIENT_ID": "kanban", "UPSTREAM_OIDC_CLIENT_SECRET": "s",
	}
	for k, v := range changes {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return env
}
