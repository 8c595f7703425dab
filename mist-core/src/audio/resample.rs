//! Sample-rate conversion, a chunk at a time.
//!
//! Uses rubato's synchronous FFT resampler: the ratio is fixed for a file, and
//! it is both the fastest and the highest-quality choice rubato offers for that
//! case (band-limited, no audible aliasing). [`StreamResampler`] feeds it
//! whatever the decoder hands over, runs it on whole chunks as they fill, trims
//! the resampler's delay and, at the end, pads and cuts the output to
//! `ceil(frames × to_hz / from_hz)` frames: exactly what rubato's `process_all`
//! gives for the whole clip in memory, without holding the clip. Output sample
//! `n` lines up with input time `n / to_hz`.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use super::AudioError;

/// Chunk size hint for the FFT resampler; rubato rounds it to fit the ratio.
const CHUNK_FRAMES: usize = 1024;

/// Resamples a stream of interleaved audio with a fixed channel count and
/// rates. Equal rates pass samples through untouched.
pub struct StreamResampler {
    channels: usize,
    /// `None` when the rates are equal.
    fft: Option<Fft<f32>>,
    ratio: f64,
    /// Input not yet given to the resampler (less than one chunk after a push).
    pending: Vec<f32>,
    /// Scratch output of one chunk.
    chunk_out: Vec<f32>,
    input_frames: u64,
    /// Output frames handed out so far (after the delay was trimmed).
    output_frames: u64,
    /// Output frames still to drop: the resampler's delay.
    to_trim: usize,
}

impl StreamResampler {
    /// A resampler for `channels` interleaved channels from `from_hz` to `to_hz`.
    pub fn new(channels: usize, from_hz: u32, to_hz: u32) -> Result<Self, AudioError> {
        if channels == 0 || from_hz == 0 || to_hz == 0 {
            return Err(AudioError::Unsupported(format!(
                "cannot resample {channels} channel(s) from {from_hz} Hz to {to_hz} Hz"
            )));
        }
        let fft = if from_hz == to_hz {
            None
        } else {
            let fft = Fft::<f32>::new(
                from_hz as usize,
                to_hz as usize,
                CHUNK_FRAMES,
                channels,
                FixedSync::Both,
            )
            .map_err(|e| AudioError::Unsupported(format!("resampling {from_hz} Hz → {to_hz} Hz: {e}")))?;
            Some(fft)
        };
        let to_trim = fft.as_ref().map_or(0, |f| f.output_delay());
        Ok(StreamResampler {
            channels,
            fft,
            ratio: f64::from(to_hz) / f64::from(from_hz),
            pending: Vec::new(),
            chunk_out: Vec::new(),
            input_frames: 0,
            output_frames: 0,
            to_trim,
        })
    }

    /// Resamples `samples` (whole frames), appending what is ready to `out`.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        if !samples.len().is_multiple_of(self.channels) {
            return Err(AudioError::Decode(format!(
                "{} samples do not divide into {} channels",
                samples.len(),
                self.channels
            )));
        }
        self.input_frames += (samples.len() / self.channels) as u64;
        let Some(fft) = self.fft.as_mut() else {
            out.extend_from_slice(samples);
            return Ok(());
        };
        let chunk = fft.input_frames_next() * self.channels;
        let mut input = samples;
        // Top up a partial chunk first, then take whole chunks straight from the input.
        if !self.pending.is_empty() {
            let take = (chunk - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() < chunk {
                return Ok(());
            }
            let pending = std::mem::take(&mut self.pending);
            self.process(&pending, None, out)?;
            self.pending = pending;
            self.pending.clear();
        }
        while input.len() >= chunk {
            self.process(&input[..chunk], None, out)?;
            input = &input[chunk..];
        }
        self.pending.extend_from_slice(input);
        Ok(())
    }

    /// Flushes the end of the stream into `out`: the total output is then
    /// `ceil(input frames × ratio)` frames.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let Some(fft) = self.fft.as_ref() else {
            return Ok(());
        };
        let chunk = fft.input_frames_next() * self.channels;
        if !self.pending.is_empty() {
            let mut last = std::mem::take(&mut self.pending);
            let valid = last.len() / self.channels;
            last.resize(chunk, 0.0);
            self.process(&last, Some(valid), out)?;
        }
        let expected = (self.ratio * self.input_frames as f64).ceil() as u64;
        let silence = vec![0.0f32; chunk];
        while self.output_frames < expected {
            let before = out.len();
            self.process(&silence, Some(0), out)?;
            if out.len() == before && self.to_trim == 0 {
                break;
            }
        }
        // The last chunk overshoots; keep exactly `expected` frames in all.
        let extra = (self.output_frames - expected.min(self.output_frames)) as usize;
        out.truncate(out.len() - (extra * self.channels).min(out.len()));
        self.output_frames -= extra as u64;
        Ok(())
    }

    /// Runs one chunk (`valid` frames of it real, the rest silence) and
    /// appends its output, less any delay still to trim.
    fn process(&mut self, chunk: &[f32], valid: Option<usize>, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let Some(fft) = self.fft.as_mut() else {
            return Ok(());
        };
        let channels = self.channels;
        let frames_in = chunk.len() / channels;
        let frames_out = fft.output_frames_next();
        self.chunk_out.resize(frames_out * channels, 0.0);
        let input = InterleavedSlice::new(chunk, channels, frames_in)
            .map_err(|e| AudioError::Decode(format!("resampler input: {e}")))?;
        let mut output = InterleavedSlice::new_mut(&mut self.chunk_out, channels, frames_out)
            .map_err(|e| AudioError::Decode(format!("resampler output: {e}")))?;
        let indexing = valid.map(|n| Indexing::new().partial_len(n));
        let (_, produced) = fft
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .map_err(|e| AudioError::Decode(format!("resampling: {e}")))?;
        let skip = self.to_trim.min(produced);
        self.to_trim -= skip;
        out.extend_from_slice(&self.chunk_out[skip * channels..produced * channels]);
        self.output_frames += (produced - skip) as u64;
        Ok(())
    }
}

/// Resamples a whole in-memory clip of interleaved audio with `channels`
/// channels from `from_hz` to `to_hz`.
///
/// The output has `ceil(frames × to_hz / from_hz)` frames. Equal rates return a copy.
pub fn resample_interleaved(
    samples: &[f32],
    channels: usize,
    from_hz: u32,
    to_hz: u32,
) -> Result<Vec<f32>, AudioError> {
    let mut resampler = StreamResampler::new(channels, from_hz, to_hz)?;
    let mut out = Vec::with_capacity((samples.len() as f64 * resampler.ratio) as usize + 16);
    resampler.push(samples, &mut out)?;
    resampler.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rubato::audioadapter_buffers::direct::InterleavedSlice;

    fn tone(freq: f32, rate: u32, seconds: f32, channels: usize) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        (0..n)
            .flat_map(|i| {
                let v = 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin();
                std::iter::repeat_n(v, channels)
            })
            .collect()
    }

    /// Frequency from zero crossings of the middle of a mono signal (ends skipped).
    fn zero_crossing_freq(mono: &[f32], rate: u32) -> f32 {
        let mid = &mono[mono.len() / 10..mono.len() * 9 / 10];
        let crossings = mid.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
        crossings as f32 / 2.0 / (mid.len() as f32 / rate as f32)
    }

    /// rubato's own whole-clip path, which the stream must reproduce exactly.
    fn process_all(samples: &[f32], channels: usize, from: u32, to: u32) -> Vec<f32> {
        let frames = samples.len() / channels;
        let mut fft = Fft::<f32>::new(from as usize, to as usize, CHUNK_FRAMES, channels, FixedSync::Both).unwrap();
        let input = InterleavedSlice::new(samples, channels, frames).unwrap();
        fft.process_all(&input, frames, None).unwrap().take_data()
    }

    #[test]
    fn streaming_in_any_pieces_equals_the_whole_clip() {
        for (from, to, seconds) in [(48_000, 44_100, 1.3), (22_050, 44_100, 0.01), (8_000, 44_100, 2.0)] {
            let input = tone(440.0, from, seconds, 2);
            let whole = process_all(&input, 2, from, to);
            for piece in [2, 998, 4096, 100_000] {
                let mut r = StreamResampler::new(2, from, to).unwrap();
                let mut out = Vec::new();
                for part in input.chunks(piece) {
                    r.push(part, &mut out).unwrap();
                }
                r.finish(&mut out).unwrap();
                assert_eq!(out.len(), whole.len(), "{from}→{to} in pieces of {piece}");
                assert!(out == whole, "{from}→{to} in pieces of {piece}: samples differ");
            }
        }
    }

    #[test]
    fn length_follows_the_ratio() {
        for (from, to) in [
            (48_000, 44_100),
            (22_050, 44_100),
            (8_000, 44_100),
            (96_000, 44_100),
            (44_100, 48_000),
        ] {
            let input = tone(440.0, from, 1.0, 2);
            let out = resample_interleaved(&input, 2, from, to).unwrap();
            let expected = (input.len() / 2) as f64 * f64::from(to) / f64::from(from);
            let got = (out.len() / 2) as f64;
            assert!(
                (got - expected).abs() <= 1.0,
                "{from}→{to}: {got} frames, expected {expected}"
            );
            assert_eq!(out.len() % 2, 0);
        }
    }

    #[test]
    fn a_1khz_tone_stays_1khz_and_keeps_its_level() {
        let input = tone(1000.0, 48_000, 2.0, 1);
        let out = resample_interleaved(&input, 1, 48_000, 44_100).unwrap();
        let f = zero_crossing_freq(&out, 44_100);
        assert!((f - 1000.0).abs() < 2.0, "measured {f} Hz");
        let mid = &out[out.len() / 4..out.len() * 3 / 4];
        let peak = mid.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.5).abs() < 0.02, "peak {peak}");
    }

    #[test]
    fn channels_stay_apart() {
        // Left a 1 kHz tone, right silence: nothing may leak across.
        let left = tone(1000.0, 22_050, 0.5, 1);
        let input: Vec<f32> = left.iter().flat_map(|&l| [l, 0.0]).collect();
        let out = resample_interleaved(&input, 2, 22_050, 44_100).unwrap();
        let right_peak = out.iter().skip(1).step_by(2).fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(right_peak < 1e-4, "right channel peak {right_peak}");
        let l: Vec<f32> = out.iter().step_by(2).copied().collect();
        assert!((zero_crossing_freq(&l, 44_100) - 1000.0).abs() < 3.0);
    }

    #[test]
    fn equal_rates_and_bad_arguments() {
        let input = vec![0.1, 0.2, 0.3, 0.4];
        assert_eq!(resample_interleaved(&input, 2, 44_100, 44_100).unwrap(), input);
        assert!(resample_interleaved(&input, 0, 48_000, 44_100).is_err());
        assert!(resample_interleaved(&input, 3, 48_000, 44_100).is_err());
        assert!(resample_interleaved(&input, 2, 0, 44_100).is_err());
        assert!(resample_interleaved(&[], 2, 48_000, 44_100).unwrap().is_empty());
    }
}
