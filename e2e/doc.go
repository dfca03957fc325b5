// Package e2e holds the end-to-end tests: the real server (app.Serve) and
// the built binary on loopback, with a real issuer, real SQLite files,
// the official SDK clients, headless Chromium and the MCP conformance
// suite's expectations. It has no code of its own; `go test ./e2e` runs it
// (slow tests skip under -short).
package e2e
