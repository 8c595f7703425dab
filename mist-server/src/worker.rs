//! The job worker: claims queued jobs from the database and runs them.
//!
//! `mist-server serve` runs one in-process; `mist-server worker` runs only
//! this, so transcoding scales apart from the API. Any number of workers may
//! share one database: a claim is one atomic update that sets a lease (see
//! [`crate::db::jobs`]), renewed every few seconds while the job runs. A
//! worker that dies stops renewing, and another picks the job up when the
//! lease runs out. [`try_execute_task`] runs one job, so tests drive the
//! worker step by step without timers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use mist_core::api::JobStatus;

use crate::app::AppState;
use crate::db::jobs::{self, JobRow};
use crate::db::{now_ms, tracks};
use crate::ingest::{self, IngestError};

/// What one step of the worker did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No job was runnable.
    Idle,
    Ready(String),
    Failed(String),
    /// A transient failure: the job goes back to the queue.
    Retrying(String),
    /// The lease was lost to another worker; its result stands.
    LostLease(String),
}

/// Failed attempts after which a transient failure becomes final.
const MAX_ATTEMPTS: i64 = 5;

/// Shared between a running job and its lease renewer.
pub struct JobProgress {
    progress: AtomicU8,
    lost: AtomicBool,
}

impl JobProgress {
    /// Records progress (0–100); the renewer reports it with the next renewal.
    pub fn set(&self, percent: u8) {
        self.progress.store(percent.min(100), Ordering::Relaxed);
    }

    /// True once another worker took the job over: stop and write nothing.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }
}

/// Runs jobs until `shutdown` resolves. A job in progress when it does is
/// abandoned; its lease runs out and another worker (or this one, restarted)
/// takes it again.
pub async fn run(state: AppState, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let worker_id = format!("{}-{}", hostname(), crate::db::new_id());
    tracing::info!(%worker_id, database = state.db.kind(), storage = state.store.kind(), "worker started");
    let poll = Duration::from_millis(state.settings.worker_poll_ms);
    let work = async {
        loop {
            match try_execute_task(&state, &worker_id).await {
                Ok(Outcome::Idle) => tokio::time::sleep(poll).await,
                Ok(outcome) => tracing::info!(?outcome, "job done"),
                Err(e) => {
                    tracing::warn!(error = %e, "worker could not reach the database; backing off");
                    tokio::time::sleep(poll * 10).await;
                }
            }
        }
    };
    tokio::select! {
        () = work => {}
        () = shutdown => {}
    }
    tracing::info!(%worker_id, "worker stopped");
    Ok(())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into())
}

/// Claims one runnable job and runs it to the end.
pub async fn try_execute_task(state: &AppState, worker_id: &str) -> Result<Outcome, sqlx::Error> {
    let lease_ms = (state.settings.job_lease_secs * 1000) as i64;
    let Some(job) = jobs::claim(&state.db, worker_id, now_ms(), lease_ms).await? else {
        return Ok(Outcome::Idle);
    };
    tracing::info!(job_id = %job.id, track_id = %job.track_id, attempt = job.attempts, "job claimed");
    let started = Instant::now();
    let progress = Arc::new(JobProgress {
        progress: AtomicU8::new(job.progress.clamp(0, 100) as u8),
        lost: AtomicBool::new(false),
    });
    let renewer = tokio::spawn(renew_lease(
        state.clone(),
        job.id.clone(),
        worker_id.to_owned(),
        progress.clone(),
    ));
    let result = match job.kind.as_str() {
        jobs::KIND_INGEST => ingest::run(state, &job, &progress).await,
        other => Err(IngestError::Permanent(format!("unknown job kind {other:?}"))),
    };
    renewer.abort();
    metrics::histogram!("mist_job_duration_seconds", "kind" => job.kind.clone())
        .record(started.elapsed().as_secs_f64());
    if progress.lost() {
        tracing::warn!(job_id = %job.id, "lease lost; another worker has the job");
        return Ok(Outcome::LostLease(job.id));
    }
    settle(state, worker_id, &job, result).await
}

async fn settle(
    state: &AppState,
    worker_id: &str,
    job: &JobRow,
    result: Result<(), IngestError>,
) -> Result<Outcome, sqlx::Error> {
    match result {
        Ok(()) => {
            let held = jobs::finish(&state.db, &job.id, worker_id, JobStatus::Ready, None).await?;
            metrics::counter!("mist_jobs_total", "kind" => job.kind.clone(), "result" => "ready").increment(1);
            Ok(if held {
                Outcome::Ready(job.id.clone())
            } else {
                Outcome::LostLease(job.id.clone())
            })
        }
        Err(IngestError::Transient(reason)) if job.attempts < MAX_ATTEMPTS => {
            // 5 s, 20 s, 80 s, 320 s: storage or database hiccups get time to pass.
            let backoff_ms = 5_000 * 4_i64.pow((job.attempts - 1).clamp(0, 4) as u32);
            tracing::warn!(job_id = %job.id, %reason, backoff_ms, "job failed for now; will retry");
            metrics::counter!("mist_jobs_total", "kind" => job.kind.clone(), "result" => "retry").increment(1);
            let message = format!("retrying after a temporary failure: {reason}");
            jobs::retry_later(&state.db, &job.id, worker_id, now_ms() + backoff_ms, &message).await?;
            Ok(Outcome::Retrying(job.id.clone()))
        }
        Err(IngestError::Transient(reason) | IngestError::Permanent(reason)) => {
            tracing::warn!(job_id = %job.id, %reason, "job failed");
            metrics::counter!("mist_jobs_total", "kind" => job.kind.clone(), "result" => "failed").increment(1);
            if jobs::finish(&state.db, &job.id, worker_id, JobStatus::Failed, Some(&reason)).await? {
                tracks::mark_failed(&state.db, &job.track_id, &reason).await?;
            }
            Ok(Outcome::Failed(job.id.clone()))
        }
    }
}

/// Renews the lease every 2 s (or a third of the lease, if shorter),
/// reporting progress with it, so `GET /jobs/{id}` moves as the job does.
async fn renew_lease(state: AppState, job_id: String, worker_id: String, progress: Arc<JobProgress>) {
    let lease_ms = (state.settings.job_lease_secs * 1000) as i64;
    let every = Duration::from_millis((lease_ms / 3).clamp(50, 2_000) as u64);
    loop {
        tokio::time::sleep(every).await;
        let percent = progress.progress.load(Ordering::Relaxed);
        match jobs::renew(&state.db, &job_id, &worker_id, percent, now_ms() + lease_ms).await {
            Ok(true) => {}
            Ok(false) => {
                progress.lost.store(true, Ordering::Relaxed);
                return;
            }
            // A blip: the next renewal may work, well before the lease ends.
            Err(e) => tracing::warn!(%job_id, error = %e, "lease renewal failed"),
        }
    }
}
