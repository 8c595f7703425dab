//! The web player (docs/web.md): how the server serves the page, that the
//! committed build matches its sources, and the page itself driven end to
//! end in headless Chromium against a real server (`web/e2e/e2e.mjs`).
//!
//! The browser tests need Node, Debian's `chromium` and `npm ci` in
//! `mist-server/web`, which `scripts/test-services.sh install` provides; they
//! fail, not skip, when something is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mist_core::api::{CompleteUploadRequest, JobStatus, LoginRequest};
use mist_server::testing::audio::generate_wav;
use mist_server::testing::upload::{admin_client, upload_file, wait_for_job};
use mist_server::testing::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Store, TestOptions, spawn_app, spawn_with};
use reqwest::StatusCode;
use reqwest::header;

/// The admin's album in the browser test (e2e.mjs knows the same names).
const ALBUM: &str = "Night Signals";
const ALBUM_TRACKS: [&str; 3] = [
    "First Light",
    "<img src=x onerror=alert(1)>Second <script>alert(2)</script>Wave",
    "Third Tide",
];

/// A 300 × 300 PNG: a colour ramp, a cover for the album.
fn cover_png() -> Vec<u8> {
    let side = 300_u32;
    let pixels: Vec<u8> = (0..side * side)
        .flat_map(|i| {
            let (x, y) = (i % side, i / side);
            [(x * 255 / side) as u8, (y * 255 / side) as u8, 160]
        })
        .collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("PNG header");
    writer.write_image_data(&pixels).expect("PNG data");
    writer.finish().expect("PNG end");
    out
}

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

fn chromium() -> PathBuf {
    std::env::var_os("MIST_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Fails the test with the way out when a tool the browser tests need is missing.
fn require_web_tools(browser: bool) {
    let fix = "run `scripts/test-services.sh install` (it installs Node's packages and Debian's chromium)";
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "node is not installed: {fix}"
    );
    for module in ["esbuild", "hls.js", "playwright-core"] {
        assert!(
            web_dir().join("node_modules").join(module).is_dir(),
            "mist-server/web/node_modules/{module} is missing: {fix}"
        );
    }
    if browser {
        assert!(chromium().is_file(), "{} is missing: {fix}", chromium().display());
    }
}

#[test]
fn the_committed_build_matches_the_sources() {
    require_web_tools(false);
    node(&["build.mjs", "--check"]);
}

/// The page's state that needs no browser (queue.js: moves, shuffle playing
/// every track once, repeat, what is saved for resume; loudness.js: the
/// ReplayGain arithmetic), by Node's test runner.
#[test]
fn the_queue_and_loudness_rules_hold() {
    require_web_tools(false);
    node(&["--test", "src/queue.test.mjs"]);
}

/// One rounding rule everywhere: the page's `format.duration` (run by Node)
/// writes the same as `mist_core::api::clock`, which the terminal client and
/// the CLI use, for the same seconds.
#[test]
fn durations_read_the_same_on_the_web_and_in_the_terminal() {
    require_web_tools(false);
    let seconds = [
        0.0, 0.4, 0.5, 0.99, 1.0, 59.5, 59.999, 60.0, 61.0, 162.6, 163.0, 599.5, 3599.9, 3600.0, 7322.5, -3.0,
    ];
    let list = serde_json::to_string(&seconds).expect("JSON");
    let script = format!("import('./src/format.js').then((f) => console.log(JSON.stringify({list}.map(f.duration))))");
    let out = node(&["--input-type=module", "-e", &script]);
    let web: Vec<String> = serde_json::from_slice(&out.stdout).expect("a JSON list");
    let terminal: Vec<String> = seconds.iter().map(|s| mist_core::api::clock(*s)).collect();
    assert_eq!(web, terminal, "for {seconds:?}");
    // The track a new user saw as 2:42 on the web and 2:43 in the terminal.
    assert_eq!(terminal[9], "2:42");
}

/// Runs `node args` in the web directory; its output, once it succeeded.
fn node(args: &[&str]) -> std::process::Output {
    let out = Command::new("node")
        .args(args)
        .current_dir(web_dir())
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "node {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_served_with_strict_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    let http = reqwest::Client::new();

    let page = http.get(app.url("/")).send().await.expect("GET /");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(header_of(&page, header::CONTENT_TYPE), "text/html; charset=utf-8");
    let csp = header_of(&page, header::CONTENT_SECURITY_POLICY).to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self';",
        "style-src 'self';",
        "media-src 'self' blob:;",
        "img-src 'self' blob:;",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive:?}: {csp}");
    }
    assert!(!csp.contains("unsafe-"), "{csp}");
    assert_eq!(header_of(&page, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(header_of(&page, header::REFERRER_POLICY), "no-referrer");
    assert!(
        page.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
        "same-origin page: no CORS"
    );
    let html = page.text().await.expect("page");
    assert!(
        html.contains(r#"<script type="module" src="/assets/app.js">"#),
        "{html}"
    );

    for (path, content_type) in [
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let response = http.get(app.url(path)).send().await.expect("asset");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header_of(&response, header::CONTENT_TYPE), content_type, "{path}");
        assert_eq!(header_of(&response, header::CACHE_CONTROL), "no-cache", "{path}");
        let etag = header_of(&response, header::ETAG).to_owned();
        assert!(!response.bytes().await.expect("body").is_empty(), "{path}");
        let again = http
            .get(app.url(path))
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .expect("revalidate");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }

    for path in ["/assets/nope.js", "/assets/../Cargo.toml", "/index.html"] {
        let response = http.get(app.url(path)).send().await.expect("missing");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = response.json().await.expect("JSON error");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    // The API is untouched.
    let health = http.get(app.url("/healthz")).send().await.expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    let me = http.get(app.url("/api/v1/me")).send().await.expect("me");
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_s3_the_policy_lets_the_page_reach_the_bucket() {
    let mut options = TestOptions::new(Backend::Sqlite);
    options.store = Store::S3;
    let app = spawn_with(options).await;
    let page = reqwest::get(app.url("/")).await.expect("GET /");
    let csp = header_of(&page, header::CONTENT_SECURITY_POLICY);
    let endpoint = std::env::var("MIST_TEST_S3_ENDPOINT").expect("S3 test endpoint");
    let origin = url::Url::parse(&endpoint)
        .expect("endpoint URL")
        .origin()
        .ascii_serialization();
    let connect = csp
        .split(';')
        .find(|d| d.trim().starts_with("connect-src"))
        .unwrap_or_else(|| panic!("no connect-src: {csp}"));
    assert!(
        connect.split_whitespace().any(|s| s == origin),
        "connect-src lacks the bucket {origin}: {csp}"
    );
}

/// The whole page in Chromium: see `web/e2e/e2e.mjs` for what it does and
/// checks. The free plan allows 25 s a day here, so the listener passes 10 s
/// and then runs out of quota within one test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_registers_uploads_searches_and_plays_in_chromium_until_the_quota_ends() {
    require_web_tools(true);
    let mut options = TestOptions::new(Backend::Sqlite);
    options.tweak = |raw| {
        raw.free_daily_seconds = 25;
        raw.registration = "invite".into();
    };
    let app = spawn_with(options).await;
    let work = app.data_dir.path();
    let track = work.join("aurora.wav");
    generate_wav(&track, 40.0);

    // A neighbour, so "similar tracks" has something to show.
    let other = admin_client(&app).await;
    let invite = other
        .create_invite(&mist_core::api::CreateInviteRequest::default())
        .await
        .expect("invite")
        .code;
    let neighbour = work.join("borealis.wav");
    generate_wav(&neighbour, 12.0);
    let meta = CompleteUploadRequest {
        title: Some("Borealis Drone".into()),
        artist: Some("MIST Test Ensemble".into()),
        genre: Some("Ambient".into()),
        ..Default::default()
    };
    let job = upload_file(&other, &neighbour, meta).await;
    assert_eq!(
        wait_for_job(&other, &job, Duration::from_secs(120)).await.status,
        JobStatus::Ready
    );
    // The admin's album for the queue: three short tracks with a cover, the
    // second titled with HTML (shown as text, never run; an escape code the
    // server refuses at upload and strips from tags, so none reaches a page).
    let mut album_jobs = Vec::new();
    for (number, title) in (1_i64..).zip(ALBUM_TRACKS) {
        let wav = work.join(format!("album-{number}.wav"));
        generate_wav(&wav, 4.0);
        let meta = CompleteUploadRequest {
            title: Some(title.into()),
            artist: Some("MIST Test Ensemble".into()),
            album: Some(ALBUM.into()),
            album_artist: Some("MIST Test Ensemble".into()),
            track_number: Some(number),
            genre: Some("Electronic".into()),
            year: Some(2026),
            ..Default::default()
        };
        album_jobs.push(upload_file(&other, &wav, meta).await);
    }
    // They ingest while the listener's part of the browser test runs (the
    // page waits for the album); the cover goes on once all three are ready,
    // so the album shows with a cover only when it is whole.
    let admin = other.clone();
    let album_ready = tokio::spawn(async move {
        let mut tracks = Vec::new();
        for job in &album_jobs {
            let done = wait_for_job(&admin, job, Duration::from_secs(180)).await;
            assert_eq!(done.status, JobStatus::Ready, "{done:?}");
            tracks.push(done.track_id);
        }
        for track in &tracks {
            admin.put_track_cover(track, cover_png()).await.expect("cover");
        }
    });

    let out = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .join("target/web-e2e");
    // Old screenshots must not pass for new ones.
    let _ = std::fs::remove_dir_all(&out);
    let (email, username, password) = ("listener@example.com", "listener", "listener-password");
    let base_url = app.base_url.clone();
    let track_arg = track.clone();
    let out_arg = out.clone();
    let started = Instant::now();
    let run = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(web_dir().join("e2e/e2e.mjs"))
            .args([
                "--url",
                &base_url,
                "--email",
                email,
                "--username",
                username,
                "--password",
                password,
                "--invite",
                &invite,
                "--admin-email",
                ADMIN_EMAIL,
                "--admin-password",
                ADMIN_PASSWORD,
            ])
            .arg("--audio")
            .arg(&track_arg)
            .arg("--out")
            .arg(&out_arg)
            .arg("--chromium")
            .arg(chromium())
            .output()
            .expect("run node e2e/e2e.mjs")
    })
    .await
    .expect("e2e task");
    album_ready.await.expect("the album ingested");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "the browser test failed after {:?}:\n{stderr}{stdout}",
        started.elapsed()
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON summary ({e}):\n{stdout}"));
    assert!(summary["current_time_s"].as_f64().unwrap_or(0.0) > 10.0, "{summary}");
    assert_eq!(summary["heart_page_loads"], 20, "{summary}");
    // What the server charged: the keys the page unlocked, the whole quota
    // and at most one key period more.
    let auth = app
        .client()
        .login(&LoginRequest {
            email: email.into(),
            password: password.into(),
        })
        .await
        .expect("the page registered the listener");
    let listener = app.client().with_token(auth.token);
    let quota = listener.quota().await.expect("quota");
    assert!(
        quota.used_s > 10.0,
        "the server counted only {} s: {quota:?}",
        quota.used_s
    );
    assert!(quota.used_s <= 25.0 + 6.1, "{quota:?}");
    // Spent (the page was refused a session), then made premium by the admin page.
    assert_eq!(quota.plan, mist_core::api::Plan::Premium, "{quota:?}");
    assert_eq!(quota.remaining_s, None, "{quota:?}");
    eprintln!(
        "{stderr}web e2e passed in {:.1} s: {summary}; the server counted {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        quota.used_s,
        out.display()
    );
    let history = listener.history(None).await.expect("history");
    assert_eq!(
        history.items.len(),
        1,
        "one session, and none after the quota: {history:?}"
    );
    let session = &history.items[0];
    assert_eq!(session.track.title, "Aurora Test Signal");
    assert!(session.completed, "the page completes its session when it stops");
    assert!(session.listened_s > 10.0, "{session:?}");
    // The web saved the admin's queue, for any client to resume: the album
    // without the track the page deleted.
    let saved = other.play_queue().await.expect("the web saved a play queue");
    assert_eq!(saved.track_ids.len(), ALBUM_TRACKS.len() - 1, "{saved:?}");
    assert_eq!(saved.changed_by, "web");
    for name in [
        "login", "upload", "apps", "search", "library", "playing", "quota", "albums", "album", "queue", "admin",
    ] {
        for size in ["1280x800", "390x844"] {
            let shot = out.join(format!("{name}-{size}.png"));
            assert!(shot.is_file(), "no screenshot {}", shot.display());
        }
    }
}
