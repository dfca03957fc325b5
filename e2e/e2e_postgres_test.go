package e2e

// Several `serve` processes of the real binary on one PostgreSQL database,
// as replicas behind a load balancer run (issue 13): a sign-in through one
// is good on the other, a write through one is read at once through the
// other, a revocation from the CLI reaches both within 1 s, concurrent
// writers through both lose and duplicate nothing, a replica killed with
// SIGKILL loses no acknowledged write while the other keeps serving, and a
// PostgreSQL restart is answered with 503 and Retry-After until the
// replicas recover by themselves. The PostgreSQL is a real cluster that
// the tests start (internal/pgtest); without its binaries they skip, or
// fail under CI=true.
//
// The replicas share one BASE_URL, the first replica's address: a token's
// audience is BASE_URL/mcp and the built-in server's issuer is BASE_URL,
// so a token is good on every replica only if they all have the same one.
// The others listen on addresses of their own, where the tests send their
// requests (testServer.Addr); the Host check admits them without
// ALLOWED_HOSTS because loopback names are always allowed.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
)

// revocationPromise is how soon a revocation must reach every replica:
// issue 13 promises that revocations "reach every replica within 1 s". It
// is the one timing these tests hold the server to; the others bound only
// how long a failure may take to be reported (outageBound).
const revocationPromise = time.Second

// outageBound bounds how long a request may take to be refused while the
// database is down. It is generous, since a machine under load can be
// slow: a stopped PostgreSQL on loopback refuses connections at once, so
// the bound only catches a server that waits for the database instead of
// answering.
const outageBound = 5 * time.Second

// TestReplicasShareSignInsWritesAndRevocations runs three replicas with
// the built-in authorization server on one database. The third cannot
// LISTEN (its DATABASE_DIRECT_URL names a port where nothing listens), so
// it hears no other replica's notification: what it shows right after
// another replica's write, and whether it still accepts a token just
// revoked, rests on its checks against the database alone. The test
// checks that:
//
//   - a token from a sign-in through one replica works on the others;
//   - a write through any replica is seen by a read through each other one
//     right after it, although a read just before the write had warmed
//     that replica's board cache (crossReplicaWrites);
//   - a grant revoked with `kanban-mcp grants revoke`, then a user revoked
//     with `kanban-mcp revoke subject`, each run as a separate process, is
//     refused by every replica with the revoked-token challenge within
//     revocationPromise of the command's end, while other grants still
//     work.
func TestReplicasShareSignInsWritesAndRevocations(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and three server processes")
	}
	t.Parallel()
	db := pgtest.Shared(t).NewDatabase(t)
	h := newCrashHarness(t, db, crashShape{})
	h.issuer = nil // the built-in authorization server, shared through the database
	cli := func(stdin string, args ...string) string {
		t.Helper()
		code, stdout, stderr := runBinary(t, h.bin, []string{"DATABASE_URL=" + db}, stdin, args...)
		if code != 0 {
			t.Fatalf("kanban-mcp %s: exit %d\nstdout: %s\nstderr: %s", args[0], code, stdout, stderr)
		}
		return stdout
	}

	// The operator adds the user before the replicas start (and so no
	// demo user is made).
	password := randomVerifier(t)
	added := cli(password+"\n", "users", "add", "alice", "-password-stdin")
	m := regexp.MustCompile(`^added user alice \(subject (u_\S+)\)\n$`).FindStringSubmatch(added)
	if m == nil {
		t.Fatalf("users add printed %q, want the user's subject", added)
	}
	subject := m[1]

	replicas := []*childServer{h.start(), h.start(), h.start("DATABASE_DIRECT_URL=" + pgtest.UnreachableURL(t))}
	var views []*testServer
	for _, r := range replicas {
		views = append(views, h.view(r))
	}
	// Signing in goes through replica 1, whose address is BASE_URL: the
	// pages and redirects name BASE_URL, where a browser would go.
	signIn := func(client string) string {
		t.Helper()
		return secConnect(t, views[0], secBrowser(), secRegister(t, views[0], client), "alice", password, "kanban.write").Access
	}

	first := signIn("Replica client 1")
	for i, v := range views {
		who := v.mustCall(t, first, "whoami", nil).Structured
		if str(who, "subject") != subject {
			t.Fatalf("whoami through replica %d = %v, want subject %s", i+1, who, subject)
		}
	}

	crossReplicaWrites(t, views, first)

	// Every replica sees both tokens, and so may remember them as not
	// revoked, before each revocation.
	second := signIn("Replica client 2")
	for _, tok := range []string{first, second} {
		for _, v := range views {
			v.mustCall(t, tok, "whoami", nil)
		}
	}
	cli("", "grants", "revoke", grantIDOf(t, first))
	awaitRevoked(t, views, first, time.Now(), "grants revoke")
	for _, v := range views {
		v.mustCall(t, second, "whoami", nil) // another grant: untouched
	}
	cli("", "revoke", "subject", views[0].URL, subject)
	awaitRevoked(t, views, second, time.Now(), "revoke subject")

	guessesMeetOneBackoff(t, views, secRegister(t, views[0], "Guessing client"))
}

// guessesMeetOneBackoff spreads wrong passwords for alice over the
// replicas, from one address: the (name, address) limit checks 4 before
// its first delay (3 free, then a delay after the 4th failure), in all, so
// the 5th is throttled wherever it lands. With limits in each process's
// memory, the replica that had seen two guesses would check the 5th.
func guessesMeetOneBackoff(t *testing.T, views []*testServer, clientID string) {
	t.Helper()
	verifier := randomVerifier(t)
	challenge := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {secRedirect},
		"scope": {"kanban.read"}, "state": {"sec-state"}, "resource": {views[0].MCP()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"},
	}
	guess := func(v *testServer) rpcResponse {
		t.Helper()
		// Straight to the replica's own address: a fresh browser each
		// time, so that no device cookie lifts the limit.
		browser := secBrowser()
		form := hiddenFields(fetchPage(t, browser, http.MethodGet, v.Addr+"/oauth/authorize?"+q.Encode(), nil))
		form.Set("username", "alice")
		form.Set("password", "not-alices-password")
		return browse(t, browser, http.MethodPost, v.Addr+"/oauth/authorize", form)
	}
	for i, v := range []*testServer{views[0], views[1], views[0], views[1]} {
		if r := guess(v); r.Status != http.StatusBadRequest {
			t.Fatalf("wrong password %d: %d, want 400 (checked and refused)\n%s", i+1, r.Status, r.Body)
		}
	}
	r := guess(views[1])
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("the 5th wrong password, on a replica that had seen two: %d, Retry-After %q; want 429 with a Retry-After (one backoff for all replicas)\n%s",
			r.Status, r.Header.Get("Retry-After"), r.Body)
	}
}

// crossReplicaWrites writes through each replica in turn and reads
// through every other one right after, after a read before the write had
// given each a cached copy of the board: each read must show the write,
// and the very board that the writing replica shows.
func crossReplicaWrites(t *testing.T, views []*testServer, token string) {
	t.Helper()
	created := views[0].mustCall(t, token, "create_board", map[string]any{"title": "Replicated board"}).Structured
	boardID := str(created, "id")
	var columns []string
	for _, col := range list(created, "columns") {
		columns = append(columns, str(col.(map[string]any), "id"))
	}
	if boardID == "" || len(columns) < 2 {
		t.Fatalf("create_board returned %v", created)
	}
	board := func(v *testServer) map[string]any {
		t.Helper()
		return v.mustCall(t, token, "get_board", map[string]any{"board_id": boardID}).Structured
	}
	moved := func(answer map[string]any) apiCard {
		t.Helper()
		card, _ := answer["card"].(map[string]any)
		return decodeCard(t, card)
	}

	writes := 0
	// Each round races the reads against the notification by which the
	// writer's replica tells the others to evict the board; a replica
	// that heard none must not need one.
	for round := 1; round <= crossReplicaRounds; round++ {
		var cardA, cardB apiCard
		a, b := fmt.Sprintf("Card A%d", round), fmt.Sprintf("Card B%d", round)
		steps := []struct {
			name  string
			write func(v *testServer) apiCard
			card  *apiCard // the card written, as the answer shows it
		}{
			{"add a card", func(v *testServer) apiCard {
				return decodeCard(t, v.mustCall(t, token, "add_card", map[string]any{"board_id": boardID, "column_id": columns[0], "title": a}).Structured)
			}, &cardA},
			{"add another card", func(v *testServer) apiCard {
				return decodeCard(t, v.mustCall(t, token, "add_card", map[string]any{"board_id": boardID, "column_id": columns[0], "title": b}).Structured)
			}, &cardB},
			{"move a card", func(v *testServer) apiCard {
				return moved(v.mustCall(t, token, "move_card", map[string]any{"card_id": cardA.ID, "column_id": columns[1]}).Structured)
			}, &cardA},
			{"update a card", func(v *testServer) apiCard {
				return decodeCard(t, v.mustCall(t, token, "update_card", map[string]any{"card_id": cardB.ID, "title": b + ", renamed", "expected_version": cardB.Version}).Structured)
			}, &cardB},
			{"move a card to the front of another column", func(v *testServer) apiCard {
				return moved(v.mustCall(t, token, "move_card", map[string]any{"card_id": cardB.ID, "column_id": columns[1], "position": 0}).Structured)
			}, &cardB},
		}
		for _, step := range steps {
			w := writes % len(views) // each replica writes in turn
			writes++
			what := fmt.Sprintf("round %d, %s through replica %d", round, step.name, w+1)
			before := map[int]map[string]any{}
			for r, v := range views {
				if r != w {
					before[r] = board(v) // warms that replica's cache
				}
			}
			card := step.write(views[w])
			got := map[int]map[string]any{}
			for r := range before {
				got[r] = board(views[r]) // right away
			}
			want := board(views[w])
			for r, b := range got {
				if diff := cmp.Diff(want, b); diff != "" {
					t.Errorf("%s: replica %d shows another board than the writer (-writer +replica %d):\n%s", what, r+1, r+1, diff)
				}
				if cmp.Equal(before[r], want) {
					t.Errorf("%s: the board did not change: %s", what, mustJSON(t, want))
				}
				if found := boardCard(b, card.ID); found == nil || str(found, "title") != card.Title ||
					fmt.Sprint(found["version"]) != fmt.Sprint(card.Version) || str(found, "column_id") != card.ColumnID {
					t.Errorf("%s: replica %d shows card %s as %v, want %+v", what, r+1, card.ID, found, card)
				}
			}
			*step.card = card
		}
	}
}

// crossReplicaRounds is how many times crossReplicaWrites runs its writes.
const crossReplicaRounds = 5

// decodeCard reads a card from a tool's structured answer.
func decodeCard(t *testing.T, structured map[string]any) apiCard {
	t.Helper()
	var c apiCard
	if err := json.Unmarshal([]byte(mustJSON(t, structured)), &c); err != nil || c.ID == "" {
		t.Fatalf("not a card (%v): %s", err, mustJSON(t, structured))
	}
	return c
}

// boardCard finds a card in get_board's answer, with the ID of its column
// added as column_id; nil when it is not there.
func boardCard(board map[string]any, id string) map[string]any {
	for _, col := range list(board, "columns") {
		col := col.(map[string]any)
		for _, c := range list(col, "cards") {
			if c := c.(map[string]any); str(c, "id") == id {
				found := map[string]any{"column_id": str(col, "id")}
				for k, v := range c {
					found[k] = v
				}
				return found
			}
		}
	}
	return nil
}

// awaitRevoked calls whoami with a token that was revoked at since on
// every replica, every 5 ms, until each has refused it; each refusal must
// be the revoked-token challenge, and must have come within
// revocationPromise. The delays are logged.
func awaitRevoked(t *testing.T, views []*testServer, token string, since time.Time, how string) {
	t.Helper()
	delays := make([]time.Duration, len(views))
	for left := len(views); left > 0; {
		for i, v := range views {
			if delays[i] != 0 {
				continue
			}
			resp := v.call(t, token, "whoami", nil)
			if resp.Status == http.StatusOK {
				continue
			}
			delays[i] = time.Since(since)
			left--
			// v.URL is BASE_URL, which the challenge names whichever
			// replica answered.
			checkInvalidToken(t, v, resp)
			if d := challengeParams(t, resp.Header.Get("WWW-Authenticate"))["error_description"]; !strings.Contains(d, "revoked") {
				t.Errorf("replica %d: error_description %q does not say the access was revoked", i+1, d)
			}
		}
		if left > 0 {
			if time.Since(since) > 5*time.Second {
				t.Fatalf("after %s, the token still works on a replica 5 s later (refused after: %v, 0 = not yet)", how, delays)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for i, d := range delays {
		t.Logf("after %s: replica %d refused the token %s after the command ended", how, i+1, d.Round(time.Microsecond))
		if d > revocationPromise {
			t.Errorf("after %s: replica %d took %s to refuse the token; revocations must reach every replica within %s", how, i+1, d, revocationPromise)
		}
	}
}

// TestReplicasConcurrentWriters runs 8 writers over two replicas, 4
// through each, adding, updating and moving cards on two boards that each
// has writers through both replicas, and then checks through each replica
// (crashHarness.verify) that every acknowledged write is there exactly
// once and as acknowledged, that nothing else is, that the positions of
// every column are 0..n-1 (no duplicate, no gap), and that card_count,
// of the board and of each column, is the number of its cards.
func TestReplicasConcurrentWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and two server processes")
	}
	t.Parallel()
	h, replicas, writers := replicaWriters(t, 500)
	h.load(replicas, nil, writers, 1)
	if t.Failed() {
		return
	}
	for _, r := range replicas {
		h.verify(r, writers, "after the writers stopped, through "+r.describe())
	}
}

// replicaWriters starts two replicas on a fresh database of the shared
// cluster, and sets up 8 writers on two users' boards, one board each: 4
// writers write through each replica, 2 of them on each board
// (crashHarness.load spreads them so). minWrites is crashShape.MinWrites.
func replicaWriters(t *testing.T, minWrites int) (*crashHarness, []*childServer, []*crashWriter) {
	t.Helper()
	h := newCrashHarness(t, pgtest.Shared(t).NewDatabase(t), crashShape{Writers: 8, Users: 2, BoardsPerUser: 1, MinWrites: minWrites})
	replicas := []*childServer{h.start(), h.start()}
	return h, replicas, h.setup(replicas[0])
}

// TestReplicaKilledMidWrite kills one of two replicas with SIGKILL while 8
// writers write through both, twice (each replica in turn), and checks
// that the writers of the other replica keep being answered through the
// kill and after it (crashHarness.load), and that every acknowledged write
// is there, through the replica that lived and through the killed one
// once restarted (crashHarness.verify).
func TestReplicaKilledMidWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and server processes")
	}
	t.Parallel()
	h, replicas, writers := replicaWriters(t, 200)
	for cycle := 1; cycle <= len(replicas); cycle++ {
		victim, survivor := cycle%2, (cycle+1)%2
		h.load(replicas, replicas[victim], writers, cycle)
		if t.Failed() {
			return
		}
		h.verify(replicas[survivor], writers, fmt.Sprintf("after kill %d, through %s, which lived", cycle, replicas[survivor].describe()))
		replicas[victim] = h.start()
		h.verify(replicas[victim], writers, fmt.Sprintf("after kill %d, through %s, restarted", cycle, replicas[victim].describe()))
		if t.Failed() {
			return
		}
	}
}

// TestPostgresRestartUnderLoad stops PostgreSQL under two replicas with
// writers on both, once cleanly (pg_ctl stop -m fast) and once as a crash
// (-m immediate), and checks that:
//
//   - while it is down, a tool call is answered 503 with Retry-After
//     within outageBound, authenticated (refused by the revocation check,
//     the first step that needs the database) or not (the tool call's
//     JSON-RPC error, naming the outage); /readyz answers 503 and says the
//     database is unreachable; the writers' calls fail the same way, never
//     otherwise, and never outside the outage;
//   - once it is back, both replicas serve again by themselves: each
//     writer is answered again, and /readyz says ready;
//   - every acknowledged add is on the board exactly once, through both
//     replicas, and every other card there is one whose add failed during
//     an outage.
func TestPostgresRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and two server processes")
	}
	t.Parallel()
	cluster := pgtest.Start(t) // its own: the test stops it
	h := newCrashHarness(t, cluster.NewDatabase(t), crashShape{})
	replicas := []*childServer{h.start(), h.start()}
	views := []*testServer{h.view(replicas[0]), h.view(replicas[1])}

	// A public board, which an anonymous call may read: its refusal comes
	// from the tool call itself, where an authenticated call is refused
	// before, by the revocation check.
	owner := views[0].token(t, "outage-owner", "outage-setup", "kanban.admin")
	created := views[0].mustCall(t, owner, "create_board", map[string]any{"title": "Outage board"}).Structured
	boardID := str(created, "id")
	column := str(list(created, "columns")[0].(map[string]any), "id")
	views[0].mustCall(t, owner, "share_board", map[string]any{"board_id": boardID, "visibility": "public"})

	load := startOutageLoad(t, h, replicas, boardID, column)
	load.waitAnswered(t, "before the first outage")
	for n, outage := range []struct {
		name string
		down func(testing.TB)
	}{
		{"stopped cleanly", cluster.Stop},
		{"killed", cluster.Kill},
	} {
		start := time.Now()
		outage.down(t)
		for i, v := range views {
			// A subject no replica has seen: no revocation cache can
			// answer for it, so its check must ask the database, whether
			// or not the replica has noticed yet that its LISTEN
			// connection is gone.
			newcomer := v.token(t, fmt.Sprintf("outage-newcomer-%d-%d", n, i), "outage-probe", "kanban.read")
			checkOutageAnswers(t, v, replicas[i], newcomer, boardID, outage.name)
		}
		// Let the writers meet the outage too.
		time.Sleep(300 * time.Millisecond)
		cluster.Start(t)
		load.outages = append(load.outages, [2]time.Time{start, time.Now()})
		load.waitAnswered(t, "after PostgreSQL "+outage.name+" came back")
		for i, v := range views {
			status, r, body := readyz(t, replicas[i])
			if status != http.StatusOK || r.Checks["database"] != "ok" {
				t.Errorf("replica %d, PostgreSQL %s and back: /readyz %d %s, want 200 with the database ok", i+1, outage.name, status, body)
			}
			v.mustCall(t, owner, "get_board", map[string]any{"board_id": boardID})
		}
	}
	load.finish(t)
	for i, v := range views {
		load.checkBoard(t, v, owner, fmt.Sprintf("through replica %d", i+1))
	}
}

// checkOutageAnswers checks the answers of replica v (process c) while
// the database is down; token is one that v has never seen.
func checkOutageAnswers(t *testing.T, v *testServer, c *childServer, token, boardID, outage string) {
	t.Helper()
	timed := func(what string, call func() rpcResponse) rpcResponse {
		t.Helper()
		start := time.Now()
		resp := call()
		if took := time.Since(start); took > outageBound {
			t.Errorf("%s, PostgreSQL %s: %s took %s; it must fail fast (within %s)", c.describe(), outage, what, took, outageBound)
		}
		return resp
	}
	args := map[string]any{"board_id": boardID}

	resp := timed("an authenticated call", func() rpcResponse { return v.call(t, token, "get_board", args) })
	if got, want := fmt.Sprint(resp.Status, " Retry-After: ", resp.Header.Get("Retry-After")), "503 Retry-After: 5"; got != want {
		t.Errorf("%s, PostgreSQL %s: an authenticated call answered %s, want %s; body %s", c.describe(), outage, got, want, resp.Body)
	}

	resp = timed("an anonymous call", func() rpcResponse { return v.call(t, "", "get_board", args) })
	if got, want := fmt.Sprint(resp.Status, " Retry-After: ", resp.Header.Get("Retry-After")), "503 Retry-After: 5"; got != want {
		t.Errorf("%s, PostgreSQL %s: an anonymous call answered %s, want %s; body %s", c.describe(), outage, got, want, resp.Body)
	}
	var rpcErr struct {
		ID    int `json:"id"`
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &rpcErr); err != nil || rpcErr.ID != 1 || !strings.Contains(rpcErr.Error.Message, "the database is unavailable") {
		t.Errorf("%s, PostgreSQL %s: the anonymous call's body is not its JSON-RPC error naming the outage: %s", c.describe(), outage, resp.Body)
	}

	start := time.Now()
	status, r, body := readyz(t, c)
	if took := time.Since(start); took > outageBound {
		t.Errorf("%s, PostgreSQL %s: /readyz took %s", c.describe(), outage, took)
	}
	if status != http.StatusServiceUnavailable || r.Ready || r.Checks["database"] != "unreachable" {
		t.Errorf("%s, PostgreSQL %s: /readyz %d %s, want 503, not ready, the database unreachable", c.describe(), outage, status, body)
	}
}

// readyz asks c's /readyz.
func readyz(t *testing.T, c *childServer) (status int, r readiness, body []byte) {
	t.Helper()
	resp := rawRequest(t, http.MethodGet, c.URL+"/readyz", "", nil, nil)
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		t.Fatalf("%s: /readyz body is not JSON: %v: %s", c.describe(), err, resp.Body)
	}
	return resp.Status, r, resp.Body
}

// outageLoad is writers adding cards to one board through the replicas
// while PostgreSQL goes down and comes back.
type outageLoad struct {
	boardID string
	writers []*outageWriter
	stop    atomic.Bool
	wg      sync.WaitGroup
	// outages are the times from each outage's start to its end (the
	// cluster's start returned), filled in by the test goroutine.
	outages [][2]time.Time
}

// outageWriter is one writer of an outageLoad; only its goroutine touches
// it until the load is finished.
type outageWriter struct {
	id       int
	server   *childServer
	caller   toolCaller
	token    string
	answered atomic.Int64      // adds acknowledged, for the test goroutine to follow
	acked    map[string]string // title → card ID
	failed   []outageCall      // adds that failed: they may or may not have committed
}

// outageCall is a call that failed.
type outageCall struct {
	title      string
	start, end time.Time
	err        error
}

// outageWritersPerReplica writers add cards through each replica.
const outageWritersPerReplica = 2

func startOutageLoad(t *testing.T, h *crashHarness, replicas []*childServer, boardID, column string) *outageLoad {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * outageWritersPerReplica}}
	t.Cleanup(client.CloseIdleConnections)
	l := &outageLoad{boardID: boardID}
	for i := range outageWritersPerReplica * len(replicas) {
		c := replicas[i%len(replicas)]
		w := &outageWriter{id: i, server: c, caller: toolCaller{client: client, url: c.URL + "/mcp"},
			token: h.view(c).token(t, "outage-owner", fmt.Sprintf("outage-writer-%d", i), "kanban.write"), acked: map[string]string{}}
		l.writers = append(l.writers, w)
		l.wg.Go(func() {
			for n := 0; !l.stop.Load(); n++ {
				title := fmt.Sprintf("outage w%d n%05d", w.id, n)
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				ans, err := w.caller.call(ctx, w.token, "add_card", map[string]any{"board_id": boardID, "column_id": column, "title": title})
				cancel()
				if err == nil && ans.IsError {
					err = fmt.Errorf("refused: %s", ans.Text)
				}
				var card apiCard
				if err == nil {
					if err = json.Unmarshal(ans.Structured, &card); err == nil && card.Title != title {
						err = fmt.Errorf("the answer is card %q", card.Title)
					}
				}
				if err != nil {
					w.failed = append(w.failed, outageCall{title: title, start: start, end: time.Now(), err: err})
					time.Sleep(20 * time.Millisecond) // as a client told to retry would, if less patiently
					continue
				}
				w.acked[title] = card.ID
				w.answered.Add(1)
			}
		})
	}
	return l
}

// outageWritesAfter is how many adds each writer must have had
// acknowledged, after each wait, to count as served.
const outageWritesAfter = 20

// waitAnswered waits until each writer has had outageWritesAfter more adds
// acknowledged: the replicas serve it (again). Replicas that do not recover
// by themselves fail the test after a minute.
func (l *outageLoad) waitAnswered(t *testing.T, when string) {
	t.Helper()
	base := make([]int64, len(l.writers))
	for i, w := range l.writers {
		base[i] = w.answered.Load()
	}
	start := time.Now()
	deadline := start.Add(time.Minute)
	for i, w := range l.writers {
		for w.answered.Load() < base[i]+outageWritesAfter {
			if time.Now().After(deadline) {
				l.stop.Store(true)
				l.wg.Wait()
				t.Fatalf("%s: writer %d (through %s) had %d adds acknowledged within a minute, want %d; its last failures: %v",
					when, w.id, w.server.describe(), w.answered.Load()-base[i], outageWritesAfter, w.failed[max(0, len(w.failed)-3):])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("%s: every writer had %d adds acknowledged within %s", when, outageWritesAfter, time.Since(start).Round(time.Millisecond))
}

// finish stops the writers and checks their failed calls: each must be a
// 503 with Retry-After that overlapped an outage (or the recovery just
// after it, as long as Retry-After promised) and came within outageBound.
func (l *outageLoad) finish(t *testing.T) {
	t.Helper()
	l.stop.Store(true)
	l.wg.Wait()
	var during int
	for _, w := range l.writers {
		for _, f := range w.failed {
			var se *statusError
			inOutage := false
			for _, o := range l.outages {
				// A call may still meet the outage's effects up to the
				// Retry-After the outage's answers gave (5 s).
				if f.end.After(o[0]) && f.start.Before(o[1].Add(5*time.Second)) {
					inOutage = true
				}
			}
			switch {
			case !errors.As(f.err, &se) || se.Status != http.StatusServiceUnavailable || se.RetryAfter == "":
				t.Errorf("writer %d (through %s): add %q failed otherwise than with 503 and Retry-After: %v", w.id, w.server.describe(), f.title, f.err)
			case !inOutage:
				t.Errorf("writer %d (through %s): add %q failed outside the outages, at %s: %v", w.id, w.server.describe(), f.title, f.start.Format(time.StampMicro), f.err)
			case f.end.Sub(f.start) > outageBound:
				t.Errorf("writer %d (through %s): add %q took %s to fail; it must fail fast (within %s)", w.id, w.server.describe(), f.title, f.end.Sub(f.start), outageBound)
			default:
				during++
			}
		}
	}
	t.Logf("%d adds were refused with 503 during the outages", during)
	if during == 0 {
		t.Errorf("no writer met an outage: the test did not test it")
	}
}

// checkBoard checks the board through v: every acknowledged add is on it
// once, every other card is one whose add failed, and readBoard's checks
// of positions and counts hold.
func (l *outageLoad) checkBoard(t *testing.T, v *testServer, token, how string) {
	t.Helper()
	board := readBoard(t, v, token, l.boardID, how)
	acked, failed := map[string]string{}, map[string]bool{}
	for _, w := range l.writers {
		for title, id := range w.acked {
			acked[title] = id
		}
		for _, f := range w.failed {
			failed[f.title] = true
		}
	}
	seen := map[string]string{} // title → card ID
	var total, committedFailures int
	for _, col := range board.Columns {
		total += len(col.Cards)
		for _, c := range col.Cards {
			if other, dup := seen[c.Title]; dup {
				t.Errorf("%s: cards %s and %s are both %q: an add was applied twice", how, other, c.ID, c.Title)
			}
			seen[c.Title] = c.ID
			switch id, ok := acked[c.Title]; {
			case ok && id != c.ID:
				t.Errorf("%s: card %q is %s, but its add answered %s", how, c.Title, c.ID, id)
			case !ok && failed[c.Title]:
				committedFailures++
			case !ok:
				t.Errorf("%s: UNEXPLAINED card %s %q", how, c.ID, c.Title)
			}
		}
	}
	for title, id := range acked {
		if _, ok := seen[title]; !ok {
			t.Errorf("%s: LOST card %s %q: its add was acknowledged", how, id, title)
		}
	}
	t.Logf("%s: %d cards, every one of the %d acknowledged adds, and %d adds that failed in an outage but had committed", how, total, len(acked), committedFailures)
}

// TestMigrateCommand runs `kanban-mcp migrate`, the release step before
// replicas start, on a fresh database of each kind: it exits 0 and says
// the database is up to date, a second run does the same (there is
// nothing left to do), and then `serve` starts on the database and
// answers a write and a read.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		database func(t *testing.T) (url, shown string) // shown: how migrate names it
	}{
		{"sqlite", func(t *testing.T) (string, string) {
			path := t.TempDir() + "/kanban.db"
			return path, path
		}},
		{"postgres", func(t *testing.T) (string, string) {
			db := pgtest.Shared(t).NewDatabase(t)
			u, err := url.Parse(db)
			if err != nil {
				t.Fatal(err)
			}
			// Without its user (and password) and parameters.
			return db, "postgres://" + u.Host + u.Path
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, shown := tt.database(t)
			h := newCrashHarness(t, db, crashShape{})
			for run := 1; run <= 2; run++ {
				code, stdout, stderr := runBinary(t, h.bin, []string{"DATABASE_URL=" + db}, "", "migrate")
				if code != 0 {
					t.Fatalf("migrate run %d: exit %d\nstdout: %s\nstderr: %s", run, code, stdout, stderr)
				}
				if diff := cmp.Diff("the database "+shown+" is up to date\n", stdout); diff != "" || stderr != "" {
					t.Errorf("migrate run %d: stdout (-want +got):\n%s\nstderr: %q", run, diff, stderr)
				}
			}
			srv := h.start()
			v := h.view(srv)
			tok := v.token(t, "migrate-user", "migrate-client", "kanban.write")
			created := v.mustCall(t, tok, "create_board", map[string]any{"title": "After migrate"}).Structured
			got := v.mustCall(t, tok, "get_board", map[string]any{"board_id": str(created, "id")}).Structured
			if str(got, "title") != "After migrate" {
				t.Errorf("get_board after create_board = %v", got)
			}
		})
	}
}
