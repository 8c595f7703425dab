-- The quota charges what a free account can decrypt (docs/quota.md): the
-- first time on a UTC day a user is given a key of a track, the audio that
-- key covers is added to `daily_usage`, in the same transaction that records
-- the unlock here. A key already unlocked that day is free again.
CREATE TABLE key_unlocks (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    track_id    TEXT NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    day         TEXT NOT NULL,
    key_index   BIGINT NOT NULL,
    -- Milliseconds of audio the key decrypts (what was charged on a free plan).
    covered_ms  BIGINT NOT NULL,
    unlocked_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, track_id, day, key_index)
);

-- Keys now come one per ~6 s segment for new ingests; tracks stored before
-- keep their 5-segment (~30 s) keys, and are charged by them.
ALTER TABLE tracks ADD COLUMN segments_per_key BIGINT NOT NULL DEFAULT 5;

-- Sessions end: completed, replaced by a newer one past the per-user cap
-- (`closed_at`, `closed_reason`), or expired (no report for a while; computed
-- from `last_report_at`, nothing to store).
ALTER TABLE playback_sessions ADD COLUMN closed_at BIGINT;
ALTER TABLE playback_sessions ADD COLUMN closed_reason TEXT;
-- Whether this session's completion counted as a play (the popular list and
-- the feed count these, not bare completions).
ALTER TABLE playback_sessions ADD COLUMN play_counted BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE playback_sessions SET play_counted = TRUE
WHERE completed AND listened_ms >= LEAST(duration_ms / 2, 30000);
CREATE INDEX playback_sessions_user_open ON playback_sessions (user_id, completed, closed_at, started_at);

-- At most one play per user and track an hour: the last one counted.
CREATE TABLE track_plays (
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    track_id       TEXT NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    last_played_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, track_id)
);

-- Replaced by charging each unlock: the per-session key allowance is gone.
DROP TABLE session_keys;
