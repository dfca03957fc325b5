package copydata_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/authserver"
	"github.com/kanban-mcp/kanban-mcp/authserver/upstream"
	"github.com/kanban-mcp/kanban-mcp/internal/copydata"
	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/revocation"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/postgres"
	"github.com/kanban-mcp/kanban-mcp/store/sqlite"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	password = "correct horse battery staple"
	issuer   = "https://kanban.example"
	resource = "https://kanban.example/mcp"
	redirect = "https://client.example/callback"
	// RFC 7636 Appendix B's verifier and its S256 challenge.
	verifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	// keySecret is KEY_ENCRYPTION_KEY on both sides: signing keys are
	// copied encrypted, as they are stored.
	keySecret = "one secret for the old machine and the new replicas"
)

var (
	alice     = store.Actor{Issuer: issuer, Subject: "u_alice", ClientID: "chatgpt"}
	bob       = store.Actor{Issuer: issuer, Subject: "u_bob", ClientID: "claude"}
	federated = upstream.Identity{Issuer: "https://idp.example", Subject: "248289761001", Email: "fed@example.com", EmailVerified: true, PreferredUsername: "fed"}
)

// components are the parts of a deployment on one database, opened as
// the server opens them (which migrates the database).
type components struct {
	store     store.Store
	auth      *authserver.Store
	users     *authserver.Users
	grants    *authserver.Grants
	blocklist *revocation.List
}

func openComponents(t *testing.T, st store.Store, db *sqldb.DB) *components {
	t.Helper()
	ctx := t.Context()
	as, err := authserver.Open(ctx, db, authserver.Options{})
	if err != nil {
		t.Fatalf("authserver.Open: %v", err)
	}
	// Cheap hashing: the test is about the copy, not argon2id's cost.
	hasher, err := authserver.NewHasher(authserver.HasherOptions{Params: authserver.HashParams{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	users := authserver.NewUsers(as, hasher)
	scopes, err := tools.ScopeSet()
	if err != nil {
		t.Fatal(err)
	}
	grants, err := as.Grants(users, authserver.GrantOptions{Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	list, err := revocation.New(ctx, db)
	if err != nil {
		t.Fatalf("revocation.New: %v", err)
	}
	t.Cleanup(func() { list.Close() })
	return &components{store: st, auth: as, users: users, grants: grants, blocklist: list}
}

// keys opens the signing keys, which creates the first key in an empty
// table: on the target only once the copy is done.
func (c *components) keys(t *testing.T) *authserver.Keys {
	t.Helper()
	enc, err := authserver.ParseEncryptionKey(keySecret)
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.auth.Keys(t.Context(), authserver.KeyOptions{EncryptionKey: enc})
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	return k
}

// openSQLite opens a new SQLite file with every component, as a
// single-machine server does.
func openSQLite(t *testing.T) (*sqlitedb.DB, *components) {
	t.Helper()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(t.TempDir(), "kanban.db"), sqlitedb.SyncNormal)
	if err != nil {
		t.Fatalf("sqlitedb.Open: %v", err)
	}
	st, err := sqlite.New(t.Context(), db, sqlite.Options{})
	if err != nil {
		db.Close()
		t.Fatalf("sqlite.New: %v", err)
	}
	t.Cleanup(func() { st.Close() }) // closes db
	return db, openComponents(t, st, db.SQL())
}

// openPostgreSQL opens a new PostgreSQL database with every component
// (migrated, and empty), as a replica does; pool is for the copy.
func openPostgreSQL(t *testing.T) (*pgxpool.Pool, *components) {
	t.Helper()
	pool, err := pgdb.Open(t.Context(), pgtest.Shared(t).NewDatabase(t))
	if err != nil {
		t.Fatalf("pgdb.Open: %v", err)
	}
	st, err := postgres.New(t.Context(), pool, postgres.Options{})
	if err != nil {
		pool.Close()
		t.Fatalf("postgres.New: %v", err)
	}
	t.Cleanup(func() { st.Close() }) // closes pool
	return pool, openComponents(t, st, pgdb.SQL(pool, &pgdb.UncachedRevocations{Pool: pool}))
}

// deployment is a SQLite deployment with something in every table that
// matters, made through the components' own APIs, and what a person or a
// client of it holds: the secrets that must still work after the move.
type deployment struct {
	db *sqlitedb.DB
	c  *components

	boards       []string // IDs
	aliceUser    authserver.User
	clientID     string // public, with alice's grant
	confidential string // with a secret
	secret       string
	refresh      string // alice's live refresh token
	session      string // alice's browser session
	// tokens signed before and after a rotation of the signing key.
	oldToken, newToken string
	// highestActivityID is SQLite's AUTOINCREMENT high-water mark, above
	// every activity row that is left.
	highestActivityID int64
}

func buildDeployment(t *testing.T) *deployment {
	t.Helper()
	ctx := t.Context()
	db, c := openSQLite(t)
	d := &deployment{db: db, c: c}

	// Boards, columns and cards, with labels, moves, an update and a gap
	// closed by a delete; one board public.
	roadmap := storetest.MustBoard(t, c.store, alice, "Roadmap", "Todo", "Doing", "Done")
	todo, doing := roadmap.Columns[0].ID, roadmap.Columns[1].ID
	first := storetest.MustCard(t, c.store, alice, store.NewCard{BoardID: roadmap.ID, ColumnID: todo, Title: "Ship", Description: "the whole\nthing", Labels: []string{"urgent", "ünïcödé ✓"}})
	second := storetest.MustCard(t, c.store, alice, store.NewCard{BoardID: roadmap.ID, ColumnID: todo, Title: "No labels"})
	gone := storetest.MustCard(t, c.store, alice, store.NewCard{BoardID: roadmap.ID, ColumnID: todo, Title: "Gone", Labels: []string{"x"}})
	storetest.MustCard(t, c.store, alice, store.NewCard{BoardID: roadmap.ID, ColumnID: todo, Title: "Last", Labels: []string{"a", "b", "c"}})
	top := 0
	if _, err := c.store.MoveCard(ctx, storetest.Call(alice, "move_card"), first.ID, doing, &top); err != nil {
		t.Fatal(err)
	}
	labels := []string{"later"}
	if _, err := c.store.UpdateCard(ctx, storetest.Call(alice, "update_card"), store.CardUpdate{CardID: second.ID, Labels: &labels}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.store.DeleteCard(ctx, storetest.Call(alice, "delete_card"), gone.ID); err != nil {
		t.Fatal(err)
	}
	shared := storetest.MustBoard(t, c.store, bob, "Shared", "Only")
	storetest.MustCard(t, c.store, bob, store.NewCard{BoardID: shared.ID, ColumnID: shared.Columns[0].ID, Title: "Read me"})
	if _, err := c.store.ShareBoard(ctx, storetest.Call(bob, "share_board"), shared.ID, store.Public); err != nil {
		t.Fatal(err)
	}
	d.boards = []string{roadmap.ID, shared.ID}
	// A read's activity row, as the audit queue records it.
	if err := c.store.RecordActivity(ctx, []store.Activity{{
		At: time.Now(), Tool: "get_board", Outcome: store.OutcomeOK, Actor: alice,
		BoardID: shared.ID, IDs: []string{shared.ID}, Summary: "read Shared",
	}}); err != nil {
		t.Fatal(err)
	}
	// The newest row gone, as if pruned: AUTOINCREMENT never hands its ID
	// out again, and PostgreSQL's identity must not either, since
	// activity cursors hold IDs.
	if err := db.Writer.QueryRowContext(ctx, `DELETE FROM activity WHERE id = (SELECT max(id) FROM activity) RETURNING id`).Scan(&d.highestActivityID); err != nil {
		t.Fatal(err)
	}

	// Users: one with a password, one federated.
	var err error
	if d.aliceUser, err = c.users.AddUser(ctx, "alice", password, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.users.SignInUpstream(ctx, federated); err != nil {
		t.Fatal(err)
	}
	// Clients: a public one registered by DCR and a confidential one.
	pub, err := authserver.ValidateRegistration(authserver.RegistrationRequest{RedirectURIs: []string{redirect}, ClientName: "Public", TokenEndpointAuthMethod: authserver.AuthMethodNone})
	if err != nil {
		t.Fatal(err)
	}
	client, _, err := c.auth.RegisterClient(ctx, pub, authserver.SourceDCR)
	if err != nil {
		t.Fatal(err)
	}
	d.clientID = client.ID
	conf, err := authserver.ValidateRegistration(authserver.RegistrationRequest{RedirectURIs: []string{redirect}, ClientName: "Confidential"})
	if err != nil {
		t.Fatal(err)
	}
	confidential, secret, err := c.auth.RegisterClient(ctx, conf, authserver.SourcePreregistered)
	if err != nil {
		t.Fatal(err)
	}
	d.confidential, d.secret = confidential.ID, secret
	// A grant through a whole authorization: code, redemption, refresh
	// token, and one rotation of it (so the chain has a used parent).
	code, err := c.grants.IssueCode(ctx, authserver.CodeRequest{Subject: d.aliceUser.Subject, ClientID: d.clientID, RedirectURI: redirect,
		CodeChallenge: challenge, Resource: resource, Scope: []string{string(tools.ScopeWrite)}})
	if err != nil {
		t.Fatal(err)
	}
	grant, err := c.grants.RedeemCode(ctx, authserver.RedeemRequest{Code: code, ClientID: d.clientID, RedirectURI: redirect, CodeVerifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	firstRefresh, _, err := c.grants.IssueRefreshToken(ctx, grant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, d.refresh, err = c.grants.Refresh(ctx, authserver.RefreshRequest{Token: firstRefresh, ClientID: d.clientID}); err != nil {
		t.Fatal(err)
	}
	if err := c.grants.RememberConsent(ctx, d.aliceUser.Subject, d.clientID, []auth.Scope{tools.ScopeWrite}); err != nil {
		t.Fatal(err)
	}
	if d.session, _, err = c.auth.CreateSession(ctx, d.aliceUser.Subject); err != nil {
		t.Fatal(err)
	}
	// Signing keys: the first, and a second after a rotation; a token
	// signed by each.
	keys := c.keys(t)
	claims := jwt.RegisteredClaims{Issuer: issuer, Subject: d.aliceUser.Subject, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}
	if d.oldToken, err = keys.Sign(ctx, claims, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.Rotate(ctx, true); err != nil {
		t.Fatal(err)
	}
	if d.newToken, err = keys.Sign(ctx, claims, nil); err != nil {
		t.Fatal(err)
	}
	// The operator's blocklist.
	if _, err := c.blocklist.RevokeClient(ctx, "https://evil.example/client.json", "scraping"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.blocklist.RevokeSubject(ctx, "https://idp.example", "mallory", "", ""); err != nil {
		t.Fatal(err)
	}
	return d
}

// view is everything a deployment shows of its data through the
// components' APIs; the copy must show the same.
type view struct {
	Boards      []*store.Board
	Lists       []store.BoardList
	Activity    []store.ActivityList
	Users       []authserver.User
	Clients     []authserver.Client
	Grants      []authserver.Grant
	Consent     []auth.Scope
	Session     authserver.Session
	KIDs        []string
	Revocations []revocation.Entry
}

func (d *deployment) view(t *testing.T, c *components, keys *authserver.Keys) view {
	t.Helper()
	ctx := t.Context()
	var v view
	for _, viewer := range []store.Actor{alice, bob, {}} {
		for _, id := range d.boards {
			b, err := c.store.GetBoard(ctx, viewer, id)
			if store.ErrorCode(err) == store.NotFound {
				continue
			}
			if err != nil {
				t.Fatalf("GetBoard: %v", err)
			}
			v.Boards = append(v.Boards, b)
		}
		list, err := c.store.ListBoards(ctx, viewer, store.Page{})
		if err != nil {
			t.Fatalf("ListBoards: %v", err)
		}
		activity, err := c.store.ListActivity(ctx, viewer, "", store.Page{Limit: 100})
		if err != nil {
			t.Fatalf("ListActivity: %v", err)
		}
		v.Lists, v.Activity = append(v.Lists, list), append(v.Activity, activity)
	}
	var err error
	if v.Users, err = c.users.ListUsers(ctx); err != nil {
		t.Fatal(err)
	}
	if v.Clients, err = c.auth.ListClients(ctx); err != nil {
		t.Fatal(err)
	}
	if v.Grants, err = c.grants.ListGrants(ctx, d.aliceUser.Subject); err != nil {
		t.Fatal(err)
	}
	if v.Consent, _, err = c.grants.Consent(ctx, d.aliceUser.Subject, d.clientID); err != nil {
		t.Fatal(err)
	}
	if v.Session, err = c.auth.LookupSession(ctx, d.session); err != nil {
		t.Fatal(err)
	}
	if v.Revocations, err = c.blocklist.List(ctx); err != nil {
		t.Fatal(err)
	}
	v.KIDs = jwksKIDs(t, keys)
	return v
}

func jwksKIDs(t *testing.T, keys *authserver.Keys) []string {
	t.Helper()
	raw, err := keys.JWKS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	slices.Sort(kids)
	return kids
}

// TestCopyMovesADeployment copies a SQLite deployment with something in
// every table that matters and checks, through the PostgreSQL side's own
// APIs, that nothing was lost: the same boards, activity, users, clients,
// grants, consent, session, keys and blocklist, and the secrets people
// and clients hold still work. Then it writes on PostgreSQL where
// sequences number the rows, which must not collide with copied ones.
func TestCopyMovesADeployment(t *testing.T) {
	ctx := t.Context()
	d := buildDeployment(t)
	want := d.view(t, d.c, d.c.keys(t))
	pool, pg := openPostgreSQL(t)

	report, err := copydata.Copy(ctx, d.db.Reader, pool, copydata.Options{})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	rows := map[string]int64{}
	for _, tbl := range report.Tables {
		if tbl.TargetOnly || tbl.Cleaned != 0 || tbl.Replaced != 0 {
			t.Errorf("table %+v: want a plain copy", tbl)
		}
		rows[tbl.Name] = tbl.Rows
	}
	// Every table of every component is in the report, with the rows of
	// the source.
	for table, n := range sqliteCounts(t, d.db.Reader) {
		if got, ok := rows[table]; !ok || got != n {
			t.Errorf("table %s: report says %d rows (listed: %v), SQLite holds %d", table, got, ok, n)
		}
	}
	for _, table := range []string{"boards", "columns", "cards", "activity", "users", "clients", "grants", "authorization_codes", "refresh_tokens", "consents", "sessions", "signing_keys", "revocations"} {
		if rows[table] == 0 {
			t.Errorf("table %s: no row copied; the deployment should have some", table)
		}
	}

	pgKeys := pg.keys(t)
	if diff := cmp.Diff(want, d.view(t, pg, pgKeys)); diff != "" {
		t.Errorf("PostgreSQL shows another deployment (-want +got):\n%s", diff)
	}

	// What people and clients hold still works.
	if _, err := pg.users.Authenticate(ctx, "alice", password); err != nil {
		t.Errorf("alice signs in with her password: %v", err)
	}
	if u, created, err := pg.users.SignInUpstream(ctx, federated); err != nil || created {
		t.Errorf("the federated user signs in again: %+v, created %v, %v", u, created, err)
	}
	if err := pg.auth.VerifyClientSecret(ctx, d.confidential, d.secret); err != nil {
		t.Errorf("the confidential client's secret: %v", err)
	}
	if _, _, err := pg.grants.Refresh(ctx, authserver.RefreshRequest{Token: d.refresh, ClientID: d.clientID}); err != nil {
		t.Errorf("the refresh token refreshes: %v", err)
	}
	source, err := pgKeys.KeySource(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{"before the rotation": d.oldToken, "after it": d.newToken} {
		if _, err := jwt.Parse(token, source.Keyfunc(ctx), jwt.WithValidMethods([]string{"RS256"})); err != nil {
			t.Errorf("a token signed %s does not verify: %v", name, err)
		}
	}

	// New rows that sequences number.
	b := storetest.MustGet(t, pg.store, alice, d.boards[0])
	storetest.MustCard(t, pg.store, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "On PostgreSQL"})
	activity, err := pg.store.ListActivity(ctx, alice, "", store.Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if id := activity.Activity[0].ID; id <= d.highestActivityID {
		t.Errorf("the first activity row on PostgreSQL has ID %d, want one above SQLite's high-water mark %d", id, d.highestActivityID)
	}
	reg, err := authserver.ValidateRegistration(authserver.RegistrationRequest{RedirectURIs: []string{redirect}, ClientName: "New", TokenEndpointAuthMethod: authserver.AuthMethodNone})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := pg.auth.RegisterClient(ctx, reg, authserver.SourceDCR); err != nil {
		t.Errorf("register a client on PostgreSQL: %v", err)
	}
	if _, err := pg.blocklist.RevokeClient(ctx, "another-client", ""); err != nil {
		t.Errorf("revoke a client on PostgreSQL: %v", err)
	}
	kid, _, err := pgKeys.Rotate(ctx, true)
	if err != nil {
		t.Fatalf("rotate the keys on PostgreSQL: %v", err)
	}
	if signer, _, err := pgKeys.Signer(ctx); err != nil || signer != kid {
		t.Errorf("after a rotation on PostgreSQL the signer is %q (%v), want the new key %q", signer, err, kid)
	}
}

// sqliteCounts counts the rows of every table of the components in db.
func sqliteCounts(t *testing.T, db *sql.DB) map[string]int64 {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	counts := map[string]int64{}
	for _, name := range names {
		var n int64
		if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM "`+name+`"`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[name] = n
	}
	return counts
}

// pgRows is the number of rows in all of the target's tables but the
// migrations'.
func pgRows(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, name := range names {
		var n int64
		if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM "+pgx.Identifier{name}.Sanitize()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

// TestCopyRefusesATargetWithData: a server that started on the target
// before the copy made a signing key there. The copy refuses to merge,
// changing nothing, and says what it found; with Replace it deletes those
// rows and copies, in one transaction.
func TestCopyRefusesATargetWithData(t *testing.T) {
	ctx := t.Context()
	d := buildDeployment(t)
	wantKIDs := jwksKIDs(t, d.c.keys(t))
	pool, pg := openPostgreSQL(t)
	ownKIDs := jwksKIDs(t, pg.keys(t)) // the key a server would make at start-up

	_, err := copydata.Copy(ctx, d.db.Reader, pool, copydata.Options{})
	var notEmpty *copydata.NotEmptyError
	if !errors.As(err, &notEmpty) {
		t.Fatalf("Copy into a target with a signing key: %v, want a NotEmptyError", err)
	}
	if diff := cmp.Diff([]copydata.Table{{Name: "signing_keys", Replaced: 1}}, notEmpty.Tables); diff != "" {
		t.Errorf("the tables that hold data (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), "signing_keys: 1 row") {
		t.Errorf("the error does not say what the target holds: %v", err)
	}
	if got := jwksKIDs(t, pg.keys(t)); !slices.Equal(got, ownKIDs) || pgRows(t, pool) != 1 {
		t.Errorf("the refused copy changed the target: keys %v, %d rows; want %v alone", got, pgRows(t, pool), ownKIDs)
	}

	report, err := copydata.Copy(ctx, d.db.Reader, pool, copydata.Options{Replace: true})
	if err != nil {
		t.Fatalf("Copy with Replace: %v", err)
	}
	for _, tbl := range report.Tables {
		if want := int64(0); tbl.Name == "signing_keys" {
			want = 1
			if tbl.Replaced != want {
				t.Errorf("signing_keys: Replaced %d, want %d", tbl.Replaced, want)
			}
		} else if tbl.Replaced != want {
			t.Errorf("%s: Replaced %d, want %d", tbl.Name, tbl.Replaced, want)
		}
	}
	if got := jwksKIDs(t, pg.keys(t)); !slices.Equal(got, wantKIDs) {
		t.Errorf("after Replace the target publishes %v, want the source's keys %v alone", got, wantKIDs)
	}
}

// TestCopyRefusesSchemasThatDoNotMatch: a migration of one backend without
// its counterpart in the other would lose data in the copy, so every such
// mismatch fails it, by name, before anything is written. A table that
// only PostgreSQL has is left empty and reported.
func TestCopyRefusesSchemasThatDoNotMatch(t *testing.T) {
	tests := []struct {
		name     string
		sqlite   string // run on the source first
		postgres string // run on the target first
		want     string // in the error; "" for a copy that succeeds
	}{
		{
			name:   "a SQLite table",
			sqlite: `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT; INSERT INTO notes (body) VALUES ('kept nowhere')`,
			want:   "the SQLite table notes has no PostgreSQL table to go to",
		},
		{
			name:   "a SQLite column",
			sqlite: `ALTER TABLE boards ADD COLUMN colour TEXT`,
			want:   "the SQLite column boards.colour has no PostgreSQL column to go to",
		},
		{
			name:     "a PostgreSQL column",
			postgres: `ALTER TABLE boards ADD COLUMN colour text`,
			want:     "the PostgreSQL column boards.colour has no SQLite column to come from",
		},
		{
			name:     "a type without a conversion",
			sqlite:   `ALTER TABLE cards ADD COLUMN due INTEGER`,
			postgres: `ALTER TABLE cards ADD COLUMN due timestamptz`,
			want:     "the PostgreSQL column cards.due is of type timestamptz",
		},
		{
			name:     "a PostgreSQL table",
			postgres: `CREATE TABLE sign_in_backoff (key text PRIMARY KEY, until bigint NOT NULL)`,
		},
		{
			// As boards.revision: what PostgreSQL alone needs, declared so
			// by its migration, keeps its default.
			name: "a derived PostgreSQL column",
			postgres: `CREATE TABLE sign_in_backoff (key text PRIMARY KEY, until bigint NOT NULL);
				ALTER TABLE boards ADD COLUMN colour text NOT NULL DEFAULT 'grey';
				COMMENT ON COLUMN boards.colour IS 'derived: for the test'`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			db, c := openSQLite(t)
			storetest.MustBoard(t, c.store, alice, "Roadmap", "Todo")
			if tt.sqlite != "" {
				if _, err := db.Writer.ExecContext(ctx, tt.sqlite); err != nil {
					t.Fatal(err)
				}
			}
			pool, _ := openPostgreSQL(t)
			if tt.postgres != "" {
				if _, err := pool.Exec(ctx, tt.postgres); err != nil {
					t.Fatal(err)
				}
			}
			report, err := copydata.Copy(ctx, db.Reader, pool, copydata.Options{})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Copy: %v", err)
				}
				i := slices.IndexFunc(report.Tables, func(tbl copydata.Table) bool { return tbl.Name == "sign_in_backoff" })
				if i < 0 || !report.Tables[i].TargetOnly || report.Tables[i].Rows != 0 {
					t.Errorf("the PostgreSQL-only table is not reported as left empty: %+v", report.Tables)
				}
				return
			}
			var schemaErr *copydata.SchemaError
			if !errors.As(err, &schemaErr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Copy: %v, want a SchemaError saying %q", err, tt.want)
			}
			if n := pgRows(t, pool); n != 0 {
				t.Errorf("the refused copy left %d rows in the target", n)
			}
		})
	}
}

// TestCopyFailsWhileTheSourceIsWritten: a server still running on the
// SQLite file would write rows that the copy's snapshot misses, to be lost
// once the replicas take over; a write during the copy fails it.
func TestCopyFailsWhileTheSourceIsWritten(t *testing.T) {
	ctx := t.Context()
	db, c := openSQLite(t)
	storetest.MustBoard(t, c.store, alice, "Roadmap", "Todo")
	pool, _ := openPostgreSQL(t)

	// The running server: it records activity without pause until the
	// copy is over, so that commits fall inside the copy.
	writing, stop := context.WithCancel(ctx)
	wrote := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		first := true
		for writing.Err() == nil {
			err := c.store.RecordActivity(writing, []store.Activity{{At: time.Now(), Tool: "get_board", Outcome: store.OutcomeOK, Actor: alice}})
			if err != nil && writing.Err() == nil {
				done <- err
				return
			}
			if first {
				close(wrote)
				first = false
			}
		}
		done <- nil
	}()
	<-wrote
	_, err := copydata.Copy(ctx, db.Reader, pool, copydata.Options{})
	stop()
	if werr := <-done; werr != nil {
		t.Fatalf("the writer failed: %v", werr)
	}
	if !errors.Is(err, copydata.ErrSourceChanged) {
		t.Fatalf("Copy while the source is written: %v, want ErrSourceChanged", err)
	}
	if n := pgRows(t, pool); n != 0 {
		t.Errorf("the failed copy left %d rows in the target", n)
	}
}
