//! `mist albums`, `mist album ID`, `mist artists` and `mist artist ID`: the
//! music library's albums and artists, as tables aligned by display width
//! (the track table's [`aligned`]) or the API's own JSON. Every cell came
//! from the server and is neutralised before it meets the terminal.

use anyhow::Result;
use mist_core::api::{Album, AlbumQuery, AlbumSort, Artist, Track, clock};
use mist_core::text::{json_safe, neutralise};

use super::search::{aligned, track_table};
use crate::session::Settings;
use crate::session::login::{logged_in_client, stale_login};

#[derive(Debug, clap::Args)]
pub struct AlbumsArgs {
    /// Order: newest, name, year, artist, most_played or recently_played
    #[arg(long, value_parser = parse_sort)]
    pub sort: Option<AlbumSort>,
    /// Only this artist's albums (its id or name, any case)
    #[arg(long)]
    pub artist: Option<String>,
    /// Only this genre
    #[arg(long)]
    pub genre: Option<String>,
    /// Only this year
    #[arg(long)]
    pub year: Option<i64>,
    /// At most this many albums (1–100)
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Print the API's JSON page
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct AlbumArgs {
    pub album_id: String,
    /// Print the API's JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ArtistsArgs {
    /// At most this many artists (1–100)
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Print the API's JSON page
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ArtistArgs {
    pub artist_id: String,
    /// Print the API's JSON object
    #[arg(long)]
    pub json: bool,
}

fn parse_sort(value: &str) -> Result<AlbumSort, String> {
    serde_json::from_value(serde_json::Value::String(value.replace('-', "_")))
        .map_err(|_| "expected newest, name, year, artist, most_played or recently_played".to_string())
}

pub async fn albums(settings: &Settings, args: AlbumsArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    let query = AlbumQuery {
        sort: args.sort,
        artist: args.artist,
        genre: args.genre,
        year: args.year,
        limit: Some(args.limit),
        cursor: None,
    };
    let page = client.albums(&query).await.map_err(stale_login)?;
    if args.json {
        println!("{}", json_safe(&serde_json::to_string_pretty(&page)?));
    } else if page.items.is_empty() {
        eprintln!("no albums found");
    } else {
        print!("{}", album_table(&page.items));
    }
    Ok(())
}

pub async fn album(settings: &Settings, args: AlbumArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    let album = client.album(&args.album_id).await.map_err(stale_login)?;
    if args.json {
        println!("{}", json_safe(&serde_json::to_string_pretty(&album)?));
        return Ok(());
    }
    println!("{}", album_heading(&album.album));
    print!("{}", numbered_tracks(&album.tracks));
    Ok(())
}

pub async fn artists(settings: &Settings, args: ArtistsArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    let page = client.artists(Some(args.limit), None).await.map_err(stale_login)?;
    if args.json {
        println!("{}", json_safe(&serde_json::to_string_pretty(&page)?));
    } else if page.items.is_empty() {
        eprintln!("no artists found");
    } else {
        print!("{}", artist_table(&page.items));
    }
    Ok(())
}

pub async fn artist(settings: &Settings, args: ArtistArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    let artist = client.artist(&args.artist_id).await.map_err(stale_login)?;
    if args.json {
        println!("{}", json_safe(&serde_json::to_string_pretty(&artist)?));
        return Ok(());
    }
    let a = &artist.artist;
    println!(
        "{}  ·  {}  ·  {}",
        neutralise(&a.name),
        count(a.album_count, "album"),
        count(a.track_count, "track")
    );
    if !artist.albums.is_empty() {
        println!();
        print!("{}", album_table(&artist.albums));
    }
    if !artist.top_tracks.is_empty() {
        println!("\nMost played");
        print!("{}", track_table(&artist.top_tracks, None));
    }
    Ok(())
}

/// `1 track`, `2 tracks`.
fn count(n: i64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Artists as aligned columns with a header.
pub(super) fn artist_table(artists: &[Artist]) -> String {
    let mut rows = vec![vec![
        "ID".to_string(),
        "ARTIST".into(),
        "ALBUMS".into(),
        "TRACKS".into(),
    ]];
    rows.extend(artists.iter().map(|a| {
        vec![
            neutralise(&a.id).into_owned(),
            neutralise(&a.name).into_owned(),
            a.album_count.to_string(),
            a.track_count.to_string(),
        ]
    }));
    aligned(&rows)
}

/// Albums as aligned columns with a header.
pub(super) fn album_table(albums: &[Album]) -> String {
    let mut rows = vec![vec![
        "ID".to_string(),
        "TITLE".into(),
        "ARTIST".into(),
        "YEAR".into(),
        "TRACKS".into(),
        "LENGTH".into(),
    ]];
    for album in albums {
        rows.push(vec![
            neutralise(&album.id).into_owned(),
            neutralise(&album.title).into_owned(),
            neutralise(album.artist.as_deref().unwrap_or_default()).into_owned(),
            album.year.map(|y| y.to_string()).unwrap_or_default(),
            album.track_count.to_string(),
            clock(album.duration_s),
        ]);
    }
    aligned(&rows)
}

/// `Title — Artist (year) · N tracks · length`.
fn album_heading(album: &Album) -> String {
    let mut line = album.title.clone();
    if let Some(artist) = &album.artist {
        line.push_str(" — ");
        line.push_str(artist);
    }
    if let Some(year) = album.year {
        line.push_str(&format!(" ({year})"));
    }
    line.push_str(&format!(
        " · {} · {}",
        count(album.track_count, "track"),
        clock(album.duration_s)
    ));
    neutralise(&line).into_owned()
}

/// An album's tracks in the server's (disc, track) order, numbered: `3`, or
/// `2-3` when the album has more than one disc.
fn numbered_tracks(tracks: &[Track]) -> String {
    let discs = tracks.iter().filter_map(|t| t.disc_number).max().unwrap_or(1);
    let mut rows = vec![vec![
        "#".to_string(),
        "TITLE".into(),
        "ARTIST".into(),
        "LENGTH".into(),
        "ID".into(),
    ]];
    for track in tracks {
        let number = match (track.disc_number, track.track_number) {
            (Some(disc), Some(n)) if discs > 1 => format!("{disc}-{n}"),
            (_, Some(n)) => n.to_string(),
            (_, None) => String::new(),
        };
        rows.push(vec![
            number,
            neutralise(&track.title).into_owned(),
            neutralise(track.artist.as_deref().unwrap_or_default()).into_owned(),
            clock(track.duration_s),
            neutralise(&track.id).into_owned(),
        ]);
    }
    aligned(&rows)
}
