package product

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the module's root, two folders up from this package.
const repoRoot = "../.."

// nameException is a string that spells out the product's name on purpose
// and must stay as it is when Name changes.
type nameException struct {
	file string // slash path from the repository root
	text string // the string literal's value (Go) or text on a line (others)
	why  string
}

// nameExceptions is every deliberate spelling of the name outside this
// package. Keep it short: anything shown to people or programs uses Name.
var nameExceptions = []nameException{
	{"internal/product/product.go", Name, "the constant itself"},
	{"authserver/sessions.go", "kanban-mcp session csrf v1", "HMAC label: renaming it fails every open form's CSRF check"},
	{"authserver/sessions.go", "kanban-mcp sign-in csrf v1", "HMAC label: renaming it fails every open form's CSRF check"},
	{"authserver/keys.go", "kanban-mcp signing-key encryption v1", "HKDF label: renaming it makes the stored signing keys undecryptable"},
	{"authserver/devices.go", "kanban-mcp device cookie v1", "MAC label: renaming it forgets every known device"},
	{"widget/widget.go", "kanban-mcp/widget", "the widget's _meta key, a wire identifier shared with cached widget pages"},
	{"widget/src/board.js", `"kanban-mcp/widget"`, "the same key, as the page reads it"},
}

// nameSeparators lets the name match however it is cased or separated
// ("Kanban MCP", "kanban_mcp"): normalize turns each into Name's form.
var nameSeparators = regexp.MustCompile(`[-_ ]`)

func normalize(s string) string { return nameSeparators.ReplaceAllString(strings.ToLower(s), "-") }

// TestNoHardCodedName fails when the product's name is written out instead
// of taken from Name: in a string literal of a non-test Go file (comments
// are documentation and may name it; import paths are the module's path),
// in the built-in authorization server's page templates, or in the
// widget's sources. A rename of Name would miss such a place.
func TestNoHardCodedName(t *testing.T) {
	module := modulePath(t)
	want := normalize(Name)
	used := map[nameException]bool{}
	// check reports s, found at where in file, unless an exception covers it.
	check := func(file, where, s string) {
		for _, e := range nameExceptions {
			if e.file == file && strings.Contains(s, e.text) {
				used[e] = true
				s = strings.ReplaceAll(s, e.text, "")
			}
		}
		s = strings.ReplaceAll(s, module, "")
		if strings.Contains(normalize(s), want) {
			t.Errorf("%s:%s: %q spells out the product's name; use product.Name (internal/product) so that a rename reaches it "+
				"(pages: {{product}}; widget: PRODUCT_NAME), or, if it is an identifier that must never change, add it to nameExceptions with why",
				file, where, s)
		}
	}

	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			// What the go tool ignores: testdata and hidden folders.
			if rel != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go"):
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.ImportSpec:
					return false
				case *ast.BasicLit:
					if n.Kind == token.STRING || n.Kind == token.CHAR {
						v, err := strconv.Unquote(n.Value)
						if err != nil {
							v = n.Value
						}
						check(rel, strconv.Itoa(fset.Position(n.Pos()).Line), v)
					}
				}
				return true
			})
		case strings.HasPrefix(rel, "authserver/templates/") || strings.HasPrefix(rel, "widget/src/"):
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(b), "\n") {
				check(rel, strconv.Itoa(i+1), line)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// An exception no longer found would quietly allow the next one.
	for _, e := range nameExceptions {
		if !used[e] {
			if b, err := os.ReadFile(filepath.Join(repoRoot, e.file)); err != nil || !strings.Contains(string(b), e.text) {
				t.Errorf("nameExceptions: %q is no longer in %s; remove the entry", e.text, e.file)
			}
		}
	}
}

// modulePath reads the module path from go.mod.
func modulePath(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no module line")
	}
	return string(m[1])
}
