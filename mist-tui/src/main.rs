//! `mist`: the MIST terminal player (no arguments) and command line.
//!
//! This file only parses the arguments, runs the command (or the player) on a
//! tokio runtime and maps the outcome to an exit code: 0 ok, 1 error (one
//! line on stderr, `mist: error: ...`), 2 usage (clap's own). Commands live in
//! [`cli`], the player in [`tui`], what both use in [`session`], state on disk
//! in [`config`]; `cli` and `tui` are siblings that never import each other.

mod audio;
mod cli;
mod config;
mod session;
mod tui;

use std::process::ExitCode;

use clap::Parser;
use mist_core::client::ClientError;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| {
            let outcome = runtime.block_on(run(args));
            // Tasks still running (a request the player no longer needs) are
            // dropped, and blocking ones are not waited for long.
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            outcome
        });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            // Messages may quote what the server sent: neutralised for the terminal.
            eprintln!("mist: error: {}", mist_core::text::neutralise(&one_line(&error)));
            ExitCode::FAILURE
        }
    }
}

/// The player with no command, else the command.
async fn run(args: cli::Args) -> anyhow::Result<ExitCode> {
    let settings = session::Settings::load(args.server, args.audio)?;
    match args.command {
        None => tui::run(settings).await,
        Some(command) => cli::run(&settings, command).await.map(|()| ExitCode::SUCCESS),
    }
}

/// The error and its causes joined by `: `. A [`ClientError`] already says
/// everything in its own message, so its inner causes are left out.
fn one_line(error: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in error.chain() {
        parts.push(cause.to_string().replace(['\n', '\r'], " "));
        if cause.downcast_ref::<ClientError>().is_some() {
            break;
        }
    }
    parts.join(": ")
}
