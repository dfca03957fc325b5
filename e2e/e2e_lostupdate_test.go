package e2e

// Lost updates: many clients race to update one card with the version they
// read. Exactly one of them may win each version; every other call must be
// refused as a conflict, and nothing may be overwritten silently.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestLostUpdate runs rounds in which 16 clients (one user, 16 agents,
// each with its own token) read a card with get_card and then, all at
// once, call update_card with the version they read and a change of their
// own. It asserts, per round: exactly one success, at version+1, reporting
// exactly the winner's change; every other call an isError result with
// the server's conflict message naming the new version; the card
// afterwards equal to the winner's answer. In a stale round every client
// sends the version before the current one, and all are refused with the
// card unchanged. At the end the card's version has advanced by exactly
// one per round with a winner, and the activity trail holds exactly one
// successful update_card per version, by that round's winner, in order,
// and one conflict row per refused call.
func TestLostUpdate(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	f := srv.newFixture(t, "alice", "Lost updates")
	readerTok := srv.token(t, "alice", "lu-reader", "kanban.read")

	const clients = 16
	clientID := func(c int) string { return fmt.Sprintf("lu-client-%02d", c) }
	tokens := make([]string, clients)
	for c := range tokens {
		tokens[c] = srv.token(t, "alice", clientID(c), "kanban.write")
	}
	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	defer transport.CloseIdleConnections()
	caller := toolCaller{client: &http.Client{Transport: transport, Timeout: time.Minute}, url: srv.MCP()}

	// readCard reads the fixture's card, whole, with get_card; safe in any
	// goroutine.
	readCard := func(token string) (apiCard, error) {
		ans, err := caller.call(context.Background(), token, "get_card", map[string]any{"card_id": f.CardID})
		if err != nil {
			return apiCard{}, err
		}
		if ans.IsError {
			return apiCard{}, fmt.Errorf("get_card refused: %s", ans.Text)
		}
		var card apiCard
		if err := json.Unmarshal(ans.Structured, &card); err != nil {
			return apiCard{}, fmt.Errorf("get_card structuredContent: %v", err)
		}
		return card, nil
	}
	conflictText := func(current, expected int64) string {
		return fmt.Sprintf("card %s is at version %d, not %d: someone changed it since you read it; read it again with get_board and retry.",
			f.CardID, current, expected)
	}

	type change func(round, client int) map[string]any
	rounds := []struct {
		name   string
		stale  bool // every client sends the version before the one it read
		change change
	}{
		{name: "distinct descriptions", change: func(r, c int) map[string]any {
			return map[string]any{"description": fmt.Sprintf("round %d, written by client %02d", r, c)}
		}},
		{name: "distinct titles and labels", change: func(r, c int) map[string]any {
			return map[string]any{"title": fmt.Sprintf("Round %d by client %02d", r, c),
				"labels": []string{fmt.Sprintf("client-%02d", c), fmt.Sprintf("round-%d", r)}}
		}},
		{name: "every field", change: func(r, c int) map[string]any {
			return map[string]any{"title": fmt.Sprintf("All fields, round %d, client %02d", r, c),
				"description": fmt.Sprintf("client %02d rewrote everything in round %d", c, r),
				"labels":      []string{fmt.Sprintf("c%02d", c)}}
		}},
		// The others' change equals the winner's, but they read an older
		// version: the version check comes first, so they are refused,
		// not told "nothing changed".
		{name: "the same change from every client", change: func(r, c int) map[string]any {
			return map[string]any{"description": fmt.Sprintf("round %d: the same text from everyone", r)}
		}},
		{name: "stale version", stale: true, change: func(r, c int) map[string]any {
			return map[string]any{"description": fmt.Sprintf("round %d: client %02d's stale write must never land", r, c)}
		}},
	}

	var (
		round   int
		winners []string           // client ID of each round's winner, in order
		refused = map[string]int{} // client ID → its refused calls
	)
	for rep := 1; rep <= 2; rep++ {
		for _, tc := range rounds {
			round++
			t.Run(fmt.Sprintf("%d %s", round, tc.name), func(t *testing.T) {
				// Every client reads the card, then all update it at once.
				type outcome struct {
					read     apiCard
					readErr  error
					expected int64
					ans      callAnswer
					err      error
				}
				out := make([]outcome, clients)
				var readers, updaters sync.WaitGroup
				start := make(chan struct{})
				for c := range clients {
					readers.Add(1)
					updaters.Go(func() {
						o := &out[c]
						o.read, o.readErr = readCard(tokens[c])
						readers.Done()
						<-start
						if o.readErr != nil {
							return
						}
						o.expected = o.read.Version
						if tc.stale {
							o.expected--
						}
						args := tc.change(round, c)
						args["card_id"], args["expected_version"] = f.CardID, o.expected
						o.ans, o.err = caller.call(context.Background(), tokens[c], "update_card", args)
					})
				}
				readers.Wait()
				before := out[0].read
				for c, o := range out {
					switch {
					case o.readErr != nil:
						t.Errorf("client %02d: get_card: %v", c, o.readErr)
					case !cmp.Equal(o.read, before):
						t.Errorf("client %02d read a different card than client 00 with nothing written in between (-client 00 +client %02d):\n%s", c, c, cmp.Diff(before, o.read))
					}
				}
				if tc.stale && before.Version < 2 {
					t.Fatalf("a stale round needs a card at version 2 or more; it is at %d", before.Version)
				}
				close(start)
				updaters.Wait()
				if t.Failed() {
					return
				}

				var won []int
				for c, o := range out {
					switch {
					case o.err != nil:
						t.Errorf("client %02d: update_card: %v", c, o.err)
					case !o.ans.IsError:
						won = append(won, c)
					default:
						refused[clientID(c)]++
						current := before.Version + 1 // the winner's version
						if tc.stale {
							current = before.Version
						}
						if want := conflictText(current, o.expected); o.ans.Text != want {
							t.Errorf("client %02d was refused with %q, want the conflict %q", c, o.ans.Text, want)
						}
					}
				}

				after, err := readCard(readerTok)
				if err != nil {
					t.Fatal(err)
				}
				if tc.stale {
					if len(won) != 0 {
						t.Errorf("%d clients won with a stale version (clients %v); want none", len(won), won)
					}
					if diff := cmp.Diff(before, after); diff != "" {
						t.Errorf("the card changed although every update was stale (-before +after):\n%s", diff)
					}
					return
				}
				if len(won) != 1 {
					t.Fatalf("%d clients won version %d (clients %v); want exactly one", len(won), before.Version, won)
				}
				c := won[0]
				winners = append(winners, clientID(c))
				want := before
				want.Version++
				for k, v := range tc.change(round, c) {
					switch k {
					case "title":
						want.Title = v.(string)
					case "description":
						want.Description = v.(string)
					case "labels":
						want.Labels = v.([]string)
					}
				}
				var got apiCard
				if err := json.Unmarshal(out[c].ans.Structured, &got); err != nil {
					t.Fatalf("winner's structuredContent: %v\n%s", err, out[c].ans.Structured)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("the winner (client %02d) got an answer that is not its change at version %d (-want +got):\n%s", c, want.Version, diff)
				}
				summary, _, _ := strings.Cut(out[c].ans.Text, "\n")
				if wantText := fmt.Sprintf("Updated card '%s' (now version %d).", want.Title, want.Version); summary != wantText {
					t.Errorf("winner's summary line %q, want %q", summary, wantText)
				}
				if diff := cmp.Diff(want, after); diff != "" {
					t.Errorf("the card is not the winner's (client %02d) change (-want +got):\n%s", c, diff)
				}
			})
		}
	}
	if t.Failed() {
		return
	}

	final, err := readCard(readerTok)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(1 + len(winners)); final.Version != want {
		t.Errorf("after %d rounds with a winner the card is at version %d, want %d", len(winners), final.Version, want)
	}

	// The trail: refused calls are recorded through the audit queue, which
	// flushes every 200 ms, so poll until they are all there.
	var totalRefused int
	for _, n := range refused {
		totalRefused += n
	}
	countConflicts := func(rows []activityRow) int {
		n := 0
		for _, r := range rows {
			if r.Tool == "update_card" && r.Outcome == "conflict" {
				n++
			}
		}
		return n
	}
	// Not filtered by board: a refused call keeps only the IDs it was given,
	// and update_card is given no board_id.
	rows := srv.pollActivity(t, readerTok, "", func(rows []activityRow) bool { return countConflicts(rows) >= totalRefused })
	var gotWinners []string
	gotRefused := map[string]int{}
	for i := len(rows) - 1; i >= 0; i-- { // oldest first
		r := rows[i]
		if r.Tool != "update_card" {
			continue
		}
		switch r.Outcome {
		case "ok":
			gotWinners = append(gotWinners, r.ClientID)
			if !strings.HasPrefix(r.Summary, "updated card '") {
				t.Errorf("successful update_card row without a change: %+v", r)
			}
		case "conflict":
			gotRefused[r.ClientID]++
			if r.Summary != "refused: changed since last read" {
				t.Errorf("conflict row summary %q, want %q", r.Summary, "refused: changed since last read")
			}
		default:
			t.Errorf("unexpected update_card row: %+v", r)
		}
	}
	if diff := cmp.Diff(winners, gotWinners); diff != "" {
		t.Errorf("successful update_card rows, oldest first, are not one per version by each round's winner (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(refused, gotRefused); diff != "" {
		t.Errorf("conflict rows per client (-want +got):\n%s", diff)
	}
}
