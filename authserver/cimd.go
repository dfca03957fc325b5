package authserver

// Client ID Metadata Documents (CIMD,
// draft-ietf-oauth-client-id-metadata-document, which the MCP 2025-11-25
// authorization spec adopts): a client whose client_id is an https URL is
// not registered here; its metadata is the JSON document served at that URL.
//
// Fetching a URL that anyone may type is a server-side request forgery
// hazard, so CIMDFetcher:
//
//   - fetches https only, and connects only to public unicast addresses. The
//     check runs in net.Dialer.Control on the address actually being dialled,
//     after DNS resolution, so a host name that resolves (or re-resolves, DNS
//     rebinding) to 127.0.0.1, 10.x, 169.254.169.254 and the like is refused
//     at connect time. Proxies are disabled so that the dialled address is
//     the real peer.
//   - never follows redirects (the draft: "MUST NOT automatically follow
//     HTTP redirects"), and accepts only 200 with a JSON content type.
//   - bounds every fetch in time and size, and caches the result, so the
//     third party behind a client_id is not fetched once per request.
//   - limits the fetches anyone can make it start: a few per minute per
//     requester (the caller's address), and a fixed number in flight at
//     once from everybody. Without that, each distinct client_id sent to
//     the open authorization, token and revocation endpoints would make
//     this server send a request wherever the client_id points: a
//     reflector for anyone's traffic.
//   - keeps failures in a cache of their own, so that junk client_ids
//     cannot push good documents (ChatGPT's, say) out of the cache.

import (
	"bytes"
	"container/list"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/product"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
	"github.com/kanban-mcp/kanban-mcp/metrics"
)

// SourceCIMD: a client whose client_id is an https URL and whose metadata
// comes from the document at that URL (CIMDFetcher). Such clients are not
// stored in the clients table; their metadata lives in the fetcher's cache.
const SourceCIMD ClientSource = "cimd"

// CIMD limits and the defaults of CIMDOptions.
const (
	// MaxCIMDClientIDLen bounds a client_id URL: long enough for any real
	// metadata URL, short enough to keep it out of abuse as a data carrier.
	MaxCIMDClientIDLen = 2048

	// DefaultCIMDTimeout bounds one fetch: connect, TLS, headers and body.
	DefaultCIMDTimeout = 5 * time.Second
	// DefaultCIMDMaxBytes caps the body read. The draft recommends 5 KB;
	// 64 KiB admits every document ValidateRegistration can accept
	// (MaxRedirectURIs URIs of up to MaxRedirectURILen bytes, about 40 KB)
	// plus the metadata this server ignores (logo_uri, jwks, …), while still
	// bounding the memory one fetch can take.
	DefaultCIMDMaxBytes = 64 << 10
	// DefaultCIMDTTL is how long a document without freshness information
	// (no Cache-Control max-age, no Expires) is kept: long enough that one
	// sign-in (authorize, consent, token) and the refreshes around it cost
	// one fetch, short enough that a change to the document (a redirect
	// URI withdrawn after a compromise) takes effect within minutes.
	DefaultCIMDTTL = 5 * time.Minute
	// DefaultCIMDMinTTL is the least time a good document is kept, whatever
	// its headers say (no-store, no-cache, max-age=0 included). The draft
	// lets the server set "its own upper and/or lower bounds"; the floor
	// keeps a document that forbids caching from turning every request to
	// this server into a request to its host.
	DefaultCIMDMinTTL = time.Minute
	// DefaultCIMDMaxTTL is the most time a document is kept, whatever its
	// headers say: the draft asks servers to "periodically re-fetch" the
	// document, and a withdrawn redirect URI must stop working within a day.
	DefaultCIMDMaxTTL = 24 * time.Hour
	// DefaultCIMDFailureTTL is how long a failed fetch is remembered. See
	// CIMDOptions.FailureTTL.
	DefaultCIMDFailureTTL = 30 * time.Second
	// DefaultCIMDMaxEntries bounds the cache of good documents.
	DefaultCIMDMaxEntries = 1000
	// DefaultCIMDMaxFailures bounds the cache of failed fetches.
	DefaultCIMDMaxFailures = 1000

	// DefaultCIMDRequesterFetches fetches per DefaultCIMDRequesterWindow
	// may be started by one requester, all at once if it likes. A person
	// signing in, or a client's backend, needs one document, fetched once
	// per cache lifetime; ten a minute leaves room for a developer trying
	// out client_ids, and bounds what one address can make this server
	// send elsewhere to one request every six seconds.
	DefaultCIMDRequesterFetches = 10
	DefaultCIMDRequesterWindow  = time.Minute
	// DefaultCIMDMaxInFlight bounds the fetches running at once, from all
	// requesters together: the memory and connections they hold, and what
	// many addresses together can make this server send. Slots free up
	// within the fetch timeout at the latest; lookups answered from the
	// cache need none.
	DefaultCIMDMaxInFlight = 16
)

// CIMDOptions tune NewCIMDFetcher. The zero value is the production
// configuration.
type CIMDOptions struct {
	// Timeout bounds one fetch; 0 means DefaultCIMDTimeout.
	Timeout time.Duration
	// WrapTransport, when set, wraps the guarded transport that fetches
	// run on (a tracing one, for instance); what it wraps still decides
	// which addresses may be reached.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// MaxBytes caps the document size; 0 means DefaultCIMDMaxBytes. A
	// larger document is refused, not truncated.
	MaxBytes int64
	// DefaultTTL, MinTTL and MaxTTL: how long a good document is cached
	// (Cache-Control max-age / s-maxage, else Expires, else DefaultTTL,
	// then bounded to [MinTTL, MaxTTL]). 0 means DefaultCIMDTTL,
	// DefaultCIMDMinTTL and DefaultCIMDMaxTTL.
	DefaultTTL, MinTTL, MaxTTL time.Duration
	// FailureTTL: how long a failed fetch (network error, bad status,
	// invalid document, …) is answered from memory without fetching again.
	// 0 means DefaultCIMDFailureTTL; a negative value turns it off.
	//
	// The draft says the server "MUST NOT cache error responses" and
	// "MUST NOT cache documents which are invalid or malformed": no error
	// response and no invalid document is ever kept or used as a client
	// here. What is remembered is only that the URL failed, so that a
	// client_id pointing at someone else's server (or at a slow one)
	// cannot be used to make this server send it a request per incoming
	// request. The delay is kept short so that a fixed document is picked
	// up by the time a person retries.
	FailureTTL time.Duration
	// MaxEntries bounds the cache of good documents; 0 means
	// DefaultCIMDMaxEntries. When it is full, the least recently used
	// document goes.
	MaxEntries int
	// MaxFailures bounds the cache of failures, which is separate from the
	// documents' so that failures never evict a document; 0 means
	// DefaultCIMDMaxFailures. When it is full, the oldest failure goes.
	MaxFailures int
	// RequesterFetches and RequesterWindow limit the fetches one
	// requester (the key Client is given) may start: RequesterFetches at
	// once, and one more every RequesterWindow/RequesterFetches. Lookups
	// answered from the cache, or joining a fetch already running, do not
	// count. 0 means DefaultCIMDRequesterFetches and
	// DefaultCIMDRequesterWindow.
	RequesterFetches int
	RequesterWindow  time.Duration
	// MaxInFlight bounds the fetches running at once, from all requesters;
	// 0 means DefaultCIMDMaxInFlight.
	MaxInFlight int
	// Limits keeps the per-requester counts (as ServerOptions.Limits does
	// the server's): nil keeps them in this process's memory; replicas
	// pass one on their shared database, so that a requester's fetches
	// count on every replica. A lookup whose count cannot be had is
	// refused as CIMDBusy, never fetched without a limit. (The bound on
	// fetches in flight stays per process: it bounds what each process
	// holds.)
	Limits ratelimit.Backend
	// Now returns the current time (cache expiry only); nil means time.Now.
	Now func() time.Time
	// RootCAs verifies the document servers' certificates; nil means the
	// system roots.
	RootCAs *x509.CertPool

	// UnsafeAllowAddressesForTests, FOR TESTS ONLY: when set, it replaces
	// the address check. A connection is made to an address if and only if
	// it returns true. Tests set it to allow exactly 127.0.0.1 and ::1 so
	// that they can reach a local httptest TLS server and nothing else.
	//
	// Never set it from configuration. It is a function, not a flag or an
	// address list, precisely so that no environment variable, command-line
	// flag or configuration file can turn it on: only Go code can, and
	// TestCIMDUnsafeSwitchIsSetOnlyInTests fails if any non-test file of
	// the module other than this one mentions it. It is exported (rather
	// than set through an export_test.go hook) because the end-to-end tests
	// of package main need it too.
	UnsafeAllowAddressesForTests func(netip.Addr) bool
}

// CIMDErrorKind classifies a CIMDError.
type CIMDErrorKind string

// The kinds of CIMDError.
const (
	// CIMDInvalidClientID: the client_id is not an acceptable client ID
	// URL (IsCIMDClientID is false); nothing was fetched.
	CIMDInvalidClientID CIMDErrorKind = "invalid_client_id_url"
	// CIMDAddressNotAllowed: the host resolves only to addresses this
	// server does not connect to (loopback, private, link-local, …).
	CIMDAddressNotAllowed CIMDErrorKind = "address_not_allowed"
	// CIMDFetchFailed: DNS, connection or TLS failure.
	CIMDFetchFailed CIMDErrorKind = "fetch_failed"
	// CIMDTimeout: no complete answer within the timeout.
	CIMDTimeout CIMDErrorKind = "timeout"
	// CIMDRedirect: the server answered with a redirect, which is not
	// followed.
	CIMDRedirect CIMDErrorKind = "redirect"
	// CIMDBadStatus: the server answered with a status other than 200.
	CIMDBadStatus CIMDErrorKind = "bad_status"
	// CIMDNotJSON: the document was not served with a JSON content type.
	CIMDNotJSON CIMDErrorKind = "not_json"
	// CIMDTooLarge: the document is larger than the size cap.
	CIMDTooLarge CIMDErrorKind = "too_large"
	// CIMDInvalidDocument: the document breaks the CIMD or registration
	// rules (client_id mismatch, bad redirect URIs, a client secret, …).
	CIMDInvalidDocument CIMDErrorKind = "invalid_document"
	// CIMDUnsupportedAuthMethod: the document is valid, but the client
	// offers no token endpoint authentication method this server supports
	// (only "none" is; the draft names unauthorized_client for this case).
	CIMDUnsupportedAuthMethod CIMDErrorKind = "unsupported_auth_method"

	// The two kinds below say nothing about the document: nothing was
	// fetched, and nothing is cached. CIMDError.RetryAfter says when to try
	// again.

	// CIMDRateLimited: the requester has started too many fetches lately.
	CIMDRateLimited CIMDErrorKind = "rate_limited"
	// CIMDBusy: too many fetches are in flight right now, or the
	// requester's count of fetches cannot be had (its database is down).
	CIMDBusy CIMDErrorKind = "busy"
)

// CIMDError is why a client's metadata document could not be used. Error()
// and Reason are meant for the person who sees the error page: they name
// the client_id URL and its host, never an address the host resolved to or
// where a redirect pointed. The wrapped cause (Unwrap) is for logs only.
type CIMDError struct {
	Kind     CIMDErrorKind
	ClientID string
	// Reason completes "the client metadata document at <client_id> …".
	Reason string
	// RetryAfter, for CIMDRateLimited and CIMDBusy, is how long to wait
	// before trying again.
	RetryAfter time.Duration
	cause      error
}

// Limited reports whether the document was not fetched because of a limit
// (CIMDRateLimited, CIMDBusy): the request may succeed later, unchanged.
func (e *CIMDError) Limited() bool { return e.Kind == CIMDRateLimited || e.Kind == CIMDBusy }

func (e *CIMDError) Error() string {
	return "client metadata document " + quoteShort(e.ClientID) + ": " + e.Reason
}

// Unwrap returns the underlying error (a *RegistrationError, a network
// error, …), if any.
func (e *CIMDError) Unwrap() error { return e.cause }

// IsCIMDClientID reports whether clientID is a client identifier URL
// (draft-ietf-oauth-client-id-metadata-document §3): an https URL with a
// host and a path, without user information, fragment or dot segments, of
// at most MaxCIMDClientIDLen bytes of printable ASCII. A port and a query
// are allowed (the draft: "MAY contain a port", a query "SHOULD NOT" be
// used). Client IDs this server generates are never URLs (newClientID).
func IsCIMDClientID(clientID string) bool {
	return cimdClientIDProblem(clientID) == ""
}

// cimdClientIDProblem returns "" when clientID is an acceptable client ID
// URL, or completes the sentence "the client_id …".
func cimdClientIDProblem(raw string) string {
	switch {
	case raw == "":
		return "is empty"
	case len(raw) > MaxCIMDClientIDLen:
		return fmt.Sprintf("is %d bytes long; at most %d are allowed", len(raw), MaxCIMDClientIDLen)
	case strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		return "must be printable ASCII without spaces"
	case !strings.HasPrefix(raw, "https://"):
		// Lower case only: client IDs are compared as strings, and the
		// document must name exactly this URL.
		return "is not an https URL"
	case strings.Contains(raw, "#"):
		return "must not contain a fragment"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URL"
	}
	switch {
	case u.User != nil:
		return "must not contain user information (user@)"
	case u.Host == "" || u.Hostname() == "":
		return "must name a host"
	case strings.Contains(u.Host, "%"):
		return "must not contain an IPv6 zone"
	case u.EscapedPath() == "":
		return "must contain a path (https://host/path)"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "has an invalid port"
		}
	}
	for seg := range strings.SplitSeq(u.EscapedPath(), "/") {
		// %2e is "." too, to any server that decodes before resolving.
		if s, err := url.PathUnescape(seg); err != nil || s == "." || s == ".." {
			return "must not contain . or .. path segments"
		}
	}
	return ""
}

// CIMDFetcher fetches, validates and caches client metadata documents. It
// is safe for concurrent use; concurrent lookups of one client_id share a
// single fetch.
type CIMDFetcher struct {
	http        *http.Client
	now         func() time.Time
	maxBytes    int64
	timeout     time.Duration
	defaultTTL  time.Duration
	minTTL      time.Duration
	maxTTL      time.Duration
	failureTTL  time.Duration // <= 0: failures are not remembered
	maxInFlight int
	// perRequester limits the fetches each requester starts.
	perRequester ratelimit.WindowLimiter
	// metrics counts fetches and throttled lookups; NewServer sets it
	// (countIn). Atomic, so that setting it never races a lookup.
	metrics atomic.Pointer[metrics.AuthServer]

	mu       sync.Mutex
	docs     *cimdCache // good documents, least recently used first
	failures *cimdCache // failed fetches, oldest first
	inflight map[string]*cimdCall

	// testHookJoined, when set (by tests, before any lookup), is called each
	// time a lookup joins a fetch already in flight.
	testHookJoined func()
}

// cimdEntry is a cached outcome: a client, or the error of a failed fetch.
type cimdEntry struct {
	key     string
	client  Client
	err     error
	expires time.Time
	elem    *list.Element
}

// cimdCache is a bounded map of outcomes by client_id. When full, the entry
// at the front of its order goes.
type cimdCache struct {
	max     int
	entries map[string]*cimdEntry
	order   *list.List // of *cimdEntry
}

func newCIMDCache(maxEntries int) *cimdCache {
	return &cimdCache{max: maxEntries, entries: map[string]*cimdEntry{}, order: list.New()}
}

// get returns key's entry while it is fresh at now (and drops it once it
// is not). touch moves it to the back of the order: recently used.
func (c *cimdCache) get(key string, now time.Time, touch bool) (*cimdEntry, bool) {
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		c.remove(e)
		return nil, false
	}
	if touch {
		c.order.MoveToBack(e.elem)
	}
	return e, true
}

// put stores e, replacing key's entry if any, evicting from the front of
// the order to stay within max.
func (c *cimdCache) put(e *cimdEntry) {
	if old, ok := c.entries[e.key]; ok {
		c.remove(old)
	}
	for c.order.Len() >= c.max {
		c.remove(c.order.Front().Value.(*cimdEntry))
	}
	e.elem = c.order.PushBack(e)
	c.entries[e.key] = e
}

func (c *cimdCache) remove(e *cimdEntry) {
	c.order.Remove(e.elem)
	delete(c.entries, e.key)
}

func (c *cimdCache) len() int { return c.order.Len() }

// cimdCall is a fetch in flight; done is closed once client and err are
// set.
type cimdCall struct {
	done   chan struct{}
	client Client
	err    error
}

// NewCIMDFetcher returns a fetcher configured by opts (zero values mean the
// defaults).
func NewCIMDFetcher(opts CIMDOptions) *CIMDFetcher {
	orDefault := func(d, def time.Duration) time.Duration {
		if d <= 0 {
			return def
		}
		return d
	}
	orDefaultN := func(n, def int) int {
		if n <= 0 {
			return def
		}
		return n
	}
	f := &CIMDFetcher{
		now:         opts.Now,
		maxBytes:    opts.MaxBytes,
		timeout:     orDefault(opts.Timeout, DefaultCIMDTimeout),
		defaultTTL:  orDefault(opts.DefaultTTL, DefaultCIMDTTL),
		minTTL:      orDefault(opts.MinTTL, DefaultCIMDMinTTL),
		maxTTL:      orDefault(opts.MaxTTL, DefaultCIMDMaxTTL),
		failureTTL:  opts.FailureTTL,
		maxInFlight: orDefaultN(opts.MaxInFlight, DefaultCIMDMaxInFlight),
		docs:        newCIMDCache(orDefaultN(opts.MaxEntries, DefaultCIMDMaxEntries)),
		failures:    newCIMDCache(orDefaultN(opts.MaxFailures, DefaultCIMDMaxFailures)),
		inflight:    map[string]*cimdCall{},
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.maxBytes <= 0 {
		f.maxBytes = DefaultCIMDMaxBytes
	}
	if f.minTTL > f.maxTTL {
		f.minTTL = f.maxTTL
	}
	if f.failureTTL == 0 {
		f.failureTTL = DefaultCIMDFailureTTL
	}
	limits := opts.Limits
	if limits == nil {
		limits = ratelimit.Memory{}
	}
	f.perRequester = limits.Window("authserver.cimd-requester", ratelimit.WindowOptions{
		Rate: orDefaultN(opts.RequesterFetches, DefaultCIMDRequesterFetches),
		Per:  orDefault(opts.RequesterWindow, DefaultCIMDRequesterWindow),
		Now:  f.now,
	})

	allowed := opts.UnsafeAllowAddressesForTests
	if allowed == nil {
		allowed = cimdAddressAllowed
	}
	dialer := &net.Dialer{
		Timeout:   f.timeout,
		KeepAlive: 30 * time.Second,
		// Control runs for every address the dialer tries, after DNS
		// resolution and before connect(2): what is checked is what is
		// connected to, whatever the name resolved to a moment earlier.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &cimdAddressError{address: address}
			}
			if !allowed(ap.Addr().Unmap()) {
				return &cimdAddressError{address: address}
			}
			return nil
		},
	}
	transport := &http.Transport{
		// No proxy, whatever HTTPS_PROXY says: through a proxy, the
		// dialled address would be the proxy's, and the check above would
		// say nothing about where the request really goes.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    f.timeout,
		ResponseHeaderTimeout:  f.timeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
	}
	var rt http.RoundTripper = transport
	if opts.WrapTransport != nil {
		rt = opts.WrapTransport(rt)
	}
	f.http = &http.Client{
		Transport: rt,
		// Never follow a redirect: hand the 3xx back, and fetch refuses it.
		// (A redirect could point anywhere, and the draft forbids
		// following it.)
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       f.timeout,
	}
	return f
}

// countIn makes f count its fetches in m. A nil m leaves the counters as
// they are, so that a server built without metrics does not silence a
// fetcher it shares with one built with them.
func (f *CIMDFetcher) countIn(m *metrics.AuthServer) {
	if m != nil {
		f.metrics.Store(m)
	}
}

// Client returns the client whose client_id is the URL clientID, from the
// cache or by fetching its metadata document. The client is public (token
// endpoint auth method "none"), its Source is SourceCIMD, and its
// CreatedAt is when the document was fetched.
//
// requester identifies who asks, for the per-requester limit on fetches:
// the network of the caller's address (clientip.Network). A lookup that
// would start a fetch is refused, with nothing fetched or cached, when the
// requester has started too many lately (CIMDRateLimited), or too many
// fetches are running or the requester's count cannot be had (CIMDBusy).
//
// Errors are *CIMDError (cached for FailureTTL, unless Limited), or the
// error of ctx when it ends first; the fetch itself then goes on, bounded
// by the timeout, for the others waiting on it and for the cache.
func (f *CIMDFetcher) Client(ctx context.Context, clientID, requester string) (Client, error) {
	if problem := cimdClientIDProblem(clientID); problem != "" {
		return Client{}, &CIMDError{Kind: CIMDInvalidClientID, ClientID: clientID, Reason: "the client_id " + problem}
	}

	var call *cimdCall
	var joined bool
	for allowed := false; ; {
		f.mu.Lock()
		now := f.now()
		if e, ok := f.docs.get(clientID, now, true); ok {
			f.mu.Unlock()
			return cimdCloneClient(e.client), nil
		}
		if e, ok := f.failures.get(clientID, now, false); ok {
			f.mu.Unlock()
			return Client{}, e.err
		}
		call, joined = f.inflight[clientID]
		if joined {
			break
		}
		// The global cap first, so that a refusal for it does not spend
		// the requester's allowance.
		if len(f.inflight) >= f.maxInFlight {
			f.mu.Unlock()
			f.metrics.Load().ClientMetadataFetch("throttled")
			return Client{}, &CIMDError{Kind: CIMDBusy, ClientID: clientID, RetryAfter: f.timeout,
				Reason: "this server is fetching too many client metadata documents right now; try again in a few seconds"}
		}
		if allowed {
			call = &cimdCall{done: make(chan struct{})}
			f.inflight[clientID] = call
			// Detached from ctx: if the first caller gives up, the others
			// waiting on this fetch must not fail with its cancellation.
			go f.run(context.WithoutCancel(ctx), clientID, call)
			break
		}
		// The requester's limit may be in a database that replicas
		// share: asked without f.mu, which every lookup takes, and the
		// cache looked at again afterwards.
		f.mu.Unlock()
		ok, wait, err := f.perRequester.AllowN(ctx, requester, 1)
		switch {
		case err != nil:
			// Refused, not fetched without a limit; and no verdict on the
			// document, so nothing is cached.
			return Client{}, &CIMDError{Kind: CIMDBusy, ClientID: clientID, RetryAfter: unavailableRetryAfter, cause: err,
				Reason: "this server cannot count the fetches of client metadata documents right now; try again in a few seconds"}
		case !ok:
			f.metrics.Load().ClientMetadataFetch("throttled")
			return Client{}, &CIMDError{Kind: CIMDRateLimited, ClientID: clientID, RetryAfter: wait,
				Reason: fmt.Sprintf("too many client metadata documents were fetched for your address lately; try again in %s seconds", ratelimit.RetryAfterSeconds(wait))}
		}
		allowed = true
	}
	hook := f.testHookJoined
	f.mu.Unlock()
	if joined && hook != nil {
		hook()
	}

	select {
	case <-call.done:
		if call.err != nil {
			return Client{}, call.err
		}
		return cimdCloneClient(call.client), nil
	case <-ctx.Done():
		return Client{}, fmt.Errorf("authserver: client metadata document %s: %w", quoteShort(clientID), ctx.Err())
	}
}

// run fetches clientID for call, then caches the outcome.
func (f *CIMDFetcher) run(ctx context.Context, clientID string, call *cimdCall) {
	client, ttl, err := f.fetch(ctx, clientID)
	// Counted here, once per fetch: not per lookup answered from the
	// cache, nor per caller that joined the fetch.
	if err == nil {
		f.metrics.Load().ClientMetadataFetch("ok")
	} else {
		f.metrics.Load().ClientMetadataFetch("failed")
	}
	// The clock is read before anyone waiting learns the outcome, so that
	// the entry's lifetime starts when the lookups it answers return.
	now := f.now()

	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err == nil:
		f.docs.put(&cimdEntry{key: clientID, client: client, expires: now.Add(ttl)})
	case f.failureTTL > 0:
		f.failures.put(&cimdEntry{key: clientID, err: err, expires: now.Add(f.failureTTL)})
	}
	call.client, call.err = client, err
	delete(f.inflight, clientID)
	close(call.done)
}

// cimdCloneClient copies c's slices, so that a caller cannot change what the
// cache holds.
func cimdCloneClient(c Client) Client {
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.ResponseTypes = slices.Clone(c.ResponseTypes)
	return c
}

// fetch gets and validates the document at clientID, and returns the
// client and how long to cache it.
func (f *CIMDFetcher) fetch(ctx context.Context, clientID string) (Client, time.Duration, error) {
	fail := func(kind CIMDErrorKind, cause error, format string, args ...any) (Client, time.Duration, error) {
		return Client{}, 0, &CIMDError{Kind: kind, ClientID: clientID, Reason: fmt.Sprintf(format, args...), cause: cause}
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientID, nil)
	if err != nil {
		return fail(CIMDInvalidClientID, err, "the client_id is not a URL this server can fetch")
	}
	host := req.URL.Hostname()
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", product.Name+" (client metadata document fetcher)")

	resp, err := f.http.Do(req)
	if err == nil && ctx.Err() != nil {
		// An answer that arrived in the same instant as the deadline has no
		// time left to be read: the fetch timed out, whatever its headers say.
		resp.Body.Close()
		err = ctx.Err()
	}
	if err != nil {
		kind, reason := f.describeFetchError(host, err)
		return fail(kind, err, "%s", reason)
	}
	defer resp.Body.Close()

	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		// The Location is not repeated: it may name an internal address.
		return fail(CIMDRedirect, nil, "the server answered with a redirect (HTTP %d), which is not followed; the document must be served at the client_id URL itself", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return fail(CIMDBadStatus, nil, "the server answered HTTP %d instead of 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !cimdIsJSONContentType(ct) {
		if ct == "" {
			return fail(CIMDNotJSON, nil, "the document was served without a Content-Type; it must be application/json")
		}
		return fail(CIMDNotJSON, nil, "the document was served as %s; it must be application/json (or application/…+json)", quoteShort(ct))
	}
	if resp.ContentLength > f.maxBytes {
		return fail(CIMDTooLarge, nil, "the document is %d bytes long; at most %d are accepted", resp.ContentLength, f.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		kind, reason := f.describeFetchError(host, err)
		return fail(kind, err, "%s", reason)
	}
	if int64(len(body)) > f.maxBytes {
		return fail(CIMDTooLarge, nil, "the document is larger than %d bytes, the most accepted", f.maxBytes)
	}

	reg, err := parseCIMDDocument(clientID, body)
	if err != nil {
		return Client{}, 0, err
	}
	now := f.now()
	ttl := cimdLifetime(resp.Header, now, f.defaultTTL, f.minTTL, f.maxTTL)
	return Client{
		ID:                      clientID,
		Name:                    reg.ClientName,
		RedirectURIs:            reg.RedirectURIs,
		GrantTypes:              reg.GrantTypes,
		ResponseTypes:           reg.ResponseTypes,
		TokenEndpointAuthMethod: reg.TokenEndpointAuthMethod,
		ApplicationType:         reg.ApplicationType,
		Source:                  SourceCIMD,
		CreatedAt:               time.Unix(0, now.UnixNano()).UTC(),
	}, ttl, nil
}

// cimdAddressError is returned by the dialer's Control for an address that
// is not allowed. address is for logs; it never reaches CIMDError's text.
type cimdAddressError struct{ address string }

func (e *cimdAddressError) Error() string {
	return "connecting to " + e.address + " is not allowed (special-use address)"
}

// describeFetchError classifies a transport error and says what went wrong
// in words that name host and no address.
func (f *CIMDFetcher) describeFetchError(host string, err error) (CIMDErrorKind, string) {
	var addrErr *cimdAddressError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var netErr net.Error
	switch {
	case errors.As(err, &addrErr):
		return CIMDAddressNotAllowed, fmt.Sprintf("the host %s resolves to an address this server is not allowed to connect to (loopback, private, link-local or other special-use addresses are refused)", quoteShort(host))
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return CIMDTimeout, fmt.Sprintf("the host %s did not send the document within %v", quoteShort(host), f.timeout)
	case errors.As(err, &dnsErr):
		return CIMDFetchFailed, fmt.Sprintf("the host name %s could not be resolved", quoteShort(host))
	case errors.As(err, &certErr):
		return CIMDFetchFailed, fmt.Sprintf("the TLS certificate of %s is not valid or not trusted", quoteShort(host))
	default:
		return CIMDFetchFailed, fmt.Sprintf("the document could not be fetched from %s (connection or TLS failure)", quoteShort(host))
	}
}

// cimdIsJSONContentType reports whether ct is application/json or
// application/<something>+json, with any parameters.
func cimdIsJSONContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && (sub == "json" || len(sub) > len("+json") && strings.HasSuffix(sub, "+json"))
}

// cimdAddressAllowed reports whether the fetcher may connect to a: a
// public unicast address. Refused are the special-use ranges of RFC 6890
// and the IANA special-purpose registries that could lead to this host,
// its network, or the cloud metadata service: unspecified, loopback,
// private (RFC 1918, fc00::/7), shared CGNAT space, link-local (including
// 169.254.169.254), multicast, broadcast and reserved space, documentation
// and benchmarking ranges, and IPv6 forms that embed an IPv4 address
// (IPv4-mapped, 6to4, Teredo, NAT64) unless the embedded address passes.
func cimdAddressAllowed(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("").Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	if a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsMulticast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	if a.Is4() {
		for _, p := range []string{
			"0.0.0.0/8",       // "this network"
			"10.0.0.0/8",      // private (RFC 1918)
			"100.64.0.0/10",   // shared address space, carrier-grade NAT (RFC 6598)
			"127.0.0.0/8",     // loopback
			"169.254.0.0/16",  // link-local, cloud metadata services
			"172.16.0.0/12",   // private (RFC 1918)
			"192.0.0.0/24",    // IETF protocol assignments (DS-Lite, NAT64 discovery, …)
			"192.0.2.0/24",    // documentation (TEST-NET-1)
			"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
			"192.168.0.0/16",  // private (RFC 1918)
			"198.18.0.0/15",   // benchmarking
			"198.51.100.0/24", // documentation (TEST-NET-2)
			"203.0.113.0/24",  // documentation (TEST-NET-3)
			"224.0.0.0/4",     // multicast
			"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
		} {
			if netip.MustParsePrefix(p).Contains(a) {
				return false
			}
		}
		return true
	}
	// NAT64 (RFC 6052): 64:ff9b::a.b.c.d reaches a.b.c.d through a NAT64
	// gateway. Allowed when the embedded address is, so that a server on an
	// IPv6-only network with DNS64 can still fetch public documents.
	if netip.MustParsePrefix("64:ff9b::/96").Contains(a) {
		b := a.As16()
		return cimdAddressAllowed(netip.AddrFrom4([4]byte(b[12:])))
	}
	// Outside 2000::/3, global unicast, everything is special-use: ::/8
	// (IPv4-compatible, …), 100::/64 discard, 64:ff9b:1::/48 local NAT64,
	// fc00::/7, fe80::/10, fec0::/10, ff00::/8, and unallocated space.
	if !netip.MustParsePrefix("2000::/3").Contains(a) {
		return false
	}
	for _, p := range []string{
		"2001::/23",     // IETF protocol assignments, including Teredo 2001::/32
		"2001:db8::/32", // documentation
		"2002::/16",     // 6to4: embeds an IPv4 address
		"3fff::/20",     // documentation (RFC 9637)
	} {
		if netip.MustParsePrefix(p).Contains(a) {
			return false
		}
	}
	return true
}

// cimdLifetime is how long a document fetched at now with header h is
// cached: its freshness lifetime (RFC 9111 §4.2.1: s-maxage, which applies
// because this cache serves every user, else max-age, else Expires minus
// Date), less its Age, or def without any of them; no-store and no-cache
// ask for the minimum. The result is bounded to [lo, hi].
func cimdLifetime(h http.Header, now time.Time, def, lo, hi time.Duration) time.Duration {
	ttl := def
	if lifetime, ok := cimdFreshnessLifetime(h, now); ok {
		ttl = lifetime - cimdDeltaSeconds(h.Get("Age"), 0)
	}
	return max(lo, min(ttl, hi))
}

// cimdFreshnessLifetime returns the lifetime h gives, and whether it gives
// one. An invalid value counts as zero (RFC 9111 §5.3: an invalid Expires
// means "already expired").
func cimdFreshnessLifetime(h http.Header, now time.Time) (time.Duration, bool) {
	maxAge, sMaxAge := "", ""
	for _, line := range h.Values("Cache-Control") {
		for directive := range strings.SplitSeq(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(directive), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0, true
			case "max-age":
				maxAge = value
			case "s-maxage":
				sMaxAge = value
			}
		}
	}
	switch {
	case sMaxAge != "":
		return cimdDeltaSeconds(sMaxAge, 0), true
	case maxAge != "":
		return cimdDeltaSeconds(maxAge, 0), true
	}
	if exp := h.Get("Expires"); exp != "" {
		expires, err := http.ParseTime(exp)
		if err != nil {
			return 0, true
		}
		date, err := http.ParseTime(h.Get("Date"))
		if err != nil {
			date = now
		}
		return expires.Sub(date), true
	}
	return 0, false
}

// cimdDeltaSeconds parses an RFC 9111 delta-seconds value (optionally quoted),
// returning invalid for anything else. Values beyond 2^31 seconds, however
// many digits, count as 2^31 (RFC 9111 §1.2.2).
func cimdDeltaSeconds(s string, invalid time.Duration) time.Duration {
	const maxDelta = 1 << 31
	n, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(s), `"`), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		n, err = maxDelta, nil
	}
	if err != nil {
		return invalid
	}
	return time.Duration(min(n, maxDelta)) * time.Second
}

// The token endpoint authentication methods that rest on a shared secret,
// which a public document cannot carry (CIMD §4.1).
func cimdIsSharedSecretAuthMethod(m string) bool {
	return m == AuthMethodClientSecretBasic || m == AuthMethodClientSecretPost || m == "client_secret_jwt"
}

// parseCIMDDocument validates the document body fetched from clientID and
// returns the registration it amounts to, or a *CIMDError.
//
// Only the exact member names are read. encoding/json matches struct
// fields case-insensitively, so the document is never decoded into a
// struct as a whole: "Client_ID" must not count as client_id, nor hide a
// "client_secret". A member given twice is refused for the same reason:
// parsers disagree on which one wins.
func parseCIMDDocument(clientID string, body []byte) (Registration, error) {
	invalid := func(cause error, format string, args ...any) (Registration, error) {
		return Registration{}, &CIMDError{Kind: CIMDInvalidDocument, ClientID: clientID, Reason: "the document " + fmt.Sprintf(format, args...), cause: cause}
	}
	members, problem := cimdJSONObjectMembers(body)
	if problem != "" {
		return invalid(nil, "%s", problem)
	}
	// get decodes member name into dst; present is false when it is
	// absent or null.
	get := func(name string, dst any) (present bool, problem string) {
		raw, ok := members[name]
		if !ok || string(raw) == "null" {
			return false, ""
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			switch dst.(type) {
			case *string:
				return true, name + " must be a string"
			case *[]string:
				return true, name + " must be an array of strings"
			default:
				return true, name + " has the wrong type"
			}
		}
		return true, ""
	}

	var docClientID string
	present, problem := get("client_id", &docClientID)
	switch {
	case problem != "":
		return invalid(nil, "is invalid: %s", problem)
	case !present:
		return invalid(nil, "has no client_id; it must contain \"client_id\": %s", quoteShort(clientID))
	case docClientID != clientID:
		// Exact string comparison (CIMD §4, RFC 3986 §6.2.1): no trailing
		// slash, case or default-port leniency.
		return invalid(nil, "names the client_id %s, not the URL it was fetched from", quoteShort(docClientID))
	}
	for _, name := range []string{"client_secret", "client_secret_expires_at"} {
		if _, ok := members[name]; ok {
			return invalid(nil, "contains %s; a client metadata document is public and must not carry a secret", name)
		}
	}
	if problem := cimdJWKSPrivateKeyProblem(members["jwks"]); problem != "" {
		return invalid(nil, "%s", problem)
	}

	var req RegistrationRequest
	var method string
	var supported, grants, responses []string
	hasMethod, p1 := get("token_endpoint_auth_method", &method)
	hasSupported, p2 := get("token_endpoint_auth_methods_supported", &supported)
	_, p3 := get("redirect_uris", &req.RedirectURIs)
	hasGrants, p4 := get("grant_types", &grants)
	hasResponses, p5 := get("response_types", &responses)
	_, p6 := get("client_name", &req.ClientName)
	_, p7 := get("application_type", &req.ApplicationType)
	for _, p := range []string{p1, p2, p3, p4, p5, p6, p7} {
		if p != "" {
			return invalid(nil, "is invalid: %s", p)
		}
	}

	// Token endpoint authentication. The draft forbids shared-secret
	// methods, and a document may offer several methods through
	// token_endpoint_auth_methods_supported (OpenID RP Metadata Choices;
	// ChatGPT's offers ["none", "private_key_jwt"]). This server supports
	// only public clients, "none" with PKCE, so it picks "none" when the
	// client offers it, and refuses the client otherwise. With neither
	// member, the method is "none": RFC 7591's client_secret_basic default
	// cannot apply to a document that cannot hold a secret.
	offered := []string{AuthMethodNone}
	switch {
	case hasSupported:
		offered = supported
	case hasMethod:
		offered = []string{method}
	}
	for _, m := range append(slices.Clone(offered), method) {
		if cimdIsSharedSecretAuthMethod(m) {
			return invalid(nil, "offers the token endpoint auth method %s, which needs a shared secret; a client metadata document cannot establish one", quoteShort(m))
		}
	}
	if hasMethod && hasSupported && !slices.Contains(supported, method) {
		return invalid(nil, "is inconsistent: token_endpoint_auth_method %s is not listed in token_endpoint_auth_methods_supported", quoteShort(method))
	}
	if !slices.Contains(offered, AuthMethodNone) {
		return Registration{}, &CIMDError{Kind: CIMDUnsupportedAuthMethod, ClientID: clientID,
			Reason: fmt.Sprintf("offers only the token endpoint auth methods %s; this server accepts clients with a metadata document only as public clients (%q, with PKCE)",
				quoteShort(strings.Join(offered, ", ")), AuthMethodNone)}
	}
	req.TokenEndpointAuthMethod = AuthMethodNone

	// Grant and response types. A document is written for every
	// authorization server, so values this server does not support are
	// ignored rather than fatal, as long as the code flow is among them.
	if hasGrants {
		if !slices.Contains(grants, GrantAuthorizationCode) {
			return invalid(nil, "lists grant_types without %q, the only grant this server signs people in with", GrantAuthorizationCode)
		}
		req.GrantTypes = slices.DeleteFunc(slices.Clone(grants), func(g string) bool {
			return g != GrantAuthorizationCode && g != GrantRefreshToken
		})
	}
	if hasResponses {
		if !slices.Contains(responses, ResponseTypeCode) {
			return invalid(nil, "lists response_types without %q, the only response type this server supports", ResponseTypeCode)
		}
		req.ResponseTypes = []string{ResponseTypeCode}
	}

	// The rest (redirect URIs, application type, client name) follows the
	// rules of dynamic registration exactly.
	reg, err := ValidateRegistration(req)
	if err != nil {
		var regErr *RegistrationError
		if errors.As(err, &regErr) {
			return invalid(err, "is invalid: %s", regErr.Description)
		}
		return invalid(err, "is invalid")
	}
	return reg, nil
}

// cimdJSONObjectMembers splits body, which must be exactly one JSON object,
// into its members; problem completes "the document …" otherwise.
func cimdJSONObjectMembers(body []byte) (members map[string]json.RawMessage, problem string) {
	const notJSON = "is not valid JSON"
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, notJSON
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, "must be a JSON object"
	}
	members = map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notJSON
		}
		name, ok := tok.(string)
		if !ok {
			return nil, notJSON
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, notJSON
		}
		if _, dup := members[name]; dup {
			return nil, "contains the member " + quoteShort(name) + " twice"
		}
		members[name] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, notJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "has data after the JSON object"
	}
	return members, ""
}

// cimdJWKSPrivateKeyProblem checks an inline "jwks" member: the draft forbids
// private key material in the document. This server does not use the keys,
// but a document that publishes a private key is broken (or a trap), and
// is refused.
func cimdJWKSPrivateKeyProblem(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return "has a jwks member that is not a JSON Web Key Set"
	}
	for _, key := range set.Keys {
		// RSA and EC/OKP private parts ("d", "p", "q", "dp", "dq", "qi",
		// "oth") and symmetric keys ("k").
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := key[private]; ok {
				return "publishes private or symmetric key material in jwks; only public keys may appear"
			}
		}
	}
	return ""
}
