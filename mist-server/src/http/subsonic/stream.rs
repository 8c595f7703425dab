//! `stream`, `download` and `getCoverArt`.
//!
//! Subsonic apps want one MP3 file per song; MIST stores each song as HLS:
//! ~6 s MP3 segments (one per key period on new ingests), each starting with
//! an ID3 timestamp tag, each AES-128-CBC encrypted. Each segment is cut on
//! frame boundaries and repacked so its first frame needs no bytes of the
//! previous one (`mist_core::hls::segment`), so the decrypted segments with
//! their ID3 tags taken off, end to end, are one valid MP3 stream: that is
//! what `stream` sends, from the rendition nearest `maxBitRate` (64, 128
//! or 192 kbps). Nothing is transcoded.
//!
//! The quota: before the audio of a key period leaves, that key is unlocked
//! for the user exactly as `GET /api/v1/tracks/{id}/keys/{k}` does
//! (`http::tracks::unlock`: same ledger, same charge, refused once the day
//! is spent), so a Subsonic client is charged for what it is sent, period by
//! period, and never gets more than an HLS client could decrypt. A request
//! made with nothing left is answered HTTP 429 with a Subsonic error; a
//! stream that reaches the limit ends there.
//!
//! Lengths and byte ranges: a segment's clear length is known from its
//! stored size and its last cipher block (PKCS#7 padding), read with one
//! ranged request per segment; the layout of a rendition never changes once
//! the track is ready, so it is kept in memory. `Range` is answered with
//! 206 over the clear stream; `timeOffset` (the `transcodeOffset`
//! extension) starts at the frame holding that second. Unlimited plans get
//! a `Content-Length`; limited ones are sent chunked, so a stream the quota
//! stops ends cleanly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use mist_core::crypto::{self, ContentKey};

use super::response::SubsonicError;
use super::{Call, MethodResult, Reply};
use crate::app::AppState;
use crate::db::tracks::Playable;
use crate::quota;
use crate::storage::ByteRange;

/// The renditions, in kbps.
const RENDITIONS: [i64; 3] = [64, 128, 192];

/// The rendition nearest `max_bit_rate` from below (0 or absent: the best).
pub fn rendition_for(max_bit_rate: Option<i64>) -> i64 {
    match max_bit_rate {
        None | Some(0) => 192,
        Some(max) => RENDITIONS.iter().copied().filter(|r| *r <= max).max().unwrap_or(64),
    }
}

/// One segment of a rendition, as sent.
#[derive(Debug, Clone)]
struct Piece {
    uri: String,
    key_index: i64,
    duration_ms: i64,
    /// Clear bytes after the ID3 tag (and after `skip`).
    len: u64,
    /// Bytes of frames left out at the start (a `timeOffset` inside it).
    skip: usize,
}

#[derive(Debug)]
struct Layout {
    pieces: Vec<Piece>,
    tag_len: usize,
}

/// Layouts by rendition directory: immutable once a track is ready (each
/// ready attempt has its own directory), so never stale; bounded.
static LAYOUTS: Mutex<Option<HashMap<String, Arc<Layout>>>> = Mutex::new(None);
const LAYOUTS_MAX: usize = 1024;

/// A content key and its IV.
type KeyIv = (ContentKey, [u8; 16]);

struct Keys {
    keys: Vec<KeyIv>,
}

async fn keys(state: &AppState, track: &Playable) -> Result<Keys, SubsonicError> {
    let mut keys = Vec::new();
    for k in 0..track.key_count {
        let stored = crate::cache::find_key(&state.cache, &state.db, &track.id, k)
            .await?
            .ok_or(SubsonicError::NotFound("key"))?;
        let key = crypto::unwrap_key(&state.settings.master_key.0, &stored.wrapped)
            .map_err(|e| SubsonicError::internal(anyhow::anyhow!("cannot unwrap key {k} of {}: {e}", track.id)))?;
        let iv: [u8; 16] = stored
            .iv
            .as_slice()
            .try_into()
            .map_err(|_| SubsonicError::internal(anyhow::anyhow!("stored IV of {} is not 16 bytes", track.id)))?;
        keys.push((key, iv));
    }
    Ok(Keys { keys })
}

impl Keys {
    fn get(&self, k: i64) -> Result<&KeyIv, SubsonicError> {
        usize::try_from(k)
            .ok()
            .and_then(|k| self.keys.get(k))
            .ok_or_else(|| SubsonicError::internal(anyhow::anyhow!("segment names key {k}, which is not stored")))
    }
}

fn decrypt(key: &KeyIv, data: &[u8]) -> Result<Vec<u8>, SubsonicError> {
    crypto::decrypt_segment(&key.0, &key.1, data).map_err(|e| SubsonicError::internal(anyhow::anyhow!("{e}")))
}

async fn layout(state: &AppState, track: &Playable, dir: &str, keys: &Keys) -> Result<Arc<Layout>, SubsonicError> {
    if let Some(found) = LAYOUTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|m| m.get(dir).cloned())
    {
        return Ok(found);
    }
    let playlist = state.store.get_bytes(&format!("{dir}index.m3u8")).await?;
    let playlist = mist_core::hls::parse_media(&playlist)
        .map_err(|e| SubsonicError::internal(anyhow::anyhow!("stored playlist {dir}: {e}")))?;
    let per_key = track.segments_per_key.max(1);
    let first = playlist
        .segments
        .first()
        .ok_or_else(|| SubsonicError::internal(anyhow::anyhow!("empty playlist {dir}")))?;
    // Every segment starts with the same timestamp tag; its length is read once.
    let clear = decrypt(
        keys.get(0)?,
        &state.store.get_bytes(&format!("{dir}{}", first.uri)).await?,
    )?;
    let tag_len = mist_core::hls::id3::id3_tag_len(&clear).unwrap_or(0);
    let jobs: Vec<(String, Result<KeyIv, SubsonicError>)> = playlist
        .segments
        .iter()
        .enumerate()
        .map(|(i, segment)| (format!("{dir}{}", segment.uri), keys.get(i as i64 / per_key).copied()))
        .collect();
    let store = state.store.clone();
    let sizes = futures::stream::iter(jobs.into_iter().map(move |(object, key)| {
        let store = store.clone();
        async move {
            let key = key?;
            let size = store
                .head(&object)
                .await?
                .ok_or(SubsonicError::NotFound("segment"))?
                .size;
            if size < 16 || size % 16 != 0 {
                return Err(SubsonicError::internal(anyhow::anyhow!("{object} is {size} bytes")));
            }
            // The last block decrypts under the block before it as IV.
            let start = size.saturating_sub(32);
            let tail = store
                .get(
                    &object,
                    Some(ByteRange {
                        start,
                        end_inclusive: Some(size - 1),
                    }),
                )
                .await?;
            let tail = collect(tail.body).await?;
            let last = if tail.len() == 32 {
                let iv: [u8; 16] = tail[..16].try_into().unwrap_or([0; 16]);
                decrypt(&(key.0, iv), &tail[16..])?
            } else {
                decrypt(&key, &tail)?
            };
            Ok::<u64, SubsonicError>(size - 16 + last.len() as u64)
        }
    }))
    .buffered(8)
    .collect::<Vec<_>>()
    .await;
    let mut pieces = Vec::with_capacity(sizes.len());
    for (i, (segment, size)) in playlist.segments.iter().zip(sizes).enumerate() {
        pieces.push(Piece {
            uri: segment.uri.clone(),
            key_index: i as i64 / per_key,
            duration_ms: (f64::from(segment.duration) * 1000.0).round() as i64,
            len: size?.saturating_sub(tag_len as u64),
            skip: 0,
        });
    }
    let layout = Arc::new(Layout { pieces, tag_len });
    let mut cached = LAYOUTS.lock().unwrap_or_else(|p| p.into_inner());
    let map = cached.get_or_insert_with(HashMap::new);
    if map.len() >= LAYOUTS_MAX {
        map.clear();
    }
    map.insert(dir.to_owned(), layout.clone());
    Ok(layout)
}

async fn collect(mut body: crate::storage::ByteStream) -> Result<Vec<u8>, SubsonicError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.map_err(|e| SubsonicError::internal(anyhow::anyhow!("reading a segment: {e}")))?);
    }
    Ok(out)
}

/// `bytes=START-[END]`, one range (what players send); `None` for none.
fn range(call: &Call) -> Result<Option<ByteRange>, SubsonicError> {
    match call.headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => Ok(None),
        Some(value) => crate::http::media::parse_range(value)
            .map(Some)
            .ok_or_else(|| SubsonicError::BadParameter("unsupported Range header".into())),
    }
}

/// `stream` (and `download`, the original file).
pub async fn stream(call: &Call, download: bool) -> MethodResult {
    let state = &call.state;
    let id = call.params.required("id")?;
    let track = crate::cache::find_playable(&state.cache, &state.db, id)
        .await?
        .ok_or(SubsonicError::NotFound("song"))?;
    let unlimited = quota::unlimited(call.user.plan(), call.user.role());
    if download || call.params.get("format") == Some("raw") {
        let row = super::library::ready_track(call, id).await?;
        let allowed = unlimited || (download && row.uploader_id == call.user.id);
        if !allowed {
            return Err(SubsonicError::NotAuthorised(
                "the original file is for premium accounts (and, by download, its uploader)".into(),
            ));
        }
        return original(call, &row.original_key).await;
    }
    if !unlimited {
        let quota = crate::http::playback::current_quota(state, &call.user, None).await?;
        if quota::exhausted(&quota) {
            metrics::counter!("mist_quota_refusals_total").increment(1);
            return Err(SubsonicError::QuotaExceeded(quota.resets_at));
        }
    }
    let kbps = rendition_for(call.params.int("maxBitRate")?);
    let dir = format!("{}{kbps}k/", track.hls_dir());
    let keys = Arc::new(keys(state, &track).await?);
    let layout = layout(state, &track, &dir, &keys).await?;
    // timeOffset: from the segment that holds that second, then the frame.
    let offset_ms = call.params.int("timeOffset")?.unwrap_or(0).clamp(0, i64::MAX / 1000) * 1000;
    let mut first = 0;
    let mut at = 0;
    for (i, piece) in layout.pieces.iter().enumerate() {
        if at + piece.duration_ms > offset_ms {
            first = i;
            break;
        }
        at += piece.duration_ms;
        first = i + 1;
    }
    let mut pieces: Vec<Piece> = layout.pieces[first.min(layout.pieces.len())..].to_vec();
    // Inside that segment, from the first frame at or after the second asked.
    if let Some(piece) = pieces.first_mut().filter(|_| offset_ms > at) {
        let frames = fetch(state, &dir, piece, &keys, layout.tag_len)
            .await
            .map_err(SubsonicError::internal)?;
        piece.skip = frames_before(&frames, offset_ms - at);
        piece.len -= piece.skip as u64;
    }
    let total: u64 = pieces.iter().map(|p| p.len).sum();
    let (start, end) = match range(call)? {
        None => (0, total.saturating_sub(1)),
        Some(r) => match r.resolve(total) {
            Ok(bounds) => bounds,
            // A binary answer: HTTP's own refusal, with the length.
            Err(_) => return Ok(unsatisfiable(total)),
        },
    };
    let partial = call.headers.contains_key(header::RANGE);
    let length = if total == 0 { 0 } else { end - start + 1 };
    let body = send(
        state.clone(),
        call.user.clone(),
        track,
        dir,
        keys,
        layout.tag_len,
        pieces,
        start,
        end,
    );
    let mut response = Response::new(Body::from_stream(body));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/mpeg"));
    // A limited plan's stream may end where the quota refuses a key: sent
    // chunked, that is a clean end of file; with a Content-Length it would
    // be a broken connection (and the client may lose what was in flight).
    if unlimited {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if partial {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{total}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    metrics::counter!("mist_subsonic_streams_total").increment(1);
    Ok(Reply::Raw(response))
}

/// The clear bytes `start..=end` of `pieces`, a segment at a time, each key
/// period unlocked (and charged) just before its audio is sent. Ends early
/// when the quota refuses a key (a clean end of a chunked body: the client
/// has a shorter file, and its next request the 429) or storage fails
/// (logged).
#[allow(clippy::too_many_arguments)]
fn send(
    state: AppState,
    user: crate::db::users::UserRow,
    track: Playable,
    dir: String,
    keys: Arc<Keys>,
    tag_len: usize,
    pieces: Vec<Piece>,
    start: u64,
    end: u64,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    let period = quota::key_period_ms(track.segments_per_key);
    struct Cursor {
        index: usize,
        at: u64,
        unlocked: Option<i64>,
    }
    let begin = Cursor {
        index: 0,
        at: 0,
        unlocked: None,
    };
    futures::stream::unfold(begin, move |mut cur| {
        let (state, user, track, dir, keys, pieces) = (
            state.clone(),
            user.clone(),
            track.clone(),
            dir.clone(),
            keys.clone(),
            pieces.clone(),
        );
        async move {
            loop {
                let piece = pieces.get(cur.index)?;
                let (piece_start, piece_end) = (cur.at, cur.at + piece.len);
                cur.index += 1;
                cur.at = piece_end;
                if piece.len == 0 || piece_end <= start {
                    continue;
                }
                if piece_start > end {
                    return None;
                }
                if cur.unlocked != Some(piece.key_index) {
                    let now = state.clock.now_ms();
                    let covered = quota::key_charge_ms(piece.key_index, track.key_count, period, track.duration_ms);
                    if let Err(e) =
                        crate::http::tracks::unlock(&state, &user, &track.id, piece.key_index, covered, now).await
                    {
                        tracing::info!(track = %track.id, key = piece.key_index, error = %e, "subsonic stream stopped");
                        return None;
                    }
                    cur.unlocked = Some(piece.key_index);
                }
                let clear = match fetch(&state, &dir, piece, &keys, tag_len).await {
                    Ok(clear) => clear,
                    Err(e) => {
                        tracing::error!(track = %track.id, segment = %piece.uri, error = %e, "subsonic stream failed");
                        return None;
                    }
                };
                let from = usize::try_from(start.saturating_sub(piece_start)).unwrap_or(0);
                let to = usize::try_from(end.min(piece_end - 1) - piece_start + 1).unwrap_or(0);
                let chunk = clear.slice(from.min(clear.len())..to.min(clear.len()));
                return Some((Ok(chunk), cur));
            }
        }
    })
}

/// One segment's clear MP3 frames.
async fn fetch(state: &AppState, dir: &str, piece: &Piece, keys: &Keys, tag_len: usize) -> anyhow::Result<Bytes> {
    let data = state.store.get_bytes(&format!("{dir}{}", piece.uri)).await?;
    let key = keys.get(piece.key_index).map_err(|e| anyhow::anyhow!("{e}"))?;
    let clear = crypto::decrypt_segment(&key.0, &key.1, &data)?;
    let tag = mist_core::hls::id3::id3_tag_len(&clear).unwrap_or(0);
    anyhow::ensure!(
        tag == tag_len,
        "segment tag of {tag} bytes where the layout has {tag_len}"
    );
    let whole = piece.len + piece.skip as u64;
    anyhow::ensure!(
        (clear.len() - tag) as u64 == whole,
        "segment of {} clear bytes where the layout has {whole}",
        clear.len() - tag,
    );
    Ok(Bytes::from(clear).slice(tag + piece.skip..))
}

/// Bytes of the whole MP3 frames in `frames` that end before `ms`. (The
/// first frame kept may lean on the bit reservoir of one left out: a
/// decoder mutes it, 26 ms.)
fn frames_before(frames: &[u8], ms: i64) -> usize {
    let target = u64::try_from(ms).unwrap_or(0) * u64::from(mist_core::audio::SAMPLE_RATE) / 1000;
    let (mut pos, mut samples) = (0usize, 0u64);
    while samples < target {
        let Some(header) = frames.get(pos..).and_then(mist_core::hls::segment::FrameHeader::parse) else {
            break;
        };
        let next = samples + header.samples_per_frame() as u64;
        if next > target || pos + header.frame_len() > frames.len() {
            break;
        }
        pos += header.frame_len();
        samples = next;
    }
    pos
}

/// 416 with `Content-Range: bytes */size`, as the API's media routes answer.
fn unsatisfiable(size: u64) -> Reply {
    use axum::response::IntoResponse;
    Reply::Raw(crate::http::error::ApiError::RangeNotSatisfiable { size }.into_response())
}

/// The uploaded file as stored, with byte ranges.
async fn original(call: &Call, key: &str) -> MethodResult {
    let object = match call.state.store.get(key, range(call)?).await {
        Ok(object) => object,
        Err(crate::storage::StorageError::RangeNotSatisfiable { size }) => return Ok(unsatisfiable(size)),
        Err(other) => return Err(other.into()),
    };
    let content_type = match key.rsplit('.').next().map(str::to_ascii_lowercase).as_deref() {
        Some("mp3") => "audio/mpeg",
        Some("flac") => "audio/flac",
        Some("m4a" | "mp4" | "aac") => "audio/mp4",
        Some("ogg" | "oga") => "audio/ogg",
        Some("wav") => "audio/wav",
        _ => "application/octet-stream",
    };
    let mut response = Response::new(Body::from_stream(object.body));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(object.content_length));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some((start, end)) = object.range {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{}", object.total_size)) {
            h.insert(header::CONTENT_RANGE, v);
        }
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(Reply::Raw(response))
}

/// `getCoverArt`: `al-` album, `mf-` song (its own or its album's), `ar-`
/// artist (the first of its albums with a cover); `size` in px.
pub async fn get_cover_art(call: &Call) -> MethodResult {
    let id = call.params.required("id")?;
    let db = &call.state.db;
    let hash = if let Some(album) = id.strip_prefix("al-") {
        crate::db::albums::cover_hash(db, album).await?
    } else if let Some(artist) = id.strip_prefix("ar-") {
        let query = crate::db::albums::AlbumQuery {
            order: crate::db::albums::AlbumOrder::Year,
            artist: Some(artist.to_owned()),
            genre: None,
            year: None,
            user_id: call.user.id.clone(),
            limit: 100,
            offset: 0,
        };
        crate::db::albums::list(db, &query)
            .await?
            .0
            .into_iter()
            .find_map(|a| a.cover_hash)
    } else {
        let track_id = id.strip_prefix("mf-").unwrap_or(id);
        match crate::db::tracks::find(db, track_id).await? {
            Some(t) if t.status() == mist_core::api::TrackStatus::Ready => match (t.cover_hash, t.album_id) {
                (Some(hash), _) => Some(hash),
                (None, Some(album)) => crate::db::albums::cover_hash(db, &album).await?,
                _ => None,
            },
            _ => crate::db::albums::cover_hash(db, id).await?,
        }
    };
    let hash = hash.ok_or(SubsonicError::NotFound("cover art"))?;
    let size = call
        .params
        .int("size")?
        .map(|s| u32::try_from(s.clamp(0, i64::from(u32::MAX))).unwrap_or(u32::MAX));
    let response = crate::http::albums::cover_response(
        &call.state,
        &hash,
        &crate::http::albums::CoverQuery::sized(size),
        &call.headers,
    )
    .await?;
    Ok(Reply::Raw(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renditions_are_the_nearest_below() {
        assert_eq!(rendition_for(None), 192);
        assert_eq!(rendition_for(Some(0)), 192);
        assert_eq!(rendition_for(Some(320)), 192);
        assert_eq!(rendition_for(Some(192)), 192);
        assert_eq!(rendition_for(Some(160)), 128);
        assert_eq!(rendition_for(Some(128)), 128);
        assert_eq!(rendition_for(Some(96)), 64);
        assert_eq!(rendition_for(Some(32)), 64);
        assert_eq!(rendition_for(Some(-5)), 64);
    }
}
