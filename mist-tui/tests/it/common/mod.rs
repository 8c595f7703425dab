//! What the `mist` binary tests share: a user with its own `$HOME`, and
//! what a run of `mist` did. Each test binary uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Output, Stdio};

use mist_core::api::Quota;
use mist_core::client::Client;
use mist_server::testing::TestApp;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

pub const PASSWORD: &str = "correct horse battery";

/// A `mist` user: a fresh `$HOME` with `$XDG_CONFIG_HOME` inside it.
pub struct Mist {
    pub home: tempfile::TempDir,
}

/// What a run of `mist` did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Run {
        assert_eq!(self.code, Some(0), "{self:#?}");
        self
    }

    /// Exit 1 with exactly one line on stderr, `mist: error: ...` holding `needle`.
    #[track_caller]
    pub fn assert_error(&self, needle: &str) -> &Run {
        assert_eq!(self.code, Some(1), "{self:#?}");
        assert!(self.stderr.starts_with("mist: error: "), "{self:#?}");
        assert_eq!(self.stderr.lines().count(), 1, "{self:#?}");
        assert!(self.stderr.contains(needle), "{needle:?} in {self:#?}");
        self
    }

    /// Exit 1, the last stderr line `mist: error: ...` holding `needle`
    /// (progress may come before it).
    #[track_caller]
    pub fn assert_final_error(&self, needle: &str) -> &Run {
        assert_eq!(self.code, Some(1), "{self:#?}");
        let last = self.stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("mist: error: "), "{self:#?}");
        assert!(last.contains(needle), "{needle:?} in {self:#?}");
        self
    }

    #[track_caller]
    pub fn assert_usage_error(&self) -> &Run {
        assert_eq!(self.code, Some(2), "{self:#?}");
        assert!(!self.stderr.is_empty(), "{self:#?}");
        self
    }
}

impl Mist {
    pub fn new() -> Mist {
        Mist {
            home: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A file in this user's home.
    pub fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    pub fn xdg_config_home(&self) -> PathBuf {
        self.home.path().join("xdg")
    }

    pub fn token_file(&self) -> PathBuf {
        self.xdg_config_home().join("mist").join("token")
    }

    pub fn config_file(&self) -> PathBuf {
        self.xdg_config_home().join("mist").join("config.toml")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mist"));
        command
            .args(args)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.xdg_config_home())
            .env_remove("MIST_SERVER")
            .env_remove("MIST_AUDIO")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_command(self.command(args)).await
    }

    pub async fn run_command(&self, mut command: Command) -> Run {
        Run::from(command.output().await.expect("mist runs"))
    }

    /// Runs with `input` on standard input (a pipe, not a terminal).
    pub async fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut command = self.command(args);
        command.stdin(Stdio::piped());
        let mut child = command.spawn().expect("mist starts");
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(input.as_bytes()).await.expect("writes stdin");
        drop(stdin);
        Run::from(child.wait_with_output().await.expect("mist runs"))
    }

    pub async fn register(&self, app: &TestApp, username: &str) -> Run {
        let email = format!("{username}@mist.test");
        self.run(&[
            "--server",
            &app.base_url,
            "register",
            "--email",
            &email,
            "--username",
            username,
            "--password",
            PASSWORD,
        ])
        .await
    }
}

/// Uses up `client`'s free daily quota (300 s) by unlocking keys, as the
/// server's tests do; returns the track and the quota after.
pub async fn spend_the_days_quota(app: &TestApp, client: &Client) -> (String, Quota) {
    mist_server::testing::catalogue::spend_the_days_quota(app, client).await
}
