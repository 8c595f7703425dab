//! Similarity by sound: `GET /api/v1/tracks/{id}/similar`,
//! `GET /api/v1/tracks/{id}/features` and the personal feed
//! `GET /api/v1/me/feed`.
//!
//! All three read the embeddings the ingest worker stores
//! (`crate::analysis`, `db::embeddings`) and list ready tracks only. A track
//! ingested before features existed has none until `mist-server
//! reindex-features` runs: it answers 404 `not_found` here.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use mist_core::api::{ErrorBody, FeedItem, FeedReason, Page, SimilarTrack, TrackFeatures};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::tracks::{to_api, visible_track};
use crate::analysis;
use crate::app::AppState;
use crate::db::embeddings::{self, Exclude};
use crate::db::ms_to_datetime;
use crate::db::page::clamp_limit;
use crate::http::caller::AuthUser;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tracks/{id}/similar", get(similar))
        .route("/api/v1/tracks/{id}/features", get(features))
        .route("/api/v1/me/feed", get(feed))
}

const SIMILAR_DEFAULT_LIMIT: i64 = 10;
const FEED_DEFAULT_LIMIT: i64 = 20;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LimitQuery {
    /// How many tracks (1–100; similar: 10 by default, feed: 20).
    limit: Option<i64>,
}

impl LimitQuery {
    fn get(&self, default: i64) -> usize {
        clamp_limit(self.limit, default) as usize
    }
}

/// Ready tracks that sound like this one, nearest first by cosine distance
/// between embeddings; never the track itself. One page (`next_cursor` is
/// always null).
#[utoipa::path(get, path = "/api/v1/tracks/{id}/similar", tag = "tracks", security(("bearer" = [])),
    params(("id" = String, Path), LimitQuery),
    responses(
        (status = 200, body = Page<SimilarTrack>),
        (status = 404, description = "no such track, or it has no features yet", body = ErrorBody),
    ))]
pub async fn similar(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<ApiJson<Page<SimilarTrack>>> {
    let track = visible_track(&state, &user, &id).await?;
    let stored = embeddings::find(&state.db, &track.id)
        .await?
        .ok_or(ApiError::NotFound("track features"))?;
    let nearest = embeddings::nearest(
        &state.db,
        &state.cache.embeddings,
        &stored.embedding,
        Exclude::Track(&track.id),
        q.get(SIMILAR_DEFAULT_LIMIT),
    )
    .await?;
    let items = nearest
        .into_iter()
        .map(|(row, distance)| SimilarTrack {
            track: to_api(&state, &user, &row),
            distance,
        })
        .collect();
    Ok(ApiJson(Page {
        items,
        next_cursor: None,
    }))
}

/// The named feature values of a track and its embedding.
#[utoipa::path(get, path = "/api/v1/tracks/{id}/features", tag = "tracks", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = TrackFeatures),
        (status = 404, description = "no such track, or it has no features yet", body = ErrorBody),
    ))]
pub async fn features(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<TrackFeatures>> {
    let track = visible_track(&state, &user, &id).await?;
    let stored = embeddings::find(&state.db, &track.id)
        .await?
        .ok_or(ApiError::NotFound("track features"))?;
    let features = serde_json::from_str(&stored.features_json).map_err(|e| {
        ApiError::internal(anyhow::Error::new(e).context(format!(
            "stored features of track {} do not parse (feature version {}; run reindex-features)",
            track.id, stored.feature_version
        )))
    })?;
    Ok(ApiJson(TrackFeatures {
        track_id: track.id,
        feature_version: stored.feature_version,
        computed_at: ms_to_datetime(stored.computed_at),
        features,
        embedding: stored.embedding.to_vec(),
    }))
}

/// Tracks for the caller: those nearest to the average sound of what they
/// liked and listened to (`reason: similar`), leaving out everything they
/// already liked or started, then popular and newest tracks they have not
/// heard (`reason: popular`) when there is no history or the similar ones
/// run out.
#[utoipa::path(get, path = "/api/v1/me/feed", tag = "tracks", security(("bearer" = [])),
    params(LimitQuery),
    responses((status = 200, body = Page<FeedItem>), (status = 401, body = ErrorBody)))]
pub async fn feed(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<ApiJson<Page<FeedItem>>> {
    let limit = q.get(FEED_DEFAULT_LIMIT);
    let seeds = embeddings::taste_seeds(&state.db, &user.id).await?;
    let mut items = Vec::with_capacity(limit);
    if let Some(taste) = analysis::taste_vector(&seeds) {
        let nearest = embeddings::nearest(
            &state.db,
            &state.cache.embeddings,
            &taste,
            Exclude::HeardOrLikedBy(&user.id),
            limit,
        )
        .await?;
        items.extend(nearest.into_iter().map(|(row, distance)| FeedItem {
            track: to_api(&state, &user, &row),
            reason: FeedReason::Similar,
            distance: Some(distance),
        }));
    }
    if items.len() < limit {
        let popular = embeddings::popular_unheard(&state.db, &user.id, limit + items.len()).await?;
        for row in popular {
            if items.len() == limit {
                break;
            }
            if items.iter().any(|item: &FeedItem| item.track.id == row.id) {
                continue;
            }
            items.push(FeedItem {
                track: to_api(&state, &user, &row),
                reason: FeedReason::Popular,
                distance: None,
            });
        }
    }
    Ok(ApiJson(Page {
        items,
        next_cursor: None,
    }))
}
