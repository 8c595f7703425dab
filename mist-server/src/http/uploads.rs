//! Uploads and jobs: `POST /api/v1/uploads`, the local upload route,
//! `POST /api/v1/uploads/{id}/complete` and `GET /api/v1/jobs/{id}`.
//!
//! With S3 the client PUTs straight to the bucket with a presigned URL (the
//! declared size and content type are signed in, so it cannot send more);
//! with local storage it PUTs to `/api/v1/uploads/{id}/data`, which streams
//! to disk and cuts the body off past the declared size.
//!
//! A ticket counts against the user's storage quota (bytes of originals, per
//! plan) from the moment it is given: one that would pass it is refused
//! before a byte is sent. A ticket nobody completes expires, and the worker's
//! sweeper collects its row and bytes.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post, put};
use axum::{Router, middleware};
use futures::TryStreamExt;
use mist_core::api::{
    CompleteUploadRequest, CompleteUploadResponse, CreateUploadRequest, ErrorBody, Job, Plan, Role, UploadTicket,
};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use super::rate_limit;
use crate::app::AppState;
use crate::db::tracks::TrackRow;
use crate::db::uploads::{self, UploadRow};
use crate::db::{self, albums, jobs, ms_to_datetime, now_ms};
use crate::http::caller::AuthUser;
use crate::ingest;
use crate::storage::StorageError;
use crate::text;

/// How long an upload ticket stays valid.
const UPLOAD_TTL: Duration = Duration::from_secs(3600);

/// File types the decoder reads. Anything else is refused up front.
const AUDIO_EXTENSIONS: &[&str] = &["mp3", "m4a", "mp4", "aac", "flac", "wav", "wave", "ogg", "oga", "caf"];

/// The local store's upload route (what a ticket's `upload_url` names there).
pub const DATA_ROUTE: &str = "/api/v1/uploads/{id}/data";

pub fn router(state: AppState) -> Router<AppState> {
    let limited = Router::new()
        .route("/api/v1/uploads", post(create))
        .route_layer(middleware::from_fn_with_state(state, rate_limit::limit_uploads));
    Router::new()
        .merge(limited)
        // The body limit is the upload's own declared size, enforced while streaming.
        .route(DATA_ROUTE, put(receive).layer(DefaultBodyLimit::disable()))
        .route("/api/v1/uploads/{id}/complete", post(complete))
        .route("/api/v1/jobs/{id}", get(job))
}

fn may_upload(state: &AppState, user: &crate::db::users::UserRow) -> ApiResult<()> {
    if state.settings.uploads_admin_only && user.role() != Role::Admin {
        return Err(ApiError::Forbidden(
            "uploads are limited to admins on this server".into(),
        ));
    }
    Ok(())
}

/// Announce an upload; answers where to PUT the bytes.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads", security(("bearer" = [])), request_body = CreateUploadRequest,
    responses(
        (status = 201, body = UploadTicket),
        (status = 413, description = "declared size over the limit", body = ErrorBody),
        (status = 409, description = "`duplicate`: the caller already has a track of this `sha256` (`existing_track_id`)", body = ErrorBody),
        (status = 415, description = "not an audio file type", body = ErrorBody),
        (status = 422, description = "invalid field, or `storage_quota_exceeded`", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(req): ApiJson<CreateUploadRequest>,
) -> ApiResult<(StatusCode, ApiJson<UploadTicket>)> {
    may_upload(&state, &user)?;
    let max = state.settings.max_upload_bytes;
    if req.size == 0 {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "size must be more than 0 bytes",
        ));
    }
    if req.size > max {
        return Err(ApiError::PayloadTooLarge(format!(
            "the file is {} bytes; the limit is {max} bytes ({} MiB)",
            req.size,
            max / (1024 * 1024)
        )));
    }
    // The file name becomes the title when neither the uploader nor the tags give one.
    let filename = text::line("filename", &req.filename, text::MAX_FILENAME_CHARS)?;
    if filename.is_empty() {
        return Err(ApiError::unprocessable("invalid_field", "filename cannot be empty"));
    }
    let ext = crate::storage::extension(filename)
        .filter(|e| AUDIO_EXTENSIONS.contains(&e.as_str()))
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType(format!(
                "{filename:?} is not a supported audio file; expected one of: {}",
                AUDIO_EXTENSIONS.join(", ")
            ))
        })?;
    let content_type = text::content_type(&req.content_type)?;
    let content_type = content_type.as_str();
    if let Some(sha256) = &req.sha256 {
        // Only the caller's own tracks are looked at: the answer says nothing
        // about what anyone else has uploaded.
        // Parsed as the stored hashes are written, so any hex case matches.
        let sha256 = mist_core::library::hash::ContentHash::from_hex(sha256)
            .ok_or_else(|| ApiError::unprocessable("invalid_field", "sha256 must be 64 hexadecimal digits"))?
            .to_hex();
        if let Some(existing_track_id) = albums::track_with_hash(&state.db, &user.id, &sha256).await? {
            return Err(ApiError::Duplicate { existing_track_id });
        }
    }

    let now = now_ms();
    let row = UploadRow {
        id: db::new_id(),
        user_id: user.id.clone(),
        track_id: db::new_id(),
        filename: filename.to_owned(),
        content_type: content_type.to_owned(),
        declared_size: req.size as i64,
        storage_key: String::new(),
        created_at: now,
        expires_at: now + UPLOAD_TTL.as_millis() as i64,
    };
    // The ticket names a staging key; `complete` moves the bytes to the track's
    // own key, which no ticket names, so the ticket is dead once used.
    let row = UploadRow {
        storage_key: format!("{}original.{ext}", uploads::staging_dir(&row.id)),
        ..row
    };
    let quota = storage_quota(&state, &user);
    if let Err(used) = uploads::insert_within_quota(&state.db, &row, quota, now).await? {
        let quota = quota.unwrap_or_default();
        return Err(ApiError::unprocessable(
            "storage_quota_exceeded",
            format!(
                "this file ({}) would take your stored uploads to {} of your {} storage quota; \
                 delete some tracks first",
                human_bytes(req.size),
                human_bytes(used.max(0) as u64 + req.size),
                human_bytes(quota)
            ),
        ));
    }

    let presigned = state
        .store
        .presign_put(&row.storage_key, req.size, content_type, UPLOAD_TTL)
        .await?;
    let ticket = match presigned {
        Some(p) => UploadTicket {
            upload_id: row.id.clone(),
            url: p.url,
            method: p.method,
            headers: p.headers.into_iter().collect(),
            expires_at: p.expires_at,
        },
        None => UploadTicket {
            upload_id: row.id.clone(),
            url: format!(
                "{}/api/v1/uploads/{}/data",
                state.settings.public_url.as_str().trim_end_matches('/'),
                row.id
            ),
            method: "PUT".into(),
            headers: BTreeMap::from([("content-type".to_owned(), content_type.to_owned())]),
            expires_at: ms_to_datetime(row.expires_at),
        },
    };
    Ok((StatusCode::CREATED, ApiJson(ticket)))
}

/// The bytes of originals `user` may store: per plan, none for admins;
/// `None` means no limit.
fn storage_quota(state: &AppState, user: &crate::db::users::UserRow) -> Option<u64> {
    let bytes = match (user.role(), user.plan()) {
        (Role::Admin, _) => 0,
        (_, Plan::Premium) => state.settings.storage_quota_premium_bytes,
        (_, Plan::Free) => state.settings.storage_quota_free_bytes,
    };
    (bytes > 0).then_some(bytes)
}

/// `52428800` → `50.0 MiB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The owner's upload, or 404 (another user's upload is not theirs to know of).
async fn owned_upload(state: &AppState, user: &crate::db::users::UserRow, id: &str) -> ApiResult<UploadRow> {
    uploads::find(&state.db, id)
        .await?
        .filter(|u| u.user_id == user.id)
        .ok_or(ApiError::NotFound("upload"))
}

/// The bytes of an upload, for local storage. Streams to disk; a body longer
/// than announced is cut off and nothing is kept.
#[utoipa::path(put, path = "/api/v1/uploads/{id}/data", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn receive(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let upload = owned_upload(&state, &user, &id).await?;
    if uploads::completed_job(&state.db, &upload.id).await?.is_some() {
        return Err(ApiError::Gone(
            "this upload is complete; its URL takes no more bytes (start a new upload)".into(),
        ));
    }
    if now_ms() > upload.expires_at {
        return Err(ApiError::Gone("this upload has expired; start a new one".into()));
    }
    let limit = upload.declared_size as u64;
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(format!(
            "this upload was announced as {limit} bytes"
        )));
    }
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    match state
        .store
        .put_stream(&upload.storage_key, Box::pin(stream), &upload.content_type, Some(limit))
        .await
    {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(StorageError::TooLarge { .. }) => Err(ApiError::PayloadTooLarge(format!(
            "this upload was announced as {limit} bytes"
        ))),
        Err(e) if crate::serve::is_body_timeout(&e) => Err(ApiError::RequestTimeout(
            "the upload stopped arriving; nothing was kept, send it again".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Say the bytes are there; answers the job that turns them into a track.
/// Completing again answers the same job.
#[utoipa::path(post, path = "/api/v1/uploads/{id}/complete", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CompleteUploadRequest,
    responses(
        (status = 202, body = CompleteUploadResponse),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the bytes have not arrived", body = ErrorBody),
        (status = 410, description = "the ticket expired before it was completed", body = ErrorBody),
        (status = 422, description = "size differs from the announced size", body = ErrorBody),
    ))]
pub async fn complete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, ApiJson<CompleteUploadResponse>)> {
    // The body is optional: no metadata means "take it from the file".
    let given: CompleteUploadRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CompleteUploadRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                ApiError::unprocessable("invalid_field", format!("invalid request body: {e}"))
            }
            _ => ApiError::bad_request("invalid_json", "request body is not valid JSON"),
        })?
    };
    let given = checked_metadata(given)?;
    let upload = owned_upload(&state, &user, &id).await?;
    if let Some(job_id) = uploads::completed_job(&state.db, &upload.id).await? {
        return Ok((StatusCode::ACCEPTED, ApiJson(CompleteUploadResponse { job_id })));
    }
    // A ticket past its time may already be in the sweeper's hands; a job
    // made from it would lose its original.
    if now_ms() > upload.expires_at + uploads::COMPLETE_GRACE_MS {
        return Err(ApiError::Gone("this upload has expired; start a new one".into()));
    }
    let original_key = original_key(&upload);
    if upload.storage_key != original_key {
        // NotFound: not uploaded yet, or a concurrent completion moved it first.
        match state.store.rename(&upload.storage_key, &original_key).await {
            Ok(()) | Err(StorageError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let meta = state.store.head(&original_key).await?.ok_or_else(|| {
        ApiError::conflict(
            "upload_incomplete",
            "the file has not been uploaded yet; PUT it to the upload URL first",
        )
    })?;
    if meta.size != upload.declared_size as u64 {
        return Err(ApiError::unprocessable(
            "size_mismatch",
            format!(
                "the upload is {} bytes but was announced as {}",
                meta.size, upload.declared_size
            ),
        ));
    }
    let placeholder_title = given
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| ingest::title_from_filename(&upload.filename));
    let track = TrackRow {
        id: upload.track_id.clone(),
        uploader_id: user.id.clone(),
        title: placeholder_title,
        artist: given.artist.clone(),
        album: given.album.clone(),
        genre: given.genre.clone(),
        duration_ms: 0,
        status: "processing".into(),
        error: None,
        original_key,
        segment_count: 0,
        key_count: 0,
        play_count: 0,
        created_at: 0,
        updated_at: 0,
        ..Default::default()
    };
    let payload = serde_json::to_string(&given).map_err(ApiError::internal)?;
    let job = jobs::enqueue_ingest(&state.db, &track, &upload.id, &payload).await?;
    Ok((StatusCode::ACCEPTED, ApiJson(CompleteUploadResponse { job_id: job.id })))
}

/// Where a completed upload's bytes live: `tracks/{track_id}/original.{ext}`.
/// Uploads announced before staging keys existed already point there.
fn original_key(upload: &UploadRow) -> String {
    if upload.storage_key.starts_with("tracks/") {
        return upload.storage_key.clone();
    }
    let ext = crate::storage::extension(&upload.storage_key).unwrap_or_else(|| "bin".into());
    format!("tracks/{}/original.{ext}", upload.track_id)
}

/// The uploader's metadata, each field checked like a `PATCH` (422 on
/// control or bidi-override characters, or over-long), blanks dropped.
fn checked_metadata(given: CompleteUploadRequest) -> ApiResult<CompleteUploadRequest> {
    let field = |name: &str, value: &Option<String>| -> ApiResult<Option<String>> {
        Ok(text::track_field(name, value.as_deref())?.map(str::to_owned))
    };
    // 0 is "none" here as in an edit; there is nothing to clear yet.
    let number = |name: &str, value: Option<i64>, range| -> ApiResult<Option<i64>> {
        Ok(super::catalogue::number(name, value, range)?.filter(|n| *n != 0))
    };
    use super::catalogue::{DISC_NUMBERS, TRACK_NUMBERS, YEARS};
    Ok(CompleteUploadRequest {
        title: field("title", &given.title)?,
        artist: field("artist", &given.artist)?,
        album: field("album", &given.album)?,
        genre: field("genre", &given.genre)?,
        album_artist: field("album_artist", &given.album_artist)?,
        track_number: number("track_number", given.track_number, TRACK_NUMBERS)?,
        disc_number: number("disc_number", given.disc_number, DISC_NUMBERS)?,
        year: number("year", given.year, YEARS)?,
        composer: field("composer", &given.composer)?,
    })
}

/// A job's status: only its owner or an admin may see it.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Job), (status = 404, body = ErrorBody)))]
pub async fn job(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Job>> {
    let job = jobs::find(&state.db, &id)
        .await?
        .filter(|j| j.user_id == user.id || user.role() == Role::Admin)
        .ok_or(ApiError::NotFound("job"))?;
    Ok(ApiJson(job.to_api()))
}
