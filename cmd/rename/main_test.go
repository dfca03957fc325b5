package main

import (
	"bytes"
	"crypto/sha256"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestForkRenameAndAddAToolWithItsOwnScope does what the README's "Make it
// yours" tells a forker to do, in a copy of this repository:
//
//  1. rename it (go run ./cmd/rename example.com/you/acme-boards), and check
//     that the copy names the old module nowhere, builds, passes go vet and
//     the tests that hold the product's name in step;
//  2. add a tool with a new, independent scope from the fixture in
//     testdata/fork: the tool's file, one line in tools.Scopes() and one in
//     tools.All(), then regenerate the README and the golden descriptor.
//     Nothing else may change, in auth/, authserver/ or any test; go build,
//     go vet and the whole short suite pass;
//  3. run the fixture's test in the fork, which obtains a token for the new
//     scope through the built-in server's consent page in Chromium, calls
//     the tool, and sees it refused without the scope.
func TestForkRenameAndAddAToolWithItsOwnScope(t *testing.T) {
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

	module, name := "example.com/you/acme-boards", "acme-boards"
	if old == module {
		// A fork that took this very name: rename it to another.
		module, name = "example.com/you/acme-boards-2", "acme-boards-2"
	}
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

	goIn := func(args ...string) {
		t.Helper()
		cmd := exec.Command(goCmd, args...)
		cmd.Dir = fork
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s in the fork: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	goIn("build", "./...")
	goIn("vet", "./...")
	goIn("test", "-short", "-count=1", "./internal/product", "./deploy", "./widget", "./internal/cmd/readme", "./tools")

	// 2. The new tool and its scope, as the README says.
	before := treeHashes(t, fork)
	fixture := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("testdata", "fork", name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(b), old, module)
	}
	writeFile(t, filepath.Join(fork, "tools", "archive_card.go"), fixture("archive_card.go.txt"))
	insertAfter(t, filepath.Join(fork, "tools", "scopes.go"), "\t\t{Name: ScopeAdmin,",
		"\t\t{Name: \"kanban.archive\", Title: \"Archive\", Consent: \"Archive cards on your boards.\"},\n")
	insertAfter(t, filepath.Join(fork, "tools", "all.go"), "\t\tDeleteBoard(),", "\t\tArchiveCard(),\n")
	goIn("generate", "./...")
	goIn("test", "-count=1", "-run", "TestToolsListGolden", "./e2e", "-update")

	changed := changedFiles(before, treeHashes(t, fork))
	want := []string{"README.md", "e2e/testdata/tools/archive_card.json", "tools/all.go", "tools/archive_card.go", "tools/scopes.go"}
	if diff := cmp.Diff(want, changed); diff != "" {
		t.Errorf("files the new tool and scope changed (-want +got):\n%s", diff)
	}
	goIn("build", "./...")
	goIn("vet", "./...")
	goIn("test", "-short", "-count=1", "./...")

	// 3. The new scope through the built-in server's consent page.
	writeFile(t, filepath.Join(fork, "e2e", "e2e_fork_archive_test.go"), fixture("fork_archive_test.go.txt"))
	goIn("test", "-count=1", "-run", "^TestForkArchiveCardThroughConsent$", "./e2e")
}

// treeHashes maps each file under root (slash-separated, relative) to a
// hash of its content.
func treeHashes(t *testing.T, root string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// changedFiles lists, sorted, the files added, removed or changed from
// before to after.
func changedFiles(before, after map[string][32]byte) []string {
	var out []string
	for name, h := range after {
		if old, ok := before[name]; !ok || old != h {
			out = append(out, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// insertAfter inserts text after the line of path that starts with prefix,
// which must occur exactly once.
func insertAfter(t *testing.T, path, prefix, text string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if n := strings.Count(s, "\n"+prefix); n != 1 {
		t.Fatalf("%s: a line starting %q occurs %d times, want once", path, prefix, n)
	}
	i := strings.Index(s, "\n"+prefix) + 1
	end := i + strings.Index(s[i:], "\n") + 1
	writeFile(t, path, s[:end]+text+s[end:])
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
