-- Opaque access tokens (AUTH_TOKEN_FORMAT=reference): random values that
-- only this server can read, through its introspection endpoint or its own
-- resource's look-up, for deployments whose resource servers must ask
-- rather than verify. As for codes and refresh tokens, only the SHA-256 of
-- a token is stored. The scope is the token's own (a refresh may narrow
-- it below the grant's); subject and client come from the grant, whose
-- revocation ends its tokens. PruneExpired deletes expired rows and those
-- of revoked grants.
--
-- Times are INTEGER unix nanoseconds (UTC), like the other tables.
CREATE TABLE reference_tokens (
    hash       BLOB    PRIMARY KEY CHECK (length(hash) = 32),
    grant_id   TEXT    NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    resource   TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX reference_tokens_by_grant ON reference_tokens (grant_id);
CREATE INDEX reference_tokens_by_expiry ON reference_tokens (expires_at);
