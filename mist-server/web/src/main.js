// The MIST web player: screens and their wiring. The markup is in
// index.html; this module fills it from the API and reacts to the user.
// Views are chosen by the URL fragment (#/search, #/library, #/upload), so
// the server only ever serves `/`.
//
// Everything shown from the server goes into the page through textContent,
// never as HTML.

import './style.css';
import { Api, ApiError } from './api.js';
import { Player } from './player.js';
import * as fmt from './format.js';

const $ = (id) => document.getElementById(id);
const api = new Api();
const player = new Player(api, $('audio'));
/**
 * Ids of the tracks the user likes, as the server last said; `null` until the
 * first answer. Every ♥ on the page is drawn from this and nothing else.
 */
let liked = null;
/** The first load of the likes: rows wait for it, so no heart is drawn from a guess. */
let likesReady = Promise.resolve();
/** Tracks whose like or unlike is on its way (their hearts are disabled meanwhile). */
const likeInFlight = new Set();
let playlists = [];

// ---------------------------------------------------------------- helpers

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function showMessage(text) {
  $('message').textContent = text;
  $('message').hidden = !text;
}

/** Runs `work`, showing its failure to the user instead of losing it. */
async function guarded(work) {
  try {
    return await work();
  } catch (e) {
    if (e instanceof ApiError && e.code === 'quota_exceeded') return undefined; // shown by the player
    if (e instanceof ApiError && e.status === 401) return undefined; // back to the login screen
    showMessage(e.message || String(e));
    return undefined;
  }
}

// ---------------------------------------------------------------- log in

let registering = false;

function setAuthMode(register) {
  registering = register;
  $('tab-login').setAttribute('aria-selected', String(!register));
  $('tab-register').setAttribute('aria-selected', String(register));
  $('auth-username-row').hidden = !register;
  $('auth-invite-row').hidden = !register;
  $('auth-username').required = register;
  $('auth-password').autocomplete = register ? 'new-password' : 'current-password';
  $('auth-submit').textContent = register ? 'Create account' : 'Log in';
  $('auth-error').textContent = '';
}

async function submitAuth(event) {
  event.preventDefault();
  const email = $('auth-email').value.trim();
  const password = $('auth-password').value;
  const username = $('auth-username').value.trim();
  if (!email || password.length < 8 || (registering && username.length < 3)) {
    $('auth-error').textContent = registering
      ? 'Enter an email, a username of 3 or more characters and a password of 8 or more.'
      : 'Enter your email and password (8 characters or more).';
    return;
  }
  $('auth-submit').disabled = true;
  try {
    if (registering) await api.register(email, username, password, $('auth-invite').value.trim());
    else await api.login(email, password);
    $('auth-password').value = '';
    enterApp();
  } catch (e) {
    $('auth-error').textContent = e.message;
  } finally {
    $('auth-submit').disabled = false;
  }
}

function showLogin() {
  $('app').hidden = true;
  $('login').hidden = false;
  $('auth-email').focus();
}

async function logout() {
  await player.stop();
  api.forget();
  showLogin();
}

// ---------------------------------------------------------------- app shell

function enterApp() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('whoami').textContent = api.user ? `${api.user.username} (${api.user.plan})` : '';
  showMessage('');
  guarded(refreshQuota);
  guarded(loadGenres);
  liked = null;
  likesReady = guarded(loadLikes);
  guarded(loadPlaylists);
  route();
}

function route() {
  const view = (location.hash.replace(/^#\//, '') || 'search').split('/')[0];
  const views = ['search', 'library', 'upload', 'apps'];
  const known = views.includes(view) ? view : 'search';
  for (const name of views) $('view-' + name).hidden = name !== known;
  document.querySelector('.main').dataset.view = known;
  for (const link of document.querySelectorAll('.views a')) {
    link.classList.toggle('active', link.dataset.view === known);
  }
  if (known === 'search') guarded(search);
  if (known === 'library') guarded(renderLibrary);
  if (known === 'apps') guarded(loadApiKeys);
}

async function refreshQuota() {
  showQuota(await api.get('/api/v1/me/quota'));
}

function showQuota(q) {
  $('quota').textContent = fmt.quota(q);
  $('quota').classList.toggle('low', q.remaining_s !== null && q.remaining_s < 60);
}

// ---------------------------------------------------------------- track rows

function trackRow(track, { compact = false, extra = null } = {}) {
  const playing = player.track?.id === track.id && player.session;
  const like = heart(track);
  return el('li', { class: 'track' + (playing ? ' playing' : ''), 'data-track-id': track.id },
    el('button', {
      type: 'button', class: 'play', title: 'Play ' + track.title, 'aria-label': 'Play ' + track.title,
      onclick: () => guarded(() => playTrack(track)),
    }, '▶'),
    el('div', { class: 'names' },
      el('span', { class: 'title' }, track.title),
      el('span', { class: 'artist' }, [track.artist, track.album].filter(Boolean).join(' · ') || 'Unknown artist')),
    compact ? extra : el('span', { class: 'genre' }, track.genre ?? ''),
    compact ? null : el('span', { class: 'duration' }, fmt.duration(track.duration_s)),
    compact ? null : el('span', { class: 'actions' }, like,
      el('button', { type: 'button', title: 'Add to playlist', onclick: () => choosePlaylist(track) }, '+')));
}

/**
 * The ♥ toggle of a track: filled and `aria-pressed="true"` when the server
 * says the user likes it, disabled while that is not known yet.
 */
function heart(track) {
  const button = el('button', {
    type: 'button',
    class: 'like',
    'data-like': track.id,
    'aria-label': 'Like ' + track.title,
    onclick: () => guarded(() => toggleLike(track.id, button)),
  });
  paintHeart(button);
  return button;
}

function paintHeart(button) {
  const id = button.dataset.like;
  const on = liked !== null && liked.has(id);
  button.setAttribute('aria-pressed', String(on));
  button.textContent = on ? '♥' : '♡';
  button.classList.toggle('on', on);
  button.disabled = liked === null || likeInFlight.has(id);
  button.title = liked === null ? 'Likes could not be loaded' : on ? 'Unlike' : 'Like';
}

/** Redraws every heart on the page (of one track, or all) from `liked`. */
function paintHearts(id = null) {
  for (const button of document.querySelectorAll('button.like')) {
    if (id === null || button.dataset.like === id) paintHeart(button);
  }
}

function fillList(list, tracks, options) {
  list.replaceChildren(...tracks.map((t) => trackRow(t, options)));
}

function markPlaying() {
  for (const row of document.querySelectorAll('.track')) {
    row.classList.toggle('playing', Boolean(player.session) && row.dataset.trackId === player.track?.id);
  }
}

// ---------------------------------------------------------------- search

let searchCursor = null;
let searchSerial = 0;

async function search({ more = false } = {}) {
  const serial = ++searchSerial;
  const page = await api.searchTracks({
    q: $('search-q').value.trim(),
    genre: $('search-genre').value,
    cursor: more ? searchCursor : null,
  });
  await likesReady;
  if (serial !== searchSerial) return; // a newer keystroke's answer wins
  searchCursor = page.next_cursor;
  const rows = page.items.map((t) => trackRow(t));
  if (more) $('search-results').append(...rows);
  else $('search-results').replaceChildren(...rows);
  $('search-empty').hidden = $('search-results').children.length > 0;
  $('search-more').hidden = !searchCursor;
}

let searchTimer = null;
function searchSoon() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => guarded(search), 200);
}

async function loadGenres() {
  const page = await api.get('/api/v1/genres?limit=100');
  const select = $('search-genre');
  const chosen = select.value;
  select.replaceChildren(el('option', { value: '' }, 'All genres'),
    ...page.items.map((g) => el('option', { value: g.name }, `${g.name} (${g.track_count})`)));
  select.value = chosen;
}

// ---------------------------------------------------------------- playback

/** Similar tracks asked for; those further than `fmt.SIMILAR_WITHIN` are left out. */
const SIMILAR_SHOWN = 8;

async function playTrack(track) {
  showMessage('');
  await player.play(track);
}

function onTrack({ track }) {
  $('now-title').textContent = track.title;
  $('now-artist').textContent = track.artist ?? '';
  $('play-pause').disabled = false;
  $('seek').disabled = false;
  $('seek').max = String(track.duration_s);
  $('total').textContent = fmt.duration(track.duration_s);
  $('rendition').replaceChildren(el('option', { value: '-1' }, 'Auto'));
  $('rendition-now').textContent = '';
  markPlaying();
  guarded(() => loadSimilar(track));
}

/** The tracks that sound like `track`: the close ones only, each with how alike it is. */
async function loadSimilar(track) {
  const page = await api.get(`/api/v1/tracks/${encodeURIComponent(track.id)}/similar?limit=${SIMILAR_SHOWN}`);
  await likesReady;
  if (player.track?.id !== track.id) return; // another track started meanwhile
  const close = page.items.filter((item) => item.distance <= fmt.SIMILAR_WITHIN);
  $('similar').replaceChildren(...close.map((item) =>
    trackRow(item.track, {
      compact: true,
      extra: el('span', { class: 'distance', title: `cosine distance ${item.distance.toFixed(3)}` },
        fmt.alike(item.distance)),
    })));
  $('similar-empty').textContent = page.items.length === 0
    ? 'No other tracks yet.'
    : 'No track sounds close to this one.';
  $('similar-empty').hidden = close.length > 0;
}

function updateTime() {
  const audio = $('audio');
  $('elapsed').textContent = fmt.duration(audio.currentTime);
  if (document.activeElement !== $('seek')) $('seek').value = String(audio.currentTime);
}

function updatePlayButton() {
  const paused = $('audio').paused;
  $('play-pause').textContent = paused ? '▶' : '❚❚';
  $('play-pause').setAttribute('aria-label', paused ? 'Play' : 'Pause');
  markPlaying();
}

function onRendition({ index }) {
  const select = $('rendition');
  if (select.options.length !== player.renditions.length + 1) {
    select.replaceChildren(el('option', { value: '-1' }, 'Auto'),
      ...player.renditions.map((r) => el('option', { value: String(r.index) }, renditionName(r.index))));
  }
  $('rendition-now').textContent = renditionName(index);
}

/** "128k", from the rendition's playlist URL, else its advertised bitrate. */
function renditionName(index) {
  const level = player.hls?.levels[index];
  const match = /\/(\d+k)\//.exec(level?.uri ?? level?.url ?? '');
  return match ? match[1] : fmt.bitrate(level?.bitrate);
}

function onExhausted({ resetsAt }) {
  showMessage(fmt.exhausted(resetsAt));
  updatePlayButton();
  guarded(refreshQuota);
}

// ---------------------------------------------------------------- likes and playlists

/** Bumped by every load and every like or unlike: only the newest load's answer is kept. */
let likesSerial = 0;

/** Reads every page of the user's likes, then redraws the hearts and the Library's list. */
async function loadLikes() {
  const serial = ++likesSerial;
  const ids = new Set();
  const tracks = [];
  let cursor = null;
  do {
    const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = await api.get(`/api/v1/me/likes?limit=100${query}`);
    for (const t of page.items) {
      ids.add(t.id);
      tracks.push(t);
    }
    cursor = page.next_cursor;
  } while (cursor);
  // An older answer, or one from before a click, would undo what is shown.
  if (serial !== likesSerial) return;
  liked = ids;
  paintHearts();
  fillList($('likes'), tracks);
  $('likes-empty').hidden = tracks.length > 0;
}

/** Likes or unlikes: the opposite of what the heart shows, once, whatever the clicks. */
async function toggleLike(id, button) {
  if (liked === null || likeInFlight.has(id)) return;
  const on = button.getAttribute('aria-pressed') !== 'true';
  likeInFlight.add(id);
  paintHearts(id);
  try {
    await api.request(on ? 'PUT' : 'DELETE', `/api/v1/me/likes/${encodeURIComponent(id)}`);
    likesSerial++;
    if (on) liked.add(id);
    else liked.delete(id);
  } finally {
    likeInFlight.delete(id);
    paintHearts(id);
  }
  await loadLikes();
}

// ---------------------------------------------------------------- Subsonic apps

async function loadApiKeys() {
  const keys = await api.get('/api/v1/me/api-keys');
  $('apikeys-empty').hidden = keys.length > 0;
  $('apikeys').replaceChildren(...keys.map((k) => el('li', { 'data-key-id': k.id },
    el('span', { class: 'name' }, k.name),
    el('span', { class: 'when' }, `made ${new Date(k.created_at).toLocaleDateString()}, ` +
      (k.last_used_at ? `last used ${new Date(k.last_used_at).toLocaleString()}` : 'never used')),
    el('button', { type: 'button', class: 'link', onclick: () => guarded(() => revokeApiKey(k)) }, 'Revoke'))));
}

async function makeApiKey(event) {
  event.preventDefault();
  const made = await api.post('/api/v1/me/api-keys', { name: $('apikey-name').value.trim() });
  $('apikey-value').textContent = made.key;
  $('apikey-new').hidden = false;
  $('apikey-name').value = '';
  await loadApiKeys();
}

async function revokeApiKey(key) {
  await api.request('DELETE', `/api/v1/me/api-keys/${encodeURIComponent(key.id)}`);
  $('apikey-new').hidden = true;
  await loadApiKeys();
}

async function makeAppPassword() {
  const made = await api.post('/api/v1/me/app-password');
  $('app-password-value').textContent = made.password;
  $('app-password-new').hidden = false;
}

async function loadPlaylists() {
  const page = await api.get('/api/v1/me/playlists?limit=100');
  playlists = page.items;
  $('playlists').replaceChildren(...playlists.map((p) => el('li', {},
    el('button', { type: 'button', 'data-playlist-id': p.id, onclick: () => guarded(() => openPlaylist(p)) },
      `${p.name} (${p.track_count})`))));
}

async function openPlaylist(playlist) {
  for (const b of $('playlists').querySelectorAll('button')) {
    b.classList.toggle('active', b.dataset.playlistId === playlist.id);
  }
  const page = await api.get(`/api/v1/playlists/${encodeURIComponent(playlist.id)}/tracks?limit=100`);
  await likesReady;
  $('playlist-title').textContent = playlist.name;
  $('playlist-title').hidden = false;
  fillList($('playlist-tracks'), page.items.map((entry) => entry.track));
}

async function renderLibrary() {
  await Promise.all([loadLikes(), loadPlaylists()]);
}

async function createPlaylist(event) {
  event.preventDefault();
  const name = $('playlist-name').value.trim();
  if (!name) return;
  await api.post('/api/v1/playlists', { name });
  $('playlist-name').value = '';
  await loadPlaylists();
}

function choosePlaylist(track) {
  const dialog = $('add-dialog');
  $('add-choices').replaceChildren(...playlists.map((p) => el('li', {},
    el('button', {
      type: 'button',
      onclick: () => guarded(async () => {
        dialog.close();
        await api.post(`/api/v1/playlists/${encodeURIComponent(p.id)}/tracks`, { track_id: track.id });
        await loadPlaylists();
      }),
    }, p.name))));
  $('add-empty').hidden = playlists.length > 0;
  dialog.showModal();
}

// ---------------------------------------------------------------- upload

async function upload(event) {
  event.preventDefault();
  const file = $('upload-file').files[0];
  if (!file) {
    $('upload-status').textContent = 'Choose an audio file first.';
    return;
  }
  const meta = {};
  for (const field of ['title', 'artist', 'album', 'genre']) {
    const value = $('upload-' + field).value.trim();
    if (value) meta[field] = value;
  }
  $('upload-submit').disabled = true;
  $('upload-state').hidden = false;
  const progress = (phase, fraction) => {
    $('upload-phase').textContent = phase;
    $('upload-progress').value = Math.round(fraction * 100);
    $('upload-percent').textContent = `${Math.round(fraction * 100)} %`;
  };
  try {
    progress('Uploading', 0);
    $('upload-status').textContent = `Sending ${file.name} (${(file.size / 1048576).toFixed(1)} MiB)…`;
    const ticket = await api.post('/api/v1/uploads', {
      filename: file.name,
      size: file.size,
      content_type: file.type || 'application/octet-stream',
      sha256: await sha256(file),
    });
    await api.putUpload(ticket, file, (f) => progress('Uploading', f));
    const { job_id: jobId } = await api.post(`/api/v1/uploads/${encodeURIComponent(ticket.upload_id)}/complete`, meta);
    const job = await followJob(jobId, progress);
    if (job.status === 'ready') {
      const track = await api.get(`/api/v1/tracks/${encodeURIComponent(job.track_id)}`);
      $('upload-status').textContent = `Ready: “${track.title}” can be played now.`;
      guarded(loadGenres);
    } else {
      $('upload-status').textContent = `Processing failed: ${job.error ?? 'unknown reason'}`;
    }
  } catch (e) {
    if (e.code === 'duplicate' && e.existingTrackId) {
      progress('Done', 1);
      const track = await api.get(`/api/v1/tracks/${encodeURIComponent(e.existingTrackId)}`).catch(() => null);
      $('upload-status').textContent = `Already in your library: “${track?.title ?? e.existingTrackId}”. Nothing was sent.`;
    } else {
      $('upload-status').textContent = `Upload failed: ${e.message}`;
    }
  } finally {
    $('upload-submit').disabled = false;
  }
}

/**
 * The file's SHA-256 in hex, so the server can say "already there" before the
 * bytes are sent; undefined where the browser has no Web Crypto (a page not
 * served over HTTPS or from localhost), and the server then finds a duplicate
 * after the upload instead.
 */
async function sha256(file) {
  if (!globalThis.crypto?.subtle) return undefined;
  const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Polls the job until it is ready or failed, showing its progress. */
async function followJob(jobId, progress) {
  for (;;) {
    const job = await api.get(`/api/v1/jobs/${encodeURIComponent(jobId)}`);
    progress(job.status === 'queued' ? 'Queued' : job.status === 'processing' ? 'Processing' : 'Done',
      job.status === 'ready' ? 1 : job.progress / 100);
    $('upload-status').textContent = `Status: ${job.status}${job.status === 'processing' ? ` (${job.progress} %)` : ''}`;
    if (job.status === 'ready' || job.status === 'failed') return job;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

// ---------------------------------------------------------------- start

function start() {
  $('tab-login').addEventListener('click', () => setAuthMode(false));
  $('tab-register').addEventListener('click', () => setAuthMode(true));
  $('auth-form').addEventListener('submit', submitAuth);
  $('logout').addEventListener('click', () => guarded(logout));
  $('search-q').addEventListener('input', searchSoon);
  $('search-genre').addEventListener('change', () => guarded(search));
  $('search-more').addEventListener('click', () => guarded(() => search({ more: true })));
  $('playlist-form').addEventListener('submit', (e) => guarded(() => createPlaylist(e)));
  $('apikey-form').addEventListener('submit', (e) => guarded(() => makeApiKey(e)));
  $('app-password-make').addEventListener('click', () => guarded(makeAppPassword));
  $('upload-form').addEventListener('submit', upload);
  $('play-pause').addEventListener('click', () => guarded(() => player.toggle()));
  $('seek').addEventListener('change', () => player.seek(Number($('seek').value)));
  const volume = $('volume');
  volume.value = localStorage.getItem('mist.volume') ?? '1';
  $('audio').volume = Number(volume.value);
  volume.addEventListener('input', () => {
    $('audio').volume = Number(volume.value);
    localStorage.setItem('mist.volume', volume.value);
  });
  $('rendition').addEventListener('change', () => player.setRendition(Number($('rendition').value)));
  const audio = $('audio');
  audio.addEventListener('timeupdate', updateTime);
  audio.addEventListener('play', updatePlayButton);
  audio.addEventListener('pause', updatePlayButton);
  player.addEventListener('track', (e) => onTrack(e.detail));
  player.addEventListener('quota', (e) => showQuota(e.detail));
  player.addEventListener('exhausted', (e) => onExhausted(e.detail));
  player.addEventListener('rendition', (e) => onRendition(e.detail));
  player.addEventListener('ended', () => updatePlayButton());
  player.addEventListener('error', (e) => showMessage(e.detail.message));
  window.addEventListener('hashchange', route);
  api.onUnauthorized = () => {
    player.unload();
    api.forget();
    showLogin();
    $('auth-error').textContent = 'Your session has ended; log in again.';
  };
  setAuthMode(false);
  if (api.loggedIn) enterApp();
  else showLogin();
}

start();
