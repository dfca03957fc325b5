-- Each board's number of cards, kept by triggers so that no write path can
-- forget it: the quota check of add_card and list_boards read it instead of
-- counting a board's cards on every call.

ALTER TABLE boards ADD COLUMN card_count INTEGER NOT NULL DEFAULT 0 CHECK (card_count >= 0);

UPDATE boards SET card_count = (SELECT count(*) FROM cards WHERE cards.board_id = boards.id);

CREATE TRIGGER cards_count_insert AFTER INSERT ON cards BEGIN
    UPDATE boards SET card_count = card_count + 1 WHERE id = NEW.board_id;
END;

-- Also fires for the cards that deleting a board removes (ON DELETE CASCADE).
CREATE TRIGGER cards_count_delete AFTER DELETE ON cards BEGIN
    UPDATE boards SET card_count = card_count - 1 WHERE id = OLD.board_id;
END;
