-- OpenSubsonic (/rest, docs/subsonic.md): API keys, the per-user app
-- password, and the play queue Subsonic clients and the TUI resume from.

-- Keys are kept only as a SHA-256 hash: a key is 256 random bits, so a
-- plain hash is as hard to invert as the key is to guess.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (key_hash);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);

-- Token auth (md5(password + salt)) needs the password itself, so the app
-- password is stored wrapped with the master key (RFC 3394), never hashed.
CREATE TABLE app_passwords (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    wrapped    BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- One queue per user; track_ids is a JSON array of track ids.
CREATE TABLE play_queues (
    user_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    track_ids     TEXT NOT NULL,
    current_index BIGINT,
    position_ms   BIGINT NOT NULL,
    changed_at    BIGINT NOT NULL,
    changed_by    TEXT NOT NULL
);
