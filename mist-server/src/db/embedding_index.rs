//! SQLite's nearest-neighbour search: every ready track's embedding held in
//! memory (about 350 bytes a track: 35 MB at 100k), scanned exactly for
//! each query. Reading 100k rows through sqlx per query took ~500 ms; the
//! scan of memory takes a few. Exact, so nothing is traded for the speed:
//! the answer is the one the scan of the table gave.
//!
//! Kept in step by the hot cache's invalidations ([`crate::cache`]): a
//! `track:<id>` change (the track became ready, was deleted, its features
//! were re-analysed: triggers write them to `cache_events`, which every
//! request reads first) marks that id to be read again before the next
//! query; a change of everything (a user deleted with their tracks, a burst
//! of changes) marks the whole index. The first query after a start loads it.
//! A change that lands while the index is being read from the database is
//! marked again, so it is read on the following query.
//!
//! The scan ranks by a dot product of unit vectors in `f32` (vectorised),
//! keeps a few more candidates than asked, and ranks those again with
//! [`cosine_distance`] on the stored embeddings, so distances and order are
//! exactly those of the table scan it replaces.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use futures::TryStreamExt;
use mist_core::features::{EMBEDDING_DIM, cosine_distance};
use tokio::sync::RwLock;

use super::embeddings::{Embedding, from_blob};

/// Candidates kept beyond `limit` for the exact re-ranking.
const SLACK: usize = 16;
/// Ids waiting to be read again beyond this many: reload everything.
const MAX_PENDING: usize = 10_000;
/// Ids read per statement when patching.
const PATCH_CHUNK: usize = 500;

/// What changed since the index was last brought up to date.
#[derive(Default)]
struct Pending {
    /// Everything: load the whole index (also before the first query).
    all: bool,
    ids: HashSet<String>,
}

#[derive(Default)]
struct Loaded {
    ready: bool,
    ids: Vec<Box<str>>,
    /// As stored, for the exact distance.
    raw: Vec<Embedding>,
    /// Unit length, for the fast scan.
    unit: Vec<Embedding>,
    at: HashMap<Box<str>, usize>,
}

impl Loaded {
    fn insert(&mut self, id: &str, embedding: Embedding) {
        match self.at.get(id) {
            Some(&i) => {
                self.raw[i] = embedding;
                self.unit[i] = unit(&embedding);
            }
            None => {
                let id: Box<str> = id.into();
                self.at.insert(id.clone(), self.ids.len());
                self.ids.push(id);
                self.raw.push(embedding);
                self.unit.push(unit(&embedding));
            }
        }
    }

    fn remove(&mut self, id: &str) {
        let Some(i) = self.at.remove(id) else {
            return;
        };
        self.ids.swap_remove(i);
        self.raw.swap_remove(i);
        self.unit.swap_remove(i);
        if let Some(moved) = self.ids.get(i) {
            self.at.insert(moved.clone(), i);
        }
    }
}

/// See the module documentation. One per process, in the hot cache.
pub struct EmbeddingIndex {
    pending: Mutex<Pending>,
    loaded: RwLock<Loaded>,
}

impl Default for EmbeddingIndex {
    fn default() -> Self {
        EmbeddingIndex {
            pending: Mutex::new(Pending {
                all: true,
                ids: HashSet::new(),
            }),
            loaded: RwLock::new(Loaded::default()),
        }
    }
}

fn lock(m: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl EmbeddingIndex {
    /// Track `id` may have changed: read it again before the next query.
    pub fn forget(&self, id: &str) {
        let mut pending = lock(&self.pending);
        if pending.all {
            return;
        }
        pending.ids.insert(id.to_owned());
        if pending.ids.len() > MAX_PENDING {
            pending.all = true;
            pending.ids.clear();
        }
    }

    /// Anything may have changed: load everything before the next query.
    pub fn forget_all(&self) {
        let mut pending = lock(&self.pending);
        pending.all = true;
        pending.ids.clear();
    }

    /// Brings the index up to date with the database.
    async fn refresh(&self, pool: &sqlx::SqlitePool) -> Result<(), sqlx::Error> {
        let up_to_date = {
            let pending = lock(&self.pending);
            !pending.all && pending.ids.is_empty()
        };
        if up_to_date {
            return Ok(());
        }
        let mut loaded = self.loaded.write().await;
        // Taken only now, under the write lock: what arrives from here on
        // waits for the next refresh, and what was read meanwhile by another
        // refresh is not lost (it held this lock).
        let Pending { all, ids } = std::mem::take(&mut *lock(&self.pending));
        let result = if all || !loaded.ready {
            load_all(pool).await.map(|fresh| *loaded = fresh)
        } else {
            patch(pool, &mut loaded, ids.iter().map(String::as_str).collect()).await
        };
        if result.is_err() {
            // Nothing is lost: try again on the next query.
            let mut pending = lock(&self.pending);
            if all || !loaded.ready {
                pending.all = true;
            } else {
                pending.ids.extend(ids);
            }
        }
        result
    }

    /// The `limit` ready tracks nearest to `query` for which `keep` holds,
    /// nearest first, with their cosine distances.
    pub async fn nearest(
        &self,
        pool: &sqlx::SqlitePool,
        query: &Embedding,
        limit: usize,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<(String, f32)>, sqlx::Error> {
        self.refresh(pool).await?;
        let loaded = self.loaded.read().await;
        let q = unit(query);
        let wanted = limit + SLACK;
        // Worst kept candidate on top: (−similarity, position).
        let mut best: std::collections::BinaryHeap<(OrdF32, usize)> =
            std::collections::BinaryHeap::with_capacity(wanted + 1);
        for (i, v) in loaded.unit.iter().enumerate() {
            let far = OrdF32(-dot(&q, v));
            if best.len() == wanted {
                match best.peek() {
                    Some(worst) if far < worst.0 => {}
                    _ => continue,
                }
            }
            if !keep(&loaded.ids[i]) {
                continue;
            }
            best.push((far, i));
            if best.len() > wanted {
                best.pop();
            }
        }
        let mut ranked: Vec<(String, f32)> = best
            .into_iter()
            .map(|(_, i)| (loaded.ids[i].to_string(), cosine_distance(query, &loaded.raw[i])))
            .collect();
        ranked.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(limit);
        Ok(ranked)
    }
}

/// `f32` ordered totally, for the heap.
#[derive(Clone, Copy, PartialEq)]
struct OrdF32(f32);

impl Eq for OrdF32 {}

impl PartialOrd for OrdF32 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrdF32 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

const READY: &str = "SELECT f.track_id, f.embedding FROM track_features f JOIN tracks t ON t.id = f.track_id \
                     WHERE t.status = 'ready'";

async fn load_all(pool: &sqlx::SqlitePool) -> Result<Loaded, sqlx::Error> {
    let mut loaded = Loaded::default();
    let mut rows = sqlx::query_as::<_, (String, Vec<u8>)>(READY).fetch(pool);
    while let Some((id, blob)) = rows.try_next().await? {
        if let Some(embedding) = from_blob(&blob) {
            loaded.insert(&id, embedding);
        }
    }
    loaded.ready = true;
    Ok(loaded)
}

/// Reads `ids` again: each is kept (ready, with an embedding) or dropped.
async fn patch(pool: &sqlx::SqlitePool, loaded: &mut Loaded, ids: Vec<&str>) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(PATCH_CHUNK) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        // Only placeholders are spliced in; the ids are bound.
        let sql = format!("{READY} AND f.track_id IN ({})", placeholders.join(", "));
        let mut query = sqlx::query_as::<_, (String, Vec<u8>)>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(pool).await?;
        for id in chunk {
            loaded.remove(id);
        }
        for (id, blob) in rows {
            if let Some(embedding) = from_blob(&blob) {
                loaded.insert(&id, embedding);
            }
        }
    }
    Ok(())
}

/// `v` scaled to unit length (zero stays zero).
fn unit(v: &Embedding) -> Embedding {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        return *v;
    }
    v.map(|x| x / norm)
}

/// A dot product the compiler vectorises: eight independent sums.
fn dot(a: &Embedding, b: &Embedding) -> f32 {
    const LANES: usize = 8;
    const _: () = assert!(EMBEDDING_DIM.is_multiple_of(LANES));
    let mut acc = [0.0f32; LANES];
    for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(seed: u32) -> Embedding {
        std::array::from_fn(|i| ((seed as f32 * 0.37 + i as f32 * 1.3).sin()) * (1.0 + seed as f32 % 3.0))
    }

    #[test]
    fn removing_keeps_positions_true() {
        let mut loaded = Loaded::default();
        for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
            loaded.insert(id, vector(i as u32));
        }
        loaded.remove("b");
        loaded.remove("zzz");
        loaded.insert("a", vector(9));
        assert_eq!(loaded.ids.len(), 3);
        for (id, &i) in &loaded.at {
            assert_eq!(&loaded.ids[i], id);
        }
        assert_eq!(loaded.raw[loaded.at["a"]], vector(9));
        assert_eq!(loaded.raw[loaded.at["d"]], vector(3));
    }

    #[test]
    fn the_fast_dot_agrees_with_the_exact_distance() {
        for s in 0..50 {
            let (a, b) = (vector(s), vector(s * 7 + 1));
            let fast = 1.0 - dot(&unit(&a), &unit(&b));
            assert!((fast - cosine_distance(&a, &b)).abs() < 1e-5, "{fast}");
        }
    }
}
