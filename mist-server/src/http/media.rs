//! HLS playlists and segments under `/media/tracks/{id}/hls/…`.
//!
//! No token is needed: segments are encrypted, and the keys are what the API
//! guards. Only ready tracks are served, so a half-written track never is.
//! With local storage the server streams everything itself (with byte
//! ranges). With S3 it serves the small playlists and rewrites each segment
//! line to a presigned GET (or the configured public base), so segment bytes
//! go straight from the bucket to the player.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::error::{ApiError, ApiResult};
use super::extract::ApiPath;
use crate::app::AppState;
use crate::db::tracks;
use crate::ingest::package::HLS_CONTENT_TYPE;
use crate::storage::{ByteRange, ObjectStore};

/// How long presigned segment URLs in a served playlist stay valid: long
/// enough to listen to a long track paused for a while.
const PRESIGNED_SEGMENT_TTL: Duration = Duration::from_secs(6 * 3600);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/media/tracks/{id}/hls/master.m3u8", get(master))
        .route("/media/tracks/{id}/hls/{rendition}/{file}", get(rendition_file))
}

/// The storage prefix of a ready track's HLS files, or 404.
async fn ready(state: &AppState, id: &str) -> ApiResult<String> {
    tracks::ready_hls_prefix(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("track"))
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

async fn master(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Response> {
    let prefix = ready(&state, &id).await?;
    let body = state.store.get_bytes(&format!("{prefix}master.m3u8")).await?;
    Ok(playlist_response(body.to_vec()))
}

async fn rendition_file(
    State(state): State<AppState>,
    ApiPath((id, rendition, file)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if !valid_rendition(&rendition) || !(file == "index.m3u8" || valid_segment(&file)) {
        return Err(ApiError::NotFound("file"));
    }
    let prefix = ready(&state, &id).await?;
    let key = format!("{prefix}{rendition}/{file}");
    if file == "index.m3u8" {
        let stored = state.store.get_bytes(&key).await?;
        let text = String::from_utf8_lossy(&stored).into_owned();
        let dir = format!("{prefix}{rendition}/");
        let text = rewrite_playlist(&state, &dir, &text).await?;
        return Ok(playlist_response(text.into_bytes()));
    }
    segment_response(&state.store, &key, &headers).await
}

/// Fits a stored media playlist to where things are served now.
///
/// Key URIs are written absolute at ingest; they are re-based on the current
/// public URL, so a server that moved (a new domain, `migrate-to`) still
/// points players at itself. Relative segment lines stay relative with local
/// storage; with S3 they become the public base's URLs when one is
/// configured, else presigned GETs.
async fn rewrite_playlist(state: &AppState, dir: &str, playlist: &str) -> ApiResult<String> {
    let base = state.settings.public_url.as_str().trim_end_matches('/');
    let local = matches!(state.store, ObjectStore::Local(_));
    let mut out = String::with_capacity(playlist.len() * if local { 1 } else { 4 });
    for line in playlist.lines() {
        if line.starts_with("#EXT-X-KEY:") {
            out.push_str(&rebase_key_uri(line, base));
        } else if line.starts_with('#') || line.trim().is_empty() || local {
            out.push_str(line);
        } else if let Some(public) = &state.settings.s3_public_url {
            out.push_str(&format!("{}/{dir}{line}", public.trim_end_matches('/')));
        } else {
            let url = state
                .store
                .presign_get(&format!("{dir}{line}"), PRESIGNED_SEGMENT_TTL)
                .await?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("S3 store did not presign")))?;
            out.push_str(&url);
        }
        out.push('\n');
    }
    Ok(out)
}

/// `…URI="http://old/api/v1/tracks/…"…` → `…URI="{base}/api/v1/tracks/…"…`.
fn rebase_key_uri(line: &str, base: &str) -> String {
    let Some(start) = line.find("URI=\"").map(|i| i + 5) else {
        return line.to_owned();
    };
    let Some(api) = line[start..].find("/api/v1/").map(|i| start + i) else {
        return line.to_owned();
    };
    format!("{}{base}{}", &line[..start], &line[api..])
}

fn playlist_response(body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HLS_CONTENT_TYPE),
            // Presigned URLs inside expire; a playlist must be fetched anew.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A segment, whole or a byte range of it. Segments never change once a
/// track is ready, so they may be cached for good.
async fn segment_response(store: &ObjectStore, key: &str, headers: &HeaderMap) -> ApiResult<Response> {
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(value) => {
            Some(parse_range(value).ok_or_else(|| ApiError::bad_request("invalid_range", "unsupported Range header"))?)
        }
        None => None,
    };
    let object = store.get(key, range).await?;
    let mut response = Response::new(Body::from_stream(object.body));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/mpeg"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(object.content_length));
    if let Some((start, end)) = object.range {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{}", object.total_size)) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(response)
}

/// `bytes=START-[END]` (one range; what players send).
fn parse_range(value: &str) -> Option<ByteRange> {
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
    fn key_uris_follow_the_public_url() {
        let line = r#"#EXT-X-KEY:METHOD=AES-128,URI="http://old:1/api/v1/tracks/t/keys/0",IV=0x00"#;
        assert_eq!(
            rebase_key_uri(line, "https://new.example"),
            r#"#EXT-X-KEY:METHOD=AES-128,URI="https://new.example/api/v1/tracks/t/keys/0",IV=0x00"#
        );
        assert_eq!(
            rebase_key_uri("#EXT-X-KEY:METHOD=NONE", "https://x"),
            "#EXT-X-KEY:METHOD=NONE"
        );
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
