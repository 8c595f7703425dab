//! `/api/v1/auth/*` and `/api/v1/me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Router, middleware};
use mist_core::api::{AuthResponse, ErrorBody, LoginRequest, RegisterRequest, Role, User};

use super::error::{ApiError, ApiResult};
use super::extract::ApiJson;
use super::rate_limit;
use crate::accounts::{self, AccountError};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::users::UserRow;

pub fn router(state: AppState) -> Router<AppState> {
    let limited = Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route_layer(middleware::from_fn_with_state(state, rate_limit::limit_auth));
    Router::new().merge(limited).route("/api/v1/me", get(me))
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::Invalid(msg) => ApiError::unprocessable("invalid_field", msg),
            AccountError::EmailTaken => ApiError::conflict("email_taken", "that email is already registered"),
            AccountError::UsernameTaken => ApiError::conflict("username_taken", "that username is taken"),
            AccountError::Database(e) => ApiError::internal(e),
            AccountError::Password(e) => ApiError::internal(e),
        }
    }
}

fn issue(state: &AppState, user: &UserRow) -> ApiResult<AuthResponse> {
    let (token, expires_at) = state
        .tokens
        .issue(&user.id, user.role(), chrono::Utc::now())
        .map_err(ApiError::internal)?;
    Ok(AuthResponse {
        token,
        expires_at,
        user: user.to_api(),
    })
}

/// Create an account; answers a token, so the new user is logged in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, body = AuthResponse),
        (status = 409, description = "email or username taken", body = ErrorBody),
        (status = 422, description = "invalid field", body = ErrorBody),
        (status = 429, description = "rate limited", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, ApiJson<AuthResponse>)> {
    let user = accounts::create_user(&state.db, &req.email, &req.username, &req.password, Role::User).await?;
    tracing::info!(user_id = %user.id, "registered");
    Ok((StatusCode::CREATED, ApiJson(issue(&state, &user)?)))
}

/// Exchange an email and password for a token. An unknown email and a wrong
/// password answer the same 401, after the same work.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, description = "wrong email or password", body = ErrorBody),
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

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(AuthUser(user): AuthUser) -> ApiJson<User> {
    ApiJson(user.to_api())
}
