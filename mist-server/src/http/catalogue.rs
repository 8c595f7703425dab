//! The catalogue: `GET /api/v1/tracks` (search, filters, sorts),
//! `GET /api/v1/tracks/popular`, `GET /api/v1/genres`,
//! and the uploader's or an admin's `PATCH` and `DELETE /api/v1/tracks/{id}`.
//! `GET /api/v1/tracks/{id}` lives in [`super::tracks`]. The SQL, and how
//! search forgives accents, prefixes and typos per engine, is in
//! [`crate::db::catalogue`].

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use mist_core::api::{ErrorBody, NameCount, Page, PopularTrack, Role, Track, TrackQuery, UpdateTrackRequest};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::page::{PageQuery, Paging, next_cursor};
use super::tracks::{to_api, visible_track};
use crate::app::AppState;
use crate::db::albums::{self, LibraryEdit};
use crate::db::catalogue;
use crate::db::now_ms;
use crate::db::page::{Cursor, KeyKind, SortKey};
use crate::db::tracks::{self, TrackEdit};
use crate::db::users::UserRow;
use crate::http::caller::AuthUser;
use crate::text;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tracks", get(list))
        .route("/api/v1/tracks/popular", get(popular))
        .route("/api/v1/tracks/{id}", axum::routing::patch(update).delete(delete))
        .route("/api/v1/genres", get(genres))
}

/// Ready tracks: searched, filtered and sorted, one page at a time.
#[utoipa::path(get, path = "/api/v1/tracks", tag = "tracks", security(("bearer" = [])),
    params(TrackQuery),
    responses((status = 200, body = Page<Track>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(query): ApiQuery<TrackQuery>,
    paging: Paging,
) -> ApiResult<ApiJson<Page<Track>>> {
    let mut db_query = catalogue::TrackQuery {
        q: query.q.clone(),
        genre: query.genre.clone(),
        artist: query.artist.clone(),
        album: query.album.clone(),
        sort: query.sort,
        limit: paging.limit(),
        after: None,
    };
    db_query.after = paging.after(&db_query.scope(), catalogue::sort_key(db_query.sort()).0)?;
    let (rows, next) = catalogue::list_tracks(&state.db, &db_query).await?;
    Ok(ApiJson(Page {
        items: rows.iter().map(|r| to_api(&state, &user, r)).collect(),
        next_cursor: next_cursor(next),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PopularQuery {
    /// The window in days: 7 (default) or 30.
    days: Option<i64>,
}

/// Ready tracks by completed listens in the last 7 or 30 days, most first.
#[utoipa::path(get, path = "/api/v1/tracks/popular", tag = "tracks", security(("bearer" = [])),
    params(PopularQuery, PageQuery),
    responses((status = 200, body = Page<PopularTrack>), (status = 400, body = ErrorBody)))]
pub async fn popular(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(query): ApiQuery<PopularQuery>,
    paging: Paging,
) -> ApiResult<ApiJson<Page<PopularTrack>>> {
    let days = query.days.unwrap_or(7);
    if days != 7 && days != 30 {
        return Err(ApiError::bad_request("invalid_query", "days must be 7 or 30"));
    }
    let scope = format!("popular|{days}");
    let after = paging.after(&scope, KeyKind::Int)?;
    let since = now_ms() - days * 24 * 3600 * 1000;
    let (rows, next) = catalogue::popular(&state.db, since, after.as_ref(), paging.limit(), &scope).await?;
    Ok(ApiJson(Page {
        items: rows
            .iter()
            .map(|(row, plays)| PopularTrack {
                track: to_api(&state, &user, row),
                plays: *plays,
            })
            .collect(),
        next_cursor: next_cursor(next),
    }))
}

/// Genres of ready tracks with how many tracks each, A–Z.
#[utoipa::path(get, path = "/api/v1/genres", tag = "tracks", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<NameCount>), (status = 400, body = ErrorBody)))]
pub async fn genres(
    State(state): State<AppState>,
    AuthUser(_user): AuthUser,
    paging: Paging,
) -> ApiResult<ApiJson<Page<NameCount>>> {
    const SCOPE: &str = "genres";
    let after = paging.after(SCOPE, KeyKind::Text)?;
    let (rows, next) = catalogue::list_genres(&state.db, Cursor::text_key(after.as_ref()), paging.limit()).await?;
    Ok(ApiJson(Page {
        items: rows
            .into_iter()
            .map(|r| NameCount {
                name: r.name,
                track_count: r.track_count,
            })
            .collect(),
        next_cursor: next_cursor(next.map(|name| Cursor {
            scope: SCOPE.into(),
            key: SortKey::Text(name),
            id: String::new(),
        })),
    }))
}

/// The track, if the caller may change it: 404 when they cannot see it,
/// 403 when they can but it is not theirs.
pub(super) async fn owned_track(state: &AppState, user: &UserRow, id: &str) -> ApiResult<crate::db::tracks::TrackRow> {
    let row = visible_track(state, user, id).await?;
    if row.uploader_id != user.id && user.role() != Role::Admin {
        return Err(ApiError::Forbidden(
            "only the uploader or an admin may change this track".into(),
        ));
    }
    Ok(row)
}

/// A trimmed field (see [`crate::text`]); the title may not be blank, the
/// others may (a blank one clears the field).
fn field<'a>(name: &str, value: Option<&'a str>, required: bool) -> ApiResult<Option<&'a str>> {
    let Some(v) = value else {
        return Ok(None);
    };
    let v = text::line(name, v, text::MAX_TRACK_FIELD_CHARS)?;
    if required && v.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_field",
            format!("{name} cannot be empty"),
        ));
    }
    Ok(Some(v))
}

/// The numbers a track may carry (see [`number`]).
pub(super) const TRACK_NUMBERS: std::ops::RangeInclusive<i64> = 1..=999;
pub(super) const DISC_NUMBERS: std::ops::RangeInclusive<i64> = 1..=99;
pub(super) const YEARS: std::ops::RangeInclusive<i64> = 1000..=2999;

/// A number field: 0 clears it, else it must be in `range`.
pub(super) fn number(name: &str, value: Option<i64>, range: std::ops::RangeInclusive<i64>) -> ApiResult<Option<i64>> {
    match value {
        Some(v) if v != 0 && !range.contains(&v) => Err(ApiError::unprocessable(
            "invalid_field",
            format!("{name} must be 0 (none) or {}–{}", range.start(), range.end()),
        )),
        other => Ok(other),
    }
}

/// Edit a track's metadata (uploader or admin). Search follows at once.
/// Album artist, year and genre apply to the album: a new album artist or
/// album title moves the track to that album (made if new; the old one goes
/// when it is left empty).
#[utoipa::path(patch, path = "/api/v1/tracks/{id}", tag = "tracks", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdateTrackRequest,
    responses(
        (status = 200, body = Track),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateTrackRequest>,
) -> ApiResult<ApiJson<Track>> {
    owned_track(&state, &user, &id).await?;
    let edit = TrackEdit {
        title: field("title", req.title.as_deref(), true)?,
        artist: field("artist", req.artist.as_deref(), false)?,
        album: field("album", req.album.as_deref(), false)?,
        genre: field("genre", req.genre.as_deref(), false)?,
    };
    let library = LibraryEdit {
        album_artist: field("album_artist", req.album_artist.as_deref(), false)?,
        track_number: number("track_number", req.track_number, TRACK_NUMBERS)?,
        disc_number: number("disc_number", req.disc_number, DISC_NUMBERS)?,
        year: number("year", req.year, YEARS)?,
        composer: field("composer", req.composer.as_deref(), false)?,
        genre: edit.genre,
        relink: edit.artist.is_some() || edit.album.is_some(),
    };
    tracks::update(&state.db, &id, &edit)
        .await?
        .ok_or(ApiError::NotFound("track"))?;
    albums::apply_edit(&state.db, &id, &library).await?;
    let row = crate::db::tracks::find(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("track"))?;
    Ok(ApiJson(to_api(&state, &user, &row)))
}

/// Delete a track (uploader or admin): its rows first, so nothing serves it
/// any more, then every stored object under `tracks/{id}/`.
#[utoipa::path(delete, path = "/api/v1/tracks/{id}", tag = "tracks", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let row = owned_track(&state, &user, &id).await?;
    let _forget = state.cache.forget_track_after(&id);
    if !tracks::delete(&state.db, &id).await? {
        return Err(ApiError::NotFound("track"));
    }
    // The id came from the database (a UUID), so the prefix is safe to use.
    let removed = state.store.delete_prefix(&format!("tracks/{id}/")).await?;
    tracing::info!(track_id = %id, objects = removed, "track deleted");
    crate::ingest::library::track_deleted(&state.db, &state.store, &row).await?;
    Ok(StatusCode::NO_CONTENT)
}
