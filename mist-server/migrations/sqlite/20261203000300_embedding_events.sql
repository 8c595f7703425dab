-- SQLite only: the API process keeps every ready track's embedding in memory
-- for similar tracks (src/db/embedding_index.rs) and must hear when another
-- process (the worker, `mist-server reindex-features`) stores or replaces
-- one. Readiness and deletion already send 'track' events (cache_events
-- migration); this adds the features themselves. PostgreSQL answers from its
-- HNSW index and needs nothing.
CREATE TRIGGER cache_track_features_insert AFTER INSERT ON track_features
BEGIN
    INSERT INTO cache_events (kind, key) VALUES ('track', NEW.track_id);
END;
CREATE TRIGGER cache_track_features_update AFTER UPDATE OF embedding ON track_features
BEGIN
    INSERT INTO cache_events (kind, key) VALUES ('track', NEW.track_id);
END;
CREATE TRIGGER cache_track_features_delete AFTER DELETE ON track_features
BEGIN
    INSERT INTO cache_events (kind, key) VALUES ('track', OLD.track_id);
END;
