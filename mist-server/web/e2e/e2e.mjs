// End-to-end test of the web player in headless Chromium (Debian's package,
// never a downloaded browser), against a running mist-server whose free plan
// allows only a few seconds a day. mist-server/tests/web.rs starts the server
// and runs this; it can also be run by hand:
//
//   node e2e/e2e.mjs --url http://127.0.0.1:8080 --out /tmp/shots --audio track.wav \
//     --email web@example.com --username web --password web-password [--invite CODE]
//
// As a new user it registers (on an invite-only server: first without the
// code, which must be refused with a message, then with it), uploads the file through the page and waits
// until it is ready; likes it through the API and loads the page twenty times,
// checking that its heart is never drawn empty, then unlikes it with one click
// (exactly one DELETE); finds it by live search and by genre, likes it and adds
// it to a playlist, plays it until the audio element is past 10 s, and goes on
// until the day's quota runs out, then tries to play again. It checks that
// every key request carried the bearer token and no playlist or segment
// request did, that the page broke no CSP rule, and that no screen overflows
// sideways; it saves screenshots of each screen at 1280×800 and 390×844.
// Exit code 0 and a JSON summary on the last line of stdout when all holds.

import { parseArgs } from 'node:util';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { gainFactor, decibels } from '../src/loudness.js';

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    out: { type: 'string' },
    audio: { type: 'string' },
    email: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    invite: { type: 'string' },
    'admin-email': { type: 'string' },
    'admin-password': { type: 'string' },
    chromium: { type: 'string', default: process.env.MIST_CHROMIUM || '/usr/bin/chromium' },
  },
});
for (const name of ['url', 'out', 'audio', 'email', 'username', 'password', 'admin-email', 'admin-password']) {
  if (!opt[name]) fail(`missing --${name}`);
}

const TITLE = 'Aurora Test Signal';
// The admin's album, uploaded by mist-server/tests/web.rs: three 4 s tracks
// with a cover; the second title is HTML with a script in it.
const ALBUM = 'Night Signals';
const HOSTILE = '<img src=x onerror=alert(1)>';
const GENRE = 'Ambient';
const SIZES = [
  [1280, 800],
  [390, 844],
];
const KEY = /\/api\/v1\/tracks\/[^/]+\/keys\/\d+$/;
const SEGMENT = /\/seg_\d{5}\.mp3(\?|$)/;
const PLAYLIST = /\.m3u8(\?|$)/;

function fail(message) {
  console.error(`e2e: FAILED: ${message}`);
  process.exit(1);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const began = Date.now();
function step(message) {
  console.error(`e2e: [${((Date.now() - began) / 1000).toFixed(1)} s] ${message}`);
}

await mkdir(opt.out, { recursive: true });
// A fresh profile each run.
const userDataDir = await mkdtemp(join(tmpdir(), 'mist-e2e-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: opt.chromium,
  headless: true,
  viewport: { width: SIZES[0][0], height: SIZES[0][1] },
  // The closed network: nothing of Google's, no downloads, no updates.
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
    '--autoplay-policy=no-user-gesture-required',
  ],
}).catch((e) => fail(`cannot start ${opt.chromium}: ${e.message} (run scripts/test-services.sh install)`));

const requests = [];
const problems = [];
const page = context.pages()[0] ?? (await context.newPage());
page.on('request', (request) => {
  const url = request.url();
  if (KEY.test(new URL(url).pathname) || SEGMENT.test(url) || PLAYLIST.test(url)) {
    requests.push(request.allHeaders().then((headers) => ({ url, authorization: headers.authorization })));
  }
});
const keyStatuses = [];
page.on('response', (response) => {
  if (KEY.test(new URL(response.url()).pathname)) keyStatuses.push(response.status());
});
page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
// A title's markup that ran would open one.
context.on('dialog', (dialog) => {
  problems.push(`a dialog opened: ${dialog.message()}`);
  dialog.dismiss().catch(() => {});
});
page.on('console', (message) => {
  if (/Content.Security.Policy|Refused to/i.test(message.text())) problems.push(`console: ${message.text()}`);
});

/** Saves the screen at both sizes, checking nothing sticks out sideways. */
async function shots(name) {
  for (const [width, height] of SIZES) {
    await page.setViewportSize({ width, height });
    await page.waitForTimeout(150);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `${name} at ${width}×${height} is ${overflow}px wider than the window`);
    await page.screenshot({ path: join(opt.out, `${name}-${width}x${height}.png`) });
  }
  await page.setViewportSize({ width: SIZES[0][0], height: SIZES[0][1] });
}

/**
 * Records, in the page, every state the ♥ of track `id` is drawn in (from
 * before the page's own script runs), so a heart drawn empty for a moment is
 * caught even if it is corrected later.
 */
function recordHearts(id) {
  window.__hearts = [];
  const look = () => {
    for (const row of document.querySelectorAll('#search-results li.track')) {
      if (row.dataset.trackId !== id) continue;
      const button = row.querySelector('button.like');
      if (!button) continue;
      const state = `${button.getAttribute('aria-pressed')}|${button.textContent}|${button.classList.contains('on')}`;
      const last = window.__hearts[window.__hearts.length - 1];
      if (state !== last) window.__hearts.push(state);
    }
  };
  new MutationObserver(look).observe(document, {
    subtree: true,
    childList: true,
    attributes: true,
    characterData: true,
  });
}

/** The API as the page's user, from Node: `fetch` with the page's token. */
async function apiCall(token, method, path) {
  const response = await fetch(new URL(path, opt.url), {
    method,
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
  });
  check(response.ok, `${method} ${path}: ${response.status}`);
  return response.status === 204 ? null : response.json();
}

const audioTime = () => page.evaluate(() => document.getElementById('audio').currentTime);

let summary;
try {
  step('log-in screen');
  await page.goto(opt.url);
  await page.waitForSelector('#auth-email', { state: 'visible' });
  await shots('login');

  step('register');
  await page.click('#tab-register');
  await page.fill('#auth-email', opt.email);
  await page.fill('#auth-username', opt.username);
  await page.fill('#auth-password', opt.password);
  if (opt.invite) {
    check(await page.isVisible('#auth-invite'), 'the register form should have an invite field');
    await page.click('#auth-submit');
    await page.waitForFunction(() => /invite/i.test(document.getElementById('auth-error').textContent));
    check(await page.isHidden('#app'), 'no account without the invite code');
    await page.fill('#auth-invite', opt.invite);
    await page.click('#auth-submit');
  }
  await page.waitForSelector('#app:not([hidden])');
  const stored = await page.evaluate(() => ({
    token: sessionStorage.getItem('mist.token'),
    remembered: localStorage.getItem('mist.token'),
    cookie: document.cookie,
  }));
  check(stored.token && !stored.cookie, 'the token should be in sessionStorage and in no cookie');
  check(!stored.remembered, 'without "Remember me" the token is not kept past the tab');
  const token = stored.token;

  step('upload');
  await page.click('a[data-view="upload"]');
  await page.setInputFiles('#upload-file', opt.audio);
  await page.fill('#upload-title', TITLE);
  await page.fill('#upload-artist', 'MIST Test Ensemble');
  await page.fill('#upload-album', 'Signals');
  await page.fill('#upload-genre', GENRE);
  await page.click('#upload-submit');
  await page.waitForSelector('#upload-state:not([hidden])');
  await page.waitForFunction(() => /^(Ready|Processing failed)/.test(document.getElementById('upload-status').textContent),
    null, { timeout: 240_000 });
  const uploaded = await page.textContent('#upload-status');
  check(uploaded.startsWith('Ready'), `the upload did not become ready: ${uploaded}`);
  check((await page.getAttribute('#upload-progress', 'value')) === '100', 'the progress bar should be full');
  await shots('upload');

  step('the same file again is refused before it is sent, naming the track');
  await page.setInputFiles('#upload-file', opt.audio);
  await page.click('#upload-submit');
  await page.waitForFunction(() => /^(Already|Upload failed|Ready)/.test(document.getElementById('upload-status').textContent),
    null, { timeout: 60_000 });
  const secondUpload = await page.textContent('#upload-status');
  check(secondUpload === `Already in your library: “${TITLE}”. Nothing was sent.`,
    `a second upload of the same bytes: ${secondUpload}`);

  step('an API key and an app password for a Subsonic app, made and revoked on the page');
  const ping = async (query) => {
    const response = await fetch(new URL(`/rest/ping.view?f=json&v=1.16.1&c=e2e&${query}`, opt.url));
    return (await response.json())['subsonic-response'].status;
  };
  await page.click('a[data-view="apps"]');
  await page.fill('#apikey-name', 'e2e phone');
  await page.click('#apikey-form button[type="submit"]');
  await page.waitForSelector('#apikey-new:not([hidden])');
  const apiKey = (await page.textContent('#apikey-value')).trim();
  check(/^mist_[0-9a-f]{64}$/.test(apiKey), `the new key: ${apiKey}`);
  await page.waitForSelector('#apikeys li');
  check((await page.textContent('#apikeys')).includes('e2e phone'), 'the key is listed by name');
  check(!(await page.textContent('#apikeys')).includes(apiKey), 'the list never shows the secret');
  check(await ping(`apiKey=${apiKey}`) === 'ok', 'the key signs a Subsonic call in');
  await shots('apps');
  await page.click('#apikeys li button');
  await page.waitForSelector('#apikeys-empty:not([hidden])');
  check(await ping(`apiKey=${apiKey}`) === 'failed', 'a revoked key is refused at once');
  await page.click('#app-password-make');
  await page.waitForSelector('#app-password-new:not([hidden])');
  const appPassword = (await page.textContent('#app-password-value')).trim();
  const me = await apiCall(token, 'GET', '/api/v1/me');
  check(await ping(`u=${encodeURIComponent(me.username)}&p=${appPassword}`) === 'ok', 'the app password signs in');

  step('a track liked through the API shows a filled heart on every page load');
  const found = await apiCall(token, 'GET', `/api/v1/tracks?q=${encodeURIComponent(TITLE)}`);
  const trackId = found.items.find((t) => t.title === TITLE)?.id;
  check(trackId, `the API does not list ${TITLE}`);
  await apiCall(token, 'PUT', `/api/v1/me/likes/${trackId}`);
  await page.addInitScript(recordHearts, trackId);
  const heartOf = page.locator(`#search-results li.track[data-track-id="${trackId}"] button.like`);
  const likeRequests = [];
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === `/api/v1/me/likes/${trackId}`) likeRequests.push(request.method());
  });
  const LOADS = 20;
  await page.click('a[data-view="search"]');
  for (let load = 1; load <= LOADS; load++) {
    await page.reload();
    await heartOf.waitFor();
    // Settle: the likes and the track list may answer in either order.
    await page.waitForLoadState('networkidle');
    const seen = await page.evaluate(() => window.__hearts);
    check(seen.length > 0 && seen.every((s) => s === 'true|♥|true'),
      `load ${load}: the heart of a liked track was drawn as ${JSON.stringify(seen)}`);
  }
  await heartOf.click();
  await page.waitForSelector(`#search-results li.track[data-track-id="${trackId}"] button.like[aria-pressed="false"]:not([disabled])`);
  await page.waitForLoadState('networkidle');
  check(JSON.stringify(likeRequests) === '["DELETE"]', `one click sent ${JSON.stringify(likeRequests)}`);
  check((await heartOf.textContent()) === '♡', 'the heart should be empty after unliking');
  const likes = await apiCall(token, 'GET', '/api/v1/me/likes?limit=100');
  check(!likes.items.some((t) => t.id === trackId), 'the server still lists the track as liked');

  step('live search and the genre filter');
  await page.click('a[data-view="search"]');
  await page.fill('#search-q', '');
  await page.locator('#search-q').pressSequentially('auror', { delay: 80 });
  const row = page.locator('#search-results .track', { hasText: TITLE });
  await row.waitFor();
  await page.waitForSelector(`#search-genre option[value="${GENRE}"]`, { state: 'attached' });
  await page.selectOption('#search-genre', GENRE);
  await row.waitFor();
  await shots('search');

  step('like it and put it in a playlist');
  await row.locator('button.like').click();
  await page.waitForSelector('#search-results .track button.like[aria-pressed="true"]');
  check(JSON.stringify(likeRequests) === '["DELETE","PUT"]', `liking again sent ${JSON.stringify(likeRequests)}`);
  await page.click('a[data-view="library"]');
  await page.fill('#playlist-name', 'Road trip');
  await page.click('#playlist-form button');
  await page.waitForSelector('#playlists button:has-text("Road trip (0)")');
  await page.click('a[data-view="search"]');
  await row.locator('button[title="Add to playlist"]').click();
  await page.click('#add-choices button:has-text("Road trip")');
  await page.click('a[data-view="library"]');
  await page.click('#playlists button:has-text("Road trip (1)")');
  await page.waitForSelector(`#playlist-tracks .track:has-text("${TITLE}")`);
  await page.waitForSelector(`#likes .track:has-text("${TITLE}")`);
  await shots('library');

  step('play past 10 s');
  await page.click('a[data-view="search"]');
  const startedAt = Date.now();
  await row.locator('button.play').click();
  await page.waitForFunction(() => document.getElementById('audio').currentTime > 10, null, { timeout: 60_000 });
  const playedTo = await audioTime();
  const tookS = (Date.now() - startedAt) / 1000;
  check((await page.textContent('#rendition-now')).trim() !== '', 'the player bar should name the rendition');
  check((await page.textContent('#now-title')) === TITLE, 'the player bar should show the title');
  await shots('playing');

  step('listen until the quota runs out');
  await page.waitForSelector('#message:not([hidden])', { timeout: 90_000 });
  const message = await page.textContent('#message');
  check(/quota is used up; it resets at \d\d:\d\d/.test(message), `unexpected message: ${message}`);
  await page.waitForTimeout(1500);
  check(await page.evaluate(() => document.getElementById('audio').paused), 'playback should stop with the quota');
  await shots('quota');

  step('try to play again');
  const refused = page.waitForResponse((r) => r.url().endsWith('/api/v1/playback/sessions') && r.request().method() === 'POST');
  await row.locator('button.play').click();
  const again = await refused;
  check(again.status() === 429, `a new session should be refused with 429, got ${again.status()}`);
  await page.waitForTimeout(2000);
  check(await page.evaluate(() => document.getElementById('audio').paused), 'nothing should play after the quota');
  check(/quota is used up/.test(await page.textContent('#message')), 'the quota message should stay');

  step('log out; log in as the admin with "Remember me"');
  await page.click('#logout');
  await page.waitForSelector('#auth-email', { state: 'visible' });
  check(await page.evaluate(() => !sessionStorage.getItem('mist.token') && !localStorage.getItem('mist.token')),
    'logging out forgets the token');
  await page.click('#tab-login');
  await page.fill('#auth-email', opt['admin-email']);
  await page.fill('#auth-password', opt['admin-password']);
  await page.check('#auth-remember');
  await page.click('#auth-submit');
  await page.waitForSelector('#app:not([hidden])');
  const adminToken = await page.evaluate(() => localStorage.getItem('mist.token'));
  check(adminToken && !(await page.evaluate(() => sessionStorage.getItem('mist.token'))),
    'remembered: the token is in localStorage only');

  step('a new tab is still logged in');
  const tab = await context.newPage();
  await tab.goto(opt.url);
  await tab.waitForSelector('#app:not([hidden])');
  check(await tab.isVisible('#admin-link'), 'an admin sees the Admin view');
  await tab.close();

  step('the album grid, with the cover');
  await page.click('a[data-view="albums"]');
  const card = page.locator('#album-grid .album-card', { hasText: ALBUM });
  // The album ingests while the listener plays; its cover is set once it is
  // whole. Look again (the view reloads on a route) until it shows.
  const covered = (name) => [...document.querySelectorAll('.album-card')].some((a) => {
    const img = a.querySelector('img.cover');
    return a.textContent.includes(name) && img?.src.startsWith('blob:') && img.complete && img.naturalWidth > 0;
  });
  for (let tries = 0; ; tries++) {
    const shown = await page.waitForFunction(covered, ALBUM, { timeout: 2000 }).then(() => true, () => false);
    if (shown) break;
    check(tries < 90, `the album ${ALBUM} with its cover never showed`);
    await page.evaluate(() => window.dispatchEvent(new HashChangeEvent('hashchange')));
  }
  await shots('albums');

  step('the album page: its tracks in order, a hostile title shown as text');
  await card.click();
  await page.waitForFunction(() => !document.getElementById('view-album').hidden
    && document.querySelectorAll('#album-tracks .track').length === 3);
  const albumTitles = await page.$$eval('#album-tracks .track .title', (els) => els.map((e) => e.textContent));
  check(albumTitles[0] === 'First Light' && albumTitles[2] === 'Third Tide', `album tracks: ${JSON.stringify(albumTitles)}`);
  check(albumTitles[1] === `${HOSTILE}Second <script>alert(2)</script>Wave`, `the hostile title: ${albumTitles[1]}`);
  check(await page.evaluate(() => document.querySelectorAll('img[src="x"], .track img, body script:not([src])').length === 0),
    'a title was parsed as HTML');
  await page.waitForFunction(() => {
    const cover = document.getElementById('album-cover');
    return !cover.hidden && cover.complete && cover.naturalWidth > 0;
  });
  await shots('album');

  const nowIs = (title) => page.waitForFunction((t) => document.getElementById('now-title').textContent === t,
    title, { timeout: 30_000 });
  const played = [];
  step('play the album; the end of track 1 plays track 2');
  await page.click('#album-play');
  await nowIs(albumTitles[0]);
  played.push(await page.textContent('#now-title'));
  await page.waitForFunction(() => !document.getElementById('audio').paused);
  await nowIs(albumTitles[1]);
  played.push(await page.textContent('#now-title'));

  step('the Media Session has the title, artist, album and cover');
  await page.waitForFunction((t) => navigator.mediaSession.metadata?.title === t
    && navigator.mediaSession.metadata.artwork.length > 0, albumTitles[1]);
  const media = await page.evaluate(() => ({
    album: navigator.mediaSession.metadata.album,
    artist: navigator.mediaSession.metadata.artist,
    artwork: navigator.mediaSession.metadata.artwork[0].src,
  }));
  check(media.album === ALBUM && media.artist === 'MIST Test Ensemble' && media.artwork.startsWith('blob:'),
    `media session: ${JSON.stringify(media)}`);
  step('ReplayGain: the track\'s gain, the album\'s, or none');
  const playingId = await page.evaluate(() => document.querySelector('#queue-list .track.current')?.dataset.trackId);
  const playingTrack = await apiCall(adminToken, 'GET', `/api/v1/tracks/${playingId}`);
  check(Number.isFinite(playingTrack.track_gain_db), `no loudness measured: ${JSON.stringify(playingTrack)}`);
  for (const mode of ['track', 'album', 'off']) {
    await page.selectOption('#loudness', mode);
    const shown = await page.textContent('#gain-now');
    const want = mode === 'off' ? '' : decibels(gainFactor(playingTrack, mode));
    check(shown === want, `ReplayGain ${mode}: shows "${shown}", the track's figures give "${want}"`);
  }
  await page.selectOption('#loudness', 'track');

  step('next and previous');
  await page.click('#next');
  await nowIs(albumTitles[2]);
  await page.click('#prev');
  await nowIs(albumTitles[1]);

  step('keyboard: n for next, space to pause and play');
  await page.keyboard.press('n');
  await nowIs(albumTitles[2]);
  await page.waitForFunction(() => !document.getElementById('audio').paused);
  await page.keyboard.press(' ');
  await page.waitForFunction(() => document.getElementById('audio').paused);
  check((await page.textContent('#now-title')) === albumTitles[2], 'space clicked the focused button');
  await page.keyboard.press(' ');
  await page.waitForFunction(() => !document.getElementById('audio').paused);

  step('shuffle: every track once, the first playing; move an entry');
  await page.click('#album-shuffle');
  check((await page.getAttribute('#shuffle', 'aria-pressed')) === 'true', 'shuffle shows on');
  await page.click('a[data-view="queue"]');
  await page.waitForFunction(() => document.querySelectorAll('#queue-list .track').length === 3);
  let queued = await page.$$eval('#queue-list .track .title', (els) => els.map((e) => e.textContent));
  check(JSON.stringify([...queued].sort()) === JSON.stringify([...albumTitles].sort()),
    `the shuffled queue: ${JSON.stringify(queued)}`);
  await nowIs(queued[0]);
  check(await page.isVisible('#queue-list .track.current:first-child'), 'the first entry plays');
  await page.click('#queue-list .track:first-child button.down');
  const moved = await page.$$eval('#queue-list .track .title', (els) => els.map((e) => e.textContent));
  check(moved[1] === queued[0] && moved[0] === queued[1], `after moving: ${JSON.stringify(moved)}`);
  check(await page.isVisible('#queue-list .track.current:nth-child(2)'), 'the moved entry stays current');
  queued = moved;
  await page.click('#repeat');
  check((await page.getAttribute('#repeat', 'data-mode')) === 'all', 'repeat: all');
  await page.click('#repeat');
  check((await page.getAttribute('#repeat', 'data-mode')) === 'one', 'repeat: one');
  await page.click('#repeat');
  await shots('queue');

  step('resume: the queue is on the server, and a reload shows it paused where it was');
  await page.keyboard.press(' ');
  await page.waitForFunction(() => document.getElementById('audio').paused);
  const current = await page.textContent('#now-title');
  let saved = null;
  for (let i = 0; i < 50; i++) {
    saved = await apiCall(adminToken, 'GET', '/api/v1/me/play-queue').catch(() => null);
    if (saved?.track_ids.length === 3 && saved.current_index === 1 && saved.position_ms > 0) break;
    await page.waitForTimeout(200);
  }
  check(saved?.track_ids.length === 3 && saved.current_index === 1 && saved.changed_by === 'web',
    `the saved queue: ${JSON.stringify(saved)}`);
  await page.reload();
  await page.waitForSelector('#app:not([hidden])');
  await nowIs(current);
  await page.waitForFunction(() => document.querySelectorAll('#queue-list .track').length === 3);
  const resumed = await page.$$eval('#queue-list .track .title', (els) => els.map((e) => e.textContent));
  check(JSON.stringify(resumed) === JSON.stringify(queued), `resumed queue: ${JSON.stringify(resumed)}`);
  check(await page.evaluate(() => document.getElementById('audio').paused), 'a resumed queue waits for play');
  check((await page.textContent('#elapsed')) !== '', 'the playhead is shown');

  step('the admin page: plan, role and today\'s listening; change a plan');
  await page.click('a[data-view="admin"]');
  const userRow = `#admin-users tr:has-text("${opt.email}")`;
  await page.waitForSelector(userRow);
  check((await page.inputValue(`${userRow} select.plan`)) === 'free', 'the listener is on the free plan');
  check((await page.textContent(`${userRow} .role`)) === 'user', 'the listener is a user');
  const usage = await page.textContent(`${userRow} .usage`);
  check(/^0:\d\d of 0:25$/.test(usage), `the listener's usage today: ${usage}`);
  const patched = page.waitForResponse((r) => r.request().method() === 'PATCH' && r.url().includes('/api/v1/admin/users/'));
  await page.selectOption(`${userRow} select.plan`, 'premium');
  check((await patched).status() === 200, 'the plan change was refused');
  await page.locator(`${userRow} .usage`, { hasText: 'unlimited' }).waitFor();
  check((await page.inputValue(`${userRow} select.plan`)) === 'premium', 'the table shows the new plan');
  await shots('admin');

  step('the artist page: the album and the top tracks');
  await page.click('a[data-view="albums"]');
  await card.click();
  await page.waitForFunction(() => document.querySelectorAll('#album-tracks .track').length === 3);
  await page.click('#album-artist');
  await page.waitForFunction((name) => !document.getElementById('view-artist').hidden
    && document.getElementById('artist-name').textContent === 'MIST Test Ensemble'
    && [...document.querySelectorAll('#artist-albums .album-card')].some((a) => a.textContent.includes(name))
    && document.querySelectorAll('#artist-top .track').length >= 3, ALBUM);

  step('tag edit and delete of the admin\'s own track');
  await page.click('a[data-view="albums"]');
  await card.click();
  await page.waitForFunction(() => document.querySelectorAll('#album-tracks .track').length === 3);
  await page.click('#album-tracks .track:has-text("Third Tide") button.edit');
  await page.fill('#edit-title', 'Third Tide (edit)');
  await page.click('#edit-save');
  await page.waitForSelector('#album-tracks .track:has-text("Third Tide (edit)")');
  await page.click('#album-tracks .track:has-text("First Light") button.edit');
  await page.click('#edit-delete');
  check((await page.textContent('#edit-delete')).startsWith('Really'), 'delete asks again');
  await page.click('#edit-delete');
  await page.waitForFunction(() => document.querySelectorAll('#album-tracks .track').length === 2);
  await page.waitForTimeout(1500); // the queue without it is saved

  step('playlists: create, add, reorder, remove, rename, delete');
  await page.click('a[data-view="library"]');
  await page.fill('#playlist-name', 'Mix');
  await page.click('#playlist-form button');
  await page.waitForSelector('#playlists button:has-text("Mix (0)")');
  await page.click('a[data-view="albums"]');
  await card.click();
  await page.waitForFunction(() => document.querySelectorAll('#album-tracks .track').length === 2);
  for (const n of [1, 2]) {
    await page.click(`#album-tracks .track:nth-child(${n}) button[title="Add to playlist"]`);
    await page.click('#add-choices button:has-text("Mix")');
    await page.waitForSelector('#add-dialog:not([open])', { state: 'attached' });
  }
  await page.click('a[data-view="library"]');
  await page.click('#playlists button:has-text("Mix (2)")');
  await page.waitForFunction(() => document.querySelectorAll('#playlist-tracks .track').length === 2);
  const entries = await page.$$eval('#playlist-tracks .track .title', (els) => els.map((e) => e.textContent));
  await page.click('#playlist-tracks .track:first-child button.down');
  await page.waitForFunction((first) => document.querySelector('#playlist-tracks .track:nth-child(2) .title')?.textContent === first,
    entries[0]);
  await page.click('#playlist-tracks .track:first-child button.remove');
  await page.waitForSelector('#playlists button:has-text("Mix (1)")');
  await page.fill('#playlist-rename', 'Evening mix');
  await page.click('#playlist-rename-form button');
  await page.waitForSelector('#playlists button:has-text("Evening mix (1)")');
  check((await page.textContent('#playlist-title')) === 'Evening mix', 'the open playlist shows its new name');
  await page.click('#playlist-delete');
  await page.click('#playlist-delete');
  await page.waitForFunction(() => !document.querySelector('#playlists button') ||
    ![...document.querySelectorAll('#playlists button')].some((b) => b.textContent.includes('mix')));
  const left = await apiCall(adminToken, 'GET', '/api/v1/me/playlists?limit=100');
  check(left.items.length === 0, `playlists left: ${JSON.stringify(left.items)}`);

  const seen = await Promise.all(requests);
  const keys = seen.filter((r) => KEY.test(new URL(r.url).pathname));
  const segments = seen.filter((r) => SEGMENT.test(r.url));
  const playlists = seen.filter((r) => PLAYLIST.test(r.url));
  check(keys.length >= 1, 'no key was requested');
  check(keyStatuses.every((status) => status === 200), `a key was refused: ${keyStatuses}`);
  check(segments.length >= 2, `only ${segments.length} segments were requested`);
  for (const key of keys) {
    check([token, adminToken].some((t) => key.authorization === `Bearer ${t}`),
      `key request without the bearer token: ${key.url}`);
  }
  for (const r of [...segments, ...playlists]) {
    check(r.authorization === undefined, `the token was sent to a media URL: ${r.url}`);
  }
  check(problems.length === 0, problems.join('; '));
  summary = {
    current_time_s: playedTo,
    seconds_to_pass_10s: tookS,
    key_requests: keys.length,
    key_statuses: keyStatuses,
    segment_requests: segments.length,
    playlist_requests: playlists.length,
    quota_message: message,
    heart_page_loads: LOADS,
    album_titles: played,
  };
} catch (error) {
  await page.screenshot({ path: join(opt.out, 'failure.png') }).catch(() => {});
  await context.close();
  await rm(userDataDir, { recursive: true, force: true });
  fail(`${error.message} (screenshot: ${join(opt.out, 'failure.png')})`);
}
await context.close();
await rm(userDataDir, { recursive: true, force: true });
console.log(JSON.stringify(summary));
