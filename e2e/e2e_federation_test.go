package e2e

// Federation end to end: sign-in through an upstream OpenID provider, with
// real parts only. Two kanban-mcp servers run. A is the company's identity
// provider: its built-in authorization server publishes OIDC discovery,
// signs RS256 ID tokens and answers userinfo with the email its operator
// verified. B federates to A (UPSTREAM_OIDC_*), with a fresh database and
// no user of its own. The Go MCP SDK registers at B by DCR and authorizes;
// headless Chromium plays the person, through B's sign-in page, A's sign-in
// and consent pages, and B's consent page, by clicking.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

const (
	// fedCallbackPath is B's redirect URI at A, relative to B's URL.
	fedCallbackPath = "/oauth/upstream/callback"
	// fedProviderName is what B calls A on its sign-in button.
	fedProviderName = "Company SSO"
)

// The steps of the pages a person goes through (fedPerson.visit).
const (
	stepBSignIn     = "B /oauth/authorize 200 sign-in"
	stepASignIn     = "A /oauth/authorize 200 sign-in"
	stepAConsent    = "A /oauth/authorize 200 consent"
	stepBCallback   = "B " + fedCallbackPath + " 200 consent"
	stepClient      = "client /callback 200 done"
	stepHeld        = "B " + fedCallbackPath + " held"
	pageCannotGoOn  = "This sign-in cannot continue"
	pageNotVerified = "The sign-in could not be verified"
	pageRefused     = "You cannot use this server"
	pageDisabled    = "This account is disabled"
)

// TestFederationEndToEnd: an MCP client connects to B and ends with a token
// that works on B's tools, for a person who signed in at A; then the user
// mapping, the allow-lists, a state that is not the browser's, a replayed
// state, a replayed code, a tampered nonce and a disabled user, each
// through the real servers and a real browser.
func TestFederationEndToEnd(t *testing.T) {
	requireChromium(t)
	t.Parallel()

	// Both addresses are fixed first: A's registration of B names B's
	// callback. A runs at 127.0.0.1 and B at localhost: two sites, as a
	// company's provider and a server are. A browser does not tell cookies
	// apart by port, so on one host name A's and B's cookies (of the same
	// names) would mix; on two sites B's sign-in cookie must come back to
	// its callback on the cross-site redirect from A, as it must in use.
	aPort, bPort := freePort(t), freePort(t)
	aURL := "http://127.0.0.1:" + strconv.Itoa(aPort)
	bURL := "http://localhost:" + strconv.Itoa(bPort)
	a := startServerOn(t, aPort, testissuer.New(t, testissuer.Options{}), map[string]string{
		"OAUTH_ISSUER": "", "AUTH_CHALLENGE": "http", "BASE_URL": aURL,
	})
	a.URL = aURL
	// A is an OpenID provider: discovery, RS256 ID tokens, userinfo.
	var discovery struct {
		Issuer   string   `json:"issuer"`
		Algs     []string `json:"id_token_signing_alg_values_supported"`
		Userinfo string   `json:"userinfo_endpoint"`
		JWKS     string   `json:"jwks_uri"`
	}
	getJSON(t, a.URL+"/.well-known/openid-configuration", &discovery)
	if discovery.Issuer != a.URL || !slices.Equal(discovery.Algs, []string{"RS256"}) || discovery.Userinfo == "" || discovery.JWKS == "" {
		t.Fatalf("A's OpenID discovery: %+v, want issuer %s, RS256 ID tokens, userinfo and a JWKS", discovery, a.URL)
	}

	// The people at A, with the addresses A's operator vouches for.
	grace := fedAccount{name: "grace", email: "grace@example.com"}         // allowed by domain
	ivan := fedAccount{name: "ivan", email: "ivan@partner.example"}        // allowed by address
	mallory := fedAccount{name: "mallory", email: "mallory@other.example"} // another domain
	nomail := fedAccount{name: "nomail"}                                   // A knows no address
	for _, acct := range []*fedAccount{&grace, &ivan, &mallory, &nomail} {
		acct.password = randomVerifier(t)
		args := []string{"users", "add", acct.name, "-password-stdin"}
		if acct.email != "" {
			args = append(args, "-email", acct.email)
		}
		secCLI(t, a, acct.password+"\n", args...)
	}
	aUsers := fedUserList(t, a)
	for _, acct := range []*fedAccount{&grace, &ivan, &mallory, &nomail} {
		acct.subject = aUsers[acct.name].Subject
		if row := aUsers[acct.name]; row.SignsInWith != "password" || row.Email != acct.email {
			t.Fatalf("A's user %s: %+v, want a password user with the email %q", acct.name, row, acct.email)
		}
	}

	// B, registered at A as a confidential client (a web application).
	clientID, secret := addConfidentialClient(t, a, "Kanban B", bURL+fedCallbackPath)
	b := startServerOn(t, bPort, testissuer.New(t, testissuer.Options{}), map[string]string{
		"OAUTH_ISSUER": "", "AUTH_CHALLENGE": "http",
		"UPSTREAM_OIDC_ISSUER":           a.URL,
		"UPSTREAM_OIDC_CLIENT_ID":        clientID,
		"UPSTREAM_OIDC_CLIENT_SECRET":    secret,
		"UPSTREAM_ALLOWED_EMAIL_DOMAINS": "example.com",
		"UPSTREAM_ALLOWED_EMAILS":        ivan.email,
		"UPSTREAM_DISPLAY_NAME":          fedProviderName,
	})
	if b.URL != bURL {
		t.Fatalf("B runs at %s, want %s", b.URL, bURL)
	}
	// Federation needs no local user: B made no demo user and does not
	// ask for one.
	if users := fedUserList(t, b); len(users) != 0 {
		t.Fatalf("B's users before any sign-in: %v, want none", users)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(b.DBPath), "demo-password.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("B wrote a demo password file (stat: %v)", err)
	}
	if strings.Contains(b.Log.String(), "no user can sign in yet") {
		t.Errorf("B warns that nobody can sign in, though people sign in through %s:\n%s", fedProviderName, b.Log.String())
	}

	// The client's loopback redirect target: it answers "done".
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/callback":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, "<!doctype html><title>done</title><h1>done</h1>")
		case "/favicon.ico": // the browser asks by itself
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(cb.Close)
	redirect := cb.URL + "/callback"

	env := &fedEnv{a: a, b: b, redirect: redirect}
	env.br = startBrowser(t, 4*time.Minute, func() string {
		return "A's log:\n" + a.Log.String() + "\nB's log:\n" + b.Log.String()
	})
	logs := env.logs

	// Nothing secret reaches either server's log, whatever the subtests
	// did: not B's client secret at A, not a password, not a code A
	// issued (which passes through B's callback URL).
	t.Cleanup(func() {
		secrets := map[string]string{"the upstream client secret": secret}
		for _, acct := range []fedAccount{grace, ivan, mallory, nomail} {
			secrets[acct.name+"'s password"] = acct.password
		}
		if len(env.codes()) == 0 && !t.Failed() {
			t.Error("no code from A was seen: the check of the logs for codes checked nothing")
		}
		for i, code := range env.codes() {
			secrets[fmt.Sprintf("A's code #%d", i+1)] = code
		}
		for _, srv := range []struct {
			name string
			log  string
		}{{"A", a.Log.String()}, {"B", b.Log.String()}} {
			for what, value := range secrets {
				if strings.Contains(srv.log, value) {
					t.Errorf("%s reached %s's log", what, srv.name)
				}
			}
		}
	})

	// The one client and person that the later subtests go on with.
	first := env.newSDKClient(t, env.newPerson(t, grace))
	var firstSession *mcp.ClientSession
	outer := t
	var graceAtB fedUserRow

	t.Run("MCP client signs in through the provider", func(t *testing.T) {
		// The session outlives this subtest: the last one goes on with it.
		ctx := outer.Context()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "kanban-e2e-federation", Version: "1.0.0"}, nil).Connect(ctx,
			&mcp.StreamableClientTransport{Endpoint: b.MCP(), OAuthHandler: first.handler}, nil)
		if err != nil {
			t.Fatalf("Connect: %v\n%s", err, logs())
		}
		outer.Cleanup(func() { cs.Close() })
		firstSession = cs
		// A write call: B answers 401, and the SDK discovers B,
		// registers, sends the person through both sign-in pages, and
		// retries with the token.
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "create_board", Arguments: map[string]any{"title": "Federated board"}})
		if err != nil {
			t.Fatalf("create_board: %v\nvisits: %+v\n%s", err, first.visits(), logs())
		}
		checkToolOK(t, "create_board", res)
		visits := first.visits()
		if len(visits) != 1 {
			t.Fatalf("authorizations = %d, want 1", len(visits))
		}
		v := visits[0]
		if diff := cmp.Diff([]string{stepBSignIn, stepASignIn, stepAConsent, stepBCallback, stepClient}, v.Steps); diff != "" {
			t.Fatalf("pages (-want +got):\n%s\n%s", diff, logs())
		}
		// B's sign-in page names the provider; A's consent page names B
		// and the person; B's consent page, at the callback's URL, names
		// B's user made for them.
		if got := v.Pages[0].Upstream; got != "Sign in with "+fedProviderName {
			t.Errorf("B's provider button says %q", got)
		}
		if p := v.Pages[2]; !strings.Contains(p.H1, "Kanban B") || p.SignedInAs != grace.name {
			t.Errorf("A's consent page: heading %q, signed in as %q; want Kanban B and %s", p.H1, p.SignedInAs, grace.name)
		}
		// What create_board needs, with all it implies, from the
		// declarations: a forker's scopes change it, not this test.
		granted := slices.Sorted(maps.Keys(grants(string(tools.CreateBoard().Requires.Scope))))
		if p := v.Pages[3]; p.SignedInAs != grace.name || !slices.Equal(slices.Sorted(slices.Values(p.Levels)), granted) {
			t.Errorf("B's consent page: signed in as %q, levels %v; want %s, %v", p.SignedInAs, p.Levels, grace.name, granted)
		}
		checkProviderRequest(t, v.Provider, clientID, bURL+fedCallbackPath)

		// The token from B works on B's tools, as B's user.
		graceAtB = fedUserList(t, b)[grace.name]
		who := first.whoami(t, ctx, cs)
		wantScopes := make([]any, len(granted))
		for i, sc := range granted {
			wantScopes[i] = sc
		}
		want := map[string]any{"authenticated": true, "issuer": b.URL, "subject": graceAtB.Subject,
			"client_id": v.Query.Get("client_id"), "scopes": wantScopes, "client_family": "sdk"}
		if diff := cmp.Diff(want, who); diff != "" {
			t.Errorf("whoami at B (-want +got):\n%s", diff)
		}
		boards := first.call(t, ctx, cs, "list_boards", nil)
		checkToolOK(t, "list_boards", boards)
		if !strings.Contains(describe(boards.StructuredContent), "Federated board") {
			t.Errorf("list_boards does not show the board just made: %v", boards.StructuredContent)
		}
	})

	t.Run("user mapping", func(t *testing.T) {
		// One user at B: grace, named from the email, password-less,
		// mapped from A's issuer and grace's subject there.
		users := fedUserList(t, b)
		want := map[string]fedUserRow{grace.name: {Name: grace.name, Subject: graceAtB.Subject, Email: grace.email, Status: "active",
			SignsInWith: a.URL + " (sub " + grace.subject + ")"}}
		if diff := cmp.Diff(want, users); diff != "" {
			t.Fatalf("B's users (-want +got):\n%s", diff)
		}
		if !regexp.MustCompile(`^u_[a-z0-9]+$`).MatchString(graceAtB.Subject) || graceAtB.Subject == grace.subject {
			t.Errorf("B's subject for grace = %q (A's is %q), want B's own user ID", graceAtB.Subject, grace.subject)
		}

		// Another client in another browser: a new sign-in at A that maps
		// to the same user at B, who sees the same boards.
		second := env.newSDKClient(t, env.newPerson(t, grace))
		ctx := t.Context()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "kanban-e2e-federation-2", Version: "1.0.0"}, nil).Connect(ctx,
			&mcp.StreamableClientTransport{Endpoint: b.MCP(), OAuthHandler: second.handler}, nil)
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		defer cs.Close()
		// A call that needs a token: B answers 401, and the second
		// client goes through both sign-in pages as the first did.
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "search_cards", Arguments: map[string]any{"query": "card"}})
		if err != nil {
			t.Fatalf("search_cards: %v\nvisits: %+v\n%s", err, second.visits(), logs())
		}
		checkToolOK(t, "search_cards", res)
		boards := second.call(t, ctx, cs, "list_boards", nil)
		checkToolOK(t, "list_boards", boards)
		if !strings.Contains(describe(boards.StructuredContent), "Federated board") {
			t.Errorf("the second connection does not see the first one's board: %v", boards.StructuredContent)
		}
		visits := second.visits()
		if len(visits) != 1 || !slices.Equal(visits[0].Steps, []string{stepBSignIn, stepASignIn, stepAConsent, stepBCallback, stepClient}) {
			t.Fatalf("second connection's pages: %+v", visits)
		}
		if who := second.whoami(t, ctx, cs); str(who, "subject") != graceAtB.Subject {
			t.Errorf("second connection: whoami subject %q, want %q", str(who, "subject"), graceAtB.Subject)
		}
		if diff := cmp.Diff(want, fedUserList(t, b)); diff != "" {
			t.Errorf("B's users after the second sign-in (-want +got):\n%s", diff)
		}
	})

	// The sign-ins below need no MCP client: a client registered at B by
	// DCR, and authorization requests built as the SDK builds them.
	client := env.register(t)

	t.Run("allow-lists", func(t *testing.T) {
		// ivan's domain is not allowed, his address is.
		v := env.newPerson(t, ivan).mustVisit(t, env.authURL(t, client, ""), visitOpts{})
		if diff := cmp.Diff([]string{stepBSignIn, stepASignIn, stepAConsent, stepBCallback, stepClient}, v.Steps); diff != "" {
			t.Fatalf("ivan's pages (-want +got):\n%s\n%s", diff, logs())
		}
		if got := v.Pages[3].SignedInAs; got != ivan.name {
			t.Errorf("B's consent page for ivan: signed in as %q", got)
		}
		// mallory's domain is not allowed; nomail has no address at A.
		for _, tc := range []struct {
			acct   fedAccount
			reason string
		}{
			{mallory, "The account mallory@other.example is not among those allowed to use this server."},
			{nomail, "The provider did not tell this server your email address, and no other rule admits your account."},
		} {
			v := env.newPerson(t, tc.acct).mustVisit(t, env.authURL(t, client, ""), visitOpts{})
			want := []string{stepBSignIn, stepASignIn, stepAConsent, fmt.Sprintf("B %s 403 %q", fedCallbackPath, pageRefused)}
			if diff := cmp.Diff(want, v.Steps); diff != "" {
				t.Fatalf("%s's pages (-want +got):\n%s\n%s", tc.acct.name, diff, logs())
			}
			if last := v.Pages[len(v.Pages)-1]; !strings.Contains(last.Text, tc.reason) {
				t.Errorf("%s's refusal page does not say %q:\n%s", tc.acct.name, tc.reason, last.Text)
			}
		}
		// Only the admitted got an account.
		users := fedUserList(t, b)
		if got := slices.Sorted(maps.Keys(users)); !slices.Equal(got, []string{grace.name, ivan.name}) {
			t.Fatalf("B's users = %v, want grace and ivan", got)
		}
		if row := users[ivan.name]; row.Email != ivan.email || row.SignsInWith != a.URL+" (sub "+ivan.subject+")" {
			t.Errorf("B's user ivan: %+v", row)
		}
	})

	// A browser of grace's in which the state subtests go on.
	holder := env.newPerson(t, grace)
	var usedCode string
	t.Run("bad state", func(t *testing.T) {
		// A made-up state, and none at all.
		for _, target := range []string{b.URL + fedCallbackPath + "?code=x&state=bogus", b.URL + fedCallbackPath + "?code=x"} {
			holder.checkPage(t, target, http.StatusBadRequest, pageCannotGoOn)
		}
		// A real code and state, brought by another browser (one that has
		// a sign-in cookie of B's, as an attacker's has): refused, and
		// left for the browser that started the sign-in.
		held := holder.mustVisit(t, env.authURL(t, client, ""), visitOpts{holdCallback: true})
		if diff := cmp.Diff([]string{stepBSignIn, stepASignIn, stepAConsent, stepHeld}, held.Steps); diff != "" {
			t.Fatalf("pages (-want +got):\n%s", diff)
		}
		attacker := env.newPerson(t, mallory)
		if v := attacker.mustVisit(t, env.authURL(t, client, ""), visitOpts{stopAtB: true}); !slices.Equal(v.Steps, []string{stepBSignIn}) {
			t.Fatalf("the other browser's pages: %v", v.Steps)
		}
		attacker.checkPage(t, held.Callback, http.StatusBadRequest, pageCannotGoOn)
		// The browser that started it finishes.
		p := holder.checkPage(t, held.Callback, http.StatusOK, "")
		if p.SignedInAs != grace.name {
			t.Fatalf("the callback in the browser that started the sign-in: signed in as %q, page:\n%s", p.SignedInAs, p.Text)
		}
		// The same answer again: the state was used.
		holder.checkPage(t, held.Callback, http.StatusBadRequest, pageCannotGoOn)
		usedCode = fedQuery(t, held.Callback).Get("code")
	})

	t.Run("replayed code", func(t *testing.T) {
		if usedCode == "" {
			t.Skip("needs the code of the bad-state subtest")
		}
		// A new sign-in (prompt=login: the browser has sessions at both),
		// whose answer from A is held; the used code is brought with its
		// state instead. A refuses to redeem it.
		held := holder.mustVisit(t, env.authURL(t, client, "login"), visitOpts{holdCallback: true})
		if diff := cmp.Diff([]string{stepBSignIn, stepASignIn, stepAConsent, stepHeld}, held.Steps); diff != "" {
			t.Fatalf("pages (-want +got):\n%s", diff)
		}
		if held.Provider.Get("prompt") != "login" {
			t.Errorf("B did not pass prompt=login on to A: %v", held.Provider)
		}
		q := fedQuery(t, held.Callback)
		q.Set("code", usedCode)
		holder.checkPage(t, b.URL+fedCallbackPath+"?"+q.Encode(), http.StatusBadRequest, pageNotVerified)
		if !strings.Contains(b.Log.String(), "the provider refused the code: invalid_grant") {
			t.Errorf("B's log does not say that A refused the code:\n%s", b.Log.String())
		}
	})

	t.Run("wrong nonce", func(t *testing.T) {
		// The request B sends the browser to A is altered on the way: its
		// nonce replaced. A signs the ID token with that nonce, and B
		// refuses it (the state, the PKCE verifier and the code are all
		// right, so only the nonce check can).
		tamper := func(q url.Values) { q.Set("nonce", "not-the-nonce-of-this-sign-in") }
		v := holder.mustVisit(t, env.authURL(t, client, "login"), visitOpts{tamper: tamper})
		want := []string{stepBSignIn, stepASignIn, stepASignIn, stepAConsent, fmt.Sprintf("B %s 400 %q", fedCallbackPath, pageNotVerified)}
		if diff := cmp.Diff(want, v.Steps); diff != "" {
			t.Fatalf("pages (-want +got):\n%s\n%s", diff, logs())
		}
		if !strings.Contains(b.Log.String(), "the ID token's nonce is not this sign-in's") {
			t.Errorf("B's log does not say the nonce was wrong:\n%s", b.Log.String())
		}
	})

	t.Run("disabled user", func(t *testing.T) {
		if firstSession == nil {
			t.Skip("needs the first subtest's connection")
		}
		out := secCLI(t, b, "", "users", "disable", grace.name)
		if !strings.Contains(out, "disabled grace") {
			t.Fatalf("users disable: %s", out)
		}
		// The token B issued is refused at once.
		access := first.tokens.current(t).AccessToken
		checkInvalidToken(t, b, b.call(t, access, "whoami", nil))
		// The SDK, refused, sends the person to sign in again; B has
		// ended their session, A has not, and B refuses the account.
		ctx := t.Context()
		_, err := firstSession.CallTool(ctx, &mcp.CallToolParams{Name: "search_cards", Arguments: map[string]any{"query": "card"}})
		if !errors.Is(err, errFedNoCode) {
			t.Fatalf("search_cards after disable: err = %v, want the failed sign-in", err)
		}
		visits := first.visits()
		want := []string{stepBSignIn, stepAConsent, fmt.Sprintf("B %s 403 %q", fedCallbackPath, pageDisabled)}
		if len(visits) != 2 || !slices.Equal(visits[1].Steps, want) {
			t.Fatalf("authorizations: %+v; want a second one with the pages %v", visits, want)
		}
		if row := fedUserList(t, b)[grace.name]; row.Status != "disabled" || row.Subject != graceAtB.Subject {
			t.Errorf("B's user grace after the refused sign-in: %+v", row)
		}
	})
}

// fedAccount is a person with an account at A.
type fedAccount struct {
	name, email, password string
	subject               string // at A
}

// fedEnv is what the subtests share.
type fedEnv struct {
	a, b     *testServer
	br       *browser
	redirect string // the client's redirect URI

	mu        sync.Mutex
	seenCodes []string
}

// logs is both servers' logs and the browser's output, for a failure.
func (e *fedEnv) logs() string {
	return "browser output:\n" + e.br.Out.String() + "\nA's log:\n" + e.a.Log.String() + "\nB's log:\n" + e.b.Log.String()
}

// sawCode notes a code A issued, which no log may show.
func (e *fedEnv) sawCode(callback string) {
	u, err := url.Parse(callback)
	if err != nil || u.Query().Get("code") == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seenCodes = append(e.seenCodes, u.Query().Get("code"))
}

func (e *fedEnv) codes() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.seenCodes)
}

// register registers a public client at B by DCR, redirecting to the
// client's loopback target.
func (e *fedEnv) register(t *testing.T) string {
	t.Helper()
	reg := postJSON(t, e.b.URL+"/oauth/register", map[string]any{
		"client_name": "Federation e2e (raw)", "redirect_uris": []string{e.redirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"},
	})
	id, _ := reg["client_id"].(string)
	if id == "" {
		t.Fatalf("registration at B: %v", reg)
	}
	return id
}

// authURL is an authorization request at B for clientID, with PKCE, for
// list_boards' scope; prompt is sent when set.
func (e *fedEnv) authURL(t *testing.T, clientID, prompt string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(randomVerifier(t)))
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {e.redirect},
		"scope": {string(tools.ListBoards().Requires.Scope)}, "state": {randomVerifier(t)}, "resource": {e.b.MCP()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	if prompt != "" {
		q.Set("prompt", prompt)
	}
	return e.b.URL + "/oauth/authorize?" + q.Encode()
}

// fedPerson is a person at a browser of their own: a Chromium browser
// context, with its own cookies, in the test's browser.
type fedPerson struct {
	env  *fedEnv
	acct fedAccount
	ctx  context.Context // the person's tab
}

func (e *fedEnv) newPerson(t *testing.T, acct fedAccount) *fedPerson {
	t.Helper()
	ctx, cancel := chromedp.NewContext(e.br.Ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a browser context for %s: %v\n%s", acct.name, err, e.logs())
	}
	return &fedPerson{env: e, acct: acct, ctx: ctx}
}

// fedPage is what the person sees on a page.
type fedPage struct {
	URL        string   `json:"url"`
	H1         string   `json:"h1"`
	Text       string   `json:"text"`
	SignIn     bool     `json:"signin"`     // a password form
	Upstream   string   `json:"upstream"`   // the provider's button
	Levels     []string `json:"levels"`     // the consent page's levels
	SignedInAs string   `json:"signedInAs"` // the consent page's "Signed in as"
	Status     int64    `json:"-"`
}

const fedPageJS = `(() => {
	const q = s => document.querySelector(s);
	const dt = Array.from(document.querySelectorAll('dt')).find(e => e.textContent === 'Signed in as');
	return {
		url: location.href,
		h1: (q('h1') || {}).textContent || '',
		text: document.body ? document.body.innerText : '',
		signin: !!q('#username'),
		upstream: (q('#upstream') || {}).textContent || '',
		levels: Array.from(document.querySelectorAll('input[name="level"]'), e => e.value),
		signedInAs: dt && dt.nextElementSibling ? dt.nextElementSibling.textContent : '',
	};
})()`

// read returns the page the tab shows, loaded with resp.
func (p *fedPerson) read(resp *network.Response) (fedPage, error) {
	if resp == nil {
		return fedPage{}, errors.New("no page loaded")
	}
	pg, err := chromedp.Run(p.ctx, chromedp.Evaluate[fedPage](fedPageJS))
	pg.Status = resp.Status
	return pg, err
}

// step names a page: whose (A, B or the client), its path, its status and
// what it is (sign-in, consent, done, or its heading).
func (p *fedPerson) step(pg fedPage) string {
	who := "?"
	switch {
	case strings.HasPrefix(pg.URL, p.env.a.URL+"/"):
		who = "A"
	case strings.HasPrefix(pg.URL, p.env.b.URL+"/"):
		who = "B"
	case strings.HasPrefix(pg.URL, p.env.redirect):
		who = "client"
	}
	path := pg.URL
	if u, err := url.Parse(pg.URL); err == nil {
		path = u.Path
	}
	what := strconv.Quote(pg.H1)
	switch {
	case pg.SignIn || pg.Upstream != "":
		what = "sign-in"
	case len(pg.Levels) > 0:
		what = "consent"
	case who == "client":
		what = "done"
	}
	return fmt.Sprintf("%s %s %d %s", who, path, pg.Status, what)
}

// visitOpts change what the person does.
type visitOpts struct {
	// stopAtB stops at B's sign-in page.
	stopAtB bool
	// holdCallback stops A's answer on its way to B's callback: the
	// browser never loads it, and the visit keeps its URL.
	holdCallback bool
	// tamper alters the request that B sends the browser to A with,
	// before A gets it.
	tamper func(url.Values)
}

// fedVisit is one authorization the person went through.
type fedVisit struct {
	Query    url.Values // the authorization request at B
	Provider url.Values // the request B sent the browser to A with
	Steps    []string   // the pages, as fedPerson.step names them
	Pages    []fedPage
	Callback string     // A's answer: the URL of B's callback
	Redirect url.Values // what the client's redirect URI got, nil if never reached
}

// visit opens authURL at B and goes on as a person does: at B's sign-in
// page, the provider's button; at A's sign-in page, their name and
// password; at a consent page, Allow, with the level chosen for them. It
// stops at any other page, and at the client's redirect URI. It returns
// errors instead of failing the test: the SDK calls it on its goroutine.
func (p *fedPerson) visit(authURL string, opts visitOpts) (fedVisit, error) {
	var v fedVisit
	if u, err := url.Parse(authURL); err == nil {
		v.Query = u.Query()
	}
	tampered := false
	resp, err := chromedp.Run(p.ctx, chromedp.NavigateResponse(authURL))
	for {
		if err != nil {
			return v, fmt.Errorf("after %v: %w", v.Steps, err)
		}
		pg, err := p.read(resp)
		if err != nil {
			return v, fmt.Errorf("after %v: read the page: %w", v.Steps, err)
		}
		step := p.step(pg)
		v.Steps, v.Pages = append(v.Steps, step), append(v.Pages, pg)
		if len(v.Steps) > 8 {
			return v, fmt.Errorf("the sign-in goes round in circles: %v", v.Steps)
		}
		who, _, _ := strings.Cut(step, " ")
		if who == "A" && v.Provider == nil {
			v.Provider = fedQuery(nil, pg.URL)
		}
		if who == "B" && strings.HasPrefix(pg.URL, p.env.b.URL+fedCallbackPath+"?") {
			v.Callback = pg.URL
			p.env.sawCode(pg.URL)
		}
		allow := chromedp.CSS(`button[name="decision"][value="allow"]`)
		switch {
		case who == "client":
			v.Redirect = fedQuery(nil, pg.URL)
			return v, nil
		case who == "B" && pg.Upstream != "" && !opts.stopAtB:
			resp, err = chromedp.RunResponse(p.ctx, chromedp.Click(chromedp.ID("upstream")))
		case who == "A" && opts.tamper != nil && !tampered:
			tampered = true
			u, _ := url.Parse(pg.URL)
			q := u.Query()
			opts.tamper(q)
			u.RawQuery = q.Encode()
			resp, err = chromedp.Run(p.ctx, chromedp.NavigateResponse(u.String()))
		case who == "A" && pg.SignIn:
			if err = chromedp.Do(p.ctx,
				chromedp.SendKeys(chromedp.ID("username"), p.acct.name),
				chromedp.SendKeys(chromedp.ID("password"), p.acct.password),
			); err == nil {
				resp, err = chromedp.RunResponse(p.ctx, chromedp.Click(chromedp.CSS(`form:has(#username) button[type="submit"]`)))
			}
		case who == "A" && len(pg.Levels) > 0 && opts.holdCallback:
			v.Callback, err = p.clickHoldingCallback(allow)
			if err != nil {
				return v, err
			}
			p.env.sawCode(v.Callback)
			v.Steps = append(v.Steps, stepHeld)
			return v, nil
		case (who == "A" || who == "B") && len(pg.Levels) > 0:
			resp, err = chromedp.RunResponse(p.ctx, chromedp.Click(allow))
		default:
			return v, nil
		}
	}
}

// mustVisit is visit on the test's goroutine.
func (p *fedPerson) mustVisit(t *testing.T, authURL string, opts visitOpts) fedVisit {
	t.Helper()
	v, err := p.visit(authURL, opts)
	if err != nil {
		t.Fatalf("%s's sign-in: %v\n%s", p.acct.name, err, p.env.logs())
	}
	return v
}

// clickHoldingCallback clicks button, and stops the request that A's
// answer then sends to B's callback (Chromium's Fetch domain), returning
// its URL: B never gets it.
func (p *fedPerson) clickHoldingCallback(button chromedp.CSS) (string, error) {
	paused, stop := iter.Pull2(chromedp.Events(p.ctx, fetch.RequestPaused))
	defer stop()
	call := func(f func(ctx context.Context, t *chromedp.Target) error) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			return chromedp.Void{}, f(ctx, t)
		}
	}
	pattern := &fetch.RequestPattern{URLPattern: p.env.b.URL + fedCallbackPath + "?*"}
	if err := chromedp.Do(p.ctx,
		call(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{pattern}})
			return err
		}),
		chromedp.Click(button),
	); err != nil {
		return "", fmt.Errorf("click, holding the callback: %w", err)
	}
	ev, err, ok := paused()
	if !ok || err != nil {
		return "", fmt.Errorf("the callback request never came (%v)", err)
	}
	if err := chromedp.Do(p.ctx, call(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonAborted}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, fetch.Disable, cdp.Empty{})
		return err
	})); err != nil {
		return "", fmt.Errorf("stop the callback request: %w", err)
	}
	return ev.Request.URL, nil
}

// checkPage opens target in the person's browser and checks its status
// and, unless empty, its heading.
func (p *fedPerson) checkPage(t *testing.T, target string, status int64, h1 string) fedPage {
	t.Helper()
	resp, err := chromedp.Run(p.ctx, chromedp.NavigateResponse(target))
	if err != nil {
		t.Fatalf("open %s: %v\n%s", target, err, p.env.logs())
	}
	pg, err := p.read(resp)
	if err != nil {
		t.Fatalf("read %s: %v", target, err)
	}
	if pg.Status != status || (h1 != "" && pg.H1 != h1) {
		t.Fatalf("%s: %d %q, want %d %q; page:\n%s\n%s", target, pg.Status, pg.H1, status, h1, pg.Text, p.env.logs())
	}
	return pg
}

// errFedNoCode: the person's sign-in did not reach the client.
var errFedNoCode = errors.New("the sign-in did not reach the client")

// fedSDKClient is the Go SDK's OAuth handler, whose browser is a person's.
type fedSDKClient struct {
	env     *fedEnv
	person  *fedPerson
	handler *sdkauth.AuthorizationCodeHandler
	tokens  *sdkTokenSource

	mu   sync.Mutex
	list []fedVisit
}

func (e *fedEnv) newSDKClient(t *testing.T, person *fedPerson) *fedSDKClient {
	t.Helper()
	c := &fedSDKClient{env: e, person: person, tokens: &sdkTokenSource{}}
	var err error
	c.handler, err = sdkauth.NewAuthorizationCodeHandler(&sdkauth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &sdkauth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName:              "Federation e2e",
				RedirectURIs:            []string{e.redirect},
				TokenEndpointAuthMethod: "none",
				GrantTypes:              []string{"authorization_code", "refresh_token"},
				ResponseTypes:           []string{"code"},
			},
		},
		AuthorizationCodeFetcher: c.authorize,
		RequestRefreshToken:      true,
		NewTokenSource:           c.tokens.build,
	})
	if err != nil {
		t.Fatalf("NewAuthorizationCodeHandler: %v", err)
	}
	return c
}

// authorize is the SDK's AuthorizationCodeFetcher: the person goes through
// the pages in the browser, and the code comes from the URL the browser
// ends at.
func (c *fedSDKClient) authorize(_ context.Context, args *sdkauth.AuthorizationArgs) (*sdkauth.AuthorizationResult, error) {
	v, err := c.person.visit(args.URL, visitOpts{})
	c.mu.Lock()
	c.list = append(c.list, v)
	c.mu.Unlock()
	switch {
	case err != nil:
		return nil, err
	case v.Redirect == nil:
		return nil, fmt.Errorf("%w: it ended at %v", errFedNoCode, v.Steps)
	}
	return &sdkauth.AuthorizationResult{Code: v.Redirect.Get("code"), State: v.Redirect.Get("state"), Iss: v.Redirect.Get("iss")}, nil
}

func (c *fedSDKClient) visits() []fedVisit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.list)
}

// call calls a tool through the SDK and fails on a transport error.
func (c *fedSDKClient) call(t *testing.T, ctx context.Context, cs *mcp.ClientSession, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	if args == nil {
		args = map[string]any{}
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s through the SDK: %v\n%s", tool, err, c.env.logs())
	}
	return res
}

// whoami returns what B says the SDK's token stands for, scopes sorted.
func (c *fedSDKClient) whoami(t *testing.T, ctx context.Context, cs *mcp.ClientSession) map[string]any {
	t.Helper()
	res := c.call(t, ctx, cs, "whoami", nil)
	checkToolOK(t, "whoami", res)
	m, ok := res.StructuredContent.(map[string]any)
	if !ok {
		t.Fatalf("whoami structuredContent is %T", res.StructuredContent)
	}
	if list, ok := m["scopes"].([]any); ok {
		slices.SortFunc(list, func(a, b any) int { return strings.Compare(describe(a), describe(b)) })
	}
	return m
}

// checkProviderRequest checks the request B sent the browser to A with:
// the code flow for B's client at A, PKCE S256, a state and a nonce.
func checkProviderRequest(t *testing.T, q url.Values, clientID, callback string) {
	t.Helper()
	if q == nil {
		t.Fatal("the browser never reached A")
	}
	for name, want := range map[string]string{
		"response_type": "code", "client_id": clientID, "redirect_uri": callback,
		"scope": "openid email profile", "code_challenge_method": "S256",
	} {
		if got := q.Get(name); got != want {
			t.Errorf("B's request to A: %s = %q, want %q", name, got, want)
		}
	}
	if len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 32 || len(q.Get("nonce")) < 32 || q.Get("state") == q.Get("nonce") {
		t.Errorf("B's request to A lacks a fresh state, nonce or S256 challenge: %v", q)
	}
}

// fedQuery returns the query of a URL.
func fedQuery(t *testing.T, raw string) url.Values {
	u, err := url.Parse(raw)
	if err != nil {
		if t != nil {
			t.Fatalf("bad URL %q: %v", raw, err)
		}
		return nil
	}
	return u.Query()
}

// fedUserRow is one line of `users list`.
type fedUserRow struct {
	Name, Subject, Email, Status, SignsInWith string
}

var fedUserLine = regexp.MustCompile(`^(\S+)\s+(u_\S+)\s+(.*?)\s+(active|disabled)\s+(password|\S+ \(sub \S+\))\s+(\S+)$`)

// fedUserList runs `users list` against srv's database.
func fedUserList(t *testing.T, srv *testServer) map[string]fedUserRow {
	t.Helper()
	out := secCLI(t, srv, "", "users", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "SIGNS_IN_WITH") {
		t.Fatalf("users list has no header:\n%s", out)
	}
	users := map[string]fedUserRow{}
	for _, line := range lines[1:] {
		m := fedUserLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("users list line %q does not parse:\n%s", line, out)
		}
		if _, err := time.Parse(time.RFC3339, m[6]); err != nil {
			t.Errorf("users list line %q: CREATED %q: %v", line, m[6], err)
		}
		users[m[1]] = fedUserRow{Name: m[1], Subject: m[2], Email: m[3], Status: m[4], SignsInWith: m[5]}
	}
	return users
}
