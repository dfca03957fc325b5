-- Boards, their columns and cards, and the activity trail.
--
-- Timestamps are INTEGER unix nanoseconds (UTC): exact, cheap to compare,
-- and they order correctly, which keyset cursors rely on.

CREATE TABLE boards (
    id         TEXT    PRIMARY KEY,
    owner_iss  TEXT    NOT NULL,
    owner_sub  TEXT    NOT NULL CHECK (owner_sub <> ''),
    title      TEXT    NOT NULL,
    visibility TEXT    NOT NULL CHECK (visibility IN ('private', 'public')),
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- A user's own boards, oldest first (ListBoards, quota count, SearchCards).
CREATE INDEX boards_by_owner ON boards (owner_iss, owner_sub, created_at, id);
-- Public boards, oldest first (ListBoards).
CREATE INDEX boards_by_visibility ON boards (visibility, created_at, id);

CREATE TABLE columns (
    id       TEXT    PRIMARY KEY,
    board_id TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    name     TEXT    NOT NULL,
    position INTEGER NOT NULL CHECK (position >= 0),
    -- Columns never move, so their positions can be unique outright.
    UNIQUE (board_id, position),
    -- Lets cards reference (column, board) so that a card's column is
    -- always on the card's board.
    UNIQUE (id, board_id)
) STRICT;

CREATE TABLE cards (
    id          TEXT    PRIMARY KEY,
    board_id    TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    column_id   TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    description TEXT    NOT NULL,
    labels      TEXT    NOT NULL CHECK (json_valid(labels) AND json_type(labels) = 'array'),
    -- Positions are dense (0..n-1) within a column. They are not declared
    -- UNIQUE because SQLite checks uniqueness row by row, which a
    -- "position = position + 1" shift would trip over mid-statement; the
    -- store keeps them dense inside its write transactions.
    position    INTEGER NOT NULL CHECK (position >= 0),
    version     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    FOREIGN KEY (column_id, board_id) REFERENCES columns (id, board_id) ON DELETE CASCADE
) STRICT;

-- Cards of a column in order (GetBoard, MoveCard shifts, end of column).
CREATE INDEX cards_by_column ON cards (column_id, position);
-- Cards of a board in search order (SearchCards, counts, cascades).
CREATE INDEX cards_by_board ON cards (board_id, created_at, id);

-- The audit trail. It has no foreign keys: rows outlive the boards they
-- describe. Absent values are stored as '' rather than NULL so that every
-- column scans into a plain string.
CREATE TABLE activity (
    -- AUTOINCREMENT so that IDs are never reused after pruning: activity
    -- cursors hold an ID.
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    tool      TEXT    NOT NULL,
    outcome   TEXT    NOT NULL,
    actor_iss TEXT    NOT NULL,
    actor_sub TEXT    NOT NULL,
    client_id TEXT    NOT NULL,
    board_id  TEXT    NOT NULL,
    ids       TEXT    NOT NULL CHECK (json_valid(ids) AND json_type(ids) = 'array'),
    summary   TEXT    NOT NULL,
    owner_iss TEXT    NOT NULL,
    owner_sub TEXT    NOT NULL
) STRICT;

CREATE INDEX activity_by_actor ON activity (actor_iss, actor_sub, id);
CREATE INDEX activity_by_owner ON activity (owner_iss, owner_sub, id);
CREATE INDEX activity_by_board ON activity (board_id, id);
CREATE INDEX activity_by_at ON activity (at);
