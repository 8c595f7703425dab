//! Administration (admins only): users (`/api/v1/admin/users…`: list, plan
//! and role, disable and enable, delete, set a password) and invite codes
//! (`/api/v1/admin/invites`). The rules are [`crate::accounts`]'s, the same
//! `mist-server user …` and `mist-server invite …` apply: the last active
//! admin is never demoted, disabled or deleted (409 `last_admin`).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post};
use mist_core::api::{
    AdminUserEntry, CreateInviteRequest, ErrorBody, Invite, Page, SetPasswordRequest, UpdateUserRequest, User,
};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use super::page::{PageQuery, Paging, next_cursor};
use crate::accounts;
use crate::app::AppState;
use crate::db::page::{Cursor, KeyKind, SortKey};
use crate::db::{sessions, users};
use crate::http::caller::AdminUser;
use crate::quota;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/users", get(list_users))
        .route("/api/v1/admin/users/{id}", patch(update_user).delete(delete_user))
        .route("/api/v1/admin/users/{id}/disable", post(disable_user))
        .route("/api/v1/admin/users/{id}/enable", post(enable_user))
        .route("/api/v1/admin/users/{id}/password", post(set_password))
        .route("/api/v1/admin/invites", post(create_invite).get(list_invites))
        .route("/api/v1/admin/invites/{code}", delete(revoke_invite))
}

/// Every user, oldest first, one page at a time, each with today's
/// listening (the quota the user would see).
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<AdminUserEntry>), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    paging: Paging,
) -> ApiResult<ApiJson<Page<AdminUserEntry>>> {
    const SCOPE: &str = "users";
    let after = paging.after(SCOPE, KeyKind::Text)?;
    let (rows, next) = users::list(&state.db, Cursor::text_key(after.as_ref()), paging.limit()).await?;
    let now = state.clock.now_ms();
    let used = match (rows.first(), rows.last()) {
        (Some(first), Some(last)) => sessions::used_ms_between(&state.db, &first.id, &last.id, now).await?,
        _ => Default::default(),
    };
    let free_daily_seconds = state.settings.free_daily_seconds;
    Ok(ApiJson(Page {
        items: rows
            .iter()
            .map(|u| AdminUserEntry {
                user: u.to_api(),
                today: quota::quota(
                    u.plan(),
                    u.role(),
                    used.get(&u.id).copied().unwrap_or(0),
                    free_daily_seconds,
                    now,
                ),
            })
            .collect(),
        next_cursor: next_cursor(next.map(|id| Cursor {
            scope: SCOPE.into(),
            key: SortKey::Text(id),
            id: String::new(),
        })),
    }))
}

/// Set a user's plan and/or role.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdateUserRequest,
    responses(
        (status = 200, body = User),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "last_admin: demoting the last active admin", body = ErrorBody),
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> ApiResult<ApiJson<User>> {
    let mut user = users::find_by_id(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let _forget = state.cache.forget_user_after(&id);
    if let Some(role) = req.role {
        user = accounts::set_role(&state.db, &id, role).await?;
    }
    if let Some(plan) = req.plan {
        user = accounts::set_plan(&state.db, &id, plan).await?;
    }
    Ok(ApiJson(user.to_api()))
}

/// Disable an account: it cannot log in, and every token it holds answers
/// 401 `account_disabled` at once.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/disable", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = User),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "last_admin", body = ErrorBody),
    ))]
pub async fn disable_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<User>> {
    let _forget = state.cache.forget_user_after(&id);
    let user = accounts::set_disabled(&state.db, &id, true).await?;
    tracing::info!(user_id = %id, admin_id = %admin.id, "user disabled");
    Ok(ApiJson(user.to_api()))
}

/// Enable a disabled account again (it logs in afresh: old tokens stay dead).
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/enable", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn enable_user(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<User>> {
    let _forget = state.cache.forget_user_after(&id);
    Ok(ApiJson(accounts::set_disabled(&state.db, &id, false).await?.to_api()))
}

/// Delete an account with its tracks (and their stored objects), sessions,
/// likes and playlists.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "last_admin", body = ErrorBody),
    ))]
pub async fn delete_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    // The user's tracks go too.
    let _forget = state.cache.clear_after();
    accounts::delete_user(&state.db, &state.store, &id).await?;
    tracing::info!(user_id = %id, admin_id = %admin.id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Set a user's password; every token the user holds stops working.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/password", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = SetPasswordRequest,
    responses(
        (status = 204),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn set_password(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<SetPasswordRequest>,
) -> ApiResult<StatusCode> {
    let _forget = state.cache.forget_user_after(&id);
    accounts::set_password(&state.db, &id, &req.password).await?;
    tracing::info!(user_id = %id, admin_id = %admin.id, "password reset by an admin");
    Ok(StatusCode::NO_CONTENT)
}

/// The invite codes that could still be spent, newest first (at most 200;
/// never a next page).
#[utoipa::path(get, path = "/api/v1/admin/invites", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Page<Invite>), (status = 403, body = ErrorBody)))]
pub async fn list_invites(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
) -> ApiResult<ApiJson<Page<Invite>>> {
    let open = accounts::open_invites(&state.db).await?;
    Ok(ApiJson(Page {
        items: open
            .into_iter()
            .map(|(code, expires_at)| Invite { code, expires_at })
            .collect(),
        next_cursor: None,
    }))
}

/// Take back an unspent invite code.
#[utoipa::path(delete, path = "/api/v1/admin/invites/{code}", tag = "admin", security(("bearer" = [])),
    params(("code" = String, Path)),
    responses(
        (status = 204),
        (status = 403, body = ErrorBody),
        (status = 404, description = "no such unspent code", body = ErrorBody),
    ))]
pub async fn revoke_invite(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if accounts::revoke_invite(&state.db, &code).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("invite"))
    }
}

/// Make a single-use invite code (for `registration = "invite"`).
#[utoipa::path(post, path = "/api/v1/admin/invites", tag = "admin", security(("bearer" = [])),
    request_body = CreateInviteRequest,
    responses((status = 201, body = Invite), (status = 403, body = ErrorBody)))]
pub async fn create_invite(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, ApiJson<Invite>)> {
    // The body is optional: none means the default lifetime.
    let req: CreateInviteRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CreateInviteRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::unprocessable("invalid_field", format!("invalid request body: {e}")))?
    };
    let (code, expires_at) = accounts::create_invite(&state.db, Some(&admin.id), req.expires_in_hours).await?;
    Ok((StatusCode::CREATED, ApiJson(Invite { code, expires_at })))
}
