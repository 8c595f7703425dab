//! Scale-out: two `mist-server serve --no-worker` API nodes and two
//! `mist-server worker` processes (real processes, started together so their
//! migrations race) on one PostgreSQL and one S3-compatible store.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mist_core::api::{CompleteUploadRequest, HeartbeatRequest, JobStatus, LoginRequest, RegisterRequest};
use mist_core::client::Client;
use mist_server::testing::audio::generate_wav;
use mist_server::testing::fresh_postgres_database;
use mist_server::testing::upload::{upload_file, wait_for_job};

const JWT: &str = "scale-test-jwt-secret-that-is-long-enough";
const MASTER: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

/// A child process killed when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Cluster {
    database_url: String,
    storage: String,
}

impl Cluster {
    fn command(&self, args: &[&str], name: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mist-server"));
        cmd.args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("MIST_STORAGE", &self.storage)
            .env(
                "AWS_ENDPOINT_URL",
                std::env::var("MIST_TEST_S3_ENDPOINT").expect("MIST_TEST_S3_ENDPOINT (run ./scripts/test.sh)"),
            )
            .env("MIST_JWT_SECRET", JWT)
            .env("MIST_MASTER_KEY", MASTER)
            .env("MIST_ADMIN_PASSWORD", "scale-admin-password")
            .env("MIST_JOB_LEASE_SECS", "2")
            .env("MIST_WORKER_POLL_MS", "50")
            .env("MIST_DATA_DIR", std::env::temp_dir().join(format!("mist-scale-{name}")))
            .env("HOSTNAME", name)
            .env("RUST_LOG", "warn");
        cmd
    }

    /// Starts an API node and returns it with its base URL.
    fn api(&self, name: &str) -> (Node, String) {
        let mut child = self
            .command(&["serve", "--no-worker", "--listen", "127.0.0.1:0"], name)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn API node");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("the node printed its address")
                .expect("read stdout");
            if let Some(url) = line.strip_prefix("mist-server listening on ") {
                break url.trim().to_owned();
            }
        };
        (Node(child), url)
    }

    fn worker(&self, name: &str, public_url: &str) -> Node {
        let child = self
            .command(&["worker"], name)
            .env("MIST_PUBLIC_URL", public_url)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn worker");
        Node(child)
    }
}

async fn login(url: &str, email: &str, password: &str) -> Client {
    let auth = Client::new(url)
        .expect("client")
        .login(&LoginRequest {
            email: email.into(),
            password: password.into(),
        })
        .await
        .expect("login");
    Client::new(url).expect("client").with_token(auth.token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_s3_two_api_nodes_and_two_workers() {
    let bucket = std::env::var("MIST_TEST_S3_BUCKET").expect("MIST_TEST_S3_BUCKET (run ./scripts/test.sh)");
    let cluster = Cluster {
        database_url: fresh_postgres_database().await,
        storage: format!("s3://{bucket}/scale-{}", uuid::Uuid::new_v4().simple()),
    };
    // Both API nodes start at once: their migrations race on one database.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| cluster.api("api-a"));
        let b = s.spawn(|| cluster.api("api-b"));
        (a.join().expect("api-a"), b.join().expect("api-b"))
    });
    let ((_node_a, url_a), (_node_b, url_b)) = (a, b);
    let mut workers = [
        Some(cluster.worker("worker-a", &url_a)),
        Some(cluster.worker("worker-b", &url_a)),
    ];

    let reg = RegisterRequest {
        email: "sam@example.com".into(),
        username: "sam".into(),
        password: "sam-password".into(),
    };
    Client::new(&url_a)
        .expect("client")
        .register(&reg)
        .await
        .expect("register on A");
    let on_a = login(&url_a, "sam@example.com", "sam-password").await;
    let on_b = login(&url_b, "sam@example.com", "sam-password").await;

    // Uploads through either node are processed exactly once.
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("short.wav");
    generate_wav(&wav, 12.0);
    // Other bytes: the same file twice from one user is a duplicate.
    let other_wav = dir.path().join("other.wav");
    generate_wav(&other_wav, 12.5);
    let job_a = upload_file(
        &on_a,
        &wav,
        CompleteUploadRequest {
            title: Some("Via A".into()),
            ..Default::default()
        },
    )
    .await;
    let job_b = upload_file(
        &on_b,
        &other_wav,
        CompleteUploadRequest {
            title: Some("Via B".into()),
            ..Default::default()
        },
    )
    .await;
    let done_a = wait_for_job(&on_b, &job_a, Duration::from_secs(180)).await;
    let done_b = wait_for_job(&on_a, &job_b, Duration::from_secs(180)).await;
    assert_eq!((done_a.status, done_b.status), (JobStatus::Ready, JobStatus::Ready));
    let db = mist_server::db::Db::connect(&settings_for(&cluster.database_url))
        .await
        .expect("db");
    for job in [&job_a, &job_b] {
        let row = mist_server::db::jobs::find(&db, job).await.expect("db").expect("job");
        assert_eq!(row.attempts, 1, "processed exactly once");
        assert!(
            row.worker_id.as_deref().is_some_and(|w| w.starts_with("worker-")),
            "{:?}",
            row.worker_id
        );
    }
    assert_eq!(mist_server::db::tracks::count(&db).await.expect("count"), 2);

    // A session opened on A reports through B, and B's quota agrees.
    let session = on_a.open_session(&done_a.track_id).await.expect("session on A");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let beat = HeartbeatRequest {
        seq: 1,
        position_s: 3.0,
        playing: true,
    };
    let answer = on_b
        .heartbeat(&session.session_id, &beat)
        .await
        .expect("heartbeat via B");
    assert!((answer.counted_s - 3.0).abs() < 0.01, "{answer:?}");
    // Keys for that session come from either node, and what one charges the
    // other shows.
    assert_eq!(on_b.key(&done_a.track_id, 0).await.expect("key via B").len(), 16);
    let period_s = mist_server::quota::new_key_period_ms() as f64 / 1000.0;
    assert!((on_a.quota().await.expect("quota on A").used_s - period_s).abs() < 0.01);

    // A worker killed mid-job leaves the job to the other.
    let long = dir.path().join("long.wav");
    generate_wav(&long, 200.0);
    let job = upload_file(&on_a, &long, CompleteUploadRequest::default()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let holder = loop {
        let row = mist_server::db::jobs::find(&db, &job).await.expect("db").expect("job");
        if let Some(w) = row.worker_id.filter(|_| row.status == "processing") {
            break w;
        }
        assert!(Instant::now() < deadline, "no worker claimed the job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let victim = if holder.starts_with("worker-a") { 0 } else { 1 };
    drop(workers[victim].take());
    let finished = wait_for_job(&on_a, &job, Duration::from_secs(240)).await;
    assert_eq!(finished.status, JobStatus::Ready, "{finished:?}");
    let row = mist_server::db::jobs::find(&db, &job).await.expect("db").expect("job");
    assert!(row.attempts >= 2, "taken over after the kill");
    assert!(
        !row.worker_id.as_deref().unwrap_or_default().starts_with(&holder[..8]),
        "{:?} finished it",
        row.worker_id
    );
    assert_eq!(mist_server::db::tracks::count(&db).await.expect("count"), 3);
}

/// Settings that only name a database, for reading it from the test.
fn settings_for(database_url: &str) -> mist_server::config::Settings {
    let dir = std::env::temp_dir().join("mist-scale-reader");
    mist_server::config::RawSettings {
        data_dir: dir,
        database_url: Some(database_url.to_owned()),
        jwt_secret: Some(JWT.into()),
        master_key: Some(MASTER.into()),
        ..Default::default()
    }
    .finish()
    .expect("settings")
}

/// A node refuses a database a newer mist-server has migrated, on both engines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_database_is_refused_with_a_clear_message() {
    for backend in [
        mist_server::testing::Backend::Sqlite,
        mist_server::testing::Backend::Postgres,
    ] {
        let app = mist_server::testing::spawn_app(backend).await;
        let db = app.state.db.clone();
        let sql = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                   VALUES (29991231000000, 'from the future', TRUE, $1, 0)";
        mist_server::with_pool!(&db, pool => sqlx::query(sql).bind(vec![0u8; 48]).execute(pool).await.map(|_| ()))
            .expect("insert a future migration");
        let err = db.migrate().await.expect_err("refused").to_string();
        assert!(
            err.contains("29991231000000") && err.contains("newer mist-server"),
            "{backend:?}: {err}"
        );
    }
}

/// Sessions of this test's database left idle inside a transaction, seen
/// from `outside` (a connection of its own, not the pool's).
async fn idle_in_transaction(outside: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(outside)
    .await
    .expect("sessions")
}

/// Opens every connection `pool` may hold and waits until all are idle in
/// it, so what runs next lands on live sessions rather than inside a connect.
async fn fill(pool: &sqlx::PgPool) {
    let size = pool.options().get_max_connections();
    let mut held = Vec::new();
    for _ in 0..size {
        held.push(pool.acquire().await.expect("a pooled connection"));
    }
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool.num_idle() < size as usize {
        assert!(Instant::now() < deadline, "the pool's connections came back");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A `pool.begin()` cancelled while its `BEGIN` is in flight (a client that
/// disconnects during a write cancels its handler; a stopped job worker drops
/// its poll) leaves no pooled PostgreSQL session inside a transaction, and a
/// write made afterwards on any pooled connection is committed. sqlx 0.9.0
/// left such a session in an open transaction it no longer tracked: the next
/// borrower's writes were never committed and, after one error, every
/// statement on that connection failed with 25P02 (vendor/sqlx-postgres).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_begin_leaves_no_pooled_session_in_a_transaction() {
    use sqlx::Connection;

    let url = fresh_postgres_database().await;
    let db = mist_server::db::Db::connect(&settings_for(&url))
        .await
        .expect("the server's pool");
    let mist_server::db::Db::Postgres(pool) = db else {
        panic!("a database URL opens a PostgreSQL pool");
    };
    let mut outside = sqlx::PgConnection::connect(&url).await.expect("a separate connection");
    sqlx::query("CREATE TABLE cancel_probe (n INT NOT NULL)")
        .execute(&mut outside)
        .await
        .expect("probe table");
    let size = pool.options().get_max_connections();

    // As the server cancels them: a plain BEGIN dropped after a varying few
    // polls. On loopback it answers in tens of microseconds, so some drops
    // land inside its round trip and the rest around it (in the pool's
    // acquire, or after it answered).
    fill(&pool).await;
    let cancellers: Vec<_> = (0..size)
        .map(|task| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for round in 0..50 {
                    let mut begin = std::pin::pin!(pool.begin());
                    for _ in 0..=(round + task) % 8 {
                        if futures::poll!(begin.as_mut()).is_ready() {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for canceller in cancellers {
        canceller.await.expect("canceller task");
    }

    // On every pooled session at once, a BEGIN that surely reached the server
    // when it is cancelled: the sleep widens the round trip.
    fill(&pool).await;
    let cancellers: Vec<_> = (0..size)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let slow = pool.begin_with("BEGIN; SELECT pg_sleep(0.3)");
                let cancelled = tokio::time::timeout(Duration::from_millis(100), slow).await;
                assert!(cancelled.is_err(), "the slow begin was cancelled");
            })
        })
        .collect();
    for canceller in cancellers {
        canceller.await.expect("canceller task");
    }

    // Every pooled connection at once, each looked at while idle and written through.
    let mut held = Vec::new();
    let mut pids = Vec::new();
    for _ in 0..size {
        let mut conn = pool.acquire().await.expect("a pooled connection");
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await
            .expect("backend pid");
        pids.push(pid);
        held.push(conn);
    }
    let in_transaction: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1) AND state <> 'idle'")
            .bind(&pids)
            .fetch_one(&mut outside)
            .await
            .expect("pooled sessions' states");
    for (n, conn) in held.iter_mut().enumerate() {
        sqlx::query("INSERT INTO cancel_probe (n) VALUES ($1)")
            .bind(i32::try_from(n).expect("small"))
            .execute(&mut **conn)
            .await
            .expect("a write through the pool");
    }
    drop(held);

    let committed: i64 = sqlx::query_scalar("SELECT count(*) FROM cancel_probe")
        .fetch_one(&mut outside)
        .await
        .expect("count from outside");
    let idle_in_transaction = idle_in_transaction(&mut outside).await;
    assert_eq!(
        (in_transaction, committed, idle_in_transaction),
        (0, i64::from(size), 0),
        "of {size} pooled sessions, {in_transaction} were inside a transaction, \
         {committed} writes were visible from outside, {idle_in_transaction} sessions were idle in transaction"
    );
    pool.close().await;
}

/// Clients that send a write (announcing an upload: a transaction) to a
/// PostgreSQL server and reset the connection a varying moment later, so
/// their handlers are cancelled at every step: afterwards no session of the
/// database is left in a transaction, and every write the server answers is
/// committed. End to end, this lands inside a `BEGIN` only now and then (the
/// pool test above is the one that does every time); it guards the whole
/// path, the server's own cancellation included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_drop_their_writes_leave_no_session_in_a_transaction() {
    use sqlx::Connection;
    use tokio::io::AsyncWriteExt;

    let mut options = mist_server::testing::TestOptions::new(mist_server::testing::Backend::Postgres);
    options.worker = false;
    // Every request reaches the database, none is turned away by the rate limit.
    options.tweak = |raw| raw.upload_rate_limit_per_minute = 100_000;
    let app = mist_server::testing::spawn_with(options).await;
    let url = app
        .settings
        .database_url_exposed()
        .expect("a PostgreSQL server")
        .to_owned();
    let mut outside = sqlx::PgConnection::connect(&url).await.expect("a separate connection");
    let admin = mist_server::testing::upload::admin_client(&app).await;
    let token = admin.token().expect("admin token");
    let body = r#"{"filename":"dropped.flac","size":1000,"content_type":"audio/flac"}"#;
    let request = format!(
        "POST /api/v1/uploads HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        app.addr,
        body.len()
    );

    for batch in 0..25u64 {
        let droppers: Vec<_> = (0..8u64)
            .map(|n| {
                let (addr, request) = (app.addr, request.clone());
                tokio::spawn(async move {
                    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                    stream.set_zero_linger().expect("linger");
                    stream.write_all(request.as_bytes()).await.expect("send the request");
                    // Gone a varying moment (0-10 ms, across the handler) after the
                    // request: a reset, not a goodbye.
                    let gone = Instant::now() + Duration::from_micros((batch * 8 + n) * 50);
                    while Instant::now() < gone {
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for dropper in droppers {
            dropper.await.expect("dropping client");
        }
    }

    // Every write the server answers afterwards is committed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let count = "SELECT count(*) FROM uploads";
    let before: i64 = sqlx::query_scalar(count).fetch_one(&mut outside).await.expect("count");
    let announce = mist_core::api::CreateUploadRequest {
        filename: "kept.flac".into(),
        size: 1000,
        content_type: "audio/flac".into(),
        sha256: None,
    };
    for _ in 0..16 {
        admin
            .create_upload(&announce)
            .await
            .expect("an upload announced after the drops");
    }
    let after: i64 = sqlx::query_scalar(count).fetch_one(&mut outside).await.expect("count");
    let idle_in_transaction = idle_in_transaction(&mut outside).await;
    assert_eq!(
        (after - before, idle_in_transaction),
        (16, 0),
        "{} of 16 answered writes were visible from outside; {idle_in_transaction} sessions were idle in transaction",
        after - before
    );
}
