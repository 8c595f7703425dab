//! The `users` table, with what hangs off an account: revoked tokens and
//! invite codes.
//!
//! The last active admin is protected here, in the statement that would
//! remove them: demoting, disabling or deleting an admin only happens when
//! another active admin remains. On PostgreSQL those statements first take
//! one transaction-scoped advisory lock, so two admins demoting each other at
//! the same moment cannot both succeed; SQLite runs writers one at a time.

use crate::db::BeginWrite;
use const_format::concatcp;
use mist_core::api::{Plan, Role, User};

use super::{Db, ms_to_datetime, now_ms};
use crate::with_pool;

/// A row of `users`. Holds the password hash, so it never goes on the wire:
/// [`UserRow::to_api`] makes the public view.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub plan: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Tokens issued at another version are refused.
    pub token_version: i64,
    /// When an admin disabled the account; `None` while it is active.
    pub disabled_at: Option<i64>,
}

impl UserRow {
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::User)
    }

    pub fn plan(&self) -> Plan {
        Plan::parse(&self.plan).unwrap_or(Plan::Free)
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    pub fn to_api(&self) -> User {
        User {
            id: self.id.clone(),
            email: self.email.clone(),
            username: self.username.clone(),
            role: self.role(),
            plan: self.plan(),
            created_at: ms_to_datetime(self.created_at),
            disabled: self.is_disabled(),
        }
    }
}

/// What a new user is made of; the email is already normalised and the
/// password already hashed.
pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub plan: Plan,
}

/// The columns of [`UserRow`], as a literal so queries stay `&'static str`
/// (sqlx refuses SQL built at run time unless it is audited).
const COLUMNS: &str =
    "id, email, username, password_hash, role, plan, created_at, updated_at, token_version, disabled_at";

const INSERT: &str = concatcp!(
    "INSERT INTO users (id, email, username, password_hash, role, plan, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING ",
    COLUMNS
);

/// Inserts a user. A taken email or username surfaces as a unique violation
/// (see [`super::is_unique_violation`]).
pub async fn insert(db: &Db, user: &NewUser<'_>) -> Result<UserRow, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query_as::<_, UserRow>(INSERT)
            .bind(user.id)
            .bind(user.email)
            .bind(user.username)
            .bind(user.password_hash)
            .bind(user.role.as_str())
            .bind(user.plan.as_str())
            .bind(now_ms())
            .fetch_one(pool)
            .await
    })
}

/// Inserts a user and spends an invite code in one transaction: `Ok(None)`
/// (nothing written) when the code is unknown, used or expired, so a failed
/// registration never spends a code and a code never makes two accounts.
pub async fn insert_with_invite(db: &Db, user: &NewUser<'_>, code: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let now = now_ms();
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        // The insert first: on SQLite it takes the write lock before the update reads.
        let row = sqlx::query_as::<_, UserRow>(INSERT)
            .bind(user.id)
            .bind(user.email)
            .bind(user.username)
            .bind(user.password_hash)
            .bind(user.role.as_str())
            .bind(user.plan.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let spent = sqlx::query(
            "UPDATE invites SET used_by = $2, used_at = $3 WHERE code = $1 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(code)
        .bind(user.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(row))
    })
}

pub async fn find_by_id(db: &Db, id: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = concatcp!("SELECT ", COLUMNS, " FROM users WHERE id = $1");
    with_pool!(db, pool => sqlx::query_as::<_, UserRow>(sql).bind(id).fetch_optional(pool).await)
}

/// `email` must already be normalised (lower-case).
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = concatcp!("SELECT ", COLUMNS, " FROM users WHERE email = $1");
    with_pool!(db, pool => sqlx::query_as::<_, UserRow>(sql).bind(email).fetch_optional(pool).await)
}

/// Regardless of case, as usernames are unique.
pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = concatcp!("SELECT ", COLUMNS, " FROM users WHERE lower(username) = lower($1)");
    with_pool!(db, pool => sqlx::query_as::<_, UserRow>(sql).bind(username).fetch_optional(pool).await)
}

/// A token's user, whether its id was revoked and the user's usage on a
/// day, in one statement of indexed lookups: this runs on every
/// authenticated request (on PostgreSQL; SQLite's come from the cache).
#[derive(Debug, sqlx::FromRow)]
pub struct TokenHolder {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub revoked: bool,
    /// Milliseconds of audio unlocked on the day asked for (0: none yet);
    /// `None` when the holder came from the cache, which keeps no usage.
    pub used_ms: Option<i64>,
}

pub async fn find_token_holder(
    db: &Db,
    user_id: &str,
    jti: &str,
    day: &str,
) -> Result<Option<TokenHolder>, sqlx::Error> {
    let sql = concatcp!(
        "SELECT ",
        COLUMNS,
        ", EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $2) AS revoked",
        ", COALESCE((SELECT used_ms FROM daily_usage WHERE user_id = $1 AND day = $3), 0) AS used_ms",
        " FROM users WHERE id = $1"
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, TokenHolder>(sql).bind(user_id).bind(jti).bind(day).fetch_optional(pool).await
    })
}

/// Revokes one token until it expires; entries past their expiry are
/// dropped on the way, so the table holds only tokens that could still work.
pub async fn revoke_token(db: &Db, jti: &str, user_id: &str, expires_at_ms: i64) -> Result<(), sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(now_ms())
            .execute(pool)
            .await?;
        sqlx::query("INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(user_id)
            .bind(expires_at_ms)
            .execute(pool)
            .await
            .map(|_| ())
    })
}

/// Makes every token the user holds invalid.
pub async fn revoke_all_tokens(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE users SET token_version = token_version + 1, updated_at = $2 WHERE id = $1";
    with_pool!(db, pool => {
        sqlx::query(sql).bind(id).bind(now_ms()).execute(pool).await.map(|r| r.rows_affected() == 1)
    })
}

/// Sets a new password hash and revokes every token issued before.
pub async fn set_password(db: &Db, id: &str, password_hash: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = concatcp!(
        "UPDATE users SET password_hash = $2, token_version = token_version + 1, updated_at = $3 WHERE id = $1 \
         RETURNING ",
        COLUMNS
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, UserRow>(sql)
            .bind(id)
            .bind(password_hash)
            .bind(now_ms())
            .fetch_optional(pool)
            .await
    })
}

/// Which of an email and a username are already taken (username regardless
/// of case), so registration can say which.
pub async fn taken(db: &Db, email: &str, username: &str) -> Result<(bool, bool), sqlx::Error> {
    let sql = "SELECT \
        EXISTS (SELECT 1 FROM users WHERE email = $1), \
        EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($2))";
    with_pool!(db, pool => {
        sqlx::query_as::<_, (bool, bool)>(sql).bind(email).bind(username).fetch_one(pool).await
    })
}

pub async fn admin_exists(db: &Db) -> Result<bool, sqlx::Error> {
    let sql = "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')";
    with_pool!(db, pool => sqlx::query_scalar::<_, bool>(sql).fetch_one(pool).await)
}

/// For tests: how many rows there are.
#[cfg(any(test, feature = "testing"))]
pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users").fetch_one(pool).await)
}

/// One page of users in id order (ids are time-ordered: oldest first),
/// after the id `after`.
pub async fn list(db: &Db, after: Option<&str>, limit: i64) -> Result<(Vec<UserRow>, Option<String>), sqlx::Error> {
    let sql = concatcp!(
        "SELECT ",
        COLUMNS,
        " FROM users WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
    );
    let rows = with_pool!(db, pool => {
        sqlx::query_as::<_, UserRow>(sql).bind(after).bind(limit + 1).fetch_all(pool).await
    })?;
    Ok(super::page::split_page(rows, limit, |u| u.id.clone()))
}

/// A change that could leave the server without an active admin.
#[derive(Debug, Clone, Copy)]
pub enum AdminChange {
    /// Set the role.
    Role(Role),
    /// Disable (and revoke every token) or enable again.
    Disabled(bool),
    Delete,
}

/// What an [`AdminChange`] did.
#[derive(Debug)]
pub enum Changed {
    /// The user as it is now (`None` after a delete).
    Done(Option<UserRow>),
    NotFound,
    /// Refused: the user is the last active admin.
    LastAdmin,
}

/// The condition that spares the last active admin, for user `$1`: true
/// when the user is not an active admin, or another active admin remains.
macro_rules! spares_last_admin {
    () => {
        "(role <> 'admin' OR disabled_at IS NOT NULL OR EXISTS \
         (SELECT 1 FROM users other WHERE other.role = 'admin' AND other.disabled_at IS NULL AND other.id <> $1))"
    };
}

/// Applies `change` unless it would remove the last active admin. The
/// condition is part of the statement, so it holds whatever runs
/// concurrently (see the module docs).
pub async fn change_guarded(db: &Db, id: &str, change: AdminChange) -> Result<Changed, sqlx::Error> {
    // Every statement binds `$1` the id, `$2` the time (except delete) and, for a role, `$3`.
    let (sql, role): (&'static str, Option<Role>) = match change {
        // Promoting can never remove an admin.
        AdminChange::Role(Role::Admin) => (
            concatcp!(
                "UPDATE users SET role = $3, updated_at = $2 WHERE id = $1 RETURNING ",
                COLUMNS
            ),
            Some(Role::Admin),
        ),
        AdminChange::Role(role) => (
            concatcp!(
                "UPDATE users SET role = $3, updated_at = $2 WHERE id = $1 AND ",
                spares_last_admin!(),
                " RETURNING ",
                COLUMNS
            ),
            Some(role),
        ),
        AdminChange::Disabled(true) => (
            concatcp!(
                "UPDATE users SET disabled_at = COALESCE(disabled_at, $2), token_version = token_version + 1, \
                 updated_at = $2 WHERE id = $1 AND ",
                spares_last_admin!(),
                " RETURNING ",
                COLUMNS
            ),
            None,
        ),
        AdminChange::Disabled(false) => (
            concatcp!(
                "UPDATE users SET disabled_at = NULL, updated_at = $2 WHERE id = $1 RETURNING ",
                COLUMNS
            ),
            None,
        ),
        AdminChange::Delete => (
            concatcp!(
                "DELETE FROM users WHERE id = $1 AND ",
                spares_last_admin!(),
                " RETURNING ",
                COLUMNS
            ),
            None,
        ),
    };
    let deleting = matches!(change, AdminChange::Delete);
    let postgres = matches!(db, Db::Postgres(_));
    let now = now_ms();
    let row = with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        if postgres {
            // Serialises every guarded change on PostgreSQL (see the module docs).
            sqlx::query("SELECT pg_advisory_xact_lock(7305310040)").execute(&mut *tx).await?;
        }
        let mut query = sqlx::query_as::<_, UserRow>(sql).bind(id);
        if !deleting {
            query = query.bind(now);
        }
        if let Some(role) = role {
            query = query.bind(role.as_str());
        }
        let row = query.fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        row
    });
    match row {
        Some(_) if deleting => Ok(Changed::Done(None)),
        Some(row) => Ok(Changed::Done(Some(row))),
        None => match find_by_id(db, id).await? {
            None => Ok(Changed::NotFound),
            Some(_) => Ok(Changed::LastAdmin),
        },
    }
}

/// Whether an active admin other than `id` exists.
pub async fn other_active_admin(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let sql = "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1)";
    with_pool!(db, pool => sqlx::query_scalar::<_, bool>(sql).bind(id).fetch_one(pool).await)
}

/// Sets a user's plan.
pub async fn set_plan(db: &Db, id: &str, plan: Plan) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = concatcp!(
        "UPDATE users SET plan = $2, updated_at = $3 WHERE id = $1 RETURNING ",
        COLUMNS
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, UserRow>(sql)
            .bind(id)
            .bind(plan.as_str())
            .bind(now_ms())
            .fetch_optional(pool)
            .await
    })
}

/// The ids of the tracks a user uploaded (their objects go when they go).
pub async fn track_ids(db: &Db, id: &str) -> Result<Vec<String>, sqlx::Error> {
    let sql = "SELECT id FROM tracks WHERE uploader_id = $1";
    with_pool!(db, pool => sqlx::query_scalar::<_, String>(sql).bind(id).fetch_all(pool).await)
}

/// A new invite code, valid until `expires_at_ms`.
pub async fn insert_invite(
    db: &Db,
    code: &str,
    created_by: Option<&str>,
    expires_at_ms: i64,
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO invites (code, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4)";
    with_pool!(db, pool => {
        sqlx::query(sql)
            .bind(code)
            .bind(created_by)
            .bind(now_ms())
            .bind(expires_at_ms)
            .execute(pool)
            .await
            .map(|_| ())
    })
}

/// Codes that could still be spent at `now` (unused, unexpired), newest
/// first, at most `limit`: `(code, expires_at)`.
pub async fn open_invites(db: &Db, now: i64, limit: i64) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let sql = "SELECT code, expires_at FROM invites WHERE used_at IS NULL AND expires_at > $1 \
               ORDER BY created_at DESC, code LIMIT $2";
    with_pool!(db, pool => sqlx::query_as::<_, (String, i64)>(sql).bind(now).bind(limit).fetch_all(pool).await)
}

/// Deletes an unspent code (a spent one stays: it records who used it).
/// True when there was one.
pub async fn revoke_invite(db: &Db, code: &str) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM invites WHERE code = $1 AND used_at IS NULL";
    let deleted = with_pool!(db, pool => sqlx::query(sql).bind(code).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(deleted == 1)
}

/// Whether `code` could be spent now (exists, unused, unexpired).
pub async fn invite_usable(db: &Db, code: &str) -> Result<bool, sqlx::Error> {
    let sql = "SELECT EXISTS (SELECT 1 FROM invites WHERE code = $1 AND used_at IS NULL AND expires_at > $2)";
    with_pool!(db, pool => sqlx::query_scalar::<_, bool>(sql).bind(code).bind(now_ms()).fetch_one(pool).await)
}

/// The oldest active admin: whom `mist-server import` imports for by default.
pub async fn first_admin(db: &Db) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = concatcp!(
        "SELECT ",
        COLUMNS,
        " FROM users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY created_at, id LIMIT 1"
    );
    with_pool!(db, pool => sqlx::query_as::<_, UserRow>(sql).fetch_optional(pool).await)
}
