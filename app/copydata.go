package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/kanban-mcp/kanban-mcp/config"
	"github.com/kanban-mcp/kanban-mcp/internal/copydata"
	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
)

// copyDataUsage is copy-data's synopsis; copyDataHelp says the rest.
const copyDataUsage = "usage: copy-data -from sqlite:/data/kanban.db [-to postgres://…] [-replace]"

const copyDataHelp = `Moves a single-machine deployment to PostgreSQL: every board, card and
activity row, user, client, grant, token, consent, session, signing key and
blocklist entry of the SQLite file, copied into the PostgreSQL database in one
transaction that commits only after every table read back the same rows.

Stop the server on the SQLite file first: what it writes after the copy began
is not copied (a write during the copy fails it). Both databases are migrated
first, by the server's own code; the PostgreSQL tables must be empty (see
-replace). Signing keys are copied as they are stored: run the PostgreSQL
deployment with the same KEY_ENCRYPTION_KEY. Without -to, the PostgreSQL
database is DATABASE_URL's, so that the URL, a secret, need not be typed on a
command line.
`

// copyData copies the data of a SQLite deployment into PostgreSQL (see
// copyDataHelp and internal/copydata). The -to URL may hold a password:
// it is never printed, and no error repeats it.
func copyData(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("copy-data", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\n%s\n", copyDataUsage, copyDataHelp)
		fs.PrintDefaults()
	}
	// No defaults: -h prints them, and a URL there could hold a password.
	from := fs.String("from", "", "the SQLite database to copy: sqlite:/path/kanban.db, or the file's path")
	to := fs.String("to", "", "the PostgreSQL database to fill: postgres://… or postgresql://… (its password is never shown); default DATABASE_URL when it is one")
	replace := fs.Bool("replace", false, "delete every row of the PostgreSQL tables first, in the copy's transaction, instead of refusing a database that holds data")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" && pgdb.IsURL(getenv("DATABASE_URL")) {
		*to = getenv("DATABASE_URL")
	}
	switch {
	case fs.NArg() > 0 || *from == "" || *to == "":
		return errors.New(copyDataUsage)
	case pgdb.IsURL(*from):
		return errors.New("-from must name the SQLite database (sqlite:/path/kanban.db, or a path): copy-data copies from SQLite to PostgreSQL")
	case !pgdb.IsURL(*to):
		// Not repeated: it may be a mistyped URL with a password.
		return errors.New("-to must be a postgres:// or postgresql:// URL")
	}
	if err := pgdb.CheckURL(*to); err != nil {
		return fmt.Errorf("-to %w", err)
	}

	srcCfg, err := configWithDatabase(getenv, *from, stderr)
	if err != nil {
		return fmt.Errorf("-from: %w", err)
	}
	dstCfg, err := configWithDatabase(getenv, *to, stderr)
	if err != nil {
		return fmt.Errorf("-to: %w", err)
	}
	// Opening a missing file would create an empty database, and the copy
	// of a mistyped path would then succeed with nothing in it.
	if fi, err := os.Stat(srcCfg.DatabasePath); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("-from: no SQLite database file at %s", srcCfg.DatabasePath)
	}

	src, err := openDatabase(ctx, srcCfg, false, nil)
	if err != nil {
		return err
	}
	defer src.close()
	before, err := copydata.Migrations(ctx, src.sqlite.Reader)
	if err != nil {
		return fmt.Errorf("-from %s: %w", src.name, err)
	}
	// The target first: should it be out of reach, the source stays as
	// it was.
	dst, err := openDatabase(ctx, dstCfg, false, nil)
	if err != nil {
		return err
	}
	defer dst.close()
	if err := dst.migrate(ctx, dstCfg.Quotas); err != nil {
		return fmt.Errorf("migrate the PostgreSQL database: %w", err)
	}
	if err := src.migrate(ctx, srcCfg.Quotas); err != nil {
		return fmt.Errorf("migrate the SQLite database: %w", err)
	}
	after, err := copydata.Migrations(ctx, src.sqlite.Reader)
	if err != nil {
		return fmt.Errorf("-from %s: %w", src.name, err)
	}

	fmt.Fprintf(stdout, "copying %s (SQLite) to %s (PostgreSQL)\n", src.name, dst.name)
	if applied := copydata.Applied(before, after); len(applied) > 0 {
		fmt.Fprintf(stdout, "the SQLite database predates this version: its migrations were applied first (%s)\n", describeMigrations(applied))
	}
	report, err := copydata.Copy(ctx, src.sqlite.Reader, dst.pool, copydata.Options{Replace: *replace})
	var notEmpty *copydata.NotEmptyError
	if errors.As(err, &notEmpty) {
		return fmt.Errorf("%w. Point -to at a new database, or add -replace to delete those rows first, in the same transaction", err)
	}
	if err != nil {
		return err
	}
	printCopyReport(stdout, report)
	return nil
}

// configWithDatabase is the environment's configuration with DATABASE_URL
// set to url and no DATABASE_DIRECT_URL: the database is the flag's, the
// rest (quotas, SQLite's durability) the environment's, and url is
// checked as DATABASE_URL is, without being repeated.
func configWithDatabase(getenv func(string) string, url string, stderr io.Writer) (*config.Config, error) {
	return config.Load(nil, func(key string) string {
		switch key {
		case "DATABASE_URL":
			return url
		case "DATABASE_DIRECT_URL":
			return ""
		}
		return getenv(key)
	}, stderr)
}

// describeMigrations words migrations as "authserver 6, 7; store 2".
func describeMigrations(ms []copydata.Migration) string {
	var parts []string
	for i, m := range ms {
		if i > 0 && ms[i-1].Component == m.Component {
			parts[len(parts)-1] += fmt.Sprintf(", %d", m.Version)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d", m.Component, m.Version))
	}
	return strings.Join(parts, "; ")
}

// printCopyReport prints each table's rows and a final line. Counts only:
// no value of any row.
func printCopyReport(w io.Writer, r *copydata.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	notes := make([]string, len(r.Tables))
	for i, t := range r.Tables {
		var n []string
		if t.Replaced > 0 {
			n = append(n, fmt.Sprintf("replaced %d rows that PostgreSQL held", t.Replaced))
		}
		if t.Cleaned > 0 {
			n = append(n, fmt.Sprintf("%d text values held NUL or invalid UTF-8, which PostgreSQL cannot store: U+FFFD took those bytes' place", t.Cleaned))
		}
		if t.TargetOnly {
			n = append(n, "PostgreSQL only: left empty")
		}
		notes[i] = strings.Join(n, "; ")
	}
	noted := slices.ContainsFunc(notes, func(n string) bool { return n != "" })
	header := "TABLE\tROWS"
	if noted {
		header += "\tNOTE"
	}
	fmt.Fprintln(tw, header)
	copied := 0
	for i, t := range r.Tables {
		rows := fmt.Sprint(t.Rows)
		if t.TargetOnly {
			rows = "-"
		} else {
			copied++
		}
		line := t.Name + "\t" + rows
		if noted {
			line += "\t" + notes[i]
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	fmt.Fprintf(w, "copied %d rows of %d tables in one transaction; every table read back with the same rows. "+
		"Run %s on PostgreSQL with the same KEY_ENCRYPTION_KEY as before: signing keys are copied as they were stored\n",
		r.Rows(), copied, product.Name)
}
