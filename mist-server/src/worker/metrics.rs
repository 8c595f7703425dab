//! A worker process's metrics, where Prometheus and the API can read them.
//!
//! apalis's series (`tasks_total`, `task_duration_seconds`) and the job
//! series (`mist_jobs_total`, `mist_job_duration_seconds`) are recorded in the
//! process that runs the jobs. A worker with `MIST_WORKER_METRICS_LISTEN`
//! serves them at `/metrics` there ([`serve`]), and prints
//! `mist-server worker metrics on http://ADDR` once bound. The supervised
//! worker of `mist-server` (serve) binds a loopback port; the API reads it
//! ([`WorkerMetrics`]) and appends it to its own `/metrics`, so one scrape of
//! the API shows the whole embedded server.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::header;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Where the supervised worker serves its metrics, once it said so.
#[derive(Clone, Default)]
pub struct WorkerMetrics(Arc<RwLock<Option<SocketAddr>>>);

impl WorkerMetrics {
    pub fn set(&self, addr: Option<SocketAddr>) {
        if let Ok(mut slot) = self.0.write() {
            *slot = addr;
        }
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        self.0.read().ok().and_then(|slot| *slot)
    }

    /// The worker's metrics text, or nothing when there is no worker or it
    /// does not answer within a second (a scrape never waits on it).
    pub async fn text(&self) -> Option<String> {
        let addr = self.addr()?;
        match tokio::time::timeout(Duration::from_secs(1), fetch(addr)).await {
            Ok(Ok(text)) => Some(text),
            Ok(Err(e)) => {
                tracing::debug!(%addr, error = %e, "cannot read the worker's metrics");
                None
            }
            Err(_) => None,
        }
    }
}

/// `GET /metrics` over HTTP/1.0 on a loopback connection: the body.
async fn fetch(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: worker\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    stream.take(64 << 20).read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header end"))?;
    let ok = head.starts_with("HTTP/1.") && head.split(' ').nth(1) == Some("200");
    if !ok {
        return Err(std::io::Error::other(format!(
            "unexpected answer: {}",
            head.lines().next().unwrap_or("")
        )));
    }
    Ok(body.to_owned())
}
