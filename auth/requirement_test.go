package auth_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

func TestRequirementSecuritySchemes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    auth.Requirement
		want string
	}{
		{"anonymous and read", auth.Requirement{Anonymous: true, Scope: auth.ScopeRead}, `[{"type":"noauth"},{"type":"oauth2","scopes":["kanban.read"]}]`},
		{"read only", auth.Requirement{Scope: auth.ScopeRead}, `[{"type":"oauth2","scopes":["kanban.read"]}]`},
		{"write only", auth.Requirement{Scope: auth.ScopeWrite}, `[{"type":"oauth2","scopes":["kanban.write"]}]`},
		{"admin only", auth.Requirement{Scope: auth.ScopeAdmin}, `[{"type":"oauth2","scopes":["kanban.admin"]}]`},
		{"anonymous, no scope", auth.Requirement{Anonymous: true}, `[{"type":"noauth"},{"type":"oauth2"}]`},
		{"any token", auth.Requirement{}, `[{"type":"oauth2"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tt.r.SecuritySchemes())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(b)); diff != "" {
				t.Errorf("SecuritySchemes JSON mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequirementCheck(t *testing.T) {
	t.Parallel()
	principal := func(scopes ...string) *auth.Principal {
		return &auth.Principal{Issuer: "https://issuer.example/", Subject: "u1", ClientID: "agent", Scopes: scopes}
	}
	tests := []struct {
		name string
		r    auth.Requirement
		p    *auth.Principal
		want auth.Decision
	}{
		{"no token, anonymous allowed", auth.Requirement{Anonymous: true, Scope: auth.ScopeRead}, nil, auth.AllowAnonymous},
		{"no token, anonymous allowed, no scope", auth.Requirement{Anonymous: true}, nil, auth.AllowAnonymous},
		{"no token, not anonymous", auth.Requirement{Scope: auth.ScopeWrite}, nil, auth.DenyNoToken},
		{"no token, any token will do", auth.Requirement{}, nil, auth.DenyNoToken},
		{"has the scope", auth.Requirement{Scope: auth.ScopeWrite}, principal("kanban.write"), auth.Allow},
		{"has the scope, anonymous allowed", auth.Requirement{Anonymous: true, Scope: auth.ScopeRead}, principal("kanban.read"), auth.Allow},
		{"higher scope (write for read)", auth.Requirement{Scope: auth.ScopeRead}, principal("kanban.write"), auth.Allow},
		{"higher scope (admin for write)", auth.Requirement{Scope: auth.ScopeWrite}, principal("openid", "kanban.admin"), auth.Allow},
		{"lacks the scope, anonymous allowed", auth.Requirement{Anonymous: true, Scope: auth.ScopeRead}, principal("openid"), auth.AllowAnonymous},
		{"no scopes at all, anonymous allowed", auth.Requirement{Anonymous: true, Scope: auth.ScopeRead}, principal(), auth.AllowAnonymous},
		{"lacks the scope, not anonymous", auth.Requirement{Scope: auth.ScopeWrite}, principal("kanban.read"), auth.DenyScope},
		{"lower scope for admin", auth.Requirement{Scope: auth.ScopeAdmin}, principal("kanban.write"), auth.DenyScope},
		{"lookalike scope", auth.Requirement{Scope: auth.ScopeRead}, principal("kanban.readx"), auth.DenyScope},
		{"no scope needed, no scopes held", auth.Requirement{}, principal(), auth.Allow},
		{"no scope needed, anonymous allowed", auth.Requirement{Anonymous: true}, principal("openid"), auth.Allow},
		{"no scope needed, read held", auth.Requirement{}, principal("kanban.read"), auth.Allow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.r.Check(tt.p); got != tt.want {
				t.Errorf("Check(%+v) = %d, want %d", tt.p, got, tt.want)
			}
		})
	}
}
