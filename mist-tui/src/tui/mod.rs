//! `mist` with no arguments: the terminal player (docs/tui.md).
//!
//! The shape follows the usual ratatui application: [`app::App`] holds the
//! state and turns messages into effects; [`ui`] draws it; this module owns
//! the terminal and the event loop, and runs the effects: network calls as
//! tokio tasks whose answers come back as messages, and commands for the
//! audio thread ([`player`]), which plays on its own OS thread. The loop
//! waits on terminal input, those answers and a tick, so drawing never waits
//! on the network and the sound never waits on drawing.
//!
//! The terminal is restored on every way out: normal quit, an error (a guard
//! restores it on drop) and a panic (a hook restores it before the message is
//! printed). Logs go to `$XDG_STATE_HOME/mist/mist.log` (by default
//! `~/.local/state/mist/mist.log`), never to the screen.

mod app;
mod keys;
mod player;
mod ui;

// Media keys work on the app's state: a child of this module, kept beside main.rs.
#[path = "../mpris.rs"]
mod mpris;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream};
use futures::StreamExt;
use mist_core::api::{
    AlbumQuery, CompleteUploadRequest, CreatePlaylistRequest, JobStatus, LoginRequest, RegisterRequest, Track,
    UpdatePlaylistRequest, UpdateTrackRequest,
};
use mist_core::client::{Client, ClientError};
use ratatui::DefaultTerminal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::session::Settings;
use crate::session::login::{logged_in_client, save_login};
use crate::session::upload::{Progress, send_file};
use app::{App, CoverKey, Covers, Effect, Listing, LoginOk, Msg, NetError, Resume, UploadProgress, View};
use keys::Keymap;
use player::Player;

/// What the log keeps unless `MIST_LOG` says otherwise: mist's own news, and
/// only warnings from the decoder (symphonia logs every stream it probes at
/// INFO, which would bury everything else).
const DEFAULT_LOG: &str = "info,symphonia=warn";
/// How often the loop wakes without input: search debounce, status expiry.
const TICK: Duration = Duration::from_millis(100);
/// The cover size asked for (the server's 300 px box: sharp in kitty, iTerm2
/// and sixel, cheap to scale for half blocks).
const COVER_SIZE: u32 = 300;
/// Quitting waits this long at most for the queue to be saved.
const QUIT_SAVE_WITHIN: Duration = Duration::from_secs(2);
/// A frame is drawn at least this often (the quota banner counts down).
const REDRAW_EVERY: Duration = Duration::from_secs(1);

pub async fn run(settings: Settings) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let config = settings.paths.load_config()?;
    let keymap = Keymap::from_config(config.other.get("keys"))
        .with_context(|| format!("bad [keys] in {}", settings.paths.config_file().display()))?;
    let covers = config
        .covers()
        .with_context(|| format!("bad `covers` in {}", settings.paths.config_file().display()))?;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        bail!("the player needs a terminal; see `mist --help` for commands that work in scripts");
    }
    let state = state_dir()?;
    let log = init_log(&state)?;
    let client = match settings.paths.read_token()? {
        Some(_) => match logged_in_client(&settings) {
            Ok(client) => Some(client),
            Err(error) => {
                tracing::warn!("saved login not used: {error:#}");
                None
            }
        },
        None => None,
    };
    tracing::info!(server = settings.server(), log = %log.display(), "mist starts");
    let (tx, rx) = unbounded_channel();
    let gain_mode = config.replay_gain()?;
    let (media_tx, media_keys) = unbounded_channel();
    let media = if config.media_keys()? {
        mpris::Mpris::start(settings.server(), media_tx)
    } else {
        None
    };
    let mut runner = Runner {
        settings,
        client: None,
        player: None,
        tx,
        gain_mode,
        media: media.map(|media| (media, media_keys)),
    };
    if let Some(client) = client.clone() {
        runner.logged_in(client)?;
    }
    let (mut app, mut effects) = App::new(runner.settings.server(), keymap, client.is_some());
    effects.extend(app.set_volume(saved_volume(&state)));

    let terminal = Terminal::enter()?;
    if covers {
        let picker = cover_picker();
        tracing::info!(protocol = ?picker.protocol_type(), "covers");
        app.covers = Covers::with(picker);
    }
    let outcome = event_loop(terminal, &mut app, &mut runner, rx, effects).await;
    save_volume(&state, app.volume);
    // Where the listener stopped, for the next start (here or on the web).
    if let (Some(request), Some(client)) = (app.play_queue(), runner.client.clone()) {
        match tokio::time::timeout(QUIT_SAVE_WITHIN, client.save_play_queue(&request)).await {
            Ok(Ok(_)) => tracing::info!(tracks = request.track_ids.len(), "saved the play queue"),
            Ok(Err(error)) => tracing::warn!(%error, "cannot save the play queue"),
            Err(_) => tracing::warn!("saving the play queue timed out"),
        }
    }
    // The terminal is back; now let the audio thread complete the session
    // and close its output.
    runner.shutdown().await;
    outcome.map(|()| ExitCode::SUCCESS)
}

async fn event_loop(
    mut terminal: Terminal,
    app: &mut App,
    runner: &mut Runner,
    mut messages: tokio::sync::mpsc::UnboundedReceiver<Msg>,
    first: Vec<Effect>,
) -> Result<()> {
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    runner.run_all(first);
    let mut dirty = true;
    let mut drawn = Instant::now();
    let (mut media, mut media_keys) = match runner.media.take() {
        Some((media, keys)) => (Some(media), Some(keys)),
        None => (None, None),
    };
    loop {
        if let Some(media) = &mut media {
            media.publish(app);
        }
        if dirty || drawn.elapsed() >= REDRAW_EVERY {
            terminal.inner.draw(|frame| ui::draw(frame, app))?;
            drawn = Instant::now();
            dirty = false;
        }
        let msg = tokio::select! {
            event = input.next() => match event {
                Some(Ok(Event::Key(key))) => Msg::Key(key),
                Some(Ok(Event::Mouse(mouse))) => Msg::Mouse(mouse),
                Some(Ok(Event::Resize(..))) => Msg::Resize,
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(error).context("cannot read the terminal"),
                None => Msg::Quit,
            },
            Some(msg) = messages.recv() => msg,
            _ = tick.tick() => Msg::Tick,
            Some(key) = mpris::next_key(&mut media_keys) => {
                if let Some(media) = &media {
                    let effects = media.apply(app, key);
                    runner.run_all(effects);
                }
                dirty = true;
                continue;
            }
            _ = terminate.recv() => Msg::Quit,
            _ = hangup.recv() => Msg::Quit,
        };
        let is_tick = matches!(msg, Msg::Tick);
        if let Msg::LoggedIn(Ok(LoginOk { client, .. })) = &msg {
            runner.logged_in(client.clone())?;
        }
        let effects = app.update(msg);
        dirty |= !is_tick || !effects.is_empty();
        runner.run_all(effects);
        if app.quit {
            return Ok(());
        }
    }
}

/// The terminal in raw mode on the alternate screen with the mouse on;
/// dropping it puts everything back.
struct Terminal {
    inner: DefaultTerminal,
}

impl Terminal {
    fn enter() -> Result<Terminal> {
        // ratatui's hook leaves raw mode and the alternate screen before the
        // panic is printed; this one first turns the mouse off and logs it.
        let inner = ratatui::try_init().context("cannot set up the terminal")?;
        let ratatui_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
            tracing::error!("panic: {info}");
            ratatui_hook(info);
        }));
        crossterm::execute!(std::io::stdout(), EnableMouseCapture).context("cannot turn on the mouse")?;
        Ok(Terminal { inner })
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
        ratatui::restore();
    }
}

/// Runs effects: owns the logged-in client and the audio thread.
struct Runner {
    settings: Settings,
    client: Option<Client>,
    player: Option<Player>,
    tx: UnboundedSender<Msg>,
    /// The `replaygain` setting, given to every audio thread.
    gain_mode: crate::audio::gain::GainMode,
    /// Media keys (MPRIS) and their events, until the event loop takes them.
    media: Option<(mpris::Mpris, tokio::sync::mpsc::UnboundedReceiver<mpris::MediaKey>)>,
}

impl Runner {
    /// Uses `client` from now on, with a fresh audio thread for its token.
    fn logged_in(&mut self, client: Client) -> Result<()> {
        if let Some(player) = self.player.take() {
            // Not waited for: the UI goes on while the old session completes.
            tokio::task::spawn_blocking(move || player.quit());
        }
        let tx = self.tx.clone();
        let player = Player::spawn(client.clone(), self.settings.audio.clone(), move |update| {
            let _ = tx.send(Msg::Player(update));
        })
        .context("cannot start the audio thread")?;
        player.send(player::Command::SetGainMode(self.gain_mode));
        self.player = Some(player);
        self.client = Some(client);
        Ok(())
    }

    /// Completes the session and closes the output, within the audio
    /// thread's bound. This runtime keeps running meanwhile: the audio
    /// thread's requests may ride on pooled connections that it drives (the
    /// client is shared), and blocking it here stalled the final report
    /// until the timeout, losing it.
    async fn shutdown(&mut self) {
        if let Some(player) = self.player.take() {
            tracing::info!("stopping the audio thread");
            if let Err(error) = tokio::task::spawn_blocking(move || player.quit()).await {
                tracing::error!(%error, "stopping the audio thread");
            }
        }
        tracing::info!("mist stops");
    }

    fn run_all(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            self.run(effect);
        }
    }

    fn run(&mut self, effect: Effect) {
        tracing::debug!(?effect, "effect");
        if let Effect::Login {
            server,
            email,
            password,
            username,
            invite,
        } = effect
        {
            let paths = self.settings.paths.clone();
            return self.spawn(async move {
                let result = login(&paths, &server, email, password, username, invite).await;
                Msg::LoggedIn(result)
            });
        }
        if let Effect::Player(command) = effect {
            if let Some(player) = &self.player {
                player.send(command);
            }
            return;
        }
        let Some(client) = self.client.clone() else {
            return;
        };
        match effect {
            Effect::LoadMe => self.spawn(async move { Msg::Me(client.me().await.map_err(net)) }),
            Effect::LoadGenres => self
                .spawn(async move { Msg::Genres(client.genres(Some(100), None).await.map(|p| p.items).map_err(net)) }),
            Effect::LoadTracks {
                generation,
                view,
                query,
            } => self.spawn_tracks(
                generation,
                view,
                async move { client.tracks(&query).await.map(|p| p.items) },
            ),
            Effect::LoadSimilar {
                generation,
                view,
                track_id,
            } => self.spawn_tracks(generation, view, async move {
                let page = client.similar(&track_id, Some(50)).await?;
                Ok(page
                    .items
                    .into_iter()
                    .filter(|s| s.sounds_alike())
                    .map(|s| s.track)
                    .collect())
            }),
            Effect::LoadLikes { generation, view } => self.spawn_tracks(generation, view, async move {
                client.likes(Some(100), None).await.map(|p| p.items)
            }),
            Effect::LoadListing { generation, view } => self.spawn(async move {
                let result = listing(&client, &view).await.map_err(net);
                Msg::Listing {
                    generation,
                    view,
                    result,
                }
            }),
            Effect::LoadLikedIds => self.spawn(async move { Msg::Liked(liked_ids(&client).await.map_err(net)) }),
            Effect::Like { track_id, title, like } => self.spawn(async move {
                let result = if like {
                    client.like(&track_id).await
                } else {
                    client.unlike(&track_id).await
                };
                Msg::LikeDone {
                    track_id,
                    title,
                    liked: like,
                    result: result.map_err(net),
                }
            }),
            Effect::LoadQuota => self.spawn(async move { Msg::Quota(client.quota().await.map_err(net)) }),
            Effect::LoadPlaylists => self.spawn(async move {
                Msg::Playlists(client.my_playlists(Some(100), None).await.map(|p| p.items).map_err(net))
            }),
            Effect::LoadPlaylistTracks {
                generation,
                view,
                playlist_id,
            } => self.spawn_tracks(generation, view, async move {
                let page = client.playlist_tracks(&playlist_id, Some(100), None).await?;
                Ok(page.items.into_iter().map(|entry| entry.track).collect())
            }),
            Effect::CreatePlaylist { name } => self.spawn(async move {
                let request = CreatePlaylistRequest {
                    name,
                    ..CreatePlaylistRequest::default()
                };
                Msg::PlaylistCreated(client.create_playlist(&request).await.map_err(net))
            }),
            Effect::AddToPlaylist { playlist, track } => self.spawn(async move {
                let result = client.add_to_playlist(&playlist.id, &track.id).await;
                Msg::AddedToPlaylist {
                    playlist: playlist.name,
                    track: track.title,
                    result: result.map(|_| ()).map_err(net),
                }
            }),
            Effect::Upload(path) => {
                let progress: Arc<dyn Progress> = Arc::new(UploadReporter {
                    tx: self.tx.clone(),
                    last: Mutex::new(None),
                });
                self.spawn(async move {
                    let result =
                        match send_file(&client, &path, &CompleteUploadRequest::default(), true, progress).await {
                            // The dialog names the new track, as the server titled it.
                            Ok(job) if job.status == JobStatus::Ready => {
                                let title = client.track(&job.track_id).await.ok().map(|t| t.title);
                                Ok((job, title))
                            }
                            Ok(job) => Ok((job, None)),
                            Err(error) => Err(crate::one_line(&error)),
                        };
                    Msg::Upload(UploadProgress::Done(result))
                });
            }
            Effect::SaveQueue { name, track_ids } => self.spawn(async move {
                let result = save_queue(&client, name.clone(), &track_ids).await.map_err(net);
                Msg::QueueSaved { name, result }
            }),
            Effect::RenamePlaylist { id, name } => self.spawn(async move {
                let update = UpdatePlaylistRequest {
                    name: Some(name.clone()),
                    ..UpdatePlaylistRequest::default()
                };
                let result = client.update_playlist(&id, &update).await.map(|_| ()).map_err(net);
                Msg::Managed {
                    done: format!("renamed the playlist to {name}"),
                    result,
                }
            }),
            Effect::DeletePlaylist { id, name } => self.spawn(async move {
                let result = client.delete_playlist(&id).await.map_err(net);
                Msg::Managed {
                    done: format!("deleted the playlist {name}"),
                    result,
                }
            }),
            Effect::RemoveFromPlaylist {
                playlist_id,
                track_id,
                title,
            } => self.spawn(async move {
                let result = client.remove_from_playlist(&playlist_id, &track_id).await.map_err(net);
                Msg::Managed {
                    done: format!("removed {title} from the playlist"),
                    result,
                }
            }),
            Effect::MoveInPlaylist {
                playlist_id,
                track_id,
                position,
            } => self.spawn(async move {
                let result = client
                    .move_in_playlist(&playlist_id, &track_id, position)
                    .await
                    .map(|_| ())
                    .map_err(net);
                Msg::Managed {
                    done: format!("moved to place {}", position + 1),
                    result,
                }
            }),
            Effect::EditTrack { track_id, tags } => self.spawn(async move {
                let update = UpdateTrackRequest {
                    title: Some(tags.title),
                    artist: Some(tags.artist),
                    album: Some(tags.album),
                    genre: Some(tags.genre),
                    ..UpdateTrackRequest::default()
                };
                Msg::TrackEdited(client.update_track(&track_id, &update).await.map_err(net))
            }),
            Effect::DeleteTrack { track_id, title } => self.spawn(async move {
                let result = client.delete_track(&track_id).await.map_err(net);
                Msg::Managed {
                    done: format!("deleted {title}"),
                    result,
                }
            }),
            Effect::LoadCover(key) => self.spawn(async move {
                let bytes = match &key {
                    CoverKey::Track(id) => client.track_cover(id, COVER_SIZE).await,
                    CoverKey::Album(id) => client.album_cover(id, COVER_SIZE).await,
                };
                let image = match bytes {
                    Ok(bytes) => tokio::task::spawn_blocking(move || decode_cover(&bytes))
                        .await
                        .ok()
                        .flatten(),
                    Err(error) => {
                        if error.status() != Some(404) {
                            tracing::warn!(%error, "cannot fetch a cover");
                        }
                        None
                    }
                };
                Msg::Cover { key, image }
            }),
            Effect::LoadLyrics { track_id } => self.spawn(async move {
                let result = match client.lyrics(&track_id).await {
                    Ok(lyrics) => Ok(Some(lyrics)),
                    Err(error) if error.status() == Some(404) => Ok(None),
                    Err(error) => Err(net(error)),
                };
                Msg::Lyrics { track_id, result }
            }),
            Effect::LoadPlayQueue => self.spawn(async move { Msg::PlayQueue(saved_queue(&client).await.map_err(net)) }),
            Effect::SavePlayQueue(request) => {
                tokio::spawn(async move {
                    if let Err(error) = client.save_play_queue(&request).await {
                        tracing::warn!(%error, "cannot save the play queue");
                    }
                });
            }
            Effect::Login { .. } | Effect::Player(_) | Effect::Quit => {}
        }
    }

    /// Loads the track table for `view`; the answer says which load it was.
    fn spawn_tracks(
        &self,
        generation: u64,
        view: View,
        load: impl Future<Output = Result<Vec<Track>, ClientError>> + Send + 'static,
    ) {
        self.spawn(async move {
            let result = load.await.map_err(net);
            Msg::Tracks {
                generation,
                view,
                result,
            }
        });
    }

    fn spawn(&self, task: impl Future<Output = Msg> + Send + 'static) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(task.await);
        });
    }
}

/// Every liked track's id (all pages: a ♥ missing past the first page would
/// make `l` like again what the user already likes).
async fn liked_ids(client: &Client) -> Result<Vec<String>, ClientError> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = client.likes(Some(100), cursor.as_deref()).await?;
        ids.extend(page.items.into_iter().map(|t| t.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(ids),
        }
    }
}

/// The albums, artists or playlists `view` lists, or an album's or artist's page.
async fn listing(client: &Client, view: &View) -> Result<(Listing, Vec<Track>), ClientError> {
    let mut listing = Listing::default();
    let mut tracks = Vec::new();
    match view {
        View::Albums => {
            let query = AlbumQuery {
                limit: Some(app::PAGE),
                ..AlbumQuery::default()
            };
            listing.albums = client.albums(&query).await?.items;
        }
        View::Artists => listing.artists = client.artists(Some(100), None).await?.items,
        View::Playlists => listing.playlists = client.my_playlists(Some(100), None).await?.items,
        View::Album { id, .. } => {
            let detail = client.album(id).await?;
            listing.album = Some(detail.album);
            tracks = detail.tracks;
        }
        View::Artist { id, .. } => {
            let detail = client.artist(id).await?;
            listing.artist = Some(detail.artist);
            listing.albums = detail.albums;
            tracks = detail.top_tracks;
        }
        _ => {}
    }
    Ok((listing, tracks))
}

/// How covers are drawn. Terminals known to answer the graphics query are
/// asked (in raw mode, before events are read); any other gets half blocks
/// without asking: the query reads the terminal's answer from stdin, and a
/// terminal that never answers (tmux, plain xterm) would leave that reader
/// waiting to swallow the first keys typed.
fn cover_picker() -> ratatui_image::picker::Picker {
    use ratatui_image::picker::Picker;
    let env = |name: &str| std::env::var(name).unwrap_or_default().to_ascii_lowercase();
    let term = env("TERM");
    let program = env("TERM_PROGRAM");
    let answers = std::env::var_os("TMUX").is_none()
        && (std::env::var_os("KITTY_WINDOW_ID").is_some()
            || ["kitty", "foot", "wezterm", "ghostty", "mlterm"]
                .iter()
                .any(|name| term.contains(name))
            || ["iterm.app", "wezterm", "ghostty"].contains(&program.as_str()));
    if !answers {
        return Picker::halfblocks();
    }
    Picker::from_query_stdio().unwrap_or_else(|error| {
        tracing::info!(%error, "no graphics protocol detected; covers in half blocks");
        Picker::halfblocks()
    })
}

/// A cover's bytes as an image, within limits (the server sends small
/// JPEGs; anything else is not drawn).
fn decode_cover(bytes: &[u8]) -> Option<image::DynamicImage> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(2048);
    limits.max_image_height = Some(2048);
    limits.max_alloc = Some(32 * 1024 * 1024);
    reader.limits(limits);
    match reader.decode() {
        Ok(image) => Some(image),
        Err(error) => {
            tracing::warn!(%error, "cannot read a cover");
            None
        }
    }
}

/// The queue saved on the server with its tracks (those since deleted left
/// out), or `None` when none was saved.
async fn saved_queue(client: &Client) -> Result<Option<Resume>, ClientError> {
    let saved = match client.play_queue().await {
        Ok(saved) => saved,
        Err(error) if error.status() == Some(404) => return Ok(None),
        Err(error) => return Err(error),
    };
    let current_id = saved
        .current_index
        .and_then(|i| saved.track_ids.get(usize::try_from(i).ok()?))
        .cloned();
    let fetched: Vec<Result<Track, ClientError>> = futures::stream::iter(saved.track_ids)
        .map(|id| {
            let client = client.clone();
            async move { client.track(&id).await }
        })
        .buffered(8)
        .collect()
        .await;
    let mut tracks = Vec::new();
    for track in fetched {
        match track {
            Ok(track) => tracks.push(track),
            Err(error) if error.status() == Some(404) => {}
            Err(error) => return Err(error),
        }
    }
    let current = current_id.and_then(|id| tracks.iter().position(|t| t.id == id));
    Ok(Some(Resume {
        tracks,
        current,
        position_s: saved.position_ms as f64 / 1000.0,
    }))
}

/// A new playlist holding `track_ids` in order; how many went in.
async fn save_queue(client: &Client, name: String, track_ids: &[String]) -> Result<usize, ClientError> {
    let request = CreatePlaylistRequest {
        name,
        ..CreatePlaylistRequest::default()
    };
    let playlist = client.create_playlist(&request).await?;
    for id in track_ids {
        client.add_to_playlist(&playlist.id, id).await?;
    }
    Ok(track_ids.len())
}

async fn login(
    paths: &crate::config::Paths,
    server: &str,
    email: String,
    password: String,
    username: Option<String>,
    invite: Option<String>,
) -> Result<LoginOk, NetError> {
    let client = Client::new(server).map_err(net)?;
    let auth = match username {
        Some(username) => {
            let request = RegisterRequest {
                email,
                username,
                password,
            };
            match &invite {
                Some(code) => client.register_with_invite(&request, code).await,
                None => client.register(&request).await,
            }
        }
        None => client.login(&LoginRequest { email, password }).await,
    }
    .map_err(net)?;
    save_login(paths, &client, &auth).map_err(|e| NetError {
        message: crate::one_line(&e),
        unauthorized: false,
    })?;
    Ok(LoginOk {
        client: client.with_token(auth.token),
        user: auth.user,
    })
}

fn net(error: ClientError) -> NetError {
    NetError {
        unauthorized: error.is_unauthorized(),
        message: error.to_string(),
    }
}

/// Upload progress as messages, at most one per percent sent.
struct UploadReporter {
    tx: UnboundedSender<Msg>,
    last: Mutex<Option<u64>>,
}

impl Progress for UploadReporter {
    fn sent(&self, sent: u64, total: u64) {
        let percent = (sent * 100).checked_div(total).unwrap_or(100);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if *last != Some(percent) {
            *last = Some(percent);
            let _ = self.tx.send(Msg::Upload(UploadProgress::Sending { sent, total }));
        }
    }

    fn processing(&self, percent: u8) {
        let _ = self.tx.send(Msg::Upload(UploadProgress::Processing { percent }));
    }
}

/// `$XDG_STATE_HOME/mist` (`~/.local/state/mist`): the log and the volume.
fn state_dir() -> Result<PathBuf> {
    let dir = match (
        std::env::var_os("XDG_STATE_HOME").map(PathBuf::from),
        std::env::var_os("HOME"),
    ) {
        (Some(state), _) if state.is_absolute() => state.join("mist"),
        (_, Some(home)) => PathBuf::from(home).join(".local/state/mist"),
        _ => bail!("cannot find a state directory for the log: set XDG_STATE_HOME or HOME"),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The volume the player was left at (a percentage in `volume`), so it
/// starts where the listener left it; 100% the first time or when unreadable.
fn saved_volume(dir: &Path) -> f32 {
    std::fs::read_to_string(dir.join("volume"))
        .ok()
        .and_then(|text| text.trim().parse::<f32>().ok())
        .filter(|percent| percent.is_finite())
        .map_or(1.0, |percent| percent / 100.0)
}

fn save_volume(dir: &Path, volume: f32) {
    if let Err(error) = std::fs::write(dir.join("volume"), format!("{:.0}\n", volume * 100.0)) {
        tracing::warn!(%error, "cannot keep the volume");
    }
}

/// Logs to `dir`; returns the file's path.
fn init_log(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("mist.log");
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("MIST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))?;
    Ok(path)
}
