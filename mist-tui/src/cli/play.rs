//! `mist play TRACK_ID`: streams one track to the `--audio` output without a
//! UI, through the engine in `mist_core::player`.
//!
//! Progress goes to stderr (rendition changes, skipped segments, time to first
//! audio, and on a terminal the playhead with what the quota leaves today,
//! live from the key answers); stdout gets one summary line at the end. Ctrl-C
//! stops playback and still completes the session, so the listening is
//! counted. A quota that runs out stops playback, with exit 1, once the audio
//! already unlocked is played; a server that stays unreachable stops it at once.

use std::io::{IsTerminal, Write};
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use mist_core::player::{Event, Playback, PlayerError, PlayerOptions, Quality};

use super::Settings;
use super::auth::{logged_in_client, stale_login};
use crate::audio::Output;

#[derive(Debug, clap::Args)]
pub struct PlayArgs {
    /// The track's id (see `mist search` or `mist tracks`)
    pub track_id: String,
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
    let track = client.track(&args.track_id).await.map_err(stale_login)?;
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
                    if rendition.is_some() {
                        eprintln!("switched to {} at segment {}", chunk.rendition, chunk.segment);
                    } else {
                        eprintln!("rendition {}", chunk.rendition);
                    }
                    rendition = Some(chunk.rendition.clone());
                }
                shown.rendition = chunk.rendition.clone();
                shown.left = left_today(&playback.quota());
                play_samples(playback, output, chunk.start_s, &chunk.samples, heard_s, shown).await?;
            }
            Event::SegmentFailed {
                segment,
                duration_s,
                reason,
            } => {
                shown.clear();
                eprintln!("mist: segment {segment} skipped (silence instead): {reason}");
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

fn describe(title: &str, artist: Option<&str>) -> String {
    match artist {
        Some(artist) => format!("{title} by {artist}"),
        None => title.to_string(),
    }
}

/// `m:ss`.
pub fn clock(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    format!("{}:{:02}", total / 60, total % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn clocks_read_as_minutes_and_seconds() {
        assert_eq!(clock(0.0), "0:00");
        assert_eq!(clock(20.4), "0:20");
        assert_eq!(clock(301.0), "5:01");
    }
}
