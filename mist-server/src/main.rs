//! `mist-server`: parse flags, load settings, run the chosen command.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use mist_core::api::Role;
use mist_server::app::{AppState, Application, shutdown_signal};
use mist_server::cli::{Cli, Command, UserCommand};
use mist_server::config::{FlagOverrides, Settings};
use mist_server::{accounts, telemetry, worker};

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_logging();
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
    let flags = FlagOverrides {
        config_file: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
        listen: cli.listen.clone(),
    };
    let mut settings = Settings::load(&flags)?;
    settings.run_worker = !cli.no_worker;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Worker => {
            let state = AppState::connect(settings).await?;
            worker::run(state, shutdown_signal()).await
        }
        Command::Migrate => {
            let db = mist_server::db::Db::connect(&settings).await?;
            db.migrate().await?;
            println!("migrations applied ({})", db.kind());
            Ok(())
        }
        Command::User(UserCommand::Create(args)) => {
            let state = AppState::connect(settings).await?;
            let role = if args.admin { Role::Admin } else { Role::User };
            let user = accounts::create_user(&state.db, &args.email, &args.username, &args.password, role)
                .await
                .context("cannot create user")?;
            println!(
                "created {} {} <{}> ({})",
                role.as_str(),
                user.username,
                user.email,
                user.id
            );
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let addr = app.local_addr()?;
    let state = app.state();
    let with_worker = state.settings.run_worker;
    tracing::info!(%addr, database = state.db.kind(), storage = state.store.kind(), with_worker, "mist-server listening");
    println!("mist-server listening on http://{addr}");
    app.serve(shutdown_signal()).await
}
