package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tsSDKAuth returns node and the TypeScript SDK's client/auth.js, which
// .ci/run installs with npm into the folder KANBAN_TS_SDK names. Without
// them the test skips, saying how to get them; with CI=true it fails.
func tsSDKAuth(t *testing.T) (node, authJS string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		const how = "install it with: mkdir sdk && cd sdk && npm init -y && npm install @modelcontextprotocol/sdk, then set KANBAN_TS_SDK to that folder"
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true, but "+format+"; .ci/run must "+how, args...)
		}
		t.Skipf("TypeScript SDK test skipped: "+format+"; "+how, args...)
	}
	node = os.Getenv("KANBAN_NODE")
	if node == "" {
		var err error
		if node, err = exec.LookPath("node"); err != nil {
			missing("node is not on PATH and KANBAN_NODE is not set")
		}
	}
	dir := os.Getenv("KANBAN_TS_SDK")
	if dir == "" {
		missing("KANBAN_TS_SDK is not set")
	}
	authJS = filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "dist", "esm", "client", "auth.js")
	if _, err := os.Stat(authJS); err != nil {
		missing("%s is missing (%v)", authJS, err)
	}
	return node, authJS
}

// TestTSSDKPlainConnectAsksForTheDefaults: the TypeScript SDK's auth(),
// asked to connect with no scope from a challenge, requests the protected
// resource metadata's scopes_supported (SEP-835). That is the declared
// default scopes and no sensitive one, and the built-in server grants
// exactly those, with the most powerful of them pre-selected.
func TestTSSDKPlainConnectAsksForTheDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node and a server; not under -short")
	}
	t.Parallel()
	node, authJS := tsSDKAuth(t)
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": "", "AUTH_CHALLENGE": "http"})
	password, err := os.ReadFile(filepath.Join(filepath.Dir(srv.DBPath), "demo-password.txt"))
	if err != nil {
		t.Fatal(err)
	}
	person := newBrowserUser(srv, strings.TrimSpace(string(password)))

	ctx := t.Context()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "tssdk", "auth.mjs"), srv.MCP())
	cmd.Env = append(os.Environ(), "KANBAN_TS_SDK_AUTH="+authJS)
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	next := func(v any) {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("the SDK script stopped: %v\nstderr:\n%s\nserver log:\n%s", lines.Err(), stderr.String(), srv.Log.String())
		}
		if err := json.Unmarshal(lines.Bytes(), v); err != nil {
			t.Fatalf("the SDK script printed %q: %v", lines.Text(), err)
		}
	}

	var started struct{ Result, Authorize string }
	next(&started)
	if started.Result != "REDIRECT" {
		t.Fatalf("auth() = %q, want REDIRECT to the authorization endpoint", started.Result)
	}
	var round authRound
	res, err := person.run(ctx, started.Authorize, &round)
	if err != nil {
		t.Fatalf("the person's pages: %v", err)
	}

	defaults := defaultScopes()
	requested := strings.Fields(round.Query.Get("scope"))
	slices.Sort(requested)
	if diff := cmp.Diff(slices.Sorted(slices.Values(defaults)), requested); diff != "" {
		t.Errorf("scope the SDK requested (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(defaults, round.Offered); diff != "" {
		t.Errorf("levels on the consent page (-want +got):\n%s", diff)
	}

	if _, err := stdin.Write([]byte(res.Code + "\n")); err != nil {
		t.Fatal(err)
	}
	var done struct {
		Result, Scope string
		AccessToken   string `json:"access_token"`
		ClientID      string `json:"client_id"`
	}
	next(&done)
	granted := strings.Fields(done.Scope)
	slices.Sort(granted)
	if done.Result != "AUTHORIZED" || !slices.Equal(granted, slices.Sorted(slices.Values(defaults))) {
		t.Errorf("after the code exchange: auth() = %q, scope %q; want AUTHORIZED with %q", done.Result, done.Scope, defaults)
	}
	// The token works at the resource with exactly those scopes.
	who := srv.mustCall(t, done.AccessToken, "whoami", nil).Structured
	var held []string
	for _, s := range who["scopes"].([]any) {
		held = append(held, s.(string))
	}
	slices.Sort(held)
	if diff := cmp.Diff(slices.Sorted(slices.Values(defaults)), held); diff != "" {
		t.Errorf("whoami scopes with the SDK's token (-want +got):\n%s", diff)
	}
}
