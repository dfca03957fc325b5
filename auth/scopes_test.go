package auth_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// testScopes is a graph with each shape a declaration can take: a chain
// (notes.read ⊂ notes.write ⊂ notes.admin), a scope that stands alone
// (notes.archive), and one that implies two others (notes.all).
func testScopes(t *testing.T) *auth.ScopeSet {
	t.Helper()
	s, err := auth.NewScopeSet(testScopeDecls()...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testScopeDecls() []auth.ScopeDecl {
	return []auth.ScopeDecl{
		{Name: "notes.read", Title: "Read", Consent: "See your notes.", Default: true},
		{Name: "notes.write", Title: "Read and write", Consent: "Also change them.", Implies: []auth.Scope{"notes.read"}, Default: true},
		{Name: "notes.admin", Title: "Full control", Consent: "Also delete them.", Implies: []auth.Scope{"notes.write"}, Sensitive: true},
		{Name: "notes.archive", Title: "Archive", Consent: "Archive your notes."},
		{Name: "notes.all", Title: "Everything", Consent: "All of the above.", Implies: []auth.Scope{"notes.admin", "notes.archive"}, Sensitive: true},
	}
}

func TestScopeSetImplies(t *testing.T) {
	t.Parallel()
	s := testScopes(t)
	tests := []struct {
		have, need auth.Scope
		want       bool
	}{
		{"notes.admin", "notes.admin", true},
		{"notes.admin", "notes.write", true},
		{"notes.admin", "notes.read", true},
		{"notes.write", "notes.admin", false},
		{"notes.write", "notes.read", true},
		{"notes.read", "notes.write", false},
		// A scope that stands alone implies nothing else and is implied by
		// nothing in the chain.
		{"notes.archive", "notes.archive", true},
		{"notes.archive", "notes.read", false},
		{"notes.admin", "notes.archive", false},
		// Two branches: everything below both.
		{"notes.all", "notes.archive", true},
		{"notes.all", "notes.read", true},
		{"notes.admin", "notes.all", false},
		// Undeclared scopes imply nothing, not even themselves.
		{"openid", "notes.read", false},
		{"openid", "openid", false},
		{"", "", false},
		{"notes.readx", "notes.read", false},
		{"NOTES.ADMIN", "notes.read", false},
		{" notes.admin", "notes.read", false},
	}
	for _, tt := range tests {
		if got := s.Implies(tt.have, tt.need); got != tt.want {
			t.Errorf("Implies(%q, %q) = %v, want %v", tt.have, tt.need, got, tt.want)
		}
	}
}

func TestScopeSetAllow(t *testing.T) {
	t.Parallel()
	s := testScopes(t)
	tests := []struct {
		name string
		have auth.Scopes
		need auth.Scope
		want bool
	}{
		{"admin grants read", auth.Scopes{"notes.admin"}, "notes.read", true},
		{"write does not grant admin", auth.Scopes{"notes.write"}, "notes.admin", false},
		{"archive alone grants archive", auth.Scopes{"notes.archive"}, "notes.archive", true},
		{"archive does not grant read", auth.Scopes{"notes.archive"}, "notes.read", false},
		{"read does not grant archive", auth.Scopes{"notes.read"}, "notes.archive", false},
		{"any of several", auth.Scopes{"openid", "notes.archive", "notes.write"}, "notes.read", true},
		{"unknown scopes grant nothing", auth.Scopes{"openid", "profile", "email"}, "notes.read", false},
		{"lookalike is not read", auth.Scopes{"notes.readx"}, "notes.read", false},
		{"case matters", auth.Scopes{"Notes.Read"}, "notes.read", false},
		{"nil scopes, some need", nil, "notes.read", false},
		{"empty need, nil scopes", nil, "", true},
		{"empty need, unknown scopes", auth.Scopes{"openid"}, "", true},
		{"undeclared need is never granted", auth.Scopes{"notes.all", "mystery"}, "mystery", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := s.Allow(tt.have, tt.need); got != tt.want {
				t.Errorf("Allow(%q, %q) = %v, want %v", tt.have, tt.need, got, tt.want)
			}
		})
	}
}

func TestScopeSetGrants(t *testing.T) {
	t.Parallel()
	s := testScopes(t)
	tests := []struct {
		held []auth.Scope
		want []auth.Scope
	}{
		{[]auth.Scope{"notes.admin"}, []auth.Scope{"notes.read", "notes.write", "notes.admin"}},
		{[]auth.Scope{"notes.read"}, []auth.Scope{"notes.read"}},
		{[]auth.Scope{"notes.archive", "notes.read"}, []auth.Scope{"notes.read", "notes.archive"}},
		{[]auth.Scope{"notes.all"}, []auth.Scope{"notes.read", "notes.write", "notes.admin", "notes.archive", "notes.all"}},
		{[]auth.Scope{"openid", "notes.write", "notes.write"}, []auth.Scope{"notes.read", "notes.write"}},
		{[]auth.Scope{"openid"}, nil},
		{nil, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, s.Grants(tt.held...), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Grants(%q) mismatch (-want +got):\n%s", tt.held, diff)
		}
	}
	if diff := cmp.Diff([]auth.Scope{"notes.read", "notes.write"}, s.Defaults()); diff != "" {
		t.Errorf("Defaults() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]auth.Scope{"notes.read", "notes.write", "notes.admin", "notes.archive", "notes.all"}, s.Names()); diff != "" {
		t.Errorf("Names() mismatch (-want +got):\n%s", diff)
	}
	if d, ok := s.Lookup("notes.archive"); !ok || d.Title != "Archive" {
		t.Errorf(`Lookup("notes.archive") = %+v, %v`, d, ok)
	}
	if _, ok := s.Lookup("openid"); ok {
		t.Errorf(`Lookup("openid") found a declaration`)
	}
}

func TestNewScopeSetRefusesBadDeclarations(t *testing.T) {
	t.Parallel()
	ok := auth.ScopeDecl{Name: "a", Title: "A", Consent: "Do a.", Default: true}
	with := func(d auth.ScopeDecl, change func(*auth.ScopeDecl)) auth.ScopeDecl {
		change(&d)
		return d
	}
	tests := []struct {
		name  string
		decls []auth.ScopeDecl
		want  string // in the error
	}{
		{"empty name", []auth.ScopeDecl{ok, with(ok, func(d *auth.ScopeDecl) { d.Name = "" })}, `a name is one or more printable ASCII`},
		{"space in name", []auth.ScopeDecl{with(ok, func(d *auth.ScopeDecl) { d.Name = "a b" })}, `scope "a b"`},
		{"quote in name", []auth.ScopeDecl{with(ok, func(d *auth.ScopeDecl) { d.Name = `a"` })}, `printable ASCII`},
		{"non-ASCII name", []auth.ScopeDecl{with(ok, func(d *auth.ScopeDecl) { d.Name = "lesen.ä" })}, `printable ASCII`},
		{"declared twice", []auth.ScopeDecl{ok, ok}, `scope "a" is declared twice`},
		{"no title", []auth.ScopeDecl{with(ok, func(d *auth.ScopeDecl) { d.Title = " " })}, `needs a Title and a Consent line`},
		{"no consent", []auth.ScopeDecl{with(ok, func(d *auth.ScopeDecl) { d.Consent = "" })}, `needs a Title and a Consent line`},
		{"implies the undeclared", []auth.ScopeDecl{with(ok, func(d *auth.ScopeDecl) { d.Implies = []auth.Scope{"b"} })}, `scope "a" implies "b", which is not declared`},
		{"implies itself", []auth.ScopeDecl{with(ok, func(d *auth.ScopeDecl) { d.Implies = []auth.Scope{"a"} })}, `implies itself`},
		{"cycle", []auth.ScopeDecl{
			with(ok, func(d *auth.ScopeDecl) { d.Implies = []auth.Scope{"b"} }),
			{Name: "b", Title: "B", Consent: "Do b.", Implies: []auth.Scope{"c"}},
			{Name: "c", Title: "C", Consent: "Do c.", Implies: []auth.Scope{"a"}},
		}, `scopes that imply each other are one scope`},
		{"no default", []auth.ScopeDecl{with(ok, func(d *auth.ScopeDecl) { d.Default = false })}, `no scope is a Default`},
		{"includes a sensitive scope without being sensitive", []auth.ScopeDecl{
			with(ok, func(d *auth.ScopeDecl) { d.Sensitive = true }),
			{Name: "b", Title: "B", Consent: "Do b.", Implies: []auth.Scope{"a"}, Default: true},
		}, `scope "b" includes the sensitive "a", so it must be Sensitive too`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := auth.NewScopeSet(tt.decls...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewScopeSet error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := auth.NewScopeSet(testScopeDecls()...); err != nil {
		t.Errorf("NewScopeSet refused a good graph: %v", err)
	}
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want auth.Scopes
	}{
		{"", nil},
		{"   ", nil},
		{"kanban.read", auth.Scopes{"kanban.read"}},
		{"kanban.read kanban.write", auth.Scopes{"kanban.read", "kanban.write"}},
		{"  openid\tkanban.admin \n profile ", auth.Scopes{"openid", "kanban.admin", "profile"}},
		// Commas are not separators (RFC 6749 §3.3): the value stays whole
		// and so grants nothing.
		{"kanban.read,kanban.write", auth.Scopes{"kanban.read,kanban.write"}},
	}
	for _, tt := range tests {
		got := auth.ParseScopes(tt.in)
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ParseScopes(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
	if testScopes(t).Allow(auth.ParseScopes("notes.read,notes.write"), "notes.read") {
		t.Errorf(`Allow(ParseScopes("notes.read,notes.write"), notes.read) = true, want false`)
	}
}
