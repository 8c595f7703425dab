//! The one way a file is uploaded, for the command line and the player:
//! announced with its SHA-256, sent in pieces that report progress, completed,
//! and (when asked) waited for until the server has made it a track.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mist_core::api::{CompleteUploadRequest, CreateUploadRequest, Job};
use mist_core::client::Client;
use mist_core::library::hash::ContentHash;

use super::login::stale_login;

/// How often the job is asked about while waiting.
const POLL: Duration = Duration::from_millis(500);
/// Longest wait for one file's processing.
const PROCESSING_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Bytes per piece of the request body (the upload bar moves per piece).
const PIECE: usize = 64 * 1024;
/// The server's `error_code` for bytes the uploader already has.
pub const DUPLICATE: &str = "duplicate";

/// The server already has the file's bytes from this uploader: that track's
/// id. Nothing was sent.
#[derive(Debug)]
pub struct AlreadyThere(pub String);

impl std::fmt::Display for AlreadyThere {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "already in your library as track {}", self.0)
    }
}

impl std::error::Error for AlreadyThere {}

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
    let job = send(client, path, meta, progress.clone()).await?;
    if !wait {
        return Ok(job);
    }
    wait_for(client, job, progress).await
}

/// Announces, sends and completes one file: its job, just started.
pub async fn send(
    client: &Client,
    path: &Path,
    meta: &CompleteUploadRequest,
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
    let sha256 = ContentHash::of(&bytes).to_hex();
    let ticket = match client
        .create_upload(&CreateUploadRequest {
            filename,
            size: total,
            content_type: content_type(path).to_string(),
            sha256: Some(sha256),
        })
        .await
    {
        Ok(ticket) => ticket,
        Err(error) if error.code() == Some(DUPLICATE) => {
            let id = error.existing_track_id().unwrap_or("?").to_owned();
            return Err(AlreadyThere(id).into());
        }
        Err(error) => return Err(stale_login(error)),
    };

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
    Ok(client.job(&job_id).await?)
}

/// Polls `job` until the server has finished with it.
pub async fn wait_for(client: &Client, mut job: Job, progress: Arc<dyn Progress>) -> Result<Job> {
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
        job = client.job(&job.id).await?;
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
