// Command kanban-mcp is a kanban board server that speaks the Model Context
// Protocol over Streamable HTTP, with every tool call checked against the
// caller's OAuth access token. The program lives in package app; main only
// hands it the process: its arguments, environment, streams and signals.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kanban-mcp/kanban-mcp/app"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(app.Run(ctx, version, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}
