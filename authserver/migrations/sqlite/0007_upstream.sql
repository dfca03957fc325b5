-- Sign-in through an upstream OpenID Connect provider (federation).
--
-- A user now signs in either with a password or through the provider,
-- never both: password_hash is NULL exactly when upstream_issuer and
-- upstream_subject are set. A federated user is found by (issuer, sub),
-- the pair OIDC Core §5.7 calls the only stable identifier, never by
-- email. The table is rebuilt (SQLite cannot relax NOT NULL in place); the
-- migration runner turns foreign keys off around it, so the sessions,
-- grants and consents that reference users survive untouched.
CREATE TABLE users_federated (
    id               TEXT    PRIMARY KEY CHECK (id GLOB 'u_*'),
    name             TEXT    NOT NULL UNIQUE COLLATE NOCASE CHECK (length(name) BETWEEN 1 AND 64),
    password_hash    TEXT    CHECK (password_hash GLOB '$argon2id$*'),
    upstream_issuer  TEXT    CHECK (upstream_issuer <> ''),
    upstream_subject TEXT    CHECK (upstream_subject <> ''),
    email            TEXT    CHECK (email <> ''),
    email_verified   INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    disabled_at      INTEGER,
    created_at       INTEGER NOT NULL,
    CHECK (email IS NOT NULL OR email_verified = 0),
    CHECK ((upstream_issuer IS NULL) = (upstream_subject IS NULL)),
    CHECK ((password_hash IS NULL) <> (upstream_issuer IS NULL)),
    UNIQUE (upstream_issuer, upstream_subject)
) STRICT;

INSERT INTO users_federated (id, name, password_hash, email, email_verified, disabled_at, created_at)
    SELECT id, name, password_hash, email, email_verified, disabled_at, created_at FROM users;

DROP TABLE users;
ALTER TABLE users_federated RENAME TO users;

-- upstream_logins are the sign-ins sent to the provider and not yet back:
-- the state sent with the person (stored only as its SHA-256, like codes),
-- the nonce and PKCE verifier to check the answer with, the browser it
-- must come back to (the SHA-256 of its sign-in cookie, so that a state
-- carried to another browser is refused: no login CSRF), and where to go
-- on: the authorization request, as a form-encoded query, or '' for the
-- account page. The callback deletes the row as it reads it, so a state
-- works once; rows that never come back are pruned after expires_at.
CREATE TABLE upstream_logins (
    state_hash   BLOB    PRIMARY KEY CHECK (length(state_hash) = 32),
    browser_hash BLOB    NOT NULL CHECK (length(browser_hash) = 32),
    nonce        TEXT    NOT NULL CHECK (nonce <> ''),
    verifier     TEXT    NOT NULL CHECK (length(verifier) BETWEEN 43 AND 128),
    request      TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL CHECK (expires_at > created_at)
) STRICT, WITHOUT ROWID;

CREATE INDEX upstream_logins_by_expiry ON upstream_logins (expires_at);
