//! HLS playlists and segments under `/media/{capability}/tracks/{id}/hls/…`,
//! and the signed capabilities that open them.
//!
//! A media URL is a capability: its first path segment names a user, a track
//! and an expiry, signed by the server ([`Capability`]). Playlists and segments
//! are served only under a valid, unexpired capability for that very track, so
//! keys published by one account are useless to someone without an account's
//! fresh URL. The capability is a path prefix, not a query, so the relative
//! URIs inside playlists (`128k/index.m3u8`, `seg_00000.mp3`) resolve under it
//! and players need nothing special; no bearer token is involved (clients must
//! not send it to storage URLs). Every track object a signed-in user gets and
//! every session carries a `master_url` signed for that user.
//!
//! Only ready tracks are served, so a half-written track never is. The master
//! playlist is served as stored (its URIs are relative). Media playlists are
//! parsed into the `m3u8-rs` model and written again with what belongs to this
//! request: key URIs on the current public URL (a moved server still points
//! players at itself), and on S3 each segment as a presigned GET (expiring no
//! later than the capability) or under the configured public base, so segment
//! bytes go straight from the bucket to the player. With local storage the
//! server streams segments itself, with byte ranges.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::error::{ApiError, ApiResult};
use super::extract::ApiPath;
use crate::app::AppState;
use crate::db::tracks::Playable;
use crate::ingest::package::HLS_CONTENT_TYPE;
use crate::storage::{ByteRange, ObjectStore};

/// The longest a presigned segment URL in a served playlist stays valid.
const PRESIGNED_SEGMENT_TTL: Duration = Duration::from_secs(6 * 3600);

/// Bytes of HMAC-SHA256 kept in a capability: 128 bits.
const MAC_LEN: usize = 16;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/media/{capability}/tracks/{id}/hls/master.m3u8", get(master))
        .route(
            "/media/{capability}/tracks/{id}/hls/{rendition}/{file}",
            get(rendition_file),
        )
}

/// `{user}.{expires}.{mac}`: user `user` may fetch the playlists and segments
/// of one track until `expires` (Unix seconds). The MAC is HMAC-SHA256 under
/// the server's token secret over a message that names its purpose, so it can
/// never be confused with a token signature, truncated to 128 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    pub user_id: String,
    pub expires_s: i64,
}

impl Capability {
    fn mac(state: &AppState, user_id: &str, track_id: &str, expires_s: i64) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(state.settings.jwt_secret.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(format!("mist media capability v1\n{user_id}\n{track_id}\n{expires_s}").as_bytes());
        mac
    }

    /// The path segment granting `user_id` track `track_id` for the configured time.
    pub fn sign(state: &AppState, user_id: &str, track_id: &str) -> String {
        let ttl = i64::try_from(state.settings.media_url_ttl_secs).unwrap_or(i64::MAX / 2000);
        let expires_s = state.clock.now_ms() / 1000 + ttl;
        let tag = Self::mac(state, user_id, track_id, expires_s).finalize().into_bytes();
        format!("{user_id}.{expires_s}.{}", hex::encode(&tag[..MAC_LEN]))
    }

    /// The capability in `segment`, if it is genuine, for `track_id`, and
    /// not expired.
    pub fn verify(state: &AppState, segment: &str, track_id: &str) -> ApiResult<Capability> {
        let invalid = || ApiError::Forbidden403 {
            code: "invalid_media_url",
            message: "this media URL is not valid; take master_url from the API".into(),
        };
        let mut parts = segment.splitn(3, '.');
        let (Some(user_id), Some(expires), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid());
        };
        let expires_s: i64 = expires.parse().map_err(|_| invalid())?;
        let tag = hex::decode(tag).map_err(|_| invalid())?;
        if tag.len() != MAC_LEN || user_id.is_empty() || user_id.len() > 64 {
            return Err(invalid());
        }
        Self::mac(state, user_id, track_id, expires_s)
            .verify_truncated_left(&tag)
            .map_err(|_| invalid())?;
        if expires_s * 1000 <= state.clock.now_ms() {
            return Err(ApiError::Forbidden403 {
                code: "media_url_expired",
                message: "this media URL has expired; take a fresh master_url from the API".into(),
            });
        }
        Ok(Capability {
            user_id: user_id.to_owned(),
            expires_s,
        })
    }
}

/// The absolute URL of a track's master playlist, signed for `user_id`.
pub fn master_url(state: &AppState, user_id: &str, track_id: &str) -> String {
    format!(
        "{}/media/{}/tracks/{track_id}/hls/master.m3u8",
        state.settings.public_url.as_str().trim_end_matches('/'),
        Capability::sign(state, user_id, track_id)
    )
}

/// The track behind a media request: the capability must hold for it, and
/// it must be ready. `catch_up`: whether to hear first of changes other
/// processes made (`crate::cache`). Segment requests, the bulk of the
/// traffic, skip it and are served on their files: every delete removes a
/// track's rows and then its files before it returns, so a request made
/// after finds no file to serve (from disk the read fails; from memory the
/// file is looked for first, [`ObjectStore::still_stored`]), a ready
/// track's files never change, and a segment is ciphertext whose keys are
/// refused from the moment the row is gone (key requests do catch up).
async fn authorised(state: &AppState, capability: &str, id: &str, catch_up: bool) -> ApiResult<(Capability, Playable)> {
    let capability = Capability::verify(state, capability, id)?;
    if catch_up {
        state.cache.catch_up(&state.db).await?;
    }
    let track = crate::cache::find_playable(&state.cache, &state.db, id)
        .await?
        .ok_or(ApiError::NotFound("track"))?;
    Ok((capability, track))
}

fn valid_rendition(name: &str) -> bool {
    matches!(name, "64k" | "128k" | "192k")
}

fn valid_segment(name: &str) -> bool {
    name.len() == "seg_00000.mp3".len()
        && name.starts_with("seg_")
        && name.ends_with(".mp3")
        && name[4..9].bytes().all(|b| b.is_ascii_digit())
}

async fn master(
    State(state): State<AppState>,
    ApiPath((capability, id)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let (_, track) = authorised(&state, &capability, &id, true).await?;
    let body = state
        .store
        .get_bytes(&format!("{}master.m3u8", track.hls_dir()))
        .await?;
    Ok(playlist_response(body.to_vec()))
}

async fn rendition_file(
    State(state): State<AppState>,
    ApiPath((capability, id, rendition, file)): ApiPath<(String, String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let playlist = file == "index.m3u8";
    let whole = headers.get(header::RANGE).is_none() && matches!(state.store, ObjectStore::Local(_));
    let (capability, track) = authorised(&state, &capability, &id, playlist).await?;
    if !valid_rendition(&rendition) || !(playlist || valid_segment(&file)) {
        return Err(ApiError::NotFound("file"));
    }
    let dir = format!("{}{rendition}/", track.hls_dir());
    if playlist {
        let stored = state.store.get_bytes(&format!("{dir}index.m3u8")).await?;
        let text = render_media_playlist(&state, &track, &capability, &dir, &stored).await?;
        return Ok(playlist_response(text.into_bytes()));
    }
    let key = format!("{dir}{file}");
    if whole {
        if let Some(bytes) = state.cache.segment(&track.id, &key) {
            // Its bytes outlive a delete's removal of the file: served only
            // while the file is there, else the track is forgotten.
            if state.store.still_stored(&key) {
                let length = bytes.len() as u64;
                return Ok(segment_headers(Response::new(Body::from(bytes)), length));
            }
            state.cache.forget_track(&track.id);
        }
        let epoch = state.cache.epoch();
        let object = state.store.get(&key, None).await?;
        if object.content_length <= MEMORY_SEGMENT_MAX {
            let length = object.content_length;
            let bytes = collect(object.body).await?;
            state.cache.put_segment(epoch, &track.id, &key, bytes.clone());
            return Ok(segment_headers(Response::new(Body::from(bytes)), length));
        }
        return Ok(segment_headers(
            Response::new(Body::from_stream(object.body)),
            object.content_length,
        ));
    }
    segment_response(&state.store, &key, &headers).await
}

/// Segments up to this size are kept in memory once served (`crate::cache`).
const MEMORY_SEGMENT_MAX: u64 = 1024 * 1024;

/// A small object's bytes (one chunk from local storage).
async fn collect(mut body: crate::storage::ByteStream) -> ApiResult<bytes::Bytes> {
    use futures::StreamExt;
    let mut chunks = Vec::new();
    while let Some(chunk) = body.next().await {
        chunks.push(chunk.map_err(|e| ApiError::internal(anyhow::anyhow!("reading a segment: {e}")))?);
    }
    Ok(match chunks.len() {
        1 => chunks.swap_remove(0),
        _ => bytes::Bytes::from(chunks.concat()),
    })
}

/// The headers of a segment answer (see [`segment_response`]).
fn segment_headers(mut response: Response, length: u64) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/mpeg"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// The stored media playlist of `track` as served to this request: key URIs
/// on the current public URL, segments where this store serves them from.
async fn render_media_playlist(
    state: &AppState,
    track: &Playable,
    capability: &Capability,
    dir: &str,
    stored: &[u8],
) -> ApiResult<String> {
    let mut playlist = mist_core::hls::parse_media(stored)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored playlist {dir}index.m3u8: {e}")))?;
    let base = state.settings.public_url.as_str().trim_end_matches('/');
    let segments_per_key = usize::try_from(track.segments_per_key.max(1)).unwrap_or(1);
    // Presigned URLs expire no later than the capability that got them.
    let left_s = u64::try_from(capability.expires_s - state.clock.now_ms() / 1000).unwrap_or(0);
    let ttl = PRESIGNED_SEGMENT_TTL.min(Duration::from_secs(left_s.max(60)));
    for (index, segment) in playlist.segments.iter_mut().enumerate() {
        if let Some(key) = &mut segment.key {
            key.uri = Some(format!(
                "{base}/api/v1/tracks/{}/keys/{}",
                track.id,
                index / segments_per_key
            ));
        }
        if matches!(state.store, ObjectStore::Local(_)) {
            continue;
        }
        segment.uri = if let Some(public) = &state.settings.s3_public_url {
            format!("{}/{dir}{}", public.trim_end_matches('/'), segment.uri)
        } else {
            state
                .store
                .presign_get(&format!("{dir}{}", segment.uri), ttl)
                .await?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("S3 store did not presign")))?
        };
    }
    Ok(mist_core::hls::write_media(&playlist))
}

fn playlist_response(body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HLS_CONTENT_TYPE),
            // The capability and presigned URLs inside expire: fetch anew.
            (header::CACHE_CONTROL, "private, no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A segment, whole or a byte range of it. Segments never change once a
/// track is ready, so the player may keep them; shared caches may not, since
/// the capability in the URL is personal.
async fn segment_response(store: &ObjectStore, key: &str, headers: &HeaderMap) -> ApiResult<Response> {
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(value) => {
            Some(parse_range(value).ok_or_else(|| ApiError::bad_request("invalid_range", "unsupported Range header"))?)
        }
        None => None,
    };
    let object = store.get(key, range).await?;
    let mut response = segment_headers(Response::new(Body::from_stream(object.body)), object.content_length);
    if let Some((start, end)) = object.range {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{}", object.total_size)) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(response)
}

/// `bytes=START-[END]` (one range; what players send).
pub(crate) fn parse_range(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end_inclusive = match end.trim() {
        "" => None,
        e => Some(e.parse().ok()?),
    };
    if end_inclusive.is_some_and(|e| e < start) {
        return None;
    }
    Some(ByteRange { start, end_inclusive })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = parse_range("bytes=0-99").unwrap();
        assert_eq!((r.start, r.end_inclusive), (0, Some(99)));
        let r = parse_range("bytes=100-").unwrap();
        assert_eq!((r.start, r.end_inclusive), (100, None));
        assert!(parse_range("bytes=5-1").is_none());
        assert!(parse_range("bytes=0-1,5-6").is_none());
        assert!(parse_range("items=0-1").is_none());
        assert!(parse_range("bytes=-500").is_none());
    }

    #[test]
    fn file_names() {
        assert!(valid_segment("seg_00012.mp3"));
        assert!(!valid_segment("seg_0001.mp3"));
        assert!(!valid_segment("../../x.mp3"));
        assert!(!valid_segment("seg_0001a.mp3"));
        assert!(valid_rendition("128k"));
        assert!(!valid_rendition("256k"));
    }
}
