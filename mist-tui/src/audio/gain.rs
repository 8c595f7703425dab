//! ReplayGain: how loud to play a track so that every track (or every album)
//! sounds equally loud, from the loudness the server measured at ingest
//! (`Track::track_gain_db`, `track_peak`, `album_gain_db`, `album_peak`:
//! ReplayGain 2.0, reference −18 LUFS).
//!
//! The gain never makes the stored (true) peak clip: when the gain would
//! push the peak past full scale it is lowered to put the peak at full scale.
//! Tracks measured before loudness existed (no fields) play as mastered.
//! The user's volume is applied on top, apart from this.

use std::fmt;
use std::str::FromStr;

use mist_core::api::Track;

/// Which gain to apply (`replaygain` in `config.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GainMode {
    /// The album's gain while an album plays through (the track before or
    /// after it in the queue is of the same album), else the track's: an
    /// album keeps its quiet and loud songs, a mixed queue is evened out.
    #[default]
    Auto,
    Track,
    Album,
    Off,
}

impl FromStr for GainMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(GainMode::Auto),
            "track" => Ok(GainMode::Track),
            "album" => Ok(GainMode::Album),
            "off" => Ok(GainMode::Off),
            _ => Err("expected auto, track, album or off".into()),
        }
    }
}

impl fmt::Display for GainMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GainMode::Auto => "auto",
            GainMode::Track => "track",
            GainMode::Album => "album",
            GainMode::Off => "off",
        })
    }
}

/// The linear factor to multiply `track`'s samples by. `in_album`: the
/// track is played as part of its album (what [`GainMode::Auto`] follows).
pub fn track_gain(mode: GainMode, track: &Track, in_album: bool) -> f32 {
    let album = (track.album_gain_db, track.album_peak);
    let single = (track.track_gain_db, track.track_peak);
    let (gain_db, peak) = match mode {
        GainMode::Off => return 1.0,
        GainMode::Track => single,
        GainMode::Album => album,
        GainMode::Auto if in_album => album,
        GainMode::Auto => single,
    };
    // An album not measured yet: the track's own is closer than nothing.
    let (gain_db, peak) = match (gain_db, mode) {
        (None, GainMode::Album | GainMode::Auto) => single,
        _ => (gain_db, peak),
    };
    gain(gain_db, peak)
}

/// `gain_db` as a linear factor, lowered so that `peak` (linear) does not
/// pass full scale. Values that are not numbers count as absent.
pub fn gain(gain_db: Option<f64>, peak: Option<f64>) -> f32 {
    let Some(gain_db) = gain_db.filter(|g| g.is_finite()) else {
        return 1.0;
    };
    // A gain beyond ±60 dB is no measurement of music: bound what a server sends.
    let mut linear = 10f64.powf(gain_db.clamp(-60.0, 60.0) / 20.0);
    if let Some(peak) = peak.filter(|p| p.is_finite() && *p > 0.0)
        && peak * linear > 1.0
    {
        linear = 1.0 / peak;
    }
    linear as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f64) -> bool {
        (f64::from(a) - b).abs() < 1e-6
    }

    #[test]
    fn decibels_become_factors_and_the_peak_is_never_pushed_past_full_scale() {
        let check = |gain_db, peak, expected: f64| {
            let got = gain(gain_db, peak);
            assert!(close(got, expected), "{gain_db:?} {peak:?}: {got} not {expected}");
        };
        check(None, None, 1.0);
        check(None, Some(0.5), 1.0);
        check(Some(0.0), Some(1.2), 1.0 / 1.2); // already clipping: brought back to full scale
        check(Some(-6.0), Some(1.0), 10f64.powf(-6.0 / 20.0));
        check(Some(-20.0), None, 0.1);
        check(Some(6.0), Some(0.25), 10f64.powf(6.0 / 20.0)); // 0.25 × 1.995 < 1
        check(Some(6.0), Some(0.8), 1.0 / 0.8); // would clip: the peak lands at 1.0
        check(Some(12.0), Some(0.0), 10f64.powf(12.0 / 20.0)); // a zero peak is no peak
        check(Some(f64::NAN), Some(0.5), 1.0);
        check(Some(f64::INFINITY), None, 1.0);
        check(Some(500.0), None, 1000.0); // bounded at +60 dB
        check(Some(-500.0), Some(f64::NAN), 0.001);
    }

    fn track(track_gain: Option<f64>, album_gain: Option<f64>) -> Track {
        serde_json::from_value(serde_json::json!({
            "id": "t", "title": "T", "artist": null, "album": null, "genre": null,
            "duration_s": 1.0, "status": "ready", "master_url": null, "uploader_id": "u",
            "play_count": 0, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "track_gain_db": track_gain, "track_peak": 0.1,
            "album_gain_db": album_gain, "album_peak": 0.1,
        }))
        .expect("a track")
    }

    #[test]
    fn the_mode_picks_the_track_or_the_album_gain() {
        let t = track(Some(-6.0), Some(-12.0));
        let db = |db: f64| 10f64.powf(db / 20.0);
        assert!(close(track_gain(GainMode::Off, &t, true), 1.0));
        assert!(close(track_gain(GainMode::Track, &t, true), db(-6.0)));
        assert!(close(track_gain(GainMode::Album, &t, false), db(-12.0)));
        assert!(close(track_gain(GainMode::Auto, &t, false), db(-6.0)));
        assert!(close(track_gain(GainMode::Auto, &t, true), db(-12.0)));
        let unmeasured_album = track(Some(-6.0), None);
        assert!(close(track_gain(GainMode::Album, &unmeasured_album, true), db(-6.0)));
        let unmeasured = track(None, None);
        assert!(close(track_gain(GainMode::Auto, &unmeasured, true), 1.0));
    }

    #[test]
    fn modes_read_from_the_config_words() {
        for mode in [GainMode::Auto, GainMode::Track, GainMode::Album, GainMode::Off] {
            assert_eq!(mode.to_string().parse::<GainMode>(), Ok(mode));
        }
        assert!("loud".parse::<GainMode>().is_err());
    }
}
