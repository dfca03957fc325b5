package revocation

import (
	"fmt"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb/sqldbtest"
)

// BenchmarkRevocationCheck is the check every authenticated request makes,
// on a real database with a blocklist of 1,000 entries: from the SQL
// (what a cache miss costs) and through the cache that the server uses,
// whose hit costs a read of the revocation counter and a map lookup. The
// target for the cached check is 10 µs.
func BenchmarkRevocationCheck(b *testing.B) {
	db := sqldbtest.Open(b)
	list := openList(b, db)
	for i := range 1000 {
		if _, err := list.RevokeSubject(b.Context(), "https://id.example", fmt.Sprintf("user-%d", i), "", ""); err != nil {
			b.Fatal(err)
		}
	}
	p := &auth.Principal{Issuer: "https://id.example", Subject: "alice", ClientID: "chatgpt"}
	checks := map[string]auth.RevocationChecker{
		"sql":    list,
		"cached": auth.CachedRevocations(list, db.RevocationVersion, 100_000, nil),
	}
	for _, name := range []string{"sql", "cached"} {
		b.Run(name, func(b *testing.B) {
			check := checks[name]
			b.ReportAllocs()
			for b.Loop() {
				revoked, err := check.Revoked(b.Context(), p)
				if err != nil || revoked {
					b.Fatalf("Revoked = %v, %v", revoked, err)
				}
			}
		})
	}
}
