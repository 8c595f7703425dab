-- Accounts hardening: token revocation, disabled accounts, invite codes.

-- Bumped on password change, password reset and disable: every token
-- carries the version it was issued at, and an older one is refused.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
-- Set while an admin has disabled the account (Unix ms); NULL when active.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;

-- Single tokens ended by logout, until they would have expired anyway.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

-- Single-use invite codes for `registration = "invite"`.
CREATE TABLE invites (
    code       TEXT PRIMARY KEY,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_by    TEXT,
    used_at    BIGINT
);
