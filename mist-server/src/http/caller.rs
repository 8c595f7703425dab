//! [`AuthUser`]: the caller, from `Authorization: Bearer <token>`.
//!
//! The user row is read with whether the token was revoked (and, in the
//! same statement, the day's usage), through the hot-path cache
//! (`crate::cache`), which forgets a user whenever their row changes or one
//! of their tokens is revoked; so a deleted or disabled user, a changed role
//! or plan, a logout or a password change takes effect at once rather than
//! when the token expires.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use mist_core::api::Role;

use super::error::ApiError;
use crate::app::AppState;
use crate::auth::token::{Claims, TokenError};
use crate::db::sessions::DayUsage;
use crate::db::users::UserRow;

/// A caller with a valid token whose user still exists and is active.
#[derive(Debug, Clone)]
pub struct AuthUser(pub UserRow);

/// A caller who is an admin.
#[derive(Debug, Clone)]
pub struct AdminUser(pub UserRow);

/// As [`AuthUser`], with the token's claims (logout revokes this token) and
/// the user's usage today when it was read with the user (PostgreSQL reads
/// both in one statement; a key re-fetch then needs no other).
#[derive(Debug, Clone)]
pub struct AuthToken {
    pub user: UserRow,
    pub claims: Claims,
    pub usage: Option<DayUsage>,
}

/// The bearer token of a request, checked against the database.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<AuthToken, ApiError> {
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing_token", "this endpoint needs Authorization: Bearer <token>"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "Authorization must be `Bearer <token>`"))?;
    let claims = state.tokens.verify(token).map_err(|e| match e {
        TokenError::Expired => ApiError::unauthorized("token_expired", "token expired; log in again"),
        _ => ApiError::unauthorized("invalid_token", "token is not valid"),
    })?;
    let day = crate::quota::day_of(state.clock.now_ms());
    let holder = crate::cache::find_token_holder(&state.cache, &state.db, &claims.sub, &claims.jti, &day)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "token is not valid"))?;
    if holder.user.is_disabled() {
        return Err(ApiError::unauthorized("account_disabled", "this account is disabled"));
    }
    if holder.revoked || claims.ver != holder.user.token_version {
        return Err(ApiError::unauthorized(
            "token_revoked",
            "this token was revoked (logged out or password changed); log in again",
        ));
    }
    Ok(AuthToken {
        usage: holder.used_ms.map(|used_ms| DayUsage { day, used_ms }),
        user: holder.user,
        claims,
    })
}

impl FromRequestParts<AppState> for AuthToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(AuthUser(authenticate(parts, state).await?.user))
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        if user.role() != Role::Admin {
            return Err(ApiError::Forbidden("this needs an admin".into()));
        }
        Ok(AdminUser(user))
    }
}
