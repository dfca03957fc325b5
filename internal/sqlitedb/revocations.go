package sqlitedb

// The revocation signal tells every process that shares the database file
// that revocations changed, so that a cache of revocation answers (the
// resource server keeps one, to check every request in memory) is dropped
// at once, whether the change came from this process or from the CLI in
// another. Its version is read on every authenticated request, so reading
// it must cost next to nothing.
//
// Where it can (unix), the signal is a counter in a small file beside the
// database that every process maps into its memory, as SQLite shares its
// WAL index through the -shm file: a change adds one to it, a check reads
// it, with no system call and no allocation (counterSignal). A counter
// file cut short under the mapping is grown back at the next access, and
// one that cannot be fails that access, rather than the process. Like WAL
// itself, this needs every process on one host. Elsewhere, or where the
// file system refuses to map the file, a file that each change replaces
// does, at one stat call per check (fileSignal).
//
// newRevocationSignal (revocations_unix.go, revocations_other.go) returns
// the one for this platform; Open calls it once the database file exists.
