//! `mist tracks`, `mist similar TRACK_ID` and `mist quota`: read-only views of
//! the catalogue and the account, as tables or the API's own JSON.

use anyhow::Result;
use mist_core::api::{Quota, TrackQuery, TrackSort};
use mist_core::text::json_safe;

use super::search::track_table;
use crate::session::Settings;
use crate::session::login::{logged_in_client, stale_login};

#[derive(Debug, clap::Args)]
pub struct TracksArgs {
    /// Only this genre
    #[arg(long)]
    pub genre: Option<String>,
    /// Only this artist
    #[arg(long)]
    pub artist: Option<String>,
    /// Order: title, artist, newest or popular
    #[arg(long, value_parser = parse_sort)]
    pub sort: Option<TrackSort>,
    /// At most this many tracks (1–100)
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Print the API's JSON page
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct SimilarArgs {
    pub track_id: String,
    /// At most this many tracks (1–100)
    #[arg(long, default_value_t = 10)]
    pub limit: u32,
    /// Print the API's JSON page
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct QuotaArgs {
    /// Print the API's JSON object
    #[arg(long)]
    pub json: bool,
}

fn parse_sort(value: &str) -> Result<TrackSort, String> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|_| "expected relevance, title, artist, newest or popular".to_string())
}

pub async fn tracks(settings: &Settings, args: TracksArgs) -> Result<()> {
    let query = TrackQuery {
        genre: args.genre,
        artist: args.artist,
        sort: args.sort,
        limit: Some(args.limit),
        ..TrackQuery::default()
    };
    super::search::list_tracks(
        settings,
        &query,
        args.json,
        "no tracks yet; add some with `mist upload FILE`",
    )
    .await
}

pub async fn similar(settings: &Settings, args: SimilarArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    let page = client
        .similar(&args.track_id, Some(args.limit))
        .await
        .map_err(stale_login)?;
    if args.json {
        println!("{}", json_safe(&serde_json::to_string_pretty(&page)?));
    } else if page.items.is_empty() {
        eprintln!("no similar tracks yet");
    } else {
        let distances = page.items.iter().map(|s| format!("{:.3}", s.distance)).collect();
        let tracks: Vec<_> = page.items.into_iter().map(|s| s.track).collect();
        print!("{}", track_table(&tracks, Some(("DISTANCE", distances))));
    }
    Ok(())
}

pub async fn quota(settings: &Settings, args: QuotaArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    let quota = client.quota().await.map_err(stale_login)?;
    if args.json {
        println!("{}", json_safe(&serde_json::to_string_pretty(&quota)?));
    } else {
        println!("{}", describe(&quota));
    }
    Ok(())
}

fn describe(quota: &Quota) -> String {
    let plan = serde_json::to_value(quota.plan)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let resets = quota.resets_at.format("%Y-%m-%d %H:%M UTC");
    match (quota.limit_s, quota.remaining_s) {
        (Some(limit), Some(left)) => format!(
            "{plan} plan: {:.1} s of {limit:.0} s used today, {left:.1} s left; resets at {resets}",
            quota.used_s
        ),
        _ => format!("{plan} plan: unlimited ({:.1} s listened today)", quota.used_s),
    }
}
