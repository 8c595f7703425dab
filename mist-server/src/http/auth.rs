//! `/api/v1/auth/*` (register, login, logout), `/api/v1/me` and
//! `/api/v1/me/password`.
//!
//! Registration follows the server's mode (`open`, `invite`, `closed`;
//! docs/operations.md). It still answers 409 for a taken email: without
//! email delivery there is no way to refuse a second account for an address
//! without saying so, so enumeration is bounded by the auth rate limit
//! instead, and `invite` or `closed` close it to strangers (the invite code
//! is checked before the email is looked up).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Router, middleware};
use mist_core::api::{AuthResponse, ChangePasswordRequest, ErrorBody, LoginRequest, RegisterBody, User};

use super::error::{ApiError, ApiResult};
use super::extract::ApiJson;
use super::rate_limit;
use crate::accounts::{self, AccountError};
use crate::app::AppState;
use crate::db::users::{self, UserRow};
use crate::http::caller::{AuthToken, AuthUser};

pub fn router(state: AppState) -> Router<AppState> {
    let limited = Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        // Guessing the current password is guessing a password.
        .route("/api/v1/me/password", post(change_password))
        .route_layer(middleware::from_fn_with_state(state, rate_limit::limit_auth));
    Router::new()
        .merge(limited)
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/me", get(me))
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        let forbidden = |code, err: AccountError| ApiError::Forbidden403 {
            code,
            message: err.to_string(),
        };
        match err {
            AccountError::Invalid(msg) => ApiError::unprocessable("invalid_field", msg),
            AccountError::EmailTaken => ApiError::conflict("email_taken", "that email is already registered"),
            AccountError::UsernameTaken => ApiError::conflict("username_taken", "that username is taken"),
            e @ AccountError::RegistrationClosed => forbidden("registration_closed", e),
            e @ AccountError::InviteRequired => forbidden("invite_required", e),
            e @ AccountError::InvalidInvite => forbidden("invalid_invite", e),
            e @ AccountError::Disabled => forbidden("account_disabled", e),
            e @ AccountError::WrongPassword => forbidden("wrong_password", e),
            AccountError::NotFound => ApiError::NotFound("user"),
            e @ AccountError::LastAdmin => ApiError::conflict("last_admin", e.to_string()),
            AccountError::Database(e) => ApiError::internal(e),
            AccountError::Password(e) => ApiError::internal(e),
            AccountError::Storage(e) => ApiError::internal(e),
        }
    }
}

/// A fresh token for `user`, at the user's current token version.
pub fn issue(state: &AppState, user: &UserRow) -> ApiResult<AuthResponse> {
    let (token, expires_at) = state
        .tokens
        .issue(&user.id, user.role(), user.token_version, chrono::Utc::now())
        .map_err(ApiError::internal)?;
    Ok(AuthResponse {
        token,
        expires_at,
        user: user.to_api(),
    })
}

/// Create an account; answers a token, so the new user is logged in.
/// `invite` is needed when the server's registration is `invite`.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterBody,
    responses(
        (status = 201, body = AuthResponse),
        (status = 403, description = "registration_closed, invite_required or invalid_invite", body = ErrorBody),
        (status = 409, description = "email or username taken", body = ErrorBody),
        (status = 422, description = "invalid field", body = ErrorBody),
        (status = 429, description = "rate limited", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RegisterBody>,
) -> ApiResult<(StatusCode, ApiJson<AuthResponse>)> {
    let account = &req.account;
    let user = accounts::register(
        &state.db,
        state.settings.registration,
        state.settings.default_plan,
        &account.email,
        &account.username,
        &account.password,
        req.invite.as_deref(),
    )
    .await?;
    tracing::info!(user_id = %user.id, invited = req.invite.is_some(), "registered");
    Ok((StatusCode::CREATED, ApiJson(issue(&state, &user)?)))
}

/// Exchange an email and password for a token. An unknown email and a wrong
/// password answer the same 401, after the same work.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, description = "wrong email or password", body = ErrorBody),
        (status = 403, description = "account_disabled (the password was right)", body = ErrorBody),
        (status = 429, description = "rate limited", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<ApiJson<AuthResponse>> {
    match accounts::authenticate(&state.db, &req.email, &req.password).await? {
        Some(user) => Ok(ApiJson(issue(&state, &user)?)),
        None => Err(ApiError::unauthorized("invalid_credentials", "wrong email or password")),
    }
}

/// End this token: it answers 401 `token_revoked` from now on. Other
/// tokens of the account (other devices) keep working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, token: AuthToken) -> ApiResult<StatusCode> {
    let AuthToken { user, claims, .. } = token;
    let _forget = state.cache.forget_user_after(&user.id);
    if claims.jti.is_empty() {
        // A token from before token ids: it can only be ended with all the others.
        users::revoke_all_tokens(&state.db, &user.id).await?;
    } else {
        users::revoke_token(&state.db, &claims.jti, &user.id, claims.exp.saturating_mul(1000)).await?;
    }
    tracing::info!(user_id = %user.id, "logged out");
    Ok(StatusCode::NO_CONTENT)
}

/// Change the caller's password. Every token of the account, this one
/// included, stops working; the answer carries a new token.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, body = ErrorBody),
        (status = 403, description = "wrong_password", body = ErrorBody),
        (status = 422, description = "the new password is too short or long", body = ErrorBody),
        (status = 429, description = "rate limited", body = ErrorBody),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<ApiJson<AuthResponse>> {
    let _forget = state.cache.forget_user_after(&user.id);
    let user = accounts::change_password(&state.db, &user, &req.current_password, &req.new_password).await?;
    tracing::info!(user_id = %user.id, "password changed; older tokens revoked");
    Ok(ApiJson(issue(&state, &user)?))
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(AuthUser(user): AuthUser) -> ApiJson<User> {
    ApiJson(user.to_api())
}
