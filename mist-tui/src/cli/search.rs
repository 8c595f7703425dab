//! `mist search Q`: full-text search over the catalogue, as a table or the
//! API's JSON page; and the track table other listings share.

use anyhow::Result;
use mist_core::api::{Track, TrackQuery};
use mist_core::text::{json_safe, neutralise};

use super::Settings;
use super::auth::{logged_in_client, stale_login};
use super::play::clock;

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Words to look for in titles, artists, albums and genres
    pub query: String,
    /// Only this genre
    #[arg(long)]
    pub genre: Option<String>,
    /// At most this many results (1–100)
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    /// Print the API's JSON page
    #[arg(long)]
    pub json: bool,
}

pub async fn search(settings: &Settings, args: SearchArgs) -> Result<()> {
    let query = TrackQuery {
        q: Some(args.query),
        genre: args.genre,
        limit: Some(args.limit),
        ..TrackQuery::default()
    };
    list_tracks(settings, &query, args.json, "no tracks found").await
}

/// Lists one page of `GET /api/v1/tracks` as a table, or as the API's JSON.
pub async fn list_tracks(settings: &Settings, query: &TrackQuery, json: bool, when_empty: &str) -> Result<()> {
    let client = logged_in_client(settings)?;
    let page = client.tracks(query).await.map_err(stale_login)?;
    if json {
        println!("{}", json_safe(&serde_json::to_string_pretty(&page)?));
    } else if page.items.is_empty() {
        eprintln!("{when_empty}");
    } else {
        print!("{}", track_table(&page.items, None));
    }
    Ok(())
}

/// Tracks as aligned columns with a header; `extra` adds a last column
/// (`(heading, value per track)`).
pub fn track_table(tracks: &[Track], extra: Option<(&str, Vec<String>)>) -> String {
    let mut rows = vec![vec![
        "ID".to_string(),
        "TITLE".into(),
        "ARTIST".into(),
        "ALBUM".into(),
        "GENRE".into(),
        "LENGTH".into(),
    ]];
    if let Some((heading, _)) = &extra {
        rows[0].push(heading.to_string());
    }
    for (i, track) in tracks.iter().enumerate() {
        // Every cell came from the server: neutralised before it meets the terminal.
        let shown = |s: &str| neutralise(s).into_owned();
        let mut row = vec![
            shown(&track.id),
            shown(&track.title),
            shown(track.artist.as_deref().unwrap_or_default()),
            shown(track.album.as_deref().unwrap_or_default()),
            shown(track.genre.as_deref().unwrap_or_default()),
            clock(track.duration_s),
        ];
        if let Some((_, values)) = &extra {
            row.push(shown(values.get(i).map(String::as_str).unwrap_or_default()));
        }
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
