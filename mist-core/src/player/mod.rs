//! The streaming engine: one track from session to PCM (docs/quota.md says
//! what the server charges for it; docs/tui.md how the player uses it).
//!
//! [`Playback::start`] opens a playback session, reads the master playlist and
//! spawns one tokio task (the engine) that, segment by segment, picks a
//! rendition, downloads the segment (no token: it is storage), fetches its key
//! once (with the token: it is an API route), decrypts, decodes and hands the
//! PCM out as [`Event::Audio`]. The events channel holds [`PlayerOptions::prefetch`]
//! decoded segments, which is how far the engine works ahead of the listener.
//!
//! The engine does not play anything: whoever consumes the events (the CLI's
//! audio outputs, the TUI) plays them and tells the engine where the playhead
//! is with [`Playback::set_position`]. The engine reports that position to the
//! server every [`PlayerOptions::heartbeat_every`] and on pause, seek, stop and
//! end, with increasing `seq`, since the server only hands out keys near the
//! reported playhead.
//!
//! Keys are what the free plan's quota charges (docs/quota.md): the first
//! time a day a key is given, the audio it covers is charged. So the engine
//! downloads segments ahead but asks for a segment's key only when the
//! playhead is within [`PlayerOptions::key_lead`] of it (after reporting the
//! playhead), and a listener who skips after a few seconds is charged for
//! about what they heard. Every key answer carries the quota after it
//! ([`Playback::quota`]), so "left today" is shown without polling.
//!
//! Failures: network errors (and 5xx answers) are retried with exponential
//! backoff, then end playback with [`PlayerError::Network`]; [`Playback::abort_reason`]
//! lets the listener stop at once rather than play what is buffered. A quota
//! that runs out ends playback with [`PlayerError::QuotaExceeded`] as an event
//! after the audio already unlocked, which is the listener's to hear. A session
//! the server expired (no reports for two minutes, e.g. a machine asleep) is
//! replaced by a new one transparently; one closed because the account started
//! playing elsewhere ends playback ([`PlayerError::SessionClosed`]). A segment
//! that fails to decrypt or decode is reported as [`Event::SegmentFailed`] and
//! never handed out as audio.
//!
//! This module owns no audio device and no terminal.

mod playlist;

pub use playlist::{MediaSegment, PlaylistError, SegmentKey, Trim, VariantStream, parse_master, parse_media};

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::api::{CompleteSessionRequest, HeartbeatRequest, PlaybackSession, Quota};
use crate::audio::SAMPLE_RATE;
use crate::client::{Client, ClientError, Method, Url, quota_header};
use crate::crypto::decrypt_segment;

/// Which rendition to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quality {
    /// The best one the measured download rate sustains.
    #[default]
    Auto,
    Low,
    Normal,
    High,
}

impl FromStr for Quality {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Quality::Auto),
            "low" => Ok(Quality::Low),
            "normal" => Ok(Quality::Normal),
            "high" => Ok(Quality::High),
            _ => Err("expected auto, low, normal or high".into()),
        }
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Quality::Auto => "auto",
            Quality::Low => "low",
            Quality::Normal => "normal",
            Quality::High => "high",
        })
    }
}

/// How the engine behaves; [`PlayerOptions::default`] is what the CLI uses.
#[derive(Debug, Clone)]
pub struct PlayerOptions {
    pub quality: Quality,
    /// Decoded segments held ahead of the listener (each ~6 s).
    pub prefetch: usize,
    pub heartbeat_every: Duration,
    /// Attempts per request before a network failure ends playback.
    pub attempts: u32,
    /// First retry delay; doubled after each failure.
    pub backoff: Duration,
    /// From this segment on, play at this quality (tests force a switch with it).
    pub switch_at: Option<(usize, Quality)>,
    /// How long before a segment is due its key is asked for (keys are
    /// charged when given, so as late as decoding in time allows).
    pub key_lead: Duration,
}

impl Default for PlayerOptions {
    fn default() -> Self {
        PlayerOptions {
            quality: Quality::Auto,
            prefetch: 3,
            heartbeat_every: Duration::from_secs(10),
            attempts: 5,
            backoff: Duration::from_millis(500),
            switch_at: None,
            key_lead: Duration::from_secs(1),
        }
    }
}

/// Decoded audio of one segment: interleaved stereo f32 at 44.1 kHz.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub segment: usize,
    /// Where the segment starts in the track, in seconds.
    pub start_s: f64,
    /// The rendition it came from (`64k`, `128k`, `192k`).
    pub rendition: String,
    pub samples: Vec<f32>,
}

impl Chunk {
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / 2.0 / f64::from(crate::audio::SAMPLE_RATE)
    }
}

/// What the engine hands to the listener, in playing order.
#[derive(Debug)]
pub enum Event {
    Audio(Chunk),
    /// A segment that could not be decrypted or decoded: not played. Its
    /// duration is given so the listener can keep time (e.g. with silence).
    SegmentFailed {
        segment: usize,
        duration_s: f64,
        reason: String,
    },
    /// After a seek: everything before this event is stale.
    Seeked {
        segment: usize,
        start_s: f64,
    },
    /// Every segment has been handed out.
    Ended,
    /// Playback cannot go on.
    Failed(PlayerError),
}

/// Why playback ended early.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlayerError {
    #[error("today's listening quota is used up; it resets at {}", resets_at.format("%Y-%m-%d %H:%M UTC"))]
    QuotaExceeded { resets_at: chrono::DateTime<chrono::Utc> },
    #[error("lost the server after {attempts} attempts: {last}")]
    Network { attempts: u32, last: String },
    #[error("{0}")]
    Api(String),
    #[error("bad playlist {url}: {reason}")]
    Playlist { url: String, reason: String },
    #[error("playback moved: this account started more sessions than it may hold at once")]
    SessionClosed,
    #[error("the player stopped unexpectedly")]
    Stopped,
}

/// How playback finished: the server's last word on the quota.
#[derive(Debug, Clone)]
pub struct Finished {
    pub counted_s: f64,
    pub quota: Quota,
}

enum Command {
    Pause,
    Resume,
    Seek(usize),
    SetQuality(Quality),
    /// Stop (`ended`: the whole track was heard) and report the final position.
    Finish {
        reply: oneshot::Sender<Result<Finished, PlayerError>>,
    },
}

/// A track being streamed. Dropping it stops the engine without a final report.
pub struct Playback {
    session: PlaybackSession,
    renditions: Vec<VariantStream>,
    segment_count: usize,
    events: mpsc::Receiver<Event>,
    commands: mpsc::UnboundedSender<Command>,
    position: Arc<AtomicU64>,
    abort: watch::Receiver<Option<PlayerError>>,
    quota: watch::Receiver<Quota>,
    engine: tokio::task::JoinHandle<()>,
}

impl Drop for Playback {
    fn drop(&mut self) {
        self.engine.abort();
    }
}

impl Playback {
    /// Opens a session on `track_id` and starts the engine.
    pub async fn start(client: Client, track_id: &str, options: PlayerOptions) -> Result<Playback, PlayerError> {
        let retry = Retry::from(&options);
        let session = retry.run(|| client.open_session(track_id)).await?;
        let session = match session {
            Ok(session) => session,
            Err(error) => return Err(quota_or(&client, error).await),
        };
        let master_url = Url::parse(&session.master_url).map_err(|e| PlayerError::Playlist {
            url: session.master_url.clone(),
            reason: e.to_string(),
        })?;
        let master = fetch_text(&client, &retry, &master_url).await?;
        let renditions = parse_master(&master, &master_url).map_err(|e| PlayerError::Playlist {
            url: master_url.to_string(),
            reason: e.to_string(),
        })?;

        let (quota_tx, mut quota) = watch::channel(session.quota.clone());
        quota.mark_changed();
        let mut engine = Engine {
            client,
            retry,
            session: session.clone(),
            options: options.clone(),
            renditions: renditions.clone(),
            media: HashMap::new(),
            keys: HashMap::new(),
            throughput_bps: None,
            quality: options.quality,
            next: 0,
            seq: 0,
            reported_s: 0.0,
            last_report: Instant::now(),
            paused: false,
            ended: false,
            position: Arc::new(AtomicU64::new(0f64.to_bits())),
            commands: None,
            abort: None,
            quota: quota_tx,
            fetched: None,
            previous: None,
        };
        // The playlists of the first rendition tell the segment count.
        let first = engine.pick_rendition(0);
        let segment_count = engine.media_playlist(first).await?.len();

        let (events_tx, events) = mpsc::channel(options.prefetch.max(1));
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (abort_tx, abort) = watch::channel(None);
        let position = engine.position.clone();
        engine.commands = Some(commands_rx);
        engine.abort = Some(abort_tx);
        let task = tokio::spawn(engine.run(events_tx, segment_count));
        Ok(Playback {
            session,
            renditions,
            segment_count,
            events,
            commands,
            position,
            abort,
            quota,
            engine: task,
        })
    }

    /// The server's latest word on the quota: from the session, then every
    /// key and report answer.
    pub fn quota(&self) -> Quota {
        self.quota.borrow().clone()
    }

    /// The quota, if it changed since the last call (the first call gives
    /// the session's).
    pub fn quota_changed(&mut self) -> Option<Quota> {
        if self.quota.has_changed().unwrap_or(false) {
            Some(self.quota.borrow_and_update().clone())
        } else {
            None
        }
    }

    pub fn session(&self) -> &PlaybackSession {
        &self.session
    }

    /// The renditions, lowest bit rate first.
    pub fn renditions(&self) -> &[VariantStream] {
        &self.renditions
    }

    pub fn segment_count(&self) -> usize {
        self.segment_count
    }

    /// The next event; `None` once the engine is gone.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The listener's playhead in the track, in seconds: what gets reported.
    pub fn set_position(&self, position_s: f64) {
        self.position.store(position_s.to_bits(), Ordering::Relaxed);
    }

    /// Set when playback must stop at once (the quota ran out), before the
    /// buffered audio is played.
    pub fn abort_reason(&self) -> Option<PlayerError> {
        self.abort.borrow().clone()
    }

    pub fn pause(&self) {
        let _ = self.commands.send(Command::Pause);
    }

    pub fn resume(&self) {
        let _ = self.commands.send(Command::Resume);
    }

    /// Continues from the start of `segment`; an [`Event::Seeked`] marks where.
    pub fn seek(&self, segment: usize) {
        let _ = self.commands.send(Command::Seek(segment));
    }

    pub fn set_quality(&self, quality: Quality) {
        let _ = self.commands.send(Command::SetQuality(quality));
    }

    /// Stops the engine and completes the session at the current position.
    pub async fn finish(self) -> Result<Finished, PlayerError> {
        let (reply, answer) = oneshot::channel();
        let gone = || self.abort_reason().unwrap_or(PlayerError::Stopped);
        self.commands.send(Command::Finish { reply }).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// Retries with exponential backoff on transport errors and 5xx answers.
#[derive(Debug, Clone, Copy)]
struct Retry {
    attempts: u32,
    backoff: Duration,
}

impl From<&PlayerOptions> for Retry {
    fn from(options: &PlayerOptions) -> Self {
        Retry {
            attempts: options.attempts.max(1),
            backoff: options.backoff,
        }
    }
}

impl Retry {
    /// `Ok(Ok(_))` success, `Ok(Err(_))` an answer not worth retrying (4xx),
    /// `Err(_)` the network failed every attempt.
    async fn run<T, F, Fut>(&self, mut call: F) -> Result<Result<T, ClientError>, PlayerError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let mut delay = self.backoff;
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(value) => return Ok(Ok(value)),
                Err(error) if retryable(&error) => {
                    if attempt >= self.attempts {
                        return Err(PlayerError::Network {
                            attempts: attempt,
                            last: error.to_string(),
                        });
                    }
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(error) => return Ok(Err(error)),
            }
        }
    }
}

fn retryable(error: &ClientError) -> bool {
    match error {
        ClientError::Http(_) => true,
        ClientError::Api { status, .. } => *status >= 500,
        _ => false,
    }
}

/// A `quota_exceeded` answer becomes [`PlayerError::QuotaExceeded`] with the
/// reset time the answer gives (or, from a server that gives none, asks).
async fn quota_or(client: &Client, error: ClientError) -> PlayerError {
    if error.code() == Some("quota_exceeded") {
        if let Some(resets_at) = error.resets_at() {
            return PlayerError::QuotaExceeded { resets_at };
        }
        if let Ok(quota) = client.quota().await {
            return PlayerError::QuotaExceeded {
                resets_at: quota.resets_at,
            };
        }
        return PlayerError::Api(error.to_string());
    }
    PlayerError::Api(error.to_string())
}

async fn fetch_bytes(client: &Client, retry: &Retry, url: &Url) -> Result<Vec<u8>, PlayerError> {
    let answer = retry
        .run(|| async {
            let response = client.send(client.request_url(Method::GET, url.clone())).await?;
            response.bytes().await.map_err(ClientError::Http)
        })
        .await?;
    match answer {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(error) => Err(PlayerError::Api(format!("cannot fetch {}: {error}", url.path()))),
    }
}

async fn fetch_text(client: &Client, retry: &Retry, url: &Url) -> Result<String, PlayerError> {
    let bytes = fetch_bytes(client, retry, url).await?;
    String::from_utf8(bytes).map_err(|_| PlayerError::Playlist {
        url: url.to_string(),
        reason: "not UTF-8 text".into(),
    })
}

/// Where `segment` starts in the track as heard (the first segment's
/// trimmed start is not heard), in seconds.
fn track_start_s(segments: &[MediaSegment], segment: usize) -> f64 {
    if segment == 0 {
        return 0.0;
    }
    let delay_s = segments
        .first()
        .map_or(0.0, |s| s.trim.start as f64 / f64::from(SAMPLE_RATE));
    let before: f64 = segments.iter().take(segment).map(|s| s.duration_s).sum();
    (before - delay_s).max(0.0)
}

/// Drops `trim` from the decoded interleaved stereo `samples`: what remains
/// is the source's (an oversized trim leaves nothing rather than failing).
fn apply_trim(mut samples: Vec<f32>, trim: Trim) -> Vec<f32> {
    let frames = samples.len() / 2;
    let start = usize::try_from(trim.start).unwrap_or(usize::MAX).min(frames);
    let end = usize::try_from(trim.end).unwrap_or(usize::MAX).min(frames - start);
    samples.truncate((frames - end) * 2);
    samples.drain(..start * 2);
    samples
}

/// A segment decoded by [`decode_segment`].
#[derive(Debug)]
struct Decoded {
    /// Its audio, trimmed.
    samples: Vec<f32>,
    /// Its clear bytes, for the next segment's lead.
    clear: Vec<u8>,
    /// How many samples it decoded to before the trim.
    untrimmed: usize,
}

/// Decrypts and decodes one segment, its trim dropped; the reason it failed
/// otherwise. `lead`: the segment before it, in clear, and the samples it
/// decodes to, decoded first so the decoder's state carries over (see
/// [`Previous`]).
fn decode_segment(
    data: &[u8],
    key: Option<([u8; 16], [u8; 16])>,
    trim: Trim,
    lead: Option<(&[u8], usize)>,
) -> Result<Decoded, String> {
    let clear = match key {
        Some((key, iv)) => decrypt_segment(&key, &iv, data).map_err(|e| e.to_string())?,
        None => data.to_vec(),
    };
    // CBC has no integrity check: a wrong key usually breaks the padding, but
    // the structure check catches the rest instead of playing noise.
    if !clear.starts_with(b"ID3") {
        return Err("the decrypted segment does not start with its ID3 timestamp tag".into());
    }
    let (bytes, skip) = match lead {
        Some((previous, samples)) => {
            // The ID3 tag between the two would be junk in the middle of a stream.
            let frames = &clear[crate::hls::id3_tag_len(&clear).unwrap_or(0).min(clear.len())..];
            ([previous, frames].concat(), samples)
        }
        None => (clear.clone(), 0),
    };
    let audio = crate::audio::decode_bytes(bytes, Some("mp3")).map_err(|e| e.to_string())?;
    if let Some(reason) = audio.truncated {
        return Err(reason);
    }
    let mut samples = audio.samples;
    if samples.len() <= skip {
        return Err("the segment decodes to no audio".into());
    }
    samples.drain(..skip);
    Ok(Decoded {
        untrimmed: samples.len(),
        samples: apply_trim(samples, trim),
        clear,
    })
}

struct Engine {
    client: Client,
    retry: Retry,
    session: PlaybackSession,
    options: PlayerOptions,
    renditions: Vec<VariantStream>,
    /// Media playlists by rendition index, fetched when first needed.
    media: HashMap<usize, Vec<MediaSegment>>,
    /// Keys by URL: each is fetched once.
    keys: HashMap<Url, [u8; 16]>,
    /// Smoothed download rate, bit/s.
    throughput_bps: Option<f64>,
    quality: Quality,
    next: usize,
    seq: u64,
    reported_s: f64,
    last_report: Instant,
    paused: bool,
    /// Every segment has been handed out (until a seek).
    ended: bool,
    position: Arc<AtomicU64>,
    commands: Option<mpsc::UnboundedReceiver<Command>>,
    abort: Option<watch::Sender<Option<PlayerError>>>,
    quota: watch::Sender<Quota>,
    /// The last segment downloaded, kept while its key is awaited (the wait
    /// may be interrupted by commands and heartbeats).
    fetched: Option<(Url, Vec<u8>)>,
    /// The segment decoded last, in clear: the next one is decoded after it.
    previous: Option<Previous>,
}

/// A decoded segment kept so the next one decodes as a continuation of it.
///
/// An MP3 decoder carries state from frame to frame (the second half of each
/// granule's inverse MDCT overlaps the next granule, and the synthesis
/// filterbank remembers 512 samples). A decoder started afresh on a segment
/// has none of it, and the first ~1 100 samples come out wrong: a click every
/// six seconds. So the segment before is decoded again in front of it and
/// its samples dropped (MP3 decoding is cheap; downloads and keys are not
/// repeated).
struct Previous {
    segment: usize,
    /// The segment's clear bytes (ID3 tag and frames).
    clear: Vec<u8>,
    /// How many samples (interleaved) its frames decode to.
    samples: usize,
}

/// What a command asks of the main loop.
enum Flow {
    Continue,
    Restart,
    Finish(oneshot::Sender<Result<Finished, PlayerError>>),
}

impl Engine {
    async fn run(mut self, events: mpsc::Sender<Event>, segment_count: usize) {
        let Some(mut commands) = self.commands.take() else {
            return;
        };
        // An opening report at 0 s starts the session's clock for the key window.
        if let Err(error) = self.report(true).await {
            return self.fail(&events, error).await;
        }
        let mut ticker = tokio::time::interval(self.options.heartbeat_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            // Work on the next segment unless paused or done; meanwhile serve
            // commands and heartbeats.
            let event = if !self.ended && !self.paused {
                let segment = self.next;
                tokio::select! {
                    biased;
                    command = commands.recv() => match self.command(command, &events).await {
                        Flow::Finish(reply) => return self.finish(reply).await,
                        Flow::Continue | Flow::Restart => continue,
                    },
                    _ = ticker.tick() => {
                        if let Err(error) = self.report(true).await {
                            return self.fail(&events, error).await;
                        }
                        continue;
                    }
                    produced = self.produce(segment, segment_count) => match produced {
                        Ok(event) => event,
                        // What was unlocked is the listener's: the refusal
                        // comes after it, and the session stays to be completed.
                        Err(error @ PlayerError::QuotaExceeded { .. }) => {
                            self.ended = true;
                            Event::Failed(error)
                        }
                        Err(error) => return self.fail(&events, error).await,
                    },
                }
            } else {
                tokio::select! {
                    command = commands.recv() => match self.command(command, &events).await {
                        Flow::Finish(reply) => return self.finish(reply).await,
                        Flow::Continue | Flow::Restart => continue,
                    },
                    _ = ticker.tick() => {
                        if let Err(error) = self.report(!self.paused).await {
                            return self.fail(&events, error).await;
                        }
                        continue;
                    }
                }
            };
            if matches!(event, Event::Ended | Event::Failed(_)) {
                self.ended = true;
            } else {
                self.next += 1;
            }
            // Hand the event over when there is room, still serving heartbeats
            // and commands while the listener is busy.
            loop {
                tokio::select! {
                    biased;
                    command = commands.recv() => match self.command(command, &events).await {
                        Flow::Finish(reply) => return self.finish(reply).await,
                        Flow::Restart => break,
                        Flow::Continue => {}
                    },
                    _ = ticker.tick() => {
                        if let Err(error) = self.report(!self.paused).await {
                            return self.fail(&events, error).await;
                        }
                    }
                    permit = events.reserve() => {
                        match permit {
                            Ok(permit) => permit.send(event),
                            Err(_) => return, // the listener is gone
                        }
                        break;
                    }
                }
            }
        }
    }

    async fn command(&mut self, command: Option<Command>, events: &mpsc::Sender<Event>) -> Flow {
        let Some(command) = command else {
            // Playback was dropped.
            return Flow::Finish(oneshot::channel().0);
        };
        match command {
            Command::Pause => {
                self.paused = true;
                let _ = self.report(false).await;
                Flow::Continue
            }
            Command::Resume => {
                self.paused = false;
                let _ = self.report(true).await;
                Flow::Continue
            }
            Command::SetQuality(quality) => {
                self.quality = quality;
                Flow::Continue
            }
            Command::Seek(segment) => {
                let start_s = self.segment_start(segment).await;
                self.next = segment;
                self.ended = false;
                self.set_position(start_s);
                let _ = self.report(!self.paused).await;
                let _ = events.send(Event::Seeked { segment, start_s }).await;
                Flow::Restart
            }
            Command::Finish { reply } => Flow::Finish(reply),
        }
    }

    async fn finish(mut self, reply: oneshot::Sender<Result<Finished, PlayerError>>) {
        self.seq += 1;
        let report = CompleteSessionRequest {
            seq: self.seq,
            position_s: self.position(),
        };
        let (client, session_id) = (self.client.clone(), self.session.session_id.clone());
        let answer = match self.retry.run(|| client.complete_session(&session_id, &report)).await {
            Ok(Ok(response)) => Ok(Finished {
                counted_s: response.counted_s,
                quota: response.quota,
            }),
            Ok(Err(error)) => Err(quota_or(&self.client, error).await),
            Err(error) => Err(error),
        };
        let _ = reply.send(answer);
    }

    /// Ends playback: the listener stops at once, without playing what is
    /// buffered (it could not be reported).
    async fn fail(&mut self, events: &mpsc::Sender<Event>, error: PlayerError) {
        if let Some(abort) = &self.abort {
            let _ = abort.send(Some(error.clone()));
        }
        let _ = events.send(Event::Failed(error)).await;
    }

    fn position(&self) -> f64 {
        f64::from_bits(self.position.load(Ordering::Relaxed))
    }

    fn set_position(&self, position_s: f64) {
        self.position.store(position_s.to_bits(), Ordering::Relaxed);
    }

    /// Sends a heartbeat with the listener's position. A session the server
    /// expired is replaced by a new one at the same position.
    async fn report(&mut self, playing: bool) -> Result<(), PlayerError> {
        for _ in 0..2 {
            self.seq += 1;
            let report = HeartbeatRequest {
                seq: self.seq,
                position_s: self.position(),
                playing,
            };
            let (client, session_id) = (self.client.clone(), self.session.session_id.clone());
            let answer = self.retry.run(|| client.heartbeat(&session_id, &report)).await?;
            self.last_report = Instant::now();
            match answer {
                Ok(response) => {
                    self.reported_s = report.position_s;
                    self.quota.send_replace(response.quota);
                    return Ok(());
                }
                Err(error) if error.code() == Some("session_expired") => self.reopen().await?,
                Err(error) if error.code() == Some("session_closed") => return Err(PlayerError::SessionClosed),
                Err(error) if error.code() == Some("quota_exceeded") => {
                    return Err(quota_or(&self.client, error).await);
                }
                Err(error) => return Err(PlayerError::Api(error.to_string())),
            }
        }
        Err(PlayerError::Api(
            "the server keeps expiring this playback session".into(),
        ))
    }

    /// Opens a new session on the track in place of an expired one. Keys and
    /// playlists already fetched stay valid: they belong to the user and track.
    async fn reopen(&mut self) -> Result<(), PlayerError> {
        let (client, track_id) = (self.client.clone(), self.session.track_id.clone());
        let session = match self.retry.run(|| client.open_session(&track_id)).await? {
            Ok(session) => session,
            Err(error) => return Err(quota_or(&self.client, error).await),
        };
        self.quota.send_replace(session.quota.clone());
        self.session = session;
        self.seq = 0;
        self.reported_s = 0.0;
        Ok(())
    }

    /// The rendition to fetch `segment` from.
    fn pick_rendition(&self, segment: usize) -> usize {
        let quality = match self.options.switch_at {
            Some((at, quality)) if segment >= at => quality,
            _ => self.quality,
        };
        let last = self.renditions.len() - 1;
        match quality {
            Quality::Low => 0,
            Quality::Normal => last / 2,
            Quality::High => last,
            Quality::Auto => match self.throughput_bps {
                // Until something is measured, the middle one.
                None => last / 2,
                // The best whose peak rate fits in 70% of what the link did.
                Some(bps) => self
                    .renditions
                    .iter()
                    .rposition(|v| (v.bandwidth as f64) <= bps * 0.7)
                    .unwrap_or(0),
            },
        }
    }

    async fn media_playlist(&mut self, rendition: usize) -> Result<&[MediaSegment], PlayerError> {
        if !self.media.contains_key(&rendition) {
            let url = self.renditions[rendition].url.clone();
            let text = fetch_text(&self.client, &self.retry, &url).await?;
            let segments = parse_media(&text, &url).map_err(|e| PlayerError::Playlist {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
            self.media.insert(rendition, segments);
        }
        Ok(self.media.get(&rendition).map(Vec::as_slice).unwrap_or_default())
    }

    async fn segment_start(&mut self, segment: usize) -> f64 {
        let rendition = self.pick_rendition(segment);
        match self.media_playlist(rendition).await {
            Ok(segments) => track_start_s(segments, segment),
            Err(_) => 0.0,
        }
    }

    /// Fetches, decrypts and decodes `segment`, or says the track has ended.
    async fn produce(&mut self, segment: usize, segment_count: usize) -> Result<Event, PlayerError> {
        if segment >= segment_count {
            // The end is reported as a heartbeat too (then `finish` completes).
            return Ok(Event::Ended);
        }
        let rendition = self.pick_rendition(segment);
        let segments = self.media_playlist(rendition).await?;
        let Some(entry) = segments.get(segment).cloned() else {
            return Ok(Event::Ended);
        };
        let start_s = track_start_s(segments, segment);
        let data = match self.fetched.take() {
            Some((url, data)) if url == entry.url => data,
            _ => {
                let began = Instant::now();
                let data = fetch_bytes(&self.client, &self.retry, &entry.url).await?;
                let seconds = began.elapsed().as_secs_f64().max(1e-3);
                let measured = data.len() as f64 * 8.0 / seconds;
                self.throughput_bps = Some(match self.throughput_bps {
                    Some(previous) => previous * 0.7 + measured * 0.3,
                    None => measured,
                });
                data
            }
        };
        let key = match &entry.key {
            Some(key) if !self.keys.contains_key(&key.url) => {
                // Keep the bytes while waiting for the playhead: a command
                // or a heartbeat may interrupt the wait and start it over.
                self.fetched = Some((entry.url.clone(), data));
                self.wait_for_playhead(start_s).await;
                let key_bytes = self.key(&key.url).await?;
                let data = self.fetched.take().map(|(_, data)| data).unwrap_or_default();
                return self
                    .decode(segment, start_s, rendition, &entry, data, Some((key_bytes, key.iv)))
                    .await;
            }
            Some(key) => Some((self.key(&key.url).await?, key.iv)),
            None => None,
        };
        self.decode(segment, start_s, rendition, &entry, data, key).await
    }

    /// Waits until the listener's playhead is within the key lead of `start_s`.
    async fn wait_for_playhead(&self, start_s: f64) {
        let lead = self.options.key_lead.as_secs_f64();
        while self.position() + lead < start_s {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Decrypts and decodes a downloaded segment into the event that hands it out.
    async fn decode(
        &mut self,
        segment: usize,
        start_s: f64,
        rendition: usize,
        entry: &MediaSegment,
        data: Vec<u8>,
        key: Option<([u8; 16], [u8; 16])>,
    ) -> Result<Event, PlayerError> {
        let trim = entry.trim;
        let lead = self.previous.take().filter(|p| segment > 0 && p.segment == segment - 1);
        let decoded = tokio::task::spawn_blocking(move || {
            let lead = lead.as_ref().map(|p| (p.clear.as_slice(), p.samples));
            decode_segment(&data, key, trim, lead)
        })
        .await
        .map_err(|_| PlayerError::Stopped)?;
        Ok(match decoded {
            Ok(Decoded {
                samples,
                clear,
                untrimmed,
            }) => {
                self.previous = Some(Previous {
                    segment,
                    clear,
                    samples: untrimmed,
                });
                Event::Audio(Chunk {
                    segment,
                    start_s,
                    rendition: self.renditions[rendition].name.clone(),
                    samples,
                })
            }
            Err(reason) => Event::SegmentFailed {
                segment,
                duration_s: (entry.duration_s - (trim.start + trim.end) as f64 / f64::from(SAMPLE_RATE)).max(0.0),
                reason,
            },
        })
    }

    /// The key at `url`, fetched once. The server hands it out only near the
    /// reported playhead, so the engine reports the playhead first when it has
    /// moved, and when the server still says the key is out of range, waits
    /// for the listener to get closer.
    async fn key(&mut self, url: &Url) -> Result<[u8; 16], PlayerError> {
        if let Some(key) = self.keys.get(url) {
            return Ok(*key);
        }
        if self.position() > self.reported_s {
            self.report(!self.paused).await?;
        }
        loop {
            let client = self.client.clone();
            let answer = self
                .retry
                .run(|| async {
                    let response = client.send(client.request_url(Method::GET, url.clone())).await?;
                    let quota = quota_header(&response);
                    Ok((response.bytes().await.map_err(ClientError::Http)?, quota))
                })
                .await?;
            match answer {
                Ok((bytes, quota)) => {
                    if let Some(quota) = quota {
                        self.quota.send_replace(quota);
                    }
                    let key: [u8; 16] = bytes.as_ref().try_into().map_err(|_| {
                        PlayerError::Api(format!("the key at {} is {} bytes, not 16", url.path(), bytes.len()))
                    })?;
                    self.keys.insert(url.clone(), key);
                    return Ok(key);
                }
                Err(error) if error.code() == Some("quota_exceeded") => {
                    let error = quota_or(&self.client, error).await;
                    if let PlayerError::QuotaExceeded { resets_at } = &error {
                        let mut spent = self.quota.borrow().clone();
                        spent.remaining_s = spent.remaining_s.map(|_| 0.0);
                        spent.resets_at = *resets_at;
                        self.quota.send_replace(spent);
                    }
                    return Err(error);
                }
                Err(error) if error.code() == Some("rate_limited") => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(error) if matches!(error.code(), Some("key_out_of_range" | "no_session")) => {
                    if self.position() > self.reported_s {
                        self.report(!self.paused).await?;
                    } else {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        if self.last_report.elapsed() >= self.options.heartbeat_every {
                            self.report(!self.paused).await?;
                        }
                    }
                }
                Err(error) => return Err(PlayerError::Api(format!("cannot get a key: {error}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Segments decoded one after the other are the track decoded whole:
    /// no click where one ends and the next begins, and the trim leaves the
    /// source's samples, in place.
    #[cfg(feature = "encode")]
    #[test]
    fn consecutive_segments_decode_as_one_stream_without_a_click_at_the_boundary() {
        let n = 44_100 * 8 + 333;
        let tone = |i: usize| 0.5 * (2.0 * std::f32::consts::PI * 997.0 * i as f32 / 44_100.0).sin();
        let audio = crate::audio::DecodedAudio {
            samples: (0..n).flat_map(|i| [tone(i), tone(i)]).collect(),
            tags: crate::audio::Tags::default(),
            source_sample_rate: 44_100,
            source_channels: 2,
            truncated: None,
        };
        let frames = crate::audio::encode_mp3_frames(&audio, 192).unwrap();
        let padding = crate::audio::encode::padding(n as u64, frames.len());
        let segments = crate::hls::segment_renditions(&[frames], 44_100).remove(0);
        assert_eq!(segments.len(), 2);
        let boundary = segments[0].frames * 1152 - crate::audio::DECODED_DELAY as usize;
        let worst = |heard: &[f32], around: std::ops::Range<usize>| {
            around.map(|i| (heard[2 * i] - tone(i)).abs()).fold(0.0f32, f32::max)
        };

        let mut heard = Vec::new();
        let mut lead: Option<Decoded> = None;
        for (index, segment) in segments.iter().enumerate() {
            let trim = Trim {
                start: if index == 0 { crate::audio::DECODED_DELAY } else { 0 },
                end: if index == segments.len() - 1 { padding } else { 0 },
            };
            let previous = lead.as_ref().map(|d| (d.clear.as_slice(), d.untrimmed));
            let decoded = decode_segment(&segment.data, None, trim, previous).unwrap();
            heard.extend_from_slice(&decoded.samples);
            lead = Some(decoded);
        }
        assert_eq!(heard.len(), 2 * n, "the source's length");
        let (inside, across) = (
            worst(&heard, 100_000..103_000),
            worst(&heard, boundary - 1500..boundary + 1500),
        );
        eprintln!("largest error inside a segment {inside}, across the boundary {across}");
        assert!(
            across < 2.0 * inside + 0.01,
            "a click at the boundary: {across} (inside {inside})"
        );

        // Decoded afresh, the second segment starts wrong: what the lead is for.
        let alone = decode_segment(&segments[1].data, None, Trim::default(), None).unwrap();
        let mut fresh = heard[..2 * boundary].to_vec();
        fresh.extend_from_slice(&alone.samples);
        assert!(worst(&fresh, boundary..boundary + 1500) > 0.2);
    }

    #[test]
    fn a_trim_drops_the_delay_and_the_padding_and_never_panics() {
        let samples: Vec<f32> = (0..20).map(|i| i as f32).collect(); // 10 frames
        let check = |start, end, expected: &[f32]| {
            assert_eq!(
                apply_trim(samples.clone(), Trim { start, end }),
                expected,
                "{start} {end}"
            );
        };
        check(0, 0, &samples);
        check(2, 3, &samples[4..14]);
        check(10, 0, &[]);
        check(7, 7, &[]);
        check(u64::MAX, u64::MAX, &[]);
        check(0, u64::MAX, &[]);
    }

    #[test]
    fn segments_after_the_first_start_where_the_heard_track_has_them() {
        let url = Url::parse("https://m.example/seg.mp3").unwrap();
        let segment = |start, end| MediaSegment {
            url: url.clone(),
            duration_s: 6.0,
            key: None,
            trim: Trim { start, end },
        };
        let segments = [segment(4410, 0), segment(0, 0), segment(0, 441)];
        assert_eq!(track_start_s(&segments, 0), 0.0);
        assert!((track_start_s(&segments, 1) - 5.9).abs() < 1e-9);
        assert!((track_start_s(&segments, 2) - 11.9).abs() < 1e-9);
    }

    #[test]
    fn qualities_parse_and_print() {
        for quality in ["auto", "low", "normal", "high"] {
            assert_eq!(quality.parse::<Quality>().expect("parses").to_string(), quality);
        }
        assert!("best".parse::<Quality>().is_err());
    }

    #[test]
    fn segments_that_do_not_decrypt_are_refused_not_played() {
        let key = [1u8; 16];
        let iv = [2u8; 16];
        let sealed = crate::crypto::encrypt_segment(&key, &iv, b"not an mp3 at all");
        let error = decode_segment(&sealed, Some(([9u8; 16], iv)), Trim::default(), None).expect_err("wrong key");
        assert!(!error.is_empty());
        let error = decode_segment(&sealed, Some((key, iv)), Trim::default(), None).expect_err("no ID3");
        assert!(error.contains("ID3"), "{error}");
    }

    fn engine(quality: Quality, throughput_bps: Option<f64>, switch_at: Option<(usize, Quality)>) -> Engine {
        let variant = |name: &str, bandwidth| VariantStream {
            url: Url::parse(&format!("http://h/{name}/index.m3u8")).expect("URL"),
            bandwidth,
            name: name.into(),
        };
        let quota = Quota {
            plan: crate::api::Plan::Free,
            limit_s: Some(300.0),
            used_s: 0.0,
            remaining_s: Some(300.0),
            resets_at: chrono::DateTime::UNIX_EPOCH,
        };
        Engine {
            client: Client::new("http://h").expect("client"),
            retry: Retry {
                attempts: 1,
                backoff: Duration::ZERO,
            },
            session: PlaybackSession {
                session_id: "s".into(),
                track_id: "t".into(),
                master_url: "http://h/master.m3u8".into(),
                key_period_s: 6.0,
                duration_s: 60.0,
                quota: quota.clone(),
            },
            options: PlayerOptions {
                quality,
                switch_at,
                ..PlayerOptions::default()
            },
            renditions: vec![
                variant("64k", 70_000),
                variant("128k", 140_000),
                variant("192k", 210_000),
            ],
            media: HashMap::new(),
            keys: HashMap::new(),
            throughput_bps,
            quality,
            next: 0,
            seq: 0,
            reported_s: 0.0,
            last_report: Instant::now(),
            paused: false,
            ended: false,
            position: Arc::new(AtomicU64::new(0)),
            commands: None,
            abort: None,
            quota: watch::channel(quota).0,
            fetched: None,
            previous: None,
        }
    }

    #[test]
    fn renditions_are_chosen_by_quality_then_by_measured_throughput() {
        let check = |quality, bps, expected: &str| {
            let engine = engine(quality, bps, None);
            assert_eq!(
                engine.renditions[engine.pick_rendition(0)].name,
                expected,
                "{quality} {bps:?}"
            );
        };
        check(Quality::Low, Some(1e9), "64k");
        check(Quality::Normal, None, "128k");
        check(Quality::High, Some(1.0), "192k");
        check(Quality::Auto, None, "128k");
        check(Quality::Auto, Some(50_000.0), "64k");
        check(Quality::Auto, Some(210_000.0), "128k");
        check(Quality::Auto, Some(10e6), "192k");

        let switching = engine(Quality::Low, None, Some((2, Quality::High)));
        let names: Vec<_> = (0..4)
            .map(|s| switching.renditions[switching.pick_rendition(s)].name.as_str())
            .collect();
        assert_eq!(names, ["64k", "64k", "192k", "192k"]);
    }

    #[tokio::test]
    async fn network_errors_are_retried_with_backoff_then_given_up() {
        let retry = Retry {
            attempts: 3,
            backoff: Duration::from_millis(1),
        };
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
            listener.local_addr().expect("addr").port()
        };
        let client = Client::new(&format!("http://127.0.0.1:{port}")).expect("client");
        let mut calls = 0;
        let outcome = retry
            .run(|| {
                calls += 1;
                client.health()
            })
            .await;
        assert_eq!(calls, 3);
        match outcome {
            Err(PlayerError::Network { attempts: 3, last }) => assert!(last.contains("cannot connect"), "{last}"),
            other => panic!("{other:?}"),
        }
    }
}
