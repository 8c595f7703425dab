//! The messages the app takes ([`Msg`]), the work it asks for ([`Effect`]),
//! and what the track table shows ([`View`]).

use super::*;

/// A failed network call, as the UI needs it.
#[derive(Debug, Clone)]
pub struct NetError {
    pub message: String,
    /// The token was refused: back to the login screen.
    pub unauthorized: bool,
}

/// A login or registration that worked: the new token in a client.
pub struct LoginOk {
    pub client: Client,
    pub user: User,
}

impl std::fmt::Debug for LoginOk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginOk")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Everything that can happen to the UI.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize,
    Tick,
    LoggedIn(Result<LoginOk, NetError>),
    Me(Result<User, NetError>),
    Genres(Result<Vec<NameCount>, NetError>),
    Tracks {
        generation: u64,
        view: View,
        result: Result<Vec<Track>, NetError>,
    },
    /// A library listing (albums, artists, playlists, an album or artist page).
    Listing {
        generation: u64,
        view: View,
        result: Result<(Listing, Vec<Track>), NetError>,
    },
    Liked(Result<Vec<String>, NetError>),
    LikeDone {
        track_id: String,
        title: String,
        liked: bool,
        result: Result<(), NetError>,
    },
    Quota(Result<Quota, NetError>),
    Playlists(Result<Vec<Playlist>, NetError>),
    /// A playlist made from the picker.
    PlaylistCreated(Result<Playlist, NetError>),
    AddedToPlaylist {
        playlist: String,
        track: String,
        result: Result<(), NetError>,
    },
    Upload(UploadProgress),
    /// The queue saved as a playlist: how many tracks went in.
    QueueSaved {
        name: String,
        result: Result<usize, NetError>,
    },
    Player(Update),
    /// A playlist or track change made on the server (the UI already shows it).
    Managed {
        done: String,
        result: Result<(), NetError>,
    },
    /// A track's new tags, as the server saved them.
    TrackEdited(Result<Track, NetError>),
    /// A cover, decoded (`None`: there is none, or it could not be read).
    Cover {
        key: CoverKey,
        image: Option<image::DynamicImage>,
    },
    /// A track's lyrics (`None`: it has none).
    Lyrics {
        track_id: String,
        result: Result<Option<mist_core::api::Lyrics>, NetError>,
    },
    /// The queue saved on the server (`None`: none was).
    PlayQueue(Result<Option<Resume>, NetError>),
    /// An action from outside the keyboard (media keys, MPRIS), as if its
    /// key had been pressed on the main screen.
    Action(Action),
    /// Move the playhead to this many seconds (MPRIS `SetPosition`).
    SeekTo(f64),
    /// SIGTERM, SIGHUP.
    Quit,
}

/// Work for `tui::mod` to do.
#[derive(Debug, PartialEq)]
pub enum Effect {
    Login {
        server: String,
        email: String,
        password: String,
        /// Set to register a new account.
        username: Option<String>,
        /// The invite code to register with, if one was given.
        invite: Option<String>,
    },
    LoadMe,
    LoadGenres,
    LoadTracks {
        generation: u64,
        view: View,
        query: TrackQuery,
    },
    LoadSimilar {
        generation: u64,
        view: View,
        track_id: String,
    },
    LoadLikes {
        generation: u64,
        view: View,
    },
    /// A library listing for `view` (answered by [`Msg::Listing`]).
    LoadListing {
        generation: u64,
        view: View,
    },
    /// The ids of liked tracks, for the ♥ marks.
    LoadLikedIds,
    Like {
        track_id: String,
        title: String,
        like: bool,
    },
    LoadQuota,
    LoadPlaylists,
    LoadPlaylistTracks {
        generation: u64,
        view: View,
        playlist_id: String,
    },
    CreatePlaylist {
        name: String,
    },
    AddToPlaylist {
        playlist: Playlist,
        track: Track,
    },
    Upload(PathBuf),
    /// A new playlist named `name` holding these tracks, in order.
    SaveQueue {
        name: String,
        track_ids: Vec<String>,
    },
    Player(Command),
    RenamePlaylist {
        id: String,
        name: String,
    },
    DeletePlaylist {
        id: String,
        name: String,
    },
    RemoveFromPlaylist {
        playlist_id: String,
        track_id: String,
        title: String,
    },
    /// Moves a playlist's entry to `position` (0-based).
    MoveInPlaylist {
        playlist_id: String,
        track_id: String,
        position: i64,
    },
    /// New tags for a track (its uploader or an admin).
    EditTrack {
        track_id: String,
        tags: Tags,
    },
    DeleteTrack {
        track_id: String,
        title: String,
    },
    LoadLyrics {
        track_id: String,
    },
    LoadCover(CoverKey),
    /// The saved queue, to resume it (answered by [`Msg::PlayQueue`]).
    LoadPlayQueue,
    /// The queue and playhead, saved on the server.
    SavePlayQueue(mist_core::api::SavePlayQueueRequest),
    Quit,
}

/// Upload progress from the upload task.
#[derive(Debug, Clone)]
pub enum UploadProgress {
    Sending {
        sent: u64,
        total: u64,
    },
    Processing {
        percent: u8,
    },
    /// The job's end, with the new track's title when it is ready.
    Done(Result<(Job, Option<String>), String>),
}

/// What the track table shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// Every track (optionally of a genre), newest first.
    All {
        genre: Option<String>,
    },
    Search {
        q: String,
        genre: Option<String>,
    },
    Similar {
        title: String,
    },
    Likes,
    Playlist {
        id: String,
        name: String,
    },
    /// The library's sections beyond tracks (see `library.rs`).
    Albums,
    Artists,
    Playlists,
    /// An album's page: its tracks in disc order.
    Album {
        id: String,
        title: String,
    },
    /// An artist's page: their albums, and their most played tracks.
    Artist {
        id: String,
        name: String,
    },
}

impl View {
    /// A view the search box and genre filter ask for (not a list opened from a track or the library).
    pub(super) fn is_typed(&self) -> bool {
        matches!(self, View::All { .. } | View::Search { .. })
    }

    pub fn title(&self) -> String {
        let genre = |g: &Option<String>| g.as_ref().map(|g| format!(" in {g}")).unwrap_or_default();
        match self {
            View::All { genre: g } => format!("Tracks{}", genre(g)),
            View::Search { q, genre: g } => format!("Search “{q}”{}", genre(g)),
            View::Similar { title } => format!("Sounds like “{title}”"),
            View::Likes => "Liked tracks".into(),
            View::Playlist { name, .. } => format!("Playlist “{name}”"),
            View::Albums => "Albums".into(),
            View::Artists => "Artists".into(),
            View::Playlists => "Your playlists".into(),
            View::Album { title, .. } => format!("Album “{title}”"),
            View::Artist { name, .. } => format!("Artist “{name}”"),
        }
    }
}
