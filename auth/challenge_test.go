package auth_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

const testPRM = "https://kanban.example/.well-known/oauth-protected-resource/mcp"

func TestChallengeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    auth.Challenge
		want string
	}{
		{
			name: "full challenge",
			c: auth.Challenge{
				ResourceMetadata: testPRM,
				Scope:            auth.Scopes{"kanban.write"},
				Error:            auth.ErrInsufficientScope,
				Description:      "This call needs the kanban.write scope.",
			},
			want: `Bearer resource_metadata="` + testPRM + `", scope="kanban.write", error="insufficient_scope", error_description="This call needs the kanban.write scope."`,
		},
		{
			name: "several scopes are space-separated in one value",
			c: auth.Challenge{
				ResourceMetadata: testPRM,
				Scope:            auth.Scopes{"kanban.read", "kanban.write"},
				Error:            auth.ErrInvalidToken,
				Description:      "Sign in.",
			},
			want: `Bearer resource_metadata="` + testPRM + `", scope="kanban.read kanban.write", error="invalid_token", error_description="Sign in."`,
		},
		{
			name: "no error: neither error nor error_description, even with a description",
			c: auth.Challenge{
				ResourceMetadata: testPRM,
				Scope:            auth.Scopes{"kanban.read"},
				Description:      "ignored without an error code",
			},
			want: `Bearer resource_metadata="` + testPRM + `", scope="kanban.read"`,
		},
		{
			name: "no scope",
			c: auth.Challenge{
				ResourceMetadata: testPRM,
				Error:            auth.ErrInvalidToken,
				Description:      "The access token has expired.",
			},
			want: `Bearer resource_metadata="` + testPRM + `", error="invalid_token", error_description="The access token has expired."`,
		},
		{
			name: "error without description",
			c:    auth.Challenge{ResourceMetadata: testPRM, Error: auth.ErrInvalidRequest},
			want: `Bearer resource_metadata="` + testPRM + `", error="invalid_request"`,
		},
		{
			name: "quotes and backslashes are escaped",
			c: auth.Challenge{
				ResourceMetadata: testPRM,
				Error:            auth.ErrInvalidToken,
				Description:      `say "hi" \ then C:\path`,
			},
			want: `Bearer resource_metadata="` + testPRM + `", error="invalid_token", error_description="say \"hi\" \\ then C:\\path"`,
		},
		{
			name: "controls and non-ASCII become ?",
			c: auth.Challenge{
				ResourceMetadata: testPRM,
				Error:            auth.ErrInvalidToken,
				Description:      "a\r\nb\tc\x00d\x7fe — Zoë 日本",
			},
			want: `Bearer resource_metadata="` + testPRM + `", error="invalid_token", error_description="a??b?c?d?e ? Zo? ??"`,
		},
		{
			name: "no resource_metadata",
			c:    auth.Challenge{Scope: auth.Scopes{"kanban.admin"}, Error: auth.ErrInsufficientScope, Description: "Needs admin."},
			want: `Bearer scope="kanban.admin", error="insufficient_scope", error_description="Needs admin."`,
		},
		{
			name: "resource_metadata only",
			c:    auth.Challenge{ResourceMetadata: testPRM},
			want: `Bearer resource_metadata="` + testPRM + `"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, tt.c.String()); diff != "" {
				t.Errorf("String() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// parseBearer is a deliberately strict RFC 7235 parser for what
// Challenge.String promises to produce: the scheme "Bearer", one space,
// then auth-params name="quoted-string" separated by exactly ", ". Every
// value must be a quoted-string (RFC 6750 §3 says so for
// error_description, and String quotes everything). Only printable ASCII
// may appear, and a backslash must escape the next character.
func parseBearer(h string) (map[string]string, error) {
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil, fmt.Errorf("no %q prefix", "Bearer ")
	}
	params := map[string]string{}
	for i := 0; ; i++ {
		if i > 0 {
			if rest == "" {
				return params, nil
			}
			var ok bool
			if rest, ok = strings.CutPrefix(rest, ", "); !ok {
				return nil, fmt.Errorf("expected \", \" before %q", rest)
			}
		}
		name, after, ok := strings.Cut(rest, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("expected name= at %q", rest)
		}
		for _, r := range name {
			if !(r == '_' || r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return nil, fmt.Errorf("param name %q is not a token", name)
			}
		}
		if !strings.HasPrefix(after, `"`) {
			return nil, fmt.Errorf("value of %s is not a quoted-string: %q", name, after)
		}
		var val strings.Builder
		j, closed := 1, false
		for j < len(after) {
			ch := after[j]
			switch {
			case ch == '"':
				closed = true
			case ch == '\\':
				if j+1 >= len(after) {
					return nil, fmt.Errorf("dangling backslash in %s", name)
				}
				next := after[j+1]
				if next < 0x20 || next > 0x7e {
					return nil, fmt.Errorf("escaped non-printable byte %#x in %s", next, name)
				}
				val.WriteByte(next)
				j += 2
				continue
			case ch < 0x20 || ch > 0x7e:
				return nil, fmt.Errorf("raw byte %#x in the value of %s", ch, name)
			default:
				val.WriteByte(ch)
			}
			j++
			if closed {
				break
			}
		}
		if !closed {
			return nil, fmt.Errorf("unterminated quoted-string for %s", name)
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("duplicate parameter %s", name)
		}
		params[name] = val.String()
		rest = after[j:]
	}
}

func TestParseBearerIsStrict(t *testing.T) {
	t.Parallel()
	// The round-trip test below is only as good as its parser: make sure it
	// refuses what a sloppy renderer would produce.
	bad := []string{
		`Bearer error="a" error_description="b"`, // missing comma
		`Bearer error="a",error_description="b"`, // missing space
		`Bearer error='a'`,                       // stray single quotes
		`Bearer error=a`,                         // token, not quoted
		`Bearer error="a`,                        // unterminated
		`Bearer error="a\"`,                      // escaped closing quote
		"Bearer error=\"a\nb\"",                  // raw control
		`Bearer error="a", error="b"`,            // duplicate
		`Basic realm="x"`,
	}
	for _, h := range bad {
		if got, err := parseBearer(h); err == nil {
			t.Errorf("parseBearer(%q) = %v, want an error", h, got)
		}
	}
	got, err := parseBearer(`Bearer a="x\"y", b="\\"`)
	if err != nil {
		t.Fatalf("parseBearer: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"a": `x"y`, "b": `\`}, got); diff != "" {
		t.Errorf("parseBearer mismatch (-want +got):\n%s", diff)
	}
}

func TestChallengeRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		c        auth.Challenge
		wantDesc string // "" means the description unchanged
	}{
		{name: "plain", c: auth.Challenge{ResourceMetadata: testPRM, Scope: auth.Scopes{"kanban.read"}, Error: auth.ErrInvalidToken, Description: "Sign in to see your boards."}},
		{name: "quotes", c: auth.Challenge{ResourceMetadata: testPRM, Error: auth.ErrInvalidToken, Description: `the "board" is gone`}},
		{name: "backslashes", c: auth.Challenge{ResourceMetadata: testPRM, Error: auth.ErrInvalidToken, Description: `a\b\\c\`}},
		{name: "trailing backslash then quote", c: auth.Challenge{ResourceMetadata: testPRM, Error: auth.ErrInvalidToken, Description: `ends with \"`}},
		{name: "commas", c: auth.Challenge{ResourceMetadata: testPRM, Error: auth.ErrInvalidToken, Description: "one, two, three,"}},
		{name: "injected parameter", c: auth.Challenge{ResourceMetadata: testPRM, Scope: auth.Scopes{"kanban.read"}, Error: auth.ErrInsufficientScope, Description: `x", error="x`}},
		{name: "injected scope", c: auth.Challenge{ResourceMetadata: testPRM, Error: auth.ErrInvalidToken, Description: `", scope="kanban.admin`}},
		{name: "injected header", c: auth.Challenge{ResourceMetadata: testPRM, Error: auth.ErrInvalidToken, Description: "bad\r\nSet-Cookie: a=b"}, wantDesc: "bad??Set-Cookie: a=b"},
		{name: "newline and quote", c: auth.Challenge{ResourceMetadata: testPRM, Error: auth.ErrInvalidToken, Description: "line1\n\"line2\""}, wantDesc: `line1?"line2"`},
		{name: "non-ASCII", c: auth.Challenge{ResourceMetadata: testPRM, Error: auth.ErrInvalidToken, Description: "café ✓"}, wantDesc: "caf? ?"},
		{name: "hostile resource metadata", c: auth.Challenge{ResourceMetadata: `https://h/"x", error="y`, Error: auth.ErrInvalidToken, Description: "d"}},
		{name: "no error", c: auth.Challenge{ResourceMetadata: testPRM, Scope: auth.Scopes{"kanban.write", "kanban.read"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.c.String()
			got, err := parseBearer(h)
			if err != nil {
				t.Fatalf("parseBearer(%q): %v", h, err)
			}
			want := map[string]string{}
			if tt.c.ResourceMetadata != "" {
				want["resource_metadata"] = tt.c.ResourceMetadata
			}
			if len(tt.c.Scope) > 0 {
				want["scope"] = strings.Join(tt.c.Scope, " ")
			}
			if tt.c.Error != "" {
				want["error"] = tt.c.Error
				if tt.c.Description != "" {
					want["error_description"] = tt.c.Description
					if tt.wantDesc != "" {
						want["error_description"] = tt.wantDesc
					}
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("parse(String()) mismatch (-want +got):\n%s\nheader: %s", diff, h)
			}
		})
	}
}

func TestChallengeWriteHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		c        auth.Challenge
		status   int
		wantBody map[string]any // nil: no body
	}{
		{
			name:     "invalid token",
			c:        auth.Challenge{ResourceMetadata: testPRM, Error: auth.ErrInvalidToken, Description: `The "access" token has expired.`},
			status:   http.StatusUnauthorized,
			wantBody: map[string]any{"error": "invalid_token", "error_description": `The "access" token has expired.`},
		},
		{
			name:     "insufficient scope",
			c:        auth.Challenge{ResourceMetadata: testPRM, Scope: auth.Scopes{"kanban.write"}, Error: auth.ErrInsufficientScope, Description: "Needs write."},
			status:   http.StatusForbidden,
			wantBody: map[string]any{"error": "insufficient_scope", "error_description": "Needs write."},
		},
		{
			name:   "missing token: no error, no body",
			c:      auth.Challenge{ResourceMetadata: testPRM, Scope: auth.Scopes{"kanban.read"}, Description: "not sent"},
			status: http.StatusUnauthorized,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			tt.c.WriteHTTP(rec, tt.status)
			res := rec.Result()
			if res.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", res.StatusCode, tt.status)
			}
			if diff := cmp.Diff([]string{tt.c.String()}, res.Header.Values("WWW-Authenticate")); diff != "" {
				t.Errorf("WWW-Authenticate mismatch (-want +got):\n%s", diff)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			body := rec.Body.Bytes()
			if tt.wantBody == nil {
				if len(body) != 0 {
					t.Errorf("body = %q, want none", body)
				}
				return
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %q is not JSON: %v", body, err)
			}
			if diff := cmp.Diff(tt.wantBody, got); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
