-- Browser sessions of the sign-in, consent and account pages.
--
-- A session is what a person gets by signing in on those pages: a random
-- 256-bit id in an HttpOnly cookie. Only its SHA-256 is stored (as for
-- codes and refresh tokens), so a copy of the database yields no cookie
-- that would work. The CSRF token of the session's forms is derived from
-- the id itself (an HMAC keyed with it), so it needs no column and cannot be
-- derived from this table either.
--
-- created_at is when the person signed in (the OIDC auth_time of the
-- grants made in the session). A session ends at expires_at, a fixed time
-- after sign-in, or earlier when unused for the idle timeout (last_seen is
-- refreshed at most once a minute); both limits are checked on every use,
-- and PruneSessions deletes what either has ended. Deleting a user deletes
-- their sessions; a disabled user's sessions are refused by the look-up.
--
-- Times are INTEGER unix nanoseconds (UTC), like the other tables.
CREATE TABLE sessions (
    id_hash    BLOB    PRIMARY KEY CHECK (length(id_hash) = 32),
    subject    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL CHECK (expires_at > created_at),
    last_seen  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_by_subject ON sessions (subject);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
