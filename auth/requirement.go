package auth

// Requirement is what a tool demands of its caller. It is declared once per
// tool; the tool's securitySchemes and the enforcement of every call are
// both derived from it.
type Requirement struct {
	// Anonymous allows callers without a token (the "noauth" scheme).
	Anonymous bool
	// Scope is the scope a signed-in caller needs; empty means any valid
	// token will do.
	Scope Scope
}

// SecurityScheme is one entry of a tool's securitySchemes (SEP-1488, as
// read by ChatGPT).
type SecurityScheme struct {
	Type   string   `json:"type"`
	Scopes []string `json:"scopes,omitempty"`
}

// SecuritySchemes returns the schemes that describe r: "noauth" when
// anonymous callers are allowed, then "oauth2" with the needed scope (or
// none, when any token will do). Every tool offers oauth2.
func (r Requirement) SecuritySchemes() []SecurityScheme {
	var out []SecurityScheme
	if r.Anonymous {
		out = append(out, SecurityScheme{Type: "noauth"})
	}
	oauth := SecurityScheme{Type: "oauth2"}
	if r.Scope != "" {
		oauth.Scopes = []string{string(r.Scope)}
	}
	return append(out, oauth)
}

// Decision is the outcome of checking a caller against a Requirement.
type Decision int

// The possible decisions.
const (
	// Allow runs the call as the principal.
	Allow Decision = iota
	// AllowAnonymous runs the call as an anonymous caller: there is no token,
	// or the token lacks the scope of a tool that anonymous callers may use.
	AllowAnonymous
	// DenyNoToken refuses: the tool needs a token and none was sent.
	DenyNoToken
	// DenyScope refuses: the token lacks the needed scope.
	DenyScope
)

// Check decides whether p (nil for no token) may make a call that requires
// r, with what each scope implies taken from scopes.
func (r Requirement) Check(p *Principal, scopes *ScopeSet) Decision {
	switch {
	case p == nil && r.Anonymous:
		return AllowAnonymous
	case p == nil:
		return DenyNoToken
	case scopes.Allow(p.Scopes, r.Scope):
		return Allow
	case r.Anonymous:
		return AllowAnonymous
	default:
		return DenyScope
	}
}
