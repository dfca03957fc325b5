package e2e

// Crash safety: the real binary as a child process, 32 concurrent writers,
// SIGKILL in the middle of the load, a restart on the same database file,
// and a check that every write whose answer arrived is there, intact, with
// its audit row. Writes whose answer was cut off by the kill may or may not
// be there, but if they are, they must be intact and audited too.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
	"github.com/kanban-mcp/kanban-mcp/store"
)

const (
	crashWriters       = 32
	crashUsers         = 4 // writer w writes as user w % crashUsers …
	crashBoardsPerUser = 2 // … on that user's board (w / crashUsers) % crashBoardsPerUser
	crashCycles        = 4 // kill/restart cycles
	crashMinWrites     = 200
)

// TestCrashSafety runs the server binary under 32 concurrent writers
// (add_card, update_card with expected_version, move_card), kills it with
// SIGKILL once a random number of writes has been acknowledged, restarts it
// on the same database, and checks through the real tools (get_board,
// get_card, search_cards, list_activity) that:
//
//   - every acknowledged write is present with exactly the content its
//     answer reported (or with a later write's content);
//   - a write whose answer never arrived left either the state before it or
//     exactly its own state; nothing else, nothing half-done;
//   - no card is corrupt (titles follow the writers' pattern, descriptions
//     carry the title's checksum), duplicated or unexplained, and positions
//     in every column are dense;
//   - the activity trail has exactly one "ok" row for every write that
//     committed and none for a write that did not, from the right client
//     (a write and its audit row commit in one transaction).
//
// It repeats the cycle crashCycles times on one database, alternating
// SQLITE_SYNCHRONOUS between normal and full (both are documented to
// survive a process crash); later cycles also change cards written before
// earlier crashes.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	h := newCrashHarness(t, filepath.Join(t.TempDir(), "kanban.db"), crashShape{
		Writers: crashWriters, Users: crashUsers, BoardsPerUser: crashBoardsPerUser, MinWrites: crashMinWrites})
	srv := h.start()
	writers := h.setup(srv)
	for cycle := 1; cycle <= crashCycles; cycle++ {
		h.load([]*childServer{srv}, srv, writers, cycle)
		if t.Failed() {
			return
		}
		srv = h.start()
		h.verify(srv, writers, fmt.Sprintf("after restart %d, through %s", cycle, srv.describe()))
		if t.Failed() {
			return
		}
	}
}

// crashHarness runs the server processes of one test on one database:
// one at a time on a SQLite file, or side by side (replicas) on a
// PostgreSQL database.
type crashHarness struct {
	t   *testing.T
	bin string
	// issuer issues the writers' tokens; nil runs the servers with the
	// built-in authorization server instead.
	issuer *testissuer.Issuer
	// database is DATABASE_URL: a SQLite file or a PostgreSQL database.
	database string
	// replicas says that database is PostgreSQL's, whose processes serve
	// one BASE_URL (baseURL, the first one's address), as replicas behind
	// a load balancer do: a token's audience is BASE_URL/mcp, so that a
	// token is good on each of them.
	replicas bool
	baseURL  string
	shape    crashShape
	seed     uint64
	rng      *rand.Rand // the test goroutine's only
	children []*childServer
}

// crashShape is the load a harness puts on its servers.
type crashShape struct {
	// Writers write concurrently; writer w writes as user w % Users on
	// that user's board (w / Users) % BoardsPerUser.
	Writers, Users, BoardsPerUser int
	// MinWrites is the least number of acknowledged writes before a kill
	// (or, without one, before the writers stop); the number is drawn
	// between it and three times it.
	MinWrites int
}

// newCrashHarness makes a harness for the servers of t on database, whose
// logs t shows if it fails.
func newCrashHarness(t *testing.T, database string, shape crashShape) *crashHarness {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	h := &crashHarness{
		t:        t,
		bin:      kanbanBinary(t),
		issuer:   testissuer.New(t, testissuer.Options{}),
		database: database,
		replicas: pgdb.IsURL(database),
		shape:    shape,
		seed:     seed,
		rng:      rand.New(rand.NewPCG(seed, 0)),
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of the server processes (instance 1 first):\n%s", h.logs())
		}
	})
	return h
}

// logs returns the output of every server process so far, the last 24 KB
// of each.
func (h *crashHarness) logs() string {
	var b strings.Builder
	for _, c := range h.children {
		out := c.log.String()
		if len(out) > 24<<10 {
			out = "[…]" + out[len(out)-24<<10:]
		}
		state := "running"
		if !c.running() {
			state = fmt.Sprintf("exited: %v", c.waitErr)
		}
		fmt.Fprintf(&b, "--- %s at %s (%s) ---\n%s\n", c.describe(), c.URL, state, out)
	}
	return b.String()
}

// start runs `kanban-mcp serve` on the harness's database and a free port,
// with extraEnv added to its environment, and waits until /readyz answers
// 200. A port taken between freePort and the child's listen is retried on
// another one.
func (h *crashHarness) start(extraEnv ...string) *childServer {
	h.t.Helper()
	instance := len(h.children) + 1
	// Both documented durability levels of SQLite must survive a process
	// crash; the instances alternate between them on the one database.
	synchronous := ""
	if !h.replicas {
		synchronous = []string{"normal", "full"}[instance%2]
	}
	c := startChild(h.t, h.bin, instance, func(url, port string) []string {
		base := url
		if h.replicas {
			if h.baseURL == "" {
				h.baseURL = url
			}
			base = h.baseURL
		}
		env := []string{
			"DATABASE_URL=" + h.database,
			"LISTEN_ADDR=127.0.0.1:" + port,
			"BASE_URL=" + base,
			"AUTH_CHALLENGE=tool-result",
			"MAX_BOARDS_PER_USER=1000",
			"MAX_CARDS_PER_BOARD=1000000",
			"LOG_LEVEL=info",
			"VALIDATE_OUTPUT=true", // as startServer: results are checked against their schemas
		}
		if h.issuer != nil {
			env = append(env, "OAUTH_ISSUER="+h.issuer.URL, "AUTH_SERVER=off")
		} // else the built-in authorization server, whose issuer is BASE_URL
		if synchronous != "" {
			env = append(env, "SQLITE_SYNCHRONOUS="+synchronous)
		}
		return append(env, extraEnv...)
	}, func(c *childServer) { h.children = append(h.children, c) })
	c.Synchronous = synchronous
	return c
}

// watchdog kills c when phase has not finished within limit, so that a
// server that stops answering fails the test with its log rather than
// hanging it until go test's timeout (the testServer helpers wait without
// a deadline). Call the returned function when the phase is done.
func (h *crashHarness) watchdog(c *childServer, phase string, limit time.Duration) (done func()) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-stop:
		case <-time.After(limit):
			h.t.Errorf("server instance %d did not finish %s within %s; killing it", c.Instance, phase, limit)
			_ = c.cmd.Process.Kill()
		}
	})
	return func() {
		close(stop)
		wg.Wait()
	}
}

// view is a testServer on the child, for the helpers that verify through
// the tools (mustCall, token, allActivity) from the test goroutine.
func (h *crashHarness) view(c *childServer) *testServer {
	return &testServer{URL: c.BaseURL, Addr: c.URL, Issuer: h.issuer}
}

func crashSubject(user int) string { return fmt.Sprintf("crash-user-%d", user) }

// The content of every card is derived from its title, so that any card
// can be checked for corruption on its own: the title names the writer,
// the writer's sequence number and the revision; the description starts
// with the title's SHA-256 and is padded to a length taken from it (some
// spill onto SQLite overflow pages); the labels name writer and revision.
func crashTitle(writer, n, rev int) string {
	return fmt.Sprintf("crash w%02d n%05d r%03d", writer, n, rev)
}

var crashTitlePattern = regexp.MustCompile(`^crash w(\d{2}) n(\d{5}) r(\d{3})$`)

func crashDescription(title string) string {
	sum := sha256.Sum256([]byte(title))
	hexSum := hex.EncodeToString(sum[:])
	n := 100 + int(binary.BigEndian.Uint16(sum[:2]))%3000
	d := "sha256:" + hexSum + "\n" + strings.Repeat(hexSum, n/len(hexSum)+1)
	return d[:n]
}

func crashLabels(writer, rev int) []string {
	return []string{fmt.Sprintf("w%02d", writer), fmt.Sprintf("r%03d", rev)}
}

// crashState is what a write sets and a read checks of a card. Position is
// left out: other cards' moves shift it.
type crashState struct {
	Title       string
	Description string
	Labels      []string
	ColumnID    string
	Version     int64
}

// apiCard is a card as the tools return it.
type apiCard struct {
	ID          string   `json:"id"`
	BoardID     string   `json:"board_id"`
	ColumnID    string   `json:"column_id"`
	ColumnName  string   `json:"column_name"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Labels      []string `json:"labels"`
	Position    int      `json:"position"`
	Version     int64    `json:"version"`
}

func (c apiCard) state() crashState {
	return crashState{Title: c.Title, Description: c.Description, Labels: c.Labels, ColumnID: c.ColumnID, Version: c.Version}
}

// boardCards is get_board's answer as readBoard reads it.
type boardCards struct {
	ID        string `json:"id"`
	CardCount int    `json:"card_count"`
	Columns   []struct {
		ID        string `json:"id"`
		CardCount int    `json:"card_count"`
		Cards     []struct {
			ID       string `json:"id"`
			Title    string `json:"title"`
			Position int    `json:"position"`
		} `json:"cards"`
	} `json:"columns"`
}

// readBoard reads board boardID through v and checks what must hold of
// every board, however many writers wrote on it through however many
// servers: the positions of each column are 0, 1, 2, … (none twice, no
// gap), and card_count, of the board and of each column, counts its
// cards. when says when, in the messages.
func readBoard(t *testing.T, v *testServer, token, boardID, when string) boardCards {
	t.Helper()
	res := v.mustCall(t, token, "get_board", map[string]any{"board_id": boardID})
	var b boardCards
	if err := json.Unmarshal([]byte(mustJSON(t, res.Structured)), &b); err != nil {
		t.Fatalf("%s: get_board %s: %v", when, boardID, err)
	}
	var total int
	for _, col := range b.Columns {
		total += len(col.Cards)
		var positions, dense []int
		for i, c := range col.Cards {
			positions, dense = append(positions, c.Position), append(dense, i)
		}
		if diff := cmp.Diff(dense, positions); diff != "" {
			t.Errorf("%s: positions in column %s of board %s are not 0..n-1 (-want +got):\n%s", when, col.ID, boardID, diff)
		}
		if col.CardCount != len(col.Cards) {
			t.Errorf("%s: column %s of board %s has card_count %d but %d cards", when, col.ID, boardID, col.CardCount, len(col.Cards))
		}
	}
	if b.CardCount != total {
		t.Errorf("%s: board %s has card_count %d but %d cards", when, boardID, b.CardCount, total)
	}
	return b
}

// intactProblem says what is wrong with a card's content, or "" when it is
// what its title promises, on the board of the writer the title names.
func intactProblem(c apiCard, writers []*crashWriter) string {
	m := crashTitlePattern.FindStringSubmatch(c.Title)
	if m == nil {
		return fmt.Sprintf("title %q does not follow the writers' pattern", c.Title)
	}
	writer, _ := strconv.Atoi(m[1])
	rev, _ := strconv.Atoi(m[3])
	switch {
	case writer >= len(writers):
		return fmt.Sprintf("title %q names writer %d, which does not exist", c.Title, writer)
	case c.Description != crashDescription(c.Title):
		return fmt.Sprintf("description (%d bytes, starting %.80q) is not the one of title %q", len(c.Description), c.Description, c.Title)
	case !slices.Equal(c.Labels, crashLabels(writer, rev)):
		return fmt.Sprintf("labels %q, want %q for title %q", c.Labels, crashLabels(writer, rev), c.Title)
	case c.BoardID != writers[writer].BoardID:
		return fmt.Sprintf("on board %s, but writer %d writes on board %s", c.BoardID, writer, writers[writer].BoardID)
	case c.Version < 1:
		return fmt.Sprintf("version %d", c.Version)
	}
	return ""
}

// crashCard is a card a writer knows to exist.
type crashCard struct {
	ID       string
	N        int    // the writer's sequence number in its title
	Rev      int    // the revision in Known.Title
	AddTitle string // the title it was added with
	// Known is the state last acknowledged, or seen after a restart.
	Known crashState
	// Pending is the state an unanswered write (PendingTool, making
	// revision PendingRev) would have left; nil when every write on the
	// card was answered.
	Pending     *crashState
	PendingTool string
	PendingRev  int
	// Committed counts, per tool, the writes on this card known to have
	// committed: the acknowledged ones, and the unanswered ones whose
	// result was seen after a restart.
	Committed map[string]int
}

// unansweredAdd is an add_card whose answer never arrived.
type unansweredAdd struct {
	Title string
	State crashState
}

// crashWriter is one of the concurrent clients. During a cycle only its own
// goroutine touches it; between cycles only the test goroutine.
type crashWriter struct {
	ID      int
	User    int
	Client  string
	BoardID string
	Columns []string // column IDs in order
	NextN   int
	Cards   []*crashCard
	// Unanswered are this cycle's add_card calls cut off by the kill.
	Unanswered []unansweredAdd
	// Failure is the first unexpected answer of this cycle.
	Failure string
	// Acked counts the writes acknowledged to it, for the test goroutine
	// to follow while it writes.
	Acked atomic.Int64
	rng   *rand.Rand
}

// setup creates each user's boards through the first server instance and
// assigns the writers to them.
func (h *crashHarness) setup(c *childServer) []*crashWriter {
	t := h.t
	t.Helper()
	defer h.watchdog(c, "the setup", 2*time.Minute)()
	v := h.view(c)
	type board struct {
		id      string
		columns []string
	}
	boards := map[[2]int]board{}
	for u := range h.shape.Users {
		tok := v.token(t, crashSubject(u), "crash-setup", "kanban.write")
		for b := range h.shape.BoardsPerUser {
			res := v.mustCall(t, tok, "create_board", map[string]any{"title": fmt.Sprintf("Crash board %d of user %d", b, u)})
			bd := board{id: str(res.Structured, "id")}
			for _, col := range list(res.Structured, "columns") {
				bd.columns = append(bd.columns, str(col.(map[string]any), "id"))
			}
			if bd.id == "" || len(bd.columns) < 2 {
				t.Fatalf("create_board returned %s; want a board with at least two columns", mustJSON(t, res.Structured))
			}
			boards[[2]int{u, b}] = bd
		}
	}
	writers := make([]*crashWriter, h.shape.Writers)
	for w := range writers {
		u, b := w%h.shape.Users, (w/h.shape.Users)%h.shape.BoardsPerUser
		writers[w] = &crashWriter{
			ID:      w,
			User:    u,
			Client:  fmt.Sprintf("crash-writer-%02d", w),
			BoardID: boards[[2]int{u, b}].id,
			Columns: boards[[2]int{u, b}].columns,
			rng:     rand.New(rand.NewPCG(h.seed, uint64(w)+1)),
		}
	}
	return writers
}

// crashAfterKill is how many writes each writer on a server that was not
// killed must have acknowledged after the kill, to show that it kept
// serving.
const crashAfterKill = 20

// load runs the writers against servers until at least a random number of
// writes has been acknowledged. Writer w writes through server (w / boards)
// % len(servers), so that each board's writers are spread over them. With
// a victim, load then kills it with SIGKILL while the writers are busy;
// the writers on the other servers go on until each has had
// crashAfterKill more writes acknowledged, and any failure of theirs,
// before, during or after the kill, fails the test. Without a victim every
// writer stops there. load returns once the writers have stopped.
func (h *crashHarness) load(servers []*childServer, victim *childServer, writers []*crashWriter, cycle int) {
	t := h.t
	t.Helper()
	transport := &http.Transport{MaxIdleConnsPerHost: 2 * len(writers)}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	v := h.view(servers[0])
	tokens := make([]string, len(writers))
	for i, w := range writers {
		tokens[i] = v.token(t, crashSubject(w.User), w.Client, "kanban.write")
	}

	var (
		killed   atomic.Bool // the victim's writers stop, their last call maybe cut off
		stopped  atomic.Bool // the other writers stop
		acked    atomic.Int64
		failed   = make(chan struct{})
		failOnce sync.Once
		wg       sync.WaitGroup
	)
	var survivors []*crashWriter
	for i, w := range writers {
		srv := servers[(w.ID/(h.shape.Users*h.shape.BoardsPerUser))%len(servers)]
		stop, cut := &stopped, (*atomic.Bool)(nil)
		if srv == victim {
			stop, cut = &killed, &killed
		} else {
			survivors = append(survivors, w)
		}
		w.Unanswered, w.Failure = nil, ""
		caller := toolCaller{client: client, url: srv.URL + "/mcp"}
		wg.Go(func() {
			w.run(caller, tokens[i], stop, cut, &acked)
			if w.Failure != "" {
				failOnce.Do(func() { close(failed) })
			}
		})
	}
	// waitFor polls done until it holds, a writer fails or two minutes
	// pass, which fails the test.
	waitFor := func(what string, done func() bool) {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		stall := time.After(2 * time.Minute)
		for !done() {
			select {
			case <-tick.C:
			case <-failed:
				return
			case <-stall:
				t.Errorf("cycle %d: no %s after 2 minutes (%d writes acknowledged in all); the servers seem stuck", cycle, what, acked.Load())
				return
			}
		}
	}

	// Kill once a random number of writes has been answered, plus a random
	// few milliseconds, so that the kill lands at varying points of the
	// write path.
	threshold := int64(h.shape.MinWrites + h.rng.IntN(2*h.shape.MinWrites))
	started := time.Now()
	waitFor(fmt.Sprintf("%d acknowledged writes", threshold), func() bool { return acked.Load() >= threshold })
	if victim == nil {
		stopped.Store(true)
		wg.Wait()
		h.writerFailures(writers, cycle)
		t.Logf("cycle %d: stopped %d writers after %s with %d writes acknowledged", cycle, len(writers), time.Since(started).Round(time.Millisecond), acked.Load())
		return
	}
	time.Sleep(time.Duration(h.rng.IntN(20_000)) * time.Microsecond)
	killed.Store(true)
	atKill := acked.Load()
	victim.kill(t)
	atDeath := make([]int64, len(survivors))
	for i, w := range survivors {
		atDeath[i] = w.Acked.Load()
	}
	waitFor(fmt.Sprintf("%d writes acknowledged to each writer of the servers left after the kill", crashAfterKill), func() bool {
		for i, w := range survivors {
			if w.Acked.Load() < atDeath[i]+crashAfterKill {
				return false
			}
		}
		return true
	})
	stopped.Store(true)
	wg.Wait()
	h.writerFailures(writers, cycle)

	var pendings, unanswered int
	for _, w := range writers {
		unanswered += len(w.Unanswered)
		for _, card := range w.Cards {
			if card.Pending != nil {
				pendings++
			}
		}
	}
	others := ""
	if len(survivors) > 0 {
		others = fmt.Sprintf("; %d writers on other servers went on through the kill", len(survivors))
	}
	t.Logf("cycle %d: killed %s after %s with %d writes acknowledged (%d when the kill was sent); %d adds and %d updates/moves unanswered%s",
		cycle, victim.describe(), time.Since(started).Round(time.Millisecond), acked.Load(), atKill, unanswered, pendings, others)
}

// writerFailures fails the test with every writer's unexpected answer.
func (h *crashHarness) writerFailures(writers []*crashWriter, cycle int) {
	for _, w := range writers {
		if w.Failure != "" {
			h.t.Errorf("cycle %d, writer %d (%s): %s", cycle, w.ID, w.Client, w.Failure)
		}
	}
}

// run makes writes until stop is set: add_card (half), update_card with
// the card's known version, move_card to the next column (at the front
// half the time, which shifts the other cards). An answer that arrives is
// checked against the request and recorded as acknowledged; once killed
// is set (its server was killed; nil: it will not be), a call left without
// an answer leaves its write unknown, and the writer stops.
func (w *crashWriter) run(caller toolCaller, token string, stop, killed *atomic.Bool, acked *atomic.Int64) {
	for !stop.Load() {
		var (
			tool, desc string
			args       map[string]any
			card       *crashCard
			want       crashState
			n, rev     int
		)
		switch op := w.rng.IntN(10); {
		case len(w.Cards) == 0 || op < 5:
			tool = "add_card"
			n, rev = w.NextN, 0
			w.NextN++
			title := crashTitle(w.ID, n, rev)
			want = crashState{Title: title, Description: crashDescription(title), Labels: crashLabels(w.ID, rev),
				ColumnID: w.Columns[w.rng.IntN(len(w.Columns))], Version: 1}
			args = map[string]any{"board_id": w.BoardID, "column_id": want.ColumnID, "title": want.Title,
				"description": want.Description, "labels": want.Labels}
			desc = fmt.Sprintf("add_card %q", title)
		case op < 8:
			tool = "update_card"
			card = w.Cards[w.rng.IntN(len(w.Cards))]
			n, rev = card.N, card.Rev+1
			title := crashTitle(w.ID, n, rev)
			want = crashState{Title: title, Description: crashDescription(title), Labels: crashLabels(w.ID, rev),
				ColumnID: card.Known.ColumnID, Version: card.Known.Version + 1}
			args = map[string]any{"card_id": card.ID, "title": want.Title, "description": want.Description,
				"labels": want.Labels, "expected_version": card.Known.Version}
			desc = fmt.Sprintf("update_card %s %q → %q at version %d", card.ID, card.Known.Title, title, card.Known.Version)
		default:
			tool = "move_card"
			card = w.Cards[w.rng.IntN(len(w.Cards))]
			n, rev = card.N, card.Rev
			want = card.Known
			want.ColumnID = w.Columns[(slices.Index(w.Columns, card.Known.ColumnID)+1)%len(w.Columns)]
			want.Version++
			args = map[string]any{"card_id": card.ID, "column_id": want.ColumnID}
			where := "the end of"
			if w.rng.IntN(2) == 0 {
				args["position"], where = 0, "the front of"
			}
			desc = fmt.Sprintf("move_card %s %q to %s %s at version %d", card.ID, card.Known.Title, where, want.ColumnID, card.Known.Version)
		}

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		ans, err := caller.call(ctx, token, tool, args)
		cancel()
		if err != nil {
			if errors.Is(err, errNoAnswer) && killed != nil && killed.Load() {
				// Unknown: the kill cut the call off.
				if card == nil {
					w.Unanswered = append(w.Unanswered, unansweredAdd{Title: want.Title, State: want})
				} else {
					card.Pending, card.PendingTool, card.PendingRev = &want, tool, rev
				}
				return
			}
			w.Failure = fmt.Sprintf("%s: %v", desc, err)
			return
		}
		if ans.IsError {
			w.Failure = fmt.Sprintf("%s: refused: %s", desc, ans.Text)
			return
		}
		var got apiCard
		if tool == "move_card" {
			var m struct {
				Card  apiCard `json:"card"`
				Moved bool    `json:"moved"`
			}
			err = json.Unmarshal(ans.Structured, &m)
			got = m.Card
			if err == nil && !m.Moved {
				err = errors.New("moved is false")
			}
		} else {
			err = json.Unmarshal(ans.Structured, &got)
		}
		if err != nil {
			w.Failure = fmt.Sprintf("%s: structuredContent %s: %v", desc, ans.Structured, err)
			return
		}
		if diff := cmp.Diff(want, got.state()); diff != "" || got.BoardID != w.BoardID || (card != nil && got.ID != card.ID) {
			w.Failure = fmt.Sprintf("%s: the answer reports card %s on board %s, state (-requested +reported):\n%s", desc, got.ID, got.BoardID, diff)
			return
		}
		// Acknowledged: from here on the write must survive any crash.
		if card == nil {
			card = &crashCard{ID: got.ID, N: n, AddTitle: want.Title, Committed: map[string]int{}}
			w.Cards = append(w.Cards, card)
		}
		card.Known, card.Rev = got.state(), rev
		card.Committed[tool]++
		w.Acked.Add(1)
		acked.Add(1)
	}
}

// verify checks, through the tools of server c (restarted after a kill,
// or another replica), everything that the writers know, resolves the
// writes left without an answer, and checks the activity trail against
// it; when says when and through which server, in its messages ("after
// restart 2, through instance 3").
func (h *crashHarness) verify(c *childServer, writers []*crashWriter, when string) {
	t := h.t
	t.Helper()
	defer h.watchdog(c, "the checks "+when, 2*time.Minute)()
	v := h.view(c)
	ownerTokens := make([]string, h.shape.Users)
	for u := range ownerTokens {
		ownerTokens[u] = v.token(t, crashSubject(u), "crash-verifier", "kanban.read")
	}

	// Every board as the server shows it now.
	present := map[string]apiCard{} // card ID → card
	byTitle := map[string]string{}  // title → card ID
	checked := map[string]bool{}    // board IDs read
	for _, w := range writers {
		if checked[w.BoardID] {
			continue
		}
		checked[w.BoardID] = true
		b := readBoard(t, v, ownerTokens[w.User], w.BoardID, when)
		var columns []string
		for _, col := range b.Columns {
			columns = append(columns, col.ID)
			misplaced := false
			for i, summary := range col.Cards {
				// get_board shows previews of long descriptions; get_card
				// shows the whole card, which is what must be intact.
				var card apiCard
				res := v.mustCall(t, ownerTokens[w.User], "get_card", map[string]any{"card_id": summary.ID})
				raw, _ := json.Marshal(res.Structured)
				if err := json.Unmarshal(raw, &card); err != nil {
					t.Fatalf("%s: get_card %s: %v", when, summary.ID, err)
				}
				if (card.Position != i || card.ColumnID != col.ID || card.BoardID != w.BoardID) && !misplaced {
					misplaced = true // the first one says enough about the column
					t.Errorf("%s: card %s %q is number %d of column %s on board %s, but says position %d, column %s, board %s (positions must stay dense)",
						when, card.ID, card.Title, i, col.ID, w.BoardID, card.Position, card.ColumnID, card.BoardID)
				}
				if p := intactProblem(card, writers); p != "" {
					t.Errorf("%s: CORRUPT card %s on board %s: %s", when, card.ID, w.BoardID, p)
				}
				if other, dup := byTitle[card.Title]; dup {
					t.Errorf("%s: cards %s and %s both have title %q: a write was applied twice", when, other, card.ID, card.Title)
				}
				byTitle[card.Title] = card.ID
				present[card.ID] = card
			}
		}
		if !slices.Equal(columns, w.Columns) {
			t.Errorf("%s: board %s has columns %q, want %q", when, w.BoardID, columns, w.Columns)
		}
	}

	// Every card a writer knows of, and every unanswered write.
	owner := map[string]*crashWriter{} // card ID → its writer
	cards := map[string]*crashCard{}
	var resolvedCommitted, resolvedNot int
	for _, w := range writers {
		for _, card := range w.Cards {
			owner[card.ID], cards[card.ID] = w, card
			got, ok := present[card.ID]
			switch {
			case !ok:
				t.Errorf("%s: LOST card %s %q of writer %d (%s): acknowledged at version %d, missing (unanswered: %s)",
					when, card.ID, card.Known.Title, w.ID, w.Client, card.Known.Version, card.pendingText())
			case cmp.Equal(got.state(), card.Known):
				if card.Pending != nil {
					resolvedNot++
				}
			case card.Pending != nil && cmp.Equal(got.state(), *card.Pending):
				// The unanswered write committed: from now on it is known.
				card.Known, card.Rev = *card.Pending, card.PendingRev
				card.Committed[card.PendingTool]++
				resolvedCommitted++
			default:
				t.Errorf("%s: card %s of writer %d (%s) LOST OR CORRUPTED an acknowledged write: (-acknowledged +now):\n%s\nunanswered: %s",
					when, card.ID, w.ID, w.Client, cmp.Diff(card.Known, got.state()), card.pendingText())
			}
			card.Pending, card.PendingTool = nil, ""
		}
		for _, u := range w.Unanswered {
			id, ok := byTitle[u.Title]
			if !ok {
				resolvedNot++
				continue
			}
			got := present[id]
			if diff := cmp.Diff(u.State, got.state()); diff != "" {
				t.Errorf("%s: card %s of an unanswered add_card by writer %d is not what that add made (-add +now):\n%s", when, id, w.ID, diff)
			}
			m := crashTitlePattern.FindStringSubmatch(u.Title)
			n, _ := strconv.Atoi(m[2])
			card := &crashCard{ID: id, N: n, AddTitle: u.Title, Known: got.state(), Committed: map[string]int{"add_card": 1}}
			w.Cards = append(w.Cards, card)
			owner[id], cards[id] = w, card
			resolvedCommitted++
		}
		w.Unanswered = nil
	}
	for id, card := range present {
		if cards[id] == nil {
			t.Errorf("%s: UNEXPLAINED card %s %q (version %d) on board %s: no write of any writer made it", when, id, card.Title, card.Version, card.BoardID)
		}
	}

	// search_cards finds a sample of the known cards, as they are.
	var sample []*crashCard
	for _, card := range cards {
		sample = append(sample, card)
	}
	slices.SortFunc(sample, func(a, b *crashCard) int { return strings.Compare(a.ID, b.ID) })
	h.rng.Shuffle(len(sample), func(i, j int) { sample[i], sample[j] = sample[j], sample[i] })
	for _, card := range sample[:min(len(sample), 12)] {
		w := owner[card.ID]
		res := v.mustCall(t, ownerTokens[w.User], "search_cards", map[string]any{"query": card.Known.Title, "board_id": w.BoardID})
		var found struct {
			Cards []apiCard `json:"cards"`
		}
		raw, _ := json.Marshal(res.Structured)
		if err := json.Unmarshal(raw, &found); err != nil {
			t.Fatalf("search_cards: %v\n%s", err, raw)
		}
		// search_cards shows previews of long descriptions.
		want := card.Known
		want.Description, _ = store.PreviewDescription(want.Description)
		if len(found.Cards) != 1 || found.Cards[0].ID != card.ID || !cmp.Equal(found.Cards[0].state(), want) {
			t.Errorf("%s: search_cards %q found %s; want only card %s as %+v", when, card.Known.Title, raw, card.ID, want)
		}
	}

	// The activity trail: exactly one "ok" row for every write known to
	// have committed, by the writer's client, and no row for a write that
	// did not commit.
	writeTools := []string{"add_card", "update_card", "move_card"}
	rows := map[string]map[string][]activityRow{} // card ID → tool → rows
	var total int
	for u := range h.shape.Users {
		for _, r := range v.allActivity(t, ownerTokens[u], "") {
			if r.Outcome != string(store.OutcomeOK) || !slices.Contains(writeTools, r.Tool) || r.ClientID == "crash-setup" {
				continue
			}
			total++
			i := slices.IndexFunc(r.IDs, func(id string) bool { return strings.HasPrefix(id, store.CardPrefix) })
			if i < 0 {
				t.Errorf("%s: audit row of a write names no card: %+v", when, r)
				continue
			}
			id := r.IDs[i]
			w := owner[id]
			switch {
			case w == nil:
				t.Errorf("%s: audit row of a write on card %s, which does not exist: the write and its audit row did not commit together: %+v", when, id, r)
				continue
			case r.ClientID != w.Client || r.Subject != crashSubject(w.User):
				t.Errorf("%s: audit row for card %s names %s/%s, want writer %d's %s/%s: %+v", when, id, r.Subject, r.ClientID, w.ID, crashSubject(w.User), w.Client, r)
			}
			if rows[id] == nil {
				rows[id] = map[string][]activityRow{}
			}
			rows[id][r.Tool] = append(rows[id][r.Tool], r)
		}
	}
	var committed int
	for id, card := range cards {
		for _, tool := range writeTools {
			committed += card.Committed[tool]
			if got, want := len(rows[id][tool]), card.Committed[tool]; got != want {
				t.Errorf("%s: card %s %q of writer %d: %d ok %s rows in the activity trail, want %d (its writes known to have committed); rows: %+v",
					when, id, card.Known.Title, owner[id].ID, got, tool, want, rows[id][tool])
			}
		}
		if got, want := len(rows[id]["update_card"])+len(rows[id]["move_card"]), int(card.Known.Version)-1; got != want {
			t.Errorf("%s: card %s %q is at version %d but has %d ok update_card/move_card rows, want %d", when, id, card.Known.Title, card.Known.Version, got, want)
		}
		if adds := rows[id]["add_card"]; len(adds) == 1 && !strings.Contains(adds[0].Summary, "'"+card.AddTitle+"'") {
			t.Errorf("%s: add_card audit row of card %s does not name its title %q: %+v", when, id, card.AddTitle, adds[0])
		}
	}
	if total != committed && !t.Failed() {
		t.Errorf("%s: %d ok write rows in the activity trail, want %d", when, total, committed)
	}
	t.Logf("%s: checked %d cards and %d committed writes with their audit rows; of the writes left unanswered by a kill, %d had committed and %d had not",
		when, len(cards), committed, resolvedCommitted, resolvedNot)
}

func (c *crashCard) pendingText() string {
	if c.Pending == nil {
		return "none"
	}
	return fmt.Sprintf("%s to %+v", c.PendingTool, *c.Pending)
}
