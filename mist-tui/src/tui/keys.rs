//! Key bindings: what each key does on the main screen, the defaults, and the
//! `[keys]` table of `config.toml` that changes them:
//!
//! ```toml
//! [keys]
//! pause = "p"                # one key
//! next = ["n", "ctrl-right"] # or several
//! ```
//!
//! A binding names a key (`a`, `+`, `?`, `enter`, `space`, `tab`, `esc`,
//! `left`, `f1`, …) with optional `ctrl-`/`alt-` prefixes. An action listed in
//! the file loses its default keys; unknown actions or keys are errors naming
//! the file, so a typo does not silently leave a key unbound.

use std::fmt;

use anyhow::{Result, bail};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Play,
    Pause,
    Next,
    Previous,
    SeekBack,
    SeekForward,
    VolumeUp,
    VolumeDown,
    Mute,
    Queue,
    Remove,
    Shuffle,
    Repeat,
    MoveUp,
    MoveDown,
    ClearQueue,
    PlayNext,
    SaveQueue,
    GoTracks,
    GoAlbums,
    GoArtists,
    GoPlaylists,
    GoLiked,
    PlayAll,
    ShuffleAll,
    QueueAll,
    Edit,
    Delete,
    Lyrics,
    Similar,
    Like,
    Likes,
    Playlists,
    AddToPlaylist,
    Quality,
    Upload,
    Search,
    Focus,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Back,
    Help,
    Quit,
}

impl Action {
    pub const ALL: [Action; 47] = [
        Action::Play,
        Action::Pause,
        Action::Next,
        Action::Previous,
        Action::SeekBack,
        Action::SeekForward,
        Action::VolumeUp,
        Action::VolumeDown,
        Action::Mute,
        Action::Queue,
        Action::Remove,
        Action::Similar,
        Action::Like,
        Action::Likes,
        Action::Playlists,
        Action::AddToPlaylist,
        Action::Quality,
        Action::Upload,
        Action::Search,
        Action::Focus,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Back,
        Action::Help,
        Action::Quit,
        Action::Shuffle,
        Action::Repeat,
        Action::MoveUp,
        Action::MoveDown,
        Action::ClearQueue,
        Action::PlayNext,
        Action::SaveQueue,
        Action::GoTracks,
        Action::GoAlbums,
        Action::GoArtists,
        Action::GoPlaylists,
        Action::GoLiked,
        Action::PlayAll,
        Action::ShuffleAll,
        Action::QueueAll,
        Action::Edit,
        Action::Delete,
        Action::Lyrics,
    ];

    /// The name in `config.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Play => "play",
            Action::Pause => "pause",
            Action::Next => "next",
            Action::Previous => "previous",
            Action::SeekBack => "seek_back",
            Action::SeekForward => "seek_forward",
            Action::VolumeUp => "volume_up",
            Action::VolumeDown => "volume_down",
            Action::Mute => "mute",
            Action::Queue => "queue",
            Action::Remove => "remove",
            Action::Shuffle => "shuffle",
            Action::Repeat => "repeat",
            Action::MoveUp => "move_up",
            Action::MoveDown => "move_down",
            Action::ClearQueue => "clear_queue",
            Action::PlayNext => "play_next",
            Action::SaveQueue => "save_queue",
            Action::GoTracks => "tracks",
            Action::GoAlbums => "albums",
            Action::GoArtists => "artists",
            Action::GoPlaylists => "playlist_list",
            Action::GoLiked => "liked",
            Action::PlayAll => "play_all",
            Action::ShuffleAll => "shuffle_all",
            Action::QueueAll => "queue_all",
            Action::Edit => "edit",
            Action::Delete => "delete",
            Action::Lyrics => "lyrics",
            Action::Similar => "similar",
            Action::Like => "like",
            Action::Likes => "likes",
            Action::Playlists => "playlists",
            Action::AddToPlaylist => "add_to_playlist",
            Action::Quality => "quality",
            Action::Upload => "upload",
            Action::Search => "search",
            Action::Focus => "focus",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Back => "back",
            Action::Help => "help",
            Action::Quit => "quit",
        }
    }

    /// What the help overlay says it does.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Play => "play the selected track",
            Action::Pause => "pause / resume",
            Action::Next => "next in the queue",
            Action::Previous => "previous (or restart)",
            Action::SeekBack => "back 10 s",
            Action::SeekForward => "forward 10 s",
            Action::VolumeUp => "volume up (to 150%)",
            Action::VolumeDown => "volume down",
            Action::Mute => "mute / unmute",
            Action::Queue => "add to the queue",
            Action::Remove => "remove from the queue",
            Action::Shuffle => "shuffle the queue / put it back",
            Action::Repeat => "repeat: off → all → one",
            Action::MoveUp => "move up in the queue",
            Action::MoveDown => "move down in the queue",
            Action::ClearQueue => "clear the queue",
            Action::PlayNext => "play next (first in the queue)",
            Action::SaveQueue => "save the queue as a playlist",
            Action::GoTracks => "the Tracks section",
            Action::GoAlbums => "the Albums section",
            Action::GoArtists => "the Artists section",
            Action::GoPlaylists => "the Playlists section",
            Action::GoLiked => "the Liked section",
            Action::PlayAll => "play the whole list",
            Action::ShuffleAll => "play the whole list shuffled",
            Action::QueueAll => "add the whole list to the queue",
            Action::Edit => "rename a playlist / edit your track's tags",
            Action::Delete => "delete a playlist / your track",
            Action::Lyrics => "lyrics of what plays (again: close)",
            Action::Similar => "tracks that sound alike",
            Action::Like => "like / unlike",
            Action::Likes => "show liked tracks",
            Action::Playlists => "your playlists",
            Action::AddToPlaylist => "add to a playlist",
            Action::Quality => "quality (auto, low, …)",
            Action::Upload => "upload a file",
            Action::Search => "search",
            Action::Focus => "next pane",
            Action::Up => "move up",
            Action::Down => "move down",
            Action::PageUp => "a page up",
            Action::PageDown => "a page down",
            Action::Top => "to the first row",
            Action::Bottom => "to the last row",
            Action::Back => "back to the last list",
            Action::Help => "this help",
            Action::Quit => "quit",
        }
    }

    fn defaults(self) -> &'static [&'static str] {
        match self {
            Action::Play => &["enter"],
            Action::Pause => &["space"],
            Action::Next => &["n"],
            Action::Previous => &["p"],
            Action::SeekBack => &["left"],
            Action::SeekForward => &["right"],
            Action::VolumeUp => &["+", "="],
            Action::VolumeDown => &["-"],
            Action::Mute => &["m"],
            Action::Queue => &["a"],
            Action::Remove => &["d", "delete"],
            Action::Shuffle => &["z"],
            Action::Repeat => &["R"],
            Action::MoveUp => &["K"],
            Action::MoveDown => &["J"],
            Action::ClearQueue => &["C"],
            Action::PlayNext => &["N"],
            Action::SaveQueue => &["S"],
            Action::GoTracks => &["1"],
            Action::GoAlbums => &["2"],
            Action::GoArtists => &["3"],
            Action::GoPlaylists => &["4"],
            Action::GoLiked => &["5"],
            Action::PlayAll => &["e"],
            Action::ShuffleAll => &["E"],
            Action::QueueAll => &["Q"],
            Action::Edit => &["i"],
            Action::Delete => &["X"],
            Action::Lyrics => &["y"],
            Action::Similar => &["s"],
            Action::Like => &["l"],
            Action::Likes => &["L"],
            Action::Playlists => &["P"],
            Action::AddToPlaylist => &["A"],
            Action::Quality => &["r"],
            Action::Upload => &["u"],
            Action::Search => &["/"],
            Action::Focus => &["tab"],
            Action::Up => &["up", "k"],
            Action::Down => &["down", "j"],
            Action::PageUp => &["pageup", "ctrl-u"],
            Action::PageDown => &["pagedown", "ctrl-d"],
            Action::Top => &["home", "g"],
            Action::Bottom => &["end", "G"],
            Action::Back => &["esc", "backspace"],
            Action::Help => &["?"],
            Action::Quit => &["q"],
        }
    }
}

/// One key with its modifiers. Shift is part of the character (`L`, `+`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    code: KeyCode,
    modifiers: KeyModifiers,
}

impl Key {
    pub fn from_event(event: &KeyEvent) -> Key {
        let mut modifiers = event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match event.code {
            KeyCode::BackTab => {
                modifiers |= KeyModifiers::SHIFT;
                KeyCode::Tab
            }
            code => code,
        };
        Key { code, modifiers }
    }

    pub fn parse(text: &str) -> Result<Key> {
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            if let Some(after) = rest.strip_prefix("ctrl-") {
                modifiers |= KeyModifiers::CONTROL;
                rest = after;
            } else if let Some(after) = rest.strip_prefix("alt-") {
                modifiers |= KeyModifiers::ALT;
                rest = after;
            } else if let Some(after) = rest.strip_prefix("shift-").filter(|a| *a == "tab") {
                modifiers |= KeyModifiers::SHIFT;
                rest = after;
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" => KeyCode::Enter,
            "space" => KeyCode::Char(' '),
            "tab" => KeyCode::Tab,
            "esc" => KeyCode::Esc,
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            "insert" => KeyCode::Insert,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) => {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            single if single.chars().count() == 1 => KeyCode::Char(single.chars().next().unwrap_or(' ')),
            _ => bail!("unknown key {text:?} (e.g. \"a\", \"enter\", \"space\", \"ctrl-n\", \"f1\")"),
        };
        Ok(Key { code, modifiers })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Backspace => f.write_str("Bksp"),
            KeyCode::Delete => f.write_str("Del"),
            KeyCode::Insert => f.write_str("Ins"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::F(n) => write!(f, "F{n}"),
            _ => f.write_str("?"),
        }
    }
}

/// Keys to actions.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<(Key, Action)>,
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = Action::ALL
            .iter()
            .flat_map(|&action| {
                action
                    .defaults()
                    .iter()
                    .filter_map(move |text| Key::parse(text).ok().map(|key| (key, action)))
            })
            .collect();
        Keymap { bindings }
    }
}

impl Keymap {
    /// The defaults with the `[keys]` table of `config.toml` applied.
    pub fn from_config(keys: Option<&toml::Value>) -> Result<Keymap> {
        let mut keymap = Keymap::default();
        let Some(keys) = keys else {
            return Ok(keymap);
        };
        let Some(table) = keys.as_table() else {
            bail!("[keys] must be a table of action = \"key\"");
        };
        for (name, value) in table {
            let Some(action) = Action::ALL.iter().copied().find(|a| a.name() == name) else {
                let names: Vec<_> = Action::ALL.iter().map(|a| a.name()).collect();
                bail!("unknown action {name:?} in [keys]; actions are {}", names.join(", "));
            };
            let texts: Vec<&str> = match value {
                toml::Value::String(text) => vec![text.as_str()],
                toml::Value::Array(items) => items.iter().filter_map(toml::Value::as_str).collect(),
                _ => bail!("[keys] {name}: expected a key or a list of keys"),
            };
            let mut parsed = Vec::new();
            for text in texts {
                parsed.push(Key::parse(text).map_err(|e| anyhow::anyhow!("[keys] {name}: {e}"))?);
            }
            keymap.bindings.retain(|(_, a)| *a != action);
            // A key given to this action is taken from any other.
            keymap.bindings.retain(|(key, _)| !parsed.contains(key));
            keymap.bindings.extend(parsed.into_iter().map(|key| (key, action)));
        }
        Ok(keymap)
    }

    pub fn action(&self, event: &KeyEvent) -> Option<Action> {
        let key = Key::from_event(event);
        self.bindings.iter().find(|(k, _)| *k == key).map(|(_, action)| *action)
    }

    /// The keys bound to `action`, as the help shows them (`n`, `Enter`).
    pub fn keys(&self, action: Action) -> String {
        let keys: Vec<String> = self
            .bindings
            .iter()
            .filter(|(_, a)| *a == action)
            .map(|(key, _)| key.to_string())
            .collect();
        if keys.is_empty() {
            "(none)".into()
        } else {
            keys.join(" ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn the_defaults_are_the_documented_keys() {
        let keymap = Keymap::default();
        let check = |code, modifiers, expected| assert_eq!(keymap.action(&press(code, modifiers)), expected);
        check(KeyCode::Enter, KeyModifiers::NONE, Some(Action::Play));
        check(KeyCode::Char(' '), KeyModifiers::NONE, Some(Action::Pause));
        check(KeyCode::Char('n'), KeyModifiers::NONE, Some(Action::Next));
        check(KeyCode::Left, KeyModifiers::NONE, Some(Action::SeekBack));
        check(KeyCode::Char('+'), KeyModifiers::SHIFT, Some(Action::VolumeUp));
        check(KeyCode::Char('L'), KeyModifiers::SHIFT, Some(Action::Likes));
        check(KeyCode::Char('l'), KeyModifiers::NONE, Some(Action::Like));
        check(KeyCode::Char('?'), KeyModifiers::SHIFT, Some(Action::Help));
        check(KeyCode::Char('q'), KeyModifiers::CONTROL, None);
        check(KeyCode::Char('x'), KeyModifiers::NONE, None);
        check(KeyCode::Esc, KeyModifiers::NONE, Some(Action::Back));
        check(KeyCode::Backspace, KeyModifiers::NONE, Some(Action::Back));
        check(KeyCode::PageDown, KeyModifiers::NONE, Some(Action::PageDown));
        check(KeyCode::Char('d'), KeyModifiers::CONTROL, Some(Action::PageDown));
        check(KeyCode::Char('u'), KeyModifiers::CONTROL, Some(Action::PageUp));
        check(KeyCode::Char('g'), KeyModifiers::NONE, Some(Action::Top));
        check(KeyCode::Char('G'), KeyModifiers::SHIFT, Some(Action::Bottom));
        check(KeyCode::End, KeyModifiers::NONE, Some(Action::Bottom));
        check(KeyCode::Char('m'), KeyModifiers::NONE, Some(Action::Mute));
        assert_eq!(keymap.keys(Action::VolumeUp), "+ =");
        assert_eq!(keymap.keys(Action::Pause), "Space");
    }

    #[test]
    fn the_config_rebinds_and_moves_keys() {
        let keys: toml::Value = toml::from_str("pause = \"p\"\nnext = [\"ctrl-n\", \"f5\"]\n").expect("toml");
        let keymap = Keymap::from_config(Some(&keys)).expect("valid");
        assert_eq!(
            keymap.action(&press(KeyCode::Char('p'), KeyModifiers::NONE)),
            Some(Action::Pause)
        );
        // Space lost pause; `p` left previous; `n` left next.
        assert_eq!(keymap.action(&press(KeyCode::Char(' '), KeyModifiers::NONE)), None);
        assert_eq!(keymap.keys(Action::Previous), "(none)");
        assert_eq!(keymap.action(&press(KeyCode::Char('n'), KeyModifiers::NONE)), None);
        assert_eq!(
            keymap.action(&press(KeyCode::Char('n'), KeyModifiers::CONTROL)),
            Some(Action::Next)
        );
        assert_eq!(
            keymap.action(&press(KeyCode::F(5), KeyModifiers::NONE)),
            Some(Action::Next)
        );
        assert_eq!(keymap.keys(Action::Next), "ctrl-n F5");
    }

    #[test]
    fn bad_bindings_are_errors_that_say_why() {
        let check = |text: &str, needle: &str| {
            let keys: toml::Value = toml::from_str(text).expect("toml");
            let error = Keymap::from_config(Some(&keys)).expect_err(text).to_string();
            assert!(error.contains(needle), "{text}: {error}");
        };
        check("paws = \"p\"", "unknown action \"paws\"");
        check("pause = \"sapce\"", "unknown key \"sapce\"");
        check("pause = 3", "expected a key");
        check("pause = \"f13\"", "unknown key");
    }
}
