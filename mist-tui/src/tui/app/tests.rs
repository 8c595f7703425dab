use super::*;

pub fn track(id: &str, title: &str, duration_s: f64) -> Track {
    serde_json::from_value(serde_json::json!({
        "id": id, "title": title, "artist": "Artist", "album": "Album", "genre": "ambient",
        "duration_s": duration_s, "status": "ready", "uploader_id": "u1", "play_count": 0,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
    }))
    .expect("a track")
}

pub(super) fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub(super) fn main_app() -> App {
    let (mut app, _) = App::new("http://h", Keymap::default(), true);
    app.update(Msg::Tracks {
        generation: app.generation,
        view: View::All { genre: None },
        result: Ok(vec![track("t1", "One", 60.0), track("t2", "Two", 90.0)]),
    });
    app
}

#[test]
fn typing_searches_after_a_pause_and_stale_answers_are_dropped() {
    let mut app = main_app();
    app.update(key(KeyCode::Char('/')));
    assert_eq!(app.focus, Focus::Search);
    for c in "tw".chars() {
        assert!(app.update(key(KeyCode::Char(c))).is_empty());
    }
    // `q` is typed, not quit, while searching.
    app.update(key(KeyCode::Char('q')));
    assert!(!app.quit);
    app.update(key(KeyCode::Backspace));
    assert!(app.update(Msg::Tick).is_empty(), "debounced");
    app.search_due = Some(Instant::now());
    let effects = app.update(Msg::Tick);
    let [
        Effect::LoadTracks {
            generation,
            view,
            query,
        },
    ] = effects.as_slice()
    else {
        panic!("{effects:?}");
    };
    assert_eq!(query.q.as_deref(), Some("tw"));
    let stale = Msg::Tracks {
        generation: generation - 1,
        view: view.clone(),
        result: Ok(vec![]),
    };
    app.update(stale);
    assert_eq!(app.tracks.len(), 2);
    app.update(Msg::Tracks {
        generation: *generation,
        view: view.clone(),
        result: Ok(vec![track("t2", "Two", 90.0)]),
    });
    assert_eq!(app.tracks.len(), 1);
    assert_eq!(app.view.title(), "Search “tw”");
}

#[test]
fn the_queue_feeds_the_player_and_advances_without_a_gap() {
    let mut app = main_app();
    let effects = app.update(key(KeyCode::Enter));
    assert!(matches!(&effects[0], Effect::Player(Command::Play(t)) if t.id == "t1"));
    app.update(key(KeyCode::Down));
    let effects = app.update(key(KeyCode::Char('a')));
    assert!(
        matches!(&effects[0], Effect::Player(Command::SetNext(Some(t))) if t.id == "t2"),
        "{effects:?}"
    );
    // The audio thread moves on by itself at the end of t1.
    let effects = app.update(Msg::Player(Update::Loading {
        track: Box::new(track("t2", "Two", 90.0)),
        advanced: true,
    }));
    assert!(app.queue.is_empty());
    assert_eq!(app.now.as_ref().map(|n| n.track.id.as_str()), Some("t2"));
    assert!(matches!(&effects[0], Effect::Player(Command::SetNext(None))));
    // `p` early in a track goes back to the previous one.
    let effects = app.update(key(KeyCode::Char('p')));
    assert!(matches!(&effects[0], Effect::Player(Command::Play(t)) if t.id == "t1"));
}

#[test]
fn clicks_select_rows_play_on_a_double_click_and_seek_on_the_bar() {
    let mut app = main_app();
    app.areas.tracks = Rect::new(20, 3, 60, 10);
    app.areas.gauge = Rect::new(10, 20, 100, 1);
    let click = |column, row| {
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    // Border and header rows come first: row 6 is the second track.
    assert!(app.update(click(30, 6)).is_empty());
    assert_eq!(app.track_state.selected(), Some(1));
    let effects = app.update(click(30, 6));
    assert!(matches!(&effects[0], Effect::Player(Command::Play(t)) if t.id == "t2"));
    app.update(Msg::Player(Update::Position {
        track_id: "t2".into(),
        position_s: 1.0,
        rendition: "64k".into(),
        paused: false,
    }));
    let effects = app.update(click(60, 20));
    let [Effect::Player(Command::SeekTo(target))] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert!((target - 45.0).abs() < 1e-9, "half-way through 90 s: {target}");
}

pub fn playlist(id: &str, name: &str) -> Playlist {
    serde_json::from_value(serde_json::json!({
        "id": id, "owner_id": "u1", "name": name, "description": "", "public": false,
        "track_count": 1, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
    }))
    .expect("a playlist")
}

#[test]
fn the_playlist_picker_makes_opens_and_adds() {
    let mut app = main_app();
    // Add the selected track: no playlists yet, so make one.
    assert_eq!(app.update(key(KeyCode::Char('A'))), vec![Effect::LoadPlaylists]);
    app.update(Msg::Playlists(Ok(vec![])));
    app.update(key(KeyCode::Char('n')));
    for c in "Road trip".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    let effects = app.update(key(KeyCode::Enter));
    assert_eq!(
        effects,
        vec![Effect::CreatePlaylist {
            name: "Road trip".into()
        }]
    );
    let effects = app.update(Msg::PlaylistCreated(Ok(playlist("p1", "Road trip"))));
    assert!(
        matches!(&effects[..], [Effect::AddToPlaylist { playlist, track }] if playlist.id == "p1" && track.id == "t1"),
        "{effects:?}"
    );
    assert!(app.overlay.is_none());
    // Open it.
    app.update(key(KeyCode::Char('P')));
    app.update(Msg::Playlists(Ok(vec![playlist("p1", "Road trip")])));
    let effects = app.update(key(KeyCode::Enter));
    assert!(
        matches!(&effects[..], [Effect::LoadPlaylistTracks { playlist_id, .. }] if playlist_id == "p1"),
        "{effects:?}"
    );
}

#[test]
fn quality_cycles_through_the_renditions() {
    let mut app = main_app();
    let effects = app.update(key(KeyCode::Char('r')));
    assert!(matches!(
        &effects[..],
        [Effect::Player(Command::SetQuality(Quality::Low))]
    ));
    for _ in 0..3 {
        app.update(key(KeyCode::Char('r')));
    }
    assert_eq!(app.quality, Quality::Auto);
}

#[test]
fn a_spent_quota_shows_the_banner_until_something_plays() {
    let mut app = main_app();
    app.update(key(KeyCode::Enter));
    let resets_at = "2026-11-26T00:00:00Z".parse().expect("time");
    app.update(Msg::Player(Update::Failed {
        track_id: "t1".into(),
        error: PlayerError::QuotaExceeded { resets_at },
    }));
    assert_eq!(app.quota_banner, Some(resets_at));
    assert!(app.now.is_none());
}

#[test]
fn the_quota_a_key_answer_carries_shows_at_once() {
    let mut app = main_app();
    let quota = |remaining: f64| Quota {
        plan: mist_core::api::Plan::Free,
        limit_s: Some(300.0),
        used_s: 300.0 - remaining,
        remaining_s: Some(remaining),
        resets_at: "2099-01-01T00:00:00Z".parse().expect("time"),
    };
    app.update(Msg::Player(Update::Quota(quota(287.9))));
    assert_eq!(app.quota.as_ref().and_then(|q| q.remaining_s), Some(287.9));
    assert!(app.quota_banner.is_none());
    app.update(Msg::Player(Update::Quota(quota(0.0))));
    assert_eq!(app.quota_banner, Some("2099-01-01T00:00:00Z".parse().expect("time")));
}

#[test]
fn a_refused_token_goes_back_to_the_login_screen() {
    let mut app = main_app();
    app.update(Msg::Me(Err(NetError {
        message: "401".into(),
        unauthorized: true,
    })));
    let Screen::Login(form) = &app.screen else {
        panic!("login screen");
    };
    assert!(form.error.as_deref().is_some_and(|e| e.contains("log in again")));
}

#[test]
fn the_login_form_asks_for_every_field() {
    let (mut app, effects) = App::new("http://h", Keymap::default(), false);
    assert!(effects.is_empty());
    for c in "a@b.c".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    app.update(key(KeyCode::Enter));
    let effects = app.update(key(KeyCode::Enter));
    assert!(effects.is_empty());
    let Screen::Login(form) = &app.screen else {
        panic!("login screen");
    };
    assert_eq!(form.error.as_deref(), Some("the password is empty"));
    for c in "pw".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    let effects = app.update(key(KeyCode::Enter));
    assert_eq!(
        effects,
        vec![Effect::Login {
            server: "http://h".into(),
            email: "a@b.c".into(),
            password: "pw".into(),
            username: None,
            invite: None,
        }]
    );
}

/// Registering: the invite code is optional (open servers need none)
/// and, when typed, goes with the request.
#[test]
fn registering_takes_an_optional_invite_code() {
    let register = |invite: &str| {
        let (mut app, _) = App::new("http://h", Keymap::default(), false);
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)));
        for (text, _) in [
            ("a@b.c", "email"),
            ("ann", "username"),
            (invite, "invite"),
            ("pw", "password"),
        ] {
            for c in text.chars() {
                app.update(key(KeyCode::Char(c)));
            }
            app.update(key(KeyCode::Tab));
        }
        app.update(key(KeyCode::BackTab));
        app.update(key(KeyCode::Enter))
    };
    let login = |invite: Option<&str>| Effect::Login {
        server: "http://h".into(),
        email: "a@b.c".into(),
        password: "pw".into(),
        username: Some("ann".into()),
        invite: invite.map(str::to_owned),
    };
    assert_eq!(register(""), vec![login(None)]);
    assert_eq!(register("K7-QX"), vec![login(Some("K7-QX"))]);
}

/// The table's tracks and the one selected.
fn table(app: &App) -> (Vec<&str>, Option<usize>) {
    (
        app.tracks.iter().map(|t| t.id.as_str()).collect(),
        app.track_state.selected(),
    )
}

#[test]
fn esc_and_backspace_go_back_to_the_list_left() {
    let mut app = main_app();
    app.update(key(KeyCode::Down));
    // Similar, then the likes: each answer replaces the table.
    let effects = app.update(key(KeyCode::Char('s')));
    let [Effect::LoadSimilar { generation, view, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    app.update(Msg::Tracks {
        generation: *generation,
        view: view.clone(),
        result: Ok(vec![track("s1", "Alike", 30.0)]),
    });
    let effects = app.update(key(KeyCode::Char('L')));
    let [Effect::LoadLikes { generation, view }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    app.update(Msg::Tracks {
        generation: *generation,
        view: view.clone(),
        result: Ok(vec![track("l1", "Loved", 30.0), track("l2", "Also loved", 30.0)]),
    });
    assert_eq!(app.view, View::Likes);
    // A load still on its way when going back is dropped.
    let effects = app.update(key(KeyCode::Char('s')));
    let [Effect::LoadSimilar { generation, view, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    let late = Msg::Tracks {
        generation: *generation,
        view: view.clone(),
        result: Ok(vec![track("x", "Late", 1.0)]),
    };

    assert!(app.update(key(KeyCode::Esc)).is_empty(), "no network: the list is kept");
    assert_eq!(app.view, View::Similar { title: "Two".into() });
    assert_eq!(table(&app), (vec!["s1"], Some(0)));
    app.update(late);
    assert_eq!(table(&app), (vec!["s1"], Some(0)));
    // Backspace too, back to where the selection was left.
    app.update(key(KeyCode::Backspace));
    assert_eq!(app.view, View::All { genre: None });
    assert_eq!(table(&app), (vec!["t1", "t2"], Some(1)));
    // Nothing further back: it stays.
    app.update(key(KeyCode::Esc));
    assert_eq!(app.view, View::All { genre: None });
    // From the queue, Esc first comes back to the table.
    app.update(key(KeyCode::Char('s')));
    let generation = app.generation;
    app.update(Msg::Tracks {
        generation,
        view: View::Similar { title: "Two".into() },
        result: Ok(vec![track("s1", "Alike", 30.0)]),
    });
    app.focus = Focus::Queue;
    app.update(key(KeyCode::Esc));
    assert_eq!(
        (app.focus, app.view.title()),
        (Focus::Tracks, "Sounds like “Two”".into())
    );
    app.update(key(KeyCode::Esc));
    assert_eq!(app.view, View::All { genre: None });
    // The help says so.
    assert_eq!(app.keymap.keys(Action::Back), "Esc Bksp");
}

#[test]
fn typing_a_search_is_not_a_step_back() {
    let mut app = main_app();
    for q in ["o", "on", "one"] {
        app.search = Input::with(q);
        let Effect::LoadTracks { generation, view, .. } = app.load(app.typed_view()) else {
            panic!("loads tracks");
        };
        app.update(Msg::Tracks {
            generation,
            view,
            result: Ok(vec![track("t1", "One", 60.0)]),
        });
    }
    assert_eq!(app.back.len(), 0);
}

#[test]
fn long_lists_page_and_jump() {
    let mut app = main_app();
    let tracks: Vec<Track> = (0..50).map(|i| track(&format!("t{i}"), "T", 60.0)).collect();
    app.tracks = tracks;
    app.track_state.select(Some(0));
    // 13 rows tall: borders and the header leave 10 rows a page.
    app.areas.tracks = Rect::new(0, 0, 80, 13);
    let ctrl = |c| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    let at = |app: &mut App, msg: Msg| {
        app.update(msg);
        app.track_state.selected()
    };
    assert_eq!(at(&mut app, key(KeyCode::PageDown)), Some(10));
    // The view turns with it: the rows below come into sight.
    assert_eq!(app.track_state.offset(), 10);
    assert_eq!(at(&mut app, ctrl('d')), Some(20));
    assert_eq!(app.track_state.offset(), 20);
    assert_eq!(at(&mut app, key(KeyCode::PageUp)), Some(10));
    assert_eq!(at(&mut app, ctrl('u')), Some(0));
    assert_eq!(at(&mut app, ctrl('u')), Some(0), "stops at the top");
    assert_eq!(at(&mut app, key(KeyCode::Char('G'))), Some(49));
    assert_eq!(at(&mut app, key(KeyCode::PageDown)), Some(49), "stops at the bottom");
    assert_eq!(at(&mut app, key(KeyCode::Char('g'))), Some(0));
    assert_eq!(at(&mut app, key(KeyCode::End)), Some(49));
    assert_eq!(at(&mut app, key(KeyCode::Home)), Some(0));
    // The queue pages too.
    app.queue = (0..5).map(|i| track(&format!("q{i}"), "Q", 60.0)).collect();
    app.queue_state.select(Some(0));
    app.focus = Focus::Queue;
    app.update(key(KeyCode::End));
    assert_eq!(app.queue_state.selected(), Some(4));
}

#[test]
fn previous_then_next_comes_back_to_the_track_left() {
    let mut app = main_app();
    app.update(key(KeyCode::Enter));
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Enter));
    assert_eq!(app.now.as_ref().map(|n| n.track.id.as_str()), Some("t2"));
    let effects = app.update(key(KeyCode::Char('p')));
    assert!(matches!(&effects[0], Effect::Player(Command::Play(t)) if t.id == "t1"));
    // At its end the player moves on to the track left, without a gap.
    assert!(
        matches!(&effects[1], Effect::Player(Command::SetNext(Some(t))) if t.id == "t2"),
        "{effects:?}"
    );
    let effects = app.update(key(KeyCode::Char('n')));
    assert!(
        matches!(&effects[0], Effect::Player(Command::Play(t)) if t.id == "t2"),
        "{effects:?}"
    );
    assert!(app.queue.is_empty());
    // And back again.
    let effects = app.update(key(KeyCode::Char('p')));
    assert!(matches!(&effects[0], Effect::Player(Command::Play(t)) if t.id == "t1"));
}

fn volume_sent(effects: &[Effect]) -> Option<f32> {
    effects.iter().find_map(|e| match e {
        Effect::Player(Command::Volume(v)) => Some(*v),
        _ => None,
    })
}

#[test]
fn the_volume_goes_to_150_percent_and_mutes() {
    let mut app = main_app();
    for _ in 0..10 {
        app.update(key(KeyCode::Char('+')));
    }
    assert!((app.volume - VOLUME_MAX).abs() < 1e-6, "{}", app.volume);
    assert!(app.status.as_ref().is_some_and(|s| s.text == "volume 150%"));
    let effects = app.update(key(KeyCode::Char('m')));
    assert_eq!(volume_sent(&effects), Some(0.0));
    assert!(app.muted);
    let effects = app.update(key(KeyCode::Char('m')));
    assert_eq!(volume_sent(&effects), Some(1.5));
    // Muted, a volume key unmutes at the new level.
    app.update(key(KeyCode::Char('m')));
    let effects = app.update(key(KeyCode::Char('-')));
    assert_eq!(volume_sent(&effects), Some(1.4));
    assert!(!app.muted);
    // A saved volume is taken as it is, within bounds.
    assert_eq!(volume_sent(&app.set_volume(0.35)), Some(0.35));
    assert_eq!(volume_sent(&app.set_volume(9.0)), Some(1.5));
}

#[test]
fn liking_adding_and_uploading_say_what_they_did() {
    let mut app = main_app();
    let effects = app.update(key(KeyCode::Char('l')));
    assert_eq!(
        effects,
        vec![Effect::Like {
            track_id: "t1".into(),
            title: "One".into(),
            like: true
        }]
    );
    app.update(Msg::LikeDone {
        track_id: "t1".into(),
        title: "One".into(),
        liked: true,
        result: Ok(()),
    });
    assert_eq!(app.status.as_ref().map(|s| s.text.as_str()), Some("♥ liked One"));
    assert!(app.liked.contains("t1"));
    // Shown as liked, so `l` unlikes.
    assert!(matches!(
        &app.update(key(KeyCode::Char('l')))[..],
        [Effect::Like { like: false, .. }]
    ));

    app.update(key(KeyCode::Char('A')));
    app.update(Msg::Playlists(Ok(vec![playlist("p1", "Road trip")])));
    app.update(key(KeyCode::Enter));
    assert_eq!(
        app.status.as_ref().map(|s| s.text.as_str()),
        Some("adding One to Road trip…")
    );

    app.update(key(KeyCode::Char('u')));
    let job: Job = serde_json::from_value(serde_json::json!({
        "id": "j1", "status": "ready", "progress": 100, "error": null, "track_id": "0190abc"
    }))
    .expect("a job");
    app.update(Msg::Upload(UploadProgress::Done(Ok((job, Some("Night Drive".into()))))));
    let Some(Overlay::Upload(dialog)) = &app.overlay else {
        panic!("the dialog stays open");
    };
    assert!(matches!(&dialog.phase, UploadPhase::Ready { title } if title == "“Night Drive”"));
    assert_eq!(
        app.status.as_ref().map(|s| s.text.as_str()),
        Some("uploaded “Night Drive”")
    );
}

#[test]
fn inputs_edit_by_character() {
    let mut input = Input::with("héllo");
    input.edit(&KeyEvent::new(KeyCode::Left, KeyModifiers::NONE));
    input.edit(&KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
    assert_eq!(input.text, "hélo");
    input.edit(&KeyEvent::new(KeyCode::Home, KeyModifiers::NONE));
    input.edit(&KeyEvent::new(KeyCode::Char('¡'), KeyModifiers::NONE));
    assert_eq!(input.text, "¡hélo");
    input.edit(&KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    assert_eq!(input.text, "hélo");
}

#[test]
fn paths_complete_to_the_common_prefix() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("song-one.flac"), b"").expect("file");
    std::fs::write(dir.path().join("song-two.flac"), b"").expect("file");
    std::fs::create_dir(dir.path().join("sub")).expect("dir");
    let base = format!("{}/", dir.path().display());
    let (done, candidates) = complete_path(&format!("{base}so"));
    assert_eq!(done, format!("{base}song-"));
    assert_eq!(candidates, vec!["song-one.flac", "song-two.flac"]);
    let (done, candidates) = complete_path(&format!("{base}su"));
    assert_eq!(done, format!("{base}sub/"));
    assert!(candidates.is_empty());
    let (done, _) = complete_path(&format!("{base}zzz"));
    assert_eq!(done, format!("{base}zzz"));
}

/// Media keys and MPRIS drive the app through the same actions as keys.
#[test]
fn actions_and_seeks_come_from_outside_the_keyboard() {
    let mut app = main_app();
    let effects = app.update(Msg::Action(Action::Play));
    assert!(matches!(&effects[0], Effect::Player(Command::Play(t)) if t.id == "t1"));
    assert_eq!(
        app.update(Msg::Action(Action::Pause)),
        vec![Effect::Player(Command::TogglePause)]
    );
    app.update(Msg::Player(Update::Position {
        track_id: "t1".into(),
        position_s: 1.0,
        rendition: "128k".into(),
        paused: false,
    }));
    assert_eq!(
        app.update(Msg::SeekTo(30.0)),
        vec![Effect::Player(Command::SeekTo(30.0))]
    );
    assert_eq!(
        app.update(Msg::SeekTo(900.0)),
        vec![Effect::Player(Command::SeekTo(60.0))]
    );
    assert!(app.update(Msg::SeekTo(f64::NAN)).is_empty());
    // Not on the login screen.
    let (mut login, _) = App::new("http://h", Keymap::default(), false);
    assert!(login.update(Msg::Action(Action::Play)).is_empty());
}
