//! Tracks: `GET /api/v1/tracks/{id}` and the content keys
//! `GET /api/v1/tracks/{id}/keys/{k}`, where the listening quota is charged
//! (docs/quota.md), and the track objects every handler answers with, whose
//! `master_url` is signed for the user who asked.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mist_core::api::{ErrorBody, QUOTA_HEADER, Role, Track, TrackStatus};
use mist_core::crypto;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use super::media::master_url;
use crate::app::AppState;
use crate::db::sessions::{self, Unlock};
use crate::db::tracks::{self, TrackRow};
use crate::db::users::UserRow;
use crate::http::caller::{AuthToken, AuthUser};
use crate::quota::{self, UserLimiter};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tracks/{id}", get(track))
        .route("/api/v1/tracks/{id}/keys/{k}", get(key))
}

/// The public view of a track for `user`, with its master URL (signed for
/// them) once it is ready.
pub fn to_api(state: &AppState, user: &UserRow, row: &TrackRow) -> Track {
    let url = (row.status() == TrackStatus::Ready).then(|| master_url(state, &user.id, &row.id));
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
    Ok(ApiJson(to_api(&state, &user, &row)))
}

/// The 16-byte AES-128 key `k` of a ready track, with the user's quota
/// after it in the `Mist-Quota` header.
///
/// The first time on a UTC day a user is given a key, the audio it covers is
/// charged to the day's usage, atomically with the check of what remains;
/// asking again that day is free (docs/quota.md). On an unlimited plan
/// (premium, admin) a valid token is enough, so standard HLS players work
/// unchanged. Everyone else also needs an open session on the track whose
/// playhead is in key `k`'s period or the one before (`no_session` /
/// `key_out_of_range`), and quota left today (`quota_exceeded`).
#[utoipa::path(get, path = "/api/v1/tracks/{id}/keys/{k}", tag = "tracks", security(("bearer" = [])),
    params(("id" = String, Path), ("k" = i64, Path, description = "key index")),
    responses(
        (status = 200, content_type = "application/octet-stream", body = Vec<u8>,
            headers(("mist-quota" = String, description = "the quota after this key, as JSON"))),
        (status = 401, body = ErrorBody),
        (status = 403, description = "no_session or key_out_of_range", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 429, description = "quota_exceeded, or rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn key(
    State(state): State<AppState>,
    AuthToken { user, usage, .. }: AuthToken,
    ApiPath((id, k)): ApiPath<(String, i64)>,
) -> ApiResult<Response> {
    let now = state.clock.now_ms();
    rate_limited(&state.playback_limits.key_requests, &user, now, "keys")?;
    let track = crate::cache::find_playable(&state.cache, &state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("track"))?;
    if k < 0 || k >= track.key_count {
        return Err(ApiError::NotFound("key"));
    }
    let period = quota::key_period_ms(track.segments_per_key);
    if !quota::unlimited(user.plan(), user.role()) {
        require_session(&state, &user, &track.id, k, period, now).await?;
    }
    let stored = crate::cache::find_key(&state.cache, &state.db, &id, k)
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    let key = crypto::unwrap_key(&state.settings.master_key.0, &stored.wrapped)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("cannot unwrap key {k} of track {id}: {e}")))?;
    let covered = quota::key_charge_ms(k, track.key_count, period, track.duration_ms);
    let day = quota::day_of(now);
    // Given today already: free, and nothing to write (the row stays).
    let used = if state.cache.unlocked(&user.id, &track.id, &day, k) {
        sessions::used_ms(&state.db, &user.id, now, usage.as_ref()).await?
    } else {
        unlock(&state, &user, &track.id, k, covered, now).await?
    };
    let after = quota::quota(user.plan(), user.role(), used, state.settings.free_daily_seconds, now);
    metrics::counter!("mist_keys_served_total").increment(1);
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        key.to_vec(),
    )
        .into_response();
    if let Ok(Ok(value)) = serde_json::to_string(&after).map(HeaderValue::try_from) {
        response.headers_mut().insert(QUOTA_HEADER, value);
    }
    Ok(response)
}

/// Records key `k` of a track as given to `user` today, charging what it
/// covers the first time; the day's usage after it.
pub(crate) async fn unlock(
    state: &AppState,
    user: &UserRow,
    track_id: &str,
    k: i64,
    covered: i64,
    now: i64,
) -> ApiResult<i64> {
    let limit = quota::limit_ms(user.plan(), user.role(), state.settings.free_daily_seconds);
    let epoch = state.cache.epoch();
    let used = match sessions::unlock_key(&state.db, &user.id, track_id, k, covered, limit, now).await? {
        Unlock::Charged { used_ms } => used_ms,
        Unlock::AlreadyUnlocked => sessions::used_ms(&state.db, &user.id, now, None).await?,
        Unlock::Refused => {
            metrics::counter!("mist_quota_refusals_total").increment(1);
            return Err(ApiError::QuotaExceeded {
                resets_at: quota::resets_at(now),
            });
        }
    };
    state
        .cache
        .put_unlocked(epoch, &user.id, track_id, &quota::day_of(now), k);
    Ok(used)
}

/// Refuses with 429 and `Retry-After` when `user` is over `limiter`'s rate.
pub fn rate_limited(limiter: &UserLimiter, user: &UserRow, now: i64, scope: &'static str) -> ApiResult<()> {
    limiter.check(&user.id, now).map_err(|retry_after_s| {
        metrics::counter!("mist_rate_limited_total", "scope" => scope).increment(1);
        ApiError::TooManyRequests { retry_after_s }
    })
}

/// A limited plan's key `k` needs an open session on the track whose
/// reported playhead is near it.
async fn require_session(
    state: &AppState,
    user: &UserRow,
    track_id: &str,
    k: i64,
    period: i64,
    now: i64,
) -> ApiResult<()> {
    let open = sessions::open_on_track(&state.db, &user.id, track_id, now).await?;
    if open.is_empty() {
        return Err(ApiError::Forbidden403 {
            code: "no_session",
            message: "open a playback session on this track to get its keys".into(),
        });
    }
    if !open.iter().any(|s| quota::key_in_window(k, s.position_ms, period)) {
        return Err(ApiError::Forbidden403 {
            code: "key_out_of_range",
            message: "this key is not near your playback position; report progress first".into(),
        });
    }
    Ok(())
}
