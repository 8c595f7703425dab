//! `mist upload FILE…`: announce, send and complete each file, one at a time,
//! then (unless `--no-wait`) wait for the server to make each a track.
//!
//! Each file gets a progress bar on stderr, first for the bytes sent, then for
//! the server's processing (hidden when stderr is not a terminal). stdout gets
//! the summary: one line per file with its track id, or with `--json` the
//! jobs as the API returns them. Any file that fails makes the exit code 1,
//! after the others have been tried.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mist_core::api::{CompleteUploadRequest, CreateUploadRequest, Job, JobStatus};
use mist_core::client::Client;

use super::Settings;
use super::auth::{logged_in_client, stale_login};

/// How often the job is asked about while waiting.
const POLL: Duration = Duration::from_millis(500);
/// Longest wait for one file's processing.
const PROCESSING_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Bytes per piece of the request body (the upload bar moves per piece).
const PIECE: usize = 64 * 1024;

#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// Audio files: MP3, AAC/M4A, FLAC, WAV, Ogg Vorbis or ALAC
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Title (default: the file's tags, then its name); applies to every file
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long)]
    pub artist: Option<String>,
    #[arg(long)]
    pub album: Option<String>,
    #[arg(long)]
    pub genre: Option<String>,
    /// Return once the files are sent, without waiting for processing
    #[arg(long)]
    pub no_wait: bool,
    /// Print the jobs as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn upload(settings: &Settings, args: UploadArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    let meta = CompleteUploadRequest {
        title: args.title.clone(),
        artist: args.artist.clone(),
        album: args.album.clone(),
        genre: args.genre.clone(),
    };
    let mut jobs = Vec::new();
    let mut failures = Vec::new();
    for path in &args.files {
        match upload_one(&client, path, &meta, !args.no_wait).await {
            Ok(job) => {
                if let Some(error) = &job.error {
                    failures.push(format!("{}: {error}", path.display()));
                }
                if !args.json {
                    println!("{}", summary(path, &job));
                }
                jobs.push(job);
            }
            Err(error) => failures.push(format!("{}: {}", path.display(), crate::one_line(&error))),
        }
    }
    if args.json {
        println!("{}", mist_core::text::json_safe(&serde_json::to_string_pretty(&jobs)?));
    }
    match failures.len() {
        0 => Ok(()),
        1 if args.files.len() == 1 => bail!("{}", failures[0]),
        n => bail!("{n} of {} uploads failed: {}", args.files.len(), failures.join("; ")),
    }
}

/// One line per file; the job's fields came from the server, so the line is
/// neutralised for the terminal.
fn summary(path: &Path, job: &Job) -> String {
    let line = match job.status {
        JobStatus::Ready => format!("{}  ready  {}", job.track_id, path.display()),
        JobStatus::Failed => format!(
            "{}  failed  {}: {}",
            job.track_id,
            path.display(),
            job.error.as_deref().unwrap_or("unknown reason")
        ),
        other => format!("{}  {}  {}", job.track_id, other.as_str(), path.display()),
    };
    mist_core::text::neutralise(&line).into_owned()
}

async fn upload_one(client: &Client, path: &Path, meta: &CompleteUploadRequest, wait: bool) -> Result<Job> {
    let filename = path.file_name().and_then(|n| n.to_str()).unwrap_or("upload");
    let bar = ProgressBar::new(0).with_style(bar_style("{bytes}/{total_bytes}"));
    bar.set_prefix(filename.to_string());
    bar.set_message("uploading");
    let progress = Arc::new(Bar {
        bar: bar.clone(),
        processing: AtomicBool::new(false),
    });
    let job = send_file(client, path, meta, wait, progress).await?;
    match job.status {
        _ if !wait => bar.finish_with_message("sent"),
        JobStatus::Ready => {
            bar.set_position(100);
            bar.finish_with_message("ready");
        }
        _ => bar.abandon_with_message("failed"),
    }
    Ok(job)
}

/// Hears how an upload goes: bytes sent, then the server's processing.
pub trait Progress: Send + Sync + 'static {
    fn sent(&self, sent: u64, total: u64);
    fn processing(&self, percent: u8);
}

/// Announces, sends and completes one file; with `wait`, polls its job until
/// the server has made it a track (or failed to). The one way files are
/// uploaded, for the command line and the TUI.
pub async fn send_file(
    client: &Client,
    path: &Path,
    meta: &CompleteUploadRequest,
    wait: bool,
    progress: Arc<dyn Progress>,
) -> Result<Job> {
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    let filename = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("upload")
        .to_string();
    let total = bytes.len() as u64;
    let ticket = client
        .create_upload(&CreateUploadRequest {
            filename,
            size: total,
            content_type: content_type(path).to_string(),
        })
        .await
        .map_err(stale_login)?;

    progress.sent(0, total);
    let pieces: Vec<Vec<u8>> = bytes.chunks(PIECE).map(<[u8]>::to_vec).collect();
    let counter = progress.clone();
    let sent = AtomicU64::new(0);
    let body = reqwest_body(pieces, move |n| {
        let now = sent.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        counter.sent(now, total);
    });
    client.put_upload(&ticket, body).await?;
    let job_id = client.complete_upload(&ticket.upload_id, meta).await?.job_id;
    let mut job = client.job(&job_id).await?;
    if !wait {
        return Ok(job);
    }

    let started = Instant::now();
    while !job.status.is_finished() {
        if started.elapsed() > PROCESSING_TIMEOUT {
            bail!(
                "still processing after {} minutes (job {})",
                PROCESSING_TIMEOUT.as_secs() / 60,
                job.id
            );
        }
        progress.processing(job.progress);
        tokio::time::sleep(POLL).await;
        job = client.job(&job_id).await?;
    }
    Ok(job)
}

/// The command line's progress: one bar, bytes first, then percent.
struct Bar {
    bar: ProgressBar,
    processing: AtomicBool,
}

impl Progress for Bar {
    fn sent(&self, sent: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(sent);
    }

    fn processing(&self, percent: u8) {
        if !self.processing.swap(true, Ordering::Relaxed) {
            self.bar.set_style(bar_style("{pos}%"));
            self.bar.set_length(100);
            self.bar.set_message("processing");
        }
        self.bar.set_position(u64::from(percent));
    }
}

/// A request body that reports each piece as the HTTP client takes it.
fn reqwest_body(pieces: Vec<Vec<u8>>, mut sent: impl FnMut(usize) + Send + Sync + 'static) -> reqwest::Body {
    let stream = futures::stream::iter(pieces.into_iter().map(move |piece| {
        sent(piece.len());
        Ok::<_, std::io::Error>(piece)
    }));
    reqwest::Body::wrap_stream(stream)
}

fn bar_style(counter: &str) -> ProgressStyle {
    let template = format!("{{prefix:20!}} [{{bar:30}}] {counter} {{msg}}");
    ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// What the server is told the file is; it checks the content itself.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "mp3" => "audio/mpeg",
        "m4a" | "mp4" | "aac" => "audio/mp4",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        "ogg" | "oga" => "audio/ogg",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_extension() {
        let check = |name: &str, expected: &str| assert_eq!(content_type(Path::new(name)), expected, "{name}");
        check("a.MP3", "audio/mpeg");
        check("a.flac", "audio/flac");
        check("a.m4a", "audio/mp4");
        check("a.wav", "audio/wav");
        check("a.ogg", "audio/ogg");
        check("noext", "application/octet-stream");
    }
}
