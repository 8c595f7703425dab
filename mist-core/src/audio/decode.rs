//! Decoding an uploaded file to 44.1 kHz stereo with symphonia.
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
//!
//! Then every track is made 44.1 kHz stereo: mono is duplicated to both sides,
//! more than two channels are folded down by speaker position, other rates are
//! resampled with [`resample_interleaved`].

use std::fs::File;
use std::io::Cursor;
use std::path::Path;

use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::codecs::audio::well_known::{CODEC_ID_MP1, CODEC_ID_MP2, CODEC_ID_MP3};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::well_known::METADATA_ID_ID3V1;
use symphonia::core::meta::{MetadataOptions, MetadataRevision, StandardTag};

use super::resample::resample_interleaved;
use super::{AudioError, DecodedAudio, SAMPLE_RATE, Tags};

/// Stop after this many packets in a row fail: the rest of the file is junk.
const MAX_CONSECUTIVE_ERRORS: usize = 64;

/// A shortfall against the container's announced length smaller than this
/// (seconds) is encoder padding or rounding, not truncation.
const TRUNCATION_TOLERANCE_S: f64 = 0.5;

/// Decodes the whole file at `path`. `ext_hint` (e.g. `"mp3"`, no dot) helps
/// the probe when the content is ambiguous; content always wins over the name.
pub fn decode_file(path: &Path, ext_hint: Option<&str>) -> Result<DecodedAudio, AudioError> {
    let file = File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Err(AudioError::Empty);
    }
    decode_source(Box::new(file), ext_hint)
}

/// Decodes a whole file held in memory. See [`decode_file`].
pub fn decode_bytes(bytes: Vec<u8>, ext_hint: Option<&str>) -> Result<DecodedAudio, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Empty);
    }
    decode_source(Box::new(Cursor::new(bytes)), ext_hint)
}

fn decode_source(source: Box<dyn MediaSource>, ext_hint: Option<&str>) -> Result<DecodedAudio, AudioError> {
    let mss = MediaSourceStream::new(source, Default::default());
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
    let options = AudioDecoderOptions::default().gapless(!length_is_estimate);
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &options)
        .map_err(|e| match e {
            SymphoniaError::Unsupported(_) => AudioError::Unsupported(format!(
                "its audio codec cannot be decoded (supported: MP3, AAC, ALAC, FLAC, Vorbis, PCM) ({e})"
            )),
            other => AudioError::Decode(other.to_string()),
        })?;

    let mut tags = TagCollector::default();
    tags.collect(format.as_mut());

    let mut runs: Vec<Run> = Vec::new();
    let mut scratch: Vec<f32> = Vec::new();
    let mut stats = Stats::default();
    let mut ended_early: Option<String> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            // A new chained Ogg stream: treat the first as the track.
            Err(SymphoniaError::ResetRequired) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                ended_early = Some("the data stops in the middle of a block".into());
                break;
            }
            Err(SymphoniaError::IoError(e)) => return Err(AudioError::Io(e)),
            Err(e) => {
                // The container itself is damaged past this point.
                ended_early = Some(format!("the data is damaged past this point ({e})"));
                break;
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                stats.ok += 1;
                stats.consecutive_errors = 0;
                if buf.frames() == 0 {
                    continue;
                }
                let spec = buf.spec();
                let (rate, channels) = (spec.rate(), spec.channels().clone());
                buf.copy_to_vec_interleaved::<f32>(&mut scratch);
                // Streams may change rate or layout midway (concatenated MP3s):
                // each run is converted on its own.
                if !matches!(runs.last(), Some(run) if run.rate == rate && run.channels == channels) {
                    runs.push(Run::new(rate, channels));
                }
                if let Some(run) = runs.last_mut() {
                    run.push(&scratch);
                }
            }
            Err(SymphoniaError::DecodeError(msg)) => {
                stats.errors += 1;
                stats.consecutive_errors += 1;
                stats.last_error = Some(msg.to_string());
                if stats.consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                    break;
                }
            }
            Err(SymphoniaError::IoError(e)) => {
                // Decoders report a packet shorter than its header says as I/O.
                stats.errors += 1;
                stats.consecutive_errors += 1;
                stats.last_error = Some(e.to_string());
                if stats.consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                    break;
                }
            }
            Err(SymphoniaError::ResetRequired) => decoder.reset(),
            Err(SymphoniaError::Unsupported(what)) => {
                return Err(AudioError::Unsupported(what.to_string()));
            }
            Err(e) => return Err(AudioError::Decode(e.to_string())),
        }
    }
    tags.collect(format.as_mut());

    let source_frames: u64 = runs.iter().map(|r| r.frames() as u64).sum();
    if source_frames == 0 {
        if let Some(reason) = ended_early {
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
    }
    if stats.errors > stats.ok {
        return Err(AudioError::Decode(format!(
            "{} of its {} blocks are damaged ({})",
            stats.errors,
            stats.errors + stats.ok,
            stats.last_error.unwrap_or_default()
        )));
    }

    let first = &runs[0];
    let (source_sample_rate, source_channels) = (first.rate, first.channels.count() as u16);
    let decoded_s = runs
        .iter()
        .map(|r| r.frames() as f64 / f64::from(r.rate.max(1)))
        .sum::<f64>();
    let short_of_declared = declared_frames
        .filter(|_| source_sample_rate > 0)
        .map(|declared| declared as f64 / f64::from(source_sample_rate))
        .filter(|declared_s| declared_s - decoded_s > TRUNCATION_TOLERANCE_S);
    let truncated = match (short_of_declared, ended_early) {
        (Some(declared_s), _) => Some(format!(
            "it ends after {decoded_s:.1} s of the {declared_s:.1} s its header announces"
        )),
        (None, Some(reason)) => Some(format!("it ends after {decoded_s:.1} s: {reason}")),
        (None, None) => None,
    };

    let mut samples = Vec::new();
    for run in runs {
        let stereo = resample_interleaved(&run.stereo, 2, run.rate, SAMPLE_RATE)?;
        samples.extend_from_slice(&stereo);
    }
    Ok(DecodedAudio {
        samples,
        tags: tags.finish(),
        source_sample_rate,
        source_channels,
        truncated,
    })
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

#[derive(Default)]
struct Stats {
    ok: usize,
    errors: usize,
    consecutive_errors: usize,
    last_error: Option<String>,
}

/// A stretch of decoded audio with one rate and layout, already folded to stereo.
struct Run {
    rate: u32,
    channels: Channels,
    /// Per source channel: (left gain, right gain).
    gains: Vec<(f32, f32)>,
    stereo: Vec<f32>,
}

impl Run {
    fn new(rate: u32, channels: Channels) -> Run {
        let gains = stereo_gains(&channels);
        Run {
            rate,
            channels,
            gains,
            stereo: Vec::new(),
        }
    }

    fn frames(&self) -> usize {
        self.stereo.len() / 2
    }

    fn push(&mut self, interleaved: &[f32]) {
        let n = self.gains.len();
        if n == 0 {
            return;
        }
        self.stereo.reserve(interleaved.len() / n * 2);
        if n == 2 {
            self.stereo.extend_from_slice(interleaved);
            return;
        }
        for frame in interleaved.chunks_exact(n) {
            let (mut l, mut r) = (0.0, 0.0);
            for (s, (gl, gr)) in frame.iter().zip(&self.gains) {
                l += s * gl;
                r += s * gr;
            }
            self.stereo.push(l);
            self.stereo.push(r);
        }
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
