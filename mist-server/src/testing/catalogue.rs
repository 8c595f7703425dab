//! Ready tracks made directly in the database, for tests of what happens
//! after ingest (sessions, keys, search) without transcoding audio.

use mist_core::api::Quota;

use crate::app::AppState;
use crate::db::tracks::insert_ready_tracks;
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
    /// Segments per key; `None`: what ingest uses now (one). `Some(5)` makes
    /// a track as stored before keys became the quota's unit.
    pub segments_per_key: Option<i64>,
}

/// Inserts a ready track owned by `uploader_id` with real wrapped keys (one
/// per key period) but no stored audio; returns its id. (For many tracks
/// without keys, `db::tracks::insert_ready_tracks`.)
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
        ..Default::default()
    };
    // Right after a server starts, SQLite sometimes answers this first write
    // "database is locked" at once, without waiting out the busy timeout
    // (seen on main at 3696243 too, under load); a test helper tries again.
    for attempt in 1.. {
        match insert_ready_tracks(&state.db, std::slice::from_ref(&row)).await {
            Ok(()) => break,
            Err(e) if attempt < 5 && e.to_string().contains("database is locked") => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("insert track: {e}"),
        }
    }
    let duration_ms = (track.duration_s * 1000.0).round() as i64;
    let segments_per_key = track
        .segments_per_key
        .unwrap_or(mist_core::hls::SEGMENTS_PER_KEY as i64);
    let period = crate::quota::key_period_ms(segments_per_key);
    let key_count = ((duration_ms + period - 1) / period).max(1);
    let (keys, _) = fresh_keys(state, key_count);
    let ready = ReadyTrack {
        title: &track.title,
        artist: track.artist.as_deref(),
        album: track.album.as_deref(),
        genre: track.genre.as_deref(),
        duration_ms,
        segment_count: key_count * segments_per_key,
        segments_per_key,
        hls_prefix: &crate::db::tracks::legacy_hls_prefix(&id),
        job_id: "",
        lease_token: "",
        library: Default::default(),
    };
    assert!(set_ready(&state.db, &id, &ready, &keys).await.expect("mark ready"));
    id
}

/// `count` fresh content keys, wrapped as stored, and the same keys in clear.
fn fresh_keys(state: &AppState, count: i64) -> (Vec<StoredKey>, Vec<mist_core::crypto::ContentKey>) {
    let clear: Vec<_> = (0..count).map(|_| mist_core::crypto::random_key()).collect();
    let stored = clear
        .iter()
        .zip(0..)
        .map(|(key, index)| StoredKey {
            index,
            wrapped: mist_core::crypto::wrap_key(&state.settings.master_key.0, key),
            iv: mist_core::crypto::random_iv().to_vec(),
        })
        .collect();
    (stored, clear)
}

/// Gives a ready track new content keys, as a new ready attempt of its
/// ingest does (`db::tracks::mark_ready` replaces them; same metadata and
/// files here), and returns them in clear, in key order: for tests that a
/// cached key is never served once it changed.
pub async fn rekey_track(state: &AppState, id: &str) -> Vec<mist_core::crypto::ContentKey> {
    let row = crate::db::tracks::find(&state.db, id)
        .await
        .expect("find track")
        .expect("the track exists");
    let playable = crate::db::tracks::find_playable(&state.db, id)
        .await
        .expect("find track")
        .expect("the track is ready");
    let (keys, clear) = fresh_keys(state, playable.key_count);
    let ready = ReadyTrack {
        title: &row.title,
        artist: row.artist.as_deref(),
        album: row.album.as_deref(),
        genre: row.genre.as_deref(),
        duration_ms: playable.duration_ms,
        segment_count: row.segment_count,
        segments_per_key: playable.segments_per_key,
        hls_prefix: &playable.hls_dir(),
        job_id: "",
        lease_token: "",
        library: Default::default(),
    };
    assert!(set_ready(&state.db, id, &ready, &keys).await.expect("new keys"));
    clear
}

/// Uses up `client`'s free daily quota (300 s) the way a player would: a
/// made-up 10-minute track stored with 30 s keys, whose first ten keys it
/// unlocks, reporting the playhead before each. Returns the track and the
/// quota after.
pub async fn spend_the_days_quota(app: &super::TestApp, client: &mist_core::client::Client) -> (String, Quota) {
    let me = client.me().await.expect("me");
    let long = FakeTrack {
        title: "Long".into(),
        duration_s: 600.0,
        segments_per_key: Some(mist_core::hls::LEGACY_SEGMENTS_PER_KEY as i64),
        ..FakeTrack::default()
    };
    let track_id = insert_ready_track(&app.state, &me.id, &long).await;
    let session = client.open_session(&track_id).await.expect("session");
    let period = crate::quota::key_period_ms(mist_core::hls::LEGACY_SEGMENTS_PER_KEY as i64);
    for k in 0..10u64 {
        let report = mist_core::api::HeartbeatRequest {
            seq: k + 1,
            position_s: (k as i64 * period) as f64 / 1000.0,
            playing: true,
        };
        client.heartbeat(&session.session_id, &report).await.expect("heartbeat");
        client.key(&track_id, k).await.expect("key");
    }
    let quota = client.quota().await.expect("quota");
    assert_eq!(quota.remaining_s, Some(0.0), "{quota:?}");
    (track_id, quota)
}
