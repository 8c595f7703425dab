//! Media keys: `mist` as an MPRIS player on the session D-Bus (Linux), so
//! `playerctl`, desktop widgets and headset buttons drive it.
//!
//! souvlaki runs the D-Bus service on a thread of its own (zbus: pure Rust,
//! no libdbus) and calls us back with each request; those become
//! [`MediaKey`]s on a channel the TUI's event loop reads, which turns them
//! into the app's own actions ([`apply`]), so a media key does exactly what
//! the key on the keyboard does. After every update the loop hands the app to
//! [`Mpris::publish`], which sends what changed (title, artist, album, length,
//! cover URL, playing or paused and where, volume).
//!
//! A child of `tui` (declared there with its path), as it works on the app's
//! state. The service registers as `org.mpris.MediaPlayer2.mist.instance<pid>`
//! (the MPRIS convention for several instances: `playerctl -p mist` matches
//! it). Nothing here may break the terminal: souvlaki's thread panics when
//! it cannot connect or take the name, and a panic would restore the terminal
//! under the UI, so the bus is probed first and the service not started when
//! there is none.

use std::time::Duration;

use souvlaki::{
    MediaControlEvent, MediaControls, MediaMetadata, MediaPlayback, MediaPosition, PlatformConfig, SeekDirection,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::app::{App, Effect, Msg};
use super::keys::Action;
use super::player::{Command, VOLUME_MAX};

/// What a media key asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaKey {
    Toggle,
    Play,
    Pause,
    Stop,
    Next,
    Previous,
    /// Seconds, negative backwards.
    SeekBy(f64),
    SeekTo(f64),
    /// 0.0 to 1.5 (MPRIS says 1.0 is "as loud as it goes", but `mist`'s volume goes to 150 %).
    Volume(f64),
}

impl MediaKey {
    fn from_event(event: MediaControlEvent) -> Option<MediaKey> {
        Some(match event {
            MediaControlEvent::Play => MediaKey::Play,
            MediaControlEvent::Pause => MediaKey::Pause,
            MediaControlEvent::Toggle => MediaKey::Toggle,
            MediaControlEvent::Next => MediaKey::Next,
            MediaControlEvent::Previous => MediaKey::Previous,
            MediaControlEvent::Stop => MediaKey::Stop,
            MediaControlEvent::Seek(direction) => MediaKey::SeekBy(signed(direction, Duration::from_secs(10))),
            MediaControlEvent::SeekBy(direction, by) => MediaKey::SeekBy(signed(direction, by)),
            MediaControlEvent::SetPosition(MediaPosition(at)) => MediaKey::SeekTo(at.as_secs_f64()),
            MediaControlEvent::SetVolume(volume) if volume.is_finite() => MediaKey::Volume(volume),
            _ => return None,
        })
    }
}

fn signed(direction: SeekDirection, by: Duration) -> f64 {
    match direction {
        SeekDirection::Forward => by.as_secs_f64(),
        SeekDirection::Backward => -by.as_secs_f64(),
    }
}

/// What was last published, so only changes are sent.
#[derive(Debug, Default, PartialEq)]
struct Shown {
    track_id: Option<String>,
    playing: Option<bool>,
    /// Whole seconds: enough for a widget's progress, few messages.
    position_s: u64,
    volume_percent: u32,
}

/// The running MPRIS service; dropping it leaves the bus.
pub struct Mpris {
    controls: MediaControls,
    server: String,
    shown: Shown,
}

impl Mpris {
    /// Registers on the session bus and sends media keys to `keys`; `None`
    /// (logged) when there is no session bus to register on.
    pub fn start(server: &str, keys: UnboundedSender<MediaKey>) -> Option<Mpris> {
        if let Err(error) = probe_session_bus() {
            tracing::info!("no media keys: {error}");
            return None;
        }
        let name = format!("mist.instance{}", std::process::id());
        let config = PlatformConfig {
            display_name: "mist",
            dbus_name: &name,
            hwnd: None,
        };
        let mut controls = match MediaControls::new(config) {
            Ok(controls) => controls,
            Err(error) => {
                tracing::warn!("no media keys: {error:?}");
                return None;
            }
        };
        let attached = controls.attach(move |event| {
            if let Some(key) = MediaKey::from_event(event) {
                let _ = keys.send(key);
            }
        });
        if let Err(error) = attached {
            tracing::warn!("no media keys: {error:?}");
            return None;
        }
        tracing::info!(name = %format!("org.mpris.MediaPlayer2.{name}"), "media keys on D-Bus");
        Some(Mpris {
            controls,
            server: server.trim_end_matches('/').to_owned(),
            shown: Shown::default(),
        })
    }

    /// Sends what changed in the app's now-playing since the last call.
    pub fn publish(&mut self, app: &App) {
        let now = app.now.as_ref();
        let shown = Shown {
            track_id: now.map(|n| n.track.id.clone()),
            playing: now.map(|n| !n.paused),
            position_s: now.map_or(0, |n| n.position_s.max(0.0) as u64),
            volume_percent: (if app.muted { 0.0 } else { app.volume } * 100.0).round() as u32,
        };
        if shown == self.shown {
            return;
        }
        let result = (|| {
            if shown.track_id != self.shown.track_id {
                match now {
                    Some(now) => {
                        let track = &now.track;
                        let clean = |s: &str| mist_core::text::neutralise(s).into_owned();
                        let (title, artist, album) = (
                            clean(&track.title),
                            track.artist.as_deref().map(clean),
                            track.album.as_deref().map(clean),
                        );
                        let cover = track
                            .album_id
                            .as_ref()
                            .map(|id| format!("{}/api/v1/albums/{id}/cover?size=600", self.server));
                        self.controls.set_metadata(MediaMetadata {
                            title: Some(&title),
                            artist: artist.as_deref(),
                            album: album.as_deref(),
                            cover_url: cover.as_deref(),
                            duration: Duration::try_from_secs_f64(track.duration_s).ok(),
                        })?;
                    }
                    None => self.controls.set_metadata(MediaMetadata::default())?,
                }
            }
            if (shown.playing, shown.position_s) != (self.shown.playing, self.shown.position_s)
                || shown.track_id != self.shown.track_id
            {
                let progress = Some(MediaPosition(Duration::from_secs(shown.position_s)));
                self.controls.set_playback(match shown.playing {
                    None => MediaPlayback::Stopped,
                    Some(true) => MediaPlayback::Playing { progress },
                    Some(false) => MediaPlayback::Paused { progress },
                })?;
            }
            if shown.volume_percent != self.shown.volume_percent {
                self.controls.set_volume(f64::from(shown.volume_percent) / 100.0)?;
            }
            Ok::<(), souvlaki::Error>(())
        })();
        if let Err(error) = result {
            tracing::warn!("media keys: {error:?}");
        }
        self.shown = shown;
    }
}

/// Whether a session bus answers: souvlaki's thread would panic without one.
fn probe_session_bus() -> Result<(), String> {
    let connection = zbus::blocking::Connection::session().map_err(|e| e.to_string())?;
    drop(connection);
    Ok(())
}

impl Mpris {
    /// What the app does for a media key: the same as its action on the
    /// keyboard, however the keys are bound.
    pub fn apply(&self, app: &mut App, key: MediaKey) -> Vec<Effect> {
        apply(app, key)
    }
}

fn apply(app: &mut App, key: MediaKey) -> Vec<Effect> {
    let player = |command| vec![Effect::Player(command)];
    let playing = app.now.as_ref().map(|now| !now.paused);
    match key {
        MediaKey::Toggle if playing.is_some() => player(Command::TogglePause),
        MediaKey::Play if playing == Some(false) => player(Command::TogglePause),
        MediaKey::Pause | MediaKey::Stop if playing == Some(true) => player(Command::TogglePause),
        MediaKey::SeekBy(by) if playing.is_some() => player(Command::SeekBy(by)),
        MediaKey::SeekTo(at) if playing.is_some() => app.update(Msg::SeekTo(at)),
        MediaKey::Volume(volume) => app.set_volume((volume as f32).clamp(0.0, VOLUME_MAX)),
        MediaKey::Next => app.update(Msg::Action(Action::Next)),
        MediaKey::Previous => app.update(Msg::Action(Action::Previous)),
        _ => Vec::new(),
    }
}

/// The next media key, or never when there is no service.
pub async fn next_key(keys: &mut Option<UnboundedReceiver<MediaKey>>) -> Option<MediaKey> {
    match keys {
        Some(keys) => keys.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_from_the_bus_become_media_keys() {
        let check = |event, expected: Option<MediaKey>| assert_eq!(MediaKey::from_event(event), expected);
        check(MediaControlEvent::Toggle, Some(MediaKey::Toggle));
        check(MediaControlEvent::Next, Some(MediaKey::Next));
        check(
            MediaControlEvent::SeekBy(SeekDirection::Backward, Duration::from_millis(2500)),
            Some(MediaKey::SeekBy(-2.5)),
        );
        check(
            MediaControlEvent::Seek(SeekDirection::Forward),
            Some(MediaKey::SeekBy(10.0)),
        );
        check(
            MediaControlEvent::SetPosition(MediaPosition(Duration::from_secs(42))),
            Some(MediaKey::SeekTo(42.0)),
        );
        check(MediaControlEvent::SetVolume(0.25), Some(MediaKey::Volume(0.25)));
        // A volume that is no number is ignored, as are requests mist has no use for.
        check(MediaControlEvent::SetVolume(f64::NAN), None);
        check(MediaControlEvent::Raise, None);
        check(MediaControlEvent::OpenUri("file:///etc/passwd".into()), None);
    }

    #[test]
    fn keys_change_nothing_with_nothing_playing_but_the_volume() {
        let (mut app, _) = App::new("http://m.test", crate::tui::keys::Keymap::default(), true);
        for key in [
            MediaKey::Toggle,
            MediaKey::Pause,
            MediaKey::SeekBy(5.0),
            MediaKey::SeekTo(1.0),
        ] {
            assert!(apply(&mut app, key.clone()).is_empty(), "{key:?}");
        }
        let effects = apply(&mut app, MediaKey::Volume(7.0));
        assert_eq!(app.volume, VOLUME_MAX, "bounded");
        assert!(matches!(effects.as_slice(), [Effect::Player(Command::Volume(_))]));
    }
}
