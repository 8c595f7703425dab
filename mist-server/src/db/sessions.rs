//! The `playback_sessions`, `session_keys` and `daily_usage` tables.
//!
//! A report (heartbeat or completion) is one conditional `UPDATE` that
//! computes the counted time from the row as it is when the update runs, so
//! concurrent reports on one session serialise on the row and none is lost
//! or doubled; the counted time is then added to the day's usage in the same
//! transaction. The rules are in `crate::quota`.

use super::{Db, ms_to_datetime};
use crate::quota::{self, TOLERANCE_MS};
use crate::with_pool;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub track_id: String,
    pub duration_ms: i64,
    pub last_seq: i64,
    pub position_ms: i64,
    pub last_report_at: i64,
    pub last_counted_ms: i64,
    pub listened_ms: i64,
    pub completed: bool,
    pub completed_at: Option<i64>,
    pub started_at: i64,
}

impl SessionRow {
    pub fn started(&self) -> chrono::DateTime<chrono::Utc> {
        ms_to_datetime(self.started_at)
    }
}

macro_rules! columns {
    () => {
        "id, user_id, track_id, duration_ms, last_seq, position_ms, last_report_at, last_counted_ms, listened_ms, \
         completed, completed_at, started_at"
    };
}

/// A random, unguessable session id (128 bits).
pub fn new_session_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

pub async fn open(
    db: &Db,
    user_id: &str,
    track_id: &str,
    duration_ms: i64,
    now: i64,
) -> Result<SessionRow, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO playback_sessions (id, user_id, track_id, duration_ms, last_report_at, started_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
        columns!()
    );
    let id = new_session_id();
    with_pool!(db, pool => {
        sqlx::query_as::<_, SessionRow>(sql)
            .bind(&id).bind(user_id).bind(track_id).bind(duration_ms).bind(now)
            .fetch_one(pool).await
    })
}

/// The session, if it belongs to `user_id` (anyone else's is "not found").
pub async fn find_owned(db: &Db, id: &str, user_id: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM playback_sessions WHERE id = $1 AND user_id = $2"
    );
    with_pool!(db, pool => sqlx::query_as::<_, SessionRow>(sql).bind(id).bind(user_id).fetch_optional(pool).await)
}

/// A progress report, after validation.
pub struct Report {
    pub seq: i64,
    pub position_ms: i64,
    pub complete: bool,
}

/// What an accepted report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Milliseconds this report added to today's listening.
    pub counted_ms: i64,
    /// The session's listening so far, this report included.
    pub listened_ms: i64,
}

/// Applies a report atomically and adds what it counted to the day's usage.
/// `None` when the report was not applied: its `seq` was not newer, or the
/// session is completed (or not the user's).
pub async fn report(db: &Db, id: &str, user_id: &str, r: &Report, now: i64) -> Result<Option<Applied>, sqlx::Error> {
    // counted = clamp(new position − old position, 0, wall time since the last
    // accepted report + tolerance), with the new position capped at the end.
    // SET expressions see the row as it was before this update, in both engines.
    let (min, max, done) = match db {
        Db::Sqlite(_) => ("MIN", "MAX", if r.complete { "1" } else { "0" }),
        Db::Postgres(_) => ("LEAST", "GREATEST", if r.complete { "TRUE" } else { "FALSE" }),
    };
    let position = format!("{max}(0, {min}($3, duration_ms))");
    // Two caps: the time since the last report, and the session's whole age
    // less what it already counted, so the tolerance cannot be collected
    // again and again by reporting often.
    let counted = format!(
        "{max}(0, {min}({position} - position_ms, $4 - last_report_at + {TOLERANCE_MS}, \
         $4 - started_at + {TOLERANCE_MS} - listened_ms))"
    );
    let sql = format!(
        "UPDATE playback_sessions SET last_seq = $2, last_counted_ms = {counted}, \
         listened_ms = listened_ms + {counted}, position_ms = {position}, last_report_at = $4, \
         completed = {done}, completed_at = CASE WHEN {done} THEN $4 ELSE completed_at END \
         WHERE id = $1 AND user_id = $5 AND completed = {not_done} AND last_seq < $2 \
         RETURNING last_counted_ms, listened_ms",
        not_done = if matches!(db, Db::Sqlite(_)) { "0" } else { "FALSE" },
    );
    let day = quota::day_of(now);
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let applied: Option<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id).bind(r.seq).bind(r.position_ms).bind(now).bind(user_id)
            .fetch_optional(&mut *tx).await?;
        let applied = applied.map(|(counted_ms, listened_ms)| Applied { counted_ms, listened_ms });
        let counted = applied.map_or(0, |a| a.counted_ms);
        if counted > 0 {
            sqlx::query(
                "INSERT INTO daily_usage (user_id, day, used_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, day) DO UPDATE SET used_ms = daily_usage.used_ms + excluded.used_ms",
            )
            .bind(user_id).bind(&day).bind(counted)
            .execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(applied)
    })
}

/// Milliseconds the user listened on the UTC day of `now`.
pub async fn used_ms(db: &Db, user_id: &str, now: i64) -> Result<i64, sqlx::Error> {
    let sql = "SELECT used_ms FROM daily_usage WHERE user_id = $1 AND day = $2";
    let day = quota::day_of(now);
    let used: Option<i64> = with_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(sql).bind(user_id).bind(&day).fetch_optional(pool).await
    })?;
    Ok(used.unwrap_or(0))
}

/// Open sessions of a user on a track, latest report first.
pub async fn open_on_track(db: &Db, user_id: &str, track_id: &str) -> Result<Vec<SessionRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM playback_sessions WHERE user_id = $1 AND track_id = $2 AND completed = $3 \
         ORDER BY last_report_at DESC LIMIT 20"
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, SessionRow>(sql).bind(user_id).bind(track_id).bind(false).fetch_all(pool).await
    })
}

/// Records that `session` was given key `k`, if its allowance of distinct
/// keys permits. Returns whether the key may be given (already held keys
/// always may).
pub async fn grant_key(db: &Db, session: &SessionRow, k: i64, now: i64) -> Result<bool, sqlx::Error> {
    let allowance = quota::key_allowance(now - session.started_at);
    let sql = "INSERT INTO session_keys (session_id, key_index, granted_at) \
               SELECT $1, $2, $3 WHERE (SELECT COUNT(*) FROM session_keys WHERE session_id = $1) < $4 \
               ON CONFLICT (session_id, key_index) DO NOTHING";
    let held = "SELECT EXISTS (SELECT 1 FROM session_keys WHERE session_id = $1 AND key_index = $2)";
    with_pool!(db, pool => {
        sqlx::query(sql).bind(&session.id).bind(k).bind(now).bind(allowance).execute(pool).await?;
        sqlx::query_scalar::<_, bool>(held).bind(&session.id).bind(k).fetch_one(pool).await
    })
}

/// A user's sessions, newest first, after the `(started_at, id)` cursor.
pub async fn history(
    db: &Db,
    user_id: &str,
    before: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    let (at, id) = before.unwrap_or((i64::MAX, String::new()));
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM playback_sessions WHERE user_id = $1 AND (started_at < $2 OR (started_at = $2 AND id < $3)) \
         ORDER BY started_at DESC, id DESC LIMIT $4"
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, SessionRow>(sql).bind(user_id).bind(at).bind(&id).bind(limit).fetch_all(pool).await
    })
}

/// Counts a completed listen as a play of the track.
pub async fn count_play(db: &Db, track_id: &str) -> Result<(), sqlx::Error> {
    let sql = "UPDATE tracks SET play_count = play_count + 1 WHERE id = $1";
    with_pool!(db, pool => sqlx::query(sql).bind(track_id).execute(pool).await.map(|_| ()))
}
