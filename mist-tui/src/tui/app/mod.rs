//! The TUI's state and everything that changes it.
//!
//! [`App::update`] takes one [`Msg`] (a key, a click, a network answer, an
//! update from the audio thread, a tick) and returns the [`Effect`]s to run:
//! network calls and commands for the audio thread. It does no I/O itself, so
//! the whole UI can be driven and drawn in tests without a server or a
//! terminal; `tui::mod` runs the effects and feeds their answers back in.

mod action;
mod cover;
mod input;
mod library;
mod login;
mod lyrics;
mod manage;
mod msg;
mod overlay;
mod pointer;
mod queue;
mod resume;
#[cfg(test)]
pub(crate) mod tests;

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

pub use cover::{CoverKey, Covers};
use input::expand_home;
pub use input::{Input, complete_path};
pub use library::{Listing, Rows, Section};
pub use login::{LoginField, LoginForm};
pub use lyrics::TrackLyrics;
pub use manage::{Confirm, TagForm, Tags};
pub use msg::{Effect, LoginOk, Msg, NetError, UploadProgress, View};
pub use overlay::{Overlay, PlaylistPicker, Prompt, PromptFor, UploadDialog, UploadPhase};
pub use pointer::Areas;
pub use queue::Repeat;
pub use resume::Resume;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Search,
    Genres,
    Tracks,
    Queue,
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
    listing: Listing,
    selected: Option<usize>,
    offset: usize,
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
    /// Albums, artists or playlists, when the view lists them (see [`App::rows`]).
    pub listing: Listing,
    pub track_state: TableState,
    /// The lists shown before this one, the last on top (Esc goes back).
    back: Vec<Shown>,
    pub loading: bool,
    pub liked: HashSet<String>,
    pub queue: VecDeque<Track>,
    pub queue_state: ListState,
    history: Vec<Track>,
    pub now: Option<NowPlaying>,
    pub repeat: Repeat,
    /// Shuffled: the queue's order before, to put it back.
    unshuffled: Option<Vec<Track>>,
    /// The saved queue has been read (until then nothing is saved over it).
    resume_known: bool,
    /// `now` is a restored track the audio thread has not loaded yet.
    restored: bool,
    /// A resumed track's position, sought once it plays.
    pending_seek: Option<(String, f64)>,
    /// When the queue was last saved.
    queue_saved: Option<Instant>,
    /// Cover art, when the terminal was asked what it can draw.
    pub covers: Covers,
    /// The lyrics pane is open.
    pub show_lyrics: bool,
    pub lyrics: Option<TrackLyrics>,
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
            listing: Listing::default(),
            track_state: TableState::default(),
            back: Vec::new(),
            loading: false,
            liked: HashSet::new(),
            queue: VecDeque::new(),
            queue_state: ListState::default(),
            history: Vec::new(),
            now: None,
            repeat: Repeat::Off,
            unshuffled: None,
            resume_known: false,
            restored: false,
            pending_seek: None,
            queue_saved: None,
            covers: Covers::default(),
            show_lyrics: false,
            lyrics: None,
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
            Effect::LoadPlayQueue,
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
        let mut effects = self.handle(msg);
        // Whatever changed the track, the open lyrics pane and the covers follow it.
        effects.extend(self.follow_lyrics());
        effects.extend(self.follow_covers());
        effects
    }

    fn handle(&mut self, msg: Msg) -> Vec<Effect> {
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
                        self.show(view, tracks, Listing::default());
                        Vec::new()
                    }
                    Err(error) => self.net_error(error),
                }
            }
            Msg::Listing {
                generation,
                view,
                result,
            } => {
                if generation != self.generation {
                    return Vec::new();
                }
                self.loading = false;
                match result {
                    Ok((listing, tracks)) => {
                        self.show(view, tracks, listing);
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
            Msg::Managed { done, result } => match result {
                Ok(()) => {
                    self.set_status(done, false);
                    Vec::new()
                }
                Err(error) => self.net_error(error),
            },
            Msg::TrackEdited(result) => match result {
                Ok(track) => {
                    self.track_edited(track);
                    Vec::new()
                }
                Err(error) => self.net_error(error),
            },
            Msg::Lyrics { track_id, result } => self.lyrics_loaded(track_id, result),
            Msg::Action(action) if matches!(self.screen, Screen::Main) => self.action(action, false),
            Msg::Action(_) => Vec::new(),
            Msg::SeekTo(target_s) => self.seek_to(target_s),
            Msg::Cover { key, image } => {
                self.cover_loaded(key, image);
                Vec::new()
            }
            Msg::PlayQueue(result) => match result {
                Ok(saved) => self.resume(saved),
                Err(error) => self.net_error(error),
            },
            Msg::QueueSaved { name, result } => match result {
                Ok(count) => {
                    self.set_status(format!("saved {count} tracks as the playlist {name}"), false);
                    Vec::new()
                }
                Err(error) => self.net_error(error),
            },
            Msg::Player(update) => self.player_update(update),
            Msg::Quit => {
                self.quit = true;
                vec![Effect::Quit]
            }
        }
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
        effects.extend(self.save_when_due());
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
                let offset = turn(self.track_state.offset(), self.rows_len());
                let mut selected = self.track_state.selected();
                move_index(&mut selected, self.rows_len(), step);
                self.track_state.select(selected);
                *self.track_state.offset_mut() = offset;
            }
        }
    }

    /// Shows a list that has loaded, the one before kept to go back to.
    fn show(&mut self, view: View, tracks: Vec<Track>, listing: Listing) {
        // Typing a search is not a step to go back over.
        if view != self.view && !(view.is_typed() && self.view.is_typed()) {
            self.remember_shown();
        }
        self.view = view;
        self.tracks = tracks;
        self.listing = listing;
        self.track_state.select((self.rows_len() > 0).then_some(0));
        *self.track_state.offset_mut() = 0;
    }

    /// Keeps what the table shows, to come back to from the next list.
    fn remember_shown(&mut self) {
        if self.back.len() == BACK_DEPTH {
            self.back.remove(0);
        }
        self.back.push(Shown {
            view: self.view.clone(),
            tracks: std::mem::take(&mut self.tracks),
            listing: std::mem::take(&mut self.listing),
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
        self.listing = shown.listing;
        self.track_state.select(shown.selected);
        *self.track_state.offset_mut() = shown.offset;
    }

    /// The load the table waits for (tests answer it).
    #[cfg(test)]
    pub fn generation(&self) -> u64 {
        self.generation
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
            _ => TrackQuery::default(),
        };
        Effect::LoadTracks {
            generation,
            view,
            query,
        }
    }

    fn play(&mut self, track: Track) -> Vec<Effect> {
        self.play_from(track, true)
    }

    /// Plays `track` now; the track left is history and, when `cycle`,
    /// goes round to the back of the queue under repeat all.
    fn play_from(&mut self, track: Track, cycle: bool) -> Vec<Effect> {
        self.quota_banner = None;
        self.restored = false;
        self.leave_now(&track, cycle, true);
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
        player(Command::SetNext(self.next_track()))
    }

    fn player_update(&mut self, update: Update) -> Vec<Effect> {
        match update {
            Update::Loading { track, advanced } => {
                if advanced {
                    // Repeating, the track that ends is the one that starts.
                    let again = self.now.as_ref().is_some_and(|now| now.track.id == track.id)
                        && self.repeat != Repeat::Off
                        && self.queue.front().is_none_or(|t| t.id != track.id);
                    if !again && self.queue.front().is_some_and(|t| t.id == track.id) {
                        self.queue.pop_front();
                        self.clamp_queue_selection();
                    }
                    self.leave_now(&track, true, false);
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
                self.seek_when_playing(&track_id)
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
        if self.rows() != Rows::Tracks {
            return None;
        }
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
    Effect::Player(command)
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
