//! OpenSubsonic 1.16.1 under `/rest/<method>` (and `/rest/<method>.view`),
//! so the phone and desktop apps people already use play MIST
//! (docs/subsonic.md).
//!
//! This module owns the transport — parameters from the query or a form
//! body (`formPost`), the answer format (`f=xml|json|jsonp`), the envelope
//! and error codes (`response`) — and sign-in (`auth`: API keys, or the
//! per-user app password by token or password; never the account password).
//! The methods themselves (`library`, `stream`) are translations onto the
//! existing modules: likes are stars, playlists are playlists, `stream` is
//! charged by the same ledger as HLS keys (`crate::quota`), so a Subsonic
//! client never gets more than an HLS client. It must not grow rules of its
//! own about what a user may hear or see.

pub mod auth;
pub mod keys;
pub mod library;
pub mod response;
pub mod stream;

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use axum::routing::get;

use crate::app::AppState;
use crate::db::users::UserRow;
use response::{Format, Node, SubsonicError, Value};

/// A form body is a few parameters (a playlist update lists song ids): 1 MiB
/// is generous and bounds what an unauthenticated request can make us read.
const FORM_BODY_LIMIT: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rest/{method}", get(rest).post(rest))
        .merge(keys::router())
}

/// The parameters of one request, query and form body together, in order
/// (some repeat: `id` in `star`, `songIdToAdd` in `updatePlaylist`).
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn required(&self, name: &'static str) -> Result<&str, SubsonicError> {
        self.get(name).ok_or(SubsonicError::Missing(name))
    }

    /// An integer parameter, if present; a value that is not one is refused.
    pub fn int(&self, name: &str) -> Result<Option<i64>, SubsonicError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| SubsonicError::BadParameter(format!("{name} must be an integer"))),
        }
    }

    /// A count: `default` when absent, clamped to `0..=max` (a client asking
    /// for a million gets `max`, one asking for less than nothing nothing).
    pub fn count(&self, name: &str, default: i64, max: i64) -> Result<i64, SubsonicError> {
        Ok(self.int(name)?.unwrap_or(default).clamp(0, max))
    }

    /// An offset: never negative.
    pub fn offset(&self, name: &str) -> Result<i64, SubsonicError> {
        match self.int(name)? {
            Some(n) if n < 0 => Err(SubsonicError::BadParameter(format!("{name} must not be negative"))),
            Some(n) => Ok(n.min(i64::from(i32::MAX))),
            None => Ok(0),
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).map(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
}

/// Who asks, what, and how the answer must be written.
pub struct Call {
    pub state: AppState,
    pub user: UserRow,
    pub params: Params,
    pub format: Format,
    pub headers: HeaderMap,
}

/// What a method answers.
pub enum Reply {
    /// The content of `subsonic-response` ([`Node::body`]).
    Payload(Node),
    /// A binary answer (stream, download, cover art).
    Raw(Response),
}

pub type MethodResult = Result<Reply, SubsonicError>;

fn client_ip(state: &AppState, request: &Request) -> IpAddr {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    crate::limiter::client_ip(peer, request.headers(), &state.settings.trusted_proxies)
}

async fn params(request: Request) -> Result<(Params, HeaderMap), SubsonicError> {
    let mut pairs: Vec<(String, String)> = request
        .uri()
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let headers = request.headers().clone();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if request.method() == Method::POST && is_form {
        let body = axum::body::to_bytes(request.into_body(), FORM_BODY_LIMIT)
            .await
            .map_err(|_| SubsonicError::Generic("the form body is too large or was cut off".into()))?;
        pairs.extend(url::form_urlencoded::parse(&body).into_owned());
    }
    Ok((Params(pairs), headers))
}

fn format_of(params: &Params) -> Result<Format, SubsonicError> {
    match params.get("f") {
        Some("json") => Ok(Format::Json),
        Some("jsonp") => {
            let callback = params.get("callback").ok_or(SubsonicError::Missing("callback"))?;
            if !response::safe_callback(callback) {
                return Err(SubsonicError::BadParameter(
                    "callback must be a JavaScript identifier (letters, digits, _ $ .)".into(),
                ));
            }
            Ok(Format::Jsonp(callback.to_owned()))
        }
        _ => Ok(Format::Xml),
    }
}

/// Every `/rest` request: parameters, format, sign-in, then the method.
async fn rest(State(state): State<AppState>, Path(method): Path<String>, request: Request) -> Response {
    let ip = client_ip(&state, &request);
    let name = method.strip_suffix(".view").unwrap_or(&method).to_owned();
    let (params, headers) = match params(request).await {
        Ok(p) => p,
        Err(e) => return response::failed(&Format::Xml, &e),
    };
    let format = match format_of(&params) {
        Ok(f) => f,
        // A bad callback is answered as plain JSON: never echoed into script.
        Err(e) => return response::failed(&Format::Json, &e),
    };
    metrics::counter!("mist_subsonic_requests_total", "method" => known_name(&name)).increment(1);
    if name == "getOpenSubsonicExtensions" {
        // Without sign-in, as the spec asks: it says nothing about the library.
        return response::ok(&format, extensions());
    }
    let user = match auth::authenticate(&state, &params, ip).await {
        Ok(user) => user,
        Err(e) => return response::failed(&format, &e),
    };
    let call = Call {
        state,
        user,
        params,
        format,
        headers,
    };
    let format = call.format.clone();
    match dispatch(&name, call).await {
        Ok(Reply::Payload(nodes)) => response::ok(&format, nodes),
        Ok(Reply::Raw(response)) => response,
        Err(e) => response::failed(&format, &e),
    }
}

/// The metric label: a method this server knows, else `other` (so a client
/// spraying names cannot grow the label set).
fn known_name(name: &str) -> &'static str {
    METHODS.iter().copied().find(|m| *m == name).unwrap_or("other")
}

/// The methods answered here (docs/subsonic.md lists them).
const METHODS: &[&str] = &[
    "ping",
    "getLicense",
    "getOpenSubsonicExtensions",
    "getMusicFolders",
    "getUser",
    "getArtists",
    "getIndexes",
    "getArtist",
    "getMusicDirectory",
    "getAlbum",
    "getSong",
    "getAlbumList2",
    "getAlbumList",
    "getRandomSongs",
    "getSongsByGenre",
    "getGenres",
    "search3",
    "search2",
    "getStarred2",
    "getStarred",
    "star",
    "unstar",
    "scrobble",
    "getPlaylists",
    "getPlaylist",
    "createPlaylist",
    "updatePlaylist",
    "deletePlaylist",
    "getPlayQueue",
    "savePlayQueue",
    "getNowPlaying",
    "getSimilarSongs2",
    "getSimilarSongs",
    "getTopSongs",
    "getSonicSimilarTracks",
    "findSonicPath",
    "getLyricsBySongId",
    "getCoverArt",
    "stream",
    "download",
];

async fn dispatch(name: &str, call: Call) -> MethodResult {
    match name {
        "ping" => Ok(Reply::Payload(Node::body())),
        "getLicense" => one(Node::new("license")
            .attr("valid", true)
            .attr("email", call.user.email.clone())),
        "getMusicFolders" => one(Node::new("musicFolders").list(
            "musicFolder",
            vec![
                Node::new("musicFolder")
                    .attr("id", library::MUSIC_FOLDER_ID)
                    .attr("name", "Music"),
            ],
        )),
        "getUser" => library::get_user(&call).await,
        "getArtists" => library::get_artists(&call, "artists").await,
        "getIndexes" => library::get_artists(&call, "indexes").await,
        "getArtist" => library::get_artist(&call).await,
        "getMusicDirectory" => library::get_music_directory(&call).await,
        "getAlbum" => library::get_album(&call).await,
        "getSong" => library::get_song(&call).await,
        "getAlbumList2" => library::get_album_list(&call, "albumList2").await,
        "getAlbumList" => library::get_album_list(&call, "albumList").await,
        "getRandomSongs" => library::get_random_songs(&call).await,
        "getSongsByGenre" => library::get_songs_by_genre(&call).await,
        "getGenres" => library::get_genres(&call).await,
        "search3" => library::search(&call, "searchResult3").await,
        "search2" => library::search(&call, "searchResult2").await,
        "getStarred2" => library::get_starred(&call, "starred2").await,
        "getStarred" => library::get_starred(&call, "starred").await,
        "star" => library::star(&call, true).await,
        "unstar" => library::star(&call, false).await,
        "scrobble" => library::scrobble(&call).await,
        "getPlaylists" => library::get_playlists(&call).await,
        "getPlaylist" => library::get_playlist(&call).await,
        "createPlaylist" => library::create_playlist(&call).await,
        "updatePlaylist" => library::update_playlist(&call).await,
        "deletePlaylist" => library::delete_playlist(&call).await,
        "getPlayQueue" => library::get_play_queue(&call).await,
        "savePlayQueue" => library::save_play_queue(&call).await,
        "getNowPlaying" => library::get_now_playing(&call).await,
        "getSimilarSongs2" => library::get_similar_songs(&call, "similarSongs2").await,
        "getSimilarSongs" => library::get_similar_songs(&call, "similarSongs").await,
        "getTopSongs" => library::get_top_songs(&call).await,
        "getSonicSimilarTracks" => library::get_sonic_similar_tracks(&call).await,
        "findSonicPath" => library::find_sonic_path(&call).await,
        "getLyricsBySongId" => library::get_lyrics_by_song_id(&call).await,
        "getCoverArt" => stream::get_cover_art(&call).await,
        "stream" => stream::stream(&call, false).await,
        "download" => stream::stream(&call, true).await,
        other => Err(SubsonicError::NotImplemented(format!(
            "{} is not implemented by this server",
            other.chars().take(64).collect::<String>()
        ))),
    }
}

/// The extensions this server implements, each at version 1.
pub const EXTENSIONS: &[&str] = &[
    "apiKeyAuthentication",
    "formPost",
    "songLyrics",
    "sonicSimilarity",
    "transcodeOffset",
];

fn extensions() -> Node {
    let extensions = EXTENSIONS
        .iter()
        .map(|name| {
            Node::new("openSubsonicExtensions")
                .attr("name", *name)
                .values("versions", vec![Value::Int(1)])
        })
        .collect();
    Node::body().list("openSubsonicExtensions", extensions)
}

/// A payload of one element.
pub fn one(node: Node) -> MethodResult {
    Ok(Reply::Payload(Node::body().child(node)))
}
