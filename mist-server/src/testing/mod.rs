//! The test harness: a real `mist-server` on an ephemeral port, on a fresh
//! database and a fresh object store, for integration tests of this crate
//! and of the clients.
//!
//! Back-ends come from the environment that `scripts/test-services.sh env`
//! prints: `MIST_TEST_DATABASE_URL` (a Postgres URL whose user may create
//! databases), `MIST_TEST_S3_ENDPOINT` and `MIST_TEST_S3_BUCKET` (with
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`). A test that needs one and
//! does not find it fails with a message saying how to start them: a
//! skipped back-end must never look like a passing one.

use std::net::SocketAddr;

use sqlx::Connection;
use tokio::sync::oneshot;

pub mod audio;
pub mod catalogue;
pub mod process;
pub mod upload;

use crate::app::AppState;
use crate::config::{RawSettings, Settings};
use crate::server::Application;

/// Makes, for each `async fn name(backend: Backend)` listed, a test
/// `sqlite::name` and a test `postgres::name`, so the output shows both ran.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::testing::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::testing::Backend::Postgres).await })*
        }
    };
}

/// Which database a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Which object store a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Local,
    S3,
}

/// Options for [`spawn_with`].
#[derive(Debug, Clone)]
pub struct TestOptions {
    pub backend: Backend,
    pub store: Store,
    /// Run a job worker alongside the server.
    pub worker: bool,
    /// With `worker`: run it as `mist-server serve` does, a supervised child
    /// process started from this binary (pass `env!("CARGO_BIN_EXE_mist-server")`);
    /// `None`: in this process (faster; the default).
    pub worker_exe: Option<std::path::PathBuf>,
    /// Applied to the settings before the server starts.
    pub tweak: fn(&mut RawSettings),
}

impl TestOptions {
    pub fn new(backend: Backend) -> Self {
        TestOptions {
            backend,
            store: Store::Local,
            worker: true,
            worker_exe: None,
            tweak: |_| {},
        }
    }
}

pub const ADMIN_EMAIL: &str = "admin@mist.test";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
/// `MIST_METRICS_TOKEN` of every test server ([`TestApp::metrics`] sends it).
pub const METRICS_TOKEN: &str = "metrics-token-for-tests";

/// A running server. It stops when this is dropped.
pub struct TestApp {
    pub base_url: String,
    pub addr: SocketAddr,
    /// Where `MIST_METRICS_LISTEN` serves `/metrics`, when the settings ask for it.
    pub metrics_addr: Option<SocketAddr>,
    pub state: AppState,
    pub settings: Settings,
    pub data_dir: tempfile::TempDir,
    worker_exe: Option<std::path::PathBuf>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestApp {
    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// `GET /metrics` with the metrics token: the Prometheus text.
    pub async fn metrics(&self) -> String {
        let client = self.client();
        let request = client
            .request(mist_core::client::Method::GET, "/metrics")
            .expect("metrics URL")
            .bearer_auth(METRICS_TOKEN);
        let response = client.send(request).await.expect("GET /metrics");
        response.text().await.expect("metrics text")
    }

    /// A typed client for this server, without a token.
    pub fn client(&self) -> mist_core::client::Client {
        mist_core::client::Client::new(&self.base_url).expect("test server URL")
    }

    /// Stops the server and starts a new one on the same data directory and
    /// database (on a new port), as an operator's restart would.
    pub async fn restart(mut self) -> TestApp {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server stopped cleanly");
        }
        let mut settings = self.settings.clone();
        settings.listen = "127.0.0.1:0".parse().expect("addr");
        let data_dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().expect("temp dir"));
        start(settings, data_dir, self.worker_exe.clone()).await
    }
}

/// Spawns a server on `backend` with local storage.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_with(TestOptions::new(backend)).await
}

/// Spawns a server with the given options. Panics (failing the test) when a
/// required test service is not configured.
pub async fn spawn_with(options: TestOptions) -> TestApp {
    crate::telemetry::init_logging_with("warn,symphonia=off");
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut raw = RawSettings {
        data_dir: data_dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        admin_email: ADMIN_EMAIL.into(),
        admin_password: Some(ADMIN_PASSWORD.into()),
        jwt_secret: Some("test-jwt-secret-that-is-long-enough-0123".into()),
        master_key: Some("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".into()),
        worker_poll_ms: 50,
        metrics_token: Some(METRICS_TOKEN.into()),
        ..RawSettings::default()
    };
    if options.backend == Backend::Postgres {
        raw.database_url = Some(fresh_postgres_database().await);
    }
    if options.store == Store::S3 {
        let endpoint = required_env("MIST_TEST_S3_ENDPOINT");
        let bucket = required_env("MIST_TEST_S3_BUCKET");
        raw.storage = format!("s3://{bucket}/test-{}", uuid::Uuid::new_v4().simple());
        raw.s3_endpoint = Some(endpoint);
        raw.s3_region = Some(std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()));
        raw.s3_force_path_style = Some(true);
    }
    (options.tweak)(&mut raw);
    let mut settings: Settings = raw.finish().expect("test settings");
    settings.run_worker = options.worker;
    start(settings, data_dir, options.worker_exe).await
}

/// Starts a server with exactly these settings (a port of 0 picks one).
pub async fn spawn_settings(settings: Settings) -> TestApp {
    start(settings, tempfile::tempdir().expect("temp dir"), None).await
}

async fn start(mut settings: Settings, data_dir: tempfile::TempDir, worker_exe: Option<std::path::PathBuf>) -> TestApp {
    // The public URL must carry the real port, known only after binding.
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .expect("bind test port");
    let addr = listener.local_addr().expect("bound address");
    settings.listen = addr;
    settings.public_url = format!("http://{addr}").parse().expect("url");
    let mut app = Application::build_on(settings.clone(), listener)
        .await
        .expect("server starts");
    if let Some(exe) = worker_exe.clone() {
        app = app.supervise_worker(exe);
    }
    let state = app.state().clone();
    let metrics_addr = app.metrics_addr();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.serve(async move {
        let _ = stop_rx.await;
    }));
    TestApp {
        base_url: format!("http://{addr}"),
        addr,
        metrics_addr,
        state,
        settings,
        data_dir,
        worker_exe,
        stop: Some(stop_tx),
        task: Some(task),
    }
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: start the test services with `./scripts/test.sh` \
             (or `eval \"$(scripts/test-services.sh env)\"` before `cargo test`)"
        )
    })
}

/// Creates an empty database for one test and returns its URL.
pub async fn fresh_postgres_database() -> String {
    let admin_url = required_env("MIST_TEST_DATABASE_URL");
    let name = format!("mist_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to MIST_TEST_DATABASE_URL");
    // The name is ours (a UUID), not input: safe to splice.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let _ = conn.close().await;
    let mut url: url::Url = admin_url.parse().expect("MIST_TEST_DATABASE_URL is a URL");
    url.set_path(&name);
    url.to_string()
}
