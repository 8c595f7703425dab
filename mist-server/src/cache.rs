//! The listening hot path's in-process cache: what every key request,
//! heartbeat and media request reads and almost never changes: the token
//! holder (user row, and which token ids were found not revoked; SQLite
//! only, see [`find_token_holder`]), the
//! playable track row, its wrapped keys, and which keys a user already
//! unlocked today.
//!
//! Correctness over speed, so an entry is dropped whenever what it copies
//! may have changed:
//! - at once, in this process, by the handler that made the change
//!   ([`HotCache::forget_user`], [`HotCache::forget_track`]);
//! - from other processes and nodes, by the database: triggers
//!   (`migrations/*/20261202000200_cache_events.sql`) on `users`,
//!   `revoked_tokens` and `tracks` send `user:<id>` / `track:<id>`. On
//!   PostgreSQL that is NOTIFY on `mist_cache`, heard by every node's
//!   LISTEN ([`run_sync`]) as the change commits; while the listener is not
//!   connected the cache is off (every read goes to the database) and it is
//!   emptied on every reconnect, since notifications sent meanwhile are lost.
//!   On SQLite (one server process) the rows go to `cache_events`, which
//!   every request catches up with first ([`HotCache::catch_up`], one
//!   indexed read that finds nothing unless the worker or a `mist-server
//!   user …` command changed something, begun after the request arrived and
//!   shared by the requests queued behind it), so such a change is seen by
//!   the next request too.
//!
//! A request catches up once, at its start: in the auth extractor, or
//! before a playlist's track lookup; the lookups after it in the same
//! request ([`find_playable`], [`find_key`]) rely on that. Segment requests
//! do not: they are served on their files (`crate::http::media`), which
//! every delete removes before it returns.
//!
//! A row read from the database before an invalidation must not be stored
//! after it: readers take [`HotCache::epoch`] before their query and the
//! store is skipped when it moved. Entries also expire after [`ENTRY_TTL`],
//! a bound on what a lost notification could cost. Only ready tracks are
//! kept (not-found is never cached), so a track that becomes ready is served
//! at once. Each map is capped and emptied when full.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::db::Db;
use crate::db::tracks::{self, Playable, StoredKey};
use crate::db::users::{self, TokenHolder, UserRow};

/// How long an entry is trusted without a change being heard.
pub const ENTRY_TTL: Duration = Duration::from_secs(60);

/// The NOTIFY channel of PostgreSQL's triggers.
pub const CHANNEL: &str = "mist_cache";

const MAX_USERS: usize = 100_000;
/// Segment bytes kept in memory (a 6 s segment at 192 kbit/s is ~144 KB).
const MAX_SEGMENT_BYTES: usize = 64 * 1024 * 1024;
/// `cache_events` rows applied one by one; more at once empty the cache.
const CATCH_UP_ROWS: usize = 1000;
const MAX_TRACKS: usize = 50_000;
const MAX_UNLOCKED: usize = 200_000;

struct CachedUser {
    row: UserRow,
    /// Token ids seen not revoked (a revocation drops the whole entry).
    live_tokens: HashSet<String>,
    at: Instant,
}

struct CachedTrack {
    playable: Playable,
    keys: HashMap<i64, Arc<StoredKey>>,
    at: Instant,
}

enum Forgotten {
    User(String),
    Track(String),
    All,
}

/// Forgets what it names when dropped (see [`HotCache::forget_user_after`]).
#[must_use = "the entry is forgotten when this is dropped: bind it to a variable"]
pub struct Forget<'a> {
    cache: &'a HotCache,
    what: Option<Forgotten>,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        match self.what.take() {
            Some(Forgotten::User(id)) => self.cache.forget_user(&id),
            Some(Forgotten::Track(id)) => self.cache.forget_track(&id),
            Some(Forgotten::All) => self.cache.clear(),
            None => {}
        }
    }
}

/// See the module docs. One per [`crate::app::AppState`].
pub struct HotCache {
    live: AtomicBool,
    epoch: AtomicU64,
    /// SQLite: the last `cache_events` row applied; -1 before the first read.
    seen_event: AtomicI64,
    /// SQLite: reads of `cache_events` begun, and the number of the last one
    /// that finished; one at a time (see [`HotCache::catch_up`]).
    reads_begun: AtomicU64,
    reads_done: AtomicU64,
    reading: tokio::sync::Mutex<()>,
    users: Mutex<HashMap<String, CachedUser>>,
    tracks: Mutex<HashMap<String, CachedTrack>>,
    /// `user/track/day/key`: keys the user was given on that UTC day.
    unlocked: Mutex<HashSet<String>>,
    /// Recently served segments of local storage, by track then object key.
    segments: Mutex<Segments>,
    /// SQLite's similar-tracks index, kept in step by the same changes.
    pub embeddings: crate::db::embedding_index::EmbeddingIndex,
}

/// Segment bytes, at most [`MAX_SEGMENT_BYTES`] in all (emptied when full).
#[derive(Default)]
struct Segments {
    by_track: HashMap<String, HashMap<String, Bytes>>,
    bytes: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain maps, still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn fresh(at: Instant) -> bool {
    at.elapsed() < ENTRY_TTL
}

impl HotCache {
    /// A cache that is on (`live`) or waits for [`run_sync`] to turn it on.
    pub fn new(live: bool) -> Self {
        HotCache {
            live: AtomicBool::new(live),
            epoch: AtomicU64::new(0),
            seen_event: AtomicI64::new(-1),
            reads_begun: AtomicU64::new(0),
            reads_done: AtomicU64::new(0),
            reading: tokio::sync::Mutex::new(()),
            users: Mutex::new(HashMap::new()),
            tracks: Mutex::new(HashMap::new()),
            unlocked: Mutex::new(HashSet::new()),
            segments: Mutex::new(Segments::default()),
            embeddings: Default::default(),
        }
    }

    /// For a reader about to query: pass it back to the `put_*` call.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Whether the cache is in use (on PostgreSQL: while LISTENing).
    pub fn is_live(&self) -> bool {
        self.on()
    }

    fn on(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    /// Whether a row read at `epoch` may still be stored (call with the map locked).
    fn storable(&self, epoch: u64) -> bool {
        self.on() && self.epoch.load(Ordering::SeqCst) == epoch
    }

    /// The user behind token `jti`, if cached and the token was seen not revoked.
    pub fn token_holder(&self, user_id: &str, jti: &str) -> Option<UserRow> {
        if !self.on() {
            return None;
        }
        let users = lock(&self.users);
        let entry = users.get(user_id)?;
        (fresh(entry.at) && entry.live_tokens.contains(jti)).then(|| entry.row.clone())
    }

    /// Remembers that token `jti` of `row`'s user was not revoked at `epoch`.
    pub fn put_token_holder(&self, epoch: u64, row: &UserRow, jti: &str) {
        let mut users = lock(&self.users);
        if !self.storable(epoch) {
            return;
        }
        if users.len() >= MAX_USERS && !users.contains_key(&row.id) {
            users.clear();
        }
        let entry = users.entry(row.id.clone()).or_insert_with(|| CachedUser {
            row: row.clone(),
            live_tokens: HashSet::new(),
            at: Instant::now(),
        });
        if !fresh(entry.at) {
            entry.live_tokens.clear();
            entry.at = Instant::now();
        }
        entry.row = row.clone();
        entry.live_tokens.insert(jti.to_owned());
    }

    /// The ready track `id`, if cached.
    pub fn playable(&self, id: &str) -> Option<Playable> {
        if !self.on() {
            return None;
        }
        let tracks = lock(&self.tracks);
        tracks.get(id).filter(|t| fresh(t.at)).map(|t| t.playable.clone())
    }

    pub fn put_playable(&self, epoch: u64, playable: &Playable) {
        let mut tracks = lock(&self.tracks);
        if !self.storable(epoch) {
            return;
        }
        if tracks.len() >= MAX_TRACKS && !tracks.contains_key(&playable.id) {
            tracks.clear();
        }
        let entry = tracks.entry(playable.id.clone()).or_insert_with(|| CachedTrack {
            playable: playable.clone(),
            keys: HashMap::new(),
            at: Instant::now(),
        });
        if !fresh(entry.at) {
            entry.keys.clear();
            entry.at = Instant::now();
        }
        entry.playable = playable.clone();
    }

    /// Wrapped key `index` of a cached ready track.
    pub fn key(&self, track_id: &str, index: i64) -> Option<Arc<StoredKey>> {
        if !self.on() {
            return None;
        }
        let tracks = lock(&self.tracks);
        let track = tracks.get(track_id).filter(|t| fresh(t.at))?;
        track.keys.get(&index).cloned()
    }

    /// Stores a key of a track already cached (its entry goes with the track's).
    pub fn put_key(&self, epoch: u64, track_id: &str, key: Arc<StoredKey>) {
        let mut tracks = lock(&self.tracks);
        if !self.storable(epoch) {
            return;
        }
        if let Some(track) = tracks.get_mut(track_id) {
            track.keys.insert(key.index, key);
        }
    }

    fn unlock_entry(user_id: &str, track_id: &str, day: &str, index: i64) -> String {
        format!("{user_id}/{track_id}/{day}/{index}")
    }

    /// Whether the user was given this key on `day` already (then asking
    /// again is free and writes nothing).
    pub fn unlocked(&self, user_id: &str, track_id: &str, day: &str, index: i64) -> bool {
        self.on() && lock(&self.unlocked).contains(&Self::unlock_entry(user_id, track_id, day, index))
    }

    /// Remembers a key recorded in `key_unlocks`: such a row is never undone
    /// while the user and the track exist, so this needs no invalidation of
    /// its own (it is dropped with either anyway).
    pub fn put_unlocked(&self, epoch: u64, user_id: &str, track_id: &str, day: &str, index: i64) {
        let mut unlocked = lock(&self.unlocked);
        if !self.storable(epoch) {
            return;
        }
        if unlocked.len() >= MAX_UNLOCKED {
            unlocked.clear();
        }
        unlocked.insert(Self::unlock_entry(user_id, track_id, day, index));
    }

    /// Segment `key` of track `track_id`, if in memory. The bytes of a ready
    /// track never change; they are dropped with the track.
    pub fn segment(&self, track_id: &str, key: &str) -> Option<Bytes> {
        if !self.on() {
            return None;
        }
        let segments = lock(&self.segments);
        segments.by_track.get(track_id)?.get(key).cloned()
    }

    pub fn put_segment(&self, epoch: u64, track_id: &str, key: &str, bytes: Bytes) {
        let mut segments = lock(&self.segments);
        if !self.storable(epoch) || bytes.len() > MAX_SEGMENT_BYTES / 64 {
            return;
        }
        if segments.bytes + bytes.len() > MAX_SEGMENT_BYTES {
            *segments = Segments::default();
        }
        segments.bytes += bytes.len();
        let previous = segments
            .by_track
            .entry(track_id.to_owned())
            .or_default()
            .insert(key.to_owned(), bytes);
        if let Some(previous) = previous {
            segments.bytes -= previous.len();
        }
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// The user changed (plan, role, password, disabled, deleted, a token revoked).
    pub fn forget_user(&self, user_id: &str) {
        let mut users = lock(&self.users);
        self.bump();
        users.remove(user_id);
        drop(users);
        let prefix = format!("{user_id}/");
        lock(&self.unlocked).retain(|entry| !entry.starts_with(&prefix));
    }

    /// The track changed (deleted, made ready again with other keys).
    pub fn forget_track(&self, track_id: &str) {
        self.embeddings.forget(track_id);
        let mut tracks = lock(&self.tracks);
        self.bump();
        tracks.remove(track_id);
        drop(tracks);
        let mut segments = lock(&self.segments);
        if let Some(gone) = segments.by_track.remove(track_id) {
            segments.bytes -= gone.values().map(Bytes::len).sum::<usize>();
        }
    }

    /// Forgets user `user_id` when dropped: taken by a handler before it
    /// changes the user, so whatever way it leaves (an error after the
    /// first of two writes, the client going away), nothing of the old row
    /// is served by this node after the change committed.
    pub fn forget_user_after(&self, user_id: &str) -> Forget<'_> {
        Forget {
            cache: self,
            what: Some(Forgotten::User(user_id.to_owned())),
        }
    }

    /// As [`HotCache::forget_user_after`], for a track.
    pub fn forget_track_after(&self, track_id: &str) -> Forget<'_> {
        Forget {
            cache: self,
            what: Some(Forgotten::Track(track_id.to_owned())),
        }
    }

    /// As [`HotCache::forget_user_after`], for everything (a change that
    /// reaches many rows, like deleting a user with their tracks).
    pub fn clear_after(&self) -> Forget<'_> {
        Forget {
            cache: self,
            what: Some(Forgotten::All),
        }
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.embeddings.forget_all();
        let mut users = lock(&self.users);
        let mut tracks = lock(&self.tracks);
        self.bump();
        users.clear();
        tracks.clear();
        lock(&self.unlocked).clear();
        *lock(&self.segments) = Segments::default();
    }

    /// Turns the cache on (empty) or off.
    fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::SeqCst);
        self.clear();
    }

    /// Applies one `user:<id>` / `track:<id>` change; anything else empties
    /// the cache (a change of a kind this build does not know).
    pub fn apply(&self, kind: &str, key: &str) {
        match kind {
            "user" => self.forget_user(key),
            "track" => self.forget_track(key),
            _ => self.clear(),
        }
    }

    /// On SQLite, applies what other processes changed before this call
    /// (`cache_events`, written by triggers), in one indexed read that
    /// normally finds nothing. On PostgreSQL nothing: NOTIFY does it.
    ///
    /// Concurrent requests share reads: one read runs at a time, and a
    /// request that finds a read begun after it arrived has finished, takes
    /// that one's result instead of reading again. That read saw every change
    /// committed before this request arrived, which is all a request needs
    /// (a track whose delete returned before the request was made is not
    /// served), and under load one read serves a whole queue of requests.
    pub async fn catch_up(&self, db: &Db) -> Result<(), sqlx::Error> {
        let Db::Sqlite(pool) = db else {
            return Ok(());
        };
        // Reads numbered from here on begin after this request arrived.
        let wanted = self.reads_begun.load(Ordering::SeqCst) + 1;
        let _turn = self.reading.lock().await;
        if self.reads_done.load(Ordering::SeqCst) >= wanted {
            return Ok(());
        }
        let number = self.reads_begun.fetch_add(1, Ordering::SeqCst) + 1;
        self.read_events(pool).await?;
        self.reads_done.store(number, Ordering::SeqCst);
        Ok(())
    }

    /// One catch-up read (the caller holds [`HotCache::reading`]).
    async fn read_events(&self, pool: &sqlx::SqlitePool) -> Result<(), sqlx::Error> {
        let seen = self.seen_event.load(Ordering::SeqCst);
        if seen < 0 {
            // The first request: the cache is empty, only later events matter.
            let max: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM cache_events")
                .fetch_one(pool)
                .await?;
            self.seen_event.fetch_max(max, Ordering::SeqCst);
            self.clear();
            return Ok(());
        }
        let rows: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT id, kind, key FROM cache_events WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(seen)
                .bind(CATCH_UP_ROWS as i64)
                .fetch_all(pool)
                .await?;
        let Some(last) = rows.last().map(|row| row.0) else {
            return Ok(());
        };
        if rows.len() >= CATCH_UP_ROWS {
            // More may wait behind these (a bulk change): forget everything.
            let max: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM cache_events")
                .fetch_one(pool)
                .await?;
            self.clear();
            self.seen_event.fetch_max(max, Ordering::SeqCst);
            sqlx::query("DELETE FROM cache_events WHERE id <= $1")
                .bind(max)
                .execute(pool)
                .await?;
            return Ok(());
        }
        for (_, kind, key) in &rows {
            self.apply(kind, key);
        }
        self.seen_event.fetch_max(last, Ordering::SeqCst);
        // One server process reads this table: what it applied can go.
        sqlx::query("DELETE FROM cache_events WHERE id <= $1")
            .bind(last)
            .execute(pool)
            .await?;
        Ok(())
    }

    fn apply_payload(&self, payload: &str) {
        match payload.split_once(':') {
            Some((kind, key)) => self.apply(kind, key),
            None => self.clear(),
        }
    }
}

/// [`users::find_token_holder`] through the cache: a token found not
/// revoked is remembered with its user's row.
pub async fn find_token_holder(
    cache: &HotCache,
    db: &Db,
    user_id: &str,
    jti: &str,
    day: &str,
) -> Result<Option<TokenHolder>, sqlx::Error> {
    // On PostgreSQL a change is heard by NOTIFY a moment after it commits,
    // which is too late for "a disabled user or a revoked token is refused
    // at once" (`mist-server user …` on another host, another node): token
    // holders are read from the database there, every time.
    if matches!(db, Db::Postgres(_)) {
        return users::find_token_holder(db, user_id, jti, day).await;
    }
    cache.catch_up(db).await?;
    if let Some(user) = cache.token_holder(user_id, jti) {
        return Ok(Some(TokenHolder {
            user,
            revoked: false,
            used_ms: None,
        }));
    }
    let epoch = cache.epoch();
    let holder = users::find_token_holder(db, user_id, jti, day).await?;
    if let Some(holder) = holder.as_ref().filter(|h| !h.revoked) {
        cache.put_token_holder(epoch, &holder.user, jti);
    }
    Ok(holder)
}

/// [`tracks::find_playable`] through the cache (after the request's
/// [`HotCache::catch_up`]).
pub async fn find_playable(cache: &HotCache, db: &Db, id: &str) -> Result<Option<Playable>, sqlx::Error> {
    if let Some(playable) = cache.playable(id) {
        return Ok(Some(playable));
    }
    let epoch = cache.epoch();
    let found = tracks::find_playable(db, id).await?;
    if let Some(playable) = &found {
        cache.put_playable(epoch, playable);
    }
    Ok(found)
}

/// [`tracks::find_key`] through the cache (kept while its track is).
pub async fn find_key(
    cache: &HotCache,
    db: &Db,
    track_id: &str,
    index: i64,
) -> Result<Option<Arc<StoredKey>>, sqlx::Error> {
    if let Some(key) = cache.key(track_id, index) {
        return Ok(Some(key));
    }
    let epoch = cache.epoch();
    let found = tracks::find_key(db, track_id, index).await?.map(Arc::new);
    if let Some(key) = &found {
        cache.put_key(epoch, track_id, key.clone());
    }
    Ok(found)
}

/// Keeps `cache` in step with changes made by other processes and nodes
/// until `stop` resolves (see the module docs).
pub async fn run_sync(cache: Arc<HotCache>, db: Db, stop: impl Future<Output = ()> + Send) {
    let work = async {
        match &db {
            Db::Postgres(pool) => listen_postgres(&cache, pool).await,
            // Requests catch up themselves ([`HotCache::catch_up`]).
            Db::Sqlite(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = work => {}
        () = stop => {}
    }
    cache.set_live(false);
}

async fn listen_postgres(cache: &HotCache, pool: &sqlx::PgPool) {
    use sqlx::postgres::PgListener;
    while !pool.is_closed() {
        let mut listener = match PgListener::connect_with(pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cache: cannot connect the LISTEN connection; cache off");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "cache: LISTEN failed; cache off");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Listening from here on: anything changed before is re-read.
        cache.set_live(true);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => cache.apply_payload(notification.payload()),
                // Reconnected (and listening again): what was sent meanwhile is lost.
                Ok(None) => cache.clear(),
                Err(e) => {
                    if !pool.is_closed() {
                        tracing::warn!(error = %e, "cache: LISTEN connection failed; cache off until it is back");
                    }
                    break;
                }
            }
        }
        cache.set_live(false);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, plan: &str) -> UserRow {
        UserRow {
            id: id.into(),
            email: format!("{id}@x.test"),
            username: id.into(),
            password_hash: String::new(),
            role: "user".into(),
            plan: plan.into(),
            created_at: 0,
            updated_at: 0,
            token_version: 0,
            disabled_at: None,
        }
    }

    #[test]
    fn a_row_read_before_an_invalidation_is_not_stored_after_it() {
        let cache = HotCache::new(true);
        let epoch = cache.epoch();
        // The change commits and is heard while the reader's query runs.
        cache.forget_user("u1");
        cache.put_token_holder(epoch, &user("u1", "free"), "t1");
        assert!(cache.token_holder("u1", "t1").is_none());
        let epoch = cache.epoch();
        cache.put_token_holder(epoch, &user("u1", "premium"), "t1");
        assert_eq!(cache.token_holder("u1", "t1").map(|u| u.plan), Some("premium".into()));
        assert!(
            cache.token_holder("u1", "t2").is_none(),
            "another token is checked once"
        );
        cache.apply_payload("user:u1");
        assert!(cache.token_holder("u1", "t1").is_none());
    }

    #[test]
    fn an_off_cache_serves_nothing() {
        let cache = HotCache::new(false);
        let epoch = cache.epoch();
        cache.put_token_holder(epoch, &user("u1", "free"), "t1");
        cache.put_unlocked(epoch, "u1", "tr", "2026-01-01", 0);
        assert!(cache.token_holder("u1", "t1").is_none());
        assert!(!cache.unlocked("u1", "tr", "2026-01-01", 0));
    }

    #[test]
    fn forgetting_a_track_drops_its_keys() {
        let cache = HotCache::new(true);
        let playable = Playable {
            id: "tr".into(),
            duration_ms: 1000,
            key_count: 1,
            segments_per_key: 1,
            hls_prefix: None,
        };
        let epoch = cache.epoch();
        cache.put_playable(epoch, &playable);
        let key = Arc::new(StoredKey {
            index: 0,
            wrapped: vec![1],
            iv: vec![2],
        });
        cache.put_key(epoch, "tr", key);
        assert!(cache.key("tr", 0).is_some());
        cache.apply_payload("track:tr");
        assert!(cache.playable("tr").is_none());
        assert!(cache.key("tr", 0).is_none());
        cache.apply_payload("garbage");
    }
}
