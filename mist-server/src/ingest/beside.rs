//! Files that came beside an original on import (`mist-server import`): the
//! folder's cover picture and the track's own `.lrc`.
//!
//! The importer puts them in the upload ticket's staging directory next to
//! the original before it completes the upload, so they are in storage (not
//! in a process's memory) when the job is queued, and a worker that restarts
//! finds them again. At the start of each attempt the job moves them under
//! the track's own prefix, `tracks/{id}/beside/`, where deleting or
//! collecting the track removes them like everything else of it; a ticket
//! never completed loses them with its staging directory. The ready track
//! no longer needs them (the cover is stored by its hash, the lyrics in its
//! row), so they are deleted then.
//!
//! They are read with the same bounds as an embedded picture or lyrics tag:
//! at most [`MAX_COVER_BYTES`] of picture, decoded under the cover limits by
//! [`super::library::store_cover`], and [`MAX_LYRICS_BYTES`] of `.lrc`.

use futures::StreamExt;
use mist_core::library::cover::MAX_COVER_BYTES;
use mist_core::library::lrc::{self, Lyrics};

use super::IngestError;
use crate::app::AppState;
use crate::db::uploads;
use crate::storage::StorageError;

pub use mist_core::library::lrc::MAX_LYRICS_BYTES;

/// The name of the folder's cover picture, in staging and under the track.
pub const COVER: &str = "beside-cover";
/// The name of the track's `.lrc`.
pub const LYRICS: &str = "beside.lrc";

/// Where the importer puts beside file `name` for upload `upload_id`.
pub fn staging_key(upload_id: &str, name: &str) -> String {
    format!("{}{name}", uploads::staging_dir(upload_id))
}

/// Where the job keeps beside file `name` of track `track_id` until ready.
pub fn track_prefix(track_id: &str) -> String {
    format!("tracks/{track_id}/beside/")
}

/// What was found beside the original.
#[derive(Debug, Default)]
pub struct Beside {
    /// The picture's bytes, not yet decoded.
    pub cover: Option<Vec<u8>>,
    pub lyrics: Option<Lyrics>,
}

/// Moves the beside files of `upload_id` under `track_id` (again harmlessly
/// on a retry) and reads them, bounded. An upload that is not an import has
/// none: two listings, nothing read.
pub async fn take(state: &AppState, upload_id: &str, track_id: &str) -> Result<Beside, IngestError> {
    let prefix = track_prefix(track_id);
    for key in state.store.list(&uploads::staging_dir(upload_id)).await? {
        for name in [COVER, LYRICS] {
            if key == staging_key(upload_id, name) {
                match state.store.rename(&key, &format!("{prefix}{name}")).await {
                    Ok(()) | Err(StorageError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    let mut beside = Beside::default();
    for key in state.store.list(&prefix).await? {
        if key == format!("{prefix}{COVER}") {
            beside.cover = read_capped(state, &key, MAX_COVER_BYTES).await?;
            if beside.cover.is_none() {
                tracing::info!(
                    track_id,
                    "the cover beside the file is over {MAX_COVER_BYTES} bytes; not used"
                );
            }
        } else if key == format!("{prefix}{LYRICS}") {
            beside.lyrics = read_capped(state, &key, MAX_LYRICS_BYTES)
                .await?
                .and_then(|bytes| lrc::parse_bytes(&bytes));
        }
    }
    Ok(beside)
}

/// Deletes what [`take`] moved, once the track no longer needs it.
pub async fn remove(state: &AppState, track_id: &str) {
    if let Err(e) = state.store.delete_prefix(&track_prefix(track_id)).await {
        tracing::warn!(track_id, error = %e, "cannot remove the files imported beside the track");
    }
}

/// The object at `key` if it holds at most `max` bytes; `None` if more. The
/// body is streamed and dropped past `max`, so a large one costs no memory.
async fn read_capped(state: &AppState, key: &str, max: usize) -> Result<Option<Vec<u8>>, IngestError> {
    let object = match state.store.get(key, None).await {
        Ok(object) => object,
        Err(StorageError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut body = object.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| IngestError::Transient(format!("reading a file beside the upload: {e}")))?;
        if bytes.len() + chunk.len() > max {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}
