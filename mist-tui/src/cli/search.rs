//! `mist search Q`: tracks, albums and artists matching `Q`
//! (`GET /api/v1/search`), or with `--genre` that genre's matching tracks
//! (`GET /api/v1/tracks`), as tables or the API's JSON; and the track table
//! other listings share, aligned by display width (a CJK character takes two
//! columns).

use anyhow::Result;
use mist_core::api::{Track, TrackQuery, clock};
use mist_core::text::{json_safe, neutralise};
use unicode_width::UnicodeWidthStr;

use crate::session::Settings;
use crate::session::login::{logged_in_client, stale_login};

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Words to look for in titles, artists, albums and genres (quotes are
    /// not needed); none with --genre lists the genre
    #[arg(required_unless_present = "genre")]
    pub query: Vec<String>,
    /// Only this genre
    #[arg(long)]
    pub genre: Option<String>,
    /// At most this many results (1–100)
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    /// Print the API's JSON (`{tracks, albums, artists}`; with --genre the
    /// tracks page)
    #[arg(long)]
    pub json: bool,
}

pub async fn search(settings: &Settings, args: SearchArgs) -> Result<()> {
    let words = args.query.join(" ");
    if args.genre.is_some() {
        let query = TrackQuery {
            q: (!words.trim().is_empty()).then_some(words),
            genre: args.genre,
            limit: Some(args.limit),
            ..TrackQuery::default()
        };
        return list_tracks(settings, &query, args.json, "no tracks found").await;
    }
    let client = logged_in_client(settings)?;
    let limit = u32::try_from(args.limit.clamp(1, 100)).unwrap_or(20);
    let found = client.search(&words, Some(limit)).await.map_err(stale_login)?;
    if args.json {
        println!("{}", json_safe(&serde_json::to_string_pretty(&found)?));
        return Ok(());
    }
    let mut sections = Vec::new();
    if !found.tracks.is_empty() {
        sections.push(("Tracks", track_table(&found.tracks, None)));
    }
    if !found.albums.is_empty() {
        sections.push(("Albums", super::albums::album_table(&found.albums)));
    }
    if !found.artists.is_empty() {
        sections.push(("Artists", super::albums::artist_table(&found.artists)));
    }
    match sections.as_slice() {
        [] => eprintln!("nothing found"),
        // Tracks alone read as the plain table scripts expect.
        [("Tracks", table)] => print!("{table}"),
        _ => {
            let shown: Vec<String> = sections
                .iter()
                .map(|(heading, table)| format!("{heading}\n{table}"))
                .collect();
            print!("{}", shown.join("\n"));
        }
    }
    Ok(())
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
    aligned(&rows)
}

/// Rows as columns two spaces apart, each padded to its widest cell as the
/// terminal shows it: by display width, not characters, so a row with
/// `夜に駆ける` (five characters, ten columns) lines up with the others.
pub fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.width())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(cell);
            line.push_str(&" ".repeat(width - cell.width() + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_by_display_width() {
        let rows: Vec<Vec<String>> = [
            ["TITLE", "ARTIST", "LENGTH"],
            ["夜に駆ける", "YOASOBI", "4:21"],
            ["Battle Music", "Ada", "2:42"],
            ["Café ☕", "Zoë", "1:00"],
        ]
        .iter()
        .map(|row| row.iter().map(|c| c.to_string()).collect())
        .collect();
        let table = aligned(&rows);
        let lines: Vec<&str> = table.lines().collect();
        // Each column starts at the same terminal column on every line.
        let column_of = |line: &str, cell: &str| line[..line.find(cell).expect(cell)].width();
        assert_eq!(column_of(lines[0], "ARTIST"), column_of(lines[1], "YOASOBI"));
        assert_eq!(column_of(lines[1], "YOASOBI"), column_of(lines[2], "Ada"));
        assert_eq!(column_of(lines[2], "Ada"), column_of(lines[3], "Zoë"));
        assert_eq!(column_of(lines[0], "LENGTH"), column_of(lines[1], "4:21"));
        assert_eq!(column_of(lines[1], "4:21"), column_of(lines[3], "1:00"));
        assert_eq!(lines[2], "Battle Music  Ada      2:42");
    }
}
