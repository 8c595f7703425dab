// Formatting for people: durations, quota and reset times.

/**
 * 75.9 → "1:15"; 3600 → "1:00:00". Whole seconds are counted down (floor),
 * as a playhead is: the rule of `mist_core::api::clock`, which the terminal
 * client uses, and mist-server/tests/web.rs checks the two agree.
 */
export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '0:00';
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

/** A Date as HH:MM in the viewer's time zone (days reset at 00:00 UTC). */
export function clock(date) {
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
}

/** The quota line in the header. */
export function quota(q) {
  if (q.remaining_s === null) return `Listened today ${duration(q.used_s)} · unlimited`;
  return `Today: ${duration(q.remaining_s)} left of ${duration(q.limit_s)}`;
}

/** The message shown when the day's listening is used up. */
export function exhausted(resetsAt) {
  const when = resetsAt instanceof Date && !Number.isNaN(resetsAt.getTime()) ? clock(resetsAt) : 'midnight UTC';
  return `Today's quota is used up; it resets at ${when}.`;
}

/** 128000 → "128 kbps". */
export function bitrate(bps) {
  return bps ? `${Math.round(bps / 1000)} kbps` : '';
}

/** Similar tracks further than this cosine distance are not shown: they do not sound alike
 *  (`SimilarTrack::SHOWN_WITHIN` in mist-core, which the terminal player uses). */
export const SIMILAR_WITHIN = 0.5;

/** A cosine distance as a person reads it: 0.11 → "89 % alike". */
export function alike(distance) {
  return `${Math.round(Math.max(0, 1 - distance) * 100)} % alike`;
}

/** A user's listening today, for the admin's table: "4:10 of 5:00" or "12:03 (unlimited)". */
export function usage(q) {
  if (q.limit_s === null || q.limit_s === undefined) return `${duration(q.used_s)} (unlimited)`;
  return `${duration(q.used_s)} of ${duration(q.limit_s)}`;
}
