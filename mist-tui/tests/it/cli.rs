//! The real `mist` binary against a real server spawned in-process
//! (`mist_server::testing`), each test with its own server (the auth rate
//! limiter is per server) and its own config directory.

use mist_server::testing::{Backend, spawn_app};

use crate::common;

use common::{Mist, PASSWORD};

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("exists").permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn register_saves_a_private_token_and_whoami_shows_the_user() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();

    let run = mist.register(&app, "alice").await;
    run.assert_ok();
    assert!(run.stdout.contains("alice <alice@mist.test>"), "{run:#?}");

    let token = std::fs::read_to_string(mist.token_file()).expect("token saved");
    assert!(!token.trim().is_empty());
    #[cfg(unix)]
    {
        assert_eq!(mode(&mist.token_file()), 0o600);
        assert_eq!(mode(mist.token_file().parent().expect("dir")), 0o700);
    }

    // No --server: the config remembers the server of the login.
    let config = std::fs::read_to_string(mist.config_file()).expect("config saved");
    assert!(config.contains(&app.base_url), "{config}");
    let run = mist.run(&["whoami"]).await;
    run.assert_ok();
    assert_eq!(run.stdout, "alice <alice@mist.test> user free\n");

    let run = mist.run(&["whoami", "--json"]).await;
    run.assert_ok();
    let user: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@mist.test");
    assert_eq!(user["role"], "user");
    assert_eq!(user["plan"], "free");
    assert!(user["id"].is_string(), "{user}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_forgets_the_token() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register(&app, "bob").await.assert_ok();

    let token = std::fs::read_to_string(mist.token_file()).expect("token");
    let run = mist.run(&["logout"]).await;
    run.assert_ok();
    assert!(!mist.token_file().exists());
    // Ended on the server too: the token is refused wherever a copy of it is.
    let err = app.client().with_token(token.trim()).me().await.expect_err("revoked");
    assert_eq!((err.status(), err.code()), (Some(401), Some("token_revoked")));

    mist.run(&["whoami"])
        .await
        .assert_error("not logged in; run `mist login`");

    // Logging out twice is not an error.
    mist.run(&["logout"]).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_fails_in_one_line_and_saves_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register(&app, "carol").await.assert_ok();
    mist.run(&["logout"]).await.assert_ok();

    let run = mist
        .run(&[
            "--server",
            &app.base_url,
            "login",
            "--email",
            "carol@mist.test",
            "--password",
            "not the password",
        ])
        .await;
    // What the server says, not its status and code.
    run.assert_error("wrong email or password");
    assert_eq!(run.stderr, "mist: error: wrong email or password\n");
    assert!(!mist.token_file().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_piped_on_stdin_logs_in() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register(&app, "dave").await.assert_ok();
    mist.run(&["logout"]).await.assert_ok();

    let login = ["login", "--email", "dave@mist.test"];
    let run = mist.run_with_stdin(&login, &format!("{PASSWORD}\n")).await;
    run.assert_ok();
    assert!(run.stdout.contains("dave <dave@mist.test>"), "{run:#?}");
    assert!(mist.token_file().exists());
    mist.run(&["whoami"]).await.assert_ok();

    // Nothing on stdin is an error, not an empty password.
    mist.run(&["logout"]).await.assert_ok();
    mist.run(&login).await.assert_error("no password given");
    assert!(!mist.token_file().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn register_reads_the_password_from_stdin_too() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    let run = mist
        .run_with_stdin(
            &[
                "--server",
                &app.base_url,
                "register",
                "--email",
                "erin@mist.test",
                "--username",
                "erin",
            ],
            &format!("{PASSWORD}\r\n"),
        )
        .await;
    run.assert_ok();
    mist.run(&["logout"]).await.assert_ok();
    mist.run(&["login", "--email", "erin@mist.test", "--password", PASSWORD])
        .await
        .assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn server_refusals_are_one_line_errors() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    let run = mist
        .run(&[
            "--server",
            &app.base_url,
            "register",
            "--email",
            "frank@mist.test",
            "--username",
            "frank",
            "--password",
            "short",
        ])
        .await;
    run.assert_error("password must be at least 8 characters");
    assert!(
        !run.stderr.contains("server said") && !run.stderr.contains("422"),
        "{run:#?}"
    );
    assert!(!mist.token_file().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_flag_beats_the_environment() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    // Nothing listens on port 9 of loopback.
    let nowhere = "http://127.0.0.1:9";

    let mut command = mist.command(&[
        "--server",
        &app.base_url,
        "register",
        "--email",
        "gina@mist.test",
        "--username",
        "gina",
        "--password",
        PASSWORD,
    ]);
    command.env("MIST_SERVER", nowhere);
    mist.run_command(command).await.assert_ok();

    // MIST_SERVER alone is used, and beats the config file.
    let mut command = mist.command(&["login", "--email", "gina@mist.test", "--password", PASSWORD]);
    command.env("MIST_SERVER", nowhere);
    mist.run_command(command)
        .await
        .assert_error("cannot connect to http://127.0.0.1:9");

    let mut command = mist.command(&["login", "--email", "gina@mist.test", "--password", PASSWORD]);
    command.env("MIST_SERVER", &app.base_url);
    mist.run_command(command).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_never_sent_to_another_server() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register(&app, "hank").await.assert_ok();

    let run = mist.run(&["--server", "http://127.0.0.1:9", "whoami"]).await;
    run.assert_error(&format!("logged in to {}, not http://127.0.0.1:9", app.base_url));

    // The same server spelt with a trailing slash is the same server.
    let with_slash = format!("{}/", app.base_url);
    mist.run(&["--server", &with_slash, "whoami"]).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_token_says_to_log_in_again() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register(&app, "iris").await.assert_ok();
    std::fs::write(mist.token_file(), "not-a-real-token\n").expect("overwrites");
    mist.run(&["whoami"])
        .await
        .assert_error("the saved login is no longer valid; run `mist login`: token is not valid");
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let mist = Mist::new();
    let usage_errors: &[&[&str]] = &[
        &["frobnicate"],
        &["login"],
        &["register", "--email", "a@b.c"],
        &["whoami", "--bogus"],
        &["--audio", "pulse", "whoami"],
        &["--audio", "wav:", "whoami"],
        &["--server", "localhost:8080", "whoami"],
    ];
    for args in usage_errors {
        let run = mist.run(args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
        run.assert_usage_error();
    }

    let mut command = mist.command(&["whoami"]);
    command.env("MIST_AUDIO", "speakers");
    mist.run_command(command).await.assert_usage_error();
}

#[tokio::test]
async fn the_player_needs_a_terminal_and_a_valid_keys_table() {
    let mist = Mist::new();
    // stdin is /dev/null and stdout a pipe: no terminal to draw on.
    mist.run(&[]).await.assert_error("the player needs a terminal");
    std::fs::create_dir_all(mist.config_file().parent().expect("dir")).expect("mkdir");
    std::fs::write(mist.config_file(), "[keys]\npause = \"sapce\"\n").expect("config");
    mist.run(&[]).await.assert_error("unknown key \"sapce\"");
}

#[tokio::test]
async fn help_and_version_exit_0() {
    let mist = Mist::new();
    let run = mist.run(&["--help"]).await;
    run.assert_ok();
    for command in ["register", "login", "logout", "whoami", "--server", "--audio"] {
        assert!(run.stdout.contains(command), "{command} in {run:#?}");
    }
    mist.run(&["--version"]).await.assert_ok();
}

#[tokio::test]
async fn whoami_without_a_login_needs_no_server() {
    let mist = Mist::new();
    mist.run(&["--audio", "null", "whoami"])
        .await
        .assert_error("not logged in; run `mist login`");
    // Nothing was written just by looking.
    assert!(!mist.xdg_config_home().exists());
}

#[tokio::test]
async fn an_unreachable_server_is_one_line() {
    let mist = Mist::new();
    let run = mist
        .run(&[
            "--server",
            "http://127.0.0.1:9",
            "login",
            "--email",
            "a@mist.test",
            "--password",
            PASSWORD,
        ])
        .await;
    run.assert_error("cannot connect to http://127.0.0.1:9");
}

#[tokio::test]
async fn home_config_is_used_without_xdg_config_home() {
    let mist = Mist::new();
    let config_dir = mist.home.path().join(".config").join("mist");
    std::fs::create_dir_all(&config_dir).expect("mkdir");
    std::fs::write(config_dir.join("config.toml"), "server = \"http://127.0.0.1:9\"\n").expect("writes");
    let mut command = mist.command(&["login", "--email", "a@mist.test", "--password", PASSWORD]);
    command.env_remove("XDG_CONFIG_HOME");
    mist.run_command(command)
        .await
        .assert_error("cannot connect to http://127.0.0.1:9");
}

/// The README's "First run" block, run as written (the server is the test's,
/// the password comes on stdin, `song.flac` is made for it), and its ffmpeg
/// line run by bash against the track uploaded: the commands a new user
/// copies must work.
#[tokio::test(flavor = "multi_thread")]
async fn the_readmes_first_run_and_ffmpeg_lines_work() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
    let block: Vec<&str> = readme
        .split("## First run")
        .nth(1)
        .and_then(|rest| rest.split("```sh\n").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("a First run block")
        .lines()
        .collect();
    assert_eq!(block.len(), 5, "five lines: {block:#?}");
    // The same server command as the README's first.
    assert!(
        block[0].starts_with("cargo run --release -p mist-server "),
        "{}",
        block[0]
    );
    assert!(readme.contains("\ncargo run --release -p mist-server     # run the server"));

    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    let source = mist.path("tone.wav");
    mist_server::testing::audio::generate_wav(&source, 4.0);
    mist_server::testing::audio::convert(&source, &mist.path("song.flac"), &[("title", "First Song")]);
    let mut ran = Vec::new();
    for line in &block {
        let command = line.split(" #").next().unwrap_or_default();
        let words: Vec<&str> = command.split_whitespace().collect();
        let ["mist", args @ ..] = words.as_slice() else {
            continue;
        };
        if args.is_empty() {
            continue; // the player: tests/tui.rs
        }
        let mut args = args.to_vec();
        args.extend(["--server", &app.base_url]);
        let mut command = mist.command(&args);
        command
            .current_dir(mist.home.path())
            .stdin(std::process::Stdio::piped());
        let mut child = command.spawn().expect("mist starts");
        let mut stdin = child.stdin.take().expect("stdin");
        tokio::io::AsyncWriteExt::write_all(&mut stdin, format!("{PASSWORD}\n").as_bytes())
            .await
            .expect("password");
        drop(stdin);
        let run = common::Run::from(child.wait_with_output().await.expect("mist runs"));
        run.assert_ok();
        ran.push(args[0].to_owned());
    }
    assert_eq!(ran, ["register", "upload"]);

    let admin = mist_server::testing::upload::admin_client(&app).await;
    let found = admin
        .tracks(&mist_core::api::TrackQuery {
            q: Some("First Song".into()),
            ..Default::default()
        })
        .await
        .expect("search");
    let master_url = found.items[0].master_url.clone().expect("ready");
    let ffmpeg = readme
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("ffmpeg -headers"))
        .expect("the README's ffmpeg line");
    let out = std::process::Command::new("bash")
        .args(["-c", ffmpeg])
        .current_dir(mist.home.path())
        .stdin(std::process::Stdio::null())
        .env("TOKEN", admin.token().expect("token"))
        .env("MASTER_URL", &master_url)
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Without the \r\n ffmpeg complains ("No trailing CRLF found in HTTP header").
    assert!(!stderr.contains("CRLF"), "{stderr}");
    let heard = mist_server::testing::audio::decode_mono(mist.path("out.wav").to_str().expect("path"), None);
    let seconds = heard.len() as f64 / 44_100.0;
    assert!((seconds - 4.0).abs() < 0.3, "ffmpeg wrote {seconds} s of a 4 s track");
}

/// A title full of escape sequences, already in the database (written
/// before the server checked, or straight into it): `mist search` shows it
/// without a single control or bidi-override character, as a table and as
/// JSON, and the JSON still carries the title exactly.
#[tokio::test(flavor = "multi_thread")]
async fn search_prints_no_escape_byte_for_a_hostile_title() {
    use mist_server::testing::catalogue::{FakeTrack, insert_ready_track};
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register(&app, "wren").await.assert_ok();
    let admin = mist_server::accounts::find_user(&app.state.db, "admin")
        .await
        .expect("admin");
    let hostile = "Evil\u{1b}[2J\u{1b}]0;pwned\u{7}\u{1b}]52;c;cm0gLXJm\u{7}\u{9b}31m\u{202E}Title";
    let track = FakeTrack {
        title: hostile.into(),
        artist: Some("Bad\u{1b}[5mArtist".into()),
        album: Some("\u{2066}Album\u{2069}".into()),
        genre: Some("evil".into()),
        duration_s: 30.0,
        ..Default::default()
    };
    insert_ready_track(&app.state, &admin.id, &track).await;
    let unsafe_char = |c: char| {
        c.is_control() && c != '\n' || ('\u{202A}'..='\u{202E}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c)
    };

    let run = mist.run(&["search", "evil"]).await;
    run.assert_ok();
    assert!(!run.stdout.contains('\u{1b}'), "{run:#?}");
    assert!(!run.stdout.chars().any(unsafe_char), "{run:#?}");
    assert!(run.stdout.contains("Evil\u{241b}[2J"), "shown, made harmless: {run:#?}");

    let run = mist.run(&["search", "evil", "--json"]).await;
    run.assert_ok();
    assert!(!run.stdout.chars().any(unsafe_char), "{run:#?}");
    let page: serde_json::Value = serde_json::from_str(&run.stdout).expect("still JSON");
    assert_eq!(page["tracks"][0]["title"], hostile, "the API's own value");

    let run = mist.run(&["tracks", "--genre", "evil"]).await;
    run.assert_ok();
    assert!(!run.stdout.chars().any(unsafe_char), "{run:#?}");

    // The hostile artist and album as records, in search's own sections.
    mist_server::db::albums::link_all_unlinked(&app.state.db, || false)
        .await
        .expect("link");
    for (words, heading) in [("bad", "Artists"), ("album", "Albums")] {
        let run = mist.run(&["search", words]).await;
        run.assert_ok();
        assert!(run.stdout.lines().any(|l| l == heading), "{run:#?}");
        assert!(!run.stdout.chars().any(unsafe_char), "{run:#?}");
    }
}

/// `mist apikey` and `mist app-password`: the credentials a Subsonic app
/// signs in with, made, listed and revoked from the command line, each
/// checked against the server's real `/rest/ping`.
#[tokio::test(flavor = "multi_thread")]
async fn api_keys_and_the_app_password_sign_a_subsonic_app_in_until_revoked() {
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register(&app, "sam").await.assert_ok();
    let ping = |query: String| {
        let url = format!("{}/rest/ping.view?f=json&v=1.16.1&c=test&{query}", app.base_url);
        async move {
            let body: serde_json::Value = reqwest::get(url).await.expect("ping").json().await.expect("JSON");
            body["subsonic-response"].clone()
        }
    };

    let run = mist.run(&["apikey", "create", "phone"]).await;
    run.assert_ok();
    let key = run.stdout.trim().to_owned();
    assert!(key.starts_with("mist_") && key.len() == 69, "{run:#?}");
    assert!(run.stderr.contains("not shown again"), "{run:#?}");
    assert_eq!(ping(format!("apiKey={key}")).await["status"], "ok");

    let run = mist.run(&["apikey", "list"]).await;
    run.assert_ok();
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("phone"))
        .unwrap_or_else(|| panic!("{run:#?}"));
    assert!(!run.stdout.contains(&key), "the secret is never listed: {run:#?}");
    let id = line.split_whitespace().next().expect("id").to_owned();
    mist.run(&["apikey", "revoke", &id]).await.assert_ok();
    let refused = ping(format!("apiKey={key}")).await;
    assert_eq!(refused["status"], "failed", "{refused}");
    mist.run(&["apikey", "revoke", &id])
        .await
        .assert_final_error("not found");

    let run = mist.run(&["app-password"]).await;
    run.assert_ok();
    let password = run.stdout.trim().to_owned();
    assert_eq!(ping(format!("u=sam&p={password}")).await["status"], "ok");
    // The account password is never a Subsonic password.
    let account = ping(format!("u=sam&p={PASSWORD}")).await;
    assert_eq!(account["status"], "failed", "{account}");
}

#[tokio::test(flavor = "multi_thread")]
async fn invite_only_registration_and_a_password_change_from_the_command_line() {
    use mist_server::testing::{TestOptions, spawn_with};
    let app = spawn_with(TestOptions {
        tweak: |s| s.registration = "invite".into(),
        ..TestOptions::new(Backend::Sqlite)
    })
    .await;
    let mist = Mist::new();
    mist.register(&app, "xena")
        .await
        .assert_error("needs an invite code from an admin");
    let admin = mist_server::testing::upload::admin_client(&app).await;
    let code = admin.create_invite(&Default::default()).await.expect("invite").code;
    let register = |invite: &str| {
        [
            "--server",
            &app.base_url,
            "register",
            "--email",
            "xena@mist.test",
            "--username",
            "xena",
            "--password",
            PASSWORD,
            "--invite",
            invite,
        ]
        .map(String::from)
    };
    let args = register(&code);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    mist.run(&args).await.assert_ok();

    // Another device's login, then a password change from this one.
    let other = app
        .client()
        .login(&mist_core::api::LoginRequest {
            email: "xena@mist.test".into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("login")
        .token;
    let run = mist
        .run_with_stdin(&["password"], &format!("{PASSWORD}\nan entirely new password\n"))
        .await;
    run.assert_ok();
    mist.run(&["whoami"]).await.assert_ok();
    let err = app.client().with_token(other).me().await.expect_err("ended");
    assert_eq!(err.code(), Some("token_revoked"));
    mist.run_with_stdin(&["password"], "wrong current\nanother new password\n")
        .await
        .assert_error("the current password is wrong");
}

/// `mist upload FOLDER`: twelve files found by content through nested
/// folders (nine WAVs, two tagged FLACs of one album, one "WAV" whose audio
/// is garbage) and a text file. Eleven become tracks, the garbage fails
/// without stopping the others (exit 1), the text file is skipped as not
/// audio. Run again, all eleven are "already there" and the server has no
/// new track. Then the album the FLACs made lists in track order.
#[tokio::test(flavor = "multi_thread")]
async fn a_folder_uploads_several_at_once_goes_on_past_a_failure_and_skips_what_is_there() {
    use mist_server::testing::audio::{convert, generate_wav};
    let app = spawn_app(Backend::Sqlite).await;
    let mist = Mist::new();
    mist.register(&app, "bulk").await.assert_ok();
    let library = mist.path("library");
    let nested = library.join("disc").join("more");
    std::fs::create_dir_all(&nested).expect("mkdir");
    for i in 0..9 {
        // Each length a different file, so none is a duplicate of another.
        let dir = if i % 2 == 0 { &library } else { &nested };
        generate_wav(&dir.join(format!("tone{i}.wav")), 1.0 + f64::from(i) * 0.1);
    }
    for (n, title) in [(2, "Second Song"), (1, "First Song")] {
        let source = mist.path(&format!("album{n}.wav"));
        generate_wav(&source, 2.0 + f64::from(n) * 0.1);
        let track = n.to_string();
        convert(
            &source,
            &library.join("disc").join(format!("{title}.flac")),
            &[
                ("title", title),
                ("artist", "Zoë"),
                ("album_artist", "Zoë"),
                ("album", "Blue Album"),
                ("track", &track),
            ],
        );
    }
    // Sniffs as WAV (RIFF…WAVE), decodes as nothing: the server fails it.
    let mut garbage = b"RIFF\x24\x00\x00\x00WAVEjunk".to_vec();
    garbage.extend(std::iter::repeat_n(0x5a, 4000));
    std::fs::write(nested.join("broken.wav"), garbage).expect("writes");
    std::fs::write(library.join("notes.txt"), "not audio\n").expect("writes");
    let folder = library.to_str().expect("UTF-8 path");

    // Three sends at once (the default), against SQLite: concurrent writers
    // must queue for the write lock, not fail with "database is locked".
    let run = mist.run(&["upload", folder]).await;
    // One failure fails the run, after the others.
    run.assert_final_error("1 of 12 uploads failed");
    assert!(
        run.stdout
            .contains("13 files: 11 ready, 0 already there, 1 failed, 1 skipped (not audio)"),
        "{run:#?}"
    );
    assert_eq!(run.stdout.matches("  ready  ").count(), 11, "{run:#?}");
    assert!(
        run.stdout.contains("skipped (not audio)  ") && run.stdout.contains("notes.txt"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("broken.wav"), "{run:#?}");

    let admin = mist_server::testing::upload::admin_client(&app).await;
    let all = mist_core::api::TrackQuery {
        limit: Some(100),
        ..Default::default()
    };
    let tracks = admin.tracks(&all).await.expect("tracks").items;
    assert_eq!(tracks.len(), 11);

    // Again: nothing new, every good file named with its existing track,
    // and only the file that failed is sent again (the others' hashes are
    // answered 409 before their bytes go).
    let bulk = mist_server::accounts::find_user(&app.state.db, "bulk")
        .await
        .expect("bulk");
    let announced = || async {
        let now = mist_server::db::now_ms();
        mist_server::db::uploads::used_bytes(&app.state.db, &bulk.id, now)
            .await
            .expect("used bytes")
    };
    let before = announced().await;
    let run = mist.run(&["upload", folder]).await;
    let broken = std::fs::metadata(nested.join("broken.wav")).expect("stat").len() as i64;
    assert_eq!(announced().await - before, broken, "only broken.wav is sent again");
    run.assert_final_error("1 of 12 uploads failed");
    assert!(
        run.stdout
            .contains("13 files: 0 ready, 11 already there, 1 failed, 1 skipped (not audio)"),
        "{run:#?}"
    );
    for track in &tracks {
        assert!(
            run.stdout.contains(&format!("{}  already there  ", track.id)),
            "{run:#?}"
        );
    }
    assert_eq!(admin.tracks(&all).await.expect("tracks").items.len(), 11);

    // The album the tagged files made, its tracks in track order.
    let run = mist.run(&["albums", "--sort", "name"]).await;
    run.assert_ok();
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("Blue Album"))
        .unwrap_or_else(|| panic!("{run:#?}"));
    assert!(line.contains("Zoë") && line.contains("  2  "), "{line}");
    let album_id = line.split_whitespace().next().expect("id");
    let run = mist.run(&["album", album_id]).await;
    run.assert_ok();
    assert!(run.stdout.starts_with("Blue Album — Zoë · 2 tracks · 0:04"), "{run:#?}");
    let first = run.stdout.find("1  First Song").unwrap_or_else(|| panic!("{run:#?}"));
    let second = run.stdout.find("2  Second Song").unwrap_or_else(|| panic!("{run:#?}"));
    assert!(first < second, "{run:#?}");

    // The artist, with its album and tracks, by id.
    let run = mist.run(&["artists"]).await;
    run.assert_ok();
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("Zoë"))
        .unwrap_or_else(|| panic!("{run:#?}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[1..], ["Zoë", "1", "2"], "{line}");
    let run = mist.run(&["artist", cells[0]]).await;
    run.assert_ok();
    assert!(run.stdout.starts_with("Zoë  ·  1 album  ·  2 tracks"), "{run:#?}");
    assert!(run.stdout.contains("Blue Album"), "{run:#?}");

    // The owner edits a track's fields and the album's cover.
    let run = mist.run(&["album", album_id, "--json"]).await;
    run.assert_ok();
    let album: mist_core::api::AlbumDetail = serde_json::from_str(&run.stdout).expect("album JSON");
    let (first, second) = (&album.tracks[0].id, &album.tracks[1].id);
    let run = mist.run(&["edit", first]).await;
    run.assert_final_error("nothing to change");
    let cover = mist.path("cover.png");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=64x64",
            "-frames:v",
            "1",
        ])
        .arg(&cover)
        .status()
        .expect("ffmpeg");
    assert!(made.success());
    let cover_arg = cover.to_str().expect("UTF-8 path");
    let run = mist
        .run(&[
            "edit",
            first,
            "--title",
            "Renamed Song",
            "--year",
            "1999",
            "--cover",
            cover_arg,
        ])
        .await;
    run.assert_ok();
    assert!(run.stdout.contains("Renamed Song"), "{run:#?}");
    let edited = admin.album(album_id).await.expect("album");
    assert_eq!(edited.tracks[0].title, "Renamed Song");
    assert_eq!((edited.tracks[0].year, edited.album.year), (Some(1999), Some(1999)));
    assert!(edited.album.cover_url.is_some(), "{edited:?}");
    let run = mist.run(&["edit", first, "--track", "5000"]).await;
    run.assert_final_error("track_number must be 0 (none) or 1–999");

    // Deleting: a track that is not there fails after the others are gone;
    // the album goes with its last track.
    let run = mist.run(&["rm", first, "no-such-track", second]).await;
    run.assert_final_error("no-such-track: track not found");
    assert!(run.stdout.contains(&format!("{first}  deleted")) && run.stdout.contains(&format!("{second}  deleted")));
    assert_eq!(admin.album(album_id).await.expect_err("gone").status(), Some(404));
}
