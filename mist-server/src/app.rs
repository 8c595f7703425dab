//! The state every request handler, the worker and the command-line tools
//! share ([`AppState`]): settings, the database, the object store, token
//! keys, limiters, the hot cache. It is built from the parts' own types and
//! depends on none of the code that uses it (the server around it is
//! `crate::server`).

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;

use crate::auth::token::TokenKeys;
use crate::config::Settings;
use crate::db::Db;
use crate::limiter::RateLimiter;
use crate::storage::ObjectStore;
use crate::telemetry;

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppContext>);

pub struct AppContext {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub store: ObjectStore,
    pub tokens: TokenKeys,
    pub auth_limiter: RateLimiter,
    pub upload_limiter: RateLimiter,
    pub metrics: PrometheusHandle,
    /// Real time, movable forward by tests.
    pub clock: crate::clock::Clock,
    /// Per-user limits on opening sessions, reporting and asking for keys.
    pub playback_limits: crate::quota::PlaybackLimits,
    /// Where the supervised worker process serves its metrics.
    pub worker_metrics: crate::telemetry::WorkerMetrics,
    /// What the listening hot path reads on every request (`crate::cache`).
    pub cache: Arc<crate::cache::HotCache>,
}

impl Deref for AppState {
    type Target = AppContext;

    fn deref(&self) -> &AppContext {
        &self.0
    }
}

impl AppState {
    /// Connects to the database and the object store and applies migrations.
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        let db = Db::connect(&settings).await?;
        db.migrate().await?;
        let store = ObjectStore::open(&settings.storage)
            .await
            .context("cannot open the object store")?;
        let tokens = TokenKeys::new(settings.jwt_secret.expose_secret().as_bytes());
        let auth_limiter = RateLimiter::new(settings.auth_rate_limit_per_minute, Duration::from_secs(60));
        let upload_limiter = RateLimiter::new(settings.upload_rate_limit_per_minute, Duration::from_secs(60));
        let playback_limits = crate::quota::PlaybackLimits::new(&settings);
        // On PostgreSQL other nodes change the data too: off until LISTENing.
        let cache = Arc::new(crate::cache::HotCache::new(matches!(db, Db::Sqlite(_))));
        Ok(AppState(Arc::new(AppContext {
            settings: Arc::new(settings),
            db,
            store,
            tokens,
            auth_limiter,
            upload_limiter,
            metrics: telemetry::metrics_handle(),
            clock: crate::clock::Clock::default(),
            playback_limits,
            worker_metrics: Default::default(),
            cache,
        })))
    }
}
