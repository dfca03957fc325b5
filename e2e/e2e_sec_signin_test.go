package e2e

// Sign-in guessing in parallel, through app.Serve: a burst of wrong
// passwords for one user, sent at once from one address with one CSRF
// token and cookie, must get no more passwords checked than the same
// attempts sent one after the other.

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The documented sign-in bound for one user name from one address
// (README, "The built-in authorization server"): 3 wrong passwords are
// free, one attempt is checked at a time, and each further failure makes
// the next attempt wait, from 1 s and doubling.
const (
	signInFreePerPair = 3
	signInFirstDelay  = time.Second
)

// signInMostChecked is how many passwords of one name from one address
// the bound lets through within elapsed: the free ones, the one in flight
// when the last free one failed, and one more each time a delay (1 s,
// then 2 s, 4 s, …) has run out.
func signInMostChecked(elapsed time.Duration) int {
	n := signInFreePerPair + 1
	for d, waited := signInFirstDelay, signInFirstDelay; waited <= elapsed; d, waited = d*2, waited+d*2 {
		n++
	}
	return n
}

func TestSignInMostCheckedSchedule(t *testing.T) {
	for _, tc := range []struct {
		elapsed time.Duration
		want    int
	}{
		{0, 4},
		{999 * time.Millisecond, 4},
		{time.Second, 5},
		{2999 * time.Millisecond, 5},
		{3 * time.Second, 6},
		{7 * time.Second, 7},
	} {
		if got := signInMostChecked(tc.elapsed); got != tc.want {
			t.Errorf("signInMostChecked(%v) = %d, want %d", tc.elapsed, got, tc.want)
		}
	}
}

// TestSignInParallelGuessesAreBounded: 200 wrong passwords for the demo
// user, posted at the same moment from one address with the same sign-in
// page (one CSRF token, one cookie). Every one is answered, with the wrong-
// password page or the throttled one (429, Retry-After), and no more of
// them reach the password hash than the documented bound allows for the
// time the burst took. Each checked password is logged once as "sign-in
// failed", which is what is counted. The right password from another
// address still signs in at once: the burst locked nobody out.
func TestSignInParallelGuessesAreBounded(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": "", "TRUSTED_PROXY_HEADER": hardProxyHeader})
	password := hardDemoPassword(t, srv)
	clientID, _ := hardRegister(t, hardFrom("198.51.100.1"), srv, "none")
	authorize := hardAuthorizeURL(srv, clientID, "kanban.read", randomVerifier(t))

	guesser := hardFrom("203.0.113.60")
	form := hiddenFields(fetchPage(t, guesser, http.MethodGet, authorize, nil))
	form.Set("username", "demo")

	const burst = 200
	answers := make([]rpcResponse, burst)
	errs := make([]error, burst)
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for i := range burst {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set("password", "wrong-password-"+strconv.Itoa(i))
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/oauth/authorize", strings.NewReader(f.Encode()))
			if err != nil {
				errs[i] = err
				return
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			<-begin
			answers[i], errs[i] = hardDo(guesser, req)
		})
	}
	started := time.Now()
	close(begin)
	wg.Wait()
	elapsed := time.Since(started)

	wrong, throttled := 0, 0
	for i, r := range answers {
		if errs[i] != nil {
			t.Fatalf("attempt %d: no answer: %v", i, errs[i])
		}
		switch {
		case r.Status == http.StatusBadRequest && strings.Contains(string(r.Body), "Wrong user name or password."):
			wrong++
		case r.Status == http.StatusTooManyRequests && strings.Contains(string(r.Body), "Too many attempts; try again in "):
			hardRetryAfter(t, r.Header, 300)
			throttled++
		default:
			t.Fatalf("attempt %d: status %d, want 400 (wrong password) or 429 (throttled)\n%s", i, r.Status, r.Body)
		}
	}

	checked := 0
	for _, m := range hardLogLines(t, srv) {
		if m["msg"] == "sign-in failed" {
			checked++
		}
	}
	most := signInMostChecked(elapsed)
	t.Logf("%d wrong passwords in parallel over %v: %d checked, %d throttled (bound for that time: %d)", burst, elapsed, checked, throttled, most)
	if checked != wrong {
		t.Errorf("%d passwords checked (logged \"sign-in failed\"), but %d answered as wrong", checked, wrong)
	}
	if checked < 1 || checked > most {
		t.Errorf("%d of %d parallel wrong passwords reached the password hash; the bound allows at most %d within %v",
			checked, burst, most, elapsed)
	}

	// The owner, from elsewhere, is not locked out by the burst.
	other := hardFrom("203.0.113.61")
	f := hiddenFields(fetchPage(t, other, http.MethodGet, authorize, nil))
	f.Set("username", "demo")
	f.Set("password", password)
	if r := browse(t, other, http.MethodPost, srv.URL+"/oauth/authorize", f); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `name="level"`) {
		t.Errorf("right password from another address after the burst: status %d, want 200 and the consent page\n%s", r.Status, r.Body)
	}
	hardNoServerErrors(t, srv)
}
