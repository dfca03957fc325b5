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
		{"anonymous and read", auth.Requirement{Anonymous: true, Scope: "notes.read"}, `[{"type":"noauth"},{"type":"oauth2","scopes":["notes.read"]}]`},
		{"read only", auth.Requirement{Scope: "notes.read"}, `[{"type":"oauth2","scopes":["notes.read"]}]`},
		{"write only", auth.Requirement{Scope: "notes.write"}, `[{"type":"oauth2","scopes":["notes.write"]}]`},
		{"admin only", auth.Requirement{Scope: "notes.admin"}, `[{"type":"oauth2","scopes":["notes.admin"]}]`},
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
	scopes := testScopes(t)
	principal := func(scopes ...string) *auth.Principal {
		return &auth.Principal{Issuer: "https://issuer.example/", Subject: "u1", ClientID: "agent", Scopes: scopes}
	}
	tests := []struct {
		name string
		r    auth.Requirement
		p    *auth.Principal
		want auth.Decision
	}{
		{"no token, anonymous allowed", auth.Requirement{Anonymous: true, Scope: "notes.read"}, nil, auth.AllowAnonymous},
		{"no token, anonymous allowed, no scope", auth.Requirement{Anonymous: true}, nil, auth.AllowAnonymous},
		{"no token, not anonymous", auth.Requirement{Scope: "notes.write"}, nil, auth.DenyNoToken},
		{"no token, any token will do", auth.Requirement{}, nil, auth.DenyNoToken},
		{"has the scope", auth.Requirement{Scope: "notes.write"}, principal("notes.write"), auth.Allow},
		{"has the scope, anonymous allowed", auth.Requirement{Anonymous: true, Scope: "notes.read"}, principal("notes.read"), auth.Allow},
		{"higher scope (write for read)", auth.Requirement{Scope: "notes.read"}, principal("notes.write"), auth.Allow},
		{"higher scope (admin for write)", auth.Requirement{Scope: "notes.write"}, principal("openid", "notes.admin"), auth.Allow},
		{"lacks the scope, anonymous allowed", auth.Requirement{Anonymous: true, Scope: "notes.read"}, principal("openid"), auth.AllowAnonymous},
		{"no scopes at all, anonymous allowed", auth.Requirement{Anonymous: true, Scope: "notes.read"}, principal(), auth.AllowAnonymous},
		{"lacks the scope, not anonymous", auth.Requirement{Scope: "notes.write"}, principal("notes.read"), auth.DenyScope},
		{"lower scope for admin", auth.Requirement{Scope: "notes.admin"}, principal("notes.write"), auth.DenyScope},
		{"lookalike scope", auth.Requirement{Scope: "notes.read"}, principal("notes.readx"), auth.DenyScope},
		{"no scope needed, no scopes held", auth.Requirement{}, principal(), auth.Allow},
		{"no scope needed, anonymous allowed", auth.Requirement{Anonymous: true}, principal("openid"), auth.Allow},
		{"no scope needed, read held", auth.Requirement{}, principal("notes.read"), auth.Allow},
		{"independent scope held", auth.Requirement{Scope: "notes.archive"}, principal("notes.archive"), auth.Allow},
		{"chain's top does not grant an independent scope", auth.Requirement{Scope: "notes.archive"}, principal("notes.admin"), auth.DenyScope},
		{"independent scope does not grant the chain", auth.Requirement{Scope: "notes.read"}, principal("notes.archive"), auth.DenyScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.r.Check(tt.p, scopes); got != tt.want {
				t.Errorf("Check(%+v) = %d, want %d", tt.p, got, tt.want)
			}
		})
	}
}
