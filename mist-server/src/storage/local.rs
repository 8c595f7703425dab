//! The local-directory back-end: one file per object under `<data_dir>/objects`.
//!
//! It owns turning validated keys into paths under its root and making writes atomic
//! (write a temporary file in the destination directory, then rename it into place). It
//! keeps no metadata beside the files: content types are inferred from the key's
//! extension. It must not be handed unvalidated keys; [`super::ObjectStore`] checks them.
//!
//! Unlike a bucket, a directory cannot hold both an object `a` and an object `a/b`; writing
//! the second fails with an I/O error. MIST's key layout never needs both.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::{ByteRange, ByteStream, GetObject, ObjectMeta, StorageError};

/// Temporary files start with this; listings skip them, so an unfinished write is never
/// seen as an object (nor, therefore, a key whose last segment starts with it).
const TEMP_PREFIX: &str = ".mist-tmp-";

/// Read buffer for streamed bodies: large enough that a segment is a handful of chunks.
const READ_CHUNK: usize = 64 * 1024;

/// Objects (or ranges) up to this size are read whole by [`LocalStore::get`].
const READ_WHOLE_MAX: u64 = 1024 * 1024;

/// What [`open_range`] found.
struct OpenedRange {
    body: Opened,
    total_size: u64,
    content_length: u64,
    range: Option<(u64, u64)>,
}

enum Opened {
    Whole(Bytes),
    /// Positioned at the range's start; streamed.
    File(std::fs::File),
}

/// Blocking: the file at `path` (`None` if it is not a file), positioned at
/// the start of `range`, read whole when small.
fn open_range(path: &Path, range: Option<ByteRange>) -> Result<Option<OpenedRange>, StorageError> {
    use std::io::{Read, Seek};
    let mut file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    let total_size = meta.len();
    let (range, content_length) = match range {
        Some(range) => {
            let (start, end) = range.resolve(total_size)?;
            file.seek(SeekFrom::Start(start))?;
            (Some((start, end)), end - start + 1)
        }
        None => (None, total_size),
    };
    let body = if content_length <= READ_WHOLE_MAX {
        let mut buf = Vec::with_capacity(content_length as usize);
        file.take(content_length).read_to_end(&mut buf)?;
        if buf.len() as u64 != content_length {
            // Truncated under us: as a stream would have ended early.
            return Err(StorageError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        Opened::Whole(Bytes::from(buf))
    } else {
        Opened::File(file)
    };
    Ok(Some(OpenedRange {
        body,
        total_size,
        content_length,
        range,
    }))
}

#[derive(Clone, Debug)]
pub struct LocalStore {
    root: Arc<Path>,
}

impl LocalStore {
    pub(super) async fn open(root: &Path) -> Result<Self, StorageError> {
        fs::create_dir_all(root).await?;
        Ok(Self { root: root.into() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The key is already validated (no `..`, no absolute path), so joining it stays
    /// under the root.
    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Blocking, but only a `stat`, answered from the kernel's inode cache.
    pub(super) fn still_stored(&self, key: &str) -> bool {
        std::fs::metadata(self.path(key)).is_ok_and(|m| m.is_file())
    }

    pub(super) async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        let mut temp = TempFile::create(&self.path(key)).await?;
        temp.file.write_all(&bytes).await?;
        temp.commit().await
    }

    pub(super) async fn put_stream(
        &self,
        key: &str,
        mut body: ByteStream,
        max_bytes: Option<u64>,
    ) -> Result<u64, StorageError> {
        let mut temp = TempFile::create(&self.path(key)).await?;
        let mut written: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            written += chunk.len() as u64;
            if let Some(limit) = max_bytes.filter(|&limit| written > limit) {
                // Dropping `temp` removes the partial file.
                return Err(StorageError::TooLarge { limit });
            }
            temp.file.write_all(&chunk).await?;
        }
        temp.commit().await?;
        Ok(written)
    }

    pub(super) async fn put_file(&self, key: &str, source: &Path) -> Result<(), StorageError> {
        // Copy rather than rename: the source belongs to the caller and may be on
        // another file system.
        let mut input = fs::File::open(source).await?;
        let mut temp = TempFile::create(&self.path(key)).await?;
        tokio::io::copy(&mut input, &mut temp.file).await?;
        temp.commit().await
    }

    pub(super) async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetObject, StorageError> {
        let path = self.path(key);
        let missing = key.to_owned();
        // Open, stat, seek and (for a small object: a segment, a playlist)
        // read in one trip to the blocking pool rather than one per step:
        // this is the hot path of serving segments.
        let opened = tokio::task::spawn_blocking(move || open_range(&path, range))
            .await
            .map_err(|e| StorageError::Io(std::io::Error::other(e)))?;
        let opened = match opened {
            Ok(opened) => opened,
            Err(StorageError::Io(e)) if is_missing(&e) => return Err(StorageError::NotFound(missing)),
            Err(e) => return Err(e),
        };
        let Some(opened) = opened else {
            return Err(StorageError::NotFound(missing));
        };
        let body = match opened.body {
            Opened::Whole(bytes) => futures::stream::once(async move { Ok(bytes) }).boxed(),
            Opened::File(file) => {
                ReaderStream::with_capacity(fs::File::from_std(file).take(opened.content_length), READ_CHUNK).boxed()
            }
        };
        Ok(GetObject {
            body,
            total_size: opened.total_size,
            content_length: opened.content_length,
            range: opened.range,
            content_type: content_type_for(key),
        })
    }

    pub(super) async fn get_bytes(&self, key: &str) -> Result<Bytes, StorageError> {
        match fs::read(self.path(key)).await {
            Ok(data) => Ok(Bytes::from(data)),
            // Reading a directory fails with an OS-specific error; a directory is not an
            // object, so report it as missing like S3 would.
            Err(e) if is_missing(&e) || self.is_dir(key).await => Err(StorageError::NotFound(key.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        match fs::metadata(self.path(key)).await {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectMeta {
                size: meta.len(),
                content_type: content_type_for(key),
            })),
            Ok(_) => Ok(None),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if is_missing(&e) || self.is_dir(key).await => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let dest = self.path(to);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).await?;
        }
        match fs::rename(self.path(from), &dest).await {
            Ok(()) => Ok(()),
            Err(e) if is_missing(&e) => Err(StorageError::NotFound(from.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn delete_prefix(&self, dir: &str) -> Result<u64, StorageError> {
        let top = self.path(dir);
        let mut deleted = 0;
        for key in self.list(Some(dir)).await? {
            match fs::remove_file(self.path(&key)).await {
                Ok(()) => deleted += 1,
                Err(e) if is_missing(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // Tidy the now-empty directories, deepest first. A directory a concurrent writer
        // has just put a file in is not empty and stays; that is fine.
        let mut dirs = Vec::new();
        collect_dirs(&top, &mut dirs).await?;
        for d in dirs.iter().rev() {
            let _ = fs::remove_dir(d).await;
        }
        Ok(deleted)
    }

    pub(super) async fn list(&self, dir: Option<&str>) -> Result<Vec<String>, StorageError> {
        let top = dir.map_or_else(|| self.root.to_path_buf(), |d| self.path(d));
        let mut keys = Vec::new();
        // Iterative walk: async recursion would need boxing, and trees here are shallow.
        let mut pending = vec![(top, dir.map(str::to_owned))];
        while let Some((path, key_prefix)) = pending.pop() {
            let mut entries = match fs::read_dir(&path).await {
                Ok(entries) => entries,
                // A missing prefix, or a prefix that is a file, simply has nothing under it.
                Err(e) if is_missing(&e) || e.kind() == std::io::ErrorKind::NotADirectory => {
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            while let Some(entry) = entries.next_entry().await? {
                // Names that are not UTF-8 cannot have been written through this store.
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                if name.starts_with(TEMP_PREFIX) {
                    continue;
                }
                let key = match &key_prefix {
                    Some(p) => format!("{p}/{name}"),
                    None => name,
                };
                // `DirEntry::file_type` does not follow symlinks: only real files and
                // directories the store made are objects.
                let kind = entry.file_type().await?;
                if kind.is_dir() {
                    pending.push((entry.path(), Some(key)));
                } else if kind.is_file() {
                    keys.push(key);
                }
            }
        }
        Ok(keys)
    }

    pub(super) async fn check(&self) -> Result<(), StorageError> {
        fs::create_dir_all(&self.root).await?;
        let probe = self.root.join(format!("{TEMP_PREFIX}check-{}", uuid::Uuid::new_v4()));
        fs::write(&probe, b"ok").await?;
        fs::remove_file(&probe).await?;
        Ok(())
    }

    async fn is_dir(&self, key: &str) -> bool {
        fs::metadata(self.path(key)).await.is_ok_and(|m| m.is_dir())
    }
}

/// A file being written next to its destination. Renamed into place by `commit`;
/// removed if dropped before that, including when the writing future is cancelled.
struct TempFile {
    file: fs::File,
    path: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl TempFile {
    async fn create(dest: &Path) -> Result<Self, StorageError> {
        let dir = dest
            .parent()
            .ok_or_else(|| StorageError::InvalidKey(dest.display().to_string()))?;
        fs::create_dir_all(dir).await?;
        // Same directory as the destination, so the rename is atomic (same file system).
        let path = dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4()));
        let file = fs::OpenOptions::new().write(true).create_new(true).open(&path).await?;
        Ok(Self {
            file,
            path,
            dest: dest.to_owned(),
            committed: false,
        })
    }

    async fn commit(mut self) -> Result<(), StorageError> {
        self.file.flush().await?;
        // Data on disk before the name points at it, so a crash cannot leave a complete-
        // looking object with missing contents.
        self.file.sync_data().await?;
        fs::rename(&self.path, &self.dest).await?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            // Drop cannot await; unlinking one file is quick enough to do inline.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

async fn collect_dirs(top: &Path, out: &mut Vec<PathBuf>) -> Result<(), StorageError> {
    let mut pending = vec![top.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mut entries = match fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if is_missing(&e) || e.kind() == std::io::ErrorKind::NotADirectory => continue,
            Err(e) => return Err(e.into()),
        };
        out.push(dir);
        while let Some(entry) = entries.next_entry().await? {
            if entry.file_type().await?.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Ok(())
}

fn is_missing(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

/// The media types MIST itself writes and serves. Anything else is left to the caller.
fn content_type_for(key: &str) -> Option<String> {
    let ext = key.rsplit_once('.')?.1.to_ascii_lowercase();
    let ty = match ext.as_str() {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mp3" => "audio/mpeg",
        "aac" => "audio/aac",
        "m4a" | "mp4" => "audio/mp4",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        "ogg" | "oga" => "audio/ogg",
        "json" => "application/json",
        _ => return None,
    };
    Some(ty.to_owned())
}
