//! Tracks: `GET /api/v1/tracks/{id}` and the content keys
//! `GET /api/v1/tracks/{id}/keys/{k}`.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mist_core::api::{ErrorBody, Role, Track, TrackStatus};
use mist_core::crypto;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::sessions;
use crate::db::tracks::{self, TrackRow};
use crate::db::users::UserRow;
use crate::quota;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tracks/{id}", get(track))
        .route("/api/v1/tracks/{id}/keys/{k}", get(key))
}

/// The absolute URL of a track's master playlist.
pub fn master_url(state: &AppState, track_id: &str) -> String {
    format!(
        "{}/media/tracks/{track_id}/hls/master.m3u8",
        state.settings.public_url.as_str().trim_end_matches('/')
    )
}

/// The public view of a track, with its master URL once it is ready.
pub fn to_api(state: &AppState, row: &TrackRow) -> Track {
    let url = (row.status() == TrackStatus::Ready).then(|| master_url(state, &row.id));
    row.to_api(url)
}

/// A track the caller may see: ready tracks to everyone, others only to the
/// uploader and admins (they follow their own processing and failures).
pub async fn visible_track(state: &AppState, user: &UserRow, id: &str) -> ApiResult<TrackRow> {
    tracks::find(&state.db, id)
        .await?
        .filter(|t| t.status() == TrackStatus::Ready || t.uploader_id == user.id || user.role() == Role::Admin)
        .ok_or(ApiError::NotFound("track"))
}

#[utoipa::path(get, path = "/api/v1/tracks/{id}", tag = "tracks", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Track), (status = 404, body = ErrorBody)))]
pub async fn track(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Track>> {
    let row = visible_track(&state, &user, &id).await?;
    Ok(ApiJson(to_api(&state, &row)))
}

/// The 16-byte AES-128 key `k` of a ready track.
///
/// On an unlimited plan (premium, admin) a valid token is enough, so
/// standard HLS players work unchanged. Everyone else needs an open session
/// on the track whose playhead is in key `k`'s period or the one before
/// (`no_session` / `key_out_of_range`), a session young enough keys left in
/// its allowance, and quota left today (`quota_exceeded`). See docs/quota.md.
#[utoipa::path(get, path = "/api/v1/tracks/{id}/keys/{k}", tag = "tracks", security(("bearer" = [])),
    params(("id" = String, Path), ("k" = i64, Path, description = "key index")),
    responses(
        (status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "no_session, key_out_of_range or key_rate_limited", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 429, description = "quota_exceeded", body = ErrorBody),
    ))]
pub async fn key(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath((id, k)): ApiPath<(String, i64)>,
) -> ApiResult<Response> {
    let track = tracks::find(&state.db, &id)
        .await?
        .filter(|t| t.status() == TrackStatus::Ready)
        .ok_or(ApiError::NotFound("track"))?;
    if k < 0 || k >= track.key_count {
        return Err(ApiError::NotFound("key"));
    }
    if !quota::unlimited(&user) {
        gate_key(&state, &user, &track, k).await?;
    }
    let stored = tracks::find_key(&state.db, &id, k)
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    let key = crypto::unwrap_key(&state.settings.master_key.0, &stored.wrapped)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("cannot unwrap key {k} of track {id}: {e}")))?;
    metrics::counter!("mist_keys_served_total").increment(1);
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        key.to_vec(),
    )
        .into_response())
}

/// The session and quota checks for a user on a limited plan.
async fn gate_key(state: &AppState, user: &UserRow, track: &TrackRow, k: i64) -> ApiResult<()> {
    let open = sessions::open_on_track(&state.db, &user.id, &track.id).await?;
    if open.is_empty() {
        return Err(ApiError::Forbidden403 {
            code: "no_session",
            message: "open a playback session on this track to get its keys".into(),
        });
    }
    let Some(session) = open.iter().find(|s| quota::key_in_window(k, s.position_ms)) else {
        return Err(ApiError::Forbidden403 {
            code: "key_out_of_range",
            message: "this key is not near your playback position; report progress first".into(),
        });
    };
    let quota = crate::http::playback::current_quota(state, user).await?;
    if quota::exhausted(&quota) {
        metrics::counter!("mist_quota_refusals_total").increment(1);
        return Err(ApiError::QuotaExceeded {
            resets_at: quota.resets_at,
        });
    }
    if !sessions::grant_key(&state.db, session, k, state.clock.now_ms()).await? {
        return Err(ApiError::Forbidden403 {
            code: "key_rate_limited",
            message: "too many keys too fast for this session".into(),
        });
    }
    Ok(())
}
