package authserver

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/clientip"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
)

// signInFailure is why a sign-in form is shown again, and how.
type signInFailure struct {
	status  int
	message string
	// retryAfter, when positive, is the throttle's wait: the answer is
	// 429 with a Retry-After header.
	retryAfter time.Duration
}

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
// Only one attempt per name, and per (name, IP), is tried at a time (two
// per IP, for people behind one address signing in at the same moment):
// one more that arrives meanwhile is throttled like an attempt during a
// delay. Without that, a burst of parallel requests would all be hashed
// before the first of their failures counted.
//
// A success clears the pair and name keys, but not the IP's: it proves the
// caller knows that one account's password, not that the other failures
// from the address (possibly guesses at other names by someone who holds an
// account) were innocent. The IP key forgets on its own after a quiet spell.
//
// Logging: failures and throttles are logged with the client address only,
// never the name. People type their password into the name field often
// enough, and a hash of it would be just as crackable as a password hash
// without a salt. Successes are logged with the subject, which is not
// secret and identifies the account without its name.
//
// err is for failures that are not the person's (the database, a sign-in
// that gave up waiting for the hasher): nothing is counted then.
func (s *Server) attemptSignIn(r *http.Request, name, password string) (User, *signInFailure, error) {
	ctx := r.Context()
	name = strings.TrimSpace(name) // a trailing space from a phone keyboard; names have none
	if name == "" || password == "" {
		return User{}, &signInFailure{status: http.StatusBadRequest, message: msgSignInMissing}, nil
	}
	ip := s.clientIP(r)
	// Names compare without regard to ASCII case, so the limits do too.
	// Names longer than any account's are cut: they all fail alike, and
	// the key stays small.
	keyName := strings.ToLower(name)
	if len(keyName) > MaxUserNameLen+1 {
		keyName = keyName[:MaxUserNameLen+1]
	}
	pairKey := ratelimit.Key("user-ip", keyName, clientip.Network(ip))
	nameKey := ratelimit.Key("user", keyName)
	ipKey := ratelimit.Key("ip", clientip.Network(ip))

	// The attempt is reserved on all three keys before the password is
	// hashed, and counted when the hash has answered: parallel requests
	// get no further than a sequence would (see ratelimit.Backoff.Reserve).
	byPair, byName, byIP, wait := reserveAll(
		limitKey{s.limits.signInPair, pairKey},
		limitKey{s.limits.signInName, nameKey},
		limitKey{s.limits.signInIP, ipKey})
	if wait > 0 {
		// Debug: the access log already has a line for each throttled
		// request (its 429), and a second one at info for something that
		// costs nothing to send would double what anyone can write there.
		s.log.DebugContext(ctx, "sign-in throttled", "ip", ip, "retry_after", wait)
		return User{}, &signInFailure{status: http.StatusTooManyRequests, message: tooManyMessage(wait), retryAfter: wait}, nil
	}
	// Whatever happens below (an error, a panic), the slots are freed.
	defer func() { byPair.Cancel(); byName.Cancel(); byIP.Cancel() }()

	user, err := s.opts.Users.Authenticate(ctx, name, password)
	if errors.Is(err, ErrInvalidCredentials) {
		byPair.Fail()
		byName.Fail()
		byIP.Fail()
		s.log.InfoContext(ctx, "sign-in failed", "ip", ip)
		return User{}, &signInFailure{status: http.StatusBadRequest, message: msgSignInWrong}, nil
	}
	if err != nil {
		return User{}, nil, err
	}
	byPair.Succeed()
	byName.Succeed()
	s.log.InfoContext(ctx, "signed in", "sub", user.Subject, "ip", ip)
	return user, nil, nil
}

// limitKey is one limit of a sign-in attempt: a backoff, and the key the
// attempt counts against in it.
type limitKey struct {
	limiter *ratelimit.Backoff
	key     string
}

// reserveAll reserves an attempt on the three limits, or on none: when one
// refuses, the reservations already made are cancelled, and wait is the
// longest wait any of the three asks for.
func reserveAll(pair, name, ip limitKey) (rPair, rName, rIP *ratelimit.Reservation, wait time.Duration) {
	all := [3]limitKey{pair, name, ip}
	var got [3]*ratelimit.Reservation
	for i, l := range all {
		r, w := l.limiter.Reserve(l.key)
		if r == nil {
			for _, held := range got[:i] {
				held.Cancel()
			}
			for _, other := range all {
				w = max(w, other.limiter.Check(other.key))
			}
			return nil, nil, nil, w
		}
		got[i] = r
	}
	return got[0], got[1], got[2], 0
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

// showSignInFailure shows a sign-in form again after a failed attempt.
// show renders the form with the given status and message.
func (s *Server) showSignInFailure(w http.ResponseWriter, f *signInFailure, show func(status int, message string)) {
	if f.retryAfter > 0 {
		w.Header().Set("Retry-After", ratelimit.RetryAfterSeconds(f.retryAfter))
	}
	show(f.status, f.message)
}
