// Unit tests of the page's state that needs no browser: the queue (moves,
// shuffle playing every track once, repeat, what is saved for resume) and
// the ReplayGain arithmetic. Run by mist-server/tests/web.rs, or by hand:
// `node --test src/queue.test.mjs`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, MAX_ENTRIES } from './queue.js';
import { gainFactor, decibels } from './loudness.js';

const tracks = (n) => Array.from({ length: n }, (_, i) => ({ id: `t${i + 1}` }));
const ids = (q) => q.tracks.map((t) => t.id);

/** A seeded generator (mulberry32), so a failing order can be replayed. */
function seeded(seed) {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('plays in order and stops at the end with repeat off', () => {
  const q = new Queue();
  q.replace(tracks(3));
  assert.equal(q.current.id, 't1');
  assert.equal(q.next({ auto: true }).id, 't2');
  assert.equal(q.next().id, 't3');
  assert.equal(q.next(), null, 'a click on next at the end does nothing');
  assert.equal(q.current.id, 't3');
  assert.equal(q.next({ auto: true }), null, 'the end of the last track ends the queue');
  assert.equal(q.current, null);
});

test('previous goes back and stays on the first', () => {
  const q = new Queue();
  q.replace(tracks(3), 2);
  assert.equal(q.previous().id, 't2');
  assert.equal(q.previous().id, 't1');
  assert.equal(q.previous().id, 't1');
  q.repeat = 'all';
  assert.equal(q.previous().id, 't3', 'repeat all wraps backwards');
});

test('repeat all wraps, repeat one replays on its own but moves on a click', () => {
  const q = new Queue();
  q.replace(tracks(2), 1);
  assert.equal(q.cycleRepeat(), 'all');
  assert.equal(q.next({ auto: true }).id, 't1');
  assert.equal(q.cycleRepeat(), 'one');
  assert.equal(q.next({ auto: true }).id, 't1');
  assert.equal(q.next({ auto: true }).id, 't1');
  assert.equal(q.next().id, 't2');
  assert.equal(q.next().id, 't1', 'a click at the end wraps on repeat one');
  assert.equal(q.cycleRepeat(), 'off');
});

test('shuffle plays every track exactly once per cycle, the current one first', () => {
  for (let seed = 1; seed <= 50; seed++) {
    const q = new Queue(seeded(seed));
    q.replace(tracks(9), 4);
    q.setShuffle(true);
    assert.equal(q.current.id, 't5', 'the playing track stays current');
    const played = [q.current.id];
    while (q.next({ auto: true })) played.push(q.current.id);
    assert.deepEqual([...played].sort(), ids({ tracks: tracks(9) }).sort(), `seed ${seed}: ${played}`);
    // Repeat all: each further cycle is a new permutation of all of them.
    q.replace(tracks(9));
    q.repeat = 'all';
    for (let cycle = 0; cycle < 3; cycle++) {
      const seen = [q.current.id];
      for (let i = 1; i < 9; i++) seen.push(q.next({ auto: true }).id);
      assert.equal(new Set(seen).size, 9, `seed ${seed}, cycle ${cycle}: ${seen}`);
      const last = q.current.id;
      assert.notEqual(q.next({ auto: true }).id, last, 'a new cycle does not repeat the last track');
    }
  }
});

test('shuffle off restores the order and keeps the current track', () => {
  const q = new Queue(seeded(7));
  q.replace(tracks(6), 2);
  q.setShuffle(true);
  q.next();
  const now = q.current.id;
  q.setShuffle(false);
  assert.deepEqual(ids(q), ['t1', 't2', 't3', 't4', 't5', 't6']);
  assert.equal(q.current.id, now);
});

test('moves keep the current entry current', () => {
  const q = new Queue();
  q.replace(tracks(4), 1);
  assert.ok(q.move(3, 0));
  assert.deepEqual(ids(q), ['t4', 't1', 't2', 't3']);
  assert.equal(q.current.id, 't2');
  assert.ok(q.move(2, 3));
  assert.deepEqual(ids(q), ['t4', 't1', 't3', 't2']);
  assert.equal(q.current.id, 't2');
  assert.equal(q.index, 3);
  assert.ok(!q.move(0, 9), 'out of range is refused');
  assert.ok(!q.move(-1, 0));
});

test('remove: before, after and the current entry', () => {
  const q = new Queue();
  q.replace(tracks(4), 2);
  assert.equal(q.remove(0), false);
  assert.equal(q.current.id, 't3');
  assert.equal(q.remove(2), false);
  assert.deepEqual(ids(q), ['t2', 't3']);
  assert.equal(q.remove(1), true, 'removing the current one says so');
  assert.equal(q.current, null, 'nothing came after it');
  q.replace(tracks(3));
  assert.equal(q.remove(0), true);
  assert.equal(q.current.id, 't2', 'the next one becomes current');
  assert.equal(q.remove(7), false);
});

test('a track queued twice is two entries; removing one leaves the other', () => {
  const q = new Queue(seeded(3));
  const [a, b] = tracks(2);
  q.replace([a, b]);
  q.add([a]);
  q.setShuffle(true);
  q.remove(q.tracks.lastIndexOf(a) === 0 ? 1 : q.tracks.lastIndexOf(a));
  q.setShuffle(false);
  assert.equal(q.length, 2);
  assert.ok(ids(q).includes('t2'));
});

test('play next, add and the size limit', () => {
  const q = new Queue();
  q.replace(tracks(3));
  q.playNext({ id: 'x' });
  assert.deepEqual(ids(q), ['t1', 'x', 't2', 't3']);
  q.clear();
  assert.equal(q.current, null);
  assert.equal(q.add(tracks(2)), 2);
  assert.equal(q.current.id, 't1', 'adding to an empty queue makes the first current');
  assert.equal(q.add(tracks(MAX_ENTRIES)), MAX_ENTRIES - 2);
  assert.equal(q.length, MAX_ENTRIES);
  assert.equal(q.playNext({ id: 'y' }), false);
});

test('what is saved for resume is the play order, the index and the position', () => {
  const q = new Queue(seeded(11));
  q.replace(tracks(3), 1);
  assert.deepEqual(q.saved(42.4567), {
    track_ids: ['t1', 't2', 't3'],
    current_index: 1,
    position_ms: 42457,
    changed_by: 'web',
  });
  q.setShuffle(true);
  const saved = q.saved(0);
  assert.equal(saved.track_ids[saved.current_index], 't2');
  q.clear();
  assert.deepEqual(q.saved(-3), { track_ids: [], current_index: null, position_ms: 0, changed_by: 'web' });
});

test('ReplayGain: the gain, capped by the peak, album mode and off', () => {
  const t = { track_gain_db: -6.0206, track_peak: 0.9, album_gain_db: 3, album_peak: 0.5 };
  assert.ok(Math.abs(gainFactor(t, 'track') - 0.5) < 1e-4);
  assert.equal(gainFactor(t, 'off'), 1);
  // +3 dB is ×1.41, but a peak of 0.5 allows ×2: applied in full.
  assert.ok(Math.abs(gainFactor(t, 'album') - 10 ** (3 / 20)) < 1e-9);
  // +12 dB would clip a peak of 0.5: held to ×2, the peak at full scale.
  assert.equal(gainFactor({ track_gain_db: 12, track_peak: 0.5 }, 'track'), 2);
  // No peak: never raised.
  assert.equal(gainFactor({ track_gain_db: 5, track_peak: null }, 'track'), 1);
  // Album mode without album figures uses the track's; nothing measured: unity.
  assert.ok(Math.abs(gainFactor({ track_gain_db: -6.0206, track_peak: 1 }, 'album') - 0.5) < 1e-4);
  assert.equal(gainFactor({}, 'track'), 1);
  assert.equal(gainFactor(null, 'track'), 1);
  assert.equal(decibels(0.5), '−6.0 dB');
  assert.equal(decibels(1), '+0.0 dB');
});
