//! The server: [`Application`] binds the listener (and the private metrics
//! listener, when configured), makes sure an admin exists, and serves the
//! HTTP API until shutdown through [`crate::serve`], with its connection
//! timeouts and limit, beside the job worker, the hot cache's sync and the
//! library backfill. Tests build it on port 0 and read the real port back.

use std::net::SocketAddr;

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::accounts::{self, AdminBootstrap};
use crate::app::AppState;
use crate::config::Settings;
use crate::serve::ConnectionLimits;

/// A bound, not yet serving, API server.
pub struct Application {
    listener: TcpListener,
    /// `MIST_METRICS_LISTEN`: `/metrics` only, without a token.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    /// The binary to run the worker from, as a supervised child process;
    /// `None`: the worker runs in this process (tests).
    worker_exe: Option<std::path::PathBuf>,
}

impl Application {
    /// Connects, migrates, makes sure an admin exists, and binds the listen
    /// address (port 0 picks a free port; see [`Application::local_addr`]).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listen = settings.listen;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        Self::build_on(settings, listener).await
    }

    /// As [`Application::build`], on a listener bound by the caller (tests
    /// bind port 0 first so the public URL can name the real port).
    pub async fn build_on(settings: Settings, listener: TcpListener) -> anyhow::Result<Self> {
        let metrics_listener = match settings.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (MIST_METRICS_LISTEN)"))?,
            ),
            None => None,
        };
        let state = AppState::connect(settings).await?;
        bootstrap_admin(&state).await?;
        Ok(Application {
            listener,
            metrics_listener,
            state,
            worker_exe: None,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `/metrics` is served without a token, if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Runs the job worker as a child process started from `exe` (the
    /// `mist-server` binary) instead of in this process.
    pub fn supervise_worker(mut self, exe: std::path::PathBuf) -> Self {
        self.worker_exe = Some(exe);
        self
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    /// Runs the job worker alongside unless `settings.run_worker` is off: as
    /// a supervised child process (see [`Application::supervise_worker`]) or
    /// in this process.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let worker = self.state.settings.run_worker.then(|| {
            let mut rx = stop_rx.clone();
            match self.worker_exe.clone() {
                Some(exe) => {
                    let (settings, metrics) = (self.state.settings.clone(), self.state.worker_metrics.clone());
                    tokio::spawn(async move {
                        crate::worker::supervise::supervise(exe, settings, metrics, rx).await;
                        Ok(())
                    })
                }
                None => tokio::spawn(crate::worker::run(self.state.clone(), async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                })),
            }
        });
        let cache_sync = {
            let mut rx = stop_rx.clone();
            tokio::spawn(crate::cache::run_sync(
                self.state.cache.clone(),
                self.state.db.clone(),
                async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                },
            ))
        };
        // Tracks from before albums and artists existed gain them, in the
        // background: a large library must not hold up the listener.
        let backfill = {
            let (db, rx) = (self.state.db.clone(), stop_rx.clone());
            tokio::spawn(async move {
                match crate::db::albums::link_all_unlinked(&db, || *rx.borrow()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(tracks = n, "linked tracks to their albums and artists"),
                    Err(error) => tracing::warn!(%error, "linking tracks to albums and artists stopped"),
                }
            })
        };
        let limits = ConnectionLimits::from_settings(&self.state.settings);
        let metrics = self.metrics_listener.map(|listener| {
            let mut rx = stop_rx.clone();
            let router = crate::http::health::metrics_router(self.state.clone());
            tokio::spawn(crate::serve::serve(listener, router, limits, async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }))
        });
        let router = crate::http::router(self.state.clone());
        let served = crate::serve::serve(self.listener, router, limits, async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await
        .context("server error");
        if let Some(handle) = metrics {
            handle.await.context("metrics listener failed")??;
        }
        if let Some(handle) = worker {
            handle.await.context("worker task failed")??;
        }
        let _ = cache_sync.await;
        let _ = backfill.await;
        self.state.db.close().await;
        served
    }
}

async fn bootstrap_admin(state: &AppState) -> anyhow::Result<()> {
    let settings = &state.settings;
    let password = settings.admin_password.as_ref().map(|p| p.expose_secret());
    match accounts::ensure_admin(&state.db, &settings.admin_email, &settings.admin_username, password)
        .await
        .context("cannot create the first admin")?
    {
        AdminBootstrap::AlreadyPresent => {}
        AdminBootstrap::Created {
            email,
            generated_password: Some(pw),
        } => {
            // Printed once, on the console of the first start, never logged.
            println!("Created admin {email} with password: {pw}");
            println!("(set MIST_ADMIN_PASSWORD to choose it; this is the only time it is shown)");
        }
        AdminBootstrap::Created {
            email,
            generated_password: None,
        } => {
            tracing::info!(%email, "created admin from MIST_ADMIN_PASSWORD");
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
