package main

// go generate ./... rewrites README.md's tool, scope and configuration tables
// from the tool declarations and the settings in config/config.go;
// internal/cmd/readme's test fails when they are stale.
//go:generate go run ./internal/cmd/readme
