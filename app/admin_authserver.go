package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/kanban-mcp/kanban-mcp/authserver"
	"github.com/kanban-mcp/kanban-mcp/config"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// The operator's commands for the built-in authorization server: users,
// clients, grants and signing keys. They open the database that the
// environment's configuration names, as the running server does, so a
// change binds the server from its next request.

// authServerParts is what the commands work on.
type authServerParts struct {
	cfg    *config.Config
	store  *authserver.Store
	users  *authserver.Users
	grants *authserver.Grants
	close  func()
}

func openAuthServer(ctx context.Context, getenv func(string) string, stderr io.Writer) (*authServerParts, error) {
	cfg, err := config.Load(nil, getenv, stderr)
	if err != nil {
		return nil, err
	}
	db, err := openDatabase(ctx, cfg, false, nil)
	if err != nil {
		return nil, err
	}
	st, err := authserver.Open(ctx, db.sql, authserver.Options{})
	if err != nil {
		db.close()
		return nil, err
	}
	hasher, err := authserver.NewHasher(authserver.HasherOptions{})
	if err != nil {
		db.close()
		return nil, err
	}
	users := authserver.NewUsers(st, hasher)
	scopes, err := tools.ScopeSet()
	if err != nil {
		db.close()
		return nil, err
	}
	grants, err := st.Grants(users, authserver.GrantOptions{Scopes: scopes, RefreshTokenLifetime: cfg.RefreshTokenTTL})
	if err != nil {
		db.close()
		return nil, err
	}
	return &authServerParts{cfg: cfg, store: st, users: users, grants: grants, close: func() { db.close() }}, nil
}

// parseAndOpen parses a subcommand's flags, which may stand anywhere among
// its arguments, and opens the authorization server's store.
func parseAndOpen(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stderr io.Writer) ([]string, *authServerParts, error) {
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, nil, err
	}
	parts, err := openAuthServer(ctx, getenv, stderr)
	if err != nil {
		return nil, nil, err
	}
	return positional, parts, nil
}

// usersCommand: users add|list|passwd|disable|enable.
func usersCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	const usage = "usage: users add <name> [-email E] [-password-stdin] | users list | users passwd <name> [-password-stdin] [-keep-grants] | users disable <name> | users enable <name>"
	if len(args) == 0 {
		return errors.New(usage)
	}
	verb, args := args[0], args[1:]
	fs := flag.NewFlagSet("users "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the user's email address, which the operator vouches for (userinfo shows it as verified)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	keepGrants := fs.Bool("keep-grants", false, "passwd: leave the user's connected apps (grants) working; by default they are revoked")
	positional, parts, err := parseAndOpen(ctx, fs, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer parts.close()

	switch {
	case verb == "list" && len(positional) == 0:
		list, err := parts.users.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSUBJECT\tEMAIL\tSTATUS\tSIGNS_IN_WITH\tCREATED")
		for _, u := range list {
			status := "active"
			if u.Disabled() {
				status = "disabled"
			}
			// Where the user comes from: a password here, or the
			// provider's issuer (and its subject, which the provider's
			// own admin pages show) for a federated user.
			signIn := "password"
			if u.Federated() {
				signIn = u.UpstreamIssuer + " (sub " + u.UpstreamSubject + ")"
			}
			email := u.Email
			if email != "" && !u.EmailVerified {
				email += " (unverified)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Subject, email, status, signIn, u.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case (verb == "add" || verb == "passwd") && len(positional) == 1:
		password, err := readPassword(stdin, stderr, *fromStdin)
		if err != nil {
			return err
		}
		if verb == "passwd" {
			// A new password ends the browser sessions signed in with the
			// old one and, unless kept, the apps connected with it.
			done, err := parts.users.SetPassword(ctx, positional[0], password, authserver.SetPasswordOptions{KeepGrants: *keepGrants})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "password of %s changed; %s\n", positional[0], describePasswordChange(done, *keepGrants))
			return nil
		}
		u, err := parts.users.AddUser(ctx, positional[0], password, *email)
		if err != nil {
			return err
		}
		if *email != "" {
			// The operator vouches for the address: userinfo may show it.
			if err := parts.users.SetEmail(ctx, u.Name, *email, true); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "added user %s (subject %s)\n", u.Name, u.Subject)
		return nil
	case verb == "disable" && len(positional) == 1:
		// DisableUser also revokes the user's grants, forgets their consents
		// and ends their sessions: their tokens are refused from the next
		// request.
		changed, err := parts.users.DisableUser(ctx, positional[0])
		if err != nil {
			return err
		}
		if !changed {
			fmt.Fprintf(stdout, "%s was already disabled\n", positional[0])
			return nil
		}
		fmt.Fprintf(stdout, "disabled %s; their grants are revoked and their sessions ended\n", positional[0])
		return nil
	case verb == "enable" && len(positional) == 1:
		changed, err := parts.users.EnableUser(ctx, positional[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "enabled %s (was already enabled: %v)\n", positional[0], !changed)
		return nil
	}
	return errors.New(usage)
}

// describePasswordChange says what else a password change did.
func describePasswordChange(done authserver.PasswordChange, keptGrants bool) string {
	count := func(n int64, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	sessions := "signed out of " + count(done.SessionsEnded, "browser session", "browser sessions")
	if keptGrants {
		return sessions + "; connected apps keep their access (-keep-grants)"
	}
	return sessions + "; revoked " + count(done.GrantsRevoked, "grant", "grants") +
		": connected apps are refused from their next request and must be connected again"
}

// readPassword reads a new password: from the first line of stdin with
// -password-stdin, else from a prompt without echo on a terminal.
func readPassword(stdin io.Reader, stderr io.Writer, fromStdin bool) (string, error) {
	if fromStdin {
		if stdin == nil {
			return "", errors.New("-password-stdin: standard input is empty")
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the password from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("standard input is not a terminal; pass the password with -password-stdin")
	}
	fmt.Fprint(stderr, "Password: ")
	first, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	fmt.Fprint(stderr, "Again: ")
	second, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	if string(first) != string(second) {
		return "", errors.New("the two passwords differ")
	}
	return string(first), nil
}

// clientsCommand: clients add|list|remove, for pre-registered clients
// (identity-provider-less setups and conformance tools that need a fixed
// client_id).
func clientsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "usage: clients add -name N -redirect-uri URI [-redirect-uri URI …] [-confidential] | clients list | clients remove <client_id>"
	if len(args) == 0 {
		return errors.New(usage)
	}
	verb, args := args[0], args[1:]
	fs := flag.NewFlagSet("clients "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the client's name, shown on the consent page")
	var redirects stringList
	fs.Var(&redirects, "redirect-uri", "an allowed redirect URI (repeat for more)")
	confidential := fs.Bool("confidential", false, "issue a client secret (client_secret_basic)")
	positional, parts, err := parseAndOpen(ctx, fs, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer parts.close()

	switch {
	case verb == "add" && len(positional) == 0:
		method := "none"
		if *confidential {
			method = "client_secret_basic"
		}
		reg, err := authserver.ValidateRegistration(authserver.RegistrationRequest{
			RedirectURIs:            redirects,
			ClientName:              *name,
			TokenEndpointAuthMethod: method,
			GrantTypes:              []string{"authorization_code", "refresh_token"},
		})
		if err != nil {
			return err
		}
		c, secret, err := parts.store.RegisterClient(ctx, reg, authserver.SourcePreregistered)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "client_id: %s\n", c.ID)
		if secret != "" {
			fmt.Fprintf(stdout, "client_secret: %s\n(shown once: store it now)\n", secret)
		}
		return nil
	case verb == "list" && len(positional) == 0:
		list, err := parts.store.ListClients(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT_ID\tNAME\tSOURCE\tAUTH\tREDIRECT_URIS\tLAST_USED")
		for _, c := range list {
			last := "never"
			if !c.LastUsedAt.IsZero() {
				last = c.LastUsedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.Source, c.TokenEndpointAuthMethod, strings.Join(c.RedirectURIs, " "), last)
		}
		return tw.Flush()
	case verb == "remove" && len(positional) == 1:
		if err := parts.store.RemoveClient(ctx, positional[0]); err != nil {
			return err
		}
		// Its tokens must stop working too, not only its refreshes.
		n, err := parts.grants.RevokeGrantsOfClient(ctx, positional[0], authserver.RevokeReasonOperator)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed client %s and revoked its %d grants\n", positional[0], n)
		return nil
	}
	return errors.New(usage)
}

// grantsCommand: grants list [-user U] | grants revoke <grant>.
func grantsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "usage: grants list [-user NAME] | grants revoke <grant_id>"
	if len(args) == 0 {
		return errors.New(usage)
	}
	verb, args := args[0], args[1:]
	fs := flag.NewFlagSet("grants "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "only this user's grants")
	positional, parts, err := parseAndOpen(ctx, fs, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer parts.close()

	switch {
	case verb == "list" && len(positional) == 0:
		subject := ""
		if *user != "" {
			u, err := parts.users.UserByName(ctx, *user)
			if err != nil {
				return err
			}
			subject = u.Subject
		}
		list, err := parts.grants.ListGrants(ctx, subject)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GRANT\tSUBJECT\tCLIENT_ID\tSCOPE\tCREATED\tSTATUS")
		for _, g := range list {
			status := "active"
			if g.Revoked() {
				status = "revoked: " + g.RevokeReason
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Subject, g.ClientID, strings.Join(g.Scope, " "), g.CreatedAt.UTC().Format(time.RFC3339), status)
		}
		return tw.Flush()
	case verb == "revoke" && len(positional) == 1:
		changed, err := parts.grants.RevokeGrant(ctx, positional[0], authserver.RevokeReasonOperator)
		if err != nil {
			return err
		}
		// Forget the remembered consent, or the app would reconnect
		// without asking the person.
		if g, err := parts.grants.Grant(ctx, positional[0]); err == nil {
			if _, err := parts.grants.ForgetConsent(ctx, g.Subject, g.ClientID); err != nil {
				return err
			}
		}
		if !changed {
			fmt.Fprintf(stdout, "grant %s was already revoked\n", positional[0])
			return nil
		}
		fmt.Fprintf(stdout, "revoked grant %s; its tokens are refused from the next request\n", positional[0])
		return nil
	}
	return errors.New(usage)
}

// keysCommand: keys rotate [-now].
func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "usage: keys rotate [-now]"
	if len(args) == 0 || args[0] != "rotate" {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	now := fs.Bool("now", false, "sign with the new key at once, instead of after the publication delay")
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(positional) != 0 {
		return errors.New(usage)
	}
	parts, err := openAuthServer(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer parts.close()
	encKey, err := authserver.ParseEncryptionKey(parts.cfg.KeyEncryptionKey)
	if err != nil {
		return err
	}
	keys, err := parts.store.Keys(ctx, authserver.KeyOptions{EncryptionKey: encKey, TokenLifetime: parts.cfg.AccessTokenTTL})
	if err != nil {
		return err
	}
	kid, activeAt, err := keys.Rotate(ctx, *now)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new signing key %s is published now and signs from %s\n", kid, activeAt.UTC().Format(time.RFC3339))
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
