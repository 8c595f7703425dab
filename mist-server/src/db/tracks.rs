//! The `tracks` and `track_keys` tables.

use crate::db::BeginWrite;
use const_format::concatcp;
use mist_core::api::{Track, TrackStatus};

use super::{Db, ms_to_datetime, now_ms};
use crate::with_pool;

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct TrackRow {
    pub id: String,
    pub uploader_id: String,
    pub title: String,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub genre: Option<String>,
    pub duration_ms: i64,
    pub status: String,
    pub error: Option<String>,
    pub original_key: String,
    pub segment_count: i64,
    pub key_count: i64,
    pub play_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
    // The library's columns (db/albums.rs). `default`: a query that does not
    // select them still reads a row.
    #[sqlx(default)]
    pub album_id: Option<String>,
    #[sqlx(default)]
    pub artist_id: Option<String>,
    #[sqlx(default)]
    pub album_artist: Option<String>,
    #[sqlx(default)]
    pub track_number: Option<i64>,
    #[sqlx(default)]
    pub disc_number: Option<i64>,
    #[sqlx(default)]
    pub year: Option<i64>,
    #[sqlx(default)]
    pub composer: Option<String>,
    #[sqlx(default)]
    pub loudness_lufs: Option<f64>,
    #[sqlx(default)]
    pub true_peak: Option<f64>,
    #[sqlx(default)]
    pub cover_hash: Option<String>,
    /// From the album's row.
    #[sqlx(default)]
    pub album_loudness_lufs: Option<f64>,
    #[sqlx(default)]
    pub album_true_peak: Option<f64>,
}

impl TrackRow {
    pub fn status(&self) -> TrackStatus {
        TrackStatus::parse(&self.status).unwrap_or(TrackStatus::Failed)
    }

    /// The public view; `master_url` is given by the caller, who knows where
    /// playlists are served from.
    pub fn to_api(&self, master_url: Option<String>) -> Track {
        Track {
            id: self.id.clone(),
            title: self.title.clone(),
            artist: self.artist.clone(),
            album: self.album.clone(),
            genre: self.genre.clone(),
            duration_s: self.duration_ms as f64 / 1000.0,
            status: self.status(),
            master_url,
            uploader_id: self.uploader_id.clone(),
            play_count: self.play_count,
            created_at: ms_to_datetime(self.created_at),
            updated_at: ms_to_datetime(self.updated_at),
            album_id: self.album_id.clone(),
            album_artist: self.album_artist.clone(),
            track_number: self.track_number,
            disc_number: self.disc_number,
            year: self.year,
            composer: self.composer.clone(),
            track_gain_db: self.loudness_lufs.map(replay_gain_db),
            track_peak: self.loudness_lufs.and(self.true_peak),
            album_gain_db: self.album_loudness_lufs.map(replay_gain_db),
            album_peak: self.album_loudness_lufs.and(self.album_true_peak),
        }
    }
}

/// ReplayGain 2.0: the gain that brings `lufs` to the reference level.
fn replay_gain_db(lufs: f64) -> f64 {
    mist_core::library::loudness::REFERENCE_LUFS - lufs
}

/// The columns of `tracks t` for [`TrackRow`], the library's included (the
/// album's loudness from its row). Other modules listing tracks use it too.
pub const TRACK_COLUMNS: &str = "t.id, t.uploader_id, t.title, t.artist, t.album, t.genre, t.duration_ms, t.status, t.error, \
         t.original_key, t.segment_count, t.key_count, t.play_count, t.created_at, t.updated_at, \
         t.album_id, t.artist_id, t.album_artist, t.track_number, t.disc_number, t.year, t.composer, \
         t.loudness_lufs, t.true_peak, t.cover_hash, \
         (SELECT a.loudness_lufs FROM albums a WHERE a.id = t.album_id) AS album_loudness_lufs, \
         (SELECT a.true_peak FROM albums a WHERE a.id = t.album_id) AS album_true_peak";

pub async fn find(db: &Db, id: &str) -> Result<Option<TrackRow>, sqlx::Error> {
    let sql = concatcp!("SELECT ", TRACK_COLUMNS, " FROM tracks t WHERE t.id = $1");
    with_pool!(db, pool => sqlx::query_as::<_, TrackRow>(sql).bind(id).fetch_optional(pool).await)
}

/// The tracks with these ids (at most a page's worth), in no particular
/// order; ids with no track are left out. One query instead of one per id.
pub async fn find_many(db: &Db, ids: &[&str]) -> Result<Vec<TrackRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    // Only placeholders are spliced in; the ids are bound.
    let sql = format!(
        "SELECT {TRACK_COLUMNS} FROM tracks t WHERE t.id IN ({})",
        placeholders.join(", ")
    );
    with_pool!(db, pool => {
        let mut query = sqlx::query_as::<_, TrackRow>(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(*id);
        }
        query.fetch_all(pool).await
    })
}

/// What the worker learned about a track.
pub struct ReadyTrack<'a> {
    pub title: &'a str,
    pub artist: Option<&'a str>,
    pub album: Option<&'a str>,
    pub genre: Option<&'a str>,
    pub duration_ms: i64,
    pub segment_count: i64,
    /// Segments encrypted with one key (`mist_core::hls::SEGMENTS_PER_KEY`
    /// for new ingests): the key period the quota charges by.
    pub segments_per_key: i64,
    /// Where this attempt stored the HLS files (`tracks/{id}/hls/{token}/`).
    pub hls_prefix: &'a str,
    /// The ingest job and the claim under which they were made.
    pub job_id: &'a str,
    pub lease_token: &'a str,
    /// Album, artist, numbers, loudness, lyrics, cover (db/albums.rs).
    pub library: super::albums::LibraryFields,
}

/// A wrapped content key and its IV.
pub struct StoredKey {
    pub index: i64,
    pub wrapped: Vec<u8>,
    pub iv: Vec<u8>,
}

/// In transaction `$tx`: replaces the track's keys and makes it ready with
/// `$track`'s metadata, joined to its album and artist. False when the track
/// is gone.
macro_rules! store_ready {
    ($tx:ident, $id:expr, $track:expr, $keys:expr, $now:expr) => {{
        sqlx::query("DELETE FROM track_keys WHERE track_id = $1")
            .bind($id)
            .execute(&mut *$tx)
            .await?;
        for key in $keys {
            sqlx::query("INSERT INTO track_keys (track_id, key_index, wrapped_key, iv) VALUES ($1, $2, $3, $4)")
                .bind($id)
                .bind(key.index)
                .bind(&key.wrapped)
                .bind(&key.iv)
                .execute(&mut *$tx)
                .await?;
        }
        let updated = sqlx::query(
            "UPDATE tracks SET title = $2, artist = $3, album = $4, genre = $5, duration_ms = $6, \
             segment_count = $7, key_count = $8, status = 'ready', error = NULL, updated_at = $9, hls_prefix = $10, \
             segments_per_key = $11 WHERE id = $1",
        )
        .bind($id)
        .bind($track.title)
        .bind($track.artist)
        .bind($track.album)
        .bind($track.genre)
        .bind($track.duration_ms)
        .bind($track.segment_count)
        .bind($keys.len() as i64)
        .bind($now)
        .bind($track.hls_prefix)
        .bind($track.segments_per_key)
        .execute(&mut *$tx)
        .await?
        .rows_affected()
            == 1;
        if updated {
            super::albums::attach!($tx, $id, $track, $now);
        }
        updated
    }};
}

/// Makes a track ready in one transaction, if its ingest job is still
/// claimed under `track.lease_token`: the job becomes ready, the keys replace
/// any from an earlier attempt, and the track names the HLS files the keys
/// encrypt. A worker that lost its claim (or whose track was deleted) changes
/// nothing and gets `false`, so keys and segments always come from one
/// attempt. Until this commits, the track is not playable, so nothing
/// half-written is ever served.
pub async fn mark_ready(db: &Db, id: &str, track: &ReadyTrack<'_>, keys: &[StoredKey]) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let job = sqlx::query(
            "UPDATE ingest_jobs SET status = 'ready', progress = 100, error = NULL, lease_until = NULL, updated_at = $4 \
             WHERE id = $1 AND track_id = $2 AND lease_token = $3 AND status = 'processing'",
        )
        .bind(track.job_id)
        .bind(id)
        .bind(track.lease_token)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if job.rows_affected() != 1 {
            return Ok(false);
        }
        if !store_ready!(tx, id, track, keys, now) {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    })
}

/// What playing a ready track needs to know about it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Playable {
    pub id: String,
    pub duration_ms: i64,
    pub key_count: i64,
    pub segments_per_key: i64,
    /// Where its HLS files are (see [`Playable::hls_dir`]).
    pub hls_prefix: Option<String>,
}

impl Playable {
    /// Where the track's HLS files are stored: the directory its ready
    /// attempt wrote (see [`mark_ready`]), or the one fixed layout of tracks
    /// made before per-attempt directories.
    pub fn hls_dir(&self) -> String {
        self.hls_prefix.clone().unwrap_or_else(|| legacy_hls_prefix(&self.id))
    }
}

/// The storage prefix of a track's HLS files in the layout before
/// per-attempt directories (tracks made then still use it; each attempt's
/// directory is under it: `ingest::package::attempt_prefix`).
pub fn legacy_hls_prefix(track_id: &str) -> String {
    format!("tracks/{track_id}/hls/")
}

/// The track, if it exists and is ready.
pub async fn find_playable(db: &Db, id: &str) -> Result<Option<Playable>, sqlx::Error> {
    let sql = "SELECT id, duration_ms, key_count, segments_per_key, hls_prefix FROM tracks WHERE id = $1 AND status = 'ready'";
    with_pool!(db, pool => sqlx::query_as::<_, Playable>(sql).bind(id).fetch_optional(pool).await)
}

/// Makes a made-up track ready with these keys, without a job (tests and
/// benchmarks; real tracks become ready through [`mark_ready`], fenced by
/// their job). `job_id` and `lease_token` of `track` are not used.
#[cfg(feature = "testing")]
pub async fn set_ready(db: &Db, id: &str, track: &ReadyTrack<'_>, keys: &[StoredKey]) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        if !store_ready!(tx, id, track, keys, now) {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    })
}

pub async fn mark_failed(db: &Db, id: &str, error: &str) -> Result<(), sqlx::Error> {
    let sql = "UPDATE tracks SET status = 'failed', error = $2, updated_at = $3 WHERE id = $1 AND status <> 'ready'";
    with_pool!(db, pool => sqlx::query(sql).bind(id).bind(error).bind(now_ms()).execute(pool).await.map(|_| ()))
}

/// The wrapped key `index` of a track, with its IV.
pub async fn find_key(db: &Db, track_id: &str, index: i64) -> Result<Option<StoredKey>, sqlx::Error> {
    let sql = "SELECT key_index, wrapped_key, iv FROM track_keys WHERE track_id = $1 AND key_index = $2";
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, (i64, Vec<u8>, Vec<u8>)>(sql).bind(track_id).bind(index).fetch_optional(pool).await
    })?;
    Ok(row.map(|(index, wrapped, iv)| StoredKey { index, wrapped, iv }))
}

/// For tests: how many keys the track has.
#[cfg(any(test, feature = "testing"))]
pub async fn count_keys(db: &Db, track_id: &str) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM track_keys WHERE track_id = $1";
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>(sql).bind(track_id).fetch_one(pool).await)
}

/// For tests: how many rows there are.
#[cfg(any(test, feature = "testing"))]
pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM tracks").fetch_one(pool).await)
}

/// A metadata edit: `None` leaves a field alone; an empty artist, album or
/// genre clears it. The title is never empty (the caller checks).
#[derive(Debug, Default)]
pub struct TrackEdit<'a> {
    pub title: Option<&'a str>,
    pub artist: Option<&'a str>,
    pub album: Option<&'a str>,
    pub genre: Option<&'a str>,
}

/// Applies an edit; the search index follows in the same statement
/// (triggers on SQLite, generated columns on Postgres).
pub async fn update(db: &Db, id: &str, edit: &TrackEdit<'_>) -> Result<Option<TrackRow>, sqlx::Error> {
    let sql = "UPDATE tracks SET title = COALESCE($2, title), \
         artist = CASE WHEN $3 IS NULL THEN artist ELSE NULLIF($3, '') END, \
         album = CASE WHEN $4 IS NULL THEN album ELSE NULLIF($4, '') END, \
         genre = CASE WHEN $5 IS NULL THEN genre ELSE NULLIF($5, '') END, \
         updated_at = $6 WHERE id = $1 RETURNING id, uploader_id, title, artist, album, genre, duration_ms, \
         status, error, original_key, segment_count, key_count, play_count, created_at, updated_at";
    with_pool!(db, pool => {
        sqlx::query_as::<_, TrackRow>(sql)
            .bind(id)
            .bind(edit.title)
            .bind(edit.artist)
            .bind(edit.album)
            .bind(edit.genre)
            .bind(now_ms())
            .fetch_optional(pool)
            .await
    })
}

/// Deletes a track's rows: its likes, its playlist entries (closing the gap
/// each leaves), its upload and job, its keys (cascade) and the track. The
/// stored objects are the caller's to delete. False when it did not exist.
pub async fn delete(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        // A write first: on SQLite it takes the write lock before any read.
        sqlx::query("DELETE FROM likes WHERE track_id = $1").bind(id).execute(&mut *tx).await?;
        let entries: Vec<(String, i64)> =
            sqlx::query_as("SELECT playlist_id, position FROM playlist_tracks WHERE track_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        for (playlist_id, position) in entries {
            sqlx::query("UPDATE playlists SET updated_at = $2 WHERE id = $1")
                .bind(&playlist_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM playlist_tracks WHERE playlist_id = $1 AND track_id = $2")
                .bind(&playlist_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            super::close_gap!(tx, &playlist_id, position);
        }
        sqlx::query("DELETE FROM ingest_jobs WHERE track_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM uploads WHERE track_id = $1").bind(id).execute(&mut *tx).await?;
        let deleted = sqlx::query("DELETE FROM tracks WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    })
}

/// Inserts a ready track straight into the catalogue, for tests (real
/// tracks come from the ingest job).
#[cfg(any(test, feature = "testing"))]
pub async fn insert_ready_track(db: &Db, track: &TrackRow) -> Result<(), sqlx::Error> {
    insert_ready_tracks(db, std::slice::from_ref(track)).await
}

/// [`insert_ready_track`] for many tracks, in one transaction.
#[cfg(any(test, feature = "testing"))]
pub async fn insert_ready_tracks(db: &Db, tracks: &[TrackRow]) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO tracks (id, uploader_id, title, artist, album, genre, duration_ms, status, original_key, \
               segment_count, key_count, play_count, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'ready', $8, $9, $10, $11, $12, $13)";
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        for track in tracks {
            sqlx::query(sql)
                .bind(&track.id)
                .bind(&track.uploader_id)
                .bind(&track.title)
                .bind(&track.artist)
                .bind(&track.album)
                .bind(&track.genre)
                .bind(track.duration_ms)
                .bind(&track.original_key)
                .bind(track.segment_count)
                .bind(track.key_count)
                .bind(track.play_count)
                .bind(track.created_at)
                .bind(track.updated_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    })
}
