-- Scopes are declared by the application as a graph (tools/scopes.go), no
-- longer a fixed three-level ladder, so remembered consent becomes a set.
--
-- consents.scopes is space-separated: the declared scopes the person
-- approved for the client, each of which grants what it implies when read
-- back. A remembered level (kanban.read, kanban.write or kanban.admin) is
-- that one-scope set, which grants the same as before: nothing is lost.
CREATE TABLE consents_sets (
    subject    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL CHECK (client_id <> ''),
    scopes     TEXT    NOT NULL CHECK (scopes <> ''),
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (subject, client_id)
) STRICT, WITHOUT ROWID;

INSERT INTO consents_sets (subject, client_id, scopes, granted_at)
    SELECT subject, client_id, level, granted_at FROM consents;

DROP TABLE consents;
ALTER TABLE consents_sets RENAME TO consents;

-- A step-up authorization makes a new grant with the scopes of the
-- client's live grant plus those just approved; replaces names that live
-- grant, which is revoked when the new grant's code is redeemed (not
-- before: a person who abandons the step-up keeps the connection they had).
ALTER TABLE grants ADD COLUMN replaces TEXT CHECK (replaces GLOB 'g_*');
