package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kanban-mcp/kanban-mcp/config"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
	"github.com/kanban-mcp/kanban-mcp/revocation"
)

// healthcheck probes /healthz of the server that the same configuration
// would start, for container HEALTHCHECKs (distroless images have no curl).
func healthcheck(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := config.Load(nil, getenv, stderr)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("server not answering: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz answered %s", resp.Status)
	}
	return nil
}

// openBlocklist opens the blocklist in the database that the environment's
// configuration names, as the running server does.
func openBlocklist(ctx context.Context, getenv func(string) string, stderr io.Writer) (*revocation.List, func(), error) {
	cfg, err := config.Load(nil, getenv, stderr)
	if err != nil {
		return nil, nil, err
	}
	db, err := openDatabase(ctx, cfg, false, nil)
	if err != nil {
		return nil, nil, err
	}
	list, err := revocation.New(ctx, db.sql)
	if err != nil {
		db.close()
		return nil, nil, err
	}
	return list, func() { list.Close(); db.close() }, nil
}

// revoke adds to or lists the operator blocklist. A running server refuses
// matching tokens from its very next request: it checks the blocklist in
// the shared database on every request.
func revoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: revoke client <client_id> | revoke subject <issuer> <subject> [-client id] | revoke list")
	}
	kind, args := args[0], args[1:]
	fs := flag.NewFlagSet("revoke "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	note := fs.String("note", "", "why, for the record")
	client := fs.String("client", "", "with revoke subject: only this client's access for the user")
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	// Values are compared exactly with token claims, so a stray space from
	// a paste would make an entry that never matches.
	for i := range positional {
		positional[i] = strings.TrimSpace(positional[i])
	}
	*client = strings.TrimSpace(*client)

	list, done, err := openBlocklist(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()

	var e revocation.Entry
	switch {
	case kind == "client" && len(positional) == 1:
		e, err = list.RevokeClient(ctx, positional[0], *note)
	case kind == "subject" && len(positional) == 2:
		e, err = list.RevokeSubject(ctx, positional[0], positional[1], *client, *note)
	case kind == "list" && len(positional) == 0:
		entries, err := list.List(ctx)
		if err != nil {
			return err
		}
		printEntries(stdout, entries)
		return nil
	default:
		return errors.New("usage: revoke client <client_id> | revoke subject <issuer> <subject> [-client id] | revoke list")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked (%s); undo with: %s unrevoke %s\n", describeEntry(e), product.Name, e.ID)
	return nil
}

// unrevoke removes a blocklist entry.
func unrevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: unrevoke <id> (ids are listed by: " + product.Name + " revoke list)")
	}
	list, done, err := openBlocklist(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	removed, err := list.Remove(ctx, args[0])
	if err != nil {
		return err
	}
	if !removed {
		return fmt.Errorf("no blocklist entry %q; see %s revoke list", args[0], product.Name)
	}
	fmt.Fprintf(stdout, "removed %s\n", args[0])
	return nil
}

func printEntries(w io.Writer, entries []revocation.Entry) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "the blocklist is empty")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tBLOCKS\tNOTE")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.ID, e.CreatedAt.UTC().Format(time.RFC3339), describeEntry(e), e.Note)
	}
	tw.Flush()
}

func describeEntry(e revocation.Entry) string {
	switch {
	case e.Kind == revocation.KindClient:
		return fmt.Sprintf("every user of client %s", e.ClientID)
	case e.ClientID != "":
		return fmt.Sprintf("user %s of %s through client %s", e.Subject, e.Issuer, e.ClientID)
	default:
		return fmt.Sprintf("user %s of %s through every client", e.Subject, e.Issuer)
	}
}

// parseInterspersed parses flags that may stand before, between or after
// the positional arguments, and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
