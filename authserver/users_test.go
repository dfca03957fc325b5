package authserver

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kanban-mcp/kanban-mcp/internal/sqldb/sqldbtest"
)

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openTestStore opens a Store on a fresh database (sqldbtest.Open: SQLite,
// or PostgreSQL in the rerun of TestOnPostgreSQL), closed when the test
// ends.
func openTestStore(t testing.TB, clock *testClock) *Store {
	t.Helper()
	s, err := Open(context.Background(), sqldbtest.Open(t), Options{Now: clock.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func newTestUsers(t *testing.T) (*Users, *testClock) {
	t.Helper()
	clock := newTestClock()
	return NewUsers(openTestStore(t, clock), testHasher(t, testHashParams, 2)), clock
}

func mustAddUser(t testing.TB, u *Users, name, password, email string) User {
	t.Helper()
	user, err := u.AddUser(t.Context(), name, password, email)
	if err != nil {
		t.Fatalf("AddUser(%q): %v", name, err)
	}
	return user
}

var subjectPattern = regexp.MustCompile(`^u_[a-z2-7]{20}$`)

func TestAddAndListUsers(t *testing.T) {
	u, clock := newTestUsers(t)
	ctx := t.Context()

	if n, err := u.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("CountUsers on a new database = %d, %v; want 0", n, err)
	}
	if got, err := u.ListUsers(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ListUsers on a new database = %#v, %v; want an empty, non-nil list", got, err)
	}

	bob := mustAddUser(t, u, "bob", goodPassword, "")
	clock.Advance(time.Second)
	alice := mustAddUser(t, u, "Alice", goodPassword, "alice@example.com")

	want := User{Name: "Alice", Email: "alice@example.com", CreatedAt: clock.Now()}
	if diff := cmp.Diff(want, alice, cmpopts.IgnoreFields(User{}, "Subject")); diff != "" {
		t.Errorf("AddUser(Alice) (-want +got):\n%s", diff)
	}
	for _, user := range []User{alice, bob} {
		if !subjectPattern.MatchString(user.Subject) {
			t.Errorf("subject %q of %s does not match %s", user.Subject, user.Name, subjectPattern)
		}
		if strings.Contains(strings.ToLower(user.Subject), strings.ToLower(user.Name)) {
			t.Errorf("subject %q contains the name %q", user.Subject, user.Name)
		}
	}
	if alice.Subject == bob.Subject {
		t.Errorf("two users share the subject %q", alice.Subject)
	}

	got, err := u.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	// Ordered by name without regard to case: Alice before bob.
	if diff := cmp.Diff([]User{alice, bob}, got); diff != "" {
		t.Errorf("ListUsers (-want +got):\n%s", diff)
	}
	if n, err := u.CountUsers(ctx); err != nil || n != 2 {
		t.Errorf("CountUsers = %d, %v; want 2", n, err)
	}
	for _, user := range []User{alice, bob} {
		byID, err := u.UserBySubject(ctx, user.Subject)
		if err != nil {
			t.Fatalf("UserBySubject(%q): %v", user.Subject, err)
		}
		if diff := cmp.Diff(user, byID); diff != "" {
			t.Errorf("UserBySubject(%q) (-want +got):\n%s", user.Subject, diff)
		}
	}
	if _, err := u.UserBySubject(ctx, "u_aaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserBySubject(unknown) = %v; want ErrNotFound", err)
	}
	// The subject is not the name, so a lookup by name finds nothing.
	if _, err := u.UserBySubject(ctx, "bob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserBySubject(%q) = %v; want ErrNotFound", "bob", err)
	}
}

// TestSubjectNotDerivedFromName: an account removed and added again under
// the same name (here: in another database) gets a new subject, so no
// token of the old account can pass for the new one.
func TestSubjectNotDerivedFromName(t *testing.T) {
	u1, _ := newTestUsers(t)
	u2, _ := newTestUsers(t)
	a := mustAddUser(t, u1, "carol", goodPassword, "")
	b := mustAddUser(t, u2, "carol", goodPassword, "")
	if a.Subject == b.Subject {
		t.Errorf("the same name got the same subject %q twice", a.Subject)
	}
	// And it stays: signing in and changing the password do not change it.
	if _, err := u1.SetPassword(t.Context(), "carol", "another long password", SetPasswordOptions{}); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	got, err := u1.Authenticate(t.Context(), "CAROL", "another long password")
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if got.Subject != a.Subject {
		t.Errorf("subject after sign-in %q; want the one from AddUser, %q", got.Subject, a.Subject)
	}
}

func TestAddUserRefusals(t *testing.T) {
	u, _ := newTestUsers(t)
	mustAddUser(t, u, "dave", goodPassword, "")

	for _, tc := range []struct {
		name, user, password, email string
		wantField                   string // for a *ValidationError
		wantErr                     error  // otherwise
	}{
		{name: "duplicate", user: "dave", password: goodPassword, wantErr: ErrUserExists},
		{name: "duplicate in other case", user: "DaVe", password: goodPassword, wantErr: ErrUserExists},
		{name: "empty name", user: "", password: goodPassword, wantField: "name"},
		{name: "name too long", user: strings.Repeat("a", 65), password: goodPassword, wantField: "name"},
		{name: "name with space", user: "da ve", password: goodPassword, wantField: "name"},
		{name: "name with @", user: "dave@example.com", password: goodPassword, wantField: "name"},
		{name: "name with slash", user: "a/b", password: goodPassword, wantField: "name"},
		{name: "non-ASCII name", user: "dåve", password: goodPassword, wantField: "name"},
		{name: "Cyrillic look-alike", user: "dаve", password: goodPassword, wantField: "name"},
		{name: "name like a flag", user: "-dave", password: goodPassword, wantField: "name"},
		{name: "name starting with dot", user: ".dave", password: goodPassword, wantField: "name"},
		{name: "short password", user: "erin", password: "short", wantField: "password"},
		{name: "11-character password", user: "erin", password: "elevenchars", wantField: "password"},
		{name: "oversized password", user: "erin", password: strings.Repeat("p", MaxPasswordBytes+1), wantField: "password"},
		{name: "bad email", user: "erin", password: goodPassword, email: "not an email", wantField: "email"},
		{name: "email with display name", user: "erin", password: goodPassword, email: "Erin <erin@example.com>", wantField: "email"},
		{name: "email without domain", user: "erin", password: goodPassword, email: "erin@", wantField: "email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := u.AddUser(t.Context(), tc.user, tc.password, tc.email)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("AddUser = %v; want %v", err, tc.wantErr)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.wantField {
				t.Errorf("AddUser = %#v; want a *ValidationError for %q", err, tc.wantField)
			}
		})
	}
	if n, err := u.CountUsers(t.Context()); err != nil || n != 1 {
		t.Errorf("CountUsers after the refusals = %d, %v; want 1", n, err)
	}

	// The boundaries that must pass.
	for _, name := range []string{"a", "7", strings.Repeat("z", 64), "first.last", "under_score", "dash-ed", "MiXeD.99"} {
		if _, err := u.AddUser(t.Context(), name, goodPassword, ""); err != nil {
			t.Errorf("AddUser(%q): %v", name, err)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	u, _ := newTestUsers(t)
	ctx := t.Context()
	frank := mustAddUser(t, u, "Frank", goodPassword, "")
	mustAddUser(t, u, "grace", goodPassword, "")
	if _, err := u.DisableUser(ctx, "grace"); err != nil {
		t.Fatalf("DisableUser: %v", err)
	}

	for _, tc := range []struct {
		name, user, password string
		wantOK               bool
	}{
		{"right password", "Frank", goodPassword, true},
		{"name in another case", "fRANK", goodPassword, true},
		{"wrong password", "Frank", "correct horse battery!", false},
		{"empty password", "Frank", "", false},
		{"oversized password", "Frank", strings.Repeat("p", MaxPasswordBytes+1), false},
		{"unknown user", "heidi", goodPassword, false},
		{"invalid name", "no such/user", goodPassword, false},
		{"disabled user, right password", "grace", goodPassword, false},
		{"disabled user, wrong password", "grace", "wrong wrong wrong", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := u.Authenticate(ctx, tc.user, tc.password)
			if !tc.wantOK {
				// One error for all: it must not tell which case it was.
				if err != ErrInvalidCredentials {
					t.Errorf("Authenticate = %v, %v; want exactly ErrInvalidCredentials", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if diff := cmp.Diff(frank, got); diff != "" {
				t.Errorf("Authenticate (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAuthenticateUnknownUserHashes: an unknown name costs a (dummy) hash,
// like a known one, so timing does not tell names apart.
func TestAuthenticateUnknownUserHashes(t *testing.T) {
	u, _ := newTestUsers(t)
	mustAddUser(t, u, "ivan", goodPassword, "")
	var calls int
	var mu sync.Mutex
	u.h.derive = func(password, salt []byte, p HashParams, keyLen uint32) []byte {
		mu.Lock()
		calls++
		mu.Unlock()
		return deriveArgon2id(password, salt, p, keyLen)
	}
	for _, name := range []string{"ivan", "judy", "disabled"} {
		if name == "disabled" {
			mustAddUser(t, u, name, goodPassword, "")
			if _, err := u.DisableUser(t.Context(), name); err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		calls = 0
		mu.Unlock()
		_, _ = u.Authenticate(t.Context(), name, "wrong password here")
		mu.Lock()
		if calls != 1 {
			t.Errorf("Authenticate(%q, wrong password) ran %d hashes; want 1", name, calls)
		}
		mu.Unlock()
	}
}

// TestAuthenticateRehashes: a hash made under older parameters is replaced
// on the next successful sign-in, and the password keeps working.
func TestAuthenticateRehashes(t *testing.T) {
	clock := newTestClock()
	s := openTestStore(t, clock)
	old := NewUsers(s, testHasher(t, HashParams{Memory: 32, Time: 1, Threads: 1}, 1))
	mustAddUser(t, old, "kim", goodPassword, "")

	current := NewUsers(s, testHasher(t, testHashParams, 1))
	hashOf := func() string {
		var h string
		if err := s.db.Reader.QueryRowContext(t.Context(), `SELECT password_hash FROM users WHERE name = 'kim'`).Scan(&h); err != nil {
			t.Fatalf("read hash: %v", err)
		}
		return h
	}
	if h := hashOf(); !strings.HasPrefix(h, "$argon2id$v=19$m=32,t=1,p=1$") {
		t.Fatalf("stored hash %q; want one made with m=32", h)
	}
	if _, err := current.Authenticate(t.Context(), "kim", "wrong password here"); err != ErrInvalidCredentials {
		t.Fatalf("Authenticate(wrong) = %v", err)
	}
	if h := hashOf(); !strings.HasPrefix(h, "$argon2id$v=19$m=32,t=1,p=1$") {
		t.Errorf("a failed sign-in replaced the hash: %q", h)
	}
	if _, err := current.Authenticate(t.Context(), "kim", goodPassword); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if h := hashOf(); !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("after sign-in the stored hash is %q; want one made with the current m=64", h)
	}
	if _, err := current.Authenticate(t.Context(), "kim", goodPassword); err != nil {
		t.Errorf("Authenticate after rehash: %v", err)
	}
}

func TestSetPassword(t *testing.T) {
	u, _ := newTestUsers(t)
	ctx := t.Context()
	mustAddUser(t, u, "leo", goodPassword, "")

	if _, err := u.SetPassword(ctx, "leo", "short", SetPasswordOptions{}); err == nil {
		t.Errorf("SetPassword(short) succeeded")
	}
	if _, err := u.Authenticate(ctx, "leo", goodPassword); err != nil {
		t.Errorf("a refused SetPassword changed the password: %v", err)
	}
	if _, err := u.SetPassword(ctx, "nobody", "a new long password", SetPasswordOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPassword(unknown user) = %v; want ErrNotFound", err)
	}
	if _, err := u.SetPassword(ctx, "LEO", "a new long password", SetPasswordOptions{}); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	if _, err := u.Authenticate(ctx, "leo", goodPassword); err != ErrInvalidCredentials {
		t.Errorf("old password after SetPassword: %v; want ErrInvalidCredentials", err)
	}
	if _, err := u.Authenticate(ctx, "leo", "a new long password"); err != nil {
		t.Errorf("new password after SetPassword: %v", err)
	}
}

func TestDisableEnableUser(t *testing.T) {
	u, clock := newTestUsers(t)
	ctx := t.Context()
	mia := mustAddUser(t, u, "mia", goodPassword, "")

	disabled := func() bool {
		t.Helper()
		d, err := u.UserDisabled(ctx, mia.Subject)
		if err != nil {
			t.Fatalf("UserDisabled: %v", err)
		}
		return d
	}
	if disabled() {
		t.Fatalf("a new user is disabled")
	}

	clock.Advance(time.Hour)
	for i, step := range []struct {
		op          func(context.Context, string) (bool, error)
		opName      string
		wantChanged bool
		wantOff     bool
	}{
		{u.DisableUser, "DisableUser", true, true},
		{u.DisableUser, "DisableUser", false, true}, // already disabled
		{u.EnableUser, "EnableUser", true, false},
		{u.EnableUser, "EnableUser", false, false}, // already enabled
		{u.DisableUser, "DisableUser", true, true},
	} {
		changed, err := step.op(ctx, "MIA")
		if err != nil {
			t.Fatalf("step %d: %s: %v", i, step.opName, err)
		}
		if changed != step.wantChanged {
			t.Errorf("step %d: %s changed = %v; want %v", i, step.opName, changed, step.wantChanged)
		}
		if got := disabled(); got != step.wantOff {
			t.Errorf("step %d: after %s UserDisabled = %v; want %v", i, step.opName, got, step.wantOff)
		}
		user, err := u.UserBySubject(ctx, mia.Subject)
		if err != nil {
			t.Fatalf("UserBySubject: %v", err)
		}
		if user.Disabled() != step.wantOff {
			t.Errorf("step %d: User.Disabled() = %v; want %v", i, user.Disabled(), step.wantOff)
		}
		if step.wantOff && !user.DisabledAt.Equal(clock.Now()) {
			t.Errorf("step %d: DisabledAt = %v; want %v", i, user.DisabledAt, clock.Now())
		}
	}

	for _, op := range []func(context.Context, string) (bool, error){u.DisableUser, u.EnableUser} {
		if _, err := op(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Errorf("on an unknown user: %v; want ErrNotFound", err)
		}
	}
	// An unknown subject counts as disabled: checks fail closed.
	if d, err := u.UserDisabled(ctx, "u_aaaaaaaaaaaaaaaaaaaa"); err != nil || !d {
		t.Errorf("UserDisabled(unknown) = %v, %v; want true, nil", d, err)
	}
}

func TestSetEmail(t *testing.T) {
	u, _ := newTestUsers(t)
	ctx := t.Context()
	nina := mustAddUser(t, u, "nina", goodPassword, "nina@example.com")
	if nina.EmailVerified {
		t.Errorf("AddUser made the email verified")
	}
	check := func(wantEmail string, wantVerified bool) {
		t.Helper()
		got, err := u.UserBySubject(ctx, nina.Subject)
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != wantEmail || got.EmailVerified != wantVerified {
			t.Errorf("email %q verified %v; want %q %v", got.Email, got.EmailVerified, wantEmail, wantVerified)
		}
	}
	check("nina@example.com", false)
	if err := u.SetEmail(ctx, "nina", "n@example.org", true); err != nil {
		t.Fatalf("SetEmail: %v", err)
	}
	check("n@example.org", true)
	var ve *ValidationError
	if err := u.SetEmail(ctx, "nina", "", true); !errors.As(err, &ve) {
		t.Errorf("SetEmail(empty, verified) = %v; want a *ValidationError", err)
	}
	if err := u.SetEmail(ctx, "nina", "bogus", false); !errors.As(err, &ve) {
		t.Errorf("SetEmail(bogus) = %v; want a *ValidationError", err)
	}
	check("n@example.org", true)
	if err := u.SetEmail(ctx, "nina", "", false); err != nil {
		t.Fatalf("SetEmail(clear): %v", err)
	}
	check("", false)
	if err := u.SetEmail(ctx, "nobody", "x@example.com", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetEmail(unknown user) = %v; want ErrNotFound", err)
	}
}
