// Package httpapi assembles kanban-mcp's HTTP surface: the MCP endpoint,
// the protected-resource metadata, the health checks, and the middleware
// every request passes (access log, metrics, traces, Host check, CORS).
//
// # What mcp-go answers, and what it does not
//
// The endpoint reads each body once and parses its JSON-RPC envelope once
// (rpcEnvelope: method, id, tool name) for the access log, the metrics,
// the large-answer slots and the decision below.
//
//   - A plain tools/list (an id, no cursor, no _meta, a protocol version
//     header absent or before 2026-07-28, Content-Type application/json)
//     is answered from bytes encoded at start-up (listAnswers): the list
//     is the same for every caller, and mcp-go's answer to it, with the
//     top-level securitySchemes added, was made once per version by
//     mcp-go itself. Only the id is written per request.
//     TestToolsListAnswersAreMCPGos checks that every shape of request
//     gets exactly what mcp-go would answer.
//   - Everything else goes through mcp-go: initialize and ping, tools/call
//     (mcp-go decodes the arguments into the request it hands the tool,
//     and validates output when VALIDATE_OUTPUT is on), resources/*, a
//     tools/list with a cursor or _meta, requests of protocol version
//     2026-07-28 (mcp-go's own checks of them: Last-Event-ID, the version
//     in the body against the header's), batches, notifications and
//     anything malformed, whose errors are mcp-go's to word.
//
// mcp-go's entry point (StreamableHTTPServer.Handle) takes the body's
// bytes, not a parsed message, so each request that goes its way is
// parsed a second time there, once for its envelope and once for its
// params: BenchmarkEnvelope measures what the endpoint's own parse adds.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/hostclient"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
	"github.com/kanban-mcp/kanban-mcp/metrics"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/tools"
	"github.com/kanban-mcp/kanban-mcp/tracing"
	"github.com/kanban-mcp/kanban-mcp/widget"
)

// Options configure the HTTP surface.
type Options struct {
	BaseURL            string // public origin, no trailing slash
	Issuer             string // the authorization server, empty when none
	AllowedHosts       []string
	TrustedProxyHeader string
	Challenge          auth.ChallengeMode
	// WidgetDomain is the widget's dedicated origin ("" for none);
	// AppsChallenge, OpenAI's domain-verification token ("" serves none).
	WidgetDomain, AppsChallenge string
	// PrivacyURL and TermsURL are what the root page links (LegalURLs).
	PrivacyURL, TermsURL string
	// InBandUserAgents are the user agents that Challenge auto answers
	// in-band (config.Config.InBandUserAgents); nil means
	// hostclient.DefaultInBandUserAgents().
	InBandUserAgents []string
	Version          string

	Store store.Store
	Audit tools.Recorder
	// Authenticator checks bearer tokens on /mcp.
	Authenticator *auth.Authenticator
	// KeysReady reports whether token-signing keys are loaded; nil when
	// there is no issuer to load keys from.
	KeysReady func() bool
	// Ready holds further readiness checks by name (e.g. "users" for the
	// built-in authorization server): a non-empty answer is the problem,
	// and makes /readyz answer 503.
	Ready map[string]func(ctx context.Context) string
	// Warn holds checks whose problems /readyz reports without answering
	// 503 (e.g. "disk" when free space runs low): the server still serves,
	// and taking it out of rotation would turn a warning into an outage.
	Warn map[string]func(ctx context.Context) string
	// Mount registers further routes on the mux (the built-in
	// authorization server's endpoints and pages); nil adds none.
	Mount  func(mux Mux)
	Logger *slog.Logger
	// Metrics is what the server counts; nil counts nothing.
	Metrics *metrics.Registry
	// Tracer gives requests, tool calls and store operations spans; nil
	// (traces off) gives none.
	Tracer *tracing.Tracer

	// everyListThroughMCPGo sends every tools/list to mcp-go, for the
	// test that the encoded answers are mcp-go's.
	everyListThroughMCPGo bool
	// Tools to serve; nil means tools.All().
	Tools []tools.Tool
	// Scopes the tools may require; nil means tools.ScopeSet(). The
	// protected resource metadata lists its defaults.
	Scopes *auth.ScopeSet
	// ValidateOutput checks every tool result against its output schema
	// (config.Config.ValidateOutput).
	ValidateOutput bool
	// LargeAnswers is how many answers of tools declared LargeAnswer are
	// built at once; more calls wait. Zero means DefaultLargeAnswers().
	LargeAnswers int
	// AnswerMemory bounds the bytes of built large answers waiting to be
	// read by their clients, and BodyMemory the bytes of request bodies
	// being served; more requests wait. Zero means DefaultAnswerMemory and
	// DefaultBodyMemory.
	AnswerMemory, BodyMemory int64
}

// Server is the HTTP surface.
type Server struct {
	handler http.Handler
	mcp     *server.StreamableHTTPServer
}

// Resource returns the MCP endpoint's canonical URI for a base URL.
func Resource(baseURL string) string { return baseURL + "/mcp" }

// ResourceMetadataURL returns the URL of the path-aware protected-resource
// metadata for a base URL; challenges point here.
func ResourceMetadataURL(baseURL string) string {
	return baseURL + server.ProtectedResourceMetadataPath(Resource(baseURL))
}

// New builds the server.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Tools == nil {
		opts.Tools = tools.All()
	}
	if opts.Metrics == nil {
		// Every part's metrics are nil: they count nothing.
		opts.Metrics = &metrics.Registry{}
	}
	if opts.Authenticator == nil {
		return nil, errors.New("httpapi: an Authenticator is required")
	}
	if opts.Scopes == nil {
		scopes, err := tools.ScopeSet()
		if err != nil {
			return nil, err
		}
		opts.Scopes = scopes
	}

	serverOpts := []server.ServerOption{
		server.WithToolCapabilities(false),
		server.WithResourceCapabilities(false, false),
		// The board widget (MCP Apps): hosts that render UI read it with
		// resources/read; others ignore it.
		server.WithExtensions(widget.Capability()),
		server.WithRecovery(),
		server.WithInstructions(tools.Instructions(opts.Tools, opts.Scopes)),
		// What app directories show: a title, an icon, and a website whose
		// page links the privacy policy and the terms.
		server.WithTitle(Title),
		server.WithWebsiteURL(opts.BaseURL + "/"),
		server.WithIcons(serverIcons(opts.BaseURL)...),
	}
	if opts.ValidateOutput {
		// The output schemas are generated from the very types the handlers
		// return, so this never fires in a correct build; the tests turn it
		// on to make any drift a loud failure. It re-encodes and validates
		// every result, about a third of get_board's CPU, hence off in
		// production.
		serverOpts = append(serverOpts, server.WithOutputSchemaValidation())
	}
	mcpServer := server.NewMCPServer(product.Name, opts.Version, serverOpts...)
	mcpServer.AddResource(widget.Resource(opts.WidgetDomain), widget.Reader(opts.WidgetDomain))
	registry, err := tools.Register(mcpServer, tools.Options{
		Store:            opts.Store,
		Audit:            opts.Audit,
		Scopes:           opts.Scopes,
		Challenge:        opts.Challenge,
		ResourceMetadata: ResourceMetadataURL(opts.BaseURL),
		Icons:            serverIcons(opts.BaseURL),
		Logger:           opts.Logger,
		Metrics:          opts.Metrics.Tools,
		AuthMetrics:      opts.Metrics.Auth,
		Tracer:           opts.Tracer,
	}, opts.Tools...)
	if err != nil {
		return nil, err
	}
	streamable := server.NewStreamableHTTPServer(mcpServer,
		server.WithStateLess(true),
		server.WithDisableStreaming(true),
		// Our hostPolicy replaces mcp-go's loopback-only guard, which would
		// reject tunnel and proxy host names.
		server.WithDisableLocalhostProtection(true),
		server.WithStreamableHTTPLogger(opts.Logger),
	)
	if opts.InBandUserAgents == nil {
		opts.InBandUserAgents = hostclient.DefaultInBandUserAgents()
	}
	clients, err := hostclient.NewClassifier(opts.InBandUserAgents)
	if err != nil {
		return nil, fmt.Errorf("httpapi: in-band user agents: %w", err)
	}
	endpoint, err := newMCPEndpoint(streamable, opts.Logger, opts.Authenticator, registry, clients, opts.Tools,
		memoryLimits{largeAnswers: opts.LargeAnswers, answerBytes: opts.AnswerMemory, bodyBytes: opts.BodyMemory,
			everyListThroughMCPGo: opts.everyListThroughMCPGo})
	if err != nil {
		return nil, err
	}

	var authServers []string
	if opts.Issuer != "" {
		authServers = []string{opts.Issuer}
	}
	// Only the defaults: a client with no scope from a challenge asks for
	// scopes_supported (MCP 2026-07-28), and reaches the others by step-up.
	scopes := auth.Strings(opts.Scopes.Defaults())
	prm := server.NewProtectedResourceMetadataHandler(server.ProtectedResourceMetadataConfig{
		Resource:               Resource(opts.BaseURL),
		AuthorizationServers:   authServers,
		ScopesSupported:        scopes,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           product.Name,
	})

	hosts := newHostPolicy(opts.BaseURL, opts.AllowedHosts)
	root := http.NewServeMux()
	mux := countedMux{mux: root, metrics: opts.Metrics.HTTP}
	mux.Handle("/mcp", hosts.mcpCORS(endpoint))
	mux.Handle("/.well-known/oauth-protected-resource", prm)
	mux.Handle("/.well-known/oauth-protected-resource/mcp", prm)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", readiness(opts.Store, opts.KeysReady, opts.Ready, opts.Warn))
	if opts.Mount != nil {
		opts.Mount(mux)
	}
	if err := mountSite(mux, opts.AppsChallenge); err != nil {
		return nil, fmt.Errorf("httpapi: site pages: %w", err)
	}
	privacy, terms := LegalURLs(opts.BaseURL, opts.PrivacyURL, opts.TermsURL)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s %s\nMCP endpoint (Streamable HTTP): %s\nPrivacy: %s\nTerms of use: %s\n",
			product.Name, opts.Version, Resource(opts.BaseURL), privacy, terms)
	})

	return &Server{
		handler: accessLog(opts.Logger, opts.TrustedProxyHeader, opts.Metrics.HTTP, opts.Tracer, hosts.checkHost(root)),
		mcp:     streamable,
	}, nil
}

// Handler returns the root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Shutdown ends mcp-go's sessions; call it before http.Server.Shutdown.
func (s *Server) Shutdown(ctx context.Context) error { return s.mcp.Shutdown(ctx) }

// readiness reports whether the database answers and, when there is an
// issuer, whether its signing keys are loaded, with the further checks and
// warnings by name.
func readiness(st store.Store, keysReady func() bool, more, warn map[string]func(context.Context) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		checks := map[string]string{"database": "ok", "signing_keys": "ok"}
		ready := true
		if err := st.Ping(ctx); err != nil {
			checks["database"], ready = "unreachable", false
		}
		switch {
		case keysReady == nil:
			checks["signing_keys"] = "no issuer configured"
		case !keysReady():
			checks["signing_keys"], ready = "not loaded yet", false
		}
		for name, check := range more {
			checks[name] = "ok"
			if problem := check(ctx); problem != "" {
				checks[name], ready = problem, false
			}
		}
		for name, check := range warn {
			checks[name] = "ok"
			if problem := check(ctx); problem != "" {
				checks[name] = problem
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ready, "checks": checks})
	}
}

// NewHTTPServer wraps h in an http.Server with the limits every listener
// of this program uses: slow or oversized headers and bodies are cut off
// (slowloris), idle connections are closed. errorLog may be nil.
func NewHTTPServer(h http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errorLog,
	}
}
