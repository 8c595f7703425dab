//! `mist upload` and `mist play`, the real binary against a real server
//! (`mist_server::testing`): the sound that comes out is the sound that went
//! in, at its length, with the listening counted; a forced rendition switch
//! neither drops nor repeats audio; a spent quota and a vanished server end
//! playback with one clear line.
//!
//! Playback runs in real time (the `wav:` output paces like a sound card, see
//! `mist-tui/src/audio`), so these tests take about 20 s each.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mist_core::client::Client;
use mist_server::testing::audio::{aligned_correlation, decode_mono, generate_wav};
use mist_server::testing::catalogue::{FakeTrack, insert_ready_track};
use mist_server::testing::{Backend, Store, TestApp, TestOptions, spawn_app, spawn_with};

const RATE: f64 = 44_100.0;
/// Seconds of audio in a segment (`SEGMENT_FRAMES` MP3 frames of 1152 samples).
const SEGMENT_S: f64 = mist_core::hls::SEGMENT_FRAMES as f64 * 1152.0 / RATE;

use crate::common;

use common::{Mist, Run};

/// What the playback tests add to a `mist` user.
trait Listener {
    async fn register_client(&self, app: &TestApp, username: &str) -> Client;
    async fn upload_tone(&self, seconds: f64) -> (PathBuf, String);
}

impl Listener for Mist {
    /// Registers through `mist` and returns a client with the same token.
    async fn register_client(&self, app: &TestApp, username: &str) -> Client {
        self.register(app, username).await.assert_ok();
        let token = std::fs::read_to_string(self.path("xdg/mist/token")).expect("token saved");
        app.client().with_token(token.trim())
    }

    /// Generates `seconds` of test audio and uploads it with `mist upload`,
    /// waiting until it is ready; returns the source file and the track id.
    async fn upload_tone(&self, seconds: f64) -> (PathBuf, String) {
        let source = self.path("source.wav");
        generate_wav(&source, seconds);
        let run = self
            .run(&[
                "upload",
                path_str(&source),
                "--title",
                "Test Tone",
                "--artist",
                "Sox",
                "--json",
            ])
            .await;
        run.assert_ok();
        let jobs: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON jobs");
        assert_eq!(jobs[0]["status"], "ready", "{run:#?}");
        let track_id = jobs[0]["track_id"].as_str().expect("track id").to_string();
        (source, track_id)
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

fn seconds(samples: &[f32]) -> f64 {
    samples.len() as f64 / RATE
}

/// The lag of `heard` against `source` found on `[from_s, to_s)` alone.
fn local_lag(source: &[f32], heard: &[f32], from_s: f64, to_s: f64) -> (usize, f64) {
    let (from, to) = ((from_s * RATE) as usize, (to_s * RATE) as usize);
    aligned_correlation(&source[from..to], &heard[from..], 4096)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uploaded_track_plays_to_a_wav_at_its_length_and_counts_against_the_quota() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    let client = mist.register_client(&app, "listener").await;
    let (source, track_id) = mist.upload_tone(20.0).await;

    let run = mist.run(&["tracks"]).await;
    run.assert_ok();
    assert!(
        run.stdout.contains(&track_id) && run.stdout.contains("Test Tone"),
        "{run:#?}"
    );

    let before = client.quota().await.expect("quota");
    let out = mist.path("out.wav");
    let wav = format!("wav:{}", out.display());
    // Words from the title, as a person types them: the one match plays.
    let run = mist.run(&["play", "test", "tone", "--audio", &wav]).await;
    run.assert_ok();
    assert!(run.stderr.contains("first audio after"), "{run:#?}");
    assert!(run.stdout.starts_with("played 0:20 of Test Tone by Sox"), "{run:#?}");

    let track = client.track(&track_id).await.expect("track");
    let heard = decode_mono(path_str(&out), None);
    let original = decode_mono(path_str(&source), None);
    assert!(
        (seconds(&heard) - track.duration_s).abs() <= 0.2,
        "heard {} s of a {} s track",
        seconds(&heard),
        track.duration_s
    );
    assert!((seconds(&heard) - 20.0).abs() <= 0.2, "heard {} s", seconds(&heard));
    let (lag, correlation) = aligned_correlation(&original, &heard, 4096);
    assert!(correlation >= 0.9, "correlation {correlation} at lag {lag}");

    let after = client.quota().await.expect("quota");
    let counted = after.used_s - before.used_s;
    eprintln!(
        "heard {:.3} s of {:.3} s, correlation {correlation:.4} at lag {lag}, counted {counted:.2} s",
        seconds(&heard),
        track.duration_s
    );
    assert!((counted - 20.0).abs() <= 2.0, "counted {counted} s");
}

/// With S3 the media playlists hold absolute presigned segment URLs, which
/// refuse requests carrying the bearer token: playing proves none is sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_track_in_s3_plays_from_presigned_urls_on_postgres() {
    let app = spawn_with(TestOptions {
        store: Store::S3,
        ..TestOptions::new(Backend::Postgres)
    })
    .await;
    let mist = Mist::new();
    mist.register_client(&app, "clouded").await;
    let (source, track_id) = mist.upload_tone(8.0).await;

    let out = mist.path("s3.wav");
    let wav = format!("wav:{}", out.display());
    mist.run(&["play", &track_id, "--audio", &wav, "--quality", "high"])
        .await
        .assert_ok();
    let heard = decode_mono(path_str(&out), None);
    let original = decode_mono(path_str(&source), None);
    assert!((seconds(&heard) - 8.0).abs() <= 0.2, "heard {} s", seconds(&heard));
    let (lag, correlation) = aligned_correlation(&original, &heard, 4096);
    assert!(correlation >= 0.9, "correlation {correlation} at lag {lag}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rendition_switch_mid_track_neither_drops_nor_repeats_audio() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register_client(&app, "switcher").await;
    let (source, track_id) = mist.upload_tone(20.0).await;

    let out = mist.path("switched.wav");
    let wav = format!("wav:{}", out.display());
    let run = mist
        .run(&[
            "play",
            &track_id,
            "--audio",
            &wav,
            "--quality",
            "low",
            "--quality-switch-at",
            "2:high",
        ])
        .await;
    run.assert_ok();
    assert!(run.stderr.contains("rendition 64k"), "{run:#?}");
    assert!(run.stderr.contains("switched to 192k at segment 2"), "{run:#?}");

    let heard = decode_mono(path_str(&out), None);
    let original = decode_mono(path_str(&source), None);
    assert!((seconds(&heard) - 20.0).abs() <= 0.2, "heard {} s", seconds(&heard));
    let (lag, correlation) = aligned_correlation(&original, &heard, 4096);
    assert!(correlation >= 0.9, "correlation {correlation} at lag {lag}");

    // A dropped or repeated MP3 frame (1152 samples) at the switch would move
    // the alignment after it.
    let switch_s = 2.0 * SEGMENT_S;
    let (before_lag, before) = local_lag(&original, &heard, switch_s - 3.0, switch_s - 0.2);
    let (after_lag, after) = local_lag(&original, &heard, switch_s + 0.2, switch_s + 3.0);
    let (across_lag, across) = local_lag(&original, &heard, switch_s - 1.0, switch_s + 1.0);
    assert!(
        before >= 0.9 && after >= 0.9 && across >= 0.9,
        "{before} {after} {across}"
    );
    eprintln!(
        "lag {lag} overall, {before_lag}/{across_lag}/{after_lag} before/across/after the switch; correlation {correlation:.4}, {before:.4}/{across:.4}/{after:.4}"
    );
    assert_eq!(before_lag, lag, "before the switch");
    assert_eq!(after_lag, lag, "after the switch");
    assert_eq!(across_lag, lag, "across the switch");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_quota_stops_play_with_the_reset_time() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    let client = mist.register_client(&app, "spender").await;
    let (track_id, quota) = common::spend_the_days_quota(&app, &client).await;

    let run = mist.run(&["play", &track_id, "--audio", "null"]).await;
    let resets = quota.resets_at.format("%Y-%m-%d %H:%M UTC").to_string();
    run.assert_final_error(&format!("quota is used up; it resets at {resets}"));

    let run = mist.run(&["quota"]).await;
    run.assert_ok();
    assert!(
        run.stdout.contains("0.0 s left") && run.stdout.contains(&resets),
        "{run:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_the_server_mid_track_retries_then_fails_clearly() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register_client(&app, "stranded").await;
    let (_, track_id) = mist.upload_tone(45.0).await;

    let mut child = mist
        .command(&["play", &track_id, "--audio", "null"])
        .spawn()
        .expect("mist starts");
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(app);
    let stopped = std::time::Instant::now();
    let output = tokio::time::timeout(Duration::from_secs(90), async {
        let status = child.wait().await.expect("mist ends");
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            use tokio::io::AsyncReadExt;
            pipe.read_to_string(&mut stderr).await.expect("stderr");
        }
        (status, stderr)
    })
    .await
    .expect("mist gives up within 90 s");
    let run = Run {
        code: output.0.code(),
        stdout: String::new(),
        stderr: output.1,
    };
    run.assert_final_error("lost the server after 5 attempts: cannot connect to");
    // It retried with backoff (0.5 + 1 + 2 + 4 s) before giving up.
    assert!(stopped.elapsed() >= Duration::from_secs(7), "{:?}", stopped.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn search_tracks_similar_and_quota_print_tables_and_the_apis_json() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    let client = mist.register_client(&app, "browser").await;
    let me = client.me().await.expect("me");
    let fake = |title: &str, genre: &str| FakeTrack {
        title: title.into(),
        artist: Some("Nina".into()),
        genre: Some(genre.into()),
        duration_s: 61.0,
        ..FakeTrack::default()
    };
    let blue = insert_ready_track(&app.state, &me.id, &fake("Blue Moon", "jazz")).await;
    insert_ready_track(&app.state, &me.id, &fake("Red Sun", "rock")).await;
    let wide = insert_ready_track(&app.state, &me.id, &fake("夜に駆ける", "jazz")).await;
    let moon_river = insert_ready_track(&app.state, &me.id, &fake("Moon River", "jazz")).await;

    let run = mist.run(&["search", "blue", "moon"]).await;
    run.assert_ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("TITLE"), "{run:#?}");
    assert_eq!(lines.len(), 2, "{run:#?}");
    assert!(lines[1].starts_with(&blue) && lines[1].contains("1:01"), "{run:#?}");

    // A genre alone lists it; the columns line up on the terminal, CJK too.
    let run = mist.run(&["search", "--genre", "jazz"]).await;
    run.assert_ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{run:#?}");
    assert!(
        run.stdout.contains(&wide) && !run.stdout.contains("Red Sun"),
        "{run:#?}"
    );
    let column = |line: &str, text: &str| {
        let at = line.find(text).unwrap_or_else(|| panic!("{text} in {line}"));
        unicode_width::UnicodeWidthStr::width(&line[..at])
    };
    let artist = column(lines[0], "ARTIST");
    for line in &lines[1..] {
        assert_eq!(column(line, "Nina"), artist, "{}", run.stdout);
    }
    mist.run(&["search"]).await.assert_usage_error();

    // Words that match several tracks: listed with their ids, nothing plays.
    let run = mist.run(&["play", "moon", "--audio", "null"]).await;
    run.assert_final_error("several tracks match “moon”");
    assert!(
        run.stderr.contains(&blue) && run.stderr.contains(&moon_river),
        "{run:#?}"
    );
    mist.run(&["play", "no", "such", "song"])
        .await
        .assert_error("no track matches “no such song”");

    let run = mist.run(&["search", "moon", "--json"]).await;
    run.assert_ok();
    let page: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(page["tracks"][0]["id"], blue.as_str(), "{run:#?}");

    let run = mist.run(&["tracks", "--genre", "rock", "--json"]).await;
    run.assert_ok();
    let page: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{run:#?}");
    assert_eq!(page["items"][0]["title"], "Red Sun");

    // Made-up tracks have no features: whatever the server answers, the
    // command succeeds with a table/JSON or fails in one line.
    let run = mist.run(&["similar", &blue]).await;
    assert!(
        run.code == Some(0) || (run.code == Some(1) && run.stderr.starts_with("mist: error: ")),
        "{run:#?}"
    );

    let run = mist.run(&["quota", "--json"]).await;
    run.assert_ok();
    let quota: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(quota["plan"], "free");
    assert_eq!(quota["limit_s"], 300.0);
    let run = mist.run(&["quota"]).await;
    run.assert_ok();
    assert!(
        run.stdout.starts_with("free plan: 0.0 s of 300 s used today"),
        "{run:#?}"
    );
}
