package authserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/clientip"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
	"github.com/kanban-mcp/kanban-mcp/metrics"
)

// signInFailure is why a sign-in form is shown again, and how.
type signInFailure struct {
	status  int
	message string
	// retryAfter, when positive, is the throttle's wait: the answer is
	// 429 with a Retry-After header.
	retryAfter time.Duration
}

// The method labels of the sign-in counter (metrics.AuthServer.SignIn).
const (
	signInPassword = "password"
	signInUpstream = "upstream"
)

// Messages of the sign-in form. The failure message never says whether the
// name or the password was wrong, nor that an account is disabled.
const (
	msgSignInMissing = "Enter your user name and password."
	msgSignInWrong   = "Wrong user name or password."
)

// attemptSignIn checks a posted user name and password, throttled per
// (name, IP), per name and per IP (see ratelimit's "Choosing keys"): the
// pair limit slows one guesser down quickly, the name limit catches a
// guesser spread over many addresses, and the IP limit one address trying
// many names. A throttled attempt is answered 429 with the wait and is not
// tried, so it neither counts nor costs a password hash; nothing ever
// locks: after the wait the right password works.
//
// A browser with a valid device cookie for the account (see devices.go) is
// throttled per device instead: the name limit, which anybody can push by
// failing, and the IP limit, which a neighbour behind the same address can
// push, do not apply to it, and its failures count against the device
// only, so an attacker cannot turn the account's owner's own limits against
// them on a browser they have signed in with before. A successful sign-in
// sets or renews the device cookie.
//
// Only one attempt per name, and per (name, IP), is tried at a time (two
// per IP, for people behind one address signing in at the same moment;
// one per device): one more that arrives meanwhile is throttled like an
// attempt during a delay. Without that, a burst of parallel requests would
// all be hashed before the first of their failures counted.
//
// A success clears the pair and name keys (or the device key), but not the
// IP's: it proves the caller knows that one account's password, not that
// the other failures from the address (possibly guesses at other names by
// someone who holds an account) were innocent. The IP key forgets on its
// own after a quiet spell.
//
// Logging: failures and throttles are logged with the client address only,
// never the name. People type their password into the name field often
// enough, and a hash of it would be just as crackable as a password hash
// without a salt. Successes are logged with the subject, which is not
// secret and identifies the account without its name.
//
// When the limits cannot be checked (their database does not answer),
// the attempt is refused with 503 and a Retry-After, and not tried: an
// outage must never mean unlimited guesses.
//
// err is for failures that are not the person's (the database, a sign-in
// that gave up waiting for the hasher): nothing is counted then.
//
// Metrics counts each attempt once: throttled, failed or ok. An empty form
// is no attempt, and one the server could not judge (its limits or its
// database did not answer) says nothing about the person: neither is
// counted.
func (s *Server) attemptSignIn(w http.ResponseWriter, r *http.Request, name, password string) (User, *signInFailure, error) {
	ctx := r.Context()
	name = strings.TrimSpace(name) // a trailing space from a phone keyboard; names have none
	if name == "" || password == "" {
		return User{}, &signInFailure{status: http.StatusBadRequest, message: msgSignInMissing}, nil
	}
	ip := s.clientIP(r)
	deviceID, err := s.knownDevice(ctx, r, name)
	if err != nil {
		return User{}, nil, err
	}
	knownDevice := deviceID != ""

	// The attempt is reserved on every key that applies before the
	// password is hashed, and counted when the hash has answered: parallel
	// requests get no further than a sequence would (see
	// ratelimit.Backoff.Reserve). A success clears the first cleared of
	// them: the device's, or the pair's and the name's, never the IP's.
	var applied []limitKey
	var cleared int
	if knownDevice {
		applied = []limitKey{{s.limits.signInDevice, ratelimit.Key("device", deviceID)}}
		cleared = 1
	} else {
		// Names compare without regard to ASCII case, so the limits do
		// too. Names longer than any account's are cut: they all fail
		// alike, and the key stays small.
		keyName := strings.ToLower(name)
		if len(keyName) > MaxUserNameLen+1 {
			keyName = keyName[:MaxUserNameLen+1]
		}
		applied = []limitKey{
			{s.limits.signInPair, ratelimit.Key("user-ip", keyName, clientip.Network(ip))},
			{s.limits.signInName, ratelimit.Key("user", keyName)},
			{s.limits.signInIP, ratelimit.Key("ip", clientip.Network(ip))},
		}
		cleared = 2
	}
	held, wait, err := s.reserveAll(ctx, applied)
	if err != nil {
		s.log.ErrorContext(ctx, "sign-in refused: its limits could not be checked", "ip", ip, "err", err)
		return User{}, &signInFailure{status: http.StatusServiceUnavailable, message: signInUnavailable(), retryAfter: unavailableRetryAfter}, nil
	}
	if wait > 0 {
		// Debug: the access log already has a line for each throttled
		// request (its 429), and a second one at info for something that
		// costs nothing to send would double what anyone can write there.
		s.log.DebugContext(ctx, "sign-in throttled", "ip", ip, "known_device", knownDevice, "retry_after", wait)
		s.opts.Metrics.SignIn(metrics.SignInThrottled, signInPassword)
		return User{}, &signInFailure{status: http.StatusTooManyRequests, message: tooManyMessage(wait), retryAfter: wait}, nil
	}
	// Whatever happens below (an error, a panic), the slots are freed.
	defer func() {
		for _, a := range held {
			s.logUncounted(ctx, a.Cancel(ctx))
		}
	}()

	user, err := s.opts.Users.Authenticate(ctx, name, password)
	if errors.Is(err, ErrInvalidCredentials) {
		for _, a := range held {
			s.logUncounted(ctx, a.Fail(ctx))
		}
		s.log.InfoContext(ctx, "sign-in failed", "ip", ip, "known_device", knownDevice)
		s.opts.Metrics.SignIn(metrics.SignInFailed, signInPassword)
		return User{}, &signInFailure{status: http.StatusBadRequest, message: msgSignInWrong}, nil
	}
	if err != nil {
		return User{}, nil, err
	}
	for _, a := range held[:cleared] {
		s.logUncounted(ctx, a.Succeed(ctx))
	}
	s.log.InfoContext(ctx, "signed in", "sub", user.Subject, "ip", ip, "known_device", knownDevice)
	s.opts.Metrics.SignIn(metrics.SignInOK, signInPassword)
	if err := s.rememberDevice(ctx, w, user, deviceID); err != nil {
		// The sign-in stands; the browser is just not remembered.
		s.log.WarnContext(ctx, "setting the device cookie failed", "sub", user.Subject, "err", err)
	}
	return user, nil, nil
}

// limitKey is one limit of a sign-in attempt: a backoff, and the key the
// attempt counts against in it.
type limitKey struct {
	limiter ratelimit.BackoffLimiter
	key     string
}

// reserveAll reserves an attempt on every limit, or on none: when one
// refuses or fails, the reservations already made are cancelled; after a
// refusal, wait is the longest wait any of them asks for.
func (s *Server) reserveAll(ctx context.Context, limits []limitKey) (held []ratelimit.Attempt, wait time.Duration, err error) {
	held = make([]ratelimit.Attempt, 0, len(limits))
	cancel := func() {
		for _, h := range held {
			s.logUncounted(ctx, h.Cancel(ctx))
		}
	}
	for _, l := range limits {
		a, w, err := l.limiter.Reserve(ctx, l.key)
		if err != nil {
			cancel()
			return nil, 0, err
		}
		if a == nil {
			cancel()
			for _, other := range limits {
				// A limit that cannot say how long only leaves the
				// wait shorter; the refusal stands.
				if ow, err := other.limiter.Check(ctx, other.key); err == nil {
					w = max(w, ow)
				}
			}
			return nil, w, nil
		}
		held = append(held, a)
	}
	return held, 0, nil
}

// tooManyMessage tells a throttled person how long to wait, in the same
// whole seconds as the Retry-After header.
func tooManyMessage(wait time.Duration) string {
	n := ratelimit.RetryAfterSeconds(wait)
	unit := "seconds"
	if n == "1" {
		unit = "second"
	}
	return "Too many attempts; try again in " + n + " " + unit + "."
}

// signInUnavailable is the message of a sign-in refused because its
// limits could not be checked, with the Retry-After's wait.
func signInUnavailable() string {
	return "Sign-in is unavailable for a moment; try again in " + ratelimit.RetryAfterSeconds(unavailableRetryAfter) + " seconds."
}

// limitUncheckedPage is limitUnchecked for the pages: it logs, and answers
// a 503 page with Retry-After.
func (s *Server) limitUncheckedPage(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.limitUnchecked(r.Context(), what, err) // for its log line
	s.unavailablePage(w, r, "The server cannot check its limits on sign-ins right now, and nothing was changed.")
}

// showSignInFailure shows a sign-in form again after a failed attempt.
// show renders the form with the given status and message.
func (s *Server) showSignInFailure(w http.ResponseWriter, f *signInFailure, show func(status int, message string)) {
	if f.retryAfter > 0 {
		w.Header().Set("Retry-After", ratelimit.RetryAfterSeconds(f.retryAfter))
	}
	show(f.status, f.message)
}
