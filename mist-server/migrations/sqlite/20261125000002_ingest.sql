-- Tracks, uploads, the job queue and the content keys.

CREATE TABLE tracks (
    id            TEXT PRIMARY KEY,
    uploader_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    artist        TEXT,
    album         TEXT,
    genre         TEXT,
    duration_ms   BIGINT NOT NULL DEFAULT 0,
    status        TEXT NOT NULL DEFAULT 'processing' CHECK (status IN ('processing', 'ready', 'failed')),
    error         TEXT,
    -- Storage key of the uploaded file, kept whatever happens to the job.
    original_key  TEXT NOT NULL,
    segment_count BIGINT NOT NULL DEFAULT 0,
    key_count     BIGINT NOT NULL DEFAULT 0,
    play_count    BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX tracks_uploader ON tracks (uploader_id);
CREATE INDEX tracks_status_created ON tracks (status, created_at);

-- An announced upload. The track id is fixed here, so the original lands at
-- its final key and no retry can ever make a second track.
CREATE TABLE uploads (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    track_id      TEXT NOT NULL UNIQUE,
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    declared_size BIGINT NOT NULL,
    storage_key   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

-- Jobs: the user-visible status and the queue in one table. A worker claims
-- a job by setting a lease; a worker that dies stops renewing it, and the
-- job is claimed again when the lease runs out.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    -- One job per upload: completing twice finds the first.
    upload_id    TEXT NOT NULL UNIQUE REFERENCES uploads (id) ON DELETE CASCADE,
    track_id     TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status       TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'processing', 'ready', 'failed')),
    progress     BIGINT NOT NULL DEFAULT 0,
    error        TEXT,
    -- What the job needs beyond its ids, as JSON (for ingest: the uploader's metadata).
    payload      TEXT NOT NULL DEFAULT '{}',
    attempts     BIGINT NOT NULL DEFAULT 0,
    worker_id    TEXT,
    lease_until  BIGINT,
    run_after    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_claimable ON jobs (status, run_after);

-- Content keys, wrapped with the server master key (never stored in clear).
-- Key k covers segments [k*K, (k+1)*K) of every rendition.
CREATE TABLE track_keys (
    track_id    TEXT NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    key_index   BIGINT NOT NULL,
    wrapped_key BLOB NOT NULL,
    iv          BLOB NOT NULL,
    PRIMARY KEY (track_id, key_index)
);
