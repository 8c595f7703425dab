//! `mist play TRACK`: streams one track to the `--audio` output without a
//! UI, through the engine in `mist_core::player`. TRACK is an id, or words
//! (`mist play battle music`): the one track they match plays; when several
//! do, `mist` asks which (on a terminal) or lists them with their ids.
//!
//! Progress goes to stderr (rendition changes, skipped segments, time to first
//! audio, and on a terminal the playhead with what the quota leaves today,
//! live from the key answers); stdout gets one summary line at the end. Ctrl-C
//! stops playback and still completes the session, so the listening is
//! counted. A quota that runs out stops playback, with exit 1, once the audio
//! already unlocked is played; a server that stays unreachable stops it at once.

use std::io::{BufRead, IsTerminal, Write};
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use mist_core::api::{Track, TrackQuery, clock};
use mist_core::client::Client;
use mist_core::player::{Event, Playback, PlayerError, PlayerOptions, Quality};
use mist_core::text::neutralise;

use super::search::aligned;
use crate::audio::Output;
use crate::session::Settings;
use crate::session::login::{logged_in_client, stale_login};

/// Search results weighed when TRACK is words.
const CANDIDATES: i64 = 10;

#[derive(Debug, clap::Args)]
pub struct PlayArgs {
    /// The track: its id (see `mist search`), or words from its title,
    /// artist or album (no quotes needed)
    #[arg(required = true, value_name = "TRACK")]
    pub track: Vec<String>,
    /// Which rendition: auto (by measured download rate), low, normal or high
    #[arg(long, default_value = "auto", value_name = "QUALITY")]
    pub quality: Quality,
    /// Testing: from segment SEG on, play at QUALITY (e.g. `2:high`)
    #[arg(long, hide = true, value_name = "SEG:QUALITY")]
    pub quality_switch_at: Option<SwitchAt>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchAt {
    segment: usize,
    quality: Quality,
}

impl FromStr for SwitchAt {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (segment, quality) = s.split_once(':').ok_or("expected SEG:QUALITY, e.g. 2:high")?;
        Ok(SwitchAt {
            segment: segment
                .parse()
                .map_err(|_| format!("{segment:?} is not a segment number"))?,
            quality: quality.parse()?,
        })
    }
}

pub async fn play(settings: &Settings, args: PlayArgs) -> Result<()> {
    let client = logged_in_client(settings)?;
    let track = find_track(&client, &args.track).await?;
    let options = PlayerOptions {
        quality: args.quality,
        switch_at: args.quality_switch_at.map(|s| (s.segment, s.quality)),
        ..PlayerOptions::default()
    };
    let mut output = Output::open(&settings.audio)?;
    let started = Instant::now();
    let mut playback = Playback::start(client, &track.id, options).await?;
    eprintln!(
        "playing {} ({}) to {}",
        describe(&track.title, track.artist.as_deref()),
        clock(track.duration_s),
        settings.audio
    );

    let mut heard_s = 0.0;
    let mut shown = Position::new(track.duration_s);
    let outcome = {
        let listening = listen(&mut playback, &mut output, started, &mut heard_s, &mut shown);
        tokio::select! {
            outcome = listening => outcome,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("stopped");
                Ok(())
            }
        }
    };
    shown.clear();
    output.finish().await?;
    // A failed engine has nothing left to report; anything else completes the
    // session so the listening counts. A spent quota leaves the engine up
    // (what was unlocked was played first), so its session is completed too.
    if let Err(error) = outcome {
        if matches!(error.downcast_ref(), Some(PlayerError::QuotaExceeded { .. })) {
            let _ = playback.finish().await;
        }
        return Err(error);
    }
    let finished = playback.finish().await?;
    let left = match finished.quota.remaining_s {
        Some(left) => format!("{left:.1} s of today's quota left"),
        None => "unlimited plan".to_string(),
    };
    println!(
        "played {} of {} ({left})",
        clock(heard_s),
        describe(&track.title, track.artist.as_deref())
    );
    Ok(())
}

/// The track `words` name: an id as it is, else the one search result they
/// match (see [`best_match`]); with several, the listener picks one.
async fn find_track(client: &Client, words: &[String]) -> Result<Track> {
    let text = words.join(" ");
    if words.len() == 1 && looks_like_id(&text) {
        return client.track(&text).await.map_err(stale_login);
    }
    let query = TrackQuery {
        q: Some(text.clone()),
        limit: Some(CANDIDATES),
        ..TrackQuery::default()
    };
    let found = client.tracks(&query).await.map_err(stale_login)?.items;
    match best_match(&text, found) {
        Match::One(track) => Ok(*track),
        Match::None => bail!("no track matches “{text}” (see `mist search`)"),
        Match::Several(tracks) => choose(&text, tracks),
    }
}

/// Track ids are 32 hex digits; no title is.
fn looks_like_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[derive(Debug)]
enum Match {
    None,
    One(Box<Track>),
    Several(Vec<Track>),
}

/// Which of the search results (best first) `text` means: the only one, or
/// the only one whose title is `text` (ignoring case and spacing); else it
/// is not for `mist` to guess.
fn best_match(text: &str, mut found: Vec<Track>) -> Match {
    let plain = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let wanted = plain(text);
    let titled: Vec<usize> = (0..found.len()).filter(|&i| plain(&found[i].title) == wanted).collect();
    match (found.len(), titled.as_slice()) {
        (0, _) => Match::None,
        (1, _) => Match::One(Box::new(found.remove(0))),
        (_, [only]) => Match::One(Box::new(found.remove(*only))),
        _ => Match::Several(found),
    }
}

/// Several tracks match: on a terminal, ask which; otherwise list them with
/// their ids and stop, since a script cannot answer.
fn choose(text: &str, tracks: Vec<Track>) -> Result<Track> {
    let mut rows = vec![vec![
        "#".to_string(),
        "ID".into(),
        "TITLE".into(),
        "ARTIST".into(),
        "LENGTH".into(),
    ]];
    for (i, track) in tracks.iter().enumerate() {
        rows.push(vec![
            (i + 1).to_string(),
            neutralise(&track.id).into_owned(),
            neutralise(&track.title).into_owned(),
            neutralise(track.artist.as_deref().unwrap_or_default()).into_owned(),
            clock(track.duration_s),
        ]);
    }
    eprintln!("{} tracks match “{}”:", tracks.len(), neutralise(text));
    eprint!("{}", aligned(&rows));
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        bail!("several tracks match “{text}”; play one by its id (`mist play ID`) or with more words");
    }
    eprint!("play which (1–{}; Enter for none)? ", tracks.len());
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    let chosen = answer.trim().parse::<usize>().ok().and_then(|n| n.checked_sub(1));
    match chosen.and_then(|i| tracks.into_iter().nth(i)) {
        Some(track) => Ok(track),
        None => bail!("nothing chosen"),
    }
}

/// Plays events until the track ends; `heard_s` follows the playhead.
async fn listen(
    playback: &mut Playback,
    output: &mut Output,
    started: Instant,
    heard_s: &mut f64,
    shown: &mut Position,
) -> Result<()> {
    let mut rendition: Option<String> = None;
    let mut first_audio = true;
    loop {
        let Some(event) = playback.next_event().await else {
            return Err(playback.abort_reason().unwrap_or(PlayerError::Stopped).into());
        };
        match event {
            Event::Audio(chunk) => {
                if first_audio {
                    first_audio = false;
                    shown.clear();
                    eprintln!("first audio after {} ms", started.elapsed().as_millis());
                }
                if rendition.as_deref() != Some(chunk.rendition.as_str()) {
                    shown.clear();
                    // Rendition names come from the server's master playlist.
                    let name = neutralise(&chunk.rendition);
                    if rendition.is_some() {
                        eprintln!("switched to {name} at segment {}", chunk.segment);
                    } else {
                        eprintln!("rendition {name}");
                    }
                    rendition = Some(chunk.rendition.clone());
                    shown.rendition = name.into_owned();
                }
                shown.left = left_today(&playback.quota());
                play_samples(playback, output, chunk.start_s, &chunk.samples, heard_s, shown).await?;
            }
            Event::SegmentFailed {
                segment,
                duration_s,
                reason,
            } => {
                shown.clear();
                eprintln!(
                    "mist: segment {segment} skipped (silence instead): {}",
                    neutralise(&reason.to_string())
                );
                let frames = (duration_s * f64::from(mist_core::audio::SAMPLE_RATE)) as usize;
                let silence = vec![0.0; frames * 2];
                play_samples(playback, output, *heard_s, &silence, heard_s, shown).await?;
            }
            Event::Seeked { start_s, .. } => *heard_s = start_s,
            Event::Ended => return Ok(()),
            Event::Failed(error) => return Err(error.into()),
        }
    }
}

/// Plays `samples` starting at `start_s`, stopping at once if the engine
/// gave up (quota, network).
async fn play_samples(
    playback: &Playback,
    output: &mut Output,
    start_s: f64,
    samples: &[f32],
    heard_s: &mut f64,
    shown: &mut Position,
) -> Result<()> {
    if let Some(reason) = playback.abort_reason() {
        bail!(reason);
    }
    output
        .play(samples, |s| {
            *heard_s = start_s + s;
            playback.set_position(*heard_s);
            shown.show(*heard_s);
            playback.abort_reason().is_none()
        })
        .await
        .context("cannot play")?;
    match playback.abort_reason() {
        Some(reason) => Err(reason.into()),
        None => Ok(()),
    }
}

/// The playhead on stderr (`0:12 / 3:20  128k`), rewritten in place once a
/// second; only when stderr is a terminal, so logs and tests get plain lines.
struct Position {
    duration_s: f64,
    rendition: String,
    /// `4:50 left today`, from the server's latest answer.
    left: String,
    last: Option<u64>,
    enabled: bool,
}

impl Position {
    fn new(duration_s: f64) -> Position {
        Position {
            duration_s,
            rendition: String::new(),
            left: String::new(),
            last: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, position_s: f64) {
        let second = position_s as u64;
        if !self.enabled || self.last == Some(second) {
            return;
        }
        self.last = Some(second);
        let mut stderr = std::io::stderr();
        let _ = write!(
            stderr,
            "\r{} / {}  {}  {}\x1b[K",
            clock(position_s),
            clock(self.duration_s),
            self.rendition,
            self.left
        );
        let _ = stderr.flush();
    }

    /// Ends the position line so a message can follow.
    fn clear(&mut self) {
        if self.enabled && self.last.take().is_some() {
            eprintln!();
        }
    }
}

/// What the quota leaves today, for the position line.
fn left_today(quota: &mist_core::api::Quota) -> String {
    match quota.remaining_s {
        Some(left) => format!("{} left today", clock(left.floor())),
        None => String::new(),
    }
}

/// Title and artist came from the server: neutralised for the terminal.
fn describe(title: &str, artist: Option<&str>) -> String {
    let text = match artist {
        Some(artist) => format!("{title} by {artist}"),
        None => title.to_string(),
    };
    neutralise(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titled(titles: &[&str]) -> Vec<Track> {
        titles
            .iter()
            .enumerate()
            .map(|(i, title)| {
                serde_json::from_value(serde_json::json!({
                    "id": format!("t{i}"), "title": title, "duration_s": 60.0, "status": "ready",
                    "uploader_id": "u1", "play_count": 0,
                    "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
                }))
                .expect("a track")
            })
            .collect()
    }

    fn picked(text: &str, titles: &[&str]) -> Option<String> {
        match best_match(text, titled(titles)) {
            Match::One(track) => Some(track.title),
            Match::None | Match::Several(_) => None,
        }
    }

    #[test]
    fn words_pick_the_one_track_they_name() {
        assert_eq!(
            picked("battle music", &["Battle Music"]).as_deref(),
            Some("Battle Music")
        );
        // The exact title wins over tracks that merely contain the words.
        assert_eq!(
            picked(
                "battle  MUSIC",
                &["Battle Music Reprise", "Battle Music", "Music for a Battle"]
            )
            .as_deref(),
            Some("Battle Music")
        );
        // Several and none named exactly: not mist's to guess.
        assert!(matches!(
            best_match("battle", titled(&["Battle Music", "Battle Hymn"])),
            Match::Several(tracks) if tracks.len() == 2
        ));
        assert!(matches!(
            best_match("battle music", titled(&["Battle Music", "battle music"])),
            Match::Several(_)
        ));
        assert!(matches!(best_match("nothing", Vec::new()), Match::None));
        assert!(looks_like_id("0190a1b2c3d4e5f60718293a4b5c6d7e"));
        assert!(!looks_like_id("battle"));
    }

    #[test]
    fn switch_points_parse() {
        assert_eq!(
            "2:high".parse::<SwitchAt>(),
            Ok(SwitchAt {
                segment: 2,
                quality: Quality::High
            })
        );
        assert!("high".parse::<SwitchAt>().is_err());
        assert!("x:low".parse::<SwitchAt>().is_err());
        assert!("1:best".parse::<SwitchAt>().is_err());
    }
}
