-- Boards, their columns and cards, and the activity trail: the schema of
-- store/sqlite's migrations 0001 and 0002, in PostgreSQL.
--
-- Timestamps are bigint unix nanoseconds (UTC), as in SQLite: exact to the
-- nanosecond the store.Store interface carries (timestamptz keeps
-- microseconds), cheap to compare, and they order keyset cursors exactly.
--
-- IDs are COLLATE "C": they order byte by byte, as SQLite's BINARY and Go's
-- string comparison do, whatever the database's default collation; cursors
-- and ties between equal timestamps rely on that order.

CREATE TABLE boards (
    id         text COLLATE "C" PRIMARY KEY,
    owner_iss  text    NOT NULL,
    owner_sub  text    NOT NULL CHECK (owner_sub <> ''),
    title      text    NOT NULL,
    visibility text    NOT NULL CHECK (visibility IN ('private', 'public')),
    version    bigint  NOT NULL,
    created_at bigint  NOT NULL,
    updated_at bigint  NOT NULL,
    -- The number of cards, kept by the trigger below so that no write path
    -- can forget it: add_card's quota check and list_boards read it instead
    -- of counting. Writers that add or remove cards hold the board row's
    -- lock (SELECT … FOR UPDATE), so it is exact across replicas.
    card_count integer NOT NULL DEFAULT 0 CHECK (card_count >= 0)
);

-- A user's own boards, oldest first (ListBoards, quota count, SearchCards).
CREATE INDEX boards_by_owner ON boards (owner_iss, owner_sub, created_at, id);
-- Public boards, oldest first (ListBoards).
CREATE INDEX boards_by_visibility ON boards (visibility, created_at, id);

CREATE TABLE columns (
    id       text COLLATE "C" PRIMARY KEY,
    board_id text COLLATE "C" NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    name     text    NOT NULL,
    position integer NOT NULL CHECK (position >= 0),
    -- Columns never move, so their positions can be unique outright.
    UNIQUE (board_id, position),
    -- Lets cards reference (column, board) so that a card's column is
    -- always on the card's board.
    UNIQUE (id, board_id)
);

CREATE TABLE cards (
    id          text COLLATE "C" PRIMARY KEY,
    board_id    text COLLATE "C" NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    column_id   text COLLATE "C" NOT NULL,
    title       text    NOT NULL,
    description text    NOT NULL,
    labels      text[]  NOT NULL CHECK (array_position(labels, NULL) IS NULL),
    position    integer NOT NULL CHECK (position >= 0),
    version     bigint  NOT NULL,
    created_at  bigint  NOT NULL,
    updated_at  bigint  NOT NULL,
    FOREIGN KEY (column_id, board_id) REFERENCES columns (id, board_id) ON DELETE CASCADE,
    -- Positions are dense (0..n-1) within a column, and the database
    -- refuses a duplicate even if the store had a bug. The check is
    -- deferred to COMMIT: a move shifts its neighbours one statement and
    -- places the card the next, and in between two cards share a position.
    -- Its index also gives a column's cards in order.
    CONSTRAINT cards_position_unique UNIQUE (column_id, position) DEFERRABLE INITIALLY DEFERRED
);

-- Cards of a board in search order (SearchCards, cascades).
CREATE INDEX cards_by_board ON cards (board_id, created_at, id);

CREATE FUNCTION kanban_cards_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE boards SET card_count = card_count + 1 WHERE id = NEW.board_id;
    ELSE
        -- Also runs for the cards that deleting a board removes (ON DELETE
        -- CASCADE), when the board row is already gone: it updates nothing.
        UPDATE boards SET card_count = card_count - 1 WHERE id = OLD.board_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER cards_count AFTER INSERT OR DELETE ON cards
    FOR EACH ROW EXECUTE FUNCTION kanban_cards_count();

-- The audit trail. It has no foreign keys: rows outlive the boards they
-- describe. Absent values are stored as '' rather than NULL so that every
-- column scans into a plain string.
CREATE TABLE activity (
    -- An identity never reuses a value after pruning: activity cursors
    -- hold an ID.
    id        bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        bigint  NOT NULL,
    tool      text    NOT NULL,
    outcome   text    NOT NULL,
    actor_iss text    NOT NULL,
    actor_sub text    NOT NULL,
    client_id text    NOT NULL,
    board_id  text COLLATE "C" NOT NULL,
    ids       text[]  NOT NULL CHECK (array_position(ids, NULL) IS NULL),
    summary   text    NOT NULL,
    owner_iss text    NOT NULL,
    owner_sub text    NOT NULL
);

CREATE INDEX activity_by_actor ON activity (actor_iss, actor_sub, id);
CREATE INDEX activity_by_owner ON activity (owner_iss, owner_sub, id);
CREATE INDEX activity_by_board ON activity (board_id, id);
CREATE INDEX activity_by_at ON activity (at);
