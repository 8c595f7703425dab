//! Object storage: where uploaded originals, HLS playlists and segments live.
//!
//! One [`ObjectStore`] type with two back-ends chosen at start-up from `MIST_STORAGE`:
//! a local directory (embedded mode) or an S3-compatible bucket (scaled mode). Callers
//! speak only in keys such as `tracks/{id}/hls/128k/seg_00000.mp3`; this module owns the
//! mapping of keys to paths or bucket keys, the refusal of keys that could escape the
//! store's root, and the guarantee that a write is either complete or invisible.
//!
//! It must not know what the objects mean (tracks, uploads, quotas): key layout belongs to
//! the callers, and nothing here touches the database or HTTP routing.

mod local;
mod s3;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;

pub use local::LocalStore;
pub use s3::S3Store;

/// Longest key accepted, in bytes; S3's own limit, applied to both back-ends so a key that
/// works locally also works in a bucket.
pub const MAX_KEY_BYTES: usize = 1024;

/// A body streamed in or out of the store.
pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// Where objects live, parsed from `MIST_STORAGE` (`local` or `s3://bucket[/prefix]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    Local,
    /// `prefix` has no leading or trailing `/`; empty means the bucket's root.
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl FromStr for StorageLocation {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("local") {
            return Ok(Self::Local);
        }
        let invalid = || StorageError::InvalidLocation(s.to_owned());
        let rest = s.strip_prefix("s3://").ok_or_else(invalid)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !is_bucket_name(bucket) {
            return Err(invalid());
        }
        // `s3://bucket/` and `s3://bucket/music/` are what people type; the prefix is a
        // directory either way, so a trailing slash carries no meaning.
        let prefix = prefix.trim_end_matches('/');
        if !prefix.is_empty() && validate_key(prefix).is_err() {
            return Err(invalid());
        }
        Ok(Self::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

/// S3's bucket naming rules, loosely: enough to catch typos such as `s3://` or
/// `s3://my bucket` at start-up instead of at the first upload.
fn is_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

#[derive(Debug, Clone)]
pub struct StorageSettings {
    pub location: StorageLocation,
    /// Used when `location` is `Local`: `<data_dir>/objects`.
    pub local_root: PathBuf,
    /// Endpoint override for S3-compatible servers (`AWS_ENDPOINT_URL`).
    pub s3_endpoint: Option<String>,
    /// `AWS_REGION`; when neither this nor the SDK's own sources give one, `us-east-1`.
    pub s3_region: Option<String>,
    /// Path-style addressing (`http://host/bucket/key`), which MinIO, s3s-fs and Garage need.
    pub s3_force_path_style: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid storage key {0:?}")]
    InvalidKey(String),
    #[error("object not found: {0}")]
    NotFound(String),
    #[error("object larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The requested range starts at or beyond the end of the object (HTTP 416).
    #[error("range not satisfiable for an object of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("invalid storage location: {0}")]
    InvalidLocation(String),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage backend error: {0}")]
    Backend(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub content_type: Option<String>,
}

/// An HTTP-style byte range: `bytes=start-end` or, with no end, `bytes=start-`.
/// Suffix ranges (`bytes=-N`) are the HTTP layer's to turn into a start offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end_inclusive: Option<u64>,
}

impl ByteRange {
    /// The inclusive range actually served from an object of `size` bytes: an end past the
    /// object is clamped (as HTTP does), a start at or past it cannot be served.
    pub fn resolve(self, size: u64) -> Result<(u64, u64), StorageError> {
        let last = size.checked_sub(1);
        match (last, self.end_inclusive) {
            (Some(last), end) if self.start <= last => {
                let end = end.map_or(last, |e| e.min(last));
                if end < self.start {
                    return Err(StorageError::RangeNotSatisfiable { size });
                }
                Ok((self.start, end))
            }
            _ => Err(StorageError::RangeNotSatisfiable { size }),
        }
    }

    fn to_header(self) -> String {
        match self.end_inclusive {
            Some(end) => format!("bytes={}-{end}", self.start),
            None => format!("bytes={}-", self.start),
        }
    }
}

pub struct GetObject {
    pub body: ByteStream,
    /// Size of the whole object.
    pub total_size: u64,
    /// Bytes in `body`.
    pub content_length: u64,
    /// Inclusive range served, when a range was asked for.
    pub range: Option<(u64, u64)>,
    pub content_type: Option<String>,
}

impl fmt::Debug for GetObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetObject")
            .field("total_size", &self.total_size)
            .field("content_length", &self.content_length)
            .field("range", &self.range)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

/// A request a client can make straight to the bucket without our credentials.
#[derive(Debug, Clone)]
pub struct PresignedRequest {
    pub url: String,
    pub method: String,
    /// Headers that were signed in and must be sent exactly.
    pub headers: Vec<(String, String)>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// The store. Cloning is cheap: both variants share their state behind `Arc`s.
#[derive(Clone, Debug)]
pub enum ObjectStore {
    Local(LocalStore),
    S3(S3Store),
}

impl ObjectStore {
    pub async fn open(settings: &StorageSettings) -> Result<Self, StorageError> {
        match &settings.location {
            StorageLocation::Local => Ok(Self::Local(LocalStore::open(&settings.local_root).await?)),
            StorageLocation::S3 { bucket, prefix } => Ok(Self::S3(S3Store::open(settings, bucket, prefix).await)),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Local(_) => "local",
            Self::S3(_) => "s3",
        }
    }

    pub async fn put_bytes(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        match self {
            Self::Local(s) => s.put_bytes(key, bytes).await,
            Self::S3(s) => s.put_bytes(key, bytes, content_type).await,
        }
    }

    /// Streams `body` in. If more than `max_bytes` arrive, stops, discards what was
    /// written and returns `TooLarge`. Returns the number of bytes written. A partial
    /// object is never visible under `key`, whether the body fails, is too large, or the
    /// future is dropped half-way.
    pub async fn put_stream(
        &self,
        key: &str,
        body: ByteStream,
        content_type: &str,
        max_bytes: Option<u64>,
    ) -> Result<u64, StorageError> {
        validate_key(key)?;
        match self {
            Self::Local(s) => s.put_stream(key, body, max_bytes).await,
            Self::S3(s) => s.put_stream(key, body, content_type, max_bytes).await,
        }
    }

    pub async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        match self {
            Self::Local(s) => s.put_file(key, path).await,
            Self::S3(s) => s.put_file(key, path, content_type).await,
        }
    }

    /// `NotFound` if there is no object under `key`; `RangeNotSatisfiable` if `range`
    /// starts at or past its end.
    pub async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetObject, StorageError> {
        validate_key(key)?;
        match self {
            Self::Local(s) => s.get(key, range).await,
            Self::S3(s) => s.get(key, range).await,
        }
    }

    /// Whether object `key` is in local storage at this moment: one
    /// synchronous `stat` (a few microseconds, no thread hand-off), for the
    /// segments served from memory (`crate::cache`). Always `false` on S3,
    /// where segments are not served by the node.
    pub fn still_stored(&self, key: &str) -> bool {
        match self {
            Self::Local(s) => validate_key(key).is_ok() && s.still_stored(key),
            Self::S3(_) => false,
        }
    }

    /// The whole object in memory: for playlists and other small objects.
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, StorageError> {
        validate_key(key)?;
        match self {
            Self::Local(s) => s.get_bytes(key).await,
            Self::S3(s) => s.get_bytes(key).await,
        }
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        validate_key(key)?;
        match self {
            Self::Local(s) => s.head(key).await,
            Self::S3(s) => s.head(key).await,
        }
    }

    /// Idempotent: deleting a missing object succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        match self {
            Self::Local(s) => s.delete(key).await,
            Self::S3(s) => s.delete(key).await,
        }
    }

    /// Moves the object at `from` to `to` (replacing what is there), so nothing is left
    /// under `from`. `NotFound` if there is no object at `from`. Local: one atomic rename.
    /// S3: a server-side CopyObject then a DeleteObject (the bytes never pass through
    /// this process; until the delete, the object is under both keys).
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        validate_key(from)?;
        validate_key(to)?;
        match self {
            Self::Local(s) => s.rename(from, to).await,
            Self::S3(s) => s.rename(from, to).await,
        }
    }

    /// Deletes every object under the directory `prefix` (`tracks/1` and `tracks/1/` both
    /// mean `tracks/1/…`, never `tracks/10/…`) and returns how many were deleted. An empty
    /// prefix is refused: wiping the whole store is not something a caller does by accident.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        let dir = directory_prefix(prefix)?.ok_or_else(|| StorageError::InvalidKey(prefix.to_owned()))?;
        match self {
            Self::Local(s) => s.delete_prefix(&dir).await,
            Self::S3(s) => s.delete_prefix(&dir).await,
        }
    }

    /// Keys under the directory `prefix` (empty: the whole store), relative to the store's
    /// root, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let dir = directory_prefix(prefix)?;
        let mut keys = match self {
            Self::Local(s) => s.list(dir.as_deref()).await?,
            Self::S3(s) => s.list(dir.as_deref()).await?,
        };
        keys.sort_unstable();
        Ok(keys)
    }

    /// S3: a presigned PUT with the content length and type signed in, so the client can
    /// upload exactly `size` bytes and nothing else. Local: `None` (the API serves its own
    /// upload route).
    pub async fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<Option<PresignedRequest>, StorageError> {
        validate_key(key)?;
        match self {
            Self::Local(_) => Ok(None),
            Self::S3(s) => s.presign_put(key, size, content_type, expires_in).await.map(Some),
        }
    }

    /// S3: a presigned GET URL. Local: `None`.
    pub async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<Option<String>, StorageError> {
        validate_key(key)?;
        match self {
            Self::Local(_) => Ok(None),
            Self::S3(s) => s.presign_get(key, expires_in).await.map(Some),
        }
    }

    /// Readiness probe: the local root is writable, or the bucket is reachable.
    pub async fn check(&self) -> Result<(), StorageError> {
        match self {
            Self::Local(s) => s.check().await,
            Self::S3(s) => s.check().await,
        }
    }
}

/// Refuses keys that could escape the store's root or that the two back-ends would treat
/// differently: empty, absolute, with `.` or `..` or empty segments (`a//b`, a trailing
/// `/`), backslashes, NUL or other control characters, or longer than 1024 bytes.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_BYTES
        && !key.chars().any(|c| c == '\\' || c.is_control())
        && key.split('/').all(|seg| !matches!(seg, "" | "." | ".."));
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidKey(key.to_owned()))
    }
}

/// Normalises a listing prefix to a directory: `None` for the whole store, otherwise a
/// valid key without its trailing `/`.
fn directory_prefix(prefix: &str) -> Result<Option<String>, StorageError> {
    if prefix.is_empty() {
        return Ok(None);
    }
    let dir = prefix.strip_suffix('/').unwrap_or(prefix);
    validate_key(dir).map_err(|_| StorageError::InvalidKey(prefix.to_owned()))?;
    Ok(Some(dir.to_owned()))
}

/// The lower-cased extension of a file name or object key, if any.
pub fn extension(name: &str) -> Option<String> {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_range_resolution() {
        let r = |start, end| ByteRange {
            start,
            end_inclusive: end,
        };
        assert_eq!(r(0, Some(9)).resolve(100).unwrap(), (0, 9));
        assert_eq!(r(90, None).resolve(100).unwrap(), (90, 99));
        assert_eq!(r(90, Some(500)).resolve(100).unwrap(), (90, 99));
        assert_eq!(r(99, Some(99)).resolve(100).unwrap(), (99, 99));
        for (range, size) in [(r(100, None), 100), (r(0, None), 0), (r(10, Some(5)), 100)] {
            assert!(matches!(
                range.resolve(size),
                Err(StorageError::RangeNotSatisfiable { .. })
            ));
        }
    }

    #[test]
    fn directory_prefixes() {
        assert_eq!(directory_prefix("").unwrap(), None);
        assert_eq!(directory_prefix("tracks/1/").unwrap().as_deref(), Some("tracks/1"));
        assert_eq!(directory_prefix("tracks/1").unwrap().as_deref(), Some("tracks/1"));
        for bad in ["/", "tracks//", "../", "a/../"] {
            assert!(directory_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
