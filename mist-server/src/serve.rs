//! Accepting connections and serving HTTP/1.1 and HTTP/2 on them, with the
//! limits that keep slow or idle clients from holding the server: what
//! `axum::serve` does, plus timeouts it does not have.
//!
//! - A connection must deliver a complete request head within
//!   `header_read_timeout` (hyper's own timer on HTTP/1; on HTTP/2, and while
//!   the protocol is still being sniffed, the watchdog below requires the
//!   first request in that time). A slowloris client that trickles or stalls
//!   its headers is closed when the time is up.
//! - A connection where nothing moves for `idle_timeout` while no handler
//!   runs is closed: keep-alive on HTTP/1, an HTTP/2 connection whose peer
//!   only answers pings, and a response whose client stopped reading it
//!   (slow reading is the other half of slowloris). HTTP/2 pings every 20 s
//!   find dead peers.
//! - A request body that makes no progress for `body_timeout` ends in an
//!   error for the handler reading it ([`ProgressBody`]); the whole request is
//!   still bounded by the router's `request_timeout`.
//! - At most `max_connections` are open at once: when full, the server stops
//!   accepting (new connections wait in the kernel's backlog, costing no file
//!   descriptor here) and says so in the log once per episode. The limit is
//!   kept below the process's file-descriptor limit, which is raised to its
//!   hard maximum at start, so the database and storage always have
//!   descriptors left.
//!
//! On shutdown it stops accepting, asks every connection to finish its
//! in-flight requests and close, and waits for them (at most `grace`).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::Service;

/// File descriptors kept free for the database pool, storage, temporary
/// files and the listener itself.
const RESERVED_FDS: u64 = 256;

/// How often HTTP/2 pings an otherwise quiet peer, and how long it waits for
/// the answer before dropping the connection.
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// After a connection is asked to close (idle or timed out), how long it may
/// take to do so before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The limits every connection is served under.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    /// On shutdown, how long in-flight requests may take to finish.
    pub grace: Duration,
}

impl ConnectionLimits {
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(settings.idle_timeout_secs),
            body_timeout: Duration::from_secs(settings.body_timeout_secs),
            max_connections: settings.max_connections,
            grace: Duration::from_secs(settings.request_timeout_secs + 5),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let max = effective_max_connections(limits.max_connections);
    let permits = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    let mut full = false;
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                full = false;
                permit
            }
            Err(_) => {
                if !full {
                    full = true;
                    tracing::warn!(
                        max_connections = max,
                        "connection limit reached: new connections wait until one closes \
                         (raise MIST_MAX_CONNECTIONS, or look for clients holding connections open)"
                    );
                }
                tokio::select! {
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            remote,
            router.clone(),
            limits,
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit until it ends: all back means all done.
    let drained = tokio::time::timeout(limits.grace + CLOSE_GRACE, permits.acquire_many(max as u32)).await;
    if drained.is_err() {
        tracing::warn!("shutdown: some connections did not finish in time");
    }
    Ok(())
}

/// Per-connection errors (the peer went away during the handshake) are
/// routine; anything else (out of file descriptors, most likely) is logged
/// and paced, so a full descriptor table does not spin the accept loop.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// What the watchdog knows about one connection's requests.
struct Activity {
    started: Instant,
    /// Requests whose handler has not answered yet (bounded by the router's
    /// request timeout, so not the watchdog's to judge).
    in_flight: AtomicUsize,
    /// Requests received so far.
    requests: AtomicU64,
    /// Milliseconds after `started` of the last sign of life: a request
    /// beginning or answered, or a piece of a request or response body.
    last_change_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            last_change_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_change_ms.store(ms, Ordering::Relaxed);
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self.clone())
    }

    /// `None` when the connection should close now, else when to look again:
    /// no first request within the header timeout, or, with no handler
    /// running, nothing moving for the idle timeout (an idle keep-alive
    /// connection, or a response whose reader stopped reading).
    fn next_check(&self, limits: &ConnectionLimits) -> Option<Instant> {
        let now = Instant::now();
        if self.requests.load(Ordering::Relaxed) == 0 {
            let deadline = self.started + limits.header_read_timeout;
            return (now < deadline).then_some(deadline);
        }
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Some(now + limits.idle_timeout);
        }
        let last = self.started + Duration::from_millis(self.last_change_ms.load(Ordering::Relaxed));
        let deadline = last + limits.idle_timeout;
        (now < deadline).then_some(deadline)
    }
}

/// A request being handled; ends when dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_flight = activity.begin();
            let watched = activity.clone();
            let mut request =
                request.map(|body| Body::new(ProgressBody::new(body, limits.body_timeout, watched.clone())));
            request.extensions_mut().insert(ConnectInfo(remote));
            let mut router = router.clone();
            async move {
                let response = router.call(request).await;
                drop(in_flight);
                response.map(|r| {
                    r.map(|body| {
                        Body::new(WatchedBody {
                            inner: body,
                            activity: watched,
                        })
                    })
                })
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .max_headers(100);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT)
        .max_concurrent_streams(128)
        .max_header_list_size(64 * 1024);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut connection = pin!(connection);
    let mut closing_since: Option<Instant> = None;
    let mut shutting_down = false;
    let mut check_at = Instant::now() + limits.header_read_timeout;
    loop {
        if !shutting_down && closing_since.is_none() && *stop.borrow() {
            // Shutdown: finish what is in flight, then close; no hurry here,
            // `serve` bounds the wait.
            shutting_down = true;
            connection.as_mut().graceful_shutdown();
        }
        let wake = match closing_since {
            Some(since) => since + CLOSE_GRACE,
            None => check_at,
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%remote, error = %e, "connection ended with an error");
                }
                return;
            }
            // Wakes the loop, which starts the shutdown above.
            changed = stop.changed(), if !shutting_down => {
                if changed.is_err() {
                    shutting_down = true;
                }
            }
            () = tokio::time::sleep_until(wake) => {
                if closing_since.is_some() {
                    tracing::debug!(%remote, "connection did not close in time; dropped");
                    return;
                }
                match activity.next_check(&limits) {
                    Some(next) => check_at = next,
                    None => {
                        tracing::debug!(%remote, "closing an idle or silent connection");
                        if !shutting_down {
                            connection.as_mut().graceful_shutdown();
                        }
                        closing_since = Some(Instant::now());
                    }
                }
            }
        }
    }
}

/// The connection limit, kept under the file-descriptor limit (after
/// raising that to its hard maximum, as Go's runtime does).
fn effective_max_connections(wanted: usize) -> usize {
    match fd_limit() {
        Some(fds) => {
            let room = fds.saturating_sub(RESERVED_FDS).max(1) as usize;
            if room < wanted {
                tracing::warn!(
                    max_connections = wanted,
                    fd_limit = fds,
                    using = room,
                    "MIST_MAX_CONNECTIONS is above what the file-descriptor limit allows (ulimit -n); using less"
                );
            }
            wanted.min(room)
        }
        None => wanted,
    }
}

#[cfg(unix)]
fn fd_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
        && current < maximum
    {
        let raised = rustix::process::Rlimit {
            current: Some(maximum),
            maximum: Some(maximum),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return Some(maximum);
        }
    }
    limit.current
}

#[cfg(not(unix))]
fn fd_limit() -> Option<u64> {
    None
}

/// A request body that fails when no data arrives for `timeout` while the
/// handler is waiting for it. The clock runs only while the handler waits,
/// so a handler that does other work before reading is not penalised.
struct ProgressBody {
    inner: Incoming,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    waiting: bool,
    activity: Arc<Activity>,
}

impl ProgressBody {
    fn new(inner: Incoming, timeout: Duration, activity: Arc<Activity>) -> Self {
        ProgressBody {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            waiting: false,
            activity,
        }
    }
}

/// A response body that tells the watchdog each time a piece of it goes
/// out (hyper asks for the next piece only once the last one is written).
struct WatchedBody {
    inner: Body,
    activity: Arc<Activity>,
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(_))) = &polled {
            self.activity.touch();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The error a stalled body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body stopped arriving (no data for {0:?})")]
pub struct BodyTimeout(Duration);

/// Whether `err` is, or was caused by, a stalled request body.
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<BodyTimeout>() {
            return true;
        }
        // `io::Error::source` skips the error it wraps: look at that one too.
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
            && is_body_timeout(inner)
        {
            return true;
        }
        current = e.source();
    }
    false
}

impl http_body::Body for ProgressBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                this.activity.touch();
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    let deadline = Instant::now() + this.timeout;
                    this.sleep.as_mut().reset(deadline);
                }
                match this.sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
