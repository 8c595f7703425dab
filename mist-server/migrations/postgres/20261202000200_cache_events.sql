-- Changes every API node's in-process cache (src/cache.rs) must hear of,
-- whichever node, worker or `mist-server user …` command makes them:
-- NOTIFY on channel `mist_cache` with `user:<id>` or `track:<id>`, sent
-- when the changing transaction commits. Each node LISTENs and forgets what
-- a notification names.
CREATE FUNCTION mist_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
    ELSE
        r := NEW;
    END IF;
    -- TG_ARGV: the kind, and the column holding the id it names.
    PERFORM pg_notify('mist_cache', TG_ARGV[0] || ':' || (to_jsonb(r) ->> TG_ARGV[1]));
    RETURN NULL;
END
$$;

-- Only the columns a request's checks read: `updated_at` alone (the upload
-- quota's lock) changes nothing cached.
CREATE TRIGGER cache_users
    AFTER UPDATE OF email, username, password_hash, role, plan, token_version, disabled_at OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION mist_cache_notify('user', 'id');
CREATE TRIGGER cache_revoked_tokens AFTER INSERT ON revoked_tokens
    FOR EACH ROW EXECUTE FUNCTION mist_cache_notify('user', 'user_id');
-- A ready track's keys and files change only with these columns
-- (`db::tracks::store_ready`); `play_count` and edits of tags do not matter.
CREATE TRIGGER cache_tracks
    AFTER UPDATE OF status, hls_prefix, key_count, segments_per_key, duration_ms OR DELETE ON tracks
    FOR EACH ROW EXECUTE FUNCTION mist_cache_notify('track', 'id');
