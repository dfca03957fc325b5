package authserver

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSessionLifecycle(t *testing.T) {
	u, clock := newTestUsers(t)
	st := u.s
	ctx := t.Context()
	alice := mustAddUser(t, u, "alice", goodPassword, "")
	start := clock.Now()

	id, sess, err := st.CreateSession(ctx, alice.Subject)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if !wellFormedSecret(id) {
		t.Errorf("session id %q is not 43 base64url characters of 256 bits", id)
	}
	want := Session{Subject: alice.Subject, CreatedAt: start, ExpiresAt: start.Add(SessionLifetime), LastSeen: start}
	if diff := cmp.Diff(want, sess); diff != "" {
		t.Errorf("CreateSession (-want +got):\n%s", diff)
	}
	got, err := st.LookupSession(ctx, id)
	if err != nil {
		t.Fatalf("LookupSession: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LookupSession (-want +got):\n%s", diff)
	}

	// Used every hour, it lives until its lifetime ends, not longer.
	for clock.Now().Add(time.Hour).Before(start.Add(SessionLifetime)) {
		clock.Advance(time.Hour)
		got, err := st.LookupSession(ctx, id)
		if err != nil {
			t.Fatalf("LookupSession at %v: %v", clock.Now().Sub(start), err)
		}
		if !got.LastSeen.Equal(clock.Now()) {
			t.Errorf("LastSeen %v, want %v", got.LastSeen, clock.Now())
		}
	}
	clock.Advance(start.Add(SessionLifetime).Sub(clock.Now()))
	if _, err := st.LookupSession(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupSession at the end of the lifetime: %v, want ErrNotFound", err)
	}
}

func TestSessionIdleTimeout(t *testing.T) {
	u, clock := newTestUsers(t)
	st := u.s
	ctx := t.Context()
	alice := mustAddUser(t, u, "alice", goodPassword, "")
	id, _, err := st.CreateSession(ctx, alice.Subject)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(SessionIdleTimeout - time.Second)
	if _, err := st.LookupSession(ctx, id); err != nil {
		t.Fatalf("LookupSession just before the idle timeout: %v", err)
	}
	// That use restarted the idle period.
	clock.Advance(SessionIdleTimeout - time.Second)
	if _, err := st.LookupSession(ctx, id); err != nil {
		t.Fatalf("LookupSession after a use: %v", err)
	}
	clock.Advance(SessionIdleTimeout)
	if _, err := st.LookupSession(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupSession after the idle timeout: %v, want ErrNotFound", err)
	}
}

func TestSessionRefusals(t *testing.T) {
	u, _ := newTestUsers(t)
	st := u.s
	ctx := t.Context()
	alice := mustAddUser(t, u, "alice", goodPassword, "")
	bob := mustAddUser(t, u, "bob", goodPassword, "")
	aliceID, _, err := st.CreateSession(ctx, alice.Subject)
	if err != nil {
		t.Fatal(err)
	}
	bobID, _, err := st.CreateSession(ctx, bob.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateSession(ctx, ""); err == nil {
		t.Errorf("CreateSession without a subject succeeded")
	}
	if _, _, err := st.CreateSession(ctx, "u_nosuchuser"); err == nil {
		t.Errorf("CreateSession for an unknown subject succeeded")
	}

	for _, id := range []string{"", "short", newSessionSecret(), aliceID + "x", aliceID[:42] + "!"} {
		if _, err := st.LookupSession(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("LookupSession(%q): %v, want ErrNotFound", id, err)
		}
	}

	if _, err := u.DisableUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.LookupSession(ctx, bobID); !errors.Is(err, ErrNotFound) {
		t.Errorf("a disabled user's session: %v, want ErrNotFound", err)
	}
	if _, err := u.EnableUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	// Disabling ended the session for good: enabling does not revive it.
	if _, err := st.LookupSession(ctx, bobID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the session after enabling the user again: %v, want ErrNotFound", err)
	}

	if err := st.DeleteSession(ctx, aliceID); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if _, err := st.LookupSession(ctx, aliceID); !errors.Is(err, ErrNotFound) {
		t.Errorf("a deleted session: %v, want ErrNotFound", err)
	}
	if err := st.DeleteSession(ctx, "not-an-id"); err != nil {
		t.Errorf("DeleteSession of a malformed id: %v", err)
	}
}

func TestSessionIDsStoredHashed(t *testing.T) {
	u, _ := newTestUsers(t)
	st := u.s
	alice := mustAddUser(t, u, "alice", goodPassword, "")
	id, _, err := st.CreateSession(t.Context(), alice.Subject)
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := st.db.Reader.QueryRow(`SELECT id_hash FROM sessions`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(id))
	if !bytes.Equal(stored, sum[:]) {
		t.Errorf("stored %x, want the SHA-256 of the id", stored)
	}
	if bytes.Contains(stored, []byte(id)) {
		t.Errorf("the id is stored in the clear")
	}
}

func TestPruneAndDeleteSessions(t *testing.T) {
	u, clock := newTestUsers(t)
	st := u.s
	ctx := t.Context()
	alice := mustAddUser(t, u, "alice", goodPassword, "")
	bob := mustAddUser(t, u, "bob", goodPassword, "")
	create := func(subject string) string {
		id, _, err := st.CreateSession(ctx, subject)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	create(alice.Subject) // goes idle
	clock.Advance(SessionIdleTimeout / 2)
	live := create(alice.Subject)
	create(bob.Subject)
	create(bob.Subject)
	clock.Advance(SessionIdleTimeout/2 + time.Second) // idle's idle time is over

	n, err := st.PruneSessions(ctx)
	if err != nil || n != 1 {
		t.Errorf("PruneSessions = %d, %v; want 1", n, err)
	}
	if _, err := st.LookupSession(ctx, live); err != nil {
		t.Errorf("PruneSessions deleted a live session: %v", err)
	}
	// A new password signs the user out everywhere.
	done, err := u.SetPassword(ctx, bob.Name, "bob's new long password", SetPasswordOptions{})
	if err != nil || done.SessionsEnded != 2 {
		t.Errorf("SetPassword(bob) = %+v, %v; want 2 sessions ended", done, err)
	}
	var left int
	if err := st.db.Reader.QueryRow(`SELECT count(*) FROM sessions`).Scan(&left); err != nil || left != 1 {
		t.Errorf("sessions left: %d, %v; want alice's live one", left, err)
	}
	clock.Advance(SessionLifetime)
	if n, err := st.PruneSessions(ctx); err != nil || n != 1 {
		t.Errorf("PruneSessions after the lifetime = %d, %v; want 1", n, err)
	}
}

func TestCSRFTokens(t *testing.T) {
	a, b := newSessionSecret(), newSessionSecret()
	tok := csrfToken(a, csrfLabelSession)
	tests := []struct {
		name          string
		secret, label string
		got           string
		want          bool
	}{
		{"right", a, csrfLabelSession, tok, true},
		{"other secret", b, csrfLabelSession, tok, false},
		{"other label", a, csrfLabelSignIn, tok, false},
		{"empty token", a, csrfLabelSession, "", false},
		{"empty secret", "", csrfLabelSession, csrfToken("", csrfLabelSession), false},
		{"truncated", a, csrfLabelSession, tok[:len(tok)-1], false},
		{"the secret itself", a, csrfLabelSession, a, false},
	}
	for _, tt := range tests {
		if got := csrfValid(tt.secret, tt.label, tt.got); got != tt.want {
			t.Errorf("%s: csrfValid = %v, want %v", tt.name, got, tt.want)
		}
	}
	if csrfToken(a, csrfLabelSession) != tok {
		t.Errorf("csrfToken is not deterministic")
	}
	if len(tok) != 43 {
		t.Errorf("token %q is not an unpadded base64url SHA-256", tok)
	}
}
