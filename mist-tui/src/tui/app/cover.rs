//! Cover art: the cover of what plays and of the album page open, fetched
//! once each (with the bearer token, from the cover routes) and drawn with
//! ratatui-image in whatever the terminal speaks (kitty, iTerm2, sixel, else
//! half blocks). With `covers = false` in `config.toml`, or before the
//! terminal was asked what it can draw ([`App::picker`] unset), nothing is
//! fetched.

use std::collections::HashMap;

use image::DynamicImage;
use ratatui_image::picker::Picker;
use ratatui_image::protocol::StatefulProtocol;

use super::*;

/// Whose cover.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CoverKey {
    Track(String),
    Album(String),
}

/// The covers asked for, by whose they are: `None` while loading or when
/// there is none.
#[derive(Default)]
pub struct Covers {
    pub picker: Option<Picker>,
    shown: HashMap<CoverKey, Option<StatefulProtocol>>,
}

impl Covers {
    /// Covers drawn with `picker` (the terminal's protocol and font size).
    pub fn with(picker: Picker) -> Covers {
        Covers {
            picker: Some(picker),
            shown: HashMap::new(),
        }
    }

    /// The cover to draw for `key`, once it has loaded.
    pub fn get(&mut self, key: &CoverKey) -> Option<&mut StatefulProtocol> {
        self.shown.get_mut(key)?.as_mut()
    }

    /// Asks for `key`'s cover unless it was asked for already.
    fn want(&mut self, key: CoverKey) -> Option<Effect> {
        if self.picker.is_none() || self.shown.contains_key(&key) {
            return None;
        }
        self.shown.insert(key.clone(), None);
        Some(Effect::LoadCover(key))
    }

    fn loaded(&mut self, key: CoverKey, image: Option<DynamicImage>) {
        let (Some(picker), Some(image)) = (&self.picker, image) else {
            return;
        };
        // A handful of covers is all a session shows; keep memory bounded.
        if self.shown.len() > 64 {
            self.shown.retain(|k, _| *k == key);
        }
        self.shown.insert(key, Some(picker.new_resize_protocol(image)));
    }
}

impl App {
    /// The covers the screen needs: what plays, and the album page's.
    pub(super) fn follow_covers(&mut self) -> Vec<Effect> {
        let mut wanted = Vec::new();
        if let Some(now) = &self.now {
            wanted.push(CoverKey::Track(now.track.id.clone()));
        }
        if let View::Album { id, .. } = &self.view {
            wanted.push(CoverKey::Album(id.clone()));
        }
        wanted.into_iter().filter_map(|key| self.covers.want(key)).collect()
    }

    pub(super) fn cover_loaded(&mut self, key: CoverKey, image: Option<DynamicImage>) {
        self.covers.loaded(key, image);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{key, main_app};
    use super::*;

    #[test]
    fn covers_are_asked_for_once_and_only_when_on() {
        let mut app = main_app();
        let effects = app.update(key(KeyCode::Enter));
        assert!(
            !effects.iter().any(|e| matches!(e, Effect::LoadCover(_))),
            "off without a picker"
        );
        app.covers = Covers::with(Picker::halfblocks());
        let effects = app.update(Msg::Tick);
        assert_eq!(effects, vec![Effect::LoadCover(CoverKey::Track("t1".into()))]);
        assert!(app.update(Msg::Tick).is_empty(), "once");
        app.update(Msg::Cover {
            key: CoverKey::Track("t1".into()),
            image: Some(DynamicImage::new_rgb8(8, 8)),
        });
        assert!(app.covers.get(&CoverKey::Track("t1".into())).is_some());
    }
}
