-- The music library: artists and albums as records, and what a track's file
-- says beyond its title (numbers, year, composer, lyrics, cover, loudness,
-- the original's SHA-256). See db/albums.rs.

-- One row per artist name, folded for case and accents (`key`, made in
-- Rust by db::albums::fold_key so both engines agree).
CREATE TABLE artists (
    id         TEXT PRIMARY KEY,
    key        TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- An album is its album artist and title, folded (`key`): "Various Artists"
-- compilations group by that album artist. Loudness is recomputed from its
-- ready tracks' gating blocks whenever one joins or leaves.
CREATE TABLE albums (
    id            TEXT PRIMARY KEY,
    key           TEXT NOT NULL UNIQUE,
    title         TEXT NOT NULL,
    artist        TEXT,
    artist_id     TEXT REFERENCES artists (id) ON DELETE SET NULL,
    year          BIGINT,
    genre         TEXT,
    -- SHA-256 (hex) of the original picture; thumbnails under covers/{hash}/.
    cover_hash    TEXT,
    loudness_lufs DOUBLE PRECISION,
    true_peak     DOUBLE PRECISION,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX albums_artist ON albums (artist_id);

ALTER TABLE tracks ADD COLUMN album_id TEXT REFERENCES albums (id) ON DELETE SET NULL;
ALTER TABLE tracks ADD COLUMN artist_id TEXT REFERENCES artists (id) ON DELETE SET NULL;
ALTER TABLE tracks ADD COLUMN album_artist TEXT;
ALTER TABLE tracks ADD COLUMN track_number BIGINT;
ALTER TABLE tracks ADD COLUMN disc_number BIGINT;
ALTER TABLE tracks ADD COLUMN year BIGINT;
ALTER TABLE tracks ADD COLUMN composer TEXT;
-- SHA-256 (hex) of the uploaded original: one uploader never has the same bytes twice.
ALTER TABLE tracks ADD COLUMN sha256 TEXT;
-- EBU R128 integrated loudness (NULL: silent or not measured), linear true
-- peak, and the gating-block histogram album loudness is merged from
-- (mist_core::library::loudness::GatingBlocks::to_bytes).
ALTER TABLE tracks ADD COLUMN loudness_lufs DOUBLE PRECISION;
ALTER TABLE tracks ADD COLUMN true_peak DOUBLE PRECISION;
ALTER TABLE tracks ADD COLUMN loudness_blocks BYTEA;
-- Lyrics: plain text, and timed lines as JSON [{"time_ms", "text"}] when known.
ALTER TABLE tracks ADD COLUMN lyrics_text TEXT;
ALTER TABLE tracks ADD COLUMN lyrics_lines TEXT;
ALTER TABLE tracks ADD COLUMN cover_hash TEXT;

CREATE INDEX tracks_album ON tracks (album_id, disc_number, track_number);
CREATE INDEX tracks_artist_id ON tracks (artist_id, play_count);
CREATE UNIQUE INDEX tracks_uploader_sha256 ON tracks (uploader_id, sha256);
