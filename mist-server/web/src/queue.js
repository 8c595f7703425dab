// The play queue: what plays next, in which order, and what happens at the
// end. Pure state, no DOM and no network, so every rule is tested by Node
// (`node --test src/queue.test.mjs`, run by mist-server/tests/web.rs).
//
// The list is kept in play order. Shuffle reorders it once, current track
// first, so a shuffled queue plays every entry exactly once per cycle, shows
// what comes next truthfully and saves to the server (`/api/v1/me/play-queue`)
// as it will play; the order before shuffling is kept to restore. A track may
// be queued twice, so entries carry a key of their own.
//
// Repeat: `off` stops after the last entry, `all` starts again from the first
// (shuffled anew when shuffle is on), `one` plays the current entry again when
// it ends; an explicit next or previous still moves.

export const REPEAT_MODES = ['off', 'all', 'one'];

/** The most entries a queue holds: what `PUT /api/v1/me/play-queue` accepts. */
export const MAX_ENTRIES = 1000;

export class Queue {
  /** `random`: a function like Math.random (tests pass a seeded one). */
  constructor(random = Math.random) {
    this.random = random;
    this.entries = [];
    /** Entries in the order before shuffling; null when not shuffled. */
    this.unshuffled = null;
    this.index = -1;
    this.shuffle = false;
    this.repeat = 'off';
    this.nextKey = 1;
  }

  get length() {
    return this.entries.length;
  }

  get tracks() {
    return this.entries.map((e) => e.track);
  }

  /** The entry playing (or to play), or null. */
  get current() {
    return this.entries[this.index]?.track ?? null;
  }

  wrap(track) {
    return { key: this.nextKey++, track };
  }

  /** A new queue of `tracks`, `start` the one to play (first when shuffled). */
  replace(tracks, start = 0) {
    this.entries = tracks.slice(0, MAX_ENTRIES).map((t) => this.wrap(t));
    this.unshuffled = null;
    this.index = this.entries.length ? Math.min(Math.max(start, 0), this.entries.length - 1) : -1;
    if (this.shuffle) this.shuffleAround();
  }

  /** Appends (after everything, in the shuffled order too); returns how many fitted. */
  add(tracks) {
    const room = Math.max(0, MAX_ENTRIES - this.entries.length);
    const added = tracks.slice(0, room).map((t) => this.wrap(t));
    this.entries.push(...added);
    this.unshuffled?.push(...added);
    if (this.index < 0 && this.entries.length) this.index = 0;
    return added.length;
  }

  /** Puts `track` right after the current entry. */
  playNext(track) {
    if (this.entries.length >= MAX_ENTRIES) return false;
    const entry = this.wrap(track);
    this.entries.splice(this.index + 1, 0, entry);
    if (this.unshuffled) {
      const at = this.unshuffled.indexOf(this.entries[this.index]);
      this.unshuffled.splice(at + 1, 0, entry);
    }
    if (this.index < 0) this.index = 0;
    return true;
  }

  /**
   * Removes entry `i`. Returns true when it was the current one: the entry
   * after it (or, at the end, none) becomes current, for the caller to play.
   */
  remove(i) {
    if (i < 0 || i >= this.entries.length) return false;
    const [gone] = this.entries.splice(i, 1);
    if (this.unshuffled) this.unshuffled.splice(this.unshuffled.indexOf(gone), 1);
    if (i < this.index) {
      this.index--;
      return false;
    }
    if (i > this.index) return false;
    if (this.index >= this.entries.length) this.index = -1;
    return true;
  }

  /** Moves entry `from` to position `to`; the current entry stays current. */
  move(from, to) {
    const n = this.entries.length;
    if (from < 0 || from >= n || to < 0 || to >= n || from === to) return false;
    const current = this.entries[this.index];
    const [entry] = this.entries.splice(from, 1);
    this.entries.splice(to, 0, entry);
    this.index = current ? this.entries.indexOf(current) : -1;
    return true;
  }

  clear() {
    this.entries = [];
    this.unshuffled = null;
    this.index = -1;
  }

  /** Makes entry `i` current. */
  jump(i) {
    if (i < 0 || i >= this.entries.length) return null;
    this.index = i;
    return this.current;
  }

  setShuffle(on) {
    if (on === this.shuffle) return;
    this.shuffle = on;
    if (on) {
      this.shuffleAround();
    } else if (this.unshuffled) {
      const current = this.entries[this.index];
      this.entries = this.unshuffled;
      this.unshuffled = null;
      this.index = current ? this.entries.indexOf(current) : -1;
    }
  }

  /** off → all → one → off. */
  cycleRepeat() {
    this.repeat = REPEAT_MODES[(REPEAT_MODES.indexOf(this.repeat) + 1) % REPEAT_MODES.length];
    return this.repeat;
  }

  /**
   * Moves to what plays after the current entry and returns it, or null
   * when nothing does (the end, repeat off). `auto`: the current one ended by
   * itself (repeat one then plays it again); otherwise the listener asked.
   */
  next({ auto = false } = {}) {
    if (!this.entries.length) return null;
    if (auto && this.repeat === 'one' && this.index >= 0) return this.current;
    if (this.index + 1 < this.entries.length) {
      this.index++;
      return this.current;
    }
    if (this.repeat === 'off') {
      if (auto) this.index = -1;
      return null;
    }
    // Another cycle: shuffled anew, so each cycle plays every entry once.
    if (this.shuffle) this.reshuffle();
    this.index = 0;
    return this.current;
  }

  /** Moves to the entry before (the last one, on repeat all) and returns it. */
  previous() {
    if (!this.entries.length) return null;
    if (this.index > 0) this.index--;
    else if (this.repeat === 'all') this.index = this.entries.length - 1;
    else this.index = 0;
    return this.current;
  }

  /** Shuffles: the current entry first, the others in a random order after it. */
  shuffleAround() {
    this.unshuffled = this.entries.slice();
    const current = this.entries[this.index];
    const rest = this.entries.filter((e) => e !== current);
    this.permute(rest);
    this.entries = current ? [current, ...rest] : rest;
    this.index = this.entries.length ? 0 : -1;
  }

  /** A new order for another cycle; the entry just played does not come first again. */
  reshuffle() {
    const last = this.entries[this.entries.length - 1];
    this.permute(this.entries);
    if (this.entries.length > 1 && this.entries[0] === last) {
      const swap = 1 + Math.floor(this.random() * (this.entries.length - 1));
      [this.entries[0], this.entries[swap]] = [this.entries[swap], this.entries[0]];
    }
  }

  /** Fisher–Yates, in place. */
  permute(list) {
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [list[i], list[j]] = [list[j], list[i]];
    }
  }

  /** What `PUT /api/v1/me/play-queue` takes (the position is the player's). */
  saved(positionS) {
    return {
      track_ids: this.entries.map((e) => e.track.id),
      current_index: this.index >= 0 ? this.index : null,
      position_ms: Math.max(0, Math.round((positionS || 0) * 1000)),
      changed_by: 'web',
    };
  }
}
