package authserver

import (
	"testing"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// The scopes these tests run with: the kanban chain as tools/scopes.go
// declares it (read and write default, admin sensitive), plus
// kanban.archive, a scope that stands alone, so that every shape the
// consent page and the grants handle is covered without importing the
// tools package.
const (
	scopeRead    auth.Scope = "kanban.read"
	scopeWrite   auth.Scope = "kanban.write"
	scopeAdmin   auth.Scope = "kanban.admin"
	scopeArchive auth.Scope = "kanban.archive"
)

func testScopeDecls() []auth.ScopeDecl {
	return []auth.ScopeDecl{
		{Name: scopeRead, Title: "Read", Consent: "See your boards and cards, search them, and see your activity.", Default: true},
		{Name: scopeWrite, Title: "Read and write", Consent: "Also create boards and change cards.", Implies: []auth.Scope{scopeRead}, Default: true},
		{Name: scopeAdmin, Title: "Full control", Consent: "Also share and delete boards.", Implies: []auth.Scope{scopeWrite}, Sensitive: true},
		{Name: scopeArchive, Title: "Archive", Consent: "Archive and restore cards."},
	}
}

func testScopes(t testing.TB) *auth.ScopeSet {
	t.Helper()
	s, err := auth.NewScopeSet(testScopeDecls()...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
