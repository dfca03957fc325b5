package e2e

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/product"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
)

// TestFederationReadyWithoutUsers: a server that signs people in through
// an upstream provider makes their accounts at their first sign-in, so
// with no user yet it is ready (/readyz 200): out of a platform's rotation
// until someone signs in, nobody ever could. Without federation and
// without a user (a reachable server makes no demo user) it is not.
func TestFederationReadyWithoutUsers(t *testing.T) {
	t.Parallel()
	federated := map[string]string{
		// Never asked: discovery waits for the first sign-in.
		"UPSTREAM_OIDC_ISSUER": "https://idp.example.com", "UPSTREAM_OIDC_CLIENT_ID": "kanban",
		"UPSTREAM_OIDC_CLIENT_SECRET": "not-used", "UPSTREAM_ALLOW_ANY": "true",
	}
	for _, tc := range []struct {
		name     string
		env      map[string]string
		status   int
		usersSay string
	}{
		{"federated", federated, http.StatusOK, "ok"},
		{"password only", nil, http.StatusServiceUnavailable, "no user yet: " + product.Name + " users add <name>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"OAUTH_ISSUER": "", "BASE_URL": "https://kanban.example.com"}
			maps.Copy(env, tc.env)
			srv := launchServer(t, testissuer.New(t, testissuer.Options{}), env)
			// The keys load in the background; until then /readyz
			// answers 503 whatever else it finds.
			deadline := time.Now().Add(20 * time.Second)
			for {
				resp := do(t, mustRequest(t, http.MethodGet, srv.URL+"/readyz"))
				var body struct {
					Checks map[string]string `json:"checks"`
				}
				if err := json.Unmarshal(resp.Body, &body); err != nil {
					t.Fatalf("/readyz: %d %s", resp.Status, resp.Body)
				}
				if body.Checks["signing_keys"] == "ok" {
					if resp.Status != tc.status || body.Checks["users"] != tc.usersSay {
						t.Fatalf("/readyz with no user: %d %s, want %d with users %q\nlog:\n%s", resp.Status, resp.Body, tc.status, tc.usersSay, srv.Log.String())
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("signing keys not loaded within 20s: %s\nlog:\n%s", resp.Body, srv.Log.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if out := secCLI(t, srv.testServer, "", "users", "list"); strings.Count(out, "\n") != 1 {
				t.Errorf("users list shows users:\n%s", out)
			}
		})
	}
}
