//! Ingest: an uploaded file becomes multi-bitrate, AES-128-encrypted HLS.
//!
//! One decode feeds everything, a chunk at a time: the file is decoded
//! (symphonia) and resampled to 44.1 kHz stereo, and each chunk goes to the
//! feature extractor and to LAME at 64, 128 and 192 kbps in parallel; the
//! frames are cut into ~6 s segments on the same boundaries in every
//! rendition, and each segment is encrypted and stored as soon as it exists
//! ([`transcode`] on threads, [`package`] on the async side). Memory stays
//! the same whatever the track's length, and a file longer than the limit
//! (by its header, or by what it turns out to hold) stops with a reason.
//!
//! Each attempt writes under its own directory; the track becomes `ready`
//! in one database transaction at the very end, conditional on the attempt
//! still holding its job, so nothing half-written is ever served and keys
//! always match segments. An attempt that fails, or loses its job, deletes
//! what it wrote.

pub mod beside;
pub mod library;
pub mod package;
pub mod progress;
pub mod transcode;

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use mist_core::api::CompleteUploadRequest;
use mist_core::audio::{AudioError, DecodeLimits, Tags};
use mist_core::library::tags::TrackTags;
use tokio::io::AsyncWriteExt;

use crate::analysis::{self, TrackAnalysis};
use crate::app::AppState;
use crate::db::albums::{self, LibraryFields};
use crate::db::jobs::{DUPLICATE_PREFIX, JobRow};
use crate::db::{tracks, uploads};
use crate::storage::StorageError;

pub use mist_core::hls::SEGMENTS_PER_KEY;
pub use progress::JobProgress;

/// Peak level below which a track counts as silent: -60 dBFS.
const SILENCE_PEAK: f32 = 0.001;

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file itself is the problem (not audio, empty, silent, too long):
    /// retrying cannot help. The message is for the uploader.
    #[error("{0}")]
    Permanent(String),
    /// Storage or the database failed: worth retrying later.
    #[error("{0}")]
    Transient(String),
    /// The attempt was stopped from outside: its claim was lost or its track
    /// deleted, the worker is stopping, or its time ran out. Nothing it did
    /// stands.
    #[error("{0}")]
    Cancelled(String),
    /// The uploader already has a track made from the same bytes (its id):
    /// permanent, like [`IngestError::Permanent`].
    #[error("{DUPLICATE_PREFIX}{0}")]
    Duplicate(String),
}

impl From<StorageError> for IngestError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::NotFound(_) => IngestError::Permanent("the uploaded file is missing from storage".into()),
            other => IngestError::Transient(format!("storage: {other}")),
        }
    }
}

impl From<sqlx::Error> for IngestError {
    fn from(err: sqlx::Error) -> Self {
        IngestError::Transient(format!("database: {err}"))
    }
}

impl From<AudioError> for IngestError {
    fn from(err: AudioError) -> Self {
        match err {
            AudioError::Io(e) => IngestError::Transient(format!("reading the upload: {e}")),
            other => IngestError::Permanent(other.to_string()),
        }
    }
}

/// Runs one attempt at `job`'s ingest, claimed under `token`.
pub async fn run(state: &AppState, job: &JobRow, token: &str, progress: &Arc<JobProgress>) -> Result<(), IngestError> {
    let track = tracks::find(&state.db, &job.track_id)
        .await?
        .ok_or_else(|| IngestError::Cancelled("the track was deleted".into()))?;
    let upload = uploads::find(&state.db, &job.upload_id)
        .await?
        .ok_or_else(|| IngestError::Cancelled("the upload was deleted".into()))?;
    let given: CompleteUploadRequest = serde_json::from_str(&job.payload).unwrap_or_default();
    progress.set(2);

    let dir = tempfile::tempdir().map_err(|e| IngestError::Transient(format!("temp dir: {e}")))?;
    let ext = crate::storage::extension(&upload.filename);
    let local = dir.path().join(format!("original.{}", ext.as_deref().unwrap_or("bin")));
    let sha256 = download(state, &track.original_key, &local).await?;
    if let Some(existing) = albums::track_with_hash(&state.db, &track.uploader_id, &sha256)
        .await?
        .filter(|existing| *existing != track.id)
    {
        return Err(IngestError::Duplicate(existing));
    }
    let mut file_tags = library::read_tags(&local).await;
    let beside = beside::take(state, &upload.id, &track.id).await?;
    let mut cover_hash = library::embedded_cover(state, &mut file_tags).await?;
    // A picture in the file is the track's own; the folder's is the fallback.
    if let (None, Some(picture)) = (&cover_hash, beside.cover) {
        cover_hash = library::beside_cover(state, picture).await?;
    }
    // An `.lrc` put beside the file on purpose wins over lyrics in its tags.
    if beside.lyrics.is_some() {
        file_tags.lyrics = beside.lyrics;
    }
    progress.set(5);

    let prefix = package::attempt_prefix(&track.id, token);
    let result = transcode_and_store(state, &track.id, &prefix, &local, ext, progress).await;
    let (transcoded, packaged) = match result {
        Ok(done) => done,
        Err(e) => {
            remove_attempt(state, &track.id, &prefix).await;
            return Err(e);
        }
    };

    let metadata = Metadata::merge(&given, &file_tags, &transcoded.report.tags, &upload.filename);
    let (lyrics_text, lyrics_lines) = file_tags.lyrics.as_ref().map(library::clean_lyrics).unwrap_or_default();
    let loudness = transcoded
        .loudness
        .map_err(|e| tracing::warn!(track_id = %track.id, error = %e, "loudness not measured"))
        .ok();
    let ready = tracks::ReadyTrack {
        title: &metadata.title,
        artist: metadata.artist.as_deref(),
        album: metadata.album.as_deref(),
        genre: metadata.genre.as_deref(),
        // The source's length, as heard: the playlists' segments add the
        // encoder delay and padding the player trims.
        duration_ms: (transcoded.report.frames as f64 * 1000.0 / f64::from(mist_core::audio::SAMPLE_RATE)).round()
            as i64,
        segment_count: packaged.segment_count as i64,
        segments_per_key: SEGMENTS_PER_KEY as i64,
        hls_prefix: &packaged.hls_prefix,
        job_id: &job.id,
        lease_token: token,
        library: LibraryFields {
            // The uploader's values win here too.
            album_artist: clean(&given.album_artist).or_else(|| clean(&file_tags.album_artist)),
            track_number: given.track_number.or(file_tags.track_number.map(i64::from)),
            disc_number: given.disc_number.or(file_tags.disc_number.map(i64::from)),
            year: given.year.or(file_tags.year.map(i64::from)),
            composer: clean(&given.composer).or_else(|| clean(&file_tags.composer)),
            compilation: file_tags.compilation,
            sha256: Some(sha256.clone()),
            loudness,
            lyrics_text,
            lyrics_lines,
            cover_hash,
        },
    };
    let analysis = TrackAnalysis {
        embedding: transcoded.features.embedding(),
        features: transcoded.features,
    };
    let stored = async {
        // Not visible before `mark_ready`, so a separate write is safe; a retry replaces it.
        analysis::save(&state.db, &track.id, &analysis).await?;
        tracks::mark_ready(&state.db, &track.id, &ready, &packaged.keys).await
    }
    .await;
    match stored {
        Ok(true) => {}
        Ok(false) => {
            remove_attempt(state, &track.id, &prefix).await;
            return Err(IngestError::Cancelled(
                "the job was taken over or its track deleted".into(),
            ));
        }
        Err(e) => {
            remove_attempt(state, &track.id, &prefix).await;
            // The same bytes became ready for this uploader meanwhile (the
            // unique index on uploader and hash).
            if let Some(existing) = albums::track_with_hash(&state.db, &track.uploader_id, &sha256)
                .await?
                .filter(|existing| *existing != track.id)
            {
                return Err(IngestError::Duplicate(existing));
            }
            return Err(e.into());
        }
    }
    // Earlier attempts that died or stalled left their directories behind.
    remove_other_attempts(state, &track.id, &prefix).await;
    beside::remove(state, &track.id).await;
    Ok(())
}

/// What a successful transcode and store leaves for the ready step.
struct Stored {
    report: mist_core::audio::DecodeReport,
    features: mist_core::features::Features,
    loudness: Result<mist_core::library::loudness::Loudness, mist_core::library::loudness::LoudnessError>,
}

/// Decodes, encodes, segments, encrypts and stores, all at once; then
/// refuses what is not a complete, audible track.
async fn transcode_and_store(
    state: &AppState,
    track_id: &str,
    prefix: &str,
    path: &Path,
    ext: Option<String>,
    progress: &Arc<JobProgress>,
) -> Result<(Stored, package::Packaged), IngestError> {
    let limits = DecodeLimits {
        max_duration_s: Some(state.settings.max_duration_secs as f64),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let (path, blocking_progress) = (path.to_owned(), progress.clone());
    let transcode =
        tokio::task::spawn_blocking(move || transcode::run(&path, ext.as_deref(), limits, blocking_progress, tx));
    let mut packager = package::Packager::new(state, track_id, prefix.to_owned(), SEGMENTS_PER_KEY);
    let mut stored = Ok(());
    while let Some(set) = rx.recv().await {
        if progress.stopped() {
            break;
        }
        if let Err(e) = packager.add(set).await {
            stored = Err(e);
            progress.stop();
            break;
        }
    }
    // Let the transcoder see the closed channel and wind down.
    drop(rx);
    // A panic is a bug, or the system out of threads: another attempt may
    // fare better, and the attempts cap ends it if not.
    let transcoded = transcode.await.map_err(|e| {
        tracing::error!(error = %e, "the transcoder panicked");
        IngestError::Transient("the worker hit an internal error (it has been logged)".into())
    });
    let transcoded = match (stored, transcoded) {
        (Err(e), _) => {
            packager.abandon().await;
            return Err(e);
        }
        (Ok(()), Err(e)) | (Ok(()), Ok(Err(e))) => {
            packager.abandon().await;
            return Err(e);
        }
        (Ok(()), Ok(Ok(t))) => t,
    };
    // A track that stops short is not what was uploaded.
    if let Some(reason) = transcoded.report.truncated.clone() {
        packager.abandon().await;
        return Err(AudioError::Truncated(reason).into());
    }
    if transcoded.report.frames == 0 || transcoded.segments == 0 {
        packager.abandon().await;
        return Err(IngestError::Permanent("the file contains no audio".into()));
    }
    if transcoded.peak < SILENCE_PEAK {
        packager.abandon().await;
        return Err(IngestError::Permanent("the file contains only silence".into()));
    }
    let features = match transcoded.features {
        Ok(features) => features,
        Err(mist_core::features::FeatureError::Io(e)) => {
            packager.abandon().await;
            return Err(IngestError::Transient(format!("analysis scratch files: {e}")));
        }
        Err(e) => {
            packager.abandon().await;
            return Err(IngestError::Permanent(format!("the audio cannot be analysed: {e}")));
        }
    };
    let packaged = packager.finish(transcoded.report.frames).await?;
    progress.set(97);
    Ok((
        Stored {
            report: transcoded.report,
            features,
            loudness: transcoded.loudness,
        },
        packaged,
    ))
}

/// Deletes what one attempt wrote; when the track itself is gone (deleted
/// while this attempt ran), everything left under it.
async fn remove_attempt(state: &AppState, track_id: &str, prefix: &str) {
    let gone = matches!(tracks::find(&state.db, track_id).await, Ok(None));
    let target = if gone {
        format!("tracks/{track_id}/")
    } else {
        prefix.to_owned()
    };
    match state.store.delete_prefix(&target).await {
        Ok(n) => tracing::info!(track_id, prefix = %target, objects = n, "removed what the attempt wrote"),
        Err(e) => tracing::warn!(track_id, prefix = %target, error = %e, "cannot remove what the attempt wrote"),
    }
}

/// Deletes every HLS directory of the track but the ready one.
async fn remove_other_attempts(state: &AppState, track_id: &str, ready: &str) {
    let all = crate::db::tracks::legacy_hls_prefix(track_id);
    match state.store.list(&all).await {
        Ok(keys) => {
            let stale: std::collections::BTreeSet<String> = keys
                .iter()
                .filter(|k| !k.starts_with(ready))
                .filter_map(|k| {
                    // `tracks/{id}/hls/{token}/…`: the directory; older layouts' files one by one.
                    let rest = k.strip_prefix(&all)?;
                    Some(match rest.split_once('/') {
                        Some((dir, _)) if !dir.ends_with('k') => format!("{all}{dir}/"),
                        _ => k.clone(),
                    })
                })
                .collect();
            for stale in stale {
                let removed = if stale.ends_with('/') {
                    state.store.delete_prefix(&stale).await.map(|_| ())
                } else {
                    state.store.delete(&stale).await
                };
                if let Err(e) = removed {
                    tracing::warn!(track_id, prefix = %stale, error = %e, "cannot remove an old attempt's files");
                }
            }
        }
        Err(e) => tracing::warn!(track_id, error = %e, "cannot list the track's HLS files"),
    }
}

/// Copies the original to `path`, hashing it on the way; returns its
/// SHA-256 (hex).
async fn download(state: &AppState, key: &str, path: &Path) -> Result<String, IngestError> {
    let object = state.store.get(key, None).await?;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| IngestError::Transient(format!("temp file: {e}")))?;
    let mut body = object.body;
    let mut hasher = mist_core::library::hash::Hasher::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| IngestError::Transient(format!("reading the upload from storage: {e}")))?;
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| IngestError::Transient(format!("temp file: {e}")))?;
    }
    file.flush()
        .await
        .map_err(|e| IngestError::Transient(format!("temp file: {e}")))?;
    Ok(hasher.finish().to_hex())
}

/// A track's descriptive fields: what the uploader gave wins, then the
/// file's tags (lofty's, then the decoder's), then the file name.
#[derive(Debug, PartialEq)]
pub struct Metadata {
    pub title: String,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub genre: Option<String>,
}

impl Metadata {
    pub fn merge(given: &CompleteUploadRequest, file: &TrackTags, tags: &Tags, filename: &str) -> Self {
        let pick = |given: &Option<String>, file: &Option<String>, tag: &Option<String>| {
            clean(given).or_else(|| clean(file)).or_else(|| clean(tag))
        };
        let title = pick(&given.title, &file.title, &tags.title).unwrap_or_else(|| title_from_filename(filename));
        Metadata {
            title,
            artist: pick(&given.artist, &file.artist, &tags.artist),
            album: pick(&given.album, &file.album, &tags.album),
            genre: pick(&given.genre, &file.genre, &tags.genre),
        }
    }
}

/// Control and bidi-override characters stripped, length bounded: tags are
/// whatever the file says (see [`crate::text`]).
fn clean(value: &Option<String>) -> Option<String> {
    crate::text::tag(value.as_deref())
}

/// `"02 - Blue_in_Green.flac"` → `"02 - Blue in Green"`.
pub fn title_from_filename(filename: &str) -> String {
    let stem = Path::new(filename)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(filename);
    let title = stem.replace('_', " ").trim().to_owned();
    if title.is_empty() { "Untitled".to_owned() } else { title }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_from_file_names() {
        assert_eq!(title_from_filename("02 - Blue_in_Green.flac"), "02 - Blue in Green");
        assert_eq!(title_from_filename("noext"), "noext");
        assert_eq!(title_from_filename(".mp3"), ".mp3");
        assert_eq!(title_from_filename("___.wav"), "Untitled");
    }

    #[test]
    fn extensions_are_lower_cased() {
        assert_eq!(crate::storage::extension("A.FLAC").as_deref(), Some("flac"));
        assert_eq!(crate::storage::extension("noext"), None);
    }
}
