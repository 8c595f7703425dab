//! Upload → encrypted multi-bitrate HLS, against a real server: formats,
//! playlists, an outside player (ffmpeg), keys, bad input, idempotent
//! completion; and the uploads that used to break it: files far past the
//! duration limit (with an honest and a lying header), workers killed
//! (SIGKILL) or stalled (SIGSTOP) mid-job, a job that kills its worker every
//! time, a track deleted mid-ingest, abandoned tickets, the storage quota,
//! one user's pile of uploads, and the time limit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mist_core::api::{CompleteUploadRequest, CreateUploadRequest, JobStatus, TrackStatus};
use mist_core::client::Client;
use mist_server::testing::audio::{aligned_correlation, constant_flac, convert, decode_mono, generate_wav};
use mist_server::testing::process::{signal, supervised_worker};
use mist_server::testing::upload::{admin_client, upload_file, user_client, wait_for_job};
use mist_server::testing::{Backend, Store, TestApp, TestOptions, spawn_app, spawn_with};
use mist_server::with_pool;
use reqwest::StatusCode;

const JOB_TIMEOUT: Duration = Duration::from_secs(240);

/// A generated source file in `dir`, converted to `ext`.
fn source(dir: &Path, seconds: f64, ext: &str, tags: &[(&str, &str)]) -> PathBuf {
    let wav = dir.join(format!("source-{seconds}.wav"));
    if !wav.exists() {
        generate_wav(&wav, seconds);
    }
    if ext == "wav" && tags.is_empty() {
        return wav;
    }
    let out = dir.join(format!("track-{seconds}.{ext}"));
    convert(&wav, &out, tags);
    out
}

async fn get_text(url: &str) -> (StatusCode, String) {
    let response = reqwest::get(url).await.expect("GET");
    (response.status(), response.text().await.expect("body"))
}

/// Checks the master and media playlists of a ready track; returns the 128k
/// media playlist URL.
async fn check_playlists(master_url: &str, duration_s: f64) -> String {
    let (status, master) = get_text(master_url).await;
    assert_eq!(status, StatusCode::OK);
    let variants: Vec<&str> = master
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert_eq!(variants.len(), 3, "three renditions:\n{master}");
    assert_eq!(master.matches("CODECS=\"mp4a.40.34\"").count(), 3, "{master}");
    for (line, kbps) in master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-STREAM-INF"))
        .zip([64u64, 128, 192])
    {
        let avg: u64 = attr(line, "AVERAGE-BANDWIDTH").parse().expect("AVERAGE-BANDWIDTH");
        let peak: u64 = attr(line, "BANDWIDTH").parse().expect("BANDWIDTH");
        // Honest: about the encoded bitrate (segments carry a small ID3 tag and padding).
        assert!(
            (kbps * 1000..kbps * 1000 * 11 / 10).contains(&avg),
            "{kbps}k average {avg}: {line}"
        );
        assert!(peak >= avg, "{line}");
    }
    let base = master_url.rsplit_once('/').expect("url").0;
    let mut segment_counts = Vec::new();
    for variant in &variants {
        let (status, media) = get_text(&format!("{base}/{variant}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            media.contains("#EXT-X-PLAYLIST-TYPE:VOD") && media.contains("#EXT-X-ENDLIST"),
            "{media}"
        );
        let durations: Vec<f64> = media
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|d| {
                d.trim_end_matches(',')
                    .split(',')
                    .next()
                    .unwrap_or("")
                    .parse()
                    .expect("EXTINF")
            })
            .collect();
        let n = durations.len();
        for (i, d) in durations.iter().enumerate() {
            assert!(i == n - 1 || (5.0..=7.0).contains(d), "segment {i} lasts {d} s");
        }
        let total: f64 = durations.iter().sum();
        assert!(
            (total - duration_s).abs() < 0.2,
            "playlist lasts {total} s, track {duration_s} s"
        );
        // Gapless: what the segments hold beyond the source is recorded, and
        // the source's length (the track's) is what remains.
        let trim = media
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MIST-TRIM:START=1105,END="))
            .unwrap_or_else(|| panic!("no gapless trim:\n{media}"));
        let end: f64 = trim.parse().expect("END");
        assert!(end < 2.0 * 1152.0, "padding {end}");
        let heard_s = total - (1105.0 + end) / 44_100.0;
        assert!(
            (heard_s - duration_s).abs() < 0.002,
            "{heard_s} s heard of {duration_s} s"
        );
        // Keys change at least every 30 s of audio.
        let mut since_key = 0.0;
        let mut keys = 0;
        for line in media.lines() {
            if line.starts_with("#EXT-X-KEY:METHOD=AES-128") {
                assert!(line.contains("/api/v1/tracks/") && line.contains(",IV=0x"), "{line}");
                since_key = 0.0;
                keys += 1;
            } else if let Some(d) = line.strip_prefix("#EXTINF:") {
                since_key += d.trim_end_matches(',').parse::<f64>().unwrap_or(0.0);
                assert!(since_key <= 30.5, "a key covers {since_key} s");
            }
        }
        assert!(keys >= 1);
        segment_counts.push(n);
    }
    assert!(
        segment_counts.windows(2).all(|w| w[0] == w[1]),
        "same boundaries: {segment_counts:?}"
    );
    format!("{base}/{}", variants[1])
}

fn attr<'a>(line: &'a str, name: &str) -> &'a str {
    let needle = format!("{name}=");
    let start = line
        .split([':', ','])
        .find_map(|part| part.strip_prefix(needle.as_str()))
        .unwrap_or("");
    start.trim_matches('"')
}

async fn ingest(client: &Client, path: &Path, meta: CompleteUploadRequest) -> mist_core::api::Track {
    let job_id = upload_file(client, path, meta).await;
    let job = wait_for_job(client, &job_id, JOB_TIMEOUT).await;
    assert_eq!(job.status, JobStatus::Ready, "{job:?}");
    assert_eq!(job.progress, 100);
    let track = client.track(&job.track_id).await.expect("track");
    assert_eq!(track.status, TrackStatus::Ready);
    track
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_three_minute_track_in_four_formats_becomes_hls() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = user_client(&app, "ann").await;
    let dir = tempfile::tempdir().expect("tmp");
    for ext in ["mp3", "flac", "wav", "ogg"] {
        let path = source(dir.path(), 180.0, ext, &[]);
        let track = ingest(&client, &path, CompleteUploadRequest::default()).await;
        assert!((track.duration_s - 180.0).abs() < 0.2, "{ext}: {} s", track.duration_s);
        check_playlists(track.master_url.as_deref().expect("master url"), track.duration_s).await;
    }
}

/// The whole flow on Postgres and S3: the bytes go straight to the bucket
/// with a presigned PUT, and segments come from it by presigned GETs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_s3_upload_plays_in_ffmpeg() {
    let app = spawn_with(TestOptions {
        store: Store::S3,
        ..TestOptions::new(Backend::Postgres)
    })
    .await;
    outside_client_plays(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_local_upload_plays_in_ffmpeg() {
    let app = spawn_app(Backend::Sqlite).await;
    outside_client_plays(&app).await;
}

async fn outside_client_plays(app: &TestApp) {
    let admin = admin_client(app).await;
    let dir = tempfile::tempdir().expect("tmp");
    let wav = source(dir.path(), 40.0, "wav", &[]);
    let flac = source(
        dir.path(),
        40.0,
        "flac",
        &[("title", "Tagged Title"), ("artist", "Tag Artist")],
    );
    // The uploader's album wins; the tags fill the rest.
    let meta = CompleteUploadRequest {
        album: Some("Given Album".into()),
        ..Default::default()
    };
    let track = ingest(&admin, &flac, meta).await;
    assert_eq!(track.title, "Tagged Title");
    assert_eq!(track.artist.as_deref(), Some("Tag Artist"));
    assert_eq!(track.album.as_deref(), Some("Given Album"));
    let master = track.master_url.clone().expect("master url");
    let media_128 = check_playlists(&master, track.duration_s).await;

    // ffmpeg as an outside HLS client, with the bearer token for the keys.
    let token = admin.token().expect("token").to_owned();
    let headers = format!("Authorization: Bearer {token}\r\n");
    let source = decode_mono(wav.to_str().expect("path"), None);
    let played = decode_mono(&master, Some(&headers));
    let duration = played.len() as f64 / 44_100.0;
    assert!((duration - 40.0).abs() < 0.2, "ffmpeg decoded {duration} s of 40 s");
    let rendition = decode_mono(&media_128, Some(&headers));
    let (lag, corr) = aligned_correlation(&source, &rendition, 5_000);
    assert!(
        corr >= 0.9,
        "128k rendition correlates {corr} with the source (lag {lag})"
    );

    // A segment as stored is not audio without its key.
    let (_, media) = get_text(&media_128).await;
    let first_segment = media
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .expect("segment line");
    let segment_url = if first_segment.starts_with("http") {
        first_segment.to_owned()
    } else {
        format!("{}/{first_segment}", media_128.rsplit_once('/').expect("url").0)
    };
    let raw = reqwest::get(&segment_url)
        .await
        .expect("segment")
        .bytes()
        .await
        .expect("bytes");
    assert!(!raw.starts_with(b"ID3"), "segments are stored encrypted");
    let frames = mist_core::audio::decode_bytes(raw.to_vec(), Some("mp3"))
        .map(|d| d.frames())
        .unwrap_or(0);
    assert!(
        frames < 44_100,
        "an encrypted segment decoded to {frames} frames of audio"
    );

    // Keys: 401 without a token, 404 past the end, 16 bytes and no-store otherwise.
    let key_url = |k: i64| format!("{}/api/v1/tracks/{}/keys/{k}", app.base_url, track.id);
    assert_eq!(
        reqwest::get(key_url(0)).await.expect("key").status(),
        StatusCode::UNAUTHORIZED
    );
    let key = reqwest::Client::new()
        .get(key_url(0))
        .bearer_auth(&token)
        .send()
        .await
        .expect("key");
    assert_eq!(key.status(), StatusCode::OK);
    assert_eq!(
        key.headers().get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert_eq!(key.bytes().await.expect("key bytes").len(), 16);
    let past = reqwest::Client::new()
        .get(key_url(99))
        .bearer_auth(&token)
        .send()
        .await
        .expect("key");
    assert_eq!(past.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bad_files_fail_with_a_readable_reason_and_keep_the_original() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = user_client(&app, "bob").await;
    let dir = tempfile::tempdir().expect("tmp");
    let text = dir.path().join("not-music.mp3");
    std::fs::write(&text, "This is a text file, not an MP3.\n".repeat(200)).expect("write");
    let silent = dir.path().join("silence.wav");
    mist_server::testing::audio::run(
        std::process::Command::new("sox")
            .args(["-n", "-r", "44100", "-c", "2"])
            .arg(&silent)
            .args(["trim", "0", "5"]),
    );
    let truncated = dir.path().join("cut.flac");
    let full = source(dir.path(), 20.0, "flac", &[]);
    let bytes = std::fs::read(&full).expect("read");
    std::fs::write(&truncated, &bytes[..200]).expect("write");

    for (path, expect) in [(&text, "not audio"), (&silent, "silence"), (&truncated, "")] {
        let job_id = upload_file(&client, path, CompleteUploadRequest::default()).await;
        let job = wait_for_job(&client, &job_id, JOB_TIMEOUT).await;
        assert_eq!(job.status, JobStatus::Failed, "{path:?}: {job:?}");
        let reason = job.error.clone().unwrap_or_default();
        assert!(reason.to_lowercase().contains(expect), "{path:?}: {reason}");
        assert!(!reason.contains("panicked") && reason.len() < 300, "{reason}");
        let track = client
            .track(&job.track_id)
            .await
            .expect("uploader sees the failed track");
        assert_eq!(track.status, TrackStatus::Failed);
        assert!(track.master_url.is_none());
        // The original is kept; no HLS was published.
        let keys = app
            .state
            .store
            .list(&format!("tracks/{}/", job.track_id))
            .await
            .expect("list");
        assert!(keys.iter().any(|k| k.contains("original.")), "{keys:?}");
        assert!(!keys.iter().any(|k| k.ends_with("master.m3u8")), "{keys:?}");
        let (status, _) = get_text(&format!(
            "{}/media/tracks/{}/hls/master.m3u8",
            app.base_url, job.track_id
        ))
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_oversize_uploads_are_refused_up_front_and_cut_off() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = user_client(&app, "cat").await;
    let sixty_mib = 60 * 1024 * 1024;
    let err = client
        .create_upload(&CreateUploadRequest {
            filename: "big.wav".into(),
            size: sixty_mib,
            content_type: "audio/wav".into(),
            sha256: None,
        })
        .await
        .expect_err("refused up front");
    assert_eq!((err.status(), err.code()), (Some(413), Some("payload_too_large")));
    assert!(err.to_string().contains("52428800"), "{err}");

    let err = client
        .create_upload(&CreateUploadRequest {
            filename: "notes.txt".into(),
            size: 10,
            content_type: "text/plain".into(),
            sha256: None,
        })
        .await
        .expect_err("not audio");
    assert_eq!(err.status(), Some(415));

    // Announce 1 MiB, then send 60 MiB anyway: cut off, nothing kept.
    let ticket = client
        .create_upload(&CreateUploadRequest {
            filename: "liar.wav".into(),
            size: 1024 * 1024,
            content_type: "audio/wav".into(),
            sha256: None,
        })
        .await
        .expect("announce");
    // Announced honestly (Content-Length) it is refused before a byte is
    // read; streamed without a length it is cut off at the announced size.
    // Either way the server may close while the client is still sending, so
    // the client sees a 413 or a broken connection, never a success.
    let err = client
        .put_upload(&ticket, vec![0u8; sixty_mib as usize])
        .await
        .expect_err("refused");
    assert!(err.status() == Some(413) || err.status().is_none(), "{err}");
    let chunks = futures::stream::iter((0..60).map(|_| Ok::<_, std::io::Error>(vec![0u8; 1024 * 1024])));
    let err = client
        .put_upload(&ticket, reqwest::Body::wrap_stream(chunks))
        .await
        .expect_err("cut off");
    assert!(err.status() == Some(413) || err.status().is_none(), "{err}");
    let err = client
        .complete_upload(&ticket.upload_id, &CompleteUploadRequest::default())
        .await
        .expect_err("nothing there");
    assert_eq!(err.code(), Some("upload_incomplete"));
    assert!(app.state.store.list("tracks/").await.expect("list").is_empty());

    // Another user can neither send to nor complete this upload.
    let other = user_client(&app, "dog").await;
    let err = other
        .complete_upload(&ticket.upload_id, &CompleteUploadRequest::default())
        .await
        .expect_err("not theirs");
    assert_eq!(err.status(), Some(404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_completing_twice_makes_one_job_and_one_track() {
    let app = spawn_app(Backend::Postgres).await;
    let client = user_client(&app, "eve").await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = source(dir.path(), 8.0, "wav", &[]);
    let bytes = std::fs::read(&path).expect("read");
    let ticket = client
        .create_upload(&CreateUploadRequest {
            filename: "twice.wav".into(),
            size: bytes.len() as u64,
            content_type: "audio/wav".into(),
            sha256: None,
        })
        .await
        .expect("announce");
    client.put_upload(&ticket, bytes).await.expect("send");
    let nothing = CompleteUploadRequest::default();
    let completions = (0..6).map(|_| client.complete_upload(&ticket.upload_id, &nothing));
    let jobs: Vec<String> = futures::future::join_all(completions)
        .await
        .into_iter()
        .map(|r| r.expect("complete").job_id)
        .collect();
    assert!(jobs.windows(2).all(|w| w[0] == w[1]), "{jobs:?}");
    let job = wait_for_job(&client, &jobs[0], JOB_TIMEOUT).await;
    assert_eq!(job.status, JobStatus::Ready);
    let again = client
        .complete_upload(&ticket.upload_id, &CompleteUploadRequest::default())
        .await
        .expect("again");
    assert_eq!(again.job_id, jobs[0]);
    assert_eq!(mist_server::db::jobs::count(&app.state.db).await.expect("count"), 1);
    assert_eq!(mist_server::db::tracks::count(&app.state.db).await.expect("count"), 1);

    // Only the owner (or an admin) sees the job.
    let other = user_client(&app, "fay").await;
    assert_eq!(other.job(&jobs[0]).await.expect_err("not theirs").status(), Some(404));
    assert_eq!(admin_client(&app).await.job(&jobs[0]).await.expect("admin").id, jobs[0]);
}

/// A real `mist-server worker` process is killed with SIGKILL mid-job; a
/// second one takes the job over when the lease runs out and finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_worker_killed_mid_job_is_replaced() {
    let app = spawn_with(TestOptions {
        worker: false,
        tweak: |s| s.job_lease_secs = 2,
        ..TestOptions::new(Backend::Sqlite)
    })
    .await;
    let client = user_client(&app, "gil").await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = source(dir.path(), 240.0, "flac", &[]);
    let job_id = upload_file(&client, &path, CompleteUploadRequest::default()).await;

    let spawn_worker = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mist-server"))
            .arg("worker")
            .arg("--data-dir")
            .arg(&app.settings.data_dir)
            .env("MIST_JWT_SECRET", "test-jwt-secret-that-is-long-enough-0123")
            .env(
                "MIST_MASTER_KEY",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            )
            .env("MIST_JOB_LEASE_SECS", "2")
            .env("MIST_WORKER_POLL_MS", "50")
            .env("MIST_PUBLIC_URL", &app.base_url)
            .env_remove("DATABASE_URL")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn worker")
    };
    let mut first = spawn_worker();
    // Wait until it is working on the job, then kill it without warning.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let job = client.job(&job_id).await.expect("job");
        if job.status == JobStatus::Processing {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the worker never claimed the job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().expect("kill");
    let _ = first.wait();
    let stalled = client.job(&job_id).await.expect("job");
    assert_eq!(
        stalled.status,
        JobStatus::Processing,
        "the dead worker's claim stands until its lease ends"
    );

    let mut second = spawn_worker();
    let job = wait_for_job(&client, &job_id, JOB_TIMEOUT).await;
    let _ = second.kill();
    let _ = second.wait();
    assert_eq!(job.status, JobStatus::Ready, "{job:?}");
    let row = mist_server::db::jobs::find(&app.state.db, &job_id)
        .await
        .expect("db")
        .expect("job row");
    assert!(row.attempts >= 2, "taken over: {} attempts", row.attempts);
    assert_eq!(mist_server::db::tracks::count(&app.state.db).await.expect("count"), 1);
    let track = client.track(&job.track_id).await.expect("track");
    assert!((track.duration_s - 240.0).abs() < 0.2);
}

/// The series operators watch, read after an upload and a playback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_metrics_show_requests_jobs_transcodes_and_quota_refusals() {
    let app = spawn_with(TestOptions {
        tweak: |s| s.free_daily_seconds = 5,
        ..TestOptions::new(Backend::Sqlite)
    })
    .await;
    let client = user_client(&app, "max").await;
    let dir = tempfile::tempdir().expect("tmp");
    let track = ingest(
        &client,
        &source(dir.path(), 10.0, "wav", &[]),
        CompleteUploadRequest::default(),
    )
    .await;
    client.open_session(&track.id).await.expect("session");
    // The first key unlocks ~6 s: more than the 5 s a day allows.
    client.key(&track.id, 0).await.expect("key");
    let refused = client.open_session(&track.id).await.expect_err("quota of 5 s is spent");
    assert_eq!(refused.code(), Some("quota_exceeded"));

    let metrics = app.metrics().await;
    for series in [
        "mist_http_requests_total{",
        "mist_http_request_duration_seconds_bucket{",
        "mist_jobs{status=\"queued\"}",
        "mist_jobs{status=\"failed\"}",
        "mist_jobs_total{kind=\"ingest\",result=\"ready\"}",
        "mist_job_duration_seconds_count{kind=\"ingest\"}",
        // apalis's own, from its Prometheus layer.
        "tasks_total{",
        "task_duration_seconds_count{",
        "mist_quota_refusals_total",
        "mist_playback_sessions_total",
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics:\n{metrics}");
    }
    let refusals = metrics
        .lines()
        .find(|l| l.starts_with("mist_quota_refusals_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .expect("refusal count");
    assert!(refusals >= 1.0);
}

/// S3 with Postgres, the local store with SQLite: the two deployments.
fn store_for(backend: Backend) -> Store {
    match backend {
        Backend::Sqlite => Store::Local,
        Backend::Postgres => Store::S3,
    }
}

/// The supervised worker process, as `mist-server` runs it.
fn worker_process() -> Option<PathBuf> {
    Some(PathBuf::from(env!("CARGO_BIN_EXE_mist-server")))
}

/// Polls `check` every 100 ms until it holds; fails after `timeout`.
async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < timeout, "{what}: still not so after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn objects(app: &TestApp, track_id: &str) -> Vec<String> {
    app.state
        .store
        .list(&format!("tracks/{track_id}/"))
        .await
        .expect("list")
}

async fn job_row(app: &TestApp, job_id: &str) -> mist_server::db::jobs::JobRow {
    mist_server::db::jobs::find(&app.state.db, job_id)
        .await
        .expect("db")
        .expect("job row")
}

/// Rows that mention a track, in every table that can.
async fn rows_about(app: &TestApp, track_id: &str) -> i64 {
    with_pool!(&app.state.db, pool => {
        sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT COUNT(*) FROM tracks WHERE id = $1) + \
             (SELECT COUNT(*) FROM ingest_jobs WHERE track_id = $1) + \
             (SELECT COUNT(*) FROM uploads WHERE track_id = $1) + \
             (SELECT COUNT(*) FROM track_keys WHERE track_id = $1) + \
             (SELECT COUNT(*) FROM track_features WHERE track_id = $1)",
        )
        .bind(track_id)
        .fetch_one(pool)
        .await
    })
    .expect("count rows")
}

/// A value of the API's `/metrics` (the worker process's series included).
async fn metric(app: &TestApp, name: &str) -> Option<f64> {
    let text = app.metrics().await;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Every segment of every rendition, fetched as a player would, decrypts
/// with the key its playlist names into a segment that starts with the ID3
/// timestamp and decodes on its own. Returns the number of segments checked.
async fn every_segment_decrypts(app: &TestApp, client: &Client, track: &mist_core::api::Track) -> usize {
    let master = track.master_url.clone().expect("master url");
    let (status, text) = get_text(&master).await;
    assert_eq!(status, StatusCode::OK);
    let base = master.rsplit_once('/').expect("url").0.to_owned();
    let mut checked = 0;
    for variant in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let media_url = format!("{base}/{variant}");
        let (_, media) = get_text(&media_url).await;
        let dir = media_url.rsplit_once('/').expect("url").0.to_owned();
        let mut key: Option<(Vec<u8>, [u8; 16])> = None;
        for line in media.lines() {
            if line.starts_with("#EXT-X-KEY:") {
                let uri = line
                    .split("URI=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .expect("key URI");
                let k: u64 = uri.rsplit('/').next().and_then(|k| k.parse().ok()).expect("key index");
                let iv = hex_iv(line.split("IV=").nth(1).expect("IV").split(',').next().unwrap_or(""));
                key = Some((client.key(&track.id, k).await.expect("key"), iv));
            } else if !line.starts_with('#') && !line.is_empty() {
                let url = if line.starts_with("http") {
                    line.to_owned()
                } else {
                    format!("{dir}/{line}")
                };
                let data = reqwest::get(&url).await.expect("segment").bytes().await.expect("bytes");
                let (k, iv) = key.as_ref().expect("a key before the first segment");
                let k: [u8; 16] = k.as_slice().try_into().expect("16-byte key");
                let clear = mist_core::crypto::decrypt_segment(&k, iv, &data)
                    .unwrap_or_else(|e| panic!("{url}: the key does not decrypt the segment: {e}"));
                assert!(clear.starts_with(b"ID3"), "{url}: not a segment after decryption");
                let audio = mist_core::audio::decode_bytes(clear, Some("mp3")).expect("segment decodes alone");
                assert!(audio.frames() > 44_100, "{url}: {} frames", audio.frames());
                checked += 1;
            }
        }
    }
    let _ = app;
    checked
}

fn hex_iv(text: &str) -> [u8; 16] {
    let digits = text.trim_start_matches("0x").trim_start_matches("0X");
    let bytes = hex::decode(digits).expect("hex IV");
    bytes.try_into().expect("16-byte IV")
}

mist_server::on_both!(
    files_far_past_the_duration_limit_fail_and_the_worker_stays_small,
    a_worker_killed_mid_job_finishes_it_on_restart_with_one_track,
    a_job_that_kills_its_worker_every_time_fails_after_n_attempts,
    a_stalled_worker_never_leaves_keys_that_do_not_decrypt_the_segments,
    deleting_a_track_mid_ingest_leaves_no_object_and_no_row,
    abandoned_tickets_and_old_failures_are_collected,
    the_storage_quota_refuses_the_upload_that_would_pass_it,
    one_users_pile_of_uploads_does_not_starve_another_user,
    jobs_without_a_queue_task_get_one_when_a_worker_starts,
);

/// A 434 KB FLAC holding ten hours (its header says so) is refused before a
/// sample is decoded; one whose header claims a minute is stopped when what
/// it decodes passes the limit. The server answers throughout, nothing but
/// the originals is left, and the worker process stays small.
async fn files_far_past_the_duration_limit_fail_and_the_worker_stays_small(backend: Backend) {
    let app = spawn_with(TestOptions {
        store: store_for(backend),
        worker_exe: worker_process(),
        tweak: |s| s.max_duration_secs = 300,
        ..TestOptions::new(backend)
    })
    .await;
    let client = user_client(&app, "lia").await;
    let dir = tempfile::tempdir().expect("tmp");
    let honest = dir.path().join("ten-hours.flac");
    std::fs::write(&honest, constant_flac(36_000.0, None)).expect("write");
    let lying = dir.path().join("a-minute-they-say.flac");
    std::fs::write(&lying, constant_flac(36_000.0, Some(60.0))).expect("write");
    assert!(std::fs::metadata(&lying).expect("size").len() < 500_000);

    for (path, expect) in [
        (
            &honest,
            "its header announces 10 h 00 min of audio; the limit is 5 min 00 s",
        ),
        (&lying, "it runs past the limit of 5 min 00 s"),
    ] {
        let job_id = upload_file(&client, path, CompleteUploadRequest::default()).await;
        let job = wait_for_job(&client, &job_id, JOB_TIMEOUT).await;
        assert_eq!(job.status, JobStatus::Failed, "{path:?}: {job:?}");
        let reason = job.error.clone().unwrap_or_default();
        assert!(reason.starts_with("the audio is too long"), "{reason}");
        assert!(reason.contains(expect), "{path:?}: {reason}");
        let health = reqwest::get(app.url("/healthz")).await.expect("healthz");
        assert_eq!(health.status(), StatusCode::OK);
        let left = objects(&app, &job.track_id).await;
        assert!(
            left.len() == 1 && left[0].contains("original."),
            "only the original stays: {left:?}"
        );
    }
    // Five minutes decoded, encoded and analysed before the lie was caught;
    // holding them would take hundreds of megabytes, the ten hours gigabytes.
    let peak = metric(&app, "mist_worker_peak_resident_bytes")
        .await
        .expect("worker peak memory");
    assert!(
        peak < 200.0 * 1024.0 * 1024.0,
        "worker peak RSS {} MiB",
        peak / 1048576.0
    );
}

/// The supervised worker process is killed (SIGKILL) mid-job: the API keeps
/// answering, the server starts a new worker, which finishes the job: one
/// track, and nothing of the dead attempt left in storage.
async fn a_worker_killed_mid_job_finishes_it_on_restart_with_one_track(backend: Backend) {
    let app = spawn_with(TestOptions {
        store: store_for(backend),
        worker_exe: worker_process(),
        tweak: |s| s.job_lease_secs = 2,
        ..TestOptions::new(backend)
    })
    .await;
    let client = user_client(&app, "kim").await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = source(dir.path(), 120.0, "wav", &[]);
    let job_id = upload_file(&client, &path, CompleteUploadRequest::default()).await;
    eventually("the job is well under way", Duration::from_secs(60), || async {
        let job = client.job(&job_id).await.expect("job");
        job.status == JobStatus::Processing && job.progress >= 15
    })
    .await;
    let first = supervised_worker(&app.settings.data_dir, Duration::from_secs(5)).await;
    signal(first, "KILL");
    let health = reqwest::get(app.url("/healthz"))
        .await
        .expect("healthz while the worker is down");
    assert_eq!(health.status(), StatusCode::OK);

    let job = wait_for_job(&client, &job_id, JOB_TIMEOUT).await;
    assert_eq!(job.status, JobStatus::Ready, "{job:?}");
    assert_ne!(
        supervised_worker(&app.settings.data_dir, Duration::from_secs(5)).await,
        first,
        "a new worker process"
    );
    assert_eq!(
        job_row(&app, &job_id).await.attempts,
        2,
        "one attempt died, one finished"
    );
    assert_eq!(mist_server::db::tracks::count(&app.state.db).await.expect("count"), 1);
    let ready = mist_server::db::tracks::find_playable(&app.state.db, &job.track_id)
        .await
        .expect("db")
        .expect("ready")
        .hls_dir();
    // The ready attempt removes the dead one's files just after it commits.
    eventually("the dead attempt's files are gone", Duration::from_secs(30), || async {
        objects(&app, &job.track_id)
            .await
            .iter()
            .all(|k| k.contains("original.") || k.starts_with(&ready))
    })
    .await;
    let track = client.track(&job.track_id).await.expect("track");
    assert!((track.duration_s - 120.0).abs() < 0.2, "{}", track.duration_s);
}

/// A job whose every attempt ends with its worker process killed — as a file
/// that crashes the decoder or exhausts memory would — fails after its
/// attempts are used up, with a reason, instead of being taken up for ever;
/// the API answers all along.
async fn a_job_that_kills_its_worker_every_time_fails_after_n_attempts(backend: Backend) {
    let app = spawn_with(TestOptions {
        store: store_for(backend),
        worker_exe: worker_process(),
        tweak: |s| {
            s.job_lease_secs = 2;
            s.job_max_attempts = 2;
        },
        ..TestOptions::new(backend)
    })
    .await;
    let client = user_client(&app, "pip").await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = source(dir.path(), 120.0, "wav", &[]);
    let job_id = upload_file(&client, &path, CompleteUploadRequest::default()).await;
    // The API is asked every 100 ms all along.
    let answers = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let probe = {
        let (url, answers) = (app.url("/healthz"), answers.clone());
        tokio::spawn(async move {
            loop {
                match reqwest::get(&url).await {
                    Ok(r) if r.status() == StatusCode::OK => answers.0.fetch_add(1, Ordering::Relaxed),
                    _ => answers.1.fetch_add(1, Ordering::Relaxed),
                };
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    for attempt in 1..=2 {
        eventually(&format!("attempt {attempt} runs"), Duration::from_secs(60), || async {
            let row = job_row(&app, &job_id).await;
            row.status == "processing" && row.attempts == attempt
        })
        .await;
        signal(
            supervised_worker(&app.settings.data_dir, Duration::from_secs(10)).await,
            "KILL",
        );
    }
    let job = wait_for_job(&client, &job_id, JOB_TIMEOUT).await;
    assert_eq!(job.status, JobStatus::Failed, "{job:?}");
    let reason = job.error.unwrap_or_default();
    assert!(
        reason.starts_with("gave up after 2 attempts: the worker stopped while processing this file"),
        "{reason}"
    );
    assert_eq!(
        job_row(&app, &job_id).await.attempts,
        3,
        "the third claim gave up at once"
    );
    probe.abort();
    let (ok, failed) = (answers.0.load(Ordering::Relaxed), answers.1.load(Ordering::Relaxed));
    assert!(
        ok > 20 && failed == 0,
        "the API answered {ok} times and failed {failed} times"
    );
    let track = client.track(&job.track_id).await.expect("track");
    assert_eq!(track.status, TrackStatus::Failed);
}

/// Two worker processes; the one holding the job is frozen (SIGSTOP) past its
/// lease, the other takes the job over and finishes it, then the first is let
/// go (SIGCONT) and carries on where it was. Whatever it writes, the ready
/// track's keys decrypt every one of its segments, and the stalled attempt's
/// files are gone once it notices.
async fn a_stalled_worker_never_leaves_keys_that_do_not_decrypt_the_segments(backend: Backend) {
    let app = spawn_with(TestOptions {
        store: store_for(backend),
        worker: false,
        tweak: |s| s.job_lease_secs = 2,
        ..TestOptions::new(backend)
    })
    .await;
    let admin = admin_client(&app).await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = source(dir.path(), 60.0, "wav", &[]);
    let job_id = upload_file(&admin, &path, CompleteUploadRequest::default()).await;
    let settings = app.settings.clone();
    let spawn_worker = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mist-server"));
        command.arg("worker");
        for (name, _) in std::env::vars_os() {
            let setting = name.to_str().is_some_and(|n| {
                n.starts_with("MIST_") || mist_server::config::INHERITED_SETTING_VARIABLES.contains(&n)
            });
            if setting {
                command.env_remove(name);
            }
        }
        command
            .envs(settings.child_env())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn worker")
    };
    let mut stalled = spawn_worker();
    eventually("the first worker is under way", Duration::from_secs(60), || async {
        let row = job_row(&app, &job_id).await;
        row.status == "processing" && row.progress >= 20
    })
    .await;
    // Freeze it just after a renewal, so it holds no database lock.
    let seen = job_row(&app, &job_id).await.updated_at;
    eventually("a renewal", Duration::from_secs(10), || async {
        job_row(&app, &job_id).await.updated_at != seen
    })
    .await;
    let last = job_row(&app, &job_id).await;
    signal(stalled.id(), "STOP");
    let mut other = spawn_worker();
    let job = wait_for_job(&admin, &job_id, JOB_TIMEOUT).await;
    signal(stalled.id(), "CONT");
    assert_eq!(job.status, JobStatus::Ready, "{job:?}");
    let row = job_row(&app, &job_id).await;
    assert_eq!(row.attempts, 2);
    assert_ne!(row.worker_id, last.worker_id, "the other worker finished it");

    let ready = mist_server::db::tracks::find_playable(&app.state.db, &job.track_id)
        .await
        .expect("db")
        .expect("ready")
        .hls_dir();
    eventually(
        "the stalled attempt removed its files",
        Duration::from_secs(30),
        || async {
            objects(&app, &job.track_id)
                .await
                .iter()
                .all(|k| k.contains("original.") || k.starts_with(&ready))
        },
    )
    .await;
    let track = admin.track(&job.track_id).await.expect("track");
    let segments = every_segment_decrypts(&app, &admin, &track).await;
    assert_eq!(segments, 3 * 10, "three renditions of ten segments");
    let _ = stalled.kill();
    let _ = other.kill();
    let _ = stalled.wait();
    let _ = other.wait();
}

/// A track deleted while its ingest runs: the job stops, and neither an
/// object nor a row of it is left, even of segments written after the delete.
async fn deleting_a_track_mid_ingest_leaves_no_object_and_no_row(backend: Backend) {
    let app = spawn_with(TestOptions {
        store: store_for(backend),
        tweak: |s| s.job_lease_secs = 3,
        ..TestOptions::new(backend)
    })
    .await;
    let client = user_client(&app, "dee").await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = source(dir.path(), 120.0, "wav", &[]);
    let job_id = upload_file(&client, &path, CompleteUploadRequest::default()).await;
    let track_id = client.job(&job_id).await.expect("job").track_id;
    eventually("segments are being stored", Duration::from_secs(60), || async {
        let job = client.job(&job_id).await.expect("job");
        job.progress >= 30 && objects(&app, &track_id).await.iter().any(|k| k.ends_with(".mp3"))
    })
    .await;
    client.delete_track(&track_id).await.expect("delete");
    // The job may still store a segment or two before it notices; then it
    // removes them. Nothing is left once it has, and nothing comes back.
    let start = std::time::Instant::now();
    loop {
        let clean = objects(&app, &track_id).await.is_empty() && rows_about(&app, &track_id).await == 0;
        if clean {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            if objects(&app, &track_id).await.is_empty() && rows_about(&app, &track_id).await == 0 {
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "left behind: {:?}, {} rows",
            objects(&app, &track_id).await,
            rows_about(&app, &track_id).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(objects(&app, &track_id).await, Vec::<String>::new());
    assert_eq!(rows_about(&app, &track_id).await, 0);
    assert_eq!(client.job(&job_id).await.expect_err("gone").status(), Some(404));
}

/// An upload ticket nobody completes is collected with its bytes well after
/// it expired; a failed track's original is kept for the retention time,
/// then collected with the track.
async fn abandoned_tickets_and_old_failures_are_collected(backend: Backend) {
    let app = spawn_with(TestOptions {
        store: store_for(backend),
        // This test sweeps when it says so.
        tweak: |s| s.sweep_interval_secs = 86_400,
        ..TestOptions::new(backend)
    })
    .await;
    let client = user_client(&app, "abe").await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = source(dir.path(), 2.0, "wav", &[]);
    let bytes = std::fs::read(&path).expect("read");
    let ticket = client
        .create_upload(&CreateUploadRequest {
            filename: "forgotten.wav".into(),
            size: bytes.len() as u64,
            content_type: "audio/wav".into(),
            sha256: None,
        })
        .await
        .expect("announce");
    client.put_upload(&ticket, bytes).await.expect("send");
    let upload = mist_server::db::uploads::find(&app.state.db, &ticket.upload_id)
        .await
        .expect("db")
        .expect("upload row");
    let text = dir.path().join("not-music.mp3");
    std::fs::write(&text, "not music\n".repeat(500)).expect("write");
    let failed = wait_for_job(
        &client,
        &upload_file(&client, &text, CompleteUploadRequest::default()).await,
        JOB_TIMEOUT,
    )
    .await;
    assert_eq!(failed.status, JobStatus::Failed);

    let sweep = || mist_server::worker::sweep::sweep(&app.state);
    assert_eq!(sweep().await.expect("sweep"), Default::default(), "nothing is old yet");
    // An uncompleted ticket's bytes wait at its staging key.
    let staged = || async { app.state.store.head(&upload.storage_key).await.expect("head").is_some() };
    assert!(staged().await, "the ticket's bytes are kept while it may be completed");
    // The ticket (1 h) and the grace after it have passed.
    app.state.clock.advance(Duration::from_secs(4 * 3600));
    let swept = sweep().await.expect("sweep");
    assert_eq!((swept.tickets, swept.failed_tracks), (1, 0));
    assert!(!staged().await, "the abandoned ticket's bytes are collected");
    assert!(objects(&app, &upload.track_id).await.is_empty());
    assert!(
        mist_server::db::uploads::find(&app.state.db, &ticket.upload_id)
            .await
            .expect("db")
            .is_none()
    );
    let err = client
        .complete_upload(&ticket.upload_id, &CompleteUploadRequest::default())
        .await
        .expect_err("collected");
    assert_eq!(err.status(), Some(404));
    // The failure is kept a week by default.
    assert_eq!(
        objects(&app, &failed.track_id).await.len(),
        1,
        "the failed original is kept"
    );
    app.state.clock.advance(Duration::from_secs(7 * 24 * 3600));
    let swept = sweep().await.expect("sweep");
    assert_eq!((swept.tickets, swept.failed_tracks), (0, 1));
    assert!(objects(&app, &failed.track_id).await.is_empty());
    assert_eq!(rows_about(&app, &failed.track_id).await, 0);
}

/// Free accounts store at most their quota of originals: the ticket that
/// would pass it is refused before a byte is sent (422, with the figures);
/// two announced at once cannot both slip under it; deleting frees room;
/// admins have no limit.
async fn the_storage_quota_refuses_the_upload_that_would_pass_it(backend: Backend) {
    let app = spawn_with(TestOptions {
        store: store_for(backend),
        tweak: |s| s.storage_quota_free_bytes = 300_000,
        ..TestOptions::new(backend)
    })
    .await;
    let client = user_client(&app, "quo").await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = source(dir.path(), 1.1, "wav", &[]);
    let size = std::fs::metadata(&path).expect("size").len();
    assert!((150_000..250_000).contains(&size), "{size}");
    let job = wait_for_job(
        &client,
        &upload_file(&client, &path, CompleteUploadRequest::default()).await,
        JOB_TIMEOUT,
    )
    .await;
    assert_eq!(job.status, JobStatus::Ready);

    let announce = |client: Client, size: u64| async move {
        client
            .create_upload(&CreateUploadRequest {
                filename: "more.wav".into(),
                size,
                content_type: "audio/wav".into(),
                sha256: None,
            })
            .await
    };
    let err = announce(client.clone(), 150_000).await.expect_err("past the quota");
    assert_eq!((err.status(), err.code()), (Some(422), Some("storage_quota_exceeded")));
    assert!(err.to_string().contains("293.0 KiB storage quota"), "{err}");
    // Room for one more 60 kB file, not two: announced together, one wins.
    let both = futures::future::join(announce(client.clone(), 60_000), announce(client.clone(), 60_000)).await;
    assert_eq!(
        [both.0.is_ok(), both.1.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{both:?}"
    );
    // Admins have no limit.
    announce(admin_client(&app).await, 40 * 1024 * 1024)
        .await
        .expect("admin");
    // A deleted track frees its bytes.
    client.delete_track(&job.track_id).await.expect("delete");
    announce(client.clone(), 150_000).await.expect("room again");
}

/// One user completes three uploads, then another user one: the other
/// user's job runs second, not last.
async fn one_users_pile_of_uploads_does_not_starve_another_user(backend: Backend) {
    let app = spawn_with(TestOptions {
        worker: false,
        ..TestOptions::new(backend)
    })
    .await;
    let (busy, other) = (user_client(&app, "bus").await, user_client(&app, "oth").await);
    let dir = tempfile::tempdir().expect("tmp");
    let path = source(dir.path(), 1.0, "wav", &[]);
    let mut busy_jobs = Vec::new();
    // Different bytes each time: the same file twice is a duplicate.
    for seconds in [1.0, 1.1, 1.2] {
        let path = source(dir.path(), seconds, "wav", &[]);
        busy_jobs.push(upload_file(&busy, &path, CompleteUploadRequest::default()).await);
    }
    let other_job = upload_file(&other, &path, CompleteUploadRequest::default()).await;
    let mut order = Vec::new();
    loop {
        match mist_server::worker::try_execute_task(&app.state).await.expect("step") {
            mist_server::worker::Outcome::Ready(job) => order.push(job),
            mist_server::worker::Outcome::Idle => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(order.len(), 4, "{order:?}");
    // Among the first two (the first jobs of both users tie), before the
    // busy user's second and third.
    let at = order.iter().position(|j| *j == other_job).expect("ran");
    assert!(at < 2, "the other user's job ran {}th: {order:?}", at + 1);
    assert_eq!(order[2..], [busy_jobs[1].clone(), busy_jobs[2].clone()]);
}

/// A job that runs past the time limit fails with a reason, and what it
/// wrote is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_job_past_its_time_limit_fails() {
    let app = spawn_with(TestOptions {
        tweak: |s| s.job_timeout_secs = 1,
        ..TestOptions::new(Backend::Sqlite)
    })
    .await;
    let client = user_client(&app, "tim").await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = source(dir.path(), 240.0, "flac", &[]);
    let job = wait_for_job(
        &client,
        &upload_file(&client, &path, CompleteUploadRequest::default()).await,
        JOB_TIMEOUT,
    )
    .await;
    assert_eq!(job.status, JobStatus::Failed);
    let reason = job.error.unwrap_or_default();
    assert!(
        reason.starts_with("processing took longer than the limit of 1 s"),
        "{reason}"
    );
    let left = objects(&app, &job.track_id).await;
    assert!(left.len() == 1 && left[0].contains("original."), "{left:?}");
}

/// A job whose queue task is missing (queued before the queue moved to
/// apalis, or copied by `migrate-to`, which copies our tables only) gets one
/// when a worker starts, once, and runs.
async fn jobs_without_a_queue_task_get_one_when_a_worker_starts(backend: Backend) {
    let app = spawn_with(TestOptions {
        worker: false,
        ..TestOptions::new(backend)
    })
    .await;
    let client = user_client(&app, "old").await;
    let dir = tempfile::tempdir().expect("tmp");
    let job_id = upload_file(
        &client,
        &source(dir.path(), 1.0, "wav", &[]),
        CompleteUploadRequest::default(),
    )
    .await;
    let db = &app.state.db;
    assert_eq!(
        mist_server::db::jobs::requeue_lost_tasks(db).await.expect("requeue"),
        0,
        "it has one"
    );
    let sql = match backend {
        Backend::Sqlite => "DELETE FROM Jobs",
        Backend::Postgres => "DELETE FROM apalis.jobs",
    };
    with_pool!(db, pool => sqlx::query(sql).execute(pool).await.map(|_| ())).expect("forget the task");
    assert_eq!(
        mist_server::worker::try_execute_task(&app.state).await.expect("step"),
        mist_server::worker::Outcome::Idle,
        "nothing to run without a task"
    );
    assert_eq!(mist_server::db::jobs::requeue_lost_tasks(db).await.expect("requeue"), 1);
    assert_eq!(mist_server::db::jobs::requeue_lost_tasks(db).await.expect("requeue"), 0);
    assert_eq!(
        mist_server::worker::try_execute_task(&app.state).await.expect("step"),
        mist_server::worker::Outcome::Ready(job_id)
    );
}

/// The music library from real tagged files: albums, artists, covers,
/// lyrics, loudness, duplicates and a hostile cover.
mod library {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use mist_core::api::{AlbumDetail, ArtistDetail, CompleteUploadRequest, JobStatus, Lyrics, Page, SearchResults};
    use mist_core::client::Client;
    use mist_server::testing::audio::run;
    use mist_server::testing::upload::{upload_file, user_client, wait_for_job};
    use mist_server::testing::{Backend, TestOptions, spawn_app, spawn_with};
    use reqwest::{Method, StatusCode};

    use mist_server::import::{Console, Outcome, Summary};

    use super::{JOB_TIMEOUT, ingest};

    /// A stereo 44.1 kHz sine of `seconds` at `gain_db`.
    fn sine(dir: &Path, name: &str, freq: u32, seconds: f64, gain_db: f64) -> PathBuf {
        let out = dir.join(format!("{name}.wav"));
        run(Command::new("sox")
            .args(["-n", "-r", "44100", "-b", "16", "-c", "2"])
            .arg(&out)
            .args([
                "synth",
                &seconds.to_string(),
                "sine",
                &freq.to_string(),
                "gain",
                &gain_db.to_string(),
            ]));
        out
    }

    /// A 640 × 480 test picture.
    fn cover_png(dir: &Path) -> PathBuf {
        let out = dir.join("cover.png");
        run(Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=640x480",
                "-frames:v",
                "1",
            ])
            .arg(&out));
        out
    }

    /// `wav` encoded to `out` (by its extension) with `tags`, and `picture`
    /// as the attached front cover (ID3v2.3 APIC in MP3, PICTURE in FLAC).
    fn tagged(wav: &Path, picture: Option<&Path>, out: &Path, tags: &[(&str, &str)]) {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-v", "error", "-y", "-i"]).arg(wav);
        if let Some(picture) = picture {
            cmd.arg("-i").arg(picture).args([
                "-map",
                "0",
                "-map",
                "1",
                "-c:v",
                "copy",
                "-disposition:v",
                "attached_pic",
            ]);
        }
        for (k, v) in tags {
            cmd.arg("-metadata").arg(format!("{k}={v}"));
        }
        match out.extension().and_then(|e| e.to_str()) {
            Some("mp3") => cmd.args(["-c:a", "libmp3lame", "-b:a", "192k", "-id3v2_version", "3"]),
            _ => cmd.args(["-c:a", "flac"]),
        };
        run(cmd.arg(out));
    }

    /// ffmpeg's `ebur128` integrated loudness of a file, in LUFS.
    fn reference_lufs(path: &Path) -> f64 {
        let out = Command::new("ffmpeg")
            .args(["-nostats", "-hide_banner", "-i"])
            .arg(path)
            .args(["-filter_complex", "ebur128", "-f", "null", "-"])
            .output()
            .expect("ffmpeg");
        let log = String::from_utf8_lossy(&out.stderr);
        log.lines()
            .rev()
            .filter_map(|l| l.trim().strip_prefix("I:"))
            .filter_map(|l| l.trim().strip_suffix("LUFS"))
            .find_map(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no integrated loudness in:\n{log}"))
    }

    /// Width and height of a picture, by ffprobe.
    fn picture_size(bytes: &[u8], dir: &Path) -> (u32, u32) {
        let path = dir.join("thumbnail.jpg");
        std::fs::write(&path, bytes).expect("write");
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0"])
            .arg(&path)
            .output()
            .expect("ffprobe");
        let text = String::from_utf8_lossy(&out.stdout);
        let (w, h) = text.trim().split_once(',').expect("width,height");
        (w.parse().expect("width"), h.parse().expect("height"))
    }

    async fn get(client: &Client, path: &str) -> reqwest::Response {
        client
            .request(Method::GET, path)
            .expect("request")
            .send()
            .await
            .expect("GET")
    }

    async fn get_json<T: serde::de::DeserializeOwned>(client: &Client, path: &str) -> T {
        let response = get(client, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.expect("json")
    }

    /// The JPEG thumbnails stored (WebP ones are there too where smaller).
    async fn jpeg_thumbnails(app: &mist_server::testing::TestApp) -> Vec<String> {
        let all = app.state.store.list("covers/").await.expect("list");
        all.into_iter().filter(|k| k.ends_with(".jpg")).collect()
    }

    /// The album's cover (a 640 × 480 picture) at 64, 300 and 600 px: JPEG,
    /// cached for good, 304 on a matching ETag; WebP for a client that takes
    /// it where WebP is smaller (this flat test card: 300 and 600 px).
    async fn covers_at_each_size(client: &Client, album_id: &str, dir: &Path) {
        for (size, expected) in [(64, (64, 48)), (300, (300, 225)), (600, (600, 450))] {
            let path = format!("/api/v1/albums/{album_id}/cover?size={size}");
            let response = get(client, &path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers().clone();
            assert_eq!(headers["content-type"], "image/jpeg");
            assert!(headers["cache-control"].to_str().expect("ascii").contains("immutable"));
            let etag = headers["etag"].to_str().expect("ascii").to_owned();
            let bytes = response.bytes().await.expect("body");
            assert_eq!(picture_size(&bytes, dir), expected, "size {size}");
            let again = client
                .request(Method::GET, &path)
                .expect("request")
                .header("if-none-match", &etag)
                .send()
                .await
                .expect("GET");
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "size {size}");
            assert_eq!(again.headers()["etag"], etag.as_str());

            let webp = client
                .request(Method::GET, &path)
                .expect("request")
                .header("accept", "image/avif,image/webp,*/*;q=0.8")
                .send()
                .await
                .expect("GET");
            assert_eq!(webp.status(), StatusCode::OK);
            assert_eq!(webp.headers()["vary"], "accept");
            let kind = webp.headers()["content-type"].to_str().expect("ascii").to_owned();
            let webp_etag = webp.headers()["etag"].to_str().expect("ascii").to_owned();
            let webp_bytes = webp.bytes().await.expect("body");
            if size == 64 {
                assert_eq!(kind, "image/jpeg", "64 px: the JPEG is smaller, so it is served");
                assert_eq!(webp_bytes, bytes);
                continue;
            }
            assert_eq!(kind, "image/webp", "size {size}");
            assert!(
                webp_bytes.len() < bytes.len(),
                "{} vs {}",
                webp_bytes.len(),
                bytes.len()
            );
            assert_ne!(webp_etag, etag);
            assert_eq!(picture_size(&webp_bytes, dir), expected, "size {size} as WebP");
            let explicit = get(client, &format!("{path}&format=webp")).await;
            assert_eq!(explicit.headers()["etag"], webp_etag.as_str());
            let forced = client
                .request(Method::GET, &format!("{path}&format=jpeg"))
                .expect("request")
                .header("accept", "image/webp")
                .send()
                .await
                .expect("GET");
            assert_eq!(forced.headers()["content-type"], "image/jpeg");
            let cached = client
                .request(Method::GET, &format!("{path}&format=webp"))
                .expect("request")
                .header("if-none-match", &webp_etag)
                .send()
                .await
                .expect("GET");
            assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
        }
        let bad = get(client, &format!("/api/v1/albums/{album_id}/cover?format=gif")).await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    }

    async fn albums_group_tagged_files_with_covers_lyrics_and_loudness(backend: Backend) {
        let app = spawn_app(backend).await;
        let client = user_client(&app, "ann").await;
        let dir = tempfile::tempdir().expect("tmp");
        let cover = cover_png(dir.path());
        let loud = sine(dir.path(), "loud", 440, 6.0, -3.0);
        let quiet = sine(dir.path(), "quiet", 660, 6.0, -9.0);
        let mp3 = dir.path().join("two.mp3");
        tagged(
            &loud,
            Some(&cover),
            &mp3,
            &[
                ("title", "Second"),
                ("artist", "Zoë Keating"),
                ("album_artist", "Zoë Keating"),
                ("album", "Blue Album"),
                ("track", "2/2"),
                ("disc", "1/1"),
                ("date", "2001"),
                ("composer", "Someone Else"),
            ],
        );
        let flac = dir.path().join("one.flac");
        tagged(
            &quiet,
            Some(&cover),
            &flac,
            &[
                ("TITLE", "First"),
                ("ARTIST", "ZOE KEATING"),
                ("ALBUMARTIST", "ZOE KEATING"),
                ("ALBUM", "blue album"),
                ("TRACKNUMBER", "1"),
                ("DISCNUMBER", "1"),
                ("DATE", "2001"),
                ("LYRICS", "[00:01.00]first line\n[00:03.50]second \u{1b}[31mline"),
            ],
        );
        let two = ingest(&client, &mp3, CompleteUploadRequest::default()).await;
        // Numbers out of range are refused at `complete`, before any work.
        let bytes = std::fs::read(&flac).expect("read");
        for bad in [
            CompleteUploadRequest {
                track_number: Some(1000),
                ..CompleteUploadRequest::default()
            },
            CompleteUploadRequest {
                year: Some(-5),
                ..CompleteUploadRequest::default()
            },
        ] {
            let ticket = client
                .create_upload(&mist_core::api::CreateUploadRequest {
                    filename: "first.flac".into(),
                    size: bytes.len() as u64,
                    content_type: "audio/flac".into(),
                    sha256: None,
                })
                .await
                .expect("ticket");
            client.put_upload(&ticket, bytes.clone()).await.expect("send");
            let err = client
                .complete_upload(&ticket.upload_id, &bad)
                .await
                .expect_err("refused");
            assert_eq!(
                (err.status(), err.code()),
                (Some(422), Some("invalid_field")),
                "{bad:?}"
            );
        }
        let given = CompleteUploadRequest {
            title: Some("The Uploader's Title".into()),
            year: Some(1999),
            composer: Some("Given Composer".into()),
            ..CompleteUploadRequest::default()
        };
        let one = ingest(&client, &flac, given).await;
        assert_eq!(one.title, "The Uploader's Title", "the uploader's values win over tags");
        assert_eq!(one.year, Some(1999), "over DATE=2001");
        assert_eq!(one.composer.as_deref(), Some("Given Composer"));
        let album_id = two.album_id.clone().expect("an album");
        assert_eq!(
            one.album_id.as_deref(),
            Some(album_id.as_str()),
            "case and accents folded"
        );
        assert_eq!(
            (two.track_number, two.disc_number, two.year),
            (Some(2), Some(1), Some(2001))
        );
        assert_eq!((one.track_number, one.disc_number), (Some(1), Some(1)));
        assert_eq!(two.composer.as_deref(), Some("Someone Else"));
        assert_eq!(two.album_artist.as_deref(), Some("Zoë Keating"));

        // The album: tracks in disc and track order, total length.
        let album: AlbumDetail = get_json(&client, &format!("/api/v1/albums/{album_id}")).await;
        let order: Vec<&str> = album.tracks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(order, [one.id.as_str(), two.id.as_str()]);
        assert_eq!(album.album.title, "Blue Album");
        assert_eq!(album.album.artist.as_deref(), Some("Zoë Keating"));
        assert_eq!((album.album.track_count, album.album.year), (2, Some(2001)));
        assert!(
            (album.album.duration_s - 12.0).abs() < 0.2,
            "{}",
            album.album.duration_s
        );
        let cover_url = album.album.cover_url.clone().expect("a cover");
        for (query, found) in [
            ("sort=name", true),
            ("sort=year", true),
            ("sort=most_played", true),
            ("sort=recently_played", true),
            ("artist=zoë%20keating", true),
            ("year=2001&genre=", false),
            ("year=1999", false),
        ] {
            let page: Page<mist_core::api::Album> = get_json(&client, &format!("/api/v1/albums?{query}")).await;
            assert_eq!(page.items.iter().any(|a| a.id == album_id), found, "{query}");
        }
        let err = get(&client, "/api/v1/albums?cursor=nonsense").await;
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);

        // The artist and search.
        let artist_id = album.album.artist_id.clone().expect("an artist record");
        let artist: ArtistDetail = get_json(&client, &format!("/api/v1/artists/{artist_id}")).await;
        assert_eq!((artist.artist.track_count, artist.artist.album_count), (2, 1));
        assert_eq!(artist.albums.len(), 1);
        assert_eq!(artist.top_tracks.len(), 2);
        let found: SearchResults = get_json(&client, "/api/v1/search?q=BLUE").await;
        assert!(found.albums.iter().any(|a| a.id == album_id), "{found:?}");
        let found: SearchResults = get_json(&client, "/api/v1/search?q=keating").await;
        assert!(found.artists.iter().any(|a| a.id == artist_id), "{found:?}");

        // Covers at each size, cached for good, 304 on a match.
        assert!(
            cover_url.ends_with(&format!("/api/v1/albums/{album_id}/cover")),
            "{cover_url}"
        );
        covers_at_each_size(&client, &album_id, dir.path()).await;
        let track_cover = get(&client, &format!("/api/v1/tracks/{}/cover?size=64", two.id)).await;
        assert_eq!(track_cover.status(), StatusCode::OK);
        let stored = jpeg_thumbnails(&app).await;
        assert_eq!(stored.len(), 3, "one picture stored once, three sizes: {stored:?}");

        // Lyrics: timed lines, escape codes stripped.
        let lyrics: Lyrics = get_json(&client, &format!("/api/v1/tracks/{}/lyrics", one.id)).await;
        let lines: Vec<(u64, &str)> = lyrics.lines.iter().map(|l| (l.time_ms, l.text.as_str())).collect();
        assert_eq!(lines, [(1000, "first line"), (3500, "second [31mline")]);
        assert_eq!(lyrics.plain, "first line\nsecond [31mline");
        let none = get(&client, &format!("/api/v1/tracks/{}/lyrics", two.id)).await;
        assert_eq!(none.status(), StatusCode::NOT_FOUND);

        // Loudness: within 0.5 LU of ffmpeg's ebur128 on the same files.
        for (track, file) in [(&one, &flac), (&two, &mp3)] {
            let reference = -18.0 - reference_lufs(file);
            let gain = track.track_gain_db.expect("a track gain");
            assert!(
                (gain - reference).abs() < 0.5,
                "{}: {gain} dB vs {reference} dB",
                track.title
            );
            assert!(track.track_peak.expect("a peak") > 0.0);
        }
        let one = client.track(&one.id).await.expect("track");
        let two = client.track(&two.id).await.expect("track");
        let album_gain = two.album_gain_db.expect("an album gain");
        assert_eq!(one.album_gain_db, Some(album_gain));
        let (g1, g2) = (one.track_gain_db.expect("gain"), two.track_gain_db.expect("gain"));
        assert!(
            album_gain > g1.min(g2) && album_gain < g1.max(g2),
            "{g1} {g2} {album_gain}"
        );

        // Deleting: the album follows its tracks, then goes with its cover.
        client.delete_track(&one.id).await.expect("delete");
        let two = client.track(&two.id).await.expect("track");
        let left = two.album_gain_db.expect("album gain");
        assert!(
            (left - two.track_gain_db.expect("gain")).abs() < 0.05,
            "the album is its one track now"
        );
        client.delete_track(&two.id).await.expect("delete");
        let gone = get(&client, &format!("/api/v1/albums/{album_id}")).await;
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
        let stored = app.state.store.list("covers/").await.expect("list");
        assert!(stored.is_empty(), "{stored:?}");
    }

    async fn the_same_bytes_twice_fail_as_a_duplicate_naming_the_first(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = user_client(&app, "ann").await;
        let bob = user_client(&app, "bob").await;
        let dir = tempfile::tempdir().expect("tmp");
        let wav = sine(dir.path(), "once", 500, 3.0, -6.0);
        let first = ingest(&ann, &wav, CompleteUploadRequest::default()).await;
        let job_id = upload_file(&ann, &wav, CompleteUploadRequest::default()).await;
        let job = wait_for_job(&ann, &job_id, JOB_TIMEOUT).await;
        assert_eq!(job.status, JobStatus::Failed, "{job:?}");
        assert_eq!(job.error_code.as_deref(), Some("duplicate"));
        assert_eq!(job.existing_track_id.as_deref(), Some(first.id.as_str()));
        assert!(job.error.as_deref().unwrap_or("").contains(&first.id), "{job:?}");
        // Another user's copy is theirs.
        let theirs = ingest(&bob, &wav, CompleteUploadRequest::default()).await;
        assert_ne!(theirs.id, first.id);

        // Announced with its SHA-256, the same bytes are refused before they
        // are sent: 409 naming the uploader's own track (any hex case).
        let bytes = std::fs::read(&wav).expect("read");
        let hash = mist_core::library::hash::ContentHash::of(&bytes).to_hex();
        let announce = |sha256: &str| mist_core::api::CreateUploadRequest {
            filename: "again.wav".into(),
            size: bytes.len() as u64,
            content_type: "audio/wav".into(),
            sha256: Some(sha256.to_owned()),
        };
        for (client, mine) in [(&ann, &first.id), (&bob, &theirs.id)] {
            for sha256 in [hash.clone(), hash.to_ascii_uppercase()] {
                let err = client.create_upload(&announce(&sha256)).await.expect_err("duplicate");
                assert_eq!((err.status(), err.code()), (Some(409), Some("duplicate")), "{err}");
                assert_eq!(err.existing_track_id(), Some(mine.as_str()));
            }
        }
        // A hash that is not one is refused; one nobody has is a ticket, and
        // a lie about the hash changes nothing: the job hashes the bytes.
        for bad in ["abc", &"g".repeat(64), &format!("{hash} ")] {
            let err = ann.create_upload(&announce(bad)).await.expect_err("bad hash");
            assert_eq!(
                (err.status(), err.code()),
                (Some(422), Some("invalid_field")),
                "{bad:?}"
            );
        }
        let lie = ann.create_upload(&announce(&"0".repeat(64))).await.expect("a new hash");
        ann.put_upload(&lie, bytes.clone()).await.expect("send");
        let job_id = ann
            .complete_upload(&lie.upload_id, &CompleteUploadRequest::default())
            .await
            .expect("complete")
            .job_id;
        let job = wait_for_job(&ann, &job_id, JOB_TIMEOUT).await;
        assert_eq!(job.error_code.as_deref(), Some("duplicate"), "{job:?}");
        // A user with no tracks learns nothing of others' files.
        let cat = user_client(&app, "cat").await;
        cat.create_upload(&announce(&hash)).await.expect("not cat's");
    }

    /// `flac` with a PICTURE metadata block holding `picture` (a PNG) added
    /// after STREAMINFO, without decoding anything.
    fn add_flac_picture(flac: &[u8], picture: &[u8], width: u32, height: u32) -> Vec<u8> {
        assert_eq!(&flac[..4], b"fLaC");
        let streaminfo_len = u32::from_be_bytes([0, flac[5], flac[6], flac[7]]) as usize;
        let was_last = flac[4] & 0x80 != 0;
        let mut block = Vec::new();
        let mime = b"image/png";
        block.extend_from_slice(&3u32.to_be_bytes()); // front cover
        block.extend_from_slice(&(mime.len() as u32).to_be_bytes());
        block.extend_from_slice(mime);
        block.extend_from_slice(&0u32.to_be_bytes()); // no description
        for v in [width, height, 1, 0] {
            block.extend_from_slice(&v.to_be_bytes());
        }
        block.extend_from_slice(&(picture.len() as u32).to_be_bytes());
        block.extend_from_slice(picture);
        let mut out = Vec::new();
        out.extend_from_slice(b"fLaC");
        out.push(flac[4] & 0x7f);
        out.extend_from_slice(&flac[5..8 + streaminfo_len]);
        let len = (block.len() as u32).to_be_bytes();
        out.push(if was_last { 0x80 | 6 } else { 6 });
        out.extend_from_slice(&len[1..]);
        out.extend_from_slice(&block);
        out.extend_from_slice(&flac[8 + streaminfo_len..]);
        out
    }

    /// A 20,000 × 20,000 one-bit PNG: ~50 KB of file, 400 MB as 8-bit grey.
    fn huge_png() -> Vec<u8> {
        let (width, height) = (20_000u32, 20_000u32);
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().expect("header");
        let mut stream = writer.stream_writer().expect("stream");
        let row = vec![0u8; (width as usize).div_ceil(8)];
        for _ in 0..height {
            stream.write_all(&row).expect("row");
        }
        stream.finish().expect("finish");
        drop(writer);
        out
    }

    async fn a_hostile_cover_is_refused_and_the_track_still_ingests(backend: Backend) {
        let app = spawn_app(backend).await;
        let client = user_client(&app, "ann").await;
        let dir = tempfile::tempdir().expect("tmp");
        let wav = sine(dir.path(), "bomb", 330, 3.0, -6.0);
        let plain = dir.path().join("plain.flac");
        tagged(
            &wav,
            None,
            &plain,
            &[("ALBUM", "Bombs"), ("ARTIST", "Nobody"), ("TRACKNUMBER", "7")],
        );
        let png = huge_png();
        assert!(png.len() < 1_000_000, "{} bytes", png.len());
        let hostile = dir.path().join("hostile.flac");
        let bytes = add_flac_picture(&std::fs::read(&plain).expect("read"), &png, 20_000, 20_000);
        std::fs::write(&hostile, bytes).expect("write");
        let track = ingest(&client, &hostile, CompleteUploadRequest::default()).await;
        assert_eq!(track.track_number, Some(7), "the tags around the picture were read");
        let album_id = track.album_id.clone().expect("an album");
        let album: AlbumDetail = get_json(&client, &format!("/api/v1/albums/{album_id}")).await;
        assert_eq!(album.album.cover_url, None);
        let cover = get(&client, &format!("/api/v1/tracks/{}/cover", track.id)).await;
        assert_eq!(cover.status(), StatusCode::NOT_FOUND);
        assert!(app.state.store.list("covers/").await.expect("list").is_empty());
    }

    async fn edits_move_tracks_between_albums_and_owners_replace_covers(backend: Backend) {
        use mist_core::api::UpdateTrackRequest;
        use mist_server::testing::catalogue::{FakeTrack, insert_ready_track};

        let app = spawn_app(backend).await;
        let ann = user_client(&app, "ann").await;
        let bob = user_client(&app, "bob").await;
        let ann_id = ann.me().await.expect("me").id;
        let fake = |title: &str| FakeTrack {
            title: title.into(),
            artist: Some("Artist".into()),
            album: Some("Old".into()),
            genre: Some("Jazz".into()),
            duration_s: 60.0,
            ..FakeTrack::default()
        };
        let one = insert_ready_track(&app.state, &ann_id, &fake("One")).await;
        let two = insert_ready_track(&app.state, &ann_id, &fake("Two")).await;
        let old = ann.track(&one).await.expect("track").album_id.expect("an album");
        assert_eq!(
            ann.track(&two).await.expect("track").album_id.as_deref(),
            Some(old.as_str())
        );

        let edit = UpdateTrackRequest {
            album: Some("New".into()),
            track_number: Some(3),
            year: Some(1999),
            composer: Some("Someone".into()),
            ..UpdateTrackRequest::default()
        };
        let err = bob.update_track(&one, &edit).await.expect_err("not his");
        assert_eq!(err.status(), Some(403));
        let moved = ann.update_track(&one, &edit).await.expect("edit");
        let new = moved.album_id.clone().expect("an album");
        assert_ne!(new, old);
        assert_eq!((moved.track_number, moved.year), (Some(3), Some(1999)));
        assert_eq!(moved.composer.as_deref(), Some("Someone"));
        let album: AlbumDetail = get_json(&ann, &format!("/api/v1/albums/{new}")).await;
        assert_eq!((album.album.title.as_str(), album.album.year), ("New", Some(1999)));
        let bad = UpdateTrackRequest {
            year: Some(5000),
            ..UpdateTrackRequest::default()
        };
        assert_eq!(
            ann.update_track(&one, &bad).await.expect_err("range").status(),
            Some(422)
        );
        let cleared = UpdateTrackRequest {
            track_number: Some(0),
            ..UpdateTrackRequest::default()
        };
        assert_eq!(ann.update_track(&one, &cleared).await.expect("edit").track_number, None);

        // The last track leaving an album takes it away.
        let follow = UpdateTrackRequest {
            album: Some("new".into()),
            ..UpdateTrackRequest::default()
        };
        assert_eq!(
            ann.update_track(&two, &follow).await.expect("edit").album_id.as_deref(),
            Some(new.as_str())
        );
        let gone = get(&ann, &format!("/api/v1/albums/{old}")).await;
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);

        // Covers: the owner replaces them; not-pictures and others are refused.
        let dir = tempfile::tempdir().expect("tmp");
        let png = std::fs::read(cover_png(dir.path())).expect("read");
        let put = |client: &Client, body: Vec<u8>| {
            client
                .request(Method::PUT, &format!("/api/v1/tracks/{one}/cover"))
                .expect("request")
                .header("content-type", "image/png")
                .body(body)
                .send()
        };
        assert_eq!(
            put(&bob, png.clone()).await.expect("PUT").status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            put(&ann, b"not a picture".to_vec()).await.expect("PUT").status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(put(&ann, png).await.expect("PUT").status(), StatusCode::NO_CONTENT);
        let cover = get(&ann, &format!("/api/v1/albums/{new}/cover?size=64")).await;
        assert_eq!(cover.status(), StatusCode::OK);
        let cover = get(&bob, &format!("/api/v1/tracks/{two}/cover"))
            .await
            .bytes()
            .await
            .expect("body");
        assert_eq!(picture_size(&cover, dir.path()), (300, 225), "the album's cover");
        ann.delete_track(&one).await.expect("delete");
        ann.delete_track(&two).await.expect("delete");
        assert!(app.state.store.list("covers/").await.expect("list").is_empty());
    }

    /// `wav` encoded by ffmpeg to `out` (AAC in M4A, or Vorbis in Ogg, by
    /// its extension), then tagged by lofty: MP4 atoms with `covr`, or Vorbis
    /// comments with METADATA_BLOCK_PICTURE.
    fn tagged_with_lofty(wav: &Path, out: &Path, picture: &[u8], fields: (&str, &str, &str, u32, u32, u16)) {
        use lofty::config::WriteOptions;
        use lofty::picture::{MimeType, Picture, PictureType};
        use lofty::prelude::{Accessor, ItemKey, TagExt};
        use lofty::tag::items::Timestamp;
        use lofty::tag::{Tag, TagType};

        let (codec, tag_type) = match out.extension().and_then(|e| e.to_str()) {
            Some("m4a") => ("aac", TagType::Mp4Ilst),
            _ => ("libvorbis", TagType::VorbisComments),
        };
        run(Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(wav)
            .args(["-c:a", codec])
            .arg(out));
        let (title, artist, album, track, disc, year) = fields;
        let mut tag = Tag::new(tag_type);
        tag.set_title(title.into());
        tag.set_artist(artist.into());
        tag.set_album(album.into());
        tag.insert_text(ItemKey::AlbumArtist, artist.into());
        tag.set_track(track);
        tag.set_track_total(2);
        tag.set_disk(disc);
        tag.set_date(Timestamp {
            year,
            ..Timestamp::default()
        });
        tag.push_picture(
            Picture::unchecked(picture.to_vec())
                .pic_type(PictureType::CoverFront)
                .mime_type(MimeType::Png)
                .build(),
        );
        tag.save_to_path(out, WriteOptions::default())
            .expect("lofty writes the tags");
    }

    async fn m4a_and_ogg_tags_and_pictures_make_an_album(backend: Backend) {
        let app = spawn_app(backend).await;
        let client = user_client(&app, "ann").await;
        let dir = tempfile::tempdir().expect("tmp");
        let png = std::fs::read(cover_png(dir.path())).expect("png");
        let m4a = dir.path().join("one.m4a");
        let ogg = dir.path().join("two.ogg");
        let fields = |title, track| (title, "Ann Artist", "Green Album", track, 1, 2003);
        tagged_with_lofty(&sine(dir.path(), "a", 440, 3.0, -6.0), &m4a, &png, fields("Eins", 1));
        tagged_with_lofty(&sine(dir.path(), "b", 550, 3.0, -6.0), &ogg, &png, fields("Zwei", 2));
        let two = ingest(&client, &ogg, CompleteUploadRequest::default()).await;
        let one = ingest(&client, &m4a, CompleteUploadRequest::default()).await;
        for (track, title, number) in [(&one, "Eins", 1), (&two, "Zwei", 2)] {
            assert_eq!(track.title, title, "{track:?}");
            assert_eq!(track.artist.as_deref(), Some("Ann Artist"), "{title}");
            assert_eq!(track.album.as_deref(), Some("Green Album"), "{title}");
            assert_eq!(track.album_artist.as_deref(), Some("Ann Artist"), "{title}");
            assert_eq!(
                (track.track_number, track.disc_number, track.year),
                (Some(number), Some(1), Some(2003)),
                "{title}"
            );
        }
        let album_id = one.album_id.clone().expect("an album");
        assert_eq!(two.album_id.as_deref(), Some(album_id.as_str()));
        let album: AlbumDetail = get_json(&client, &format!("/api/v1/albums/{album_id}")).await;
        let order: Vec<&str> = album.tracks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(order, [one.id.as_str(), two.id.as_str()]);
        assert!(album.album.cover_url.is_some(), "{album:?}");
        covers_at_each_size(&client, &album_id, dir.path()).await;
        for track in [&one, &two] {
            let cover = get(&client, &format!("/api/v1/tracks/{}/cover?size=64", track.id)).await;
            assert_eq!(cover.status(), StatusCode::OK, "{}", track.title);
        }
        let stored = jpeg_thumbnails(&app).await;
        assert_eq!(stored.len(), 3, "the same picture stored once: {stored:?}");
    }

    /// Runs the real `mist-server` binary against `app`'s database and data dir.
    fn mist_server(app: &mist_server::testing::TestApp, args: &[&str]) -> std::process::Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mist-server"));
        command
            .args(args)
            .env("MIST_DATA_DIR", &app.settings.data_dir)
            .env("MIST_JWT_SECRET", "test-jwt-secret-that-is-long-enough-0123")
            .env(
                "MIST_MASTER_KEY",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            )
            .env("MIST_WORKER_POLL_MS", "50")
            .env("MIST_PUBLIC_URL", &app.base_url)
            .env_remove("RUST_LOG")
            .env_remove("DATABASE_URL");
        if let Some(url) = app.settings.database_url_exposed() {
            command.env("DATABASE_URL", url);
        }
        command.output().expect("mist-server runs")
    }

    /// The import's line for `name` (a path under the folder), by its word.
    fn line_for<'a>(stdout: &'a str, name: &str) -> &'a str {
        stdout
            .lines()
            .find(|l| l.ends_with(name) || l.contains(&format!("  {name}:")))
            .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"))
    }

    async fn a_folder_imports_with_covers_and_lyrics_beside_and_again_adds_nothing(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = user_client(&app, "ann").await;
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("library");
        let alpha = root.join("Alpha");
        let beta = root.join("Beta").join("disc 1");
        std::fs::create_dir_all(&alpha).expect("mkdir");
        std::fs::create_dir_all(&beta).expect("mkdir");
        let tags = |album: &'static str, title: &'static str, track: &'static str| {
            [
                ("title", title),
                ("artist", "Importer"),
                ("album", album),
                ("track", track),
            ]
        };
        let sources = [
            ("a1", 440, alpha.join("01 One.flac"), tags("Alpha", "A One", "1")),
            ("a2", 550, alpha.join("02 Two.mp3"), tags("Alpha", "A Two", "2")),
            ("b1", 660, beta.join("01.flac"), tags("Beta", "B One", "1")),
        ];
        for (name, freq, out, tags) in &sources {
            tagged(&sine(dir.path(), name, *freq, 3.0, -6.0), None, out, tags);
        }
        std::fs::copy(cover_png(dir.path()), alpha.join("cover.png")).expect("cover");
        std::fs::write(
            alpha.join("01 One.lrc"),
            "[00:00.50]first line\n[00:02.25]second line\n",
        )
        .expect("lrc");
        std::fs::write(alpha.join("notes.txt"), "liner notes, not audio").expect("notes");
        // A FLAC cut in half: it looks like audio, and stops short.
        let whole = std::fs::read(beta.join("01.flac")).expect("read");
        std::fs::write(beta.join("02 broken.flac"), &whole[..whole.len() / 2]).expect("write");
        // Hostile neighbours: a .lrc past the lyrics limit, and a link back to the root.
        // (4,000 lines: within the parser's line limit; ~360 KB: past the bytes.)
        let flood = format!("[00:01.00]{}\n", "la".repeat(40)).repeat(4_000);
        std::fs::write(beta.join("01.lrc"), flood).expect("lrc");
        std::os::unix::fs::symlink(&root, beta.join("loop")).expect("symlink");

        let root_arg = root.to_string_lossy().into_owned();
        let first = mist_server(
            &app,
            &["import", &root_arg, "--owner", "ann@example.com", "--jobs", "2"],
        );
        let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&first.stderr);
        assert_eq!(first.status.code(), Some(1), "one file failed:\n{stdout}\n{stderr}");
        assert!(stderr.contains("1 of 4 files failed"), "{stderr}");
        for name in ["Alpha/01 One.flac", "Alpha/02 Two.mp3", "Beta/disc 1/01.flac"] {
            assert!(line_for(&stdout, name).contains("  ready  "), "{stdout}");
        }
        assert!(
            line_for(&stdout, "Beta/disc 1/02 broken.flac").starts_with("-  failed  "),
            "{stdout}"
        );
        assert!(
            line_for(&stdout, "Alpha/notes.txt").contains("skipped (not audio)"),
            "{stdout}"
        );
        assert!(
            !stdout.contains("cover.png") && !stdout.contains(".lrc"),
            "used beside: {stdout}"
        );
        assert!(
            stdout.contains("4 files: 3 ready, 0 already there, 1 failed; 1 skipped (not audio)"),
            "{stdout}"
        );

        // Two albums, tracks in order; Alpha's cover is the one beside its files.
        let page: Page<mist_core::api::Album> = get_json(&ann, "/api/v1/albums?sort=name").await;
        let names: Vec<(&str, i64)> = page.items.iter().map(|a| (a.title.as_str(), a.track_count)).collect();
        assert_eq!(names, [("Alpha", 2), ("Beta", 1)]);
        let (alpha_album, beta_album) = (&page.items[0], &page.items[1]);
        assert!(beta_album.cover_url.is_none(), "no cover beside Beta's files");
        let detail: AlbumDetail = get_json(&ann, &format!("/api/v1/albums/{}", alpha_album.id)).await;
        let titles: Vec<&str> = detail.tracks.iter().map(|t| t.title.as_str()).collect();
        assert_eq!(titles, ["A One", "A Two"]);
        covers_at_each_size(&ann, &alpha_album.id, dir.path()).await;
        let lyrics: Lyrics = get_json(&ann, &format!("/api/v1/tracks/{}/lyrics", detail.tracks[0].id)).await;
        let lines: Vec<(u64, &str)> = lyrics.lines.iter().map(|l| (l.time_ms, l.text.as_str())).collect();
        assert_eq!(lines, [(500, "first line"), (2250, "second line")]);
        let none = get(&ann, &format!("/api/v1/tracks/{}/lyrics", detail.tracks[1].id)).await;
        assert_eq!(none.status(), StatusCode::NOT_FOUND, "the .lrc is only its own track's");
        let beta_detail: AlbumDetail = get_json(&ann, &format!("/api/v1/albums/{}", beta_album.id)).await;
        let flooded = get(&ann, &format!("/api/v1/tracks/{}/lyrics", beta_detail.tracks[0].id)).await;
        assert_eq!(
            flooded.status(),
            StatusCode::NOT_FOUND,
            "a .lrc over the limit is not used"
        );
        for track in &detail.tracks {
            let left = app
                .state
                .store
                .list(&format!("tracks/{}/beside/", track.id))
                .await
                .expect("list");
            assert!(left.is_empty(), "the ready track keeps no beside files: {left:?}");
        }

        // Again: nothing copied or added; the broken file fails again, alone.
        let covers_before = app.state.store.list("covers/").await.expect("list");
        let second = mist_server(&app, &["import", &root_arg, "--owner", "ann"]);
        let stdout = String::from_utf8_lossy(&second.stdout).into_owned();
        assert_eq!(second.status.code(), Some(1), "{stdout}");
        for name in ["Alpha/01 One.flac", "Alpha/02 Two.mp3", "Beta/disc 1/01.flac"] {
            assert!(line_for(&stdout, name).contains("  already there  "), "{stdout}");
        }
        assert!(
            stdout.contains("4 files: 0 ready, 3 already there, 1 failed; 1 skipped (not audio)"),
            "{stdout}"
        );
        let page: Page<mist_core::api::Album> = get_json(&ann, "/api/v1/albums?sort=name").await;
        let counts: Vec<i64> = page.items.iter().map(|a| a.track_count).collect();
        assert_eq!(counts, [2, 1]);
        assert_eq!(app.state.store.list("covers/").await.expect("list"), covers_before);

        // No owner named: the oldest admin's; an unknown owner is refused up front.
        let nobody = mist_server(&app, &["import", &root_arg, "--owner", "nobody"]);
        assert_eq!(nobody.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&nobody.stderr).contains("no user"));
    }

    /// The import as the command runs it, in this process (the app's worker
    /// does the jobs).
    async fn import_here(app: &mist_server::testing::TestApp, root: &Path, owner: &str) -> Summary {
        let owner = mist_server::import::owner(&app.state, Some(owner))
            .await
            .expect("owner");
        let root = root.to_owned();
        let found = tokio::task::spawn_blocking({
            let root = root.clone();
            move || mist_server::import::collect(&root)
        })
        .await
        .expect("walk")
        .expect("collect");
        let console = Console::new(found.audio.len());
        mist_server::import::import(&app.state, &owner, &root, found, 2, &console).await
    }

    /// On S3 with Postgres (the beside files move and are read through the
    /// store): a hostile cover beside one file, a good cover and `.lrc`
    /// beside another, the folder imported twice at once.
    async fn a_hostile_cover_beside_is_refused_and_imports_at_once_add_one_track(backend: Backend) {
        let app = spawn_with(TestOptions {
            store: super::store_for(backend),
            ..TestOptions::new(backend)
        })
        .await;
        let ann = user_client(&app, "ann").await;
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("library");
        let (bomb, good) = (root.join("bomb"), root.join("good"));
        std::fs::create_dir_all(&bomb).expect("mkdir");
        std::fs::create_dir_all(&good).expect("mkdir");
        let tags = [("album", "Bombs"), ("artist", "Nobody")];
        tagged(
            &sine(dir.path(), "bomb", 330, 3.0, -6.0),
            None,
            &bomb.join("track.flac"),
            &tags,
        );
        std::fs::write(bomb.join("cover.png"), huge_png()).expect("write");
        let tags = [("album", "Good"), ("artist", "Somebody")];
        tagged(
            &sine(dir.path(), "good", 440, 3.0, -6.0),
            None,
            &good.join("song.flac"),
            &tags,
        );
        std::fs::copy(cover_png(dir.path()), good.join("Folder.PNG")).expect("cover");
        std::fs::write(good.join("song.lrc"), "[00:01.00]only line").expect("lrc");
        // Two runs at once: both may queue a file; one track each, the other
        // run finds it there (by hash, or its job fails as a duplicate).
        let (one, two) = tokio::join!(import_here(&app, &root, "ann"), import_here(&app, &root, "ann"));
        assert!(
            one.skipped.is_empty() && two.skipped.is_empty(),
            "covers and .lrc are used, not skipped"
        );
        let mut tracks = Vec::new();
        for name in ["bomb/track.flac", "good/song.flac"] {
            let mut outcomes: Vec<&Outcome> = one
                .files
                .iter()
                .chain(&two.files)
                .filter(|(path, _)| path.ends_with(name))
                .map(|(_, o)| o)
                .collect();
            outcomes.sort_by_key(|o| matches!(o, Outcome::AlreadyThere { .. }));
            let [Outcome::Ready { track_id }, Outcome::AlreadyThere { track_id: there }] = outcomes[..] else {
                panic!("{name}: one ready, one already there: {outcomes:?}");
            };
            assert_eq!(track_id, there);
            tracks.push(track_id.clone());
        }
        let cover = get(&ann, &format!("/api/v1/tracks/{}/cover", tracks[0])).await;
        assert_eq!(
            cover.status(),
            StatusCode::NOT_FOUND,
            "the 20,000 × 20,000 picture is refused"
        );
        let cover = get(&ann, &format!("/api/v1/tracks/{}/cover?size=64", tracks[1])).await;
        assert_eq!(
            cover.status(),
            StatusCode::OK,
            "the good one beside the other file is used"
        );
        let lyrics: Lyrics = get_json(&ann, &format!("/api/v1/tracks/{}/lyrics", tracks[1])).await;
        assert_eq!(lyrics.lines.len(), 1, "{lyrics:?}");
        assert_eq!(
            jpeg_thumbnails(&app).await.len(),
            3,
            "one picture's thumbnails, no other"
        );
        for track in &tracks {
            let left = app
                .state
                .store
                .list(&format!("tracks/{track}/beside/"))
                .await
                .expect("list");
            assert!(left.is_empty(), "{left:?}");
        }
    }

    async fn deleting_a_user_takes_their_emptied_albums_and_covers(backend: Backend) {
        use mist_server::testing::catalogue::{FakeTrack, insert_ready_track};
        use mist_server::testing::upload::admin_client;

        let app = spawn_app(backend).await;
        let ann = user_client(&app, "ann").await;
        let bob = user_client(&app, "bob").await;
        let (ann_id, bob_id) = (ann.me().await.expect("me").id, bob.me().await.expect("me").id);
        let fake = |album: &str| FakeTrack {
            title: "Song".into(),
            artist: Some("Band".into()),
            album: Some(album.into()),
            duration_s: 30.0,
            ..FakeTrack::default()
        };
        let mine = insert_ready_track(&app.state, &ann_id, &fake("Only Ann's")).await;
        let shared = insert_ready_track(&app.state, &ann_id, &fake("Both")).await;
        let kept = insert_ready_track(&app.state, &bob_id, &fake("Both")).await;
        let dir = tempfile::tempdir().expect("tmp");
        let png = std::fs::read(cover_png(dir.path())).expect("png");
        for (client, track) in [(&ann, &mine), (&ann, &shared)] {
            let put = client
                .request(Method::PUT, &format!("/api/v1/tracks/{track}/cover"))
                .expect("request")
                .header("content-type", "image/png")
                .body(png.clone())
                .send()
                .await
                .expect("PUT");
            assert_eq!(put.status(), StatusCode::NO_CONTENT);
        }
        let gone_album = ann.track(&mine).await.expect("track").album_id.expect("album");
        let both = bob.track(&kept).await.expect("track").album_id.expect("album");
        assert_eq!(jpeg_thumbnails(&app).await.len(), 3);

        admin_client(&app).await.delete_user(&ann_id).await.expect("delete ann");
        let gone = get(&bob, &format!("/api/v1/albums/{gone_album}")).await;
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
        let rows: i64 = mist_server::with_pool!(&app.state.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM albums WHERE id = $1").bind(&gone_album).fetch_one(pool).await
        })
        .expect("count");
        assert_eq!(rows, 0, "no hidden row left behind");
        let album: AlbumDetail = get_json(&bob, &format!("/api/v1/albums/{both}")).await;
        assert_eq!(album.album.track_count, 1, "Bob's track keeps the shared album");
        // Ann's picture was the shared album's cover too; it stays while that album shows it.
        assert!(album.album.cover_url.is_some(), "{album:?}");
        let still = jpeg_thumbnails(&app).await;
        assert_eq!(still.len(), 3, "{still:?}");
        bob.delete_track(&kept).await.expect("delete");
        assert!(app.state.store.list("covers/").await.expect("list").is_empty());
    }

    mist_server::on_both!(
        deleting_a_user_takes_their_emptied_albums_and_covers,
        a_hostile_cover_beside_is_refused_and_imports_at_once_add_one_track,
        m4a_and_ogg_tags_and_pictures_make_an_album,
        a_folder_imports_with_covers_and_lyrics_beside_and_again_adds_nothing,
        albums_group_tagged_files_with_covers_lyrics_and_loudness,
        the_same_bytes_twice_fail_as_a_duplicate_naming_the_first,
        a_hostile_cover_is_refused_and_the_track_still_ingests,
        edits_move_tracks_between_albums_and_owners_replace_covers,
    );
}
