//! Upload → encrypted multi-bitrate HLS, against a real server: formats,
//! playlists, an outside player (ffmpeg), keys, bad input, idempotent
//! completion and a worker that dies mid-job.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mist_core::api::{CompleteUploadRequest, CreateUploadRequest, JobStatus, TrackStatus};
use mist_core::client::Client;
use mist_server::testing::audio::{aligned_correlation, convert, decode_mono, generate_wav};
use mist_server::testing::upload::{admin_client, upload_file, user_client, wait_for_job};
use mist_server::testing::{Backend, Store, TestApp, TestOptions, spawn_app, spawn_with};
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
