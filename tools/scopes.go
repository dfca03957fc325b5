package tools

import "github.com/kanban-mcp/kanban-mcp/auth"

// Scopes declares the OAuth scopes that the tools require, one line each.
// Everything else follows from this list: what a tool's scope implies when
// a call is checked, the scopes_supported that clients discover, the
// server instructions, the built-in authorization server's consent page
// and the README's table. A new scope is one more line here; a tool names
// it in its Requires.
//
// kanban.read ⊂ kanban.write ⊂ kanban.admin is a chain. read and write are
// the defaults that a plain connect asks for: an agent that can only read
// is of little use on a kanban board, and some clients cannot step up
// (the TypeScript SDK refreshes instead, which cannot widen a grant).
// admin deletes and shares boards, so it is sensitive: asked for by step-up
// when such a tool is called, and ticked by the person, never pre-selected.
func Scopes() []auth.ScopeDecl {
	return []auth.ScopeDecl{
		{Name: ScopeRead, Title: "Read", Consent: "See your boards and cards, search them, and see your activity.", Default: true},
		{Name: ScopeWrite, Title: "Read and write", Consent: "Also create boards and change cards.", Implies: []auth.Scope{ScopeRead}, Default: true},
		{Name: ScopeAdmin, Title: "Full control", Consent: "Also share and delete boards.", Implies: []auth.Scope{ScopeWrite}, Sensitive: true},
	}
}

// The names of the scopes declared above that the kanban tools use; a new
// tool may as well write its scope's name as a string.
const (
	ScopeRead  auth.Scope = "kanban.read"
	ScopeWrite auth.Scope = "kanban.write"
	ScopeAdmin auth.Scope = "kanban.admin"
)

// ScopeSet returns the checked set of Scopes.
func ScopeSet() (*auth.ScopeSet, error) { return auth.NewScopeSet(Scopes()...) }
