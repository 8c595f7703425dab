-- pgvector carries the audio embeddings (similar tracks); create it up front
-- so a server without it fails at the first migration, not at the first upload.
CREATE EXTENSION IF NOT EXISTS vector;

-- Users. Times are Unix milliseconds; ids are opaque strings.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    plan          TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'premium')),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Emails are stored lower-cased; usernames keep their case but are unique
-- regardless of it.
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
