// ReplayGain in the browser: the gain each track gets, from the loudness the
// server measured at ingest (ReplayGain 2.0, reference −18 LUFS: docs/api.md,
// "Music library"), and where it is applied.
//
// The gain is 10^(dB/20), never more than 1/peak (the stored linear true
// peak), so a quiet track with loud peaks is raised only until its peak hits
// full scale: no clipping. Without a stored peak a track is only ever turned
// down. Album mode uses the album's figures (the album's tracks keep their
// loudness relative to each other) and falls back to the track's.
//
// Turning down could be done with the <audio> element's volume, but raising
// cannot (volume stops at 1), so the element is routed through a Web Audio
// GainNode. The user's volume stays on the element.

export const MODES = ['track', 'album', 'off'];

/** The linear gain for `track` in `mode` (`track`, `album` or `off`). */
export function gainFactor(track, mode) {
  if (!track || mode === 'off') return 1;
  const album = mode === 'album' && Number.isFinite(track.album_gain_db);
  const db = album ? track.album_gain_db : track.track_gain_db;
  const peak = album ? track.album_peak : track.track_peak;
  if (!Number.isFinite(db)) return 1;
  const gain = 10 ** (db / 20);
  const ceiling = Number.isFinite(peak) && peak > 0 ? 1 / peak : 1;
  return Math.min(gain, ceiling);
}

/** The gain as a listener reads it: 0.5 → "−6.0 dB". */
export function decibels(factor) {
  const db = 20 * Math.log10(factor);
  const text = Math.abs(db).toFixed(1);
  return db < -0.05 ? `−${text} dB` : `+${text} dB`;
}

export class Loudness {
  constructor(audio) {
    this.audio = audio;
    this.context = null;
    this.node = null;
    this.factor = 1;
  }

  /**
   * Routes the element through a GainNode, once; call it from a user's
   * gesture (a click on play), when browsers let an AudioContext start.
   * Where Web Audio is missing, gains above 1 are not applied.
   */
  attach() {
    if (this.context) {
      if (this.context.state === 'suspended') this.context.resume().catch(() => {});
      return;
    }
    const Context = globalThis.AudioContext ?? globalThis.webkitAudioContext;
    if (!Context) return;
    try {
      this.context = new Context();
      this.node = this.context.createGain();
      this.context.createMediaElementSource(this.audio).connect(this.node).connect(this.context.destination);
      this.node.gain.value = this.factor;
      if (this.context.state === 'suspended') this.context.resume().catch(() => {});
    } catch {
      this.context = null;
      this.node = null;
    }
  }

  /** Applies `factor`; returns the gain really applied. */
  set(factor) {
    this.factor = factor;
    if (this.node) {
      this.node.gain.value = factor;
      return factor;
    }
    return Math.min(factor, 1);
  }

  /** What the element's volume should be for the user's `volume`. */
  volumeFor(volume) {
    return this.node ? volume : volume * Math.min(this.factor, 1);
  }
}
