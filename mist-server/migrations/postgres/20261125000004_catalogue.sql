-- Catalogue: full-text search, likes and playlists.

CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- unaccent() is only STABLE (its dictionary could change), so generated
-- columns and indexes cannot use it directly. Naming the dictionary makes
-- the result depend on its arguments alone, which this wrapper promises.
CREATE OR REPLACE FUNCTION mist_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN public.unaccent('public.unaccent'::regdictionary, $1);

-- Weighted document: title A, artist B, album C, genre D (ts_rank weighs
-- A highest), with the `simple` configuration (no stemming: these are names).
ALTER TABLE tracks ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple'::regconfig, mist_unaccent(coalesce(title, ''))), 'A') ||
    setweight(to_tsvector('simple'::regconfig, mist_unaccent(coalesce(artist, ''))), 'B') ||
    setweight(to_tsvector('simple'::regconfig, mist_unaccent(coalesce(album, ''))), 'C') ||
    setweight(to_tsvector('simple'::regconfig, mist_unaccent(coalesce(genre, ''))), 'D')
) STORED;
-- The same text, folded, for trigram similarity (one typo).
ALTER TABLE tracks ADD COLUMN search_text TEXT GENERATED ALWAYS AS (
    lower(mist_unaccent(coalesce(title, '') || ' ' || coalesce(artist, '') || ' ' || coalesce(album, '') || ' ' ||
                        coalesce(genre, '')))
) STORED;
CREATE INDEX tracks_search_vector ON tracks USING GIN (search_vector);
CREATE INDEX tracks_search_trgm ON tracks USING GIN (search_text gin_trgm_ops);

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
