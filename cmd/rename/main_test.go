package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRenameMakesAForkThatBuilds copies this repository to a temporary
// folder, renames it as a forker would (go run ./cmd/rename
// example.com/you/acme-boards), and checks that the copy names the old
// module nowhere, builds, passes go vet, and passes the tests that hold the
// product's name in step (the constant, the Dockerfile's label, the pages
// and the widget, the README's tables).
func TestRenameMakesAForkThatBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("copies and builds the whole repository; skipped with -short")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	old, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	fork := t.TempDir()
	copyTree(t, root, fork)

	const module, name = "example.com/you/acme-boards", "acme-boards"
	if err := run([]string{"-dir", fork, module}); err != nil {
		t.Fatalf("rename: %v", err)
	}

	err = filepath.WalkDir(fork, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(old)) && (strings.HasSuffix(p, ".go") || filepath.Base(p) == "go.mod") {
			t.Errorf("%s still names the old module path %s", p, old)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"internal/product/product.go": `const Name = "` + name + `"`,
		"Dockerfile":                  `org.opencontainers.image.title="` + name + `"`,
		"go.mod":                      "module " + module + "\n",
	} {
		if b, err := os.ReadFile(filepath.Join(fork, file)); err != nil || !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s after the rename lacks %q (err %v)", file, want, err)
		}
	}

	for _, args := range [][]string{
		{"build", "./..."},
		{"vet", "./..."},
		{"test", "-short", "-count=1", "./internal/product", "./deploy", "./widget", "./internal/cmd/readme", "./tools"},
	} {
		cmd := exec.Command(goCmd, args...)
		cmd.Dir = fork
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s in the renamed fork: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// copyTree copies the repository's files under src to dst, leaving out
// what git would not track here (its own folder, build and run output).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	skip := map[string]bool{".git": true, "artifacts": true, "data": true, "node_modules": true}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skip[d.Name()] && rel != "." {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() || strings.HasSuffix(p, ".test") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}
