//! `mist upload PATH…`: files and folders (recursive; audio chosen by
//! content with `mist_core::library::sniff`), several sent at once
//! (`--jobs`, default 3) while the server processes earlier ones, each then
//! waited for (unless `--no-wait`) until the server has made it a track.
//!
//! stderr shows one overall bar (bytes; files done, ready, already there,
//! failed, skipped) over one bar per file in flight (hidden when stderr is not
//! a terminal). stdout gets one line per file with its track id, then, for
//! more than one file, a summary; with `--json` the jobs as the API returns
//! them. Each file's SHA-256 goes with its announcement, so bytes the
//! uploader already has are refused before they are sent (409 `duplicate`);
//! those, and duplicates the server finds later (job `error_code:
//! "duplicate"`), are "already there", not failures, so a run again after an
//! interruption skips what was done without sending it again. Any failure
//! makes the exit code 1, after every other file has been tried.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mist_core::api::{CompleteUploadRequest, Job, JobStatus};
use mist_core::client::Client;
use tokio::sync::Semaphore;

use crate::session::Settings;
use crate::session::login::logged_in_client;
use crate::session::upload::{AlreadyThere, DUPLICATE, Progress, send, wait_for};

/// Files sent, per `--jobs`, that may be waiting for the server at once: the
/// server processes them while later ones are sent, and the polling stays
/// bounded.
const WAITING_PER_JOB: usize = 4;

#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// Audio files (MP3, AAC/M4A, FLAC, WAV, Ogg Vorbis or ALAC) and folders;
    /// in folders, files are chosen by content, recursively
    #[arg(required = true, value_name = "PATH")]
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
    /// The album's artist, when it is not each track's ("Various Artists")
    #[arg(long)]
    pub album_artist: Option<String>,
    /// Release year (1000–2999)
    #[arg(long, value_parser = clap::value_parser!(i64).range(1000..=2999))]
    pub year: Option<i64>,
    #[arg(long)]
    pub composer: Option<String>,
    /// Files sent at once
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub jobs: u16,
    /// Return once the files are sent, without waiting for processing
    #[arg(long)]
    pub no_wait: bool,
    /// Print the jobs as JSON
    #[arg(long)]
    pub json: bool,
}

/// How one file ended.
enum Outcome {
    Job(Job),
    /// Refused before sending: the uploader's track with the same bytes.
    AlreadyThere(String),
    Error(anyhow::Error),
}

pub async fn upload(settings: &Settings, args: UploadArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    let meta = CompleteUploadRequest {
        title: args.title.clone(),
        artist: args.artist.clone(),
        album: args.album.clone(),
        genre: args.genre.clone(),
        album_artist: args.album_artist.clone(),
        year: args.year,
        composer: args.composer.clone(),
        ..CompleteUploadRequest::default()
    };
    let (files, skipped) = collect(&args.files)?;
    let wait = !args.no_wait;
    let jobs = usize::from(args.jobs);
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();

    let multi = MultiProgress::new();
    let overall = Arc::new(Overall::new(&multi, files.len(), total_bytes, skipped.len()));
    let sending = Arc::new(Semaphore::new(jobs));
    let outcomes: Vec<(PathBuf, Outcome)> = futures::stream::iter(files.iter().cloned())
        .map(|path| {
            let (client, meta, multi, overall, sending) = (&client, &meta, &multi, overall.clone(), sending.clone());
            async move {
                let outcome = upload_one(client, &path, meta, wait, multi, &overall, &sending).await;
                overall.finished(&outcome);
                if !args.json {
                    let line = summary(&path, &outcome);
                    multi.suspend(|| println!("{line}"));
                }
                (path, outcome)
            }
        })
        .buffer_unordered(jobs * WAITING_PER_JOB)
        .collect()
        .await;
    overall.bar.finish_and_clear();

    let mut failures = Vec::new();
    let mut listed = Vec::new();
    for (path, outcome) in &outcomes {
        match outcome {
            Outcome::Job(job) => {
                if let (Some(error), false) = (&job.error, is_duplicate(job)) {
                    failures.push(format!("{}: {error}", path.display()));
                }
                listed.push(job);
            }
            Outcome::AlreadyThere(_) => {}
            Outcome::Error(error) => failures.push(format!("{}: {}", path.display(), crate::one_line(error))),
        }
    }
    if args.json {
        println!(
            "{}",
            mist_core::text::json_safe(&serde_json::to_string_pretty(&listed)?)
        );
    } else {
        for path in &skipped {
            println!(
                "{}",
                mist_core::text::neutralise(&format!("-  skipped (not audio)  {}", path.display()))
            );
        }
        if files.len() + skipped.len() > 1 {
            println!("{}", overall.tally());
        }
    }
    match failures.len() {
        0 => Ok(()),
        1 if files.len() == 1 => bail!("{}", mist_core::text::neutralise(&failures[0])),
        n => bail!(
            "{n} of {} uploads failed: {}",
            files.len(),
            mist_core::text::neutralise(&failures.join("; "))
        ),
    }
}

/// The files to send: each file named as given (the server judges it), and
/// every file under a folder that looks like audio by its content; the other
/// files under folders are returned as skipped. Both in path order, so runs
/// are repeatable.
fn collect(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut files, mut skipped) = (Vec::new(), Vec::new());
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        walk(path, &mut found)?;
        found.sort();
        for file in found {
            match mist_core::library::sniff::sniff_file(&file) {
                Ok(Some(_)) => files.push(file),
                Ok(None) => skipped.push(file),
                Err(error) => bail!("cannot read {}: {error}", file.display()),
            }
        }
    }
    Ok((files, skipped))
}

/// Every regular file under `dir`; symbolic links are not followed, so a
/// link cycle cannot make the walk endless.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

fn is_duplicate(job: &Job) -> bool {
    job.error_code.as_deref() == Some(DUPLICATE)
}

/// One line per file; the job's fields came from the server, so the line is
/// neutralised for the terminal.
fn summary(path: &Path, outcome: &Outcome) -> String {
    let line = match outcome {
        Outcome::Error(error) => format!("-  failed  {}: {}", path.display(), crate::one_line(error)),
        Outcome::AlreadyThere(id) => format!("{id}  already there  {}", path.display()),
        Outcome::Job(job) if is_duplicate(job) => format!(
            "{}  already there  {}",
            job.existing_track_id.as_deref().unwrap_or("?"),
            path.display()
        ),
        Outcome::Job(job) => match job.status {
            JobStatus::Ready => format!("{}  ready  {}", job.track_id, path.display()),
            JobStatus::Failed => format!(
                "{}  failed  {}: {}",
                job.track_id,
                path.display(),
                job.error.as_deref().unwrap_or("unknown reason")
            ),
            other => format!("{}  {}  {}", job.track_id, other.as_str(), path.display()),
        },
    };
    mist_core::text::neutralise(&line).into_owned()
}

/// The overall bar and the counts it shows.
struct Overall {
    bar: ProgressBar,
    files: usize,
    done: AtomicUsize,
    ready: AtomicUsize,
    already: AtomicUsize,
    failed: AtomicUsize,
    skipped: usize,
}

impl Overall {
    fn new(multi: &MultiProgress, files: usize, bytes: u64, skipped: usize) -> Overall {
        // One file needs no second bar over its own.
        let bar = if files > 1 {
            multi.add(
                ProgressBar::new(bytes).with_style(
                    ProgressStyle::with_template("{prefix:20!} [{bar:30}] {bytes}/{total_bytes} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                ),
            )
        } else {
            ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::hidden())
        };
        let overall = Overall {
            bar,
            files,
            done: AtomicUsize::new(0),
            ready: AtomicUsize::new(0),
            already: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            skipped,
        };
        overall.bar.set_prefix("all files");
        overall.bar.set_message(overall.counts());
        overall
    }

    fn finished(&self, outcome: &Outcome) {
        let counter = match outcome {
            Outcome::AlreadyThere(_) => &self.already,
            Outcome::Job(job) if is_duplicate(job) => &self.already,
            Outcome::Job(job) if job.error.is_none() => &self.ready,
            _ => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.done.fetch_add(1, Ordering::Relaxed);
        self.bar.set_message(self.counts());
    }

    fn counts(&self) -> String {
        format!(
            "{}/{} files, {} ready, {} already there, {} failed, {} skipped",
            self.done.load(Ordering::Relaxed),
            self.files,
            self.ready.load(Ordering::Relaxed),
            self.already.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.skipped
        )
    }

    /// The last line of a run.
    fn tally(&self) -> String {
        format!(
            "{} files: {} ready, {} already there, {} failed, {} skipped (not audio)",
            self.files + self.skipped,
            self.ready.load(Ordering::Relaxed),
            self.already.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.skipped
        )
    }
}

async fn upload_one(
    client: &Client,
    path: &Path,
    meta: &CompleteUploadRequest,
    wait: bool,
    multi: &MultiProgress,
    overall: &Arc<Overall>,
    sending: &Semaphore,
) -> Outcome {
    let filename = path.file_name().and_then(|n| n.to_str()).unwrap_or("upload");
    let Ok(permit) = sending.acquire().await else {
        return Outcome::Error(anyhow::anyhow!("upload queue closed"));
    };
    let bar = multi.add(ProgressBar::new(0).with_style(bar_style("{bytes}/{total_bytes}")));
    bar.set_prefix(mist_core::text::neutralise(filename).into_owned());
    bar.set_message("uploading");
    let progress = Arc::new(Bar {
        bar: bar.clone(),
        processing: AtomicBool::new(false),
        overall: Some(overall.clone()),
        last_sent: AtomicU64::new(0),
    });
    let job = send(client, path, meta, progress.clone()).await;
    // The next file is sent while the server processes this one.
    drop(permit);
    let job = match job {
        Ok(job) if wait => wait_for(client, job, progress).await,
        other => other,
    };
    let job = match job {
        Ok(job) => job,
        Err(error) => {
            multi.remove(&bar);
            return match error.downcast::<AlreadyThere>() {
                Ok(AlreadyThere(id)) => Outcome::AlreadyThere(id),
                Err(error) => Outcome::Error(error),
            };
        }
    };
    match job.status {
        _ if is_duplicate(&job) => bar.finish_with_message("already there"),
        _ if !wait => bar.finish_with_message("sent"),
        JobStatus::Ready => {
            bar.set_position(100);
            bar.finish_with_message("ready");
        }
        _ => bar.abandon_with_message("failed"),
    }
    // The file's line goes to stdout; its bar makes room for the next.
    multi.remove(&bar);
    Outcome::Job(job)
}

/// The command line's progress: one bar, bytes first, then percent.
struct Bar {
    bar: ProgressBar,
    processing: AtomicBool,
    /// Bytes sent also move the overall bar.
    overall: Option<Arc<Overall>>,
    last_sent: AtomicU64,
}

impl Progress for Bar {
    fn sent(&self, sent: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(sent);
        let before = self.last_sent.swap(sent, Ordering::Relaxed);
        if let Some(overall) = &self.overall {
            overall.bar.inc(sent.saturating_sub(before));
        }
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

fn bar_style(counter: &str) -> ProgressStyle {
    let template = format!("{{prefix:20!}} [{{bar:30}}] {counter} {{msg}}");
    ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}
