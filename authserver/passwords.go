package authserver

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password rules for new passwords. Length is what protects a password that
// a person chose; composition rules are not imposed (NIST SP 800-63B §3.1.1.2).
const (
	// MinPasswordLen is the fewest characters (Unicode code points, not
	// bytes) a new password may have.
	MinPasswordLen = 12
	// MaxPasswordBytes is the longest password accepted, in bytes. It
	// keeps a megabyte "password" from costing a megabyte of hashing input;
	// no real passphrase comes close.
	MaxPasswordBytes = 1024
)

// Encoded hash layout: salt and key lengths of the hashes this package makes.
// Verify accepts other lengths within these bounds, so a hash made under
// other settings still verifies.
const (
	hashSaltLen   = 16 // bytes; RFC 9106 §3.1 recommends 128 bits
	hashKeyLen    = 32 // bytes; RFC 9106 §4 recommends a 256-bit tag
	minSaltLen    = 8  // RFC 9106 §3.1: "16 bytes is RECOMMENDED", 8 is the floor
	minKeyLen     = 16
	maxKeyLen     = 128
	maxSaltLen    = 64
	maxHashMemory = 1 << 20 // KiB (1 GiB): refuse an encoded m= above this, so a corrupted row cannot exhaust memory
	maxHashTime   = 64      // passes; ditto for CPU
)

// HashParams are argon2id's cost parameters.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes (p)
}

// DefaultHashParams returns the parameters new password hashes are made
// with: argon2id, m = 19 MiB, t = 2, p = 1, one of the configurations the
// OWASP Password Storage Cheat Sheet recommends as equally strong (46 MiB
// with t = 1, 19 MiB with t = 2, 12 MiB with t = 3, …); of these it trades
// memory for time, which suits small machines.
//
// RFC 9106's second recommended option (64 MiB, t = 3, p = 4) was not chosen
// because the server is meant to run on the smallest machines (fly.io's
// 256 MB shared-CPU VMs): with the default of up to 2–4 concurrent hashes
// the 64 MiB option alone could take a quarter of the RAM or more, and p = 4
// buys no wall-clock speed on one or two cores. At 19 MiB, 4 concurrent
// hashes need 76 MiB. Each encoded hash records its own parameters and
// Verify reads them from there, so these may be raised later without
// invalidating stored passwords (Users.Authenticate re-hashes on the next
// successful sign-in).
func DefaultHashParams() HashParams {
	return HashParams{Memory: 19 * 1024, Time: 2, Threads: 1}
}

func (p HashParams) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxHashTime:
		return fmt.Errorf("time (t) must be between 1 and %d; got %d", maxHashTime, p.Time)
	case p.Threads < 1:
		return fmt.Errorf("threads (p) must be at least 1")
	case p.Memory < 8*uint32(p.Threads):
		return fmt.Errorf("memory (m) must be at least 8 KiB per thread; got %d KiB for %d threads", p.Memory, p.Threads)
	case p.Memory > maxHashMemory:
		return fmt.Errorf("memory (m) must be at most %d KiB; got %d", maxHashMemory, p.Memory)
	}
	return nil
}

// HasherOptions configure NewHasher. The zero value gives the defaults.
type HasherOptions struct {
	// Params for new hashes; the zero value means DefaultHashParams().
	Params HashParams
	// MaxConcurrent is how many hashes may be computed at once (each
	// takes Params.Memory of RAM while it runs); others wait their turn.
	// Zero or less means DefaultMaxConcurrentHashes().
	MaxConcurrent int
}

// DefaultMaxConcurrentHashes is one hash per CPU the Go runtime may use
// (each hash with p = 1 keeps one core busy, so more would only queue in the
// scheduler while holding memory), capped at 4 so that a burst of sign-ins
// holds at most 4 × 19 MiB however large the machine.
func DefaultMaxConcurrentHashes() int {
	return max(1, min(runtime.GOMAXPROCS(0), 4))
}

// Hasher hashes and verifies passwords with argon2id, computing at most a
// fixed number of hashes at once so that a burst of sign-in attempts cannot
// exhaust memory: the others wait, and give up when their context ends. Its
// methods are safe for concurrent use.
type Hasher struct {
	params HashParams
	// sem holds one token per hash being computed.
	sem chan struct{}
	// dummySalt salts VerifyDummy's work; random per Hasher.
	dummySalt []byte
	// derive computes the key. It is argon2.IDKey; tests replace it to
	// observe how many run at once.
	derive func(password, salt []byte, p HashParams, keyLen uint32) []byte
}

// NewHasher returns a Hasher. It fails only for invalid options.
func NewHasher(opts HasherOptions) (*Hasher, error) {
	p := opts.Params
	if p == (HashParams{}) {
		p = DefaultHashParams()
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("authserver: password hash parameters: %s", err)
	}
	n := opts.MaxConcurrent
	if n <= 0 {
		n = DefaultMaxConcurrentHashes()
	}
	salt := make([]byte, hashSaltLen)
	rand.Read(salt) // never fails: it crashes the program instead (Go 1.24)
	return &Hasher{
		params:    p,
		sem:       make(chan struct{}, n),
		dummySalt: salt,
		derive:    deriveArgon2id,
	}, nil
}

func deriveArgon2id(password, salt []byte, p HashParams, keyLen uint32) []byte {
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, keyLen)
}

// run computes one key once a slot is free. It gives up, with the
// context's error, if ctx ends first; once started, a hash runs to the end
// (argon2 cannot be interrupted), which takes a fraction of a second.
func (h *Hasher) run(ctx context.Context, password, salt []byte, p HashParams, keyLen uint32) ([]byte, error) {
	// Checked first so that an ended context never starts a hash, even
	// when a slot is free (select picks at random among ready cases).
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("authserver: password hashing: %w", err)
	}
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("authserver: waiting to hash a password: %w", ctx.Err())
	}
	defer func() { <-h.sem }()
	return h.derive(password, salt, p, keyLen), nil
}

// ValidatePassword checks a new password: valid UTF-8, at least
// MinPasswordLen characters and at most MaxPasswordBytes bytes. It returns
// a *ValidationError naming the field "password".
func ValidatePassword(password string) error {
	switch n := utf8.RuneCountInString(password); {
	case !utf8.ValidString(password):
		return &ValidationError{Field: "password", Reason: "must be valid UTF-8 text"}
	case len(password) > MaxPasswordBytes:
		return &ValidationError{Field: "password", Reason: fmt.Sprintf("is %d bytes long; at most %d are allowed", len(password), MaxPasswordBytes)}
	case n < MinPasswordLen:
		return &ValidationError{Field: "password", Reason: fmt.Sprintf("must be at least %d characters long; it has %d", MinPasswordLen, n)}
	}
	return nil
}

// Hash returns the PHC-style encoding of a new argon2id hash of password,
// with a fresh random salt:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// (salt and key in unpadded standard base64). It refuses passwords that
// ValidatePassword refuses, so nothing weak is ever stored.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := ValidatePassword(password); err != nil {
		return "", err
	}
	salt := make([]byte, hashSaltLen)
	rand.Read(salt)
	key, err := h.run(ctx, []byte(password), salt, h.params, hashKeyLen)
	if err != nil {
		return "", err
	}
	return encodeHash(h.params, salt, key), nil
}

// Verify reports whether password matches encoded, a hash made by Hash
// (with whatever parameters it records). The comparison takes constant
// time. It returns an error only for a malformed encoding or when ctx ends
// while waiting for a free slot; a password longer than MaxPasswordBytes
// simply does not match.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordBytes {
		return false, nil
	}
	got, err := h.run(ctx, []byte(password), salt, p, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// VerifyDummy does the work of verifying password against a hash with the
// current parameters, and throws the result away. Call it when the user
// name is unknown, so that the answer takes as long as for a known user
// and the timing does not reveal which names exist. It returns an error
// only when ctx ends while waiting.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	if len(password) > MaxPasswordBytes {
		return nil
	}
	got, err := h.run(ctx, []byte(password), h.dummySalt, h.params, hashKeyLen)
	if err != nil {
		return err
	}
	// Compared like a real key, so that the work is the same; the result
	// means nothing.
	subtle.ConstantTimeCompare(got, make([]byte, hashKeyLen))
	return nil
}

// needsRehash reports whether encoded was made with other parameters or
// lengths than Hash would use now.
func (h *Hasher) needsRehash(encoded string) bool {
	p, salt, key, err := decodeHash(encoded)
	return err != nil || p != h.params || len(salt) != hashSaltLen || len(key) != hashKeyLen
}

func encodeHash(p HashParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// errMalformedHash is wrapped by every decodeHash error.
var errMalformedHash = errors.New("authserver: malformed password hash")

// decodeHash parses an encoding made by encodeHash. It is strict: one
// spelling per hash, parameters in m, t, p order, decimal without sign or
// leading zeros, and bounds that keep argon2 from panicking or a corrupted
// row from asking for unbounded memory.
func decodeHash(encoded string) (HashParams, []byte, []byte, error) {
	fail := func(format string, args ...any) (HashParams, []byte, []byte, error) {
		return HashParams{}, nil, nil, fmt.Errorf("%w: %s", errMalformedHash, fmt.Sprintf(format, args...))
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return fail("want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	if parts[1] != "argon2id" {
		return fail("algorithm %.20q is not argon2id", parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("version %.20q is not v=%d", parts[2], argon2.Version)
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return fail("want parameters m=…,t=…,p=…")
	}
	var vals [3]uint64
	for i, name := range [3]string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok {
			return fail("parameter %d must be %s=", i+1, name)
		}
		n, err := parseDecimal(v)
		if err != nil {
			return fail("parameter %s: %v", name, err)
		}
		vals[i] = n
	}
	if vals[0] > maxHashMemory || vals[1] > maxHashTime || vals[2] > 255 {
		return fail("parameters out of range")
	}
	p := HashParams{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2])}
	if err := p.validate(); err != nil {
		return fail("%v", err)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil {
		return fail("salt is not unpadded base64")
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil {
		return fail("hash is not unpadded base64")
	}
	if len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return fail("salt is %d bytes; want %d to %d", len(salt), minSaltLen, maxSaltLen)
	}
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return fail("hash is %d bytes; want %d to %d", len(key), minKeyLen, maxKeyLen)
	}
	return p, salt, key, nil
}

// parseDecimal parses a canonical unsigned decimal: digits only, no
// leading zero, at most 10 digits.
func parseDecimal(s string) (uint64, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%.12q is not a canonical decimal number", s)
	}
	return strconv.ParseUint(s, 10, 64)
}
