//! `mist-server`: parse flags, load settings, run the chosen command.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use mist_server::app::AppState;
use mist_server::cli::{Cli, Command};
use mist_server::config::{FlagOverrides, Settings};
use mist_server::server::{Application, shutdown_signal};
use mist_server::{admin_cli, telemetry, worker};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::Import { .. })) {
        // The import prints its own progress; the worker's info logs would bury it.
        telemetry::init_logging_with("warn,symphonia=off");
    } else {
        telemetry::init_logging();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mist-server: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mist-server: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Analysing a local file needs no settings, data dir or database.
    if let Some(Command::Analyze { file, json }) = &cli.command {
        return mist_server::analysis::print_file_analysis(file, *json);
    }
    let flags = FlagOverrides {
        config_file: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
        listen: cli.listen.clone(),
    };
    let mut settings = Settings::load(&flags)?;
    settings.run_worker = !cli.no_worker;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Worker { supervised } => {
            let state = AppState::connect(settings).await?;
            if supervised {
                worker::run(state, worker::supervise::until_parent_stops(shutdown_signal())).await
            } else {
                worker::run(state, shutdown_signal()).await
            }
        }
        Command::Migrate => {
            let db = mist_server::db::Db::connect(&settings).await?;
            db.migrate().await?;
            println!("migrations applied ({})", db.kind());
            Ok(())
        }
        Command::MigrateTo { database_url, storage } => migrate_to(settings, database_url, &storage).await,
        Command::Analyze { file, json } => mist_server::analysis::print_file_analysis(&file, json),
        Command::ReindexFeatures { all } => {
            let state = AppState::connect(settings).await?;
            let summary = mist_server::analysis::reindex(&state, all).await?;
            if summary.failed > 0 {
                anyhow::bail!("{} track(s) could not be analysed", summary.failed);
            }
            Ok(())
        }
        Command::Import { dir, owner, jobs } => {
            let options = mist_server::import::ImportOptions {
                dir,
                owner,
                jobs: usize::from(jobs),
            };
            mist_server::import::command(settings, options).await
        }
        Command::User(command) => admin_cli::user(settings, command).await,
        Command::Invite(command) => admin_cli::invite(settings, command).await,
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the mist-server binary to start the worker from")?;
    let app = Application::build(settings).await?.supervise_worker(exe);
    let addr = app.local_addr()?;
    let state = app.state();
    let with_worker = state.settings.run_worker;
    tracing::info!(%addr, database = state.db.kind(), storage = state.store.kind(), with_worker, "mist-server listening");
    println!("mist-server listening on http://{addr}");
    app.serve(shutdown_signal()).await
}

async fn migrate_to(settings: Settings, database_url: String, storage: &str) -> anyhow::Result<()> {
    if !settings.is_embedded_database() {
        anyhow::bail!("migrate-to moves the embedded installation: unset DATABASE_URL and point --data-dir at it");
    }
    let source_db = mist_server::db::Db::connect(&settings).await?;
    source_db.migrate().await?;
    let source_store = mist_server::storage::ObjectStore::open(&settings.storage).await?;
    let mut target = settings.clone();
    target.database_url = Some(database_url.into());
    target.storage.location = storage.parse().context("invalid --storage")?;
    let target_db = mist_server::db::Db::connect(&target).await?;
    let target_store = mist_server::storage::ObjectStore::open(&target.storage)
        .await
        .context("cannot open the target store")?;
    mist_server::transfer::migrate_to((&source_db, &source_store), (&target_db, &target_store)).await?;
    println!(
        "done: start mist-server with DATABASE_URL and MIST_STORAGE={storage} and the same MIST_MASTER_KEY and MIST_JWT_SECRET"
    );
    Ok(())
}
