//! Chroma (`librosa.feature.chroma_stft`) and the tuning estimate it starts from
//! (`librosa.estimate_tuning`).
//!
//! librosa estimates the tuning of the whole track before building its chroma
//! filterbank, so a recording a quarter-tone sharp still lands on the right pitch
//! classes. The estimate collects spectral peaks between 150 and 4000 Hz from every
//! frame (`piptrack`: local maxima above a tenth of the frame's maximum, refined by
//! parabolic interpolation), keeps those at least as strong as the median peak, and
//! takes the most common deviation from equal temperament in 0.01-semitone steps.
//! Arithmetic is in float32 where librosa's is, so the histogram bins agree.

use super::spill::Spill;
use super::stft::fft_frequencies;
use super::{N_BINS, N_CHROMA, N_FFT, dot};

/// Spectral peaks gathered over the whole track for the tuning estimate, kept
/// in a [`Spill`] (a few per frame, too many to hold for a long track).
pub(crate) struct TuningPeaks {
    sr: f64,
    /// Bins with 150 Hz ≤ f < 4000 Hz (piptrack's defaults).
    bins: std::ops::Range<usize>,
    /// (frequency in Hz, interpolated power) of every peak, as f32 pairs.
    peaks: Spill,
    count: u64,
}

impl TuningPeaks {
    pub(crate) fn new(sr: f64) -> Self {
        let freqs = fft_frequencies(sr);
        let fmax = 4000.0f64.min(sr / 2.0);
        let start = freqs.iter().position(|&f| f >= 150.0).unwrap_or(freqs.len());
        let end = freqs.iter().position(|&f| f >= fmax).unwrap_or(freqs.len());
        // Never the first or last bin, which have no two neighbours.
        let bins = start.max(1)..end.min(freqs.len() - 1).max(start.max(1));
        Self {
            sr,
            bins,
            peaks: Spill::new(),
            count: 0,
        }
    }

    /// Collects the peaks of one power-spectrum frame (piptrack on `S = |X|²`, as
    /// `chroma_stft` calls it).
    pub(crate) fn push_frame(&mut self, power: &[f32]) -> std::io::Result<()> {
        let max = power.iter().copied().fold(0.0f32, f32::max);
        let floor = 0.1f32 * max;
        let masked = |k: usize| if power[k] > floor { power[k] } else { 0.0 };
        for k in self.bins.clone() {
            let x = masked(k);
            if !(x > masked(k - 1) && x >= masked(k + 1)) {
                continue;
            }
            let (prev, here, next) = (power[k - 1], power[k], power[k + 1]);
            let a = next + prev - 2.0 * here;
            let b = (next - prev) / 2.0;
            let shift = if b.abs() >= a.abs() { 0.0 } else { -b / a };
            let gradient = (next - prev) / 2.0;
            let pitch = ((k as f64 + f64::from(shift)) * self.sr / N_FFT as f64) as f32;
            let magnitude = here + 0.5 * gradient * shift;
            if pitch > 0.0 {
                self.peaks.push_f32(pitch)?;
                self.peaks.push_f32(magnitude)?;
                self.count += 1;
            }
        }
        Ok(())
    }

    /// The track's deviation from A440 equal temperament, in fractions of a semitone
    /// within [-0.5, 0.5); 0 when there are no peaks (silence).
    pub(crate) fn estimate_tuning(&mut self) -> std::io::Result<f64> {
        if self.count == 0 {
            return Ok(0.0);
        }
        let threshold = self.median_magnitude()?;
        let mut reader = self.peaks.reader()?;
        let mut residuals = Vec::new();
        let mut counts = [0u32; TUNING_BINS];
        let mut any = false;
        while let (Some(pitch), Some(m)) = (reader.f32()?, reader.f32()?) {
            if m >= threshold && pitch > 0.0 {
                let semitones = 12.0f32 * (pitch / 27.5f32).log2();
                let r = semitones.rem_euclid(1.0);
                residuals.push(if r >= 0.5 { r - 1.0 } else { r });
                // Counted in batches so the residuals never pile up.
                if residuals.len() >= 1 << 16 {
                    any |= count_residuals(residuals.drain(..), &mut counts);
                }
            }
        }
        any |= count_residuals(residuals.drain(..), &mut counts);
        Ok(if any { fullest_bin(&counts) } else { 0.0 })
    }

    /// numpy's median of the peaks' magnitudes (the mean of the middle two for
    /// an even count), found exactly without holding them: two counting passes
    /// over the order-preserving bit patterns, the high 16 bits then the low.
    fn median_magnitude(&mut self) -> std::io::Result<f32> {
        let n = self.count;
        let mid = n / 2;
        let ranks = if !n.is_multiple_of(2) {
            [mid, mid]
        } else {
            [mid - 1, mid]
        };
        let mut high = vec![0u64; 1 << 16];
        {
            let mut reader = self.peaks.reader()?;
            while let (Some(_), Some(m)) = (reader.f32()?, reader.f32()?) {
                high[(order_key(m) >> 16) as usize] += 1;
            }
        }
        // For each rank: its high half and its rank among the values sharing it.
        let locate = |counts: &[u64], rank: u64| {
            let mut before = 0u64;
            for (bucket, &c) in counts.iter().enumerate() {
                if rank < before + c {
                    return (bucket, rank - before);
                }
                before += c;
            }
            (counts.len() - 1, 0)
        };
        let buckets = ranks.map(|r| locate(&high, r));
        let mut low = [vec![0u64; 1 << 16], vec![0u64; 1 << 16]];
        {
            let mut reader = self.peaks.reader()?;
            while let (Some(_), Some(m)) = (reader.f32()?, reader.f32()?) {
                let key = order_key(m);
                for (counts, (bucket, _)) in low.iter_mut().zip(&buckets) {
                    if (key >> 16) as usize == *bucket {
                        counts[(key & 0xFFFF) as usize] += 1;
                    }
                }
            }
        }
        let values: Vec<f32> = low
            .iter()
            .zip(&buckets)
            .map(|(counts, &(bucket, within))| {
                let (low_bits, _) = locate(counts, within);
                from_order_key(((bucket as u32) << 16) | low_bits as u32)
            })
            .collect();
        Ok(if n % 2 == 1 {
            values[1]
        } else {
            (values[0] + values[1]) / 2.0
        })
    }
}

/// A `u32` that sorts as `f32::total_cmp` sorts the float.
fn order_key(x: f32) -> u32 {
    let bits = x.to_bits();
    if bits >> 31 == 1 { !bits } else { bits | 0x8000_0000 }
}

fn from_order_key(key: u32) -> f32 {
    f32::from_bits(if key >> 31 == 1 { key & 0x7FFF_FFFF } else { !key })
}

/// numpy's median of float32 values (the mean of the middle two for an even count).
#[cfg(test)]
fn median_f32(values: &mut [f32]) -> f32 {
    let n = values.len();
    let mid = n / 2;
    let (_, &mut upper, _) = values.select_nth_unstable_by(mid, f32::total_cmp);
    if n % 2 == 1 {
        return upper;
    }
    let lower = values[..mid].iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (lower + upper) / 2.0
}

const TUNING_BINS: usize = 100;

/// The left edge of bin `i` of `np.linspace(-0.5, 0.5, 101)`.
fn tuning_edge(i: usize) -> f64 {
    if i == TUNING_BINS { 0.5 } else { i as f64 * 0.01 - 0.5 }
}

/// Adds residuals to the counts of `np.histogram(residuals, np.linspace(-0.5,
/// 0.5, 101))`; true if any fell inside.
fn count_residuals(residuals: impl Iterator<Item = f32>, counts: &mut [u32; TUNING_BINS]) -> bool {
    let mut any = false;
    for r in residuals {
        let r = f64::from(r);
        if !(-0.5..=0.5).contains(&r) {
            continue;
        }
        // numpy's fast path for uniform bins, with its correction against the edges.
        let mut i = (((r + 0.5) * TUNING_BINS as f64) as usize).min(TUNING_BINS - 1);
        if r < tuning_edge(i) {
            i -= 1;
        } else if r >= tuning_edge(i + 1) && i != TUNING_BINS - 1 {
            i += 1;
        }
        counts[i] += 1;
        any = true;
    }
    any
}

/// The left edge of the fullest bin (the first one on ties), as
/// `librosa.pitch_tuning` picks it.
fn fullest_bin(counts: &[u32; TUNING_BINS]) -> f64 {
    let best = counts
        .iter()
        .enumerate()
        .fold(0, |best, (i, &c)| if c > counts[best] { i } else { best });
    tuning_edge(best)
}

/// The whole `pitch_tuning` histogram step over `residuals`; 0 when none falls inside.
#[cfg(test)]
fn pitch_tuning_histogram(residuals: impl Iterator<Item = f32>) -> f64 {
    let mut counts = [0u32; TUNING_BINS];
    if count_residuals(residuals, &mut counts) {
        fullest_bin(&counts)
    } else {
        0.0
    }
}

/// librosa's `filters.chroma(sr, n_fft=2048, tuning)`: 12 rows (C first) of weights
/// over the 1025 bins.
pub(crate) struct ChromaFilterbank {
    rows: Vec<Vec<f32>>,
}

impl ChromaFilterbank {
    pub(crate) fn new(sr: f64, tuning: f64) -> Self {
        let n_chroma = N_CHROMA as f64;
        let a440 = 440.0 * 2f64.powf(tuning / n_chroma);
        // Bin 0 (DC) has no pitch; librosa places it 1.5 octaves below bin 1.
        let mut frqbins = Vec::with_capacity(N_FFT);
        for i in 1..N_FFT {
            let f = i as f64 * (sr / N_FFT as f64);
            frqbins.push(n_chroma * (f / (a440 / 16.0)).log2());
        }
        frqbins.insert(0, frqbins[0] - 1.5 * n_chroma);
        let widths: Vec<f64> = (0..N_FFT)
            .map(|i| {
                if i + 1 < N_FFT {
                    (frqbins[i + 1] - frqbins[i]).max(1.0)
                } else {
                    1.0
                }
            })
            .collect();

        let mut weights = vec![vec![0.0f64; N_FFT]; N_CHROMA];
        for (c, row) in weights.iter_mut().enumerate() {
            for (i, w) in row.iter_mut().enumerate() {
                // Distance in semitones to pitch class c, wrapped into [-6, 6).
                let d = (frqbins[i] - c as f64 + 6.0 + 10.0 * n_chroma).rem_euclid(n_chroma) - 6.0;
                *w = (-0.5 * (2.0 * d / widths[i]).powi(2)).exp();
            }
        }
        for i in 0..N_FFT {
            let norm = weights.iter().map(|row| row[i] * row[i]).sum::<f64>().sqrt();
            // Octave weighting: a Gaussian over octaves centred on 5 (≈ 880 Hz), width 2.
            let octave = (-0.5 * ((frqbins[i] / n_chroma - 5.0) / 2.0).powi(2)).exp();
            let scale = if norm < f64::MIN_POSITIVE { 1.0 } else { 1.0 / norm };
            for row in &mut weights {
                row[i] *= scale * octave;
            }
        }
        // Rows were built from A; rotate so C comes first.
        weights.rotate_left(3);
        let rows = weights
            .into_iter()
            .map(|row| row[..N_BINS].iter().map(|&w| w as f32).collect())
            .collect();
        Self { rows }
    }

    /// One frame's chroma from its power spectrum, scaled so its largest class is 1
    /// (a silent frame stays all zero).
    pub(crate) fn frame(&self, power: &[f32], out: &mut [f32; N_CHROMA]) {
        for (o, row) in out.iter_mut().zip(&self.rows) {
            *o = dot(row, power);
        }
        let max = out.iter().fold(0.0f32, |m, &c| m.max(c.abs()));
        if f64::from(max) >= 1.175_494_4e-38 {
            for o in out.iter_mut() {
                *o /= max;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filterbank_columns_match_librosa() {
        let reference: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/features/reference.json")).unwrap();
        let columns = reference["filters"]["chroma_columns"].as_object().unwrap();
        assert_eq!(columns.len(), 2);
        for (tuning, by_bin) in columns {
            let bank = ChromaFilterbank::new(22050.0, tuning.parse().unwrap());
            for (bin, expected) in by_bin.as_object().unwrap() {
                let bin: usize = bin.parse().unwrap();
                for (c, e) in expected.as_array().unwrap().iter().enumerate() {
                    let e = e.as_f64().unwrap();
                    let ours = f64::from(bank.rows[c][bin]);
                    assert!(
                        (ours - e).abs() <= 1e-6 * e.abs().max(1e-4),
                        "tuning {tuning} bin {bin} class {c}: {ours} vs {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn tuning_of_a_detuned_tone() {
        // 440 Hz raised by 0.3 semitone; piptrack's interpolation is coarse, so allow
        // a few hundredths.
        let f = 440.0 * 2f64.powf(0.3 / 12.0);
        let y: Vec<f32> = (0..22050 * 2)
            .map(|i| (0.5 * (2.0 * std::f64::consts::PI * f * i as f64 / 22050.0).sin()) as f32)
            .collect();
        let stft = super::super::stft::Stft::new();
        let mut peaks = TuningPeaks::new(22050.0);
        stft.for_each_power_frame(&y, |p| peaks.push_frame(p).unwrap());
        let tuning = peaks.estimate_tuning().unwrap();
        assert!((tuning - 0.3).abs() < 0.08, "{tuning}");
    }

    #[test]
    fn histogram_picks_the_fullest_bin_by_its_left_edge() {
        let tuning = pitch_tuning_histogram([0.101f32, 0.105, 0.3, -0.5, 0.499].into_iter());
        assert!((tuning - 0.1).abs() < 1e-12, "{tuning}");
        assert_eq!(pitch_tuning_histogram(std::iter::empty()), 0.0);
    }

    #[test]
    fn median_matches_numpy() {
        assert_eq!(median_f32(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_f32(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    /// The two counting passes find numpy's median exactly, whatever the values.
    #[test]
    fn counted_median_equals_the_sorted_median() {
        let mut seed = 0x1234_5678u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            seed
        };
        for n in [1usize, 2, 3, 10, 1001, 4096] {
            let mut values: Vec<f32> = (0..n)
                .map(|i| match i % 4 {
                    0 => (next() >> 8) as f32 / 1e3,
                    1 => f32::from_bits(next() & 0x7F7F_FFFF),
                    2 => 1.5,
                    _ => 0.0,
                })
                .collect();
            let mut peaks = TuningPeaks::new(22050.0);
            for &m in &values {
                peaks.peaks.push_f32(440.0).unwrap();
                peaks.peaks.push_f32(m).unwrap();
                peaks.count += 1;
            }
            assert_eq!(peaks.median_magnitude().unwrap(), median_f32(&mut values), "{n} values");
        }
        assert_eq!(from_order_key(order_key(-2.5)), -2.5);
        assert!(
            order_key(-1.0) < order_key(-0.0) && order_key(-0.0) < order_key(0.0) && order_key(0.0) < order_key(1e-30)
        );
    }
}
