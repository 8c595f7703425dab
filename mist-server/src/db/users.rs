//! The `users` table.

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
}

impl UserRow {
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::User)
    }

    pub fn plan(&self) -> Plan {
        Plan::parse(&self.plan).unwrap_or(Plan::Free)
    }

    pub fn to_api(&self) -> User {
        User {
            id: self.id.clone(),
            email: self.email.clone(),
            username: self.username.clone(),
            role: self.role(),
            plan: self.plan(),
            created_at: ms_to_datetime(self.created_at),
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
}

/// The columns of [`UserRow`], as a literal so queries stay `&'static str`
/// (sqlx refuses SQL built at run time unless it is audited).
macro_rules! columns {
    () => {
        "id, email, username, password_hash, role, plan, created_at, updated_at"
    };
}

/// Inserts a user. A taken email or username surfaces as a unique violation
/// (see [`super::is_unique_violation`]).
pub async fn insert(db: &Db, user: &NewUser<'_>) -> Result<UserRow, sqlx::Error> {
    let now = now_ms();
    let sql = concat!(
        "INSERT INTO users (id, email, username, password_hash, role, plan, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'free', $6, $6) RETURNING ",
        columns!()
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, UserRow>(sql)
            .bind(user.id)
            .bind(user.email)
            .bind(user.username)
            .bind(user.password_hash)
            .bind(user.role.as_str())
            .bind(now)
            .fetch_one(pool)
            .await
    })
}

pub async fn find_by_id(db: &Db, id: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM users WHERE id = $1");
    with_pool!(db, pool => sqlx::query_as::<_, UserRow>(sql).bind(id).fetch_optional(pool).await)
}

/// `email` must already be normalised (lower-case).
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM users WHERE email = $1");
    with_pool!(db, pool => sqlx::query_as::<_, UserRow>(sql).bind(email).fetch_optional(pool).await)
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

pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users").fetch_one(pool).await)
}

/// Sets a user's plan and/or role; `None` leaves it as it is.
pub async fn update_plan_role(
    db: &Db,
    id: &str,
    plan: Option<mist_core::api::Plan>,
    role: Option<Role>,
) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = concat!(
        "UPDATE users SET plan = COALESCE($2, plan), role = COALESCE($3, role), updated_at = $4 WHERE id = $1 RETURNING ",
        columns!()
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, UserRow>(sql)
            .bind(id)
            .bind(plan.map(|p| p.as_str()))
            .bind(role.map(|r| r.as_str()))
            .bind(now_ms())
            .fetch_optional(pool)
            .await
    })
}
