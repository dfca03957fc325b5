package authserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb/sqldbtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestOnPostgreSQL runs every test of the package again on PostgreSQL:
// the authorization server writes its SQL once for both databases, and
// this is the one suite that holds it to both.
func TestOnPostgreSQL(t *testing.T) { sqldbtest.RerunOnPostgreSQL(t) }

// TestDatabaseOutageAnswers503: while PostgreSQL is down, the endpoints
// answer 503 with a Retry-After (the token endpoint as RFC 6749's
// temporarily_unavailable), not 500, since the same request succeeds once
// the database is back; and they recover by themselves.
func TestDatabaseOutageAnswers503(t *testing.T) {
	sqldbtest.SQLiteOnly(t) // it starts a PostgreSQL of its own: once is enough
	if testing.Short() {
		t.Skip("starts and stops a PostgreSQL cluster")
	}
	cluster := pgtest.Start(t)
	clock := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	store, err := Open(t.Context(), sqldbtest.OpenPostgreSQL(t, cluster.NewDatabase(t)), Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := newEPEnvOn(t, store, clock, nil)
	e.alice = mustAddUser(t, e.users, "alice", goodPassword, "")
	client := e.publicClient(t)
	code, verifier := e.authorize(t, client.ID, epAuthz{})
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {client.ID}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {client.RedirectURIs[0]}}

	cluster.Stop(t)
	tok := e.postForm(t, PathToken, form)
	var body struct{ Error string }
	_ = json.Unmarshal(tok.Body, &body)
	if tok.Status != http.StatusServiceUnavailable || tok.Header.Get("Retry-After") != "5" || body.Error != "temporarily_unavailable" {
		t.Errorf("token request with the database down: %d, Retry-After %q, error %q; want 503, 5, temporarily_unavailable\n%s",
			tok.Status, tok.Header.Get("Retry-After"), body.Error, tok.Body)
	}
	page := e.do(t, http.MethodGet, PathAuthorize+"?"+url.Values{"client_id": {client.ID}, "response_type": {"code"},
		"redirect_uri": {client.RedirectURIs[0]}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}.Encode(), "", nil)
	if page.Status != http.StatusServiceUnavailable || page.Header.Get("Retry-After") != "5" {
		t.Errorf("authorization page with the database down: %d, Retry-After %q; want 503, 5\n%s", page.Status, page.Header.Get("Retry-After"), page.Body)
	}

	// Back up: the code, untouched by the failed attempt, redeems.
	cluster.Start(t)
	if tok := e.postForm(t, PathToken, form); tok.Status != http.StatusOK {
		t.Errorf("token request after the database came back: %d, want 200\n%s", tok.Status, tok.Body)
	}
}
