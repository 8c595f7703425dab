// The MIST web player: screens and their wiring. The markup is in
// index.html; this module fills it from the API and reacts to the user.
// Views are chosen by the URL fragment (#/search, #/albums, #/album/{id},
// #/artist/{id}, #/library, #/queue, #/upload, #/apps, #/admin), so the
// server only ever serves `/`.
//
// Everything shown from the server goes into the page through textContent
// (or a property such as `src`), never as HTML.
//
// What plays is the queue's (queue.js): a track row's ▶ plays its list from
// that row, the end of a track plays the next, and the queue with the
// playhead is saved on the server (`PUT /api/v1/me/play-queue`) so this or
// any other client resumes it.

import './style.css';
import { Api, ApiError } from './api.js';
import { Player } from './player.js';
import { Queue, REPEAT_MODES } from './queue.js';
import { Loudness, MODES as LOUDNESS_MODES, gainFactor, decibels } from './loudness.js';
import * as fmt from './format.js';

const $ = (id) => document.getElementById(id);
const api = new Api();
const player = new Player(api, $('audio'));
const queue = new Queue();
const loudness = new Loudness($('audio'));
/** Seconds into the current entry where ▶ starts it: the saved playhead of a resumed queue. */
let resumeAt = 0;
/** False until the saved queue was read: saving before would overwrite it with nothing. */
let queueRead = false;
/**
 * This tab changed the queue or played since the last save. A tab that only
 * looked does not save when it closes: it would put back an older queue over
 * what another tab or client saved since.
 */
let queueDirty = false;
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

/** A message above the views: a problem, or (`info`) news such as a change made. */
function showMessage(text, { info = false } = {}) {
  $('message').textContent = text;
  $('message').hidden = !text;
  $('message').classList.toggle('info', info);
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
    const persist = $('auth-remember').checked;
    if (registering) await api.register(email, username, password, $('auth-invite').value.trim(), persist);
    else await api.login(email, password, persist);
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
  await saveQueue();
  await player.stop();
  // The token dies on the server too: a remembered one must not outlive the log-out.
  await api.request('POST', '/api/v1/auth/logout').catch(() => {});
  api.forget();
  queue.clear();
  queueRead = false;
  queueDirty = false;
  showNothing();
  // Nothing of this user stays on the page for the next one.
  $('similar').replaceChildren();
  $('similar-empty').textContent = 'Play a track to see tracks that sound like it.';
  $('similar-empty').hidden = false;
  showLogin();
}

// ---------------------------------------------------------------- app shell

function enterApp() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('whoami').textContent = api.user ? `${api.user.username} (${api.user.plan})` : '';
  $('admin-link').hidden = api.user?.role !== 'admin';
  showMessage('');
  guarded(refreshQuota);
  guarded(loadGenres);
  liked = null;
  likesReady = guarded(loadLikes);
  guarded(loadPlaylists);
  guarded(resumeQueue);
  route();
}

const VIEWS = ['search', 'albums', 'album', 'artist', 'library', 'queue', 'upload', 'apps', 'admin'];

/** A path segment of the fragment, decoded; a malformed one (a hostile link) stays as it is. */
function segment(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function route() {
  const [view, raw] = (location.hash.replace(/^#\//, '') || 'search').split('/');
  const id = raw === undefined ? undefined : segment(raw);
  let known = VIEWS.includes(view) ? view : 'search';
  if (known === 'album' && !id) known = 'albums';
  if (known === 'artist' && !id) known = 'search';
  if (known === 'admin' && api.user?.role !== 'admin') known = 'search';
  for (const name of VIEWS) $('view-' + name).hidden = name !== known;
  document.querySelector('.main').dataset.view = known;
  const tab = known === 'album' || known === 'artist' ? 'albums' : known;
  for (const link of document.querySelectorAll('.views a')) {
    link.classList.toggle('active', link.dataset.view === tab);
  }
  if (known === 'search') guarded(search);
  if (known === 'albums') guarded(() => loadAlbums());
  if (known === 'album') guarded(() => openAlbum(id));
  if (known === 'artist') guarded(() => openArtist(id));
  if (known === 'library') guarded(renderLibrary);
  if (known === 'queue') renderQueue();
  if (known === 'apps') guarded(loadApiKeys);
  if (known === 'admin') guarded(() => loadUsers());
}

async function refreshQuota() {
  showQuota(await api.get('/api/v1/me/quota'));
}

function showQuota(q) {
  $('quota').textContent = fmt.quota(q);
  $('quota').classList.toggle('low', q.remaining_s !== null && q.remaining_s < 60);
}

// ---------------------------------------------------------------- track rows

/**
 * A track's row. `list` and `index`: the list it is shown in, which ▶ puts
 * in the queue from this row on. `controls`: extra buttons (queue and
 * playlist entries). `number`: the track number shown instead of the genre.
 */
function trackRow(track, { compact = false, extra = null, list = null, index = 0, controls = [], number = false } = {}) {
  const playing = player.track?.id === track.id && player.session;
  const like = heart(track);
  const names = el('div', { class: 'names' },
    el('span', { class: 'title' }, track.title),
    el('span', { class: 'artist' }, [track.artist, track.album].filter(Boolean).join(' · ') || 'Unknown artist'));
  const mine = api.user && (track.uploader_id === api.user.id || api.user.role === 'admin');
  return el('li', { class: 'track' + (playing ? ' playing' : ''), 'data-track-id': track.id },
    el('button', {
      type: 'button', class: 'play', title: 'Play ' + track.title, 'aria-label': 'Play ' + track.title,
      onclick: () => guarded(() => playList(list ?? [track], list ? index : 0)),
    }, '▶'),
    names,
    compact ? extra : el('span', { class: 'genre' },
      number ? (track.track_number ? String(track.track_number) : '') : (track.genre ?? '')),
    compact ? null : el('span', { class: 'duration' }, fmt.duration(track.duration_s)),
    compact ? null : el('span', { class: 'actions' }, like,
      el('button', { type: 'button', title: 'Add to playlist', onclick: () => choosePlaylist(track) }, '+'),
      el('button', { type: 'button', class: 'enqueue', title: 'Add to queue', 'aria-label': 'Add to queue',
        onclick: () => enqueue([track]) }, '≡'),
      track.album_id ? el('a', { class: 'button', href: '#/album/' + encodeURIComponent(track.album_id),
        title: 'Open the album', 'aria-label': 'Open the album' }, '◎') : null,
      mine ? el('button', { type: 'button', class: 'edit', title: 'Edit tags or delete', 'aria-label': 'Edit ' + track.title,
        onclick: () => editTrack(track) }, '✎') : null,
      ...controls));
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

/** Fills `list` with rows of `tracks`, each row's ▶ playing the list from there. */
function fillList(list, tracks, options = {}) {
  list.replaceChildren(...tracks.map((t, index) => trackRow(t, { list: tracks, index, ...options })));
}

function markPlaying() {
  for (const row of document.querySelectorAll('.track')) {
    row.classList.toggle('playing', Boolean(player.session) && row.dataset.trackId === player.track?.id);
  }
  for (const row of document.querySelectorAll('#queue-list .track')) {
    row.classList.toggle('current', Number(row.dataset.index) === queue.index);
  }
}

// ---------------------------------------------------------------- search

let searchCursor = null;
/** The tracks listed, in order: ▶ on a row queues them from that row. */
let searchTracks = [];
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
  searchTracks = more ? searchTracks.concat(page.items) : page.items;
  const offset = more ? $('search-results').children.length : 0;
  const rows = page.items.map((t, i) => trackRow(t, { list: searchTracks, index: offset + i }));
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

/** Makes `tracks` the queue and plays entry `start` (a random one when shuffling). */
async function playList(tracks, start = 0, { shuffle = null } = {}) {
  if (shuffle !== null) setShuffle(shuffle);
  const first = shuffle ? Math.floor(Math.random() * tracks.length) : start;
  queue.replace(tracks, first);
  await startCurrent();
}

/** Appends to the queue; when nothing was queued, shows the first, ready to play. */
function enqueue(tracks) {
  const wasEmpty = queue.length === 0;
  const added = queue.add(tracks);
  showMessage(added < tracks.length ? `The queue holds at most ${queue.length} tracks.` : '');
  if (wasEmpty && queue.current) showTrack(queue.current);
  renderQueue();
  saveQueueSoon();
}

/** Plays the queue's current entry from `at` seconds; stops when there is none. */
async function startCurrent(at = 0) {
  const track = queue.current;
  renderQueue();
  if (!track) {
    await player.stop();
    showNothing();
    return;
  }
  showMessage('');
  loudness.attach();
  resumeAt = 0;
  await player.play(track, { startAt: at });
}

/** ▶/❚❚: pauses or plays; with nothing loaded, starts the queue (where it was left). */
async function togglePlay() {
  if (player.session) return player.toggle();
  if (!queue.current && queue.length) queue.jump(0);
  if (queue.current) return startCurrent(resumeAt);
  return undefined;
}

/** Next (1) or previous (−1). Previous past the first 3 s starts the track again. */
async function skip(direction) {
  if (direction < 0 && player.session && $('audio').currentTime > 3) {
    player.seek(0);
    return;
  }
  const moved = direction > 0 ? queue.next() : queue.previous();
  if (!moved) return;
  await startCurrent();
}

/** The end of a track: the next entry (or the same on repeat one), or the end of the queue. */
async function onEnded() {
  updatePlayButton();
  if (queue.next({ auto: true })) {
    await startCurrent();
  } else {
    showNothing();
    renderQueue();
    saveQueueSoon();
  }
}

function onTrack({ track }) {
  showTrack(track);
  $('seek').disabled = false;
  $('rendition').replaceChildren(el('option', { value: '-1' }, 'Auto'));
  $('rendition-now').textContent = '';
  markPlaying();
  saveQueueSoon();
  guarded(() => loadSimilar(track));
}

/** The player bar, the cover, the loudness and the Media Session for `track` (playing or not). */
function showTrack(track) {
  $('now-title').textContent = track.title;
  $('now-artist').textContent = [track.artist, track.album].filter(Boolean).join(' · ');
  $('play-pause').disabled = false;
  $('seek').max = String(track.duration_s);
  $('total').textContent = fmt.duration(track.duration_s);
  applyLoudness();
  setMediaMetadata(track, null);
  $('now-cover').hidden = true;
  api.image(`/api/v1/tracks/${encodeURIComponent(track.id)}/cover?size=300`).then((url) => {
    if (queue.current?.id !== track.id || !url) return;
    $('now-cover').src = url;
    $('now-cover').hidden = false;
    setMediaMetadata(track, url);
  });
}

function showNothing() {
  $('now-title').textContent = 'Nothing playing';
  $('now-artist').textContent = '';
  $('now-cover').hidden = true;
  $('play-pause').disabled = queue.length === 0;
  $('seek').disabled = true;
  $('seek').value = '0';
  $('elapsed').textContent = fmt.duration(0);
  $('total').textContent = fmt.duration(0);
  $('rendition-now').textContent = '';
  $('gain-now').textContent = '';
  if ('mediaSession' in navigator) navigator.mediaSession.metadata = null;
}

// ---------------------------------------------------------------- Media Session

/** Lock-screen and headset controls: the title, artist, album and cover of `track`. */
function setMediaMetadata(track, artwork) {
  if (!('mediaSession' in navigator) || typeof MediaMetadata === 'undefined') return;
  navigator.mediaSession.metadata = new MediaMetadata({
    title: track.title,
    artist: track.artist ?? '',
    album: track.album ?? '',
    artwork: artwork ? [{ src: artwork, sizes: '300x300' }] : [],
  });
}

function setupMediaSession() {
  if (!('mediaSession' in navigator)) return;
  const handlers = {
    play: () => guarded(togglePlay),
    pause: () => $('audio').pause(),
    nexttrack: () => guarded(() => skip(1)),
    previoustrack: () => guarded(() => skip(-1)),
    seekto: (details) => player.seek(details.seekTime),
    seekbackward: (details) => player.seek(Math.max(0, $('audio').currentTime - (details.seekOffset || 10))),
    seekforward: (details) => player.seek($('audio').currentTime + (details.seekOffset || 10)),
  };
  for (const [action, handler] of Object.entries(handlers)) {
    try {
      navigator.mediaSession.setActionHandler(action, handler);
    } catch {
      // This browser does not know the action.
    }
  }
}

function updatePositionState() {
  const audio = $('audio');
  if (!('mediaSession' in navigator) || !player.session || !Number.isFinite(audio.duration)) return;
  try {
    navigator.mediaSession.setPositionState({
      duration: audio.duration,
      position: Math.min(audio.currentTime, audio.duration),
      playbackRate: audio.playbackRate,
    });
  } catch {
    // A duration not known yet.
  }
}

// ---------------------------------------------------------------- keyboard

/** Whether a key press belongs to what has the focus (typing, a list, a slider). */
function typingIn(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  return target instanceof HTMLInputElement && target.type !== 'checkbox' && target.type !== 'button';
}

/** space play/pause, ←/→ seek 5 s, ↑/↓ volume, n/p next/previous, / search. */
function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) return;
  if ($('app').hidden || document.querySelector('dialog[open]')) return;
  const audio = $('audio');
  const volume = (delta) => {
    $('volume').value = String(Math.min(1, Math.max(0, Number($('volume').value) + delta)));
    $('volume').dispatchEvent(new Event('input'));
  };
  const actions = {
    ' ': () => guarded(togglePlay),
    ArrowLeft: () => player.seek(Math.max(0, audio.currentTime - 5)),
    ArrowRight: () => player.seek(audio.currentTime + 5),
    ArrowUp: () => volume(0.05),
    ArrowDown: () => volume(-0.05),
    n: () => guarded(() => skip(1)),
    p: () => guarded(() => skip(-1)),
    '/': () => {
      if (!location.hash.startsWith('#/search')) location.hash = '#/search';
      $('search-q').focus();
    },
  };
  const action = actions[event.key];
  if (!action) return;
  // A focused button would also take the space as a click.
  event.preventDefault();
  action();
}

// ---------------------------------------------------------------- shuffle, repeat, loudness

/** `save`: false for the setting restored at start, which changes no queue. */
function setShuffle(on, { save = true } = {}) {
  queue.setShuffle(on);
  localStorage.setItem('mist.shuffle', on ? '1' : '0');
  $('shuffle').setAttribute('aria-pressed', String(on));
  $('shuffle').title = on ? 'Shuffle: on' : 'Shuffle: off';
  renderQueue();
  if (save && queue.length) saveQueueSoon();
}

function showRepeat() {
  const mode = queue.repeat;
  $('repeat').dataset.mode = mode;
  $('repeat').textContent = mode === 'one' ? '↻1' : '↻';
  $('repeat').setAttribute('aria-label', `Repeat: ${mode}`);
  $('repeat').title = `Repeat: ${mode}`;
  localStorage.setItem('mist.repeat', mode);
}

/** The ReplayGain of the current track in the chosen mode, and the volume with it. */
function applyLoudness() {
  const mode = $('loudness').value;
  const track = queue.current ?? player.track;
  const applied = loudness.set(gainFactor(track, mode));
  $('gain-now').textContent = mode === 'off' || !track ? '' : decibels(applied);
  $('audio').volume = loudness.volumeFor(Number($('volume').value));
}

// ---------------------------------------------------------------- resume

/** Reads the queue saved by any client and shows it, paused where it was left. */
async function resumeQueue() {
  queueRead = false;
  let saved = null;
  try {
    saved = await api.get('/api/v1/me/play-queue');
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  if (saved && saved.track_ids.length && queue.length === 0) {
    const tracks = await fetchTracks(saved.track_ids);
    if (queue.length === 0 && tracks.length) {
      const currentId = saved.track_ids[saved.current_index ?? 0];
      const start = Math.max(0, tracks.findIndex((t) => t.id === currentId));
      // The saved order is the play order: kept as it is, not shuffled again.
      const shuffle = queue.shuffle;
      queue.shuffle = false;
      queue.replace(tracks, start);
      queue.shuffle = shuffle;
      resumeAt = tracks[start]?.id === currentId ? saved.position_ms / 1000 : 0;
      showTrack(queue.current);
      $('elapsed').textContent = fmt.duration(resumeAt);
      $('seek').value = String(resumeAt);
      renderQueue();
    }
  }
  queueRead = true;
}

/** The tracks of `ids` that still exist, in order (six requests at a time). */
async function fetchTracks(ids) {
  const found = new Array(ids.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const at = next++;
      found[at] = await api.get(`/api/v1/tracks/${encodeURIComponent(ids[at])}`).catch(() => null);
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  return found.filter((t) => t && t.status === 'ready');
}

let saveTimer = null;
/** Saves the queue a moment after the last change (changes come in bursts). */
function saveQueueSoon() {
  queueDirty = true;
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => guarded(saveQueue), 1000);
}

/** `PUT /api/v1/me/play-queue` with the playhead; `keepalive` when the tab closes. */
function saveQueue({ keepalive = false } = {}) {
  clearTimeout(saveTimer);
  if (!queueRead || !api.loggedIn || !queueDirty) return Promise.resolve();
  queueDirty = Boolean(player.session); // while playing, the playhead keeps moving
  const position = player.session ? $('audio').currentTime : resumeAt;
  return api.request('PUT', '/api/v1/me/play-queue', queue.saved(position), { keepalive }).catch((e) => {
    // A track deleted by its owner meanwhile: the next change saves again.
    if (e.status === 404) return undefined;
    throw e;
  });
}

// ---------------------------------------------------------------- the queue view

function renderQueue() {
  const list = $('queue-list');
  const tracks = queue.tracks;
  list.replaceChildren(...tracks.map((track, i) => {
    const row = trackRow(track, {
      controls: [
        el('button', { type: 'button', class: 'up', title: 'Move up', 'aria-label': 'Move up', disabled: i === 0,
          onclick: () => moveInQueue(i, i - 1) }, '↑'),
        el('button', { type: 'button', class: 'down', title: 'Move down', 'aria-label': 'Move down',
          disabled: i === tracks.length - 1, onclick: () => moveInQueue(i, i + 1) }, '↓'),
        el('button', { type: 'button', class: 'remove', title: 'Remove from the queue', 'aria-label': 'Remove',
          onclick: () => guarded(() => removeFromQueue(i)) }, '✕'),
      ],
    });
    row.dataset.index = String(i);
    row.classList.toggle('current', i === queue.index);
    // ▶ in the queue plays that entry and keeps the queue.
    const play = row.querySelector('button.play');
    play.replaceWith(el('button', {
      type: 'button', class: 'play', title: 'Play ' + track.title, 'aria-label': 'Play ' + track.title,
      onclick: () => guarded(() => {
        queue.jump(i);
        return startCurrent();
      }),
    }, '▶'));
    return row;
  }));
  $('queue-empty').hidden = tracks.length > 0;
  $('queue-clear').disabled = tracks.length === 0;
}

function moveInQueue(from, to) {
  if (queue.move(from, to)) {
    renderQueue();
    saveQueueSoon();
  }
}

async function removeFromQueue(i) {
  const wasCurrent = queue.remove(i);
  saveQueueSoon();
  if (wasCurrent && player.session) {
    await startCurrent();
  } else if (wasCurrent) {
    resumeAt = 0;
    if (queue.current) showTrack(queue.current);
    else showNothing();
  }
  renderQueue();
}

async function clearQueue() {
  queue.clear();
  resumeAt = 0;
  await player.stop();
  showNothing();
  renderQueue();
  saveQueueSoon();
}

// ---------------------------------------------------------------- albums and artists

let albumsCursor = null;
let albumsSerial = 0;

async function loadAlbums({ more = false } = {}) {
  const serial = ++albumsSerial;
  const params = new URLSearchParams({ limit: '48', sort: $('albums-sort').value });
  if (more && albumsCursor) params.set('cursor', albumsCursor);
  const page = await api.get('/api/v1/albums?' + params);
  if (serial !== albumsSerial) return;
  albumsCursor = page.next_cursor;
  const cards = page.items.map(albumCard);
  if (more) $('album-grid').append(...cards);
  else $('album-grid').replaceChildren(...cards);
  $('albums-empty').hidden = $('album-grid').children.length > 0;
  $('albums-more').hidden = !albumsCursor;
}

/** An album in a grid: its cover (or a placeholder), title and artist; a link to its page. */
function albumCard(album) {
  return el('li', {},
    el('a', { class: 'album-card', href: '#/album/' + encodeURIComponent(album.id), 'data-album-id': album.id,
      title: [album.title, album.artist].filter(Boolean).join(' — ') },
    coverImage(album),
    el('span', { class: 'album-title' }, album.title),
    el('span', { class: 'album-artist' }, [album.artist, album.year].filter(Boolean).join(' · '))));
}

/** A ♪ box that becomes the album's cover once fetched (with the token), if it has one. */
function coverImage(album) {
  const box = el('span', { class: 'cover placeholder', 'aria-hidden': 'true' }, '♪');
  if (album.cover_url) {
    api.image(`/api/v1/albums/${encodeURIComponent(album.id)}/cover?size=300`).then((url) => {
      if (url) box.replaceWith(el('img', { class: 'cover', src: url, alt: `Cover of ${album.title}` }));
    });
  }
  return box;
}

let openAlbumSerial = 0;

async function openAlbum(id) {
  const serial = ++openAlbumSerial;
  const album = await api.get(`/api/v1/albums/${encodeURIComponent(id)}`);
  await likesReady;
  if (serial !== openAlbumSerial) return;
  $('album-title').textContent = album.title;
  $('album-artist').textContent = album.artist ?? 'Unknown artist';
  $('album-artist').disabled = !album.artist_id;
  $('album-artist').onclick = () => {
    if (album.artist_id) location.hash = '#/artist/' + encodeURIComponent(album.artist_id);
  };
  $('album-meta').textContent = [album.year, album.genre, `${album.track_count} tracks`, fmt.duration(album.duration_s)]
    .filter(Boolean).join(' · ');
  $('album-cover').hidden = true;
  if (album.cover_url) {
    api.image(`/api/v1/albums/${encodeURIComponent(album.id)}/cover?size=600`).then((url) => {
      if (!url || serial !== openAlbumSerial) return;
      $('album-cover').src = url;
      $('album-cover').alt = `Cover of ${album.title}`;
      $('album-cover').hidden = false;
    });
  }
  fillList($('album-tracks'), album.tracks, { number: true });
  $('album-play').onclick = () => guarded(() => playList(album.tracks, 0, { shuffle: false }));
  $('album-shuffle').onclick = () => guarded(() => playList(album.tracks, 0, { shuffle: true }));
  $('album-enqueue').onclick = () => enqueue(album.tracks);
}

async function openArtist(id) {
  const artist = await api.get(`/api/v1/artists/${encodeURIComponent(id)}`);
  await likesReady;
  $('artist-name').textContent = artist.name;
  $('artist-meta').textContent = `${artist.album_count} albums · ${artist.track_count} tracks`;
  $('artist-albums').replaceChildren(...artist.albums.map(albumCard));
  fillList($('artist-top'), artist.top_tracks);
  $('artist-play').disabled = artist.top_tracks.length === 0;
  $('artist-shuffle').disabled = artist.top_tracks.length === 0;
  $('artist-play').onclick = () => guarded(() => playList(artist.top_tracks, 0, { shuffle: false }));
  $('artist-shuffle').onclick = () => guarded(() => playList(artist.top_tracks, 0, { shuffle: true }));
}

// ---------------------------------------------------------------- tag edit and delete

const EDIT_FIELDS = ['title', 'artist', 'album', 'album_artist', 'genre', 'track_number', 'year'];
let editing = null;

function editTrack(track) {
  editing = track;
  for (const field of EDIT_FIELDS) $('edit-' + field).value = track[field] ?? '';
  $('edit-error').textContent = '';
  $('edit-delete').textContent = 'Delete track';
  delete $('edit-delete').dataset.armed;
  $('edit-dialog').showModal();
}

/** Sends the fields that changed (an emptied one clears it; a number 0 clears it). */
async function saveEdit(event) {
  if (event.submitter?.value !== 'save') return;
  event.preventDefault();
  const track = editing;
  const change = {};
  for (const field of EDIT_FIELDS) {
    const value = $('edit-' + field).value.trim();
    if (String(track[field] ?? '') === value) continue;
    change[field] = field === 'track_number' || field === 'year' ? Number(value || 0) : value;
  }
  if ('title' in change && !change.title) {
    $('edit-error').textContent = 'A track needs a title.';
    return;
  }
  try {
    if (Object.keys(change).length) {
      replaceTrack(await api.request('PATCH', `/api/v1/tracks/${encodeURIComponent(track.id)}`, change));
    }
    $('edit-dialog').close();
    route();
  } catch (e) {
    $('edit-error').textContent = e.message;
  }
}

/** Delete asks twice: the first click arms the button. */
async function deleteEdited() {
  const button = $('edit-delete');
  if (!button.dataset.armed) {
    button.dataset.armed = '1';
    button.textContent = 'Really delete? This cannot be undone';
    return;
  }
  const track = editing;
  try {
    await api.request('DELETE', `/api/v1/tracks/${encodeURIComponent(track.id)}`);
  } catch (e) {
    $('edit-error').textContent = e.message;
    return;
  }
  $('edit-dialog').close();
  for (let i = queue.length - 1; i >= 0; i--) {
    if (queue.tracks[i].id === track.id) await removeFromQueue(i);
  }
  showMessage(`Deleted “${track.title}”.`, { info: true });
  route();
}

/** A track changed on the server: the queue's copy too. */
function replaceTrack(updated) {
  for (const entry of queue.entries) {
    if (entry.track.id === updated.id) entry.track = { ...entry.track, ...updated };
  }
  if (queue.current?.id === updated.id) showTrack(queue.current);
  renderQueue();
}

// ---------------------------------------------------------------- admin

let usersCursor = null;

async function loadUsers({ more = false } = {}) {
  const params = new URLSearchParams({ limit: '50' });
  if (more && usersCursor) params.set('cursor', usersCursor);
  const page = await api.get('/api/v1/admin/users?' + params);
  usersCursor = page.next_cursor;
  const rows = page.items.map(userRow);
  if (more) $('admin-users').append(...rows);
  else $('admin-users').replaceChildren(...rows);
  $('admin-more').hidden = !usersCursor;
}

/** A user in the admin's table: name, role, a plan to change, today's listening. */
function userRow(user) {
  const plan = el('select', { 'aria-label': `Plan of ${user.username}`, class: 'plan' },
    el('option', { value: 'free' }, 'free'), el('option', { value: 'premium' }, 'premium'));
  plan.value = user.plan;
  plan.addEventListener('change', () => guarded(async () => {
    plan.disabled = true;
    try {
      await api.request('PATCH', `/api/v1/admin/users/${encodeURIComponent(user.id)}`, { plan: plan.value });
    } finally {
      // The server's word, whatever happened: the table again.
      await loadUsers();
    }
    showMessage(`${user.username} is now on the ${plan.value} plan.`, { info: true });
  }));
  return el('tr', { 'data-user-id': user.id },
    el('td', {}, el('span', { class: 'name' }, user.username), el('span', { class: 'email' }, user.email)),
    el('td', { class: 'role' }, user.role),
    el('td', {}, plan),
    el('td', { class: 'usage' }, user.today ? fmt.usage(user.today) : ''),
    el('td', { class: 'state' }, user.disabled ? 'disabled' : 'active'));
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
  if (!player.session) return; // a resumed queue shows where it will start
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

/** The playlist shown in the Library, with its entries; null when none is open. */
let openedPlaylist = null;

async function openPlaylist(playlist) {
  openedPlaylist = playlist;
  for (const b of $('playlists').querySelectorAll('button')) {
    b.classList.toggle('active', b.dataset.playlistId === playlist.id);
  }
  const path = `/api/v1/playlists/${encodeURIComponent(playlist.id)}/tracks`;
  const entries = [];
  let cursor = null;
  do {
    const page = await api.get(`${path}?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    entries.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  await likesReady;
  if (openedPlaylist !== playlist) return;
  $('playlist-title').textContent = playlist.name;
  $('playlist-rename').value = playlist.name;
  $('playlist-head').hidden = false;
  const tracks = entries.map((entry) => entry.track);
  $('playlist-play').disabled = tracks.length === 0;
  $('playlist-play').onclick = () => guarded(() => playList(tracks, 0));
  const change = (work) => guarded(async () => {
    await work();
    await loadPlaylists();
    await openPlaylist(playlists.find((p) => p.id === playlist.id) ?? playlist);
  });
  $('playlist-tracks').replaceChildren(...entries.map((entry, i) => trackRow(entry.track, {
    list: tracks,
    index: i,
    controls: [
      el('button', { type: 'button', class: 'up', title: 'Move up', 'aria-label': 'Move up', disabled: i === 0,
        onclick: () => change(() => api.request('PATCH', `${path}/${encodeURIComponent(entry.track.id)}`,
          { position: entry.position - 1 })) }, '↑'),
      el('button', { type: 'button', class: 'down', title: 'Move down', 'aria-label': 'Move down',
        disabled: i === entries.length - 1,
        onclick: () => change(() => api.request('PATCH', `${path}/${encodeURIComponent(entry.track.id)}`,
          { position: entry.position + 1 })) }, '↓'),
      el('button', { type: 'button', class: 'remove', title: 'Remove from the playlist', 'aria-label': 'Remove',
        onclick: () => change(() => api.request('DELETE', `${path}/${encodeURIComponent(entry.track.id)}`)) }, '✕'),
    ],
  })));
}

async function renamePlaylist(event) {
  event.preventDefault();
  const name = $('playlist-rename').value.trim();
  if (!openedPlaylist || !name) return;
  const renamed = await api.request('PATCH', `/api/v1/playlists/${encodeURIComponent(openedPlaylist.id)}`, { name });
  await loadPlaylists();
  await openPlaylist(renamed);
}

/** Delete asks twice: the first click arms the button. */
async function deletePlaylist() {
  const button = $('playlist-delete');
  if (!openedPlaylist) return;
  if (!button.dataset.armed) {
    button.dataset.armed = '1';
    button.textContent = `Really delete “${openedPlaylist.name}”?`;
    return;
  }
  await api.request('DELETE', `/api/v1/playlists/${encodeURIComponent(openedPlaylist.id)}`);
  closePlaylist();
  await loadPlaylists();
}

function closePlaylist() {
  openedPlaylist = null;
  $('playlist-head').hidden = true;
  $('playlist-tracks').replaceChildren();
  delete $('playlist-delete').dataset.armed;
  $('playlist-delete').textContent = 'Delete playlist';
}

async function renderLibrary() {
  await Promise.all([loadLikes(), loadPlaylists()]);
  if (openedPlaylist) {
    const still = playlists.find((p) => p.id === openedPlaylist.id);
    if (still) await openPlaylist(still);
    else closePlaylist();
  }
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
  $('play-pause').addEventListener('click', () => guarded(togglePlay));
  $('next').addEventListener('click', () => guarded(() => skip(1)));
  $('prev').addEventListener('click', () => guarded(() => skip(-1)));
  $('shuffle').addEventListener('click', () => setShuffle(!queue.shuffle));
  $('repeat').addEventListener('click', () => {
    queue.cycleRepeat();
    showRepeat();
  });
  $('queue-clear').addEventListener('click', () => guarded(clearQueue));
  $('albums-sort').addEventListener('change', () => guarded(() => loadAlbums()));
  $('albums-more').addEventListener('click', () => guarded(() => loadAlbums({ more: true })));
  $('admin-more').addEventListener('click', () => guarded(() => loadUsers({ more: true })));
  $('playlist-rename-form').addEventListener('submit', (e) => guarded(() => renamePlaylist(e)));
  $('playlist-delete').addEventListener('click', () => guarded(deletePlaylist));
  $('edit-form').addEventListener('submit', (e) => saveEdit(e));
  $('edit-delete').addEventListener('click', () => deleteEdited());
  $('seek').addEventListener('change', () => {
    if (player.session) player.seek(Number($('seek').value));
    else resumeAt = Number($('seek').value);
  });
  const volume = $('volume');
  volume.value = localStorage.getItem('mist.volume') ?? '1';
  volume.addEventListener('input', () => {
    $('audio').volume = loudness.volumeFor(Number(volume.value));
    localStorage.setItem('mist.volume', volume.value);
  });
  const mode = localStorage.getItem('mist.loudness');
  $('loudness').value = LOUDNESS_MODES.includes(mode) ? mode : 'track';
  $('loudness').addEventListener('change', () => {
    localStorage.setItem('mist.loudness', $('loudness').value);
    applyLoudness();
  });
  applyLoudness();
  const repeat = localStorage.getItem('mist.repeat');
  queue.repeat = REPEAT_MODES.includes(repeat) ? repeat : 'off';
  showRepeat();
  setShuffle(localStorage.getItem('mist.shuffle') === '1', { save: false });
  setupMediaSession();
  document.addEventListener('keydown', onKey);
  $('rendition').addEventListener('change', () => player.setRendition(Number($('rendition').value)));
  const audio = $('audio');
  audio.addEventListener('timeupdate', updateTime);
  audio.addEventListener('play', updatePlayButton);
  audio.addEventListener('pause', updatePlayButton);
  audio.addEventListener('pause', () => saveQueueSoon());
  audio.addEventListener('seeked', updatePositionState);
  audio.addEventListener('durationchange', updatePositionState);
  audio.addEventListener('play', () => {
    if ('mediaSession' in navigator) navigator.mediaSession.playbackState = 'playing';
  });
  audio.addEventListener('pause', () => {
    if ('mediaSession' in navigator) navigator.mediaSession.playbackState = 'paused';
  });
  player.addEventListener('track', (e) => onTrack(e.detail));
  player.addEventListener('quota', (e) => showQuota(e.detail));
  player.addEventListener('exhausted', (e) => onExhausted(e.detail));
  player.addEventListener('rendition', (e) => onRendition(e.detail));
  player.addEventListener('ended', () => guarded(onEnded));
  // The playhead, for resuming, while playing (the queue itself is saved when it changes).
  setInterval(() => {
    if (player.session && !$('audio').paused) guarded(saveQueue);
  }, 15_000);
  player.addEventListener('error', (e) => showMessage(e.detail.message));
  window.addEventListener('hashchange', route);
  // Where the listener stopped, for this or another client to resume.
  window.addEventListener('pagehide', () => saveQueue({ keepalive: true }));
  api.onUnauthorized = () => {
    player.unload();
    queue.clear();
    queueRead = false;
    showNothing();
    api.forget();
    showLogin();
    $('auth-error').textContent = 'Your session has ended; log in again.';
  };
  setAuthMode(false);
  if (api.loggedIn) enterApp();
  else showLogin();
}

start();
