package tools

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBoundNeedsValidate builds this package with one more tool file (a
// go build overlay, the tree untouched) whose arguments have validate with
// a value receiver, with a pointer receiver, or not at all: only the first
// compiles, so a tool cannot skip its argument check by accident.
func TestBoundNeedsValidate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command; skipped with -short")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	tests := []struct {
		name     string
		validate string // the argument type's validate method, if any
		wantErr  string // in the compiler's output; empty: it builds
	}{
		{"value receiver", "func (probeArgs) validate() error { return nil }", ""},
		{"pointer receiver", "func (*probeArgs) validate() error { return nil }", "method validate has pointer receiver"},
		{"no validate", "", "missing method validate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "probe.go")
			code := `package tools

import (
	"context"

	"github.com/kanban-mcp/kanban-mcp/store"
)

type probeArgs struct{}

` + tt.validate + `

var _ = Bound(func(context.Context, store.Store, *Call, probeArgs) (*Result, error) { return nil, nil })
`
			if err := os.WriteFile(src, []byte(code), 0o600); err != nil {
				t.Fatal(err)
			}
			here, err := filepath.Abs("zz_probe_test_overlay.go")
			if err != nil {
				t.Fatal(err)
			}
			overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{here: src}})
			overlayFile := filepath.Join(dir, "overlay.json")
			if err := os.WriteFile(overlayFile, overlay, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(goCmd, "build", "-overlay", overlayFile, ".").CombinedOutput()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("a tool whose arguments have validate with a value receiver does not build: %v\n%s", err, out)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("a tool whose arguments have %s built; Bound must refuse it", tt.name)
			case tt.wantErr != "" && !strings.Contains(string(out), tt.wantErr):
				t.Fatalf("the build failed, but not for the reason wanted (%q):\n%s", tt.wantErr, out)
			}
		})
	}
}
