package auth_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

func TestScopeImplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		have, need auth.Scope
		want       bool
	}{
		{auth.ScopeAdmin, auth.ScopeAdmin, true},
		{auth.ScopeAdmin, auth.ScopeWrite, true},
		{auth.ScopeAdmin, auth.ScopeRead, true},
		{auth.ScopeWrite, auth.ScopeAdmin, false},
		{auth.ScopeWrite, auth.ScopeWrite, true},
		{auth.ScopeWrite, auth.ScopeRead, true},
		{auth.ScopeRead, auth.ScopeAdmin, false},
		{auth.ScopeRead, auth.ScopeWrite, false},
		{auth.ScopeRead, auth.ScopeRead, true},
		// Scopes that mean nothing here imply nothing, not even the empty
		// or another unknown scope.
		{"openid", auth.ScopeRead, false},
		{"openid", "openid", false},
		{"openid", "", false},
		{"", auth.ScopeRead, false},
		{"", "", false},
		{"kanban.readx", auth.ScopeRead, false},
		{"KANBAN.ADMIN", auth.ScopeRead, false},
		{" kanban.admin", auth.ScopeRead, false},
		// A known scope implies an unknown need (rank 0): Implies is only
		// ever asked about the kanban scopes, and Allow handles "".
		{auth.ScopeRead, "", true},
	}
	for _, tt := range tests {
		if got := tt.have.Implies(tt.need); got != tt.want {
			t.Errorf("Scope(%q).Implies(%q) = %v, want %v", tt.have, tt.need, got, tt.want)
		}
	}
}

func TestScopesAllow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		have auth.Scopes
		need auth.Scope
		want bool
	}{
		{"admin grants admin", auth.Scopes{"kanban.admin"}, auth.ScopeAdmin, true},
		{"admin grants write", auth.Scopes{"kanban.admin"}, auth.ScopeWrite, true},
		{"admin grants read", auth.Scopes{"kanban.admin"}, auth.ScopeRead, true},
		{"write grants write", auth.Scopes{"kanban.write"}, auth.ScopeWrite, true},
		{"write grants read", auth.Scopes{"kanban.write"}, auth.ScopeRead, true},
		{"write does not grant admin", auth.Scopes{"kanban.write"}, auth.ScopeAdmin, false},
		{"read grants read", auth.Scopes{"kanban.read"}, auth.ScopeRead, true},
		{"read does not grant write", auth.Scopes{"kanban.read"}, auth.ScopeWrite, false},
		{"read does not grant admin", auth.Scopes{"kanban.read"}, auth.ScopeAdmin, false},
		{"unknown scopes grant nothing", auth.Scopes{"openid", "profile", "email"}, auth.ScopeRead, false},
		{"lookalike is not read", auth.Scopes{"kanban.readx"}, auth.ScopeRead, false},
		{"prefix is not read", auth.Scopes{"kanban.rea"}, auth.ScopeRead, false},
		{"case matters", auth.Scopes{"Kanban.Read"}, auth.ScopeRead, false},
		{"any of several", auth.Scopes{"openid", "kanban.write"}, auth.ScopeRead, true},
		{"highest of several", auth.Scopes{"kanban.read", "kanban.admin"}, auth.ScopeAdmin, true},
		{"nil scopes, some need", nil, auth.ScopeRead, false},
		{"empty need, nil scopes", nil, "", true},
		{"empty need, unknown scopes", auth.Scopes{"openid"}, "", true},
		{"empty need, read", auth.Scopes{"kanban.read"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.have.Allow(tt.need); got != tt.want {
				t.Errorf("%q.Allow(%q) = %v, want %v", tt.have, tt.need, got, tt.want)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   auth.Scope
		want []auth.Scope
	}{
		{auth.ScopeAdmin, []auth.Scope{auth.ScopeAdmin, auth.ScopeWrite, auth.ScopeRead}},
		{auth.ScopeWrite, []auth.Scope{auth.ScopeWrite, auth.ScopeRead}},
		{auth.ScopeRead, []auth.Scope{auth.ScopeRead}},
		{"openid", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got := auth.Expand(tt.in)
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Expand(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestSupportedScopes(t *testing.T) {
	t.Parallel()
	want := []auth.Scope{"kanban.read", "kanban.write", "kanban.admin"}
	if diff := cmp.Diff(want, auth.SupportedScopes()); diff != "" {
		t.Errorf("SupportedScopes() mismatch (-want +got):\n%s", diff)
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
	if auth.ParseScopes("kanban.read,kanban.write").Allow(auth.ScopeRead) {
		t.Errorf(`ParseScopes("kanban.read,kanban.write").Allow(read) = true, want false`)
	}
}
