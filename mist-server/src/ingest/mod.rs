//! Ingest: an uploaded file becomes multi-bitrate, AES-128-encrypted HLS.
//!
//! One decode feeds everything: the file is decoded once (symphonia),
//! resampled to 44.1 kHz stereo, encoded by LAME at 64, 128 and 192 kbps in
//! parallel, cut into ~6 s segments on the same frame boundaries in every
//! rendition, encrypted with a new key every [`SEGMENTS_PER_KEY`] segments,
//! and written to storage with the playlists. The track becomes `ready` in
//! one database transaction at the very end, so nothing half-written is ever
//! served; a retry rewrites the same keys in storage and replaces the keys in
//! the database.

pub mod package;

use std::path::Path;

use futures::StreamExt;
use mist_core::api::CompleteUploadRequest;
use mist_core::audio::{self, AudioError, DecodedAudio};
use tokio::io::AsyncWriteExt;

use crate::analysis;
use crate::app::AppState;
use crate::db::jobs::JobRow;
use crate::db::{tracks, uploads};
use crate::storage::StorageError;
use crate::worker::JobProgress;

pub use mist_core::hls::SEGMENTS_PER_KEY;

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file itself is the problem (not audio, empty, silent): retrying
    /// cannot help. The message is for the uploader.
    #[error("{0}")]
    Permanent(String),
    /// Storage or the database failed: worth retrying later.
    #[error("{0}")]
    Transient(String),
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

/// Runs the ingest job for `job`'s track.
pub async fn run(state: &AppState, job: &JobRow, progress: &JobProgress) -> Result<(), IngestError> {
    let track = tracks::find(&state.db, &job.track_id)
        .await?
        .ok_or_else(|| IngestError::Permanent("the track was deleted".into()))?;
    let upload = uploads::find(&state.db, &job.upload_id)
        .await?
        .ok_or_else(|| IngestError::Permanent("the upload was deleted".into()))?;
    let given: CompleteUploadRequest = serde_json::from_str(&job.payload).unwrap_or_default();
    progress.set(2);

    let dir = tempfile::tempdir().map_err(|e| IngestError::Transient(format!("temp dir: {e}")))?;
    let ext = extension(&upload.filename);
    let local = dir.path().join(format!("original.{}", ext.as_deref().unwrap_or("bin")));
    download(state, &track.original_key, &local).await?;
    progress.set(10);

    let decode_path = local.clone();
    // A truncated file fails: a track that stops short is not what was uploaded.
    let decoded = blocking(move || audio::decode_file(&decode_path, ext.as_deref())?.require_complete()).await??;
    if decoded.frames() == 0 {
        return Err(IngestError::Permanent("the file contains no audio".into()));
    }
    if decoded.is_silent() {
        return Err(IngestError::Permanent("the file contains only silence".into()));
    }
    progress.set(30);
    if progress.lost() {
        return Ok(());
    }

    let metadata = Metadata::merge(&given, &decoded, &upload.filename);
    // Features come from the same decoded samples (design.md §3); the closure
    // hands `decoded` back, since `package` consumes it.
    let (decoded, features) = blocking(move || {
        let features = analysis::features_of(&decoded.samples);
        (decoded, features)
    })
    .await?;
    let features = features.map_err(|e| IngestError::Permanent(format!("the audio cannot be analysed: {e}")))?;
    let packaged = package::package(state, &track.id, decoded, progress).await?;
    if progress.lost() {
        return Ok(());
    }
    let ready = tracks::ReadyTrack {
        title: &metadata.title,
        artist: metadata.artist.as_deref(),
        album: metadata.album.as_deref(),
        genre: metadata.genre.as_deref(),
        duration_ms: (packaged.duration_s * 1000.0).round() as i64,
        segment_count: packaged.segment_count as i64,
        segments_per_key: SEGMENTS_PER_KEY as i64,
    };
    // Not visible before `mark_ready`, so a separate write is safe; a retry replaces it.
    analysis::save(&state.db, &track.id, &features).await?;
    tracks::mark_ready(&state.db, &track.id, &ready, &packaged.keys).await?;
    Ok(())
}

/// Runs CPU-heavy work off the async executor.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, IngestError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| IngestError::Transient(format!("worker task failed: {e}")))
}

async fn download(state: &AppState, key: &str, path: &Path) -> Result<(), IngestError> {
    let object = state.store.get(key, None).await?;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| IngestError::Transient(format!("temp file: {e}")))?;
    let mut body = object.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| IngestError::Transient(format!("reading the upload from storage: {e}")))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| IngestError::Transient(format!("temp file: {e}")))?;
    }
    file.flush()
        .await
        .map_err(|e| IngestError::Transient(format!("temp file: {e}")))?;
    Ok(())
}

/// The lower-cased extension of a file name, if any.
pub fn extension(filename: &str) -> Option<String> {
    Path::new(filename)
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

/// A track's descriptive fields: what the uploader gave wins, then the
/// file's tags, then the file name.
#[derive(Debug, PartialEq)]
pub struct Metadata {
    pub title: String,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub genre: Option<String>,
}

impl Metadata {
    pub fn merge(given: &CompleteUploadRequest, decoded: &DecodedAudio, filename: &str) -> Self {
        let pick = |given: &Option<String>, tag: &Option<String>| clean(given).or_else(|| clean(tag));
        let title = pick(&given.title, &decoded.tags.title).unwrap_or_else(|| title_from_filename(filename));
        Metadata {
            title,
            artist: pick(&given.artist, &decoded.tags.artist),
            album: pick(&given.album, &decoded.tags.album),
            genre: pick(&given.genre, &decoded.tags.genre),
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
        assert_eq!(extension("A.FLAC").as_deref(), Some("flac"));
        assert_eq!(extension("noext"), None);
    }
}
