//! Resume where the listener stopped: the queue and the playhead are saved on
//! the server (`PUT /api/v1/me/play-queue`) every [`SAVE_EVERY`] while
//! playing and on quit, and restored at start, paused at the position. A
//! restored track is not loaded into the audio thread (nothing is charged
//! or heard) until the listener resumes it; then it starts and seeks to where
//! it was once the audio thread reports it playing.

use mist_core::api::SavePlayQueueRequest;

use super::*;

/// How often the queue is saved while something plays.
pub const SAVE_EVERY: Duration = Duration::from_secs(30);
/// The server keeps at most this many ids.
const MAX_SAVED: usize = 1000;

/// A saved queue, its tracks fetched.
#[derive(Debug, Clone)]
pub struct Resume {
    pub tracks: Vec<Track>,
    /// Which of `tracks` was playing.
    pub current: Option<usize>,
    pub position_s: f64,
}

impl App {
    /// Restores a saved queue, unless something already plays.
    pub(super) fn resume(&mut self, saved: Option<Resume>) -> Vec<Effect> {
        self.resume_known = true;
        let Some(saved) = saved else {
            return Vec::new();
        };
        if self.now.is_some() || !self.queue.is_empty() {
            return Vec::new();
        }
        let mut tracks = VecDeque::from(saved.tracks);
        let current = saved.current.and_then(|i| tracks.remove(i));
        // What was before the track playing was heard already.
        if let Some(i) = saved.current {
            self.history.extend(tracks.drain(..i.min(tracks.len())));
        }
        self.queue = tracks;
        self.clamp_queue_selection();
        if let Some(track) = current {
            self.set_status(
                format!("resume {} with {}", track.title, self.keymap.keys(Action::Pause)),
                false,
            );
            self.now = Some(NowPlaying {
                position_s: saved.position_s.clamp(0.0, track.duration_s.max(0.0)),
                track,
                rendition: String::new(),
                paused: true,
                loading: false,
            });
            self.restored = true;
        }
        Vec::new()
    }

    /// Pause pressed on a restored track: load it, and seek to where it was
    /// once it plays.
    pub(super) fn start_restored(&mut self) -> Vec<Effect> {
        let Some(now) = self.now.take() else {
            return Vec::new();
        };
        self.restored = false;
        self.pending_seek = Some((now.track.id.clone(), now.position_s));
        self.play_from(now.track, false)
    }

    /// The seek a resumed track waits for, when its first position arrives.
    pub(super) fn seek_when_playing(&mut self, track_id: &str) -> Vec<Effect> {
        match self.pending_seek.take() {
            Some((id, position_s)) if id == track_id => {
                if let Some(now) = &mut self.now {
                    now.position_s = position_s;
                }
                vec![player(Command::SeekTo(position_s))]
            }
            other => {
                self.pending_seek = other;
                Vec::new()
            }
        }
    }

    /// What plays and what is queued, as the server keeps it; `None` until
    /// the saved queue has been read (an early save would overwrite it).
    pub fn play_queue(&self) -> Option<SavePlayQueueRequest> {
        if !self.resume_known {
            return None;
        }
        let mut track_ids = self.queue_ids();
        track_ids.truncate(MAX_SAVED);
        let current_index = (self.now.is_some() && !track_ids.is_empty()).then_some(0);
        let position_s = self.now.as_ref().map_or(0.0, |now| now.position_s.max(0.0));
        Some(SavePlayQueueRequest {
            track_ids,
            current_index,
            position_ms: (position_s * 1000.0) as u64,
            changed_by: Some("mist".into()),
        })
    }

    /// The periodic save, from the tick.
    pub(super) fn save_when_due(&mut self) -> Option<Effect> {
        let playing = self.now.as_ref().is_some_and(|now| !now.paused && !now.loading);
        if !playing || self.queue_saved.is_some_and(|saved| saved.elapsed() < SAVE_EVERY) {
            return None;
        }
        self.queue_saved = Some(Instant::now());
        self.play_queue().map(Effect::SavePlayQueue)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{key, main_app, track};
    use super::*;

    fn saved() -> Resume {
        Resume {
            tracks: vec![track("a", "A", 60.0), track("b", "B", 120.0), track("c", "C", 60.0)],
            current: Some(1),
            position_s: 42.5,
        }
    }

    #[test]
    fn a_saved_queue_comes_back_paused_at_its_position() {
        let mut app = main_app();
        assert!(
            app.play_queue().is_none(),
            "nothing is saved before the saved queue is known"
        );
        assert!(
            app.update(Msg::PlayQueue(Ok(Some(saved())))).is_empty(),
            "nothing loads yet"
        );
        let now = app.now.as_ref().expect("restored");
        assert_eq!((now.track.id.as_str(), now.position_s, now.paused), ("b", 42.5, true));
        assert_eq!(app.queue.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["c"]);
        // Space resumes it: it loads, then seeks once it plays.
        let effects = app.update(key(KeyCode::Char(' ')));
        assert!(
            matches!(&effects[0], Effect::Player(Command::Play(t)) if t.id == "b"),
            "{effects:?}"
        );
        let effects = app.update(Msg::Player(Update::Position {
            track_id: "b".into(),
            position_s: 0.0,
            rendition: "128k".into(),
            paused: false,
        }));
        assert_eq!(effects, vec![Effect::Player(Command::SeekTo(42.5))]);
        assert_eq!(app.now.as_ref().map(|n| n.position_s), Some(42.5));
        // Early in it, `p` goes back to what came before it in the saved queue.
        app.update(Msg::Player(Update::Position {
            track_id: "b".into(),
            position_s: 1.0,
            rendition: "128k".into(),
            paused: false,
        }));
        app.update(key(KeyCode::Char('p')));
        assert_eq!(app.now.as_ref().map(|n| n.track.id.as_str()), Some("a"));
    }

    #[test]
    fn the_queue_is_saved_while_playing_and_not_over_what_plays() {
        let mut app = main_app();
        app.update(key(KeyCode::Enter));
        app.update(Msg::PlayQueue(Ok(Some(saved()))));
        assert_eq!(
            app.now.as_ref().map(|n| n.track.id.as_str()),
            Some("t1"),
            "the listener's choice stays"
        );
        app.update(Msg::Player(Update::Position {
            track_id: "t1".into(),
            position_s: 12.25,
            rendition: "128k".into(),
            paused: false,
        }));
        app.queue.push_back(track("q", "Q", 1.0));
        let due = |app: &mut App| {
            app.update(Msg::Tick).into_iter().find_map(|e| match e {
                Effect::SavePlayQueue(request) => Some(request),
                _ => None,
            })
        };
        let request = due(&mut app).expect("saved at the first tick");
        assert_eq!(request.track_ids, ["t1", "q"]);
        assert_eq!((request.current_index, request.position_ms), (Some(0), 12250));
        assert!(due(&mut app).is_none(), "not again within 30 s");
        app.queue_saved = Some(Instant::now() - SAVE_EVERY);
        assert!(due(&mut app).is_some(), "again after 30 s");
        // Paused: nothing moves, nothing to save.
        app.queue_saved = None;
        if let Some(now) = &mut app.now {
            now.paused = true;
        }
        assert!(due(&mut app).is_none());
    }
}
