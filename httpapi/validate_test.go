package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/httpapi"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// TestValidateOutput declares a tool whose result drifted from its output
// schema (a number declared, a string returned): with ValidateOutput the
// call fails loudly, without it the result goes out as it is, which is
// why the tests run with the setting on.
func TestValidateOutput(t *testing.T) {
	type declared struct {
		N int `json:"n"`
	}
	drift := tools.Tool{
		Name:        "drift",
		Description: "returns what its schema does not allow",
		Output:      mcp.WithOutputSchema[declared](),
		Requires:    auth.Requirement{Anonymous: true},
		Effect:      tools.Reads,
		Handle: tools.Bound(func(context.Context, store.Store, *tools.Call, tools.NoArguments) (*tools.Result, error) {
			return &tools.Result{Structured: map[string]any{"n": "not a number"}, Summary: "drifted"}, nil
		}),
	}
	st := openStore(t)

	for _, validate := range []bool{true, false} {
		srv, err := httpapi.New(httpapi.Options{
			BaseURL: "http://127.0.0.1:8080", Challenge: auth.ChallengeToolResult,
			Store: st, Audit: discard{}, Authenticator: &auth.Authenticator{},
			Tools: []tools.Tool{drift}, ValidateOutput: validate,
		})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/mcp",
			strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"drift","arguments":{}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		body := rec.Body.String()
		refused := strings.Contains(body, `"error"`) || strings.Contains(body, `"isError":true`)
		if refused != validate {
			t.Errorf("ValidateOutput %v: refused %v, want %v; reply %s", validate, refused, validate, body)
		}
	}
}
