//! The `uploads` table: announced uploads.

use super::Db;
use crate::with_pool;

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

macro_rules! columns {
    () => {
        "id, user_id, track_id, filename, content_type, declared_size, storage_key, created_at, expires_at"
    };
}

pub async fn insert(db: &Db, row: &UploadRow) -> Result<(), sqlx::Error> {
    let sql = concat!(
        "INSERT INTO uploads (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    with_pool!(db, pool => {
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
            .execute(pool)
            .await
            .map(|_| ())
    })
}

pub async fn find(db: &Db, id: &str) -> Result<Option<UploadRow>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM uploads WHERE id = $1");
    with_pool!(db, pool => sqlx::query_as::<_, UploadRow>(sql).bind(id).fetch_optional(pool).await)
}

/// The job an upload was completed into, if it was: once there is one, the
/// upload's ticket is spent.
pub async fn completed_job(db: &Db, upload_id: &str) -> Result<Option<String>, sqlx::Error> {
    let sql = "SELECT id FROM jobs WHERE upload_id = $1";
    with_pool!(db, pool => sqlx::query_scalar::<_, String>(sql).bind(upload_id).fetch_optional(pool).await)
}
