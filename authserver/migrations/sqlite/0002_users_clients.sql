-- Local user accounts and registered OAuth clients.
--
-- Times are INTEGER unix nanoseconds (UTC), like the other tables in the
-- file; NULL where the event has not happened.

-- users.id is the OAuth subject ("u_" and 20 random base32 characters):
-- stable for the account's life and never derived from the name. Names
-- compare without regard to ASCII case (COLLATE NOCASE), for uniqueness and
-- for every lookup, so "Alice" signs in as "alice". The password hash is
-- argon2id in PHC form; email is NULL when none was given, and
-- email_verified is set only by an operator.
CREATE TABLE users (
    id             TEXT    PRIMARY KEY CHECK (id GLOB 'u_*'),
    name           TEXT    NOT NULL UNIQUE COLLATE NOCASE CHECK (length(name) BETWEEN 1 AND 64),
    password_hash  TEXT    NOT NULL CHECK (password_hash GLOB '$argon2id$*'),
    email          TEXT    CHECK (email <> ''),
    email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    disabled_at    INTEGER,
    created_at     INTEGER NOT NULL,
    CHECK (email IS NOT NULL OR email_verified = 0)
) STRICT;

-- clients holds DCR-registered and operator pre-registered clients (CIMD
-- clients are identified by their metadata URL and are not stored here).
-- The metadata lists are JSON arrays of strings. secret_hash is the SHA-256
-- of a confidential client's 256-bit random secret, and NULL exactly when
-- the client is public (auth method 'none').
CREATE TABLE clients (
    client_id                  TEXT    PRIMARY KEY,
    client_name                TEXT    NOT NULL,
    redirect_uris              TEXT    NOT NULL CHECK (json_valid(redirect_uris) AND json_type(redirect_uris) = 'array'
                                                       AND json_array_length(redirect_uris) > 0),
    grant_types                TEXT    NOT NULL CHECK (json_valid(grant_types) AND json_type(grant_types) = 'array'),
    response_types             TEXT    NOT NULL CHECK (json_valid(response_types) AND json_type(response_types) = 'array'),
    token_endpoint_auth_method TEXT    NOT NULL
        CHECK (token_endpoint_auth_method IN ('none', 'client_secret_basic', 'client_secret_post')),
    secret_hash                BLOB    CHECK (secret_hash IS NULL OR length(secret_hash) = 32),
    application_type           TEXT    NOT NULL DEFAULT 'web' CHECK (application_type IN ('web', 'native')),
    source                     TEXT    NOT NULL CHECK (source IN ('dcr', 'preregistered')),
    created_at                 INTEGER NOT NULL,
    last_used_at               INTEGER,
    CHECK ((token_endpoint_auth_method = 'none') = (secret_hash IS NULL))
) STRICT;

-- ExpireUnusedClients deletes never-used DCR clients older than a cutoff;
-- this partial index holds exactly the candidates.
CREATE INDEX clients_never_used ON clients (created_at) WHERE source = 'dcr' AND last_used_at IS NULL;
