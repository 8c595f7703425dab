//! From the ingest worker's 44.1 kHz stereo to the 22.05 kHz mono the analysis runs
//! at: average the channels, then halve the rate with a half-band FIR filter.
//!
//! The ratio is always exactly 2, so a fixed linear-phase filter does the job with no
//! resampler state, chunking or delay bookkeeping (rubato's resamplers are built for
//! streams and arbitrary ratios). The filter is a 127-tap windowed sinc (Kaiser,
//! β = 8): within 0.001 dB up to 10 kHz, −6 dB at 11.025 kHz (as any half-band
//! filter), at least 80 dB down from 12 kHz, and half its taps are zero, which the
//! polyphase form below skips. What it lets fold back lands above 10 kHz, where
//! little of the analysis looks. Output sample `m` is centred
//! on input frame `2m`, so the result has `ceil(frames / 2)` samples and no delay.

use super::dot;

/// Nonzero odd-offset taps on each side of the centre (taps at ±1, ±3, … ±63).
const HALF_TAPS: usize = 32;
const KAISER_BETA: f64 = 8.0;

/// Mixes interleaved 44.1 kHz stereo down to mono and resamples it to 22 050 Hz with
/// a half-band FIR decimator (see the module docs). A trailing unpaired sample is
/// ignored.
pub fn prepare(stereo_44100_interleaved: &[f32]) -> Vec<f32> {
    let mut decimator = Decimator::new();
    let mut out = Vec::with_capacity(stereo_44100_interleaved.len() / 4 + 1);
    let whole = stereo_44100_interleaved.len() / 2 * 2;
    decimator.push(&stereo_44100_interleaved[..whole], &mut out);
    decimator.finish(&mut out);
    out
}

/// [`prepare`] a chunk at a time: the same output, holding only the 64 odd
/// frames the filter spans.
pub(crate) struct Decimator {
    taps: Vec<f32>,
    /// Even-indexed mono frames not yet used; `even[0]` is the next output's centre.
    even: Vec<f32>,
    /// The zero-padded odd frames from where the next output's filter starts:
    /// `odd[r]` is odd frame `next + r − HALF_TAPS`, for the next output `next`.
    odd: Vec<f32>,
    /// Input frames seen.
    frames: usize,
}

impl Decimator {
    pub(crate) fn new() -> Self {
        Decimator {
            taps: polyphase_taps(),
            even: Vec::new(),
            odd: vec![0.0; HALF_TAPS],
            frames: 0,
        }
    }

    /// Takes interleaved stereo (whole frames) and appends the 22.05 kHz
    /// samples that are ready to `out`.
    pub(crate) fn push(&mut self, stereo: &[f32], out: &mut Vec<f32>) {
        for lr in stereo.chunks_exact(2) {
            let mono = 0.5 * (lr[0] + lr[1]);
            if self.frames.is_multiple_of(2) {
                self.even.push(mono);
            } else {
                self.odd.push(mono);
            }
            self.frames += 1;
        }
        self.emit(out);
    }

    /// Appends the rest of the output: the filter runs into zeros after the end.
    pub(crate) fn finish(&mut self, out: &mut Vec<f32>) {
        self.odd.extend(std::iter::repeat_n(0.0, 2 * HALF_TAPS));
        self.emit(out);
    }

    fn emit(&mut self, out: &mut Vec<f32>) {
        let ready = self.even.len().min((self.odd.len() + 1).saturating_sub(2 * HALF_TAPS));
        for m in 0..ready {
            out.push(0.5 * self.even[m] + dot(&self.taps, &self.odd[m..m + 2 * HALF_TAPS]));
        }
        self.even.drain(..ready);
        self.odd.drain(..ready);
    }
}

/// The odd-offset taps laid out for the polyphase dot product: element `r` weights
/// odd frame `m + r − HALF_TAPS`, i.e. input offset `2(r − HALF_TAPS) + 1` from the
/// centre. They sum to 0.5, which with the centre tap's 0.5 gives unity gain at DC.
fn polyphase_taps() -> Vec<f32> {
    let half_width = (2 * HALF_TAPS) as f64; // the window reaches zero at ±64
    let i0_beta = bessel_i0(KAISER_BETA);
    let tap = |offset: f64| {
        let x = offset / 2.0;
        let sinc = (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x);
        let window = bessel_i0(KAISER_BETA * (1.0 - (offset / half_width).powi(2)).sqrt()) / i0_beta;
        0.5 * sinc * window
    };
    let taps: Vec<f64> = (0..2 * HALF_TAPS)
        .map(|r| tap(2.0 * (r as f64 - HALF_TAPS as f64) + 1.0))
        .collect();
    let sum: f64 = taps.iter().sum();
    taps.iter().map(|t| (t * 0.5 / sum) as f32).collect()
}

/// The modified Bessel function of the first kind, order 0 (for the Kaiser window).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..64 {
        term *= (half / k as f64) * (half / k as f64);
        sum += term;
        if term < 1e-17 * sum {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn stereo_tone(freq: f64, seconds: f64) -> Vec<f32> {
        let n = (seconds * 44100.0) as usize;
        (0..n)
            .flat_map(|i| {
                let v = (0.5 * (2.0 * PI * freq * i as f64 / 44100.0).sin()) as f32;
                [v, v]
            })
            .collect()
    }

    /// Amplitude of the 22.05 kHz output away from the edges.
    fn amplitude(y: &[f32]) -> f64 {
        let inner = &y[1000..y.len() - 1000];
        let rms = (inner.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / inner.len() as f64).sqrt();
        rms * 2f64.sqrt()
    }

    #[test]
    fn passes_the_audio_band_and_keeps_the_phase() {
        let y = prepare(&stereo_tone(1000.0, 1.0));
        assert_eq!(y.len(), 22050);
        assert!((amplitude(&y) - 0.5).abs() < 0.001, "{}", amplitude(&y));
        // Zero delay: output m is input frame 2m.
        for m in [5000, 10001] {
            let expected = 0.5 * (2.0 * PI * 1000.0 * (2 * m) as f64 / 44100.0).sin();
            assert!((f64::from(y[m]) - expected).abs() < 1e-3);
        }
        let y = prepare(&stereo_tone(9000.0, 1.0));
        assert!((amplitude(&y) - 0.5).abs() < 0.005, "{}", amplitude(&y));
    }

    #[test]
    fn rejects_what_would_alias() {
        // 15 kHz would fold to 7.05 kHz; it must be at least 70 dB down.
        let y = prepare(&stereo_tone(15000.0, 1.0));
        assert!(amplitude(&y) < 0.5 * 10f64.powf(-70.0 / 20.0), "{}", amplitude(&y));
    }

    #[test]
    fn averages_the_channels_and_handles_odd_lengths() {
        let y = prepare(&[1.0, 0.0, 1.0, 0.0, 1.0]);
        assert_eq!(y.len(), 1);
        assert!(prepare(&[]).is_empty());
        let constant: Vec<f32> = [0.25f32, 0.75].repeat(1000);
        let y = prepare(&constant);
        assert!((y[250] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn chunked_input_gives_the_same_output() {
        let input = stereo_tone(3000.0, 0.3);
        let whole = prepare(&input);
        for piece in [2, 6, 130, 4000] {
            let mut d = Decimator::new();
            let mut out = Vec::new();
            for part in input.chunks(piece) {
                d.push(part, &mut out);
            }
            d.finish(&mut out);
            assert!(out == whole, "pieces of {piece}");
        }
        // An odd number of frames, fed one frame at a time.
        let odd: Vec<f32> = input[..2 * 1001].to_vec();
        let mut d = Decimator::new();
        let mut out = Vec::new();
        for part in odd.chunks(2) {
            d.push(part, &mut out);
        }
        d.finish(&mut out);
        assert_eq!(out.len(), 501);
        assert!(out == prepare(&odd));
    }

    #[test]
    fn taps_sum_to_half() {
        let sum: f32 = polyphase_taps().iter().sum();
        assert!((sum - 0.5).abs() < 1e-6);
        assert!((bessel_i0(0.0) - 1.0).abs() < 1e-15);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_4).abs() < 1e-12);
    }
}
