//! The music library's browsing routes: albums (`GET /api/v1/albums`,
//! `/albums/{id}`), artists (`GET /api/v1/artists`, `/artists/{id}`), search across
//! tracks, albums and artists (`GET /api/v1/search`), covers
//! (`GET /api/v1/albums/{id}/cover`, `GET|PUT /api/v1/tracks/{id}/cover`) and
//! lyrics (`GET /api/v1/tracks/{id}/lyrics`). The SQL is in
//! [`crate::db::albums`]; what ingest reads from files is in
//! [`crate::ingest::library`].
//!
//! Covers are served from the thumbnails stored at ingest. A thumbnail's
//! bytes never change for a given picture and size, so its ETag is the
//! picture's hash and the size, and it may be cached for a year.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mist_core::api::{
    Album, AlbumDetail, AlbumQuery, AlbumSort, Artist, ArtistDetail, ErrorBody, LyricLine, Lyrics, Page, SearchResults,
};
use mist_core::library::cover::{MAX_COVER_BYTES, SIZES};
use serde::Deserialize;

use super::catalogue::owned_track;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::page::{PageQuery, Paging, invalid_cursor, next_cursor};
use super::tracks::{to_api, visible_track};
use crate::app::AppState;
use crate::db::albums::{self, AlbumOrder, AlbumRow, ArtistRow};
use crate::db::catalogue;
use crate::db::page::{Cursor, DEFAULT_LIMIT, KeyKind, MAX_LIMIT, SortKey, clamp_limit};
use crate::http::caller::AuthUser;
use crate::ingest::library::{CoverStoreError, StoredLine, cover_key, store_cover};

/// Top tracks shown on an artist's page.
const TOP_TRACKS: i64 = 10;
/// Albums and artists in a search answer.
const SEARCH_RESULTS: i64 = 10;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/albums", get(list))
        .route("/api/v1/albums/{id}", get(album))
        .route("/api/v1/albums/{id}/cover", get(album_cover))
        .route("/api/v1/artists", get(artists))
        .route("/api/v1/artists/{id}", get(artist))
        .route("/api/v1/search", get(search))
        .route(
            "/api/v1/tracks/{id}/cover",
            get(track_cover)
                .put(put_cover)
                .layer(DefaultBodyLimit::max(MAX_COVER_BYTES)),
        )
        .route("/api/v1/tracks/{id}/lyrics", get(lyrics))
}

/// The public view of an album.
pub fn album_to_api(state: &AppState, row: &AlbumRow) -> Album {
    Album {
        id: row.id.clone(),
        title: row.title.clone(),
        artist: row.artist.clone(),
        artist_id: row.artist_id.clone(),
        year: row.year,
        genre: row.genre.clone(),
        track_count: row.track_count,
        duration_s: row.duration_ms as f64 / 1000.0,
        cover_url: row.cover_hash.as_ref().map(|_| {
            format!(
                "{}/api/v1/albums/{}/cover",
                state.settings.public_url.as_str().trim_end_matches('/'),
                row.id
            )
        }),
    }
}

fn artist_to_api(row: ArtistRow) -> Artist {
    Artist {
        id: row.id,
        name: row.name,
        track_count: row.track_count,
        album_count: row.album_count,
    }
}

/// Albums with at least one ready track: sorted, filtered, one page at a time.
#[utoipa::path(get, path = "/api/v1/albums", tag = "library", security(("bearer" = [])),
    params(AlbumQuery),
    responses((status = 200, body = Page<Album>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(query): ApiQuery<AlbumQuery>,
    paging: Paging,
) -> ApiResult<ApiJson<Page<Album>>> {
    let sort = query.sort.unwrap_or(AlbumSort::Newest);
    let order = match sort {
        AlbumSort::Newest => AlbumOrder::Newest,
        AlbumSort::Name => AlbumOrder::Name,
        AlbumSort::Year => AlbumOrder::Year,
        AlbumSort::Artist => AlbumOrder::Artist,
        AlbumSort::MostPlayed => AlbumOrder::MostPlayed,
        AlbumSort::RecentlyPlayed => AlbumOrder::RecentlyPlayed,
    };
    // A cursor is good only for the listing it came from.
    let scope = serde_json::to_string(&("albums", sort, &query.artist, &query.genre, query.year))
        .map_err(ApiError::internal)?;
    // Albums page by offset (their sort keys are aggregates), kept in the cursor.
    let offset = match Cursor::int_key(paging.after(&scope, KeyKind::Int)?.as_ref()).0 {
        Some(offset) if offset < 0 => return Err(invalid_cursor()),
        offset => offset.unwrap_or(0),
    };
    let limit = paging.limit();
    let db_query = albums::AlbumQuery {
        order,
        artist: query.artist.clone(),
        genre: query.genre.clone(),
        year: query.year,
        user_id: user.id.clone(),
        limit,
        offset,
    };
    let (rows, more) = albums::list(&state.db, &db_query).await?;
    let next = next_cursor(more.then(|| Cursor {
        scope,
        key: SortKey::Int(offset + limit),
        id: String::new(),
    }));
    Ok(ApiJson(Page {
        items: rows.iter().map(|r| album_to_api(&state, r)).collect(),
        next_cursor: next,
    }))
}

/// An album with its ready tracks in disc and track order.
#[utoipa::path(get, path = "/api/v1/albums/{id}", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = AlbumDetail), (status = 404, body = ErrorBody)))]
pub async fn album(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<AlbumDetail>> {
    let row = albums::find(&state.db, &id).await?.ok_or(ApiError::NotFound("album"))?;
    let tracks = albums::tracks(&state.db, &id).await?;
    Ok(ApiJson(AlbumDetail {
        album: album_to_api(&state, &row),
        tracks: tracks.iter().map(|t| to_api(&state, &user, t)).collect(),
    }))
}

/// Artists with a ready track or album, A–Z by name (case and accents
/// folded), one page at a time.
#[utoipa::path(get, path = "/api/v1/artists", tag = "library", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<Artist>), (status = 400, body = ErrorBody)))]
pub async fn artists(
    State(state): State<AppState>,
    AuthUser(_user): AuthUser,
    paging: Paging,
) -> ApiResult<ApiJson<Page<Artist>>> {
    const SCOPE: &str = "artists";
    let after = paging.after(SCOPE, KeyKind::Text)?;
    let (rows, more) = albums::list_artists(&state.db, Cursor::text_key(after.as_ref()), paging.limit()).await?;
    let next = next_cursor(rows.last().filter(|_| more).map(|last| Cursor {
        scope: SCOPE.into(),
        key: SortKey::Text(last.key.clone()),
        id: String::new(),
    }));
    Ok(ApiJson(Page {
        items: rows.into_iter().map(artist_to_api).collect(),
        next_cursor: next,
    }))
}

/// An artist, the albums it is the album artist of, and its most played tracks.
#[utoipa::path(get, path = "/api/v1/artists/{id}", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ArtistDetail), (status = 404, body = ErrorBody)))]
pub async fn artist(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<ArtistDetail>> {
    let row = albums::find_artist(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("artist"))?;
    let query = albums::AlbumQuery {
        order: AlbumOrder::Year,
        artist: Some(row.id.clone()),
        genre: None,
        year: None,
        user_id: user.id.clone(),
        limit: MAX_LIMIT,
        offset: 0,
    };
    let (album_rows, _) = albums::list(&state.db, &query).await?;
    let top = albums::top_tracks(&state.db, &row.id, TOP_TRACKS).await?;
    Ok(ApiJson(ArtistDetail {
        albums: album_rows.iter().map(|a| album_to_api(&state, a)).collect(),
        top_tracks: top.iter().map(|t| to_api(&state, &user, t)).collect(),
        artist: artist_to_api(row),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SearchQuery {
    /// What to look for (as `GET /api/v1/tracks?q=`).
    q: String,
    /// Tracks in the answer: 1–100, default 20.
    limit: Option<i64>,
}

/// Tracks, albums and artists matching `q`.
#[utoipa::path(get, path = "/api/v1/search", tag = "library", security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 200, body = SearchResults), (status = 400, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> ApiResult<ApiJson<SearchResults>> {
    let q = query.q.chars().take(200).collect::<String>();
    if catalogue::terms(&q).is_empty() {
        return Ok(ApiJson(SearchResults {
            tracks: Vec::new(),
            albums: Vec::new(),
            artists: Vec::new(),
        }));
    }
    let track_query = catalogue::TrackQuery {
        q: Some(q.clone()),
        limit: clamp_limit(query.limit, DEFAULT_LIMIT),
        ..Default::default()
    };
    let (tracks, _) = catalogue::list_tracks(&state.db, &track_query).await?;
    let album_rows = albums::search_albums(&state.db, &q, SEARCH_RESULTS).await?;
    let artist_rows = albums::search_artists(&state.db, &q, SEARCH_RESULTS).await?;
    Ok(ApiJson(SearchResults {
        tracks: tracks.iter().map(|t| to_api(&state, &user, t)).collect(),
        albums: album_rows.iter().map(|a| album_to_api(&state, a)).collect(),
        artists: artist_rows.into_iter().map(artist_to_api).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CoverQuery {
    /// The box in px: 64, 300 (default) or 600; others are served the next
    /// size up (or 600).
    size: Option<u32>,
    /// `jpeg` or `webp`; by default WebP when `Accept` names `image/webp`.
    /// WebP is served only where it is smaller than the JPEG (flat artwork:
    /// lossless WebP; photographs stay JPEG, which is several times smaller).
    format: Option<String>,
}

impl CoverQuery {
    /// A `size` with the format left to `Accept` (the Subsonic `getCoverArt`).
    pub(crate) fn sized(size: Option<u32>) -> Self {
        CoverQuery { size, format: None }
    }
}

/// Whether the client would take WebP: asked by `format`, else by `Accept`.
fn wants_webp(query: &CoverQuery, headers: &HeaderMap) -> ApiResult<bool> {
    match query.format.as_deref() {
        Some("webp") => Ok(true),
        Some("jpeg" | "jpg") => Ok(false),
        Some(_) => Err(ApiError::bad_request("invalid_query", "format must be jpeg or webp")),
        None => Ok(headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(accepts_webp)),
    }
}

/// One `Accept` entry naming `image/webp` without refusing it (`q=0`).
fn accepts_webp(entry: &str) -> bool {
    let mut parts = entry.split(';').map(str::trim);
    parts.next().is_some_and(|t| t.eq_ignore_ascii_case("image/webp"))
        && !parts.any(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()) == Some(0.0))
}

/// The stored size that serves a request for `size` px.
fn served_size(size: Option<u32>) -> u32 {
    let asked = size.unwrap_or(300);
    let largest = SIZES.iter().copied().max().unwrap_or(600);
    SIZES.iter().copied().filter(|s| *s >= asked).min().unwrap_or(largest)
}

/// A cover thumbnail, or 304 when the client has it. As WebP when the
/// client takes it and it was stored (smaller than the JPEG), else JPEG;
/// each form has its own ETag, and the answer varies with `Accept`.
pub(crate) async fn cover_response(
    state: &AppState,
    hash: &str,
    query: &CoverQuery,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let size = served_size(query.size);
    let webp = wants_webp(query, headers)?;
    let jpeg_etag = format!("\"{hash}-{size}\"");
    let webp_etag = format!("\"{hash}-{size}-webp\"");
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    let vary = HeaderValue::from_static("accept");
    let matched = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|v| *v == jpeg_etag || *v == "*" || (webp && *v == webp_etag));
    if let Some(matched) = matched {
        let etag = if matched == "*" { &jpeg_etag } else { matched };
        return Ok((
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, HeaderValue::from_str(etag).map_err(ApiError::internal)?),
                (header::CACHE_CONTROL, cache),
                (header::VARY, vary),
            ],
        )
            .into_response());
    }
    let stored = |key: String| async move {
        match state.store.get_bytes(&key).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(crate::storage::StorageError::NotFound(_)) => Ok(None),
            Err(e) => Err(ApiError::from(e)),
        }
    };
    let webp_bytes = if webp {
        stored(crate::ingest::library::cover_webp_key(hash, size)).await?
    } else {
        None
    };
    let (bytes, content_type, etag) = match webp_bytes {
        Some(bytes) => (bytes, "image/webp", webp_etag),
        None => (
            stored(cover_key(hash, size))
                .await?
                .ok_or(ApiError::NotFound("cover"))?,
            "image/jpeg",
            jpeg_etag,
        ),
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::ETAG, HeaderValue::from_str(&etag).map_err(ApiError::internal)?),
            (header::CACHE_CONTROL, cache),
            (header::VARY, vary),
        ],
        bytes,
    )
        .into_response())
}

/// An album's cover as JPEG (or WebP, see `format`), fitted in a square box.
#[utoipa::path(get, path = "/api/v1/albums/{id}/cover", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path), CoverQuery),
    responses(
        (status = 200, content_type = "image/jpeg", body = Vec<u8>,
            headers(("etag" = String), ("cache-control" = String))),
        (status = 304, description = "If-None-Match matched"),
        (status = 404, body = ErrorBody),
    ))]
pub async fn album_cover(
    State(state): State<AppState>,
    AuthUser(_user): AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<CoverQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let hash = albums::cover_hash(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("cover"))?;
    cover_response(&state, &hash, &query, &headers).await
}

/// A track's cover (its own, else its album's) as JPEG (or WebP, see `format`).
#[utoipa::path(get, path = "/api/v1/tracks/{id}/cover", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path), CoverQuery),
    responses(
        (status = 200, content_type = "image/jpeg", body = Vec<u8>,
            headers(("etag" = String), ("cache-control" = String))),
        (status = 304, description = "If-None-Match matched"),
        (status = 404, body = ErrorBody),
    ))]
pub async fn track_cover(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<CoverQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let track = visible_track(&state, &user, &id).await?;
    let hash = match (&track.cover_hash, &track.album_id) {
        (Some(hash), _) => Some(hash.clone()),
        (None, Some(album)) => albums::cover_hash(&state.db, album).await?,
        (None, None) => None,
    };
    let hash = hash.ok_or(ApiError::NotFound("cover"))?;
    cover_response(&state, &hash, &query, &headers).await
}

/// Replace a track's cover, and its album's (uploader or admin). The body is
/// the picture (JPEG, PNG, WebP or GIF, at most 16 MiB and 5,000 × 5,000 px).
#[utoipa::path(put, path = "/api/v1/tracks/{id}/cover", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses(
        (status = 204),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "not a picture, or over the limits", body = ErrorBody),
    ))]
pub async fn put_cover(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let track = owned_track(&state, &user, &id).await?;
    let hash = match store_cover(&state, body.to_vec()).await {
        Ok(hash) => hash,
        Err(CoverStoreError::Refused(e)) => return Err(ApiError::unprocessable("invalid_cover", e.to_string())),
        Err(CoverStoreError::Storage(e)) => return Err(e.into()),
        Err(e @ CoverStoreError::Panicked(_)) => return Err(ApiError::internal(e)),
    };
    albums::set_track_cover(&state.db, &track.id, &hash).await?;
    if let Some(album) = &track.album_id {
        albums::set_cover(&state.db, album, &hash).await?;
    }
    if let Some(old) = track.cover_hash.filter(|old| *old != hash) {
        crate::ingest::library::remove_cover_if_unused(&state.db, &state.store, &old).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A track's lyrics: the words, and timed lines when known.
#[utoipa::path(get, path = "/api/v1/tracks/{id}/lyrics", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Lyrics), (status = 404, description = "no track, or no lyrics", body = ErrorBody)))]
pub async fn lyrics(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Lyrics>> {
    visible_track(&state, &user, &id).await?;
    let (plain, lines) = albums::lyrics(&state.db, &id).await?;
    let lines: Vec<StoredLine> = match lines {
        Some(json) => serde_json::from_str(&json).map_err(ApiError::internal)?,
        None => Vec::new(),
    };
    if plain.is_none() && lines.is_empty() {
        return Err(ApiError::NotFound("lyrics"));
    }
    Ok(ApiJson(Lyrics {
        plain: plain.unwrap_or_default(),
        lines: lines
            .into_iter()
            .map(|l| LyricLine {
                time_ms: l.time_ms,
                text: l.text,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_entries_for_webp() {
        assert!(accepts_webp("image/webp"));
        assert!(accepts_webp(" IMAGE/WEBP;q=0.8"));
        assert!(!accepts_webp("image/webp;q=0"));
        assert!(!accepts_webp("image/webp; q=0.0"));
        assert!(!accepts_webp("image/*"));
        assert!(!accepts_webp("image/webpx"));
    }

    #[test]
    fn any_asked_size_is_served_from_a_stored_one() {
        for (asked, served) in [
            (None, 300),
            (Some(0), 64),
            (Some(64), 64),
            (Some(65), 300),
            (Some(600), 600),
            (Some(u32::MAX), 600),
        ] {
            assert_eq!(served_size(asked), served, "{asked:?}");
        }
    }
}
