//! The database: SQLite in the embedded mode, PostgreSQL at scale.
//!
//! [`Db`] holds one pool of either kind. Queries are written once in SQL both
//! engines accept (`$1` placeholders, `RETURNING`, `ON CONFLICT`, times as
//! Unix milliseconds in `BIGINT`) and run on whichever pool is open through
//! [`with_pool!`](crate::with_pool). Where the engines differ, a module
//! matches on [`Db`] and says why. Only this module tree knows SQL; row
//! structs stay here and are converted before they reach the wire.
//!
//! Statements are `&'static str`: column lists shared by several statements
//! are `const`s joined at compile time (`const_format::concatcp!`). The only
//! macros are the ones [`with_pool!`](crate::with_pool) forces: a step that
//! runs inside a transaction of either engine (`close_gap!`, `lock!`,
//! `store_ready!`, `attach!`, …) is compiled once per engine, which a
//! function generic over the two connection types would need many more lines
//! of trait bounds to say. Paging is `page.rs`'s.

pub mod albums;
pub mod catalogue;
pub mod embedding_index;
pub mod embeddings;
pub mod jobs;
pub mod library;
pub mod page;
pub mod sessions;
pub mod subsonic;
pub mod tracks;
pub mod uploads;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::config::Settings;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// An open pool on one of the two engines. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same expression with `$pool` bound to whichever pool is open.
/// The body is compiled once per engine, so it must type-check for both.
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Shifts a playlist's entries after position `$removed` down by one,
/// inside the transaction `$tx` (a playlist edit, or a track deleted from
/// every playlist that has it). Done through negative positions, so no intermediate
/// state breaks the unique (playlist, position) key on either engine.
macro_rules! close_gap {
    ($tx:expr, $playlist_id:expr, $removed:expr) => {{
        sqlx::query("UPDATE playlist_tracks SET position = -position WHERE playlist_id = $1 AND position > $2")
            .bind($playlist_id)
            .bind($removed)
            .execute(&mut *$tx)
            .await?;
        sqlx::query("UPDATE playlist_tracks SET position = -position - 1 WHERE playlist_id = $1 AND position < 0")
            .bind($playlist_id)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(crate) use close_gap;

/// Begins a transaction that will write. On SQLite that is `BEGIN
/// IMMEDIATE`: the write lock is taken at the start, so a writer waits its
/// turn in the busy handler. A deferred transaction that reads before it
/// writes cannot wait: SQLite answers "database is locked" at once rather
/// than risk a deadlock or write on a stale snapshot, which failed
/// concurrent uploads with 500s. On PostgreSQL a plain `BEGIN`.
pub trait BeginWrite {
    type Database: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Database>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>> + Send {
        self.begin()
    }
}

impl Db {
    /// Opens the database the settings name: `DATABASE_URL`, or SQLite at
    /// `<data dir>/mist.db`.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        match &settings.database_url {
            Some(url) => {
                let options = PgConnectOptions::from_str(url.expose_secret())
                    .context("DATABASE_URL is not a valid postgres URL")?;
                let pool = PgPoolOptions::new()
                    .max_connections(postgres_pool_size())
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .context("cannot connect to PostgreSQL (DATABASE_URL)")?;
                Ok(Db::Postgres(pool))
            }
            None => {
                let path = settings.data_dir.join("mist.db");
                let options = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    // Writers queue behind each other instead of failing at once.
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await
                    .with_context(|| format!("cannot open SQLite database {}", path.display()))?;
                Ok(Db::Sqlite(pool))
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Applies pending migrations: ours, then apalis's (the job queue's
    /// tables, tracked in a table of their own). On Postgres sqlx holds an
    /// advisory lock while it migrates, so several nodes may run this at
    /// once. A database that has migrations this build does not know is
    /// refused.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let result = match self {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        };
        result.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => anyhow::anyhow!(
                "the database has migration {v}, which this mist-server does not know: it was \
                 upgraded by a newer mist-server; run that version (or newer) instead"
            ),
            other => anyhow::Error::new(other).context("database migration failed"),
        })?;
        // apalis's own migrations, which ours must never see as "unknown":
        // a table of their own (named so `migrate-to` skips it like ours).
        let mut queue = match self {
            Db::Sqlite(_) => apalis_sqlite::SqliteStorage::<()>::migrations(),
            Db::Postgres(_) => apalis_postgres::PostgresStorage::<()>::migrations(),
        };
        queue.dangerous_set_table_name("_sqlx_apalis_migrations");
        let result = match self {
            Db::Sqlite(pool) => queue.run(pool).await,
            Db::Postgres(pool) => queue.run(pool).await,
        };
        result.context("job queue (apalis) migration failed")
    }

    /// Readiness: one round trip.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

/// Connections a node keeps to PostgreSQL: four per core, at least 8 (one
/// is the cache's LISTEN). Measured on 2 cores (bench/RESULTS.md, load.sh):
/// 8 gave more keys and heartbeats a second at a lower p99 than 20, whose
/// extra connections only queued on the same cores; docs/operations.md.
fn postgres_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    u32::try_from(cores * 4).unwrap_or(u32::MAX).max(8)
}

/// Milliseconds since the Unix epoch: how times are stored in both engines.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub use crate::clock::ms_to_datetime;

/// A new opaque id: a UUIDv7 without dashes (time-ordered, unguessable enough
/// for ids that are always checked against their owner).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// True when the error is a unique-constraint violation (both engines).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|e| e.is_unique_violation())
}
