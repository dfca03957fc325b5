-- The operator's blocklist on PostgreSQL, as on SQLite (see sqlite/): a
-- row blocks every user of one client (kind 'client': issuer and subject
-- empty) or one user (kind 'subject'), optionally only through one
-- client. Absent values are '' rather than NULL, so that the unique index
-- treats them as equal. created_at is bigint unix nanoseconds. rowid
-- mirrors SQLite's implicit row number, which the list orders by after
-- created_at.
CREATE TABLE revocations (
    id         text   PRIMARY KEY,
    kind       text   NOT NULL CHECK (kind IN ('client', 'subject')),
    issuer     text   NOT NULL,
    subject    text   NOT NULL,
    client_id  text   NOT NULL,
    created_at bigint NOT NULL,
    note       text   NOT NULL,
    rowid      bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    CHECK (
        (kind = 'client'  AND issuer = '' AND subject = '' AND client_id <> '') OR
        (kind = 'subject' AND issuer <> '' AND subject <> '')
    )
);

-- Makes identical entries impossible and covers the Revoked query, which
-- runs on every authenticated request.
CREATE UNIQUE INDEX revocations_by_target ON revocations (kind, issuer, subject, client_id);
