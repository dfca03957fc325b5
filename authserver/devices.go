package authserver

// Device cookies (OWASP, "Slow down online guessing attacks with device
// cookies").
//
// The per-name sign-in limit bounds how many passwords of one account are
// checked however many addresses a guesser uses, but for that very reason
// a guesser who keeps failing can keep the account's owner waiting too.
// So a browser that has signed in to an account before gets a device
// cookie, and its later sign-ins to that same account skip the per-name and
// per-IP limits: they are limited per device instead (signInDevice), which
// nobody else can push.
//
// The cookie is "d1.<device id>.<issued at>.<MAC>": a random device id,
// the Unix second it was issued, and an HMAC-SHA256 over the account's
// subject, the id and the time. The MAC's key is the account's stored
// password hash (a random salt and a hash nobody outside the database
// knows), so
//
//   - no server secret and no table are needed, and a restart keeps the
//     cookies valid;
//   - a cookie is only good for the account it was issued for: checked
//     against the hash of another account it fails;
//   - changing the password (what is done after a leak) voids every device
//     cookie of the account, as it ends its sessions. Re-hashing under new
//     parameters does too; the next sign-in issues a fresh cookie.
//
// Someone who can read the database can mint cookies, but they then hold
// the password hashes themselves. A stolen cookie lets its thief guess only
// at its own device's pace: 5 free failures, then doubling delays, one
// attempt in flight.
//
// A cookie that does not verify (garbled, forged, for another account,
// expired) is ignored: the attempt is limited as one without a cookie. The
// cookie value is never logged.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DeviceCookieLifetime is how long after a browser's last sign-in it still
// counts as a known device of that account.
const DeviceCookieLifetime = 90 * 24 * time.Hour

const (
	deviceCookie = "kanban_device"
	// deviceCookieVersion starts every device cookie, so the format can
	// change without an old cookie being misread.
	deviceCookieVersion = "d1"
	// deviceMACLabel ties the MAC to this one use of the password hash.
	// It is fixed on purpose and does not follow product.Name: with another
	// label every known device would be forgotten.
	deviceMACLabel = "kanban-mcp device cookie v1"
	// deviceIDBytes is the entropy of device ids: enough never to collide.
	deviceIDBytes = 16
	// deviceCookieMaxLen bounds what is parsed: a real cookie is about 90
	// characters.
	deviceCookieMaxLen = 128
	// deviceClockSkew is how far in the future an issued-at may lie: the
	// clock of this process may step back a little after a cookie was
	// issued.
	deviceClockSkew = 5 * time.Minute
)

// deviceAccount is what an account's device cookies are made and checked
// with.
type deviceAccount struct {
	subject      string
	passwordHash string
}

// newDeviceID returns a new random device id, base64url without padding.
func newDeviceID() string {
	b := make([]byte, deviceIDBytes)
	rand.Read(b) // never fails: it crashes the program instead (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// mac returns the MAC of a device cookie of the account.
func (a deviceAccount) mac(deviceID string, issuedAt int64) []byte {
	m := hmac.New(sha256.New, []byte(a.passwordHash))
	m.Write([]byte(deviceMACLabel))
	for _, part := range []string{a.subject, deviceID, strconv.FormatInt(issuedAt, 10)} {
		m.Write([]byte{0})
		m.Write([]byte(part))
	}
	return m.Sum(nil)
}

// deviceCookieValue makes the value of a device cookie for the account.
func (a deviceAccount) deviceCookieValue(deviceID string, issuedAt time.Time) string {
	iat := issuedAt.Unix()
	return strings.Join([]string{deviceCookieVersion, deviceID, strconv.FormatInt(iat, 10),
		base64.RawURLEncoding.EncodeToString(a.mac(deviceID, iat))}, ".")
}

// deviceOf returns the device id of a device cookie value when it is one
// the account issued and it has not expired at now; ok is false otherwise.
func (a deviceAccount) deviceOf(value string, now time.Time) (deviceID string, ok bool) {
	if value == "" || len(value) > deviceCookieMaxLen {
		return "", false
	}
	parts := strings.Split(value, ".")
	if len(parts) != 4 || parts[0] != deviceCookieVersion {
		return "", false
	}
	id, iatText, macText := parts[1], parts[2], parts[3]
	if b, err := base64.RawURLEncoding.Strict().DecodeString(id); err != nil || len(b) != deviceIDBytes {
		return "", false
	}
	iat, err := strconv.ParseInt(iatText, 10, 64)
	if err != nil || strconv.FormatInt(iat, 10) != iatText {
		return "", false
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(macText)
	if err != nil || !hmac.Equal(got, a.mac(id, iat)) {
		return "", false
	}
	issued := time.Unix(iat, 0)
	if issued.After(now.Add(deviceClockSkew)) || now.Sub(issued) >= DeviceCookieLifetime {
		return "", false
	}
	return id, true
}

// deviceAccount returns the device-cookie key material of the account
// named name (in any case); found is false when there is none.
func (u *Users) deviceAccount(ctx context.Context, name string) (a deviceAccount, found bool, err error) {
	err = u.s.db.Reader.QueryRowContext(ctx, `SELECT id, password_hash FROM users WHERE name = $1`, name).
		Scan(&a.subject, &a.passwordHash)
	if errors.Is(err, sql.ErrNoRows) {
		return deviceAccount{}, false, nil
	}
	if err != nil {
		return deviceAccount{}, false, fmt.Errorf("authserver: device cookie: %w", err)
	}
	return a, true, nil
}

// knownDevice returns the device id of the request's device cookie when it
// is valid for the account named name, "" otherwise. The database is only
// asked when the request has a device cookie at all.
func (s *Server) knownDevice(ctx context.Context, r *http.Request, name string) (string, error) {
	v := s.cookieValue(r, deviceCookie)
	if v == "" {
		return "", nil
	}
	a, found, err := s.opts.Users.deviceAccount(ctx, name)
	if err != nil || !found {
		return "", err
	}
	id, _ := a.deviceOf(v, s.now())
	return id, nil
}

// rememberDevice sets (or renews) the device cookie after a successful
// sign-in as user: it keeps deviceID when the browser already had a valid
// cookie for this account, else picks a new one. The key is read after the
// sign-in, which may have re-hashed the password.
func (s *Server) rememberDevice(ctx context.Context, w http.ResponseWriter, user User, deviceID string) error {
	a, found, err := s.opts.Users.deviceAccount(ctx, user.Name)
	if err != nil || !found || a.subject != user.Subject {
		return err
	}
	if deviceID == "" {
		deviceID = newDeviceID()
	}
	s.setCookie(w, deviceCookie, a.deviceCookieValue(deviceID, s.now()), int(DeviceCookieLifetime/time.Second))
	return nil
}
