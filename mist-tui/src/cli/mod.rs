//! The command line: clap's view of the arguments ([`Args`]) and dispatch to
//! the module owning each command (`auth` for register/login/logout/whoami).
//! The settings every command shares once validated live in
//! [`crate::session`], which the terminal player uses too.
//!
//! Commands return `anyhow::Result`; turning an error into a message and an
//! exit code is `main`'s job, so nothing here exits the process.

mod albums;
mod apikey;
mod auth;
mod edit;
mod library;
mod play;
mod search;
mod upload;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::session::{AudioOutput, Settings, parse_server};

/// mist: stream music from a MIST server.
///
/// With no command, opens the terminal player.
#[derive(Debug, Parser)]
#[command(name = "mist", version, about)]
pub struct Args {
    /// The server's base URL [default: the one logged in to, else http://127.0.0.1:8080]
    #[arg(long, env = "MIST_SERVER", global = true, value_name = "URL", value_parser = parse_server)]
    pub server: Option<String>,

    /// Where sound goes: `default` (the sound card), `null` (nowhere, in real
    /// time) or `wav:PATH` (a WAV file)
    #[arg(
        long,
        env = "MIST_AUDIO",
        global = true,
        value_name = "OUTPUT",
        default_value = "default"
    )]
    pub audio: AudioOutput,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an account and log in to it
    Register(auth::RegisterArgs),
    /// Log in and keep the token for later commands
    Login(auth::LoginArgs),
    /// End the saved token on the server and forget it
    Logout,
    /// Change your password (ends every other login of the account)
    Password(auth::PasswordArgs),
    /// Show who the saved token belongs to
    Whoami(auth::WhoamiArgs),
    /// Upload audio files and folders and wait until they are playable
    Upload(upload::UploadArgs),
    /// Search the catalogue
    Search(search::SearchArgs),
    /// List tracks
    Tracks(library::TracksArgs),
    /// Play a track to the --audio output, without the UI
    Play(play::PlayArgs),
    /// Tracks that sound like a track
    Similar(library::SimilarArgs),
    /// Today's listening quota
    Quota(library::QuotaArgs),
    /// List albums
    Albums(albums::AlbumsArgs),
    /// An album's tracks, in disc and track order
    Album(albums::AlbumArgs),
    /// List artists with their track counts
    Artists(albums::ArtistsArgs),
    /// An artist's albums and most played tracks
    Artist(albums::ArtistArgs),
    /// Change a track's fields or cover (its uploader or an admin)
    Edit(edit::EditArgs),
    /// Delete tracks (their uploader or an admin)
    Rm(edit::RmArgs),
    /// API keys for Subsonic apps: create, list, revoke
    Apikey(apikey::ApiKeyArgs),
    /// A new app password for Subsonic apps that sign in with a password
    AppPassword(apikey::AppPasswordArgs),
}

/// Runs `command`.
pub async fn run(settings: &Settings, command: Command) -> Result<()> {
    match command {
        Command::Register(args) => auth::register(settings, args).await,
        Command::Login(args) => auth::login(settings, args).await,
        Command::Logout => auth::logout(settings).await,
        Command::Password(args) => auth::change_password(settings, args).await,
        Command::Whoami(args) => auth::whoami(settings, args).await,
        Command::Upload(args) => upload::upload(settings, args).await,
        Command::Search(args) => search::search(settings, args).await,
        Command::Tracks(args) => library::tracks(settings, args).await,
        Command::Play(args) => play::play(settings, args).await,
        Command::Similar(args) => library::similar(settings, args).await,
        Command::Quota(args) => library::quota(settings, args).await,
        Command::Albums(args) => albums::albums(settings, args).await,
        Command::Album(args) => albums::album(settings, args).await,
        Command::Artists(args) => albums::artists(settings, args).await,
        Command::Artist(args) => albums::artist(settings, args).await,
        Command::Edit(args) => edit::edit(settings, args).await,
        Command::Rm(args) => edit::rm(settings, args).await,
        Command::Apikey(args) => apikey::apikey(settings, args).await,
        Command::AppPassword(args) => apikey::app_password(settings, args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_clap_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn server_flags_are_validated_and_normalised() {
        assert_eq!(parse_server("http://h:1/").as_deref(), Ok("http://h:1"));
        assert_eq!(parse_server("https://h/mist").as_deref(), Ok("https://h/mist"));
        let error = parse_server("localhost:8080").expect_err("no scheme");
        assert!(error.contains("http://"), "{error}");
        let error = Args::try_parse_from(["mist", "--server", "nope", "whoami"]).expect_err("usage error");
        assert_eq!(error.exit_code(), 2, "usage errors exit 2, as clap does");
    }

    #[test]
    fn global_flags_go_before_or_after_the_command() {
        let args = Args::try_parse_from(["mist", "whoami", "--server", "http://x", "--json"]).expect("parses");
        assert_eq!(args.server.as_deref(), Some("http://x"));
        let args = Args::try_parse_from(["mist", "--audio", "null", "logout"]).expect("parses");
        assert_eq!(args.audio, AudioOutput::Null);
        assert!(matches!(args.command, Some(Command::Logout)));
    }
}
