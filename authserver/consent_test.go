package authserver

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb/sqldbtest"
)

// planScopes has every shape planConsent handles: a chain whose top is
// sensitive, a scope that stands alone, one that stands alone and is
// sensitive, and one that implies two unrelated scopes.
func planScopes(t *testing.T) *auth.ScopeSet {
	t.Helper()
	s, err := auth.NewScopeSet(
		auth.ScopeDecl{Name: "r", Title: "Read", Consent: "Read.", Default: true},
		auth.ScopeDecl{Name: "w", Title: "Write", Consent: "Write.", Implies: []auth.Scope{"r"}, Default: true},
		auth.ScopeDecl{Name: "a", Title: "Admin", Consent: "Admin.", Implies: []auth.Scope{"w"}, Sensitive: true},
		auth.ScopeDecl{Name: "archive", Title: "Archive", Consent: "Archive."},
		auth.ScopeDecl{Name: "export", Title: "Export", Consent: "Export.", Sensitive: true},
		auth.ScopeDecl{Name: "ops", Title: "Operations", Consent: "Archive and export.", Implies: []auth.Scope{"archive", "export"}, Sensitive: true},
	)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// planView is a plan as the tests compare it.
type planView struct {
	Kept   []auth.Scope
	Groups []groupView
}

type groupView struct {
	Chain       bool
	Field       string
	Scopes      []auth.Scope
	None        bool
	Preselected []auth.Scope
}

func viewOf(p consentPlan) planView {
	v := planView{Kept: p.kept}
	for _, g := range p.groups {
		v.Groups = append(v.Groups, groupView{g.chain, g.field, g.scopes, g.none, g.preselected})
	}
	return v
}

func TestPlanConsent(t *testing.T) {
	set := planScopes(t)
	chain := func(field string, none bool, pre []auth.Scope, scopes ...auth.Scope) groupView {
		return groupView{Chain: true, Field: field, Scopes: scopes, None: none, Preselected: pre}
	}
	boxes := func(pre []auth.Scope, scopes ...auth.Scope) groupView {
		return groupView{Field: checkboxField, Scopes: scopes, Preselected: pre}
	}
	tests := []struct {
		name            string
		requested, live []auth.Scope
		want            planView
	}{
		{"one level of a chain stays a level", []auth.Scope{"r"}, nil,
			planView{Groups: []groupView{chain("level", false, []auth.Scope{"r"}, "r")}}},
		{"the defaults", []auth.Scope{"r", "w"}, nil,
			planView{Groups: []groupView{chain("level", false, []auth.Scope{"w"}, "r", "w")}}},
		{"a sensitive top is offered, never pre-selected", []auth.Scope{"a"}, nil,
			planView{Groups: []groupView{chain("level", false, []auth.Scope{"w"}, "r", "w", "a")}}},
		{"a scope that stands alone is a checkbox", []auth.Scope{"archive"}, nil,
			planView{Groups: []groupView{boxes([]auth.Scope{"archive"}, "archive")}}},
		{"a sensitive checkbox is not ticked", []auth.Scope{"export"}, nil,
			planView{Groups: []groupView{boxes(nil, "export")}}},
		{"a chain beside a checkbox may be left out", []auth.Scope{"w", "archive"}, nil,
			planView{Groups: []groupView{chain("level", true, []auth.Scope{"w"}, "r", "w"), boxes([]auth.Scope{"archive"}, "archive")}}},
		{"a scope implying two is not a chain", []auth.Scope{"ops"}, nil,
			planView{Groups: []groupView{boxes([]auth.Scope{"archive"}, "archive", "export", "ops")}}},
		{"a step-up offers only what is new", []auth.Scope{"a"}, []auth.Scope{"w"},
			planView{Kept: []auth.Scope{"r", "w"}, Groups: []groupView{chain("level", true, nil, "a")}}},
		{"a step-up to a scope that stands alone", []auth.Scope{"archive"}, []auth.Scope{"w"},
			planView{Kept: []auth.Scope{"r", "w"}, Groups: []groupView{boxes([]auth.Scope{"archive"}, "archive")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := viewOf(planConsent(set, tt.requested, tt.live))
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			// Whatever the graph, a sensitive scope is never pre-selected,
			// and nothing is offered above what was requested.
			for _, g := range got.Groups {
				for _, sc := range g.Preselected {
					if d, _ := set.Lookup(sc); d.Sensitive {
						t.Errorf("sensitive %q is pre-selected", sc)
					}
				}
				for _, sc := range g.Scopes {
					if !set.Allow(auth.Strings(tt.requested), sc) {
						t.Errorf("%q is offered but not requested (requested %q)", sc, tt.requested)
					}
				}
			}
		})
	}
}

func TestConsentPlanChoose(t *testing.T) {
	set := planScopes(t)
	tests := []struct {
		name            string
		requested, live []auth.Scope
		form            url.Values
		want            []auth.Scope
		wantErr         error
	}{
		{"a lower level", []auth.Scope{"a"}, nil, url.Values{"level": {"r"}}, []auth.Scope{"r"}, nil},
		{"the top, with what it implies", []auth.Scope{"a"}, nil, url.Values{"level": {"a"}}, []auth.Scope{"r", "w", "a"}, nil},
		{"above the request", []auth.Scope{"w"}, nil, url.Values{"level": {"a"}}, nil, errBadChoice},
		{"a scope from elsewhere in a checkbox", []auth.Scope{"w", "archive"}, nil, url.Values{"level": {"w"}, checkboxField: {"export"}}, nil, errBadChoice},
		{"a level through the checkboxes", []auth.Scope{"w", "archive"}, nil, url.Values{checkboxField: {"w"}}, nil, errBadChoice},
		{"nothing", []auth.Scope{"w"}, nil, url.Values{}, nil, errNothingChosen},
		{"none of the chain, only the checkbox", []auth.Scope{"w", "archive"}, nil, url.Values{"level": {"none"}, checkboxField: {"archive"}}, []auth.Scope{"archive"}, nil},
		{"both", []auth.Scope{"w", "archive"}, nil, url.Values{"level": {"r"}, checkboxField: {"archive"}}, []auth.Scope{"r", "archive"}, nil},
		{"a scope implying two", []auth.Scope{"ops"}, nil, url.Values{checkboxField: {"ops"}}, []auth.Scope{"archive", "export", "ops"}, nil},
		{"any subset of checkboxes", []auth.Scope{"ops"}, nil, url.Values{checkboxField: {"export"}}, []auth.Scope{"export"}, nil},
		{"a step-up keeps the live grant's scopes", []auth.Scope{"a"}, []auth.Scope{"w"}, url.Values{"level": {"a"}}, []auth.Scope{"r", "w", "a"}, nil},
		{"a step-up declined still keeps them", []auth.Scope{"a"}, []auth.Scope{"w"}, url.Values{"level": {"none"}}, []auth.Scope{"r", "w"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := planConsent(set, tt.requested, tt.live).choose(set, tt.form)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("choose error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("chosen (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDescribeScopes(t *testing.T) {
	set := planScopes(t)
	for _, tt := range []struct {
		held []auth.Scope
		want string
	}{
		{[]auth.Scope{"r", "w", "a"}, "Admin"},
		{[]auth.Scope{"r", "archive"}, "Read, Archive"},
		{[]auth.Scope{"archive", "export", "ops"}, "Operations"},
		{nil, "No access to your data"},
	} {
		if got := describeScopes(set, tt.held); got != tt.want {
			t.Errorf("describeScopes(%q) = %q, want %q", tt.held, got, tt.want)
		}
	}
}

var (
	ctBoxRe  = regexp.MustCompile(`<input type="checkbox" name="` + checkboxField + `" id="[^"]*" value="([^"]*)"( checked)?>`)
	ctKeptRe = regexp.MustCompile(`<ul class="kept">(.*)</ul>`)
)

// offeredBoxes returns the checkboxes of a consent page and those ticked.
func offeredBoxes(body string) (boxes, ticked []string) {
	for _, m := range ctBoxRe.FindAllStringSubmatch(body, -1) {
		boxes = append(boxes, m[1])
		if m[2] != "" {
			ticked = append(ticked, m[1])
		}
	}
	return boxes, ticked
}

// TestPagesConsentScopeThatStandsAlone: a scope outside the chain is a
// checkbox beside the levels, and the person may take it, the levels, or
// both.
func TestPagesConsentScopeThatStandsAlone(t *testing.T) {
	tests := []struct {
		name  string
		level string
		boxes []string
		want  []string
	}{
		{"both", "kanban.write", []string{"kanban.archive"}, []string{"kanban.write", "kanban.read", "kanban.archive"}},
		{"only the checkbox", "none", []string{"kanban.archive"}, []string{"kanban.archive"}},
		{"only a level", "kanban.read", nil, []string{"kanban.read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPageEnv(t, pageEnvOptions{})
			b := e.browser()
			p := b.signIn(b.authorize(e.params(map[string]string{"scope": "kanban.write kanban.archive"})), "alice")
			levels, checked := offeredLevels(p.body)
			boxes, ticked := offeredBoxes(p.body)
			got := map[string]any{"levels": levels, "checked": checked, "boxes": boxes, "ticked": ticked}
			want := map[string]any{"levels": []string{"none", "kanban.read", "kanban.write"}, "checked": "kanban.write",
				"boxes": []string{"kanban.archive"}, "ticked": []string{"kanban.archive"}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("consent page choices (-want +got):\n%s", diff)
			}
			p = b.submitValues(p, map[string]string{"decision": "allow", "level": tt.level}, url.Values{checkboxField: tt.boxes})
			g := e.redeem(ptRedirectQueryOf(t, p, ptRedirect).Get("code"), ptRedirect)
			if diff := cmp.Diff(tt.want, g.Scope); diff != "" {
				t.Errorf("grant scope (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPagesStepUp: a client holding kanban.write that asks for kanban.admin
// sees only admin offered, unticked, beside what it keeps; the new grant
// holds both, and the old one ends when the new code is redeemed, not
// before.
func TestPagesStepUp(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	first := e.redeem(b.connect(e.params(map[string]string{"scope": "kanban.write"}), "alice", scopeWrite), ptRedirect)

	p := b.authorize(e.params(map[string]string{"scope": "kanban.admin"}))
	if !isConsentPage(p) {
		t.Fatalf("step-up: status %d, want the consent page (the remembered consent does not cover admin):\n%s", p.status, p.body)
	}
	levels, checked := offeredLevels(p.body)
	if diff := cmp.Diff([]string{"none", "kanban.admin"}, levels); diff != "" {
		t.Errorf("offered (-want +got):\n%s", diff)
	}
	if checked != "none" {
		t.Errorf("pre-selected %q, want none: kanban.admin is sensitive", checked)
	}
	kept := ctKeptRe.FindStringSubmatch(p.body)
	if kept == nil || !strings.Contains(kept[1], "Read and write") || !strings.Contains(kept[1], "<li>Read<small>") {
		t.Errorf("the page does not list what the client keeps (Read, Read and write):\n%s", p.body)
	}

	p = b.submit(p, map[string]string{"decision": "allow", "level": "kanban.admin"})
	code := ptRedirectQueryOf(t, p, ptRedirect).Get("code")
	if g, err := e.grants.Grant(t.Context(), first.ID); err != nil || g.Revoked() {
		t.Fatalf("the first grant ended before the step-up's code was redeemed: %+v, %v", g, err)
	}
	second := e.redeem(code, ptRedirect)
	if diff := cmp.Diff([]string{"kanban.admin", "kanban.write", "kanban.read"}, second.Scope); diff != "" {
		t.Errorf("step-up grant scope (-want +got):\n%s", diff)
	}
	if second.Replaces != first.ID {
		t.Errorf("step-up grant replaces %q, want %q", second.Replaces, first.ID)
	}
	g, err := e.grants.Grant(t.Context(), first.ID)
	if err != nil || !g.Revoked() || g.RevokeReason != RevokeReasonSteppedUp {
		t.Errorf("first grant after the step-up = revoked %v (%q), %v; want revoked, %q", g.Revoked(), g.RevokeReason, err, RevokeReasonSteppedUp)
	}

	// Declining the new scope keeps the connection as it was: the new
	// grant holds the old scopes and replaces it.
	p = b.authorize(e.params(map[string]string{"scope": "kanban.archive"}))
	if _, ticked := offeredBoxes(p.body); !cmp.Equal(ticked, []string{"kanban.archive"}) {
		t.Fatalf("archive step-up: ticked %q, want kanban.archive (not sensitive)", ticked)
	}
	third := e.redeem(ptRedirectQueryOf(t, b.submitValues(p, map[string]string{"decision": "allow"}, nil), ptRedirect).Get("code"), ptRedirect)
	if diff := cmp.Diff([]string{"kanban.admin", "kanban.write", "kanban.read"}, third.Scope); diff != "" {
		t.Errorf("declined step-up grant scope (-want +got):\n%s", diff)
	}
	if third.Replaces != second.ID {
		t.Errorf("declined step-up replaces %q, want %q", third.Replaces, second.ID)
	}
}

// TestPagesAccountShowsScopesInWords: the account page names each
// connection's access by the declared titles.
func TestPagesAccountShowsScopesInWords(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	p := b.signIn(b.authorize(e.params(map[string]string{"scope": "kanban.read kanban.archive"})), "alice")
	e.redeem(ptRedirectQueryOf(t, b.submitValues(p, map[string]string{"decision": "allow", "level": "kanban.read"}, url.Values{checkboxField: {"kanban.archive"}}), ptRedirect).Get("code"), ptRedirect)
	acc := b.get(PathAccount)
	if !strings.Contains(acc.body, "<dd>Read, Archive <span") {
		t.Errorf("the account page does not say \"Read, Archive\":\n%s", acc.body)
	}
}

// TestConsentMigrationKeepsRememberedLevels: a consent remembered as a
// level before scopes became sets reads back as that level with what it
// implies.
func TestConsentMigrationKeepsRememberedLevels(t *testing.T) {
	sqldbtest.SQLiteOnly(t)
	ctx := t.Context()
	db := sqldbtest.OpenSQLite(t, filepath.Join(t.TempDir(), "auth.db"))
	before := fstest.MapFS{}
	names, err := fs.Glob(migrations, "migrations/sqlite/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/sqlite/")
		if base >= "0005" {
			continue
		}
		body, err := fs.ReadFile(migrations, name)
		if err != nil {
			t.Fatal(err)
		}
		before[base] = &fstest.MapFile{Data: body}
	}
	if err := db.Migrate(ctx, "authserver", before); err != nil {
		t.Fatal(err)
	}
	levels := map[string]string{"u_read": "kanban.read", "u_write": "kanban.write", "u_admin": "kanban.admin"}
	for id, level := range levels {
		if _, err := db.Writer.ExecContext(ctx, `INSERT INTO users (id, name, password_hash, created_at) VALUES ($1, $2, '$argon2id$x', 0)`, id, id); err != nil {
			t.Fatalf("insert user: %v", err)
		}
		if _, err := db.Writer.ExecContext(ctx, `INSERT INTO consents (subject, client_id, level, granted_at) VALUES ($1, 'client', $2, 1)`, id, level); err != nil {
			t.Fatalf("insert consent: %v", err)
		}
	}

	st, err := Open(ctx, db.SQL(), Options{})
	if err != nil {
		t.Fatalf("Open (applies the migration): %v", err)
	}
	g, err := st.Grants(NewUsers(st, testHasher(t, testHashParams, 1)), GrantOptions{Scopes: testScopes(t)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]auth.Scope{}
	for id := range levels {
		scopes, ok, err := g.Consent(context.Background(), id, "client")
		if err != nil || !ok {
			t.Fatalf("Consent(%s) = %v, %v", id, ok, err)
		}
		got[id] = scopes
	}
	want := map[string][]auth.Scope{
		"u_read":  {scopeRead},
		"u_write": {scopeRead, scopeWrite},
		"u_admin": {scopeRead, scopeWrite, scopeAdmin},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("remembered consents after the migration (-want +got):\n%s", diff)
	}
}

// TestPagesStepUpBuildsOnTheRedeemedGrant: the grant of a code that the
// client never exchanged (here one issued silently by a remembered consent,
// as a third party could trigger in the person's browser) is not the
// client's connection: a step-up keeps what the redeemed grant holds,
// OpenID scopes included, and replaces that grant.
func TestPagesStepUpBuildsOnTheRedeemedGrant(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	first := e.redeem(b.connect(e.params(map[string]string{"scope": "kanban.write openid"}), "alice", scopeWrite), ptRedirect)

	// Covered by the remembered consent: a code without a page, never
	// redeemed.
	p := b.authorize(e.params(map[string]string{"scope": "kanban.read"}))
	if q := ptRedirectQueryOf(t, p, ptRedirect); q.Get("code") == "" {
		t.Fatalf("a request covered by the remembered consent got no code: %v", q)
	}

	p = b.authorize(e.params(map[string]string{"scope": "kanban.archive"}))
	kept := ctKeptRe.FindStringSubmatch(p.body)
	if kept == nil || !strings.Contains(kept[1], "Read and write") {
		t.Fatalf("step-up page keeps %q, want the redeemed grant's Read and write:\n%s", kept, p.body)
	}
	g := e.redeem(ptRedirectQueryOf(t, b.submitValues(p, map[string]string{"decision": "allow"}, url.Values{checkboxField: {"kanban.archive"}}), ptRedirect).Get("code"), ptRedirect)
	if diff := cmp.Diff([]string{"kanban.write", "kanban.read", "kanban.archive", "openid"}, g.Scope); diff != "" {
		t.Errorf("step-up grant scope (-want +got):\n%s", diff)
	}
	if g.Replaces != first.ID {
		t.Errorf("step-up replaces %q, want the redeemed grant %q", g.Replaces, first.ID)
	}
}

// TestStepUpCodeOfARevokedConnectionIsRefused: when the grant a step-up
// extends is revoked before the new code is redeemed, the code is refused
// and the new grant ends too, so that the revoked grant's scopes do not
// live on.
func TestStepUpCodeOfARevokedConnectionIsRefused(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	first := e.redeem(b.connect(e.params(map[string]string{"scope": "kanban.write"}), "alice", scopeWrite), ptRedirect)
	p := b.authorize(e.params(map[string]string{"scope": "kanban.admin"}))
	code := ptRedirectQueryOf(t, b.submit(p, map[string]string{"decision": "allow", "level": "kanban.admin"}), ptRedirect).Get("code")

	if _, err := e.grants.RevokeGrant(t.Context(), first.ID, RevokeReasonUser); err != nil {
		t.Fatal(err)
	}
	_, err := e.grants.RedeemCode(t.Context(), RedeemRequest{Code: code, ClientID: e.client.ID, RedirectURI: ptRedirect, CodeVerifier: gtVerifier})
	var tre *TokenRequestError
	if !errors.As(err, &tre) || tre.Code != ErrCodeInvalidGrant || !tre.Revoked {
		t.Fatalf("RedeemCode after the replaced grant was revoked = %v, want invalid_grant with the new grant revoked", err)
	}
	g, err := e.grants.Grant(t.Context(), tre.GrantID)
	if err != nil || !g.Revoked() || g.RevokeReason != RevokeReasonReplacedGone {
		t.Errorf("the step-up's grant = revoked %v (%q), %v; want revoked, %q", g.Revoked(), g.RevokeReason, err, RevokeReasonReplacedGone)
	}
	if g, _ := e.grants.Grant(t.Context(), first.ID); g.RevokeReason != RevokeReasonUser {
		t.Errorf("the first grant's revoke reason became %q, want %q kept", g.RevokeReason, RevokeReasonUser)
	}
}

func TestSameResource(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"https://kanban.example/mcp", "https://kanban.example/mcp", true},
		{"HTTPS://Kanban.Example/mcp", "https://kanban.example/mcp", true},
		{"http://LOCALHOST:8080/mcp", "http://localhost:8080/mcp", true},
		{"https://kanban.example/MCP", "https://kanban.example/mcp", false},
		{"https://kanban.example/mcp/", "https://kanban.example/mcp", false},
		{"https://other.example/mcp", "https://kanban.example/mcp", false},
		{"not a url", "https://kanban.example/mcp", false},
	} {
		if got := SameResource(tt.a, tt.b); got != tt.want {
			t.Errorf("SameResource(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestPagesResourceCaseInsensitiveSchemeAndHost: a resource that differs
// from the server's only in the case of its scheme or host is the same
// resource (MCP 2026-07-28 canonical URI), at the authorization endpoint
// and at the code exchange; the grant records the canonical one.
func TestPagesResourceCaseInsensitiveSchemeAndHost(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	u, err := url.Parse(e.resource)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme, u.Host = strings.ToUpper(u.Scheme), strings.ToUpper(u.Host)
	shouted := u.String()
	b := e.browser()
	code := b.connect(e.params(map[string]string{"scope": "kanban.read", "resource": shouted}), "alice", scopeRead)
	g, err := e.grants.RedeemCode(t.Context(), RedeemRequest{Code: code, ClientID: e.client.ID, RedirectURI: ptRedirect, CodeVerifier: gtVerifier, Resource: shouted})
	if err != nil {
		t.Fatalf("RedeemCode with the resource in upper case: %v", err)
	}
	if g.Resource != e.resource {
		t.Errorf("grant resource %q, want the canonical %q", g.Resource, e.resource)
	}
	u.Path = strings.ToUpper(u.Path)
	p := b.authorize(e.params(map[string]string{"resource": u.String()}))
	if q := ptRedirectQueryOf(t, p, ptRedirect); q.Get("error") != "invalid_target" {
		t.Errorf("a resource whose path differs in case: redirect %v, want invalid_target", q)
	}
}

// TestPagesExtraResources: with AUTH_EXTRA_RESOURCES the server issues
// tokens for another MCP server too, named by the resource parameter: the
// consent page says which service the access is for, and the grant (whose
// tokens' audience it becomes) records the configured form. A resource it
// does not know, or two at once, is invalid_target.
func TestPagesExtraResources(t *testing.T) {
	const other = "https://other.example/mcp"
	e := newPageEnv(t, pageEnvOptions{extraResources: []string{other}})
	b := e.browser()

	page := b.authorize(e.params(map[string]string{"scope": "kanban.read", "resource": "HTTPS://OTHER.example/mcp"}))
	page = b.signIn(page, "alice")
	if !strings.Contains(page.body, "For the service at") || !strings.Contains(page.body, "<code>"+other+"</code>") {
		t.Fatalf("the consent page does not name the other service:\n%s", page.body)
	}
	code := b.connect(e.params(map[string]string{"scope": "kanban.read", "resource": other}), "alice", scopeRead)
	g, err := e.grants.RedeemCode(t.Context(), RedeemRequest{Code: code, ClientID: e.client.ID, RedirectURI: ptRedirect, CodeVerifier: gtVerifier, Resource: other})
	if err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	if g.Resource != other {
		t.Errorf("grant resource %q, want %q", g.Resource, other)
	}

	// Our own resource: the page names no other service.
	own := e.browser()
	page = own.signIn(own.authorize(e.params(map[string]string{"scope": "kanban.read"})), "alice")
	if strings.Contains(page.body, "For the service at") {
		t.Errorf("the consent page names a service for our own resource:\n%s", page.body)
	}

	// Consent remembered for our own resource does not stand for the
	// other service: its page is shown again.
	remembering := e.browser()
	remembering.connect(e.params(map[string]string{"scope": "kanban.read"}), "alice", scopeRead)
	again := remembering.authorize(e.params(map[string]string{"scope": "kanban.read"}))
	if again.status != http.StatusSeeOther && again.status != http.StatusFound {
		t.Fatalf("with consent remembered, our own resource answered %d, want a redirect with a code:\n%s", again.status, again.body)
	}
	other2 := remembering.authorize(e.params(map[string]string{"scope": "kanban.read", "resource": other}))
	if !strings.Contains(other2.body, "For the service at") {
		t.Errorf("consent remembered for our own resource was used for %s (status %d, Location %q)", other, other2.status, other2.header.Get("Location"))
	}

	for name, resources := range map[string][]string{
		"unknown":     {"https://unknown.example/mcp"},
		"two at once": {e.resource, other},
	} {
		q := e.params(map[string]string{"scope": "kanban.read"})
		for _, r := range resources {
			q.Add("resource", r)
		}
		p := e.browser().authorize(q)
		if got := ptRedirectQueryOf(t, p, ptRedirect); got.Get("error") != "invalid_target" {
			t.Errorf("%s: redirect %v, want invalid_target", name, got)
		}
	}
}
