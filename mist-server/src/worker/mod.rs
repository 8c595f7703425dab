//! The job worker: runs ingest tasks from the apalis queue.
//!
//! `mist-server` (serve) starts it as a child process and restarts it when it
//! dies ([`supervise`]); `mist-server worker` runs only this, so transcoding
//! scales apart from the API. Any number of workers may share one database.
//!
//! apalis (`apalis-sqlite` in the embedded mode, `apalis-postgres` at scale,
//! on the server's own pool) hands each worker one task at a time per
//! [`Settings::worker_concurrency`](crate::config::Settings) slot, in fair
//! order (see `db::jobs::enqueue_ingest`), keeps a heartbeat per worker and
//! hands the tasks of a worker whose heartbeat stopped to another. Around the
//! task: apalis's Prometheus layer (`tasks_total`, `task_duration_seconds`),
//! its retry layer with exponential backoff for [`Transient`] failures only
//! (storage or database unreachable; never for a bad file), a timeout as a
//! backstop, and panics caught in the handler.
//!
//! The job itself is fenced by our own row (`db::jobs`): a task first
//! *claims* its job with a fresh token, waiting out another worker's live
//! lease; the claim is renewed with the progress every few seconds, and
//! every later change names the token, the ready transaction included. A job
//! claimed more than [`Settings::job_max_attempts`](crate::config::Settings)
//! times fails for good with a reason, however its attempts ended — even a
//! file that kills its worker every time. Each attempt has a time limit; it
//! stops at once when its claim is lost, its track deleted or the worker
//! stopping, and deletes what it wrote.
//!
//! [`try_execute_task`] runs one task through the same apalis stack, so tests
//! drive the worker step by step.

pub mod metrics;
pub mod supervise;
pub mod sweep;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apalis::layers::WorkerBuilderExt;
use apalis::layers::prometheus::PrometheusLayer;
use apalis::layers::retry::backoff::{ExponentialBackoffMaker, MakeBackoff};
use apalis::layers::retry::{HasherRng, RetryPolicy};
use apalis::prelude::{BackendExt, BoxDynError, Data, Event, WorkerBuilder, WorkerContext};

use crate::app::AppState;
use crate::db::jobs::{self, Claim, INGEST_QUEUE, IngestTask, JobRow};
use crate::db::{Db, new_id, now_ms};
use crate::ingest::{self, IngestError, JobProgress};

/// What one task did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No task was runnable.
    Idle,
    Ready(String),
    Failed(String),
    /// A transient failure: the job was released for another attempt.
    Retrying(String),
    /// The attempt was stopped from outside (claim lost, track deleted);
    /// whatever holds the job now settles it.
    Cancelled(String),
    /// The job was already ready or failed, or is gone.
    Settled(String),
    /// The worker is stopping: the job was given back for the next worker.
    Stopped(String),
}

/// A transient failure handed to apalis, whose retry layer tries the task
/// again after a backoff.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Transient(String);

/// The worker process is stopping; the job was given back.
#[derive(Debug, thiserror::Error)]
#[error("the worker is stopping")]
pub struct Stopping;

/// What every task of a worker shares.
#[derive(Clone)]
pub struct Shared {
    state: AppState,
    worker_id: String,
    stopping: Arc<AtomicBool>,
    /// The last task's outcome, for [`try_execute_task`].
    last: Arc<Mutex<Option<Outcome>>>,
}

impl Shared {
    fn new(state: AppState) -> Self {
        Shared {
            state,
            worker_id: format!("{}-{}", hostname(), new_id()),
            stopping: Arc::new(AtomicBool::new(false)),
            last: Arc::new(Mutex::new(None)),
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into())
}

/// Whether apalis's retry layer should try a task again: only after a
/// [`Transient`] failure.
fn is_transient(error: &BoxDynError) -> bool {
    error.is::<Transient>()
}

/// The apalis task handler.
async fn handle(task: IngestTask, shared: Data<Shared>) -> Result<(), BoxDynError> {
    use futures::FutureExt;
    // A panic is a bug, or a file that trips one: contain it to this task.
    let outcome = std::panic::AssertUnwindSafe(run_job(&shared, &task.job_id))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!(job_id = %task.job_id, "the job panicked");
            Ok(Outcome::Retrying("the worker hit an internal error".into()))
        });
    if let Ok(mut last) = shared.last.lock() {
        *last = outcome.as_ref().ok().cloned();
    }
    match outcome {
        Ok(Outcome::Retrying(reason)) => Err(Box::new(Transient(reason))),
        Ok(Outcome::Stopped(_)) => Err(Box::new(Stopping)),
        Ok(outcome) => {
            tracing::info!(?outcome, "job done");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(job_id = %task.job_id, error = %e, "the database failed; will retry");
            Err(Box::new(Transient(format!("database: {e}"))))
        }
    }
}

/// Claims job `job_id` and runs one attempt at it, then settles it.
pub async fn run_job(shared: &Shared, job_id: &str) -> Result<Outcome, sqlx::Error> {
    let state = &shared.state;
    let settings = &state.settings;
    let lease_ms = (settings.job_lease_secs * 1000) as i64;
    let token = new_id();
    let waited = Instant::now();
    let job = loop {
        match jobs::claim(&state.db, job_id, &shared.worker_id, &token, now_ms(), lease_ms).await? {
            Claim::Claimed(job) => break job,
            Claim::Settled(_) | Claim::Missing => return Ok(Outcome::Settled(job_id.to_owned())),
            // apalis thought its worker dead, but the lease is live: wait for
            // it to end or for its holder to settle the job.
            Claim::HeldUntil(until) => {
                if shared.stopping.load(Ordering::Relaxed)
                    || waited.elapsed() > Duration::from_secs(settings.job_timeout_secs + settings.job_lease_secs)
                {
                    return Ok(Outcome::Retrying("another worker still holds the job".into()));
                }
                let wait = (until - now_ms() + 50).clamp(50, lease_ms.max(50));
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            }
        }
    };
    tracing::info!(job_id, track_id = %job.track_id, attempt = job.attempts, "job claimed");
    let max = i64::from(settings.job_max_attempts);
    if job.attempts > max {
        let reason = format!(
            "gave up after {max} attempts: {}",
            job.error.as_deref().unwrap_or(
                "the worker stopped while processing this file (it may need more memory or time than the server allows)"
            )
        );
        return settle(shared, &job, &token, Err(IngestError::Permanent(reason)), false).await;
    }

    let started = Instant::now();
    let progress = Arc::new(JobProgress::new(shared.stopping.clone()));
    progress.set(job.progress.clamp(0, 100) as u8);
    // Stops the renewer and the attempt's threads however this future ends
    // (apalis's backstop timeout drops it).
    let guard = AttemptGuard {
        renewer: tokio::spawn(renew_lease(
            state.clone(),
            job.id.clone(),
            token.clone(),
            progress.clone(),
        )),
        progress: progress.clone(),
    };
    let limit = Duration::from_secs(settings.job_timeout_secs);
    let work = ingest::run(state, &job, &token, &progress);
    tokio::pin!(work);
    let mut timed_out = false;
    let result = tokio::select! {
        result = &mut work => result,
        () = tokio::time::sleep(limit) => {
            timed_out = true;
            progress.stop();
            // Let the attempt wind down and delete what it wrote.
            let _ = (&mut work).await;
            Err(IngestError::Permanent(format!(
                "processing took longer than the limit of {} s; the file may be too demanding for this server",
                settings.job_timeout_secs
            )))
        }
    };
    drop(guard);
    ::metrics::histogram!("mist_job_duration_seconds", "kind" => job.kind.clone())
        .record(started.elapsed().as_secs_f64());
    let result = match result {
        Err(IngestError::Cancelled(_)) if !timed_out && !progress.lost() && shared.stopping.load(Ordering::Relaxed) => {
            let released = jobs::release_unused(&state.db, &job.id, &token).await?;
            tracing::info!(job_id, released, "worker stopping; job given back");
            return Ok(Outcome::Stopped(job.id.clone()));
        }
        other => other,
    };
    settle(shared, &job, &token, result, progress.lost()).await
}

/// Ends an attempt's helpers when the attempt ends, whichever way.
struct AttemptGuard {
    renewer: tokio::task::JoinHandle<()>,
    progress: Arc<JobProgress>,
}

impl Drop for AttemptGuard {
    fn drop(&mut self) {
        self.renewer.abort();
        self.progress.stop();
    }
}

async fn settle(
    shared: &Shared,
    job: &JobRow,
    token: &str,
    result: Result<(), IngestError>,
    lost: bool,
) -> Result<Outcome, sqlx::Error> {
    let db = &shared.state.db;
    let counter = |result: &'static str| {
        ::metrics::counter!("mist_jobs_total", "kind" => job.kind.clone(), "result" => result).increment(1);
    };
    let max = i64::from(shared.state.settings.job_max_attempts);
    match result {
        Ok(()) => {
            counter("ready");
            Ok(Outcome::Ready(job.id.clone()))
        }
        Err(IngestError::Cancelled(reason)) => {
            tracing::warn!(job_id = %job.id, %reason, lost, "job attempt stopped");
            counter("cancelled");
            Ok(Outcome::Cancelled(job.id.clone()))
        }
        Err(IngestError::Transient(reason)) if job.attempts < max => {
            tracing::warn!(job_id = %job.id, %reason, attempt = job.attempts, "job failed for now; will retry");
            counter("retry");
            jobs::release(
                db,
                &job.id,
                token,
                &format!("retrying after a temporary failure: {reason}"),
            )
            .await?;
            Ok(Outcome::Retrying(reason))
        }
        Err(IngestError::Transient(reason)) => {
            let reason = format!("gave up after {max} attempts: {reason}");
            fail(db, job, token, &reason, counter).await
        }
        Err(IngestError::Permanent(reason)) => fail(db, job, token, &reason, counter).await,
        Err(e @ IngestError::Duplicate(_)) => fail(db, job, token, &e.to_string(), counter).await,
    }
}

async fn fail(
    db: &Db,
    job: &JobRow,
    token: &str,
    reason: &str,
    counter: impl Fn(&'static str),
) -> Result<Outcome, sqlx::Error> {
    tracing::warn!(job_id = %job.id, %reason, "job failed");
    counter("failed");
    if jobs::fail(db, &job.id, token, reason).await? {
        Ok(Outcome::Failed(job.id.clone()))
    } else {
        Ok(Outcome::Cancelled(job.id.clone()))
    }
}

/// Renews the lease every 2 s (or a third of the lease, if shorter),
/// reporting progress with it, so `GET /jobs/{id}` moves as the job does.
/// A refused renewal means the claim is lost: the job stops.
async fn renew_lease(state: AppState, job_id: String, token: String, progress: Arc<JobProgress>) {
    let lease_ms = (state.settings.job_lease_secs * 1000) as i64;
    let every = Duration::from_millis((lease_ms / 3).clamp(50, 2_000) as u64);
    loop {
        tokio::time::sleep(every).await;
        match jobs::renew(&state.db, &job_id, &token, progress.percent(), now_ms() + lease_ms).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(%job_id, "lease renewal refused (claim lost, or the job settled); stopping the job");
                progress.lose();
                return;
            }
            // A blip: the next renewal may work, well before the lease ends.
            Err(e) => tracing::warn!(%job_id, error = %e, "lease renewal failed"),
        }
    }
}

/// apalis's heartbeat: a third of our lease, so a dead worker's task is
/// handed out again (after two missed beats) about when its lease ends.
fn heartbeat(settings: &crate::config::Settings) -> Duration {
    Duration::from_secs((settings.job_lease_secs / 3).max(1))
}

/// Builds the apalis worker (context `$context`) for the shared state's
/// database and runs `$run` on it.
macro_rules! with_apalis_worker {
    ($shared:expr, $context:expr, $concurrency:expr, $worker:ident => $run:expr) => {{
        let shared: Shared = $shared;
        let settings = shared.state.settings.clone();
        let poll = Duration::from_millis(settings.worker_poll_ms);
        let retries = settings.job_max_attempts as usize + 1;
        let backoff = ExponentialBackoffMaker::new(
            Duration::from_secs(2),
            Duration::from_secs(60),
            0.5,
            HasherRng::default(),
        )
        .map_err(|e| anyhow::anyhow!("retry backoff: {e}"))?
        .make_backoff();
        let policy = RetryPolicy::retries(retries)
            .with_backoff(backoff)
            .retry_if(is_transient);
        // A backstop only: every attempt keeps its own time limit and winds down.
        let backstop = Duration::from_secs(settings.job_timeout_secs + settings.job_lease_secs + 60);
        let context: &WorkerContext = $context;
        match shared.state.db.clone() {
            Db::Sqlite(pool) => {
                let config = apalis_sqlite::Config::default()
                    .queue(INGEST_QUEUE)
                    .batch_size(1)
                    .heartbeat_interval(heartbeat(&settings))
                    .missed_heartbeats(2);
                let storage = apalis_sqlite::SqliteStorage::<IngestTask>::new(&pool)
                    .with_config(config)
                    .poll_with_interval(poll);
                let $worker = WorkerBuilder::new(context)
                    .backend(storage)
                    .data(shared)
                    .concurrency($concurrency)
                    .retry(policy)
                    .timeout(backstop)
                    .layer(PrometheusLayer::default())
                    .build(handle);
                $run
            }
            Db::Postgres(pool) => {
                let config = apalis_postgres::Config::default()
                    .queue(INGEST_QUEUE)
                    .batch_size(1)
                    .heartbeat_interval(heartbeat(&settings))
                    .missed_heartbeats(2);
                let storage = apalis_postgres::PostgresStorage::<IngestTask>::new(&pool)
                    .with_config(config)
                    .poll_with_interval(poll);
                let $worker = WorkerBuilder::new(context)
                    .backend(storage)
                    .data(shared)
                    .concurrency($concurrency)
                    .retry(policy)
                    .timeout(backstop)
                    .layer(PrometheusLayer::default())
                    .build(handle);
                $run
            }
        }
    }};
}

/// Runs the worker until `shutdown` resolves: apalis tasks, the sweeper,
/// and (when configured) the worker's own `/metrics`. At shutdown the
/// running jobs stop, give their jobs back (no attempt counted) and delete
/// what they wrote; the next worker takes them up at once.
pub async fn run(state: AppState, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let shared = Shared::new(state.clone());
    tracing::info!(worker_id = %shared.worker_id, database = state.db.kind(), storage = state.store.kind(), "worker started");
    match jobs::requeue_lost_tasks(&state.db).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(tasks = n, "queued jobs that had no task"),
        Err(e) => tracing::warn!(error = %e, "cannot check for jobs without a task"),
    }
    let metrics = match state.settings.worker_metrics_listen {
        Some(addr) => Some(metrics::serve(state.clone(), addr).await?),
        None => None,
    };
    let sweeper = tokio::spawn(sweep::run(state.clone()));
    let stopping = shared.stopping.clone();
    let signal = async move {
        shutdown.await;
        stopping.store(true, Ordering::Relaxed);
        Ok::<(), std::io::Error>(())
    };
    let concurrency = state.settings.worker_concurrency;
    let worker_id = shared.worker_id.clone();
    let context = WorkerContext::new(&worker_id);
    let result = with_apalis_worker!(shared, &context, concurrency, worker => worker.run_until(signal).await);
    sweeper.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    tracing::info!(%worker_id, "worker stopped");
    result.map_err(|e| anyhow::anyhow!("the job worker failed: {e}"))
}

/// Runs at most one task through the worker's apalis stack and returns what
/// it did: [`Outcome::Idle`] when none was ready within a few polls. For
/// tests, which drive the worker step by step.
pub async fn try_execute_task(state: &AppState) -> anyhow::Result<Outcome> {
    use futures::StreamExt;
    let shared = Shared::new(state.clone());
    let last = shared.last.clone();
    let context = WorkerContext::new(&shared.worker_id);
    let idle_after = Duration::from_millis(state.settings.worker_poll_ms * 3 + 500);
    let ran = with_apalis_worker!(shared, &context, 1, worker => {
        let mut events = std::pin::pin!(worker.stream());
        let idle = tokio::time::sleep(idle_after);
        let mut idle = std::pin::pin!(idle);
        let (mut ran, mut stopped) = (false, false);
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(Event::Success(_) | Event::Error(_))) => {
                        ran = true;
                        if !stopped {
                            stopped = true;
                            let _ = context.stop();
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(anyhow::anyhow!("the job worker failed: {e}")),
                    None => break,
                },
                // Nothing came: stop (a task fetched meanwhile still runs to its end).
                () = &mut idle, if !stopped => {
                    stopped = true;
                    let _ = context.stop();
                }
            }
        }
        ran
    });
    let outcome = last.lock().ok().and_then(|mut last| last.take());
    Ok(match (ran, outcome) {
        (true, Some(outcome)) => outcome,
        _ => Outcome::Idle,
    })
}
