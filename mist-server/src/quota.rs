//! The daily listening quota and the rules that make the server, not the
//! client, its enforcer. docs/quota.md explains the threat model.
//!
//! - Time is counted only from monotonic progress reported on a session: a
//!   report's progress counts at most the wall-clock time since the previous
//!   accepted report (plus [`TOLERANCE_MS`]) and never past the track's end;
//!   a jump forward moves the playhead without counting what was skipped;
//!   a report whose `seq` is not newer counts nothing.
//! - Keys are given only around the playhead of an open session
//!   ([`key_in_window`]), at most one new key per second of the session's
//!   life beyond the first two ([`key_allowance`]), and only while quota
//!   remains. So a client that stops reporting stops getting keys.
//! - Days are UTC.
//!
//! The arithmetic lives in the database update (one atomic statement per
//! report, see `db::sessions`); this module holds the rules both share and
//! the pieces that are plain functions.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use mist_core::api::{Plan, Quota, Role};

use crate::db::users::UserRow;

/// Slack on "no more progress than wall-clock time": network jitter between
/// reports, and a client's clock ticking slightly fast.
pub const TOLERANCE_MS: i64 = 2_000;

/// Distinct keys a session may have before time is needed for more.
pub const FREE_KEYS: i64 = 2;

/// Seconds of audio each key covers: [`mist_core::hls::SEGMENTS_PER_KEY`]
/// segments of [`mist_core::hls::SEGMENT_FRAMES`] MP3 frames.
pub fn key_period_ms() -> i64 {
    let samples = (mist_core::hls::SEGMENTS_PER_KEY * mist_core::hls::SEGMENT_FRAMES * 1152) as i64;
    samples * 1000 / i64::from(mist_core::audio::SAMPLE_RATE)
}

/// Whether key `k` may be given to a session whose playhead is at
/// `position_ms`: the current key period, or the next one (so a player can
/// prefetch across the boundary), never one further ahead or behind.
pub fn key_in_window(k: i64, position_ms: i64) -> bool {
    let period = key_period_ms();
    let start = k * period;
    start - period <= position_ms && position_ms < start + period
}

/// How many distinct keys a session opened `age_ms` ago may hold.
pub fn key_allowance(age_ms: i64) -> i64 {
    FREE_KEYS + age_ms.max(0) / 1000
}

/// Whether the user listens without a daily limit.
pub fn unlimited(user: &UserRow) -> bool {
    user.plan() == Plan::Premium || user.role() == Role::Admin
}

/// The UTC day of a moment, as stored in `daily_usage.day`.
pub fn day_of(ms: i64) -> String {
    crate::db::ms_to_datetime(ms).format("%Y-%m-%d").to_string()
}

/// The next UTC midnight after `ms`.
pub fn resets_at(ms: i64) -> DateTime<Utc> {
    let now = crate::db::ms_to_datetime(ms);
    let tomorrow = now.date_naive() + Duration::days(1);
    Utc.from_utc_datetime(&tomorrow.and_time(NaiveTime::MIN))
}

/// The quota as the API shows it.
pub fn quota(user: &UserRow, used_ms: i64, free_daily_seconds: u64, now_ms: i64) -> Quota {
    let used_s = used_ms as f64 / 1000.0;
    let (limit_s, remaining_s) = if unlimited(user) {
        (None, None)
    } else {
        let limit = free_daily_seconds as f64;
        (Some(limit), Some((limit - used_s).max(0.0)))
    };
    Quota {
        plan: user.plan(),
        limit_s,
        used_s,
        remaining_s,
        resets_at: resets_at(now_ms),
    }
}

/// Whether the quota leaves nothing to listen to today.
pub fn exhausted(quota: &Quota) -> bool {
    quota.remaining_s.is_some_and(|r| r <= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_period_is_about_thirty_seconds() {
        let p = key_period_ms();
        assert!((29_000..=31_000).contains(&p), "{p}");
    }

    #[test]
    fn key_window_is_the_current_and_next_period() {
        let p = key_period_ms();
        // At the start: keys 0 and 1.
        assert!(key_in_window(0, 0));
        assert!(key_in_window(1, 0));
        assert!(!key_in_window(2, 0));
        // In the middle of period 3: keys 3 and 4, not 2 or 5.
        let pos = 3 * p + p / 2;
        assert!(!key_in_window(2, pos));
        assert!(key_in_window(3, pos));
        assert!(key_in_window(4, pos));
        assert!(!key_in_window(5, pos));
        assert!(!key_in_window(-1, 0));
    }

    #[test]
    fn allowance_grows_one_key_a_second() {
        assert_eq!(key_allowance(0), 2);
        assert_eq!(key_allowance(999), 2);
        assert_eq!(key_allowance(1_000), 3);
        assert_eq!(key_allowance(-5), 2);
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
