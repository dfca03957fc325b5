-- The operator's blocklist. A row either blocks every user of one client
-- (kind 'client': issuer and subject empty) or one user (kind 'subject'),
-- optionally only through one client. Absent values are '' rather than
-- NULL, so that the unique index below also treats them as equal and a
-- duplicate entry cannot be inserted twice.
--
-- created_at is INTEGER unix nanoseconds (UTC), like the store's tables.

CREATE TABLE revocations (
    id         TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('client', 'subject')),
    issuer     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    note       TEXT    NOT NULL,
    CHECK (
        (kind = 'client'  AND issuer = '' AND subject = '' AND client_id <> '') OR
        (kind = 'subject' AND issuer <> '' AND subject <> '')
    )
) STRICT;

-- One index serves both purposes: it makes identical entries impossible
-- (RevokeClient and RevokeSubject are idempotent through it), and its
-- column order is that of the equality lookups of the Revoked query, which
-- runs on every authenticated request; since that query reads nothing but
-- these columns, the index covers it and the table is never touched.
CREATE UNIQUE INDEX revocations_by_target ON revocations (kind, issuer, subject, client_id);
