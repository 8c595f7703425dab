//! Listening: playback sessions, progress reports, the quota and history.
//!
//! The rules (what is charged, what a key needs, when sessions end) are in
//! `crate::quota`; the atomic accounting in `db::sessions`; the key route,
//! where the quota is charged, in `http::tracks`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use mist_core::api::{
    CompleteSessionRequest, ErrorBody, HeartbeatRequest, HeartbeatResponse, HistoryEntry, OpenSessionRequest, Page,
    PlaybackSession, Quota,
};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use super::media::master_url;
use super::page::{PageQuery, Paging, next_cursor};
use super::tracks::{rate_limited, to_api};
use crate::app::AppState;
use crate::db::page::{Cursor, KeyKind, SortKey, split_page};
use crate::db::sessions::{self, DayUsage, Report};
use crate::db::tracks;
use crate::db::users::UserRow;
use crate::http::caller::{AuthToken, AuthUser};
use crate::quota::{self, SessionState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/playback/sessions", post(open))
        .route("/api/v1/playback/sessions/{id}/heartbeat", post(heartbeat))
        .route("/api/v1/playback/sessions/{id}/complete", post(complete))
        .route("/api/v1/me/quota", get(my_quota))
        .route("/api/v1/me/history", get(history))
}

/// Today's quota for `user` (`usage`: read with the user, if it was).
pub async fn current_quota(state: &AppState, user: &UserRow, usage: Option<&DayUsage>) -> ApiResult<Quota> {
    let now = state.clock.now_ms();
    let used = sessions::used_ms(&state.db, &user.id, now, usage).await?;
    Ok(quota::quota(
        user.plan(),
        user.role(),
        used,
        state.settings.free_daily_seconds,
        now,
    ))
}

fn refuse_if_exhausted(quota: &Quota) -> ApiResult<()> {
    if quota::exhausted(quota) {
        metrics::counter!("mist_quota_refusals_total").increment(1);
        return Err(ApiError::QuotaExceeded {
            resets_at: quota.resets_at,
        });
    }
    Ok(())
}

/// Open a session on a ready track. Refused with 429 `quota_exceeded` when
/// nothing is left today. Past the per-user cap of open sessions, the oldest
/// is closed (its reports answer 409 `session_closed`).
#[utoipa::path(post, path = "/api/v1/playback/sessions", tag = "playback", security(("bearer" = [])),
    request_body = OpenSessionRequest,
    responses(
        (status = 201, body = PlaybackSession),
        (status = 404, description = "no such ready track", body = ErrorBody),
        (status = 429, description = "quota_exceeded, or rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn open(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(req): ApiJson<OpenSessionRequest>,
) -> ApiResult<(StatusCode, ApiJson<PlaybackSession>)> {
    let now = state.clock.now_ms();
    rate_limited(&state.playback_limits.session_opens, &user, now, "sessions")?;
    let track = crate::cache::find_playable(&state.cache, &state.db, &req.track_id)
        .await?
        .ok_or(ApiError::NotFound("track"))?;
    let quota = current_quota(&state, &user, None).await?;
    refuse_if_exhausted(&quota)?;
    let cap = i64::from(state.settings.max_open_sessions);
    let session = sessions::open(&state.db, &user.id, &track.id, track.duration_ms, now, cap).await?;
    metrics::counter!("mist_playback_sessions_total").increment(1);
    Ok((
        StatusCode::CREATED,
        ApiJson(PlaybackSession {
            session_id: session.id,
            track_id: track.id.clone(),
            master_url: master_url(&state, &user.id, &track.id),
            key_period_s: quota::key_period_ms(track.segments_per_key) as f64 / 1000.0,
            duration_s: track.duration_ms as f64 / 1000.0,
            quota,
        }),
    ))
}

fn position_ms(position_s: f64) -> ApiResult<i64> {
    if !position_s.is_finite() || !(0.0..=1e7).contains(&position_s) {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "position_s must be a number of seconds ≥ 0",
        ));
    }
    Ok((position_s * 1000.0).round() as i64)
}

fn seq(seq: u64) -> ApiResult<i64> {
    i64::try_from(seq)
        .ok()
        .filter(|s| *s >= 1)
        .ok_or_else(|| ApiError::unprocessable("invalid_field", "seq must be a positive integer"))
}

async fn apply(state: &AppState, user: &UserRow, id: &str, report: Report) -> ApiResult<HeartbeatResponse> {
    let now = state.clock.now_ms();
    rate_limited(&state.playback_limits.heartbeats, user, now, "reports")?;
    let applied = sessions::report(&state.db, id, &user.id, &report, now).await?;
    // An applied report read the day's usage itself.
    let used_ms = applied.map(|applied| applied.used_ms);
    let counted_ms = match applied {
        Some(applied) => {
            if report.complete {
                let session = sessions::find_owned(&state.db, id, &user.id)
                    .await?
                    .ok_or(ApiError::NotFound("session"))?;
                // A play needs the listening (as counted from the clock) and
                // the unlocked audio to match it; at most one an hour.
                let threshold = quota::play_threshold_ms(session.duration_ms);
                if applied.listened_ms >= threshold {
                    sessions::count_play(&state.db, &session, threshold, now).await?;
                }
            }
            applied.counted_ms
        }
        None => {
            let session = sessions::find_owned(&state.db, id, &user.id)
                .await?
                .ok_or(ApiError::NotFound("session"))?;
            match session.state(now) {
                // Completing twice is harmless; anything else is late.
                SessionState::Completed if report.complete => {}
                SessionState::Completed => {
                    return Err(ApiError::conflict(
                        "session_completed",
                        "this session is completed; open a new one",
                    ));
                }
                SessionState::Replaced => {
                    return Err(ApiError::conflict(
                        "session_closed",
                        "this session was closed because newer ones were opened; open a new one",
                    ));
                }
                SessionState::Expired => {
                    return Err(ApiError::conflict(
                        "session_expired",
                        "this session expired without reports; open a new one",
                    ));
                }
                // A replayed, duplicated or out-of-order report: counts nothing.
                SessionState::Open => {}
            }
            0
        }
    };
    let quota = match used_ms {
        Some(used) => quota::quota(user.plan(), user.role(), used, state.settings.free_daily_seconds, now),
        None => current_quota(state, user, None).await?,
    };
    Ok(HeartbeatResponse {
        counted_s: counted_ms as f64 / 1000.0,
        quota,
    })
}

/// Report progress: moves the playhead keys are given around, and counts
/// listening (history, plays) of at most the wall-clock time since the
/// previous report, never skipped audio, and nothing for a stale `seq`.
#[utoipa::path(post, path = "/api/v1/playback/sessions/{id}/heartbeat", tag = "playback", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = HeartbeatRequest,
    responses(
        (status = 200, body = HeartbeatResponse),
        (status = 404, description = "no such session of yours", body = ErrorBody),
        (status = 409, description = "session_completed, session_closed or session_expired", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn heartbeat(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<HeartbeatRequest>,
) -> ApiResult<ApiJson<HeartbeatResponse>> {
    let report = Report {
        seq: seq(req.seq)?,
        position_ms: position_ms(req.position_s)?,
        complete: false,
    };
    Ok(ApiJson(apply(&state, &user, &id, report).await?))
}

/// End a session: counts its last progress and, once, a play.
#[utoipa::path(post, path = "/api/v1/playback/sessions/{id}/complete", tag = "playback", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CompleteSessionRequest,
    responses((status = 200, body = HeartbeatResponse), (status = 404, body = ErrorBody)))]
pub async fn complete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<CompleteSessionRequest>,
) -> ApiResult<ApiJson<HeartbeatResponse>> {
    let report = Report {
        seq: seq(req.seq)?,
        position_ms: position_ms(req.position_s)?,
        complete: true,
    };
    Ok(ApiJson(apply(&state, &user, &id, report).await?))
}

/// Today's listening allowance.
#[utoipa::path(get, path = "/api/v1/me/quota", tag = "playback", security(("bearer" = [])),
    responses((status = 200, body = Quota)))]
pub async fn my_quota(
    State(state): State<AppState>,
    AuthToken { user, usage, .. }: AuthToken,
) -> ApiResult<ApiJson<Quota>> {
    Ok(ApiJson(current_quota(&state, &user, usage.as_ref()).await?))
}

/// What the user listened to, newest first.
#[utoipa::path(get, path = "/api/v1/me/history", tag = "playback", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<HistoryEntry>), (status = 400, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    paging: Paging,
) -> ApiResult<ApiJson<Page<HistoryEntry>>> {
    let scope = format!("history|{}", user.id);
    let limit = paging.limit();
    let before = match Cursor::int_key(paging.after(&scope, KeyKind::Int)?.as_ref()) {
        (Some(at), Some(id)) => Some((at, id)),
        _ => None,
    };
    let rows = sessions::history(&state.db, &user.id, before, limit + 1).await?;
    let (rows, next) = split_page(rows, limit, |last| Cursor {
        scope,
        key: SortKey::Int(last.started_at),
        id: last.id.clone(),
    });
    let ids: Vec<&str> = rows.iter().map(|row| row.track_id.as_str()).collect();
    let found = tracks::find_many(&state.db, &ids).await?;
    // A deleted track's sessions drop out of the history.
    let items = rows
        .iter()
        .filter_map(|row| {
            let track = found.iter().find(|track| track.id == row.track_id)?;
            Some(HistoryEntry {
                session_id: row.id.clone(),
                track: to_api(&state, &user, track),
                listened_s: row.listened_ms as f64 / 1000.0,
                completed: row.completed,
                started_at: row.started(),
            })
        })
        .collect();
    Ok(ApiJson(Page {
        items,
        next_cursor: next_cursor(next),
    }))
}
