// Command readme rewrites the generated sections of README.md from the
// code: the tool table from the declarations (tools.All), the scope table
// from the declared scopes (tools.Scopes), the configuration table from
// the settings (config/config.go) and the metrics table from package
// metrics' declarations. Run it with `go generate ./...` at the
// repository root (see generate.go); its test fails when README.md is
// stale.
//
// Each section sits between a <!-- name:start --> and a <!-- name:end -->
// marker; a missing or repeated marker is an error, never a section
// silently left alone.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kanban-mcp/kanban-mcp/config"
	"github.com/kanban-mcp/kanban-mcp/metrics"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "readme:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("readme", flag.ContinueOnError)
	path := fs.String("file", "README.md", "the README to rewrite in place")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	info, err := os.Stat(*path)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(*path)
	if err != nil {
		return err
	}
	updated, err := generate(string(old))
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	if updated == string(old) {
		return nil
	}
	return os.WriteFile(*path, []byte(updated), info.Mode().Perm())
}

// section is one generated part of the README: the name in its markers
// and the text that goes between them.
type section struct{ name, text string }

// sections lists what the README generates from the code.
func sections() ([]section, error) {
	scopes, err := tools.ScopeSet()
	if err != nil {
		return nil, err
	}
	return []section{
		{"tools", tools.MarkdownTable(tools.All())},
		{"scopes", tools.ScopesMarkdownTable(scopes, tools.All())},
		{"config", config.MarkdownTable()},
		{"metrics", metrics.MarkdownTable()},
	}, nil
}

// generate returns readme with the text between each section's markers
// replaced by the section's text.
func generate(readme string) (string, error) {
	all, err := sections()
	if err != nil {
		return "", err
	}
	for _, s := range all {
		var err error
		if readme, err = splice(readme, s.name, s.text); err != nil {
			return "", err
		}
	}
	return readme, nil
}

// splice returns readme with the text between name's markers replaced by
// text, which starts on the line after the start marker.
func splice(readme, name, text string) (string, error) {
	from, to, err := bounds(readme, name)
	if err != nil {
		return "", err
	}
	return readme[:from] + "\n" + text + readme[to:], nil
}

// bounds locates the text between name's markers: readme[from:to], from
// just after the start marker to the start of the end marker.
func bounds(readme, name string) (from, to int, err error) {
	start, end := "<!-- "+name+":start -->", "<!-- "+name+":end -->"
	for _, m := range []string{start, end} {
		if n := strings.Count(readme, m); n != 1 {
			return 0, 0, fmt.Errorf("needs the marker %s exactly once, found it %d times; put %s and %s around the %s section", m, n, start, end, name)
		}
	}
	from = strings.Index(readme, start) + len(start)
	to = strings.Index(readme, end)
	if to < from {
		return 0, 0, fmt.Errorf("%s comes before %s", end, start)
	}
	return from, to, nil
}
