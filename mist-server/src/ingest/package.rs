//! Packaging: decoded audio → encrypted HLS in storage, plus the wrapped keys.
//!
//! Layout (design.md §3): `tracks/{id}/hls/master.m3u8`,
//! `tracks/{id}/hls/{64,128,192}k/index.m3u8` and `…/seg_NNNNN.mp3`. Segment
//! URIs in media playlists are relative; key URIs are absolute
//! (`{public url}/api/v1/tracks/{id}/keys/{k}`), since keys are always
//! fetched from the API, wherever the segments are served from.

use futures::{StreamExt, TryStreamExt};
use mist_core::audio::{DecodedAudio, encode};
use mist_core::crypto;
use mist_core::hls::{self, KeyRef, MP3_CODECS, MediaSegmentRef, Variant};

use super::{IngestError, blocking};
use crate::app::AppState;
use crate::db::tracks::StoredKey;
use crate::worker::JobProgress;

/// How many objects are written to storage at once.
const UPLOAD_CONCURRENCY: usize = 8;

pub struct Packaged {
    pub duration_s: f64,
    pub segment_count: usize,
    pub keys: Vec<StoredKey>,
}

/// The storage prefix of a track's HLS files.
pub fn hls_prefix(track_id: &str) -> String {
    format!("tracks/{track_id}/hls/")
}

/// The rendition directory name for a bitrate: `128k`.
pub fn rendition_name(kbps: u32) -> String {
    format!("{kbps}k")
}

pub fn segment_name(index: usize) -> String {
    format!("seg_{index:05}.mp3")
}

pub async fn package(
    state: &AppState,
    track_id: &str,
    audio: DecodedAudio,
    progress: &JobProgress,
) -> Result<Packaged, IngestError> {
    let duration_s = audio.duration_s();
    let renditions = blocking(move || encode::encode_renditions(&audio)).await??;
    progress.set(60);

    // Cut every rendition on the same frame boundaries, each segment laid out
    // to decode on its own (no bit reservoir reaching into the previous one).
    let segmented: Vec<(u32, Vec<hls::Segment>)> = blocking(move || {
        let frames: Vec<&[Vec<u8>]> = renditions.iter().map(|(_, f)| f.as_slice()).collect();
        let cut = hls::segment_renditions(&frames, mist_core::audio::SAMPLE_RATE);
        renditions.iter().map(|(kbps, _)| *kbps).zip(cut).collect()
    })
    .await?;
    let segment_count = segmented.first().map(|(_, s)| s.len()).unwrap_or(0);
    if segment_count == 0 || segmented.iter().any(|(_, s)| s.len() != segment_count) {
        return Err(IngestError::Permanent("encoding produced no audio".into()));
    }

    let key_count = hls::key_count(segment_count);
    let keys: Vec<(crypto::ContentKey, [u8; 16])> = (0..key_count)
        .map(|_| (crypto::random_key(), crypto::random_iv()))
        .collect();

    let prefix = hls_prefix(track_id);
    let base = state.settings.public_url.as_str().trim_end_matches('/').to_owned();
    let total_objects = segment_count * segmented.len();
    let mut written = 0usize;
    let mut variants = Vec::new();
    for (kbps, segments) in segmented {
        let dir = format!("{prefix}{}/", rendition_name(kbps));
        let mut refs = Vec::with_capacity(segments.len());
        let mut sizes = Vec::with_capacity(segments.len());
        let mut encrypted = Vec::with_capacity(segments.len());
        for segment in &segments {
            let k = hls::key_index(segment.index);
            let (key, iv) = &keys[k];
            let data = crypto::encrypt_segment(key, iv, &segment.data);
            sizes.push((data.len(), segment.duration_s));
            let key_ref = (hls::key_segments(k, segment_count).start == segment.index).then(|| KeyRef {
                uri: format!("{base}/api/v1/tracks/{track_id}/keys/{k}"),
                iv: *iv,
            });
            refs.push(MediaSegmentRef {
                uri: segment_name(segment.index),
                duration_s: segment.duration_s,
                key: key_ref,
            });
            encrypted.push((format!("{dir}{}", segment_name(segment.index)), data));
        }
        futures::stream::iter(encrypted)
            .map(|(key, data)| async move { state.store.put_bytes(&key, data.into(), "audio/mpeg").await })
            .buffer_unordered(UPLOAD_CONCURRENCY)
            .inspect_ok(|()| {
                written += 1;
                progress.set((60 + written * 35 / total_objects.max(1)) as u8);
            })
            .try_collect::<Vec<()>>()
            .await?;
        let playlist = hls::media_playlist(&refs);
        state
            .store
            .put_bytes(
                &format!("{dir}index.m3u8"),
                playlist.into_bytes().into(),
                HLS_CONTENT_TYPE,
            )
            .await?;
        // What a player downloads: the encrypted sizes.
        let (bandwidth, average_bandwidth) = hls::bandwidth(&sizes);
        variants.push(Variant {
            uri: format!("{}/index.m3u8", rendition_name(kbps)),
            bandwidth,
            average_bandwidth,
            codecs: MP3_CODECS.to_owned(),
        });
    }
    // Written last: a master playlist in storage means every part exists.
    let master = hls::master_playlist(&variants);
    state
        .store
        .put_bytes(
            &format!("{prefix}master.m3u8"),
            master.into_bytes().into(),
            HLS_CONTENT_TYPE,
        )
        .await?;

    let master_key = &state.settings.master_key.0;
    let stored = keys
        .iter()
        .enumerate()
        .map(|(i, (key, iv))| StoredKey {
            index: i as i64,
            wrapped: crypto::wrap_key(master_key, key),
            iv: iv.to_vec(),
        })
        .collect();
    Ok(Packaged {
        duration_s,
        segment_count,
        keys: stored,
    })
}

/// The registered media type of HLS playlists (RFC 8216 §4).
pub const HLS_CONTENT_TYPE: &str = "application/vnd.apple.mpegurl";
