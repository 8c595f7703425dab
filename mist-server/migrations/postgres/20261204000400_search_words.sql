-- Search vocabulary: every distinct word of the catalogue (the lexemes of
-- `tracks.search_vector`), how many tracks carry it, and a trigram index.
-- A misspelt term is corrected among words (tens of thousands) instead of
-- among tracks, whose long texts a trigram match had to recheck by the
-- thousand (db/catalogue.rs). Triggers on `tracks` keep it in step, so no
-- code path that writes a track has to remember it.
--
-- `word` sorts by bytes (COLLATE "C") so that "is any word's prefix" is a
-- range of the primary key.
CREATE TABLE search_words (
    word   TEXT COLLATE "C" PRIMARY KEY,
    tracks BIGINT NOT NULL
);
CREATE INDEX search_words_trgm ON search_words USING GIN (word gin_trgm_ops);

-- Every change is one upsert of (word, tracks added or removed) in word
-- order, so concurrent writers lock the words they share in the same order
-- and never deadlock; then words no track carries any more are removed.
-- INSERT and DELETE are per statement (a bulk load is one aggregate, not a
-- round of upserts per row); an edit of the searchable columns is per row.
CREATE FUNCTION mist_search_words_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words AS s (word, tracks)
    SELECT w, count(*) FROM new_rows, unnest(tsvector_to_array(new_rows.search_vector)) AS w
    GROUP BY w ORDER BY w COLLATE "C"
    ON CONFLICT (word) DO UPDATE SET tracks = s.tracks + EXCLUDED.tracks;
    RETURN NULL;
END $$;

CREATE FUNCTION mist_search_words_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words AS s (word, tracks)
    SELECT w, -count(*) FROM old_rows, unnest(tsvector_to_array(old_rows.search_vector)) AS w
    GROUP BY w ORDER BY w COLLATE "C"
    ON CONFLICT (word) DO UPDATE SET tracks = s.tracks + EXCLUDED.tracks;
    DELETE FROM search_words
    WHERE tracks <= 0 AND word IN (SELECT unnest(tsvector_to_array(old_rows.search_vector)) FROM old_rows);
    RETURN NULL;
END $$;

CREATE FUNCTION mist_search_words_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words AS s (word, tracks)
    SELECT w, sum(d) FROM (
        SELECT unnest(tsvector_to_array(NEW.search_vector)) AS w, 1 AS d
        UNION ALL
        SELECT unnest(tsvector_to_array(OLD.search_vector)), -1
    ) c
    GROUP BY w HAVING sum(d) <> 0 ORDER BY w COLLATE "C"
    ON CONFLICT (word) DO UPDATE SET tracks = s.tracks + EXCLUDED.tracks;
    DELETE FROM search_words WHERE tracks <= 0 AND word = ANY (tsvector_to_array(OLD.search_vector));
    RETURN NULL;
END $$;

CREATE TRIGGER tracks_search_words_insert AFTER INSERT ON tracks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mist_search_words_insert();
CREATE TRIGGER tracks_search_words_delete AFTER DELETE ON tracks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mist_search_words_delete();
-- Only when a searchable column is written and the words changed: plays
-- and status updates (the hot path) do not fire it.
CREATE TRIGGER tracks_search_words_update AFTER UPDATE OF title, artist, album, genre ON tracks
    FOR EACH ROW WHEN (OLD.search_vector IS DISTINCT FROM NEW.search_vector)
    EXECUTE FUNCTION mist_search_words_update();

INSERT INTO search_words (word, tracks)
SELECT w, count(*) FROM tracks, unnest(tsvector_to_array(search_vector)) AS w GROUP BY w;

-- Typos are corrected among words now: the folded copy of every track's
-- text and its trigram index (each insert wrote both) are no longer read.
DROP INDEX tracks_search_trgm;
ALTER TABLE tracks DROP COLUMN search_text;
