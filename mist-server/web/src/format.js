// Formatting for people: durations, quota and reset times.

/** 75.4 → "1:15"; 3600 → "1:00:00". */
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
