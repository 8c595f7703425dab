-- A key's first fetch in one statement (db/sessions.rs, `unlock_key`): the
-- unlock row and the charge to the day's usage were BEGIN, two statements
-- and COMMIT, four round trips; called as one `SELECT`, this runs in that
-- statement's own transaction, so both still stand or fall together.
--
-- Returns the day's usage after the charge, -1 when the key was unlocked
-- today already (free, nothing written) and -2 when the usage had reached
-- `p_limit` (nothing given, nothing kept: the unlock row is deleted again).
-- Concurrent unlocks serialise as before: on the unlock row's key, and on
-- the usage row, whose WHERE is checked against its latest version.
CREATE FUNCTION mist_unlock_key(
    p_user TEXT, p_track TEXT, p_day TEXT, p_key BIGINT, p_covered BIGINT, p_at BIGINT, p_limit BIGINT
) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    v_used BIGINT;
BEGIN
    INSERT INTO key_unlocks (user_id, track_id, day, key_index, covered_ms, unlocked_at)
    VALUES (p_user, p_track, p_day, p_key, p_covered, p_at)
    ON CONFLICT (user_id, track_id, day, key_index) DO NOTHING;
    IF NOT FOUND THEN
        RETURN -1;
    END IF;
    INSERT INTO daily_usage AS u (user_id, day, used_ms) SELECT p_user, p_day, p_covered WHERE p_limit > 0
    ON CONFLICT (user_id, day) DO UPDATE SET used_ms = u.used_ms + excluded.used_ms
    WHERE u.used_ms < p_limit
    RETURNING u.used_ms INTO v_used;
    IF v_used IS NULL THEN
        DELETE FROM key_unlocks
        WHERE user_id = p_user AND track_id = p_track AND day = p_day AND key_index = p_key;
        RETURN -2;
    END IF;
    RETURN v_used;
END
$$;
