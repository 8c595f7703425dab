//! The Subsonic methods over the library: browsing (artists, albums,
//! songs, genres, lists, search), stars (our likes), scrobbles (our
//! sessions and plays), playlists, the play queue, what is playing, and
//! similarity (our embeddings). Each is a translation onto the module that
//! already owns the data; nothing here decides who may see what beyond
//! what those modules decide for `/api/v1`.

use chrono::SecondsFormat;

use super::response::{Node, SubsonicError, Value};
use super::{Call, MethodResult, Reply, one};
use crate::db::albums::{self, AlbumOrder, AlbumQuery, AlbumRow};
use crate::db::embeddings::{self, Exclude};
use crate::db::library as likes;
use crate::db::subsonic::{self as db, AlbumPick, Annotations};
use crate::db::tracks::TrackRow;
use crate::db::{catalogue, ms_to_datetime, sessions, users};
use crate::quota;

/// The one music folder: the whole library.
pub const MUSIC_FOLDER_ID: i64 = 1;

/// The most items one list answer holds, whatever a client asks for.
pub const MAX_PAGE: i64 = 500;

fn date(ms: i64) -> String {
    ms_to_datetime(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn secs(ms: i64) -> i64 {
    (ms + 500) / 1000
}

/// The cover art id of a song: its own picture, else its album's.
fn song_cover(row: &TrackRow) -> Option<String> {
    match (&row.cover_hash, &row.album_id) {
        (Some(_), _) => Some(format!("mf-{}", row.id)),
        (None, Some(album)) => Some(format!("al-{album}")),
        (None, None) => None,
    }
}

/// A song as a `Child` (named `name`: `song`, `entry`, `child`).
pub fn song(name: &'static str, row: &TrackRow, ann: &Annotations) -> Node {
    let mut gain = Node::new("replayGain");
    if let Some(lufs) = row.loudness_lufs {
        gain = gain
            .attr("trackGain", mist_core::library::loudness::REFERENCE_LUFS - lufs)
            .opt("trackPeak", row.true_peak);
    }
    if let Some(lufs) = row.album_loudness_lufs {
        gain = gain
            .attr("albumGain", mist_core::library::loudness::REFERENCE_LUFS - lufs)
            .opt("albumPeak", row.album_true_peak);
    }
    let mut node = Node::new(name)
        .attr("id", &row.id)
        .opt("parent", row.album_id.as_ref())
        .attr("isDir", false)
        .attr("title", &row.title)
        .opt("album", row.album.as_ref())
        .opt("artist", row.artist.as_ref())
        .opt("track", row.track_number)
        .opt("year", row.year)
        .opt("genre", row.genre.as_ref())
        .opt("coverArt", song_cover(row))
        .attr("contentType", "audio/mpeg")
        .attr("suffix", "mp3")
        .attr("duration", secs(row.duration_ms))
        .attr("bitRate", 192i64)
        .attr("samplingRate", i64::from(mist_core::audio::SAMPLE_RATE))
        .attr("channelCount", 2i64)
        .attr("isVideo", false)
        .attr("playCount", row.play_count)
        .opt("discNumber", row.disc_number)
        .attr("created", date(row.created_at))
        .opt("starred", ann.starred.get(&row.id).map(|ms| date(*ms)))
        .opt("played", ann.played.get(&row.id).map(|ms| date(*ms)))
        .opt("albumId", row.album_id.as_ref())
        .opt("artistId", row.artist_id.as_ref())
        .attr("type", "music")
        .attr("mediaType", "song")
        .attr("displayArtist", row.artist.clone().unwrap_or_default())
        .attr(
            "displayAlbumArtist",
            row.album_artist.clone().or(row.artist.clone()).unwrap_or_default(),
        )
        .attr("displayComposer", row.composer.clone().unwrap_or_default());
    let genres = row.genre.iter().map(|g| Node::new("genres").attr("name", g)).collect();
    node = node.list("genres", genres);
    let artists = match (&row.artist_id, &row.artist) {
        (Some(id), Some(name)) => vec![Node::new("artists").attr("id", id).attr("name", name)],
        _ => Vec::new(),
    };
    node.list("artists", artists).child(gain)
}

/// Songs with the caller's stars and plays.
async fn songs(call: &Call, name: &'static str, rows: &[TrackRow]) -> Result<Vec<Node>, SubsonicError> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let ann = db::annotations(&call.state.db, &call.user.id, &ids).await?;
    Ok(rows.iter().map(|r| song(name, r, &ann)).collect())
}

/// An album as `AlbumID3`.
fn album(name: &'static str, row: &AlbumRow) -> Node {
    Node::new(name)
        .attr("id", &row.id)
        .attr("name", &row.title)
        .opt("artist", row.artist.as_ref())
        .opt("artistId", row.artist_id.as_ref())
        .opt("coverArt", row.cover_hash.as_ref().map(|_| format!("al-{}", row.id)))
        .attr("songCount", row.track_count)
        .attr("duration", secs(row.duration_ms))
        .attr("playCount", row.plays)
        .attr("created", date(row.created_at))
        .opt("year", row.year)
        .opt("genre", row.genre.as_ref())
        .attr("displayArtist", row.artist.clone().unwrap_or_default())
        .list(
            "genres",
            row.genre.iter().map(|g| Node::new("genres").attr("name", g)).collect(),
        )
}

fn artist(name: &'static str, id: &str, artist_name: &str, album_count: i64, cover: Option<&str>) -> Node {
    Node::new(name)
        .attr("id", id)
        .attr("name", artist_name)
        .opt("coverArt", cover.map(|_| format!("ar-{id}")))
        .attr("albumCount", album_count)
}

pub async fn get_user(call: &Call) -> MethodResult {
    let asked = call.params.required("username")?;
    let is_admin = call.user.role() == mist_core::api::Role::Admin;
    let user = if asked.eq_ignore_ascii_case(&call.user.username) {
        call.user.clone()
    } else if is_admin {
        users::find_by_username(&call.state.db, asked)
            .await?
            .ok_or(SubsonicError::NotFound("user"))?
    } else {
        return Err(SubsonicError::NotAuthorised("only admins may see other users".into()));
    };
    let admin = user.role() == mist_core::api::Role::Admin;
    let unlimited = quota::unlimited(user.plan(), user.role());
    one(Node::new("user")
        .attr("username", &user.username)
        .attr("email", &user.email)
        .attr("scrobblingEnabled", true)
        .attr("adminRole", admin)
        .attr("settingsRole", true)
        .attr("downloadRole", unlimited)
        .attr("uploadRole", true)
        .attr("playlistRole", true)
        .attr("coverArtRole", true)
        .attr("commentRole", false)
        .attr("podcastRole", false)
        .attr("streamRole", true)
        .attr("jukeboxRole", false)
        .attr("shareRole", false)
        .attr("videoConversionRole", false)
        .values("folder", vec![Value::Int(MUSIC_FOLDER_ID)]))
}

/// The index letter of a name: its first letter, upper-cased, or `#`.
fn index_letter(name: &str) -> String {
    match name.chars().next() {
        Some(c) if c.is_alphabetic() => c.to_uppercase().collect(),
        _ => "#".to_owned(),
    }
}

/// `getArtists` (`artists`) and `getIndexes` (`indexes`): every artist,
/// grouped by first letter.
pub async fn get_artists(call: &Call, element: &'static str) -> MethodResult {
    let rows = db::artists(&call.state.db).await?;
    let mut groups: Vec<(String, Vec<Node>)> = Vec::new();
    for row in &rows {
        let letter = index_letter(&row.name);
        let node = artist("artist", &row.id, &row.name, row.album_count, row.cover_hash.as_deref());
        match groups.last_mut() {
            Some((l, nodes)) if *l == letter => nodes.push(node),
            _ => groups.push((letter, vec![node])),
        }
    }
    let index = groups
        .into_iter()
        .map(|(letter, nodes)| Node::new("index").attr("name", letter).list("artist", nodes))
        .collect();
    let mut node = Node::new(element).attr("ignoredArticles", "");
    if element == "indexes" {
        node = node.attr("lastModified", db::library_changed_at(&call.state.db).await?);
    }
    one(node.list("index", index))
}

async fn albums_of_artist(call: &Call, artist_id: &str) -> Result<Vec<AlbumRow>, SubsonicError> {
    let query = AlbumQuery {
        order: AlbumOrder::Year,
        artist: Some(artist_id.to_owned()),
        genre: None,
        year: None,
        user_id: call.user.id.clone(),
        limit: MAX_PAGE,
        offset: 0,
    };
    Ok(albums::list(&call.state.db, &query).await?.0)
}

pub async fn get_artist(call: &Call) -> MethodResult {
    let id = call.params.required("id")?;
    let row = albums::find_artist(&call.state.db, id)
        .await?
        .ok_or(SubsonicError::NotFound("artist"))?;
    let album_rows = albums_of_artist(call, &row.id).await?;
    let cover = album_rows.iter().find_map(|a| a.cover_hash.as_deref());
    let nodes = album_rows.iter().map(|a| album("album", a)).collect();
    one(artist("artist", &row.id, &row.name, row.album_count, cover).list("album", nodes))
}

pub async fn get_album(call: &Call) -> MethodResult {
    let id = call.params.required("id")?;
    let row = albums::find(&call.state.db, id)
        .await?
        .ok_or(SubsonicError::NotFound("album"))?;
    let tracks = albums::tracks(&call.state.db, &row.id).await?;
    let nodes = songs(call, "song", &tracks).await?;
    one(album("album", &row).list("song", nodes))
}

/// A ready track, or 70.
pub async fn ready_track(call: &Call, id: &str) -> Result<TrackRow, SubsonicError> {
    crate::db::tracks::find(&call.state.db, id)
        .await?
        .filter(|t| t.status() == mist_core::api::TrackStatus::Ready)
        .ok_or(SubsonicError::NotFound("song"))
}

pub async fn get_song(call: &Call) -> MethodResult {
    let row = ready_track(call, call.params.required("id")?).await?;
    let mut nodes = songs(call, "song", std::slice::from_ref(&row)).await?;
    one(nodes.remove(0))
}

/// Folder browsing over the same tree: an artist holds albums, an album
/// holds songs.
pub async fn get_music_directory(call: &Call) -> MethodResult {
    let id = call.params.required("id")?;
    if let Some(row) = albums::find(&call.state.db, id).await? {
        let tracks = albums::tracks(&call.state.db, &row.id).await?;
        let children = songs(call, "child", &tracks).await?;
        return one(Node::new("directory")
            .attr("id", &row.id)
            .opt("parent", row.artist_id.as_ref())
            .attr("name", &row.title)
            .list("child", children));
    }
    let row = albums::find_artist(&call.state.db, id)
        .await?
        .ok_or(SubsonicError::NotFound("directory"))?;
    let children = albums_of_artist(call, &row.id)
        .await?
        .iter()
        .map(|a| {
            Node::new("child")
                .attr("id", &a.id)
                .attr("parent", &row.id)
                .attr("isDir", true)
                .attr("title", &a.title)
                .attr("album", &a.title)
                .opt("artist", a.artist.as_ref())
                .opt("year", a.year)
                .opt("coverArt", a.cover_hash.as_ref().map(|_| format!("al-{}", a.id)))
        })
        .collect();
    one(Node::new("directory")
        .attr("id", &row.id)
        .attr("name", &row.name)
        .list("child", children))
}

/// `getAlbumList2` / `getAlbumList`: every listed type, `size` (≤ 500) from
/// `offset`.
pub async fn get_album_list(call: &Call, element: &'static str) -> MethodResult {
    let kind = call.params.required("type")?;
    let size = call.params.count("size", 10, MAX_PAGE)?;
    let offset = call.params.offset("offset")?;
    let ordered = |order| AlbumQuery {
        order,
        artist: None,
        genre: None,
        year: None,
        user_id: call.user.id.clone(),
        limit: size,
        offset,
    };
    let query = match kind {
        "newest" => Some(ordered(AlbumOrder::Newest)),
        "frequent" | "highest" => Some(ordered(AlbumOrder::MostPlayed)),
        "recent" => Some(ordered(AlbumOrder::RecentlyPlayed)),
        "alphabeticalByName" => Some(ordered(AlbumOrder::Name)),
        "alphabeticalByArtist" => Some(ordered(AlbumOrder::Artist)),
        "byGenre" => Some(AlbumQuery {
            genre: Some(call.params.required("genre")?.to_owned()),
            ..ordered(AlbumOrder::Name)
        }),
        _ => None,
    };
    let rows = match query {
        Some(query) => albums::list(&call.state.db, &query).await?.0,
        None => {
            let pick = match kind {
                "random" => AlbumPick::Random,
                "starred" => AlbumPick::StarredBy(&call.user.id),
                "byYear" => {
                    let from = call.params.int("fromYear")?.ok_or(SubsonicError::Missing("fromYear"))?;
                    let to = call.params.int("toYear")?.ok_or(SubsonicError::Missing("toYear"))?;
                    AlbumPick::Years(from, to)
                }
                other => {
                    return Err(SubsonicError::BadParameter(format!(
                        "unknown list type {}",
                        other.chars().take(40).collect::<String>()
                    )));
                }
            };
            let ids = db::album_ids(&call.state.db, pick, size, offset).await?;
            let mut rows = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(row) = albums::find(&call.state.db, &id).await? {
                    rows.push(row);
                }
            }
            rows
        }
    };
    one(Node::new(element).list("album", rows.iter().map(|a| album("album", a)).collect()))
}

pub async fn get_random_songs(call: &Call) -> MethodResult {
    let size = call.params.count("size", 10, MAX_PAGE)?;
    let rows = db::random_songs(
        &call.state.db,
        call.params.get("genre"),
        call.params.int("fromYear")?,
        call.params.int("toYear")?,
        size,
    )
    .await?;
    one(Node::new("randomSongs").list("song", songs(call, "song", &rows).await?))
}

pub async fn get_songs_by_genre(call: &Call) -> MethodResult {
    let genre = call.params.required("genre")?;
    let count = call.params.count("count", 10, MAX_PAGE)?;
    let offset = call.params.offset("offset")?;
    let rows = db::songs_by_genre(&call.state.db, genre, offset, count).await?;
    one(Node::new("songsByGenre").list("song", songs(call, "song", &rows).await?))
}

pub async fn get_genres(call: &Call) -> MethodResult {
    let rows = db::genres(&call.state.db).await?;
    let nodes = rows
        .into_iter()
        .map(|g| {
            Node::new("genre")
                .attr("songCount", g.song_count)
                .attr("albumCount", g.album_count)
                .text(g.name)
        })
        .collect();
    one(Node::new("genres").list("genre", nodes))
}

/// `search3` / `search2`: artists, albums and songs matching `query`, each
/// paged by its own count and offset. An empty query (or `""`, as some
/// apps send) matches everything, so a client can sync the whole library.
pub async fn search(call: &Call, element: &'static str) -> MethodResult {
    let raw = call.params.get("query").unwrap_or("");
    let q = raw.trim().trim_matches('"').trim();
    let p = &call.params;
    let (artist_count, artist_offset) = (p.count("artistCount", 20, MAX_PAGE)?, p.offset("artistOffset")?);
    let (album_count, album_offset) = (p.count("albumCount", 20, MAX_PAGE)?, p.offset("albumOffset")?);
    let (song_count, song_offset) = (p.count("songCount", 20, MAX_PAGE)?, p.offset("songOffset")?);
    let db = &call.state.db;
    let (artists, albums_found, tracks) = if q.is_empty() {
        let all = db::artists(db).await?;
        let artists: Vec<Node> = all
            .iter()
            .skip(usize::try_from(artist_offset).unwrap_or(usize::MAX))
            .take(usize::try_from(artist_count).unwrap_or(0))
            .map(|a| artist("artist", &a.id, &a.name, a.album_count, a.cover_hash.as_deref()))
            .collect();
        let query = AlbumQuery {
            order: AlbumOrder::Name,
            artist: None,
            genre: None,
            year: None,
            user_id: call.user.id.clone(),
            limit: album_count,
            offset: album_offset,
        };
        let album_rows = if album_count > 0 {
            albums::list(db, &query).await?.0
        } else {
            Vec::new()
        };
        let tracks = db::songs_page(db, song_offset, song_count).await?;
        (artists, album_rows, tracks)
    } else {
        // Full-text search has no offsets: fetch through the page, then skip.
        let window = |count: i64, offset: i64| (count + offset).min(2 * MAX_PAGE);
        let artists = albums::search_artists(db, q, window(artist_count, artist_offset))
            .await?
            .iter()
            .skip(usize::try_from(artist_offset).unwrap_or(usize::MAX))
            .take(usize::try_from(artist_count).unwrap_or(0))
            .map(|a| artist("artist", &a.id, &a.name, a.album_count, None))
            .collect();
        let album_rows: Vec<AlbumRow> = albums::search_albums(db, q, window(album_count, album_offset))
            .await?
            .into_iter()
            .skip(usize::try_from(album_offset).unwrap_or(usize::MAX))
            .take(usize::try_from(album_count).unwrap_or(0))
            .collect();
        let query = catalogue::TrackQuery {
            q: Some(q.to_owned()),
            limit: window(song_count, song_offset),
            ..Default::default()
        };
        let tracks: Vec<TrackRow> = catalogue::list_tracks(db, &query)
            .await?
            .0
            .into_iter()
            .skip(usize::try_from(song_offset).unwrap_or(usize::MAX))
            .take(usize::try_from(song_count).unwrap_or(0))
            .collect();
        (artists, album_rows, tracks)
    };
    one(Node::new(element)
        .list("artist", artists)
        .list("album", albums_found.iter().map(|a| album("album", a)).collect())
        .list("song", songs(call, "song", &tracks).await?))
}

/// Every song the caller liked (the first 1,000, newest first).
async fn liked_songs(call: &Call) -> Result<Vec<TrackRow>, SubsonicError> {
    let scope = format!("subsonic-likes|{}", call.user.id);
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = likes::likes(&call.state.db, &call.user.id, after.as_ref(), 100, &scope).await?;
        rows.extend(page);
        match next {
            Some(cursor) if rows.len() < 1000 => after = Some(cursor),
            _ => break,
        }
    }
    Ok(rows)
}

/// `getStarred2` / `getStarred`: stars are likes, and only songs have them.
pub async fn get_starred(call: &Call, element: &'static str) -> MethodResult {
    let rows = liked_songs(call).await?;
    one(Node::new(element)
        .list("artist", vec![])
        .list("album", vec![])
        .list("song", songs(call, "song", &rows).await?))
}

/// `star` / `unstar` of songs (`id`, repeated) through the likes.
pub async fn star(call: &Call, on: bool) -> MethodResult {
    let ids = call.params.all("id");
    if ids.is_empty() {
        if call.params.get("albumId").is_some() || call.params.get("artistId").is_some() {
            return Err(SubsonicError::Generic(
                "only songs can be starred here; star an album's songs instead".into(),
            ));
        }
        return Err(SubsonicError::Missing("id"));
    }
    if ids.len() as i64 > MAX_PAGE {
        return Err(SubsonicError::BadParameter(format!("at most {MAX_PAGE} ids at once")));
    }
    for id in ids {
        if on {
            let track = ready_track(call, id).await?;
            likes::like(&call.state.db, &call.user.id, &track.id).await?;
        } else {
            likes::unlike(&call.state.db, &call.user.id, id).await?;
        }
    }
    Ok(Reply::Payload(Node::body()))
}

/// `scrobble`: `submission=false` is "now playing" (an open session the
/// other apps see in `getNowPlaying`); otherwise each song is recorded as a
/// listen in the history, and counts a play under the same rule as a
/// completed HLS session: the audio behind it must have been unlocked (by
/// `stream` or keys), at most one play an hour.
pub async fn scrobble(call: &Call) -> MethodResult {
    let state = &call.state;
    let now = state.clock.now_ms();
    crate::http::tracks::rate_limited(&state.playback_limits.heartbeats, &call.user, now, "scrobbles")?;
    let ids = call.params.all("id");
    if ids.is_empty() {
        return Err(SubsonicError::Missing("id"));
    }
    if ids.len() > 50 {
        return Err(SubsonicError::BadParameter("at most 50 ids at once".into()));
    }
    let times = call.params.all("time");
    let submission = call.params.bool("submission").unwrap_or(true);
    for (i, id) in ids.iter().enumerate() {
        let track = ready_track(call, id).await?;
        if !submission {
            let cap = i64::from(state.settings.max_open_sessions);
            sessions::open(&state.db, &call.user.id, &track.id, track.duration_ms, now, cap).await?;
            continue;
        }
        // When the client says it started, within the last day; else one
        // track-length ago.
        let started_at = times
            .get(i)
            .and_then(|t| t.parse::<i64>().ok())
            .filter(|t| (now - 86_400_000..=now).contains(t))
            .unwrap_or(now - track.duration_ms);
        let unlocked = db::unlocked_ms(&state.db, &call.user.id, &track.id, &quota::day_of(started_at)).await?;
        let listened = unlocked.min(track.duration_ms).min(now - started_at).max(0);
        let session = db::record_listen(
            &state.db,
            &call.user.id,
            &track.id,
            track.duration_ms,
            listened,
            started_at,
            now,
        )
        .await?;
        let threshold = quota::play_threshold_ms(track.duration_ms);
        if listened >= threshold {
            sessions::count_play(&state.db, &session, threshold, now).await?;
        }
    }
    Ok(Reply::Payload(Node::body()))
}

async fn playlist_node(call: &Call, row: &likes::PlaylistRow, name: &'static str) -> Result<Node, SubsonicError> {
    let owner = if row.owner_id == call.user.id {
        call.user.username.clone()
    } else {
        users::find_by_id(&call.state.db, &row.owner_id)
            .await?
            .map(|u| u.username)
            .unwrap_or_default()
    };
    let duration = db::playlist_duration_ms(&call.state.db, &row.id).await?;
    Ok(Node::new(name)
        .attr("id", &row.id)
        .attr("name", &row.name)
        .attr("comment", &row.description)
        .attr("owner", owner)
        .attr("public", row.public)
        .attr("songCount", row.track_count)
        .attr("duration", secs(duration))
        .attr("created", date(row.created_at))
        .attr("changed", date(row.updated_at)))
}

pub async fn get_playlists(call: &Call) -> MethodResult {
    let scope = format!("subsonic-playlists|{}", call.user.id);
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = likes::playlists_of(&call.state.db, &call.user.id, after.as_ref(), 100, &scope).await?;
        rows.extend(page);
        match next {
            Some(cursor) if (rows.len() as i64) < MAX_PAGE => after = Some(cursor),
            _ => break,
        }
    }
    let mut nodes = Vec::with_capacity(rows.len());
    for row in &rows {
        nodes.push(playlist_node(call, row, "playlist").await?);
    }
    one(Node::new("playlists").list("playlist", nodes))
}

/// A playlist the caller may see: their own, or a public one.
async fn visible_playlist(call: &Call, id: &str) -> Result<likes::PlaylistRow, SubsonicError> {
    likes::find_playlist(&call.state.db, id)
        .await?
        .filter(|p| p.public || p.owner_id == call.user.id)
        .ok_or(SubsonicError::NotFound("playlist"))
}

async fn own_playlist(call: &Call, id: &str) -> Result<likes::PlaylistRow, SubsonicError> {
    let row = visible_playlist(call, id).await?;
    if row.owner_id != call.user.id {
        return Err(SubsonicError::NotAuthorised(
            "only the owner may change this playlist".into(),
        ));
    }
    Ok(row)
}

/// The playlist with its songs (the first 5,000).
async fn playlist_with_songs(call: &Call, id: &str) -> MethodResult {
    let row = visible_playlist(call, id).await?;
    let mut tracks = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = likes::playlist_tracks(&call.state.db, &row.id, after, 100).await?;
        tracks.extend(page.into_iter().map(|(_, t)| t));
        match next {
            Some(position) if tracks.len() < 5000 => after = Some(position),
            _ => break,
        }
    }
    let entries = songs(call, "entry", &tracks).await?;
    one(playlist_node(call, &row, "playlist").await?.list("entry", entries))
}

pub async fn get_playlist(call: &Call) -> MethodResult {
    playlist_with_songs(call, call.params.required("id")?).await
}

fn playlist_name(value: &str) -> Result<&str, SubsonicError> {
    let v = crate::text::line("name", value, crate::text::MAX_PLAYLIST_NAME_CHARS)?;
    if v.is_empty() {
        return Err(SubsonicError::BadParameter("name cannot be empty".into()));
    }
    Ok(v)
}

async fn add_songs(call: &Call, playlist_id: &str, ids: &[&str]) -> Result<(), SubsonicError> {
    if ids.len() as i64 > 5000 {
        return Err(SubsonicError::BadParameter("at most 5000 songs at once".into()));
    }
    for id in ids {
        let track = ready_track(call, id).await?;
        likes::add_track(&call.state.db, playlist_id, &track.id)
            .await?
            .ok_or(SubsonicError::NotFound("playlist"))?;
    }
    Ok(())
}

/// `createPlaylist`: a new playlist (`name`), or, with `playlistId`, the
/// songs of one of the caller's replaced.
pub async fn create_playlist(call: &Call) -> MethodResult {
    let ids = call.params.all("songId");
    let id = match call.params.get("playlistId") {
        Some(id) => {
            let row = own_playlist(call, id).await?;
            for (_, track_id) in likes::positions(&call.state.db, &row.id).await? {
                likes::remove_track(&call.state.db, &row.id, &track_id).await?;
            }
            if let Some(name) = call.params.get("name") {
                likes::update_playlist(&call.state.db, &row.id, Some(playlist_name(name)?), None, None).await?;
            }
            row.id
        }
        None => {
            let name = playlist_name(call.params.required("name")?)?;
            likes::create_playlist(&call.state.db, &call.user.id, name, "", false)
                .await?
                .id
        }
    };
    add_songs(call, &id, &ids).await?;
    playlist_with_songs(call, &id).await
}

/// `updatePlaylist`: name, comment, public, songs added and songs removed
/// by their index (owner only).
pub async fn update_playlist(call: &Call) -> MethodResult {
    let row = own_playlist(call, call.params.required("playlistId")?).await?;
    let p = &call.params;
    let name = p.get("name").map(playlist_name).transpose()?;
    let comment = p
        .get("comment")
        .map(|c| crate::text::multi_line("description", c, crate::text::MAX_DESCRIPTION_CHARS))
        .transpose()?;
    likes::update_playlist(&call.state.db, &row.id, name, comment, p.bool("public")).await?;
    let positions = likes::positions(&call.state.db, &row.id).await?;
    let mut remove: Vec<usize> = Vec::new();
    for index in p.all("songIndexToRemove") {
        let i: usize = index
            .parse()
            .map_err(|_| SubsonicError::BadParameter("songIndexToRemove must be an index".into()))?;
        if i >= positions.len() {
            return Err(SubsonicError::NotFound("song index"));
        }
        remove.push(i);
    }
    for i in remove {
        likes::remove_track(&call.state.db, &row.id, &positions[i].1).await?;
    }
    add_songs(call, &row.id, &p.all("songIdToAdd")).await?;
    Ok(Reply::Payload(Node::body()))
}

pub async fn delete_playlist(call: &Call) -> MethodResult {
    let row = own_playlist(call, call.params.required("id")?).await?;
    likes::delete_playlist(&call.state.db, &row.id).await?;
    Ok(Reply::Payload(Node::body()))
}

pub async fn get_play_queue(call: &Call) -> MethodResult {
    let Some(row) = db::play_queue(&call.state.db, &call.user.id).await? else {
        return Ok(Reply::Payload(Node::body()));
    };
    let queue = super::keys::to_api(&row)?;
    let ids: Vec<&str> = queue.track_ids.iter().map(String::as_str).collect();
    let mut found = Vec::new();
    for chunk in ids.chunks(100) {
        found.extend(crate::db::tracks::find_many(&call.state.db, chunk).await?);
    }
    // In queue order; tracks deleted since drop out.
    let ordered: Vec<TrackRow> = ids
        .iter()
        .filter_map(|id| found.iter().find(|t| t.id == *id).cloned())
        .collect();
    let current = queue
        .current_index
        .and_then(|i| queue.track_ids.get(usize::try_from(i).ok()?));
    let entries = songs(call, "entry", &ordered).await?;
    one(Node::new("playQueue")
        .opt("current", current)
        .attr("position", i64::try_from(queue.position_ms).unwrap_or(0))
        .attr("username", &call.user.username)
        .attr("changed", date(row.changed_at))
        .attr("changedBy", &row.changed_by)
        .list("entry", entries))
}

pub async fn save_play_queue(call: &Call) -> MethodResult {
    let ids = call.params.all("id");
    let current = call.params.get("current");
    let current_index = match current {
        Some(c) => Some(
            ids.iter()
                .position(|id| *id == c)
                .ok_or_else(|| SubsonicError::BadParameter("current is not in the queue".into()))? as u64,
        ),
        None if ids.is_empty() => None,
        None => Some(0),
    };
    let position = call.params.int("position")?.unwrap_or(0).max(0);
    let client = call.params.get("c").unwrap_or("subsonic");
    let client = crate::text::line("c", client, 100)?;
    super::keys::save_queue(
        &call.state,
        &call.user.id,
        &ids,
        current_index,
        u64::try_from(position).unwrap_or(0),
        client,
    )
    .await?;
    Ok(Reply::Payload(Node::body()))
}

pub async fn get_now_playing(call: &Call) -> MethodResult {
    let now = call.state.clock.now_ms();
    let rows = db::now_playing(&call.state.db, now, quota::SESSION_IDLE_MS).await?;
    let ids: Vec<&str> = rows.iter().map(|r| r.track_id.as_str()).collect();
    let tracks = crate::db::tracks::find_many(&call.state.db, &ids).await?;
    let ann = db::annotations(&call.state.db, &call.user.id, &ids).await?;
    let entries = rows
        .iter()
        .filter_map(|r| {
            let track = tracks.iter().find(|t| t.id == r.track_id)?;
            Some(
                song("entry", track, &ann)
                    .attr("username", &r.username)
                    .attr("minutesAgo", (now - r.last_report_at).max(0) / 60_000)
                    .attr("playerId", 0i64),
            )
        })
        .collect();
    one(Node::new("nowPlaying").list("entry", entries))
}

/// The tracks nearest to `track` by embedding, nearest first, with their
/// cosine distances: the same query as `GET /api/v1/tracks/{id}/similar`.
async fn nearest(call: &Call, track: &TrackRow, count: usize) -> Result<Vec<(TrackRow, f32)>, SubsonicError> {
    let Some(stored) = embeddings::find(&call.state.db, &track.id).await? else {
        return Ok(Vec::new());
    };
    Ok(embeddings::nearest(
        &call.state.db,
        &call.state.cache.embeddings,
        &stored.embedding,
        Exclude::Track(&track.id),
        count,
    )
    .await?)
}

/// Similarity on the scale the extension asks for: 1 the same, 0 the most
/// different (cosine distance runs from 0 to 2).
fn similarity(distance: f32) -> f64 {
    (1.0 - f64::from(distance) / 2.0).clamp(0.0, 1.0)
}

/// `getSimilarSongs2` (an artist id, or a song id) / `getSimilarSongs`.
pub async fn get_similar_songs(call: &Call, element: &'static str) -> MethodResult {
    let id = call.params.required("id")?;
    let count = usize::try_from(call.params.count("count", 50, 100)?).unwrap_or(0);
    let seed = match crate::db::tracks::find(&call.state.db, id)
        .await?
        .filter(|t| t.status() == mist_core::api::TrackStatus::Ready)
    {
        Some(track) => Some(track),
        None => {
            let artist = albums::find_artist(&call.state.db, id).await?;
            let album = albums::find(&call.state.db, id).await?;
            match (artist, album) {
                (Some(a), _) => albums::top_tracks(&call.state.db, &a.id, 1).await?.into_iter().next(),
                (None, Some(a)) => albums::tracks(&call.state.db, &a.id).await?.into_iter().next(),
                (None, None) => return Err(SubsonicError::NotFound("song, album or artist")),
            }
        }
    };
    let rows: Vec<TrackRow> = match seed {
        Some(track) => nearest(call, &track, count)
            .await?
            .into_iter()
            .map(|(t, _)| t)
            .collect(),
        None => Vec::new(),
    };
    one(Node::new(element).list("song", songs(call, "song", &rows).await?))
}

/// `getTopSongs`: an artist's (by name) most played songs.
pub async fn get_top_songs(call: &Call) -> MethodResult {
    let name = call.params.required("artist")?;
    let count = call.params.count("count", 50, MAX_PAGE)?;
    let folded = albums::fold_key(name);
    let artist = albums::search_artists(&call.state.db, name, 50)
        .await?
        .into_iter()
        .find(|a| albums::fold_key(&a.name) == folded);
    let rows = match artist {
        Some(a) => albums::top_tracks(&call.state.db, &a.id, count).await?,
        None => Vec::new(),
    };
    one(Node::new("topSongs").list("song", songs(call, "song", &rows).await?))
}

fn sonic_matches(rows: &[(TrackRow, f64)], ann: &Annotations) -> Vec<Node> {
    rows.iter()
        .map(|(track, sim)| {
            Node::new("sonicMatch")
                .child(song("entry", track, ann))
                .attr("similarity", *sim)
        })
        .collect()
}

/// `getSonicSimilarTracks` (the `sonicSimilarity` extension): the order of
/// `GET /api/v1/tracks/{id}/similar`, with a similarity in 0..1.
pub async fn get_sonic_similar_tracks(call: &Call) -> MethodResult {
    let track = ready_track(call, call.params.required("id")?).await?;
    let count = usize::try_from(call.params.count("count", 10, 100)?).unwrap_or(0);
    let rows: Vec<(TrackRow, f64)> = nearest(call, &track, count)
        .await?
        .into_iter()
        .map(|(t, d)| (t, similarity(d)))
        .collect();
    let ids: Vec<&str> = rows.iter().map(|(t, _)| t.id.as_str()).collect();
    let ann = db::annotations(&call.state.db, &call.user.id, &ids).await?;
    Ok(Reply::Payload(
        Node::body().list("sonicMatch", sonic_matches(&rows, &ann)),
    ))
}

/// `findSonicPath`: `count` songs leading from one to the other, each the
/// nearest unused song to a point moved evenly between their embeddings.
pub async fn find_sonic_path(call: &Call) -> MethodResult {
    let start = ready_track(call, call.params.required("startSongId")?).await?;
    let end = ready_track(call, call.params.required("endSongId")?).await?;
    let count = usize::try_from(call.params.count("count", 25, 100)?).unwrap_or(0);
    let db_ = &call.state.db;
    let (Some(a), Some(b)) = (
        embeddings::find(db_, &start.id).await?,
        embeddings::find(db_, &end.id).await?,
    ) else {
        return Err(SubsonicError::NotFound("song features"));
    };
    let mut path: Vec<(TrackRow, f64)> = Vec::new();
    let mut used = std::collections::HashSet::from([start.id.clone(), end.id.clone()]);
    let steps = count.saturating_sub(1).max(1);
    for step in 1..count.saturating_sub(1).max(1) {
        let t = step as f32 / steps as f32;
        let mut point = a.embedding;
        for (p, (x, y)) in point.iter_mut().zip(a.embedding.iter().zip(b.embedding.iter())) {
            *p = x * (1.0 - t) + y * t;
        }
        let norm = point.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            point.iter_mut().for_each(|v| *v /= norm);
        }
        let candidates = embeddings::nearest(
            db_,
            &call.state.cache.embeddings,
            &point,
            Exclude::Track(&start.id),
            used.len() + 1,
        )
        .await?;
        if let Some((track, _)) = candidates.into_iter().find(|(t, _)| !used.contains(&t.id)) {
            used.insert(track.id.clone());
            path.push((track, 0.0));
        }
    }
    let mut rows = vec![(start.clone(), 1.0)];
    rows.extend(path);
    if count > 1 {
        rows.push((end.clone(), 0.0));
    }
    // Similarity to the start, as the extension defines it for paths.
    for (track, sim) in rows.iter_mut().skip(1) {
        if let Some(f) = embeddings::find(db_, &track.id).await? {
            let dot: f32 = f.embedding.iter().zip(a.embedding.iter()).map(|(x, y)| x * y).sum();
            *sim = similarity(1.0 - dot);
        }
    }
    rows.truncate(count);
    let ids: Vec<&str> = rows.iter().map(|(t, _)| t.id.as_str()).collect();
    let ann = db::annotations(db_, &call.user.id, &ids).await?;
    Ok(Reply::Payload(
        Node::body().list("sonicMatch", sonic_matches(&rows, &ann)),
    ))
}

/// `getLyricsBySongId` (the `songLyrics` extension): timed lines when the
/// file had them, else the plain words a line each.
pub async fn get_lyrics_by_song_id(call: &Call) -> MethodResult {
    let track = ready_track(call, call.params.required("id")?).await?;
    let (plain, timed) = albums::lyrics(&call.state.db, &track.id).await?;
    let timed: Vec<crate::ingest::library::StoredLine> = match timed {
        Some(json) => serde_json::from_str(&json).map_err(SubsonicError::internal)?,
        None => Vec::new(),
    };
    let lyrics = |synced: bool, lines: Vec<Node>| {
        Node::new("structuredLyrics")
            .attr("displayArtist", track.artist.clone().unwrap_or_default())
            .attr("displayTitle", &track.title)
            .attr("lang", "xxx")
            .attr("offset", 0i64)
            .attr("synced", synced)
            .list("line", lines)
    };
    let structured = if !timed.is_empty() {
        let lines = timed
            .into_iter()
            .map(|l| {
                Node::new("line")
                    .attr("start", i64::try_from(l.time_ms).unwrap_or(i64::MAX))
                    .text(l.text)
            })
            .collect();
        vec![lyrics(true, lines)]
    } else if let Some(plain) = plain.filter(|p| !p.trim().is_empty()) {
        vec![lyrics(
            false,
            plain.lines().map(|l| Node::new("line").text(l)).collect(),
        )]
    } else {
        Vec::new()
    };
    one(Node::new("lyricsList").list("structuredLyrics", structured))
}
