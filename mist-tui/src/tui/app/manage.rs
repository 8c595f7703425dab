//! Changing what the listener owns: playlists (rename, delete, reorder,
//! remove an entry) and their own uploads (edit the tags, delete). The table
//! shows each change at once; the server's answer only reports a failure.
//! Tracks are only offered for editing to their uploader or an admin, as
//! the server only allows them.

use mist_core::api::Role;

use super::*;

/// The tags a track's form edits; an empty artist, album or genre clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tags {
    pub title: String,
    pub artist: String,
    pub album: String,
    pub genre: String,
}

/// The tag form: one input per tag, Tab between them.
#[derive(Debug, Clone)]
pub struct TagForm {
    pub track_id: String,
    /// Title, artist, album, genre.
    pub inputs: [Input; 4],
    pub focus: usize,
}

impl TagForm {
    pub const LABELS: [&'static str; 4] = ["Title", "Artist", "Album", "Genre"];

    fn new(track: &Track) -> TagForm {
        let field = |value: &Option<String>| Input::with(value.as_deref().unwrap_or_default());
        TagForm {
            track_id: track.id.clone(),
            inputs: [
                Input::with(&track.title),
                field(&track.artist),
                field(&track.album),
                field(&track.genre),
            ],
            focus: 0,
        }
    }
}

/// A question answered with `y`.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub question: String,
    pub then: Pending,
}

/// What a [`Confirm`] does on `y`.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    DeletePlaylist { id: String, name: String },
    DeleteTrack { id: String, title: String },
}

impl App {
    /// Whether the user may change `track` (its uploader, or an admin).
    fn owns(&self, track: &Track) -> bool {
        self.user
            .as_ref()
            .is_some_and(|user| user.role == Role::Admin || track.uploader_id == user.id)
    }

    fn selected_playlist(&self) -> Option<Playlist> {
        if self.rows() != Rows::Playlists {
            return None;
        }
        self.track_state
            .selected()
            .and_then(|i| self.listing.playlists.get(i))
            .cloned()
    }

    /// `i`: rename the selected playlist, or edit the selected track's tags.
    pub(super) fn edit_selected(&mut self) -> Vec<Effect> {
        if let Some(playlist) = self.selected_playlist() {
            self.overlay = Some(Overlay::Prompt(Prompt {
                title: format!("Rename “{}”", playlist.name),
                input: Input::with(&playlist.name),
                purpose: PromptFor::RenamePlaylist { id: playlist.id },
            }));
            return Vec::new();
        }
        let Some(track) = self.focused_track() else {
            return Vec::new();
        };
        if !self.owns(&track) {
            self.set_status("only its uploader or an admin can edit a track", true);
            return Vec::new();
        }
        self.overlay = Some(Overlay::Tags(TagForm::new(&track)));
        Vec::new()
    }

    /// `X`: delete the selected playlist, or the selected track, once confirmed.
    pub(super) fn delete_selected(&mut self) -> Vec<Effect> {
        let confirm = if let Some(playlist) = self.selected_playlist() {
            Confirm {
                question: format!("Delete the playlist “{}”?", playlist.name),
                then: Pending::DeletePlaylist {
                    id: playlist.id,
                    name: playlist.name,
                },
            }
        } else {
            let Some(track) = self.selected_track() else {
                return Vec::new();
            };
            if !self.owns(&track) {
                self.set_status("only its uploader or an admin can delete a track", true);
                return Vec::new();
            }
            Confirm {
                question: format!("Delete “{}” from the server, for everyone?", track.title),
                then: Pending::DeleteTrack {
                    id: track.id,
                    title: track.title,
                },
            }
        };
        self.overlay = Some(Overlay::Confirm(confirm));
        Vec::new()
    }

    pub(super) fn confirm_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(Overlay::Confirm(confirm)) = self.overlay.take() else {
            return Vec::new();
        };
        if !matches!(key.code, KeyCode::Char('y' | 'Y')) {
            self.set_status("nothing deleted", false);
            return Vec::new();
        }
        match confirm.then {
            Pending::DeletePlaylist { id, name } => {
                self.listing.playlists.retain(|p| p.id != id);
                self.clamp_table_selection();
                vec![Effect::DeletePlaylist { id, name }]
            }
            Pending::DeleteTrack { id, title } => {
                self.tracks.retain(|t| t.id != id);
                self.queue.retain(|t| t.id != id);
                self.clamp_table_selection();
                self.clamp_queue_selection();
                vec![Effect::DeleteTrack { track_id: id, title }, self.next_for_player()]
            }
        }
    }

    pub(super) fn rename_playlist(&mut self, id: String, name: String) -> Vec<Effect> {
        for playlist in self.listing.playlists.iter_mut().filter(|p| p.id == id) {
            playlist.name = name.clone();
        }
        vec![Effect::RenamePlaylist { id, name }]
    }

    pub(super) fn tags_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(Overlay::Tags(form)) = &mut self.overlay else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Esc => self.overlay = None,
            KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1) % form.inputs.len(),
            KeyCode::BackTab | KeyCode::Up => form.focus = (form.focus + form.inputs.len() - 1) % form.inputs.len(),
            KeyCode::Enter => {
                let [title, artist, album, genre] = form.inputs.clone().map(|input| input.text.trim().to_string());
                if title.is_empty() {
                    form.focus = 0;
                    return Vec::new();
                }
                let track_id = form.track_id.clone();
                self.overlay = None;
                self.set_status(format!("saving the tags of {title}…"), false);
                return vec![Effect::EditTrack {
                    track_id,
                    tags: Tags {
                        title,
                        artist,
                        album,
                        genre,
                    },
                }];
            }
            _ => {
                let focus = form.focus;
                form.inputs[focus].edit(&key);
            }
        }
        Vec::new()
    }

    /// A track as the server saved it, wherever it is shown.
    pub(super) fn track_edited(&mut self, track: Track) {
        self.set_status(format!("saved the tags of {}", track.title), false);
        for shown in self
            .tracks
            .iter_mut()
            .chain(self.queue.iter_mut())
            .filter(|t| t.id == track.id)
        {
            *shown = track.clone();
        }
        if let Some(now) = self.now.as_mut().filter(|now| now.track.id == track.id) {
            now.track = track;
        }
    }

    /// In an open playlist: `d` removes the selected entry.
    pub(super) fn remove_from_playlist(&mut self) -> Vec<Effect> {
        let View::Playlist { id, .. } = &self.view else {
            return Vec::new();
        };
        let Some(i) = self.track_state.selected().filter(|i| *i < self.tracks.len()) else {
            return Vec::new();
        };
        let playlist_id = id.clone();
        let track = self.tracks.remove(i);
        self.clamp_table_selection();
        vec![Effect::RemoveFromPlaylist {
            playlist_id,
            track_id: track.id,
            title: track.title,
        }]
    }

    /// In an open playlist: `K`/`J` move the selected entry.
    pub(super) fn move_in_playlist(&mut self, up: bool) -> Vec<Effect> {
        let View::Playlist { id, .. } = &self.view else {
            return Vec::new();
        };
        let Some(at) = self.track_state.selected() else {
            return Vec::new();
        };
        let to = if up { at.checked_sub(1) } else { Some(at + 1) };
        let Some(to) = to.filter(|to| *to < self.tracks.len()) else {
            return Vec::new();
        };
        let playlist_id = id.clone();
        self.tracks.swap(at, to);
        self.track_state.select(Some(to));
        vec![Effect::MoveInPlaylist {
            playlist_id,
            track_id: self.tracks[to].id.clone(),
            position: to as i64,
        }]
    }

    fn clamp_table_selection(&mut self) {
        let len = self.rows_len();
        let selected = self.track_state.selected().map(|i| i.min(len.saturating_sub(1)));
        self.track_state
            .select(if len == 0 { None } else { selected.or(Some(0)) });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{key, main_app, playlist, track};
    use super::*;

    fn me(role: &str) -> User {
        serde_json::from_value(serde_json::json!({
            "id": "u1", "email": "a@b.c", "username": "ann", "role": role, "plan": "free",
            "created_at": "2026-01-01T00:00:00Z"
        }))
        .expect("a user")
    }

    fn playlist_open(app: &mut App) {
        let generation = app.start_loading();
        app.update(Msg::Tracks {
            generation,
            view: View::Playlist {
                id: "p1".into(),
                name: "Mix".into(),
            },
            result: Ok(vec![track("a", "A", 1.0), track("b", "B", 1.0), track("c", "C", 1.0)]),
        });
    }

    #[test]
    fn playlist_entries_move_and_go() {
        let mut app = main_app();
        playlist_open(&mut app);
        let effects = app.update(key(KeyCode::Char('J')));
        assert_eq!(
            effects,
            vec![Effect::MoveInPlaylist {
                playlist_id: "p1".into(),
                track_id: "a".into(),
                position: 1
            }]
        );
        assert_eq!(
            app.tracks.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["b", "a", "c"]
        );
        assert!(app.update(key(KeyCode::Char('K'))).len() == 1);
        let effects = app.update(key(KeyCode::Char('d')));
        assert!(
            matches!(&effects[..], [Effect::RemoveFromPlaylist { track_id, .. }] if track_id == "a"),
            "{effects:?}"
        );
        assert_eq!(app.tracks.len(), 2);
        // Outside a playlist, `d` and `J` do not touch the table.
        app.update(key(KeyCode::Esc));
        assert!(app.update(key(KeyCode::Char('d'))).is_empty());
        assert!(app.update(key(KeyCode::Char('J'))).is_empty());
    }

    #[test]
    fn playlists_rename_and_delete_once_confirmed() {
        let mut app = main_app();
        let generation = app.start_loading();
        app.update(Msg::Listing {
            generation,
            view: View::Playlists,
            result: Ok((
                Listing {
                    playlists: vec![playlist("p1", "Mix"), playlist("p2", "Old")],
                    ..Listing::default()
                },
                Vec::new(),
            )),
        });
        app.update(key(KeyCode::Char('i')));
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
        for c in "Road".chars() {
            app.update(key(KeyCode::Char(c)));
        }
        let effects = app.update(key(KeyCode::Enter));
        assert_eq!(
            effects,
            vec![Effect::RenamePlaylist {
                id: "p1".into(),
                name: "Road".into()
            }]
        );
        assert_eq!(app.listing.playlists[0].name, "Road");
        app.update(key(KeyCode::Down));
        app.update(key(KeyCode::Char('X')));
        assert!(app.update(key(KeyCode::Char('n'))).is_empty(), "only y deletes");
        assert_eq!(app.listing.playlists.len(), 2);
        app.update(key(KeyCode::Char('X')));
        let effects = app.update(key(KeyCode::Char('y')));
        assert!(matches!(&effects[..], [Effect::DeletePlaylist { id, .. }] if id == "p2"));
        assert_eq!(app.listing.playlists.len(), 1);
    }

    #[test]
    fn only_the_uploader_or_an_admin_edits_and_deletes_a_track() {
        let mut app = main_app();
        let mut other = me("user");
        other.id = "someone-else".into();
        app.user = Some(other);
        assert!(app.update(key(KeyCode::Char('i'))).is_empty());
        assert!(app.overlay.is_none());
        assert!(app.status.as_ref().is_some_and(|s| s.error));
        app.update(key(KeyCode::Char('X')));
        assert!(app.overlay.is_none());
        // The uploader (the test tracks' `u1`) edits the tags.
        app.user = Some(me("user"));
        app.update(key(KeyCode::Char('i')));
        app.update(key(KeyCode::Tab));
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
        for c in "Band".chars() {
            app.update(key(KeyCode::Char(c)));
        }
        let effects = app.update(key(KeyCode::Enter));
        assert_eq!(
            effects,
            vec![Effect::EditTrack {
                track_id: "t1".into(),
                tags: Tags {
                    title: "One".into(),
                    artist: "Band".into(),
                    album: "Album".into(),
                    genre: "ambient".into(),
                },
            }]
        );
        let mut edited = track("t1", "One", 60.0);
        edited.artist = Some("Band".into());
        app.update(Msg::TrackEdited(Ok(edited)));
        assert_eq!(app.tracks[0].artist.as_deref(), Some("Band"));
        // An admin deletes anyone's, once confirmed.
        let mut admin = me("admin");
        admin.id = "root".into();
        app.user = Some(admin);
        app.update(key(KeyCode::Char('X')));
        let effects = app.update(key(KeyCode::Char('y')));
        assert!(matches!(&effects[0], Effect::DeleteTrack { track_id, .. } if track_id == "t1"));
        assert_eq!(app.tracks.len(), 1);
    }
}
