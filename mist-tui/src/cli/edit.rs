//! `mist edit ID …` and `mist rm ID…`: the uploader (or an admin) changes a
//! track's fields and cover, or deletes tracks. Album fields (album artist,
//! year, genre) apply to the album; a track left alone on its album takes the
//! album with it when deleted (the server's rules, docs/api.md).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use mist_core::api::UpdateTrackRequest;
use mist_core::text::{json_safe, neutralise};

use super::search::track_table;
use crate::session::Settings;
use crate::session::login::{logged_in_client, stale_login};

/// Largest picture `--cover` sends: the server refuses more (413).
const MAX_COVER_FILE: u64 = 16 * 1024 * 1024;

#[derive(Debug, clap::Args)]
pub struct EditArgs {
    pub track_id: String,
    #[arg(long)]
    pub title: Option<String>,
    /// An empty value clears the field (as for --album, --genre, --album-artist, --composer)
    #[arg(long)]
    pub artist: Option<String>,
    #[arg(long)]
    pub album: Option<String>,
    #[arg(long)]
    pub genre: Option<String>,
    /// Moves the track to the album of this album artist and its album title
    #[arg(long)]
    pub album_artist: Option<String>,
    /// 1–999; 0 clears
    #[arg(long = "track")]
    pub track_number: Option<i64>,
    /// 1–99; 0 clears
    #[arg(long = "disc")]
    pub disc_number: Option<i64>,
    /// 1000–2999; 0 clears (applies to the album too)
    #[arg(long)]
    pub year: Option<i64>,
    #[arg(long)]
    pub composer: Option<String>,
    /// A picture file to become the track's and its album's cover
    #[arg(long, value_name = "IMAGE")]
    pub cover: Option<PathBuf>,
    /// Print the track as the API returns it
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Tracks to delete
    #[arg(required = true, value_name = "TRACK_ID")]
    pub track_ids: Vec<String>,
}

pub async fn edit(settings: &Settings, args: EditArgs) -> Result<()> {
    let update = UpdateTrackRequest {
        title: args.title,
        artist: args.artist,
        album: args.album,
        genre: args.genre,
        album_artist: args.album_artist,
        track_number: args.track_number,
        disc_number: args.disc_number,
        year: args.year,
        composer: args.composer,
    };
    let changes_fields = serde_json::to_value(&update)?
        .as_object()
        .is_some_and(|fields| !fields.is_empty());
    if !changes_fields && args.cover.is_none() {
        bail!(
            "nothing to change: give at least one of --title, --artist, --album, --genre, --album-artist, --track, --disc, --year, --composer or --cover"
        );
    }
    // Read before anything changes, so a missing file changes nothing.
    let picture = match &args.cover {
        Some(path) => Some(read_picture(path)?),
        None => None,
    };
    let client = logged_in_client(settings)?;
    if changes_fields {
        client
            .update_track(&args.track_id, &update)
            .await
            .map_err(stale_login)?;
    }
    if let Some(picture) = picture {
        client
            .put_track_cover(&args.track_id, picture)
            .await
            .map_err(stale_login)?;
    }
    let track = client.track(&args.track_id).await.map_err(stale_login)?;
    if args.json {
        println!("{}", json_safe(&serde_json::to_string_pretty(&track)?));
    } else {
        print!("{}", track_table(std::slice::from_ref(&track), None));
    }
    Ok(())
}

fn read_picture(path: &std::path::Path) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > MAX_COVER_FILE {
        bail!(
            "{} is {} MiB; a cover may be at most {} MiB",
            path.display(),
            size / (1024 * 1024),
            MAX_COVER_FILE / (1024 * 1024)
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Deletes each track in turn; goes on past a failure and reports every one.
pub async fn rm(settings: &Settings, args: RmArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    let mut failures = Vec::new();
    for id in &args.track_ids {
        match client.delete_track(id).await {
            Ok(()) => println!("{}  deleted", neutralise(id)),
            Err(error) if error.is_unauthorized() => return Err(stale_login(error)),
            Err(error) => failures.push(format!("{id}: {error}")),
        }
    }
    match failures.len() {
        0 => Ok(()),
        _ => bail!("{}", neutralise(&failures.join("; "))),
    }
}
