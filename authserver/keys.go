package authserver

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
)

// Defaults for the zero fields of KeyOptions.
const (
	// DefaultTokenLifetime is the longest lifetime of a token signed with
	// these keys (the access-token default of issue §6).
	DefaultTokenLifetime = 15 * time.Minute
	// DefaultRotationDelay is how long a rotated-in key is published
	// before it signs. An hour covers the common JWKS caches: keyfunc (the
	// Go library most resource servers use) refreshes hourly, and most
	// others cache for an hour or less. Our own resource server reads the
	// table every DefaultKeyReloadInterval, far sooner. A compromised key
	// does not wait for this: `keys rotate --now` signs at once.
	DefaultRotationDelay = time.Hour
	// DefaultKeyReloadInterval is how often a KeySource rereads the key
	// table, to pick up rotations made by another process (the CLI) and to
	// drop keys whose tokens have all expired.
	DefaultKeyReloadInterval = time.Minute
)

const (
	// rsaBits is the size of new keys: RS256 with 2048 bits is what the
	// issue asks for (cheap to verify, and fine for ID tokens too).
	rsaBits = 2048
	// publishMargin keeps a retired key in the JWKS a little beyond the
	// lifetime of the last token it signed: verifiers accept tokens up to
	// auth.Leeway past exp, and the clocks of this process, the CLI and
	// verifiers may disagree by a little.
	publishMargin = 5 * time.Minute
	// pruneGrace is how long a key stays in the table after it left the
	// JWKS before Rotate deletes it. The grace is generous because the
	// process that rotates (the CLI) may be configured with a shorter
	// TokenLifetime than the server; a day is longer than any sane one.
	pruneGrace = 24 * time.Hour
	// unknownKIDInterval is the shortest gap between two reloads caused by
	// tokens with a kid the KeySource does not know. The reload is a local
	// read, so this only stops a flood of made-up kids from turning into a
	// flood of queries; a genuine rotation after a hostile kid is seen at
	// most this much later.
	unknownKIDInterval = time.Second
	// reloadTimeout bounds one KeySource reload (a local SQLite read; only
	// a database stuck behind a lock takes anywhere near this long).
	reloadTimeout = 5 * time.Second
	// encryptionKeyInfo is the HKDF context: it ties the derived key to
	// this one use, so the same secret used elsewhere yields another key.
	// It is fixed on purpose and does not follow product.Name: with another
	// label the stored signing keys could no longer be decrypted.
	encryptionKeyInfo = "kanban-mcp signing-key encryption v1"
	// minSecretBytes is the shortest KEY_ENCRYPTION_KEY accepted. HKDF
	// does not stretch a weak secret, so it must be random and long enough.
	minSecretBytes = 16
)

// ParseEncryptionKey turns the KEY_ENCRYPTION_KEY setting into the 32-byte
// AES-256 key of KeyOptions.EncryptionKey, by HKDF-SHA256. An empty
// setting returns nil: keys are then stored plain. Surrounding white space
// is ignored, so that a secret pasted with a trailing newline gives the
// same key as without. A secret shorter than 16 bytes is refused: HKDF
// does not stretch a guessable secret, so it must be random.
func ParseEncryptionKey(secret string) ([]byte, error) {
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return nil, nil
	}
	if len(secret) < minSecretBytes {
		return nil, fmt.Errorf("KEY_ENCRYPTION_KEY is %d bytes long; it must be at least %d random bytes (for example the output of `openssl rand -base64 32`)",
			len(secret), minSecretBytes)
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, encryptionKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive the key encryption key: %w", err)
	}
	return key, nil
}

// KeyOptions configure Store.Keys. Zero fields take the defaults.
type KeyOptions struct {
	// EncryptionKey, when set, must be 32 bytes (see ParseEncryptionKey):
	// private keys are then stored encrypted with AES-256-GCM. Keys that
	// were stored plain are encrypted in place, in one transaction, when
	// Keys opens with an encryption key. Nil stores them plain.
	EncryptionKey []byte
	// TokenLifetime is the longest lifetime of any token signed with these
	// keys (access and ID tokens alike); a retired key stays in the JWKS
	// this long (plus a margin) after it stopped signing. Default
	// DefaultTokenLifetime.
	TokenLifetime time.Duration
	// RotationDelay is how long Rotate publishes a new key before it
	// starts signing, so that verifiers that cache the JWKS learn it first.
	// Default DefaultRotationDelay.
	RotationDelay time.Duration
	// ReloadInterval is how often a KeySource rereads the table. Default
	// DefaultKeyReloadInterval.
	ReloadInterval time.Duration
	// Logger receives warnings (failed background reloads) and notices
	// (keys encrypted in place). Nil discards them.
	Logger *slog.Logger
}

// EncryptionKeyError means the stored private keys cannot be read with the
// configured KEY_ENCRYPTION_KEY: either none is configured (Missing) or it
// is not the one the keys were encrypted with.
type EncryptionKeyError struct {
	KID     string // the first key that could not be read
	Missing bool   // no key is configured, as opposed to a wrong one
}

func (e *EncryptionKeyError) Error() string {
	if e.Missing {
		return "signing keys are encrypted; set KEY_ENCRYPTION_KEY to the value used when they were created"
	}
	return fmt.Sprintf("signing key %s cannot be decrypted with this KEY_ENCRYPTION_KEY; set KEY_ENCRYPTION_KEY to the value used when they were created", e.KID)
}

// Keys manages the authorization server's signing keys in the signing_keys
// table. It is safe for concurrent use, and by several processes on the
// same database: every answer is read from the table (only decrypted
// private keys are cached, by kid), so a rotation made by the CLI takes
// effect here without a restart.
//
// Key life cycle: a key is published in the JWKS from its creation; it
// signs from its active_at until the next key's active_at; after that it
// stays published for TokenLifetime plus a margin, so every token it signed
// verifies until it expires, and then it leaves the JWKS.
type Keys struct {
	db   *sqldb.DB
	now  func() time.Time
	opts KeyOptions
	log  *slog.Logger
	aead cipher.AEAD // nil: private keys are stored plain

	mu      sync.Mutex
	private map[string]*rsa.PrivateKey // decrypted private keys by kid
	sources map[*keySource]struct{}    // live KeySources, reloaded after Rotate
}

// Keys opens the signing keys. With an empty table it creates the first
// key, active at once. It reads every stored private key, so a missing or
// wrong encryption key fails here, at start-up, with an *EncryptionKeyError
// rather than at the first sign-in. Plain keys are encrypted in place when
// opts.EncryptionKey is set.
func (s *Store) Keys(ctx context.Context, opts KeyOptions) (*Keys, error) {
	if opts.TokenLifetime < 0 || opts.RotationDelay < 0 || opts.ReloadInterval < 0 {
		return nil, errors.New("signing keys: token lifetime, rotation delay and reload interval must not be negative")
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = DefaultTokenLifetime
	}
	if opts.RotationDelay == 0 {
		opts.RotationDelay = DefaultRotationDelay
	}
	if opts.ReloadInterval == 0 {
		opts.ReloadInterval = DefaultKeyReloadInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &Keys{
		db:      s.db,
		now:     s.now,
		opts:    opts,
		log:     log,
		private: make(map[string]*rsa.PrivateKey),
		sources: make(map[*keySource]struct{}),
	}
	if len(opts.EncryptionKey) > 0 {
		if len(opts.EncryptionKey) != 32 {
			return nil, fmt.Errorf("signing keys: the encryption key must be 32 bytes, not %d (derive it with ParseEncryptionKey)", len(opts.EncryptionKey))
		}
		block, err := aes.NewCipher(opts.EncryptionKey)
		if err != nil {
			return nil, fmt.Errorf("signing keys: %w", err)
		}
		// Random 96-bit nonces, prepended to the ciphertext: a handful of
		// keys is far below the 2^32 messages this is safe for.
		if k.aead, err = cipher.NewGCMWithRandomNonce(block); err != nil {
			return nil, fmt.Errorf("signing keys: %w", err)
		}
	}
	if err := k.open(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// open creates the first key if there is none, checks that every stored
// key can be read, and encrypts plain keys when an encryption key is set,
// all in one write transaction so two processes starting together cannot
// both create a first key, and a crash never leaves keys half-encrypted.
func (k *Keys) open(ctx context.Context) error {
	var n int
	if err := k.db.Reader.QueryRowContext(ctx, `SELECT count(*) FROM signing_keys`).Scan(&n); err != nil {
		return fmt.Errorf("count signing keys: %w", err)
	}
	var fresh *rsa.PrivateKey
	if n == 0 {
		// Generated before the transaction, which would otherwise hold
		// the database's only writer connection for the whole key
		// generation. Discarded if another process got there first.
		var err error
		if fresh, err = generateKey(); err != nil {
			return err
		}
	}

	tx, err := k.db.BeginWrite(ctx)
	if err != nil {
		return fmt.Errorf("open signing keys: %w", err)
	}
	defer tx.Rollback()

	type stored struct {
		kid       string
		encrypted bool
		blob      []byte
	}
	var all []stored
	rows, err := tx.QueryContext(ctx, `SELECT kid, encrypted, private_key FROM signing_keys ORDER BY id`)
	if err != nil {
		return fmt.Errorf("read signing keys: %w", err)
	}
	for rows.Next() {
		var r stored
		if err := rows.Scan(&r.kid, &r.encrypted, &r.blob); err != nil {
			rows.Close()
			return fmt.Errorf("read signing keys: %w", err)
		}
		all = append(all, r)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("read signing keys: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read signing keys: %w", err)
	}

	if len(all) == 0 {
		if fresh == nil {
			// The table was emptied between the count and now.
			if fresh, err = generateKey(); err != nil {
				return err
			}
		}
		now := k.now()
		kid, err := k.insert(ctx, tx, fresh, now, now)
		if err != nil {
			return err
		}
		k.log.InfoContext(ctx, "created the first token-signing key", "kid", kid, "encrypted", k.aead != nil)
	}

	encrypted := 0
	for _, r := range all {
		key, err := k.decode(r.kid, r.encrypted, r.blob)
		if err != nil {
			return err
		}
		k.cache(r.kid, key)
		if r.encrypted || k.aead == nil {
			continue
		}
		blob, enc, err := k.encode(r.kid, key)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET private_key = $1, encrypted = $2 WHERE kid = $3`, blob, enc, r.kid); err != nil {
			return fmt.Errorf("encrypt signing key %s in place: %w", r.kid, err)
		}
		encrypted++
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("open signing keys: %w", err)
	}
	if encrypted > 0 {
		k.log.InfoContext(ctx, "encrypted the stored token-signing keys with KEY_ENCRYPTION_KEY; from now on it must be set to read them", "keys", encrypted)
	}
	return nil
}

// Signer returns the current signing key: the newest key whose active_at
// has passed.
func (k *Keys) Signer(ctx context.Context) (kid string, key *rsa.PrivateKey, err error) {
	rows, err := loadKeyRows(ctx, k.db.Reader)
	if err != nil {
		return "", nil, err
	}
	if len(rows) == 0 {
		return "", nil, errors.New("no token-signing key in the database (the signing_keys table was emptied; restart to create a new key)")
	}
	kid = rows[signerIndex(rows, k.now())].kid

	k.mu.Lock()
	key = k.private[kid]
	k.mu.Unlock()
	if key != nil {
		return kid, key, nil
	}
	// A key this process has not read yet: rotated in by another process.
	var encrypted bool
	var blob []byte
	err = k.db.Reader.QueryRowContext(ctx, `SELECT encrypted, private_key FROM signing_keys WHERE kid = $1`, kid).Scan(&encrypted, &blob)
	if err != nil {
		return "", nil, fmt.Errorf("read signing key %s: %w", kid, err)
	}
	if key, err = k.decode(kid, encrypted, blob); err != nil {
		return "", nil, err
	}
	k.cache(kid, key)
	return kid, key, nil
}

// Sign signs claims with the current key (RS256). The header gets the
// key's kid and the fields of header (for example "typ": "at+jwt"); alg
// and kid are refused there, because they must describe the key used.
func (k *Keys) Sign(ctx context.Context, claims jwt.Claims, header map[string]any) (string, error) {
	for name := range header {
		if name == "alg" || name == "kid" {
			return "", fmt.Errorf("sign token: header field %q is set by the signer", name)
		}
	}
	kid, key, err := k.Signer(ctx)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	maps.Copy(t.Header, header)
	t.Header["kid"] = kid
	signed, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign token with key %s: %w", kid, err)
	}
	return signed, nil
}

// JWKS returns the public JWK Set (RFC 7517) of all published keys: kty,
// n, e, kid, alg and use only, never private parts.
func (k *Keys) JWKS(ctx context.Context) ([]byte, error) {
	jwks, err := k.published(ctx)
	if err != nil {
		return nil, err
	}
	set := jwkset.JWKSMarshal{Keys: make([]jwkset.JWKMarshal, 0, len(jwks))}
	for _, j := range jwks {
		set.Keys = append(set.Keys, j.Marshal())
	}
	out, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encode the JWK set: %w", err)
	}
	return out, nil
}

// Rotate creates a new key, published at once. It signs after the
// RotationDelay, or at once when now is set; until then the current key
// keeps signing. The old key stays published until the tokens it signed
// have expired (TokenLifetime plus a margin after it stops signing).
//
// A rotation supersedes one still pending: a key that has not started
// signing has signed nothing, so it is deleted rather than left to take
// over later. Keys that left the JWKS more than a day ago are deleted too.
func (k *Keys) Rotate(ctx context.Context, now bool) (kid string, activeAt time.Time, err error) {
	key, err := generateKey() // before the transaction, as in open
	if err != nil {
		return "", time.Time{}, err
	}
	tx, err := k.db.BeginWrite(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("rotate signing keys: %w", err)
	}
	defer tx.Rollback()

	at := k.now()
	activeAt = at
	if !now {
		activeAt = at.Add(k.opts.RotationDelay)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE active_at > $1`, at.UnixNano()); err != nil {
		return "", time.Time{}, fmt.Errorf("rotate signing keys: drop the pending key: %w", err)
	}
	if kid, err = k.insert(ctx, tx, key, at, activeAt); err != nil {
		return "", time.Time{}, err
	}
	rows, err := loadKeyRows(ctx, tx)
	if err != nil {
		return "", time.Time{}, err
	}
	hold := k.opts.TokenLifetime + publishMargin + pruneGrace
	for i, r := range rows {
		if published(rows, i, at, hold) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE id = $1`, r.id); err != nil {
			return "", time.Time{}, fmt.Errorf("rotate signing keys: delete retired key %s: %w", r.kid, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return "", time.Time{}, fmt.Errorf("rotate signing keys: %w", err)
	}
	k.log.InfoContext(ctx, "rotated the token-signing key", "kid", kid, "signs_from", activeAt)
	k.reloadSources(ctx)
	return kid, activeAt, nil
}

// KeySource returns the published public keys as an auth.KeySource for the
// resource server's verifier: keyfunc over a jwkset memory storage, loaded
// from the table before it returns (so it is Ready before the first
// request), and reloaded every ReloadInterval until ctx ends, after every
// Rotate through k, and when a token names a kid it does not know (at most
// once a second). Reloads are local reads: nothing goes over the network.
func (k *Keys) KeySource(ctx context.Context) (auth.KeySource, error) {
	storage := jwkset.NewMemoryStorage()
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: storage, UseWhitelist: []jwkset.USE{jwkset.UseSig}})
	if err != nil {
		return nil, fmt.Errorf("signing keys: create keyfunc: %w", err)
	}
	s := &keySource{keys: k, storage: storage, kf: kf}
	if err := s.reload(ctx); err != nil {
		return nil, fmt.Errorf("load the signing keys for verification: %w", err)
	}
	k.mu.Lock()
	k.sources[s] = struct{}{}
	k.mu.Unlock()
	go s.run(ctx)
	return s, nil
}

// keySource is the auth.KeySource returned by Keys.KeySource.
type keySource struct {
	keys    *Keys
	storage *jwkset.MemoryJWKSet
	kf      keyfunc.Keyfunc
	loaded  atomic.Bool

	// reloadMu serialises reloads, so that an older snapshot of the table
	// never replaces a newer one.
	reloadMu sync.Mutex

	mu          sync.Mutex
	lastUnknown time.Time // when an unknown kid last caused a reload
}

// Ready reports whether the keys have been loaded.
func (s *keySource) Ready() bool { return s.loaded.Load() }

// Keyfunc returns the jwt.Keyfunc for one request. A kid that is not
// loaded causes one reload (rate-limited) before the token is refused, so
// a rotation with --now by another process is seen at the first token
// signed with the new key, not at the next periodic reload.
func (s *keySource) Keyfunc(ctx context.Context) jwt.Keyfunc {
	lookup := s.kf.KeyfuncCtx(ctx)
	return func(t *jwt.Token) (any, error) {
		key, err := lookup(t)
		if err == nil || !errors.Is(err, jwkset.ErrKeyNotFound) || !s.mayReloadForUnknownKID() {
			return key, err
		}
		// Detached from the request: a client that hangs up must not
		// cancel the reload after it has used the slot.
		if rerr := s.reload(context.WithoutCancel(ctx)); rerr != nil {
			s.keys.log.WarnContext(ctx, "reloading the signing keys for an unknown kid failed", "err", rerr)
			return nil, err
		}
		return lookup(t)
	}
}

// mayReloadForUnknownKID takes the unknown-kid reload slot if it is free.
func (s *keySource) mayReloadForUnknownKID() bool {
	now := s.keys.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// A clock that stepped back (d < 0) frees the slot rather than
	// blocking reloads until it catches up.
	if d := now.Sub(s.lastUnknown); !s.lastUnknown.IsZero() && d >= 0 && d < unknownKIDInterval {
		return false
	}
	s.lastUnknown = now
	return true
}

// run reloads the keys every ReloadInterval until ctx ends. A failed
// reload keeps the keys already loaded.
func (s *keySource) run(ctx context.Context) {
	defer func() {
		s.keys.mu.Lock()
		delete(s.keys.sources, s)
		s.keys.mu.Unlock()
	}()
	ticker := time.NewTicker(s.keys.opts.ReloadInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := s.reload(ctx); err != nil {
				s.keys.log.WarnContext(ctx, "reloading the signing keys failed; keeping the keys already loaded", "err", err)
			}
		}
	}
}

// reload replaces the loaded keys with the published ones.
func (s *keySource) reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	jwks, err := s.keys.published(ctx)
	if err != nil {
		return err
	}
	if err := s.storage.KeyReplaceAll(ctx, jwks); err != nil {
		return fmt.Errorf("store the signing keys: %w", err)
	}
	s.loaded.Store(true)
	return nil
}

// reloadSources makes this process's KeySources see a rotation at once.
func (k *Keys) reloadSources(ctx context.Context) {
	k.mu.Lock()
	sources := make([]*keySource, 0, len(k.sources))
	for s := range k.sources {
		sources = append(sources, s)
	}
	k.mu.Unlock()
	for _, s := range sources {
		if err := s.reload(context.WithoutCancel(ctx)); err != nil {
			k.log.WarnContext(ctx, "reloading the signing keys after a rotation failed; the periodic reload will retry", "err", err)
		}
	}
}

// published returns the public JWKs of the keys published now.
func (k *Keys) published(ctx context.Context) ([]jwkset.JWK, error) {
	rows, err := loadKeyRows(ctx, k.db.Reader)
	if err != nil {
		return nil, err
	}
	now := k.now()
	hold := k.opts.TokenLifetime + publishMargin
	var out []jwkset.JWK
	for i, r := range rows {
		if !published(rows, i, now, hold) {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(r.publicKey)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: parse public key: %w", r.kid, err)
		}
		rsaPub, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("signing key %s: public key is a %T, not RSA", r.kid, pub)
		}
		// Built from the public key alone, so the JWK cannot carry
		// private parts whatever the marshal options.
		jwk, err := jwkset.NewJWKFromKey(rsaPub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
			ALG: jwkset.AlgRS256,
			KID: r.kid,
			USE: jwkset.UseSig,
		}})
		if err != nil {
			return nil, fmt.Errorf("signing key %s: make JWK: %w", r.kid, err)
		}
		out = append(out, jwk)
	}
	return out, nil
}

// keyRow is a key's public metadata: everything but the private key.
type keyRow struct {
	id        int64
	kid       string
	publicKey []byte // PKIX DER
	activeAt  time.Time
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// loadKeyRows reads every key's metadata in signing order. The table holds
// a handful of rows, so reading them all is cheaper than being clever.
func loadKeyRows(ctx context.Context, q querier) ([]keyRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, kid, public_key, active_at FROM signing_keys ORDER BY active_at, id`)
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	defer rows.Close()
	var out []keyRow
	for rows.Next() {
		var r keyRow
		var active int64
		if err := rows.Scan(&r.id, &r.kid, &r.publicKey, &active); err != nil {
			return nil, fmt.Errorf("read signing keys: %w", err)
		}
		r.activeAt = time.Unix(0, active).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	return out, nil
}

// signerIndex returns the index in rows (signing order) of the key that
// signs at now: the last one whose active_at has passed. If none has (the
// clock stepped back past the first key's creation), the first key: it is
// the one that was signing.
func signerIndex(rows []keyRow, now time.Time) int {
	i := 0
	for j, r := range rows {
		if !r.activeAt.After(now) {
			i = j
		}
	}
	return i
}

// published reports whether rows[i] is still published at now, given that
// a key stays published for hold after it stops signing. A key stops
// signing when the next key in signing order becomes active; the newest
// key, and any key whose successor is not active yet, is always published.
func published(rows []keyRow, i int, now time.Time, hold time.Duration) bool {
	if i+1 >= len(rows) {
		return true
	}
	return now.Before(rows[i+1].activeAt.Add(hold))
}

// insert stores key as a new row and caches it.
func (k *Keys) insert(ctx context.Context, tx *sql.Tx, key *rsa.PrivateKey, createdAt, activeAt time.Time) (string, error) {
	kid, err := newKID()
	if err != nil {
		return "", err
	}
	blob, encrypted, err := k.encode(kid, key)
	if err != nil {
		return "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", fmt.Errorf("signing key %s: encode public key: %w", kid, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO signing_keys (kid, alg, private_key, encrypted, public_key, created_at, active_at)
		VALUES ($1, 'RS256', $2, $3, $4, $5, $6)`, kid, blob, encrypted, pub, createdAt.UnixNano(), activeAt.UnixNano())
	if err != nil {
		return "", fmt.Errorf("store signing key %s: %w", kid, err)
	}
	k.cache(kid, key)
	return kid, nil
}

func (k *Keys) cache(kid string, key *rsa.PrivateKey) {
	k.mu.Lock()
	k.private[kid] = key
	k.mu.Unlock()
}

// encode returns the private key as stored: PKCS#8 DER, sealed with the
// encryption key when there is one. The kid is the associated data, so a
// ciphertext copied into another row does not decrypt.
func (k *Keys) encode(kid string, key *rsa.PrivateKey) (blob []byte, encrypted bool, err error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, fmt.Errorf("signing key %s: encode private key: %w", kid, err)
	}
	if k.aead == nil {
		return der, false, nil
	}
	return k.aead.Seal(nil, nil, der, []byte(kid)), true, nil
}

// decode is the inverse of encode.
func (k *Keys) decode(kid string, encrypted bool, blob []byte) (*rsa.PrivateKey, error) {
	der := blob
	if encrypted {
		if k.aead == nil {
			return nil, &EncryptionKeyError{KID: kid, Missing: true}
		}
		var err error
		if der, err = k.aead.Open(nil, nil, blob, []byte(kid)); err != nil {
			return nil, &EncryptionKeyError{KID: kid}
		}
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: parse private key: %w", kid, err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s: private key is a %T, not RSA", kid, parsed)
	}
	if key.N.BitLen() < rsaBits {
		return nil, fmt.Errorf("signing key %s: %d-bit RSA key is too small (at least %d)", kid, key.N.BitLen(), rsaBits)
	}
	return key, nil
}

func generateKey() (*rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, fmt.Errorf("generate a signing key: %w", err)
	}
	return key, nil
}

// newKID returns a random key id: 12 random bytes, base64url (16 chars).
// Random rather than a thumbprint or a counter, so that it reveals nothing
// and never repeats across databases.
func newKID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a key id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
