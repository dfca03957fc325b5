-- A board's revision counts every change to what GetBoard shows of it:
-- cards added, edited, moved or deleted, its visibility, title and
-- columns. The board cache of each replica labels a board with the
-- revision it was read at and serves it only while the row still holds
-- that revision: a primary-key lookup of one row, which sees another
-- replica's committed write at once, notification or not.
--
-- version cannot serve: it is store.Board.Version, which counts changes
-- to the board row alone (ShareBoard), as in SQLite, because cards carry
-- versions of their own. updated_at cannot either: replicas' clocks
-- differ, and a clock may repeat a reading.
--
-- Every write bumps it in its own transaction (Store.write), after taking
-- the board row's lock, so bumps are serialized per board and a revision
-- names exactly one state of the board. A constant default: adding the
-- column rewrites no rows.
ALTER TABLE boards ADD COLUMN revision bigint NOT NULL DEFAULT 0;

-- SQLite has no such column: copy-data (internal/copydata) leaves a
-- column whose comment starts with "derived:" to its default.
COMMENT ON COLUMN boards.revision IS 'derived: a counter of the replicas'' board caches; any start value will do';
