package revocation

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb/sqldbtest"
)

// openList opens a List on db, closed (before db, as cleanups run last
// first) when the test ends.
func openList(t testing.TB, db *sqldb.DB) *List {
	t.Helper()
	l, err := New(context.Background(), db)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("List.Close: %v", err)
		}
	})
	return l
}

// newList is a List on a fresh database (sqldbtest.Open: SQLite, or
// PostgreSQL in the rerun of TestOnPostgreSQL).
func newList(t testing.TB) *List {
	t.Helper()
	return openList(t, sqldbtest.Open(t))
}

func revoked(t *testing.T, l *List, p *auth.Principal) bool {
	t.Helper()
	got, err := l.Revoked(t.Context(), p)
	if err != nil {
		t.Fatalf("Revoked(%+v): %v", p, err)
	}
	return got
}

func mustRevokeClient(t testing.TB, l *List, clientID string) Entry {
	t.Helper()
	e, err := l.RevokeClient(context.Background(), clientID, "")
	if err != nil {
		t.Fatalf("RevokeClient(%q): %v", clientID, err)
	}
	return e
}

func mustRevokeSubject(t testing.TB, l *List, iss, sub, clientID string) Entry {
	t.Helper()
	e, err := l.RevokeSubject(context.Background(), iss, sub, clientID, "")
	if err != nil {
		t.Fatalf("RevokeSubject(%q, %q, %q): %v", iss, sub, clientID, err)
	}
	return e
}

func TestRevokedMatrix(t *testing.T) {
	const iss, other = "https://id.example/", "https://other.example/"
	// who builds a principal; only the fields Revoked reads matter.
	who := func(iss, sub, client string) *auth.Principal {
		return &auth.Principal{Issuer: iss, Subject: sub, ClientID: client, Scopes: auth.Scopes{"kanban:read"}}
	}
	type check struct {
		p    *auth.Principal
		want bool
	}
	tests := []struct {
		name   string
		revoke func(t *testing.T, l *List)
		checks []check
	}{
		{
			name:   "empty list blocks nobody",
			revoke: func(t *testing.T, l *List) {},
			checks: []check{
				{who(iss, "alice", "claude"), false},
				{who(iss, "alice", ""), false},
				{who("", "", ""), false},
				{nil, false},
			},
		},
		{
			name:   "client entry blocks every user of that client only",
			revoke: func(t *testing.T, l *List) { mustRevokeClient(t, l, "claude") },
			checks: []check{
				{who(iss, "alice", "claude"), true},
				{who(iss, "bob", "claude"), true},
				{who(other, "carol", "claude"), true},
				{who(iss, "alice", "chatgpt"), false},
				{who(iss, "alice", "Claude"), false},
				{who(iss, "alice", "claude "), false},
				{who(iss, "alice", ""), false},
			},
		},
		{
			name:   "subject entry blocks that user on every client",
			revoke: func(t *testing.T, l *List) { mustRevokeSubject(t, l, iss, "alice", "") },
			checks: []check{
				{who(iss, "alice", "claude"), true},
				{who(iss, "alice", "chatgpt"), true},
				{who(iss, "alice", ""), true},
				{who(iss, "bob", "claude"), false},
				{who(other, "alice", "claude"), false},
				{who(iss, "Alice", "claude"), false},
			},
		},
		{
			name:   "subject and client entry blocks only that pair",
			revoke: func(t *testing.T, l *List) { mustRevokeSubject(t, l, iss, "alice", "claude") },
			checks: []check{
				{who(iss, "alice", "claude"), true},
				{who(iss, "alice", "chatgpt"), false},
				{who(iss, "alice", ""), false},
				{who(iss, "bob", "claude"), false},
				{who(other, "alice", "claude"), false},
			},
		},
		{
			name:   "issuer must match exactly",
			revoke: func(t *testing.T, l *List) { mustRevokeSubject(t, l, "https://a/", "alice", "") },
			checks: []check{
				{who("https://a/", "alice", "claude"), true},
				{who("https://a", "alice", "claude"), false},
				{who("https://A/", "alice", "claude"), false},
				{who("http://a/", "alice", "claude"), false},
			},
		},
		{
			name: "entries combine",
			revoke: func(t *testing.T, l *List) {
				mustRevokeClient(t, l, "evil-agent")
				mustRevokeSubject(t, l, iss, "alice", "claude")
				mustRevokeSubject(t, l, other, "bob", "")
			},
			checks: []check{
				{who(iss, "carol", "evil-agent"), true},
				{who(iss, "alice", "claude"), true},
				{who(other, "bob", "chatgpt"), true},
				{who(iss, "alice", "chatgpt"), false},
				{who(iss, "bob", "claude"), false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newList(t)
			tt.revoke(t, l)
			for _, c := range tt.checks {
				if got := revoked(t, l, c.p); got != c.want {
					t.Errorf("Revoked(%+v) = %t, want %t", c.p, got, c.want)
				}
			}
		})
	}
}

func TestRevokeIsIdempotent(t *testing.T) {
	l := newList(t)
	ctx := t.Context()

	client, err := l.RevokeClient(ctx, "claude", "leaked key")
	if err != nil {
		t.Fatal(err)
	}
	user, err := l.RevokeSubject(ctx, "https://id.example", "alice", "", "left the team")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := l.RevokeSubject(ctx, "https://id.example", "alice", "claude", "")
	if err != nil {
		t.Fatal(err)
	}

	// The same targets again, with other notes: the stored entries come
	// back unchanged, and no row is added.
	again := []func() (Entry, error){
		func() (Entry, error) { return l.RevokeClient(ctx, "claude", "another note") },
		func() (Entry, error) { return l.RevokeSubject(ctx, "https://id.example", "alice", "", "") },
		func() (Entry, error) { return l.RevokeSubject(ctx, "https://id.example", "alice", "claude", "again") },
	}
	for i, want := range []Entry{client, user, pair} {
		got, err := again[i]()
		if err != nil {
			t.Fatalf("duplicate %d: %v", i, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("duplicate of %s (-want +got):\n%s", want.ID, diff)
		}
	}

	list, err := l.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Entry{client, user, pair}, list); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

func TestEntriesAreStoredAsReturned(t *testing.T) {
	l := newList(t)
	ctx := t.Context()
	before := time.Now()
	got, err := l.RevokeSubject(ctx, "https://id.example", "alice", "claude", "asked by Alice")
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{
		Kind: KindSubject, Issuer: "https://id.example", Subject: "alice", ClientID: "claude",
		Note: "asked by Alice",
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Entry{}, "ID", "CreatedAt")); diff != "" {
		t.Errorf("RevokeSubject (-want +got):\n%s", diff)
	}
	if !regexp.MustCompile(`^rv_[a-z2-7]{12}$`).MatchString(got.ID) {
		t.Errorf("ID = %q, want rv_ and 12 base32 characters", got.ID)
	}
	if got.CreatedAt.Before(before.Add(-time.Second)) || got.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("CreatedAt = %v, want about now", got.CreatedAt)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt is in %v, want UTC", got.CreatedAt.Location())
	}

	c := mustRevokeClient(t, l, "chatgpt")
	if c.Kind != KindClient || c.Issuer != "" || c.Subject != "" || c.ClientID != "chatgpt" {
		t.Errorf("RevokeClient = %+v, want a client entry for chatgpt with no issuer or subject", c)
	}
	if c.ID == got.ID {
		t.Errorf("two entries share the ID %q", c.ID)
	}

	list, err := l.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Entry{got, c}, list); diff != "" {
		t.Errorf("List, oldest first (-want +got):\n%s", diff)
	}
}

func TestRemoveRestoresAccess(t *testing.T) {
	l := newList(t)
	ctx := t.Context()
	p := &auth.Principal{Issuer: "https://id.example", Subject: "alice", ClientID: "claude"}

	wide := mustRevokeSubject(t, l, p.Issuer, p.Subject, "")
	narrow := mustRevokeSubject(t, l, p.Issuer, p.Subject, p.ClientID)
	client := mustRevokeClient(t, l, p.ClientID)

	// Access returns only when no matching entry is left.
	for i, e := range []Entry{narrow, client, wide} {
		if !revoked(t, l, p) {
			t.Fatalf("before removing %s: not revoked, want revoked", e.ID)
		}
		ok, err := l.Remove(ctx, e.ID)
		if err != nil || !ok {
			t.Fatalf("Remove(%s) = %t, %v; want true, nil", e.ID, ok, err)
		}
		if want := i < 2; revoked(t, l, p) != want {
			t.Errorf("after removing %s: revoked = %t, want %t", e.ID, !want, want)
		}
	}

	ok, err := l.Remove(ctx, wide.ID)
	if err != nil || ok {
		t.Errorf("Remove(%s) again = %t, %v; want false, nil", wide.ID, ok, err)
	}
	ok, err = l.Remove(ctx, "rv_doesnotexist")
	if err != nil || ok {
		t.Errorf("Remove(unknown) = %t, %v; want false, nil", ok, err)
	}
	list, err := l.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Entry{}, list); diff != "" {
		t.Errorf("List after removing all (-want +got):\n%s", diff)
	}
}

func TestRevokeValidation(t *testing.T) {
	long := strings.Repeat("x", MaxValueLen+1)
	limit := strings.Repeat("x", MaxValueLen)
	tests := []struct {
		name      string
		call      func(l *List) (Entry, error)
		badFields []string // nil: the call must succeed
	}{
		{"client: empty", func(l *List) (Entry, error) { return l.RevokeClient(t.Context(), "", "") }, []string{"client ID"}},
		{"client: too long", func(l *List) (Entry, error) { return l.RevokeClient(t.Context(), long, "") }, []string{"client ID"}},
		{"client: at the limit", func(l *List) (Entry, error) { return l.RevokeClient(t.Context(), limit, limit) }, nil},
		{"client: newline", func(l *List) (Entry, error) { return l.RevokeClient(t.Context(), "claude\n", "") }, []string{"client ID"}},
		{"client: escape", func(l *List) (Entry, error) { return l.RevokeClient(t.Context(), "\x1b[31mclaude", "") }, []string{"client ID"}},
		{"client: C1 control", func(l *List) (Entry, error) { return l.RevokeClient(t.Context(), "claude\u0085", "") }, []string{"client ID"}},
		{"client: invalid UTF-8", func(l *List) (Entry, error) { return l.RevokeClient(t.Context(), "claude\xff", "") }, []string{"client ID"}},
		{"client: note with tab", func(l *List) (Entry, error) { return l.RevokeClient(t.Context(), "claude", "a\tb") }, []string{"note"}},
		{"client: note too long", func(l *List) (Entry, error) { return l.RevokeClient(t.Context(), "claude", long) }, []string{"note"}},
		{"client: unicode is fine", func(l *List) (Entry, error) { return l.RevokeClient(t.Context(), "агент-✓", "Zoë's laptop") }, nil},
		{"subject: empty issuer", func(l *List) (Entry, error) { return l.RevokeSubject(t.Context(), "", "alice", "", "") }, []string{"issuer"}},
		{"subject: empty subject", func(l *List) (Entry, error) { return l.RevokeSubject(t.Context(), "https://a", "", "", "") }, []string{"subject"}},
		{"subject: both empty", func(l *List) (Entry, error) { return l.RevokeSubject(t.Context(), "", "", "", "") }, []string{"issuer", "subject"}},
		{"subject: long subject", func(l *List) (Entry, error) { return l.RevokeSubject(t.Context(), "https://a", long, "", "") }, []string{"subject"}},
		{"subject: control in client", func(l *List) (Entry, error) {
			return l.RevokeSubject(t.Context(), "https://a", "alice", "cl\x00aude", "")
		}, []string{"client ID"}},
		{"subject: control in issuer", func(l *List) (Entry, error) {
			return l.RevokeSubject(t.Context(), "https://a\r", "alice", "", "")
		}, []string{"issuer"}},
		{"subject: no client is fine", func(l *List) (Entry, error) { return l.RevokeSubject(t.Context(), "https://a", "alice", "", "") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newList(t)
			_, err := tt.call(l)
			list, lerr := l.List(t.Context())
			if lerr != nil {
				t.Fatal(lerr)
			}
			if tt.badFields == nil {
				if err != nil {
					t.Fatalf("error %v, want success", err)
				}
				if len(list) != 1 {
					t.Errorf("%d entries stored, want 1", len(list))
				}
				return
			}
			var got []string
			for _, e := range unjoin(err) {
				var ve *ValidationError
				if !errors.As(e, &ve) {
					t.Fatalf("error %v (%T), want *ValidationError", e, e)
				}
				got = append(got, ve.Field)
			}
			if diff := cmp.Diff(tt.badFields, got); diff != "" {
				t.Errorf("invalid fields (-want +got):\n%s", diff)
			}
			if len(list) != 0 {
				t.Errorf("%d entries stored after a validation error, want 0", len(list))
			}
		})
	}
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// TestAnotherProcessSeesChangesAtOnce plays the CLI and the server: two
// separate handles on the same database, each with its own pools. The
// server's List, already warmed up (its reader connection exists), must
// see the CLI's change on its very next call.
func TestAnotherProcessSeesChangesAtOnce(t *testing.T) {
	open := sqldbtest.Reopener(t)
	server := openList(t, open(t))
	cli := openList(t, open(t))
	ctx := t.Context()
	p := &auth.Principal{Issuer: "https://id.example", Subject: "alice", ClientID: "claude"}

	if revoked(t, server, p) {
		t.Fatal("revoked before any entry exists")
	}
	e, err := cli.RevokeSubject(ctx, p.Issuer, p.Subject, "", "stolen laptop")
	if err != nil {
		t.Fatal(err)
	}
	if !revoked(t, server, p) {
		t.Error("server does not see the CLI's entry")
	}

	list, err := server.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Entry{e}, list); diff != "" {
		t.Errorf("server's List (-want +got):\n%s", diff)
	}

	if ok, err := cli.Remove(ctx, e.ID); err != nil || !ok {
		t.Fatalf("Remove = %t, %v", ok, err)
	}
	if revoked(t, server, p) {
		t.Error("server still sees the entry the CLI removed")
	}

	// And the other way round, with a client entry.
	if _, err := server.RevokeClient(ctx, "claude", ""); err != nil {
		t.Fatal(err)
	}
	if !revoked(t, cli, p) {
		t.Error("the CLI's handle does not see the server's entry")
	}
}

// TestRevokedQueryUsesIndex guards the index against drifting away from
// the query: Revoked runs on every request and must never scan the table.
func TestRevokedQueryUsesIndex(t *testing.T) {
	sqldbtest.SQLiteOnly(t) // the plan below is SQLite's
	l := newList(t)
	// Some rows, and fresh statistics, so the planner has real choices.
	for i := range 50 {
		mustRevokeClient(t, l, fmt.Sprintf("client-%d", i))
		mustRevokeSubject(t, l, "https://id.example", fmt.Sprintf("user-%d", i), "")
	}
	if _, err := l.db.ExecWrite(t.Context(), `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	rows, err := l.db.Reader.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+revokedQuery,
		"claude", "https://id.example", "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	searches := 0
	for _, d := range plan {
		if strings.HasPrefix(d, "SCAN") && d != "SCAN CONSTANT ROW" { // the outer SELECT has no table
			t.Errorf("plan scans: %q", d)
		}
		if strings.Contains(d, "USING COVERING INDEX revocations_by_target") {
			searches++
		}
	}
	if searches != 2 {
		t.Errorf("plan has %d covering searches of revocations_by_target, want 2:\n%s", searches, strings.Join(plan, "\n"))
	}
}

func TestNewIsRepeatable(t *testing.T) {
	// A second New on the same file (the CLI after the server, or a
	// restart) finds its migrations applied and keeps the entries.
	db := sqldbtest.Open(t)
	first := openList(t, db)
	e := mustRevokeClient(t, first, "claude")
	second := openList(t, db)
	list, err := second.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Entry{e}, list); diff != "" {
		t.Errorf("List after a second New (-want +got):\n%s", diff)
	}
}

func TestRevokedAfterCloseFails(t *testing.T) {
	// auth fails closed on an error; a closed List must not answer "not
	// revoked".
	db := sqldbtest.Open(t)
	l, err := New(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Revoked(t.Context(), &auth.Principal{Issuer: "https://a", Subject: "alice"}); err == nil {
		t.Error("Revoked after Close returned no error")
	}
}

func BenchmarkRevoked(b *testing.B) {
	l := newList(b)
	for i := range 500 {
		mustRevokeClient(b, l, fmt.Sprintf("client-%d", i))
		mustRevokeSubject(b, l, "https://id.example", fmt.Sprintf("user-%d", i), "")
		mustRevokeSubject(b, l, "https://id.example", fmt.Sprintf("user-%d", i), fmt.Sprintf("client-%d", i))
	}
	// The common case: a caller who is not on the list.
	p := &auth.Principal{Issuer: "https://id.example", Subject: "alice", ClientID: "claude"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Revoked(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}
