// Package migrations lists a component's embedded SQL migrations, the one
// way both databases read them: files named NNNN_description.sql, applied
// in numeric order, each version once. internal/sqlitedb and internal/pgdb
// apply them, each in its own database's transactions.
package migrations

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// File is one migration.
type File struct {
	Version int
	Name    string
}

// List returns the migrations in fsys in version order. It refuses a name
// without a positive version that fits PostgreSQL's integer, and two files
// with the same version: versions are recorded by number, so the second
// would be skipped silently.
func List(component string, fsys fs.FS) ([]File, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list %s migrations: %w", component, err)
	}
	var files []File
	seen := make(map[int]string)
	for _, name := range names {
		prefix, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 || v > 1<<31-1 {
			return nil, fmt.Errorf("%s migration %q: name must start with a positive number and an underscore", component, name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("%s migrations %q and %q share version %d; renumber one", component, other, name, v)
		}
		seen[v] = name
		files = append(files, File{v, name})
	}
	slices.SortFunc(files, func(a, b File) int { return a.Version - b.Version })
	return files, nil
}
