//! Similar tracks, features and the feed against a real server, on both
//! databases: a catalogue of generated tracks from four families (plucked
//! melodies, drum patterns, noise textures, espeak-ng speech) goes through the
//! real upload flow, and the nearest neighbours by sound must come from the
//! same family. Also `mist-server analyze --json` on a local file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mist_core::api::{CompleteUploadRequest, FeedReason, JobStatus, Track};
use mist_core::client::{Client, ClientError, Method};
use mist_server::analysis;
use mist_server::db::Db;
use mist_server::testing::audio::{convert, run};
use mist_server::testing::upload::{upload_file, user_client, wait_for_job};
use mist_server::testing::{Backend, spawn_app};
use reqwest::StatusCode;

const JOB_TIMEOUT: Duration = Duration::from_secs(600);
/// Tracks per family: more than the 5 neighbours checked, so a perfect
/// ranking scores 100 %.
const PER_FAMILY: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Pluck,
    Drums,
    Noise,
    Speech,
}

const FAMILIES: [Family; 4] = [Family::Pluck, Family::Drums, Family::Noise, Family::Speech];

fn sox(args: &[&str]) {
    run(Command::new("sox").args(args));
}

/// A plucked-string melody: eight notes of a pentatonic scale from `root`
/// Hz, played twice.
fn pluck(dir: &Path, out: &Path, i: usize) {
    let root = [110.0, 147.0, 196.0, 262.0, 330.0, 392.0][i % 6];
    let note_s = 0.35 + 0.05 * (i % 3) as f64;
    let steps = [0.0, 2.0, 4.0, 7.0, 9.0, 7.0, 4.0, 12.0];
    let mut notes = Vec::new();
    for (n, semitones) in steps.iter().enumerate() {
        let note = dir.join(format!("pluck-{i}-{n}.wav"));
        let f = root * 2f64.powf(semitones / 12.0);
        sox(&[
            "-n",
            "-r",
            "44100",
            "-c",
            "2",
            note.to_str().unwrap_or_default(),
            "synth",
            &format!("{note_s}"),
            "pluck",
            &format!("{f:.2}"),
        ]);
        notes.push(note);
    }
    let mut args: Vec<String> = notes.iter().map(|p| p.display().to_string()).collect();
    args.push(out.display().to_string());
    args.extend(["repeat", "2", "gain", "-3"].map(String::from));
    run(Command::new("sox").args(&args));
}

/// Kick, hat, snare, hat at `bpm` (eighth notes), about 10 s.
fn drums(dir: &Path, out: &Path, i: usize) {
    let bpm = [84.0, 96.0, 110.0, 124.0, 138.0, 152.0][i % 6];
    let step = 60.0 / bpm / 2.0;
    let part = |name: &str, effects: &[&str], length: f64| {
        let path = dir.join(format!("drum-{i}-{name}.wav"));
        let mut args = vec![
            "-n".to_owned(),
            "-r".into(),
            "44100".into(),
            "-c".into(),
            "2".into(),
            path.display().to_string(),
        ];
        args.extend(effects.iter().map(|s| s.to_string()));
        args.extend(["pad".into(), "0".into(), format!("{:.4}", step - length)]);
        run(Command::new("sox").args(&args));
        path
    };
    let kick = part(
        "kick",
        &["synth", "0.15", "sine", "150:45", "fade", "0", "0.15", "0.12"],
        0.15,
    );
    let hat = part(
        "hat",
        &[
            "synth",
            "0.03",
            "whitenoise",
            "highpass",
            "7000",
            "fade",
            "0",
            "0.03",
            "0.025",
            "gain",
            "-8",
        ],
        0.03,
    );
    let snare = part(
        "snare",
        &[
            "synth",
            "0.1",
            "whitenoise",
            "lowpass",
            "5000",
            "fade",
            "0",
            "0.1",
            "0.09",
            "gain",
            "-3",
        ],
        0.1,
    );
    let bars = (10.0 / (4.0 * step)).ceil() as usize;
    let mut args: Vec<String> = [&kick, &hat, &snare, &hat]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    args.push(out.display().to_string());
    args.extend(["repeat".into(), format!("{}", bars - 1)]);
    run(Command::new("sox").args(&args));
}

/// Filtered noise with a slow swell, 10 s.
fn noise(out: &Path, i: usize) {
    let colour = ["pinknoise", "brownnoise", "whitenoise"][i % 3];
    let centre = [400, 900, 1800, 3000, 5000, 700][i % 6];
    sox(&[
        "-n",
        "-r",
        "44100",
        "-c",
        "2",
        out.to_str().unwrap_or_default(),
        "synth",
        "10",
        colour,
        "band",
        &centre.to_string(),
        &format!("{}", centre / 2),
        "tremolo",
        &format!("{}", 0.2 + 0.1 * i as f64),
        "30",
        "gain",
        "-4",
    ]);
}

/// espeak-ng reading a sentence (22.05 kHz mono, about 8–12 s).
fn speech(out: &Path, i: usize) {
    let texts = [
        "The quick brown fox jumps over the lazy dog while the farmer watches from the gate and \
         wonders what the weather will bring tomorrow morning.",
        "Streaming servers turn uploaded audio into small encrypted segments, and every listener \
         fetches a key before the music can play on their speakers.",
        "On a quiet evening the river carried leaves past the old mill, and the children counted \
         them one by one until the light was gone.",
        "Please remember to bring your umbrella, your ticket and a warm coat, because the train \
         leaves early and the station is cold.",
        "Numbers can be read aloud as well: one, two, three, four, five, six, seven, eight, nine \
         and ten, and then all the way back again.",
        "A good engineer writes the test first, watches it fail, and only then changes the code \
         until the result is exactly what was expected.",
    ];
    let voice = ["en", "en-us", "en+f3", "en+m3", "en-gb-x-rp", "en+f2"][i % 6];
    run(Command::new("espeak-ng")
        .args(["-v", voice, "-s", &format!("{}", 150 + 8 * i), "-w"])
        .arg(out)
        .arg(texts[i % texts.len()]));
}

fn generate(dir: &Path, family: Family, i: usize) -> PathBuf {
    let out = dir.join(format!("{family:?}-{i}.wav").to_lowercase());
    match family {
        Family::Pluck => pluck(dir, &out, i),
        Family::Drums => drums(dir, &out, i),
        Family::Noise => noise(&out, i),
        Family::Speech => speech(&out, i),
    }
    out
}

struct Entry {
    track: Track,
    family: Family,
}

/// Uploads every file, then waits for every job (the worker takes them one
/// at a time).
async fn ingest_all(client: &Client, files: &[(PathBuf, Family)]) -> Vec<Entry> {
    let mut jobs = Vec::new();
    for (path, family) in files {
        let title = path.file_stem().and_then(|s| s.to_str()).unwrap_or("t").to_owned();
        let meta = CompleteUploadRequest {
            title: Some(title),
            ..CompleteUploadRequest::default()
        };
        jobs.push((upload_file(client, path, meta).await, *family));
    }
    let mut entries = Vec::new();
    for (job_id, family) in jobs {
        let job = wait_for_job(client, &job_id, JOB_TIMEOUT).await;
        assert_eq!(job.status, JobStatus::Ready, "{job:?}");
        let track = client.track(&job.track_id).await.expect("track");
        entries.push(Entry { track, family });
    }
    entries
}

fn family_of(entries: &[Entry], id: &str) -> Option<Family> {
    entries.iter().find(|e| e.track.id == id).map(|e| e.family)
}

/// The HTTP status an API call answered.
fn status_of(result: Result<impl Sized, ClientError>) -> StatusCode {
    match result {
        Ok(_) => StatusCode::OK,
        Err(ClientError::Api { status, .. }) => StatusCode::from_u16(status).expect("status"),
        Err(e) => panic!("unexpected client error: {e}"),
    }
}

async fn execute(db: &Db, sql: &'static str, binds: &[&str]) {
    mist_server::with_pool!(db, pool => {
        let mut query = sqlx::query(sql);
        for b in binds {
            query = query.bind(*b);
        }
        query.execute(pool).await.expect(sql);
    });
}

async fn similar_tracks_by_sound(backend: Backend) {
    let started = Instant::now();
    let app = spawn_app(backend).await;
    let ann = user_client(&app, "ann").await;
    let dir = tempfile::tempdir().expect("tmp");

    let mut files = Vec::new();
    for family in FAMILIES {
        for i in 0..PER_FAMILY {
            files.push((generate(dir.path(), family, i), family));
        }
    }
    // The first plucked melody again, re-encoded (another format and bitrate).
    let copy = dir.path().join("pluck-0-copy.ogg");
    convert(&files[0].0, &copy, &[]);
    files.push((copy, Family::Pluck));
    let entries = ingest_all(&ann, &files).await;
    eprintln!(
        "{backend:?}: {} tracks generated and ingested in {:.1} s",
        entries.len(),
        started.elapsed().as_secs_f64()
    );

    // 1. The five nearest neighbours of each track share its family.
    let (mut same, mut total) = (0, 0);
    for entry in &entries {
        let page = ann.similar(&entry.track.id, Some(5)).await.expect("similar");
        assert_eq!(page.items.len(), 5);
        assert!(page.next_cursor.is_none());
        assert!(
            page.items.windows(2).all(|w| w[0].distance <= w[1].distance),
            "nearest first"
        );
        let mut line = format!("{:?} {:>14}:", entry.family, entry.track.title);
        for item in &page.items {
            assert_ne!(item.track.id, entry.track.id, "a track is not similar to itself");
            assert!(item.track.master_url.is_some());
            assert!((0.0..=2.0).contains(&item.distance));
            let family = family_of(&entries, &item.track.id).expect("a catalogue track");
            same += usize::from(family == entry.family);
            total += 1;
            line.push_str(&format!(" {}({:.3})", item.track.title, item.distance));
        }
        eprintln!("{line}");
    }
    let precision = same as f64 / total as f64;
    eprintln!(
        "{backend:?}: {same}/{total} neighbours share the family ({:.1} %)",
        100.0 * precision
    );
    assert!(
        precision >= 0.8,
        "only {:.1} % of neighbours share the family",
        100.0 * precision
    );

    // 2. The re-encoded copy and its original are each other's nearest.
    let (original, copy) = (&entries[0].track, &entries[entries.len() - 1].track);
    let nearest = ann.similar(&copy.id, Some(1)).await.expect("similar").items;
    assert_eq!(nearest[0].track.id, original.id, "{nearest:?}");
    let nearest = ann.similar(&original.id, Some(2)).await.expect("similar").items;
    assert_eq!(nearest[0].track.id, copy.id, "{nearest:?}");
    eprintln!(
        "{backend:?}: re-encoded copy at distance {:.4}, the next track at {:.4}",
        nearest[0].distance, nearest[1].distance
    );

    // 3. Limits: the default is 10, larger ones are clamped to 100, and a
    // limit that is not a number is refused in the error shape.
    assert_eq!(ann.similar(&original.id, None).await.expect("similar").items.len(), 10);
    let all = ann.similar(&original.id, Some(1000)).await.expect("similar").items;
    assert_eq!(all.len(), entries.len() - 1);
    let path = format!("/api/v1/tracks/{}/similar?limit=many", original.id);
    let result = ann.send(ann.request(Method::GET, &path).expect("request")).await;
    assert_eq!(status_of(result), StatusCode::BAD_REQUEST);
    assert_eq!(
        status_of(ann.similar("0123456789abcdef", None).await),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_of(app.client().similar(&original.id, None).await),
        StatusCode::UNAUTHORIZED
    );

    // 4. Features: named values and the unit-length embedding.
    let drum = entries
        .iter()
        .find(|e| e.family == Family::Drums)
        .expect("a drum track");
    let features = ann.features(&drum.track.id).await.expect("features");
    assert_eq!(features.track_id, drum.track.id);
    assert_eq!(features.feature_version, analysis::FEATURE_VERSION);
    assert_eq!(features.embedding.len(), 40);
    let norm: f32 = features.embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    assert!((f64::from(features.features.duration_s) - drum.track.duration_s).abs() < 0.1);
    assert!(features.features.tempo_bpm > 40.0 && features.features.tempo_bpm < 320.0);

    // 5. Tracks that are not ready are never listed, nor shown to others.
    let hidden = &entries[2 * PER_FAMILY].track; // a noise texture
    execute(
        &app.state.db,
        "UPDATE tracks SET status = 'processing' WHERE id = $1",
        &[&hidden.id],
    )
    .await;
    for entry in &entries {
        if entry.track.id != hidden.id {
            let items = ann.similar(&entry.track.id, Some(100)).await.expect("similar").items;
            assert!(
                items.iter().all(|i| i.track.id != hidden.id),
                "a processing track was listed"
            );
            assert_eq!(items.len(), entries.len() - 2);
        }
    }
    let bob = user_client(&app, "bob").await;
    assert_eq!(status_of(bob.similar(&hidden.id, None).await), StatusCode::NOT_FOUND);
    assert_eq!(status_of(bob.features(&hidden.id).await), StatusCode::NOT_FOUND);
    // Its uploader still sees what it sounds like.
    assert_eq!(
        ann.similar(&hidden.id, Some(100)).await.expect("similar").items.len(),
        entries.len() - 1
    );
    execute(
        &app.state.db,
        "UPDATE tracks SET status = 'ready' WHERE id = $1",
        &[&hidden.id],
    )
    .await;

    // 6. Re-indexing recomputes what is missing, the same as ingest did, and
    // a second run finds nothing to do.
    let before = ann.features(&drum.track.id).await.expect("features");
    execute(
        &app.state.db,
        "DELETE FROM track_features WHERE track_id = $1",
        &[&drum.track.id],
    )
    .await;
    assert_eq!(status_of(ann.features(&drum.track.id).await), StatusCode::NOT_FOUND);
    assert_eq!(
        status_of(ann.similar(&drum.track.id, None).await),
        StatusCode::NOT_FOUND
    );
    let summary = analysis::reindex(&app.state, false).await.expect("reindex");
    assert_eq!((summary.analysed, summary.failed), (1, 0));
    let after = ann.features(&drum.track.id).await.expect("features");
    assert_eq!(after.features, before.features);
    assert_eq!(after.embedding, before.embedding);
    assert_eq!(analysis::reindex(&app.state, false).await.expect("reindex").analysed, 0);

    // 7. The feed: popular tracks without history, then tracks that sound
    // like what the user liked and heard, never those themselves.
    let carl = user_client(&app, "carl").await;
    let feed = carl.feed().await.expect("feed");
    assert_eq!(feed.items.len(), 20);
    assert!(
        feed.items
            .iter()
            .all(|i| i.reason == FeedReason::Popular && i.distance.is_none())
    );
    let carl_id = carl.me().await.expect("me").id;
    let drums: Vec<&Track> = entries
        .iter()
        .filter(|e| e.family == Family::Drums)
        .map(|e| &e.track)
        .collect();
    for liked in &drums[..2] {
        execute(
            &app.state.db,
            "INSERT INTO likes (user_id, track_id, created_at) VALUES ($1, $2, 0)",
            &[&carl_id, &liked.id],
        )
        .await;
    }
    mist_server::with_pool!(&app.state.db, pool => {
        sqlx::query(
            "INSERT INTO playback_sessions (id, user_id, track_id, duration_ms, last_report_at, listened_ms, \
             completed, completed_at, started_at) VALUES ('s1', $1, $2, 10000, 0, 10000, $3, 0, 0)",
        )
        .bind(&carl_id)
        .bind(&drums[2].id)
        .bind(true)
        .execute(pool)
        .await
        .expect("insert session");
    });
    let feed = carl.feed().await.expect("feed");
    assert_eq!(feed.items.len(), 20);
    let heard: Vec<&str> = drums[..3].iter().map(|t| t.id.as_str()).collect();
    assert!(
        feed.items.iter().all(|i| !heard.contains(&i.track.id.as_str())),
        "liked or heard tracks are left out"
    );
    let first: Vec<Option<Family>> = feed.items[..3]
        .iter()
        .map(|i| family_of(&entries, &i.track.id))
        .collect();
    assert_eq!(first, [Some(Family::Drums); 3], "{:?}", feed.items);
    assert!(
        feed.items
            .iter()
            .all(|i| i.reason == FeedReason::Similar && i.distance.is_some())
    );
    assert!(feed.items.windows(2).all(|w| w[0].distance <= w[1].distance));
    // Everyone else's feed is untouched.
    assert!(
        bob.feed()
            .await
            .expect("feed")
            .items
            .iter()
            .all(|i| i.reason == FeedReason::Popular)
    );

    // 8. Deleting a track removes its features (ON DELETE CASCADE).
    execute(&app.state.db, "DELETE FROM tracks WHERE id = $1", &[&hidden.id]).await;
    let count: i64 = mist_server::with_pool!(&app.state.db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM track_features WHERE track_id = $1")
            .bind(&hidden.id)
            .fetch_one(pool)
            .await
            .expect("count")
    });
    assert_eq!(count, 0);
    // And it is gone from the neighbours at once: with exactly as many asked
    // as are left, a stale entry would take a place and leave one short.
    let left = entries.len() - 2;
    let items = ann
        .similar(&original.id, Some(left as u32))
        .await
        .expect("similar")
        .items;
    assert_eq!(items.len(), left, "{items:?}");
    assert!(items.iter().all(|i| i.track.id != hidden.id));
    eprintln!("{backend:?}: done in {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_similar_tracks_by_sound() {
    similar_tracks_by_sound(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_similar_tracks_by_sound() {
    similar_tracks_by_sound(Backend::Postgres).await;
}

/// `mist-server analyze FILE --json` works on a local file with no server,
/// database or data dir.
#[test]
fn analyze_prints_features_and_a_unit_embedding() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = generate(dir.path(), Family::Pluck, 1);
    let out = Command::new(env!("CARGO_BIN_EXE_mist-server"))
        .current_dir(dir.path())
        .args(["analyze", "--json"])
        .arg(&wav)
        .output()
        .expect("run mist-server analyze");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let embedding: Vec<f64> = json["embedding"]
        .as_array()
        .expect("embedding array")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect();
    assert_eq!(embedding.len(), 40);
    let norm = embedding.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    assert_eq!(json["feature_version"], analysis::FEATURE_VERSION);
    let duration = json["features"]["duration_s"].as_f64().expect("duration");
    let expected = 24.0 * (0.35 + 0.05);
    assert!((duration - expected).abs() < 0.05, "{duration} s, expected {expected}");
    assert_eq!(json["features"]["mfcc_mean"].as_array().map(Vec::len), Some(20));
    assert!(
        !dir.path().join("mist-data").exists(),
        "analyze must not create a data dir"
    );

    // The summary form, and a file that is not audio.
    let out = Command::new(env!("CARGO_BIN_EXE_mist-server"))
        .current_dir(dir.path())
        .arg("analyze")
        .arg(&wav)
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("tempo"));
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not audio at all").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_mist-server"))
        .current_dir(dir.path())
        .args(["analyze", "--json"])
        .arg(&text)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot decode"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
