//! The play queue's rules: what plays next (shuffle, repeat off/all/one),
//! and its edits (move up/down, remove, clear, play next, save as a
//! playlist). Changes to the queue end by telling the audio thread the track
//! to follow ([`App::next_for_player`]), so the gapless hand-over always
//! opens what the listener will hear next.

use rand::seq::SliceRandom;

use super::*;

/// What happens when a track ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repeat {
    /// The queue plays once.
    #[default]
    Off,
    /// A track that is left goes to the back of the queue, so it all comes round again.
    All,
    /// The track playing starts again.
    One,
}

impl Repeat {
    fn cycle(self) -> Repeat {
        match self {
            Repeat::Off => Repeat::All,
            Repeat::All => Repeat::One,
            Repeat::One => Repeat::Off,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Repeat::Off => "repeat off",
            Repeat::All => "repeat all",
            Repeat::One => "repeat one",
        }
    }
}

impl App {
    /// The track the audio thread should open to follow the one playing.
    pub(super) fn next_track(&self) -> Option<Track> {
        let now = || self.now.as_ref().map(|now| now.track.clone());
        match self.repeat {
            Repeat::One => now().or_else(|| self.queue.front().cloned()),
            Repeat::All => self.queue.front().cloned().or_else(now),
            Repeat::Off => self.queue.front().cloned(),
        }
    }

    /// Leaves the track playing for `incoming`: it becomes history and,
    /// repeating all (`cycle`), goes to the back of the queue. The same track
    /// starting again by itself (a repeat, not `chosen`) is neither.
    pub(super) fn leave_now(&mut self, incoming: &Track, cycle: bool, chosen: bool) {
        let Some(now) = self.now.take() else {
            return;
        };
        let same = now.track.id == incoming.id;
        if same && !chosen {
            return;
        }
        if cycle && !same && self.repeat == Repeat::All {
            self.queue.push_back(now.track.clone());
            self.clamp_queue_selection();
        }
        self.history.push(now.track);
    }

    /// Shuffles what is queued (each track stays, once) or puts it back in the
    /// order it had, with tracks queued since at the end.
    pub(super) fn toggle_shuffle(&mut self) -> Vec<Effect> {
        match self.unshuffled.take() {
            None => {
                self.unshuffled = Some(self.queue.iter().cloned().collect());
                self.queue.make_contiguous().shuffle(&mut rand::rng());
                self.set_status("shuffle on", false);
            }
            Some(order) => {
                self.queue = unshuffle(order, std::mem::take(&mut self.queue));
                self.set_status("shuffle off", false);
            }
        }
        self.clamp_queue_selection();
        vec![self.next_for_player()]
    }

    pub fn shuffled(&self) -> bool {
        self.unshuffled.is_some()
    }

    pub(super) fn cycle_repeat(&mut self) -> Vec<Effect> {
        self.repeat = self.repeat.cycle();
        self.set_status(self.repeat.label(), false);
        vec![self.next_for_player()]
    }

    /// Moves the queue's selected track one place up or down, the selection with it.
    pub(super) fn move_queued(&mut self, up: bool) -> Vec<Effect> {
        let Some(at) = self.queue_state.selected() else {
            return Vec::new();
        };
        let to = if up { at.checked_sub(1) } else { Some(at + 1) };
        let Some(to) = to.filter(|to| *to < self.queue.len()) else {
            return Vec::new();
        };
        self.queue.swap(at, to);
        self.queue_state.select(Some(to));
        vec![self.next_for_player()]
    }

    pub(super) fn clear_queue(&mut self) -> Vec<Effect> {
        self.queue.clear();
        self.unshuffled = None;
        self.clamp_queue_selection();
        self.set_status("cleared the queue", false);
        vec![self.next_for_player()]
    }

    /// Puts `track` first in the queue.
    pub(super) fn play_next(&mut self, track: Track) -> Vec<Effect> {
        self.set_status(format!("next: {}", track.title), false);
        self.queue.push_front(track);
        self.clamp_queue_selection();
        vec![self.next_for_player()]
    }

    /// Adds `tracks` at the end of the queue.
    pub(super) fn enqueue(&mut self, tracks: Vec<Track>) -> Vec<Effect> {
        if tracks.is_empty() {
            return Vec::new();
        }
        self.set_status(format!("queued {} tracks", tracks.len()), false);
        self.queue.extend(tracks);
        self.clamp_queue_selection();
        vec![self.next_for_player()]
    }

    /// Plays `tracks` from the first (in a random order when `shuffled`),
    /// the rest replacing the queue.
    pub(super) fn play_all(&mut self, mut tracks: Vec<Track>, shuffled: bool) -> Vec<Effect> {
        self.unshuffled = None;
        if shuffled {
            self.unshuffled = Some(tracks.clone());
            tracks.shuffle(&mut rand::rng());
        }
        let mut tracks = VecDeque::from(tracks);
        let Some(first) = tracks.pop_front() else {
            return Vec::new();
        };
        if let Some(order) = &mut self.unshuffled {
            // The first is playing, so no longer queued in either order.
            if let Some(i) = order.iter().position(|t| t.id == first.id) {
                order.remove(i);
            }
        }
        self.queue = tracks;
        self.queue_state.select(None);
        self.clamp_queue_selection();
        self.play(first)
    }

    /// The ids of what plays and what is queued, for a playlist or the saved queue.
    pub fn queue_ids(&self) -> Vec<String> {
        self.now
            .iter()
            .map(|now| now.track.id.clone())
            .chain(self.queue.iter().map(|t| t.id.clone()))
            .collect()
    }
}

/// `order` as it was before shuffling, keeping only what is still in
/// `queued` (as many times as it is there), then what was queued since.
fn unshuffle(order: Vec<Track>, queued: VecDeque<Track>) -> VecDeque<Track> {
    let mut left: Vec<Option<Track>> = queued.into_iter().map(Some).collect();
    let mut restored = VecDeque::new();
    for track in order {
        if let Some(slot) = left.iter_mut().find(|t| t.as_ref().is_some_and(|t| t.id == track.id)) {
            restored.extend(slot.take());
        }
    }
    restored.extend(left.into_iter().flatten());
    restored
}

#[cfg(test)]
mod tests {
    use super::super::tests::{key, main_app, track};
    use super::*;

    fn ids(app: &App) -> Vec<&str> {
        app.queue.iter().map(|t| t.id.as_str()).collect()
    }

    fn next_sent(effects: &[Effect]) -> Option<Option<&str>> {
        effects.iter().find_map(|e| match e {
            Effect::Player(Command::SetNext(next)) => Some(next.as_ref().map(|t| t.id.as_str())),
            _ => None,
        })
    }

    fn tracks(n: usize) -> Vec<Track> {
        (0..n)
            .map(|i| track(&format!("q{i}"), &format!("Q{i}"), 60.0))
            .collect()
    }

    /// The audio thread moving on by itself at a track's end.
    fn advance(app: &mut App, id: &str) -> Vec<Effect> {
        let track = app
            .next_track()
            .filter(|t| t.id == id)
            .expect("the next track was sent");
        app.update(Msg::Player(Update::Loading {
            track: Box::new(track),
            advanced: true,
        }))
    }

    fn playing(app: &App) -> Option<&str> {
        app.now.as_ref().map(|n| n.track.id.as_str())
    }

    #[test]
    fn shuffle_plays_every_track_once_and_turns_back() {
        let mut app = main_app();
        app.queue = tracks(20).into();
        app.update(key(KeyCode::Char('z')));
        assert!(app.shuffled());
        let shuffled: Vec<String> = ids(&app).iter().map(|s| s.to_string()).collect();
        assert_ne!(
            shuffled,
            (0..20).map(|i| format!("q{i}")).collect::<Vec<_>>(),
            "1 in 20! to fail"
        );
        // Played through: each once, in the shuffled order.
        let mut heard = Vec::new();
        app.update(key(KeyCode::Char('n')));
        heard.extend(playing(&app).map(str::to_string));
        while let Some(next) = app.next_track() {
            advance(&mut app, &next.id.clone());
            heard.extend(playing(&app).map(str::to_string));
        }
        assert_eq!(heard, shuffled);
        heard.sort();
        heard.dedup();
        assert_eq!(heard.len(), 20);
        // Off: what is left comes back in its first order.
        app.update(key(KeyCode::Char('z')));
        assert!(!app.shuffled());
        app.queue = tracks(5).into();
        app.update(key(KeyCode::Char('z')));
        app.queue.push_back(track("new", "New", 1.0));
        app.queue.retain(|t| t.id != "q2");
        app.update(key(KeyCode::Char('z')));
        assert!(!app.shuffled());
        assert_eq!(ids(&app), ["q0", "q1", "q3", "q4", "new"]);
    }

    #[test]
    fn repeat_one_replays_and_repeat_all_comes_round() {
        let mut app = main_app();
        app.queue = tracks(2).into();
        app.update(key(KeyCode::Enter));
        // One: the track playing follows itself.
        app.update(key(KeyCode::Char('R')));
        let effects = app.update(key(KeyCode::Char('R')));
        assert_eq!(app.repeat, Repeat::One);
        assert_eq!(next_sent(&effects), Some(Some("t1")));
        advance(&mut app, "t1");
        assert_eq!(playing(&app), Some("t1"));
        assert_eq!(ids(&app), ["q0", "q1"], "the queue waits");
        assert!(app.history.is_empty(), "a repeat is not history");
        // `n` still moves on.
        app.update(key(KeyCode::Char('n')));
        assert_eq!(playing(&app), Some("q0"));
        // All: each track left goes round to the back.
        app.update(key(KeyCode::Char('R')));
        app.update(key(KeyCode::Char('R')));
        assert_eq!(app.repeat, Repeat::All);
        advance(&mut app, "q1");
        assert_eq!(ids(&app), ["q0"]);
        advance(&mut app, "q0");
        assert_eq!(ids(&app), ["q1"]);
        // One track alone, repeating all, follows itself.
        app.queue.clear();
        assert_eq!(next_sent(&app.update(key(KeyCode::Char('R')))), Some(Some("q0")));
        // Off: the end of the queue is the end.
        app.update(key(KeyCode::Char('R')));
        assert_eq!(app.repeat, Repeat::Off);
        assert_eq!(app.next_track(), None);
    }

    #[test]
    fn queue_entries_move_go_and_clear() {
        let mut app = main_app();
        app.queue = tracks(3).into();
        app.focus = Focus::Queue;
        app.queue_state.select(Some(0));
        let effects = app.update(key(KeyCode::Char('J')));
        assert_eq!(ids(&app), ["q1", "q0", "q2"]);
        assert_eq!(app.queue_state.selected(), Some(1), "the selection moves with it");
        assert_eq!(next_sent(&effects), Some(Some("q1")));
        app.update(key(KeyCode::Char('J')));
        assert!(app.update(key(KeyCode::Char('J'))).is_empty(), "the last stays last");
        assert_eq!(ids(&app), ["q1", "q2", "q0"]);
        app.update(key(KeyCode::Char('K')));
        assert_eq!(ids(&app), ["q1", "q0", "q2"]);
        app.update(key(KeyCode::Char('d')));
        assert_eq!(ids(&app), ["q1", "q2"]);
        // Play next: to the front, from the table.
        app.focus = Focus::Tracks;
        let effects = app.update(key(KeyCode::Char('N')));
        assert_eq!(ids(&app), ["t1", "q1", "q2"]);
        assert_eq!(next_sent(&effects), Some(Some("t1")));
        let effects = app.update(key(KeyCode::Char('C')));
        assert!(app.queue.is_empty());
        assert_eq!(next_sent(&effects), Some(None));
    }

    #[test]
    fn previous_goes_back_and_the_queue_saves_as_a_playlist() {
        let mut app = main_app();
        app.queue = tracks(2).into();
        app.update(key(KeyCode::Enter));
        app.update(key(KeyCode::Char('n')));
        assert_eq!(playing(&app), Some("q0"));
        app.update(key(KeyCode::Char('p')));
        assert_eq!(playing(&app), Some("t1"));
        assert_eq!(ids(&app), ["q0", "q1"]);
        // Saved: what plays, then the queue, under the name typed.
        app.update(key(KeyCode::Char('S')));
        for c in "Mix".chars() {
            app.update(key(KeyCode::Char(c)));
        }
        let effects = app.update(key(KeyCode::Enter));
        assert_eq!(
            effects,
            vec![Effect::SaveQueue {
                name: "Mix".into(),
                track_ids: vec!["t1".into(), "q0".into(), "q1".into()],
            }]
        );
        assert!(app.overlay.is_none());
    }

    #[test]
    fn playing_all_shuffled_queues_the_rest_once() {
        let mut app = main_app();
        app.play_all(tracks(10), true);
        let mut all: Vec<&str> = ids(&app);
        all.extend(playing(&app));
        all.sort();
        assert_eq!(all, ["q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9"]);
        assert!(app.shuffled());
        app.toggle_shuffle();
        assert_eq!(app.queue.len(), 9, "unshuffled without the one playing");
    }
}
