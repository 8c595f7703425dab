//! Decoding an uploaded file to 44.1 kHz stereo with symphonia, a chunk at a time.
//!
//! Owns the decisions about what an upload *is*:
//!
//! - **Not audio** ([`AudioError::NotAudio`]): symphonia finds no container it
//!   knows, the container has no audio track, or nothing in it decodes.
//! - **Empty** ([`AudioError::Empty`]): a zero-byte file, or a readable
//!   container that holds no samples.
//! - **Unsupported** ([`AudioError::Unsupported`]): a container we read with a
//!   codec we cannot decode (Opus in Ogg, for example).
//! - **Damaged** ([`AudioError::Decode`]): most packets fail to decode. A few bad
//!   packets are skipped (a glitch is better than a refusal), but junk that
//!   merely happens to contain an MP3 sync word is not accepted as a track.
//! - **Truncated**: when the data ends early — in the middle of a packet, or
//!   well short of the length the container announces — whatever decoded is
//!   returned with [`DecodedAudio::truncated`] set to a reason a person can read.
//!   The caller decides: the ingest worker fails the job with
//!   [`DecodedAudio::require_complete`], an analysis tool may use the part that
//!   is there. A file that ends before *any* audio is [`AudioError::Truncated`].
//!   A raw MP3 stream cut on a frame boundary is indistinguishable from a
//!   shorter song, so it decodes as one.
//! - **Too long** ([`AudioError::TooLong`]): more audio than
//!   [`DecodeLimits::max_duration_s`] allows. A container that announces its
//!   length is refused before anything is decoded; one that lies about it (or
//!   says nothing) is stopped as soon as the decoded audio passes the limit.
//!
//! Then every track is made 44.1 kHz stereo: mono is duplicated to both sides,
//! more than two channels are folded down by speaker position, other rates are
//! resampled with [`StreamResampler`].
//!
//! [`StreamDecoder`] does all this a chunk at a time, so memory stays the same
//! however long the file is; [`decode_file`] and [`decode_bytes`] gather the
//! chunks of a whole file for callers that want it in memory (short clips,
//! segments, tests).

use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::audio::well_known::{CODEC_ID_MP1, CODEC_ID_MP2, CODEC_ID_MP3};
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::well_known::METADATA_ID_ID3V1;
use symphonia::core::meta::{MetadataOptions, MetadataRevision, StandardTag};

use super::resample::StreamResampler;
use super::{AudioError, DecodedAudio, SAMPLE_RATE, Tags};

/// Stop after this many packets in a row fail: the rest of the file is junk.
const MAX_CONSECUTIVE_ERRORS: usize = 64;

/// A shortfall against the container's announced length smaller than this
/// (seconds) is encoder padding or rounding, not truncation.
const TRUNCATION_TOLERANCE_S: f64 = 0.5;

/// Stereo frames [`StreamDecoder::next_chunk`] gathers before handing them
/// over (about 0.74 s): large enough to keep per-chunk overhead low, small
/// enough that a chunk is half a megabyte.
pub const CHUNK_FRAMES: usize = 32_768;

/// Decodes the whole file at `path`. `ext_hint` (e.g. `"mp3"`, no dot) helps
/// the probe when the content is ambiguous; content always wins over the name.
pub fn decode_file(path: &Path, ext_hint: Option<&str>) -> Result<DecodedAudio, AudioError> {
    decode_all(StreamDecoder::open_file(path, ext_hint, DecodeLimits::default())?)
}

/// Decodes a whole file held in memory. See [`decode_file`].
pub fn decode_bytes(bytes: Vec<u8>, ext_hint: Option<&str>) -> Result<DecodedAudio, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Empty);
    }
    decode_all(StreamDecoder::open(
        Box::new(Cursor::new(bytes)),
        ext_hint,
        DecodeLimits::default(),
    )?)
}

fn decode_all(mut decoder: StreamDecoder) -> Result<DecodedAudio, AudioError> {
    let mut samples = Vec::new();
    while let Some(chunk) = decoder.next_chunk()? {
        samples.extend_from_slice(&chunk);
    }
    let report = decoder.finish()?;
    Ok(DecodedAudio {
        samples,
        tags: report.tags,
        source_sample_rate: report.source_sample_rate,
        source_channels: report.source_channels,
        truncated: report.truncated,
    })
}

/// What a decode may not exceed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DecodeLimits {
    /// Longest audio accepted, in seconds: checked against the length the
    /// container announces before anything is decoded, and against what has
    /// been decoded as it goes (a header may lie or say nothing).
    pub max_duration_s: Option<f64>,
}

/// What a finished decode learned about the file.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeReport {
    /// Tags found in the file.
    pub tags: Tags,
    /// The file's own sample rate before resampling.
    pub source_sample_rate: u32,
    /// The file's own channel count before up- or down-mixing.
    pub source_channels: u16,
    /// Stereo frames at [`SAMPLE_RATE`] handed out.
    pub frames: u64,
    /// See [`DecodedAudio::truncated`].
    pub truncated: Option<String>,
}

/// Decodes a file a chunk at a time into 44.1 kHz interleaved stereo, so
/// memory does not grow with the length of the audio.
///
/// Call [`StreamDecoder::next_chunk`] until it answers `None`, then
/// [`StreamDecoder::finish`] for the verdict on the whole file (not audio,
/// damaged, truncated) and its tags: some of those can only be known at the end.
pub struct StreamDecoder {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    declared_frames: Option<u64>,
    /// The sample rate the codec parameters announce.
    declared_rate: Option<u32>,
    max_frames: Option<u64>,
    max_duration_s: Option<f64>,
    tags: TagCollector,
    stats: Stats,
    run: Option<Run>,
    /// Source rate and channel count of the first run.
    first: Option<(u32, u16)>,
    /// Seconds of source audio decoded, over all runs.
    decoded_s: f64,
    source_frames: u64,
    frames_out: u64,
    ended_early: Option<String>,
    done: bool,
    scratch: Vec<f32>,
    stereo: Vec<f32>,
    position: Arc<AtomicU64>,
    byte_len: Option<u64>,
}

impl StreamDecoder {
    /// Opens the file at `path`. See [`StreamDecoder::open`].
    pub fn open_file(path: &Path, ext_hint: Option<&str>, limits: DecodeLimits) -> Result<Self, AudioError> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Err(AudioError::Empty);
        }
        Self::open(Box::new(file), ext_hint, limits)
    }

    /// Probes `source` and gets ready to decode its default audio track.
    /// Fails at once when the container announces more audio than
    /// `limits` allow.
    pub fn open(
        source: Box<dyn MediaSource>,
        ext_hint: Option<&str>,
        limits: DecodeLimits,
    ) -> Result<Self, AudioError> {
        let position = Arc::new(AtomicU64::new(0));
        let byte_len = source.byte_len();
        let counted = Counted {
            inner: source,
            position: position.clone(),
        };
        let mss = MediaSourceStream::new(Box::new(counted), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = ext_hint {
            hint.with_extension(ext.trim_start_matches('.'));
        }
        let mut format = symphonia::default::get_probe()
            .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
            .map_err(probe_error)?;

        let track = format
            .default_track(TrackType::Audio)
            .ok_or_else(|| AudioError::NotAudio("it has no audio track".into()))?;
        let track_id = track.id;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| AudioError::NotAudio("its audio track has no codec information".into()))?
            .clone();
        // Without a Xing/VBRI header symphonia *estimates* an MPEG audio stream's
        // length from its first 16 frames, and gapless decoding then silently cuts
        // off everything past the estimate: the end of a VBR file, or most of a
        // segment whose first frames were repacked at a higher bitrate. Such files
        // have no LAME tag, so there is no encoder delay to trim anyway: decode them
        // without trimming, and do not take the estimate for the announced length.
        let mpeg_audio = matches!(params.codec, CODEC_ID_MP1 | CODEC_ID_MP2 | CODEC_ID_MP3);
        let length_is_estimate = mpeg_audio && track.delay.is_none() && track.padding.is_none();
        let declared_frames = if length_is_estimate { None } else { track.num_frames };
        if let (Some(max_s), Some(frames), Some(rate)) = (limits.max_duration_s, declared_frames, params.sample_rate)
            && rate > 0
        {
            let declared_s = frames as f64 / f64::from(rate);
            if declared_s > max_s {
                return Err(AudioError::TooLong(format!(
                    "its header announces {} of audio; the limit is {}",
                    hours_minutes(declared_s),
                    hours_minutes(max_s)
                )));
            }
        }
        let options = AudioDecoderOptions::default().gapless(!length_is_estimate);
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &options)
            .map_err(|e| match e {
                SymphoniaError::Unsupported(_) => AudioError::Unsupported(format!(
                    "its audio codec cannot be decoded (supported: MP3, AAC, ALAC, FLAC, Vorbis, PCM) ({e})"
                )),
                other => AudioError::Decode(other.to_string()),
            })?;

        let mut tags = TagCollector::default();
        tags.collect(format.as_mut());
        Ok(StreamDecoder {
            format,
            decoder,
            track_id,
            declared_frames,
            declared_rate: params.sample_rate,
            max_frames: limits
                .max_duration_s
                .map(|s| (s.max(0.0) * f64::from(SAMPLE_RATE)).ceil() as u64),
            max_duration_s: limits.max_duration_s,
            tags,
            stats: Stats::default(),
            run: None,
            first: None,
            decoded_s: 0.0,
            source_frames: 0,
            frames_out: 0,
            ended_early: None,
            done: false,
            scratch: Vec::new(),
            stereo: Vec::new(),
            position,
            byte_len,
        })
    }

    /// The length the container announces, in seconds, when it announces one
    /// that is not an estimate.
    pub fn declared_duration_s(&self) -> Option<f64> {
        let rate = self.declared_rate.filter(|&r| r > 0)?;
        self.declared_frames.map(|f| f as f64 / f64::from(rate))
    }

    /// How far into the file reading has got, from 0 to 1 (0 when its
    /// length is unknown).
    pub fn progress(&self) -> f64 {
        match self.byte_len {
            Some(len) if len > 0 => (self.position.load(Ordering::Relaxed) as f64 / len as f64).min(1.0),
            _ => 0.0,
        }
    }

    /// The next stretch of 44.1 kHz interleaved stereo (about
    /// [`CHUNK_FRAMES`] frames; the last one shorter), or `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        let mut out = Vec::with_capacity(CHUNK_FRAMES * 2 + 8192);
        while !self.done && out.len() < CHUNK_FRAMES * 2 {
            self.step(&mut out)?;
        }
        self.frames_out += (out.len() / 2) as u64;
        if let Some(max) = self.max_frames
            && self.frames_out > max
        {
            return Err(AudioError::TooLong(format!(
                "it runs past the limit of {}",
                hours_minutes(self.max_duration_s.unwrap_or_default())
            )));
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// Reads and decodes one packet, appending stereo output to `out`.
    fn step(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let packet = match self.format.next_packet() {
            Ok(Some(packet)) => packet,
            // The end, or a new chained Ogg stream: treat the first as the track.
            Ok(None) | Err(SymphoniaError::ResetRequired) => return self.end(out),
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                self.ended_early = Some("the data stops in the middle of a block".into());
                return self.end(out);
            }
            Err(SymphoniaError::IoError(e)) => return Err(AudioError::Io(e)),
            Err(e) => {
                // The container itself is damaged past this point.
                self.ended_early = Some(format!("the data is damaged past this point ({e})"));
                return self.end(out);
            }
        };
        if packet.track_id != self.track_id {
            return Ok(());
        }
        match self.decoder.decode(&packet) {
            Ok(buf) => {
                self.stats.ok += 1;
                self.stats.consecutive_errors = 0;
                if buf.frames() == 0 {
                    return Ok(());
                }
                let spec = buf.spec();
                let (rate, channels) = (spec.rate(), spec.channels().clone());
                buf.copy_to_vec_interleaved::<f32>(&mut self.scratch);
                // Streams may change rate or layout midway (concatenated MP3s):
                // each run is converted on its own.
                if !matches!(&self.run, Some(run) if run.rate == rate && run.channels == channels) {
                    if let Some(mut run) = self.run.take() {
                        run.resampler.finish(out)?;
                    }
                    self.run = Some(Run::new(rate, channels)?);
                    self.first.get_or_insert((rate, spec.channels().count() as u16));
                }
                if let Some(run) = self.run.as_mut() {
                    let frames = run.fold(&self.scratch, &mut self.stereo);
                    self.source_frames += frames as u64;
                    self.decoded_s += frames as f64 / f64::from(run.rate.max(1));
                    run.resampler.push(&self.stereo, out)?;
                }
            }
            Err(SymphoniaError::DecodeError(msg)) => self.stats.error(msg.to_string()),
            // Decoders report a packet shorter than its header says as I/O.
            Err(SymphoniaError::IoError(e)) => self.stats.error(e.to_string()),
            Err(SymphoniaError::ResetRequired) => self.decoder.reset(),
            Err(SymphoniaError::Unsupported(what)) => {
                return Err(AudioError::Unsupported(what.to_string()));
            }
            Err(e) => return Err(AudioError::Decode(e.to_string())),
        }
        if self.stats.consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
            return self.end(out);
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.done = true;
        if let Some(mut run) = self.run.take() {
            run.resampler.finish(out)?;
        }
        Ok(())
    }

    /// The verdict on the whole file, once [`StreamDecoder::next_chunk`] has
    /// answered `None`: an error when nothing decoded or most of it was
    /// damaged, else the tags and whether the file ended early.
    pub fn finish(mut self) -> Result<DecodeReport, AudioError> {
        self.tags.collect(self.format.as_mut());
        let stats = self.stats;
        let Some((source_sample_rate, source_channels)) = self.first.filter(|_| self.source_frames > 0) else {
            if let Some(reason) = self.ended_early {
                return Err(AudioError::Truncated(format!("it ends before any audio ({reason})")));
            }
            if stats.errors > 0 {
                return Err(AudioError::NotAudio(format!(
                    "none of its {} blocks decode as audio ({})",
                    stats.errors,
                    stats.last_error.unwrap_or_default()
                )));
            }
            return Err(AudioError::Empty);
        };
        if stats.errors > stats.ok {
            return Err(AudioError::Decode(format!(
                "{} of its {} blocks are damaged ({})",
                stats.errors,
                stats.errors + stats.ok,
                stats.last_error.unwrap_or_default()
            )));
        }
        let decoded_s = self.decoded_s;
        let short_of_declared = self
            .declared_frames
            .filter(|_| source_sample_rate > 0)
            .map(|declared| declared as f64 / f64::from(source_sample_rate))
            .filter(|declared_s| declared_s - decoded_s > TRUNCATION_TOLERANCE_S);
        let truncated = match (short_of_declared, self.ended_early) {
            (Some(declared_s), _) => Some(format!(
                "it ends after {decoded_s:.1} s of the {declared_s:.1} s its header announces"
            )),
            (None, Some(reason)) => Some(format!("it ends after {decoded_s:.1} s: {reason}")),
            (None, None) => None,
        };
        Ok(DecodeReport {
            tags: self.tags.finish(),
            source_sample_rate,
            source_channels,
            frames: self.frames_out,
            truncated,
        })
    }
}

/// `3 h 00 min`, `4 min 10 s`: a length as a person reads it.
fn hours_minutes(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h} h {m:02} min")
    } else {
        format!("{m} min {s:02} s")
    }
}

/// A media source that keeps its read position where the decoder's owner
/// can see it (for progress).
struct Counted {
    inner: Box<dyn MediaSource>,
    position: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Seek for Counted {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let at = self.inner.seek(pos)?;
        self.position.store(at, Ordering::Relaxed);
        Ok(at)
    }
}

impl MediaSource for Counted {
    fn is_seekable(&self) -> bool {
        self.inner.is_seekable()
    }

    fn byte_len(&self) -> Option<u64> {
        self.inner.byte_len()
    }
}

fn probe_error(e: SymphoniaError) -> AudioError {
    match e {
        SymphoniaError::Unsupported(_) => AudioError::NotAudio("no known container format found".into()),
        SymphoniaError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            AudioError::Truncated("it ends inside its header".into())
        }
        SymphoniaError::IoError(e) => AudioError::Io(e),
        SymphoniaError::DecodeError(msg) => AudioError::NotAudio(format!("its header is damaged or not audio ({msg})")),
        other => AudioError::NotAudio(other.to_string()),
    }
}

#[derive(Default, Clone)]
struct Stats {
    ok: usize,
    errors: usize,
    consecutive_errors: usize,
    last_error: Option<String>,
}

impl Stats {
    fn error(&mut self, message: String) {
        self.errors += 1;
        self.consecutive_errors += 1;
        self.last_error = Some(message);
    }
}

/// A stretch of decoded audio with one rate and layout: folded to stereo,
/// then resampled to [`SAMPLE_RATE`].
struct Run {
    rate: u32,
    channels: Channels,
    /// Per source channel: (left gain, right gain).
    gains: Vec<(f32, f32)>,
    resampler: StreamResampler,
}

impl Run {
    fn new(rate: u32, channels: Channels) -> Result<Run, AudioError> {
        let gains = stereo_gains(&channels);
        Ok(Run {
            rate,
            channels,
            gains,
            resampler: StreamResampler::new(2, rate, SAMPLE_RATE)?,
        })
    }

    /// Folds interleaved source frames to stereo in `stereo` (replacing what
    /// it held); returns the number of frames.
    fn fold(&self, interleaved: &[f32], stereo: &mut Vec<f32>) -> usize {
        stereo.clear();
        let n = self.gains.len();
        if n == 0 {
            return 0;
        }
        if n == 2 {
            stereo.extend_from_slice(interleaved);
            return interleaved.len() / 2;
        }
        stereo.reserve(interleaved.len() / n * 2);
        for frame in interleaved.chunks_exact(n) {
            let (mut l, mut r) = (0.0, 0.0);
            for (s, (gl, gr)) in frame.iter().zip(&self.gains) {
                l += s * gl;
                r += s * gr;
            }
            stereo.push(l);
            stereo.push(r);
        }
        stereo.len() / 2
    }
}

/// How each source channel contributes to left and right.
///
/// Mono goes to both sides at full level. For more than two channels, front
/// left/right count fully, centre and surround channels at -3 dB, LFE not at
/// all (the usual ITU-R BS.775 fold-down), then both sides are scaled so a
/// full-scale input cannot clip.
fn stereo_gains(channels: &Channels) -> Vec<(f32, f32)> {
    const M3DB: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let count = channels.count();
    let raw: Vec<(f32, f32)> = match (count, channels) {
        (0, _) => return Vec::new(),
        (1, _) => return vec![(1.0, 1.0)],
        (2, _) => return vec![(1.0, 0.0), (0.0, 1.0)],
        (_, Channels::Positioned(positions)) => (0..64)
            .map(|bit| 1u64 << bit)
            .filter(|bit| positions.bits() & bit != 0)
            .map(|bit| {
                let p = Position::from_bits_truncate(bit);
                if p == Position::FRONT_LEFT {
                    (1.0, 0.0)
                } else if p == Position::FRONT_RIGHT {
                    (0.0, 1.0)
                } else if p.intersects(Position::LFE1 | Position::LFE2) {
                    (0.0, 0.0)
                } else if p.intersects(
                    Position::REAR_LEFT
                        | Position::FRONT_LEFT_CENTER
                        | Position::SIDE_LEFT
                        | Position::TOP_FRONT_LEFT
                        | Position::TOP_REAR_LEFT
                        | Position::TOP_SIDE_LEFT
                        | Position::BOTTOM_FRONT_LEFT
                        | Position::FRONT_LEFT_WIDE,
                ) {
                    (M3DB, 0.0)
                } else if p.intersects(
                    Position::REAR_RIGHT
                        | Position::FRONT_RIGHT_CENTER
                        | Position::SIDE_RIGHT
                        | Position::TOP_FRONT_RIGHT
                        | Position::TOP_REAR_RIGHT
                        | Position::TOP_SIDE_RIGHT
                        | Position::BOTTOM_FRONT_RIGHT
                        | Position::FRONT_RIGHT_WIDE,
                ) {
                    (0.0, M3DB)
                } else {
                    (M3DB, M3DB) // the centres
                }
            })
            .collect(),
        // Unlabelled channels: alternate sides, the usual interleaving convention.
        (n, _) => (0..n)
            .map(|i| if i % 2 == 0 { (1.0, 0.0) } else { (0.0, 1.0) })
            .collect(),
    };
    let left: f32 = raw.iter().map(|g| g.0).sum();
    let right: f32 = raw.iter().map(|g| g.1).sum();
    let scale = left.max(right).max(1.0);
    raw.into_iter().map(|(l, r)| (l / scale, r / scale)).collect()
}

/// Gathers title/artist/album/genre from every metadata revision. The first
/// value found wins, except that ID3v1 (30 characters, often stale) only fills
/// what nothing else provides.
#[derive(Default)]
struct TagCollector {
    main: Tags,
    id3v1: Tags,
}

impl TagCollector {
    fn collect(&mut self, format: &mut dyn FormatReader) {
        let mut metadata = format.metadata();
        loop {
            if let Some(revision) = metadata.current() {
                let target = if revision.info.metadata == METADATA_ID_ID3V1 {
                    &mut self.id3v1
                } else {
                    &mut self.main
                };
                apply_revision(target, revision);
            }
            if metadata.pop().is_none() {
                break;
            }
        }
    }

    fn finish(self) -> Tags {
        let Tags {
            title,
            artist,
            album,
            genre,
        } = self.id3v1;
        Tags {
            title: self.main.title.or(title),
            artist: self.main.artist.or(artist),
            album: self.main.album.or(album),
            genre: self.main.genre.or(genre),
        }
    }
}

fn apply_revision(tags: &mut Tags, revision: &MetadataRevision) {
    let all = revision
        .media
        .tags
        .iter()
        .chain(revision.per_track.iter().flat_map(|t| t.metadata.tags.iter()));
    for tag in all {
        let (slot, value) = match &tag.std {
            Some(StandardTag::TrackTitle(v)) => (&mut tags.title, v),
            Some(StandardTag::Artist(v)) => (&mut tags.artist, v),
            Some(StandardTag::Album(v)) => (&mut tags.album, v),
            Some(StandardTag::Genre(v)) => (&mut tags.genre, v),
            _ => continue,
        };
        let value = value.trim().trim_matches('\0').trim();
        if slot.is_none() && !value.is_empty() {
            *slot = Some(value.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16-bit PCM WAV file in memory.
    fn wav(rate: u32, channels: u16, frames: &[Vec<i16>]) -> Vec<u8> {
        let data_len = (frames.len() * usize::from(channels) * 2) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
        out.extend_from_slice(&(channels * 2).to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for frame in frames {
            for s in frame {
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
        out
    }

    fn sine(freq: f32, rate: u32, n: usize, amp: f32) -> Vec<i16> {
        (0..n)
            .map(|i| (amp * 32767.0 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin()) as i16)
            .collect()
    }

    #[test]
    fn stereo_44k1_wav_decodes_sample_exact() {
        let l = sine(440.0, 44_100, 4410, 0.5);
        let r = sine(660.0, 44_100, 4410, 0.25);
        let frames: Vec<Vec<i16>> = l.iter().zip(&r).map(|(&a, &b)| vec![a, b]).collect();
        let audio = decode_bytes(wav(44_100, 2, &frames), Some("wav")).unwrap();
        assert_eq!(audio.frames(), 4410);
        assert_eq!((audio.source_sample_rate, audio.source_channels), (44_100, 2));
        assert_eq!(audio.truncated, None);
        for (i, (&a, &b)) in l.iter().zip(&r).enumerate().step_by(97) {
            assert!((audio.samples[2 * i] - f32::from(a) / 32768.0).abs() < 1e-4);
            assert!((audio.samples[2 * i + 1] - f32::from(b) / 32768.0).abs() < 1e-4);
        }
    }

    #[test]
    fn mono_22k_is_duplicated_and_resampled() {
        let m = sine(1000.0, 22_050, 22_050, 0.5);
        let frames: Vec<Vec<i16>> = m.iter().map(|&s| vec![s]).collect();
        let audio = decode_bytes(wav(22_050, 1, &frames), None).unwrap();
        assert_eq!((audio.source_sample_rate, audio.source_channels), (22_050, 1));
        assert!((audio.frames() as i64 - 44_100).abs() <= 1, "{} frames", audio.frames());
        assert!(audio.samples.chunks_exact(2).all(|lr| lr[0] == lr[1]));
        assert!((audio.duration_s() - 1.0).abs() < 0.001);
    }

    #[test]
    fn surround_is_folded_down_without_clipping() {
        // A plain 4-channel WAV is FL, FR, FC, LFE. Full-scale centre may not clip,
        // the LFE is dropped, and front left/right stay on their sides.
        let s = 1.0 + std::f32::consts::FRAC_1_SQRT_2;
        let loud = decode_bytes(wav(44_100, 4, &vec![vec![32767i16; 4]; 100]), None).unwrap();
        assert_eq!(loud.source_channels, 4);
        assert!(
            loud.samples.iter().all(|x| x.abs() <= 1.0 && *x > 0.99),
            "{:?}",
            &loud.samples[..2]
        );
        let sides = decode_bytes(wav(44_100, 4, &vec![vec![32767i16, -32767, 0, 32767]; 100]), None).unwrap();
        assert!((sides.samples[0] - 1.0 / s).abs() < 1e-3, "{:?}", &sides.samples[..2]);
        assert!((sides.samples[1] + 1.0 / s).abs() < 1e-3, "{:?}", &sides.samples[..2]);
    }

    #[test]
    fn positioned_5_1_gains() {
        let ch = Channels::Positioned(
            Position::FRONT_LEFT
                | Position::FRONT_RIGHT
                | Position::FRONT_CENTER
                | Position::LFE1
                | Position::REAR_LEFT
                | Position::REAR_RIGHT,
        );
        let g = stereo_gains(&ch);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let s = 1.0 + 2.0 * h;
        let expected = [(1.0, 0.0), (0.0, 1.0), (h, h), (0.0, 0.0), (h, 0.0), (0.0, h)];
        for ((l, r), (el, er)) in g.iter().zip(expected) {
            assert!((l - el / s).abs() < 1e-3 && (r - er / s).abs() < 1e-3, "{g:?}");
        }
    }

    #[test]
    fn text_is_not_audio_with_a_readable_message() {
        let text = b"Hello, this is definitely not an MP3 file.\n".repeat(200);
        let err = decode_bytes(text, Some("mp3")).unwrap_err();
        assert!(matches!(err, AudioError::NotAudio(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the file is not audio: no known container format found"
        );
    }

    #[test]
    fn empty_input_and_empty_wav_are_empty() {
        assert!(matches!(decode_bytes(Vec::new(), None), Err(AudioError::Empty)));
        let err = decode_bytes(wav(44_100, 2, &[]), Some("wav")).unwrap_err();
        assert!(matches!(err, AudioError::Empty), "{err:?}");
    }

    #[test]
    fn cut_off_wav_decodes_what_is_there_and_says_so() {
        let m = sine(440.0, 44_100, 44_100 * 3, 0.5);
        let frames: Vec<Vec<i16>> = m.iter().map(|&s| vec![s, s]).collect();
        let mut bytes = wav(44_100, 2, &frames);
        bytes.truncate(44 + 4 * 44_100); // keep the header and one second
        let audio = decode_bytes(bytes, Some("wav")).unwrap();
        assert!((audio.duration_s() - 1.0).abs() < 0.05, "{}", audio.duration_s());
        let reason = audio.truncated.clone().expect("must be flagged as truncated");
        assert!(reason.contains("of the 3.0 s"), "{reason}");
        assert!(matches!(audio.require_complete(), Err(AudioError::Truncated(_))));
    }

    #[test]
    fn header_only_wav_is_truncated_or_empty() {
        let m = sine(440.0, 44_100, 1000, 0.5);
        let frames: Vec<Vec<i16>> = m.iter().map(|&s| vec![s, s]).collect();
        let mut bytes = wav(44_100, 2, &frames);
        bytes.truncate(44);
        let err = decode_bytes(bytes, Some("wav")).unwrap_err();
        assert!(matches!(err, AudioError::Truncated(_) | AudioError::Empty), "{err:?}");
    }

    #[test]
    fn missing_file_is_io() {
        let err = decode_file(Path::new("/nonexistent/mist/test.mp3"), None).unwrap_err();
        assert!(matches!(err, AudioError::Io(_)), "{err:?}");
    }
}
