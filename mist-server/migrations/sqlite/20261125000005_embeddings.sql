-- Audio features and the 40-d similarity embedding of each track (design.md §5),
-- written by the ingest worker just before the track becomes ready and by
-- `mist-server reindex-features`.
--
-- SQLite has no vector index here: `embedding` holds 40 little-endian f32
-- (160 bytes) and similarity queries scan every row in Rust (exact; fine up to
-- about 100k tracks, see docs/api.md). PostgreSQL keeps a pgvector column with
-- an HNSW index instead.
CREATE TABLE track_features (
    track_id        TEXT PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
    -- analysis::FEATURE_VERSION when computed; older rows are re-indexed.
    feature_version BIGINT NOT NULL,
    -- mist_core::features::Features as JSON (what GET …/features shows).
    features        TEXT NOT NULL,
    embedding       BLOB NOT NULL,
    computed_at     BIGINT NOT NULL
);
CREATE INDEX track_features_version ON track_features (feature_version);
