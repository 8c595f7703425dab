//! The embedded server's worker as a child process.
//!
//! `mist-server` (serve) runs the API and, unless `--no-worker`, one
//! `mist-server worker --supervised` child: a file that crashes the decoder
//! or exhausts memory takes down that child, never the API. The child gets
//! exactly the server's settings (its environment is rebuilt from them, see
//! `Settings::child_env`), serves its metrics on a loopback port the API
//! reads, and is restarted when it dies, after 1 s, then 2, 4… up to a minute
//! while it keeps dying (the wait starts over after a minute of running).
//!
//! The child runs in its own process group, so a terminal's Ctrl-C reaches
//! the server only; the server stops it by closing the child's stdin, which
//! the child takes as its signal to stop (and which also happens when the
//! server dies, however). A child that does not stop within
//! [`STOP_GRACE`] is killed.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::metrics::LISTENING_PREFIX;
use crate::config::{INHERITED_SETTING_VARIABLES, Settings};
use crate::telemetry::WorkerMetrics;

/// How long a stopping worker gets to give its jobs back.
pub const STOP_GRACE: Duration = Duration::from_secs(15);

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Runs a worker child from `exe` until `stop` turns true, restarting it
/// whenever it exits.
pub async fn supervise(exe: PathBuf, settings: Arc<Settings>, metrics: WorkerMetrics, mut stop: watch::Receiver<bool>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        match spawn(&exe, &settings, &metrics) {
            Err(e) => tracing::error!(exe = %exe.display(), error = %e, "cannot start the worker process"),
            Ok((mut child, stdin)) => {
                ::metrics::counter!("mist_worker_starts_total").increment(1);
                tracing::info!(pid = child.id(), "worker process started");
                tokio::select! {
                    status = child.wait() => {
                        metrics.set(None);
                        ::metrics::counter!("mist_worker_exits_total").increment(1);
                        match status {
                            Ok(status) => tracing::error!(%status, "the worker process exited; restarting it"),
                            Err(e) => tracing::error!(error = %e, "cannot wait for the worker process; restarting it"),
                        }
                    }
                    () = stopped(&mut stop) => {
                        stop_child(child, stdin).await;
                        metrics.set(None);
                        return;
                    }
                }
            }
        }
        if started.elapsed() > MAX_BACKOFF {
            backoff = FIRST_BACKOFF;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stopped(&mut stop) => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Starts `exe worker --supervised` with the server's settings; forwards its
/// standard output, noting where it serves its metrics.
fn spawn(
    exe: &PathBuf,
    settings: &Settings,
    metrics: &WorkerMetrics,
) -> std::io::Result<(Child, tokio::process::ChildStdin)> {
    let mut command = Command::new(exe);
    command.arg("worker").arg("--supervised");
    for (name, _) in std::env::vars_os() {
        let inherited = name
            .to_str()
            .is_some_and(|name| name.starts_with("MIST_") || INHERITED_SETTING_VARIABLES.contains(&name));
        if inherited {
            command.env_remove(&name);
        }
    }
    command
        .envs(settings.child_env())
        .env("MIST_WORKER_METRICS_LISTEN", "\"127.0.0.1:0\"")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let mut child = command.spawn()?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin pipe to the worker"))?;
    if let Some(stdout) = child.stdout.take() {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = line.strip_prefix(LISTENING_PREFIX).and_then(|a| a.trim().parse().ok()) {
                    metrics.set(Some(addr));
                } else {
                    println!("{line}");
                }
            }
        });
    }
    Ok((child, stdin))
}

/// Closes the child's stdin (its cue to stop) and waits [`STOP_GRACE`]
/// before killing it.
async fn stop_child(mut child: Child, stdin: tokio::process::ChildStdin) {
    drop(stdin);
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(Ok(status)) => tracing::info!(%status, "worker process stopped"),
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot wait for the worker process"),
        Err(_) => {
            tracing::warn!("the worker process did not stop in time; killing it");
            let _ = child.kill().await;
        }
    }
}

/// For the supervised child: resolves on `signal` or when the parent closes
/// (or loses) our standard input.
pub async fn until_parent_stops(signal: impl std::future::Future<Output = ()>) {
    let stdin_closed = async {
        use tokio::io::AsyncReadExt;
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        // Anything the parent writes is ignored; end of file is the cue.
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! {
        () = signal => {}
        () = stdin_closed => tracing::info!("the server closed our stdin; stopping"),
    }
}
