//! The S3 back-end: objects in a bucket of AWS S3 or any S3-compatible server (MinIO,
//! Garage, s3s-fs), through `aws-sdk-s3`.
//!
//! It owns the SDK client, the bucket prefix from `s3://bucket/prefix` (applied to every
//! key on the way in and stripped on the way out), multipart uploads for large streamed
//! bodies, presigned requests, and the translation of SDK errors into [`StorageError`].
//! It must not be handed unvalidated keys ([`super::ObjectStore`] checks them), and its
//! error messages must never carry credentials or signatures.

use std::error::Error as StdError;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use super::{ByteRange, ByteStream, GetObject, ObjectMeta, StorageError, StorageSettings};

/// Bodies up to this size go up in one PutObject; larger ones as a multipart upload in
/// parts of this size. S3's minimum part is 5 MiB; 8 MiB keeps a 50 MiB upload to seven
/// parts while bounding what one upload holds in memory.
const PART_SIZE: usize = 8 * 1024 * 1024;

/// DeleteObjects takes at most this many keys per call.
const DELETE_BATCH: usize = 1000;

const DEFAULT_REGION: &str = "us-east-1";

#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: Arc<str>,
    /// Without leading or trailing `/`; empty for the bucket's root.
    prefix: Arc<str>,
}

/// By hand, so that logging the store can never print the client's credential chain.
impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    pub(super) async fn open(settings: &StorageSettings, bucket: &str, prefix: &str) -> Self {
        let region = RegionProviderChain::first_try(settings.s3_region.clone().map(Region::new))
            .or_default_provider()
            .or_else(Region::new(DEFAULT_REGION));
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region);
        if let Some(endpoint) = &settings.s3_endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let sdk_config = loader.load().await;
        let mut config = aws_sdk_s3::config::Builder::from(&sdk_config).force_path_style(settings.s3_force_path_style);
        if sdk_config.endpoint_url().is_some() {
            // Since 2025 the SDK adds CRC checksums to every upload by default (as
            // aws-chunked bodies with trailers), which several S3-compatible servers reject
            // or mishandle. Against anything but AWS itself, send and check checksums only
            // where an operation requires them (DeleteObjects); s3s-fs accepts either way.
            config = config
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        Self {
            client: Client::from_conf(config.build()),
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The bucket key for a store key.
    fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// The store key for a bucket key, or `None` if it lies outside this store's prefix.
    fn store_key<'a>(&self, full: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            Some(full)
        } else {
            full.strip_prefix(&*self.prefix)?.strip_prefix('/')
        }
    }

    pub(super) async fn put_bytes(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&*self.bucket)
            .key(self.full_key(key))
            .content_type(content_type)
            .body(SdkByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| backend("PutObject", key, e))?;
        Ok(())
    }

    pub(super) async fn put_stream(
        &self,
        key: &str,
        mut body: ByteStream,
        content_type: &str,
        max_bytes: Option<u64>,
    ) -> Result<u64, StorageError> {
        let mut written: u64 = 0;
        let mut buf = BytesMut::new();
        let mut upload: Option<MultipartUpload> = None;
        // Runs the whole transfer so that any error, from the body or from S3, reaches the
        // abort below in one place.
        let result: Result<(), StorageError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                written += chunk.len() as u64;
                if let Some(limit) = max_bytes.filter(|&limit| written > limit) {
                    return Err(StorageError::TooLarge { limit });
                }
                buf.extend_from_slice(&chunk);
                while buf.len() >= PART_SIZE {
                    let part = buf.split_to(PART_SIZE).freeze();
                    let up = match &mut upload {
                        Some(up) => up,
                        None => upload.insert(self.start_multipart(key, content_type).await?),
                    };
                    up.upload_part(part).await?;
                }
            }
            Ok(())
        }
        .await;

        match (result, upload) {
            (Ok(()), None) => {
                self.put_bytes(key, buf.freeze(), content_type).await?;
                Ok(written)
            }
            (Ok(()), Some(mut up)) => {
                if !buf.is_empty()
                    && let Err(e) = up.upload_part(buf.freeze()).await
                {
                    up.abort().await;
                    return Err(e);
                }
                up.complete().await?;
                Ok(written)
            }
            (Err(e), Some(up)) => {
                up.abort().await;
                Err(e)
            }
            (Err(e), None) => Err(e),
        }
    }

    async fn start_multipart(&self, key: &str, content_type: &str) -> Result<MultipartUpload, StorageError> {
        let full_key = self.full_key(key);
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&*self.bucket)
            .key(&full_key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| backend("CreateMultipartUpload", key, e))?;
        let upload_id = out
            .upload_id()
            .ok_or_else(|| StorageError::Backend(format!("CreateMultipartUpload for {key} returned no upload id")))?;
        Ok(MultipartUpload {
            store: self.clone(),
            key: key.to_owned(),
            full_key,
            upload_id: upload_id.to_owned(),
            parts: Vec::new(),
            finished: false,
        })
    }

    pub(super) async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<(), StorageError> {
        // One PutObject: files handed to the store are originals under the upload limit
        // and rendered segments, far below S3's 5 GiB single-put ceiling.
        let body = SdkByteStream::from_path(path)
            .await
            .map_err(|e| StorageError::Io(std::io::Error::other(e)))?;
        self.client
            .put_object()
            .bucket(&*self.bucket)
            .key(self.full_key(key))
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| backend("PutObject", key, e))?;
        Ok(())
    }

    pub(super) async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetObject, StorageError> {
        let out = self
            .client
            .get_object()
            .bucket(&*self.bucket)
            .key(self.full_key(key))
            .set_range(range.map(ByteRange::to_header))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if status(&e) == Some(416) => {
                // S3 reports the object's size only inside the error body; ask for it.
                return Err(match self.head(key).await? {
                    Some(meta) => StorageError::RangeNotSatisfiable { size: meta.size },
                    None => StorageError::NotFound(key.to_owned()),
                });
            }
            Err(e) if status(&e) == Some(404) || e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(StorageError::NotFound(key.to_owned()));
            }
            Err(e) => return Err(backend("GetObject", key, e)),
        };
        let content_length = non_negative(out.content_length());
        let served = match (range, out.content_range()) {
            (Some(_), Some(header)) => Some(parse_content_range(header).ok_or_else(|| {
                StorageError::Backend(format!(
                    "GetObject for {key} returned a malformed Content-Range {header:?}"
                ))
            })?),
            // A server may ignore the Range header and send the whole object with a 200.
            _ => None,
        };
        let (range, total_size) = match served {
            Some((start, end, total)) => (Some((start, end)), total),
            None => (None, content_length),
        };
        let content_type = out.content_type().map(str::to_owned);
        let body = futures::stream::unfold(out.body, |mut body| async move {
            body.next()
                .await
                .map(|chunk| (chunk.map_err(std::io::Error::other), body))
        })
        .boxed();
        Ok(GetObject {
            body,
            total_size,
            content_length,
            range,
            content_type,
        })
    }

    pub(super) async fn get_bytes(&self, key: &str) -> Result<Bytes, StorageError> {
        let obj = self.get(key, None).await?;
        let mut buf = BytesMut::with_capacity(usize::try_from(obj.content_length).unwrap_or(0));
        let mut body = obj.body;
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(buf.freeze())
    }

    pub(super) async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let out = self
            .client
            .head_object()
            .bucket(&*self.bucket)
            .key(self.full_key(key))
            .send()
            .await;
        match out {
            Ok(out) => Ok(Some(ObjectMeta {
                size: non_negative(out.content_length()),
                content_type: out.content_type().map(str::to_owned),
            })),
            // HEAD responses have no body, so a missing key is only visible as a 404.
            Err(e) if status(&e) == Some(404) || e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(backend("HeadObject", key, e)),
        }
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), StorageError> {
        // S3's DeleteObject already succeeds for a missing key.
        match self
            .client
            .delete_object()
            .bucket(&*self.bucket)
            .key(self.full_key(key))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(backend("DeleteObject", key, e)),
        }
    }

    pub(super) async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let source = format!("{}/{}", self.bucket, copy_source_key(&self.full_key(from)));
        let copied = self
            .client
            .copy_object()
            .bucket(&*self.bucket)
            .key(self.full_key(to))
            .copy_source(source)
            .send()
            .await;
        match copied {
            Ok(_) => {}
            Err(e) if status(&e) == Some(404) || e.code() == Some("NoSuchKey") => {
                return Err(StorageError::NotFound(from.to_owned()));
            }
            Err(e) => return Err(backend("CopyObject", from, e)),
        }
        self.delete(from).await
    }

    pub(super) async fn delete_prefix(&self, dir: &str) -> Result<u64, StorageError> {
        let keys = self.list(Some(dir)).await?;
        let mut deleted = 0;
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(self.full_key(k)).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StorageError::Backend(format!("building DeleteObjects request: {e}")))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StorageError::Backend(format!("building DeleteObjects request: {e}")))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&*self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| backend("DeleteObjects", dir, e))?;
            // Quiet mode lists only the failures.
            if let Some(err) = out.errors().first() {
                return Err(StorageError::Backend(format!(
                    "DeleteObjects under {dir}: {} of {} failed, first {:?}: {} {}",
                    out.errors().len(),
                    batch.len(),
                    err.key().unwrap_or_default(),
                    err.code().unwrap_or_default(),
                    err.message().unwrap_or_default(),
                )));
            }
            deleted += batch.len() as u64;
        }
        Ok(deleted)
    }

    pub(super) async fn list(&self, dir: Option<&str>) -> Result<Vec<String>, StorageError> {
        // The trailing `/` makes the prefix a directory: `tracks/1/` never matches
        // `tracks/10/…`.
        let prefix = match dir {
            Some(d) => format!("{}/", self.full_key(d)),
            None if self.prefix.is_empty() => String::new(),
            None => format!("{}/", self.prefix),
        };
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&*self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| backend("ListObjectsV2", dir.unwrap_or(""), e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter_map(|k| self.store_key(k))
                    .map(str::to_owned),
            );
        }
        Ok(keys)
    }

    pub(super) async fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<super::PresignedRequest, StorageError> {
        let config = presigning(expires_in)?;
        let length = i64::try_from(size).map_err(|_| StorageError::TooLarge { limit: i64::MAX as u64 })?;
        let req = self
            .client
            .put_object()
            .bucket(&*self.bucket)
            .key(self.full_key(key))
            .content_type(content_type)
            .content_length(length)
            .presigned(config)
            .await
            .map_err(|e| backend("presign PutObject", key, e))?;
        Ok(super::PresignedRequest {
            url: req.uri().to_owned(),
            method: req.method().to_owned(),
            headers: req
                .headers()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            expires_at: expiry(expires_in),
        })
    }

    pub(super) async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String, StorageError> {
        let req = self
            .client
            .get_object()
            .bucket(&*self.bucket)
            .key(self.full_key(key))
            .presigned(presigning(expires_in)?)
            .await
            .map_err(|e| backend("presign GetObject", key, e))?;
        Ok(req.uri().to_owned())
    }

    pub(super) async fn check(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&*self.bucket)
            .send()
            .await
            .map_err(|e| backend("HeadBucket", &self.bucket, e))?;
        Ok(())
    }
}

/// An in-progress multipart upload. Completed or aborted explicitly; if dropped without
/// either (the writing future was cancelled), it aborts in the background so the parts do
/// not linger in the bucket.
struct MultipartUpload {
    store: S3Store,
    key: String,
    full_key: String,
    upload_id: String,
    parts: Vec<CompletedPart>,
    finished: bool,
}

impl MultipartUpload {
    async fn upload_part(&mut self, data: Bytes) -> Result<(), StorageError> {
        // Part numbers start at 1.
        let number = i32::try_from(self.parts.len() + 1)
            .map_err(|_| StorageError::Backend(format!("too many parts uploading {}", self.key)))?;
        let out = self
            .store
            .client
            .upload_part()
            .bucket(&*self.store.bucket)
            .key(&self.full_key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .body(SdkByteStream::from(data))
            .send()
            .await
            .map_err(|e| backend("UploadPart", &self.key, e))?;
        self.parts.push(
            CompletedPart::builder()
                .set_e_tag(out.e_tag().map(str::to_owned))
                .part_number(number)
                .build(),
        );
        Ok(())
    }

    async fn complete(mut self) -> Result<(), StorageError> {
        let parts = CompletedMultipartUpload::builder()
            .set_parts(Some(std::mem::take(&mut self.parts)))
            .build();
        let result = self
            .store
            .client
            .complete_multipart_upload()
            .bucket(&*self.store.bucket)
            .key(&self.full_key)
            .upload_id(&self.upload_id)
            .multipart_upload(parts)
            .send()
            .await;
        match result {
            Ok(_) => {
                self.finished = true;
                Ok(())
            }
            Err(e) => {
                let err = backend("CompleteMultipartUpload", &self.key, e);
                self.abort().await;
                Err(err)
            }
        }
    }

    async fn abort(mut self) {
        self.finished = true;
        abort_upload(&self.store, &self.full_key, &self.upload_id).await;
    }
}

impl Drop for MultipartUpload {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Cancelled mid-upload: the parts are invisible under the key but still stored.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let store = self.store.clone();
            let full_key = std::mem::take(&mut self.full_key);
            let upload_id = std::mem::take(&mut self.upload_id);
            handle.spawn(async move { abort_upload(&store, &full_key, &upload_id).await });
        }
    }
}

async fn abort_upload(store: &S3Store, full_key: &str, upload_id: &str) {
    let result = store
        .client
        .abort_multipart_upload()
        .bucket(&*store.bucket)
        .key(full_key)
        .upload_id(upload_id)
        .send()
        .await;
    // Nothing was visible under the key, so a failed abort costs only stored parts, which
    // a bucket lifecycle rule for incomplete uploads reclaims; log it and go on.
    if let Err(e) = result {
        tracing::warn!(key = full_key, error = %backend("AbortMultipartUpload", full_key, e), "leaving incomplete multipart upload");
    }
}

/// A bucket key as CopyObject's `x-amz-copy-source` wants it: percent-encoded,
/// except for the `/` between segments.
fn copy_source_key(full_key: &str) -> String {
    let mut out = String::with_capacity(full_key.len());
    for b in full_key.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn presigning(expires_in: Duration) -> Result<PresigningConfig, StorageError> {
    PresigningConfig::expires_in(expires_in).map_err(|e| StorageError::Backend(format!("presigning: {e}")))
}

fn expiry(expires_in: Duration) -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::Duration::from_std(expires_in)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(now)
}

fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// An SDK failure as a `Backend` error naming the operation and key. The message comes
/// from the service's error code and message or the SDK's error chain, neither of which
/// holds credentials or signed URLs.
fn backend<E>(operation: &str, key: &str, err: SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let detail = match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            // HEAD answers have no body, so a wrong secret or a missing bucket shows only
            // as a status; always give it.
            let status = service.raw().status().as_u16();
            match (e.code(), e.message()) {
                (Some(code), Some(msg)) => format!("HTTP {status} {code}: {msg}"),
                (Some(code), None) => format!("HTTP {status} {code}"),
                _ => format!("HTTP {status}"),
            }
        }
        _ => error_chain(&err),
    };
    StorageError::Backend(format!("{operation} {key}: {detail}"))
}

fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// Parses `bytes START-END/TOTAL` into `(start, end, total)`.
fn parse_content_range(header: &str) -> Option<(u64, u64, u64)> {
    let rest = header.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    Some((
        start.trim().parse().ok()?,
        end.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

fn non_negative(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::parse_content_range;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0, 9, 100)));
        assert_eq!(parse_content_range("bytes 90-99/100"), Some((90, 99, 100)));
        assert_eq!(parse_content_range("bytes */100"), None);
        assert_eq!(parse_content_range("bytes 0-9/*"), None);
    }
}
