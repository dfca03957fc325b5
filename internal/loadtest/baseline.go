package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// The baselines are what the server's numbers are divided by: two servers
// doing less than kanban-mcp, run the same way (a child process on
// loopback) and measured by the same load.

// BareHandler is the first baseline, the practical limit of Go's HTTP
// stack for this traffic: it reads and parses the JSON-RPC request and
// writes a fixed response (echoing the request's id, as JSON-RPC requires).
// It does no MCP, no auth, no database.
func BareHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mcp", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		var req struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Method  string          `json:"method"`
			Params  json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.Method == "" || len(req.ID) == 0 {
			http.Error(w, "not a JSON-RPC request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		out := make([]byte, 0, 64)
		out = append(out, `{"jsonrpc":"2.0","id":`...)
		out = append(out, req.ID...)
		out = append(out, `,"result":{"tools":[]}}`...)
		_, _ = w.Write(out)
	})
	addReadyz(mux)
	return mux
}

// MCPGoHandler is the second baseline, mcp-go's own floor: a stateless
// Streamable HTTP server configured as kanban-mcp's is, whose get_board
// returns the fixed board as structured content and, rendered on each call
// as the server renders it, the same text. No auth, no database, no audit,
// no output-schema validation: what remains is the library's parsing,
// dispatch and encoding of the same answer.
func MCPGoHandler() http.Handler {
	s := server.NewMCPServer("kanban-bench-baseline", "1", server.WithToolCapabilities(false))
	board := FixtureBoard(time.Now())
	summary := fmt.Sprintf("Board '%s' — %d columns, %d cards.", board.Title, len(board.Columns), board.CardCount)
	s.AddTool(mcp.NewTool("get_board",
		mcp.WithDescription("Show one board with its columns and their cards in order."),
		mcp.WithString("board_id", mcp.Required(), mcp.Description("board (b_…)")),
	), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultStructured(board, tools.ResultText(summary, board)), nil
	})
	mux := http.NewServeMux()
	mux.Handle("/mcp", server.NewStreamableHTTPServer(s, server.WithStateLess(true), server.WithDisableStreaming(true)))
	addReadyz(mux)
	return mux
}

// addReadyz answers /readyz as the server does, so that every child's
// start-to-ready is measured alike.
func addReadyz(mux *http.ServeMux) {
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ready":true}`)
	})
}

// BoardColumns are the columns of the benchmark board: create_board's
// defaults.
func BoardColumns() []string { return []string{"To do", "Doing", "Done"} }

// BoardCardCount is how many cards the get_board scenarios read.
const BoardCardCount = 50

// CardSpec is one card of the benchmark board.
type CardSpec struct {
	Column      int // index into BoardColumns
	Title       string
	Description string
	Labels      []string
}

// FixtureCards are the benchmark board's cards, spread over its columns in
// turn, with titles, descriptions and labels of a realistic size. The
// server's board is filled with them and the mcpgo baseline returns them,
// so both answers are about as long.
func FixtureCards() []CardSpec {
	labelSets := [][]string{{"bug"}, {"feature", "ui"}, {}, {"ops", "backend", "p1"}}
	cards := make([]CardSpec, BoardCardCount)
	for i := range cards {
		cards[i] = CardSpec{
			Column:      i % len(BoardColumns()),
			Title:       fmt.Sprintf("Card %02d: make the benchmark board look like a real one", i+1),
			Description: fmt.Sprintf("Task %d. Steps: reproduce, write a failing test, fix it, and note what changed for the people who review it.", i+1),
			Labels:      labelSets[i%len(labelSets)],
		}
	}
	return cards
}

// FullBoardCardCount is how many cards the full_board scenario's board
// holds: the default quota, the most a board has unless the operator
// raises it.
var FullBoardCardCount = store.DefaultQuotas().CardsPerBoard

// FullBoardDescription is card n's description on the full board: the
// longest allowed, in words.
func FullBoardDescription(n int) string {
	head := fmt.Sprintf("Card %d of the full board. ", n)
	words := strings.Repeat("A long description, as long as a description may be. ", store.MaxDescriptionLen/53+1)
	return head + words[:store.MaxDescriptionLen-len(head)]
}

// FullBoardCards are the full board's cards: FullBoardCardCount of them,
// each with the longest description allowed.
func FullBoardCards() []CardSpec {
	cards := make([]CardSpec, FullBoardCardCount)
	for i := range cards {
		cards[i] = CardSpec{
			Column:      i % len(BoardColumns()),
			Title:       fmt.Sprintf("Full board card %04d", i+1),
			Description: FullBoardDescription(i + 1),
			Labels:      []string{"full"},
		}
	}
	return cards
}

// FixtureBoard is the benchmark board with FixtureCards, as get_board
// shows it (its structured content type), with IDs of the server's form.
func FixtureBoard(updated time.Time) tools.BoardOutput {
	b := tools.BoardOutput{
		ID:         store.NewID(store.BoardPrefix),
		Title:      "Benchmark board",
		Visibility: "private",
		Owned:      true,
		Version:    BoardCardCount + 1,
		CardCount:  BoardCardCount,
		UpdatedAt:  updated.UTC().Format(time.RFC3339),
	}
	for _, name := range BoardColumns() {
		b.Columns = append(b.Columns, tools.ColumnOutput{ID: store.NewID(store.ColumnPrefix), Name: name, Cards: []tools.CardSummaryOutput{}})
	}
	for _, spec := range FixtureCards() {
		col := &b.Columns[spec.Column]
		col.Cards = append(col.Cards, tools.CardSummaryOutput{
			ID:          store.NewID(store.CardPrefix),
			Title:       spec.Title,
			Description: spec.Description,
			Labels:      spec.Labels,
			Position:    len(col.Cards),
			Version:     1,
		})
		col.CardCount++
	}
	return b
}
