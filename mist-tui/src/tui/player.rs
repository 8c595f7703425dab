//! The audio thread: plays tracks through the mist-core engine to the
//! `--audio` output, on its own OS thread with its own single-threaded tokio
//! runtime, so neither drawing nor the UI's network calls can make the sound
//! stutter, and a stalled download never freezes the UI.
//!
//! The UI sends [`Command`]s and gets [`Update`]s back on its event channel.
//! The thread owns the engine ([`Playback`]) and the output. It hands the
//! output 100 ms at a time and looks at its commands between pieces, so a
//! pause or a seek is heard within a tenth of a second.
//!
//! Gapless queue: the UI tells the thread which track comes next
//! ([`Command::SetNext`]). When the last segment of the current track starts
//! playing, the thread opens the next track's session and fetches its first
//! segments, so at the end of the track the next one's audio is already there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mist_core::api::{Quota, Track};
use mist_core::audio::SAMPLE_RATE;
use mist_core::client::Client;
use mist_core::player::{Event, Playback, PlayerError, PlayerOptions, Quality};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, error::TryRecvError, unbounded_channel};
use tokio::task::JoinHandle;

use crate::audio::Output;
use crate::audio::gain::{GainMode, track_gain};
use crate::session::AudioOutput;

/// What the output is given at a time.
const PIECE_S: f64 = 0.1;
/// How often the UI hears where the playhead is.
const POSITION_EVERY: Duration = Duration::from_millis(200);
/// The loudest volume: half as loud again as mastered, for quiet recordings.
pub const VOLUME_MAX: f32 = 1.5;
/// How long quitting waits for the session to be completed (one request,
/// normally a few milliseconds; the server has the heartbeats either way).
const FINISH_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, PartialEq)]
pub enum Command {
    /// Stop what is playing and play this.
    Play(Track),
    /// The track to play after the current one (`None`: stop at its end).
    SetNext(Option<Track>),
    TogglePause,
    /// Move the playhead by this many seconds.
    SeekBy(f64),
    /// Move the playhead to this many seconds into the track.
    SeekTo(f64),
    /// 0.0 (silent), 1.0 (as mastered), up to [`VOLUME_MAX`] (louder; may clip).
    Volume(f32),
    /// The rendition to play, from now on and for the next tracks.
    SetQuality(Quality),
    /// The ReplayGain to apply from the next track on.
    SetGainMode(GainMode),
    Stop,
    /// Complete the session, close the output and end the thread.
    Quit,
}

/// What the thread tells the UI.
#[derive(Debug, Clone)]
pub enum Update {
    /// Opening a session on `track`; `advanced` when it is the queued next
    /// track taking over at the end of the previous one.
    /// (Boxed: a track is far larger than the other updates.)
    Loading { track: Box<Track>, advanced: bool },
    Position {
        track_id: String,
        position_s: f64,
        rendition: String,
        paused: bool,
    },
    /// The track was played to its end, or stopped; the session is complete.
    Finished { track_id: String, quota: Option<Quota> },
    /// Playback of the track cannot go on (quota, network, server).
    Failed { track_id: String, error: PlayerError },
    /// The output could not be opened or written.
    OutputFailed(String),
    /// The server's latest quota, from a key or report answer.
    Quota(Quota),
}

/// The UI's handle on the audio thread.
pub struct Player {
    commands: UnboundedSender<Command>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Player {
    /// Starts the thread; updates go through `send`.
    pub fn spawn(
        client: Client,
        audio: AudioOutput,
        send: impl Fn(Update) + Send + Sync + 'static,
    ) -> std::io::Result<Player> {
        let send: Notify = Arc::new(send);
        let (commands, receiver) = unbounded_channel();
        let thread = std::thread::Builder::new().name("mist-audio".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => return send(Update::OutputFailed(format!("cannot start the audio thread: {error}"))),
            };
            runtime.block_on(run(client, audio, receiver, send));
            // Whatever is still in flight (a preload, a session being
            // completed) is dropped, not waited for.
            runtime.shutdown_timeout(Duration::from_millis(500));
            tracing::info!("the audio thread ends");
        })?;
        Ok(Player {
            commands,
            thread: Some(thread),
        })
    }

    pub fn send(&self, command: Command) {
        if self.commands.send(command).is_err() {
            tracing::warn!("the audio thread is gone");
        }
    }

    /// Completes the session, closes the output (a WAV file gets its header)
    /// and waits for the thread, though never for long: quitting must quit.
    pub fn quit(mut self) {
        self.send(Command::Quit);
        let Some(thread) = self.thread.take() else {
            return;
        };
        let asked = Instant::now();
        while !thread.is_finished() {
            if asked.elapsed() > FINISH_TIMEOUT + Duration::from_secs(1) {
                tracing::error!("the audio thread did not stop; leaving it");
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if thread.join().is_err() {
            tracing::error!("the audio thread panicked");
        }
    }
}

/// The track being played.
struct Current {
    track: Track,
    playback: Playback,
    /// Decoded audio not yet handed to the output, from `offset`.
    buffer: Vec<f32>,
    offset: usize,
    position_s: f64,
    rendition: String,
    paused: bool,
    /// After a seek: audio events are stale until the engine's `Seeked`.
    seeking: bool,
    /// Seconds to drop from the first chunk after a seek (seeks land on a
    /// segment start; this gets to the second asked for).
    skip_s: f64,
    last_update: Instant,
    /// The track's ReplayGain as a factor (1.0: as mastered).
    gain: f32,
}

enum State {
    Idle,
    Starting {
        track: Box<Track>,
        task: JoinHandle<Result<Playback, PlayerError>>,
    },
    Playing(Box<Current>),
}

/// Where updates go.
type Notify = Arc<dyn Fn(Update) + Send + Sync>;

struct Worker {
    client: Client,
    output: Option<Output>,
    send: Notify,
    volume: f32,
    quality: Quality,
    gain_mode: GainMode,
    /// The album of the track played last: a track after one of its own
    /// album plays as part of the album.
    last_album: Option<String>,
    state: State,
    next: Option<Track>,
    /// The next track's session, opened near the end of the current one.
    preload: Option<(String, JoinHandle<Result<Playback, PlayerError>>)>,
}

async fn run(client: Client, audio: AudioOutput, mut commands: UnboundedReceiver<Command>, send: Notify) {
    let output = match Output::open(&audio) {
        Ok(output) => Some(output),
        Err(error) => {
            send(Update::OutputFailed(crate::one_line(&error)));
            None
        }
    };
    let mut worker = Worker {
        client,
        output,
        send,
        volume: 1.0,
        quality: Quality::Auto,
        gain_mode: GainMode::default(),
        last_album: None,
        state: State::Idle,
        next: None,
        preload: None,
    };
    loop {
        // Commands first, without waiting.
        loop {
            match commands.try_recv() {
                Ok(Command::Quit) | Err(TryRecvError::Disconnected) => return worker.quit().await,
                Ok(command) => worker.command(command).await,
                Err(TryRecvError::Empty) => break,
            }
        }
        match &mut worker.state {
            State::Idle => match commands.recv().await {
                Some(Command::Quit) | None => return worker.quit().await,
                Some(command) => worker.command(command).await,
            },
            State::Starting { task, .. } => {
                tokio::select! {
                    command = commands.recv() => match command {
                        Some(Command::Quit) | None => return worker.quit().await,
                        Some(command) => worker.command(command).await,
                    },
                    started = task => worker.started(started),
                }
            }
            State::Playing(current) if current.paused => match commands.recv().await {
                Some(Command::Quit) | None => return worker.quit().await,
                Some(command) => worker.command(command).await,
            },
            State::Playing(current) if current.offset >= current.buffer.len() => {
                tokio::select! {
                    command = commands.recv() => match command {
                        Some(Command::Quit) | None => return worker.quit().await,
                        Some(command) => worker.command(command).await,
                    },
                    event = current.playback.next_event() => worker.event(event).await,
                }
            }
            State::Playing(_) => worker.play_piece().await,
        }
    }
}

impl Worker {
    async fn command(&mut self, command: Command) {
        match command {
            Command::Play(track) => {
                self.stop();
                self.start(track, false);
            }
            Command::SetNext(track) => {
                if self.next.as_ref().map(|t| &t.id) != track.as_ref().map(|t| &t.id) {
                    if let Some((_, task)) = self.preload.take() {
                        task.abort();
                    }
                    self.next = track;
                }
            }
            Command::TogglePause => {
                if let State::Playing(current) = &mut self.state {
                    current.paused = !current.paused;
                    if current.paused {
                        current.playback.pause();
                        if let Some(output) = &mut self.output {
                            output.pause();
                        }
                    } else {
                        current.playback.resume();
                        if let Some(output) = &mut self.output {
                            output.resume();
                        }
                    }
                    self.report_position(true);
                }
            }
            Command::SeekBy(delta_s) => {
                if let State::Playing(current) = &self.state {
                    let target = current.position_s + delta_s;
                    self.seek(target);
                }
            }
            Command::SeekTo(target_s) => self.seek(target_s),
            Command::Volume(volume) => self.volume = volume.clamp(0.0, VOLUME_MAX),
            Command::SetQuality(quality) => {
                self.quality = quality;
                if let State::Playing(current) = &self.state {
                    current.playback.set_quality(quality);
                }
            }
            Command::SetGainMode(mode) => self.gain_mode = mode,
            Command::Stop => self.stop(),
            Command::Quit => {}
        }
    }

    fn start(&mut self, track: Track, advanced: bool) {
        (self.send)(Update::Loading {
            track: Box::new(track.clone()),
            advanced,
        });
        let task = match self.preload.take() {
            Some((id, task)) if id == track.id => task,
            other => {
                if let Some((_, task)) = other {
                    task.abort();
                }
                self.open(&track)
            }
        };
        self.state = State::Starting {
            track: Box::new(track),
            task,
        };
    }

    fn open(&self, track: &Track) -> JoinHandle<Result<Playback, PlayerError>> {
        let client = self.client.clone();
        let id = track.id.clone();
        let options = PlayerOptions {
            quality: self.quality,
            ..PlayerOptions::default()
        };
        tokio::spawn(async move { Playback::start(client, &id, options).await })
    }

    fn started(&mut self, started: Result<Result<Playback, PlayerError>, tokio::task::JoinError>) {
        let State::Starting { track, .. } = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        match started {
            Ok(Ok(playback)) => {
                // Part of its album when the track before or after it is of the same one.
                let album = track.album_id.clone();
                let in_album = album.is_some()
                    && (self.last_album == album || self.next.as_ref().map(|t| &t.album_id) == Some(&album));
                let gain = track_gain(self.gain_mode, &track, in_album);
                self.last_album = album;
                tracing::info!(track = %track.id, session = %playback.session().session_id, gain, "playing");
                self.state = State::Playing(Box::new(Current {
                    track: *track,
                    playback,
                    buffer: Vec::new(),
                    offset: 0,
                    position_s: 0.0,
                    rendition: String::new(),
                    paused: false,
                    seeking: false,
                    skip_s: 0.0,
                    last_update: Instant::now(),
                    gain,
                }));
                if let Some(output) = &mut self.output {
                    output.resume();
                }
            }
            Ok(Err(error)) => self.failed(&track.id, error),
            Err(error) => self.failed(&track.id, PlayerError::Api(error.to_string())),
        }
    }

    async fn event(&mut self, event: Option<Event>) {
        let State::Playing(current) = &mut self.state else {
            return;
        };
        match event {
            Some(Event::Audio(chunk)) => {
                if current.seeking {
                    return;
                }
                if chunk.segment + 1 >= current.playback.segment_count() {
                    self.preload_next();
                }
                let State::Playing(current) = &mut self.state else {
                    return;
                };
                let skip = (current.skip_s.max(0.0) * f64::from(SAMPLE_RATE)) as usize * 2;
                current.skip_s = 0.0;
                current.offset = skip.min(chunk.samples.len());
                current.position_s = chunk.start_s + (current.offset / 2) as f64 / f64::from(SAMPLE_RATE);
                current.rendition = chunk.rendition;
                current.buffer = chunk.samples;
            }
            Some(Event::SegmentFailed {
                segment,
                duration_s,
                reason,
            }) => {
                tracing::warn!(segment, %reason, "segment skipped");
                if !current.seeking {
                    current.buffer = vec![0.0; (duration_s * f64::from(SAMPLE_RATE)) as usize * 2];
                    current.offset = 0;
                }
            }
            Some(Event::Seeked { start_s, .. }) => {
                current.seeking = false;
                current.skip_s -= start_s;
                current.position_s = start_s;
                current.playback.set_position(start_s);
            }
            Some(Event::Ended) => self.ended(),
            Some(Event::Failed(error)) => {
                let id = current.track.id.clone();
                self.state = State::Idle;
                self.failed(&id, error);
            }
            None => {
                let error = current.playback.abort_reason().unwrap_or(PlayerError::Stopped);
                let id = current.track.id.clone();
                self.state = State::Idle;
                self.failed(&id, error);
            }
        }
    }

    /// Hands the output the next 100 ms.
    async fn play_piece(&mut self) {
        let State::Playing(current) = &mut self.state else {
            return;
        };
        let volume = self.volume * current.gain;
        let piece_len = (PIECE_S * f64::from(SAMPLE_RATE)) as usize * 2;
        let end = (current.offset + piece_len).min(current.buffer.len());
        let piece: Vec<f32> = current.buffer[current.offset..end].iter().map(|s| s * volume).collect();
        current.offset = end;
        if let Some(output) = &mut self.output
            && let Err(error) = output.play(&piece, |_| true).await
        {
            (self.send)(Update::OutputFailed(crate::one_line(&error)));
            self.output = None;
        }
        if self.output.is_none() {
            // Nowhere to play: keep time anyway so the session stays honest.
            tokio::time::sleep(Duration::from_secs_f64(
                piece.len() as f64 / 2.0 / f64::from(SAMPLE_RATE),
            ))
            .await;
        }
        let State::Playing(current) = &mut self.state else {
            return;
        };
        current.position_s += piece.len() as f64 / 2.0 / f64::from(SAMPLE_RATE);
        current.playback.set_position(current.position_s);
        if let Some(error) = current.playback.abort_reason() {
            let id = current.track.id.clone();
            self.state = State::Idle;
            return self.failed(&id, error);
        }
        self.report_position(false);
    }

    /// Tells the UI where the playhead is: at most every [`POSITION_EVERY`]
    /// unless `now` (after a pause or a seek, which the UI shows at once).
    fn report_position(&mut self, now: bool) {
        let State::Playing(current) = &mut self.state else {
            return;
        };
        if let Some(quota) = current.playback.quota_changed() {
            (self.send)(Update::Quota(quota));
        }
        if !now && current.last_update.elapsed() < POSITION_EVERY {
            return;
        }
        current.last_update = Instant::now();
        (self.send)(Update::Position {
            track_id: current.track.id.clone(),
            position_s: current.position_s,
            rendition: current.rendition.clone(),
            paused: current.paused,
        });
    }

    fn seek(&mut self, target_s: f64) {
        let State::Playing(current) = &mut self.state else {
            return;
        };
        let duration = current.track.duration_s;
        let target = target_s.clamp(0.0, (duration - 1.0).max(0.0));
        let segments = current.playback.segment_count().max(1);
        let segment = ((target / duration.max(f64::EPSILON)) * segments as f64) as usize;
        current.playback.seek(segment.min(segments - 1));
        current.seeking = true;
        current.skip_s = target;
        current.position_s = target;
        current.buffer.clear();
        current.offset = 0;
        if let Some(output) = &mut self.output {
            output.flush();
        }
        self.report_position(true);
    }

    /// Opens the next track's session while the current one's last segment plays.
    fn preload_next(&mut self) {
        if self.preload.is_some() {
            return;
        }
        if let Some(next) = &self.next {
            tracing::info!(track = %next.id, "preloading the next track");
            self.preload = Some((next.id.clone(), self.open(next)));
        }
    }

    /// The engine handed out the last segment, and it has been played.
    fn ended(&mut self) {
        let State::Playing(current) = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        self.complete(*current);
        if let Some(next) = self.next.take() {
            self.start(next, true);
        }
    }

    /// Stops what plays and completes its session in the background.
    fn stop(&mut self) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Playing(current) => self.complete(*current),
            State::Starting { task, .. } => task.abort(),
            State::Idle => {}
        }
        if let Some(output) = &mut self.output {
            output.flush();
        }
    }

    /// Completes the session at the playhead in the background, reporting
    /// the quota after it.
    fn complete(&mut self, current: Current) {
        let Current { track, playback, .. } = current;
        let send = self.send.clone();
        tokio::spawn(async move {
            let quota = match playback.finish().await {
                Ok(finished) => Some(finished.quota),
                Err(error) => {
                    tracing::warn!(%error, "cannot complete the session");
                    None
                }
            };
            send(Update::Finished {
                track_id: track.id,
                quota,
            });
        });
    }

    fn failed(&mut self, track_id: &str, error: PlayerError) {
        tracing::warn!(track = track_id, %error, "playback failed");
        (self.send)(Update::Failed {
            track_id: track_id.to_string(),
            error,
        });
    }

    async fn quit(mut self) {
        // Quiet at once: what the sound card has queued is not played out.
        if let Some(output) = &mut self.output {
            output.flush();
        }
        if let State::Playing(current) = std::mem::replace(&mut self.state, State::Idle) {
            let Current { track, playback, .. } = *current;
            match tokio::time::timeout(FINISH_TIMEOUT, playback.finish()).await {
                Ok(Ok(finished)) => (self.send)(Update::Finished {
                    track_id: track.id,
                    quota: Some(finished.quota),
                }),
                Ok(Err(error)) => tracing::warn!(%error, "cannot complete the session"),
                Err(_) => tracing::warn!("completing the session timed out"),
            }
        }
        if let Some(output) = self.output.take()
            && let Err(error) = output.finish().await
        {
            tracing::error!("cannot close the audio output: {error:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::mpsc;

    use mist_core::api::CompleteUploadRequest;
    use mist_server::testing::upload::{upload_file, user_client, wait_for_job};
    use mist_server::testing::{Backend, spawn_app};

    use super::*;
    use crate::audio::WavWriter;

    const RATE: f64 = 44_100.0;
    const TONE_HZ: f64 = 997.0;
    const AMPLITUDE: f64 = 0.5;

    /// Sample `i` of one continuous tone (the same in both channels).
    fn tone(i: usize) -> f32 {
        (AMPLITUDE * (2.0 * std::f64::consts::PI * TONE_HZ * i as f64 / RATE).sin()) as f32
    }

    fn write_tone(path: &Path, samples: std::ops::Range<usize>) {
        let mut wav = WavWriter::create(path).expect("creates");
        let pcm: Vec<f32> = samples.flat_map(|i| [tone(i), tone(i)]).collect();
        wav.write(&pcm).expect("writes");
        wav.finish().expect("finishes");
    }

    async fn upload(client: &Client, path: &Path, title: &str) -> Track {
        let meta = CompleteUploadRequest {
            title: Some(title.into()),
            artist: Some("Tone".into()),
            ..CompleteUploadRequest::default()
        };
        let job = wait_for_job(client, &upload_file(client, path, meta).await, Duration::from_secs(120)).await;
        assert!(!job.track_id.is_empty(), "{job:?}");
        client.track(&job.track_id).await.expect("track")
    }

    /// Plays `tracks` (one or two) as a queue to `out` at `quality` with
    /// `gain`; returns the updates.
    fn play_queue(client: Client, out: &Path, tracks: &[Track], quality: Quality, gain: GainMode) -> Vec<Update> {
        let (tx, rx) = mpsc::channel();
        let player = Player::spawn(client, AudioOutput::Wav(out.to_path_buf()), move |update| {
            let _ = tx.send(update);
        })
        .expect("starts");
        player.send(Command::SetQuality(quality));
        player.send(Command::SetGainMode(gain));
        player.send(Command::Play(tracks[0].clone()));
        player.send(Command::SetNext(tracks.get(1).cloned()));
        let last = &tracks[tracks.len() - 1].id;
        let mut updates = Vec::new();
        loop {
            let update = rx.recv_timeout(Duration::from_secs(60)).expect("the player goes on");
            match &update {
                Update::Loading { track, advanced: true } => {
                    assert_eq!(&track.id, last);
                    player.send(Command::SetNext(None));
                }
                Update::Failed { error, .. } => panic!("playback failed: {error}"),
                Update::OutputFailed(error) => panic!("output failed: {error}"),
                _ => {}
            }
            let done = matches!(&update, Update::Finished { track_id, .. } if track_id == last);
            updates.push(update);
            if done {
                break;
            }
        }
        player.quit();
        updates
    }

    /// Gapless for real: one continuous tone cut into two uploads at a
    /// sample that is no MP3 frame boundary plays back through the queue as
    /// the tone itself: the same length, and every sample where the tone has
    /// it, across the join included.
    #[tokio::test(flavor = "multi_thread")]
    async fn one_tone_split_in_two_tracks_plays_back_as_the_tone() {
        let app = spawn_app(Backend::Sqlite).await;
        let client = user_client(&app, "gapless").await;
        let dir = tempfile::tempdir().expect("temp dir");
        // The first track is longer than a segment: its segment boundary
        // must not click either.
        let (split, total) = (317_527, 396_900);
        write_tone(&dir.path().join("first.wav"), 0..split);
        write_tone(&dir.path().join("second.wav"), split..total);
        let first = upload(&client, &dir.path().join("first.wav"), "First half").await;
        let second = upload(&client, &dir.path().join("second.wav"), "Second half").await;

        let out = dir.path().join("heard.wav");
        let queue = [first, second];
        let updates = tokio::task::spawn_blocking({
            let (client, out, queue) = (client.clone(), out.clone(), queue.clone());
            move || play_queue(client, &out, &queue, Quality::High, GainMode::Off)
        })
        .await
        .expect("the queue plays");
        assert!(
            updates
                .iter()
                .any(|u| matches!(u, Update::Loading { advanced: true, .. }))
        );

        let heard = mist_core::audio::decode_file(&out, Some("wav")).expect("a WAV");
        let left: Vec<f32> = heard.samples.iter().step_by(2).copied().collect();
        // Where the heard tone best matches the source around sample `at`:
        // 0 when the heard sample `i` is source sample `i`.
        let lag_at = |at: usize| -> i64 {
            let error = |lag: i64| -> f64 {
                (at..at + 2000)
                    .map(|i| {
                        let heard = left.get(i).copied().unwrap_or(0.0);
                        f64::from(heard - tone((i as i64 + lag).max(0) as usize)).powi(2)
                    })
                    .sum()
            };
            (-1500..1500)
                .min_by(|&a, &b| error(a).total_cmp(&error(b)))
                .unwrap_or(0)
        };
        let (start, join, end) = (lag_at(0), lag_at(split - 1000), lag_at(total - 2500));
        eprintln!(
            "heard {} samples of {total}; lag at the start {start}, across the join {join}, at the end {end}",
            left.len()
        );
        assert_eq!(left.len(), total, "the heard length is the source's");
        assert_eq!((start, join, end), (0, 0, 0), "every part where the source has it");
        // No click: around the join and the first track's segment boundary
        // the heard samples are as close to the tone as anywhere (192 kbit/s
        // MP3 of a pure tone).
        let worst = |around: usize| {
            (around - 1500..around + 1500)
                .map(|i| (left[i] - tone(i)).abs())
                .fold(0.0f32, f32::max)
        };
        let segment_boundary = mist_core::hls::SEGMENT_FRAMES * 1152 - 1105;
        let (inside, boundary, join) = (worst(100_000), worst(segment_boundary), worst(split));
        eprintln!(
            "largest difference from the tone: {inside:.4} inside, {boundary:.4} at the segment boundary, {join:.4} at the join"
        );
        assert!(
            boundary < 2.0 * inside + 0.01,
            "a click at the segment boundary: {boundary}"
        );
        assert!(join < 2.0 * inside + 0.01, "a click at the join: {join}");

        // ReplayGain: the same track with its gain applied is as much
        // quieter as the stored gain says (the tone is loud: the gain is negative).
        let [first, _] = &queue;
        let expected = crate::audio::gain::gain(first.track_gain_db, first.track_peak);
        assert!(expected < 0.9, "a loud tone is turned down: {first:?}");
        let quiet = dir.path().join("quiet.wav");
        tokio::task::spawn_blocking({
            let (client, quiet, track) = (client.clone(), quiet.clone(), first.clone());
            move || play_queue(client, &quiet, &[track], Quality::High, GainMode::Track)
        })
        .await
        .expect("the track plays");
        let quiet = mist_core::audio::decode_file(&quiet, Some("wav")).expect("a WAV");
        let rms = |s: &[f32]| (s.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
        let (on, off) = (rms(&quiet.samples), rms(&heard.samples[..split * 2]));
        eprintln!(
            "RMS {off:.4} as mastered, {on:.4} with track gain {:?} dB",
            first.track_gain_db
        );
        assert_eq!(quiet.samples.len(), split * 2);
        assert!(
            (on / off - f64::from(expected)).abs() < 0.01,
            "{on} / {off} is not {expected}"
        );
    }
}
