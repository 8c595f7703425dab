//! The `uploads` table: announced uploads, the originals a user stores, and
//! the collection of tickets nobody completed.

use super::Db;
use crate::db::BeginWrite;
use crate::with_pool;
use const_format::concatcp;

/// How long after its ticket expires an upload may still be completed (a
/// slow PUT that started in time finishes late).
pub const COMPLETE_GRACE_MS: i64 = 30 * 60 * 1000;

/// How long after its ticket expires an upload nobody completed is
/// collected: well after the last moment it could still be completed.
pub const COLLECT_AFTER_MS: i64 = 2 * COMPLETE_GRACE_MS;

/// Where a ticket's bytes wait until `complete` moves them to the track's
/// own key: no ticket ever names a key anything reads.
pub fn staging_dir(upload_id: &str) -> String {
    format!("uploads/{upload_id}/")
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub id: String,
    pub user_id: String,
    pub track_id: String,
    pub filename: String,
    pub content_type: String,
    pub declared_size: i64,
    pub storage_key: String,
    pub created_at: i64,
    pub expires_at: i64,
}

const COLUMNS: &str =
    "id, user_id, track_id, filename, content_type, declared_size, storage_key, created_at, expires_at";

pub async fn find(db: &Db, id: &str) -> Result<Option<UploadRow>, sqlx::Error> {
    let sql = concatcp!("SELECT ", COLUMNS, " FROM uploads WHERE id = $1");
    with_pool!(db, pool => sqlx::query_as::<_, UploadRow>(sql).bind(id).fetch_optional(pool).await)
}

/// The job an upload was completed into, if it was: once there is one, the
/// upload's ticket is spent.
pub async fn completed_job(db: &Db, upload_id: &str) -> Result<Option<String>, sqlx::Error> {
    let sql = "SELECT id FROM ingest_jobs WHERE upload_id = $1";
    with_pool!(db, pool => sqlx::query_scalar::<_, String>(sql).bind(upload_id).fetch_optional(pool).await)
}

/// What a user's originals take, in bytes: every upload that became a job
/// (its original is kept until the track is deleted or, failed, collected)
/// and every ticket still open (its bytes may be on their way).
const USED_BYTES: &str = "SELECT CAST(COALESCE(SUM(declared_size), 0) AS BIGINT) FROM uploads u WHERE u.user_id = $1 \
     AND (u.expires_at > $2 OR EXISTS (SELECT 1 FROM ingest_jobs j WHERE j.upload_id = u.id))";

/// Bytes of originals `user_id` stores or has announced (see [`USED_BYTES`]).
pub async fn used_bytes(db: &Db, user_id: &str, now: i64) -> Result<i64, sqlx::Error> {
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>(USED_BYTES).bind(user_id).bind(now).fetch_one(pool).await)
}

/// Inserts the ticket unless it would take the user past `quota` bytes of
/// originals (`None`: no limit). Returns the bytes used before it when it
/// would. The check and the insert are one transaction that first writes the
/// user's row, so two tickets announced at once are counted one after the
/// other on both engines.
pub async fn insert_within_quota(
    db: &Db,
    row: &UploadRow,
    quota: Option<u64>,
    now: i64,
) -> Result<Result<(), i64>, sqlx::Error> {
    let sql = concatcp!(
        "INSERT INTO uploads (",
        COLUMNS,
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
            .bind(&row.user_id)
            .execute(&mut *tx)
            .await?;
        if let Some(quota) = quota {
            let used: i64 = sqlx::query_scalar(USED_BYTES).bind(&row.user_id).bind(now).fetch_one(&mut *tx).await?;
            if used.saturating_add(row.declared_size) > quota as i64 {
                return Ok(Err(used));
            }
        }
        sqlx::query(sql)
            .bind(&row.id)
            .bind(&row.user_id)
            .bind(&row.track_id)
            .bind(&row.filename)
            .bind(&row.content_type)
            .bind(row.declared_size)
            .bind(&row.storage_key)
            .bind(row.created_at)
            .bind(row.expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(()))
    })
}

/// Tickets that expired before `before` and never became a job: their
/// bytes (if any arrived) are the sweeper's to delete, with the row.
pub async fn expired_unused(db: &Db, before: i64, limit: i64) -> Result<Vec<UploadRow>, sqlx::Error> {
    let sql = concatcp!(
        "SELECT ",
        COLUMNS,
        " FROM uploads u WHERE u.expires_at < $1 \
          AND NOT EXISTS (SELECT 1 FROM ingest_jobs j WHERE j.upload_id = u.id) ORDER BY u.expires_at LIMIT $2"
    );
    with_pool!(db, pool => sqlx::query_as::<_, UploadRow>(sql).bind(before).bind(limit).fetch_all(pool).await)
}

/// Deletes an expired ticket's row unless a job took it meanwhile. True when
/// deleted: only then are its bytes the caller's to remove.
pub async fn delete_unused(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM uploads WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM ingest_jobs j WHERE j.upload_id = $1)";
    let deleted = with_pool!(db, pool => sqlx::query(sql).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(deleted == 1)
}
