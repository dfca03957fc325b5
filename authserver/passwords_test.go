package authserver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/argon2"
)

// testHashParams keep tests fast: 64 KiB, one pass.
var testHashParams = HashParams{Memory: 64, Time: 1, Threads: 1}

// testHasher is a Hasher with cheap parameters and room for limit hashes at
// once.
func testHasher(t testing.TB, p HashParams, limit int) *Hasher {
	t.Helper()
	h, err := NewHasher(HasherOptions{Params: p, MaxConcurrent: limit})
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

const goodPassword = "correct horse battery"

func TestHasherRoundTrip(t *testing.T) {
	h := testHasher(t, testHashParams, 2)
	ctx := t.Context()
	enc, err := h.Hash(ctx, goodPassword)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("Hash = %q; want the PHC prefix $argon2id$v=19$m=64,t=1,p=1$", enc)
	}
	if strings.Contains(enc, goodPassword) {
		t.Errorf("Hash = %q holds the password", enc)
	}
	enc2, err := h.Hash(ctx, goodPassword)
	if err != nil {
		t.Fatalf("Hash again: %v", err)
	}
	if enc == enc2 {
		t.Errorf("two hashes of one password are equal (%q): salt not random", enc)
	}

	for _, tc := range []struct {
		password string
		want     bool
	}{
		{goodPassword, true},
		{"correct horse battery ", false},
		{"Correct horse battery", false},
		{"", false},
		{strings.Repeat("x", MaxPasswordBytes+1), false},
	} {
		got, err := h.Verify(ctx, tc.password, enc)
		if err != nil {
			t.Errorf("Verify(%.30q): %v", tc.password, err)
		} else if got != tc.want {
			t.Errorf("Verify(%.30q) = %v; want %v", tc.password, got, tc.want)
		}
	}
	if err := h.VerifyDummy(ctx, goodPassword); err != nil {
		t.Errorf("VerifyDummy: %v", err)
	}
}

// TestHasherHonoursEncodedParams: Verify recomputes with the parameters
// the encoding names, not the Hasher's own.
func TestHasherHonoursEncodedParams(t *testing.T) {
	ctx := t.Context()
	small := testHasher(t, HashParams{Memory: 32, Time: 1, Threads: 1}, 1)
	big := testHasher(t, HashParams{Memory: 256, Time: 2, Threads: 2}, 1)

	enc, err := small.Hash(ctx, goodPassword)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if ok, err := big.Verify(ctx, goodPassword, enc); err != nil || !ok {
		t.Errorf("a hasher with other params: Verify(hash with m=32,t=1,p=1) = %v, %v; want true", ok, err)
	}
	if !big.needsRehash(enc) || small.needsRehash(enc) {
		t.Errorf("needsRehash: big %v, small %v; want true, false", big.needsRehash(enc), small.needsRehash(enc))
	}

	// An encoding made independently of Hash, with parameters neither
	// hasher uses: Verify must accept it, and must refuse it once any
	// parameter in the string is changed (the key no longer matches).
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(goodPassword), salt, 3, 40, 2, 24)
	b64 := base64.RawStdEncoding.EncodeToString
	for _, tc := range []struct {
		params string
		want   bool
	}{
		{"m=40,t=3,p=2", true},
		{"m=48,t=3,p=2", false},
		{"m=40,t=2,p=2", false},
		{"m=40,t=3,p=1", false},
	} {
		enc := fmt.Sprintf("$argon2id$v=19$%s$%s$%s", tc.params, b64(salt), b64(key))
		got, err := small.Verify(ctx, goodPassword, enc)
		if err != nil || got != tc.want {
			t.Errorf("Verify(%s) = %v, %v; want %v", enc, got, err, tc.want)
		}
	}
}

func TestHasherMalformed(t *testing.T) {
	h := testHasher(t, testHashParams, 1)
	b64 := base64.RawStdEncoding.EncodeToString
	salt, key := b64([]byte("0123456789abcdef")), b64(make([]byte, 32))
	ok := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	for name, enc := range map[string]string{
		"empty":              "",
		"plain text":         goodPassword,
		"bcrypt":             "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":            "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"old version":        "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"no version":         "$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"missing hash":       "$argon2id$v=19$m=64,t=1,p=1$" + salt,
		"extra part":         ok("m=64,t=1,p=1") + "$x",
		"text before":        "x" + ok("m=64,t=1,p=1"),
		"params order":       ok("t=1,m=64,p=1"),
		"extra param":        ok("m=64,t=1,p=1,k=2"),
		"missing param":      ok("m=64,t=1"),
		"zero time":          ok("m=64,t=0,p=1"),
		"zero threads":       ok("m=64,t=1,p=0"),
		"threads > 255":      ok("m=4096,t=1,p=256"),
		"memory < 8p":        ok("m=15,t=1,p=2"),
		"memory too big":     ok("m=4294967295,t=1,p=1"),
		"time too big":       ok("m=64,t=100000,p=1"),
		"negative":           ok("m=-64,t=1,p=1"),
		"plus sign":          ok("m=+64,t=1,p=1"),
		"leading zero":       ok("m=064,t=1,p=1"),
		"hex":                ok("m=0x40,t=1,p=1"),
		"spaces":             ok("m=64, t=1, p=1"),
		"overflow":           ok("m=99999999999999999999,t=1,p=1"),
		"salt not base64":    "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + key,
		"salt padded":        "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key,
		"salt too short":     "$argon2id$v=19$m=64,t=1,p=1$" + b64([]byte("1234567")) + "$" + key,
		"hash too short":     "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + b64(make([]byte, 15)),
		"hash too long":      "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + b64(make([]byte, 129)),
		"empty hash":         "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"hash url-encoding":  "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("_-", 22),
		"dollars everywhere": "$$$$$",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := h.Verify(t.Context(), goodPassword, enc)
			if !errors.Is(err, errMalformedHash) {
				t.Errorf("Verify(%q) = %v, %v; want an error wrapping errMalformedHash", enc, got, err)
			}
			if got {
				t.Errorf("Verify(%q) = true", enc)
			}
		})
	}
	// The well-formed control of the table above is accepted (and does
	// not match: its key is all zeros).
	if got, err := h.Verify(t.Context(), goodPassword, ok("m=64,t=1,p=1")); err != nil || got {
		t.Errorf("Verify(well-formed) = %v, %v; want false, nil", got, err)
	}
}

func TestNewHasherOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    HasherOptions
		wantErr bool
		want    HashParams
		limit   int
	}{
		{name: "zero value gives defaults", want: DefaultHashParams(), limit: DefaultMaxConcurrentHashes()},
		{name: "explicit", opts: HasherOptions{Params: HashParams{Memory: 1024, Time: 3, Threads: 2}, MaxConcurrent: 7}, want: HashParams{Memory: 1024, Time: 3, Threads: 2}, limit: 7},
		{name: "zero time", opts: HasherOptions{Params: HashParams{Memory: 64, Threads: 1}}, wantErr: true},
		{name: "zero threads", opts: HasherOptions{Params: HashParams{Memory: 64, Time: 1}}, wantErr: true},
		{name: "too little memory", opts: HasherOptions{Params: HashParams{Memory: 8, Time: 1, Threads: 2}}, wantErr: true},
		{name: "too much memory", opts: HasherOptions{Params: HashParams{Memory: maxHashMemory + 1, Time: 1, Threads: 1}}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewHasher(tc.opts)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("NewHasher(%+v) succeeded; want an error", tc.opts)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewHasher(%+v): %v", tc.opts, err)
			}
			if diff := cmp.Diff(tc.want, h.params); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
			if cap(h.sem) != tc.limit {
				t.Errorf("concurrency limit %d; want %d", cap(h.sem), tc.limit)
			}
		})
	}
	if d := DefaultHashParams(); d != (HashParams{Memory: 19456, Time: 2, Threads: 1}) {
		t.Errorf("DefaultHashParams() = %+v; want OWASP's m=19456,t=2,p=1", d)
	}
}

func TestValidatePassword(t *testing.T) {
	for _, tc := range []struct {
		password string
		wantErr  bool
	}{
		{"", true},
		{"elevenchars", true},
		{"twelve chars", false},
		{"ÄÖÜäöüßÄÖÜäö", false}, // 12 characters, 24 bytes
		{"ÄÖÜäöüßÄÖÜä", true},   // 11 characters, 22 bytes
		{"🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑", false},                           // 12 characters, 48 bytes
		{strings.Repeat("a", MaxPasswordBytes), false},    // exactly the limit
		{strings.Repeat("a", MaxPasswordBytes+1), true},   // a byte over
		{strings.Repeat("é", MaxPasswordBytes/2+1), true}, // 514 characters but 1028 bytes
		{"twelve chars\xff", true},                        // invalid UTF-8
	} {
		err := ValidatePassword(tc.password)
		if (err != nil) != tc.wantErr {
			t.Errorf("ValidatePassword(%.20q) = %v; want error: %v", tc.password, err, tc.wantErr)
		}
		var ve *ValidationError
		if err != nil && (!errors.As(err, &ve) || ve.Field != "password") {
			t.Errorf("ValidatePassword(%.20q) = %#v; want a *ValidationError for field password", tc.password, err)
		}
	}
	// Hash enforces the same rules.
	h := testHasher(t, testHashParams, 1)
	if _, err := h.Hash(t.Context(), "short"); err == nil {
		t.Errorf("Hash(short password) succeeded")
	}
	// The message says what the rule is.
	if err := ValidatePassword("short"); err == nil || !strings.Contains(err.Error(), "at least 12 characters") {
		t.Errorf("ValidatePassword(short) = %v; want a message naming the 12-character minimum", err)
	}
}

// inFlightProbe replaces Hasher.derive: it counts the hashes running at
// once and holds each until released.
type inFlightProbe struct {
	release chan struct{} // closed to let every held hash finish
	started chan struct{} // receives one value per hash that starts

	mu        sync.Mutex
	inFlight  int
	maxFlight int
	calls     int
}

func newInFlightProbe(h *Hasher) *inFlightProbe {
	p := &inFlightProbe{release: make(chan struct{}), started: make(chan struct{}, 100)}
	h.derive = func(password, salt []byte, hp HashParams, keyLen uint32) []byte {
		p.mu.Lock()
		p.inFlight++
		p.calls++
		p.maxFlight = max(p.maxFlight, p.inFlight)
		p.mu.Unlock()
		p.started <- struct{}{}
		<-p.release
		p.mu.Lock()
		p.inFlight--
		p.mu.Unlock()
		return make([]byte, keyLen)
	}
	return p
}

func (p *inFlightProbe) counts() (calls, inFlight, maxFlight int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, p.inFlight, p.maxFlight
}

// TestHasherConcurrencyBound: with limit n, an (n+1)th hash waits until one
// of the running ones finishes. synctest.Wait returns only once every
// goroutine is blocked, so "the extra hash did not start" is observed
// deterministically, with no sleeping.
func TestHasherConcurrencyBound(t *testing.T) {
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := testHasher(t, testHashParams, limit)
				probe := newInFlightProbe(h)
				const total = 5
				errs := make(chan error, total)
				for range total {
					go func() {
						_, err := h.Hash(context.Background(), goodPassword)
						errs <- err
					}()
				}
				synctest.Wait() // all either hashing (held) or waiting for a slot
				if calls, inFlight, _ := probe.counts(); calls != limit || inFlight != limit {
					t.Fatalf("with %d hashes asked for: %d started, %d running; want %d and %d", total, calls, inFlight, limit, limit)
				}
				close(probe.release)
				for range total {
					if err := <-errs; err != nil {
						t.Errorf("Hash: %v", err)
					}
				}
				if calls, _, maxFlight := probe.counts(); calls != total || maxFlight != limit {
					t.Errorf("%d hashes ran, at most %d at once; want %d, at most %d", calls, maxFlight, total, limit)
				}
			})
		})
	}
}

// TestHasherContextWhileWaiting: a hash (or verification) waiting for a
// slot gives up with the context's error when its context ends, without
// ever starting; one whose context has already ended does not start even
// when a slot is free.
func TestHasherContextWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := testHasher(t, testHashParams, 1)
		enc := encodeHash(testHashParams, []byte("0123456789abcdef"), make([]byte, 32))
		probe := newInFlightProbe(h)

		first := make(chan error, 1)
		go func() {
			_, err := h.Hash(context.Background(), goodPassword)
			first <- err
		}()
		<-probe.started // the only slot is taken

		for name, call := range map[string]func(context.Context) error{
			"Hash":        func(ctx context.Context) error { _, err := h.Hash(ctx, goodPassword); return err },
			"Verify":      func(ctx context.Context) error { _, err := h.Verify(ctx, goodPassword, enc); return err },
			"VerifyDummy": func(ctx context.Context) error { return h.VerifyDummy(ctx, goodPassword) },
		} {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- call(ctx) }()
			synctest.Wait() // blocked waiting for the slot
			select {
			case err := <-done:
				t.Fatalf("%s returned %v while the only slot was taken", name, err)
			default:
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("%s after cancel = %v; want context.Canceled", name, err)
			}
		}
		if calls, _, _ := probe.counts(); calls != 1 {
			t.Errorf("%d hashes started; want only the first", calls)
		}

		close(probe.release)
		if err := <-first; err != nil {
			t.Errorf("first Hash: %v", err)
		}
		// A slot is free now, but an ended context still starts nothing.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := h.Hash(ctx, goodPassword); !errors.Is(err, context.Canceled) {
			t.Errorf("Hash with an ended context = %v; want context.Canceled", err)
		}
		if calls, _, _ := probe.counts(); calls != 1 {
			t.Errorf("%d hashes started; want only the first", calls)
		}
	})
}
