//! Command-line flags of `mist-server` (docs/operations.md names them and
//! scripts rely on them: keep them).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mist_core::api::{Plan, Role};

#[derive(Debug, Parser)]
#[command(name = "mist-server", version, about = "MIST: self-hosted music streaming server")]
pub struct Cli {
    /// TOML configuration file (overridden by MIST_* environment variables).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory: SQLite database, local objects, generated secrets [env: MIST_DATA_DIR; default ./mist-data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [env: MIST_LISTEN; default 127.0.0.1:8080].
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Serve the API without starting a job worker process.
    #[arg(long, global = true)]
    pub no_worker: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default), with a supervised worker process unless --no-worker.
    Serve,
    /// Run a job worker only (scale transcoding apart from the API).
    Worker {
        /// Started by `serve`: stop when standard input closes.
        #[arg(long, hide = true)]
        supervised: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Move this embedded installation (SQLite + local files) to PostgreSQL + S3.
    /// Run it with the same MIST_MASTER_KEY the target will use.
    MigrateTo {
        /// The target PostgreSQL (empty of users).
        #[arg(long, value_name = "postgres://…")]
        database_url: String,
        /// The target store, `s3://bucket[/prefix]` (AWS_* variables as usual).
        #[arg(long, value_name = "s3://bucket[/prefix]")]
        storage: String,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Invite codes, for `registration = "invite"`.
    #[command(subcommand)]
    Invite(InviteCommand),
    /// Print the audio features and similarity embedding of a local file (no server needed).
    Analyze {
        /// An audio file: MP3, AAC/M4A, FLAC, WAV, Ogg Vorbis or ALAC.
        file: PathBuf,
        /// Print JSON (features, embedding) instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Import a folder of audio (recursive, chosen by content) as one user's
    /// uploads, with covers and .lrc lyrics found beside the files; run again
    /// to go on after an interruption (files already there are skipped).
    Import {
        /// The folder to import.
        dir: PathBuf,
        /// Whose tracks they become: an id, email or username [default: the oldest active admin].
        #[arg(long, value_name = "USER")]
        owner: Option<String>,
        /// Files processed at once.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
        jobs: u16,
    },
    /// Recompute features and embeddings of ready tracks from their stored originals.
    ReindexFeatures {
        /// Every ready track, not only those without features or with an older feature version.
        #[arg(long)]
        all: bool,
    },
}

/// A user is named by id, email or username in every command below.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create(UserCreate),
    /// List every user.
    List {
        /// Print the API's user objects as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set a user's plan.
    SetPlan {
        user: String,
        #[arg(value_parser = parse_plan)]
        plan: Plan,
    },
    /// Set a user's role (the last active admin cannot be demoted).
    SetRole {
        user: String,
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Disable an account: no login, and its tokens stop working at once.
    Disable { user: String },
    /// Enable a disabled account again.
    Enable { user: String },
    /// Delete an account with its tracks, playlists, likes and history.
    Delete { user: String },
    /// Set a new password (printed when generated); the user's tokens stop working.
    ResetPassword {
        user: String,
        /// The new password; a random one is generated and printed when omitted.
        #[arg(long)]
        password: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum InviteCommand {
    /// Make a single-use invite code and print it.
    Create {
        /// How long the code stays usable [default: 168, a week].
        #[arg(long, value_name = "HOURS")]
        expires_in_hours: Option<u32>,
    },
    /// List the codes that could still be spent, newest first.
    List,
    /// Take back an unspent code.
    Revoke {
        /// The code, as `invite create` printed it.
        code: String,
    },
}

fn parse_plan(value: &str) -> Result<Plan, String> {
    Plan::parse(value).ok_or_else(|| "expected free or premium".to_string())
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value).ok_or_else(|| "expected user or admin".to_string())
}

#[derive(Debug, Args)]
pub struct UserCreate {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub password: String,
    /// Make the user an admin.
    #[arg(long)]
    pub admin: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_in_either_position() {
        let cli = Cli::parse_from([
            "mist-server",
            "serve",
            "--data-dir",
            "/d",
            "--no-worker",
            "--listen",
            "0.0.0.0:1",
        ]);
        assert!(matches!(cli.command, Some(Command::Serve)));
        assert!(cli.no_worker);
        assert_eq!(cli.data_dir.as_deref(), Some(std::path::Path::new("/d")));
        let cli = Cli::parse_from(["mist-server", "--data-dir", "/d"]);
        assert!(cli.command.is_none());
        let cli = Cli::parse_from([
            "mist-server",
            "user",
            "create",
            "--email",
            "a@b.c",
            "--username",
            "abc",
            "--password",
            "longpassword",
            "--admin",
        ]);
        assert!(matches!(
            cli.command,
            Some(Command::User(UserCommand::Create(UserCreate { admin: true, .. })))
        ));
    }

    #[test]
    fn user_and_invite_commands_parse() {
        let cli = Cli::parse_from(["mist-server", "user", "set-plan", "ann@example.com", "premium"]);
        assert!(matches!(
            cli.command,
            Some(Command::User(UserCommand::SetPlan {
                plan: Plan::Premium,
                ..
            }))
        ));
        let cli = Cli::parse_from(["mist-server", "user", "set-role", "ann", "admin"]);
        assert!(matches!(
            cli.command,
            Some(Command::User(UserCommand::SetRole { role: Role::Admin, .. }))
        ));
        assert!(Cli::try_parse_from(["mist-server", "user", "set-plan", "ann", "gold"]).is_err());
        let cli = Cli::parse_from(["mist-server", "invite", "create", "--expires-in-hours", "2"]);
        assert!(matches!(
            cli.command,
            Some(Command::Invite(InviteCommand::Create {
                expires_in_hours: Some(2)
            }))
        ));
    }

    #[test]
    fn import_parses_with_defaults() {
        let cli = Cli::parse_from(["mist-server", "import", "/music", "--owner", "ann@example.com"]);
        assert!(matches!(
            cli.command,
            Some(Command::Import {
                jobs: 2,
                owner: Some(_),
                ..
            })
        ));
        assert!(Cli::try_parse_from(["mist-server", "import", "/music", "--jobs", "0"]).is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
