package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/kanban-mcp/kanban-mcp/metrics"
)

// KeyTiming tunes how the issuer's keys are fetched. Zero fields take the
// defaults in parentheses.
type KeyTiming struct {
	// Refresh is how often the key set is fetched in the background (1h).
	Refresh time.Duration
	// UnknownKID is the shortest gap between two fetches caused by tokens
	// with a kid we do not know (30s). It bounds how long a genuine key
	// rotation stays invisible after a hostile kid used the last fetch: a
	// rotated key is accepted at most this long after it appears.
	UnknownKID time.Duration
	// Wait is the longest a request waits for a fetch it caused (3s).
	Wait time.Duration
	// FetchTimeout bounds one discovery or key-set request (5s).
	FetchTimeout time.Duration
}

func (t KeyTiming) withDefaults() KeyTiming {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Refresh, time.Hour)
	def(&t.UnknownKID, 30*time.Second)
	def(&t.Wait, 3*time.Second)
	def(&t.FetchTimeout, 5*time.Second)
	return t
}

// maxKeySetBytes caps a discovery or JWKS response; real ones are a few KiB.
const maxKeySetBytes = 1 << 20

// remoteKeys holds an issuer's public keys in a jwkset memory storage that
// keyfunc reads, and refreshes it itself instead of through keyfunc's HTTP
// storage. The reason is keyfunc's unknown-kid refresh: it runs on the
// request's context under a rate limiter that a request may wait on for up
// to a minute, and a client that hangs up cancels the fetch and wastes the
// slot (SPEC-NOTES §5). Here, a fetch caused by an unknown kid runs on its
// own context, at most one request per UnknownKID interval waits for it, and
// that wait is bounded by Wait; every other request is answered at once.
type remoteKeys struct {
	issuer  string
	client  *http.Client
	timing  KeyTiming
	log     *slog.Logger
	storage *jwkset.MemoryJWKSet
	kf      keyfunc.Keyfunc

	jwksURL atomic.Pointer[string] // configured, or found by discovery
	loaded  atomic.Bool            // a key set has been fetched at least once

	fetchMu sync.Mutex // one fetch at a time

	mu          sync.Mutex
	lastUnknown time.Time // when a fetch for an unknown kid last started
	ctx         context.Context
	metrics     *metrics.Keys
}

// newRemoteKeys starts fetching the keys of issuer (from jwksURL when set,
// else by discovery) in the background; it does not wait for them. The
// background work stops when ctx ends.
func newRemoteKeys(ctx context.Context, issuer, jwksURL string, client *http.Client, timing KeyTiming, log *slog.Logger, m *metrics.Keys) (*remoteKeys, error) {
	storage := jwkset.NewMemoryStorage()
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: storage})
	if err != nil {
		return nil, fmt.Errorf("create keyfunc: %w", err)
	}
	k := &remoteKeys{
		issuer:  issuer,
		client:  client,
		timing:  timing.withDefaults(),
		log:     log,
		storage: storage,
		kf:      kf,
		ctx:     ctx,
		metrics: m,
	}
	if jwksURL != "" {
		k.jwksURL.Store(&jwksURL)
	}
	go k.run(ctx)
	return k, nil
}

// run loads the keys, retrying with backoff until the first success, then
// refreshes them every Refresh interval. A failed refresh keeps the keys
// already loaded, so an issuer outage does not stop verification.
func (k *remoteKeys) run(ctx context.Context) {
	backoff := time.Second
	for !k.loaded.Load() {
		if err := k.fetch(ctx); err != nil {
			k.log.Warn("cannot load the issuer's signing keys yet; tokens cannot be verified until they load",
				"issuer", k.issuer, "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Minute)
		}
	}
	ticker := time.NewTicker(k.timing.Refresh)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := k.fetch(ctx); err != nil {
				k.log.Warn("refreshing the issuer's signing keys failed; keeping the keys already loaded",
					"issuer", k.issuer, "err", err)
			}
		}
	}
}

// Ready reports whether keys have been loaded.
func (k *remoteKeys) Ready() bool { return k.loaded.Load() }

// Keyfunc returns the jwt.Keyfunc for one request. An unknown kid may start
// a fetch (see remoteKeys); ctx is the request's context and only bounds how
// long this request waits, never the fetch itself.
func (k *remoteKeys) Keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		key, err := k.kf.Keyfunc(t)
		if err == nil || !errors.Is(err, jwkset.ErrKeyNotFound) {
			return key, err
		}
		if !k.fetchForUnknownKID(ctx) {
			return nil, errUnknownKey
		}
		key, err = k.kf.Keyfunc(t)
		if errors.Is(err, jwkset.ErrKeyNotFound) {
			return nil, errUnknownKey
		}
		return key, err
	}
}

var errUnknownKey = errors.New("the token's signing key (kid) is not in the issuer's key set")

// fetchForUnknownKID starts a fetch unless one was started for an unknown
// kid within the last UnknownKID interval, and waits for it at most Wait.
// It reports whether a fetch finished in time, so that the caller may look
// the key up again.
func (k *remoteKeys) fetchForUnknownKID(ctx context.Context) bool {
	k.mu.Lock()
	if !k.lastUnknown.IsZero() && time.Since(k.lastUnknown) < k.timing.UnknownKID {
		k.mu.Unlock()
		return false
	}
	k.lastUnknown = time.Now()
	k.mu.Unlock()

	done := make(chan struct{})
	go func() {
		defer close(done)
		// The fetch runs on the server's context, not the request's: a
		// client that hangs up must not cancel it and waste the slot.
		if err := k.fetch(k.ctx); err != nil {
			k.log.Warn("fetching the issuer's signing keys for an unknown kid failed", "issuer", k.issuer, "err", err)
		}
	}()
	wait := time.NewTimer(k.timing.Wait)
	defer wait.Stop()
	select {
	case <-done:
		return true
	case <-wait.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// fetch loads the key set once (discovering its URL first if needed) and
// replaces the stored keys with it.
func (k *remoteKeys) fetch(ctx context.Context) error {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	err := k.load(ctx)
	k.metrics.Refreshed(err)
	return err
}

// load is one fetch of the key set; k.fetchMu is held.
func (k *remoteKeys) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, k.timing.FetchTimeout)
	defer cancel()

	u := k.jwksURL.Load()
	if u == nil {
		found, err := discoverJWKSURL(ctx, k.client, k.issuer)
		if err != nil {
			return err
		}
		u = &found
		k.jwksURL.Store(u)
	}
	var set jwkset.JWKSMarshal
	if err := getJSON(ctx, k.client, *u, &set); err != nil {
		return fmt.Errorf("fetch key set: %w", err)
	}
	keys := make([]jwkset.JWK, 0, len(set.Keys))
	for _, m := range set.Keys {
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			// A key of a type we cannot use (or a broken one) must not
			// hide the usable keys next to it.
			k.log.Debug("skipping a key in the issuer's key set", "kid", m.KID, "err", err)
			continue
		}
		keys = append(keys, jwk)
	}
	if len(keys) == 0 {
		return fmt.Errorf("key set at %s has no usable keys", *u)
	}
	if err := k.storage.KeyReplaceAll(ctx, keys); err != nil {
		return fmt.Errorf("store keys: %w", err)
	}
	k.loaded.Store(true)
	return nil
}

// DiscoveryURLs returns the metadata URLs to try for issuer, in order:
// OpenID Connect discovery (OIDC Discovery §4: the issuer without a trailing
// slash, then /.well-known/openid-configuration) and RFC 8414 metadata
// (the well-known segment inserted before the issuer's path).
func DiscoveryURLs(issuer string) []string {
	trimmed := strings.TrimSuffix(issuer, "/")
	urls := []string{trimmed + "/.well-known/openid-configuration"}
	if u, err := url.Parse(trimmed); err == nil && u.Host != "" {
		urls = append(urls, u.Scheme+"://"+u.Host+"/.well-known/oauth-authorization-server"+u.Path)
	}
	return urls
}

// discoverJWKSURL reads the issuer's metadata and returns its jwks_uri. The
// document's issuer must equal the configured one byte for byte.
func discoverJWKSURL(ctx context.Context, client *http.Client, issuer string) (string, error) {
	var errs []error
	for _, u := range DiscoveryURLs(issuer) {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := getJSON(ctx, client, u, &doc); err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case doc.Issuer != issuer:
			errs = append(errs, fmt.Errorf("%s names issuer %q, not the configured %q (check OAUTH_ISSUER, including any trailing slash)", u, doc.Issuer, issuer))
		case doc.JWKSURI == "":
			errs = append(errs, fmt.Errorf("%s has no jwks_uri", u))
		default:
			return doc.JWKSURI, nil
		}
	}
	return "", fmt.Errorf("discover the issuer's keys: %w", errors.Join(errs...))
}

// getJSON fetches u and decodes its JSON body into v, refusing bodies over
// maxKeySetBytes and any status but 200.
func getJSON(ctx context.Context, client *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeySetBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if len(body) > maxKeySetBytes {
		return fmt.Errorf("GET %s: response larger than %d bytes", u, maxKeySetBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}
