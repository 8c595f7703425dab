// Playback: hls.js on an <audio> element, and the session protocol that the
// server's quota rests on (docs/quota.md), as the terminal client speaks it:
//
//   open a session → heartbeats every 10 s and on pause, seek and end → complete.
//
// The server hands out a content key only near the reported playhead, and
// charges a free account for each key the first time it is given (one key per
// ~6 s segment), so before every key request the page reports where it is,
// and hls.js keeps a buffer of a few seconds so it asks for each key shortly
// before it is needed. Every key answer carries the quota after it (the
// `Mist-Quota` header), which the page shows at once. When the quota is used
// up, the page stops loading, plays what was already unlocked, then stops.
// The bearer token is added to key requests only (`isApiUrl`); playlists and
// segments, from this server or from a bucket (signed, expiring URLs), are
// fetched without it.
//
// Events (on the Player, an EventTarget):
//   `track`     a new track was loaded      detail: {track}
//   `ended`     the track played to its end  detail: {track}
//   `quota`     the server's latest quota   detail: quota
//   `exhausted` today's quota is used up     detail: {resetsAt}
//   `rendition` hls.js switched rendition    detail: {bitrate, index}
//   `error`     playback failed              detail: {message}

// The light build: no subtitles, alternate audio, EME or CMCD, none of which
// MIST uses; AES-128 decryption is in it.
import Hls from 'hls.js/light';
import { ApiError, errorFrom, isApiUrl } from './api.js';

const HEARTBEAT_EVERY_MS = 10_000;
const KEY_PATH = /\/api\/v1\/tracks\/[^/]+\/keys\/\d+$/;
const QUOTA_HEADER = 'mist-quota';

export class Player extends EventTarget {
  constructor(api, audio) {
    super();
    this.api = api;
    this.audio = audio;
    this.hls = null;
    this.track = null;
    this.session = null;
    this.seq = 0;
    this.reported = { at: 0, position: 0 };
    // Set once the quota is used up: when it resets. What was unlocked still
    // plays; `draining` once nothing more is loaded.
    this.spent = null;
    this.draining = false;
    this.reports = Promise.resolve();
    this.timer = null;
    audio.addEventListener('pause', () => this.onPause());
    audio.addEventListener('seeked', () => this.report());
    audio.addEventListener('ended', () => this.ended());
    audio.addEventListener('timeupdate', () => this.drain());
    audio.addEventListener('waiting', () => this.drain());
    // A closing tab still completes its session (fetch keepalive may carry headers).
    window.addEventListener('pagehide', () => this.finish(this.audio.currentTime, { keepalive: true }));
  }

  /** Whether this browser can play with the page's key handling (see docs/web.md on Safari). */
  static get supported() {
    return Hls.isSupported();
  }

  /** Stops what plays, opens a session on `track` and plays it from `startAt` seconds. */
  async play(track, { startAt = 0 } = {}) {
    await this.stop();
    if (!Player.supported) {
      throw new ApiError(0, 'unsupported', 'this browser has no Media Source Extensions, which the player needs');
    }
    const session = await this.api.post('/api/v1/playback/sessions', { track_id: track.id }).catch((e) => {
      if (e.code === 'quota_exceeded') this.exhausted(e.resetsAt);
      throw e;
    });
    this.track = track;
    this.session = session;
    this.seq = 0;
    this.spent = null;
    this.draining = false;
    this.reported = { at: performance.now(), position: 0 };
    this.publishQuota(session.quota);
    const publicOrigin = new URL(session.master_url).origin;
    const hls = new Hls({
      // A worker would need a blob: script, which the page's CSP does not allow;
      // demuxing packed MP3 audio is cheap on the main thread.
      enableWorker: false,
      // Metadata cues would add a <track src="data:,WEBVTT">, which the CSP's
      // media-src refuses; the only ID3 in MIST segments is the timestamp.
      enableID3MetadataCues: false,
      enableEmsgMetadataCues: false,
      enableDateRangeMetadataCues: false,
      // Keys are charged when given, and the next one is given only once the
      // playhead is in the current one: ask for the next ~6 s key about 4 s
      // before it plays. (hls.js grows the buffer goal from maxBufferSize up
      // to maxMaxBufferLength: both ends are held at 4 s.)
      maxBufferLength: 4,
      // A resumed queue starts where it was left.
      startPosition: startAt > 0 ? startAt : -1,
      maxMaxBufferLength: 4,
      backBufferLength: 30,
      xhrSetup: (xhr, url) => this.setupRequest(xhr, url, publicOrigin),
      keyLoadPolicy: {
        default: {
          maxTimeToFirstByteMs: 8000,
          maxLoadTimeMs: 20000,
          timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
          errorRetry: {
            maxNumRetry: 3,
            retryDelayMs: 1000,
            maxRetryDelayMs: 4000,
            // A 403 near a key boundary or after a seek clears once the new
            // playhead is reported (which every retry does); a 429 is final.
            shouldRetry: (config, count, timeout, response, retry) =>
              response?.code !== 429 && (retry || (response?.code === 403 && count < config.maxNumRetry)),
          },
        },
      },
    });
    this.hls = hls;
    hls.on(Hls.Events.ERROR, (_, data) => this.onHlsError(data));
    // The fragment of the key that used the quota up is the listener's; once
    // it is in, load nothing more.
    hls.on(Hls.Events.FRAG_BUFFERED, () => {
      if (this.spent) this.stopLoading();
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
      const level = hls.levels[data.level];
      this.emit('rendition', { index: data.level, bitrate: level?.bitrate ?? 0 });
    });
    hls.attachMedia(this.audio);
    hls.loadSource(session.master_url);
    this.emit('track', { track });
    this.timer = setInterval(() => {
      if (!this.audio.paused) this.report();
    }, HEARTBEAT_EVERY_MS);
    await this.audio.play();
  }

  /** The renditions hls.js found: [{index, bitrate}]. */
  get renditions() {
    return (this.hls?.levels ?? []).map((level, index) => ({ index, bitrate: level.bitrate }));
  }

  /** -1 for automatic, else a rendition index. */
  setRendition(index) {
    if (this.hls) this.hls.currentLevel = index;
  }

  /** Play/pause; after the end (or a stop) it plays the last track again. */
  toggle() {
    if (!this.session) return this.track ? this.play(this.track) : Promise.resolve();
    if (this.audio.paused) return this.audio.play();
    this.audio.pause();
    return Promise.resolve();
  }

  seek(position) {
    if (this.session) this.audio.currentTime = position;
  }

  /** Completes the session at the current position and unloads the track. */
  async stop() {
    if (this.session) await this.finish(this.audio.currentTime);
    this.unload();
  }

  async ended() {
    await this.finish(this.audio.duration);
    this.unload();
    this.emit('ended', { track: this.track });
  }

  unload() {
    this.session = null;
    this.draining = false;
    clearInterval(this.timer);
    this.timer = null;
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    this.audio.removeAttribute('src');
    this.audio.load();
  }

  /**
   * hls.js calls this before each request. Key requests carry the token and
   * go out only after the playhead is reported; nothing else gets the token.
   */
  async setupRequest(xhr, url, publicOrigin) {
    xhr.open('GET', url, true);
    if (!isApiUrl(url, publicOrigin)) return;
    // hls.js asks for key k+1 while the playhead is in key k's period; a report
    // from before that would not unlock it. One report per key (every ~6 s).
    if (KEY_PATH.test(new URL(url).pathname)) {
      await this.report();
      const session = this.session;
      xhr.addEventListener('load', () => {
        const quota = xhr.status === 200 ? xhr.getResponseHeader(QUOTA_HEADER) : null;
        if (quota && session === this.session) this.publishQuota(JSON.parse(quota));
      });
    }
    xhr.setRequestHeader('Authorization', 'Bearer ' + this.api.token);
  }

  onPause() {
    if (this.session && !this.audio.ended) this.report();
  }

  /** Sends a heartbeat with the audio element's position (in order: one at a time). */
  report() {
    return this.send('heartbeat', { playing: !this.audio.paused });
  }

  /** Completes the session once, at `position`. */
  finish(position, options = {}) {
    if (!this.session || this.session.completing) return this.reports;
    this.session.completing = true;
    const done = this.send('complete', {}, position, options);
    clearInterval(this.timer);
    return done;
  }

  send(kind, extra, position = this.audio.currentTime, { keepalive = false } = {}) {
    const session = this.session;
    if (!session) return this.reports;
    const position_s = Number.isFinite(position) ? position : this.audio.currentTime || 0;
    const body = { seq: ++this.seq, position_s, ...extra };
    this.reported = { at: performance.now(), position: position_s };
    const path = `/api/v1/playback/sessions/${session.session_id}/${kind}`;
    const post = () => this.api.request('POST', path, body, { keepalive });
    // A closing page cannot wait for earlier reports; its higher seq wins anyway.
    this.reports = (keepalive ? post() : this.reports.then(post))
      .then((answer) => {
        if (session === this.session) this.publishQuota(answer.quota);
      })
      .catch((e) => {
        if (session !== this.session) return;
        if (e.code === 'quota_exceeded') this.exhausted(e.resetsAt);
        else if (e.code === 'session_expired') return this.renew(session);
        else if (e.code === 'session_closed') this.closed();
        else if (e.code !== 'session_completed') this.fail(`could not report playback: ${e.message}`);
      });
    return this.reports;
  }

  /**
   * The server expired the session (no report for two minutes: a sleeping
   * laptop, a throttled background tab): open a new one on the same track and
   * carry on. The keys and playlists already loaded stay valid.
   */
  async renew(expired) {
    try {
      const session = await this.api.post('/api/v1/playback/sessions', { track_id: this.track.id });
      if (this.session !== expired) return;
      this.session = session;
      this.seq = 0;
      this.publishQuota(session.quota);
      await this.report();
    } catch (e) {
      if (e.code === 'quota_exceeded') this.exhausted(e.resetsAt);
      else this.fail(`could not resume playback: ${e.message}`);
    }
  }

  /** The account started playing elsewhere, past the number of sessions it may hold. */
  closed() {
    this.unload();
    this.fail('playback moved: this account is playing on too many devices');
  }

  publishQuota(quota) {
    this.emit('quota', quota);
    if (quota.remaining_s !== null && quota.remaining_s <= 0) this.spend(new Date(quota.resets_at));
  }

  /**
   * The quota is used up: once the fragment being loaded is in, load nothing
   * more (the next key would be refused), let what was unlocked play out,
   * then stop (`drain`).
   */
  spend(resetsAt) {
    if (!this.session || this.spent) return;
    this.spent = resetsAt;
  }

  stopLoading() {
    this.hls?.stopLoad();
    this.draining = true;
    this.drain();
  }

  /** Once loading stopped on a spent quota, stops when the unlocked audio has played. */
  drain() {
    if (!this.draining || !this.session) return;
    const buffered = this.audio.buffered;
    const end = buffered.length ? buffered.end(buffered.length - 1) : 0;
    if (this.audio.currentTime >= end - 0.25) this.exhausted(this.spent);
  }

  /** Today's quota is used up: complete the session, stop and say until when. */
  exhausted(resetsAt) {
    if (this.session) this.finish(this.audio.currentTime);
    this.unload();
    this.emit('exhausted', { resetsAt });
  }

  fail(message) {
    this.emit('error', { message });
  }

  async onHlsError(data) {
    const xhr = data.networkDetails;
    if (data.details === Hls.ErrorDetails.KEY_LOAD_ERROR && xhr instanceof XMLHttpRequest && xhr.status >= 400) {
      const body = xhr.response instanceof ArrayBuffer ? new TextDecoder().decode(xhr.response) : '';
      const error = await errorFrom(new Response(body, { status: xhr.status }));
      if (error.code === 'quota_exceeded') {
        // A race with the last key: play out what was unlocked, then stop.
        this.spend(error.resetsAt);
        this.stopLoading();
        return;
      }
      if (data.fatal) this.fail(`the server refused a key: ${error.message}`);
    } else if (data.fatal) {
      this.fail(`playback failed: ${data.details}`);
    }
    if (data.fatal) await this.stop();
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
