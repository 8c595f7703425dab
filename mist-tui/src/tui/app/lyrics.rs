//! The lyrics pane: the words of what plays, fetched when the pane is open
//! and the track changes, with the line at the playhead marked when the
//! lines are timed.

use mist_core::api::Lyrics;

use super::*;

/// The lyrics of one track, as far as they are known.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackLyrics {
    pub track_id: String,
    /// `None` while loading; `Some(None)` when the track has none.
    pub lyrics: Option<Option<Lyrics>>,
}

impl App {
    pub(super) fn toggle_lyrics(&mut self) -> Vec<Effect> {
        self.show_lyrics = !self.show_lyrics;
        self.follow_lyrics().into_iter().collect()
    }

    /// Asks for the lyrics of what plays when the pane shows another track's.
    pub(super) fn follow_lyrics(&mut self) -> Option<Effect> {
        if !self.show_lyrics {
            return None;
        }
        let track_id = self.now.as_ref()?.track.id.clone();
        if self.lyrics.as_ref().is_some_and(|l| l.track_id == track_id) {
            return None;
        }
        self.lyrics = Some(TrackLyrics {
            track_id: track_id.clone(),
            lyrics: None,
        });
        Some(Effect::LoadLyrics { track_id })
    }

    pub(super) fn lyrics_loaded(&mut self, track_id: String, result: Result<Option<Lyrics>, NetError>) -> Vec<Effect> {
        match result {
            Ok(lyrics) => {
                if let Some(shown) = self.lyrics.as_mut().filter(|l| l.track_id == track_id) {
                    shown.lyrics = Some(lyrics);
                }
                Vec::new()
            }
            Err(error) => self.net_error(error),
        }
    }

    /// The timed line at the playhead (the last one started).
    pub fn lyric_line(&self) -> Option<usize> {
        let now = self.now.as_ref()?;
        let lyrics = self.lyrics.as_ref().filter(|l| l.track_id == now.track.id)?;
        let lines = &lyrics.lyrics.as_ref()?.as_ref()?.lines;
        let at_ms = (now.position_s.max(0.0) * 1000.0) as u64;
        lines.iter().rposition(|line| line.time_ms <= at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{key, main_app};
    use super::*;

    fn timed() -> Lyrics {
        serde_json::from_value(serde_json::json!({
            "plain": "one\ntwo\nthree",
            "lines": [{"time_ms": 0, "text": "one"}, {"time_ms": 5000, "text": "two"}, {"time_ms": 9000, "text": "three"}]
        }))
        .expect("lyrics")
    }

    fn at(app: &mut App, id: &str, position_s: f64) {
        app.update(Msg::Player(Update::Position {
            track_id: id.into(),
            position_s,
            rendition: "128k".into(),
            paused: false,
        }));
    }

    #[test]
    fn the_lyrics_follow_the_track_and_the_playhead() {
        let mut app = main_app();
        app.update(key(KeyCode::Enter));
        let effects = app.update(key(KeyCode::Char('y')));
        assert_eq!(effects, vec![Effect::LoadLyrics { track_id: "t1".into() }]);
        app.update(Msg::Lyrics {
            track_id: "t1".into(),
            result: Ok(Some(timed())),
        });
        at(&mut app, "t1", 6.0);
        assert_eq!(app.lyric_line(), Some(1));
        at(&mut app, "t1", 9.5);
        assert_eq!(app.lyric_line(), Some(2));
        // The next track's are asked for as it starts; a late answer for
        // another track is dropped.
        app.update(key(KeyCode::Down));
        let effects = app.update(key(KeyCode::Enter));
        assert!(
            effects.contains(&Effect::LoadLyrics { track_id: "t2".into() }),
            "{effects:?}"
        );
        app.update(Msg::Lyrics {
            track_id: "t1".into(),
            result: Ok(Some(timed())),
        });
        assert_eq!(app.lyrics.as_ref().map(|l| l.lyrics.is_none()), Some(true));
        app.update(Msg::Lyrics {
            track_id: "t2".into(),
            result: Ok(None),
        });
        assert_eq!(app.lyric_line(), None);
        // Closed: nothing more is asked for.
        app.update(key(KeyCode::Char('y')));
        app.update(key(KeyCode::Up));
        let effects = app.update(key(KeyCode::Enter));
        assert!(!effects.iter().any(|e| matches!(e, Effect::LoadLyrics { .. })));
    }
}
