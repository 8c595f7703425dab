//! What the OpenSubsonic surface (`http::subsonic`, docs/subsonic.md) keeps
//! of its own: the `api_keys`, `app_passwords` and `play_queues` tables, and
//! the few listings Subsonic asks for that the library routes do not (every
//! ready song in pages, random songs, genres with counts, per-user stars and
//! last plays of a page of songs, what is playing now).
//!
//! Everything else a Subsonic method needs goes through the existing
//! modules (albums, likes, playlists, sessions), so there is one way to
//! like, list or charge.

use super::tracks::TrackRow;
use super::{Db, new_id};
use crate::with_pool;
use const_format::concatcp;

use super::tracks::TRACK_COLUMNS;

/// An API key as listed (never its secret: only its hash is stored).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub async fn insert_api_key(
    db: &Db,
    user_id: &str,
    name: &str,
    key_hash: &str,
    now: i64,
) -> Result<ApiKeyRow, sqlx::Error> {
    let id = new_id();
    let sql = "INSERT INTO api_keys (id, user_id, name, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)";
    with_pool!(db, pool => {
        sqlx::query(sql).bind(&id).bind(user_id).bind(name).bind(key_hash).bind(now).execute(pool).await.map(|_| ())
    })?;
    Ok(ApiKeyRow {
        id,
        name: name.to_owned(),
        created_at: now,
        last_used_at: None,
    })
}

/// A user's keys, oldest first.
pub async fn api_keys(db: &Db, user_id: &str) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    let sql = "SELECT id, name, created_at, last_used_at FROM api_keys WHERE user_id = $1 ORDER BY created_at, id";
    with_pool!(db, pool => sqlx::query_as::<_, ApiKeyRow>(sql).bind(user_id).fetch_all(pool).await)
}

/// How many keys a user has (the creation cap).
pub async fn count_api_keys(db: &Db, user_id: &str) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM api_keys WHERE user_id = $1";
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>(sql).bind(user_id).fetch_one(pool).await)
}

/// Revokes one of the user's keys; false when it is not theirs or gone.
pub async fn delete_api_key(db: &Db, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM api_keys WHERE id = $1 AND user_id = $2";
    let done =
        with_pool!(db, pool => sqlx::query(sql).bind(id).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// `last_used_at` is refreshed at most this often: every Subsonic request
/// signs in, and a write each time would queue them all behind SQLite's
/// one writer.
const LAST_USED_EVERY_MS: i64 = 60_000;

/// The user a key hash belongs to, marking the key used.
pub async fn api_key_user(db: &Db, key_hash: &str, now: i64) -> Result<Option<String>, sqlx::Error> {
    let find = "SELECT user_id, last_used_at FROM api_keys WHERE key_hash = $1";
    let touch = "UPDATE api_keys SET last_used_at = $2 WHERE key_hash = $1";
    let found: Option<(String, Option<i64>)> =
        with_pool!(db, pool => sqlx::query_as(find).bind(key_hash).fetch_optional(pool).await)?;
    let Some((user_id, last_used_at)) = found else {
        return Ok(None);
    };
    if last_used_at.is_none_or(|at| now - at >= LAST_USED_EVERY_MS) {
        with_pool!(db, pool => sqlx::query(touch).bind(key_hash).bind(now).execute(pool).await.map(|_| ()))?;
    }
    Ok(Some(user_id))
}

/// Sets (or replaces) the user's wrapped app password.
pub async fn set_app_password(db: &Db, user_id: &str, wrapped: &[u8], now: i64) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO app_passwords (user_id, wrapped, created_at) VALUES ($1, $2, $3) \
               ON CONFLICT (user_id) DO UPDATE SET wrapped = excluded.wrapped, created_at = excluded.created_at";
    with_pool!(db, pool => sqlx::query(sql).bind(user_id).bind(wrapped).bind(now).execute(pool).await.map(|_| ()))
}

/// The user's wrapped app password, if one was made.
pub async fn app_password(db: &Db, user_id: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
    let sql = "SELECT wrapped FROM app_passwords WHERE user_id = $1";
    with_pool!(db, pool => sqlx::query_scalar::<_, Vec<u8>>(sql).bind(user_id).fetch_optional(pool).await)
}

pub async fn delete_app_password(db: &Db, user_id: &str) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM app_passwords WHERE user_id = $1";
    let done = with_pool!(db, pool => sqlx::query(sql).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// A saved play queue.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlayQueueRow {
    /// A JSON array of track ids.
    pub track_ids: String,
    pub current_index: Option<i64>,
    pub position_ms: i64,
    pub changed_at: i64,
    pub changed_by: String,
}

pub async fn play_queue(db: &Db, user_id: &str) -> Result<Option<PlayQueueRow>, sqlx::Error> {
    let sql =
        "SELECT track_ids, current_index, position_ms, changed_at, changed_by FROM play_queues WHERE user_id = $1";
    with_pool!(db, pool => sqlx::query_as::<_, PlayQueueRow>(sql).bind(user_id).fetch_optional(pool).await)
}

/// Replaces the user's queue (the last save wins, as in Subsonic).
pub async fn save_play_queue(db: &Db, user_id: &str, queue: &PlayQueueRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO play_queues (user_id, track_ids, current_index, position_ms, changed_at, changed_by) \
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO UPDATE SET track_ids = excluded.track_ids, \
               current_index = excluded.current_index, position_ms = excluded.position_ms, \
               changed_at = excluded.changed_at, changed_by = excluded.changed_by";
    with_pool!(db, pool => {
        sqlx::query(sql)
            .bind(user_id).bind(&queue.track_ids).bind(queue.current_index).bind(queue.position_ms)
            .bind(queue.changed_at).bind(&queue.changed_by)
            .execute(pool).await.map(|_| ())
    })
}

/// Every ready song in a stable order (title, id), a page at a time: what
/// `search3` with an empty query returns, so a client can sync the library.
pub async fn songs_page(db: &Db, offset: i64, limit: i64) -> Result<Vec<TrackRow>, sqlx::Error> {
    let sql = concatcp!(
        "SELECT ",
        TRACK_COLUMNS,
        " FROM tracks t WHERE t.status = 'ready' ORDER BY lower(t.title), t.id LIMIT $1 OFFSET $2"
    );
    with_pool!(db, pool => sqlx::query_as::<_, TrackRow>(sql).bind(limit).bind(offset).fetch_all(pool).await)
}

/// Random ready songs, optionally of a genre and between years.
pub async fn random_songs(
    db: &Db,
    genre: Option<&str>,
    from_year: Option<i64>,
    to_year: Option<i64>,
    limit: i64,
) -> Result<Vec<TrackRow>, sqlx::Error> {
    let sql = concatcp!(
        "SELECT ",
        TRACK_COLUMNS,
        " FROM tracks t WHERE t.status = 'ready' AND ($1 IS NULL OR lower(t.genre) = lower($1)) \
         AND ($2 IS NULL OR t.year >= $2) AND ($3 IS NULL OR t.year <= $3) ORDER BY RANDOM() LIMIT $4"
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, TrackRow>(sql).bind(genre).bind(from_year).bind(to_year).bind(limit).fetch_all(pool).await
    })
}

/// Ready songs of a genre (case-insensitive), a page at a time.
pub async fn songs_by_genre(db: &Db, genre: &str, offset: i64, limit: i64) -> Result<Vec<TrackRow>, sqlx::Error> {
    let sql = concatcp!(
        "SELECT ",
        TRACK_COLUMNS,
        " FROM tracks t WHERE t.status = 'ready' AND lower(t.genre) = lower($1) \
         ORDER BY lower(t.title), t.id LIMIT $2 OFFSET $3"
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, TrackRow>(sql).bind(genre).bind(limit).bind(offset).fetch_all(pool).await
    })
}

/// A genre with its ready songs and the albums they are on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GenreRow {
    pub name: String,
    pub song_count: i64,
    pub album_count: i64,
}

pub async fn genres(db: &Db) -> Result<Vec<GenreRow>, sqlx::Error> {
    let sql = "SELECT MIN(genre) AS name, COUNT(*) AS song_count, COUNT(DISTINCT album_id) AS album_count \
               FROM tracks WHERE status = 'ready' AND genre IS NOT NULL AND genre <> '' \
               GROUP BY lower(genre) ORDER BY lower(genre) LIMIT 10000";
    with_pool!(db, pool => sqlx::query_as::<_, GenreRow>(sql).fetch_all(pool).await)
}

/// An artist with ready albums, for `getArtists` / `getIndexes`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArtistEntry {
    pub id: String,
    pub name: String,
    pub album_count: i64,
    pub cover_hash: Option<String>,
}

/// Every artist that has a ready track or album, by name.
pub async fn artists(db: &Db) -> Result<Vec<ArtistEntry>, sqlx::Error> {
    let sql = "SELECT r.id, r.name, \
               (SELECT COUNT(*) FROM albums a WHERE a.artist_id = r.id \
                AND EXISTS (SELECT 1 FROM tracks t WHERE t.album_id = a.id AND t.status = 'ready')) AS album_count, \
               (SELECT MIN(a.cover_hash) FROM albums a WHERE a.artist_id = r.id) AS cover_hash \
               FROM artists r WHERE EXISTS (SELECT 1 FROM tracks t WHERE t.status = 'ready' \
               AND (t.artist_id = r.id OR t.album_id IN (SELECT a.id FROM albums a WHERE a.artist_id = r.id))) \
               ORDER BY lower(r.name), r.id LIMIT 100000";
    with_pool!(db, pool => sqlx::query_as::<_, ArtistEntry>(sql).fetch_all(pool).await)
}

/// What one user has done with some songs: when each was starred (liked)
/// and last played. Ids not in the answer are neither.
#[derive(Debug, Clone, Default)]
pub struct Annotations {
    pub starred: std::collections::HashMap<String, i64>,
    pub played: std::collections::HashMap<String, i64>,
}

/// A track id and a time.
type IdTime = (String, i64);

pub async fn annotations(db: &Db, user_id: &str, track_ids: &[&str]) -> Result<Annotations, sqlx::Error> {
    let mut out = Annotations::default();
    // One page of ids at a time keeps the placeholders under every engine's limit.
    for chunk in track_ids.chunks(500) {
        let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let list = placeholders.join(", ");
        // Only placeholders are spliced in; the ids are bound.
        let likes = format!("SELECT track_id, created_at FROM likes WHERE user_id = $1 AND track_id IN ({list})");
        let plays = format!(
            "SELECT track_id, MAX(started_at) FROM playback_sessions WHERE user_id = $1 AND track_id IN ({list}) \
             GROUP BY track_id"
        );
        let (starred, played): (Vec<IdTime>, Vec<IdTime>) = with_pool!(db, pool => {
            let mut q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(likes)).bind(user_id);
            for id in chunk {
                q = q.bind(*id);
            }
            let starred = q.fetch_all(pool).await?;
            let mut q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(plays)).bind(user_id);
            for id in chunk {
                q = q.bind(*id);
            }
            (starred, q.fetch_all(pool).await?)
        });
        out.starred.extend(starred);
        out.played.extend(played);
    }
    Ok(out)
}

/// What each user is playing now: their latest open session (reported in
/// the last `idle_ms`), newest first.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NowPlayingRow {
    pub username: String,
    pub track_id: String,
    pub last_report_at: i64,
}

pub async fn now_playing(db: &Db, now: i64, idle_ms: i64) -> Result<Vec<NowPlayingRow>, sqlx::Error> {
    let sql = "SELECT u.username, s.track_id, s.last_report_at FROM playback_sessions s JOIN users u ON u.id = s.user_id \
               WHERE s.completed = $2 AND s.closed_at IS NULL AND s.last_report_at >= $1 \
               ORDER BY s.last_report_at DESC LIMIT 100";
    with_pool!(db, pool => {
        sqlx::query_as::<_, NowPlayingRow>(sql).bind(now - idle_ms).bind(false).fetch_all(pool).await
    })
}

/// Records a listen a Subsonic client reported (`scrobble`) as a completed
/// session of `listened_ms`, started at `started_at`; the caller then asks
/// `sessions::count_play` whether it earns a play, as for any session.
pub async fn record_listen(
    db: &Db,
    user_id: &str,
    track_id: &str,
    duration_ms: i64,
    listened_ms: i64,
    started_at: i64,
    now: i64,
) -> Result<super::sessions::SessionRow, sqlx::Error> {
    let id = super::sessions::new_session_id();
    let sql = "INSERT INTO playback_sessions (id, user_id, track_id, duration_ms, last_seq, position_ms, last_report_at, \
               last_counted_ms, listened_ms, completed, completed_at, started_at) \
               VALUES ($1, $2, $3, $4, 1, $5, $6, $5, $5, $7, $6, $8)";
    with_pool!(db, pool => {
        sqlx::query(sql)
            .bind(&id).bind(user_id).bind(track_id).bind(duration_ms).bind(listened_ms).bind(now).bind(true).bind(started_at)
            .execute(pool).await.map(|_| ())
    })?;
    Ok(super::sessions::SessionRow {
        id,
        user_id: user_id.to_owned(),
        track_id: track_id.to_owned(),
        duration_ms,
        last_seq: 1,
        position_ms: listened_ms,
        last_report_at: now,
        last_counted_ms: listened_ms,
        listened_ms,
        completed: true,
        completed_at: Some(now),
        started_at,
        closed_at: None,
        play_counted: false,
    })
}

/// Milliseconds of a track's audio the user unlocked (keys given or audio
/// streamed) since `since_day`, each key counted once: the most a scrobble
/// can claim to have heard.
pub async fn unlocked_ms(db: &Db, user_id: &str, track_id: &str, since_day: &str) -> Result<i64, sqlx::Error> {
    let sql = "SELECT CAST(COALESCE(SUM(c), 0) AS BIGINT) FROM \
               (SELECT MAX(covered_ms) AS c FROM key_unlocks \
                WHERE user_id = $1 AND track_id = $2 AND day >= $3 GROUP BY key_index) u";
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>(sql).bind(user_id).bind(track_id).bind(since_day).fetch_one(pool).await)
}

/// Which albums `getAlbumList2` picks where the library's own listing has
/// no order for it.
#[derive(Debug, Clone, Copy)]
pub enum AlbumPick<'a> {
    Random,
    /// Albums holding a song the user starred (liked): stars are on songs.
    StarredBy(&'a str),
    /// Years from..=to, in that direction (to < from: newest first).
    Years(i64, i64),
}

/// Ids of albums with a ready track, as `pick` orders them, one page.
pub async fn album_ids(db: &Db, pick: AlbumPick<'_>, limit: i64, offset: i64) -> Result<Vec<String>, sqlx::Error> {
    let ready = "EXISTS (SELECT 1 FROM tracks t WHERE t.album_id = a.id AND t.status = 'ready')";
    with_pool!(db, pool => match pick {
        AlbumPick::Random => {
            let sql = format!("SELECT a.id FROM albums a WHERE {ready} ORDER BY RANDOM() LIMIT $1 OFFSET $2");
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(limit).bind(offset).fetch_all(pool).await
        }
        AlbumPick::StarredBy(user_id) => {
            let sql = format!(
                "SELECT a.id FROM albums a WHERE {ready} AND EXISTS (SELECT 1 FROM likes l JOIN tracks t \
                 ON t.id = l.track_id WHERE l.user_id = $3 AND t.album_id = a.id) \
                 ORDER BY lower(a.title), a.id LIMIT $1 OFFSET $2"
            );
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                .bind(limit).bind(offset).bind(user_id).fetch_all(pool).await
        }
        AlbumPick::Years(from, to) => {
            let order = if from <= to { "ASC" } else { "DESC" };
            let sql = format!(
                "SELECT a.id FROM albums a WHERE {ready} AND a.year BETWEEN $3 AND $4 \
                 ORDER BY a.year {order}, lower(a.title), a.id LIMIT $1 OFFSET $2"
            );
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                .bind(limit).bind(offset).bind(from.min(to)).bind(from.max(to)).fetch_all(pool).await
        }
    })
}

/// The ready length of a playlist, in milliseconds.
pub async fn playlist_duration_ms(db: &Db, playlist_id: &str) -> Result<i64, sqlx::Error> {
    let sql = "SELECT CAST(COALESCE(SUM(t.duration_ms), 0) AS BIGINT) FROM playlist_tracks e \
               JOIN tracks t ON t.id = e.track_id WHERE e.playlist_id = $1";
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>(sql).bind(playlist_id).fetch_one(pool).await)
}

/// When the library last changed (a track made ready, edited or gone
/// counts through its `updated_at`; a deletion is seen by the next change):
/// `getIndexes`' `lastModified`.
pub async fn library_changed_at(db: &Db) -> Result<i64, sqlx::Error> {
    let sql = "SELECT CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM tracks WHERE status = 'ready'";
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await)
}
