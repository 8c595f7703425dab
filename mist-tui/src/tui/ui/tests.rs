//! Every screen drawn at 80×24 and 200×50 and compared with the
//! snapshots in `src/tui/snapshots/` (`MIST_UPDATE_SNAPSHOTS=1` rewrites
//! them; review the diff). Beyond the text, each frame is checked for a
//! layout that holds: panes closed by their borders on every row.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use mist_core::api::{NameCount, Quota};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::super::app::tests::track;
use super::super::app::{Msg, NowPlaying, UploadDialog, UploadPhase, View};
use super::*;

/// The smallest usual terminal, the common wide one, and a big one.
const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 50)];

fn render(app: &mut App, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal.draw(|frame| draw(frame, app)).expect("draws");
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            let mut line = String::new();
            let mut x = 0;
            while x < width {
                // A wide character fills the cells after it too.
                let symbol = buffer[(x, y)].symbol();
                line.push_str(symbol);
                x += symbol.width().max(1) as u16;
            }
            line
        })
        .collect()
}

fn snapshot(name: &str, app: &mut App) -> Vec<Vec<String>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/tui/snapshots");
    let update = std::env::var_os("MIST_UPDATE_SNAPSHOTS").is_some();
    let mut frames = Vec::new();
    for (width, height) in SIZES {
        let lines = render(app, width, height);
        let text = lines.join("\n") + "\n";
        let path = dir.join(format!("{name}_{width}x{height}.txt"));
        if update {
            std::fs::create_dir_all(&dir).expect("snapshot dir");
            std::fs::write(&path, &text).expect("writes snapshot");
        } else {
            let expected = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("no snapshot {}; run with MIST_UPDATE_SNAPSHOTS=1", path.display()));
            assert_eq!(
                text,
                expected,
                "{} changed; run with MIST_UPDATE_SNAPSHOTS=1 and review",
                path.display()
            );
        }
        for line in &lines {
            assert_eq!(Line::from(line.as_str()).width(), usize::from(width), "{line}");
        }
        frames.push(lines);
    }
    frames
}

/// Rows `top..bottom` of the main screen's body all start and end with a
/// pane border: nothing overflows or leaves a pane open.
fn assert_panes_closed(lines: &[String]) {
    let height = lines.len();
    for line in &lines[..height - 1] {
        let first = line.chars().next().unwrap_or(' ');
        let last = line.chars().last().unwrap_or(' ');
        assert!("│┃┌┏└┗".contains(first), "left edge of {line:?}");
        assert!("│┃┐┓┘┛".contains(last), "right edge of {line:?}");
    }
}

fn user() -> mist_core::api::User {
    serde_json::from_value(serde_json::json!({
        "id": "u1", "email": "ada@example.org", "username": "ada",
        "role": "user", "plan": "free", "created_at": "2026-01-01T00:00:00Z"
    }))
    .expect("user")
}

fn quota(remaining: f64) -> Quota {
    serde_json::from_value(serde_json::json!({
        "plan": "free", "limit_s": 300.0, "used_s": 300.0 - remaining,
        "remaining_s": remaining, "resets_at": "2099-01-01T00:00:00Z"
    }))
    .expect("quota")
}

fn main_app() -> App {
    let (mut app, effects) = App::new("http://mist.example", Keymap::default(), true);
    let generation = effects
        .iter()
        .find_map(|e| match e {
            super::super::app::Effect::LoadTracks { generation, .. } => Some(*generation),
            _ => None,
        })
        .expect("loads tracks");
    app.user = Some(user());
    app.update(Msg::Genres(Ok(vec![
        NameCount {
            name: "ambient".into(),
            track_count: 12,
        },
        NameCount {
            name: "jazz".into(),
            track_count: 3,
        },
    ])));
    let tracks = (1..=30)
        .map(|i| track(&format!("t{i}"), &format!("Track number {i}"), 60.0 + f64::from(i)))
        .collect();
    app.update(Msg::Tracks {
        generation,
        view: View::All { genre: None },
        result: Ok(tracks),
    });
    app.update(Msg::Quota(Ok(quota(250.0))));
    app.liked.insert("t2".into());
    app
}

fn playing(app: &mut App) {
    app.queue.push_back(track("q1", "Queued first", 100.0));
    app.queue.push_back(track("q2", "Queued second", 200.0));
    app.queue_state.select(Some(0));
    app.now = Some(NowPlaying {
        track: track("t1", "Track number 1", 61.0),
        position_s: 20.0,
        rendition: "128k".into(),
        paused: false,
        loading: false,
    });
}

#[test]
fn the_login_screen() {
    let (mut app, _) = App::new("http://mist.example", Keymap::default(), false);
    for c in "ada@example.org".chars() {
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    let frames = snapshot("login", &mut app);
    assert!(frames[0].iter().any(|l| l.contains("MIST · log in")));
    assert!(frames[0].iter().any(|l| l.contains("ada@example.org")));
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)));
    let frames = snapshot("register", &mut app);
    assert!(frames[1].iter().any(|l| l.contains("Username")));
}

#[test]
fn the_main_screen_with_tracks() {
    let mut app = main_app();
    let frames = snapshot("main", &mut app);
    for frame in &frames {
        assert_panes_closed(&frame[..frame.len() - 1]);
        assert!(frame.iter().any(|l| l.contains("Track number 1")));
        assert!(frame.iter().any(|l| l.contains("4:10 left today")));
    }
    // Album and genre columns where they fit: at 120 columns, the usual
    // wide terminal, and up.
    assert!(!frames[0].iter().any(|l| l.contains("Album")));
    for frame in &frames[1..] {
        assert!(frame.iter().any(|l| l.contains("♥ Track number 2")), "{frame:#?}");
        let header = frame.iter().find(|l| l.contains("Title")).expect("a header");
        assert!(header.contains("Album") && header.contains("Genre"), "{header}");
    }
}

#[test]
fn the_main_screen_playing_with_a_queue() {
    let mut app = main_app();
    playing(&mut app);
    let frames = snapshot("playing", &mut app);
    for frame in &frames {
        assert_panes_closed(&frame[..frame.len() - 1]);
        assert!(frame.iter().any(|l| l.contains("0:20 / 1:01")));
        // The queue: title, artist and length, and the total.
        assert!(frame.iter().any(|l| l.contains("Queue · 2 · 5:00")));
        let row = frame.iter().find(|l| l.contains("1. Queued first")).expect("queued");
        assert!(row.contains("1:40"), "{row}");
        assert!(frame.iter().any(|l| l.contains("vol 100%")));
        assert!(frame.iter().any(|l| l.contains("128k")));
    }
    assert!(app.areas.gauge.width > 0);
}

#[test]
fn the_help_overlay() {
    let mut app = main_app();
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE)));
    let frames = snapshot("help", &mut app);
    for frame in &frames {
        assert!(frame.iter().any(|l| l.contains("pause / resume")));
        assert!(frame.iter().any(|l| l.contains("tracks that sound alike")));
        assert!(frame.iter().any(|l| l.contains("Esc Bksp  back to the last list")));
        assert!(frame.iter().any(|l| l.contains("PgDn ctrl-d  a page down")));
    }
}

#[test]
fn the_upload_dialog() {
    let mut app = main_app();
    app.overlay = Some(Overlay::Upload(UploadDialog {
        path: Input::with("~/music/song.flac"),
        completions: Vec::new(),
        phase: UploadPhase::Processing { percent: 40 },
    }));
    let frames = snapshot("upload", &mut app);
    assert!(frames[0].iter().any(|l| l.contains("processing on the server: 40%")));
    // It ends with the track's title, not its id.
    app.overlay = Some(Overlay::Upload(UploadDialog {
        path: Input::with("~/music/song.flac"),
        completions: Vec::new(),
        phase: UploadPhase::Ready {
            title: "“Night Drive”".into(),
        },
    }));
    let frames = snapshot("uploaded", &mut app);
    assert!(
        frames[0]
            .iter()
            .any(|l| l.contains("ready: “Night Drive” is in the catalogue"))
    );
}

#[test]
fn the_queue_fits_wide_titles_and_muting_shows() {
    let mut app = main_app();
    playing(&mut app);
    app.queue
        .push_back(track("q3", "夜に駆ける 夜に駆ける 夜に駆ける", 261.0));
    app.muted = true;
    for (width, height) in SIZES {
        let lines = render(&mut app, width, height);
        assert_panes_closed(&lines[..lines.len() - 1]);
        let row = lines
            .iter()
            .find(|l| l.contains("3. 夜に"))
            .unwrap_or_else(|| panic!("the CJK row: {lines:#?}"));
        assert!(row.contains("4:21"), "the length stays in view: {row}");
        assert_eq!(Line::from(row.as_str()).width(), usize::from(width), "{row}");
        assert!(lines.iter().any(|l| l.contains("muted")));
    }
}

#[test]
fn the_playlist_picker() {
    let mut app = main_app();
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('A'), KeyModifiers::SHIFT)));
    app.update(Msg::Playlists(Ok(vec![
        super::super::app::tests::playlist("p1", "Road trip"),
        super::super::app::tests::playlist("p2", "Quiet evenings"),
    ])));
    let frames = snapshot("playlists", &mut app);
    for frame in &frames {
        assert!(frame.iter().any(|l| l.contains("Add “Track number 1” to a playlist")));
        assert!(frame.iter().any(|l| l.contains("Quiet evenings · 1")));
    }
}

#[test]
fn the_quota_banner_and_an_error() {
    let mut app = main_app();
    app.update(Msg::Quota(Ok(quota(0.0))));
    app.clock = "2098-12-31T21:30:00Z".parse().expect("time");
    let frames = snapshot("quota", &mut app);
    for frame in &frames {
        let last = frame.last().expect("a status line");
        assert!(
            last.contains("quota is used up. It resets at 00:00 UTC (in 2h 30m)"),
            "{last}"
        );
    }
    app.update(Msg::Quota(Ok(quota(10.0))));
    app.set_status("lost the server after 5 attempts: cannot connect", true);
    let frames = snapshot("error", &mut app);
    assert!(frames[0].last().is_some_and(|l| l.contains("lost the server")));
}

#[test]
fn every_screen_draws_at_the_smallest_size_and_odd_ones() {
    let mut app = main_app();
    playing(&mut app);
    let overlays = [
        None,
        Some(Overlay::Help),
        Some(Overlay::Upload(UploadDialog {
            path: Input::with("a/very/long/path/that/does/not/fit/in/a/small/dialog/at/all/song.flac"),
            completions: vec!["one.flac".into(), "two.flac".into()],
            phase: UploadPhase::Sending { sent: 10, total: 100 },
        })),
    ];
    for overlay in overlays {
        app.overlay = overlay;
        for (width, height) in [(60, 16), (61, 17), (97, 31), (300, 80), (1, 1), (59, 40)] {
            let lines = render(&mut app, width, height);
            assert_eq!(lines.len(), usize::from(height));
        }
    }
    let (mut login, _) = App::new("http://mist.example", Keymap::default(), false);
    for (width, height) in [(60, 16), (300, 80)] {
        let lines = render(&mut login, width, height);
        assert!(lines.iter().any(|l| l.contains("Password")), "{lines:#?}");
    }
}

#[test]
fn a_tiny_terminal_says_so() {
    let mut app = main_app();
    let lines = render(&mut app, 40, 10);
    assert!(lines.join(" ").contains("mist needs at least 60×16"), "{lines:?}");
}

/// A title and genre full of escape sequences and bidi overrides, as a
/// hostile uploader or an old database could hold them: nothing of them
/// reaches the terminal as a control or bidi character.
#[test]
fn hostile_text_from_the_server_is_drawn_harmless() {
    let mut app = main_app();
    let mut hostile = track("t1", "Evil\u{1b}]0;pwned\u{7}\u{9b}2J\u{202E}Title", 61.0);
    hostile.artist = Some("\u{1b}[5mBlink".into());
    app.tracks[0] = hostile;
    app.update(Msg::Genres(Ok(vec![NameCount {
        name: "\u{2066}jazz\u{1b}[31m".into(),
        track_count: 1,
    }])));
    for (width, height) in SIZES {
        let screen = render(&mut app, width, height).join("\n");
        assert!(
            !screen.chars().any(|c| c != '\n' && mist_core::text::is_unsafe(c)),
            "{screen}"
        );
        assert!(
            screen.contains("Evil\u{241b}]0;pwned"),
            "shown, made harmless: {screen}"
        );
    }
}

fn album(id: &str, title: &str, artist: &str) -> mist_core::api::Album {
    serde_json::from_value(serde_json::json!({
        "id": id, "title": title, "artist": artist, "artist_id": "ar1", "year": 2001,
        "genre": "rock", "track_count": 3, "duration_s": 600.0, "cover_url": null
    }))
    .expect("an album")
}

fn artist(id: &str, name: &str) -> mist_core::api::Artist {
    serde_json::from_value(serde_json::json!({
        "id": id, "name": name, "track_count": 12, "album_count": 2
    }))
    .expect("an artist")
}

/// Shows `view` as if its listing had loaded.
fn show(app: &mut App, view: View, listing: super::super::app::Listing, tracks: Vec<mist_core::api::Track>) {
    let generation = app.generation();
    app.update(Msg::Listing {
        generation,
        view,
        result: Ok((listing, tracks)),
    });
}

#[test]
fn the_library_sections_and_pages() {
    use super::super::app::Listing;
    let mut app = main_app();
    show(
        &mut app,
        View::Albums,
        Listing {
            albums: vec![
                album("al1", "Blue Train", "John Coltrane"),
                album("al2", "Kind of Blue", "Miles Davis"),
            ],
            ..Listing::default()
        },
        Vec::new(),
    );
    let frames = snapshot("albums", &mut app);
    for frame in &frames {
        assert_panes_closed(&frame[..frame.len() - 1]);
        assert!(
            frame
                .iter()
                .any(|l| l.contains("Kind of Blue") && l.contains("Miles Davis"))
        );
        assert!(frame[0].contains("2 Albums"));
    }
    let tracks = (1..=3)
        .map(|i| track(&format!("a{i}"), &format!("Side {i}"), 300.0))
        .collect();
    show(
        &mut app,
        View::Album {
            id: "al2".into(),
            title: "Kind of Blue".into(),
        },
        Listing {
            album: Some(album("al2", "Kind of Blue", "Miles Davis")),
            ..Listing::default()
        },
        tracks,
    );
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::NONE)));
    let frames = snapshot("album", &mut app);
    for frame in &frames {
        assert_panes_closed(&frame[..frame.len() - 1]);
        assert!(
            frame
                .iter()
                .any(|l| l.contains("Miles Davis · 2001 · rock · 3 tracks · 10:00"))
        );
        assert!(frame.iter().any(|l| l.contains("▶ Side 1")), "{frame:#?}");
    }
    show(
        &mut app,
        View::Artist {
            id: "ar1".into(),
            name: "Miles Davis".into(),
        },
        Listing {
            artist: Some(artist("ar1", "Miles Davis")),
            albums: vec![album("al2", "Kind of Blue", "Miles Davis")],
            ..Listing::default()
        },
        vec![track("top", "So What", 545.0)],
    );
    let frames = snapshot("artist", &mut app);
    for frame in &frames {
        assert_panes_closed(&frame[..frame.len() - 1]);
        assert!(frame.iter().any(|l| l.contains("1. So What")));
        assert!(frame.iter().any(|l| l.contains("Artist “Miles Davis” · 1")));
    }
    show(
        &mut app,
        View::Artists,
        Listing {
            artists: vec![artist("ar1", "Miles Davis")],
            ..Listing::default()
        },
        Vec::new(),
    );
    let frames = snapshot("artists", &mut app);
    assert!(frames[0].iter().any(|l| l.contains("Miles Davis")));
}

/// Album and artist names full of escape codes stay harmless on the new screens.
#[test]
fn hostile_album_and_artist_names_are_drawn_harmless() {
    use super::super::app::Listing;
    let evil = "Evil\u{1b}]0;pwned\u{7}\u{9b}2J\u{202E}";
    let mut app = main_app();
    for (view, listing) in [
        (
            View::Albums,
            Listing {
                albums: vec![album("al1", evil, evil)],
                ..Listing::default()
            },
        ),
        (
            View::Artists,
            Listing {
                artists: vec![artist("ar1", evil)],
                ..Listing::default()
            },
        ),
        (
            View::Album {
                id: "al1".into(),
                title: evil.into(),
            },
            Listing {
                album: Some(album("al1", evil, evil)),
                ..Listing::default()
            },
        ),
        (
            View::Artist {
                id: "ar1".into(),
                name: evil.into(),
            },
            Listing {
                artist: Some(artist("ar1", evil)),
                albums: vec![album("al1", evil, evil)],
                ..Listing::default()
            },
        ),
    ] {
        show(&mut app, view, listing, vec![track("t1", evil, 1.0)]);
        for (width, height) in SIZES {
            let screen = render(&mut app, width, height).join("\n");
            assert!(
                !screen.chars().any(|c| c != '\n' && mist_core::text::is_unsafe(c)),
                "{screen}"
            );
            assert!(screen.contains("Evil\u{241b}]0;pwned"), "{screen}");
        }
    }
}

#[test]
fn the_lyrics_pane_follows_the_playhead() {
    let mut app = main_app();
    playing(&mut app);
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE)));
    let lyrics = serde_json::from_value(serde_json::json!({
        "plain": "",
        "lines": [
            {"time_ms": 0, "text": "First light"},
            {"time_ms": 15000, "text": "Over the \u{1b}[31mhills"},
            {"time_ms": 30000, "text": "Evening comes"}
        ]
    }))
    .expect("lyrics");
    app.update(Msg::Lyrics {
        track_id: "t1".into(),
        result: Ok(Some(lyrics)),
    });
    let frames = snapshot("lyrics", &mut app);
    for frame in &frames {
        assert_panes_closed(&frame[..frame.len() - 1]);
        assert!(
            frame.iter().any(|l| l.contains("Over the \u{241b}[31mhills")),
            "{frame:#?}"
        );
        assert!(!frame.join("").chars().any(mist_core::text::is_unsafe));
    }
    assert_eq!(app.lyric_line(), Some(1), "20 s in: the second line");
}

/// Covers in half blocks (what a terminal without a graphics protocol gets):
/// beside what plays from 30 rows up, and on the album page.
#[test]
fn covers_draw_in_half_blocks() {
    use super::super::app::{CoverKey, Covers, Listing};
    let mut app = main_app();
    playing(&mut app);
    app.covers = Covers::with(ratatui_image::picker::Picker::halfblocks());
    let gradient = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(300, 300, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    }));
    app.update(Msg::Tick);
    app.update(Msg::Cover {
        key: CoverKey::Track("t1".into()),
        image: Some(gradient.clone()),
    });
    show(
        &mut app,
        View::Album {
            id: "al1".into(),
            title: "Kind of Blue".into(),
        },
        Listing {
            album: Some(album("al1", "Kind of Blue", "Miles Davis")),
            ..Listing::default()
        },
        vec![track("a1", "So What", 545.0)],
    );
    app.update(Msg::Cover {
        key: CoverKey::Album("al1".into()),
        image: Some(gradient),
    });
    for (width, height) in SIZES {
        let lines = render(&mut app, width, height);
        assert_panes_closed(&lines[..lines.len() - 1]);
        let blocks = lines.iter().filter(|l| l.contains(['▀', '▄'])).count();
        if height >= 30 {
            assert!(blocks >= 2 * 6, "both covers, 6 rows each: {lines:#?}");
        }
        assert!(lines.iter().any(|l| l.contains("Kind of Blue")), "{lines:#?}");
        assert!(lines.iter().any(|l| l.contains("Track number 1")), "{lines:#?}");
    }
}

/// A hostile playlist name in the Playlists section, its rename prompt and
/// its delete question.
#[test]
fn hostile_playlist_names_are_drawn_harmless() {
    use super::super::app::Listing;
    let evil = "Evil\u{1b}]0;pwned\u{7}\u{9b}2J\u{202E}";
    let mut app = main_app();
    show(
        &mut app,
        View::Playlists,
        Listing {
            playlists: vec![super::super::app::tests::playlist("p1", evil)],
            ..Listing::default()
        },
        Vec::new(),
    );
    let frames = snapshot("playlist_list", &mut app);
    assert!(frames[0].iter().any(|l| l.contains("Evil\u{241b}]0;pwned")));
    for key in ['i', 'X'] {
        app.overlay = None;
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char(key), KeyModifiers::NONE)));
        assert!(app.overlay.is_some(), "{key} opens a dialog");
        for (width, height) in SIZES {
            let screen = render(&mut app, width, height).join("\n");
            assert!(
                !screen.chars().any(|c| c != '\n' && mist_core::text::is_unsafe(c)),
                "{screen}"
            );
            assert!(screen.contains("Evil\u{241b}]0;pwned"), "{screen}");
        }
    }
}
