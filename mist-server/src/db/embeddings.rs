//! The `track_features` table: each track's named features (JSON) and its
//! 40-dimensional embedding, and nearest-neighbour queries over the embeddings.
//!
//! This is the one module where the engines store a column differently, so its
//! functions match on [`Db`] where they must:
//!
//! - **PostgreSQL**: a pgvector `vector(40)` column with an HNSW index
//!   (`vector_cosine_ops`), ranked by `<=>` (cosine distance); vectors are
//!   bound and read as the `pgvector` crate's `Vector`. Queries that filter
//!   (ready tracks only, nothing the user already heard) turn on pgvector's
//!   iterative index scan so a filter cannot starve the result.
//! - **SQLite**: 40 little-endian `f32` in a BLOB; queries are answered by
//!   an exact scan of the ready tracks' embeddings held in memory
//!   ([`super::embedding_index`], kept in step by the hot cache's
//!   invalidations): a few milliseconds at 100k tracks (see
//!   `bench/similar.sh`); beyond about a million, run on PostgreSQL.
//!
//! Embeddings are unit-length, so cosine distance is `1 − a·b`, in [0, 2].

use crate::db::BeginWrite;

use mist_core::features::EMBEDDING_DIM;
use pgvector::Vector;
use sqlx::{AssertSqlSafe, FromRow, Row};

use super::tracks::TrackRow;
use super::{Db, now_ms};
use crate::with_pool;

/// A track's embedding.
pub type Embedding = [f32; EMBEDDING_DIM];

/// Bounds pgvector's HNSW candidate list (`hnsw.ef_search` allows 1..=1000).
const MAX_EF_SEARCH: usize = 1000;

/// A stored analysis.
#[derive(Debug, Clone)]
pub struct StoredFeatures {
    pub track_id: String,
    pub feature_version: i64,
    /// `mist_core::features::Features` as JSON.
    pub features_json: String,
    pub embedding: Embedding,
    pub computed_at: i64,
}

const UPSERT: &str = "INSERT INTO track_features (track_id, feature_version, features, embedding, computed_at) \
     SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM tracks WHERE id = $1) \
     ON CONFLICT (track_id) DO UPDATE SET feature_version = excluded.feature_version, \
     features = excluded.features, embedding = excluded.embedding, computed_at = excluded.computed_at";

const FIND: &str =
    "SELECT track_id, feature_version, features, embedding, computed_at FROM track_features WHERE track_id = $1";

/// Liked and recently heard tracks of user `$1` with their embeddings: what
/// the feed's taste vector is made of (the 200 latest of each).
const TASTE: &str = "SELECT f.track_id, f.embedding, t.duration_ms, \
     EXISTS (SELECT 1 FROM likes l WHERE l.user_id = $1 AND l.track_id = f.track_id) AS liked, \
     (SELECT COALESCE(MAX(s.listened_ms), 0) FROM playback_sessions s \
       WHERE s.user_id = $1 AND s.track_id = f.track_id) AS listened_ms, \
     (SELECT COUNT(*) FROM playback_sessions s \
       WHERE s.user_id = $1 AND s.track_id = f.track_id AND s.completed = TRUE) AS completions \
     FROM track_features f JOIN tracks t ON t.id = f.track_id \
     WHERE f.track_id IN (SELECT track_id FROM likes WHERE user_id = $1 ORDER BY created_at DESC LIMIT 200) \
        OR f.track_id IN (SELECT track_id FROM playback_sessions WHERE user_id = $1 \
                          ORDER BY started_at DESC LIMIT 200)";

/// Stores (or replaces) a track's analysis. Returns false when the track no
/// longer exists (deleted while it was analysed).
pub async fn upsert(
    db: &Db,
    track_id: &str,
    feature_version: i64,
    features_json: &str,
    embedding: &Embedding,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let result = match db {
        Db::Sqlite(pool) => sqlx::query(UPSERT)
            .bind(track_id)
            .bind(feature_version)
            .bind(features_json)
            .bind(to_blob(embedding))
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected(),
        Db::Postgres(pool) => sqlx::query(UPSERT)
            .bind(track_id)
            .bind(feature_version)
            .bind(features_json)
            .bind(to_vector(embedding))
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected(),
    };
    Ok(result > 0)
}

/// A track's stored analysis, if it has one.
pub async fn find(db: &Db, track_id: &str) -> Result<Option<StoredFeatures>, sqlx::Error> {
    type Raw<E> = (String, i64, String, E, i64);
    let stored = |(track_id, feature_version, features_json, embedding, computed_at): Raw<Option<Embedding>>| {
        embedding.map(|embedding| StoredFeatures {
            track_id,
            feature_version,
            features_json,
            embedding,
            computed_at,
        })
    };
    Ok(match db {
        Db::Sqlite(pool) => sqlx::query_as::<_, Raw<Vec<u8>>>(FIND)
            .bind(track_id)
            .fetch_optional(pool)
            .await?
            .and_then(|(a, b, c, e, d)| stored((a, b, c, from_blob(&e), d))),
        Db::Postgres(pool) => sqlx::query_as::<_, Raw<Vector>>(FIND)
            .bind(track_id)
            .fetch_optional(pool)
            .await?
            .and_then(|(a, b, c, e, d)| stored((a, b, c, from_vector(&e), d))),
    })
}

/// Which tracks a nearest-neighbour query leaves out (besides tracks that are
/// not ready, which it always leaves out).
#[derive(Debug, Clone, Copy)]
pub enum Exclude<'a> {
    /// The track asked about.
    Track(&'a str),
    /// Everything this user liked or started listening to.
    HeardOrLikedBy(&'a str),
}

impl Exclude<'_> {
    /// The condition on `f.track_id`, with its one parameter as `$n`.
    fn condition(&self, n: u8) -> String {
        match self {
            Exclude::Track(_) => format!("f.track_id <> ${n}"),
            Exclude::HeardOrLikedBy(_) => format!(
                "NOT EXISTS (SELECT 1 FROM likes l WHERE l.user_id = ${n} AND l.track_id = f.track_id) \
                 AND NOT EXISTS (SELECT 1 FROM playback_sessions s WHERE s.user_id = ${n} AND s.track_id = f.track_id)"
            ),
        }
    }

    fn param(&self) -> &str {
        match self {
            Exclude::Track(id) | Exclude::HeardOrLikedBy(id) => id,
        }
    }
}

/// The `limit` ready tracks nearest to `query` by cosine distance, nearest
/// first, with their distances.
pub async fn nearest(
    db: &Db,
    index: &super::embedding_index::EmbeddingIndex,
    query: &Embedding,
    exclude: Exclude<'_>,
    limit: usize,
) -> Result<Vec<(TrackRow, f32)>, sqlx::Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    match db {
        Db::Postgres(pool) => {
            // `t.*`: the row struct picks its columns by name, so columns other
            // modules add to `tracks` do not break this query.
            let sql = format!(
                "SELECT t.*, (f.embedding <=> $1)::real AS distance \
                 FROM track_features f JOIN tracks t ON t.id = f.track_id \
                 WHERE t.status = 'ready' AND {} \
                 ORDER BY f.embedding <=> $1 LIMIT $3",
                exclude.condition(2)
            );
            let mut tx = pool.begin_write().await?;
            // The HNSW scan yields `ef_search` candidates before filtering;
            // the iterative scan keeps going until `limit` rows pass the
            // filter. `relaxed_order` may return them slightly out of order,
            // so they are sorted again below.
            let ef_search = limit.clamp(40, MAX_EF_SEARCH).to_string();
            sqlx::query(
                "SELECT set_config('hnsw.ef_search', $1, true), \
                 set_config('hnsw.iterative_scan', 'relaxed_order', true)",
            )
            .bind(ef_search)
            .execute(&mut *tx)
            .await?;
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(to_vector(query))
                .bind(exclude.param())
                .bind(limit as i64)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            let mut found = rows
                .iter()
                .map(|row| Ok((TrackRow::from_row(row)?, row.try_get::<f32, _>("distance")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            found.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.id.cmp(&b.0.id)));
            Ok(found)
        }
        Db::Sqlite(pool) => {
            let ranked = match exclude {
                Exclude::Track(id) => index.nearest(pool, query, limit, |t| t != id).await?,
                Exclude::HeardOrLikedBy(user) => {
                    let seen: std::collections::HashSet<String> = sqlx::query_scalar(
                        "SELECT track_id FROM likes WHERE user_id = $1 \
                         UNION SELECT track_id FROM playback_sessions WHERE user_id = $1",
                    )
                    .bind(user)
                    .fetch_all(pool)
                    .await?
                    .into_iter()
                    .collect();
                    index.nearest(pool, query, limit, |t| !seen.contains(t)).await?
                }
            };
            let ids: Vec<&str> = ranked.iter().map(|(id, _)| id.as_str()).collect();
            let rows = super::tracks::find_many(db, &ids).await?;
            // Back in distance order; a track deleted in between just drops out.
            Ok(ranked
                .into_iter()
                .filter_map(|(id, distance)| {
                    rows.iter()
                        .find(|row| row.id == id && row.status == "ready")
                        .map(|row| (row.clone(), distance))
                })
                .collect())
        }
    }
}

/// One liked or heard track behind a user's taste.
#[derive(Debug, Clone)]
pub struct TasteSeed {
    pub track_id: String,
    pub embedding: Embedding,
    pub duration_ms: i64,
    pub liked: bool,
    /// The most of it heard in one session.
    pub listened_ms: i64,
    /// Sessions that played it to the end.
    pub completions: i64,
}

/// The user's latest likes and listens (200 of each) that have embeddings.
pub async fn taste_seeds(db: &Db, user_id: &str) -> Result<Vec<TasteSeed>, sqlx::Error> {
    type Raw<E> = (String, E, i64, bool, i64, i64);
    fn seed<E>(
        (track_id, e, duration_ms, liked, listened_ms, completions): Raw<E>,
        f: impl Fn(E) -> Option<Embedding>,
    ) -> Option<TasteSeed> {
        Some(TasteSeed {
            track_id,
            embedding: f(e)?,
            duration_ms,
            liked,
            listened_ms,
            completions,
        })
    }
    Ok(match db {
        Db::Sqlite(pool) => sqlx::query_as::<_, Raw<Vec<u8>>>(TASTE)
            .bind(user_id)
            .fetch_all(pool)
            .await?
            .into_iter()
            .filter_map(|raw| seed(raw, |b| from_blob(&b)))
            .collect(),
        Db::Postgres(pool) => sqlx::query_as::<_, Raw<Vector>>(TASTE)
            .bind(user_id)
            .fetch_all(pool)
            .await?
            .into_iter()
            .filter_map(|raw| seed(raw, |v| from_vector(&v)))
            .collect(),
    })
}

/// Ready tracks by play count, then newest, leaving out what the user liked
/// or heard: the feed when it knows nothing of the user's taste.
pub async fn popular_unheard(db: &Db, user_id: &str, limit: usize) -> Result<Vec<TrackRow>, sqlx::Error> {
    let sql = "SELECT t.* FROM tracks t WHERE t.status = 'ready' \
               AND NOT EXISTS (SELECT 1 FROM likes l WHERE l.user_id = $1 AND l.track_id = t.id) \
               AND NOT EXISTS (SELECT 1 FROM playback_sessions s WHERE s.user_id = $1 AND s.track_id = t.id) \
               ORDER BY t.play_count DESC, t.created_at DESC, t.id LIMIT $2";
    with_pool!(db, pool => {
        sqlx::query_as::<_, TrackRow>(sql).bind(user_id).bind(limit as i64).fetch_all(pool).await
    })
}

/// A ready track whose features `reindex-features` should (re)compute.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReindexCandidate {
    pub id: String,
    pub title: String,
    pub original_key: String,
}

/// Ready tracks with no features or features of another version than
/// `current_version`; with `all`, every ready track. Oldest first.
pub async fn reindex_candidates(
    db: &Db,
    current_version: i64,
    all: bool,
) -> Result<Vec<ReindexCandidate>, sqlx::Error> {
    let sql = "SELECT t.id, t.title, t.original_key FROM tracks t \
               LEFT JOIN track_features f ON f.track_id = t.id \
               WHERE t.status = 'ready' AND ($1 OR f.track_id IS NULL OR f.feature_version <> $2) \
               ORDER BY t.created_at, t.id";
    with_pool!(db, pool => {
        sqlx::query_as::<_, ReindexCandidate>(sql).bind(all).bind(current_version).fetch_all(pool).await
    })
}

/// How SQLite stores an embedding: 40 little-endian `f32`.
pub fn to_blob(embedding: &Embedding) -> Vec<u8> {
    embedding.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn from_blob(blob: &[u8]) -> Option<Embedding> {
    if blob.len() != EMBEDDING_DIM * 4 {
        return None;
    }
    let mut out = [0.0f32; EMBEDDING_DIM];
    for (v, bytes) in out.iter_mut().zip(blob.chunks_exact(4)) {
        *v = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    Some(out)
}

/// How Postgres stores an embedding: a pgvector `vector(40)`.
pub fn to_vector(embedding: &Embedding) -> Vector {
    Vector::from(embedding.to_vec())
}

/// `None` for a vector of another dimension.
pub fn from_vector(vector: &Vector) -> Option<Embedding> {
    vector.as_slice().try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Embedding {
        std::array::from_fn(|i| (i as f32 - 20.0) / 97.0 + 1e-7 * i as f32)
    }

    #[test]
    fn blobs_round_trip() {
        let e = sample();
        assert_eq!(to_blob(&e).len(), 160);
        assert_eq!(from_blob(&to_blob(&e)), Some(e));
        assert_eq!(from_blob(&[0; 12]), None);
    }

    #[test]
    fn vectors_round_trip_exactly() {
        let e = sample();
        assert_eq!(from_vector(&to_vector(&e)), Some(e));
        assert_eq!(from_vector(&Vector::from(vec![1.0, 2.0])), None);
    }
}
