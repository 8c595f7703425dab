//! The library's sections (Tracks, Albums, Artists, Playlists, Liked), the
//! album and artist pages, and the actions on a whole list: play all,
//! shuffle all, queue all. A section is a [`View`] like any other, so Esc
//! goes back through them as through searches and similar tracks.

use mist_core::api::{Album, Artist};

use super::*;

/// What the library's tabs name; each view belongs to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Tracks,
    Albums,
    Artists,
    Playlists,
    Liked,
}

impl Section {
    pub const ALL: [Section; 5] = [
        Section::Tracks,
        Section::Albums,
        Section::Artists,
        Section::Playlists,
        Section::Liked,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Section::Tracks => "Tracks",
            Section::Albums => "Albums",
            Section::Artists => "Artists",
            Section::Playlists => "Playlists",
            Section::Liked => "Liked",
        }
    }
}

/// A listing's rows beyond tracks: an album or artist page's header, the
/// albums, artists or playlists listed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// The album whose page this is.
    pub album: Option<Album>,
    /// The artist whose page this is.
    pub artist: Option<Artist>,
    pub albums: Vec<Album>,
    pub artists: Vec<Artist>,
    pub playlists: Vec<Playlist>,
}

/// What the table's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    Tracks,
    Albums,
    Artists,
    Playlists,
}

impl App {
    pub fn section(&self) -> Section {
        match self.view {
            View::All { .. } | View::Search { .. } | View::Similar { .. } => Section::Tracks,
            View::Albums | View::Album { .. } => Section::Albums,
            View::Artists | View::Artist { .. } => Section::Artists,
            View::Playlists | View::Playlist { .. } => Section::Playlists,
            View::Likes => Section::Liked,
        }
    }

    /// What the table lists: an artist's page lists their albums (their
    /// most played tracks are beside them, in [`App::tracks`]).
    pub fn rows(&self) -> Rows {
        match self.view {
            View::Albums | View::Artist { .. } => Rows::Albums,
            View::Artists => Rows::Artists,
            View::Playlists => Rows::Playlists,
            _ => Rows::Tracks,
        }
    }

    pub fn rows_len(&self) -> usize {
        match self.rows() {
            Rows::Tracks => self.tracks.len(),
            Rows::Albums => self.listing.albums.len(),
            Rows::Artists => self.listing.artists.len(),
            Rows::Playlists => self.listing.playlists.len(),
        }
    }

    /// Opens a section of the library.
    pub(super) fn go_to(&mut self, section: Section) -> Vec<Effect> {
        self.focus = Focus::Tracks;
        match section {
            Section::Tracks => {
                let view = self.typed_view();
                vec![self.load(view)]
            }
            Section::Liked => vec![Effect::LoadLikes {
                generation: self.start_loading(),
                view: View::Likes,
            }],
            Section::Albums => self.load_listing(View::Albums),
            Section::Artists => self.load_listing(View::Artists),
            Section::Playlists => self.load_listing(View::Playlists),
        }
    }

    pub(super) fn load_listing(&mut self, view: View) -> Vec<Effect> {
        vec![Effect::LoadListing {
            generation: self.start_loading(),
            view,
        }]
    }

    /// Enter on a row that is not a track: opens the album, artist or playlist.
    pub(super) fn open_selected(&mut self) -> Vec<Effect> {
        let Some(i) = self.track_state.selected() else {
            return Vec::new();
        };
        match self.rows() {
            Rows::Tracks => Vec::new(),
            Rows::Albums => match self.listing.albums.get(i) {
                Some(album) => {
                    let view = View::Album {
                        id: album.id.clone(),
                        title: album.title.clone(),
                    };
                    self.load_listing(view)
                }
                None => Vec::new(),
            },
            Rows::Artists => match self.listing.artists.get(i) {
                Some(artist) => {
                    let view = View::Artist {
                        id: artist.id.clone(),
                        name: artist.name.clone(),
                    };
                    self.load_listing(view)
                }
                None => Vec::new(),
            },
            Rows::Playlists => match self.listing.playlists.get(i).cloned() {
                Some(playlist) => vec![Effect::LoadPlaylistTracks {
                    generation: self.start_loading(),
                    view: View::Playlist {
                        id: playlist.id.clone(),
                        name: playlist.name,
                    },
                    playlist_id: playlist.id,
                }],
                None => Vec::new(),
            },
        }
    }

    /// The tracks a whole-list action takes: the table's, or an artist's
    /// most played.
    fn all_tracks(&self) -> Vec<Track> {
        self.tracks.clone()
    }

    pub(super) fn play_all_shown(&mut self, shuffled: bool) -> Vec<Effect> {
        let tracks = self.all_tracks();
        if tracks.is_empty() {
            self.set_status("no tracks to play here", false);
            return Vec::new();
        }
        let count = tracks.len();
        let effects = self.play_all(tracks, shuffled);
        let how = if shuffled { "shuffled" } else { "in order" };
        self.set_status(format!("playing {count} tracks {how}"), false);
        effects
    }

    pub(super) fn queue_all_shown(&mut self) -> Vec<Effect> {
        let tracks = self.all_tracks();
        self.enqueue(tracks)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{key, main_app, track};
    use super::*;

    pub fn album(id: &str, title: &str) -> Album {
        serde_json::from_value(serde_json::json!({
            "id": id, "title": title, "artist": "Band", "artist_id": "ar1", "year": 2001,
            "genre": "rock", "track_count": 3, "duration_s": 600.0, "cover_url": null
        }))
        .expect("an album")
    }

    fn artist(id: &str, name: &str) -> Artist {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": name, "track_count": 3, "album_count": 1
        }))
        .expect("an artist")
    }

    fn answer(app: &mut App, effects: Vec<Effect>, listing: Listing, tracks: Vec<Track>) {
        let [Effect::LoadListing { generation, view }] = effects.as_slice() else {
            panic!("{effects:?}");
        };
        app.update(Msg::Listing {
            generation: *generation,
            view: view.clone(),
            result: Ok((listing, tracks)),
        });
    }

    #[test]
    fn sections_list_albums_an_album_opens_and_plays_shuffled() {
        let mut app = main_app();
        let effects = app.update(key(KeyCode::Char('2')));
        let listing = Listing {
            albums: vec![album("al1", "First"), album("al2", "Second")],
            ..Listing::default()
        };
        answer(&mut app, effects, listing, Vec::new());
        assert_eq!(
            (app.section(), app.rows(), app.rows_len()),
            (Section::Albums, Rows::Albums, 2)
        );
        assert!(
            app.update(key(KeyCode::Char('a'))).is_empty(),
            "an album row is not a track"
        );
        app.update(key(KeyCode::Down));
        let effects = app.update(key(KeyCode::Enter));
        assert!(
            matches!(&effects[..], [Effect::LoadListing { view: View::Album { id, .. }, .. }] if id == "al2"),
            "{effects:?}"
        );
        let tracks: Vec<Track> = (1..=3).map(|i| track(&format!("a{i}"), "T", 60.0)).collect();
        let listing = Listing {
            album: Some(album("al2", "Second")),
            ..Listing::default()
        };
        answer(&mut app, effects, listing, tracks);
        assert_eq!(app.view.title(), "Album “Second”");
        // Shuffled: one plays, the other two are queued, each once.
        let effects = app.update(key(KeyCode::Char('E')));
        assert!(matches!(&effects[0], Effect::Player(Command::Play(_))));
        let mut all: Vec<String> = app.queue.iter().map(|t| t.id.clone()).collect();
        all.extend(app.now.as_ref().map(|n| n.track.id.clone()));
        all.sort();
        assert_eq!(all, ["a1", "a2", "a3"]);
        // In order, and queued after.
        app.update(key(KeyCode::Char('e')));
        assert_eq!(app.now.as_ref().map(|n| n.track.id.as_str()), Some("a1"));
        app.update(key(KeyCode::Char('Q')));
        assert_eq!(app.queue.len(), 5);
        // Back to the albums, where they were left.
        app.update(key(KeyCode::Esc));
        assert_eq!((app.view.clone(), app.track_state.selected()), (View::Albums, Some(1)));
        app.update(key(KeyCode::Esc));
        assert_eq!(app.view, View::All { genre: None });
    }

    #[test]
    fn an_artist_page_lists_albums_and_plays_the_top_tracks() {
        let mut app = main_app();
        let effects = app.update(key(KeyCode::Char('3')));
        let listing = Listing {
            artists: vec![artist("ar1", "Band")],
            ..Listing::default()
        };
        answer(&mut app, effects, listing, Vec::new());
        let effects = app.update(key(KeyCode::Enter));
        let listing = Listing {
            artist: Some(artist("ar1", "Band")),
            albums: vec![album("al1", "First")],
            ..Listing::default()
        };
        answer(&mut app, effects, listing, vec![track("top", "Hit", 200.0)]);
        assert_eq!((app.section(), app.rows()), (Section::Artists, Rows::Albums));
        app.update(key(KeyCode::Char('e')));
        assert_eq!(app.now.as_ref().map(|n| n.track.id.as_str()), Some("top"));
        let effects = app.update(key(KeyCode::Enter));
        assert!(matches!(
            &effects[..],
            [Effect::LoadListing {
                view: View::Album { .. },
                ..
            }]
        ));
        // Playlists open in the table.
        let effects = app.update(key(KeyCode::Char('4')));
        let listing = Listing {
            playlists: vec![super::super::tests::playlist("p1", "Mix")],
            ..Listing::default()
        };
        answer(&mut app, effects, listing, Vec::new());
        let effects = app.update(key(KeyCode::Enter));
        assert!(matches!(&effects[..], [Effect::LoadPlaylistTracks { playlist_id, .. }] if playlist_id == "p1"));
        assert!(matches!(
            &app.update(key(KeyCode::Char('5')))[..],
            [Effect::LoadLikes { .. }]
        ));
    }
}
