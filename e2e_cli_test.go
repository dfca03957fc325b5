package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
)

// TestHealthcheckCommand runs `kanban-mcp healthcheck` with the server's own
// configuration, as the Dockerfile's HEALTHCHECK does.
func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	getenv := func(k string) string { return srv.Env[k] }
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"healthcheck"}, getenv, &stdout, &stderr); code != 0 {
		t.Fatalf("healthcheck against a running server exited %d: %s", code, stderr.String())
	}

	// The same command against a port where nothing listens must fail.
	idle := map[string]string{"LISTEN_ADDR": "127.0.0.1:" + strconv.Itoa(freePort(t))}
	stderr.Reset()
	code := run(context.Background(), []string{"healthcheck"}, func(k string) string { return idle[k] }, &stdout, &stderr)
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
		"DATABASE_URL":   "postgres://db/kanban",
		"AUTH_CHALLENGE": "popup",
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	for _, want := range []string{"BASE_URL", "must use https", "PostgreSQL", "AUTH_CHALLENGE", "tool-result"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("error output lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, &stdout, &stderr); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "Usage:") {
		t.Errorf("no usage printed: %s", stderr.String())
	}
}
