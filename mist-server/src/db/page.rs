//! Keyset paging, the one way every list of the API pages: a page is
//! fetched with `LIMIT limit + 1` ([`split_page`] keeps `limit` rows and
//! says whether there is more), and the next page starts after a
//! [`Cursor`]: the last row's sort key and id, plus the listing it belongs
//! to. Clients see the cursor as an opaque string (`next_cursor`, sent back
//! as `?cursor=`); the HTTP side reads it with `http::page::Paging`.

use serde::{Deserialize, Serialize};

/// The page size when none is asked for.
pub const DEFAULT_LIMIT: i64 = 20;
/// The largest page size; larger asks are clamped, never refused.
pub const MAX_LIMIT: i64 = 100;

/// A keyset position: the sort key of the last row shown, and its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Which listing the cursor belongs to, so one is not replayed on another.
    pub scope: String,
    pub key: SortKey,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SortKey {
    Text(String),
    Int(i64),
    /// Stored as bits so the value round-trips exactly.
    Float(u64),
}

/// The type of a listing's sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Text,
    Int,
    Float,
}

impl SortKey {
    pub fn kind(&self) -> KeyKind {
        match self {
            SortKey::Text(_) => KeyKind::Text,
            SortKey::Int(_) => KeyKind::Int,
            SortKey::Float(_) => KeyKind::Float,
        }
    }
}

impl Cursor {
    /// Opaque to clients: hex of a small JSON document.
    pub fn encode(&self) -> String {
        hex::encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// `None` for anything this server did not hand out for `scope`.
    pub fn decode(s: &str, scope: &str) -> Option<Cursor> {
        let bytes = hex::decode(s).ok()?;
        let cursor: Cursor = serde_json::from_slice(&bytes).ok()?;
        (cursor.scope == scope).then_some(cursor)
    }

    /// The integer key and id of a cursor keyed by an integer (a time, a
    /// count, a position), as two binds: `(NULL, NULL)` for the first page.
    pub fn int_key(after: Option<&Cursor>) -> (Option<i64>, Option<String>) {
        match after {
            Some(Cursor {
                key: SortKey::Int(k),
                id,
                ..
            }) => (Some(*k), Some(id.clone())),
            _ => (None, None),
        }
    }

    /// The text key of a cursor keyed by text (a name, an id).
    pub fn text_key(after: Option<&Cursor>) -> Option<&str> {
        match after {
            Some(Cursor {
                key: SortKey::Text(k), ..
            }) => Some(k),
            _ => None,
        }
    }
}

/// A bounded page size: `None` → `default`, anything else clamped to
/// 1..=[`MAX_LIMIT`].
pub fn clamp_limit(limit: Option<i64>, default: i64) -> i64 {
    limit.unwrap_or(default).clamp(1, MAX_LIMIT)
}

/// Splits rows fetched with `LIMIT limit + 1`: keeps the first `limit` and,
/// when there was one more, makes the next page's key from the last one kept.
pub fn split_page<T, K>(mut rows: Vec<T>, limit: i64, key: impl FnOnce(&T) -> K) -> (Vec<T>, Option<K>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(key) } else { None };
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_keep_their_scope() {
        let c = Cursor {
            scope: "s".into(),
            key: SortKey::Float(0.1f64.to_bits()),
            id: "x".into(),
        };
        assert_eq!(Cursor::decode(&c.encode(), "s"), Some(c.clone()));
        assert_eq!(Cursor::decode(&c.encode(), "other"), None);
        assert_eq!(Cursor::decode("zz", "s"), None);
    }

    #[test]
    fn limits_are_clamped_and_pages_split() {
        assert_eq!(clamp_limit(None, DEFAULT_LIMIT), 20);
        assert_eq!(clamp_limit(Some(0), DEFAULT_LIMIT), 1);
        assert_eq!(clamp_limit(Some(10_000), 10), MAX_LIMIT);
        assert_eq!(split_page(vec![1, 2, 3], 2, |n| *n), (vec![1, 2], Some(2)));
        assert_eq!(split_page(vec![1, 2], 2, |n| *n), (vec![1, 2], None));
    }
}
