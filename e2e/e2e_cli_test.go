package e2e

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/app"
)

// TestHealthcheckCommand runs `kanban-mcp healthcheck` with the server's own
// configuration, as the Dockerfile's HEALTHCHECK does.
func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	getenv := func(k string) string { return srv.Env[k] }
	var stdout, stderr bytes.Buffer
	if code := app.Run(context.Background(), "test", []string{"healthcheck"}, getenv, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("healthcheck against a running server exited %d: %s", code, stderr.String())
	}

	// The same command against a port where nothing listens must fail.
	idle := map[string]string{"LISTEN_ADDR": "127.0.0.1:" + strconv.Itoa(freePort(t))}
	stderr.Reset()
	code := app.Run(context.Background(), "test", []string{"healthcheck"}, func(k string) string { return idle[k] }, nil, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "server not answering") {
		t.Fatalf("healthcheck with no server exited %d with %q; want 1 and 'server not answering'", code, stderr.String())
	}
}

// TestBadConfigurationExplainsItself: serve refuses to start and lists every
// problem with how to fix it.
func TestBadConfigurationExplainsItself(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"BASE_URL":       "http://kanban.example.com",
		"DATABASE_URL":   "postgres://u:pw-not-printed@db:port/kanban",
		"AUTH_CHALLENGE": "popup",
	}
	var stdout, stderr bytes.Buffer
	code := app.Run(context.Background(), "test", []string{"serve"}, func(k string) string { return env[k] }, nil, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	for _, want := range []string{"BASE_URL", "must use https", "DATABASE_URL", "PostgreSQL URL", "AUTH_CHALLENGE", "tool-result"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("error output lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "pw-not-printed") {
		t.Errorf("the database password was printed:\n%s", stderr.String())
	}
}

func TestUnknownCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := app.Run(context.Background(), "test", []string{"frobnicate"}, func(string) string { return "" }, nil, &stdout, &stderr); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "Usage:") {
		t.Errorf("no usage printed: %s", stderr.String())
	}
}

// cliEnv is a configuration for the operator commands on a fresh database.
func cliEnv(t *testing.T) func(string) string {
	env := map[string]string{"DATABASE_URL": t.TempDir() + "/kanban.db"}
	return func(k string) string { return env[k] }
}

// runCLI runs one command and returns its exit code and output.
func runCLI(t *testing.T, getenv func(string) string, stdin string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := app.Run(context.Background(), "test", args, getenv, strings.NewReader(stdin), &out, &out)
	return code, out.String()
}

// TestAuthServerCommands runs the operator's commands for the built-in
// authorization server against one database, as separate invocations.
func TestAuthServerCommands(t *testing.T) {
	t.Parallel()
	getenv := cliEnv(t)
	steps := []struct {
		args  []string
		stdin string
		code  int
		want  []string // substrings of the output
	}{
		{[]string{"users", "add", "alice", "-email", "alice@example.com", "-password-stdin"}, "correct horse battery\n", 0, []string{"added user alice", "subject u_"}},
		{[]string{"users", "add", "Alice", "-password-stdin"}, "another long password\n", 1, []string{"already exists"}},
		{[]string{"users", "add", "bob", "-password-stdin"}, "short\n", 1, []string{"12"}},
		{[]string{"users", "add", "bob"}, "", 1, []string{"-password-stdin"}},
		{[]string{"users", "list"}, "", 0, []string{"alice", "alice@example.com", "active"}},
		{[]string{"users", "passwd", "alice", "-password-stdin"}, "a new long password\n", 0, []string{"password of alice changed"}},
		{[]string{"users", "disable", "alice"}, "", 0, []string{"disabled alice", "grants are revoked"}},
		{[]string{"users", "disable", "alice"}, "", 0, []string{"already disabled"}},
		{[]string{"users", "list"}, "", 0, []string{"disabled"}},
		{[]string{"users", "enable", "alice"}, "", 0, []string{"enabled alice"}},
		{[]string{"users", "disable", "nobody"}, "", 1, []string{"nobody"}},
		{[]string{"clients", "add", "-name", "Conformance", "-redirect-uri", "http://127.0.0.1:3333/callback"}, "", 0, []string{"client_id: "}},
		{[]string{"clients", "add", "-name", "Server app", "-redirect-uri", "https://app.example/cb", "-confidential"}, "", 0, []string{"client_id: ", "client_secret: ", "shown once"}},
		{[]string{"clients", "add", "-name", "Bad", "-redirect-uri", "http://app.example/cb"}, "", 1, []string{"invalid_redirect_uri"}},
		{[]string{"clients", "list"}, "", 0, []string{"Conformance", "Server app", "preregistered", "client_secret_basic", "never"}},
		{[]string{"clients", "remove", "no-such-client"}, "", 1, nil},
		{[]string{"grants", "list"}, "", 0, []string{"GRANT"}},
		{[]string{"grants", "list", "-user", "alice"}, "", 0, []string{"GRANT"}},
		{[]string{"grants", "revoke", "g_unknown"}, "", 1, nil},
		{[]string{"keys", "rotate"}, "", 0, []string{"new signing key", "signs from"}},
		{[]string{"keys", "rotate", "-now"}, "", 0, []string{"new signing key"}},
		{[]string{"keys", "burn"}, "", 1, []string{"usage: keys rotate"}},
	}
	for _, s := range steps {
		code, out := runCLI(t, getenv, s.stdin, s.args...)
		if code != s.code {
			t.Fatalf("%v: exit %d, want %d; output:\n%s", s.args, code, s.code, out)
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", s.args, w, out)
			}
		}
		for _, secret := range []string{"correct horse battery", "a new long password"} {
			if strings.Contains(out, secret) {
				t.Errorf("%v: output shows a password", s.args)
			}
		}
	}
}
