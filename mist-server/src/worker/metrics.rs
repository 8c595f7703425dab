//! A worker process's metrics, where Prometheus and the API can read them.
//!
//! apalis's series (`tasks_total`, `task_duration_seconds`) and the job
//! series (`mist_jobs_total`, `mist_job_duration_seconds`) are recorded in the
//! process that runs the jobs. A worker with `MIST_WORKER_METRICS_LISTEN`
//! serves them at `/metrics` there ([`serve`]), and prints
//! `mist-server worker metrics on http://ADDR` once bound. The supervised
//! worker of `mist-server` (serve) binds a loopback port; the API reads it
//! (`crate::telemetry::WorkerMetrics`) and appends it to its own `/metrics`, so one scrape of
//! the API shows the whole embedded server.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::http::header;
use axum::routing::get;

use crate::app::AppState;

/// The line a worker prints when its metrics listener is up.
pub const LISTENING_PREFIX: &str = "mist-server worker metrics on http://";

/// Binds `addr` and serves `/metrics` (and `/healthz`) from this process's
/// recorder until the task is aborted.
pub async fn serve(state: AppState, addr: SocketAddr) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for worker metrics"))?;
    let bound = listener.local_addr()?;
    println!("{LISTENING_PREFIX}{bound}");
    let metrics = state.metrics.clone();
    let router = Router::new()
        .route(
            "/metrics",
            get(move || {
                record_memory();
                let text = metrics.render();
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!(error = %e, "worker metrics listener stopped");
        }
    }))
}

/// This process's resident memory now and at its peak (Linux), as
/// `mist_worker_resident_bytes` and `mist_worker_peak_resident_bytes`: the
/// figure that must not grow with the length of what the worker ingests.
fn record_memory() {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return;
    };
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
    };
    if let Some(rss) = kib("VmRSS:") {
        ::metrics::gauge!("mist_worker_resident_bytes").set(rss * 1024.0);
    }
    if let Some(peak) = kib("VmHWM:") {
        ::metrics::gauge!("mist_worker_peak_resident_bytes").set(peak * 1024.0);
    }
}
