//! Where `mist` keeps its state between runs: `$XDG_CONFIG_HOME/mist/`
//! (falling back to `$HOME/.config/mist/`), holding
//!
//! - `config.toml`: settings, today `server = "http://..."`, the server the
//!   saved login belongs to. Keys this version does not know are kept when the
//!   file is rewritten.
//! - `token`: the bearer token alone, mode 0600 in a 0700 directory.
//!
//! This module owns the paths, the file formats and the file modes; it does
//! no networking. Both files are replaced atomically (write a new file, then
//! rename), so a crash never leaves half a token, and the token file is born
//! with mode 0600 rather than narrowed afterwards.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The server used when neither `--server`, `MIST_SERVER` nor the config
/// file names one; `mist-server`'s default listen address.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// The files under the config directory.
#[derive(Debug, Clone)]
pub struct Paths {
    dir: PathBuf,
}

impl Paths {
    /// From `XDG_CONFIG_HOME` and `HOME`. Per the XDG spec a relative
    /// `XDG_CONFIG_HOME` is ignored.
    pub fn from_env() -> Result<Paths> {
        let xdg = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from);
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Paths::resolve(xdg, home)
    }

    fn resolve(xdg_config_home: Option<PathBuf>, home: Option<PathBuf>) -> Result<Paths> {
        let base = match (xdg_config_home, home) {
            (Some(xdg), _) if xdg.is_absolute() => xdg,
            (_, Some(home)) if home.is_absolute() => home.join(".config"),
            _ => bail!("cannot find a config directory: set XDG_CONFIG_HOME or HOME"),
        };
        Ok(Paths { dir: base.join("mist") })
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    pub fn token_file(&self) -> PathBuf {
        self.dir.join("token")
    }

    /// `config.toml`, or the defaults when there is none.
    pub fn load_config(&self) -> Result<ConfigFile> {
        let path = self.config_file();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(ConfigFile::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        toml::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))
    }

    pub fn save_config(&self, config: &ConfigFile) -> Result<()> {
        let text = toml::to_string(config).context("cannot write the config as TOML")?;
        self.replace_file(&self.config_file(), text.as_bytes(), 0o644)
    }

    /// The saved token, if logged in.
    pub fn read_token(&self) -> Result<Option<String>> {
        let path = self.token_file();
        match fs::read_to_string(&path) {
            Ok(text) => {
                let token = text.trim();
                Ok((!token.is_empty()).then(|| token.to_string()))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn write_token(&self, token: &str) -> Result<()> {
        self.replace_file(&self.token_file(), format!("{token}\n").as_bytes(), 0o600)
    }

    /// Removes the token; `false` when there was none.
    pub fn remove_token(&self) -> Result<bool> {
        let path = self.token_file();
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }

    fn create_dir(&self) -> Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))
    }

    /// Writes `contents` to a fresh file created with `mode`, then renames it
    /// over `path`.
    fn replace_file(&self, path: &Path, contents: &[u8], mode: u32) -> Result<()> {
        self.create_dir()?;
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let temp = self.dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
        let written = write_new_file(&temp, contents, mode)
            .and_then(|()| fs::rename(&temp, path))
            .with_context(|| format!("cannot write {}", path.display()));
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }
}

fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    // A leftover from a crashed run would make `create_new` fail.
    let _ = fs::remove_file(path);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// `config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigFile {
    /// The server the saved login belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Everything else, kept as it was.
    #[serde(flatten)]
    pub other: toml::Table,
}

impl ConfigFile {
    /// `covers = false` turns cover art off in the player (on by default).
    pub fn covers(&self) -> anyhow::Result<bool> {
        match self.other.get("covers") {
            None => Ok(true),
            Some(toml::Value::Boolean(on)) => Ok(*on),
            Some(other) => anyhow::bail!("`covers` must be true or false, not {other}"),
        }
    }

    /// `replaygain = "auto" | "track" | "album" | "off"` (default `auto`).
    pub fn replay_gain(&self) -> Result<crate::audio::gain::GainMode> {
        match self.other.get("replaygain") {
            None => Ok(Default::default()),
            Some(toml::Value::String(mode)) => mode.parse().map_err(|e| anyhow::anyhow!("replaygain: {e}")),
            Some(_) => bail!("replaygain: expected auto, track, album or off"),
        }
    }

    /// `mpris = false` turns the media keys off (default on).
    pub fn media_keys(&self) -> Result<bool> {
        match self.other.get("mpris") {
            None => Ok(true),
            Some(toml::Value::Boolean(on)) => Ok(*on),
            Some(_) => bail!("mpris: expected true or false"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = Paths::resolve(Some(dir.path().to_path_buf()), None).expect("paths");
        (dir, paths)
    }

    #[test]
    fn the_config_dir_follows_xdg_then_home() {
        let check = |xdg: Option<&str>, home: Option<&str>, expected: Option<&str>| {
            let got = Paths::resolve(xdg.map(PathBuf::from), home.map(PathBuf::from)).ok();
            assert_eq!(
                got.as_ref().map(|p| p.dir.as_path()),
                expected.map(Path::new),
                "{xdg:?} {home:?}"
            );
        };
        check(Some("/x"), Some("/h"), Some("/x/mist"));
        check(None, Some("/h"), Some("/h/.config/mist"));
        check(Some("relative"), Some("/h"), Some("/h/.config/mist"));
        check(Some(""), Some("/h"), Some("/h/.config/mist"));
        check(None, None, None);
        check(Some("relative"), Some("also-relative"), None);
    }

    #[test]
    fn tokens_round_trip_and_are_private() {
        let (_dir, paths) = paths();
        assert_eq!(paths.read_token().expect("reads"), None);
        paths.write_token("abc.def.ghi").expect("writes");
        assert_eq!(paths.read_token().expect("reads").as_deref(), Some("abc.def.ghi"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).expect("exists").permissions().mode() & 0o777;
            assert_eq!(mode(&paths.token_file()), 0o600);
            assert_eq!(mode(paths.dir.as_path()), 0o700);
        }
        paths.write_token("second").expect("overwrites");
        assert_eq!(paths.read_token().expect("reads").as_deref(), Some("second"));
        assert!(paths.remove_token().expect("removes"));
        assert!(!paths.remove_token().expect("already gone"));
        assert_eq!(paths.read_token().expect("reads"), None);
        let leftovers: Vec<_> = fs::read_dir(paths.dir.as_path()).expect("lists").collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn the_config_keeps_keys_it_does_not_know() {
        let (_dir, paths) = paths();
        assert_eq!(paths.load_config().expect("loads"), ConfigFile::default());
        fs::create_dir_all(paths.dir.as_path()).expect("mkdir");
        fs::write(
            paths.config_file(),
            "server = \"http://a:1\"\ntheme = \"dark\"\n[keys]\nquit = \"q\"\n",
        )
        .expect("writes");
        let mut config = paths.load_config().expect("loads");
        assert_eq!(config.server.as_deref(), Some("http://a:1"));
        config.server = Some("http://b:2".into());
        paths.save_config(&config).expect("saves");
        let text = fs::read_to_string(paths.config_file()).expect("reads");
        let again = paths.load_config().expect("loads");
        assert_eq!(again.server.as_deref(), Some("http://b:2"), "{text}");
        assert_eq!(again.other.get("theme").and_then(|v| v.as_str()), Some("dark"));
        assert!(again.other.contains_key("keys"), "{text}");
    }

    #[test]
    fn a_broken_config_names_the_file() {
        let (_dir, paths) = paths();
        fs::create_dir_all(paths.dir.as_path()).expect("mkdir");
        fs::write(paths.config_file(), "server = [").expect("writes");
        let error = format!("{:#}", paths.load_config().expect_err("broken"));
        assert!(error.contains("config.toml"), "{error}");
    }

    #[test]
    fn covers_are_on_unless_turned_off() {
        let parse = |text: &str| toml::from_str::<ConfigFile>(text).expect("parses").covers().ok();
        assert_eq!(parse(""), Some(true));
        assert_eq!(parse("covers = false"), Some(false));
        assert_eq!(parse("covers = \"no\""), None);
    }

    #[test]
    fn replaygain_and_mpris_settings_read_or_name_the_mistake() {
        use crate::audio::gain::GainMode;
        let config = |text: &str| toml::from_str::<ConfigFile>(text).expect("TOML");
        assert_eq!(config("").replay_gain().expect("default"), GainMode::Auto);
        assert_eq!(
            config("replaygain = \"album\"").replay_gain().expect("album"),
            GainMode::Album
        );
        let error = format!("{:#}", config("replaygain = \"loud\"").replay_gain().expect_err("bad"));
        assert!(error.contains("replaygain"), "{error}");
        assert!(config("replaygain = 3").replay_gain().is_err());
        assert!(config("").media_keys().expect("default"));
        assert!(!config("mpris = false").media_keys().expect("off"));
        assert!(config("mpris = \"no\"").media_keys().is_err());
    }
}
