//! `mist-server migrate-to`: moves an embedded installation (SQLite + local
//! objects) to PostgreSQL + S3 without changing anything a user sees: the
//! same users and passwords, tracks and ids, wrapped keys (so the target must
//! run with the same `MIST_MASTER_KEY`, found in the data dir's
//! secrets.toml), listening history and today's quota.
//!
//! Rows are copied generically: for every table the target's migrations
//! created, the columns it stores (generated ones, such as the search
//! vectors, are left to the target to compute) are read from SQLite and
//! written with the target's types (0/1 → boolean, f32 blobs → pgvector),
//! parents before children by the target's foreign keys. Then every object
//! is copied. The target database must be empty of users, so a half-done run
//! is redone on a fresh database rather than merged.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail};
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, PgPool, Row, SqlitePool, TypeInfo, ValueRef};

use crate::db::{Db, embeddings};
use crate::storage::ObjectStore;

/// A value read from SQLite.
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// Copies every row and object from `source` to `target`; prints progress.
pub async fn migrate_to(source: (&Db, &ObjectStore), target: (&Db, &ObjectStore)) -> anyhow::Result<()> {
    let (Db::Sqlite(from), Db::Postgres(to)) = (source.0, target.0) else {
        bail!(
            "migrate-to moves an embedded (SQLite) installation to PostgreSQL: run it without DATABASE_URL set, and give --database-url postgres://…"
        );
    };
    target.0.migrate().await.context("migrating the target database")?;
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(to).await?;
    if users > 0 {
        bail!("the target database already has users; migrate into an empty database");
    }
    for table in tables_in_order(from, to).await? {
        let n = copy_table(from, to, &table)
            .await
            .with_context(|| format!("copying table {table}"))?;
        println!("copied {n} rows of {table}");
    }
    let keys = source.1.list("").await.context("listing the local objects")?;
    let total = keys.len();
    for (i, key) in keys.iter().enumerate() {
        let object = source.1.get(key, None).await?;
        let content_type = object
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        target
            .1
            .put_stream(key, object.body, &content_type, None)
            .await
            .with_context(|| format!("copying {key}"))?;
        if (i + 1) % 100 == 0 || i + 1 == total {
            println!("copied {} of {total} objects", i + 1);
        }
    }
    Ok(())
}

/// Tables both databases have, parents first (by the target's foreign keys).
async fn tables_in_order(from: &SqlitePool, to: &PgPool) -> anyhow::Result<Vec<String>> {
    let source: BTreeSet<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
        .fetch_all(from)
        .await?
        .into_iter()
        .collect();
    let target: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(to)
    .await?;
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT tc.table_name::text, ccu.table_name::text FROM information_schema.table_constraints tc \
         JOIN information_schema.constraint_column_usage ccu ON tc.constraint_name = ccu.constraint_name \
         AND tc.constraint_schema = ccu.constraint_schema \
         WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()",
    )
    .fetch_all(to)
    .await?;
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (child, parent) in edges {
        if child != parent {
            parents.entry(child).or_default().insert(parent);
        }
    }
    let mut pending: Vec<String> = target.into_iter().filter(|t| source.contains(t)).collect();
    pending.sort();
    let mut ordered: Vec<String> = Vec::new();
    while !pending.is_empty() {
        let ready: Vec<String> = pending
            .iter()
            .filter(|t| {
                parents
                    .get(*t)
                    .is_none_or(|ps| ps.iter().all(|p| ordered.contains(p) || !pending.contains(p)))
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            bail!("foreign keys form a cycle among {pending:?}");
        }
        pending.retain(|t| !ready.contains(t));
        ordered.extend(ready);
    }
    Ok(ordered)
}

async fn copy_table(from: &SqlitePool, to: &PgPool, table: &str) -> anyhow::Result<usize> {
    // The target's stored (not generated) columns and their types.
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, udt_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(to)
    .await?;
    let source_columns: BTreeSet<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT name FROM pragma_table_info('{table}')"
    )))
    .fetch_all(from)
    .await?
    .into_iter()
    .collect();
    let columns: Vec<(String, String)> = columns
        .into_iter()
        .filter(|(c, _)| source_columns.contains(c))
        .collect();
    if columns.is_empty() {
        return Ok(0);
    }
    let names = columns
        .iter()
        .map(|(c, _)| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<SqliteRow> = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {names} FROM \"{table}\"")))
        .fetch_all(from)
        .await?;
    let placeholders = columns
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| format!("${}::{ty}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let insert = format!("INSERT INTO \"{table}\" ({names}) VALUES ({placeholders})");
    let mut tx = to.begin().await?;
    for row in &rows {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
        for (i, (_, ty)) in columns.iter().enumerate() {
            query = match (read_cell(row, i)?, ty.as_str()) {
                (Cell::Null, _) => query.bind(None::<String>),
                (Cell::Int(v), "bool") => query.bind(v != 0),
                (Cell::Int(v), "float4" | "float8") => query.bind(v as f64),
                (Cell::Int(v), "text" | "varchar") => query.bind(v.to_string()),
                (Cell::Int(v), _) => query.bind(v),
                (Cell::Real(v), _) => query.bind(v),
                (Cell::Text(v), _) => query.bind(v),
                (Cell::Blob(v), "vector") => query.bind(embedding_vector(&v)?),
                (Cell::Blob(v), _) => query.bind(v),
            };
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

fn read_cell(row: &SqliteRow, i: usize) -> anyhow::Result<Cell> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let kind = raw.type_info().name().to_ascii_uppercase();
    let name = row.column(i).name().to_owned();
    Ok(match kind.as_str() {
        "INTEGER" | "BOOLEAN" | "INT8" | "BIGINT" => Cell::Int(row.try_get(i)?),
        "REAL" | "FLOAT" | "DOUBLE" => Cell::Real(row.try_get(i)?),
        "TEXT" => Cell::Text(row.try_get(i)?),
        "BLOB" => Cell::Blob(row.try_get(i)?),
        other => bail!("column {name} holds a {other} value this migration does not know"),
    })
}

/// The SQLite embedding column (40 little-endian f32) → a pgvector `vector`.
fn embedding_vector(blob: &[u8]) -> anyhow::Result<pgvector::Vector> {
    let embedding = embeddings::from_blob(blob)
        .ok_or_else(|| anyhow::anyhow!("an embedding blob of {} bytes is not 40 f32", blob.len()))?;
    Ok(embeddings::to_vector(&embedding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_from_blobs() {
        let mut embedding = [0.0f32; 40];
        embedding[0] = 0.5;
        embedding[39] = -1.0;
        let vector = embedding_vector(&embeddings::to_blob(&embedding)).unwrap();
        assert_eq!(vector.as_slice(), embedding.as_slice());
        assert!(embedding_vector(&[1, 2, 3]).is_err());
    }
}
