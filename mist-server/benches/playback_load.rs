//! Load benchmark: heartbeats/s and key requests/s the server sustains on
//! this machine, with p50/p99 latency, over loopback. Prints figures; asserts
//! nothing about speed.
//!
//!     cargo bench -p mist-server --features testing --bench playback_load
//!
//! Runs a release build of the real server in-process on SQLite (and on
//! Postgres when MIST_TEST_DATABASE_URL is set), with 32 concurrent clients
//! for 5 s per scenario.

use std::time::{Duration, Instant};

use mist_core::api::HeartbeatRequest;
use mist_core::client::Client;
use mist_server::testing::catalogue::{FakeTrack, insert_ready_track};
use mist_server::testing::upload::user_client;
use mist_server::testing::{Backend, TestOptions, spawn_with};

const CLIENTS: usize = 32;
const RUN: Duration = Duration::from_secs(5);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut backends = vec![Backend::Sqlite];
        if std::env::var("MIST_TEST_DATABASE_URL").is_ok() {
            backends.push(Backend::Postgres);
        } else {
            println!("(MIST_TEST_DATABASE_URL unset: Postgres skipped; run under scripts/test-services.sh env)");
        }
        for backend in backends {
            run(backend).await;
        }
    });
}

async fn run(backend: Backend) {
    let app = spawn_with(TestOptions {
        worker: false,
        tweak: |s| {
            s.auth_rate_limit_per_minute = 10_000;
            s.free_daily_seconds = 10_000_000;
        },
        ..TestOptions::new(backend)
    })
    .await;
    let admin = mist_server::db::users::find_by_email(&app.state.db, mist_server::testing::ADMIN_EMAIL)
        .await
        .expect("db")
        .expect("admin");
    let track = FakeTrack {
        title: "Bench".into(),
        duration_s: 36_000.0,
        ..Default::default()
    };
    let track_id = insert_ready_track(&app.state, &admin.id, &track).await;
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let client = user_client(&app, &format!("bench{i}")).await;
        let session = client.open_session(&track_id).await.expect("session").session_id;
        clients.push((client, session));
    }

    let heartbeats = measure(&clients, |client: Client, session: String, n: u64| async move {
        let report = HeartbeatRequest {
            seq: n,
            position_s: n as f64 * 0.001,
            playing: true,
        };
        client.heartbeat(&session, &report).await.map(|_| ())
    })
    .await;
    print("heartbeats", backend, &heartbeats);

    let track = track_id.clone();
    let keys = measure(&clients, move |client: Client, _session: String, n: u64| {
        let track = track.clone();
        async move { client.key(&track, n % 2).await.map(|_| ()) }
    })
    .await;
    print("key requests", backend, &keys);
}

async fn measure<F, Fut>(clients: &[(Client, String)], op: F) -> (usize, Vec<Duration>, usize)
where
    F: Fn(Client, String, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), mist_core::client::ClientError>> + Send,
{
    let deadline = Instant::now() + RUN;
    let tasks = clients.iter().cloned().map(|(client, session)| {
        let op = op.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut n = 1;
            while Instant::now() < deadline {
                let start = Instant::now();
                if op(client.clone(), session.clone(), n).await.is_err() {
                    errors += 1;
                }
                latencies.push(start.elapsed());
                n += 1;
            }
            (latencies, errors)
        })
    });
    let mut all = Vec::new();
    let mut errors = 0;
    for task in futures::future::join_all(tasks).await {
        let (latencies, e) = task.expect("task");
        all.extend(latencies);
        errors += e;
    }
    all.sort();
    (all.len(), all, errors)
}

fn print(what: &str, backend: Backend, (count, latencies, errors): &(usize, Vec<Duration>, usize)) {
    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)));
    println!(
        "{backend:?}: {what}: {:.0}/s with {CLIENTS} clients, p50 {:?}, p99 {:?}, errors {errors}",
        *count as f64 / RUN.as_secs_f64(),
        pct(0.50).copied().unwrap_or_default(),
        pct(0.99).copied().unwrap_or_default(),
    );
}
