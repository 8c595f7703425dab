//! Administration: `PATCH /api/v1/admin/users/{id}` sets a user's plan or role.

use axum::Router;
use axum::extract::State;
use axum::routing::patch;
use mist_core::api::{ErrorBody, UpdateUserRequest, User};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::auth::AdminUser;
use crate::db::users;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/admin/users/{id}", patch(update_user))
}

#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdateUserRequest,
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> ApiResult<ApiJson<User>> {
    let user = users::update_plan_role(&state.db, &id, req.plan, req.role)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(ApiJson(user.to_api()))
}
