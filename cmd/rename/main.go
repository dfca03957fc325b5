// Command rename makes a fork of this repository its own: it changes the
// Go module path (go.mod and every import) and the product's name
// (product.Name and the Dockerfile's image title label, which a test holds
// to it), then regenerates what is built from the name (go generate ./...:
// the widget page and the README's tables). Run it once, at the root of a
// fresh clone:
//
//	go run ./cmd/rename example.com/you/yours
//	go run ./cmd/rename -name "Acme Boards" example.com/you/yours
//
// The name defaults to the module path's last element. What deliberately
// keeps the old name (crypto labels, the widget's _meta key, file names)
// is listed in internal/product; the prose of README.md, the Dockerfile's
// comments and fly.toml's app name are yours to edit.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rename:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("rename", flag.ContinueOnError)
	name := fs.String("name", "", "the product's new name (default: the module path's last element)")
	dir := fs.String("dir", ".", "the repository's root")
	skipGenerate := fs.Bool("skip-generate", false, "do not run go generate ./... afterwards")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: go run ./cmd/rename [-name NAME] NEW/MODULE/PATH")
	}
	module := fs.Arg(0)
	if *name == "" {
		*name = path.Base(module)
	}
	changed, err := rename(*dir, module, *name)
	if err != nil {
		return err
	}
	fmt.Printf("renamed the module to %s and the product to %q in %d files\n", module, *name, len(changed))
	if *skipGenerate {
		return nil
	}
	gen := exec.Command("go", "generate", "./...")
	gen.Dir, gen.Stdout, gen.Stderr = *dir, os.Stdout, os.Stderr
	if err := gen.Run(); err != nil {
		return fmt.Errorf("go generate ./...: %w", err)
	}
	return nil
}

// rename rewrites the repository at root to module path module and product
// name name, and returns the files it changed, relative to root.
func rename(root, module, name string) ([]string, error) {
	// A module path: slash-separated elements of letters, digits and
	// . _ ~ -, as `go mod edit -module` accepts.
	modulePattern := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]*(/[A-Za-z0-9._~-]+)*$`)
	// The product's name stays a token: it is also the CLI's command name
	// in help text, a flag set's name and a User-Agent product.
	namePattern := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	if !modulePattern.MatchString(module) {
		return nil, fmt.Errorf("%q is not a module path (like example.com/you/yours)", module)
	}
	if !namePattern.MatchString(name) {
		return nil, fmt.Errorf("%q is not a usable product name: use letters, digits, '.', '_' and '-' (set it with -name)", name)
	}
	old, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	oldName, err := productName(filepath.Join(root, "internal", "product", "product.go"))
	if err != nil {
		return nil, err
	}
	var changed []string
	edit := func(rel string, fn func([]byte) []byte) error {
		p := filepath.Join(root, rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if out := fn(b); !bytes.Equal(out, b) {
			info, err := os.Stat(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(p, out, info.Mode().Perm()); err != nil {
				return err
			}
			changed = append(changed, rel)
		}
		return nil
	}
	// The module path: go.mod's module line and every mention in Go files
	// (imports, the few strings and comments that name a package path).
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return edit(rel, func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(old), []byte(module)) })
	})
	if err != nil {
		return nil, err
	}
	if err := edit("go.mod", func(b []byte) []byte {
		return bytes.Replace(b, []byte("module "+old+"\n"), []byte("module "+module+"\n"), 1)
	}); err != nil {
		return nil, err
	}
	// The product's name: the constant, and the Dockerfile's label that a
	// test holds to it.
	if err := edit(filepath.Join("internal", "product", "product.go"), func(b []byte) []byte {
		return bytes.Replace(b, []byte("const Name = "+strconv.Quote(oldName)), []byte("const Name = "+strconv.Quote(name)), 1)
	}); err != nil {
		return nil, err
	}
	if err := edit("Dockerfile", func(b []byte) []byte {
		return bytes.Replace(b, []byte(`org.opencontainers.image.title=`+strconv.Quote(oldName)), []byte(`org.opencontainers.image.title=`+strconv.Quote(name)), 1)
	}); err != nil {
		return nil, err
	}
	return changed, nil
}

// modulePath reads the module path from a go.mod file.
func modulePath(gomod string) (string, error) {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", fmt.Errorf("%s has no module line", gomod)
}

// productName reads product.Name's value from its source file.
func productName(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^const Name = ("[^"]*")$`).FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%s has no line `const Name = \"…\"`", file)
	}
	return strconv.Unquote(string(m[1]))
}
