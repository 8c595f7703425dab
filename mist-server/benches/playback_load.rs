//! Load benchmark: key requests/s (a key's first fetch, which charges the
//! quota in a transaction, and its re-fetch, which is free) and heartbeats/s
//! the server sustains on this machine, with p50/p99 latency, over loopback,
//! beside `GET /healthz` (the same server and HTTP stack, no database) as the
//! reference. Prints figures; asserts nothing about speed.
//!
//!     bench/playback.sh
//!     cargo bench -p mist-server --features testing --bench playback_load
//!
//! Runs a release build of the real server in-process on SQLite (and on
//! Postgres when MIST_TEST_DATABASE_URL is set), with 32 concurrent free
//! users, each holding a session on each of 40 short tracks (so each has 80
//! distinct keys within reach of its playheads).

use std::time::{Duration, Instant};

use mist_core::api::HeartbeatRequest;
use mist_core::client::{Client, ClientError};
use mist_server::testing::catalogue::{FakeTrack, insert_ready_track};
use mist_server::testing::upload::user_client;
use mist_server::testing::{Backend, TestOptions, spawn_with};

const CLIENTS: usize = 32;
const TRACKS: usize = 40;
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

/// One user: its client, and its sessions with their tracks.
#[derive(Clone)]
struct Listener {
    client: Client,
    sessions: Vec<(String, String)>,
}

async fn run(backend: Backend) {
    let app = spawn_with(TestOptions {
        worker: false,
        tweak: |s| {
            s.auth_rate_limit_per_minute = 10_000;
            s.free_daily_seconds = 10_000_000;
            s.max_open_sessions = 1_000;
            s.session_opens_per_minute = 1_000_000;
            s.heartbeats_per_minute = 1_000_000;
            s.key_requests_per_minute = 1_000_000;
        },
        ..TestOptions::new(backend)
    })
    .await;
    let admin = mist_server::db::users::find_by_email(&app.state.db, mist_server::testing::ADMIN_EMAIL)
        .await
        .expect("db")
        .expect("admin");
    let mut tracks = Vec::new();
    for i in 0..TRACKS {
        let track = FakeTrack {
            title: format!("Bench {i}"),
            duration_s: 12.0,
            ..Default::default()
        };
        tracks.push(insert_ready_track(&app.state, &admin.id, &track).await);
    }
    let mut listeners = Vec::new();
    for i in 0..CLIENTS {
        let client = user_client(&app, &format!("bench{i}")).await;
        let mut sessions = Vec::new();
        for track in &tracks {
            let session = client.open_session(track).await.expect("session").session_id;
            sessions.push((track.clone(), session));
        }
        listeners.push(Listener { client, sessions });
    }

    // Every key of every track once per user: each request charges the
    // quota (an unlock row and the usage upsert, in one transaction).
    let first = measure_each(&listeners, |l: Listener| async move {
        let mut latencies = Vec::new();
        for (track, _) in &l.sessions {
            for k in 0..2 {
                let start = Instant::now();
                l.client.key(track, k).await?;
                latencies.push(start.elapsed());
            }
        }
        Ok(latencies)
    })
    .await;
    print("key requests, first fetch (charged)", backend, &first);

    let refetch = measure_for(&listeners, |l: Listener, n: u64| async move {
        let (track, _) = &l.sessions[n as usize % l.sessions.len()];
        l.client.key(track, n % 2).await.map(|_| ())
    })
    .await;
    print("key requests, re-fetch (free)", backend, &refetch);

    let heartbeats = measure_for(&listeners, |l: Listener, n: u64| async move {
        let report = HeartbeatRequest {
            seq: n,
            position_s: n as f64 * 0.001,
            playing: true,
        };
        l.client.heartbeat(&l.sessions[0].1, &report).await.map(|_| ())
    })
    .await;
    print("heartbeats", backend, &heartbeats);

    let health = measure_for(&listeners, |l: Listener, _n: u64| async move {
        l.client.health().await.map(|_| ())
    })
    .await;
    print("GET /healthz (reference: no database)", backend, &health);
}

/// What a scenario did: requests, their latencies (sorted), errors, wall time.
struct Figures {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

/// Each listener runs `op` once (a fixed list of requests); all at once.
async fn measure_each<F, Fut>(listeners: &[Listener], op: F) -> Figures
where
    F: Fn(Listener) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Vec<Duration>, ClientError>> + Send + 'static,
{
    let started = Instant::now();
    let tasks = listeners.iter().cloned().map(|l| tokio::spawn(op.clone()(l)));
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in futures::future::join_all(tasks).await {
        match task.expect("task") {
            Ok(l) => latencies.extend(l),
            Err(_) => errors += 1,
        }
    }
    latencies.sort();
    Figures {
        latencies,
        errors,
        elapsed: started.elapsed(),
    }
}

/// Each listener repeats `op` for [`RUN`]; all at once.
async fn measure_for<F, Fut>(listeners: &[Listener], op: F) -> Figures
where
    F: Fn(Listener, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), ClientError>> + Send,
{
    let started = Instant::now();
    let deadline = started + RUN;
    let tasks = listeners.iter().cloned().map(|listener| {
        let op = op.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut n = 1;
            while Instant::now() < deadline {
                let start = Instant::now();
                if op(listener.clone(), n).await.is_err() {
                    errors += 1;
                }
                latencies.push(start.elapsed());
                n += 1;
            }
            (latencies, errors)
        })
    });
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in futures::future::join_all(tasks).await {
        let (l, e) = task.expect("task");
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    Figures {
        latencies,
        errors,
        elapsed: started.elapsed(),
    }
}

fn print(what: &str, backend: Backend, figures: &Figures) {
    let latencies = &figures.latencies;
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{backend:?}: {what}: {:.0}/s ({} in {:.1} s) with {CLIENTS} clients, p50 {:.2?}, p99 {:.2?}, errors {}",
        latencies.len() as f64 / figures.elapsed.as_secs_f64(),
        latencies.len(),
        figures.elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        figures.errors,
    );
}
