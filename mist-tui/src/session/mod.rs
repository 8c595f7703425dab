//! What the command line and the terminal player share, so that `main`
//! dispatches to two siblings ([`crate::cli`], [`crate::tui`]) and neither
//! imports the other: the validated [`Settings`], the audio output choice
//! ([`AudioOutput`]), the saved login ([`login`]) and the one way a file is
//! uploaded ([`upload`]).

pub mod login;
pub mod upload;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Result;

use crate::config::{DEFAULT_SERVER, Paths};

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
pub fn parse_server(value: &str) -> Result<String, String> {
    mist_core::client::Client::new(value)
        .map(|client| server_string(&client))
        .map_err(|e| e.to_string())
}

/// How a server is written in messages and `config.toml`: its base URL
/// without the trailing slash.
pub fn server_string(client: &mist_core::client::Client) -> String {
    client.base_url().as_str().trim_end_matches('/').to_string()
}

impl Settings {
    /// The flags (already validated by clap) with the saved server from `config.toml`.
    pub fn load(server_override: Option<String>, audio: AudioOutput) -> Result<Settings> {
        let paths = Paths::from_env()?;
        let saved_server = paths.load_config()?.server;
        Ok(Settings {
            paths,
            server_override,
            saved_server,
            audio,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
