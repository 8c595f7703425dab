//! `mist-server import DIR`: an operator's library on disk, into the
//! catalogue of one user (`--owner`, default the oldest active admin).
//!
//! Each file goes the way an upload goes, through the same code: the upload
//! routes' own handlers make the ticket (type, size limit, storage quota,
//! staging key) and complete it (size check, the one ingest job), and the
//! bytes are streamed from disk to the ticket's staging key as the local
//! upload route would. So the worker reads tags, covers, lyrics and loudness
//! and applies the duplicate rule exactly as for an upload. What only an
//! import has — a folder's `cover.jpg` and a track's `NAME.lrc` — goes into
//! the ticket's staging directory beside the original, where the job finds
//! it ([`crate::ingest::beside`]).
//!
//! Audio is chosen by content ([`mist_core::library::sniff`]), never by name.
//! Each file is hashed first, streamed: one whose SHA-256 its owner already
//! has is "already there" and nothing is copied, so a run again after an
//! interruption goes on where it stopped (a file queued but not yet ready
//! when it stopped fails its second job as a duplicate, reported the same).
//! Memory is bounded: files are streamed, never read whole, and at most
//! `2 × jobs` are in flight.
//!
//! The command runs a worker of its own with `jobs` slots (unless
//! `--no-worker`: then the server's workers do the work) and waits for each
//! file's job, printing one line per file on stdout as it settles, a running
//! total on stderr when it is a terminal, and a summary at the end. A file
//! that fails is reported and the rest go on; the exit code is then 1.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use futures::StreamExt;
use mist_core::api::{CreateUploadRequest, JobStatus};
use mist_core::library::cover::MAX_COVER_BYTES;
use mist_core::library::sniff::{self, AudioContainer};

use crate::app::AppState;
use crate::config::Settings;
use crate::db::users::{self, UserRow};
use crate::db::{jobs, uploads};
use crate::http::caller::AuthUser;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath};
use crate::ingest::beside;
use crate::storage::StorageError;

/// How often a file's job is looked at while it is processed.
const POLL: Duration = Duration::from_millis(250);
/// Files in flight per worker slot: the next is copied while others process.
const IN_FLIGHT_PER_JOB: usize = 2;
/// Bytes read from disk at a time when copying.
const COPY_CHUNK: usize = 256 * 1024;
/// The folder's cover, by name (lower-cased), best first.
const COVER_NAMES: [&str; 3] = ["cover", "folder", "front"];
/// Picture extensions a cover file may have, best first.
const COVER_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "webp", "gif"];

/// What to import and for whom.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub dir: PathBuf,
    /// An id, email or username; `None`: the oldest active admin.
    pub owner: Option<String>,
    /// Files processed at once.
    pub jobs: usize,
}

/// An audio file found under the folder, with what lies beside it.
#[derive(Debug, Clone)]
pub struct AudioFile {
    pub path: PathBuf,
    pub container: AudioContainer,
    pub size: u64,
    /// The folder's cover picture, if it has one.
    pub cover: Option<PathBuf>,
    /// `NAME.lrc` beside `NAME.ext`.
    pub lyrics: Option<PathBuf>,
}

/// Everything under the folder: audio to import, and the other files
/// (pictures and `.lrc` used beside a track are neither).
#[derive(Debug, Default)]
pub struct Found {
    pub audio: Vec<AudioFile>,
    pub skipped: Vec<PathBuf>,
}

/// How one file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ready {
        track_id: String,
    },
    /// The owner already has these bytes, as this track.
    AlreadyThere {
        track_id: String,
    },
    Failed {
        reason: String,
    },
}

/// What a run did, file by file (in the order they settled).
#[derive(Debug, Default)]
pub struct Summary {
    pub files: Vec<(PathBuf, Outcome)>,
    pub skipped: Vec<PathBuf>,
}

impl Summary {
    pub fn count(&self, pick: fn(&Outcome) -> bool) -> usize {
        self.files.iter().filter(|(_, o)| pick(o)).count()
    }

    pub fn ready(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Ready { .. }))
    }

    pub fn already_there(&self) -> usize {
        self.count(|o| matches!(o, Outcome::AlreadyThere { .. }))
    }

    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed { .. }))
    }

    /// `12 files: 10 ready, 1 already there, 1 failed; 2 skipped (not audio)`
    pub fn tally(&self) -> String {
        format!(
            "{} files: {} ready, {} already there, {} failed; {} skipped (not audio)",
            self.files.len(),
            self.ready(),
            self.already_there(),
            self.failed(),
            self.skipped.len()
        )
    }
}

/// `mist-server import`: connects, runs a worker unless `--no-worker`,
/// imports, prints. Fails (exit 1) when any file failed, after all were tried.
pub async fn command(mut settings: Settings, options: ImportOptions) -> anyhow::Result<()> {
    settings.worker_concurrency = options.jobs.max(1);
    // A second worker in this process must not take the server's metrics port.
    settings.worker_metrics_listen = None;
    let with_worker = settings.run_worker;
    let state = AppState::connect(settings).await?;
    let owner = owner(&state, options.owner.as_deref()).await?;
    let dir = options.dir.clone();
    let found = tokio::task::spawn_blocking(move || collect(&dir))
        .await
        .context("the folder walk stopped")??;
    let bytes: u64 = found.audio.iter().map(|f| f.size).sum();
    eprintln!(
        "importing {} audio files ({}) from {} for {} <{}>{}",
        found.audio.len(),
        crate::http::uploads::human_bytes(bytes),
        options.dir.display(),
        owner.username,
        owner.email,
        if with_worker {
            ""
        } else {
            " (--no-worker: the server's workers process them)"
        }
    );

    let (stop_worker, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = with_worker.then(|| {
        tokio::spawn(crate::worker::run(state.clone(), async move {
            let _ = stopped.await;
        }))
    });
    let console = Console::new(found.audio.len());
    let result = tokio::select! {
        summary = import(&state, &owner, &options.dir, found, options.jobs, &console) => Some(summary),
        () = crate::server::shutdown_signal() => None,
    };
    console.clear();
    // The worker gives back what it holds; the next run or worker takes it up.
    let _ = stop_worker.send(());
    if let Some(worker) = worker {
        match worker.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the import's worker failed"),
            Err(e) => tracing::warn!(error = %e, "the import's worker stopped"),
        }
    }
    state.db.close().await;
    let Some(summary) = result else {
        anyhow::bail!("interrupted: run the same command again to go on (what is imported stays)");
    };
    println!("{}", summary.tally());
    match summary.failed() {
        0 => Ok(()),
        n => anyhow::bail!("{n} of {} files failed (the others are imported)", summary.files.len()),
    }
}

/// The user named by `who` (id, email or username), or the oldest active admin.
pub async fn owner(state: &AppState, who: Option<&str>) -> anyhow::Result<UserRow> {
    match who {
        Some(who) => crate::accounts::find_user(&state.db, who)
            .await
            .with_context(|| format!("no user {who:?} (give an id, email or username)")),
        None => users::first_admin(&state.db).await?.context(
            "no active admin to import for (the first start of the server creates one); name a user with --owner",
        ),
    }
}

/// Imports `found` (from [`collect`]) for `owner`, `jobs` at a time, and
/// reports each file to `console` as it settles. Jobs are processed by
/// whatever workers run (the command starts one).
pub async fn import(
    state: &AppState,
    owner: &UserRow,
    root: &Path,
    found: Found,
    jobs: usize,
    console: &Console,
) -> Summary {
    for path in &found.skipped {
        console.line(&format!("-  skipped (not audio)  {}", shown(root, path)));
    }
    console.redraw();
    let files: Vec<(PathBuf, Outcome)> = futures::stream::iter(found.audio)
        .map(|file| async move {
            let outcome = import_one(state, owner, &file)
                .await
                .unwrap_or_else(|e| Outcome::Failed {
                    reason: format!("{e:#}"),
                });
            console.settled(&outcome, &shown(root, &file.path));
            (file.path, outcome)
        })
        .buffer_unordered(jobs.max(1) * IN_FLIGHT_PER_JOB)
        .collect()
        .await;
    Summary {
        files,
        skipped: found.skipped,
    }
}

/// One file: hash, skip if there, ticket, copy, beside files, complete, wait.
async fn import_one(state: &AppState, owner: &UserRow, file: &AudioFile) -> anyhow::Result<Outcome> {
    let path = file.path.clone();
    let hash = tokio::task::spawn_blocking(move || {
        std::fs::File::open(&path).and_then(|f| mist_core::library::hash::hash_reader(std::io::BufReader::new(f)))
    })
    .await
    .context("hashing stopped")?
    .context("cannot read the file")?
    .to_hex();

    let content_type = file.container.content_type();
    // With the hash announced, bytes the owner already has are refused
    // before anything is copied, as for a client's upload.
    let request = CreateUploadRequest {
        filename: upload_name(&file.path, file.container),
        size: file.size,
        content_type: content_type.to_owned(),
        sha256: Some(hash),
    };
    let user = || AuthUser(owner.clone());
    let ticket = match crate::http::uploads::create(State(state.clone()), user(), ApiJson(request)).await {
        Ok((_, ApiJson(ticket))) => ticket,
        Err(ApiError::Duplicate { existing_track_id }) => {
            return Ok(Outcome::AlreadyThere {
                track_id: existing_track_id,
            });
        }
        Err(ApiError::PayloadTooLarge(why)) => anyhow::bail!("{why}; MIST_MAX_UPLOAD_BYTES raises the limit"),
        Err(other) => anyhow::bail!("{other}"),
    };
    let upload = uploads::find(&state.db, &ticket.upload_id)
        .await?
        .context("the upload ticket vanished")?;
    copy(state, &file.path, &upload.storage_key, content_type, file.size)
        .await
        .map_err(|e| match e {
            StorageError::TooLarge { .. } => anyhow::anyhow!("the file grew while it was copied"),
            other => anyhow::anyhow!("cannot copy it into storage: {other}"),
        })?;
    if let Some(cover) = &file.cover {
        copy_beside(
            state,
            cover,
            &beside::staging_key(&upload.id, beside::COVER),
            MAX_COVER_BYTES,
        )
        .await?;
    }
    if let Some(lyrics) = &file.lyrics {
        copy_beside(
            state,
            lyrics,
            &beside::staging_key(&upload.id, beside::LYRICS),
            beside::MAX_LYRICS_BYTES,
        )
        .await?;
    }
    let (_, ApiJson(done)) = crate::http::uploads::complete(
        State(state.clone()),
        user(),
        ApiPath(upload.id.clone()),
        axum::body::Bytes::new(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    loop {
        let job = jobs::find(&state.db, &done.job_id)
            .await?
            .context("the job vanished (its track was deleted meanwhile)")?
            .to_api();
        match job.status {
            JobStatus::Ready => return Ok(Outcome::Ready { track_id: job.track_id }),
            JobStatus::Failed => {
                return Ok(match job.existing_track_id {
                    Some(track_id) => Outcome::AlreadyThere { track_id },
                    None => Outcome::Failed {
                        reason: job.error.unwrap_or_else(|| "failed".into()),
                    },
                });
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

/// Streams `path` to `key`, at most `size` bytes.
async fn copy(state: &AppState, path: &Path, key: &str, content_type: &str, size: u64) -> Result<u64, StorageError> {
    let file = tokio::fs::File::open(path).await?;
    let body = tokio_util::io::ReaderStream::with_capacity(file, COPY_CHUNK).boxed();
    state.store.put_stream(key, body, content_type, Some(size)).await
}

/// Copies a file found beside the track unless it is over `max` bytes (then
/// the track goes without it, as it would with an oversized tag).
async fn copy_beside(state: &AppState, path: &Path, key: &str, max: usize) -> anyhow::Result<()> {
    match copy(state, path, key, "application/octet-stream", max as u64).await {
        Ok(_) => Ok(()),
        Err(StorageError::TooLarge { .. }) => {
            tracing::info!(file = %path.display(), max, "a file beside the track is too large; not used");
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("cannot copy {} into storage: {e}", path.display())),
    }
}

/// The name the upload gets: the file's own when its extension fits what
/// it holds (the upload routes take audio extensions only), else with the
/// usual one added (`track01` → `track01.mp3`); characters the API refuses
/// in a name (controls, bidi overrides) dropped, and cut to its length.
fn upload_name(path: &Path, container: AudioContainer) -> String {
    let fits: &[&str] = match container {
        AudioContainer::Mp3 => &["mp3"],
        AudioContainer::Flac => &["flac"],
        AudioContainer::Wav => &["wav", "wave"],
        AudioContainer::Ogg => &["ogg", "oga"],
        AudioContainer::Mp4 => &["m4a", "mp4"],
        AudioContainer::Adts => &["aac"],
    };
    let own = path.extension().map(|e| e.to_string_lossy().into_owned());
    let (stem, ext) = match own {
        Some(ext) if fits.contains(&ext.to_ascii_lowercase().as_str()) => (path.file_stem(), ext),
        _ => (path.file_name(), container.extension().to_owned()),
    };
    let stem = stem.map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let room = crate::text::MAX_FILENAME_CHARS - 1 - ext.chars().count();
    let stem = mist_core::text::strip(&stem, room).unwrap_or_else(|| "untitled".to_owned());
    format!("{stem}.{ext}")
}

/// Walks `root` (symbolic links are not followed, so a cycle cannot make it
/// endless), judges each file by content, and pairs audio with its folder's
/// cover and its own `.lrc`. In path order, so runs are repeatable.
pub fn collect(root: &Path) -> anyhow::Result<Found> {
    let meta = std::fs::metadata(root).with_context(|| format!("cannot read {}", root.display()))?;
    if !meta.is_dir() {
        anyhow::bail!("{} is not a folder", root.display());
    }
    let mut found = Found::default();
    let mut dirs = vec![root.to_owned()];
    let mut folders = Vec::new();
    while let Some(dir) = dirs.pop() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
        folders.push((dir, files));
    }
    folders.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, files) in folders {
        collect_folder(files, &mut found)?;
    }
    Ok(found)
}

fn collect_folder(files: Vec<PathBuf>, found: &mut Found) -> anyhow::Result<()> {
    let lower = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default()
    };
    let cover = COVER_NAMES
        .iter()
        .flat_map(|name| COVER_EXTENSIONS.iter().map(move |ext| format!("{name}.{ext}")))
        .find_map(|wanted| files.iter().find(|f| lower(f) == wanted))
        .cloned();
    // `NAME.lrc` by the exact stem, any case of the extension.
    let lyrics: BTreeMap<String, PathBuf> = files
        .iter()
        .filter(|f| crate::storage::extension(&lower(f)).as_deref() == Some("lrc"))
        .filter_map(|f| Some((f.file_stem()?.to_string_lossy().into_owned(), f.clone())))
        .collect();
    let mut used = Vec::new();
    let mut skipped = Vec::new();
    let mut any_audio = false;
    for path in &files {
        let container = match sniff::sniff_file(path) {
            Ok(Some(container)) => container,
            Ok(None) => {
                skipped.push(path.clone());
                continue;
            }
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let lyrics = stem.and_then(|s| lyrics.get(&s).cloned());
        used.extend(lyrics.clone());
        any_audio = true;
        found.audio.push(AudioFile {
            path: path.clone(),
            container,
            size: std::fs::metadata(path)?.len(),
            cover: cover.clone(),
            lyrics,
        });
    }
    if any_audio {
        used.extend(cover);
    }
    found.skipped.extend(skipped.into_iter().filter(|p| !used.contains(p)));
    Ok(())
}

/// A path as the console shows it: under the root, made safe for a terminal.
fn shown(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    mist_core::text::neutralise(&relative.display().to_string()).into_owned()
}

/// The command's output: a line per file on stdout, and on a terminal a
/// running total on stderr, redrawn under the lines.
pub struct Console {
    terminal: bool,
    total: usize,
    counts: Mutex<[usize; 3]>,
}

impl Console {
    pub fn new(total: usize) -> Self {
        Console {
            terminal: std::io::stderr().is_terminal(),
            total,
            counts: Mutex::new([0; 3]),
        }
    }

    /// Prints a line (stdout) above the running total.
    pub fn line(&self, text: &str) {
        self.clear();
        println!("{text}");
        self.draw();
    }

    fn settled(&self, outcome: &Outcome, path: &str) {
        if let Ok(mut counts) = self.counts.lock() {
            let slot = match outcome {
                Outcome::Ready { .. } => 0,
                Outcome::AlreadyThere { .. } => 1,
                Outcome::Failed { .. } => 2,
            };
            counts[slot] += 1;
        }
        let line = match outcome {
            Outcome::Ready { track_id } => format!("{track_id}  ready  {path}"),
            Outcome::AlreadyThere { track_id } => format!("{track_id}  already there  {path}"),
            Outcome::Failed { reason } => format!("-  failed  {path}: {}", one_line(reason)),
        };
        self.line(&mist_core::text::neutralise(&line));
    }

    /// Shows the running total now (before the first file settles).
    pub fn redraw(&self) {
        self.clear();
        self.draw();
    }

    fn draw(&self) {
        if !self.terminal {
            return;
        }
        let [ready, already, failed] = self.counts.lock().map(|c| *c).unwrap_or_default();
        let done = ready + already + failed;
        eprint!(
            "[{done}/{}] {ready} ready, {already} already there, {failed} failed",
            self.total
        );
    }

    /// Removes the running total (before a line, and at the end).
    pub fn clear(&self) {
        if self.terminal {
            eprint!("\r\x1b[K");
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_keep_a_fitting_extension_and_add_one_otherwise() {
        assert_eq!(
            upload_name(Path::new("/a/01 Song.MP3"), AudioContainer::Mp3),
            "01 Song.MP3"
        );
        assert_eq!(
            upload_name(Path::new("/a/track01"), AudioContainer::Flac),
            "track01.flac"
        );
        assert_eq!(upload_name(Path::new("/a/x.mp3"), AudioContainer::Flac), "x.mp3.flac");
        assert_eq!(upload_name(Path::new("/a/x.oga"), AudioContainer::Ogg), "x.oga");
        assert_eq!(
            upload_name(Path::new("/a/bad\u{1b}[31m\u{202e}name.flac"), AudioContainer::Flac),
            "bad[31mname.flac"
        );
        let long = format!("/a/{}.flac", "x".repeat(254));
        let name = upload_name(Path::new(&long), AudioContainer::Flac);
        assert_eq!(name.chars().count(), crate::text::MAX_FILENAME_CHARS);
        assert!(name.ends_with(".flac"));
    }

    #[test]
    fn folders_pair_audio_with_cover_and_lyrics() {
        let dir = tempfile::tempdir().expect("tmp");
        let album = dir.path().join("Album");
        std::fs::create_dir(&album).expect("mkdir");
        // Three valid MPEG-1 Layer III frame headers in a row sniff as MP3.
        let frame = {
            let mut f = vec![0xFF, 0xFB, 0x90, 0x64];
            f.resize(417, 0);
            f
        };
        let mp3: Vec<u8> = frame.iter().copied().cycle().take(417 * 4).collect();
        std::fs::write(album.join("01 One.mp3"), &mp3).expect("write");
        std::fs::write(album.join("01 One.lrc"), "[00:01.00]hi").expect("write");
        std::fs::write(album.join("Folder.JPG"), b"picture").expect("write");
        std::fs::write(album.join("front.png"), b"picture").expect("write");
        std::fs::write(album.join("notes.txt"), b"liner notes").expect("write");
        let found = collect(dir.path()).expect("collect");
        assert_eq!(found.audio.len(), 1, "{found:?}");
        let one = &found.audio[0];
        assert_eq!(one.cover.as_deref(), Some(album.join("Folder.JPG").as_path()));
        assert_eq!(one.lyrics.as_deref(), Some(album.join("01 One.lrc").as_path()));
        assert_eq!(one.container, AudioContainer::Mp3);
        assert_eq!(found.skipped, [album.join("front.png"), album.join("notes.txt")]);
        assert!(collect(&album.join("01 One.mp3")).is_err(), "a file is not a folder");
    }
}
