package e2e

import (
	"maps"
	"net/http"
	"strings"
	"testing"

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
			status, r, body := readyzOnceKeysLoad(t, srv.testServer)
			if status != tc.status || r.Checks["users"] != tc.usersSay {
				t.Fatalf("/readyz with no user: %d %s, want %d with users %q\nlog:\n%s", status, body, tc.status, tc.usersSay, srv.Log.String())
			}
			if out := secCLI(t, srv.testServer, "", "users", "list"); strings.Count(out, "\n") != 1 {
				t.Errorf("users list shows users:\n%s", out)
			}
		})
	}
}
