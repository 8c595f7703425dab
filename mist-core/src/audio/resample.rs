//! Sample-rate conversion of whole in-memory clips.
//!
//! Uses rubato's synchronous FFT resampler: the ratio is fixed for a file, and
//! it is both the fastest and the highest-quality choice rubato offers for that
//! case (band-limited, no audible aliasing). `process_all` runs the chunk loop
//! and trims the resampler's delay, so output sample `n` lines up with input
//! time `n / to_hz`.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::AudioError;

/// Chunk size hint for the FFT resampler; rubato rounds it to fit the ratio.
const CHUNK_FRAMES: usize = 1024;

/// Resamples interleaved audio with `channels` channels from `from_hz` to `to_hz`.
///
/// The output has `round(frames × to_hz / from_hz)` frames (±1). Equal rates
/// return a copy.
pub fn resample_interleaved(
    samples: &[f32],
    channels: usize,
    from_hz: u32,
    to_hz: u32,
) -> Result<Vec<f32>, AudioError> {
    if channels == 0 || from_hz == 0 || to_hz == 0 {
        return Err(AudioError::Unsupported(format!(
            "cannot resample {channels} channel(s) from {from_hz} Hz to {to_hz} Hz"
        )));
    }
    if !samples.len().is_multiple_of(channels) {
        return Err(AudioError::Decode(format!(
            "{} samples do not divide into {channels} channels",
            samples.len()
        )));
    }
    if from_hz == to_hz || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let frames = samples.len() / channels;
    let mut resampler = Fft::<f32>::new(
        from_hz as usize,
        to_hz as usize,
        CHUNK_FRAMES,
        channels,
        FixedSync::Both,
    )
    .map_err(|e| AudioError::Unsupported(format!("resampling {from_hz} Hz → {to_hz} Hz: {e}")))?;
    let input = InterleavedSlice::new(samples, channels, frames)
        .map_err(|e| AudioError::Decode(format!("resampler input: {e}")))?;
    let output = resampler
        .process_all(&input, frames, None)
        .map_err(|e| AudioError::Decode(format!("resampling {from_hz} Hz → {to_hz} Hz: {e}")))?;
    Ok(output.take_data())
}

#[cfg(test)]
mod tests {
    use super::*;

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
