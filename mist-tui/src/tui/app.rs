//! The TUI's state and everything that changes it.
//!
//! [`App::update`] takes one [`Msg`] (a key, a click, a network answer, an
//! update from the audio thread, a tick) and returns the [`Effect`]s to run:
//! network calls and commands for the audio thread. It does no I/O itself, so
//! the whole UI can be driven and drawn in tests without a server or a
//! terminal; `tui::mod` runs the effects and feeds their answers back in.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use mist_core::api::{Job, JobStatus, NameCount, Playlist, Quota, Track, TrackQuery, User};
use mist_core::client::Client;
use mist_core::player::{PlayerError, Quality};
use ratatui::layout::{Position, Rect};
use ratatui::widgets::{ListState, TableState};

use super::keys::{Action, Keymap};
use super::player::{Command, Update, VOLUME_MAX};

/// Typing pauses this long before the search is sent.
pub const SEARCH_DEBOUNCE: Duration = Duration::from_millis(250);
/// How long a status message stays.
const STATUS_FOR: Duration = Duration::from_secs(8);
/// How often the quota is asked for while playing.
const QUOTA_EVERY: Duration = Duration::from_secs(15);
const SEEK_STEP_S: f64 = 10.0;
const VOLUME_STEP: f32 = 0.1;
/// Lists the table remembers for going back.
const BACK_DEPTH: usize = 32;
/// `previous` restarts the track when more than this has been played.
const RESTART_AFTER_S: f64 = 3.0;
/// Results asked for per listing.
pub const PAGE: i64 = 100;

/// A failed network call, as the UI needs it.
#[derive(Debug, Clone)]
pub struct NetError {
    pub message: String,
    /// The token was refused: back to the login screen.
    pub unauthorized: bool,
}

/// A login or registration that worked: the new token in a client.
pub struct LoginOk {
    pub client: Client,
    pub user: User,
}

impl std::fmt::Debug for LoginOk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginOk")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Everything that can happen to the UI.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize,
    Tick,
    LoggedIn(Result<LoginOk, NetError>),
    Me(Result<User, NetError>),
    Genres(Result<Vec<NameCount>, NetError>),
    Tracks {
        generation: u64,
        view: View,
        result: Result<Vec<Track>, NetError>,
    },
    Liked(Result<Vec<String>, NetError>),
    LikeDone {
        track_id: String,
        title: String,
        liked: bool,
        result: Result<(), NetError>,
    },
    Quota(Result<Quota, NetError>),
    Playlists(Result<Vec<Playlist>, NetError>),
    /// A playlist made from the picker.
    PlaylistCreated(Result<Playlist, NetError>),
    AddedToPlaylist {
        playlist: String,
        track: String,
        result: Result<(), NetError>,
    },
    Upload(UploadProgress),
    Player(Update),
    /// SIGTERM, SIGHUP.
    Quit,
}

/// Work for `tui::mod` to do.
#[derive(Debug, PartialEq)]
pub enum Effect {
    Login {
        server: String,
        email: String,
        password: String,
        /// Set to register a new account.
        username: Option<String>,
        /// The invite code to register with, if one was given.
        invite: Option<String>,
    },
    LoadMe,
    LoadGenres,
    LoadTracks {
        generation: u64,
        view: View,
        query: TrackQuery,
    },
    LoadSimilar {
        generation: u64,
        view: View,
        track_id: String,
    },
    LoadLikes {
        generation: u64,
        view: View,
    },
    /// The ids of liked tracks, for the ♥ marks.
    LoadLikedIds,
    Like {
        track_id: String,
        title: String,
        like: bool,
    },
    LoadQuota,
    LoadPlaylists,
    LoadPlaylistTracks {
        generation: u64,
        view: View,
        playlist_id: String,
    },
    CreatePlaylist {
        name: String,
    },
    AddToPlaylist {
        playlist: Playlist,
        track: Track,
    },
    Upload(PathBuf),
    Player(PlayerCommandKind),
    Quit,
}

/// [`Command`] without the track payloads' identity problems in tests:
/// compared by track id.
#[derive(Debug)]
pub struct PlayerCommandKind(pub Command);

impl PartialEq for PlayerCommandKind {
    fn eq(&self, other: &Self) -> bool {
        format!("{:?}", self.0) == format!("{:?}", other.0)
    }
}

/// Upload progress from the upload task.
#[derive(Debug, Clone)]
pub enum UploadProgress {
    Sending {
        sent: u64,
        total: u64,
    },
    Processing {
        percent: u8,
    },
    /// The job's end, with the new track's title when it is ready.
    Done(Result<(Job, Option<String>), String>),
}

/// What the track table shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// Every track (optionally of a genre), newest first.
    All {
        genre: Option<String>,
    },
    Search {
        q: String,
        genre: Option<String>,
    },
    Similar {
        title: String,
    },
    Likes,
    Playlist {
        name: String,
    },
}

impl View {
    /// A view the search box and genre filter ask for (not a list opened from a track or the library).
    fn is_typed(&self) -> bool {
        matches!(self, View::All { .. } | View::Search { .. })
    }

    pub fn title(&self) -> String {
        let genre = |g: &Option<String>| g.as_ref().map(|g| format!(" in {g}")).unwrap_or_default();
        match self {
            View::All { genre: g } => format!("Tracks{}", genre(g)),
            View::Search { q, genre: g } => format!("Search “{q}”{}", genre(g)),
            View::Similar { title } => format!("Sounds like “{title}”"),
            View::Likes => "Liked tracks".into(),
            View::Playlist { name } => format!("Playlist “{name}”"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Search,
    Genres,
    Tracks,
    Queue,
}

/// A one-line text field with a cursor (counted in characters).
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub text: String,
    pub cursor: usize,
}

impl Input {
    pub fn with(text: &str) -> Input {
        Input {
            text: text.to_string(),
            cursor: text.chars().count(),
        }
    }

    /// Applies an editing key; `true` when the text changed.
    pub fn edit(&mut self, key: &KeyEvent) -> bool {
        let len = self.text.chars().count();
        let byte = |s: &str, i: usize| s.char_indices().nth(i).map_or(s.len(), |(b, _)| b);
        match key.code {
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                let at = byte(&self.text, self.cursor);
                self.text.replace_range(..at, "");
                self.cursor = 0;
                true
            }
            KeyCode::Char(c) if !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => {
                let at = byte(&self.text, self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
                true
            }
            KeyCode::Backspace if self.cursor > 0 => {
                let at = byte(&self.text, self.cursor - 1);
                self.text.remove(at);
                self.cursor -= 1;
                true
            }
            KeyCode::Delete if self.cursor < len => {
                let at = byte(&self.text, self.cursor);
                self.text.remove(at);
                true
            }
            KeyCode::Left => {
                self.cursor = self.cursor.saturating_sub(1);
                false
            }
            KeyCode::Right => {
                self.cursor = (self.cursor + 1).min(len);
                false
            }
            KeyCode::Home => {
                self.cursor = 0;
                false
            }
            KeyCode::End => {
                self.cursor = len;
                false
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginField {
    Server,
    Email,
    Username,
    /// Registration only; optional (servers with invite-only registration ask for one).
    Invite,
    Password,
}

#[derive(Debug, Clone)]
pub struct LoginForm {
    pub server: Input,
    pub email: Input,
    pub username: Input,
    pub invite: Input,
    pub password: Input,
    pub register: bool,
    pub focus: LoginField,
    pub error: Option<String>,
    pub busy: bool,
}

impl LoginForm {
    pub fn new(server: &str, error: Option<String>) -> LoginForm {
        LoginForm {
            server: Input::with(server),
            email: Input::default(),
            username: Input::default(),
            invite: Input::default(),
            password: Input::default(),
            register: false,
            focus: LoginField::Email,
            error,
            busy: false,
        }
    }

    pub fn fields(&self) -> Vec<LoginField> {
        let mut fields = vec![LoginField::Server, LoginField::Email];
        if self.register {
            fields.push(LoginField::Username);
            fields.push(LoginField::Invite);
        }
        fields.push(LoginField::Password);
        fields
    }

    fn input(&mut self, field: LoginField) -> &mut Input {
        match field {
            LoginField::Server => &mut self.server,
            LoginField::Email => &mut self.email,
            LoginField::Username => &mut self.username,
            LoginField::Invite => &mut self.invite,
            LoginField::Password => &mut self.password,
        }
    }

    fn move_focus(&mut self, forward: bool) {
        let fields = self.fields();
        let at = fields.iter().position(|f| *f == self.focus).unwrap_or(0);
        let n = fields.len();
        self.focus = fields[if forward { (at + 1) % n } else { (at + n - 1) % n }];
    }
}

#[derive(Debug, Clone)]
pub enum Screen {
    Login(LoginForm),
    Main,
}

/// The track playing (or loading).
#[derive(Debug, Clone)]
pub struct NowPlaying {
    pub track: Track,
    pub position_s: f64,
    pub rendition: String,
    pub paused: bool,
    pub loading: bool,
}

#[derive(Debug, Clone)]
pub enum UploadPhase {
    Editing,
    Sending { sent: u64, total: u64 },
    Processing { percent: u8 },
    Ready { title: String },
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct UploadDialog {
    pub path: Input,
    /// Candidates for the last path completion.
    pub completions: Vec<String>,
    pub phase: UploadPhase,
}

#[derive(Debug, Clone)]
pub enum Overlay {
    Help,
    Upload(UploadDialog),
    Playlists(PlaylistPicker),
}

/// The playlist picker: open one, or add a track to one.
#[derive(Debug, Clone)]
pub struct PlaylistPicker {
    /// `Some`: the track to add to the chosen playlist.
    pub adding: Option<Box<Track>>,
    /// `None` until the list has loaded.
    pub playlists: Option<Vec<Playlist>>,
    pub state: ListState,
    /// The name being typed for a new playlist.
    pub new_name: Option<Input>,
}

#[derive(Debug, Clone)]
pub struct Status {
    pub text: String,
    pub error: bool,
    pub since: Instant,
}

/// A list the table showed, kept to go back to.
#[derive(Debug, Clone)]
struct Shown {
    view: View,
    tracks: Vec<Track>,
    selected: Option<usize>,
    offset: usize,
}

/// Where the last frame put each part, for mouse clicks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Areas {
    pub search: Rect,
    pub genres: Rect,
    pub tracks: Rect,
    pub queue: Rect,
    pub gauge: Rect,
}

pub struct App {
    pub screen: Screen,
    pub keymap: Keymap,
    pub server: String,
    pub user: Option<User>,
    pub focus: Focus,
    pub search: Input,
    search_due: Option<Instant>,
    generation: u64,
    pub genres: Vec<NameCount>,
    /// 0 is "All genres"; n is `genres[n - 1]`.
    pub genre_state: ListState,
    pub genre: Option<String>,
    pub view: View,
    pub tracks: Vec<Track>,
    pub track_state: TableState,
    /// The lists shown before this one, the last on top (Esc goes back).
    back: Vec<Shown>,
    pub loading: bool,
    pub liked: HashSet<String>,
    pub queue: VecDeque<Track>,
    pub queue_state: ListState,
    history: Vec<Track>,
    pub now: Option<NowPlaying>,
    /// 0.0 to [`VOLUME_MAX`]; kept while muted.
    pub volume: f32,
    pub muted: bool,
    pub quality: Quality,
    pub quota: Option<Quota>,
    quota_asked: Option<Instant>,
    /// Set when the day's quota is used up: when it resets.
    pub quota_banner: Option<DateTime<Utc>>,
    /// The time as of the last tick (the banner counts down to the reset).
    pub clock: DateTime<Utc>,
    pub status: Option<Status>,
    pub overlay: Option<Overlay>,
    pub areas: Areas,
    /// The last click, for double clicks.
    last_click: Option<(Instant, u16, u16)>,
    pub quit: bool,
}

impl App {
    /// The login screen (`logged_in: false`) or the main screen with its
    /// first loads.
    pub fn new(server: &str, keymap: Keymap, logged_in: bool) -> (App, Vec<Effect>) {
        let mut app = App {
            screen: Screen::Login(LoginForm::new(server, None)),
            keymap,
            server: server.to_string(),
            user: None,
            focus: Focus::Tracks,
            search: Input::default(),
            search_due: None,
            generation: 0,
            genres: Vec::new(),
            genre_state: ListState::default().with_selected(Some(0)),
            genre: None,
            view: View::All { genre: None },
            tracks: Vec::new(),
            track_state: TableState::default(),
            back: Vec::new(),
            loading: false,
            liked: HashSet::new(),
            queue: VecDeque::new(),
            queue_state: ListState::default(),
            history: Vec::new(),
            now: None,
            volume: 1.0,
            muted: false,
            quality: Quality::Auto,
            quota: None,
            quota_asked: None,
            quota_banner: None,
            clock: Utc::now(),
            status: None,
            overlay: None,
            areas: Areas::default(),
            last_click: None,
            quit: false,
        };
        let effects = if logged_in {
            app.screen = Screen::Main;
            let mut effects = vec![Effect::LoadMe];
            effects.extend(app.enter_main());
            effects
        } else {
            Vec::new()
        };
        (app, effects)
    }

    /// The loads the main screen starts with.
    fn enter_main(&mut self) -> Vec<Effect> {
        self.screen = Screen::Main;
        self.quota_asked = Some(Instant::now());
        vec![
            Effect::LoadGenres,
            self.load(View::All { genre: None }),
            Effect::LoadLikedIds,
            Effect::LoadQuota,
            // A new login has a new audio thread.
            player(Command::Volume(self.output_volume())),
        ]
    }

    /// Sets the volume (clamped to 0–[`VOLUME_MAX`], in whole percent) and unmutes.
    pub fn set_volume(&mut self, volume: f32) -> Vec<Effect> {
        self.volume = (volume.clamp(0.0, VOLUME_MAX) * 100.0).round() / 100.0;
        self.muted = false;
        vec![player(Command::Volume(self.output_volume()))]
    }

    /// What the audio thread plays at: nothing when muted.
    fn output_volume(&self) -> f32 {
        if self.muted { 0.0 } else { self.volume }
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(key) if key.kind != KeyEventKind::Release => self.key(key),
            Msg::Key(_) | Msg::Resize => Vec::new(),
            Msg::Mouse(mouse) => self.mouse(mouse),
            Msg::Tick => self.tick(),
            Msg::LoggedIn(result) => {
                let Screen::Login(form) = &mut self.screen else {
                    return Vec::new();
                };
                form.busy = false;
                match result {
                    Ok(LoginOk { user, .. }) => {
                        self.server = form.server.text.trim().trim_end_matches('/').to_string();
                        self.set_status(format!("logged in as {}", user.username), false);
                        self.user = Some(user);
                        self.enter_main()
                    }
                    Err(error) => {
                        form.error = Some(error.message);
                        Vec::new()
                    }
                }
            }
            Msg::Me(result) => match result {
                Ok(user) => {
                    self.user = Some(user);
                    Vec::new()
                }
                Err(error) => self.net_error(error),
            },
            Msg::Genres(result) => match result {
                Ok(genres) => {
                    self.genres = genres;
                    Vec::new()
                }
                Err(error) => self.net_error(error),
            },
            Msg::Tracks {
                generation,
                view,
                result,
            } => {
                if generation != self.generation {
                    return Vec::new();
                }
                self.loading = false;
                match result {
                    Ok(tracks) => {
                        // Typing a search is not a step to go back over.
                        if view != self.view && !(view.is_typed() && self.view.is_typed()) {
                            self.remember_shown();
                        }
                        self.view = view;
                        self.track_state.select((!tracks.is_empty()).then_some(0));
                        *self.track_state.offset_mut() = 0;
                        self.tracks = tracks;
                        Vec::new()
                    }
                    Err(error) => self.net_error(error),
                }
            }
            Msg::Liked(result) => match result {
                Ok(ids) => {
                    self.liked = ids.into_iter().collect();
                    Vec::new()
                }
                Err(error) => self.net_error(error),
            },
            Msg::LikeDone {
                track_id,
                title,
                liked,
                result,
            } => match result {
                Ok(()) => {
                    if liked {
                        self.set_status(format!("♥ liked {title}"), false);
                        self.liked.insert(track_id);
                    } else {
                        self.set_status(format!("unliked {title}"), false);
                        self.liked.remove(&track_id);
                    }
                    Vec::new()
                }
                Err(error) => self.net_error(error),
            },
            Msg::Quota(result) => match result {
                Ok(quota) => {
                    self.set_quota(quota);
                    Vec::new()
                }
                Err(error) => self.net_error(error),
            },
            Msg::Playlists(result) => {
                let Some(Overlay::Playlists(picker)) = &mut self.overlay else {
                    return Vec::new();
                };
                match result {
                    Ok(playlists) => {
                        picker.state.select((!playlists.is_empty()).then_some(0));
                        picker.playlists = Some(playlists);
                        Vec::new()
                    }
                    Err(error) => {
                        self.overlay = None;
                        self.net_error(error)
                    }
                }
            }
            Msg::PlaylistCreated(result) => match result {
                Ok(playlist) => {
                    self.set_status(format!("made the playlist {}", playlist.name), false);
                    match &self.overlay {
                        Some(Overlay::Playlists(PlaylistPicker {
                            adding: Some(track), ..
                        })) => {
                            let track = track.clone();
                            self.overlay = None;
                            vec![Effect::AddToPlaylist {
                                playlist,
                                track: *track,
                            }]
                        }
                        _ => vec![Effect::LoadPlaylists],
                    }
                }
                Err(error) => self.net_error(error),
            },
            Msg::AddedToPlaylist {
                playlist,
                track,
                result,
            } => match result {
                Ok(()) => {
                    self.set_status(format!("added {track} to {playlist}"), false);
                    Vec::new()
                }
                Err(error) => self.net_error(error),
            },
            Msg::Upload(progress) => self.upload_progress(progress),
            Msg::Player(update) => self.player_update(update),
            Msg::Quit => {
                self.quit = true;
                vec![Effect::Quit]
            }
        }
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return vec![Effect::Quit];
        }
        if let Screen::Login(_) = self.screen {
            return self.login_key(key);
        }
        match &mut self.overlay {
            Some(Overlay::Help) => {
                self.overlay = None;
                return Vec::new();
            }
            Some(Overlay::Upload(_)) => return self.upload_key(key),
            Some(Overlay::Playlists(_)) => return self.playlists_key(key),
            None => {}
        }
        if self.focus == Focus::Search {
            match key.code {
                KeyCode::Esc | KeyCode::Enter | KeyCode::Down => {
                    self.focus = Focus::Tracks;
                    return self.search_now();
                }
                KeyCode::Tab | KeyCode::BackTab => {}
                _ => {
                    if self.search.edit(&key) {
                        self.search_due = Some(Instant::now() + SEARCH_DEBOUNCE);
                    }
                    return Vec::new();
                }
            }
        }
        if key.code == KeyCode::BackTab {
            return self.action(Action::Focus, true);
        }
        let Some(action) = self.keymap.action(&key) else {
            return Vec::new();
        };
        self.action(action, false)
    }

    fn action(&mut self, action: Action, backwards: bool) -> Vec<Effect> {
        match action {
            Action::Quit => {
                self.quit = true;
                vec![Effect::Quit]
            }
            Action::Help => {
                self.overlay = Some(Overlay::Help);
                Vec::new()
            }
            Action::Search => {
                self.focus = Focus::Search;
                Vec::new()
            }
            Action::Focus => {
                let order = [Focus::Search, Focus::Genres, Focus::Tracks, Focus::Queue];
                let at = order.iter().position(|f| *f == self.focus).unwrap_or(0);
                self.focus = order[if backwards { (at + 3) % 4 } else { (at + 1) % 4 }];
                Vec::new()
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Top | Action::Bottom => {
                // A page is what the focused pane shows; top and bottom go as far as there is.
                let (area, header) = match self.focus {
                    Focus::Genres => (self.areas.genres, 2),
                    Focus::Queue => (self.areas.queue, 2),
                    _ => (self.areas.tracks, 3),
                };
                let page = usize::from(area.height.saturating_sub(header).max(1));
                let step = match action {
                    Action::Up => -1,
                    Action::Down => 1,
                    Action::PageUp => -(page as isize),
                    Action::PageDown => page as isize,
                    Action::Top => isize::MIN / 2,
                    _ => isize::MAX / 2,
                };
                // A page key turns the page: the view moves with the selection.
                let paging = matches!(action, Action::PageUp | Action::PageDown).then_some(page);
                self.move_focused(step, paging);
                Vec::new()
            }
            Action::Back => {
                // From another pane, back to the table first; then to the last list.
                if self.focus == Focus::Tracks {
                    self.go_back();
                }
                self.focus = Focus::Tracks;
                Vec::new()
            }
            Action::Play => match self.focus {
                Focus::Genres => self.pick_genre(),
                Focus::Queue => {
                    let Some(track) = self.queue_state.selected().and_then(|i| self.queue.remove(i)) else {
                        return Vec::new();
                    };
                    self.clamp_queue_selection();
                    self.play(track)
                }
                _ => match self.selected_track() {
                    Some(track) => self.play(track),
                    None => Vec::new(),
                },
            },
            Action::Pause => match &self.now {
                Some(_) => vec![player(Command::TogglePause)],
                None => Vec::new(),
            },
            Action::Next => match self.queue.pop_front() {
                Some(track) => {
                    self.clamp_queue_selection();
                    self.play(track)
                }
                None => {
                    self.set_status("the queue is empty (a adds the selected track)", false);
                    Vec::new()
                }
            },
            Action::Previous => match &self.now {
                Some(now) if now.position_s > RESTART_AFTER_S => vec![player(Command::SeekTo(0.0))],
                _ => match self.history.pop() {
                    Some(track) => {
                        // The track left goes to the front of the queue, so
                        // `next` comes back to it.
                        let left = self.now.as_ref().map(|now| now.track.clone());
                        if let Some(left) = left {
                            self.queue.push_front(left);
                            self.clamp_queue_selection();
                        }
                        let effects = self.play(track);
                        // Nor is it history twice.
                        self.history.pop();
                        effects
                    }
                    None => Vec::new(),
                },
            },
            Action::SeekBack | Action::SeekForward => match &mut self.now {
                Some(now) if !now.loading => {
                    let delta = if action == Action::SeekBack {
                        -SEEK_STEP_S
                    } else {
                        SEEK_STEP_S
                    };
                    now.position_s = (now.position_s + delta).clamp(0.0, now.track.duration_s);
                    vec![player(Command::SeekBy(delta))]
                }
                _ => Vec::new(),
            },
            Action::VolumeUp | Action::VolumeDown => {
                let step = if action == Action::VolumeUp {
                    VOLUME_STEP
                } else {
                    -VOLUME_STEP
                };
                let effects = self.set_volume(self.volume + step);
                self.set_status(format!("volume {:.0}%", self.volume * 100.0), false);
                effects
            }
            Action::Mute => {
                self.muted = !self.muted;
                let state = if self.muted { "muted" } else { "unmuted" };
                self.set_status(format!("{state} (volume {:.0}%)", self.volume * 100.0), false);
                vec![player(Command::Volume(self.output_volume()))]
            }
            Action::Queue => match self.selected_track() {
                Some(track) => {
                    self.set_status(format!("queued {}", track.title), false);
                    self.queue.push_back(track);
                    if self.queue_state.selected().is_none() {
                        self.queue_state.select(Some(0));
                    }
                    vec![self.next_for_player()]
                }
                None => Vec::new(),
            },
            Action::Remove => {
                if self.focus != Focus::Queue {
                    return Vec::new();
                }
                if let Some(i) = self.queue_state.selected() {
                    self.queue.remove(i);
                    self.clamp_queue_selection();
                }
                vec![self.next_for_player()]
            }
            Action::Similar => {
                let Some(track) = self.focused_track() else {
                    return Vec::new();
                };
                vec![Effect::LoadSimilar {
                    generation: self.start_loading(),
                    view: View::Similar { title: track.title },
                    track_id: track.id,
                }]
            }
            Action::Like => {
                let Some(track) = self.focused_track() else {
                    return Vec::new();
                };
                // The opposite of the ♥ shown.
                let like = !self.liked.contains(&track.id);
                vec![Effect::Like {
                    track_id: track.id,
                    title: track.title,
                    like,
                }]
            }
            Action::Likes => {
                vec![Effect::LoadLikes {
                    generation: self.start_loading(),
                    view: View::Likes,
                }]
            }
            Action::Playlists | Action::AddToPlaylist => {
                let adding = if action == Action::AddToPlaylist {
                    let Some(track) = self.focused_track() else {
                        return Vec::new();
                    };
                    Some(Box::new(track))
                } else {
                    None
                };
                self.overlay = Some(Overlay::Playlists(PlaylistPicker {
                    adding,
                    playlists: None,
                    state: ListState::default(),
                    new_name: None,
                }));
                vec![Effect::LoadPlaylists]
            }
            Action::Quality => {
                self.quality = match self.quality {
                    Quality::Auto => Quality::Low,
                    Quality::Low => Quality::Normal,
                    Quality::Normal => Quality::High,
                    Quality::High => Quality::Auto,
                };
                self.set_status(format!("quality: {}", self.quality), false);
                vec![player(Command::SetQuality(self.quality))]
            }
            Action::Upload => {
                self.overlay = Some(Overlay::Upload(UploadDialog {
                    path: Input::default(),
                    completions: Vec::new(),
                    phase: UploadPhase::Editing,
                }));
                Vec::new()
            }
        }
    }

    fn login_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Screen::Login(form) = &mut self.screen else {
            return Vec::new();
        };
        if form.busy {
            return Vec::new();
        }
        match key.code {
            KeyCode::Esc => {
                self.quit = true;
                vec![Effect::Quit]
            }
            KeyCode::Char('r') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                form.register = !form.register;
                if !form.fields().contains(&form.focus) {
                    form.focus = LoginField::Email;
                }
                Vec::new()
            }
            KeyCode::Tab | KeyCode::Down => {
                form.move_focus(true);
                Vec::new()
            }
            KeyCode::BackTab | KeyCode::Up => {
                form.move_focus(false);
                Vec::new()
            }
            KeyCode::Enter => {
                let fields = form.fields();
                if form.focus != LoginField::Password {
                    form.move_focus(true);
                    return Vec::new();
                }
                let required = fields.iter().filter(|f| **f != LoginField::Invite);
                if let Some(empty) = required.into_iter().find(|f| form.input(**f).text.trim().is_empty()) {
                    form.error = Some(format!("{} is empty", field_name(*empty)));
                    form.focus = *empty;
                    return Vec::new();
                }
                form.busy = true;
                form.error = None;
                vec![Effect::Login {
                    server: form.server.text.trim().to_string(),
                    email: form.email.text.trim().to_string(),
                    password: form.password.text.clone(),
                    username: form.register.then(|| form.username.text.trim().to_string()),
                    invite: Some(form.invite.text.trim().to_string()).filter(|code| form.register && !code.is_empty()),
                }]
            }
            _ => {
                let focus = form.focus;
                form.input(focus).edit(&key);
                Vec::new()
            }
        }
    }

    fn playlists_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(Overlay::Playlists(picker)) = &mut self.overlay else {
            return Vec::new();
        };
        if let Some(name) = &mut picker.new_name {
            match key.code {
                KeyCode::Esc => picker.new_name = None,
                KeyCode::Enter if !name.text.trim().is_empty() => {
                    let name = name.text.trim().to_string();
                    picker.new_name = None;
                    return vec![Effect::CreatePlaylist { name }];
                }
                _ => {
                    name.edit(&key);
                }
            }
            return Vec::new();
        }
        let count = picker.playlists.as_ref().map_or(0, Vec::len);
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => self.overlay = None,
            KeyCode::Char('n') => picker.new_name = Some(Input::default()),
            KeyCode::Up | KeyCode::Char('k') => move_selection(&mut picker.state, count, -1),
            KeyCode::Down | KeyCode::Char('j') => move_selection(&mut picker.state, count, 1),
            KeyCode::Enter => {
                let chosen = picker
                    .state
                    .selected()
                    .and_then(|i| picker.playlists.as_ref()?.get(i))
                    .cloned();
                let Some(playlist) = chosen else {
                    return Vec::new();
                };
                let adding = picker.adding.clone();
                self.overlay = None;
                return match adding {
                    Some(track) => {
                        self.set_status(format!("adding {} to {}…", track.title, playlist.name), false);
                        vec![Effect::AddToPlaylist {
                            playlist,
                            track: *track,
                        }]
                    }
                    None => {
                        vec![Effect::LoadPlaylistTracks {
                            generation: self.start_loading(),
                            view: View::Playlist { name: playlist.name },
                            playlist_id: playlist.id,
                        }]
                    }
                };
            }
            _ => {}
        }
        Vec::new()
    }

    fn upload_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(Overlay::Upload(dialog)) = &mut self.overlay else {
            return Vec::new();
        };
        let editing = matches!(dialog.phase, UploadPhase::Editing | UploadPhase::Failed(_));
        match key.code {
            KeyCode::Esc => {
                self.overlay = None;
                Vec::new()
            }
            _ if !editing => {
                // Sending or processing: any other key hides the dialog; the
                // status line keeps reporting.
                if matches!(dialog.phase, UploadPhase::Ready { .. }) || key.code == KeyCode::Enter {
                    self.overlay = None;
                }
                Vec::new()
            }
            KeyCode::Tab => {
                let (completed, candidates) = complete_path(&dialog.path.text);
                dialog.path = Input::with(&completed);
                dialog.completions = candidates;
                Vec::new()
            }
            KeyCode::Enter => {
                let path = expand_home(dialog.path.text.trim());
                if !path.is_file() {
                    dialog.phase = UploadPhase::Failed(format!("{} is not a file", path.display()));
                    return Vec::new();
                }
                dialog.phase = UploadPhase::Sending { sent: 0, total: 0 };
                dialog.completions.clear();
                vec![Effect::Upload(path)]
            }
            _ => {
                if dialog.path.edit(&key) {
                    dialog.completions.clear();
                    if matches!(dialog.phase, UploadPhase::Failed(_)) {
                        dialog.phase = UploadPhase::Editing;
                    }
                }
                Vec::new()
            }
        }
    }

    fn mouse(&mut self, mouse: MouseEvent) -> Vec<Effect> {
        if !matches!(self.screen, Screen::Main) || self.overlay.is_some() {
            return Vec::new();
        }
        let at = Position::new(mouse.column, mouse.row);
        match mouse.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let step = if mouse.kind == MouseEventKind::ScrollDown {
                    1
                } else {
                    -1
                };
                if self.areas.tracks.contains(at) {
                    let mut selected = self.track_state.selected();
                    move_index(&mut selected, self.tracks.len(), step);
                    self.track_state.select(selected);
                }
                Vec::new()
            }
            MouseEventKind::Down(MouseButton::Left) => {
                let double = self.last_click.is_some_and(|(when, column, row)| {
                    when.elapsed() < Duration::from_millis(400) && column == mouse.column && row == mouse.row
                });
                self.last_click = Some((Instant::now(), mouse.column, mouse.row));
                if self.areas.gauge.contains(at) {
                    return self.click_gauge(mouse.column);
                }
                if self.areas.search.contains(at) {
                    self.focus = Focus::Search;
                } else if let Some(row) = list_row(self.areas.tracks, 2, self.track_state.offset(), at) {
                    self.focus = Focus::Tracks;
                    if row < self.tracks.len() {
                        self.track_state.select(Some(row));
                        if double {
                            return self.action(Action::Play, false);
                        }
                    }
                } else if let Some(row) = list_row(self.areas.genres, 1, self.genre_state.offset(), at) {
                    self.focus = Focus::Genres;
                    if row <= self.genres.len() {
                        self.genre_state.select(Some(row));
                        return self.pick_genre();
                    }
                } else if let Some(row) = list_row(self.areas.queue, 1, self.queue_state.offset(), at) {
                    self.focus = Focus::Queue;
                    if row < self.queue.len() {
                        self.queue_state.select(Some(row));
                        if double {
                            return self.action(Action::Play, false);
                        }
                    }
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn click_gauge(&mut self, column: u16) -> Vec<Effect> {
        let Some(now) = &mut self.now else {
            return Vec::new();
        };
        if now.loading || self.areas.gauge.width == 0 {
            return Vec::new();
        }
        let fraction = f64::from(column - self.areas.gauge.x) / f64::from(self.areas.gauge.width);
        let target = fraction * now.track.duration_s;
        now.position_s = target;
        vec![player(Command::SeekTo(target))]
    }

    fn tick(&mut self) -> Vec<Effect> {
        self.clock = Utc::now();
        let mut effects = Vec::new();
        if self.search_due.is_some_and(|due| Instant::now() >= due) {
            effects.extend(self.search_now());
        }
        if self.status.as_ref().is_some_and(|s| s.since.elapsed() > STATUS_FOR) {
            self.status = None;
        }
        let playing = self.now.as_ref().is_some_and(|now| !now.paused);
        if playing && self.quota_asked.is_none_or(|asked| asked.elapsed() >= QUOTA_EVERY) {
            self.quota_asked = Some(Instant::now());
            effects.push(Effect::LoadQuota);
        }
        effects
    }

    /// Sends the search typed so far (now, not after the debounce).
    fn search_now(&mut self) -> Vec<Effect> {
        self.search_due = None;
        let view = self.typed_view();
        if view == self.view && !self.loading {
            return Vec::new();
        }
        vec![self.load(view)]
    }

    fn pick_genre(&mut self) -> Vec<Effect> {
        let selected = self.genre_state.selected().unwrap_or(0);
        self.genre = selected
            .checked_sub(1)
            .and_then(|i| self.genres.get(i))
            .map(|g| g.name.clone());
        let view = self.typed_view();
        vec![self.load(view)]
    }

    /// What the search box and the genre filter ask for.
    fn typed_view(&self) -> View {
        let q = self.search.text.trim().to_string();
        let genre = self.genre.clone();
        if q.is_empty() {
            View::All { genre }
        } else {
            View::Search { q, genre }
        }
    }

    /// Moves the focused pane's selection by `step` rows (clamped to the
    /// list), and its view too when turning a `page`.
    fn move_focused(&mut self, step: isize, page: Option<usize>) {
        let turn = |offset: usize, len: usize| {
            page.map_or(offset, |page| {
                (offset as isize + step).clamp(0, len.saturating_sub(page) as isize) as usize
            })
        };
        match self.focus {
            Focus::Genres => {
                let offset = turn(self.genre_state.offset(), self.genres.len() + 1);
                move_selection(&mut self.genre_state, self.genres.len() + 1, step);
                *self.genre_state.offset_mut() = offset;
            }
            Focus::Queue => {
                let offset = turn(self.queue_state.offset(), self.queue.len());
                move_selection(&mut self.queue_state, self.queue.len(), step);
                *self.queue_state.offset_mut() = offset;
            }
            _ => {
                let offset = turn(self.track_state.offset(), self.tracks.len());
                let mut selected = self.track_state.selected();
                move_index(&mut selected, self.tracks.len(), step);
                self.track_state.select(selected);
                *self.track_state.offset_mut() = offset;
            }
        }
    }

    /// Keeps what the table shows, to come back to from the next list.
    fn remember_shown(&mut self) {
        if self.back.len() == BACK_DEPTH {
            self.back.remove(0);
        }
        self.back.push(Shown {
            view: self.view.clone(),
            tracks: std::mem::take(&mut self.tracks),
            selected: self.track_state.selected(),
            offset: self.track_state.offset(),
        });
    }

    /// Shows the previous list again, where it was left, without asking the
    /// server; answers still on their way for the list left are dropped.
    fn go_back(&mut self) {
        let Some(shown) = self.back.pop() else {
            return;
        };
        self.generation += 1;
        self.loading = false;
        self.search_due = None;
        // The search box says what the list is.
        match &shown.view {
            View::All { genre } | View::Search { genre, .. } => {
                self.search = match &shown.view {
                    View::Search { q, .. } => Input::with(q),
                    _ => Input::default(),
                };
                self.genre = genre.clone();
                let row = self.genres.iter().position(|g| Some(&g.name) == genre.as_ref());
                self.genre_state.select(Some(row.map_or(0, |i| i + 1)));
            }
            _ => {}
        }
        self.view = shown.view;
        self.tracks = shown.tracks;
        self.track_state.select(shown.selected);
        *self.track_state.offset_mut() = shown.offset;
    }

    /// A new load of the track table: answers to older ones are dropped.
    fn start_loading(&mut self) -> u64 {
        self.generation += 1;
        self.loading = true;
        self.generation
    }

    /// Asks for the tracks of `view` (not similar or likes).
    fn load(&mut self, view: View) -> Effect {
        let generation = self.start_loading();
        let query = match &view {
            View::All { genre } => TrackQuery {
                genre: genre.clone(),
                limit: Some(PAGE),
                ..TrackQuery::default()
            },
            View::Search { q, genre } => TrackQuery {
                q: Some(q.clone()),
                genre: genre.clone(),
                limit: Some(PAGE),
                ..TrackQuery::default()
            },
            View::Similar { .. } | View::Likes | View::Playlist { .. } => TrackQuery::default(),
        };
        Effect::LoadTracks {
            generation,
            view,
            query,
        }
    }

    fn play(&mut self, track: Track) -> Vec<Effect> {
        self.quota_banner = None;
        if let Some(now) = self.now.take() {
            self.history.push(now.track);
        }
        self.now = Some(NowPlaying {
            track: track.clone(),
            position_s: 0.0,
            rendition: String::new(),
            paused: false,
            loading: true,
        });
        vec![player(Command::Play(track)), self.next_for_player()]
    }

    fn next_for_player(&self) -> Effect {
        player(Command::SetNext(self.queue.front().cloned()))
    }

    fn player_update(&mut self, update: Update) -> Vec<Effect> {
        match update {
            Update::Loading { track, advanced } => {
                if advanced {
                    if self.queue.front().is_some_and(|t| t.id == track.id) {
                        self.queue.pop_front();
                        self.clamp_queue_selection();
                    }
                    if let Some(now) = self.now.take() {
                        self.history.push(now.track);
                    }
                    self.now = Some(NowPlaying {
                        track: *track,
                        position_s: 0.0,
                        rendition: String::new(),
                        paused: false,
                        loading: true,
                    });
                    return vec![self.next_for_player()];
                }
                Vec::new()
            }
            Update::Position {
                track_id,
                position_s,
                rendition,
                paused,
            } => {
                if let Some(now) = &mut self.now
                    && now.track.id == track_id
                {
                    now.position_s = position_s;
                    now.rendition = rendition;
                    now.paused = paused;
                    now.loading = false;
                }
                Vec::new()
            }
            Update::Finished { track_id, quota } => {
                if let Some(quota) = quota {
                    self.set_quota(quota);
                }
                if self
                    .now
                    .as_ref()
                    .is_some_and(|now| now.track.id == track_id && !now.loading)
                {
                    self.now = None;
                }
                Vec::new()
            }
            Update::Failed { track_id, error } => {
                if self.now.as_ref().is_some_and(|now| now.track.id == track_id) {
                    self.now = None;
                }
                match &error {
                    PlayerError::QuotaExceeded { resets_at } => {
                        self.quota_banner = Some(*resets_at);
                        if let Some(quota) = &mut self.quota {
                            quota.remaining_s = Some(0.0);
                        }
                    }
                    _ => self.set_status(error.to_string(), true),
                }
                Vec::new()
            }
            Update::OutputFailed(message) => {
                self.set_status(format!("audio output: {message}"), true);
                Vec::new()
            }
            Update::Quota(quota) => {
                self.set_quota(quota);
                Vec::new()
            }
        }
    }

    fn upload_progress(&mut self, progress: UploadProgress) -> Vec<Effect> {
        let phase = match progress {
            UploadProgress::Sending { sent, total } => UploadPhase::Sending { sent, total },
            UploadProgress::Processing { percent } => UploadPhase::Processing { percent },
            UploadProgress::Done(Ok((job, title))) if job.status == JobStatus::Ready => {
                // The title the server settled on (the file's tags), else the id.
                let title = title.map_or_else(|| format!("track {}", job.track_id), |title| format!("“{title}”"));
                self.set_status(format!("uploaded {title}"), false);
                UploadPhase::Ready { title }
            }
            UploadProgress::Done(Ok((job, _))) => {
                let reason = job.error.unwrap_or_else(|| job.status.as_str().to_string());
                self.set_status(format!("upload failed: {reason}"), true);
                UploadPhase::Failed(reason)
            }
            UploadProgress::Done(Err(message)) => {
                self.set_status(format!("upload failed: {message}"), true);
                UploadPhase::Failed(message)
            }
        };
        let ready = matches!(phase, UploadPhase::Ready { .. });
        if let UploadPhase::Sending { sent, total } = &phase
            && *total > 0
            && self.overlay.is_none()
        {
            self.set_status(format!("uploading: {}%", sent * 100 / total), false);
        }
        if let UploadPhase::Processing { percent } = &phase
            && self.overlay.is_none()
        {
            self.set_status(format!("processing upload: {percent}%"), false);
        }
        if let Some(Overlay::Upload(dialog)) = &mut self.overlay {
            dialog.phase = phase;
        }
        // A new track: refresh the listing.
        if ready {
            vec![self.load(self.view_for_reload()), Effect::LoadGenres]
        } else {
            Vec::new()
        }
    }

    fn view_for_reload(&self) -> View {
        match &self.view {
            View::Similar { .. } | View::Likes | View::Playlist { .. } => View::All {
                genre: self.genre.clone(),
            },
            view => view.clone(),
        }
    }

    fn net_error(&mut self, error: NetError) -> Vec<Effect> {
        self.loading = false;
        if error.unauthorized {
            self.screen = Screen::Login(LoginForm::new(
                &self.server,
                Some("the saved login is no longer valid; log in again".into()),
            ));
            return vec![player(Command::Stop)];
        }
        self.set_status(error.message, true);
        Vec::new()
    }

    fn set_quota(&mut self, quota: Quota) {
        if quota.remaining_s.is_some_and(|left| left <= 0.0) {
            self.quota_banner = Some(quota.resets_at);
        } else {
            self.quota_banner = None;
        }
        self.quota = Some(quota);
    }

    pub fn set_status(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
            since: Instant::now(),
        });
    }

    fn selected_track(&self) -> Option<Track> {
        self.track_state.selected().and_then(|i| self.tracks.get(i)).cloned()
    }

    /// The track the focused pane points at: the queue's selection, else the
    /// table's, else what plays.
    fn focused_track(&self) -> Option<Track> {
        let queued = || self.queue_state.selected().and_then(|i| self.queue.get(i)).cloned();
        match self.focus {
            Focus::Queue => queued(),
            _ => self.selected_track(),
        }
        .or_else(|| self.now.as_ref().map(|now| now.track.clone()))
    }

    fn clamp_queue_selection(&mut self) {
        let len = self.queue.len();
        let selected = self.queue_state.selected().map(|i| i.min(len.saturating_sub(1)));
        self.queue_state
            .select(if len == 0 { None } else { selected.or(Some(0)) });
    }
}

fn player(command: Command) -> Effect {
    Effect::Player(PlayerCommandKind(command))
}

fn field_name(field: LoginField) -> &'static str {
    match field {
        LoginField::Server => "the server",
        LoginField::Email => "the email",
        LoginField::Username => "the username",
        LoginField::Invite => "the invite code",
        LoginField::Password => "the password",
    }
}

fn move_selection(state: &mut ListState, len: usize, step: isize) {
    let mut selected = state.selected();
    move_index(&mut selected, len, step);
    state.select(selected);
}

fn move_index(selected: &mut Option<usize>, len: usize, step: isize) {
    if len == 0 {
        *selected = None;
        return;
    }
    let at = selected.unwrap_or(0) as isize + step;
    *selected = Some(at.clamp(0, len as isize - 1) as usize);
}

/// The row of a bordered list under `at`: `header` rows (border, table
/// header) come before the first row.
fn list_row(area: Rect, header: u16, offset: usize, at: Position) -> Option<usize> {
    let inner_top = area.y + header;
    let inner_bottom = area.bottom().saturating_sub(1);
    (area.contains(at) && at.y >= inner_top && at.y < inner_bottom).then(|| offset + usize::from(at.y - inner_top))
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Tab completion of a file path: the longest common prefix of the entries
/// that start with what was typed (a directory gets a `/`), and the
/// candidates when there is more than one.
pub fn complete_path(typed: &str) -> (String, Vec<String>) {
    let (dir_part, stem) = match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => ("", typed),
    };
    let dir = if dir_part.is_empty() {
        PathBuf::from(".")
    } else {
        expand_home(dir_part)
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return (typed.to_string(), Vec::new());
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            if !name.starts_with(stem) || (name.starts_with('.') && !stem.starts_with('.')) {
                return None;
            }
            let is_dir =
                entry.file_type().ok()?.is_dir() || (entry.file_type().ok()?.is_symlink() && entry.path().is_dir());
            Some(if is_dir { format!("{name}/") } else { name })
        })
        .collect();
    names.sort();
    let Some(first) = names.first() else {
        return (typed.to_string(), Vec::new());
    };
    let common = names.iter().fold(first.clone(), |common, name| {
        common
            .chars()
            .zip(name.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a)
            .collect()
    });
    let completed = format!("{dir_part}{common}");
    if names.len() == 1 {
        (completed, Vec::new())
    } else {
        (completed, names)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn track(id: &str, title: &str, duration_s: f64) -> Track {
        serde_json::from_value(serde_json::json!({
            "id": id, "title": title, "artist": "Artist", "album": "Album", "genre": "ambient",
            "duration_s": duration_s, "status": "ready", "uploader_id": "u1", "play_count": 0,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))
        .expect("a track")
    }

    fn key(code: KeyCode) -> Msg {
        Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn main_app() -> App {
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
        assert!(matches!(&effects[0], Effect::Player(PlayerCommandKind(Command::Play(t))) if t.id == "t1"));
        app.update(key(KeyCode::Down));
        let effects = app.update(key(KeyCode::Char('a')));
        assert!(
            matches!(&effects[0], Effect::Player(PlayerCommandKind(Command::SetNext(Some(t)))) if t.id == "t2"),
            "{effects:?}"
        );
        // The audio thread moves on by itself at the end of t1.
        let effects = app.update(Msg::Player(Update::Loading {
            track: Box::new(track("t2", "Two", 90.0)),
            advanced: true,
        }));
        assert!(app.queue.is_empty());
        assert_eq!(app.now.as_ref().map(|n| n.track.id.as_str()), Some("t2"));
        assert!(matches!(
            &effects[0],
            Effect::Player(PlayerCommandKind(Command::SetNext(None)))
        ));
        // `p` early in a track goes back to the previous one.
        let effects = app.update(key(KeyCode::Char('p')));
        assert!(matches!(&effects[0], Effect::Player(PlayerCommandKind(Command::Play(t))) if t.id == "t1"));
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
        assert!(matches!(&effects[0], Effect::Player(PlayerCommandKind(Command::Play(t))) if t.id == "t2"));
        app.update(Msg::Player(Update::Position {
            track_id: "t2".into(),
            position_s: 1.0,
            rendition: "64k".into(),
            paused: false,
        }));
        let effects = app.update(click(60, 20));
        let [Effect::Player(PlayerCommandKind(Command::SeekTo(target)))] = effects.as_slice() else {
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
            [Effect::Player(PlayerCommandKind(Command::SetQuality(Quality::Low)))]
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
        assert!(matches!(&effects[0], Effect::Player(PlayerCommandKind(Command::Play(t))) if t.id == "t1"));
        // At its end the player moves on to the track left, without a gap.
        assert!(
            matches!(&effects[1], Effect::Player(PlayerCommandKind(Command::SetNext(Some(t)))) if t.id == "t2"),
            "{effects:?}"
        );
        let effects = app.update(key(KeyCode::Char('n')));
        assert!(
            matches!(&effects[0], Effect::Player(PlayerCommandKind(Command::Play(t))) if t.id == "t2"),
            "{effects:?}"
        );
        assert!(app.queue.is_empty());
        // And back again.
        let effects = app.update(key(KeyCode::Char('p')));
        assert!(matches!(&effects[0], Effect::Player(PlayerCommandKind(Command::Play(t))) if t.id == "t1"));
    }

    fn volume_sent(effects: &[Effect]) -> Option<f32> {
        effects.iter().find_map(|e| match e {
            Effect::Player(PlayerCommandKind(Command::Volume(v))) => Some(*v),
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
}
