//! A user's library: the `likes`, `playlists` and `playlist_tracks` tables.
//!
//! Likes are one row per (user, track), so liking twice, or from many
//! clients at once, is a no-op rather than a duplicate.
//!
//! Playlist positions are `0..n` with no gaps. Every change to a playlist's
//! entries runs in one transaction that first updates the playlist row:
//! on Postgres that row lock serialises writers of one playlist (and no
//! other), on SQLite that first write takes the database's write lock before
//! anything is read, so `MAX(position) + 1` cannot be read by two writers at
//! once and a gap is closed before anyone else looks.

use super::page::{Cursor, SortKey, split_page};
use super::tracks::TrackRow;
use super::{Db, now_ms};
use crate::db::BeginWrite;
use crate::with_pool;
use const_format::concatcp;

use super::tracks::TRACK_COLUMNS;

/// Likes `track_id` for `user_id`; true when it was not liked before.
pub async fn like(db: &Db, user_id: &str, track_id: &str) -> Result<bool, sqlx::Error> {
    let sql = "INSERT INTO likes (user_id, track_id, created_at) VALUES ($1, $2, $3) \
               ON CONFLICT (user_id, track_id) DO NOTHING";
    let done = with_pool!(db, pool => {
        sqlx::query(sql).bind(user_id).bind(track_id).bind(now_ms()).execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(done > 0)
}

/// True when it was liked.
pub async fn unlike(db: &Db, user_id: &str, track_id: &str) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM likes WHERE user_id = $1 AND track_id = $2";
    let done = with_pool!(db, pool => {
        sqlx::query(sql).bind(user_id).bind(track_id).execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(done > 0)
}

/// A user's liked ready tracks, most recent first.
pub async fn likes(
    db: &Db,
    user_id: &str,
    after: Option<&Cursor>,
    limit: i64,
    scope: &str,
) -> Result<(Vec<TrackRow>, Option<Cursor>), sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        track: TrackRow,
        liked_at: i64,
    }
    let sql = concatcp!(
        "SELECT ",
        TRACK_COLUMNS,
        ", l.created_at AS liked_at FROM likes l JOIN tracks t ON t.id = l.track_id \
         WHERE l.user_id = $1 AND t.status = 'ready' \
         AND ($2 IS NULL OR l.created_at < $2 OR (l.created_at = $2 AND t.id > $3)) \
         ORDER BY l.created_at DESC, t.id ASC LIMIT $4"
    );
    let (key, id) = Cursor::int_key(after);
    let rows: Vec<Row> = with_pool!(db, pool => {
        sqlx::query_as::<_, Row>(sql).bind(user_id).bind(key).bind(id).bind(limit + 1).fetch_all(pool).await
    })?;
    let (rows, next) = split_page(rows, limit, |r| Cursor {
        scope: scope.to_owned(),
        key: SortKey::Int(r.liked_at),
        id: r.track.id.clone(),
    });
    Ok((rows.into_iter().map(|r| r.track).collect(), next))
}

/// How many tracks a user likes (for consistency checks in tests).
#[cfg(any(test, feature = "testing"))]
pub async fn count_likes(db: &Db, user_id: &str) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM likes WHERE user_id = $1";
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>(sql).bind(user_id).fetch_one(pool).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlaylistRow {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    pub public: bool,
    pub track_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const PLAYLIST_COLUMNS: &str = "p.id, p.owner_id, p.name, p.description, p.public, \
         (SELECT COUNT(*) FROM playlist_tracks e WHERE e.playlist_id = p.id) AS track_count, \
         p.created_at, p.updated_at";

pub async fn create_playlist(
    db: &Db,
    owner_id: &str,
    name: &str,
    description: &str,
    public: bool,
) -> Result<PlaylistRow, sqlx::Error> {
    let id = super::new_id();
    let now = now_ms();
    let sql = "INSERT INTO playlists (id, owner_id, name, description, public, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $6)";
    with_pool!(db, pool => {
        sqlx::query(sql).bind(&id).bind(owner_id).bind(name).bind(description).bind(public).bind(now).execute(pool).await.map(|_| ())
    })?;
    Ok(PlaylistRow {
        id,
        owner_id: owner_id.to_owned(),
        name: name.to_owned(),
        description: description.to_owned(),
        public,
        track_count: 0,
        created_at: now,
        updated_at: now,
    })
}

pub async fn find_playlist(db: &Db, id: &str) -> Result<Option<PlaylistRow>, sqlx::Error> {
    let sql = concatcp!("SELECT ", PLAYLIST_COLUMNS, " FROM playlists p WHERE p.id = $1");
    with_pool!(db, pool => sqlx::query_as::<_, PlaylistRow>(sql).bind(id).fetch_optional(pool).await)
}

/// A user's own playlists, newest first.
pub async fn playlists_of(
    db: &Db,
    owner_id: &str,
    after: Option<&Cursor>,
    limit: i64,
    scope: &str,
) -> Result<(Vec<PlaylistRow>, Option<Cursor>), sqlx::Error> {
    let sql = concatcp!(
        "SELECT ",
        PLAYLIST_COLUMNS,
        " FROM playlists p WHERE p.owner_id = $1 \
         AND ($2 IS NULL OR p.created_at < $2 OR (p.created_at = $2 AND p.id > $3)) \
         ORDER BY p.created_at DESC, p.id ASC LIMIT $4"
    );
    let (key, id) = Cursor::int_key(after);
    let rows: Vec<PlaylistRow> = with_pool!(db, pool => {
        sqlx::query_as::<_, PlaylistRow>(sql).bind(owner_id).bind(key).bind(id).bind(limit + 1).fetch_all(pool).await
    })?;
    Ok(split_page(rows, limit, |r| Cursor {
        scope: scope.to_owned(),
        key: SortKey::Int(r.created_at),
        id: r.id.clone(),
    }))
}

/// `None` fields are left alone.
pub async fn update_playlist(
    db: &Db,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
    public: Option<bool>,
) -> Result<Option<PlaylistRow>, sqlx::Error> {
    let sql = "UPDATE playlists SET name = COALESCE($2, name), description = COALESCE($3, description), \
               public = COALESCE($4, public), updated_at = $5 WHERE id = $1";
    with_pool!(db, pool => {
        sqlx::query(sql).bind(id).bind(name).bind(description).bind(public).bind(now_ms()).execute(pool).await.map(|_| ())
    })?;
    find_playlist(db, id).await
}

pub async fn delete_playlist(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM playlists WHERE id = $1";
    let done = with_pool!(db, pool => sqlx::query(sql).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// Locks a playlist for a change to its entries (see the module doc);
/// evaluates to false when it no longer exists. A macro so the one body
/// serves both engines' transactions inside [`with_pool!`].
macro_rules! lock {
    ($tx:expr, $playlist_id:expr) => {
        sqlx::query("UPDATE playlists SET updated_at = $2 WHERE id = $1")
            .bind($playlist_id)
            .bind(now_ms())
            .execute(&mut *$tx)
            .await?
            .rows_affected()
            > 0
    };
}

/// Appends a track (idempotent: a track already there keeps its place).
/// The position it is at, or `None` when the playlist is gone.
pub async fn add_track(db: &Db, playlist_id: &str, track_id: &str) -> Result<Option<i64>, sqlx::Error> {
    let insert = "INSERT INTO playlist_tracks (playlist_id, position, track_id, added_at) \
                  SELECT $1, COALESCE(MAX(position) + 1, 0), $2, $3 FROM playlist_tracks WHERE playlist_id = $1 \
                  ON CONFLICT (playlist_id, track_id) DO NOTHING";
    let position = "SELECT position FROM playlist_tracks WHERE playlist_id = $1 AND track_id = $2";
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        if !lock!(tx, playlist_id) {
            return Ok(None);
        }
        sqlx::query(insert).bind(playlist_id).bind(track_id).bind(now_ms()).execute(&mut *tx).await?;
        let at: i64 = sqlx::query_scalar(position).bind(playlist_id).bind(track_id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(at))
    })
}

/// Removes a track and closes the gap. `None`: the playlist is gone;
/// `Some(false)`: the track was not in it.
pub async fn remove_track(db: &Db, playlist_id: &str, track_id: &str) -> Result<Option<bool>, sqlx::Error> {
    let delete = "DELETE FROM playlist_tracks WHERE playlist_id = $1 AND track_id = $2 RETURNING position";
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        if !lock!(tx, playlist_id) {
            return Ok(None);
        }
        let removed: Option<i64> =
            sqlx::query_scalar(delete).bind(playlist_id).bind(track_id).fetch_optional(&mut *tx).await?;
        if let Some(position) = removed {
            super::close_gap!(tx, playlist_id, position);
        }
        tx.commit().await?;
        Ok(Some(removed.is_some()))
    })
}

/// Moves a track to `to` (clamped to the end), shifting those between.
/// `None`: the playlist is gone or the track is not in it; else its new
/// position.
pub async fn move_track(db: &Db, playlist_id: &str, track_id: &str, to: i64) -> Result<Option<i64>, sqlx::Error> {
    let find = "SELECT position FROM playlist_tracks WHERE playlist_id = $1 AND track_id = $2";
    let count = "SELECT COUNT(*) FROM playlist_tracks WHERE playlist_id = $1";
    let park = "UPDATE playlist_tracks SET position = -position - 1 \
                WHERE playlist_id = $1 AND position >= $2 AND position <= $3";
    let settle = "UPDATE playlist_tracks SET position = CASE WHEN track_id = $2 THEN $3 \
                  WHEN $4 THEN -position - 2 ELSE -position END WHERE playlist_id = $1 AND position < 0";
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        if !lock!(tx, playlist_id) {
            return Ok(None);
        }
        let Some(from): Option<i64> =
            sqlx::query_scalar(find).bind(playlist_id).bind(track_id).fetch_optional(&mut *tx).await?
        else {
            return Ok(None);
        };
        let n: i64 = sqlx::query_scalar(count).bind(playlist_id).fetch_one(&mut *tx).await?;
        let to = to.clamp(0, n - 1);
        if to != from {
            sqlx::query(park).bind(playlist_id).bind(from.min(to)).bind(from.max(to)).execute(&mut *tx).await?;
            sqlx::query(settle).bind(playlist_id).bind(track_id).bind(to).bind(from < to).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Some(to))
    })
}

/// One page of a playlist's entries in order: (position, track).
pub async fn playlist_tracks(
    db: &Db,
    playlist_id: &str,
    after_position: Option<i64>,
    limit: i64,
) -> Result<(Vec<(i64, TrackRow)>, Option<i64>), sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        position: i64,
        #[sqlx(flatten)]
        track: TrackRow,
    }
    let sql = concatcp!(
        "SELECT e.position, ",
        TRACK_COLUMNS,
        " FROM playlist_tracks e JOIN tracks t ON t.id = e.track_id \
         WHERE e.playlist_id = $1 AND e.position > $2 ORDER BY e.position LIMIT $3"
    );
    let rows: Vec<Row> = with_pool!(db, pool => {
        sqlx::query_as::<_, Row>(sql)
            .bind(playlist_id)
            .bind(after_position.unwrap_or(-1))
            .bind(limit + 1)
            .fetch_all(pool)
            .await
    })?;
    let (rows, next) = split_page(rows, limit, |r| r.position);
    Ok((rows.into_iter().map(|r| (r.position, r.track)).collect(), next))
}

/// Every position of a playlist, in order: for consistency checks in tests.
pub async fn positions(db: &Db, playlist_id: &str) -> Result<Vec<(i64, String)>, sqlx::Error> {
    let sql = "SELECT position, track_id FROM playlist_tracks WHERE playlist_id = $1 ORDER BY position";
    with_pool!(db, pool => sqlx::query_as::<_, (i64, String)>(sql).bind(playlist_id).fetch_all(pool).await)
}
