// Package config reads kanban-mcp's configuration once, from the
// environment with command-line flags mirroring it, and validates it at
// start-up with messages that say how to fix each problem.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/hostclient"
	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// Config is the whole configuration.
type Config struct {
	ListenAddr string
	// MetricsAddr is the private address of /metrics (and, with
	// MetricsPprof, Go's profiles); empty: off. Never the public port.
	MetricsAddr  string
	MetricsPprof bool
	// Tracing says where OpenTelemetry traces go; its URL is empty when
	// they are off.
	Tracing  Tracing
	BaseURL  string // public origin, no trailing slash
	Resource string // BaseURL + "/mcp": the token audience by default
	// DatabasePath is the SQLite file; empty when PostgresURL is set.
	DatabasePath string
	// PostgresURL is DATABASE_URL when it names a PostgreSQL database
	// (a secret: it may hold a password); empty for SQLite.
	PostgresURL string
	// PostgresDirectURL is DATABASE_DIRECT_URL, or PostgresURL when that
	// is unset: a direct connection, for what transaction poolers break
	// (LISTEN).
	PostgresDirectURL string
	Issuer            string // the issuer whose tokens are accepted; BASE_URL when BuiltInAuthServer
	// BuiltInAuthServer says the built-in authorization server runs (its
	// issuer is BASE_URL); see AUTH_SERVER.
	BuiltInAuthServer bool
	// KeyEncryptionKey encrypts the built-in server's signing keys at rest;
	// empty stores them plain.
	KeyEncryptionKey string
	// ExtraResources are other MCP servers' resources that the built-in
	// authorization server issues tokens for too.
	ExtraResources     []string
	TokenFormat        string // jwt or reference, the built-in server's access tokens
	AccessTokenTTL     time.Duration
	RefreshTokenTTL    time.Duration
	UnusedClientExpiry time.Duration
	Audience           string
	JWKSURL            string
	ScopeClaim         string
	// IntrospectionURL, when set, is the external issuer's RFC 7662
	// endpoint, asked (as IntrospectionClientID) about the tokens that
	// IntrospectMode selects.
	IntrospectionURL          string
	IntrospectionClientID     string
	IntrospectionClientSecret string
	IntrospectMode            string // auth.IntrospectAuto or auth.IntrospectAlways
	SkipIntrospectionAudience bool
	IntrospectionCacheTTL     time.Duration
	// Upstream is sign-in through an upstream OpenID provider for the
	// built-in authorization server; Upstream.Issuer is empty when off.
	Upstream      Upstream
	AuthChallenge auth.ChallengeMode
	// InBandUserAgents are the user agents (regular expressions) that
	// AUTH_CHALLENGE=auto answers in-band.
	InBandUserAgents []string
	// WidgetDomain is the widget's dedicated origin ("" for none);
	// AppsChallenge the OpenAI domain-verification token ("" serves none);
	// PrivacyPolicyURL and TermsURL the pages to link ("" for the built-in
	// ones).
	WidgetDomain, AppsChallenge, PrivacyPolicyURL, TermsURL string
	AllowedHosts                                            []string
	TrustedProxyHeader                                      string
	AuditRetention                                          time.Duration
	// AnonAuditPerHour and AnonAuditPerIPPerHour budget the activity rows
	// of callers without a valid token: for the whole server, and for one
	// client network (an IPv4 address or an IPv6 /64).
	AnonAuditPerHour      int
	AnonAuditPerIPPerHour int
	// MinFreeDisk is the free space on the database's filesystem below
	// which those rows stop and /readyz fails; 0 turns the guard off.
	MinFreeDisk uint64
	// MemoryLimit is the Go runtime's soft memory limit, set at start-up
	// unless GOMEMLIMIT sets it; 0 leaves the runtime's default (none).
	MemoryLimit uint64
	Synchronous sqlitedb.Synchronous
	Quotas      store.Quotas
	LogLevel    string
	// ValidateOutput checks every tool result against the tool's output
	// schema. The schemas are generated from the result types, so this
	// only catches a broken build; the tests turn it on, production need
	// not pay for it.
	ValidateOutput bool
}

// Upstream configures sign-in through an upstream OpenID Connect provider
// (the UPSTREAM_* settings).
type Upstream struct {
	Issuer, ClientID, ClientSecret string
	Scopes                         []string
	DisplayName                    string
	// Who may come in (see upstream.Policy).
	AllowedEmails, AllowedDomains, AllowedTenants []string
	AllowAny                                      bool
	SessionMaxAge                                 time.Duration
	// Only hides the password form.
	Only bool
}

// Enabled reports whether federation is configured.
func (u Upstream) Enabled() bool { return u.Issuer != "" }

// setting is one configuration value: its environment variable, the flag
// that mirrors it, its default, its flag help and its README text. The
// table in settings is the one list of settings; go generate ./... renders
// the README's configuration table from it (see MarkdownTable).
type setting struct {
	env, flag, def string
	// help is the flag's help text for -h: short, plain text.
	help string
	// doc is the README's "meaning" cell: Markdown on one line, no "|".
	doc string
	// shownDefault, when set, is the README's "default" cell (Markdown)
	// in place of def in code font, for a default worked out at start-up
	// (BASE_URL's) or one an empty def stands for. An empty def without
	// it shows as "—".
	shownDefault string
}

// secretSettings are never shown as a flag default (see Load).
func secretSettings() map[string]bool {
	return map[string]bool{"DATABASE_URL": true, "DATABASE_DIRECT_URL": true, "OTEL_EXPORTER_OTLP_HEADERS": true, "KEY_ENCRYPTION_KEY": true, "OAUTH_INTROSPECTION_CLIENT_SECRET": true, "UPSTREAM_OIDC_CLIENT_SECRET": true}
}

func settings() []setting {
	return slices.Concat(baseSettings(), tracingSettings())
}

func baseSettings() []setting {
	return []setting{
		{
			env: "LISTEN_ADDR", flag: "listen-addr", def: "127.0.0.1:8080",
			help: "address to listen on; defaults to :$PORT when PORT is set",
			doc:  "address to listen on; `:$PORT` when `PORT` is set and `LISTEN_ADDR` is not",
		},
		{
			env: "METRICS_ADDR", flag: "metrics-addr", def: "",
			help: "private address for /metrics (Prometheus), e.g. :9091; empty: off",
			doc:  "private address that serves `/metrics` (Prometheus), e.g. `:9091`; never the public port (see [Operate it](#operate-it)). Empty: off",
		},
		{
			env: "METRICS_PPROF", flag: "metrics-pprof", def: "false",
			help: "also serve Go's profiles (/debug/pprof/) on METRICS_ADDR",
			doc:  "`true` also serves Go's profiles (`/debug/pprof/`) on `METRICS_ADDR`, for `go tool pprof` and the bench's `-cpuprofile`",
		},
		{
			env: "BASE_URL", flag: "base-url", def: "",
			help:         "public origin, e.g. https://kanban.example.com (default http://localhost:<port>)",
			shownDefault: "`http://localhost:<port>`",
			doc:          "public origin; https unless its host is loopback. The Resource is `BASE_URL/mcp`.",
		},
		{
			env: "DATABASE_URL", flag: "database-url", def: "./data/kanban.db",
			help: "SQLite file path (default ./data/kanban.db), or a postgres:// URL (may hold a password: prefer the environment)",
			doc:  "SQLite file (or `file:` / `sqlite:` URL; the folder is created), or a PostgreSQL URL (`postgres://…` or `postgresql://…`, with `sslmode` and the pool's `pool_max_conns`…) for several replicas on one database. It may hold a password: never logged or shown by `-h`.",
		},
		{
			env: "DATABASE_DIRECT_URL", flag: "database-direct-url", def: "",
			help: "with a pooled PostgreSQL DATABASE_URL: a direct connection's URL, for LISTEN",
			doc:  "with PostgreSQL behind a pooler in transaction mode (Neon's pooled URL, Supabase's port 6543, PgBouncer): the direct connection's URL, which the server uses to LISTEN for other replicas' changes. Empty: `DATABASE_URL`.",
		},
		{
			env: "OAUTH_ISSUER", flag: "oauth-issuer", def: "",
			help: "an external authorization server's issuer, compared with iss exactly (empty: the built-in one)",
			doc:  "an external authorization server's issuer, compared with `iss` exactly (keep Auth0's trailing `/`). Empty: the built-in one.",
		},
		{
			env: "AUTH_SERVER", flag: "auth-server", def: "auto",
			help: "auto (built-in when OAUTH_ISSUER is empty), on, or off",
			doc:  "`auto`: the built-in authorization server runs when `OAUTH_ISSUER` is empty; `on`: always (a foreign `OAUTH_ISSUER` is then an error); `off`: never",
		},
		{
			env: "KEY_ENCRYPTION_KEY", flag: "key-encryption-key", def: "",
			help: "secret that encrypts the built-in server's signing keys at rest",
			doc:  "secret that encrypts the built-in server's signing keys in the database (`openssl rand -base64 32`); without it they are stored plain, with a warning on non-local deployments",
		},
		{
			env: "AUTH_EXTRA_RESOURCES", flag: "auth-extra-resources", def: "",
			help: "other MCP servers' resource URLs (comma-separated) that the built-in authorization server also issues tokens for",
			doc:  "other MCP servers' resource URLs (RFC 8707), comma-separated, that the built-in authorization server also issues tokens for, so that one sign-in serves several servers; they check the tokens by introspection or with its keys (see [Opaque tokens](#opaque-access-tokens-introspection))",
		},
		{
			env: "AUTH_TOKEN_FORMAT", flag: "auth-token-format", def: "jwt",
			help: "jwt or reference: the built-in authorization server's access tokens",
			doc:  "the built-in authorization server's access tokens: `jwt`, signed, which any resource server verifies with its keys; `reference`, opaque, which only it can read (its own resource looks them up, others introspect); see [Opaque tokens](#opaque-access-tokens-introspection)",
		},
		{
			env: "ACCESS_TOKEN_TTL", flag: "access-token-ttl", def: "15m",
			help: "lifetime of the built-in server's access tokens",
			doc:  "lifetime of the built-in server's access tokens",
		},
		{
			env: "REFRESH_TOKEN_TTL", flag: "refresh-token-ttl", def: "720h",
			help: "lifetime of the built-in server's refresh tokens (30 days)",
			doc:  "lifetime of its refresh tokens (30 days)",
		},
		{
			env: "CLIENT_UNUSED_TTL", flag: "client-unused-ttl", def: "2160h",
			help: "a dynamically registered client never used for this long is removed (90 days)",
			doc:  "a dynamically registered client never used for this long is removed",
		},
		{
			env: "OAUTH_AUDIENCE", flag: "oauth-audience", def: "",
			help:         "the expected aud (default: BASE_URL + /mcp)",
			shownDefault: "the Resource",
			doc:          "the expected `aud`",
		},
		{
			env: "OAUTH_JWKS_URL", flag: "oauth-jwks-url", def: "",
			help: "JWKS URL; overrides discovery",
			doc:  "overrides discovery",
		},
		{
			env: "OAUTH_SCOPE_CLAIM", flag: "oauth-scope-claim", def: "auto",
			help: "auto, scope, scp or permissions",
			doc:  "`auto` picks, by presence, `scope`, else `scp`, else `permissions` (never merged); or pin one of them",
		},
		{
			env: "OAUTH_INTROSPECTION_URL", flag: "oauth-introspection-url", def: "",
			help: "the issuer's RFC 7662 introspection endpoint, for opaque access tokens",
			doc:  "the issuer's RFC 7662 introspection endpoint: tokens that are not JWTs (all of them with `OAUTH_INTROSPECT=always`) are checked by asking it; see [Opaque tokens](#opaque-access-tokens-introspection)",
		},
		{
			env: "OAUTH_INTROSPECTION_CLIENT_ID", flag: "oauth-introspection-client-id", def: "",
			help: "this server's client ID at the introspection endpoint",
			doc:  "this server's client at the introspection endpoint (client_secret_basic)",
		},
		{
			env: "OAUTH_INTROSPECTION_CLIENT_SECRET", flag: "oauth-introspection-client-secret", def: "",
			help: "its secret (a secret: set it in the environment)",
			doc:  "its secret; never logged",
		},
		{
			env: "OAUTH_INTROSPECT", flag: "oauth-introspect", def: auth.IntrospectAuto,
			help: "auto (only tokens that are not JWTs) or always",
			doc:  "`auto`: only tokens that are not JWTs are introspected, JWTs are verified with the issuer's keys; `always`: every token",
		},
		{
			env: "OAUTH_INTROSPECTION_AUDIENCE_CHECK", flag: "oauth-introspection-audience-check", def: "on",
			help: "on (aud must name this resource) or off, for a provider whose answers have no aud",
			doc:  "`on`: an introspection answer's `aud` must contain `OAUTH_AUDIENCE`; `off` for a provider whose answers carry no `aud` (warned at start-up: its tokens for other services are then accepted here too)",
		},
		{
			env: "INTROSPECTION_CACHE_TTL", flag: "introspection-cache-ttl", def: "60s",
			help: "how long an active introspection answer is reused (never past the token's exp)",
			doc:  "how long an active answer is reused, never past the token's `exp`; a revocation at the issuer takes this long to reach this server",
		},
		{
			env: "UPSTREAM_OIDC_ISSUER", flag: "upstream-oidc-issuer", def: "",
			help: "sign people in through this OpenID Connect provider (its issuer, compared with iss exactly)",
			doc:  "sign people in through this OpenID Connect provider (built-in authorization server only); register `BASE_URL/oauth/upstream/callback` there. See [Use your company's sign-in](#use-your-companys-sign-in).",
		},
		{
			env: "UPSTREAM_OIDC_CLIENT_ID", flag: "upstream-oidc-client-id", def: "",
			help: "this server's client ID at the upstream provider",
			doc:  "this server's client ID at the upstream provider",
		},
		{
			env: "UPSTREAM_OIDC_CLIENT_SECRET", flag: "upstream-oidc-client-secret", def: "",
			help: "this server's client secret at the upstream provider (prefer the environment)",
			doc:  "its client secret there (a secret: prefer the environment; never logged or shown by `-h`)",
		},
		{
			env: "UPSTREAM_OIDC_SCOPES", flag: "upstream-oidc-scopes", def: "openid email profile",
			help: "scopes asked of the upstream provider",
			doc:  "scopes asked of the provider; `openid` is always added",
		},
		{
			env: "UPSTREAM_DISPLAY_NAME", flag: "upstream-display-name", def: "",
			help:         "the provider's name on the sign-in button (default: from the issuer)",
			shownDefault: "from the issuer (Google, Microsoft, Okta, Auth0, else its host)",
			doc:          "the provider's name on the \"Sign in with …\" button",
		},
		{
			env: "UPSTREAM_ALLOWED_EMAIL_DOMAINS", flag: "upstream-allowed-email-domains", def: "",
			help: "comma-separated domains whose verified emails may sign in (Google: the hosted domain)",
			doc:  "comma-separated domains whose provider-verified emails may come in; at Google, the Workspace hosted domain (`hd`) decides",
		},
		{
			env: "UPSTREAM_ALLOWED_EMAILS", flag: "upstream-allowed-emails", def: "",
			help: "comma-separated verified email addresses that may sign in",
			doc:  "comma-separated provider-verified email addresses that may come in",
		},
		{
			env: "UPSTREAM_ALLOWED_TENANTS", flag: "upstream-allowed-tenants", def: "",
			help: "comma-separated Entra ID tenant IDs (tid) whose users may sign in",
			doc:  "comma-separated Entra ID tenant IDs (`tid`) whose users may come in (Entra sends no `email_verified`)",
		},
		{
			env: "UPSTREAM_ALLOW_ANY", flag: "upstream-allow-any", def: "false",
			help: "let in everyone the upstream provider signs in (no allow-list)",
			doc:  "`true` lets in everyone the provider signs in; without it, federation needs an allow-list",
		},
		{
			env: "UPSTREAM_SESSION_MAX_AGE", flag: "upstream-session-max-age", def: "24h",
			help: "how long a sign-in at the upstream provider is trusted before refreshes fail",
			doc:  "how long a sign-in at the provider is trusted: after it, refreshing a federated grant is `invalid_grant` and the person signs in through the provider again",
		},
		{
			env: "UPSTREAM_ONLY", flag: "upstream-only", def: "false",
			help: "sign people in through the upstream provider only (no password form)",
			doc:  "`true` hides the password form and refuses password sign-ins",
		},
		{
			env: "AUTH_CHALLENGE", flag: "auth-challenge", def: string(auth.ChallengeAuto),
			help: "auto (per request: in-band for ChatGPT, HTTP for the rest), tool-result or http",
			doc:  "`auto` decides per request: in-band for ChatGPT, HTTP 401/403 for every other client; `tool-result` or `http` force one shape; see [How a refused call is answered](#how-a-refused-call-is-answered-auth_challenge)",
		},
		{
			env: "INBAND_CHALLENGE_USER_AGENTS", flag: "inband-challenge-user-agents", def: strings.Join(hostclient.DefaultInBandUserAgents(), ","),
			help: "with AUTH_CHALLENGE=auto: user agents answered in-band, comma-separated regular expressions matching the whole header",
			doc:  "with `auto`: the user agents answered in-band, comma-separated regular expressions that match the whole `User-Agent` (the default is ChatGPT's connector alone)",
		},
		{
			env: "ALLOWED_HOSTS", flag: "allowed-hosts", def: "",
			help: "extra host names accepted in Host and Origin, comma-separated",
			doc:  "extra host names accepted in `Host`/`Origin`, comma-separated (e.g. a tunnel's)",
		},
		{
			env: "WIDGET_DOMAIN", flag: "widget-domain", def: "",
			help: "the widget's own origin (https://host) for hosts that sandbox it there, e.g. ChatGPT's app directory",
			doc:  "the widget's dedicated origin (`https://host`), sent as `_meta.ui.domain` and `openai/widgetDomain`; ChatGPT's app directory asks for one",
		},
		{
			env: "OPENAI_APPS_CHALLENGE", flag: "openai-apps-challenge", def: "",
			help: "the domain-verification token OpenAI gives, served at /.well-known/openai-apps-challenge",
			doc:  "the domain-verification token from OpenAI's app submission, served as text at `/.well-known/openai-apps-challenge`",
		},
		{
			env: "PRIVACY_POLICY_URL", flag: "privacy-policy-url", def: "",
			help: "your privacy policy; empty means the built-in page at /privacy",
			doc:  "your privacy policy, linked from the sign-in, consent and account pages; empty means the built-in page at `/privacy` (edit `httpapi/site/privacy.html`)",
		},
		{
			env: "TERMS_URL", flag: "terms-url", def: "",
			help: "your terms of use; empty means the built-in page at /terms",
			doc:  "your terms of use, linked like the privacy policy; empty means the built-in page at `/terms` (edit `httpapi/site/terms.html`)",
		},
		{
			env: "TRUSTED_PROXY_HEADER", flag: "trusted-proxy-header", def: "",
			help: "header carrying the client IP behind a proxy, e.g. Fly-Client-IP",
			doc:  "header with the client IP behind a proxy, e.g. `Fly-Client-IP`",
		},
		{
			env: "AUDIT_RETENTION", flag: "audit-retention", def: "2160h",
			help: "how long activity rows are kept",
			doc:  "how long audit rows are kept (90 days)",
		},
		{
			env: "AUDIT_ANON_ROWS_PER_HOUR", flag: "audit-anon-rows-per-hour", def: "60",
			help: "activity rows of callers without a valid token kept per hour, server-wide, a row of more than 512 bytes counting as several (0: none)",
			doc:  "audit rows of callers without a valid token kept per hour, server-wide, a row of more than 512 bytes counting as several; `0` keeps none (see [Audit](#audit))",
		},
		{
			env: "AUDIT_ANON_ROWS_PER_IP_PER_HOUR", flag: "audit-anon-rows-per-ip-per-hour", def: "10",
			help: "of those, rows one client address (IPv6: one /64) may leave per hour",
			doc:  "of those, how many one client address (an IPv6 /64) may leave per hour",
		},
		{
			env: "MIN_FREE_DISK", flag: "min-free-disk", def: "64MiB",
			help: "free space on the database's filesystem below which those rows stop and /readyz warns (0: off)",
			doc:  "free space on the database's filesystem below which those rows stop and `/readyz` warns; a whole number with `B`, `KB`…`TB` or `KiB`…`TiB`; `0` turns the guard off",
		},
		{
			env: "MEMORY_LIMIT", flag: "memory-limit", def: "128MiB",
			help: "soft limit of the Go runtime's memory; GOMEMLIMIT wins when set (0: none)",
			doc: "soft limit of the Go runtime's memory (`debug.SetMemoryLimit`): near it the garbage collector runs more often, so that a server " +
				"building large answers for many readers stays under 200 MB resident, as on Fly.io's default 256 MB machine; raise it with the machine's memory. " +
				"`GOMEMLIMIT`, Go's own setting, wins when set; `0` sets none",
		},
		{
			env: "SQLITE_SYNCHRONOUS", flag: "sqlite-synchronous", def: "normal",
			help: "normal (survives crashes) or full (also power loss)",
			doc:  "`normal`: survives a process crash; `full`: also power loss (an fsync per commit)",
		},
		{
			env: "MAX_BOARDS_PER_USER", flag: "max-boards-per-user", def: strconv.Itoa(store.DefaultQuotas().BoardsPerUser),
			help: "boards one user may own",
			doc:  "quota",
		},
		{
			env: "MAX_CARDS_PER_BOARD", flag: "max-cards-per-board", def: strconv.Itoa(store.DefaultQuotas().CardsPerBoard),
			help: "cards one board may hold",
			doc:  "quota",
		},
		{
			env: "LOG_LEVEL", flag: "log-level", def: "info",
			help: "debug, info, warn or error",
			doc:  "`debug`, `info`, `warn`, `error`",
		},
		{
			env: "VALIDATE_OUTPUT", flag: "validate-output", def: "false",
			help: "check every tool result against its output schema (development; costs CPU)",
			doc:  "`true` checks every tool result against its output schema: for development and tests (the schemas are generated from the result types); it costs about a third of `get_board`'s CPU",
		},
	}
}

// MarkdownTable renders the README's configuration table from the
// settings: variable, default and meaning. go generate ./... writes it
// into README.md (see internal/cmd/readme).
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, s := range settings() {
		shown := s.shownDefault
		switch {
		case shown != "":
		case s.def == "":
			shown = "—"
		default:
			shown = "`" + s.def + "`"
		}
		b.WriteString("| `" + s.env + "` | " + shown + " | " + s.doc + " |\n")
	}
	return b.String()
}

// Load reads the configuration from getenv, then from args (flags override
// the environment), and validates it. The returned error lists every
// problem found, each with how to fix it. Flag parsing output goes to out.
func Load(args []string, getenv func(string) string, out io.Writer) (*Config, error) {
	fs := flag.NewFlagSet(product.Name, flag.ContinueOnError)
	fs.SetOutput(out)
	values := make(map[string]*string)
	explicit := make(map[string]bool) // set in the environment or by a flag
	secrets := map[string]string{}    // secret settings from the environment
	isSecret := secretSettings()
	for _, s := range settings() {
		v := s.def
		if e := getenv(s.env); e != "" {
			v = e
			explicit[s.env] = true
		}
		if isSecret[s.env] {
			// A flag's default is printed by -h and by every flag error,
			// so a secret from the environment must not become one.
			secrets[s.env], v = v, ""
		}
		values[s.env] = fs.String(s.flag, v, s.help+" ($"+s.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for env, v := range secrets {
		if *values[env] == "" {
			*values[env] = v
		}
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q; settings are flags like -base-url=… or environment variables", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settings() {
			if s.flag == f.Name {
				explicit[s.env] = true
			}
		}
	})
	get := func(env string) string { return strings.TrimSpace(*values[env]) }

	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	c := &Config{}

	// LISTEN_ADDR, with PORT as the PaaS fallback.
	c.ListenAddr = get("LISTEN_ADDR")
	if port := strings.TrimSpace(getenv("PORT")); port != "" && !explicit["LISTEN_ADDR"] {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			bad("PORT %q is not a port number (1-65535); unset it or set LISTEN_ADDR instead", port)
		}
		c.ListenAddr = ":" + port
	}
	_, port, err := net.SplitHostPort(c.ListenAddr)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		if explicit["LISTEN_ADDR"] || getenv("PORT") == "" {
			bad("LISTEN_ADDR %q is not host:port; use e.g. 127.0.0.1:8080 or :8080", c.ListenAddr)
		}
		port = "8080" // reported above; keep BASE_URL's default well-formed
	}

	// The private listener, on another port than the public one.
	c.MetricsAddr = get("METRICS_ADDR")
	c.MetricsPprof = boolSetting(get, "METRICS_PPROF", &errs)
	if c.MetricsAddr != "" {
		_, mport, err := net.SplitHostPort(c.MetricsAddr)
		switch n, perr := strconv.Atoi(mport); {
		case err != nil || perr != nil || n < 0 || n > 65535:
			bad("METRICS_ADDR %q is not host:port; use e.g. :9091 or 127.0.0.1:9091", c.MetricsAddr)
		case mport == port && n != 0:
			bad("METRICS_ADDR %q and LISTEN_ADDR %q share port %s; /metrics is never served on the public port: choose another, e.g. :9091", c.MetricsAddr, c.ListenAddr, port)
		}
	} else if c.MetricsPprof {
		bad("METRICS_PPROF is true but METRICS_ADDR is empty; set METRICS_ADDR (e.g. 127.0.0.1:9091) to serve the profiles, or unset METRICS_PPROF")
	}

	c.Tracing = loadTracing(get, getenv, &errs)

	// BASE_URL and the Resource.
	base := get("BASE_URL")
	if base == "" {
		if port == "0" {
			bad("LISTEN_ADDR %q picks a random port, so the default BASE_URL cannot name it; choose a port or set BASE_URL", c.ListenAddr)
		}
		base = "http://localhost:" + port
	}
	if u, err := url.Parse(base); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		bad("BASE_URL %q is not an absolute http(s) URL; use e.g. https://kanban.example.com", base)
	} else {
		switch {
		case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
			bad("BASE_URL %q must be an origin only (scheme and host, no path, query or fragment); the MCP endpoint is BASE_URL/mcp", base)
		case u.Scheme == "http" && !IsLoopbackHost(u.Hostname()):
			bad("BASE_URL %q must use https because its host is not loopback; use https://%s (fly.io and tunnels provide https)", base, u.Host)
		}
		c.BaseURL = u.Scheme + "://" + u.Host
	}
	c.Resource = c.BaseURL + "/mcp"

	// DATABASE_URL and DATABASE_DIRECT_URL.
	if v := get("DATABASE_URL"); pgdb.IsURL(v) {
		c.PostgresURL = v
		if err := pgdb.CheckURL(v); err != nil {
			bad("DATABASE_URL %v", err)
		}
	} else if c.DatabasePath, err = databasePath(v); err != nil {
		errs = append(errs, err)
	}
	switch direct := get("DATABASE_DIRECT_URL"); {
	case direct == "":
		c.PostgresDirectURL = c.PostgresURL
	case c.PostgresURL == "":
		bad("DATABASE_DIRECT_URL is set, but DATABASE_URL is not a PostgreSQL URL; unset DATABASE_DIRECT_URL, or set DATABASE_URL to postgres://…")
	case !pgdb.IsURL(direct):
		bad("DATABASE_DIRECT_URL must be a postgres:// or postgresql:// URL, like DATABASE_URL")
	default:
		c.PostgresDirectURL = direct
		if err := pgdb.CheckURL(direct); err != nil {
			bad("DATABASE_DIRECT_URL %v", err)
		}
	}

	// OAuth.
	c.Issuer = get("OAUTH_ISSUER")
	if c.Issuer != "" {
		if err := checkSecureURL("OAUTH_ISSUER", c.Issuer); err != nil {
			errs = append(errs, err)
		}
	}
	switch mode := strings.ToLower(get("AUTH_SERVER")); {
	case mode != "auto" && mode != "on" && mode != "off":
		bad("AUTH_SERVER %q is not auto, on or off", mode)
	case mode == "on" && c.Issuer != "" && c.Issuer != c.BaseURL:
		bad("AUTH_SERVER=on runs the built-in authorization server, whose issuer is BASE_URL, but OAUTH_ISSUER names %q; unset OAUTH_ISSUER, or set AUTH_SERVER=off to use that issuer", c.Issuer)
	case mode == "on", mode == "auto" && c.Issuer == "":
		c.BuiltInAuthServer = true
		c.Issuer = c.BaseURL
	}
	c.KeyEncryptionKey = get("KEY_ENCRYPTION_KEY")
	if k := c.KeyEncryptionKey; k != "" && len(k) < 16 {
		bad("KEY_ENCRYPTION_KEY is shorter than 16 bytes; use a long random secret, e.g. the output of: openssl rand -base64 32")
	}
	c.TokenFormat = strings.ToLower(get("AUTH_TOKEN_FORMAT"))
	switch {
	case c.TokenFormat != "jwt" && c.TokenFormat != "reference":
		bad("AUTH_TOKEN_FORMAT %q is not jwt or reference", c.TokenFormat)
	case c.TokenFormat == "reference" && !c.BuiltInAuthServer:
		bad("AUTH_TOKEN_FORMAT=reference is for the built-in authorization server, which does not run (OAUTH_ISSUER names another); unset it, or unset OAUTH_ISSUER")
	}
	c.ExtraResources = nil
	extra := commaList(get("AUTH_EXTRA_RESOURCES"))
	if len(extra) > 0 && !c.BuiltInAuthServer {
		bad("AUTH_EXTRA_RESOURCES is set but the built-in authorization server does not run (OAUTH_ISSUER names another); unset it, or unset OAUTH_ISSUER")
		extra = nil
	}
	for _, r := range extra {
		switch {
		case r == c.Resource:
			bad("AUTH_EXTRA_RESOURCES names %s, this server's own resource; list only other servers' resources", r)
		case slices.Contains(c.ExtraResources, r):
			bad("AUTH_EXTRA_RESOURCES names %s twice", r)
		default:
			if err := checkSecureURL("AUTH_EXTRA_RESOURCES", r); err != nil {
				errs = append(errs, err)
			}
			c.ExtraResources = append(c.ExtraResources, r)
		}
	}
	c.AccessTokenTTL = positiveDuration(get("ACCESS_TOKEN_TTL"), "ACCESS_TOKEN_TTL", time.Minute, 24*time.Hour, &errs)
	if c.AccessTokenTTL%time.Second != 0 {
		bad("ACCESS_TOKEN_TTL %s must be whole seconds (a token's exp and iat are in seconds), e.g. 15m or 90s", c.AccessTokenTTL)
	}
	c.RefreshTokenTTL = positiveDuration(get("REFRESH_TOKEN_TTL"), "REFRESH_TOKEN_TTL", time.Hour, 365*24*time.Hour, &errs)
	c.UnusedClientExpiry = positiveDuration(get("CLIENT_UNUSED_TTL"), "CLIENT_UNUSED_TTL", time.Hour, 10*365*24*time.Hour, &errs)
	c.Audience = get("OAUTH_AUDIENCE")
	if c.Audience == "" {
		c.Audience = c.Resource
	}
	c.JWKSURL = get("OAUTH_JWKS_URL")
	if c.JWKSURL != "" {
		if err := checkSecureURL("OAUTH_JWKS_URL", c.JWKSURL); err != nil {
			errs = append(errs, err)
		}
		if c.BuiltInAuthServer {
			bad("OAUTH_JWKS_URL is set but OAUTH_ISSUER is not: the JWKS URL only applies to an external issuer; set OAUTH_ISSUER to the issuer whose keys these are, or unset OAUTH_JWKS_URL")
		}
	}
	c.IntrospectionURL = get("OAUTH_INTROSPECTION_URL")
	c.IntrospectionClientID = get("OAUTH_INTROSPECTION_CLIENT_ID")
	c.IntrospectionClientSecret = get("OAUTH_INTROSPECTION_CLIENT_SECRET")
	c.IntrospectMode = strings.ToLower(get("OAUTH_INTROSPECT"))
	switch c.IntrospectMode {
	case auth.IntrospectAuto, auth.IntrospectAlways:
	default:
		bad("OAUTH_INTROSPECT %q is not auto or always", c.IntrospectMode)
	}
	switch strings.ToLower(get("OAUTH_INTROSPECTION_AUDIENCE_CHECK")) {
	case "on":
	case "off":
		c.SkipIntrospectionAudience = true
	default:
		bad("OAUTH_INTROSPECTION_AUDIENCE_CHECK %q is not on or off", get("OAUTH_INTROSPECTION_AUDIENCE_CHECK"))
	}
	c.IntrospectionCacheTTL = positiveDuration(get("INTROSPECTION_CACHE_TTL"), "INTROSPECTION_CACHE_TTL", time.Second, time.Hour, &errs)
	switch {
	case c.IntrospectionURL == "":
		if c.IntrospectionClientID != "" || c.IntrospectionClientSecret != "" {
			bad("OAUTH_INTROSPECTION_CLIENT_ID or _SECRET is set but OAUTH_INTROSPECTION_URL is not; set the issuer's introspection endpoint, or unset them")
		}
	case c.BuiltInAuthServer || c.Issuer == "":
		bad("OAUTH_INTROSPECTION_URL is set but OAUTH_ISSUER is not: introspection asks an external issuer about its tokens; set OAUTH_ISSUER to it (and AUTH_SERVER=off), or unset OAUTH_INTROSPECTION_URL")
	case strings.Contains(c.IntrospectionURL, "@"):
		// A password in the URL would reach the logs, which name the URL.
		bad("OAUTH_INTROSPECTION_URL must not hold credentials or an @; give them as OAUTH_INTROSPECTION_CLIENT_ID and _SECRET")
	case c.IntrospectionClientID == "" || c.IntrospectionClientSecret == "":
		bad("OAUTH_INTROSPECTION_URL needs OAUTH_INTROSPECTION_CLIENT_ID and OAUTH_INTROSPECTION_CLIENT_SECRET: the client this server authenticates as at the issuer (RFC 7662 §2.1)")
	default:
		if err := checkSecureURL("OAUTH_INTROSPECTION_URL", c.IntrospectionURL); err != nil {
			errs = append(errs, err)
		}
	}
	c.Upstream = loadUpstream(get, c.BuiltInAuthServer, c.AccessTokenTTL, c.RefreshTokenTTL, &errs)
	c.ScopeClaim = strings.ToLower(get("OAUTH_SCOPE_CLAIM"))
	switch c.ScopeClaim {
	case auth.ScopeClaimAuto, auth.ScopeClaimScope, auth.ScopeClaimScp, auth.ScopeClaimPermissions:
	default:
		bad("OAUTH_SCOPE_CLAIM %q is not one of auto, scope, scp, permissions", c.ScopeClaim)
	}
	c.AuthChallenge = auth.ChallengeMode(strings.ToLower(get("AUTH_CHALLENGE")))
	switch c.AuthChallenge {
	case auth.ChallengeAuto, auth.ChallengeToolResult, auth.ChallengeHTTP:
	default:
		bad("AUTH_CHALLENGE %q is not auto, tool-result or http; auto (the default) serves ChatGPT and spec clients from one deployment", c.AuthChallenge)
	}
	c.InBandUserAgents = commaList(get("INBAND_CHALLENGE_USER_AGENTS"))
	if _, err := hostclient.NewClassifier(c.InBandUserAgents); err != nil {
		bad("INBAND_CHALLENGE_USER_AGENTS: %v; each entry is a regular expression for a whole User-Agent, e.g. openai-mcp/[0-9.]+", err)
	}

	// Hosts and proxies.
	for _, h := range commaList(get("ALLOWED_HOSTS")) {
		h = strings.ToLower(h)
		if strings.ContainsAny(h, "/:@ ") {
			bad("ALLOWED_HOSTS entry %q must be a bare host name (no scheme, port or path), e.g. kanban.example.com", h)
			continue
		}
		c.AllowedHosts = append(c.AllowedHosts, h)
	}
	// App-directory settings.
	c.WidgetDomain = get("WIDGET_DOMAIN")
	if c.WidgetDomain != "" {
		if u, err := url.Parse(c.WidgetDomain); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			bad("WIDGET_DOMAIN %q must be an https origin with nothing after the host, e.g. https://kanban-widget.example.com", c.WidgetDomain)
		}
		c.WidgetDomain = strings.TrimSuffix(c.WidgetDomain, "/")
	}
	c.AppsChallenge = get("OPENAI_APPS_CHALLENGE")
	if len(c.AppsChallenge) > 512 || strings.ContainsFunc(c.AppsChallenge, func(r rune) bool { return r <= ' ' || r > '~' }) {
		bad("OPENAI_APPS_CHALLENGE must be the token OpenAI gave, as one word of printable ASCII (at most 512 characters)")
	}
	c.PrivacyPolicyURL, c.TermsURL = get("PRIVACY_POLICY_URL"), get("TERMS_URL")
	for _, s := range []struct{ name, v string }{{"PRIVACY_POLICY_URL", c.PrivacyPolicyURL}, {"TERMS_URL", c.TermsURL}} {
		if s.v == "" {
			continue
		}
		if err := checkSecureURL(s.name, s.v); err != nil {
			bad("%v", err)
		}
	}

	c.TrustedProxyHeader = get("TRUSTED_PROXY_HEADER")
	if strings.ContainsAny(c.TrustedProxyHeader, " :\t") {
		bad("TRUSTED_PROXY_HEADER %q must be a header name such as Fly-Client-IP", c.TrustedProxyHeader)
	}

	// Audit, SQLite, quotas, logging.
	c.AuditRetention, err = time.ParseDuration(get("AUDIT_RETENTION"))
	switch {
	case err != nil:
		bad("AUDIT_RETENTION %q is not a duration; use hours, e.g. 2160h for 90 days", get("AUDIT_RETENTION"))
	case c.AuditRetention < time.Hour:
		bad("AUDIT_RETENTION %s is shorter than an hour; use e.g. 2160h for 90 days", c.AuditRetention)
	}
	c.AnonAuditPerHour = nonNegativeInt(get("AUDIT_ANON_ROWS_PER_HOUR"), "AUDIT_ANON_ROWS_PER_HOUR", &errs)
	c.AnonAuditPerIPPerHour = nonNegativeInt(get("AUDIT_ANON_ROWS_PER_IP_PER_HOUR"), "AUDIT_ANON_ROWS_PER_IP_PER_HOUR", &errs)
	if c.MinFreeDisk, err = parseSize(get("MIN_FREE_DISK")); err != nil {
		bad("MIN_FREE_DISK %q %v; use e.g. 64MiB, 500MB or 0 to turn the guard off", get("MIN_FREE_DISK"), err)
	}
	switch c.MemoryLimit, err = parseSize(get("MEMORY_LIMIT")); {
	case err != nil:
		bad("MEMORY_LIMIT %q %v; use e.g. 128MiB, 1GiB or 0 for none", get("MEMORY_LIMIT"), err)
	case c.MemoryLimit > 0 && c.MemoryLimit < 32<<20:
		bad("MEMORY_LIMIT %s is below 32MiB, where the garbage collector would run all the time; use e.g. 128MiB, or 0 for none", get("MEMORY_LIMIT"))
	}
	switch strings.ToLower(get("SQLITE_SYNCHRONOUS")) {
	case "normal":
		c.Synchronous = sqlitedb.SyncNormal
	case "full":
		c.Synchronous = sqlitedb.SyncFull
	default:
		bad("SQLITE_SYNCHRONOUS %q is not normal or full", get("SQLITE_SYNCHRONOUS"))
	}
	c.Quotas.BoardsPerUser = positiveInt(get("MAX_BOARDS_PER_USER"), "MAX_BOARDS_PER_USER", &errs)
	c.Quotas.CardsPerBoard = positiveInt(get("MAX_CARDS_PER_BOARD"), "MAX_CARDS_PER_BOARD", &errs)
	c.LogLevel = strings.ToLower(get("LOG_LEVEL"))
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL %q is not debug, info, warn or error", c.LogLevel)
	}
	c.ValidateOutput = boolSetting(get, "VALIDATE_OUTPUT", &errs)

	if len(errs) > 0 {
		return nil, &Error{Problems: errs}
	}
	return c, nil
}

// Error lists every configuration problem found.
type Error struct{ Problems []error }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap exposes the individual problems to errors.Is and errors.As.
func (e *Error) Unwrap() []error { return e.Problems }

// databasePath resolves DATABASE_URL to a file path.
func databasePath(v string) (string, error) {
	lower := strings.ToLower(v)
	switch {
	case v == "":
		return "", errors.New("DATABASE_URL is empty; use a file path such as ./data/kanban.db")
	case strings.HasPrefix(lower, "file:"), strings.HasPrefix(lower, "sqlite:"):
		_, rest, _ := strings.Cut(v, ":")
		rest = strings.TrimPrefix(rest, "//") // sqlite:///abs/path and file:///abs/path have an empty authority
		v = rest
	case strings.Contains(v, "://"):
		scheme, _, _ := strings.Cut(v, "://")
		return "", fmt.Errorf("DATABASE_URL: the scheme %q is not supported; use a SQLite file path such as ./data/kanban.db, or a postgres:// URL", scheme)
	}
	if v == "" || strings.ContainsAny(v, "?#") {
		return "", fmt.Errorf("DATABASE_URL must name a file without query parameters (the server sets its own SQLite pragmas); got %q", v)
	}
	return v, nil
}

// checkSecureURL requires an absolute https URL, or http on a loopback host
// (for local issuers and tests).
func checkSecureURL(name, v string) error {
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("%s %q is not an absolute https URL", name, v)
	case u.Scheme == "http" && !IsLoopbackHost(u.Hostname()):
		return fmt.Errorf("%s %q must use https (http is allowed only for loopback hosts)", name, v)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%s %q must not have a query or fragment", name, v)
	}
	return nil
}

// positiveDuration parses a duration setting that must lie within
// [lo, hi].
func positiveDuration(v, name string, lo, hi time.Duration, errs *[]error) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		*errs = append(*errs, fmt.Errorf("%s %q must be a duration between %s and %s, e.g. 15m or 720h", name, v, lo, hi))
		return 0
	}
	return d
}

func positiveInt(v, name string, errs *[]error) int {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		*errs = append(*errs, fmt.Errorf("%s %q must be a positive whole number", name, v))
		return 0
	}
	return n
}

// maxBudget bounds the hourly audit budgets: a larger one is no budget at
// all, and would overflow the token bucket's arithmetic.
const maxBudget = 1_000_000_000

func nonNegativeInt(v, name string, errs *[]error) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxBudget {
		*errs = append(*errs, fmt.Errorf("%s %q must be a whole number between 0 and %d", name, v, maxBudget))
		return 0
	}
	return n
}

// parseSize reads a byte count: a whole number, optionally followed by a
// unit (B, KB, MB, GB, TB, or KiB, MiB, GiB, TiB).
func parseSize(v string) (uint64, error) {
	// Longer suffixes first: "MiB" also ends in "B".
	sizeUnits := []struct {
		suffix string
		factor uint64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	num, factor := v, uint64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(v, u.suffix); ok {
			num, factor = strings.TrimSpace(rest), u.factor
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, errors.New("is not a size (a whole number with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)")
	}
	if n > (1<<63)/factor {
		return 0, errors.New("is too large")
	}
	return n * factor, nil
}

// IsLoopbackHost reports whether host (without port) is a loopback name or
// address: localhost, *.localhost, 127.0.0.0/8 or ::1.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// boolSetting reads a true/false setting.
func boolSetting(get func(string) string, env string, errs *[]error) bool {
	switch v := strings.ToLower(get(env)); v {
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	default:
		*errs = append(*errs, fmt.Errorf("%s %q is not true or false", env, v))
		return false
	}
}

// commaList splits a comma-separated setting, dropping empty entries.
func commaList(v string) []string {
	var out []string
	for e := range strings.SplitSeq(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// loadUpstream reads the UPSTREAM_* settings.
func loadUpstream(get func(string) string, builtIn bool, accessTTL, refreshTTL time.Duration, errs *[]error) Upstream {
	bad := func(format string, args ...any) { *errs = append(*errs, fmt.Errorf(format, args...)) }
	u := Upstream{
		Issuer:         get("UPSTREAM_OIDC_ISSUER"),
		ClientID:       get("UPSTREAM_OIDC_CLIENT_ID"),
		ClientSecret:   get("UPSTREAM_OIDC_CLIENT_SECRET"),
		Scopes:         strings.Fields(get("UPSTREAM_OIDC_SCOPES")),
		DisplayName:    get("UPSTREAM_DISPLAY_NAME"),
		AllowedEmails:  commaList(get("UPSTREAM_ALLOWED_EMAILS")),
		AllowedDomains: commaList(get("UPSTREAM_ALLOWED_EMAIL_DOMAINS")),
		AllowedTenants: commaList(get("UPSTREAM_ALLOWED_TENANTS")),
		AllowAny:       boolSetting(get, "UPSTREAM_ALLOW_ANY", errs),
		Only:           boolSetting(get, "UPSTREAM_ONLY", errs),
	}
	u.SessionMaxAge = positiveDuration(get("UPSTREAM_SESSION_MAX_AGE"), "UPSTREAM_SESSION_MAX_AGE", 5*time.Minute, 365*24*time.Hour, errs)
	lists := len(u.AllowedEmails) + len(u.AllowedDomains) + len(u.AllowedTenants)
	if u.Issuer == "" {
		if u.ClientID != "" || u.ClientSecret != "" || lists > 0 || u.AllowAny || u.Only || u.DisplayName != "" {
			bad("UPSTREAM_* settings are set but UPSTREAM_OIDC_ISSUER is not; set it to the provider's issuer, or unset them")
		}
		return Upstream{}
	}
	if !builtIn {
		bad("UPSTREAM_OIDC_ISSUER is set but the built-in authorization server does not run (OAUTH_ISSUER names another); federation is the built-in server's; unset one of them")
	}
	if strings.Contains(u.Issuer, "@") {
		bad("UPSTREAM_OIDC_ISSUER must not hold credentials or an @; give them as UPSTREAM_OIDC_CLIENT_ID and _SECRET")
	} else if err := checkSecureURL("UPSTREAM_OIDC_ISSUER", u.Issuer); err != nil {
		*errs = append(*errs, err)
	}
	if u.ClientID == "" || u.ClientSecret == "" {
		bad("UPSTREAM_OIDC_ISSUER needs UPSTREAM_OIDC_CLIENT_ID and UPSTREAM_OIDC_CLIENT_SECRET: register a web application (a confidential client) at the provider with the redirect URI BASE_URL/oauth/upstream/callback")
	}
	switch {
	case lists == 0 && !u.AllowAny:
		bad("UPSTREAM_OIDC_ISSUER is set but nobody is allowed in: set UPSTREAM_ALLOWED_EMAIL_DOMAINS, UPSTREAM_ALLOWED_EMAILS or UPSTREAM_ALLOWED_TENANTS, or UPSTREAM_ALLOW_ANY=true to let in everyone the provider signs in")
	case lists > 0 && u.AllowAny:
		bad("UPSTREAM_ALLOW_ANY=true lets everyone in, so the UPSTREAM_ALLOWED_* lists would do nothing; unset one or the other")
	}
	for _, d := range u.AllowedDomains {
		if strings.ContainsAny(d, "@/: ") || !strings.Contains(d, ".") {
			bad("UPSTREAM_ALLOWED_EMAIL_DOMAINS entry %q is not a domain like example.com", d)
		}
	}
	for _, e := range u.AllowedEmails {
		if at := strings.LastIndexByte(e, '@'); at <= 0 || at == len(e)-1 {
			bad("UPSTREAM_ALLOWED_EMAILS entry %q is not an email address like alice@example.com", e)
		}
	}
	if u.SessionMaxAge > refreshTTL && refreshTTL > 0 {
		bad("UPSTREAM_SESSION_MAX_AGE %s is longer than REFRESH_TOKEN_TTL %s, so it would never cut a refresh short; lower it", u.SessionMaxAge, refreshTTL)
	}
	if u.SessionMaxAge < accessTTL {
		// An access token minted just before the max age would outlive
		// it by its whole lifetime.
		bad("UPSTREAM_SESSION_MAX_AGE %s is shorter than ACCESS_TOKEN_TTL %s, so access tokens would outlive it; raise it or lower ACCESS_TOKEN_TTL", u.SessionMaxAge, accessTTL)
	}
	return u
}
