-- Catalogue: full-text search, likes and playlists.

-- Search. `tracks_fts` holds a copy of the searchable columns (FTS5 folds
-- case and diacritics with unicode61). Its rowids come from
-- `track_search_ids`, an INTEGER PRIMARY KEY table: the implicit rowid of
-- `tracks` (TEXT primary key) may change on VACUUM, so it cannot be used.
-- Triggers keep the index in step with every write to `tracks`, so no code
-- path that changes a track has to remember the index.
CREATE TABLE track_search_ids (
    rowid    INTEGER PRIMARY KEY,
    track_id TEXT NOT NULL UNIQUE
);

CREATE VIRTUAL TABLE tracks_fts USING fts5 (
    title, artist, album, genre,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- The index's vocabulary, for the one-typo lookup (see db/catalogue.rs).
CREATE VIRTUAL TABLE tracks_fts_vocab USING fts5vocab ('tracks_fts', 'row');

CREATE TRIGGER tracks_search_insert AFTER INSERT ON tracks BEGIN
    INSERT INTO track_search_ids (track_id) VALUES (new.id);
    INSERT INTO tracks_fts (rowid, title, artist, album, genre)
    VALUES ((SELECT rowid FROM track_search_ids WHERE track_id = new.id), new.title, new.artist, new.album, new.genre);
END;

CREATE TRIGGER tracks_search_update AFTER UPDATE OF title, artist, album, genre ON tracks BEGIN
    DELETE FROM tracks_fts WHERE rowid = (SELECT rowid FROM track_search_ids WHERE track_id = old.id);
    INSERT INTO tracks_fts (rowid, title, artist, album, genre)
    VALUES ((SELECT rowid FROM track_search_ids WHERE track_id = new.id), new.title, new.artist, new.album, new.genre);
END;

CREATE TRIGGER tracks_search_delete AFTER DELETE ON tracks BEGIN
    DELETE FROM tracks_fts WHERE rowid = (SELECT rowid FROM track_search_ids WHERE track_id = old.id);
    DELETE FROM track_search_ids WHERE track_id = old.id;
END;

INSERT INTO track_search_ids (track_id) SELECT id FROM tracks;
INSERT INTO tracks_fts (rowid, title, artist, album, genre)
SELECT s.rowid, t.title, t.artist, t.album, t.genre FROM tracks t JOIN track_search_ids s ON s.track_id = t.id;

-- Browsing and filters.
CREATE INDEX tracks_status_title ON tracks (status, lower(title), id);
CREATE INDEX tracks_status_artist ON tracks (status, lower(artist), id);
CREATE INDEX tracks_status_genre ON tracks (status, lower(genre), id);
CREATE INDEX tracks_status_plays ON tracks (status, play_count, id);

-- Likes: one row per (user, track); liking twice is a no-op.
CREATE TABLE likes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    track_id   TEXT NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, track_id)
);
CREATE INDEX likes_user_recent ON likes (user_id, created_at, track_id);

CREATE TABLE playlists (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    public      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX playlists_owner ON playlists (owner_id, created_at, id);

-- Entries; positions are 0..n-1 with no gaps (every writer locks the
-- playlist row first, see db/catalogue.rs). A track is in a playlist once.
CREATE TABLE playlist_tracks (
    playlist_id TEXT NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    track_id    TEXT NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (playlist_id, position),
    UNIQUE (playlist_id, track_id)
);
CREATE INDEX playlist_tracks_track ON playlist_tracks (track_id);
