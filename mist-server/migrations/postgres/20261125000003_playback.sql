-- Playback sessions, the keys each session was given, and daily usage.

-- A session is one listen of one track by one user. Its id is random and
-- unguessable; every report is checked against its owner. Counted time comes
-- only from monotonic progress (see src/quota.rs).
CREATE TABLE playback_sessions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    track_id        TEXT NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    duration_ms     BIGINT NOT NULL,
    last_seq        BIGINT NOT NULL DEFAULT 0,
    position_ms     BIGINT NOT NULL DEFAULT 0,
    last_report_at  BIGINT NOT NULL,
    last_counted_ms BIGINT NOT NULL DEFAULT 0,
    listened_ms     BIGINT NOT NULL DEFAULT 0,
    completed       BOOLEAN NOT NULL DEFAULT FALSE,
    completed_at    BIGINT,
    started_at      BIGINT NOT NULL
);
CREATE INDEX playback_sessions_user_track ON playback_sessions (user_id, track_id);
CREATE INDEX playback_sessions_user_started ON playback_sessions (user_id, started_at);
CREATE INDEX playback_sessions_completed ON playback_sessions (completed_at);

-- Distinct keys handed out under a session, to bound how fast a client that
-- jumps around can collect them.
CREATE TABLE session_keys (
    session_id TEXT NOT NULL REFERENCES playback_sessions (id) ON DELETE CASCADE,
    key_index  BIGINT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, key_index)
);

-- Listening counted per user per UTC day ('YYYY-MM-DD').
CREATE TABLE daily_usage (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day     TEXT NOT NULL,
    used_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
