//! Ready tracks made directly in the database, for tests of what happens
//! after ingest (sessions, keys, search) without transcoding audio.

use crate::app::AppState;
use crate::db::catalogue::insert_ready_tracks;
use crate::db::tracks::{ReadyTrack, StoredKey, TrackRow, set_ready};
use crate::db::{new_id, now_ms};

/// Descriptive fields of a made-up track.
#[derive(Debug, Clone, Default)]
pub struct FakeTrack {
    pub title: String,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub genre: Option<String>,
    pub duration_s: f64,
}

/// Inserts a ready track owned by `uploader_id` with real wrapped keys (one
/// per key period) but no stored audio; returns its id. (For many tracks
/// without keys, `db::catalogue::insert_ready_tracks`.)
pub async fn insert_ready_track(state: &AppState, uploader_id: &str, track: &FakeTrack) -> String {
    let id = new_id();
    let now = now_ms();
    let row = TrackRow {
        id: id.clone(),
        uploader_id: uploader_id.to_owned(),
        title: track.title.clone(),
        artist: None,
        album: None,
        genre: None,
        duration_ms: 0,
        status: "ready".into(),
        error: None,
        original_key: format!("tracks/{id}/original.wav"),
        segment_count: 0,
        key_count: 0,
        play_count: 0,
        created_at: now,
        updated_at: now,
    };
    insert_ready_tracks(&state.db, std::slice::from_ref(&row))
        .await
        .expect("insert track");
    let duration_ms = (track.duration_s * 1000.0).round() as i64;
    let period = crate::quota::key_period_ms();
    let key_count = ((duration_ms + period - 1) / period).max(1);
    let keys: Vec<StoredKey> = (0..key_count)
        .map(|index| StoredKey {
            index,
            wrapped: mist_core::crypto::wrap_key(&state.settings.master_key.0, &mist_core::crypto::random_key()),
            iv: mist_core::crypto::random_iv().to_vec(),
        })
        .collect();
    let ready = ReadyTrack {
        title: &track.title,
        artist: track.artist.as_deref(),
        album: track.album.as_deref(),
        genre: track.genre.as_deref(),
        duration_ms,
        segment_count: key_count * mist_core::hls::SEGMENTS_PER_KEY as i64,
        hls_prefix: &crate::ingest::package::hls_prefix(&id),
        job_id: "",
        lease_token: "",
    };
    assert!(set_ready(&state.db, &id, &ready, &keys).await.expect("mark ready"));
    id
}
