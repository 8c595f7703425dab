//! The `/api/v1` routes behind Subsonic sign-in and resume: API keys
//! (`/api/v1/me/api-keys`), the app password (`/api/v1/me/app-password`)
//! and the play queue (`/api/v1/me/play-queue`, the same one
//! `getPlayQueue`/`savePlayQueue` read and write). Bearer-token routes in
//! the API's own JSON and error shape.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use mist_core::api::{
    ApiKey, AppPassword, CreateApiKeyRequest, CreatedApiKey, ErrorBody, PlayQueue, SavePlayQueueRequest,
};

use super::auth;
use crate::app::AppState;
use crate::db::subsonic::{self as db, PlayQueueRow};
use crate::db::{ms_to_datetime, tracks};
use crate::http::caller::AuthUser;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath};

/// A user's keys are few (one per app or device); the cap bounds the table.
pub const MAX_API_KEYS: i64 = 50;
/// The longest queue kept (Subsonic apps queue whole libraries at times).
pub const MAX_QUEUE: usize = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/api-keys", get(list_api_keys).post(create_api_key))
        .route("/api/v1/me/api-keys/{id}", delete(delete_api_key))
        .route(
            "/api/v1/me/app-password",
            post(create_app_password).delete(delete_app_password),
        )
        .route("/api/v1/me/play-queue", get(get_play_queue).put(put_play_queue))
}

/// Make an API key for an OpenSubsonic app; the key is shown this once.
#[utoipa::path(post, path = "/api/v1/me/api-keys", tag = "subsonic", security(("bearer" = [])),
    request_body = CreateApiKeyRequest,
    responses((status = 201, body = CreatedApiKey), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(req): ApiJson<CreateApiKeyRequest>,
) -> ApiResult<(StatusCode, ApiJson<CreatedApiKey>)> {
    let name = crate::text::line("name", &req.name, 100)?;
    if name.is_empty() {
        return Err(ApiError::unprocessable("invalid_field", "name cannot be empty"));
    }
    if db::count_api_keys(&state.db, &user.id).await? >= MAX_API_KEYS {
        return Err(ApiError::conflict(
            "too_many_api_keys",
            format!("at most {MAX_API_KEYS} API keys; revoke one first"),
        ));
    }
    let key = auth::new_api_key();
    let now = state.clock.now_ms();
    let row = db::insert_api_key(&state.db, &user.id, name, &auth::api_key_hash(&key), now).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedApiKey {
            id: row.id,
            name: row.name,
            key,
            created_at: ms_to_datetime(row.created_at),
        }),
    ))
}

/// The caller's API keys, oldest first, without their secrets.
#[utoipa::path(get, path = "/api/v1/me/api-keys", tag = "subsonic", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiKey>)))]
pub async fn list_api_keys(State(state): State<AppState>, AuthUser(user): AuthUser) -> ApiResult<ApiJson<Vec<ApiKey>>> {
    let rows = db::api_keys(&state.db, &user.id).await?;
    Ok(ApiJson(
        rows.into_iter()
            .map(|r| ApiKey {
                id: r.id,
                name: r.name,
                created_at: ms_to_datetime(r.created_at),
                last_used_at: r.last_used_at.map(ms_to_datetime),
            })
            .collect(),
    ))
}

/// Revoke one of the caller's API keys: apps using it are signed out at once.
#[utoipa::path(delete, path = "/api/v1/me/api-keys/{id}", tag = "subsonic", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_api_key(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if !db::delete_api_key(&state.db, &user.id, &id).await? {
        return Err(ApiError::NotFound("API key"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Make (or replace) the caller's app password, for Subsonic apps that sign
/// in with a username and password; shown this once.
#[utoipa::path(post, path = "/api/v1/me/app-password", tag = "subsonic", security(("bearer" = [])),
    responses((status = 201, body = AppPassword)))]
pub async fn create_app_password(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> ApiResult<(StatusCode, ApiJson<AppPassword>)> {
    let secret = auth::new_app_password();
    let wrapped = mist_core::crypto::wrap_key(&state.settings.master_key.0, &secret);
    db::set_app_password(&state.db, &user.id, &wrapped, state.clock.now_ms()).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(AppPassword {
            username: user.username.clone(),
            password: auth::app_password_text(&secret),
        }),
    ))
}

/// Remove the caller's app password: password and token sign-in stop.
#[utoipa::path(delete, path = "/api/v1/me/app-password", tag = "subsonic", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_app_password(State(state): State<AppState>, AuthUser(user): AuthUser) -> ApiResult<StatusCode> {
    if !db::delete_app_password(&state.db, &user.id).await? {
        return Err(ApiError::NotFound("app password"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's saved play queue (404 when none was saved).
#[utoipa::path(get, path = "/api/v1/me/play-queue", tag = "subsonic", security(("bearer" = [])),
    responses((status = 200, body = PlayQueue), (status = 404, body = ErrorBody)))]
pub async fn get_play_queue(State(state): State<AppState>, AuthUser(user): AuthUser) -> ApiResult<ApiJson<PlayQueue>> {
    let row = db::play_queue(&state.db, &user.id)
        .await?
        .ok_or(ApiError::NotFound("play queue"))?;
    Ok(ApiJson(to_api(&row)?))
}

pub fn to_api(row: &PlayQueueRow) -> ApiResult<PlayQueue> {
    Ok(PlayQueue {
        track_ids: serde_json::from_str(&row.track_ids).map_err(ApiError::internal)?,
        current_index: row.current_index.and_then(|i| u64::try_from(i).ok()),
        position_ms: u64::try_from(row.position_ms).unwrap_or(0),
        changed_at: ms_to_datetime(row.changed_at),
        changed_by: row.changed_by.clone(),
    })
}

/// Replace the caller's play queue. Every id must be a ready track; the
/// current index must fall inside the queue.
#[utoipa::path(put, path = "/api/v1/me/play-queue", tag = "subsonic", security(("bearer" = [])),
    request_body = SavePlayQueueRequest,
    responses((status = 200, body = PlayQueue), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_play_queue(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(req): ApiJson<SavePlayQueueRequest>,
) -> ApiResult<ApiJson<PlayQueue>> {
    let changed_by = crate::text::line("changed_by", req.changed_by.as_deref().unwrap_or("mist"), 100)?;
    let ids: Vec<&str> = req.track_ids.iter().map(String::as_str).collect();
    let row = save_queue(&state, &user.id, &ids, req.current_index, req.position_ms, changed_by).await?;
    Ok(ApiJson(to_api(&row)?))
}

/// The one way a queue is saved (REST and `savePlayQueue`).
pub async fn save_queue(
    state: &AppState,
    user_id: &str,
    ids: &[&str],
    current_index: Option<u64>,
    position_ms: u64,
    changed_by: &str,
) -> ApiResult<PlayQueueRow> {
    if ids.len() > MAX_QUEUE {
        return Err(ApiError::unprocessable(
            "invalid_field",
            format!("a play queue holds at most {MAX_QUEUE} tracks"),
        ));
    }
    if current_index.is_some_and(|i| i >= ids.len() as u64) {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "current_index is outside the queue",
        ));
    }
    let mut found = Vec::new();
    for chunk in ids.chunks(100) {
        found.extend(tracks::find_many(&state.db, chunk).await?);
    }
    let ready: std::collections::HashSet<&str> = found
        .iter()
        .filter(|t| t.status() == mist_core::api::TrackStatus::Ready)
        .map(|t| t.id.as_str())
        .collect();
    if ids.iter().any(|id| !ready.contains(id)) {
        return Err(ApiError::NotFound("track"));
    }
    let row = PlayQueueRow {
        track_ids: serde_json::to_string(ids).map_err(ApiError::internal)?,
        current_index: current_index.and_then(|i| i64::try_from(i).ok()),
        position_ms: i64::try_from(position_ms.min(1_000_000_000)).unwrap_or(0),
        changed_at: state.clock.now_ms(),
        changed_by: changed_by.to_owned(),
    };
    db::save_play_queue(&state.db, user_id, &row).await?;
    Ok(row)
}
