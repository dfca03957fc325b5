-- Grants, authorization codes, refresh tokens and remembered consents.
--
-- A grant is one authorization: a person (subject) letting one client act
-- with a scope on one resource. Every pass through the authorization
-- endpoint creates a new grant; its authorization code and its single
-- refresh-token chain hang off it, and its access tokens name it in their
-- grant_id claim. Revoking the grant (one row) therefore ends all of them at
-- once, and the resource server refuses its access tokens from the very
-- next request.
--
-- Codes and refresh tokens are stored only as the SHA-256 of the string
-- handed to the client. They are 256-bit random values, so a slow hash
-- would add nothing, and a copy of the database yields nothing usable.
--
-- Times are INTEGER unix nanoseconds (UTC), like the other tables in the
-- file; NULL where the event has not happened.

-- scope is space-separated: the chosen kanban level followed by the levels
-- it implies (e.g. "kanban.write kanban.read"), then openid/profile when
-- granted. auth_time is when the person signed in for this authorization
-- (the OIDC auth_time, kept for ID tokens). revoked_at and revoke_reason
-- are set together, once.
CREATE TABLE grants (
    id            TEXT    PRIMARY KEY CHECK (id GLOB 'g_*'),
    subject       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id     TEXT    NOT NULL CHECK (client_id <> ''),
    scope         TEXT    NOT NULL CHECK (scope <> ''),
    resource      TEXT    NOT NULL CHECK (resource <> ''),
    auth_time     INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER,
    revoke_reason TEXT    CHECK (revoke_reason <> ''),
    CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
) STRICT;

-- A person's grants (the account page, `grants list --user`, and revoking
-- all of them when the account is disabled).
CREATE INDEX grants_by_subject ON grants (subject, created_at);

-- An authorization code binds everything the token request must repeat:
-- the client, the exact redirect URI, the PKCE S256 challenge (always 43
-- base64url characters), the resource and the scope. used_at is set by the
-- one successful redemption; the row is kept until it expires so that a
-- replay is recognised (and revokes the grant) rather than looking unknown.
-- nonce is the OIDC nonce of the authorization request, NULL when none.
CREATE TABLE authorization_codes (
    hash           BLOB    PRIMARY KEY CHECK (length(hash) = 32),
    grant_id       TEXT    NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id      TEXT    NOT NULL CHECK (client_id <> ''),
    redirect_uri   TEXT    NOT NULL CHECK (redirect_uri <> ''),
    code_challenge TEXT    NOT NULL CHECK (length(code_challenge) = 43),
    resource       TEXT    NOT NULL CHECK (resource <> ''),
    scope          TEXT    NOT NULL CHECK (scope <> ''),
    nonce          TEXT    CHECK (nonce <> ''),
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL CHECK (expires_at > created_at),
    used_at        INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX authorization_codes_by_grant ON authorization_codes (grant_id);
CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);

-- A refresh token is live until it is presented (used_at: it was rotated
-- and a successor, the row whose parent_hash is its hash, was issued) or
-- invalidated_at is set (it was the unused successor of a token whose one
-- grace retry, grace_used_at, replaced it). A grace retry issues a second
-- child of the same parent, so a parent has at most one child that is not
-- invalidated: the single live chain. Rows stay until they expire, so that
-- a reused token is recognised (and revokes the grant) rather than looking
-- unknown. parent_hash is deliberately not a foreign key: the parent may
-- expire, and be pruned, before its descendants.
CREATE TABLE refresh_tokens (
    hash           BLOB    PRIMARY KEY CHECK (length(hash) = 32),
    grant_id       TEXT    NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    parent_hash    BLOB    CHECK (length(parent_hash) = 32),
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL CHECK (expires_at > issued_at),
    used_at        INTEGER,
    grace_used_at  INTEGER,
    invalidated_at INTEGER,
    CHECK (grace_used_at IS NULL OR used_at IS NOT NULL),
    CHECK (invalidated_at IS NULL OR used_at IS NULL)
) STRICT, WITHOUT ROWID;

CREATE INDEX refresh_tokens_by_parent ON refresh_tokens (parent_hash) WHERE parent_hash IS NOT NULL;
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

-- The access level a person last agreed to for a client, so that the
-- consent page can be skipped when the same level is asked again (never for
-- a loopback redirect URI; that rule is the authorization endpoint's).
CREATE TABLE consents (
    subject    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL CHECK (client_id <> ''),
    level      TEXT    NOT NULL CHECK (level IN ('kanban.read', 'kanban.write', 'kanban.admin')),
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (subject, client_id)
) STRICT, WITHOUT ROWID;
