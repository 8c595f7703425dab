//! The `ingest_jobs` table: the job a user polls, and the lease that fences
//! every change a worker makes; plus putting its task on the apalis queue.
//!
//! The queue itself is apalis's (`Jobs`/`Workers` on SQLite, the `apalis`
//! schema on Postgres, created by apalis's own migrations): it hands tasks to
//! workers, notices workers whose heartbeat stopped and hands their tasks out
//! again. This row is what users see (`queued → processing (percent) → ready
//! | failed (reason)`) and what decides who may write: a worker *claims* it
//! with a fresh token ([`claim`]) and every later change — progress, ready,
//! failed, released for a retry — names that token, so a worker that lost its
//! claim (stalled past its lease, or its track deleted) changes nothing. The
//! claim counts attempts; the worker gives up on a job past its cap, however
//! its earlier attempts ended (a worker killed by a file never settles it).

use crate::db::BeginWrite;
use apalis::prelude::{Task, TaskBuilder};
use const_format::concatcp;
use mist_core::api::{Job, JobStatus};

use super::tracks::TrackRow;
use super::{Db, now_ms};
use crate::with_pool;

/// The kind of the ingest job.
pub const KIND_INGEST: &str = "ingest";

/// The apalis queue of ingest tasks.
pub const INGEST_QUEUE: &str = "mist-ingest";

/// apalis's cap on re-running a task. High on purpose: the job's own cap
/// (on its row, counted at each claim) is what ends a job; this only keeps
/// apalis from refusing a task whose job still has attempts left, after
/// worker restarts that gave the job back.
const TASK_MAX_ATTEMPTS: u32 = 1_000;

/// What an apalis ingest task carries: the job row is the rest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IngestTask {
    pub job_id: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub upload_id: String,
    pub track_id: String,
    pub user_id: String,
    pub status: String,
    pub progress: i64,
    pub error: Option<String>,
    pub payload: String,
    pub attempts: i64,
    pub worker_id: Option<String>,
    pub lease_until: Option<i64>,
    pub lease_token: Option<String>,
    pub run_after: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl JobRow {
    pub fn status(&self) -> JobStatus {
        JobStatus::parse(&self.status).unwrap_or(JobStatus::Failed)
    }

    pub fn to_api(&self) -> Job {
        Job {
            id: self.id.clone(),
            status: self.status(),
            progress: self.progress.clamp(0, 100) as u8,
            error: self.error.clone(),
            track_id: self.track_id.clone(),
            error_code: self.duplicate_of().map(|_| "duplicate".to_owned()),
            existing_track_id: self.duplicate_of().map(str::to_owned),
        }
    }

    /// The uploader's existing track when this job failed as a duplicate
    /// (`ingest::IngestError::Duplicate`'s message names it).
    fn duplicate_of(&self) -> Option<&str> {
        let id = self.error.as_deref()?.strip_prefix(DUPLICATE_PREFIX)?;
        (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')).then_some(id)
    }
}

/// How a duplicate's failure message begins (`ingest::IngestError::Duplicate`);
/// the existing track's id follows.
pub const DUPLICATE_PREFIX: &str = "duplicate: you already uploaded this file as track ";

const COLUMNS: &str = "id, kind, upload_id, track_id, user_id, status, progress, error, payload, attempts, worker_id, lease_until, \
         lease_token, run_after, created_at, updated_at";

pub async fn find(db: &Db, id: &str) -> Result<Option<JobRow>, sqlx::Error> {
    let sql = concatcp!("SELECT ", COLUMNS, " FROM ingest_jobs WHERE id = $1");
    with_pool!(db, pool => sqlx::query_as::<_, JobRow>(sql).bind(id).fetch_optional(pool).await)
}

/// The job made from upload `upload_id`, if it was completed.
pub async fn find_by_upload(db: &Db, upload_id: &str) -> Result<Option<JobRow>, sqlx::Error> {
    let sql = concatcp!("SELECT ", COLUMNS, " FROM ingest_jobs WHERE upload_id = $1");
    with_pool!(db, pool => sqlx::query_as::<_, JobRow>(sql).bind(upload_id).fetch_optional(pool).await)
}

/// Tracks whose ingest failed before `before` (ms): their originals have
/// been kept long enough to be collected.
pub async fn failed_tracks_before(db: &Db, before: i64, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    let sql = "SELECT id FROM tracks WHERE status = 'failed' AND updated_at < $1 ORDER BY updated_at LIMIT $2";
    with_pool!(db, pool => sqlx::query_scalar::<_, String>(sql).bind(before).bind(limit).fetch_all(pool).await)
}

/// Creates the track (in `processing`), its ingest job and the job's apalis
/// task for an upload, in one transaction. Completing the same upload again,
/// even concurrently, finds the first job and queues nothing more: the
/// inserts do nothing on conflict, and the task is only pushed with the row.
pub async fn enqueue_ingest(db: &Db, track: &TrackRow, upload_id: &str, payload: &str) -> Result<JobRow, sqlx::Error> {
    let now = now_ms();
    let job_id = super::new_id();
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO tracks (id, uploader_id, title, artist, album, genre, original_key, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'processing', $8, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&track.id)
        .bind(&track.uploader_id)
        .bind(&track.title)
        .bind(&track.artist)
        .bind(&track.album)
        .bind(&track.genre)
        .bind(&track.original_key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO ingest_jobs (id, kind, upload_id, track_id, user_id, status, progress, payload, run_after, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $7, $7) ON CONFLICT (upload_id) DO NOTHING",
        )
        .bind(&job_id)
        .bind(KIND_INGEST)
        .bind(upload_id)
        .bind(&track.id)
        .bind(&track.uploader_id)
        .bind(payload)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            // Fair order: a user's n-th waiting job goes behind every other
            // user's first, so one user's pile of uploads starves nobody.
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM ingest_jobs WHERE user_id = $1 AND status IN ('queued', 'processing') AND id <> $2",
            )
            .bind(&track.uploader_id)
            .bind(&job_id)
            .fetch_one(&mut *tx)
            .await?;
            let task = ingest_task(&job_id, fair_priority(waiting))?;
            push_task(&mut *tx, task).await?;
        }
        let job = sqlx::query_as::<_, JobRow>(concatcp!("SELECT ", COLUMNS, " FROM ingest_jobs WHERE upload_id = $1"))
            .bind(upload_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(job)
    })
}

/// apalis runs higher priorities first.
fn fair_priority(waiting_before: i64) -> usize {
    (1_000 - waiting_before).max(0) as usize
}

fn ingest_task(job_id: &str, priority: usize) -> Result<Task<Vec<u8>>, sqlx::Error> {
    let args = serde_json::to_vec(&IngestTask {
        job_id: job_id.to_owned(),
    })
    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    Ok(TaskBuilder::new(args)
        .priority(priority)
        .max_attempts(TASK_MAX_ATTEMPTS as usize)
        // One task per job, however it is pushed (see `requeue_lost_tasks`).
        .idempotency_key(job_id)
        .build())
}

/// Pushes an apalis task in the caller's transaction (either engine).
trait PushTask {
    async fn push(&mut self, task: Task<Vec<u8>>) -> Result<(), sqlx::Error>;
}

impl PushTask for sqlx::SqliteConnection {
    async fn push(&mut self, task: Task<Vec<u8>>) -> Result<(), sqlx::Error> {
        apalis_sqlite::queries::push_tasks(self, INGEST_QUEUE, &[task])
            .await
            .map_err(apalis_sqlite_error)
    }
}

impl PushTask for sqlx::PgConnection {
    async fn push(&mut self, task: Task<Vec<u8>>) -> Result<(), sqlx::Error> {
        apalis_postgres::queries::push_tasks(self, INGEST_QUEUE, vec![task])
            .await
            .map_err(apalis_postgres_error)
    }
}

async fn push_task<C: PushTask>(conn: &mut C, task: Task<Vec<u8>>) -> Result<(), sqlx::Error> {
    conn.push(task).await
}

fn apalis_sqlite_error(e: apalis_sqlite::Error) -> sqlx::Error {
    match e {
        apalis_sqlite::Error::Database(e) => e,
        other => sqlx::Error::Protocol(format!("apalis: {other}")),
    }
}

fn apalis_postgres_error(e: apalis_postgres::Error) -> sqlx::Error {
    match e {
        apalis_postgres::Error::Database(e) => e,
        other => sqlx::Error::Protocol(format!("apalis: {other}")),
    }
}

/// Gives every waiting or running job an apalis task if it has none: jobs
/// queued before the queue moved to apalis, or copied by `migrate-to` (which
/// copies our tables, not apalis's). A task that exists is left alone (its
/// idempotency key is the job's id). Returns how many were pushed.
pub async fn requeue_lost_tasks(db: &Db) -> Result<u64, sqlx::Error> {
    let sql = "SELECT id FROM ingest_jobs WHERE status IN ('queued', 'processing') ORDER BY created_at";
    let ids: Vec<String> = with_pool!(db, pool => sqlx::query_scalar(sql).fetch_all(pool).await)?;
    let mut pushed = 0;
    for id in ids {
        let task = ingest_task(&id, fair_priority(0))?;
        // The existence check and the push run apart, so two workers starting
        // together may both push: the unique idempotency key stops the second.
        let result = match db {
            Db::Sqlite(pool) => {
                let exists: Option<i64> =
                    sqlx::query_scalar("SELECT 1 FROM Jobs WHERE job_type = $1 AND idempotency_key = $2")
                        .bind(INGEST_QUEUE)
                        .bind(&id)
                        .fetch_optional(pool)
                        .await?;
                if exists.is_some() {
                    continue;
                }
                let mut conn = pool.acquire().await?;
                push_task(&mut *conn, task).await
            }
            Db::Postgres(pool) => {
                let exists: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM apalis.jobs WHERE job_type = $1 AND idempotency_key = $2")
                        .bind(INGEST_QUEUE)
                        .bind(&id)
                        .fetch_optional(pool)
                        .await?;
                if exists.is_some() {
                    continue;
                }
                let mut conn = pool.acquire().await?;
                push_task(&mut *conn, task).await
            }
        };
        match result {
            Ok(()) => pushed += 1,
            Err(e) if super::is_unique_violation(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(pushed)
}

/// The result of trying to claim a job.
#[derive(Debug)]
pub enum Claim {
    /// Ours now, under the token we gave.
    Claimed(JobRow),
    /// Already ready or failed: nothing to do.
    Settled(JobRow),
    /// Another worker holds a live lease until this time (ms).
    HeldUntil(i64),
    /// The job is gone (its track was deleted).
    Missing,
}

/// Claims job `id` for `worker_id` under `token` if nobody holds it: it is
/// queued, or processing under a lease that ran out (its worker died or
/// stalled). Counts an attempt.
pub async fn claim(
    db: &Db,
    id: &str,
    worker_id: &str,
    token: &str,
    now: i64,
    lease_ms: i64,
) -> Result<Claim, sqlx::Error> {
    let sql = concatcp!(
        "UPDATE ingest_jobs SET status = 'processing', worker_id = $2, lease_token = $3, lease_until = $4, \
         attempts = attempts + 1, updated_at = $5 \
         WHERE id = $1 AND (status = 'queued' OR (status = 'processing' AND (lease_until IS NULL OR lease_until < $5))) \
         RETURNING ",
        COLUMNS
    );
    let claimed = with_pool!(db, pool => {
        sqlx::query_as::<_, JobRow>(sql)
            .bind(id)
            .bind(worker_id)
            .bind(token)
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(pool)
            .await
    })?;
    if let Some(job) = claimed {
        return Ok(Claim::Claimed(job));
    }
    Ok(match find(db, id).await? {
        None => Claim::Missing,
        Some(job) if job.status == "processing" => Claim::HeldUntil(job.lease_until.unwrap_or(now)),
        Some(job) => Claim::Settled(job),
    })
}

/// Reports progress and renews the lease. `false`: the claim is lost (taken
/// over, or the job deleted), so the caller must stop.
pub async fn renew(db: &Db, id: &str, token: &str, progress: u8, lease_until: i64) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE ingest_jobs SET progress = $3, lease_until = $4, updated_at = $5 \
               WHERE id = $1 AND lease_token = $2 AND status = 'processing'";
    let result = with_pool!(db, pool => {
        sqlx::query(sql).bind(id).bind(token).bind(i64::from(progress)).bind(lease_until).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(result == 1)
}

/// Ends the job as failed with a reason the uploader reads, and its track
/// with it, if the claim is still held. `false` if it was lost.
pub async fn fail(db: &Db, id: &str, token: &str, reason: &str) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let job: Option<String> = sqlx::query_scalar(
            "UPDATE ingest_jobs SET status = 'failed', error = $3, lease_until = NULL, updated_at = $4 \
             WHERE id = $1 AND lease_token = $2 AND status = 'processing' RETURNING track_id",
        )
        .bind(id)
        .bind(token)
        .bind(reason)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(track_id) = job else {
            return Ok(false);
        };
        sqlx::query("UPDATE tracks SET status = 'failed', error = $2, updated_at = $3 WHERE id = $1 AND status <> 'ready'")
            .bind(&track_id)
            .bind(reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    })
}

/// Gives the job back to the queue after a temporary failure (storage or
/// the database unreachable), if the claim is still held. Its next attempt
/// claims it again.
pub async fn release(db: &Db, id: &str, token: &str, message: &str) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE ingest_jobs SET status = 'queued', error = $3, lease_until = NULL, lease_token = NULL, \
               worker_id = NULL, updated_at = $4 WHERE id = $1 AND lease_token = $2 AND status = 'processing'";
    let result = with_pool!(db, pool => {
        sqlx::query(sql).bind(id).bind(token).bind(message).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(result == 1)
}

/// Gives the job back without counting the attempt: the worker is stopping,
/// which is not the job's fault.
pub async fn release_unused(db: &Db, id: &str, token: &str) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE ingest_jobs SET status = 'queued', attempts = attempts - 1, lease_until = NULL, \
               lease_token = NULL, worker_id = NULL, updated_at = $3 \
               WHERE id = $1 AND lease_token = $2 AND status = 'processing'";
    let result = with_pool!(db, pool => {
        sqlx::query(sql).bind(id).bind(token).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(result == 1)
}

/// For tests: how many rows there are.
#[cfg(any(test, feature = "testing"))]
pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM ingest_jobs").fetch_one(pool).await)
}

/// Jobs waiting or running, for the metrics gauge.
pub async fn count_by_status(db: &Db, status: JobStatus) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM ingest_jobs WHERE status = $1";
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>(sql).bind(status.as_str()).fetch_one(pool).await)
}
