package copydata

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// migrationsTable is each database's own record of its migrations, which
// differ by backend (PostgreSQL's authserver schema is one migration,
// SQLite's seven): it is not copied.
const migrationsTable = "schema_migrations"

// sourceSchema is what the SQLite database holds, as of the snapshot.
type sourceSchema struct {
	tables map[string]*sourceTable
	// autoincrement is sqlite_sequence: the largest rowid each
	// AUTOINCREMENT table ever used, which may exceed its largest row's
	// after deletions.
	autoincrement map[string]int64
	// unsupported are problems with tables that cannot be copied at all.
	unsupported []string
}

type sourceTable struct {
	name    string
	columns []string // declared columns, in order
	// rowid says the table has SQLite's implicit rowid (it is not
	// WITHOUT ROWID); rowidAlias is the INTEGER PRIMARY KEY column that
	// names it, if any.
	rowid      bool
	rowidAlias string
}

// readSource reads the schema of the SQLite database in its snapshot: the
// tables of the components, without SQLite's own (sqlite_*) and the
// migrations table.
func readSource(ctx context.Context, tx *sql.Tx) (*sourceSchema, error) {
	s := &sourceSchema{tables: map[string]*sourceTable{}, autoincrement: map[string]int64{}}
	rows, err := tx.QueryContext(ctx, `SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list the SQLite tables: %w", err)
	}
	var names []string
	kinds := map[string]string{}
	for rows.Next() {
		var name, kind string
		var withoutRowid bool
		if err := rows.Scan(&name, &kind, &withoutRowid); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list the SQLite tables: %w", err)
		}
		// Views hold no rows of their own.
		if strings.HasPrefix(name, "sqlite_") || name == migrationsTable || kind == "view" {
			continue
		}
		names = append(names, name)
		kinds[name] = kind
		s.tables[name] = &sourceTable{name: name, rowid: !withoutRowid}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the SQLite tables: %w", err)
	}
	for _, name := range names {
		t := s.tables[name]
		if kinds[name] != "table" {
			// A virtual table (full-text search, say) and its shadow
			// tables are not rows to copy: PostgreSQL's counterpart, if
			// any, is another design, which copy-data cannot fill.
			s.unsupported = append(s.unsupported, fmt.Sprintf("the SQLite table %s is a %s table, which copy-data cannot copy", name, kinds[name]))
			delete(s.tables, name)
			continue
		}
		if err := readSourceColumns(ctx, tx, t); err != nil {
			return nil, err
		}
	}
	var hasSequences int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_sequence'`).Scan(&hasSequences); err != nil {
		return nil, fmt.Errorf("read the SQLite schema: %w", err)
	}
	if hasSequences > 0 {
		rows, err := tx.QueryContext(ctx, `SELECT name, seq FROM sqlite_sequence`)
		if err != nil {
			return nil, fmt.Errorf("read sqlite_sequence: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var seq int64
			if err := rows.Scan(&name, &seq); err != nil {
				return nil, fmt.Errorf("read sqlite_sequence: %w", err)
			}
			s.autoincrement[name] = seq
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read sqlite_sequence: %w", err)
		}
	}
	return s, nil
}

// readSourceColumns reads the declared columns of t (generated columns,
// which hold nothing of their own, are not among them) and which of them
// is the rowid.
func readSourceColumns(ctx context.Context, tx *sql.Tx, t *sourceTable) error {
	rows, err := tx.QueryContext(ctx, `SELECT name, upper(type), pk FROM pragma_table_info(?) ORDER BY cid`, t.name)
	if err != nil {
		return fmt.Errorf("read the columns of the SQLite table %s: %w", t.name, err)
	}
	defer rows.Close()
	var pks []string
	intPK := false
	for rows.Next() {
		var name, typ string
		var pk int
		if err := rows.Scan(&name, &typ, &pk); err != nil {
			return fmt.Errorf("read the columns of the SQLite table %s: %w", t.name, err)
		}
		t.columns = append(t.columns, name)
		if pk > 0 {
			pks = append(pks, name)
			intPK = typ == "INTEGER"
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the columns of the SQLite table %s: %w", t.name, err)
	}
	// sqlite.org/lang_createtable.html#rowid: a single-column primary key
	// declared INTEGER is the rowid.
	if t.rowid && len(pks) == 1 && intPK {
		t.rowidAlias = pks[0]
	}
	return nil
}

// targetSchema is what the PostgreSQL database holds, in the current
// schema (where the components' migrations created their tables).
type targetSchema struct {
	tables []*targetTable // in the order of their foreign keys: parents first
}

type targetTable struct {
	name     string
	columns  []targetColumn
	parents  []string // the tables its foreign keys reference
	triggers []string // its own triggers that are enabled
}

type targetColumn struct {
	name     string
	typ      string // the type's name in pg_type: int8, text, _text (text[]), bool, bytea…
	sequence string // its identity or serial sequence, "" for none
	// derived: the column holds what PostgreSQL alone needs (its comment,
	// set by the component's migration, starts with "derived:"), so no
	// SQLite column feeds it and it keeps its default.
	derived bool
}

// list is every table, for LOCK and TRUNCATE.
func (s *targetSchema) list() string {
	names := make([]string, len(s.tables))
	for i, t := range s.tables {
		names[i] = t.name
	}
	return identList(names)
}

// readTarget reads the schema of the PostgreSQL database, with its tables
// in foreign-key order.
func readTarget(ctx context.Context, tx pgx.Tx) (*targetSchema, error) {
	byName := map[string]*targetTable{}
	var table string
	var c targetColumn
	err := eachRow(ctx, tx, "list the PostgreSQL tables", `
		SELECT c.table_name, c.column_name, c.udt_name,
		       COALESCE(pg_get_serial_sequence(format('%I.%I', c.table_schema, c.table_name), c.column_name), ''),
		       COALESCE(col_description(format('%I.%I', c.table_schema, c.table_name)::regclass, c.ordinal_position::int), '') LIKE 'derived:%'
		FROM information_schema.columns c
		JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name <> $1
		ORDER BY c.table_name, c.ordinal_position`,
		[]any{&table, &c.name, &c.typ, &c.sequence, &c.derived}, func() error {
			t := byName[table]
			if t == nil {
				t = &targetTable{name: table}
				byName[table] = t
			}
			t.columns = append(t.columns, c)
			return nil
		}, migrationsTable)
	if err != nil {
		return nil, err
	}

	var parent string
	err = eachRow(ctx, tx, "read the PostgreSQL foreign keys", `
		SELECT child.relname, parent.relname
		FROM pg_constraint con
		JOIN pg_class child ON child.oid = con.conrelid
		JOIN pg_class parent ON parent.oid = con.confrelid
		WHERE con.contype = 'f' AND child.relnamespace = current_schema()::regnamespace`,
		[]any{&table, &parent}, func() error {
			if t := byName[table]; t != nil && table != parent && !slices.Contains(t.parents, parent) {
				t.parents = append(t.parents, parent)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}

	// Triggers of the tables' own, not those that PostgreSQL makes to
	// enforce foreign keys (tgisinternal), and only enabled ones.
	var trigger string
	err = eachRow(ctx, tx, "read the PostgreSQL triggers", `
		SELECT c.relname, tg.tgname
		FROM pg_trigger tg
		JOIN pg_class c ON c.oid = tg.tgrelid
		WHERE c.relnamespace = current_schema()::regnamespace AND NOT tg.tgisinternal AND tg.tgenabled <> 'D'
		ORDER BY c.relname, tg.tgname`,
		[]any{&table, &trigger}, func() error {
			if t := byName[table]; t != nil {
				t.triggers = append(t.triggers, trigger)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}

	ordered, err := parentsFirst(byName)
	if err != nil {
		return nil, err
	}
	return &targetSchema{tables: ordered}, nil
}

// eachRow runs query in tx and calls fn after scanning each row into
// scans; what says what the query is for, in its errors.
func eachRow(ctx context.Context, tx pgx.Tx, what, query string, scans []any, fn func() error, args ...any) error {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if _, err := pgx.ForEachRow(rows, scans, fn); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// parentsFirst orders the tables so that each comes after every table its
// foreign keys reference (and otherwise by name, so that the order, and
// the report, are the same on every run).
func parentsFirst(byName map[string]*targetTable) ([]*targetTable, error) {
	var ordered []*targetTable
	done := map[string]bool{}
	remaining := slices.Sorted(maps.Keys(byName))
	for len(remaining) > 0 {
		var next []string
		progressed := false
		for _, name := range remaining {
			ready := true
			for _, p := range byName[name].parents {
				if _, known := byName[p]; known && !done[p] {
					ready = false
				}
			}
			if ready {
				ordered = append(ordered, byName[name])
				done[name] = true
				progressed = true
			} else {
				next = append(next, name)
			}
		}
		if !progressed {
			return nil, fmt.Errorf("the PostgreSQL tables %s reference each other in a cycle of foreign keys, which copy-data cannot order", strings.Join(next, ", "))
		}
		remaining = next
	}
	return ordered, nil
}

// tablePlan is how one target table is filled: from which source table,
// and each target column from what.
type tablePlan struct {
	target  *targetTable
	source  *sourceTable // nil: SQLite has no such table; it stays empty
	columns []columnPlan // one per target column, in the target's order

	// Set while the table is copied.
	sourceRows int64
	digest     digest
}

type columnPlan struct {
	name     string // the target column
	from     string // what the source's SELECT reads for it
	sequence string // the target column's sequence, "" for none
	// rowid says the column holds SQLite's rowid (the implicit one, or
	// the INTEGER PRIMARY KEY that names it).
	rowid   bool
	convert converter
}

// selectQuery reads the source table's rows, each column as its target
// column needs, in SQLite's order: by rowid, or by primary key for a
// WITHOUT ROWID table.
func (p *tablePlan) selectQuery() string {
	from := make([]string, len(p.columns))
	for i, c := range p.columns {
		from[i] = c.from
	}
	q := "SELECT " + strings.Join(from, ", ") + " FROM " + sqliteIdent(p.source.name)
	if p.source.rowid {
		q += " ORDER BY rowid"
	}
	return q
}

func (p *tablePlan) targetColumns() []string {
	names := make([]string, len(p.columns))
	for i, c := range p.columns {
		names[i] = c.name
	}
	return names
}

// plan matches the source's tables and columns with the target's, by
// name, and picks each column's conversion from its target type. Every
// mismatch is a problem, and all of them are reported at once.
//
// A target column named rowid that the source table does not declare
// takes SQLite's implicit rowid: PostgreSQL has no such thing, so a
// component that orders by it on SQLite declares it on PostgreSQL. A
// derived target column (see targetColumn) is left to its default.
func plan(source *sourceSchema, target *targetSchema) ([]*tablePlan, error) {
	problems := slices.Clone(source.unsupported)
	var plans []*tablePlan
	inTarget := map[string]bool{}
	for _, tt := range target.tables {
		inTarget[tt.name] = true
		st := source.tables[tt.name]
		p := &tablePlan{target: tt, source: st}
		plans = append(plans, p)
		if st == nil {
			continue
		}
		for _, c := range tt.columns {
			cp := columnPlan{name: c.name, sequence: c.sequence}
			switch {
			case slices.Contains(st.columns, c.name):
				cp.from = sqliteIdent(c.name)
				cp.rowid = c.name == st.rowidAlias
			case strings.EqualFold(c.name, "rowid") && st.rowid:
				cp.from, cp.rowid = "rowid", true
			case c.derived:
				continue // left to its default
			default:
				problems = append(problems, fmt.Sprintf("the PostgreSQL column %s.%s has no SQLite column to come from", tt.name, c.name))
				continue
			}
			conv, ok := converters[c.typ]
			if !ok {
				problems = append(problems, fmt.Sprintf("the PostgreSQL column %s.%s is of type %s, into which copy-data converts nothing", tt.name, c.name, c.typ))
				continue
			}
			cp.convert = conv
			p.columns = append(p.columns, cp)
		}
		for _, name := range st.columns {
			if !slices.ContainsFunc(tt.columns, func(c targetColumn) bool { return c.name == name }) {
				problems = append(problems, fmt.Sprintf("the SQLite column %s.%s has no PostgreSQL column to go to", st.name, name))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(source.tables)) {
		if !inTarget[name] {
			problems = append(problems, fmt.Sprintf("the SQLite table %s has no PostgreSQL table to go to", name))
		}
	}
	if len(problems) > 0 {
		slices.SortStableFunc(problems, cmp.Compare)
		return nil, &SchemaError{Problems: problems}
	}
	return plans, nil
}

// ident quotes a PostgreSQL identifier.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// identList quotes PostgreSQL identifiers, separated by commas.
func identList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = ident(n)
	}
	return strings.Join(quoted, ", ")
}

// sqliteIdent quotes a SQLite identifier.
func sqliteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
