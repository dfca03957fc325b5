package authserver

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
)

func TestDeviceCookieValue(t *testing.T) {
	issued := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	alice := deviceAccount{subject: "u_aaaaaaaaaaaaaaaaaaaa", passwordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}
	bob := deviceAccount{subject: "u_bbbbbbbbbbbbbbbbbbbb", passwordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI"}
	aliceNewPassword := deviceAccount{subject: alice.subject, passwordHash: "$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3aGFzaA"}
	id := newDeviceID()
	value := alice.deviceCookieValue(id, issued)
	parts := strings.Split(value, ".")
	if len(parts) != 4 {
		t.Fatalf("cookie %q has %d parts, want 4", value, len(parts))
	}
	with := func(i int, part string) string {
		p := append([]string(nil), parts...)
		p[i] = part
		return strings.Join(p, ".")
	}
	flip := func(s string) string { // change the last character, staying in the alphabet
		last := s[len(s)-1]
		return s[:len(s)-1] + map[bool]string{true: "B", false: "A"}[last == 'A']
	}

	tests := []struct {
		name    string
		account deviceAccount
		value   string
		at      time.Time
		wantOK  bool
	}{
		{"round trip", alice, value, issued, true},
		{"a day short of expiry", alice, value, issued.Add(DeviceCookieLifetime - 24*time.Hour), true},
		{"a little in the future", alice, value, issued.Add(-time.Minute), true},
		{"expired", alice, value, issued.Add(DeviceCookieLifetime), false},
		{"from too far in the future", alice, value, issued.Add(-time.Hour), false},
		{"another account", bob, value, issued, false},
		{"after a password change", aliceNewPassword, value, issued, false},
		{"empty", alice, "", issued, false},
		{"garbage", alice, "not a cookie", issued, false},
		{"other version", alice, with(0, "d2"), issued, false},
		{"other device id", alice, with(1, newDeviceID()), issued, false},
		{"device id too short", alice, with(1, parts[1][:20]), issued, false},
		{"issued-at moved", alice, with(2, strconv.FormatInt(issued.Unix()+1, 10)), issued, false},
		{"issued-at not canonical", alice, with(2, "0"+parts[2]), issued, false},
		{"MAC flipped", alice, with(3, flip(parts[3])), issued, false},
		{"MAC padded", alice, with(3, parts[3]+"="), issued, false},
		{"MAC missing", alice, strings.Join(parts[:3], "."), issued, false},
		{"extra part", alice, value + ".x", issued, false},
		{"too long", alice, value + strings.Repeat("A", deviceCookieMaxLen), issued, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.account.deviceOf(tt.value, tt.at)
			if ok != tt.wantOK {
				t.Fatalf("deviceOf(%q) ok = %v, want %v", tt.value, ok, tt.wantOK)
			}
			if ok && got != id {
				t.Errorf("deviceOf gave device %q, want %q", got, id)
			}
			if !ok && got != "" {
				t.Errorf("a refused cookie gave device %q", got)
			}
		})
	}
}

func TestPagesDeviceCookieSetOnSignIn(t *testing.T) {
	tests := []struct {
		issuer     string
		wantSecure bool
		wantPrefix string
	}{
		{"http://localhost:8080", false, ""},
		{"https://kanban.example", true, "__Host-"},
	}
	for _, tt := range tests {
		t.Run(tt.issuer, func(t *testing.T) {
			e := newPageEnv(t, pageEnvOptions{issuer: tt.issuer})
			rec := httptest.NewRecorder()
			e.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathAuthorize+"?"+e.params(nil).Encode(), nil))
			pre := ptCookieNamed(t, rec.Result().Cookies(), tt.wantPrefix+preSessionCookie)
			form := ptHidden(rec.Body.String())
			signIn := func(password string) *httptest.ResponseRecorder {
				form.Set("username", "alice")
				form.Set("password", password)
				req := httptest.NewRequest(http.MethodPost, PathAuthorize, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.AddCookie(pre)
				rec := httptest.NewRecorder()
				e.mux.ServeHTTP(rec, req)
				return rec
			}

			if rec := signIn("a wrong password"); rec.Code != http.StatusBadRequest {
				t.Fatalf("wrong password: status %d", rec.Code)
			} else if cookies := rec.Result().Cookies(); len(cookies) != 0 {
				t.Errorf("a failed sign-in set cookies %v", cookies)
			}
			rec = signIn(goodPassword)
			if rec.Code != http.StatusOK {
				t.Fatalf("sign-in: status %d:\n%s", rec.Code, rec.Body)
			}
			dev := ptCookieNamed(t, rec.Result().Cookies(), tt.wantPrefix+deviceCookie)
			ptCheckCookie(t, dev, tt.wantSecure)
			if dev.MaxAge != int(DeviceCookieLifetime.Seconds()) {
				t.Errorf("device cookie MaxAge %d, want %d", dev.MaxAge, int(DeviceCookieLifetime.Seconds()))
			}
			a, found, err := e.users.deviceAccount(t.Context(), "alice")
			if err != nil || !found {
				t.Fatalf("deviceAccount(alice): found %v, %v", found, err)
			}
			if _, ok := a.deviceOf(dev.Value, e.clock.Now()); !ok {
				t.Errorf("the device cookie set on sign-in does not verify for alice: %q", dev.Value)
			}
		})
	}
}

// knownDevice signs name in with a throwaway browser and returns the
// device cookie it got.
func (e *pageEnv) knownDevice(name string) string {
	e.t.Helper()
	b := e.browser()
	if p := b.signIn(b.authorize(e.params(nil)), name); !isConsentPage(p) {
		e.t.Fatalf("signing %s in: status %d, want the consent page:\n%s", name, p.status, p.body)
	}
	v := b.cookie(deviceCookie)
	if v == "" {
		e.t.Fatalf("signing %s in set no device cookie", name)
	}
	return v
}

// browserWithDevice returns a browser holding only this device cookie
// (none when device is empty), on its sign-in page.
func (e *pageEnv) browserWithDevice(device string) (*ptBrowser, ptResponse) {
	e.t.Helper()
	b := e.browser()
	if device != "" {
		u, _ := url.Parse(e.http.URL)
		b.hc.Jar.SetCookies(u, []*http.Cookie{{Name: deviceCookie, Value: device, Path: "/"}})
	}
	p := b.authorize(e.params(nil))
	if !isSignInPage(p) {
		e.t.Fatalf("expected the sign-in page, got status %d:\n%s", p.status, p.body)
	}
	return b, p
}

// throttle fails on name's password from a browser without a device
// cookie until the sign-in answers 429.
func (e *pageEnv) throttle(name string) {
	e.t.Helper()
	b, page := e.browserWithDevice("")
	for range 30 {
		p := b.submit(page, map[string]string{"username": name, "password": "a guess"})
		switch p.status {
		case http.StatusBadRequest:
		case http.StatusTooManyRequests:
			return
		default:
			e.t.Fatalf("guessing %s: status %d:\n%s", name, p.status, p.body)
		}
	}
	e.t.Fatalf("30 wrong passwords for %s were never throttled", name)
}

// tamperDevice changes the last character of a device cookie's MAC.
func tamperDevice(v string) string {
	last := byte('A')
	if v[len(v)-1] == 'A' {
		last = 'B'
	}
	return v[:len(v)-1] + string(last)
}

// TestPagesKnownDeviceSignsInWhileThrottled: a guesser has made alice's
// sign-in answer 429. A browser alice signed in with before signs in at
// once; a browser without a device cookie, with a tampered one, or with
// one of another account is throttled as before.
func TestPagesKnownDeviceSignsInWhileThrottled(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	alices := e.knownDevice("alice")
	bobs := e.knownDevice("bob")
	e.throttle("alice")

	tests := []struct {
		name        string
		device      string
		wantConsent bool
	}{
		{"alice's device", alices, true},
		{"no device cookie", "", false},
		{"tampered device cookie", tamperDevice(alices), false},
		{"bob's device", bobs, false},
		{"garbage", "d1.x.y.z", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, page := e.browserWithDevice(tt.device)
			p := b.submit(page, map[string]string{"username": "alice", "password": goodPassword})
			if tt.wantConsent {
				if p.status != http.StatusOK || !isConsentPage(p) {
					t.Fatalf("status %d, want 200 and the consent page:\n%s", p.status, p.body)
				}
				return
			}
			if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
				t.Fatalf("status %d (Retry-After %q), want 429 with Retry-After:\n%s", p.status, p.header.Get("Retry-After"), p.body)
			}
			if b.cookie(sessionCookie) != "" {
				t.Errorf("a throttled sign-in set a session cookie")
			}
		})
	}
}

// TestPagesKnownDeviceFailuresCountPerDevice: wrong passwords from a known
// device are throttled per device (5 free, so the sixth is checked at once
// too, then 1 s, doubling), and count
// against neither the name nor the address: another browser at the same
// address, and another known device, sign in meanwhile.
func TestPagesKnownDeviceFailuresCountPerDevice(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	device := e.knownDevice("alice")
	other := e.knownDevice("alice")
	b, page := e.browserWithDevice(device)
	wrong := map[string]string{"username": "alice", "password": "not the password"}

	for i := range 6 {
		if p := b.submit(page, wrong); p.status != http.StatusBadRequest {
			t.Fatalf("free failure %d: status %d, want 400", i+1, p.status)
		}
	}
	for _, wantWait := range []string{"1", "2", "4"} {
		p := b.submit(page, wrong)
		if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != wantWait {
			t.Fatalf("after the free failures: status %d, Retry-After %q; want 429 and %s", p.status, p.header.Get("Retry-After"), wantWait)
		}
		e.clock.Advance(ptSeconds(t, wantWait))
		if p := b.submit(page, wrong); p.status != http.StatusBadRequest {
			t.Fatalf("after waiting %s s: status %d, want 400", wantWait, p.status)
		}
	}
	// Nine failures so far: more than the pair limit's 3 free ones, and
	// still nothing counted against alice's name or this address.
	for _, tt := range []struct{ name, device string }{{"no device cookie", ""}, {"another known device", other}} {
		nb, np := e.browserWithDevice(tt.device)
		if p := nb.submit(np, map[string]string{"username": "alice", "password": goodPassword}); !isConsentPage(p) {
			t.Errorf("%s, same address, while the device is throttled: status %d, want the consent page", tt.name, p.status)
		}
	}
	// The right password on the throttled device waits too, then works.
	right := map[string]string{"username": "alice", "password": goodPassword}
	p := b.submit(page, right)
	if p.status != http.StatusTooManyRequests {
		t.Fatalf("right password on the throttled device: status %d, want 429", p.status)
	}
	e.clock.Advance(ptSeconds(t, p.header.Get("Retry-After")))
	if p := b.submit(page, right); !isConsentPage(p) {
		t.Fatalf("right password after the wait: status %d, want the consent page", p.status)
	}
}

// TestPagesKnownDeviceOneAttemptInFlight: while an attempt of a device is
// being checked, another from the same device is throttled, so a stolen
// device cookie cannot be used for parallel guessing.
func TestPagesKnownDeviceOneAttemptInFlight(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	device := e.knownDevice("alice")
	id := strings.Split(device, ".")[1]
	held, wait, err := e.server.limits.signInDevice.Reserve(t.Context(), ratelimit.Key("device", id))
	if held == nil || err != nil {
		t.Fatalf("Reserve: refused, wait %v, err %v", wait, err)
	}
	b, page := e.browserWithDevice(device)
	right := map[string]string{"username": "alice", "password": goodPassword}
	if p := b.submit(page, right); p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
		t.Fatalf("second attempt in flight: status %d, Retry-After %q; want 429", p.status, p.header.Get("Retry-After"))
	}
	if err := held.Cancel(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p := b.submit(page, right); !isConsentPage(p) {
		t.Fatalf("after the first attempt ended: status %d, want the consent page", p.status)
	}
}

// TestPagesDeviceCookieVoided: a device cookie stops counting after a
// password change and once it has expired; the browser is then throttled
// like any other.
func TestPagesDeviceCookieVoided(t *testing.T) {
	t.Run("password changed", func(t *testing.T) {
		e := newPageEnv(t, pageEnvOptions{})
		device := e.knownDevice("alice")
		const newPassword = "a brand new passphrase"
		if _, err := e.users.SetPassword(t.Context(), "alice", newPassword, SetPasswordOptions{}); err != nil {
			t.Fatalf("SetPassword: %v", err)
		}
		e.throttle("alice")
		b, page := e.browserWithDevice(device)
		if p := b.submit(page, map[string]string{"username": "alice", "password": newPassword}); p.status != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", p.status)
		}
	})
	t.Run("expired", func(t *testing.T) {
		e := newPageEnv(t, pageEnvOptions{})
		device := e.knownDevice("alice")
		e.clock.Advance(DeviceCookieLifetime)
		e.throttle("alice")
		b, page := e.browserWithDevice(device)
		if p := b.submit(page, map[string]string{"username": "alice", "password": goodPassword}); p.status != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", p.status)
		}
	})
	t.Run("renewed by signing in", func(t *testing.T) {
		e := newPageEnv(t, pageEnvOptions{})
		device := e.knownDevice("alice")
		e.clock.Advance(DeviceCookieLifetime - time.Hour)
		b, page := e.browserWithDevice(device)
		if p := b.submit(page, map[string]string{"username": "alice", "password": goodPassword}); !isConsentPage(p) {
			t.Fatalf("sign-in: status %d", p.status)
		}
		renewed := b.cookie(deviceCookie)
		if renewed == device || strings.Split(renewed, ".")[1] != strings.Split(device, ".")[1] {
			t.Fatalf("renewed cookie %q, want a new one for the same device as %q", renewed, device)
		}
		e.clock.Advance(2 * time.Hour)
		e.throttle("alice")
		b, page = e.browserWithDevice(renewed)
		if p := b.submit(page, map[string]string{"username": "alice", "password": goodPassword}); !isConsentPage(p) {
			t.Fatalf("renewed device while throttled: status %d, want the consent page", p.status)
		}
	})
}
