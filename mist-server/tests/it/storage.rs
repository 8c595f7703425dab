//! The object-store suite, run against both back-ends: every case below becomes
//! `local::<case>` (a fresh temporary directory) and `s3::<case>` (a fresh random prefix in
//! a real S3-compatible server, as `./scripts/test.sh` starts one).
//!
//! The S3 cases need `MIST_TEST_S3_ENDPOINT`, `MIST_TEST_S3_BUCKET`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` and `AWS_REGION`; without them they fail rather than pass
//! silently, so a green run always means both back-ends were exercised.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use mist_server::storage::{
    ByteRange, ByteStream, ObjectStore, StorageError, StorageLocation, StorageSettings, validate_key,
};

/// A store for one test, plus what must live as long as it.
struct Fixture {
    store: ObjectStore,
    _dir: Option<tempfile::TempDir>,
}

async fn local_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = StorageSettings {
        location: StorageLocation::Local,
        local_root: dir.path().join("objects"),
        s3_endpoint: None,
        s3_region: None,
        s3_force_path_style: false,
    };
    let store = ObjectStore::open(&settings).await.expect("open the store");
    Fixture { store, _dir: Some(dir) }
}

async fn s3_fixture() -> Fixture {
    const HOW: &str = "run `./scripts/test.sh`, or `source <(scripts/test-services.sh env)` \
                       before `cargo test`, to start an S3-compatible server and set it";
    let endpoint =
        std::env::var("MIST_TEST_S3_ENDPOINT").unwrap_or_else(|_| panic!("MIST_TEST_S3_ENDPOINT is not set: {HOW}"));
    let bucket =
        std::env::var("MIST_TEST_S3_BUCKET").unwrap_or_else(|_| panic!("MIST_TEST_S3_BUCKET is not set: {HOW}"));
    // Each test gets its own prefix, so tests running in parallel (or a previous run's
    // leftovers) never see each other's objects.
    let location: StorageLocation = format!("s3://{bucket}/test-{}", uuid::Uuid::new_v4())
        .parse()
        .expect("a valid location");
    let settings = StorageSettings {
        location,
        local_root: std::path::PathBuf::new(),
        s3_endpoint: Some(endpoint.clone()),
        s3_region: None,
        s3_force_path_style: true,
    };
    let store = ObjectStore::open(&settings).await.expect("open the store");
    if let Err(e) = store.check().await {
        panic!("S3 bucket {bucket:?} at {endpoint} is not reachable ({e}): {HOW}");
    }
    Fixture { store, _dir: None }
}

/// Removes what a test left under its S3 prefix; local directories go with their TempDir.
async fn cleanup(store: &ObjectStore) {
    if let ObjectStore::S3(_) = store {
        for key in store.list("").await.expect("list") {
            store.delete(&key).await.expect("delete");
        }
    }
}

/// Generates `local::$case` and `s3::$case` for each `async fn $case(&ObjectStore)`.
macro_rules! storage_suite {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $case() {
                    let fx = super::local_fixture().await;
                    super::$case(&fx.store).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test]
                async fn $case() {
                    let fx = super::s3_fixture().await;
                    super::$case(&fx.store).await;
                    super::cleanup(&fx.store).await;
                }
            )*
        }
    };
}

storage_suite!(
    put_get_roundtrip,
    overwrite_replaces,
    get_missing_is_not_found,
    ranged_get,
    head_present_and_absent,
    delete_is_idempotent,
    delete_prefix_removes_only_that_prefix,
    list_is_sorted_and_scoped,
    put_stream_under_limit,
    put_stream_over_limit_is_refused,
    put_stream_large_body,
    put_stream_body_error_leaves_nothing,
    put_stream_cancelled_leaves_nothing,
    put_file_roundtrip,
    presign_put,
    presign_get,
    traversal_keys_are_refused,
    check_succeeds,
    rename_moves_and_replaces,
);

/// A byte pattern with a prime period, so a misplaced range shows.
fn pattern(len: usize) -> Bytes {
    (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into()
}

/// `data` as a streamed body in `chunk`-sized pieces.
fn chunked(data: Bytes, chunk: usize) -> ByteStream {
    let pieces: Vec<_> = data.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(pieces).boxed()
}

async fn read_all(mut body: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.expect("body chunk"));
    }
    out
}

async fn put_get_roundtrip(store: &ObjectStore) {
    let data = pattern(10_000);
    store
        .put_bytes(
            "tracks/t1/hls/master.m3u8",
            data.clone(),
            "application/vnd.apple.mpegurl",
        )
        .await
        .expect("put_bytes");

    let got = store.get("tracks/t1/hls/master.m3u8", None).await.expect("get");
    assert_eq!(got.total_size, 10_000);
    assert_eq!(got.content_length, 10_000);
    assert_eq!(got.range, None);
    assert_eq!(got.content_type.as_deref(), Some("application/vnd.apple.mpegurl"));
    assert_eq!(read_all(got.body).await, data);

    assert_eq!(
        store.get_bytes("tracks/t1/hls/master.m3u8").await.expect("get_bytes"),
        data
    );
}

async fn overwrite_replaces(store: &ObjectStore) {
    store
        .put_bytes("a/obj", Bytes::from_static(b"first version"), "text/plain")
        .await
        .expect("put_bytes");
    store
        .put_bytes("a/obj", Bytes::from_static(b"second"), "text/plain")
        .await
        .expect("put_bytes");
    assert_eq!(store.get_bytes("a/obj").await.expect("get_bytes"), &b"second"[..]);
    assert_eq!(store.list("").await.expect("list"), ["a/obj"]);
}

async fn get_missing_is_not_found(store: &ObjectStore) {
    let err = store.get("no/such/object", None).await.expect_err("get should fail");
    assert!(matches!(err, StorageError::NotFound(_)), "{err:?}");
    let err = store
        .get_bytes("no/such/object")
        .await
        .expect_err("get_bytes should fail");
    assert!(matches!(err, StorageError::NotFound(_)), "{err:?}");
    // A directory holding objects is not itself an object. Only asked of the local store:
    // s3s-fs keeps objects as files too and answers 500 for a key naming one of its
    // directories, where S3 itself answers 404.
    if store.kind() == "local" {
        store
            .put_bytes("dir/child", Bytes::from_static(b"x"), "text/plain")
            .await
            .expect("put_bytes");
        let err = store.get("dir", None).await.expect_err("get should fail");
        assert!(matches!(err, StorageError::NotFound(_)), "{err:?}");
        let err = store.get_bytes("dir").await.expect_err("get_bytes should fail");
        assert!(matches!(err, StorageError::NotFound(_)), "{err:?}");
        assert_eq!(store.head("dir").await.expect("head"), None);
        store.delete("dir").await.expect("delete");
        assert_eq!(store.list("").await.expect("list"), ["dir/child"]);
    }
}

async fn ranged_get(store: &ObjectStore) {
    let data = pattern(1000);
    store
        .put_bytes("seg.mp3", data.clone(), "audio/mpeg")
        .await
        .expect("put_bytes");

    // (range asked, range served)
    let cases = [
        ((0, Some(9)), (0, 9)),          // first bytes
        ((100, Some(199)), (100, 199)),  // middle
        ((900, None), (900, 999)),       // from an offset to the end
        ((990, Some(5000)), (990, 999)), // end past the object is clamped
        ((999, Some(999)), (999, 999)),  // last byte
    ];
    for ((start, end_inclusive), (from, to)) in cases {
        let range = ByteRange { start, end_inclusive };
        let got = store.get("seg.mp3", Some(range)).await.expect("get");
        assert_eq!(got.range, Some((from, to)), "{range:?}");
        assert_eq!(got.total_size, 1000, "{range:?}");
        assert_eq!(got.content_length, to - from + 1, "{range:?}");
        assert_eq!(
            read_all(got.body).await,
            &data[from as usize..=to as usize],
            "{range:?}"
        );
    }

    let past_end = ByteRange {
        start: 1000,
        end_inclusive: None,
    };
    let err = store.get("seg.mp3", Some(past_end)).await.expect_err("get should fail");
    assert!(
        matches!(err, StorageError::RangeNotSatisfiable { size: 1000 }),
        "{err:?}"
    );
}

async fn head_present_and_absent(store: &ObjectStore) {
    store
        .put_bytes("x/y.mp3", pattern(123), "audio/mpeg")
        .await
        .expect("put_bytes");
    let meta = store.head("x/y.mp3").await.expect("head").expect("object present");
    assert_eq!(meta.size, 123);
    assert_eq!(meta.content_type.as_deref(), Some("audio/mpeg"));
    assert_eq!(store.head("x/z.mp3").await.expect("head"), None);
}

async fn delete_is_idempotent(store: &ObjectStore) {
    store
        .put_bytes("d/obj", Bytes::from_static(b"bye"), "text/plain")
        .await
        .expect("put_bytes");
    store.delete("d/obj").await.expect("delete");
    assert_eq!(store.head("d/obj").await.expect("head"), None);
    store.delete("d/obj").await.expect("delete");
    store.delete("never/existed").await.expect("delete");
}

async fn rename_moves_and_replaces(store: &ObjectStore) {
    let data = pattern(70_001);
    store
        .put_bytes("uploads/u1/original.flac", data.clone(), "audio/flac")
        .await
        .expect("put_bytes");
    store
        .put_bytes("tracks/t1/original.flac", Bytes::from_static(b"older"), "audio/flac")
        .await
        .expect("put_bytes");
    store
        .rename("uploads/u1/original.flac", "tracks/t1/original.flac")
        .await
        .expect("rename");
    assert_eq!(store.head("uploads/u1/original.flac").await.expect("head"), None);
    assert_eq!(store.get_bytes("tracks/t1/original.flac").await.expect("get"), data);
    let again = store
        .rename("uploads/u1/original.flac", "tracks/t1/original.flac")
        .await;
    assert!(matches!(again, Err(StorageError::NotFound(_))), "{again:?}");
    assert_eq!(
        store.get_bytes("tracks/t1/original.flac").await.expect("get"),
        data,
        "kept"
    );
    let escape = store.rename("tracks/t1/original.flac", "../outside").await;
    assert!(matches!(escape, Err(StorageError::InvalidKey(_))), "{escape:?}");
}

async fn delete_prefix_removes_only_that_prefix(store: &ObjectStore) {
    let doomed = [
        "tracks/1/original.flac",
        "tracks/1/hls/master.m3u8",
        "tracks/1/hls/64k/seg_00000.mp3",
    ];
    // `tracks/10` shares the string prefix `tracks/1` but is another directory.
    let kept = ["tracks/10/original.flac", "tracks/2/original.flac", "uploads/u1"];
    for key in doomed.iter().chain(&kept) {
        store
            .put_bytes(key, Bytes::from_static(b"data"), "application/octet-stream")
            .await
            .expect("put_bytes");
    }

    assert_eq!(store.delete_prefix("tracks/1/").await.expect("delete_prefix"), 3);
    for key in doomed {
        assert_eq!(store.head(key).await.expect("head"), None, "{key}");
    }
    assert_eq!(store.list("").await.expect("list"), kept);

    // Nothing left: a second call deletes nothing; the slash-less form means the same.
    assert_eq!(store.delete_prefix("tracks/1").await.expect("delete_prefix"), 0);
    assert_eq!(store.delete_prefix("tracks/2").await.expect("delete_prefix"), 1);
    assert_eq!(
        store.list("").await.expect("list"),
        ["tracks/10/original.flac", "uploads/u1"]
    );

    for bad in ["", "/", "../", "a//"] {
        let err = store.delete_prefix(bad).await.expect_err("delete_prefix should fail");
        assert!(matches!(err, StorageError::InvalidKey(_)), "{bad:?}: {err:?}");
    }
}

async fn list_is_sorted_and_scoped(store: &ObjectStore) {
    assert!(store.list("").await.expect("list").is_empty());
    for key in ["b/2", "a/1", "b/1", "b/sub/3", "bb/4", "c"] {
        store
            .put_bytes(key, Bytes::from_static(b"."), "text/plain")
            .await
            .expect("put_bytes");
    }
    assert_eq!(
        store.list("").await.expect("list"),
        ["a/1", "b/1", "b/2", "b/sub/3", "bb/4", "c"]
    );
    assert_eq!(store.list("b/").await.expect("list"), ["b/1", "b/2", "b/sub/3"]);
    assert_eq!(store.list("b").await.expect("list"), ["b/1", "b/2", "b/sub/3"]);
    assert_eq!(store.list("b/sub").await.expect("list"), ["b/sub/3"]);
    assert!(store.list("nothing/here").await.expect("list").is_empty());
    assert!(
        store.list("c").await.expect("list").is_empty(),
        "a file is not a directory"
    );
    assert!(matches!(store.list("../").await, Err(StorageError::InvalidKey(_))));
}

async fn put_stream_under_limit(store: &ObjectStore) {
    let data = pattern(100_000);
    let n = store
        .put_stream(
            "up/ok.bin",
            chunked(data.clone(), 7_000),
            "application/octet-stream",
            Some(100_000),
        )
        .await
        .expect("put_stream");
    assert_eq!(n, 100_000);
    assert_eq!(store.get_bytes("up/ok.bin").await.expect("get_bytes"), data);

    let n = store
        .put_stream(
            "up/empty.bin",
            chunked(Bytes::new(), 1),
            "application/octet-stream",
            Some(10),
        )
        .await
        .expect("put_stream");
    assert_eq!(n, 0);
    assert_eq!(
        store
            .head("up/empty.bin")
            .await
            .expect("head")
            .expect("object present")
            .size,
        0
    );
}

async fn put_stream_over_limit_is_refused(store: &ObjectStore) {
    let err = store
        .put_stream(
            "up/big.bin",
            chunked(pattern(100_001), 7_000),
            "application/octet-stream",
            Some(100_000),
        )
        .await
        .expect_err("put_stream should fail");
    assert!(matches!(err, StorageError::TooLarge { limit: 100_000 }), "{err:?}");
    assert_eq!(store.head("up/big.bin").await.expect("head"), None);
    assert!(
        store.list("").await.expect("list").is_empty(),
        "nothing may be left behind"
    );

    // Past the multipart threshold too, so S3 must abort an upload already under way.
    let big = pattern(12 * 1024 * 1024);
    let err = store
        .put_stream(
            "up/bigger.bin",
            chunked(big, 1 << 20),
            "application/octet-stream",
            Some(10 * 1024 * 1024),
        )
        .await
        .expect_err("put_stream should fail");
    assert!(matches!(err, StorageError::TooLarge { .. }), "{err:?}");
    assert_eq!(store.head("up/bigger.bin").await.expect("head"), None);
    assert!(
        store.list("").await.expect("list").is_empty(),
        "nothing may be left behind"
    );
}

async fn put_stream_large_body(store: &ObjectStore) {
    // Larger than one S3 part, with a ragged last chunk, so the multipart path runs.
    let data = pattern(17 * 1024 * 1024 + 12_345);
    let n = store
        .put_stream("up/large.flac", chunked(data.clone(), 300_000), "audio/flac", None)
        .await
        .expect("put_stream");
    assert_eq!(n, data.len() as u64);
    let meta = store
        .head("up/large.flac")
        .await
        .expect("head")
        .expect("object present");
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(meta.content_type.as_deref(), Some("audio/flac"));
    assert!(
        store.get_bytes("up/large.flac").await.expect("get_bytes") == data,
        "content differs"
    );
}

async fn put_stream_body_error_leaves_nothing(store: &ObjectStore) {
    let body = futures::stream::iter([
        Ok(pattern(1000)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ])
    .boxed();
    let err = store
        .put_stream("up/cut.bin", body, "application/octet-stream", None)
        .await
        .expect_err("put_stream should fail");
    assert!(matches!(err, StorageError::Io(_)), "{err:?}");
    assert!(
        store.list("").await.expect("list").is_empty(),
        "nothing may be left behind"
    );
}

async fn put_stream_cancelled_leaves_nothing(store: &ObjectStore) {
    // A client that sends a part-sized first chunk (so S3 has a multipart upload under
    // way) and then stalls until the server gives up on it.
    let body = futures::stream::iter([Ok(pattern(9 * 1024 * 1024))])
        .chain(futures::stream::pending())
        .boxed();
    let put = store.put_stream("up/stalled.bin", body, "application/octet-stream", None);
    let outcome = tokio::time::timeout(Duration::from_millis(500), put).await;
    assert!(outcome.is_err(), "a stalled body cannot finish");
    assert!(
        store.list("").await.expect("list").is_empty(),
        "nothing may be left behind"
    );
    if let ObjectStore::Local(local) = store {
        // Not even a temporary file, which a listing would hide.
        let mut files = Vec::new();
        let mut dirs = vec![local.root().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).expect("read_dir") {
                let entry = entry.expect("dir entry");
                if entry.file_type().expect("file type").is_dir() {
                    dirs.push(entry.path());
                } else {
                    files.push(entry.path());
                }
            }
        }
        assert!(files.is_empty(), "left behind: {files:?}");
    }
}

async fn put_file_roundtrip(store: &ObjectStore) {
    let data = pattern(50_000);
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &data).expect("write temp file");
    store
        .put_file("tracks/f/original.wav", file.path(), "audio/wav")
        .await
        .expect("put_file");
    let meta = store
        .head("tracks/f/original.wav")
        .await
        .expect("head")
        .expect("object present");
    assert_eq!(meta.size, 50_000);
    assert_eq!(meta.content_type.as_deref(), Some("audio/wav"));
    assert_eq!(store.get_bytes("tracks/f/original.wav").await.expect("get_bytes"), data);

    let missing = std::path::Path::new("/nonexistent/mist/file.wav");
    assert!(
        store
            .put_file("tracks/f/other.wav", missing, "audio/wav")
            .await
            .is_err()
    );
    assert_eq!(store.head("tracks/f/other.wav").await.expect("head"), None);
}

async fn presign_put(store: &ObjectStore) {
    let data = pattern(4096);
    let presigned = store
        .presign_put("uploads/p1", data.len() as u64, "audio/flac", Duration::from_secs(300))
        .await
        .expect("presign_put");
    let Some(presigned) = presigned else {
        assert_eq!(store.kind(), "local", "only the local store serves uploads itself");
        return;
    };
    assert_eq!(presigned.method, "PUT");
    assert!(presigned.expires_at > chrono::Utc::now());

    let http = reqwest::Client::new();
    // A body of another length (reqwest then sends its real length) or another type than
    // the ones signed in: refused, and nothing stored.
    let not_length = |name: &str| !name.eq_ignore_ascii_case("content-length");
    let resp = http
        .put(&presigned.url)
        .headers(header_map(&presigned.headers, not_length))
        .body(pattern(5000))
        .send()
        .await
        .expect("PUT to the presigned URL");
    assert!(
        resp.status().is_client_error(),
        "wrong length accepted: {}",
        resp.status()
    );
    let resp = http
        .put(&presigned.url)
        .headers(header_map(&presigned.headers, |name| {
            name.eq_ignore_ascii_case("content-length")
        }))
        .header("content-type", "text/html")
        .body(data.clone())
        .send()
        .await
        .expect("PUT to the presigned URL");
    assert!(
        resp.status().is_client_error(),
        "wrong type accepted: {}",
        resp.status()
    );
    assert_eq!(store.head("uploads/p1").await.expect("head"), None);

    // What a client does with the API's answer: send every signed header as given.
    let resp = http
        .put(&presigned.url)
        .headers(header_map(&presigned.headers, |_| true))
        .body(data.clone())
        .send()
        .await
        .expect("PUT to the presigned URL");
    assert!(
        resp.status().is_success(),
        "{}: {}",
        resp.status(),
        resp.text().await.expect("response body")
    );
    let meta = store.head("uploads/p1").await.expect("head").expect("object present");
    assert_eq!(meta.size, 4096);
    assert_eq!(meta.content_type.as_deref(), Some("audio/flac"));
    assert_eq!(store.get_bytes("uploads/p1").await.expect("get_bytes"), data);
}

/// The presigned headers whose names pass `keep`, as reqwest wants them.
fn header_map(headers: &[(String, String)], keep: impl Fn(&str) -> bool) -> reqwest::header::HeaderMap {
    headers
        .iter()
        .filter(|(name, _)| keep(name))
        .map(|(name, value)| {
            (
                reqwest::header::HeaderName::try_from(name.as_str()).expect("header name"),
                reqwest::header::HeaderValue::try_from(value.as_str()).expect("header value"),
            )
        })
        .collect()
}

async fn presign_get(store: &ObjectStore) {
    let data = pattern(2048);
    store
        .put_bytes("tracks/g/seg_00000.mp3", data.clone(), "audio/mpeg")
        .await
        .expect("put_bytes");
    let url = store
        .presign_get("tracks/g/seg_00000.mp3", Duration::from_secs(300))
        .await
        .expect("presign_get");
    let Some(url) = url else {
        assert_eq!(store.kind(), "local");
        return;
    };
    let resp = reqwest::get(&url).await.expect("GET the presigned URL");
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(resp.bytes().await.expect("response body"), data);
}

async fn traversal_keys_are_refused(store: &ObjectStore) {
    let err = store.get("../etc/passwd", None).await.expect_err("get should fail");
    assert!(matches!(err, StorageError::InvalidKey(_)), "{err:?}");
    let bad = ["../x", "a/../b", "/abs", "a//b", "a\\b", "", "./a", "a/", "a\0b"];
    for key in bad {
        let refused = |r: Result<(), StorageError>| matches!(r, Err(StorageError::InvalidKey(_)));
        assert!(
            refused(store.put_bytes(key, Bytes::from_static(b"x"), "text/plain").await),
            "{key:?}"
        );
        assert!(refused(store.delete(key).await), "{key:?}");
        assert!(refused(store.head(key).await.map(drop)), "{key:?}");
        assert!(
            refused(store.presign_get(key, Duration::from_secs(60)).await.map(drop)),
            "{key:?}"
        );
    }
    assert!(store.list("").await.expect("list").is_empty());
}

async fn check_succeeds(store: &ObjectStore) {
    store.check().await.expect("check");
    assert!(
        store.list("").await.expect("list").is_empty(),
        "the probe leaves nothing behind"
    );
}

#[test]
fn validate_key_cases() {
    for good in ["a", "tracks/1/hls/master.m3u8", "a/.hidden", "a..b/c", "x y/é"] {
        assert!(validate_key(good).is_ok(), "{good:?} should be accepted");
    }
    let long = "a".repeat(1025);
    let bad = [
        "../x", "a/../b", "/abs", "a//b", "a\\b", "", ".", "..", "./a", "a/.", "a/", "a\0b", "a\nb", &long,
    ];
    for key in bad {
        assert!(
            matches!(validate_key(key), Err(StorageError::InvalidKey(_))),
            "{key:?} should be refused"
        );
    }
    assert!(validate_key(&"a".repeat(1024)).is_ok());
}

#[test]
fn storage_location_parsing() {
    let s3 = |bucket: &str, prefix: &str| StorageLocation::S3 {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
    };
    let good = [
        ("local", StorageLocation::Local),
        ("s3://music", s3("music", "")),
        ("s3://music/", s3("music", "")),
        ("s3://music/mist", s3("music", "mist")),
        (
            "s3://my-bucket.example/some/prefix/",
            s3("my-bucket.example", "some/prefix"),
        ),
    ];
    for (input, expected) in good {
        assert_eq!(
            input.parse::<StorageLocation>().expect("should parse"),
            expected,
            "{input:?}"
        );
    }
    let bad = [
        "",
        "s3",
        "s3://",
        "s3:///prefix",
        "S3://Upper",
        "s3://a",
        "s3://b b",
        "file:///tmp",
        "s3://music/../x",
        "s3://music//x",
    ];
    for input in bad {
        let err = input.parse::<StorageLocation>().expect_err("should be refused");
        assert!(matches!(err, StorageError::InvalidLocation(_)), "{input:?}: {err:?}");
    }
}
