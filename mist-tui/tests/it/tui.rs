//! The terminal player, driven as a person would: the real `mist` binary in a
//! real terminal (tmux, `send-keys` and `capture-pane`) against a real server
//! (`mist_server::testing`), with sound going to a WAV file.
//!
//! Each step waits for the screen to show what it should and keeps a copy of
//! the screen in `$CARGO_TARGET_TMPDIR/tui-screens/` (printed on failure).
//! Playback runs in real time, so these tests take about a minute.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mist_core::api::CompleteUploadRequest;
use mist_core::client::Client;
use mist_server::testing::audio::{decode_mono, generate_wav};
use mist_server::testing::catalogue::{FakeTrack, insert_ready_track};
use mist_server::testing::upload::{upload_file, wait_for_job};
use mist_server::testing::{Backend, TestApp, spawn_app};

use crate::common;

use common::{Mist, PASSWORD};

/// A tmux server of its own (its own socket) running one `mist`.
struct Tmux {
    socket: PathBuf,
    /// Where the shell around mist writes its exit status.
    exit_file: PathBuf,
    /// mist's log file.
    log: PathBuf,
    name: String,
    screens: PathBuf,
    step: usize,
}

impl Tmux {
    /// Runs `mist args` for `mist`'s user in a `width`×`height` terminal.
    fn start(mist: &Mist, name: &str, args: &[&str], width: u16, height: u16) -> Tmux {
        Tmux::start_with(mist, name, &[], args, width, height)
    }

    /// [`Tmux::start`] with more of `mist`'s environment (`NAME=value`).
    fn start_with(mist: &Mist, name: &str, env: &[String], args: &[&str], width: u16, height: u16) -> Tmux {
        // A socket per start: a server told to quit by the last `Tmux`'s drop
        // can still hold the old socket for a moment, and a client reaching
        // it then fails with "server exited unexpectedly".
        let socket = mist.path(&format!("tmux-{name}.sock"));
        let conf = mist.path("tmux.conf");
        // The pane (and its last screen) stays after mist exits.
        std::fs::write(&conf, "set -g remain-on-exit on\nset -g status off\n").expect("tmux.conf");
        let screens = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("tui-screens")
            .join(name);
        let _ = std::fs::remove_dir_all(&screens);
        std::fs::create_dir_all(&screens).expect("screens dir");
        let home = mist.home.path().display().to_string();
        let exit_file = mist.path("mist.exit");
        // tmux can be slow to reap a dead pane (its exit status stays empty
        // for a while), so a shell around mist writes the status to a file.
        let script = format!("\"$0\" \"$@\"; echo $? > '{}'", exit_file.display());
        let mut command = Command::new("tmux");
        command
            .arg("-S")
            .arg(&socket)
            .arg("-f")
            .arg(&conf)
            .args([
                "new-session",
                "-d",
                "-s",
                "mist",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .args(["env", "-u", "MIST_SERVER", "-u", "MIST_AUDIO", "TERM=xterm-256color"])
            .arg(format!("HOME={home}"))
            .arg(format!("XDG_CONFIG_HOME={}", mist.xdg_config_home().display()))
            .arg(format!("XDG_STATE_HOME={home}/state"))
            .args(env)
            .args(["sh", "-c", &script])
            .arg(env!("CARGO_BIN_EXE_mist"))
            .args(args);
        let status = command
            .status()
            .expect("tmux runs (scripts/test-services.sh installs it)");
        assert!(status.success(), "tmux new-session failed");
        Tmux {
            socket,
            exit_file,
            log: mist.path("state/mist/mist.log"),
            name: name.to_string(),
            screens,
            step: 0,
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Presses keys by tmux name (`Enter`, `Space`, `Right`, `q`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "mist"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Types text literally.
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "mist", "-l", text]);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "mist"])
    }

    /// Waits until the screen satisfies `ready`, saves it as the next step
    /// and returns it; fails with the last screen after `timeout`.
    async fn wait(&mut self, what: &str, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                self.step += 1;
                let slug: String = what
                    .chars()
                    .map(|c| if c.is_alphanumeric() { c } else { '-' })
                    .collect();
                let file = self.screens.join(format!("{:02}-{slug}.txt", self.step));
                std::fs::write(file, &screen).expect("saves the screen");
                return screen;
            }
            if started.elapsed() > timeout {
                panic!("{}: waited {timeout:?} for {what}; the screen:\n{screen}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        self.wait(needle, timeout, |screen| screen.contains(needle)).await
    }

    /// `Some(status)` once mist has exited.
    fn exit_status(&self) -> Option<i32> {
        std::fs::read_to_string(&self.exit_file).ok()?.trim().parse().ok()
    }

    async fn wait_for_exit(&self, timeout: Duration) -> i32 {
        let started = Instant::now();
        loop {
            if let Some(status) = self.exit_status() {
                return status;
            }
            assert!(
                started.elapsed() < timeout,
                "mist did not exit; the screen:\n{}\nthe log:\n{}",
                self.screen(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .status();
    }
}

/// The playhead the now-playing bar shows (`0:12 / 0:30` → 12 s).
fn playhead(screen: &str) -> Option<u64> {
    screen.lines().find_map(|line| {
        let slash = line.find(" / ")?;
        let before = line[..slash].trim_start_matches(|c: char| !c.is_ascii_digit());
        let (minutes, seconds) = before.trim().split_once(':')?;
        Some(minutes.parse::<u64>().ok()? * 60 + seconds.parse::<u64>().ok()?)
    })
}

/// Uploads `seconds` of generated audio titled `title`; returns the track id.
async fn upload_tone(app: &TestApp, client: &Client, dir: &Path, title: &str, seconds: f64) -> String {
    let source = dir.join(format!("{}.wav", title.replace(' ', "-")));
    generate_wav(&source, seconds);
    let meta = CompleteUploadRequest {
        title: Some(title.into()),
        artist: Some("Sox".into()),
        genre: Some("test tones".into()),
        ..CompleteUploadRequest::default()
    };
    let job_id = upload_file(client, &source, meta).await;
    let job = wait_for_job(client, &job_id, Duration::from_secs(120)).await;
    assert_eq!(
        job.status,
        mist_core::api::JobStatus::Ready,
        "{job:?} on {}",
        app.base_url
    );
    job.track_id
}

async fn registered(app: &TestApp, username: &str) -> Client {
    let auth = app
        .client()
        .register(&mist_core::api::RegisterRequest {
            email: format!("{username}@mist.test"),
            username: username.into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("registers");
    app.client().with_token(auth.token)
}

const SHORT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread")]
async fn log_in_search_play_pause_seek_queue_and_quit() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = registered(&app, "tuilistener").await;
    let mist = Mist::new();
    // A long list to page through (made-up tracks, after the real ones A–Z).
    let me = client.me().await.expect("me");
    for i in 1..=60 {
        let filler = FakeTrack {
            title: format!("Zephyr {i:02}"),
            duration_s: 60.0,
            ..FakeTrack::default()
        };
        insert_ready_track(&app.state, &me.id, &filler).await;
    }
    upload_tone(&app, &client, mist.home.path(), "Marmalade Skies", 30.0).await;
    upload_tone(&app, &client, mist.home.path(), "Thunder Road", 8.0).await;
    let before = client.quota().await.expect("quota");

    let out = mist.path("heard.wav");
    let audio = format!("wav:{}", out.display());
    let mut tmux = Tmux::start(
        &mist,
        "session",
        &["--server", &app.base_url, "--audio", &audio],
        100,
        30,
    );

    // No saved login: the login screen. Email, Enter, password, Enter.
    tmux.wait_for("MIST · log in", SHORT).await;
    tmux.type_text("tuilistener@mist.test");
    tmux.keys(&["Enter"]);
    tmux.type_text(PASSWORD);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("Thunder Road", SHORT).await;
    assert!(
        screen.contains("Marmalade Skies") && screen.contains("tuilistener"),
        "{screen}"
    );
    assert!(screen.contains("5:00 left today"), "{screen}");

    // Search by a prefix of the title, live as it is typed.
    tmux.keys(&["/"]);
    tmux.type_text("Marma");
    let screen = tmux.wait_for("Search “Marma” · 1", SHORT).await;
    assert!(
        screen.contains("Marmalade Skies") && !screen.contains("Thunder Road"),
        "{screen}"
    );

    // Play it.
    tmux.keys(&["Enter", "Enter"]);
    let screen = tmux
        .wait("playing", SHORT, |s| {
            s.contains("▶ Marmalade Skies") && playhead(s) >= Some(2)
        })
        .await;
    assert!(screen.contains("k ·"), "a rendition is shown: {screen}");

    // Pause: the playhead stands still; resume: it moves on.
    tmux.keys(&["Space"]);
    let paused = tmux.wait_for("(paused)", SHORT).await;
    let at = playhead(&paused).expect("a playhead");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = tmux.wait_for("(paused)", SHORT).await;
    assert_eq!(playhead(&still), Some(at), "paused:\n{still}");
    tmux.keys(&["Space"]);
    tmux.wait("resumed", SHORT, |s| !s.contains("(paused)") && playhead(s) > Some(at))
        .await;

    // Seek 10 s forward: faster than real time could get there.
    let before_seek = playhead(&tmux.screen()).expect("a playhead");
    let seek_started = Instant::now();
    tmux.keys(&["Right"]);
    tmux.wait("seeked", SHORT, |s| playhead(s) >= Some(before_seek + 9))
        .await;
    assert!(
        seek_started.elapsed() < Duration::from_secs(5),
        "{:?}",
        seek_started.elapsed()
    );

    // Queue the second track.
    tmux.keys(&["/", "C-u"]);
    tmux.type_text("Thund");
    tmux.wait_for("Search “Thund” · 1", SHORT).await;
    tmux.keys(&["Enter", "a"]);
    let screen = tmux.wait_for("1. Thunder Road", SHORT).await;
    assert!(screen.contains("Queue · 1"), "{screen}");

    // Like it, then list what sounds like it.
    tmux.keys(&["l"]);
    tmux.wait_for("♥ Thunder Road", SHORT).await;

    // Make a playlist with it, then open the playlist.
    tmux.keys(&["A"]);
    tmux.wait_for("No playlists yet", SHORT).await;
    tmux.keys(&["n"]);
    tmux.type_text("Road trip");
    tmux.keys(&["Enter"]);
    tmux.wait_for("added Thunder Road to Road trip", SHORT).await;
    tmux.keys(&["P"]);
    tmux.wait_for("Road trip · 1", SHORT).await;
    tmux.keys(&["Enter"]);
    tmux.wait_for("Playlist “Road trip” · 1", SHORT).await;

    tmux.keys(&["s"]);
    let screen = tmux.wait_for("Sounds like “Thunder Road” · 1", SHORT).await;
    assert!(screen.contains("Marmalade Skies"), "{screen}");

    // Esc goes back to the playlist, Backspace to the search it came from.
    tmux.keys(&["Escape"]);
    tmux.wait_for("Playlist “Road trip” · 1", SHORT).await;
    tmux.keys(&["BSpace"]);
    tmux.wait_for("Search “Thund” · 1", SHORT).await;

    // Every track: a long list, paged through.
    tmux.keys(&["/", "C-u"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Tracks · 62", SHORT).await;
    tmux.keys(&["G"]);
    tmux.wait_for("Zephyr 60", SHORT).await;
    tmux.keys(&["g"]);
    tmux.wait("back at the top", SHORT, |s| {
        s.contains("Zephyr 01") && !s.contains("Zephyr 60") && !s.contains("Zephyr 30")
    })
    .await;
    tmux.keys(&["NPage"]);
    tmux.wait("a page down", SHORT, |s| {
        s.contains("Zephyr 30") && !s.contains("Zephyr 01")
    })
    .await;
    tmux.keys(&["C-u"]);
    tmux.wait("a page up", SHORT, |s| s.contains("Zephyr 01")).await;

    // The first track ends; the queued one takes over by itself.
    let screen = tmux
        .wait("advanced", Duration::from_secs(40), |s| s.contains("▶ Thunder Road"))
        .await;
    assert!(screen.contains("Queue · 0"), "{screen}");
    tmux.wait("second track plays", SHORT, |s| playhead(s) >= Some(2)).await;

    // Upload a file: complete its path with Tab, watch it become a track.
    let upload = mist.path("upload-me.wav");
    generate_wav(&upload, 4.0);
    tmux.keys(&["u"]);
    tmux.wait_for("Upload a file", SHORT).await;
    let typed = upload.display().to_string().replace("upload-me.wav", "upload-m");
    tmux.type_text(&typed);
    tmux.keys(&["Tab"]);
    tmux.wait_for("upload-me.wav", SHORT).await;
    tmux.keys(&["Enter"]);
    tmux.wait_for("is in the catalogue", Duration::from_secs(60)).await;
    // (Esc and a key sent together would read as Alt+key.)
    tmux.keys(&["Escape"]);
    tmux.wait("dialog closed", SHORT, |s| !s.contains("Upload a file"))
        .await;
    tmux.keys(&["/", "C-u"]);
    tmux.type_text("upload");
    tmux.wait_for("Search “upload” · 1", SHORT).await;

    // Enter leaves the search box (where `q` is a letter), Enter plays the
    // new track; `q` while it plays gives the terminal back at once, and the
    // session is completed behind it.
    tmux.keys(&["Enter", "Enter"]);
    tmux.wait("the upload plays", SHORT, |s| {
        s.contains("▶ upload-me") && playhead(s) >= Some(1)
    })
    .await;
    let quit = Instant::now();
    tmux.keys(&["q"]);
    tmux.wait("the terminal is back", SHORT, |s| !s.contains("Now playing"))
        .await;
    let terminal_back = quit.elapsed();
    assert_eq!(tmux.wait_for_exit(SHORT).await, 0);
    let exited = quit.elapsed();
    eprintln!("q while playing: the terminal back after {terminal_back:?}, mist gone after {exited:?}");
    assert!(terminal_back < Duration::from_secs(1), "{terminal_back:?}");
    // The report behind it is bounded (2 s; a few milliseconds normally).
    assert!(exited < Duration::from_secs(3), "{exited:?}");
    let history = client.history(None).await.expect("history");
    let last = history.items.first().expect("sessions");
    assert!(last.track.title.contains("upload"), "{last:?}");
    assert!(last.completed, "the session was completed on the way out: {last:?}");

    // The WAV holds sound: the rest of the first track after the seek
    // (~20 s) and the start of the second.
    let heard = decode_mono(out.to_str().expect("UTF-8 path"), None);
    let seconds = heard.len() as f64 / 44_100.0;
    assert!((18.0..32.0).contains(&seconds), "heard {seconds} s");
    let rms = (heard.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / heard.len() as f64).sqrt();
    assert!(rms > 0.05, "rms {rms}");

    // The server charged the keys it gave (docs/quota.md): all that was
    // heard, plus at most what the 10 s seek skipped and one key period.
    let after = client.quota().await.expect("quota");
    let counted = after.used_s - before.used_s;
    assert!(
        counted >= seconds - 2.0 && counted <= seconds + 10.0 + 6.1,
        "charged {counted} s for {seconds} s heard"
    );

    // Logs went to the state dir, not the screen.
    let log = std::fs::read_to_string(mist.path("state/mist/mist.log")).expect("a log file");
    assert!(log.contains("mist starts") && log.contains("playing"), "{log}");
    // The decoder's chatter is not in it.
    assert!(!log.contains("symphonia"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_the_server_mid_track_shows_an_error_and_the_ui_lives_on() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register(&app, "tuistranded").await.assert_ok();
    let token = std::fs::read_to_string(mist.token_file()).expect("token");
    let client = app.client().with_token(token.trim());
    upload_tone(&app, &client, mist.home.path(), "Long Goodbye", 60.0).await;

    let mut tmux = Tmux::start(&mist, "server-lost", &["--audio", "null"], 80, 24);
    tmux.wait_for("Long Goodbye", SHORT).await;
    tmux.keys(&["Enter"]);
    tmux.wait("playing", SHORT, |s| {
        s.contains("▶ Long Goodbye") && playhead(s) >= Some(1)
    })
    .await;
    drop(app);
    let screen = tmux.wait_for("lost the server", Duration::from_secs(60)).await;
    assert!(screen.contains("Nothing playing"), "{screen}");

    // Still answering keys.
    tmux.keys(&["?"]);
    tmux.wait_for("pause / resume", SHORT).await;
    tmux.keys(&["Escape"]);
    tmux.wait("help closed", SHORT, |s| !s.contains("pause / resume")).await;
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_for_exit(SHORT).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_quota_shows_the_banner_with_the_reset_time() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register(&app, "tuispender").await.assert_ok();
    let token = std::fs::read_to_string(mist.token_file()).expect("token");
    let client = app.client().with_token(token.trim());
    let (_, quota) = common::spend_the_days_quota(&app, &client).await;
    let resets = quota.resets_at.format("%H:%M UTC").to_string();

    let mut tmux = Tmux::start(&mist, "quota", &["--audio", "null"], 80, 24);
    let banner = format!("quota is used up. It resets at {resets}");
    tmux.wait_for(&banner, SHORT).await;
    // Trying to play says the same and plays nothing.
    tmux.keys(&["Enter"]);
    let screen = tmux
        .wait("refused", SHORT, |s| {
            s.contains(&banner) && s.contains("Nothing playing")
        })
        .await;
    assert!(screen.contains("0:00 left today"), "{screen}");
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_for_exit(SHORT).await, 0);
}

/// The title queued at `place` (`1. Dawn · Sox  0:04` → `Dawn`).
fn queued(screen: &str, place: usize) -> Option<String> {
    let prefix = format!("{place}. ");
    screen.lines().find_map(|line| {
        let start = line.find(&prefix)? + prefix.len();
        let rest = &line[start..];
        Some(rest[..rest.find(" · ")?].to_string())
    })
}

/// The title playing (`▶ Dawn — Sox` → `Dawn`; the cover may come before it).
fn now_playing(screen: &str) -> Option<String> {
    screen.lines().find_map(|line| {
        let start = line.find("▶ ")? + "▶ ".len();
        let rest = &line[start..];
        Some(rest[..rest.find(" — ")?].to_string())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_album_plays_shuffled_the_queue_moves_repeats_one_and_resumes() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register(&app, "tuialbum").await.assert_ok();
    let token = std::fs::read_to_string(mist.token_file()).expect("token");
    let client = app.client().with_token(token.trim());
    let titles = ["Dawn", "Noon", "Dusk"];
    for (i, title) in titles.iter().enumerate() {
        let source = mist.path(&format!("{title}.wav"));
        generate_wav(&source, 4.0);
        let meta = CompleteUploadRequest {
            title: Some((*title).into()),
            artist: Some("Sox".into()),
            album: Some("Night Shift".into()),
            track_number: Some(i as i64 + 1),
            ..CompleteUploadRequest::default()
        };
        let job_id = upload_file(&client, &source, meta).await;
        let job = wait_for_job(&client, &job_id, Duration::from_secs(120)).await;
        assert_eq!(job.status, mist_core::api::JobStatus::Ready, "{job:?}");
        if i == 0 {
            // A cover for the album (through its first track).
            let picture = image::RgbImage::from_fn(300, 300, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
            let mut png = std::io::Cursor::new(Vec::new());
            picture.write_to(&mut png, image::ImageFormat::Png).expect("a PNG");
            client
                .put_track_cover(&job.track_id, png.into_inner())
                .await
                .expect("a cover");
        }
    }

    let mut tmux = Tmux::start(&mist, "album", &["--audio", "null"], 120, 40);
    tmux.wait_for("Dusk", SHORT).await;
    // The Albums section, then the album's page.
    tmux.keys(&["2"]);
    tmux.wait_for("Albums · 1", SHORT).await;
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("Album “Night Shift” · 3", SHORT).await;
    assert!(screen.contains("3 tracks"), "{screen}");
    // Its cover, fetched with the login's token, in half blocks (tmux).
    tmux.wait("the album's cover", SHORT, |s| s.contains(['▀', '▄'])).await;

    // Shuffled: one plays, the other two are queued, each once.
    tmux.keys(&["E"]);
    let screen = tmux
        .wait("shuffled", SHORT, |s| {
            s.contains("Queue · 2") && now_playing(s).is_some()
        })
        .await;
    let mut order: Vec<String> = [now_playing(&screen), queued(&screen, 1), queued(&screen, 2)]
        .into_iter()
        .map(|t| t.expect("three titles"))
        .collect();
    let (first, second) = (order[1].clone(), order[2].clone());
    order.sort();
    assert_eq!(order, ["Dawn", "Dusk", "Noon"], "{screen}");

    // Move the first queued entry down: the two swap.
    tmux.keys(&["Tab"]);
    tmux.keys(&["J"]);
    tmux.wait("moved", SHORT, |s| {
        queued(s, 1).as_ref() == Some(&second) && queued(s, 2).as_ref() == Some(&first)
    })
    .await;

    // Repeat one: the track playing starts again at its end; the queue waits.
    tmux.keys(&["R", "R"]);
    let screen = tmux.wait_for("repeat one", SHORT).await;
    let playing = now_playing(&screen).expect("a track plays");
    tmux.wait("near its end", SHORT, |s| playhead(s) >= Some(3)).await;
    let screen = tmux
        .wait("played again", SHORT, |s| {
            playhead(s) <= Some(1) && now_playing(s).as_ref() == Some(&playing)
        })
        .await;
    assert!(screen.contains("Queue · 2"), "{screen}");

    // Quit: the queue and the playhead are saved on the server ...
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_for_exit(SHORT).await, 0);
    let saved = client.play_queue().await.expect("a saved queue");
    assert_eq!(saved.track_ids.len(), 3, "{saved:?}");
    assert_eq!(saved.current_index, Some(0));
    drop(tmux);

    // ... and the next start picks up there, paused until Space.
    let _ = std::fs::remove_file(mist.path("mist.exit"));
    let mut tmux = Tmux::start(&mist, "resumed", &["--audio", "null"], 120, 40);
    let screen = tmux.wait_for(&format!("resume {playing}"), SHORT).await;
    assert!(screen.contains(&format!("⏸ {playing}")), "{screen}");
    assert_eq!(queued(&screen, 1).as_ref(), Some(&second), "{screen}");
    tmux.keys(&["Space"]);
    tmux.wait("resumed", SHORT, |s| now_playing(s).as_ref() == Some(&playing))
        .await;
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_for_exit(SHORT).await, 0);
}

/// A private D-Bus session bus for one test (`dbus-daemon --session`, the
/// Debian package `dbus`): the player registers there, not on the desktop's.
/// Stopped on drop.
struct SessionBus {
    daemon: std::process::Child,
    address: String,
}

impl SessionBus {
    fn start(dir: &Path) -> SessionBus {
        use std::io::BufRead;
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address"])
            .arg(format!("--address=unix:path={}", dir.join("bus").display()))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("dbus-daemon runs (scripts/test-services.sh installs dbus)");
        let mut address = String::new();
        let stdout = daemon.stdout.take().expect("piped stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut address)
            .expect("dbus-daemon prints its address");
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "{address:?}");
        SessionBus { daemon, address }
    }

    /// Runs `playerctl args` on this bus; its output, trimmed.
    fn playerctl(&self, args: &[&str]) -> String {
        let output = Command::new("playerctl")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .args(args)
            .output()
            .expect("playerctl runs (scripts/test-services.sh installs it)");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// Media keys: `playerctl` on a private session bus finds `mist`, reads what
/// plays, pauses it and skips to the queued track.
#[tokio::test(flavor = "multi_thread")]
async fn playerctl_sees_reads_pauses_and_skips_mist_over_mpris() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register(&app, "tuimediakeys").await.assert_ok();
    let token = std::fs::read_to_string(mist.token_file()).expect("token");
    let client = app.client().with_token(token.trim());
    upload_tone(&app, &client, mist.home.path(), "Alpha Tone", 20.0).await;
    upload_tone(&app, &client, mist.home.path(), "Beta Tone", 20.0).await;
    let bus = SessionBus::start(mist.home.path());

    let mut tmux = Tmux::start_with(
        &mist,
        "mpris",
        &[format!("DBUS_SESSION_BUS_ADDRESS={}", bus.address)],
        &["--audio", "null"],
        100,
        30,
    );
    tmux.wait_for("Beta Tone", SHORT).await;
    tmux.keys(&["/"]);
    tmux.type_text("Alpha");
    tmux.wait_for("Search “Alpha” · 1", SHORT).await;
    tmux.keys(&["Enter", "Enter"]);
    tmux.wait("playing", SHORT, |s| {
        s.contains("▶ Alpha Tone") && playhead(s) >= Some(1)
    })
    .await;
    tmux.keys(&["/", "C-u"]);
    tmux.type_text("Beta");
    tmux.wait_for("Search “Beta” · 1", SHORT).await;
    tmux.keys(&["Enter", "a"]);
    tmux.wait_for("1. Beta Tone", SHORT).await;

    // `playerctl -l` lists it as an instance of mist.
    let players = bus.playerctl(&["-l"]);
    assert!(
        players.lines().any(|p| p.starts_with("mist.instance")),
        "players: {players:?}"
    );
    let started = Instant::now();
    while bus.playerctl(&["-p", "mist", "metadata", "title"]) != "Alpha Tone" {
        assert!(
            started.elapsed() < SHORT,
            "title: {:?}",
            bus.playerctl(&["-p", "mist", "metadata"])
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(bus.playerctl(&["-p", "mist", "metadata", "artist"]), "Sox");
    assert_eq!(bus.playerctl(&["-p", "mist", "status"]), "Playing");

    // Pause: the screen says so and the playhead stops.
    bus.playerctl(&["-p", "mist", "pause"]);
    let paused = tmux.wait_for("(paused)", SHORT).await;
    let at = playhead(&paused);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(playhead(&tmux.wait_for("(paused)", SHORT).await), at);
    let started = Instant::now();
    while bus.playerctl(&["-p", "mist", "status"]) != "Paused" {
        assert!(
            started.elapsed() < SHORT,
            "still {:?}",
            bus.playerctl(&["-p", "mist", "status"])
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bus.playerctl(&["-p", "mist", "play"]);
    tmux.wait("resumed", SHORT, |s| !s.contains("(paused)") && playhead(s) > at)
        .await;

    // Next: the queued track plays, and the bus says so.
    bus.playerctl(&["-p", "mist", "next"]);
    let screen = tmux.wait_for("▶ Beta Tone", SHORT).await;
    assert!(screen.contains("Queue · 0"), "{screen}");
    let started = Instant::now();
    while bus.playerctl(&["-p", "mist", "metadata", "title"]) != "Beta Tone" {
        assert!(started.elapsed() < SHORT, "title after next");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Volume, both ways.
    bus.playerctl(&["-p", "mist", "volume", "0.5"]);
    tmux.wait_for("vol 50%", SHORT).await;
    tmux.keys(&["+"]);
    tmux.wait_for("vol 60%", SHORT).await;
    let started = Instant::now();
    while bus.playerctl(&["-p", "mist", "volume"]) != "0.600000" {
        assert!(
            started.elapsed() < SHORT,
            "volume {:?}",
            bus.playerctl(&["-p", "mist", "volume"])
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_for_exit(SHORT).await, 0);
}
