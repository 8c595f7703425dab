-- Changes an API server's in-process cache (src/cache.rs) must hear of
-- when another process makes them: the `mist-server user …` commands and
-- the worker write to the same database file. The server reads this table
-- every half second and forgets what it names; it deletes what it has read.
-- Its own changes it forgets at once, without waiting for this.
CREATE TABLE cache_events (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL, -- 'user' or 'track'
    key  TEXT NOT NULL
);

-- Only the columns a request's checks read: `updated_at` alone (the upload
-- quota's lock) changes nothing cached.
CREATE TRIGGER cache_users_update AFTER UPDATE OF email, username, password_hash, role, plan, token_version, disabled_at ON users
BEGIN
    INSERT INTO cache_events (kind, key) VALUES ('user', NEW.id);
END;
CREATE TRIGGER cache_users_delete AFTER DELETE ON users
BEGIN
    INSERT INTO cache_events (kind, key) VALUES ('user', OLD.id);
END;
CREATE TRIGGER cache_revoked_tokens AFTER INSERT ON revoked_tokens
BEGIN
    INSERT INTO cache_events (kind, key) VALUES ('user', NEW.user_id);
END;
-- A ready track's keys and files change only with these columns
-- (`db::tracks::store_ready`); `play_count` and edits of tags do not matter.
CREATE TRIGGER cache_tracks_update AFTER UPDATE OF status, hls_prefix, key_count, segments_per_key, duration_ms ON tracks
BEGIN
    INSERT INTO cache_events (kind, key) VALUES ('track', NEW.id);
END;
CREATE TRIGGER cache_tracks_delete AFTER DELETE ON tracks
BEGIN
    INSERT INTO cache_events (kind, key) VALUES ('track', OLD.id);
END;
