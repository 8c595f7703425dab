//! Packaging: segments → encrypted HLS in storage, plus the wrapped keys.
//!
//! Layout, under the attempt's own directory
//! `tracks/{id}/hls/{token}/` (see [`attempt_prefix`]): `master.m3u8`,
//! `{64,128,192}k/index.m3u8` and `…/seg_NNNNN.mp3`. Each media playlist
//! records the samples a decoder outputs beyond the source's
//! (`#EXT-X-MIST-TRIM`, the encoder delay and the last frame's padding), which
//! the player drops for gapless playback. Segment URIs in media
//! playlists are relative; key URIs are absolute
//! (`{public url}/api/v1/tracks/{id}/keys/{k}`), since keys are always
//! fetched from the API, wherever the segments are served from.
//!
//! [`Packager`] takes segments as the transcoder makes them: each is
//! encrypted and stored at once (a few writes in flight), so memory holds a
//! handful of segments whatever the track's length. Key `k` covers segments
//! `[k·K, (k+1)·K)` of every rendition, K being the packager's
//! `segments_per_key`. The playlists, which need every segment's duration,
//! are written last, the master after the media playlists: a master playlist
//! in storage means every part of that attempt exists.

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use mist_core::audio::{BITRATES_KBPS, DECODED_DELAY, encode};
use mist_core::crypto;
use mist_core::hls::{self, KeyRef, MP3_CODECS, MediaSegmentRef, Segment, Variant};

use super::IngestError;
use crate::app::AppState;
use crate::db::tracks::StoredKey;
use crate::storage::StorageError;

/// How many objects are written to storage at once.
const UPLOAD_CONCURRENCY: usize = 8;

pub struct Packaged {
    pub duration_s: f64,
    pub segment_count: usize,
    pub keys: Vec<StoredKey>,
    /// Where the files are: the attempt's directory.
    pub hls_prefix: String,
}

/// The directory one ingest attempt writes its HLS files to: attempts never
/// share files, so keys stored by one always decrypt the segments it wrote.
pub fn attempt_prefix(track_id: &str, lease_token: &str) -> String {
    format!("{}{lease_token}/", crate::db::tracks::legacy_hls_prefix(track_id))
}

/// The rendition directory name for a bitrate: `128k`.
pub fn rendition_name(kbps: u32) -> String {
    format!("{kbps}k")
}

pub fn segment_name(index: usize) -> String {
    format!("seg_{index:05}.mp3")
}

/// What a rendition's playlist needs, gathered as its segments are stored.
struct RenditionOut {
    kbps: u32,
    refs: Vec<MediaSegmentRef>,
    /// Encrypted size and duration of each segment: what a player downloads.
    sizes: Vec<(usize, f64)>,
}

/// Encrypts and stores segments as they come (see the module docs).
pub struct Packager<'a> {
    state: &'a AppState,
    track_id: String,
    prefix: String,
    segments_per_key: usize,
    key_base: String,
    keys: Vec<(crypto::ContentKey, [u8; 16])>,
    renditions: Vec<RenditionOut>,
    in_flight: FuturesUnordered<BoxFuture<'static, Result<(), StorageError>>>,
    segment_count: usize,
    duration_s: f64,
    /// MP3 frames stored per rendition (the same in each).
    mp3_frames: usize,
}

impl<'a> Packager<'a> {
    /// A packager for `track_id` writing under `prefix`, with a new key every
    /// `segments_per_key` segments.
    pub fn new(state: &'a AppState, track_id: &str, prefix: String, segments_per_key: usize) -> Self {
        let base = state.settings.public_url.as_str().trim_end_matches('/');
        Packager {
            state,
            track_id: track_id.to_owned(),
            prefix,
            segments_per_key: segments_per_key.max(1),
            key_base: format!("{base}/api/v1/tracks/{track_id}/keys/"),
            keys: Vec::new(),
            renditions: BITRATES_KBPS
                .iter()
                .map(|&kbps| RenditionOut {
                    kbps,
                    refs: Vec::new(),
                    sizes: Vec::new(),
                })
                .collect(),
            in_flight: FuturesUnordered::new(),
            segment_count: 0,
            duration_s: 0.0,
            mp3_frames: 0,
        }
    }

    /// Segments stored so far (in every rendition).
    pub fn segment_count(&self) -> usize {
        self.segment_count
    }

    /// Encrypts one segment of every rendition (in [`BITRATES_KBPS`] order)
    /// and starts storing them; waits while too many writes are in flight.
    pub async fn add(&mut self, set: Vec<Segment>) -> Result<(), IngestError> {
        if set.len() != self.renditions.len() {
            return Err(IngestError::Permanent("encoding produced a rendition too few".into()));
        }
        let index = self.segment_count;
        let k = index / self.segments_per_key;
        if k == self.keys.len() {
            self.keys.push((crypto::random_key(), crypto::random_iv()));
        }
        let (key, iv) = self.keys[k];
        self.mp3_frames += set.first().map_or(0, |s| s.frames);
        for (out, segment) in self.renditions.iter_mut().zip(set) {
            let data = crypto::encrypt_segment(&key, &iv, &segment.data);
            out.sizes.push((data.len(), segment.duration_s));
            out.refs.push(MediaSegmentRef {
                uri: segment_name(index),
                duration_s: segment.duration_s,
                key: index.is_multiple_of(self.segments_per_key).then(|| KeyRef {
                    uri: format!("{}{k}", self.key_base),
                    iv,
                }),
            });
            let object = format!("{}{}/{}", self.prefix, rendition_name(out.kbps), segment_name(index));
            let store = self.state.store.clone();
            self.in_flight.push(Box::pin(async move {
                store.put_bytes(&object, data.into(), "audio/mpeg").await
            }));
        }
        self.duration_s += self.renditions[0].sizes.last().map_or(0.0, |(_, d)| *d);
        self.segment_count += 1;
        while self.in_flight.len() >= UPLOAD_CONCURRENCY {
            if let Some(result) = self.in_flight.next().await {
                result?;
            }
        }
        Ok(())
    }

    /// Waits for every write, stores the playlists (the master last) and
    /// returns the keys, wrapped with the master key. `source_frames` is the
    /// decoded source's length in samples: with the encoder's delay it gives
    /// the gapless trim each media playlist records.
    pub async fn finish(mut self, source_frames: u64) -> Result<Packaged, IngestError> {
        while let Some(result) = self.in_flight.next().await {
            result?;
        }
        if self.segment_count == 0 {
            return Err(IngestError::Permanent("encoding produced no audio".into()));
        }
        let store = &self.state.store;
        let trim = hls::Trim {
            start: DECODED_DELAY,
            end: encode::padding(source_frames, self.mp3_frames),
        };
        let mut variants = Vec::new();
        for out in &self.renditions {
            let dir = format!("{}{}/", self.prefix, rendition_name(out.kbps));
            let mut playlist = hls::media_model(&out.refs);
            hls::set_trim(&mut playlist, trim);
            let playlist = hls::write_media(&playlist);
            store
                .put_bytes(
                    &format!("{dir}index.m3u8"),
                    playlist.into_bytes().into(),
                    HLS_CONTENT_TYPE,
                )
                .await?;
            let (bandwidth, average_bandwidth) = hls::bandwidth(&out.sizes);
            variants.push(Variant {
                uri: format!("{}/index.m3u8", rendition_name(out.kbps)),
                bandwidth,
                average_bandwidth,
                codecs: MP3_CODECS.to_owned(),
            });
        }
        // Written last: a master playlist in storage means every part exists.
        let master = hls::master_playlist(&variants);
        store
            .put_bytes(
                &format!("{}master.m3u8", self.prefix),
                master.into_bytes().into(),
                HLS_CONTENT_TYPE,
            )
            .await?;

        let master_key = &self.state.settings.master_key.0;
        let keys = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, (key, iv))| StoredKey {
                index: i as i64,
                wrapped: crypto::wrap_key(master_key, key),
                iv: iv.to_vec(),
            })
            .collect();
        tracing::debug!(track_id = %self.track_id, segments = self.segment_count, "packaged");
        Ok(Packaged {
            duration_s: self.duration_s,
            segment_count: self.segment_count,
            keys,
            hls_prefix: self.prefix,
        })
    }

    /// Stops: waits for the writes in flight (so nothing lands after the
    /// caller cleans up) and drops the rest.
    pub async fn abandon(mut self) {
        while self.in_flight.next().await.is_some() {}
    }
}

/// The registered media type of HLS playlists (RFC 8216 §4).
pub const HLS_CONTENT_TYPE: &str = "application/vnd.apple.mpegurl";
