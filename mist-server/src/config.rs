//! Layered configuration: built-in defaults → optional TOML file → `MIST_…`
//! environment variables (plus the conventional `DATABASE_URL` and `AWS_*`)
//! → command-line flags.
//!
//! Secrets are [`SecretString`]s so they never reach a log line or a `{:?}`.
//! In the embedded mode, secrets left unset are generated once and kept in
//! `<data dir>/secrets.toml` (mode 0600), so a restart keeps tokens and keys
//! valid. In the scaled mode (Postgres) every node must be given the same
//! secrets, so they are required.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::accounts::Registration;
use crate::storage::{StorageLocation, StorageSettings};
use mist_core::api::Plan;

/// What `mist-server` runs with, after all layers are merged and validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Base URL written into absolute URLs (key URIs, master playlists).
    pub public_url: url::Url,
    pub admin_email: String,
    pub admin_username: String,
    pub admin_password: Option<SecretString>,
    pub jwt_secret: SecretString,
    /// 32 bytes that wrap content keys.
    pub master_key: MasterKey,
    pub free_daily_seconds: u64,
    pub max_upload_bytes: u64,
    /// `None`: SQLite in the data dir.
    pub database_url: Option<SecretString>,
    pub storage: StorageSettings,
    /// Peers whose `X-Forwarded-For` is believed when finding a client's IP.
    pub trusted_proxies: Vec<IpAddr>,
    /// Requests per minute per client IP on the auth routes.
    pub auth_rate_limit_per_minute: u32,
    /// Upload announcements per minute per client IP.
    pub upload_rate_limit_per_minute: u32,
    pub request_timeout_secs: u64,
    /// Whether `serve` runs a job worker (`--no-worker` clears it).
    pub run_worker: bool,
    /// How long a worker's claim on a job lasts without renewal.
    pub job_lease_secs: u64,
    /// How often an idle worker looks for work.
    pub worker_poll_ms: u64,
    /// Only admins may upload.
    pub uploads_admin_only: bool,
    /// Base URL for segments in a public bucket or CDN; unset: presigned GETs.
    pub s3_public_url: Option<String>,
    /// Who may create an account: anyone, holders of an invite code, or nobody.
    pub registration: Registration,
    /// The plan new accounts get.
    pub default_plan: Plan,
    /// Bearer token `/metrics` wants on the public listener; unset (and no
    /// `metrics_listen`): `/metrics` is not served there at all.
    pub metrics_token: Option<SecretString>,
    /// A second listener serving only `/metrics`, without a token (bind it
    /// to a private address).
    pub metrics_listen: Option<SocketAddr>,
    /// Time a client has to send a request's head (and a new connection its
    /// first request) before the connection is closed.
    pub header_read_timeout_secs: u64,
    /// How long a connection stays open with nothing moving (no request, no
    /// body bytes either way) while no handler runs.
    pub idle_timeout_secs: u64,
    /// Longest wait for the next piece of a request body.
    pub body_timeout_secs: u64,
    /// Open connections at most; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Open playback sessions a user may hold; opening one more closes the oldest.
    pub max_open_sessions: u32,
    /// Per user, per minute (docs/quota.md).
    pub session_opens_per_minute: u32,
    pub heartbeats_per_minute: u32,
    pub key_requests_per_minute: u32,
    /// How long a signed media URL (`master_url`) stays valid.
    pub media_url_ttl_secs: u64,
    /// Longest audio an upload may hold, in seconds (checked from the header
    /// and while decoding).
    pub max_duration_secs: u64,
    /// Longest an ingest job may run before it fails.
    pub job_timeout_secs: u64,
    /// Attempts after which a job fails for good, however they ended.
    pub job_max_attempts: u32,
    /// Jobs one worker process runs at once.
    pub worker_concurrency: usize,
    /// Bytes of originals a free account may store; 0: no limit.
    pub storage_quota_free_bytes: u64,
    /// Bytes of originals a premium account may store; 0: no limit.
    pub storage_quota_premium_bytes: u64,
    /// How long a failed track's original is kept before it is collected.
    pub failed_retention_hours: u64,
    /// How often a worker collects expired tickets and old failures.
    pub sweep_interval_secs: u64,
    /// Where a worker process serves its own `/metrics`; unset: nowhere.
    pub worker_metrics_listen: Option<SocketAddr>,
    /// The raw layers these settings came from, for a supervised worker
    /// process (it must run with exactly these).
    pub raw: RawForChild,
}

/// [`RawSettings`] kept for the worker child process. Holds secrets, so its
/// `Debug` shows nothing.
#[derive(Clone)]
pub struct RawForChild(pub Arc<RawSettings>);

impl std::fmt::Debug for RawForChild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawForChild([REDACTED])")
    }
}

/// The server master key: wraps (encrypts) content keys at rest.
#[derive(Clone)]
pub struct MasterKey(pub [u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl MasterKey {
    pub fn parse_hex(s: &str) -> anyhow::Result<Self> {
        let bytes = hex::decode(s.trim()).context("MIST_MASTER_KEY must be hex")?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("MIST_MASTER_KEY must be 64 hex digits (32 bytes)"))?;
        Ok(MasterKey(key))
    }
}

/// The raw, merged layers before validation. Field names are the config
/// file's keys and, upper-cased with a `MIST_` prefix, the environment's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RawSettings {
    pub data_dir: PathBuf,
    pub listen: String,
    pub public_url: Option<String>,
    pub admin_email: String,
    pub admin_username: String,
    pub admin_password: Option<String>,
    pub jwt_secret: Option<String>,
    pub master_key: Option<String>,
    pub free_daily_seconds: u64,
    pub max_upload_bytes: u64,
    pub database_url: Option<String>,
    pub storage: String,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_force_path_style: Option<bool>,
    pub trusted_proxies: Vec<IpAddr>,
    pub auth_rate_limit_per_minute: u32,
    pub upload_rate_limit_per_minute: u32,
    pub request_timeout_secs: u64,
    pub job_lease_secs: u64,
    pub worker_poll_ms: u64,
    pub uploads_admin_only: bool,
    pub s3_public_url: Option<String>,
    pub registration: String,
    pub default_plan: String,
    pub metrics_token: Option<String>,
    pub metrics_listen: Option<String>,
    pub header_read_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub body_timeout_secs: u64,
    pub max_connections: usize,
    pub max_open_sessions: u32,
    pub session_opens_per_minute: u32,
    pub heartbeats_per_minute: u32,
    pub key_requests_per_minute: u32,
    pub media_url_ttl_secs: u64,
    pub max_duration_secs: u64,
    pub job_timeout_secs: u64,
    pub job_max_attempts: u32,
    pub worker_concurrency: usize,
    pub storage_quota_free_bytes: u64,
    pub storage_quota_premium_bytes: u64,
    pub failed_retention_hours: u64,
    pub sweep_interval_secs: u64,
    pub worker_metrics_listen: Option<String>,
}

impl Default for RawSettings {
    fn default() -> Self {
        RawSettings {
            data_dir: PathBuf::from("./mist-data"),
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            admin_email: "admin@localhost".into(),
            admin_username: "admin".into(),
            admin_password: None,
            jwt_secret: None,
            master_key: None,
            free_daily_seconds: 300,
            max_upload_bytes: 50 * 1024 * 1024,
            database_url: None,
            storage: "local".into(),
            s3_endpoint: None,
            s3_region: None,
            s3_force_path_style: None,
            trusted_proxies: Vec::new(),
            auth_rate_limit_per_minute: 10,
            upload_rate_limit_per_minute: 60,
            request_timeout_secs: 30,
            job_lease_secs: 60,
            worker_poll_ms: 500,
            uploads_admin_only: false,
            s3_public_url: None,
            registration: "open".into(),
            default_plan: "free".into(),
            metrics_token: None,
            metrics_listen: None,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            body_timeout_secs: 20,
            max_connections: 4096,
            max_open_sessions: 3,
            session_opens_per_minute: 30,
            heartbeats_per_minute: 120,
            key_requests_per_minute: 240,
            media_url_ttl_secs: 6 * 3600,
            max_duration_secs: 3 * 3600,
            job_timeout_secs: 1800,
            job_max_attempts: 3,
            worker_concurrency: 1,
            storage_quota_free_bytes: 2 << 30,
            storage_quota_premium_bytes: 0,
            failed_retention_hours: 168,
            sweep_interval_secs: 300,
            worker_metrics_listen: None,
        }
    }
}

/// Overrides from command-line flags, the last layer.
#[derive(Debug, Default, Clone)]
pub struct FlagOverrides {
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
}

impl RawSettings {
    /// Merges defaults, the config file, the environment and the flags.
    pub fn load(flags: &FlagOverrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(RawSettings::default()));
        if let Some(file) = &flags.config_file {
            if !file.exists() {
                bail!("config file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment
            .merge(Env::prefixed("MIST_").ignore(&["server", "audio"]))
            .merge(Env::raw().only(&["database_url"]))
            .merge(Env::raw().only(&["aws_endpoint_url"]).map(|_| "s3_endpoint".into()))
            .merge(Env::raw().only(&["aws_region"]).map(|_| "s3_region".into()));
        let mut raw: RawSettings = figment.extract().context("invalid configuration")?;
        if let Some(dir) = &flags.data_dir {
            raw.data_dir = dir.clone();
        }
        if let Some(listen) = &flags.listen {
            raw.listen = listen.clone();
        }
        Ok(raw)
    }

    /// Validates the raw layers. In the embedded mode, unset secrets are
    /// generated once and persisted in the data dir.
    pub fn finish(self) -> anyhow::Result<Settings> {
        let raw = RawForChild(Arc::new(self.clone()));
        let listen: SocketAddr = self
            .listen
            .parse()
            .with_context(|| format!("MIST_LISTEN {:?} is not an address like 127.0.0.1:8080", self.listen))?;
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create data dir {}", self.data_dir.display()))?;
        let embedded = self.database_url.is_none();
        let mut stored = StoredSecrets::load(&self.data_dir)?;

        let jwt_secret = match self.jwt_secret {
            Some(s) => s,
            None if embedded => stored.jwt_secret(&self.data_dir)?,
            None => bail!("MIST_JWT_SECRET must be set when DATABASE_URL is set (every node needs the same one)"),
        };
        if jwt_secret.len() < 32 {
            bail!("MIST_JWT_SECRET must be at least 32 characters");
        }
        let master_key = match self.master_key {
            Some(s) => s,
            None if embedded => stored.master_key(&self.data_dir)?,
            None => bail!("MIST_MASTER_KEY must be set when DATABASE_URL is set (every node needs the same one)"),
        };
        let master_key = MasterKey::parse_hex(&master_key)?;

        let public_url = match &self.public_url {
            Some(u) => u
                .parse()
                .with_context(|| format!("MIST_PUBLIC_URL {u:?} is not a URL"))?,
            None => default_public_url(listen)?,
        };
        let location: StorageLocation = self.storage.parse().context("invalid MIST_STORAGE")?;
        let storage = StorageSettings {
            location,
            local_root: self.data_dir.join("objects"),
            s3_force_path_style: self.s3_force_path_style.unwrap_or(self.s3_endpoint.is_some()),
            s3_endpoint: self.s3_endpoint,
            s3_region: self.s3_region,
        };
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            bail!("DATABASE_URL must be a postgres:// URL (leave it unset for the embedded SQLite)");
        }
        let registration: Registration = self.registration.parse()?;
        let default_plan = Plan::parse(self.default_plan.trim()).with_context(|| {
            format!(
                "MIST_DEFAULT_PLAN {:?} is not a plan (free or premium)",
                self.default_plan
            )
        })?;
        let metrics_listen = match &self.metrics_listen {
            Some(addr) => Some(
                addr.parse::<SocketAddr>()
                    .with_context(|| format!("MIST_METRICS_LISTEN {addr:?} is not an address like 127.0.0.1:9090"))?,
            ),
            None => None,
        };
        let metrics_token = self.metrics_token.filter(|t| !t.trim().is_empty());
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            bail!("MIST_METRICS_TOKEN must be at least 16 characters");
        }
        if self.max_connections == 0 {
            bail!("MIST_MAX_CONNECTIONS must be at least 1");
        }
        Ok(Settings {
            data_dir: self.data_dir,
            listen,
            public_url,
            admin_email: self.admin_email,
            admin_username: self.admin_username,
            admin_password: self.admin_password.map(SecretString::from),
            jwt_secret: SecretString::from(jwt_secret),
            master_key,
            free_daily_seconds: self.free_daily_seconds,
            max_upload_bytes: self.max_upload_bytes,
            database_url: self.database_url.map(SecretString::from),
            storage,
            trusted_proxies: self.trusted_proxies,
            auth_rate_limit_per_minute: self.auth_rate_limit_per_minute,
            upload_rate_limit_per_minute: self.upload_rate_limit_per_minute,
            request_timeout_secs: self.request_timeout_secs,
            run_worker: true,
            job_lease_secs: self.job_lease_secs.max(1),
            worker_poll_ms: self.worker_poll_ms.max(10),
            uploads_admin_only: self.uploads_admin_only,
            s3_public_url: self.s3_public_url,
            registration,
            default_plan,
            metrics_token: metrics_token.map(SecretString::from),
            metrics_listen,
            header_read_timeout_secs: self.header_read_timeout_secs.max(1),
            idle_timeout_secs: self.idle_timeout_secs.max(1),
            body_timeout_secs: self.body_timeout_secs.max(1),
            max_connections: self.max_connections,
            max_open_sessions: self.max_open_sessions.max(1),
            session_opens_per_minute: self.session_opens_per_minute.max(1),
            heartbeats_per_minute: self.heartbeats_per_minute.max(1),
            key_requests_per_minute: self.key_requests_per_minute.max(1),
            media_url_ttl_secs: self.media_url_ttl_secs.max(60),
            max_duration_secs: self.max_duration_secs.max(1),
            job_timeout_secs: self.job_timeout_secs.max(1),
            job_max_attempts: self.job_max_attempts.max(1),
            worker_concurrency: self.worker_concurrency.max(1),
            storage_quota_free_bytes: self.storage_quota_free_bytes,
            storage_quota_premium_bytes: self.storage_quota_premium_bytes,
            failed_retention_hours: self.failed_retention_hours,
            sweep_interval_secs: self.sweep_interval_secs.max(1),
            worker_metrics_listen: match &self.worker_metrics_listen {
                Some(a) => Some(a.parse().with_context(|| {
                    format!("MIST_WORKER_METRICS_LISTEN {a:?} is not an address like 127.0.0.1:9101")
                })?),
                None => None,
            },
            raw,
        })
    }
}

impl Settings {
    /// Loads and validates everything in one step.
    pub fn load(flags: &FlagOverrides) -> anyhow::Result<Self> {
        RawSettings::load(flags)?.finish()
    }

    pub fn is_embedded_database(&self) -> bool {
        self.database_url.is_none()
    }

    pub fn database_url_exposed(&self) -> Option<&str> {
        self.database_url.as_ref().map(|s| s.expose_secret())
    }

    /// The environment that gives a child process exactly these settings:
    /// every raw setting as its `MIST_*` variable (the database URL as
    /// `DATABASE_URL`), with the public URL as it stands now (a server on
    /// port 0 learns its port after loading). Unset settings are left out;
    /// the caller clears the inherited variables [`RawSettings::load`] reads.
    pub fn child_env(&self) -> Vec<(String, String)> {
        let mut raw = (*self.raw.0).clone();
        raw.public_url = Some(self.public_url.to_string());
        raw.data_dir = self.data_dir.clone();
        let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&raw) else {
            return Vec::new();
        };
        fields
            .into_iter()
            .filter_map(|(key, value)| {
                let value = env_value(&value)?;
                let name = if key == "database_url" {
                    "DATABASE_URL".to_owned()
                } else {
                    format!("MIST_{}", key.to_ascii_uppercase())
                };
                Some((name, value))
            })
            .collect()
    }
}

/// The variables [`RawSettings::load`] reads besides `MIST_*`: a child must
/// not inherit them when it is given its settings.
pub const INHERITED_SETTING_VARIABLES: &[&str] = &["DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION"];

/// A JSON value as figment's environment provider reads it back: strings
/// quoted and escaped (so `"true"` or `"8080"` stay strings), arrays
/// bracketed; `None` for null.
fn env_value(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => {
            let escaped: String = s
                .chars()
                .flat_map(|c| match c {
                    '"' => vec!['\\', '"'],
                    '\\' => vec!['\\', '\\'],
                    '\n' => vec!['\\', 'n'],
                    '\t' => vec!['\\', 't'],
                    '\r' => vec!['\\', 'r'],
                    c => vec![c],
                })
                .collect();
            Some(format!("\"{escaped}\""))
        }
        Value::Array(items) => Some(format!(
            "[{}]",
            items.iter().filter_map(env_value).collect::<Vec<_>>().join(", ")
        )),
        Value::Object(_) => None,
    }
}

fn default_public_url(listen: SocketAddr) -> anyhow::Result<url::Url> {
    // An unspecified bind address is not reachable as such; name loopback.
    let host = match listen.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    Ok(format!("http://{host}:{}", listen.port()).parse()?)
}

/// Secrets generated for the embedded mode, kept in `<data dir>/secrets.toml`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredSecrets {
    jwt_secret: Option<String>,
    master_key: Option<String>,
}

impl StoredSecrets {
    fn path(dir: &Path) -> PathBuf {
        dir.join("secrets.toml")
    }

    fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = Self::path(dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => Figment::from(Toml::string(&text))
                .extract()
                .with_context(|| format!("{} is not valid", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    fn jwt_secret(&mut self, dir: &Path) -> anyhow::Result<String> {
        if let Some(s) = &self.jwt_secret {
            return Ok(s.clone());
        }
        let s = hex::encode(rand::random::<[u8; 32]>());
        self.jwt_secret = Some(s.clone());
        self.save(dir)?;
        Ok(s)
    }

    fn master_key(&mut self, dir: &Path) -> anyhow::Result<String> {
        if let Some(s) = &self.master_key {
            return Ok(s.clone());
        }
        let s = hex::encode(rand::random::<[u8; 32]>());
        self.master_key = Some(s.clone());
        self.save(dir)?;
        Ok(s)
    }

    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        let path = Self::path(dir);
        let mut text = String::from(
            "# Generated by mist-server on first start. Keep it secret and keep it:\n# losing master_key makes every stored track unplayable.\n",
        );
        if let Some(s) = &self.jwt_secret {
            text.push_str(&format!("jwt_secret = \"{s}\"\n"));
        }
        if let Some(s) = &self.master_key {
            text.push_str(&format!("master_key = \"{s}\"\n"));
        }
        let tmp = dir.join(".secrets.toml.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_secrets_are_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let raw = || RawSettings {
            data_dir: dir.path().to_path_buf(),
            ..RawSettings::default()
        };
        let a = raw().finish().unwrap();
        let b = raw().finish().unwrap();
        assert_eq!(a.jwt_secret.expose_secret(), b.jwt_secret.expose_secret());
        assert_eq!(a.master_key.0, b.master_key.0);
        assert!(a.jwt_secret.expose_secret().len() >= 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets.toml"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn scaled_mode_requires_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let raw = RawSettings {
            data_dir: dir.path().to_path_buf(),
            database_url: Some("postgres://localhost/mist".into()),
            ..RawSettings::default()
        };
        let err = raw.finish().unwrap_err().to_string();
        assert!(err.contains("MIST_JWT_SECRET"), "{err}");
    }

    #[test]
    fn short_jwt_secret_and_bad_master_key_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let short = RawSettings {
            data_dir: dir.path().to_path_buf(),
            jwt_secret: Some("short".into()),
            ..RawSettings::default()
        };
        assert!(short.finish().unwrap_err().to_string().contains("32"));
        let bad_key = RawSettings {
            data_dir: dir.path().to_path_buf(),
            master_key: Some("abcd".into()),
            ..RawSettings::default()
        };
        assert!(bad_key.finish().unwrap_err().to_string().contains("64 hex"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let settings = RawSettings {
            data_dir: dir.path().to_path_buf(),
            jwt_secret: Some("x".repeat(40)),
            admin_password: Some("hunter2hunter2".into()),
            ..RawSettings::default()
        }
        .finish()
        .unwrap();
        let shown = format!("{settings:?}");
        assert!(!shown.contains(&"x".repeat(40)));
        assert!(!shown.contains("hunter2"));
    }

    /// A child given `child_env` (and nothing inherited) loads the same settings.
    #[test]
    fn child_env_reproduces_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let settings = RawSettings {
            data_dir: dir.path().to_path_buf(),
            jwt_secret: Some("a \"quoted\" secret\\ that is long enough, 1234".into()),
            master_key: Some("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".into()),
            admin_password: Some("true".into()),
            trusted_proxies: vec!["10.0.0.2".parse().unwrap()],
            max_duration_secs: 60,
            storage: "s3://bucket/prefix".into(),
            s3_endpoint: Some("http://127.0.0.1:9000".into()),
            ..RawSettings::default()
        }
        .finish()
        .unwrap();
        let env = settings.child_env();
        // What figment's environment provider does with each variable: parse
        // the value, lower-case the name without its prefix.
        let mut dict = figment::value::Dict::new();
        for (name, value) in &env {
            let key = name.strip_prefix("MIST_").unwrap_or(name).to_ascii_lowercase();
            let value: figment::value::Value = value.parse().unwrap();
            dict.insert(key, value);
        }
        let parsed: RawSettings = Figment::from(Serialized::defaults(RawSettings::default()))
            .merge(Serialized::defaults(dict))
            .extract()
            .unwrap();
        let again = parsed.finish().unwrap();
        assert_eq!(again.jwt_secret.expose_secret(), settings.jwt_secret.expose_secret());
        assert_eq!(
            again.admin_password.as_ref().map(|p| p.expose_secret().to_owned()),
            Some("true".into())
        );
        assert_eq!(again.trusted_proxies, settings.trusted_proxies);
        assert_eq!(again.max_duration_secs, 60);
        assert_eq!(again.storage.location, settings.storage.location);
        assert_eq!(again.public_url, settings.public_url);
        assert_eq!(again.data_dir, settings.data_dir);
        assert!(env.iter().all(|(name, _)| name != "MIST_DATABASE_URL"));
    }

    #[test]
    fn account_and_metrics_settings_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let with = |f: fn(&mut RawSettings)| {
            let mut raw = RawSettings {
                data_dir: dir.path().to_path_buf(),
                ..RawSettings::default()
            };
            f(&mut raw);
            raw.finish()
        };
        let defaults = with(|_| {}).unwrap();
        assert_eq!(defaults.registration, Registration::Open);
        assert_eq!(defaults.default_plan, Plan::Free);
        assert!(defaults.metrics_token.is_none() && defaults.metrics_listen.is_none());
        let set = with(|r| {
            r.registration = "invite".into();
            r.default_plan = "premium".into();
            r.metrics_listen = Some("127.0.0.1:9090".into());
        })
        .unwrap();
        assert_eq!(set.registration, Registration::Invite);
        assert_eq!(set.default_plan, Plan::Premium);
        assert_eq!(set.metrics_listen, Some("127.0.0.1:9090".parse().unwrap()));
        let err = |f: fn(&mut RawSettings)| format!("{:#}", with(f).unwrap_err());
        assert!(err(|r| r.registration = "invites".into()).contains("MIST_REGISTRATION"));
        assert!(err(|r| r.default_plan = "gold".into()).contains("MIST_DEFAULT_PLAN"));
        assert!(err(|r| r.metrics_token = Some("short".into())).contains("MIST_METRICS_TOKEN"));
        assert!(err(|r| r.metrics_listen = Some("nowhere".into())).contains("MIST_METRICS_LISTEN"));
        assert!(err(|r| r.max_connections = 0).contains("MIST_MAX_CONNECTIONS"));
    }

    #[test]
    fn default_public_url_names_loopback_for_unspecified_binds() {
        let url = default_public_url("0.0.0.0:9000".parse().unwrap()).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9000/");
    }
}
