//! The mel spectrogram, its dB scaling and the MFCCs derived from it.
//!
//! `librosa.filters.mel(sr, n_fft=2048, n_mels=128)` with its defaults (Slaney's mel
//! scale — linear below 1 kHz, logarithmic above — and Slaney's area normalisation),
//! `librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=80)` and the orthonormal
//! DCT-II that `librosa.feature.mfcc` applies. The dB floor is relative to the loudest
//! value of the whole spectrogram, so the dB step runs once all frames are in.

use std::f64::consts::PI;

use super::stft::fft_frequencies;
use super::{Moments, N_BINS, N_MELS, N_MFCC, dot};

/// Slaney's mel scale (librosa's `hz_to_mel(htk=False)`).
pub(crate) fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= MIN_LOG_HZ {
        min_log_mel + (hz / MIN_LOG_HZ).ln() / logstep
    } else {
        hz / F_SP
    }
}

/// Inverse of [`hz_to_mel`].
pub(crate) fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        MIN_LOG_HZ * (logstep * (mel - min_log_mel)).exp()
    } else {
        F_SP * mel
    }
}

/// `n` frequencies evenly spaced on the mel scale from `fmin` to `fmax`
/// (librosa's `mel_frequencies`, with numpy's `linspace` arithmetic).
pub(crate) fn mel_frequencies(n: usize, fmin: f64, fmax: f64) -> Vec<f64> {
    let (lo, hi) = (hz_to_mel(fmin), hz_to_mel(fmax));
    let step = (hi - lo) / (n - 1) as f64;
    (0..n)
        .map(|i| {
            let mel = if i == n - 1 { hi } else { lo + i as f64 * step };
            mel_to_hz(mel)
        })
        .collect()
}

/// One triangular filter: its weights start at bin `start`; all others are zero.
struct MelBand {
    start: usize,
    weights: Vec<f32>,
}

/// The 128-band Slaney mel filterbank, stored sparsely (each band spans a few bins).
pub(crate) struct MelFilterbank {
    bands: Vec<MelBand>,
}

impl MelFilterbank {
    /// librosa's `filters.mel(sr=sr, n_fft=2048, n_mels=128)` (fmin 0, fmax sr/2).
    pub(crate) fn slaney(sr: f64) -> Self {
        let fft_freqs = fft_frequencies(sr);
        let mel_f = mel_frequencies(N_MELS + 2, 0.0, sr / 2.0);
        let bands = (0..N_MELS)
            .map(|i| {
                let (fdiff_lo, fdiff_hi) = (mel_f[i + 1] - mel_f[i], mel_f[i + 2] - mel_f[i + 1]);
                let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
                let row: Vec<f32> = fft_freqs
                    .iter()
                    .map(|&f| {
                        let lower = -(mel_f[i] - f) / fdiff_lo;
                        let upper = (mel_f[i + 2] - f) / fdiff_hi;
                        // librosa stores the triangle as float32 before scaling it.
                        let w = lower.min(upper).max(0.0) as f32;
                        (f64::from(w) * enorm) as f32
                    })
                    .collect();
                let start = row.iter().position(|&w| w > 0.0).unwrap_or(0);
                let end = row.iter().rposition(|&w| w > 0.0).map_or(start, |e| e + 1);
                MelBand {
                    start,
                    weights: row[start..end].to_vec(),
                }
            })
            .collect();
        Self { bands }
    }

    /// Appends the 128 mel-band powers of one power-spectrum frame to `out`.
    #[cfg(test)]
    pub(crate) fn push_frame(&self, power: &[f32], out: &mut Vec<f32>) {
        out.extend(self.bands(power));
    }

    /// The 128 mel-band powers of one power-spectrum frame.
    pub(crate) fn bands<'a>(&'a self, power: &'a [f32]) -> impl Iterator<Item = f32> + 'a {
        debug_assert_eq!(power.len(), N_BINS);
        self.bands
            .iter()
            .map(|band| dot(&band.weights, &power[band.start..band.start + band.weights.len()]))
    }
}

/// `power_to_db(S, ref=1.0, amin=1e-10)` of one value, before the floor.
pub(crate) fn power_to_db(value: f32) -> f32 {
    10.0 * value.max(1e-10).log10()
}

/// `power_to_db(S, ref=1.0, amin=1e-10, top_db=80.0)` over a whole spectrogram, in
/// place: no value ends up more than 80 dB below the loudest one.
#[cfg(test)]
pub(crate) fn power_to_db_top80(mut values: Vec<f32>) -> Vec<f32> {
    let mut max = f32::NEG_INFINITY;
    for v in &mut values {
        *v = power_to_db(*v);
        max = max.max(*v);
    }
    let floor = max - 80.0;
    for v in &mut values {
        *v = v.max(floor);
    }
    values
}

/// The first `N_MFCC` rows of the orthonormal DCT-II of size `N_MELS`
/// (`scipy.fft.dct(type=2, norm="ortho")`).
pub(crate) fn dct_ortho_rows() -> Vec<[f32; N_MELS]> {
    let n = N_MELS as f64;
    (0..N_MFCC)
        .map(|k| {
            let scale = if k == 0 { (1.0 / n).sqrt() } else { (2.0 / n).sqrt() };
            let mut row = [0.0f32; N_MELS];
            for (i, r) in row.iter_mut().enumerate() {
                *r = (scale * (PI * k as f64 * (2 * i + 1) as f64 / (2.0 * n)).cos()) as f32;
            }
            row
        })
        .collect()
}

/// Mean and standard deviation of each MFCC over frames, fed one dB mel
/// frame (floored) at a time.
pub(crate) struct MfccStats {
    dct: Vec<[f32; N_MELS]>,
    moments: [Moments; N_MFCC],
}

impl MfccStats {
    pub(crate) fn new() -> Self {
        MfccStats {
            dct: dct_ortho_rows(),
            moments: [Moments::default(); N_MFCC],
        }
    }

    pub(crate) fn push(&mut self, mel_db_frame: &[f32]) {
        for (m, row) in self.moments.iter_mut().zip(&self.dct) {
            m.push(f64::from(dot(row, mel_db_frame)));
        }
    }

    pub(crate) fn mean(&self) -> [f32; N_MFCC] {
        self.moments.map(|m| m.mean())
    }

    pub(crate) fn std(&self) -> [f32; N_MFCC] {
        self.moments.map(|m| m.std())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/data/features/reference.json")).unwrap()
    }

    #[test]
    fn mel_frequencies_match_librosa() {
        let reference = reference();
        let expected = reference["filters"]["mel_frequencies_130"].as_array().unwrap();
        let ours = mel_frequencies(130, 0.0, 11025.0);
        for (o, e) in ours.iter().zip(expected) {
            let e = e.as_f64().unwrap();
            assert!((o - e).abs() <= 1e-9 * e.max(1.0), "{o} vs {e}");
        }
    }

    #[test]
    fn filterbank_rows_match_librosa() {
        let reference = reference();
        let bank = MelFilterbank::slaney(22050.0);
        for (band, row) in reference["filters"]["mel_rows"].as_object().unwrap() {
            let band: usize = band.parse().unwrap();
            let start = row["start"].as_u64().unwrap() as usize;
            let weights = row["weights"].as_array().unwrap();
            let ours = &bank.bands[band];
            assert_eq!(ours.start, start, "band {band} start");
            assert_eq!(ours.weights.len(), weights.len(), "band {band} width");
            for (o, e) in ours.weights.iter().zip(weights) {
                let e = e.as_f64().unwrap();
                assert!(
                    (f64::from(*o) - e).abs() <= 1e-6 * e.abs().max(1e-3),
                    "band {band}: {o} vs {e}"
                );
            }
        }
    }

    #[test]
    fn dct_rows_are_orthonormal() {
        let rows = dct_ortho_rows();
        for (i, a) in rows.iter().enumerate() {
            for (j, b) in rows.iter().enumerate() {
                let d: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((d - expected).abs() < 1e-5, "rows {i},{j}: {d}");
            }
        }
    }

    #[test]
    fn mfcc_of_a_flat_spectrum_is_only_its_level() {
        let mut stats = MfccStats::new();
        stats.push(&[-20.0; N_MELS]);
        stats.push(&[-40.0; N_MELS]);
        let mean = stats.mean();
        // c0 = sqrt(128) × level; the other coefficients see no shape.
        assert!((mean[0] - (-30.0 * (N_MELS as f32).sqrt())).abs() < 1e-3, "{mean:?}");
        assert!(mean[1..].iter().all(|c| c.abs() < 1e-3), "{mean:?}");
        assert!((stats.std()[0] - 10.0 * (N_MELS as f32).sqrt()).abs() < 1e-2);
    }

    #[test]
    fn db_floor_is_80_below_the_loudest_value() {
        let db = power_to_db_top80(vec![1.0, 1e-3, 1e-12, 0.0, 100.0]);
        assert_eq!(db, vec![0.0, -30.0, -60.0, -60.0, 20.0]);
    }
}
