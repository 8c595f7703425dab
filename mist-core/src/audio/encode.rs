//! MP3 renditions with LAME (feature `encode`).
//!
//! Owns the encoder settings of the three renditions: 44.1 kHz joint stereo
//! CBR at 64, 128 and 192 kbit/s, no Xing/LAME tag frame and no ID3 tag (the
//! segmenter writes its own), returned as individual frames.
//!
//! # Frame alignment across renditions
//!
//! LAME puts 576 samples of encoder delay before the audio and pads the end to
//! a whole frame; a decoder adds 529 more samples of delay, so decoded audio
//! lags the source by 1105 samples (25 ms) in every rendition. Both the delay
//! and the frame count depend only on the number of input samples and the
//! sample rate, never on the bitrate, and the output rate is pinned to 44.1 kHz
//! (LAME would otherwise pick 32 kHz for 64 kbit/s). So frame `i` covers the
//! same samples in every rendition and segment boundaries (every
//! [`SEGMENT_FRAMES`](crate::hls::SEGMENT_FRAMES) frames) coincide. The delay
//! is not trimmed: it is the same everywhere, inaudible, and trimming would
//! need a partial first frame.
//!
//! # Bit reservoir
//!
//! Ideally LAME would run with the bit reservoir disabled so that every frame
//! decodes on its own. The safe `mp3lame-encoder` API has no switch for it
//! (`lame_set_disable_reservoir` needs `unsafe`, which this workspace forbids),
//! so [`crate::hls::segment_frames`] repacks the frames at each segment start
//! instead; the result is the same for the player.

use std::num::NonZeroU32;

use mp3lame_encoder::{Bitrate, Builder, FlushGap, InterleavedPcm, Mode, Quality, VbrMode};

use super::{AudioError, DecodedAudio, SAMPLE_RATE};
use crate::hls::segment::{FrameError, FrameHeader};

/// The renditions every track gets, in kbit/s.
pub const BITRATES_KBPS: [u32; 3] = [64, 128, 192];

/// Samples of silence before the source's first sample in a decoded
/// rendition: LAME's 576 of encoder delay and the decoder's 529 (see the
/// module docs). The player drops them (the `#EXT-X-MIST-TRIM` playlist tag).
pub const DECODED_DELAY: u64 = 1105;

/// Samples after the source's last one in a decoded rendition of
/// `mp3_frames` frames made from `source_frames` samples: LAME's padding of
/// the last frame (and its flush frame).
pub fn padding(source_frames: u64, mp3_frames: usize) -> u64 {
    (mp3_frames as u64 * 1152).saturating_sub(DECODED_DELAY + source_frames)
}

/// A rendition's MP3 frames in order, one `Vec<u8>` per frame.
pub type Mp3Frames = Vec<Vec<u8>>;

/// Stereo frames handed to LAME per call; any size works, this bounds the buffer.
const CHUNK_FRAMES: usize = 1152 * 64;

/// One CBR MP3 encoder at a rendition bitrate, fed PCM a chunk at a time.
///
/// LAME hands back bytes as its look-ahead allows; [`Mp3Encoder::encode`]
/// returns only the whole frames among them and keeps a frame that is not
/// complete yet for the next call, so memory is one chunk's output however
/// long the track.
pub struct Mp3Encoder {
    encoder: mp3lame_encoder::Encoder,
    kbps: u32,
    /// Encoded bytes not yet split into frames (at most a partial frame between calls).
    pending: Vec<u8>,
}

impl Mp3Encoder {
    /// A 44.1 kHz joint stereo encoder at `kbps` (one of the Layer III bitrates).
    pub fn new(kbps: u32) -> Result<Self, AudioError> {
        let bitrate = match kbps {
            64 => Bitrate::Kbps64,
            96 => Bitrate::Kbps96,
            128 => Bitrate::Kbps128,
            160 => Bitrate::Kbps160,
            192 => Bitrate::Kbps192,
            256 => Bitrate::Kbps256,
            320 => Bitrate::Kbps320,
            other => {
                return Err(AudioError::Encode(format!("{other} kbit/s is not a rendition bitrate")));
            }
        };
        let setting = |what: &str, e: mp3lame_encoder::BuildError| {
            AudioError::Encode(format!("LAME rejected the {what} setting: {e}"))
        };
        let mut builder =
            Builder::new().ok_or_else(|| AudioError::Encode("LAME could not allocate an encoder".into()))?;
        builder.set_num_channels(2).map_err(|e| setting("channel count", e))?;
        builder
            .set_sample_rate(SAMPLE_RATE)
            .map_err(|e| setting("input sample rate", e))?;
        builder
            .set_output_sample_rate(NonZeroU32::new(SAMPLE_RATE))
            .map_err(|e| setting("output sample rate", e))?;
        builder.set_brate(bitrate).map_err(|e| setting("bitrate", e))?;
        builder.set_vbr_mode(VbrMode::Off).map_err(|e| setting("CBR mode", e))?;
        builder
            .set_mode(Mode::JointStereo)
            .map_err(|e| setting("joint stereo", e))?;
        // LAME's own default (-q 3): near its best quality at a fraction of -q 0's time.
        builder
            .set_quality(Quality::VeryNice)
            .map_err(|e| setting("quality", e))?;
        // No Xing/LAME frame: it would be a silent frame (or a blank placeholder)
        // at the start of the first segment and skew frame alignment.
        builder.set_to_write_vbr_tag(false).map_err(|e| setting("VBR tag", e))?;
        let encoder = builder.build().map_err(|e| setting("combined", e))?;
        Ok(Mp3Encoder {
            encoder,
            kbps,
            pending: Vec::new(),
        })
    }

    /// The bitrate in kbit/s.
    pub fn kbps(&self) -> u32 {
        self.kbps
    }

    /// Encodes interleaved stereo `pcm` and appends the frames that are
    /// complete to `frames`.
    pub fn encode(&mut self, pcm: &[f32], frames: &mut Mp3Frames) -> Result<(), AudioError> {
        for chunk in pcm.chunks(CHUNK_FRAMES * 2) {
            self.pending
                .reserve(mp3lame_encoder::max_required_buffer_size(chunk.len() / 2));
            self.encoder
                .encode_to_vec(InterleavedPcm(chunk), &mut self.pending)
                .map_err(|e| AudioError::Encode(e.to_string()))?;
            self.take_frames(frames)?;
        }
        Ok(())
    }

    /// Flushes LAME's look-ahead and the padded last frame into `frames`.
    pub fn finish(mut self, frames: &mut Mp3Frames) -> Result<(), AudioError> {
        // At most 7200 bytes.
        self.pending
            .reserve(mp3lame_encoder::max_required_buffer_size(1152 * 2));
        self.encoder
            .flush_to_vec::<FlushGap>(&mut self.pending)
            .map_err(|e| AudioError::Encode(e.to_string()))?;
        self.take_frames(frames)?;
        if !self.pending.is_empty() {
            return Err(AudioError::Encode(format!(
                "LAME output ends with {} bytes that are not a whole frame",
                self.pending.len()
            )));
        }
        Ok(())
    }

    /// Moves the whole frames at the front of `pending` to `frames`.
    fn take_frames(&mut self, frames: &mut Mp3Frames) -> Result<(), AudioError> {
        let mut pos = 0;
        while pos + 4 <= self.pending.len() {
            let header = FrameHeader::parse(&self.pending[pos..])
                .ok_or_else(|| AudioError::Encode(format!("LAME output: {}", FrameError::NoHeader(pos))))?;
            let len = header.frame_len();
            let Some(frame) = self.pending.get(pos..pos + len) else {
                break;
            };
            frames.push(frame.to_vec());
            pos += len;
        }
        self.pending.drain(..pos);
        Ok(())
    }
}

/// Encodes `audio` as CBR MP3 at `kbps` and returns its frames in order (one
/// `Vec<u8>` per 1152-sample frame, the last padded with silence).
pub fn encode_mp3_frames(audio: &DecodedAudio, kbps: u32) -> Result<Mp3Frames, AudioError> {
    let mut encoder = Mp3Encoder::new(kbps)?;
    let mut frames = Vec::with_capacity(audio.frames() / 1152 + 4);
    encoder.encode(&audio.samples, &mut frames)?;
    encoder.finish(&mut frames)?;
    Ok(frames)
}

/// Encodes all [`BITRATES_KBPS`] renditions in parallel, one thread each (LAME
/// is single-threaded and its encoders are independent), returned in
/// `BITRATES_KBPS` order as `(kbps, frames)`.
pub fn encode_renditions(audio: &DecodedAudio) -> Result<Vec<(u32, Mp3Frames)>, AudioError> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = BITRATES_KBPS
            .iter()
            .map(|&kbps| scope.spawn(move || encode_mp3_frames(audio, kbps).map(|f| (kbps, f))))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| AudioError::Encode("an encoder thread panicked".into()))?
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Tags;
    use crate::hls::segment::MpegVersion;

    fn tone(seconds: f64) -> DecodedAudio {
        let n = (seconds * 44_100.0) as usize;
        let samples = (0..n)
            .flat_map(|i| {
                let t = i as f32 / 44_100.0;
                [
                    0.4 * (2.0 * std::f32::consts::PI * 440.0 * t).sin(),
                    0.4 * (2.0 * std::f32::consts::PI * 554.37 * t).sin(),
                ]
            })
            .collect();
        DecodedAudio {
            samples,
            tags: Tags::default(),
            source_sample_rate: 44_100,
            source_channels: 2,
            truncated: None,
        }
    }

    #[test]
    fn frames_are_cbr_44k1_layer3_at_the_asked_bitrate() {
        let audio = tone(2.0);
        for kbps in BITRATES_KBPS {
            let frames = encode_mp3_frames(&audio, kbps).unwrap();
            // 88 200 samples + 576 delay, padded to whole frames (+ LAME's flush frame).
            assert!((78..=80).contains(&frames.len()), "{kbps}k: {} frames", frames.len());
            for f in &frames {
                let h = FrameHeader::parse(f).unwrap();
                assert_eq!(
                    (h.version, h.sample_rate, h.bitrate_kbps),
                    (MpegVersion::Mpeg1, 44_100, kbps)
                );
                assert_eq!(f.len(), h.frame_len());
            }
        }
    }

    #[test]
    fn frame_count_depends_only_on_length() {
        for seconds in [0.01, 1.0, 3.3] {
            let audio = tone(seconds);
            let counts: Vec<usize> = encode_renditions(&audio)
                .unwrap()
                .iter()
                .map(|(_, f)| f.len())
                .collect();
            assert!(counts.windows(2).all(|w| w[0] == w[1]), "{seconds} s: {counts:?}");
        }
    }

    #[test]
    fn renditions_come_back_in_order() {
        let r = encode_renditions(&tone(0.5)).unwrap();
        assert_eq!(r.iter().map(|(k, _)| *k).collect::<Vec<_>>(), BITRATES_KBPS);
    }

    #[test]
    fn feeding_in_pieces_gives_the_same_frames() {
        let audio = tone(3.0);
        let whole = encode_mp3_frames(&audio, 128).unwrap();
        let mut encoder = Mp3Encoder::new(128).unwrap();
        let mut pieces = Vec::new();
        for part in audio.samples.chunks(2 * 777) {
            encoder.encode(part, &mut pieces).unwrap();
        }
        encoder.finish(&mut pieces).unwrap();
        assert_eq!(pieces, whole);
    }

    #[test]
    fn odd_bitrates_are_refused() {
        assert!(matches!(encode_mp3_frames(&tone(0.1), 100), Err(AudioError::Encode(_))));
    }
}

#[cfg(test)]
mod delay {
    use super::*;
    use crate::audio::Tags;

    /// A 997 Hz tone, the same in both channels.
    fn sine(frames: usize) -> DecodedAudio {
        let samples = (0..frames)
            .flat_map(|i| {
                let v = 0.5 * (2.0 * std::f32::consts::PI * 997.0 * i as f32 / 44_100.0).sin();
                [v, v]
            })
            .collect();
        DecodedAudio {
            samples,
            tags: Tags::default(),
            source_sample_rate: 44_100,
            source_channels: 2,
            truncated: None,
        }
    }

    /// What the gapless trim rests on: the decoded audio lags the source by
    /// exactly [`DECODED_DELAY`] samples in every rendition, and what
    /// follows the source is padding.
    #[test]
    fn decoded_audio_lags_the_source_by_the_decoded_delay() {
        for n in [44_100usize, 100_000] {
            let audio = sine(n);
            for kbps in BITRATES_KBPS {
                let frames = encode_mp3_frames(&audio, kbps).unwrap();
                let decoded = crate::audio::decode_bytes(frames.concat(), Some("mp3")).unwrap();
                let heard: Vec<f32> = decoded.samples.iter().step_by(2).copied().collect();
                let source: Vec<f32> = audio.samples.iter().step_by(2).copied().collect();
                let error = |lag: usize| -> f32 { (5000..15000).map(|i| (heard[i + lag] - source[i]).powi(2)).sum() };
                let lag = (0..3000).min_by(|&a, &b| error(a).total_cmp(&error(b))).unwrap();
                assert_eq!(lag, DECODED_DELAY as usize, "{n} samples at {kbps}k");
                assert_eq!(heard.len(), frames.len() * 1152);
                assert!(padding(n as u64, frames.len()) < 2 * 1152);
            }
        }
    }
}
