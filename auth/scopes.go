package auth

import "strings"

// Scope is an OAuth scope that this server understands.
type Scope string

// The kanban scopes. They are hierarchical: kanban.admin implies
// kanban.write, which implies kanban.read. A write token can therefore read,
// an admin token can do everything, and a client that steps up from read to
// write never loses its read access.
const (
	ScopeRead  Scope = "kanban.read"
	ScopeWrite Scope = "kanban.write"
	ScopeAdmin Scope = "kanban.admin"
)

// rank places each scope in the hierarchy; a higher rank implies every lower
// one. This is the one definition of the hierarchy.
func (s Scope) rank() int {
	switch s {
	case ScopeRead:
		return 1
	case ScopeWrite:
		return 2
	case ScopeAdmin:
		return 3
	}
	return 0
}

// Implies reports whether holding s is enough for need.
func (s Scope) Implies(need Scope) bool {
	return s.rank() > 0 && s.rank() >= need.rank()
}

// SupportedScopes lists the kanban scopes from the least to the most
// powerful, as published in metadata.
func SupportedScopes() []Scope { return []Scope{ScopeRead, ScopeWrite, ScopeAdmin} }

// Expand returns s followed by every scope it implies, from the most to the
// least powerful, so that a token's scope can list what it effectively
// grants for clients that do not know the hierarchy.
func Expand(s Scope) []Scope {
	var out []Scope
	for _, c := range SupportedScopes() {
		if s.Implies(c) {
			out = append([]Scope{c}, out...)
		}
	}
	return out
}

// Scopes is the set of scope strings a token grants, as the issuer wrote
// them. It may include scopes that mean nothing here.
type Scopes []string

// ParseScopes splits a space-separated scope string (RFC 6749 §3.3).
func ParseScopes(s string) Scopes { return Scopes(strings.Fields(s)) }

// Allow reports whether the scopes grant need, directly or through the
// hierarchy. The empty need is always granted.
func (ss Scopes) Allow(need Scope) bool {
	if need == "" {
		return true
	}
	for _, s := range ss {
		if Scope(s).Implies(need) {
			return true
		}
	}
	return false
}
