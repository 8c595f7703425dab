//! The `playback_sessions`, `key_unlocks`, `daily_usage` and `track_plays`
//! tables: listening sessions and what they report, the keys each user was
//! given each day and what they cost, and the plays counted.
//!
//! Three statements carry the quota's guarantees and are each atomic:
//! - [`unlock_key`] records a user's first unlock of a key on a day and adds
//!   the audio it covers to the day's usage only while the usage is under the
//!   limit, atomically (one function call on PostgreSQL, one transaction on
//!   SQLite, shared with other queued writes); concurrent unlocks serialise
//!   on the usage row, so they can never overdraw by more than one key period.
//! - [`report`] is one conditional `UPDATE` that computes the listening a
//!   report counts from the row as it is when the update runs, so concurrent
//!   reports on one session neither lose nor double anything.
//! - [`count_play`] counts at most one play per user and track an hour with a
//!   conditional upsert, in the transaction that adds it to the track.
//!
//! The rules are in `crate::quota`.

use std::sync::{Arc, LazyLock};

use sqlx::SqlitePool;

use super::{Db, ms_to_datetime};
use crate::db::BeginWrite;
use crate::quota::{self, SESSION_IDLE_MS, TOLERANCE_MS};
use crate::with_pool;
use const_format::concatcp;

/// SQLite lets one connection write at a time; a writer that finds the
/// database locked sleeps in SQLite's busy handler (1, 2, 5 … 100 ms a try),
/// which under load turned into p99 latencies of 100–200 ms. The hot path's
/// writes (opening sessions, reports, unlocks) take turns here instead, in
/// order, and find the database free. PostgreSQL locks rows and needs none
/// of this.
static SQLITE_WRITES: LazyLock<Arc<tokio::sync::Mutex<()>>> = LazyLock::new(Default::default);

/// SQLite: reports and unlocks waiting for their turn. Whoever gets the turn
/// runs every write queued for its database in one transaction ([`run_batch`]),
/// so under load a commit serves many requests (flat combining: no task of
/// its own, the requests themselves take turns).
static SQLITE_QUEUE: std::sync::Mutex<Vec<Queued>> = std::sync::Mutex::new(Vec::new());

/// Holds the SQLite write turn; nothing on PostgreSQL.
async fn write_turn(db: &Db) -> Option<tokio::sync::OwnedMutexGuard<()>> {
    match db {
        Db::Sqlite(_) => Some(SQLITE_WRITES.clone().lock_owned().await),
        Db::Postgres(_) => None,
    }
}

/// A hot-path write that may share a SQLite transaction with others.
enum Write {
    Unlock {
        user_id: String,
        track_id: String,
        day: String,
        key_index: i64,
        covered_ms: i64,
        limit_ms: i64,
        now: i64,
    },
    Report {
        id: String,
        user_id: String,
        report: Report,
        now: i64,
    },
}

enum Done {
    Unlock(Unlock),
    Report(Option<Applied>),
}

struct Queued {
    pool: SqlitePool,
    write: Write,
    reply: tokio::sync::oneshot::Sender<Result<Done, sqlx::Error>>,
}

fn same_pool(a: &SqlitePool, b: &SqlitePool) -> bool {
    // `options` is a reference into the pool's shared state: its identity.
    std::ptr::eq(a.options(), b.options())
}

fn batch_lost() -> sqlx::Error {
    sqlx::Error::Protocol("the batch of hot-path writes holding this one ended without an answer".into())
}

/// Runs `write` on SQLite, in the same transaction as whatever else is
/// queued for this database when its turn comes (see [`SQLITE_QUEUE`]).
///
/// Each write still sees the ones before it (one writer, one transaction), so
/// a charge's check of the usage is as strict as alone; a failed batch is
/// rolled back and its writes run again one transaction each, so one
/// request's error never becomes another's. The batch runs in a task of its
/// own holding the turn: a request that goes away cannot cut it short.
async fn queued_write(pool: &SqlitePool, write: Write) -> Result<Done, sqlx::Error> {
    let (reply, mut answer) = tokio::sync::oneshot::channel();
    lock_queue().push(Queued {
        pool: pool.clone(),
        write,
        reply,
    });
    let turn = SQLITE_WRITES.clone().lock_owned().await;
    match answer.try_recv() {
        // A batch run while this request waited for its turn had it.
        Ok(done) => return done,
        Err(tokio::sync::oneshot::error::TryRecvError::Closed) => return Err(batch_lost()),
        Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
    }
    let batch: Vec<Queued> = {
        let mut queue = lock_queue();
        let (mine, others): (Vec<_>, Vec<_>) = queue.drain(..).partition(|q| same_pool(&q.pool, pool));
        // Writes left behind by requests of a database since closed (tests).
        *queue = others.into_iter().filter(|q| !q.pool.is_closed()).collect();
        mine
    };
    let pool = pool.clone();
    tokio::spawn(async move {
        run_batch(&pool, batch).await;
        drop(turn);
    });
    answer.await.map_err(|_| batch_lost())?
}

fn lock_queue() -> std::sync::MutexGuard<'static, Vec<Queued>> {
    SQLITE_QUEUE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn run_batch(pool: &SqlitePool, batch: Vec<Queued>) {
    if batch.len() > 1 {
        let writes: Vec<&Write> = batch.iter().map(|q| &q.write).collect();
        match in_one_transaction(pool, &writes).await {
            Ok(done) => {
                for (queued, done) in batch.into_iter().zip(done) {
                    let _ = queued.reply.send(Ok(done));
                }
                return;
            }
            Err(e) => tracing::debug!(error = %e, writes = batch.len(), "a batch of writes failed; one by one"),
        }
    }
    for queued in batch {
        let done = in_one_transaction(pool, &[&queued.write])
            .await
            .and_then(|mut done| done.pop().ok_or_else(batch_lost));
        let _ = queued.reply.send(done);
    }
}

async fn in_one_transaction(pool: &SqlitePool, writes: &[&Write]) -> Result<Vec<Done>, sqlx::Error> {
    let mut tx = pool.begin_write().await?;
    let mut done = Vec::with_capacity(writes.len());
    for write in writes {
        done.push(run_write(&mut tx, write).await?);
    }
    tx.commit().await?;
    Ok(done)
}

/// One write inside the batch's transaction (the write turn is held).
async fn run_write(conn: &mut sqlx::SqliteConnection, write: &Write) -> Result<Done, sqlx::Error> {
    match write {
        Write::Unlock {
            user_id,
            track_id,
            day,
            key_index,
            covered_ms,
            limit_ms,
            now,
        } => {
            let recorded = sqlx::query(RECORD_UNLOCK)
                .bind(user_id)
                .bind(track_id)
                .bind(day)
                .bind(key_index)
                .bind(covered_ms)
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if recorded == 0 {
                return Ok(Done::Unlock(Unlock::AlreadyUnlocked));
            }
            let used: Option<i64> = sqlx::query_scalar(CHARGE)
                .bind(user_id)
                .bind(day)
                .bind(covered_ms)
                .bind(limit_ms)
                .fetch_optional(&mut *conn)
                .await?;
            match used {
                Some(used_ms) => Ok(Done::Unlock(Unlock::Charged { used_ms })),
                None => {
                    // Refused: the row just recorded goes again (what a
                    // rollback did when each unlock had its transaction).
                    sqlx::query(FORGET_UNLOCK)
                        .bind(user_id)
                        .bind(track_id)
                        .bind(day)
                        .bind(key_index)
                        .execute(&mut *conn)
                        .await?;
                    Ok(Done::Unlock(Unlock::Refused))
                }
            }
        }
        Write::Report {
            id,
            user_id,
            report,
            now,
        } => {
            let applied = report_query!(&REPORT_SQLITE, id, user_id, report, *now)
                .fetch_optional(&mut *conn)
                .await?;
            Ok(Done::Report(applied.map(Applied::from_row)))
        }
    }
}

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
    pub closed_at: Option<i64>,
    pub play_counted: bool,
}

impl SessionRow {
    pub fn started(&self) -> chrono::DateTime<chrono::Utc> {
        ms_to_datetime(self.started_at)
    }

    pub fn state(&self, now: i64) -> quota::SessionState {
        quota::session_state(self.completed, self.closed_at.is_some(), self.last_report_at, now)
    }
}

const COLUMNS: &str = "id, user_id, track_id, duration_ms, last_seq, position_ms, last_report_at, last_counted_ms, listened_ms, \
         completed, completed_at, started_at, closed_at, play_counted";

/// A random, unguessable session id (128 bits).
pub fn new_session_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Opens a session. If the user then has more than `cap` open sessions, the
/// oldest are closed (`closed_reason = 'replaced'`), as a music service does
/// with a user's devices. One transaction per user at a time (the user's row
/// is locked on Postgres; SQLite has one writer), so concurrent opens cannot
/// leave more than `cap` open.
pub async fn open(
    db: &Db,
    user_id: &str,
    track_id: &str,
    duration_ms: i64,
    now: i64,
    cap: i64,
) -> Result<SessionRow, sqlx::Error> {
    let insert = concatcp!(
        "INSERT INTO playback_sessions (id, user_id, track_id, duration_ms, last_report_at, started_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
        COLUMNS
    );
    let close = concatcp!(
        "UPDATE playback_sessions SET closed_at = $2, closed_reason = 'replaced' \
         WHERE user_id = $1 AND id <> $3 AND ",
        "completed = $4 AND closed_at IS NULL AND last_report_at >= $5",
        " AND id NOT IN (SELECT id FROM playback_sessions WHERE user_id = $1 AND id <> $3 AND ",
        "completed = $4 AND closed_at IS NULL AND last_report_at >= $5",
        " ORDER BY started_at DESC, id DESC LIMIT $6)"
    );
    let lock_user = matches!(db, Db::Postgres(_));
    let id = new_session_id();
    let _turn = write_turn(db).await;
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        if lock_user {
            sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE").bind(user_id).execute(&mut *tx).await?;
        }
        let row = sqlx::query_as::<_, SessionRow>(insert)
            .bind(&id).bind(user_id).bind(track_id).bind(duration_ms).bind(now)
            .fetch_one(&mut *tx).await?;
        sqlx::query(close)
            .bind(user_id).bind(now).bind(&id).bind(false).bind(now - SESSION_IDLE_MS).bind((cap - 1).max(0))
            .execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(row)
    })
}

/// The session, if it belongs to `user_id` (anyone else's is "not found").
pub async fn find_owned(db: &Db, id: &str, user_id: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    let sql = concatcp!(
        "SELECT ",
        COLUMNS,
        " FROM playback_sessions WHERE id = $1 AND user_id = $2"
    );
    with_pool!(db, pool => sqlx::query_as::<_, SessionRow>(sql).bind(id).bind(user_id).fetch_optional(pool).await)
}

/// A progress report, after validation.
#[derive(Debug, Clone)]
pub struct Report {
    pub seq: i64,
    pub position_ms: i64,
    pub complete: bool,
}

/// What an accepted report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Milliseconds of listening this report counted.
    pub counted_ms: i64,
    /// The session's listening so far, this report included.
    pub listened_ms: i64,
    /// The user's usage today ([`used_ms`]), read by the same statement.
    pub used_ms: i64,
}

impl Applied {
    fn from_row((counted_ms, listened_ms, used_ms): (i64, i64, i64)) -> Self {
        Applied {
            counted_ms,
            listened_ms,
            used_ms,
        }
    }
}

/// The engines' names for the two-argument minimum and maximum.
const MIN_MAX_SQLITE: (&str, &str) = ("MIN", "MAX");
const MIN_MAX_POSTGRES: (&str, &str) = ("LEAST", "GREATEST");

/// The report statement (see [`report`]), built once per engine.
static REPORT_SQLITE: LazyLock<String> = LazyLock::new(|| build_report_sql(MIN_MAX_SQLITE));
static REPORT_POSTGRES: LazyLock<String> = LazyLock::new(|| build_report_sql(MIN_MAX_POSTGRES));

/// The report statement `$sql` (one of the above) with its binds, the same
/// on both engines: session `$id` of `$user_id`, [`Report`] `$r` at `$now`.
macro_rules! report_query {
    ($sql:expr, $id:expr, $user_id:expr, $r:expr, $now:expr) => {
        sqlx::query_as::<_, (i64, i64, i64)>(sqlx::AssertSqlSafe($sql.as_str()))
            .bind($id)
            .bind($r.seq)
            .bind($r.position_ms)
            .bind($now)
            .bind($user_id)
            .bind($r.complete)
            .bind(false)
            .bind(quota::day_of($now))
    };
}
use report_query;

fn build_report_sql((min, max): (&str, &str)) -> String {
    // counted = clamp(new position − old position, 0, wall time since the last
    // accepted report + tolerance), with the new position capped at the end.
    // SET expressions see the row as it was before this update, in both engines.
    let position = format!("{max}(0, {min}($3, duration_ms))");
    // Two caps: the time since the last report, and the session's whole age
    // less what it already counted, so the tolerance cannot be collected
    // again and again by reporting often.
    let counted = format!(
        "{max}(0, {min}({position} - position_ms, $4 - last_report_at + {TOLERANCE_MS}, \
         $4 - started_at + {TOLERANCE_MS} - listened_ms))"
    );
    // The day's usage comes back with the report: the answer shows the
    // quota, and this saves the heartbeat a second statement.
    format!(
        "UPDATE playback_sessions SET last_seq = $2, last_counted_ms = {counted}, \
         listened_ms = listened_ms + {counted}, position_ms = {position}, last_report_at = $4, \
         completed = $6, completed_at = CASE WHEN $6 THEN $4 ELSE completed_at END \
         WHERE id = $1 AND user_id = $5 AND completed = $7 AND closed_at IS NULL \
         AND last_report_at >= $4 - {SESSION_IDLE_MS} AND last_seq < $2 \
         RETURNING last_counted_ms, listened_ms, \
         COALESCE((SELECT used_ms FROM daily_usage WHERE user_id = $5 AND day = $8), 0)",
    )
}

/// Applies a report atomically. `None` when the report was not applied: its
/// `seq` was not newer, or the session is not open (completed, replaced,
/// expired) or not the user's. One statement; on SQLite it may share a
/// transaction with other hot-path writes (see [`SQLITE_QUEUE`]).
pub async fn report(db: &Db, id: &str, user_id: &str, r: &Report, now: i64) -> Result<Option<Applied>, sqlx::Error> {
    match db {
        Db::Sqlite(pool) => {
            let write = Write::Report {
                id: id.to_owned(),
                user_id: user_id.to_owned(),
                report: r.clone(),
                now,
            };
            match queued_write(pool, write).await? {
                Done::Report(applied) => Ok(applied),
                Done::Unlock(_) => Err(batch_lost()),
            }
        }
        Db::Postgres(pool) => {
            let applied = report_query!(&REPORT_POSTGRES, id, user_id, r, now)
                .fetch_optional(pool)
                .await?;
            Ok(applied.map(Applied::from_row))
        }
    }
}

/// A user's usage on one UTC day (`quota::day_of`), read together with
/// something else: the caller's token, on PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayUsage {
    pub day: String,
    pub used_ms: i64,
}

/// Milliseconds of audio the user unlocked on the UTC day of `now`: `known`
/// when it is that day's (no statement), else one read.
pub async fn used_ms(db: &Db, user_id: &str, now: i64, known: Option<&DayUsage>) -> Result<i64, sqlx::Error> {
    let day = quota::day_of(now);
    if let Some(known) = known.filter(|k| k.day == day) {
        return Ok(known.used_ms);
    }
    let sql = "SELECT used_ms FROM daily_usage WHERE user_id = $1 AND day = $2";
    let used: Option<i64> = with_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(sql).bind(user_id).bind(&day).fetch_optional(pool).await
    })?;
    Ok(used.unwrap_or(0))
}

/// Milliseconds of audio unlocked on the UTC day of `now` by each user whose
/// id is between `first` and `last` (a page of the admin's user list, which
/// is ordered by id): one query for the page. Users with no usage are absent.
pub async fn used_ms_between(
    db: &Db,
    first: &str,
    last: &str,
    now: i64,
) -> Result<std::collections::HashMap<String, i64>, sqlx::Error> {
    let sql = "SELECT user_id, used_ms FROM daily_usage WHERE day = $1 AND user_id >= $2 AND user_id <= $3";
    let day = quota::day_of(now);
    let rows: Vec<(String, i64)> = with_pool!(db, pool => {
        sqlx::query_as(sql).bind(&day).bind(first).bind(last).fetch_all(pool).await
    })?;
    Ok(rows.into_iter().collect())
}

/// Open sessions of a user on a track, latest report first.
pub async fn open_on_track(db: &Db, user_id: &str, track_id: &str, now: i64) -> Result<Vec<SessionRow>, sqlx::Error> {
    let sql = concatcp!(
        "SELECT ",
        COLUMNS,
        " FROM playback_sessions WHERE user_id = $1 AND track_id = $2 AND ",
        "completed = $3 AND closed_at IS NULL AND last_report_at >= $4",
        " ORDER BY last_report_at DESC LIMIT 20"
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, SessionRow>(sql)
            .bind(user_id).bind(track_id).bind(false).bind(now - SESSION_IDLE_MS)
            .fetch_all(pool).await
    })
}

/// What asking for a key did to the day's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlock {
    /// First time today: charged; the day's usage is now this.
    Charged { used_ms: i64 },
    /// Already unlocked today: free.
    AlreadyUnlocked,
    /// The usage had reached the limit: nothing given, nothing charged.
    Refused,
}

const RECORD_UNLOCK: &str = "INSERT INTO key_unlocks (user_id, track_id, day, key_index, covered_ms, unlocked_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, track_id, day, key_index) DO NOTHING";
/// The usage row serialises concurrent unlocks: SQLite has one writer (and
/// one transaction runs a batch's writes one after another). No row back:
/// the limit was reached.
const CHARGE: &str = "INSERT INTO daily_usage (user_id, day, used_ms) SELECT $1, $2, $3 WHERE $4 > 0 \
     ON CONFLICT (user_id, day) DO UPDATE SET used_ms = daily_usage.used_ms + excluded.used_ms \
     WHERE daily_usage.used_ms < $4 RETURNING used_ms";
const FORGET_UNLOCK: &str =
    "DELETE FROM key_unlocks WHERE user_id = $1 AND track_id = $2 AND day = $3 AND key_index = $4";
/// PostgreSQL: the same three steps in one call
/// (`migrations/postgres/20261205000100_unlock_key_function.sql`); on a
/// conflict it locks the row and checks the WHERE against its latest version.
const UNLOCK_POSTGRES: &str = "SELECT mist_unlock_key($1, $2, $3, $4, $5, $6, $7)";

/// Unlocks key `key_index` of a track for a user today, charging
/// `covered_ms` unless it was unlocked already today. With a `limit_ms`, the
/// charge is made only while the day's usage is under it (so the usage ends
/// below the limit plus one key); without one (unlimited plans) it is only
/// recorded. Atomic: the unlock row and the usage stand or fall together (one
/// statement on PostgreSQL; on SQLite one transaction, maybe shared with
/// other hot-path writes, see [`SQLITE_QUEUE`]).
pub async fn unlock_key(
    db: &Db,
    user_id: &str,
    track_id: &str,
    key_index: i64,
    covered_ms: i64,
    limit_ms: Option<i64>,
    now: i64,
) -> Result<Unlock, sqlx::Error> {
    let day = quota::day_of(now);
    let limit_ms = limit_ms.unwrap_or(i64::MAX);
    match db {
        Db::Sqlite(pool) => {
            let write = Write::Unlock {
                user_id: user_id.to_owned(),
                track_id: track_id.to_owned(),
                day,
                key_index,
                covered_ms,
                limit_ms,
                now,
            };
            match queued_write(pool, write).await? {
                Done::Unlock(unlock) => Ok(unlock),
                Done::Report(_) => Err(batch_lost()),
            }
        }
        Db::Postgres(pool) => {
            let used: i64 = sqlx::query_scalar(UNLOCK_POSTGRES)
                .bind(user_id)
                .bind(track_id)
                .bind(&day)
                .bind(key_index)
                .bind(covered_ms)
                .bind(now)
                .bind(limit_ms)
                .fetch_one(pool)
                .await?;
            Ok(match used {
                -1 => Unlock::AlreadyUnlocked,
                -2 => Unlock::Refused,
                used_ms => Unlock::Charged { used_ms },
            })
        }
    }
}

/// A user's sessions, newest first, after the `(started_at, id)` cursor.
pub async fn history(
    db: &Db,
    user_id: &str,
    before: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    let (at, id) = before.unwrap_or((i64::MAX, String::new()));
    let sql = concatcp!(
        "SELECT ",
        COLUMNS,
        " FROM playback_sessions WHERE user_id = $1 AND (started_at < $2 OR (started_at = $2 AND id < $3)) \
         ORDER BY started_at DESC, id DESC LIMIT $4"
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, SessionRow>(sql).bind(user_id).bind(at).bind(&id).bind(limit).fetch_all(pool).await
    })
}

/// Counts a completed session as a play of its track, if it earns one: the
/// user unlocked at least `threshold_ms` of the track's audio since the day
/// the session started (the listening it claims could be decrypted), and no
/// play of this user and track was counted in the last hour. The caller has
/// checked the session's own listening. Returns whether a play was counted.
pub async fn count_play(db: &Db, session: &SessionRow, threshold_ms: i64, now: i64) -> Result<bool, sqlx::Error> {
    // Distinct keys: one unlocked on two days counts once.
    let unlocked = "SELECT CAST(COALESCE(SUM(c), 0) AS BIGINT) FROM \
                    (SELECT MAX(covered_ms) AS c FROM key_unlocks \
                     WHERE user_id = $1 AND track_id = $2 AND day >= $3 GROUP BY key_index) u";
    let hourly = "INSERT INTO track_plays (user_id, track_id, last_played_at) VALUES ($1, $2, $3) \
                  ON CONFLICT (user_id, track_id) DO UPDATE SET last_played_at = excluded.last_played_at \
                  WHERE track_plays.last_played_at <= excluded.last_played_at - $4 RETURNING last_played_at";
    let add = "UPDATE tracks SET play_count = play_count + 1 WHERE id = $1";
    let mark = "UPDATE playback_sessions SET play_counted = $2 WHERE id = $1";
    let since_day = quota::day_of(session.started_at);
    with_pool!(db, pool => {
        let unlocked_ms: i64 = sqlx::query_scalar(unlocked)
            .bind(&session.user_id).bind(&session.track_id).bind(&since_day)
            .fetch_one(pool).await?;
        if unlocked_ms < threshold_ms {
            return Ok(false);
        }
        let mut tx = pool.begin_write().await?;
        let counted: Option<i64> = sqlx::query_scalar(hourly)
            .bind(&session.user_id).bind(&session.track_id).bind(now).bind(quota::PLAY_EVERY_MS)
            .fetch_optional(&mut *tx).await?;
        if counted.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(add).bind(&session.track_id).execute(&mut *tx).await?;
        sqlx::query(mark).bind(&session.id).bind(true).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    })
}
