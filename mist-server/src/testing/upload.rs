//! Uploading through the public API, as a client would.

use std::path::Path;
use std::time::{Duration, Instant};

use mist_core::api::{CompleteUploadRequest, CreateUploadRequest, Job, JobStatus, RegisterRequest};
use mist_core::client::Client;

use super::TestApp;

/// Registers `name` (password `{name}-password`) and returns a logged-in client.
pub async fn user_client(app: &TestApp, name: &str) -> Client {
    let req = RegisterRequest {
        email: format!("{name}@example.com"),
        username: name.to_owned(),
        password: format!("{name}-password"),
    };
    let auth = app.client().register(&req).await.expect("register");
    app.client().with_token(auth.token)
}

/// A logged-in admin client.
pub async fn admin_client(app: &TestApp) -> Client {
    let req = mist_core::api::LoginRequest {
        email: super::ADMIN_EMAIL.into(),
        password: super::ADMIN_PASSWORD.into(),
    };
    let auth = app.client().login(&req).await.expect("admin login");
    app.client().with_token(auth.token)
}

/// Announces, sends and completes an upload; returns the job id.
pub async fn upload_file(client: &Client, path: &Path, meta: CompleteUploadRequest) -> String {
    let bytes = std::fs::read(path).expect("read test file");
    let filename = path.file_name().and_then(|n| n.to_str()).expect("file name");
    let ticket = client
        .create_upload(&CreateUploadRequest {
            filename: filename.to_owned(),
            size: bytes.len() as u64,
            content_type: "application/octet-stream".into(),
            sha256: None,
        })
        .await
        .expect("create upload");
    client.put_upload(&ticket, bytes).await.expect("send bytes");
    client
        .complete_upload(&ticket.upload_id, &meta)
        .await
        .expect("complete upload")
        .job_id
}

/// Polls a job until it is ready or failed.
pub async fn wait_for_job(client: &Client, job_id: &str, timeout: Duration) -> Job {
    let start = Instant::now();
    loop {
        let job = client.job(job_id).await.expect("job status");
        if job.status == JobStatus::Ready || job.status == JobStatus::Failed {
            return job;
        }
        assert!(
            start.elapsed() < timeout,
            "job {job_id} still {:?} after {timeout:?}",
            job.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
