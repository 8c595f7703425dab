-- Search vocabulary, as on Postgres (20261204000400_search_words): every
-- distinct word of the full-text index and how many tracks carry it, in a
-- plain table. Typo corrections read a first-letter slice of it, a range of
-- its primary key; they read `fts5vocab` before, which walks the doclist
-- of every word of the slice to count its tracks (2-7 ms a slice at 100k
-- tracks, and a p99 of 46 ms for a typo; db/catalogue.rs).
CREATE TABLE search_words (
    word   TEXT PRIMARY KEY,
    tracks INTEGER NOT NULL
) WITHOUT ROWID;

-- The words of one track, as `tracks_fts` splits and folds them: the row is
-- written to this contentless full-text table of the same tokenizer, its
-- vocabulary read (the words of that one row), and the table emptied
-- ('delete-all'), all inside the trigger. So both tables agree on what a
-- word is, whatever the script or the accents. Triggers on `tracks` keep
-- `search_words` in step, as the ones of 20261125000004 keep `tracks_fts`.
CREATE VIRTUAL TABLE search_words_scratch USING fts5 (
    title, artist, album, genre,
    content = '',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE search_words_scratch_vocab USING fts5vocab ('search_words_scratch', 'row');

CREATE TRIGGER tracks_search_words_insert AFTER INSERT ON tracks BEGIN
    INSERT INTO search_words_scratch (rowid, title, artist, album, genre)
    VALUES (1, new.title, new.artist, new.album, new.genre);
    INSERT INTO search_words (word, tracks) SELECT term, 1 FROM search_words_scratch_vocab WHERE true
    ON CONFLICT (word) DO UPDATE SET tracks = tracks + 1;
    INSERT INTO search_words_scratch (search_words_scratch) VALUES ('delete-all');
END;

CREATE TRIGGER tracks_search_words_delete AFTER DELETE ON tracks BEGIN
    INSERT INTO search_words_scratch (rowid, title, artist, album, genre)
    VALUES (1, old.title, old.artist, old.album, old.genre);
    UPDATE search_words SET tracks = tracks - 1 WHERE word IN (SELECT term FROM search_words_scratch_vocab);
    DELETE FROM search_words WHERE tracks <= 0 AND word IN (SELECT term FROM search_words_scratch_vocab);
    INSERT INTO search_words_scratch (search_words_scratch) VALUES ('delete-all');
END;

-- Only when a searchable column changed: plays and status updates (the hot
-- path) do not fire it.
CREATE TRIGGER tracks_search_words_update AFTER UPDATE OF title, artist, album, genre ON tracks
WHEN old.title IS NOT new.title OR old.artist IS NOT new.artist OR old.album IS NOT new.album
    OR old.genre IS NOT new.genre
BEGIN
    INSERT INTO search_words_scratch (rowid, title, artist, album, genre)
    VALUES (1, old.title, old.artist, old.album, old.genre);
    UPDATE search_words SET tracks = tracks - 1 WHERE word IN (SELECT term FROM search_words_scratch_vocab);
    DELETE FROM search_words WHERE tracks <= 0 AND word IN (SELECT term FROM search_words_scratch_vocab);
    INSERT INTO search_words_scratch (search_words_scratch) VALUES ('delete-all');
    INSERT INTO search_words_scratch (rowid, title, artist, album, genre)
    VALUES (1, new.title, new.artist, new.album, new.genre);
    INSERT INTO search_words (word, tracks) SELECT term, 1 FROM search_words_scratch_vocab WHERE true
    ON CONFLICT (word) DO UPDATE SET tracks = tracks + 1;
    INSERT INTO search_words_scratch (search_words_scratch) VALUES ('delete-all');
END;

-- The words of the tracks there are: `tracks_fts` holds them all.
INSERT INTO search_words (word, tracks) SELECT term, doc FROM tracks_fts_vocab;
