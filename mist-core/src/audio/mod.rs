//! Audio in and out of the pipeline: decoding any supported upload to 44.1 kHz
//! stereo samples, resampling, and (feature `encode`) LAME MP3 encoding.
//!
//! - [`decode`]: symphonia → interleaved stereo `f32` at [`SAMPLE_RATE`], a
//!   chunk at a time ([`StreamDecoder`]) or whole ([`DecodedAudio`]), with the
//!   file's tags and a limit on its length.
//! - [`resample`]: rubato, used by `decode` for any other source rate.
//! - `encode` (feature `encode`): the three CBR MP3 renditions as frames, fed
//!   a chunk at a time ([`Mp3Encoder`]).
//!
//! Nothing here touches the network, a database or storage: callers hand in a
//! path or bytes and get samples or frames back.

pub mod decode;
#[cfg(feature = "encode")]
pub mod encode;
pub mod resample;

pub use decode::{DecodeLimits, DecodeReport, StreamDecoder, decode_bytes, decode_file};
#[cfg(feature = "encode")]
pub use encode::{BITRATES_KBPS, DECODED_DELAY, Mp3Encoder, Mp3Frames, encode_mp3_frames, encode_renditions};
pub use resample::{StreamResampler, resample_interleaved};

/// The sample rate of every decoded track and every rendition.
pub const SAMPLE_RATE: u32 = 44_100;

/// Peak level below which a track counts as silent: -60 dBFS.
const SILENCE_PEAK: f32 = 0.001;

/// Track tags read from the file (ID3, Vorbis comments, MP4 atoms, RIFF INFO).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub genre: Option<String>,
}

/// A whole decoded track.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Interleaved stereo samples (L, R, L, R, …) at [`SAMPLE_RATE`], nominally in -1..=1.
    pub samples: Vec<f32>,
    /// Tags found in the file.
    pub tags: Tags,
    /// The file's own sample rate before resampling.
    pub source_sample_rate: u32,
    /// The file's own channel count before up- or down-mixing.
    pub source_channels: u16,
    /// `Some(reason)` when the file ended before its container said it would
    /// (a cut-off upload): `samples` then hold what could be decoded. See
    /// [`DecodedAudio::require_complete`].
    pub truncated: Option<String>,
}

impl DecodedAudio {
    /// Number of stereo frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.samples.len() / 2
    }

    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / f64::from(SAMPLE_RATE)
    }

    /// True when the peak level is below -60 dBFS (digital silence or near it).
    pub fn is_silent(&self) -> bool {
        self.samples.iter().all(|s| s.abs() < SILENCE_PEAK)
    }

    /// The mono mix (L + R) / 2, for analysis.
    pub fn mono(&self) -> Vec<f32> {
        self.samples.chunks_exact(2).map(|lr| (lr[0] + lr[1]) * 0.5).collect()
    }

    /// Turns a truncated decode into [`AudioError::Truncated`], for callers that
    /// must not publish a track with its end missing (the ingest worker).
    pub fn require_complete(self) -> Result<DecodedAudio, AudioError> {
        match self.truncated {
            Some(reason) => Err(AudioError::Truncated(reason)),
            None => Ok(self),
        }
    }
}

/// Why audio could not be decoded or encoded. Messages are meant for the
/// person who uploaded the file.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// Not a container/codec symphonia recognises (a text file, an image…).
    #[error("the file is not audio: {0}")]
    NotAudio(String),
    /// A readable container with no audio in it.
    #[error("the file contains no audio")]
    Empty,
    /// The file is cut off.
    #[error("the file is truncated: {0}")]
    Truncated(String),
    /// Recognised, but a codec or feature we cannot decode.
    #[error("the audio format is not supported: {0}")]
    Unsupported(String),
    /// The audio data is damaged beyond use.
    #[error("the audio could not be decoded: {0}")]
    Decode(String),
    /// The encoder failed (an internal error, not the file's fault).
    #[error("MP3 encoding failed: {0}")]
    Encode(String),
    /// More audio than the server accepts (see [`DecodeLimits`]).
    #[error("the audio is too long: {0}")]
    TooLong(String),
    /// The file could not be read.
    #[error("the file could not be read: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(samples: Vec<f32>) -> DecodedAudio {
        DecodedAudio {
            samples,
            tags: Tags::default(),
            source_sample_rate: SAMPLE_RATE,
            source_channels: 2,
            truncated: None,
        }
    }

    #[test]
    fn frames_duration_and_mono() {
        let a = audio(vec![1.0, 0.0, 0.5, -0.5, 0.25, 0.75]);
        assert_eq!(a.frames(), 3);
        assert!((a.duration_s() - 3.0 / 44_100.0).abs() < 1e-12);
        assert_eq!(a.mono(), vec![0.5, 0.0, 0.5]);
    }

    #[test]
    fn silence_threshold_is_minus_60_dbfs() {
        assert!(audio(vec![0.0; 100]).is_silent());
        assert!(audio(vec![0.0009, -0.0009]).is_silent());
        assert!(!audio(vec![0.0, 0.0011]).is_silent());
        assert!(audio(vec![]).is_silent());
    }

    #[test]
    fn require_complete_reports_truncation() {
        assert!(audio(vec![0.1; 4]).require_complete().is_ok());
        let mut cut = audio(vec![0.1; 4]);
        cut.truncated = Some("it ends after 2.0 s of the 10.0 s its header announces".into());
        let err = cut.require_complete().unwrap_err();
        assert_eq!(
            err.to_string(),
            "the file is truncated: it ends after 2.0 s of the 10.0 s its header announces"
        );
    }
}
