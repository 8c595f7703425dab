-- Audio features and the 40-d similarity embedding of each track (design.md §5),
-- written by the ingest worker just before the track becomes ready and by
-- `mist-server reindex-features`.
--
-- The embedding is unit-length, so cosine distance (`<=>`) ranks it; the HNSW
-- index answers nearest-neighbour queries without scanning the table.
-- (Migration 0001 created the `vector` extension.)
CREATE TABLE track_features (
    track_id        TEXT PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
    -- analysis::FEATURE_VERSION when computed; older rows are re-indexed.
    feature_version BIGINT NOT NULL,
    -- mist_core::features::Features as JSON (what GET …/features shows).
    features        TEXT NOT NULL,
    embedding       vector(40) NOT NULL,
    computed_at     BIGINT NOT NULL
);
CREATE INDEX track_features_version ON track_features (feature_version);
CREATE INDEX track_features_embedding ON track_features USING hnsw (embedding vector_cosine_ops);
