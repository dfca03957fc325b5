package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Scope is the name of an OAuth scope (RFC 6749 §3.3).
type Scope string

// ScopeDecl declares one scope. The application declares its scopes once,
// as data; the checks of every call, the metadata that clients discover and
// the consent page are all derived from the declarations through a
// ScopeSet.
type ScopeDecl struct {
	Name Scope
	// Title names the access on the consent page and the account page,
	// in a few words ("Read and write").
	Title string
	// Consent is one sentence saying what the scope lets a client do.
	Consent string
	// Implies lists the scopes that holding this one grants as well. The
	// scopes form a graph: a chain such as read ⊂ write ⊂ admin, and
	// scopes that stand alone, side by side.
	Implies []Scope
	// Default scopes are the ones a client that asks for nothing specific
	// gets: they are listed in the protected resource metadata's
	// scopes_supported, which such a client requests (MCP 2026-07-28).
	// The others are reached by step-up, when a tool asks for them.
	Default bool
	// Sensitive scopes are never pre-selected on the consent page: the
	// person ticks them.
	Sensitive bool
}

// ScopeSet is a checked set of scope declarations, with what each scope
// grants worked out once.
type ScopeSet struct {
	decls []ScopeDecl
	index map[Scope]int
	// grants[i] is every scope that holding decls[i] grants, itself
	// included, in declaration order.
	grants [][]Scope
}

// NewScopeSet checks decls and returns their set. Names must be unique and
// valid scope tokens; every implied scope must be declared; the graph must
// have no cycle (two scopes that imply each other are one scope); a scope
// that includes a sensitive one must be sensitive too; every scope needs a
// title and a consent line; and at least one scope must be a default, so
// that a plain connect asks for something.
func NewScopeSet(decls ...ScopeDecl) (*ScopeSet, error) {
	s := &ScopeSet{decls: slices.Clone(decls), index: make(map[Scope]int, len(decls))}
	var problems []string
	for i, d := range s.decls {
		if !validScopeToken(string(d.Name)) {
			problems = append(problems, fmt.Sprintf("scope %q: a name is one or more printable ASCII characters other than space, \" and \\", d.Name))
			continue
		}
		if _, dup := s.index[d.Name]; dup {
			problems = append(problems, fmt.Sprintf("scope %q is declared twice", d.Name))
			continue
		}
		s.index[d.Name] = i
		if strings.TrimSpace(d.Title) == "" || strings.TrimSpace(d.Consent) == "" {
			problems = append(problems, fmt.Sprintf("scope %q needs a Title and a Consent line: the consent page shows them", d.Name))
		}
	}
	for _, d := range s.decls {
		for _, im := range d.Implies {
			if _, ok := s.index[im]; !ok {
				problems = append(problems, fmt.Sprintf("scope %q implies %q, which is not declared", d.Name, im))
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.New("auth: " + strings.Join(problems, "; "))
	}
	s.grants = make([][]Scope, len(s.decls))
	for i, d := range s.decls {
		reached := make([]bool, len(s.decls))
		var visit func(Scope)
		visit = func(n Scope) {
			j := s.index[n]
			if reached[j] {
				return
			}
			reached[j] = true
			for _, im := range s.decls[j].Implies {
				visit(im)
			}
		}
		for _, im := range d.Implies {
			visit(im)
		}
		if reached[i] {
			problems = append(problems, fmt.Sprintf("scope %q implies itself through %v; scopes that imply each other are one scope", d.Name, d.Implies))
		}
		reached[i] = true
		for j, r := range reached {
			if r {
				s.grants[i] = append(s.grants[i], s.decls[j].Name)
			}
		}
	}
	// A scope that grants a sensitive one is sensitive itself: ticking it
	// for the person would grant what they must tick.
	for i, d := range s.decls {
		for _, g := range s.grants[i] {
			if gd := s.decls[s.index[g]]; gd.Sensitive && !d.Sensitive {
				problems = append(problems, fmt.Sprintf("scope %q includes the sensitive %q, so it must be Sensitive too", d.Name, g))
				break
			}
		}
	}
	if len(s.Defaults()) == 0 && len(s.decls) > 0 {
		problems = append(problems, "no scope is a Default: a client that asks for nothing specific would get nothing")
	}
	if len(problems) > 0 {
		return nil, errors.New("auth: " + strings.Join(problems, "; "))
	}
	return s, nil
}

// validScopeToken reports whether n is a scope-token (RFC 6749 §3.3):
// %x21 / %x23-5B / %x5D-7E, at least one.
func validScopeToken(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Decls returns the declarations in the order they were declared.
func (s *ScopeSet) Decls() []ScopeDecl { return slices.Clone(s.decls) }

// Lookup returns the declaration of name.
func (s *ScopeSet) Lookup(name Scope) (ScopeDecl, bool) {
	i, ok := s.index[name]
	if !ok {
		return ScopeDecl{}, false
	}
	return s.decls[i], true
}

// Known reports whether name is declared.
func (s *ScopeSet) Known(name Scope) bool {
	_, ok := s.index[name]
	return ok
}

// Names returns every declared scope, in declaration order.
func (s *ScopeSet) Names() []Scope {
	out := make([]Scope, len(s.decls))
	for i, d := range s.decls {
		out[i] = d.Name
	}
	return out
}

// Defaults returns the Default scopes, in declaration order.
func (s *ScopeSet) Defaults() []Scope {
	var out []Scope
	for _, d := range s.decls {
		if d.Default {
			out = append(out, d.Name)
		}
	}
	return out
}

// Grants returns every declared scope that holding all of held grants:
// the declared ones among held, and everything they imply, in declaration
// order. Names that are not declared grant nothing and are left out.
func (s *ScopeSet) Grants(held ...Scope) []Scope {
	reached := make([]bool, len(s.decls))
	for _, h := range held {
		if i, ok := s.index[h]; ok {
			for _, g := range s.grants[i] {
				reached[s.index[g]] = true
			}
		}
	}
	var out []Scope
	for i, r := range reached {
		if r {
			out = append(out, s.decls[i].Name)
		}
	}
	return out
}

// Implies reports whether holding have grants need. An undeclared scope
// implies nothing, not even itself.
func (s *ScopeSet) Implies(have, need Scope) bool {
	i, ok := s.index[have]
	return ok && slices.Contains(s.grants[i], need)
}

// Allow reports whether the scopes held grant need, directly or through
// what they imply. The empty need is always granted.
func (s *ScopeSet) Allow(held Scopes, need Scope) bool {
	if need == "" {
		return true
	}
	for _, h := range held {
		if s.Implies(Scope(h), need) {
			return true
		}
	}
	return false
}

// Strings returns scopes as plain strings, for metadata and the scope
// parameter.
func Strings(scopes []Scope) []string {
	out := make([]string, len(scopes))
	for i, sc := range scopes {
		out[i] = string(sc)
	}
	return out
}

// Scopes is the set of scope strings a token grants, as the issuer wrote
// them. It may include scopes that mean nothing here.
type Scopes []string

// ParseScopes splits a space-separated scope string (RFC 6749 §3.3).
func ParseScopes(s string) Scopes { return Scopes(strings.Fields(s)) }
