-- The ingest queue moves to apalis (its own tables, created by its own
-- migrations after these). What stays ours is the job a user polls, one per
-- upload, and the lease that fences every change a worker makes.
--
-- `jobs` becomes `ingest_jobs`: on SQLite, table names ignore case, and
-- apalis's `Jobs` table would otherwise be ours.
ALTER TABLE jobs RENAME TO ingest_jobs;

-- A fresh token per claim: every later change of the job (progress, ready,
-- failed, released for a retry) is conditional on it, so a worker that lost
-- its claim (stalled, or its job was taken over) can change nothing.
ALTER TABLE ingest_jobs ADD COLUMN lease_token TEXT;

-- Where a ready track's HLS files are: each claim writes under its own
-- directory (`tracks/{id}/hls/{token}/`), and `ready` names the one whose
-- keys were stored with it. NULL: the layout before per-claim directories,
-- `tracks/{id}/hls/`.
ALTER TABLE tracks ADD COLUMN hls_prefix TEXT;

-- Expired tickets are collected by age; a user's stored bytes are summed.
CREATE INDEX uploads_expires ON uploads (expires_at);
CREATE INDEX uploads_user ON uploads (user_id);
-- Failed tracks' originals are collected by age.
CREATE INDEX tracks_status_updated ON tracks (status, updated_at);
