-- Prefix indexes for the full-text table: a prefix query of one to three
-- characters ("ber"*, the first letters of a word being typed) reads one
-- doclist instead of merging the doclists of every word it starts, which
-- at 100k tracks was thousands of words (db/catalogue.rs). About a tenth
-- more index. FTS5 options are fixed at creation, so the table is made
-- again from `tracks`; the triggers of 20261125000004 name it, not hold it,
-- and keep working.
DROP TABLE tracks_fts_vocab;
DROP TABLE tracks_fts;
CREATE VIRTUAL TABLE tracks_fts USING fts5 (
    title, artist, album, genre,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);
CREATE VIRTUAL TABLE tracks_fts_vocab USING fts5vocab ('tracks_fts', 'row');
INSERT INTO tracks_fts (rowid, title, artist, album, genre)
SELECT s.rowid, t.title, t.artist, t.album, t.genre FROM tracks t JOIN track_search_ids s ON s.track_id = t.id;
