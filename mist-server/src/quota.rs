//! The daily listening quota and the rules that make the server, not the
//! client, its enforcer. docs/quota.md explains the threat model.
//!
//! - The quota charges what a free account can **decrypt**: the first time on
//!   a UTC day a user is given a key of a track, the audio that key covers
//!   ([`key_charge_ms`]) is added to the day's usage, atomically with the
//!   check of what remains (`db::sessions::unlock_key`). Asking again for a
//!   key charged today is free. So whatever a client reports, the keys it
//!   holds cover at most the daily limit plus one key period.
//! - Keys are given to a limited plan only under an open session whose
//!   reported playhead is in the key's period or the one before
//!   ([`key_in_window`]), so an honest player is charged for what it is about
//!   to play, not for what it could prefetch.
//! - Sessions end: on completion, when the user opens more than the cap
//!   (the oldest is closed), and after [`SESSION_IDLE_MS`] without a report.
//! - Reports (heartbeats) count listening for history and plays, from
//!   monotonic progress no faster than the clock (`db::sessions::report`);
//!   they no longer touch the limit.
//! - Opening sessions, reporting and asking for keys are rate limited per
//!   user ([`PlaybackLimits`]).
//! - Days are UTC.
//!
//! The arithmetic that must be atomic lives in the database statements
//! (`db::sessions`); this module holds the rules as plain functions.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use mist_core::api::{Plan, Quota, Role};

use crate::config::Settings;

/// Slack on "no more progress than wall-clock time": network jitter between
/// reports, and a client's clock ticking slightly fast.
pub const TOLERANCE_MS: i64 = 2_000;

/// A session with no report for this long is over: it gives no keys and
/// takes no reports. A player reports every 10 s, paused or not.
pub const SESSION_IDLE_MS: i64 = 120_000;

/// A user and track count at most one play in this long.
pub const PLAY_EVERY_MS: i64 = 3_600_000;

/// Milliseconds of audio in a key period of `segments_per_key` nominal
/// segments ([`mist_core::hls::SEGMENT_FRAMES`] MP3 frames of 1152 samples).
///
/// Segment boundaries may move up to `MAX_BOUNDARY_SHIFT` frames later (the
/// segmenter does so, rarely, where a frame cannot start a segment), so real
/// keys start at or after their nominal start: the window below allows for
/// that, and the last key is charged what is left of the track.
pub fn key_period_ms(segments_per_key: i64) -> i64 {
    let samples = segments_per_key.max(1) * mist_core::hls::SEGMENT_FRAMES as i64 * 1152;
    samples * 1000 / i64::from(mist_core::audio::SAMPLE_RATE)
}

/// The key period of new ingests (one segment, ~6 s).
pub fn new_key_period_ms() -> i64 {
    key_period_ms(mist_core::hls::SEGMENTS_PER_KEY as i64)
}

/// Milliseconds of audio key `k` of a track decrypts: one period, or what is
/// left of the track for its last key.
pub fn key_charge_ms(k: i64, key_count: i64, period_ms: i64, duration_ms: i64) -> i64 {
    if k + 1 >= key_count {
        (duration_ms - k * period_ms).max(0)
    } else {
        period_ms
    }
}

/// Whether key `k` may be given to a session whose playhead is at
/// `position_ms`: once the playhead is in key `k − 1`'s period (so a player
/// fetches the next key while the current one plays) and until it has left
/// key `k + 1`'s (seeking back a little, or boundaries a segment late).
pub fn key_in_window(k: i64, position_ms: i64, period_ms: i64) -> bool {
    let start = k * period_ms;
    start - period_ms <= position_ms && position_ms < start + 2 * period_ms
}

/// Whether a user of this plan and role listens without a daily limit.
pub fn unlimited(plan: Plan, role: Role) -> bool {
    plan == Plan::Premium || role == Role::Admin
}

/// The user's daily limit in milliseconds; `None` when unlimited.
pub fn limit_ms(plan: Plan, role: Role, free_daily_seconds: u64) -> Option<i64> {
    (!unlimited(plan, role)).then(|| i64::try_from(free_daily_seconds.saturating_mul(1000)).unwrap_or(i64::MAX))
}

/// The UTC day of a moment, as stored in `daily_usage.day`.
pub fn day_of(ms: i64) -> String {
    crate::clock::ms_to_datetime(ms).format("%Y-%m-%d").to_string()
}

/// The next UTC midnight after `ms`.
pub fn resets_at(ms: i64) -> DateTime<Utc> {
    let now = crate::clock::ms_to_datetime(ms);
    let tomorrow = now.date_naive() + Duration::days(1);
    Utc.from_utc_datetime(&tomorrow.and_time(NaiveTime::MIN))
}

/// The quota as the API shows it. `used_ms` is the audio unlocked today.
pub fn quota(plan: Plan, role: Role, used_ms: i64, free_daily_seconds: u64, now_ms: i64) -> Quota {
    let used_s = used_ms as f64 / 1000.0;
    let (limit_s, remaining_s) = if unlimited(plan, role) {
        (None, None)
    } else {
        let limit = free_daily_seconds as f64;
        (Some(limit), Some((limit - used_s).max(0.0)))
    };
    Quota {
        plan,
        limit_s,
        used_s,
        remaining_s,
        resets_at: resets_at(now_ms),
    }
}

/// Whether the quota leaves nothing to unlock today.
pub fn exhausted(quota: &Quota) -> bool {
    quota.remaining_s.is_some_and(|r| r <= 0.0)
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Open,
    Completed,
    /// Closed because the user opened more sessions than the cap allows.
    Replaced,
    /// No report for [`SESSION_IDLE_MS`].
    Expired,
}

/// The state of a session last reported at `last_report_at` at `now`.
pub fn session_state(completed: bool, closed: bool, last_report_at: i64, now: i64) -> SessionState {
    if completed {
        SessionState::Completed
    } else if closed {
        SessionState::Replaced
    } else if now - last_report_at > SESSION_IDLE_MS {
        SessionState::Expired
    } else {
        SessionState::Open
    }
}

/// The play threshold: a listen of at least half the track or 30 s, as the
/// scrobbling services count.
pub fn play_threshold_ms(duration_ms: i64) -> i64 {
    (duration_ms / 2).min(30_000)
}

/// Counts requests per user in fixed windows of the server's clock (one
/// minute), in memory on each node: enough to stop one account from
/// flooding a node; the quota itself does not depend on it.
#[derive(Debug)]
pub struct UserLimiter {
    limit: u32,
    window_ms: i64,
    buckets: Mutex<HashMap<String, (i64, u32)>>,
}

impl UserLimiter {
    pub fn per_minute(limit: u32) -> Self {
        UserLimiter {
            limit,
            window_ms: 60_000,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `user` at `now_ms`; `Err(seconds)` to wait when over.
    pub fn check(&self, user: &str, now_ms: i64) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            buckets.retain(|_, (start, _)| now_ms - *start < self.window_ms);
        }
        let (start, count) = buckets.entry(user.to_owned()).or_insert((now_ms, 0));
        if now_ms - *start >= self.window_ms || now_ms < *start {
            *start = now_ms;
            *count = 0;
        }
        if *count >= self.limit {
            let wait_ms = self.window_ms - (now_ms - *start);
            return Err(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1));
        }
        *count += 1;
        Ok(())
    }
}

/// The per-user limits on the playback routes.
#[derive(Debug)]
pub struct PlaybackLimits {
    pub session_opens: UserLimiter,
    pub heartbeats: UserLimiter,
    pub key_requests: UserLimiter,
}

impl PlaybackLimits {
    pub fn new(settings: &Settings) -> Self {
        PlaybackLimits {
            session_opens: UserLimiter::per_minute(settings.session_opens_per_minute),
            heartbeats: UserLimiter::per_minute(settings.heartbeats_per_minute),
            key_requests: UserLimiter::per_minute(settings.key_requests_per_minute),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_periods_are_six_seconds_now_and_thirty_before() {
        let new = new_key_period_ms();
        assert!((5_900..=6_100).contains(&new), "{new}");
        let legacy = key_period_ms(mist_core::hls::LEGACY_SEGMENTS_PER_KEY as i64);
        assert!((29_000..=31_000).contains(&legacy), "{legacy}");
    }

    #[test]
    fn a_key_is_charged_its_period_and_the_last_what_is_left() {
        // A 20 s track in 6 s keys: 6, 6, 6, 2.
        let charges: Vec<i64> = (0..4).map(|k| key_charge_ms(k, 4, 6_000, 20_000)).collect();
        assert_eq!(charges, [6_000, 6_000, 6_000, 2_000]);
        assert_eq!(charges.iter().sum::<i64>(), 20_000);
        // Boundaries moved late: fewer keys than the nominal grid, the last covers the rest.
        assert_eq!(key_charge_ms(2, 3, 6_000, 19_000), 7_000);
        assert_eq!(key_charge_ms(5, 3, 6_000, 10_000), 0);
    }

    #[test]
    fn the_window_is_from_the_previous_period_to_the_next() {
        let p = 6_000;
        // At the start: keys 0 and 1.
        assert!(key_in_window(0, 0, p));
        assert!(key_in_window(1, 0, p));
        assert!(!key_in_window(2, 0, p));
        // In the middle of period 3: keys 2 (just behind), 3 and 4, not 1 or 5.
        let pos = 3 * p + p / 2;
        assert!(!key_in_window(1, pos, p));
        assert!(key_in_window(2, pos, p));
        assert!(key_in_window(3, pos, p));
        assert!(key_in_window(4, pos, p));
        assert!(!key_in_window(5, pos, p));
    }

    #[test]
    fn sessions_end_by_completion_replacement_or_silence() {
        assert_eq!(session_state(false, false, 0, SESSION_IDLE_MS), SessionState::Open);
        assert_eq!(
            session_state(false, false, 0, SESSION_IDLE_MS + 1),
            SessionState::Expired
        );
        assert_eq!(session_state(true, true, 0, 1), SessionState::Completed);
        assert_eq!(session_state(false, true, 0, 1), SessionState::Replaced);
    }

    #[test]
    fn the_user_limiter_refuses_past_the_limit_until_the_window_turns() {
        let limiter = UserLimiter::per_minute(3);
        for _ in 0..3 {
            assert!(limiter.check("ann", 1_000).is_ok());
        }
        assert_eq!(limiter.check("ann", 16_000), Err(45));
        assert!(limiter.check("bob", 16_000).is_ok(), "per user");
        assert!(limiter.check("ann", 61_000).is_ok());
    }

    #[test]
    fn days_and_resets_are_utc() {
        let ms = Utc
            .with_ymd_and_hms(2026, 12, 31, 23, 59, 59)
            .unwrap()
            .timestamp_millis();
        assert_eq!(day_of(ms), "2026-12-31");
        assert_eq!(resets_at(ms), Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(day_of(ms + 1_000), "2027-01-01");
    }
}
