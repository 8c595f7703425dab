//! What an upload says about itself beyond its audio, for the library: its
//! tags (lofty, bounded against hostile files: `mist_core::library::tags`),
//! its cover (decoded under limits, thumbnails stored once per picture, and
//! removed with the last track or album that shows it: [`track_deleted`])
//! and its lyrics, cleaned through [`crate::text`] before anything is stored.
//!
//! None of it can fail an ingest: a file whose tags cannot be read still
//! plays (the decoder's own tags and the file name stand in), and a picture
//! that is refused (too large, not an image, a decompression bomb) leaves
//! the track without a cover.

use std::path::Path;

use bytes::Bytes;
use mist_core::library::cover::{Cover, CoverError};
use mist_core::library::lrc::Lyrics;
use mist_core::library::tags::{self, TrackTags};

use crate::app::AppState;
use crate::db::Db;
use crate::db::albums;
use crate::db::tracks::TrackRow;
use crate::storage::{ObjectStore, StorageError};

/// The longest lyric line kept, in characters.
pub const MAX_LYRIC_LINE_CHARS: usize = 500;

/// Where the thumbnail of `size` px of the cover whose original has SHA-256
/// `hash` (hex) is stored.
pub fn cover_key(hash: &str, size: u32) -> String {
    format!("covers/{hash}/{size}.jpg")
}

/// Where the WebP form of that thumbnail is, when it is smaller than the
/// JPEG (`mist_core::library::cover`); absent otherwise.
pub fn cover_webp_key(hash: &str, size: u32) -> String {
    format!("covers/{hash}/{size}.webp")
}

/// The directory of a cover's thumbnails.
pub fn cover_prefix(hash: &str) -> String {
    format!("covers/{hash}/")
}

/// Reads the tags of the file at `path` on a blocking thread; a file whose
/// tags are refused or unreadable has none.
pub async fn read_tags(path: &Path) -> TrackTags {
    let path = path.to_owned();
    let read = tokio::task::spawn_blocking(move || tags::read_file(&path)).await;
    match read {
        Ok(Ok(tags)) => tags,
        Ok(Err(e)) => {
            tracing::info!(error = %e, "no tags taken from the upload");
            TrackTags::default()
        }
        Err(e) => {
            tracing::error!(error = %e, "the tag reader panicked");
            TrackTags::default()
        }
    }
}

/// Why a cover was not stored.
#[derive(Debug, thiserror::Error)]
pub enum CoverStoreError {
    #[error("{0}")]
    Refused(#[from] CoverError),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("the cover decoder stopped: {0}")]
    Panicked(String),
}

/// Decodes `bytes` under the cover limits, makes the thumbnails and stores
/// them under the picture's hash (once: a picture already stored is not
/// decoded again). Returns the hash (hex).
pub async fn store_cover(state: &AppState, bytes: Vec<u8>) -> Result<String, CoverStoreError> {
    let hash = mist_core::library::hash::ContentHash::of(&bytes).to_hex();
    let largest = mist_core::library::cover::SIZES.iter().copied().max().unwrap_or(600);
    if state.store.head(&cover_key(&hash, largest)).await?.is_some() {
        return Ok(hash);
    }
    let thumbnails = tokio::task::spawn_blocking(move || Cover::decode(&bytes)?.thumbnails())
        .await
        .map_err(|e| CoverStoreError::Panicked(e.to_string()))??;
    // The largest JPEG last: its presence says the set is complete.
    let mut thumbnails = thumbnails;
    thumbnails.sort_by_key(|t| t.size);
    for thumbnail in &mut thumbnails {
        if let Some(webp) = thumbnail.webp.take() {
            state
                .store
                .put_bytes(&cover_webp_key(&hash, thumbnail.size), Bytes::from(webp), "image/webp")
                .await?;
        }
    }
    for thumbnail in thumbnails {
        state
            .store
            .put_bytes(
                &cover_key(&hash, thumbnail.size),
                Bytes::from(thumbnail.jpeg),
                "image/jpeg",
            )
            .await?;
    }
    Ok(hash)
}

/// The cover embedded in `tags`, stored; `None` when there is none or it is
/// refused (logged). A storage failure is worth a retry of the job.
pub async fn embedded_cover(state: &AppState, tags: &mut TrackTags) -> Result<Option<String>, StorageError> {
    let Some(picture) = tags.cover.take() else {
        return Ok(None);
    };
    cover_unless_refused(state, picture.data, "embedded").await
}

/// A cover found beside the file on import (`ingest::beside`), stored like
/// an embedded one, under the same limits.
pub async fn beside_cover(state: &AppState, picture: Vec<u8>) -> Result<Option<String>, StorageError> {
    cover_unless_refused(state, picture, "beside the file").await
}

async fn cover_unless_refused(state: &AppState, picture: Vec<u8>, from: &str) -> Result<Option<String>, StorageError> {
    match store_cover(state, picture).await {
        Ok(hash) => Ok(Some(hash)),
        Err(CoverStoreError::Storage(e)) => Err(e),
        Err(e) => {
            tracing::info!(error = %e, from, "a cover is refused");
            Ok(None)
        }
    }
}

/// Deletes a cover's thumbnails once no track or album shows it.
pub async fn remove_cover_if_unused(db: &Db, store: &ObjectStore, hash: &str) {
    match albums::cover_in_use(db, hash).await {
        Ok(false) => {
            if let Err(e) = store.delete_prefix(&cover_prefix(hash)).await {
                tracing::warn!(cover = hash, error = %e, "cannot remove an unused cover");
            }
        }
        Ok(true) => {}
        Err(e) => tracing::warn!(cover = hash, error = %e, "cannot tell whether a cover is used"),
    }
}

/// After track `row`'s rows were deleted, whoever deleted it (its owner, an
/// admin, the owner's account going): its album goes with its last track,
/// and covers nothing shows any more lose their thumbnails.
pub async fn track_deleted(db: &Db, store: &ObjectStore, row: &TrackRow) -> Result<(), sqlx::Error> {
    let mut covers: Vec<String> = row.cover_hash.clone().into_iter().collect();
    if let Some(album) = &row.album_id {
        covers.extend(albums::cover_hash(db, album).await?);
        albums::track_removed(db, album).await?;
    }
    for cover in covers {
        remove_cover_if_unused(db, store, &cover).await;
    }
    Ok(())
}

/// One timed line of the API and of the stored JSON.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredLine {
    pub time_ms: u64,
    pub text: String,
}

/// Lyrics cleaned for the catalogue: each line through the text gate (a
/// line that is nothing but control characters goes), the timed lines as
/// JSON. `(plain, timed)`.
pub fn clean_lyrics(lyrics: &Lyrics) -> (Option<String>, Option<String>) {
    let clean = |line: &str| mist_core::text::strip(line, MAX_LYRIC_LINE_CHARS);
    let plain: Vec<String> = lyrics.text.lines().map(|l| clean(l).unwrap_or_default()).collect();
    let plain = plain.join("\n").trim().to_owned();
    let timed: Vec<StoredLine> = lyrics
        .lines
        .iter()
        .map(|l| StoredLine {
            time_ms: u64::from(l.start_ms),
            text: clean(&l.text).unwrap_or_default(),
        })
        .collect();
    let timed = (!timed.is_empty())
        .then(|| serde_json::to_string(&timed).ok())
        .flatten();
    ((!plain.is_empty()).then_some(plain), timed)
}
