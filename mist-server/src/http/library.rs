//! A user's library: likes (`/api/v1/me/likes`) and playlists
//! (`/api/v1/playlists`, `/api/v1/me/playlists`).
//!
//! A private playlist is visible to its owner only: to anyone else it does
//! not exist (404), so its id leaks nothing. A public one can be read by any
//! user and changed by its owner only (403).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, put};
use mist_core::api::{
    AddPlaylistTrackRequest, CreatePlaylistRequest, ErrorBody, MovePlaylistTrackRequest, Page, Playlist, PlaylistEntry,
    Track, UpdatePlaylistRequest,
};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use super::page::{PageQuery, Paging, next_cursor};
use super::tracks::{to_api, visible_track};
use crate::app::AppState;
use crate::db::library::{self, PlaylistRow};
use crate::db::ms_to_datetime;
use crate::db::page::{Cursor, KeyKind, SortKey};
use crate::db::users::UserRow;
use crate::http::caller::AuthUser;
use crate::text;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/likes", get(likes))
        .route("/api/v1/me/likes/{track_id}", put(like).delete(unlike))
        .route("/api/v1/me/playlists", get(my_playlists))
        .route("/api/v1/playlists", axum::routing::post(create_playlist))
        .route(
            "/api/v1/playlists/{id}",
            get(playlist).patch(update_playlist).delete(delete_playlist),
        )
        .route("/api/v1/playlists/{id}/tracks", get(playlist_tracks).post(add_track))
        .route(
            "/api/v1/playlists/{id}/tracks/{track_id}",
            patch(move_track).delete(remove_track),
        )
}

/// Like a ready track (idempotent).
#[utoipa::path(put, path = "/api/v1/me/likes/{track_id}", tag = "library", security(("bearer" = [])),
    params(("track_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn like(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(track_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    ready_track(&state, &user, &track_id).await?;
    library::like(&state.db, &user.id, &track_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unlike a track (idempotent: unliking what is not liked is fine).
#[utoipa::path(delete, path = "/api/v1/me/likes/{track_id}", tag = "library", security(("bearer" = [])),
    params(("track_id" = String, Path)),
    responses((status = 204)))]
pub async fn unlike(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(track_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    library::unlike(&state.db, &user.id, &track_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's liked tracks, most recently liked first.
#[utoipa::path(get, path = "/api/v1/me/likes", tag = "library", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<Track>), (status = 400, body = ErrorBody)))]
pub async fn likes(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    paging: Paging,
) -> ApiResult<ApiJson<Page<Track>>> {
    let scope = format!("likes|{}", user.id);
    let after = paging.after(&scope, KeyKind::Int)?;
    let (rows, next) = library::likes(&state.db, &user.id, after.as_ref(), paging.limit(), &scope).await?;
    Ok(ApiJson(Page {
        items: rows.iter().map(|r| to_api(&state, &user, r)).collect(),
        next_cursor: next_cursor(next),
    }))
}

/// Only ready tracks go into likes and playlists.
async fn ready_track(state: &AppState, user: &UserRow, id: &str) -> ApiResult<()> {
    let row = visible_track(state, user, id).await?;
    if row.status() != mist_core::api::TrackStatus::Ready {
        return Err(ApiError::NotFound("track"));
    }
    Ok(())
}

fn to_playlist(row: PlaylistRow) -> Playlist {
    Playlist {
        id: row.id,
        owner_id: row.owner_id,
        name: row.name,
        description: row.description,
        public: row.public,
        track_count: row.track_count,
        created_at: ms_to_datetime(row.created_at),
        updated_at: ms_to_datetime(row.updated_at),
    }
}

/// A playlist the caller may see: their own, or a public one.
async fn visible_playlist(state: &AppState, user: &UserRow, id: &str) -> ApiResult<PlaylistRow> {
    library::find_playlist(&state.db, id)
        .await?
        .filter(|p| p.public || p.owner_id == user.id)
        .ok_or(ApiError::NotFound("playlist"))
}

/// A playlist the caller may change: their own (403 on someone else's public one).
async fn own_playlist(state: &AppState, user: &UserRow, id: &str) -> ApiResult<PlaylistRow> {
    let playlist = visible_playlist(state, user, id).await?;
    if playlist.owner_id != user.id {
        return Err(ApiError::Forbidden("only the owner may change this playlist".into()));
    }
    Ok(playlist)
}

fn name(value: &str) -> ApiResult<&str> {
    let v = text::line("name", value, text::MAX_PLAYLIST_NAME_CHARS)?;
    if v.is_empty() {
        return Err(ApiError::unprocessable("invalid_field", "name cannot be empty"));
    }
    Ok(v)
}

/// The one multi-line field: line breaks are kept, other controls refused.
fn description(value: &str) -> ApiResult<&str> {
    Ok(text::multi_line("description", value, text::MAX_DESCRIPTION_CHARS)?)
}

/// Create a playlist (private unless `public: true`).
#[utoipa::path(post, path = "/api/v1/playlists", tag = "library", security(("bearer" = [])),
    request_body = CreatePlaylistRequest,
    responses((status = 201, body = Playlist), (status = 422, body = ErrorBody)))]
pub async fn create_playlist(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(req): ApiJson<CreatePlaylistRequest>,
) -> ApiResult<(StatusCode, ApiJson<Playlist>)> {
    let row = library::create_playlist(
        &state.db,
        &user.id,
        name(&req.name)?,
        description(req.description.as_deref().unwrap_or(""))?,
        req.public.unwrap_or(false),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(to_playlist(row))))
}

/// The caller's own playlists, newest first.
#[utoipa::path(get, path = "/api/v1/me/playlists", tag = "library", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<Playlist>), (status = 400, body = ErrorBody)))]
pub async fn my_playlists(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    paging: Paging,
) -> ApiResult<ApiJson<Page<Playlist>>> {
    let scope = format!("playlists|{}", user.id);
    let after = paging.after(&scope, KeyKind::Int)?;
    let (rows, next) = library::playlists_of(&state.db, &user.id, after.as_ref(), paging.limit(), &scope).await?;
    Ok(ApiJson(Page {
        items: rows.into_iter().map(to_playlist).collect(),
        next_cursor: next_cursor(next),
    }))
}

#[utoipa::path(get, path = "/api/v1/playlists/{id}", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Playlist), (status = 404, body = ErrorBody)))]
pub async fn playlist(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Playlist>> {
    Ok(ApiJson(to_playlist(visible_playlist(&state, &user, &id).await?)))
}

/// Rename, describe, or make public or private (owner only).
#[utoipa::path(patch, path = "/api/v1/playlists/{id}", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdatePlaylistRequest,
    responses((status = 200, body = Playlist), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_playlist(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdatePlaylistRequest>,
) -> ApiResult<ApiJson<Playlist>> {
    own_playlist(&state, &user, &id).await?;
    let new_name = req.name.as_deref().map(name).transpose()?;
    let new_description = req.description.as_deref().map(description).transpose()?;
    let row = library::update_playlist(&state.db, &id, new_name, new_description, req.public)
        .await?
        .ok_or(ApiError::NotFound("playlist"))?;
    Ok(ApiJson(to_playlist(row)))
}

#[utoipa::path(delete, path = "/api/v1/playlists/{id}", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_playlist(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    own_playlist(&state, &user, &id).await?;
    library::delete_playlist(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A playlist's tracks in order, one page at a time.
#[utoipa::path(get, path = "/api/v1/playlists/{id}/tracks", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Page<PlaylistEntry>), (status = 404, body = ErrorBody)))]
pub async fn playlist_tracks(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
    paging: Paging,
) -> ApiResult<ApiJson<Page<PlaylistEntry>>> {
    visible_playlist(&state, &user, &id).await?;
    let scope = format!("entries|{id}");
    let after = Cursor::int_key(paging.after(&scope, KeyKind::Int)?.as_ref()).0;
    let (rows, next) = library::playlist_tracks(&state.db, &id, after, paging.limit()).await?;
    Ok(ApiJson(Page {
        items: rows
            .iter()
            .map(|(position, row)| PlaylistEntry {
                position: *position,
                track: to_api(&state, &user, row),
            })
            .collect(),
        next_cursor: next_cursor(next.map(|position| Cursor {
            scope,
            key: SortKey::Int(position),
            id: String::new(),
        })),
    }))
}

/// Append a ready track (owner only); a track already there keeps its place.
#[utoipa::path(post, path = "/api/v1/playlists/{id}/tracks", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AddPlaylistTrackRequest,
    responses((status = 201, body = PlaylistEntry), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_track(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<AddPlaylistTrackRequest>,
) -> ApiResult<(StatusCode, ApiJson<PlaylistEntry>)> {
    own_playlist(&state, &user, &id).await?;
    let track = visible_track(&state, &user, &req.track_id).await?;
    if track.status() != mist_core::api::TrackStatus::Ready {
        return Err(ApiError::NotFound("track"));
    }
    let position = library::add_track(&state.db, &id, &req.track_id)
        .await?
        .ok_or(ApiError::NotFound("playlist"))?;
    Ok((
        StatusCode::CREATED,
        ApiJson(PlaylistEntry {
            position,
            track: to_api(&state, &user, &track),
        }),
    ))
}

/// Move a track to another position (owner only); those between shift.
#[utoipa::path(patch, path = "/api/v1/playlists/{id}/tracks/{track_id}", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path), ("track_id" = String, Path)), request_body = MovePlaylistTrackRequest,
    responses((status = 200, body = PlaylistEntry), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn move_track(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath((id, track_id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<MovePlaylistTrackRequest>,
) -> ApiResult<ApiJson<PlaylistEntry>> {
    own_playlist(&state, &user, &id).await?;
    let position = library::move_track(&state.db, &id, &track_id, req.position)
        .await?
        .ok_or(ApiError::NotFound("playlist entry"))?;
    let track = crate::db::tracks::find(&state.db, &track_id)
        .await?
        .ok_or(ApiError::NotFound("track"))?;
    Ok(ApiJson(PlaylistEntry {
        position,
        track: to_api(&state, &user, &track),
    }))
}

/// Remove a track (owner only); those after it move up.
#[utoipa::path(delete, path = "/api/v1/playlists/{id}/tracks/{track_id}", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path), ("track_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_track(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath((id, track_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    own_playlist(&state, &user, &id).await?;
    match library::remove_track(&state.db, &id, &track_id).await? {
        None => Err(ApiError::NotFound("playlist")),
        Some(false) => Err(ApiError::NotFound("playlist entry")),
        Some(true) => Ok(StatusCode::NO_CONTENT),
    }
}
