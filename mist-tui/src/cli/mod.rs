//! The command line: clap's view of the arguments ([`Args`]), the settings
//! every command shares once validated ([`Settings`]), and dispatch to the
//! module owning each command (`auth` for register/login/logout/whoami).
//!
//! Commands return `anyhow::Result`; turning an error into a message and an
//! exit code is `main`'s job, so nothing here exits the process.

mod albums;
mod apikey;
pub mod auth;
mod edit;
mod library;
pub mod play;
mod search;
pub mod upload;

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::config::{DEFAULT_SERVER, Paths};

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

/// `--audio`: parsed now so scripts get usage errors early; the player uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioOutput {
    Default,
    Null,
    Wav(PathBuf),
}

impl FromStr for AudioOutput {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(AudioOutput::Default),
            "null" => Ok(AudioOutput::Null),
            _ => match s.strip_prefix("wav:") {
                Some("") => Err("wav: needs a file path, e.g. wav:out.wav".into()),
                Some(path) => Ok(AudioOutput::Wav(PathBuf::from(path))),
                None => Err("expected default, null or wav:PATH".into()),
            },
        }
    }
}

impl fmt::Display for AudioOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AudioOutput::Default => f.write_str("default"),
            AudioOutput::Null => f.write_str("null"),
            AudioOutput::Wav(path) => write!(f, "wav:{}", path.display()),
        }
    }
}

/// What every command works with, resolved from flags, environment and the
/// config file.
#[derive(Debug)]
pub struct Settings {
    pub paths: Paths,
    /// `--server` or `MIST_SERVER`, when given; clap already applied that
    /// precedence.
    pub server_override: Option<String>,
    /// The server the saved login belongs to, from `config.toml`.
    pub saved_server: Option<String>,
    pub audio: AudioOutput,
}

impl Settings {
    /// `--server` > `MIST_SERVER` > `config.toml` > the default.
    pub fn server(&self) -> &str {
        pick_server(self.server_override.as_deref(), self.saved_server.as_deref())
    }
}

fn pick_server<'a>(server_override: Option<&'a str>, saved_server: Option<&'a str>) -> &'a str {
    server_override.or(saved_server).unwrap_or(DEFAULT_SERVER)
}

/// Validates `--server`/`MIST_SERVER` while parsing, so a bad one is a usage
/// error (exit 2) like any other bad flag.
fn parse_server(value: &str) -> Result<String, String> {
    mist_core::client::Client::new(value)
        .map(|client| server_string(&client))
        .map_err(|e| e.to_string())
}

/// How a server is written in messages and `config.toml`: its base URL
/// without the trailing slash.
pub fn server_string(client: &mist_core::client::Client) -> String {
    client.base_url().as_str().trim_end_matches('/').to_string()
}

/// Runs the command `args` names and returns the exit code.
pub async fn run(args: Args) -> Result<ExitCode> {
    let paths = Paths::from_env()?;
    let saved_server = paths.load_config()?.server;
    let settings = Settings {
        paths,
        server_override: args.server,
        saved_server,
        audio: args.audio,
    };
    let Some(command) = args.command else {
        return crate::tui::run(settings).await;
    };
    match command {
        Command::Register(args) => auth::register(&settings, args).await?,
        Command::Login(args) => auth::login(&settings, args).await?,
        Command::Logout => auth::logout(&settings).await?,
        Command::Password(args) => auth::change_password(&settings, args).await?,
        Command::Whoami(args) => auth::whoami(&settings, args).await?,
        Command::Upload(args) => upload::upload(&settings, args).await?,
        Command::Search(args) => search::search(&settings, args).await?,
        Command::Tracks(args) => library::tracks(&settings, args).await?,
        Command::Play(args) => play::play(&settings, args).await?,
        Command::Similar(args) => library::similar(&settings, args).await?,
        Command::Quota(args) => library::quota(&settings, args).await?,
        Command::Albums(args) => albums::albums(&settings, args).await?,
        Command::Album(args) => albums::album(&settings, args).await?,
        Command::Artists(args) => albums::artists(&settings, args).await?,
        Command::Artist(args) => albums::artist(&settings, args).await?,
        Command::Edit(args) => edit::edit(&settings, args).await?,
        Command::Rm(args) => edit::rm(&settings, args).await?,
        Command::Apikey(args) => apikey::apikey(&settings, args).await?,
        Command::AppPassword(args) => apikey::app_password(&settings, args).await?,
    }
    Ok(ExitCode::SUCCESS)
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
    fn audio_outputs_parse() {
        let check = |input: &str, expected: Result<AudioOutput, ()>| {
            assert_eq!(input.parse::<AudioOutput>().map_err(|_| ()), expected, "{input}");
        };
        check("default", Ok(AudioOutput::Default));
        check("null", Ok(AudioOutput::Null));
        check("wav:/tmp/out.wav", Ok(AudioOutput::Wav("/tmp/out.wav".into())));
        check("wav:", Err(()));
        check("pulse", Err(()));
        check("", Err(()));
        for round_trip in ["default", "null", "wav:a b.wav"] {
            let parsed: AudioOutput = round_trip.parse().expect("parses");
            assert_eq!(parsed.to_string(), round_trip);
        }
    }

    #[test]
    fn the_server_comes_from_the_override_then_the_config() {
        assert_eq!(pick_server(Some("http://a"), Some("http://b")), "http://a");
        assert_eq!(pick_server(None, Some("http://b")), "http://b");
        assert_eq!(pick_server(None, None), DEFAULT_SERVER);
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
