//! The CPU side of an ingest: decode → features, loudness and three LAME
//! encoders → segmenter, each on its own thread, on bounded chunks.
//!
//! The decoder hands out about 0.74 s of 44.1 kHz stereo at a time; each
//! chunk goes (shared, not copied) to the feature extractor, the loudness
//! meter (EBU R128, `mist_core::library::loudness`) and the 64, 128 and
//! 192 kbit/s encoders through channels two chunks deep, their frames
//! to the segmenter, and each finished segment (one per rendition, on shared
//! boundaries) to the async side, which encrypts and stores it. Every channel
//! is bounded, so a slow stage holds the others back instead of letting data
//! pile up: memory is a few chunks and segments whatever the track's length.
//!
//! Everything stops at the next chunk when the job's cancel flag is set (its
//! claim was lost, its track deleted, its time ran out, the worker is
//! stopping) or when any stage fails; the first failure is the one reported.

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use mist_core::audio::{BITRATES_KBPS, DecodeLimits, DecodeReport, Mp3Encoder, SAMPLE_RATE, StreamDecoder};
use mist_core::features::{Extractor, FeatureError, Features};
use mist_core::hls::{Segment, Segmenter};
use mist_core::library::loudness::{Loudness, LoudnessError, LoudnessMeter};

use super::IngestError;
use super::JobProgress;

/// Chunks waiting for each consumer: enough to keep every thread busy.
const CHUNKS_IN_FLIGHT: usize = 2;

/// What the transcode learned besides the segments it handed over.
pub struct Transcoded {
    pub report: DecodeReport,
    /// Largest absolute sample value: silence is refused.
    pub peak: f32,
    pub features: Result<Features, FeatureError>,
    /// EBU R128 loudness of the decoded audio (what is played).
    pub loudness: Result<Loudness, LoudnessError>,
    pub segments: usize,
}

/// Frames from an encoder to the segmenter.
enum Frames {
    Some(usize, Vec<Vec<u8>>),
    End,
}

/// The first failure of any stage; the others stop when they see it.
struct FirstError {
    error: Mutex<Option<IngestError>>,
    progress: Arc<JobProgress>,
}

impl FirstError {
    fn set(&self, error: IngestError) {
        if let Ok(mut slot) = self.error.lock()
            && slot.is_none()
        {
            *slot = Some(error);
        }
        self.progress.stop();
    }

    fn take(&self) -> Option<IngestError> {
        self.error.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Transcodes the file at `path`, sending each segment set to `segments`.
/// Blocking: run it on a blocking thread. Progress (5–95 %) follows the
/// decoder through the file.
pub fn run(
    path: &Path,
    ext: Option<&str>,
    limits: DecodeLimits,
    progress: Arc<JobProgress>,
    segments: tokio::sync::mpsc::Sender<Vec<Segment>>,
) -> Result<Transcoded, IngestError> {
    let mut decoder = StreamDecoder::open_file(path, ext, limits)?;
    let failure = FirstError {
        error: Mutex::new(None),
        progress: progress.clone(),
    };
    let (result, features, loudness, segment_count) = std::thread::scope(|scope| {
        let (frames_tx, frames_rx) = sync_channel::<Frames>(4 * BITRATES_KBPS.len());
        let mut chunk_txs: Vec<SyncSender<Arc<Vec<f32>>>> = Vec::new();
        for (r, &kbps) in BITRATES_KBPS.iter().enumerate() {
            let (tx, rx) = sync_channel(CHUNKS_IN_FLIGHT);
            chunk_txs.push(tx);
            let (frames_tx, failure) = (frames_tx.clone(), &failure);
            spawn_named(scope, &format!("encode-{kbps}k"), move || {
                if let Err(e) = encode(r, kbps, &rx, &frames_tx, &failure.progress) {
                    failure.set(e);
                }
            });
        }
        drop(frames_tx);
        let (features_tx, features_rx) = sync_channel::<Arc<Vec<f32>>>(CHUNKS_IN_FLIGHT);
        let features = {
            let progress = &progress;
            spawn_named(scope, "features", move || {
                let mut extractor = Extractor::new();
                let mut failed = None;
                for chunk in features_rx {
                    if failed.is_none() && !progress.stopped() {
                        failed = extractor.push_stereo_44100(&chunk).err();
                    }
                }
                match failed {
                    Some(e) => Err(e),
                    // The whole-track steps are work for a result nobody wants.
                    None if progress.stopped() => Err(FeatureError::Empty),
                    None => extractor.finish(),
                }
            })
        };
        let (loudness_tx, loudness_rx) = sync_channel::<Arc<Vec<f32>>>(CHUNKS_IN_FLIGHT);
        let loudness = {
            let progress = &progress;
            spawn_named(scope, "loudness", move || {
                let mut meter = LoudnessMeter::default();
                let mut failed = None;
                for chunk in loudness_rx {
                    if failed.is_none() && !progress.stopped() {
                        failed = meter.add(&chunk).err();
                    }
                }
                match failed {
                    Some(e) => Err(e),
                    None => Ok(meter.finish()),
                }
            })
        };
        let segmenter = {
            let failure = &failure;
            spawn_named(scope, "segment", move || {
                match segment(frames_rx, &segments, &failure.progress) {
                    Ok(count) => count,
                    Err(e) => {
                        failure.set(e);
                        0
                    }
                }
            })
        };

        let mut peak = 0.0f32;
        let decoded = (|| {
            while let Some(chunk) = decoder.next_chunk()? {
                if progress.stopped() {
                    return Ok(());
                }
                peak = chunk.iter().fold(peak, |m, s| m.max(s.abs()));
                let chunk = Arc::new(chunk);
                for tx in chunk_txs.iter().chain([&features_tx, &loudness_tx]) {
                    // A closed channel: that stage failed and said why.
                    if tx.send(chunk.clone()).is_err() {
                        return Ok(());
                    }
                }
                progress.set((5.0 + 90.0 * decoder.progress()) as u8);
            }
            Ok::<(), IngestError>(())
        })();
        drop(chunk_txs);
        drop(features_tx);
        drop(loudness_tx);
        if let Err(e) = decoded {
            failure.set(e);
        }
        let features = features
            .join()
            .unwrap_or_else(|_| Err(FeatureError::Io("the feature thread panicked".into())));
        let loudness = loudness
            .join()
            .unwrap_or_else(|_| Err(LoudnessError::Meter("the loudness thread panicked".into())));
        let segment_count = segmenter.join().unwrap_or(0);
        ((peak, decoder), features, loudness, segment_count)
    });
    if let Some(error) = failure.take() {
        return Err(error);
    }
    if progress.stopped() {
        return Err(IngestError::Cancelled("the job was stopped".into()));
    }
    let (peak, decoder) = result;
    Ok(Transcoded {
        report: decoder.finish()?,
        peak,
        features,
        loudness,
        segments: segment_count,
    })
}

/// Spawns a scoped thread with a name (it shows in `top -H` and profiles).
fn spawn_named<'scope, 'env, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    name: &str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    // Naming cannot fail here (no NUL in our names); spawning can, when the
    // system is out of threads, and then there is nothing better to do.
    std::thread::Builder::new()
        .name(format!("ingest-{name}"))
        .spawn_scoped(scope, f)
        .unwrap_or_else(|e| panic!("cannot start the ingest thread {name}: {e}"))
}

/// One encoder thread: chunks in, whole frames out.
fn encode(
    r: usize,
    kbps: u32,
    chunks: &Receiver<Arc<Vec<f32>>>,
    frames: &SyncSender<Frames>,
    progress: &JobProgress,
) -> Result<(), IngestError> {
    let mut encoder = Mp3Encoder::new(kbps)?;
    for chunk in chunks {
        if progress.stopped() {
            return Ok(());
        }
        let mut out = Vec::new();
        encoder.encode(&chunk, &mut out)?;
        if !out.is_empty() && frames.send(Frames::Some(r, out)).is_err() {
            return Ok(());
        }
    }
    if progress.stopped() {
        return Ok(());
    }
    let mut out = Vec::new();
    encoder.finish(&mut out)?;
    // Closed channels mean the segmenter stopped and said why.
    let _ = frames.send(Frames::Some(r, out));
    let _ = frames.send(Frames::End);
    Ok(())
}

/// The segmenter thread: frames in, segment sets out to the packager.
fn segment(
    frames: Receiver<Frames>,
    sets: &tokio::sync::mpsc::Sender<Vec<Segment>>,
    progress: &JobProgress,
) -> Result<usize, IngestError> {
    let mut segmenter = Segmenter::new(BITRATES_KBPS.len(), SAMPLE_RATE);
    let mut ended = 0;
    let mut sent = 0;
    let mut send = |segmenter: &mut Segmenter| -> Result<bool, IngestError> {
        while let Some(set) = segmenter
            .next_segments()
            .map_err(|e| IngestError::Permanent(format!("encoding failed: {e}")))?
        {
            if progress.stopped() || sets.blocking_send(set).is_err() {
                return Ok(false);
            }
            sent += 1;
        }
        Ok(true)
    };
    for message in frames {
        match message {
            Frames::Some(r, list) => segmenter.push(r, list),
            Frames::End => ended += 1,
        }
        if !send(&mut segmenter)? {
            return Ok(0);
        }
    }
    // Every encoder said it ended, or some stopped early (then the job is
    // failing or cancelled anyway, and nothing more is cut).
    if ended == BITRATES_KBPS.len() {
        segmenter.finish();
        send(&mut segmenter)?;
    }
    Ok(sent)
}
