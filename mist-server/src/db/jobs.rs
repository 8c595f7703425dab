//! The `jobs` table: the user-visible job status and the work queue.
//!
//! A worker claims the oldest runnable job by setting a lease
//! (`lease_until`); it renews the lease as it reports progress. A worker that
//! dies stops renewing, and when the lease runs out the job is runnable
//! again. Every state change after the claim is conditional on still holding
//! the lease (`worker_id`), so a worker that lost its lease cannot overwrite
//! the result of the one that took over.

use mist_core::api::{Job, JobStatus};

use super::tracks::TrackRow;
use super::{Db, now_ms};
use crate::with_pool;

/// The kind of the ingest job.
pub const KIND_INGEST: &str = "ingest";

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
        }
    }
}

macro_rules! columns {
    () => {
        "id, kind, upload_id, track_id, user_id, status, progress, error, payload, attempts, worker_id, lease_until, \
         run_after, created_at, updated_at"
    };
}

pub async fn find(db: &Db, id: &str) -> Result<Option<JobRow>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM jobs WHERE id = $1");
    with_pool!(db, pool => sqlx::query_as::<_, JobRow>(sql).bind(id).fetch_optional(pool).await)
}

/// Creates the track (in `processing`) and its ingest job for an upload, in
/// one transaction. Completing the same upload again, even concurrently,
/// finds the first job: both inserts do nothing on conflict.
pub async fn enqueue_ingest(db: &Db, track: &TrackRow, upload_id: &str, payload: &str) -> Result<JobRow, sqlx::Error> {
    let now = now_ms();
    let job_id = super::new_id();
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
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
        sqlx::query(
            "INSERT INTO jobs (id, kind, upload_id, track_id, user_id, status, progress, payload, run_after, created_at, updated_at) \
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
        .await?;
        let job = sqlx::query_as::<_, JobRow>(concat!("SELECT ", columns!(), " FROM jobs WHERE upload_id = $1"))
            .bind(upload_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(job)
    })
}

/// Claims the oldest runnable job for `worker_id`: a queued one whose time
/// has come, or a processing one whose lease ran out (its worker died).
pub async fn claim(db: &Db, worker_id: &str, now: i64, lease_ms: i64) -> Result<Option<JobRow>, sqlx::Error> {
    // The outer WHERE repeats the claimability test: on Postgres a racing
    // claimer re-evaluates it after the first commits and then skips the row.
    // Postgres also skips rows another claimer has locked instead of waiting.
    let runnable = "(status = 'queued' AND run_after <= $3) OR (status = 'processing' AND lease_until < $3)";
    match db {
        Db::Sqlite(pool) => {
            let sql = format!(
                "UPDATE jobs SET status = 'processing', worker_id = $1, lease_until = $2, attempts = attempts + 1, \
                 updated_at = $3 WHERE id = (SELECT id FROM jobs WHERE {runnable} ORDER BY created_at LIMIT 1) \
                 AND ({runnable}) RETURNING {}",
                columns!()
            );
            sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(sql))
                .bind(worker_id)
                .bind(now + lease_ms)
                .bind(now)
                .fetch_optional(pool)
                .await
        }
        Db::Postgres(pool) => {
            let sql = format!(
                "UPDATE jobs SET status = 'processing', worker_id = $1, lease_until = $2, attempts = attempts + 1, \
                 updated_at = $3 WHERE id = (SELECT id FROM jobs WHERE {runnable} ORDER BY created_at LIMIT 1 \
                 FOR UPDATE SKIP LOCKED) AND ({runnable}) RETURNING {}",
                columns!()
            );
            sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(sql))
                .bind(worker_id)
                .bind(now + lease_ms)
                .bind(now)
                .fetch_optional(pool)
                .await
        }
    }
}

/// Reports progress and renews the lease. `false`: the lease was lost (the
/// job was taken over), so the caller must stop.
pub async fn renew(db: &Db, id: &str, worker_id: &str, progress: u8, lease_until: i64) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE jobs SET progress = $3, lease_until = $4, updated_at = $5 \
               WHERE id = $1 AND worker_id = $2 AND status = 'processing'";
    let result = with_pool!(db, pool => {
        sqlx::query(sql).bind(id).bind(worker_id).bind(i64::from(progress)).bind(lease_until).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(result == 1)
}

/// Ends the job as `ready` or `failed`. `false` if the lease was lost.
pub async fn finish(
    db: &Db,
    id: &str,
    worker_id: &str,
    status: JobStatus,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let progress: i64 = if status == JobStatus::Ready { 100 } else { 0 };
    let sql = "UPDATE jobs SET status = $3, error = $4, progress = CASE WHEN $3 = 'ready' THEN $5 ELSE progress END, \
               lease_until = NULL, updated_at = $6 WHERE id = $1 AND worker_id = $2 AND status = 'processing'";
    let result = with_pool!(db, pool => {
        sqlx::query(sql).bind(id).bind(worker_id).bind(status.as_str()).bind(error).bind(progress).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(result == 1)
}

/// Puts the job back in the queue to run again at `run_after` (a transient
/// failure such as storage being unreachable).
pub async fn retry_later(db: &Db, id: &str, worker_id: &str, run_after: i64, error: &str) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE jobs SET status = 'queued', error = $4, run_after = $3, lease_until = NULL, worker_id = NULL, \
               updated_at = $5 WHERE id = $1 AND worker_id = $2 AND status = 'processing'";
    let result = with_pool!(db, pool => {
        sqlx::query(sql).bind(id).bind(worker_id).bind(run_after).bind(error).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(result == 1)
}

pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM jobs").fetch_one(pool).await)
}

/// Jobs waiting or running, for the metrics gauge.
pub async fn count_by_status(db: &Db, status: JobStatus) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM jobs WHERE status = $1";
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>(sql).bind(status.as_str()).fetch_one(pool).await)
}
