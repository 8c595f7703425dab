//! Moving an embedded installation to PostgreSQL + S3 with
//! `mist-server migrate-to`: users, tracks, keys, objects, history and the
//! day's quota arrive unchanged, and the tracks play from the new home.

use std::time::Duration;

use mist_core::api::{CompleteUploadRequest, HeartbeatRequest, LoginRequest};
use mist_core::client::Client;
use mist_server::config::RawSettings;
use mist_server::testing::audio::generate_wav;
use mist_server::testing::upload::{admin_client, upload_file, user_client, wait_for_job};
use mist_server::testing::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, fresh_postgres_database, spawn_app, spawn_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_data_moves_to_postgres_and_s3_unchanged() {
    let mut old = spawn_app(Backend::Sqlite).await;
    let ann = user_client(&old, "ann").await;
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("song.wav");
    generate_wav(&wav, 15.0);
    let job = upload_file(
        &ann,
        &wav,
        CompleteUploadRequest {
            title: Some("Moving Song".into()),
            ..Default::default()
        },
    )
    .await;
    let track_id = wait_for_job(&ann, &job, Duration::from_secs(120)).await.track_id;
    let session = ann.open_session(&track_id).await.expect("session");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    ann.heartbeat(
        &session.session_id,
        &HeartbeatRequest {
            seq: 1,
            position_s: 2.5,
            playing: true,
        },
    )
    .await
    .expect("hb");
    ann.key(&track_id, 0).await.expect("key");
    let quota_before = ann.quota().await.expect("quota");
    assert!(quota_before.used_s > 5.0, "{quota_before:?}");
    let admin_old = admin_client(&old).await;
    let key_before = admin_old.key(&track_id, 0).await.expect("key");
    let objects_before = old.state.store.list("").await.expect("list");

    // Stop the embedded server, then move its data dir.
    let data_dir = old.settings.data_dir.clone();
    let database_url = fresh_postgres_database().await;
    let bucket = std::env::var("MIST_TEST_S3_BUCKET").expect("MIST_TEST_S3_BUCKET");
    let storage = format!("s3://{bucket}/moved-{}", uuid::Uuid::new_v4().simple());
    let endpoint = std::env::var("MIST_TEST_S3_ENDPOINT").expect("MIST_TEST_S3_ENDPOINT");
    // Keep the data dir when the old server goes.
    let kept = std::mem::replace(&mut old.data_dir, tempfile::tempdir().expect("tmp"));
    drop(old);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mist-server"))
        .args(["migrate-to", "--data-dir"])
        .arg(&data_dir)
        .args(["--database-url", &database_url, "--storage", &storage])
        .env("MIST_JWT_SECRET", "test-jwt-secret-that-is-long-enough-0123")
        .env(
            "MIST_MASTER_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        )
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run migrate-to");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "migrate-to failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("rows of users") && stdout.contains("objects"),
        "{stdout}"
    );
    drop(kept);

    // A scaled server on the moved data.
    let raw = RawSettings {
        data_dir: tempfile::tempdir().expect("tmp").keep(),
        listen: "127.0.0.1:0".into(),
        admin_email: ADMIN_EMAIL.into(),
        admin_password: Some(ADMIN_PASSWORD.into()),
        jwt_secret: Some("test-jwt-secret-that-is-long-enough-0123".into()),
        master_key: Some("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".into()),
        database_url: Some(database_url),
        storage,
        s3_endpoint: Some(endpoint),
        s3_force_path_style: Some(true),
        ..RawSettings::default()
    };
    let new = spawn_settings(raw.finish().expect("settings")).await;
    assert_eq!(new.state.db.kind(), "postgres");
    assert_eq!(
        new.state.store.list("").await.expect("list"),
        objects_before,
        "every object moved"
    );

    // The same user, password, track, key, history and quota.
    let login = LoginRequest {
        email: "ann@example.com".into(),
        password: "ann-password".into(),
    };
    let auth = Client::new(&new.base_url)
        .expect("client")
        .login(&login)
        .await
        .expect("same password");
    let ann_new = Client::new(&new.base_url).expect("client").with_token(auth.token);
    let track = ann_new.track(&track_id).await.expect("same track id");
    assert_eq!(track.title, "Moving Song");
    let quota_after = ann_new.quota().await.expect("quota");
    assert!(
        (quota_after.used_s - quota_before.used_s).abs() < 1e-6,
        "{quota_before:?} → {quota_after:?}"
    );
    let history = ann_new.history(None).await.expect("history");
    assert_eq!(history.items.len(), 1);
    assert_eq!(history.items[0].session_id, session.session_id);
    let admin_new = admin_client(&new).await;
    assert_eq!(
        admin_new.key(&track_id, 0).await.expect("key"),
        key_before,
        "same content key"
    );

    // And it plays from S3 in an outside player.
    let headers = format!("Authorization: Bearer {}\r\n", admin_new.token().expect("token"));
    let played = mist_server::testing::audio::decode_mono(track.master_url.as_deref().expect("url"), Some(&headers));
    assert!((played.len() as f64 / 44_100.0 - 15.0).abs() < 0.2);
}
