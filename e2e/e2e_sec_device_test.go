package e2e

// Known devices, through app.Serve: a guesser who keeps failing on a user
// name from ever new addresses throttles that name for everybody, except
// for browsers the user has signed in with before (device cookie), which
// are limited on their own.

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// deviceCookieName is the device cookie's name on an http issuer (no
// __Host- prefix there, as for the session cookies).
const deviceCookieName = "kanban_device"

// TestSignInKnownDeviceOutlastsGuessing: the demo user signs in once. Then
// a guesser posts wrong passwords for "demo", each from a new IPv6 /64
// with the same sign-in page (one CSRF token and cookie), waiting out each
// Retry-After, until the name's delay has reached 8 s. While it lasts:
//
//   - a browser without a device cookie, from a fresh address, is throttled
//     (429) even with the right password: the name limit is what bounds the
//     guesser, and it still applies to every unknown browser;
//   - so is a browser with a garbled device cookie: it counts as none;
//   - the owner's browser, holding the device cookie from its earlier
//     sign-in (its session over), signs in at once with the right password;
//   - and that sign-in gives the guesser nothing back: its next attempt is
//     still throttled.
func TestSignInKnownDeviceOutlastsGuessing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits out sign-in delays for several seconds; skipped with -short")
	}
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": "", "TRUSTED_PROXY_HEADER": hardProxyHeader})
	password := hardDemoPassword(t, srv)
	clientID, _ := hardRegister(t, hardFrom("198.51.100.1"), srv, "none")
	authorize := func() string { return hardAuthorizeURL(srv, clientID, "kanban.read", randomVerifier(t)) }
	base, _ := url.Parse(srv.URL)

	// signIn posts name and password on a fresh sign-in page of c.
	signIn := func(c *http.Client, pw string) rpcResponse {
		t.Helper()
		page := fetchPage(t, c, http.MethodGet, authorize(), nil)
		if !strings.Contains(page, `name="password"`) {
			t.Fatalf("expected the sign-in page:\n%s", page)
		}
		f := hiddenFields(page)
		f.Set("username", "demo")
		f.Set("password", pw)
		return browse(t, c, http.MethodPost, srv.URL+"/oauth/authorize", f)
	}
	isConsent := func(r rpcResponse) bool {
		return r.Status == http.StatusOK && strings.Contains(string(r.Body), `name="level"`)
	}
	// withDevice is a browser from ip whose only cookie is a device
	// cookie of value v.
	withDevice := func(ip, v string) *http.Client {
		c := hardFrom(ip)
		c.Jar.SetCookies(base, []*http.Cookie{{Name: deviceCookieName, Value: v, Path: "/"}})
		return c
	}

	// The owner signs in once; the browser becomes a known device.
	const ownerIP = "2001:db8:aaaa:1::10"
	owner := hardFrom(ownerIP)
	r := signIn(owner, password)
	if !isConsent(r) {
		t.Fatalf("first sign-in: status %d, want the consent page\n%s", r.Status, r.Body)
	}
	var device *http.Cookie
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == deviceCookieName {
			device = c
		}
	}
	issued := device != nil
	if !issued {
		// Go on with none, to see what the owner's browser meets below.
		t.Errorf("the sign-in set no %s cookie; Set-Cookie: %q", deviceCookieName, r.Header.Values("Set-Cookie"))
		device = &http.Cookie{Name: deviceCookieName, Value: "d1.none"}
	} else if !device.HttpOnly || device.SameSite != http.SameSiteLaxMode || device.Path != "/" || device.MaxAge < 30*24*3600 {
		t.Errorf("device cookie: HttpOnly %v, SameSite %v, Path %q, Max-Age %d; want HttpOnly, Lax, /, and a lifetime of months",
			device.HttpOnly, device.SameSite, device.Path, device.MaxAge)
	}

	// The guesser: one sign-in page (one CSRF token and cookie), a new /64
	// for every attempt.
	guessJar, _ := cookiejar.New(nil)
	from := func(i int) *http.Client {
		c := hardFrom(fmt.Sprintf("2001:db8:bad:%x::1", i))
		c.Jar = guessJar
		return c
	}
	guessForm := hiddenFields(fetchPage(t, from(0), http.MethodGet, authorize(), nil))
	guessForm.Set("username", "demo")
	guessForm.Set("password", "not-the-password")
	const enough = 8 // seconds of delay on the name: ample time for the checks below
	throttled, tried, next := false, 0, 1
	for ; next < 100; next++ {
		r := browse(t, from(next), http.MethodPost, srv.URL+"/oauth/authorize", guessForm)
		if r.Status == http.StatusBadRequest {
			tried++
			continue
		}
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("guess %d: status %d, want 400 or 429\n%s", next, r.Status, r.Body)
		}
		throttled = true
		wait := hardRetryAfter(t, r.Header, 60)
		if wait >= enough {
			break
		}
		time.Sleep(time.Duration(wait) * time.Second)
	}
	if !throttled || next == 100 {
		t.Fatalf("%d wrong passwords from %d addresses never made the name wait %d s", tried, next, enough)
	}
	t.Logf("%d wrong passwords checked from as many /64s before the name's delay reached %d s", tried, enough)

	for _, tc := range []struct {
		name   string
		client *http.Client
	}{
		{"no device cookie", hardFrom("2001:db8:cccc:1::1")},
		{"garbled device cookie", withDevice("2001:db8:cccc:2::1", device.Value[:len(device.Value)-4]+"AAAA")},
		{"forged device cookie", withDevice("2001:db8:cccc:3::1", "d1.AAAAAAAAAAAAAAAAAAAAAA.1767225600.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")},
	} {
		r := signIn(tc.client, password)
		if r.Status != http.StatusTooManyRequests || !strings.Contains(string(r.Body), "Too many attempts; try again in ") {
			t.Errorf("%s, right password, while the name is throttled: status %d, want 429\n%s", tc.name, r.Status, r.Body)
			continue
		}
		hardRetryAfter(t, r.Header, 60)
	}

	// The owner's browser the next day: no session any more, the device
	// cookie still there.
	if r := signIn(withDevice(ownerIP, device.Value), password); !isConsent(r) {
		t.Errorf("the owner's known browser, right password, while the name is throttled: status %d (Retry-After %q), want 200 and the consent page\n%s",
			r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	// The owner's sign-in did not clear the name's delay for the guesser.
	if r := browse(t, from(next+1), http.MethodPost, srv.URL+"/oauth/authorize", guessForm); r.Status != http.StatusTooManyRequests {
		t.Errorf("guess after the owner signed in: status %d, want 429", r.Status)
	}

	// The device cookie is never logged.
	logs := srv.Log.String()
	mac := device.Value[strings.LastIndex(device.Value, ".")+1:]
	if issued && (strings.Contains(logs, device.Value) || strings.Contains(logs, mac)) {
		t.Errorf("the log contains the device cookie")
	}
	hardNoServerErrors(t, srv)
}
