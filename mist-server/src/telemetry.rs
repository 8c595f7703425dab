//! Logging and the metrics recorder, set up once per process; where the
//! supervised worker's metrics are read from.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::EnvFilter;

/// The default filter: info for MIST, warn for the rest, nothing from the
/// decoder: symphonia's errors are about a user's file, which the job's
/// failure already reports (a warning with the reason).
pub const DEFAULT_FILTER: &str = "warn,mist_server=info,tower_http=info,symphonia=off";

/// Logs to stderr, filtered by `RUST_LOG` (default: [`DEFAULT_FILTER`]).
pub fn init_logging() {
    init_logging_with(DEFAULT_FILTER);
}

/// As [`init_logging`], with another default filter (tests log only warnings).
pub fn init_logging_with(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // A second call (tests) keeps the first subscriber.
    // Colours only on a terminal: logs collected from a pipe stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder. Installed on first use; every app in
/// the process (tests start several) shares it.
pub fn metrics_handle() -> PrometheusHandle {
    METRICS
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed; then ours just
            // renders nothing, which a test would notice.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::Level;
    use tracing_subscriber::layer::{Context, SubscriberExt};

    use super::*;

    /// Records the level and target of every event that passes the filter.
    struct Seen(Arc<Mutex<Vec<(Level, String)>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Seen {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let meta = event.metadata();
            if let Ok(mut seen) = self.0.lock() {
                seen.push((*meta.level(), meta.target().to_owned()));
            }
        }
    }

    #[test]
    fn a_bad_upload_is_not_a_server_error_in_the_log() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new(DEFAULT_FILTER))
            .with(Seen(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            // What symphonia says (through `log`) about a truncated upload ...
            tracing::error!(target: "symphonia_core::formats::probe", "probe reached EOF at 4096 bytes");
            tracing::warn!(target: "symphonia_bundle_mp3::demuxer", "skipping junk");
            // ... and what the worker says about the job.
            tracing::warn!(target: "mist_server::worker", reason = "not audio", "job failed");
            tracing::error!(target: "mist_server::http", "a real server error");
        });
        let seen = seen.lock().expect("events");
        assert_eq!(
            *seen,
            vec![
                (Level::WARN, "mist_server::worker".to_owned()),
                (Level::ERROR, "mist_server::http".to_owned()),
            ]
        );
    }
}

/// Where the supervised worker serves its metrics (`worker::metrics`), once
/// it said so; the API appends them to its own `/metrics`.
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
