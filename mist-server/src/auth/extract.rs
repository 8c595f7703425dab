//! [`AuthUser`]: the caller, from `Authorization: Bearer <token>`.
//!
//! The user row is read on every request, so a deleted user or a changed
//! role or plan takes effect at once rather than when the token expires.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use mist_core::api::Role;

use super::token::TokenError;
use crate::app::AppState;
use crate::db::users::{self, UserRow};
use crate::http::error::ApiError;

/// A caller with a valid token whose user still exists.
#[derive(Debug, Clone)]
pub struct AuthUser(pub UserRow);

/// A caller who is an admin.
#[derive(Debug, Clone)]
pub struct AdminUser(pub UserRow);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("missing_token", "this endpoint needs Authorization: Bearer <token>")
        })?;
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
        let user = users::find_by_id(&state.db, &claims.sub)
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid_token", "token is not valid"))?;
        Ok(AuthUser(user))
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
