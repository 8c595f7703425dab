//! `mist upload FILE…`: announce, send and complete each file, one at a time,
//! then (unless `--no-wait`) wait for the server to make each a track.
//!
//! Each file gets a progress bar on stderr, first for the bytes sent, then for
//! the server's processing (hidden when stderr is not a terminal). stdout gets
//! the summary: one line per file with its track id, or with `--json` the
//! jobs as the API returns them. Any file that fails makes the exit code 1,
//! after the others have been tried.

use std::path::{Path, PathBuf};
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
        println!("{}", serde_json::to_string_pretty(&jobs)?);
    }
    match failures.len() {
        0 => Ok(()),
        1 if args.files.len() == 1 => bail!("{}", failures[0]),
        n => bail!("{n} of {} uploads failed: {}", args.files.len(), failures.join("; ")),
    }
}

fn summary(path: &Path, job: &Job) -> String {
    match job.status {
        JobStatus::Ready => format!("{}  ready  {}", job.track_id, path.display()),
        JobStatus::Failed => format!(
            "{}  failed  {}: {}",
            job.track_id,
            path.display(),
            job.error.as_deref().unwrap_or("unknown reason")
        ),
        other => format!("{}  {}  {}", job.track_id, other.as_str(), path.display()),
    }
}

async fn upload_one(client: &Client, path: &Path, meta: &CompleteUploadRequest, wait: bool) -> Result<Job> {
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    let filename = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("upload")
        .to_string();
    let ticket = client
        .create_upload(&CreateUploadRequest {
            filename: filename.clone(),
            size: bytes.len() as u64,
            content_type: content_type(path).to_string(),
        })
        .await
        .map_err(stale_login)?;

    let bar = ProgressBar::new(bytes.len() as u64).with_style(bar_style("{bytes}/{total_bytes}"));
    bar.set_prefix(filename);
    bar.set_message("uploading");
    let pieces: Vec<Vec<u8>> = bytes.chunks(PIECE).map(<[u8]>::to_vec).collect();
    let counter = bar.clone();
    let body = reqwest_body(pieces, move |n| counter.inc(n as u64));
    client.put_upload(&ticket, body).await?;
    let job_id = client.complete_upload(&ticket.upload_id, meta).await?.job_id;
    let mut job = client.job(&job_id).await?;
    if !wait {
        bar.finish_with_message("sent");
        return Ok(job);
    }

    bar.set_style(bar_style("{pos}%"));
    bar.set_length(100);
    bar.set_position(0);
    bar.set_message("processing");
    let started = Instant::now();
    while !job.status.is_finished() {
        if started.elapsed() > PROCESSING_TIMEOUT {
            bar.abandon_with_message("still processing");
            bail!(
                "still processing after {} minutes (job {})",
                PROCESSING_TIMEOUT.as_secs() / 60,
                job.id
            );
        }
        bar.set_position(u64::from(job.progress));
        tokio::time::sleep(POLL).await;
        job = client.job(&job_id).await?;
    }
    match job.status {
        JobStatus::Ready => {
            bar.set_position(100);
            bar.finish_with_message("ready");
        }
        _ => bar.abandon_with_message("failed"),
    }
    Ok(job)
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
