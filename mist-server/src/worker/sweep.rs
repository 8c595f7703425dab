//! Collection: what users left behind that nobody will use.
//!
//! - An upload ticket nobody completed: well after it expired (see
//!   `db::uploads::COLLECT_AFTER_MS`), its row and whatever bytes arrived.
//! - A track whose ingest failed: its original is kept
//!   `failed_retention_hours` (so the uploader can see why it failed, and an
//!   operator can look at the file), then the track goes, rows and objects.
//!
//! Every worker sweeps every `sweep_interval_secs`; sweeps running at once
//! on several workers are harmless (each deletion is conditional, and
//! deleting what is already gone is not an error). Time comes from the
//! server's clock, so tests move it instead of waiting.

use std::time::Duration;

use crate::app::AppState;
use crate::db::{jobs, tracks, uploads};

/// Rows looked at per sweep and kind, so one sweep stays short.
const BATCH: i64 = 500;

/// What one sweep collected.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub tickets: u64,
    pub failed_tracks: u64,
}

/// Sweeps every `sweep_interval_secs`, forever.
pub async fn run(state: AppState) {
    let every = Duration::from_secs(state.settings.sweep_interval_secs);
    loop {
        match sweep(&state).await {
            Ok(swept) if swept != Swept::default() => tracing::info!(?swept, "collected"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed; will try again"),
        }
        tokio::time::sleep(every).await;
    }
}

/// One sweep (see the module docs).
pub async fn sweep(state: &AppState) -> anyhow::Result<Swept> {
    let now = state.clock.now_ms();
    let mut swept = Swept::default();
    for ticket in uploads::expired_unused(&state.db, now - uploads::COLLECT_AFTER_MS, BATCH).await? {
        // The row first: once it is gone nothing can complete the upload, so
        // its bytes are nobody's.
        if uploads::delete_unused(&state.db, &ticket.id).await? {
            // The ticket's staging directory; tickets from before staging
            // named the track's original key.
            let staging = uploads::staging_dir(&ticket.id);
            if ticket.storage_key.starts_with(&staging) {
                state.store.delete_prefix(&staging).await?;
            } else {
                state.store.delete(&ticket.storage_key).await?;
            }
            swept.tickets += 1;
        }
    }
    let retention_ms = (state.settings.failed_retention_hours * 3600 * 1000) as i64;
    for track_id in jobs::failed_tracks_before(&state.db, now - retention_ms, BATCH).await? {
        if tracks::delete(&state.db, &track_id).await? {
            state.store.delete_prefix(&format!("tracks/{track_id}/")).await?;
            swept.failed_tracks += 1;
        }
    }
    Ok(swept)
}
