//! Spectral shape (centroid, bandwidth, rolloff, flatness, contrast) per STFT frame,
//! and the time-domain frame features (zero-crossing rate, RMS).
//!
//! Each follows the librosa 0.11 function of the same name with its defaults,
//! including its edge cases: a silent frame has centroid, bandwidth and rolloff 0 and
//! flatness 1; rolloff is the lowest bin whose float32 running sum reaches 85 %.

use super::spill::Spill;
use super::stft::{Frame, fft_frequencies};
use super::{Moments, N_CONTRAST, N_FFT};

/// `np.finfo(np.float32).tiny`: librosa's `normalize` leaves frames whose norm is
/// below it unscaled.
const F32_TINY: f64 = 1.175_494_4e-38;

/// Per-bin frequencies and the contrast band layout, computed once.
pub(crate) struct SpectralShape {
    freqs: Vec<f64>,
    contrast_bands: [ContrastBand; N_CONTRAST],
}

/// One band of `spectral_contrast`: the bins it sorts and how many of the lowest and
/// highest it averages.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ContrastBand {
    start: usize,
    end: usize,
    quantile_count: usize,
}

impl SpectralShape {
    pub(crate) fn new(sr: f64) -> Self {
        let freqs = fft_frequencies(sr);
        let contrast_bands = contrast_bands(&freqs);
        Self { freqs, contrast_bands }
    }
}

/// librosa's band layout for `spectral_contrast(n_bands=6, fmin=200, quantile=0.02)`:
/// octaves [0, 200], [200, 400], … [6400, 12800] Hz, each also taking the bin just
/// below it, all but the last dropping their top bin, and the last taking every bin
/// above it. The count of averaged bins is rounded from the band's size *before* the
/// top bin is dropped, as librosa does.
fn contrast_bands(freqs: &[f64]) -> [ContrastBand; N_CONTRAST] {
    let n_bands = N_CONTRAST - 1;
    let mut edges = [0.0f64; N_CONTRAST + 1];
    for (k, edge) in edges.iter_mut().enumerate().skip(1) {
        *edge = 200.0 * 2f64.powi(k as i32 - 1);
    }
    let mut bands = [ContrastBand::default(); N_CONTRAST];
    for (k, band) in bands.iter_mut().enumerate() {
        let (lo, hi) = (edges[k], edges[k + 1]);
        let inside: Vec<usize> = (0..freqs.len()).filter(|&i| freqs[i] >= lo && freqs[i] <= hi).collect();
        let (Some(&first), Some(&last)) = (inside.first(), inside.last()) else {
            continue;
        };
        let mut start = first;
        let mut end = last + 1;
        if k > 0 {
            start = first.saturating_sub(1);
        }
        if k == n_bands {
            end = freqs.len();
        }
        let selected = end - start;
        let quantile_count = ((0.02 * selected as f64).round_ties_even() as usize).max(1);
        if k < n_bands {
            end -= 1;
        }
        *band = ContrastBand {
            start,
            end,
            quantile_count,
        };
    }
    bands
}

/// Running statistics of the per-frame shape features.
#[derive(Debug, Default)]
pub(crate) struct ShapeStats {
    pub(crate) centroid: Moments,
    pub(crate) bandwidth: Moments,
    pub(crate) rolloff: Moments,
    pub(crate) flatness: Moments,
}

impl ShapeStats {
    /// Adds one frame given its power and magnitude spectra.
    pub(crate) fn push(&mut self, shape: &SpectralShape, power: &[f32], magnitude: &[f32]) {
        let freqs = &shape.freqs;

        // Centroid and bandwidth weight frequencies by the L1-normalised magnitude.
        let total: f64 = magnitude.iter().map(|&m| f64::from(m)).sum();
        let norm = if total < F32_TINY { 1.0 } else { total };
        let centroid: f64 = freqs
            .iter()
            .zip(magnitude)
            .map(|(&f, &m)| f * f64::from(m))
            .sum::<f64>()
            / norm;
        let spread: f64 = freqs
            .iter()
            .zip(magnitude)
            .map(|(&f, &m)| f64::from(m) * (f - centroid) * (f - centroid))
            .sum::<f64>()
            / norm;
        self.centroid.push(centroid);
        self.bandwidth.push(spread.sqrt());

        // Rolloff: float32 running sum, as numpy's cumsum does, so ties at a bin
        // boundary fall the same way.
        let threshold = 0.85f32 * magnitude.iter().fold(0.0f32, |acc, &m| acc + m);
        let mut running = 0.0f32;
        let mut rolloff = freqs[freqs.len() - 1];
        for (&f, &m) in freqs.iter().zip(magnitude) {
            running += m;
            if running >= threshold {
                rolloff = f;
                break;
            }
        }
        self.rolloff.push(rolloff);

        // Flatness: geometric over arithmetic mean of the power, floored at 1e-10.
        let (mut log_sum, mut sum) = (0.0f64, 0.0f64);
        for &p in power {
            let p = f64::from(p.max(1e-10));
            log_sum += p.ln();
            sum += p;
        }
        let n = power.len() as f64;
        self.flatness.push((log_sum / n).exp() / (sum / n));
    }
}

/// Per-frame peaks and valleys of each contrast band, in dB. The floor needs
/// them all, because librosa's 80 dB floor is relative to the loudest value of
/// the track, so they are kept (in a [`Spill`]) until the track has gone by.
pub(crate) struct ContrastFrames {
    spill: Spill,
    frames: u64,
    peak_max: f64,
    valley_max: f64,
    scratch: Vec<f32>,
}

impl ContrastFrames {
    pub(crate) fn new() -> Self {
        Self {
            spill: Spill::new(),
            frames: 0,
            peak_max: f64::NEG_INFINITY,
            valley_max: f64::NEG_INFINITY,
            scratch: Vec::with_capacity(N_FFT / 2 + 1),
        }
    }

    /// Adds one frame's magnitude spectrum.
    pub(crate) fn push(&mut self, shape: &SpectralShape, magnitude: &[f32]) -> std::io::Result<()> {
        let mut peak = [0.0; N_CONTRAST];
        let mut valley = [0.0; N_CONTRAST];
        for (k, band) in shape.contrast_bands.iter().enumerate() {
            let q = band.quantile_count;
            self.scratch.clear();
            self.scratch.extend_from_slice(&magnitude[band.start..band.end]);
            let len = self.scratch.len();
            if len == 0 {
                continue;
            }
            let q = q.min(len);
            // The mean of the q smallest and of the q largest values; a partial
            // selection instead of librosa's full sort gives the same sets.
            self.scratch.select_nth_unstable_by(q - 1, f32::total_cmp);
            valley[k] = mean(&self.scratch[..q]);
            self.scratch.select_nth_unstable_by(len - q, f32::total_cmp);
            peak[k] = mean(&self.scratch[len - q..]);
        }
        for v in peak {
            let db = to_db(v);
            self.peak_max = self.peak_max.max(db);
            self.spill.push_f64(db)?;
        }
        for v in valley {
            let db = to_db(v);
            self.valley_max = self.valley_max.max(db);
            self.spill.push_f64(db)?;
        }
        self.frames += 1;
        Ok(())
    }

    /// Mean over frames of `power_to_db(peak) - power_to_db(valley)` per band.
    pub(crate) fn mean_db(&mut self) -> std::io::Result<[f32; N_CONTRAST]> {
        let (peak_floor, valley_floor) = (self.peak_max - 80.0, self.valley_max - 80.0);
        let mut sums = [0.0f64; N_CONTRAST];
        let mut reader = self.spill.reader()?;
        let mut peak = [0.0f64; N_CONTRAST];
        for _ in 0..self.frames {
            for p in &mut peak {
                *p = reader.f64()?.unwrap_or_default().max(peak_floor);
            }
            for (sum, p) in sums.iter_mut().zip(&peak) {
                let v = reader.f64()?.unwrap_or_default().max(valley_floor);
                *sum += p - v;
            }
        }
        let frames = self.frames.max(1) as f64;
        Ok(sums.map(|sum| (sum / frames) as f32))
    }
}

fn mean(values: &[f32]) -> f64 {
    values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64
}

/// `power_to_db(x)` with librosa's defaults, before its 80 dB floor.
fn to_db(v: f64) -> f64 {
    10.0 * v.max(1e-10).log10()
}

/// Running zero-crossing rate and RMS over the [`Framer`]'s frames.
#[derive(Debug, Default)]
pub(crate) struct FrameEnergy {
    zcr_total: f64,
    rms: Moments,
    frames: u64,
}

impl FrameEnergy {
    /// Adds one frame: its share of zero crossings
    /// (`librosa.feature.zero_crossing_rate`: frames of 2048, values within
    /// 1e-10 of zero counted as positive) and its RMS (`librosa.feature.rms`:
    /// frames of 2048, zero padding).
    pub(crate) fn push(&mut self, frame: &Frame<'_>) {
        let frame_length = N_FFT as f64;
        self.zcr_total += f64::from(frame.crossings) / frame_length;
        let energy: f64 = frame.samples[frame.real.clone()]
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum();
        self.rms.push((energy / frame_length).sqrt());
        self.frames += 1;
    }

    pub(crate) fn zcr_mean(&self) -> f32 {
        (self.zcr_total / self.frames.max(1) as f64) as f32
    }

    pub(crate) fn rms_stats(&self) -> (f32, f32) {
        (self.rms.mean(), self.rms.std())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_bands_follow_librosa_layout() {
        let bands = contrast_bands(&fft_frequencies(22050.0));
        // [0, 200] Hz is bins 0..=18; the top bin is dropped; round(0.38) → at least 1.
        assert_eq!(
            bands[0],
            ContrastBand {
                start: 0,
                end: 18,
                quantile_count: 1
            }
        );
        // The last band runs from the bin below 6400 Hz to Nyquist.
        assert_eq!(bands[6].end, 1025);
        assert_eq!(bands[6].start, 594);
        // Each band starts where the one below ends: librosa adds the bin below a
        // band and drops its top bin.
        for pair in bands.windows(2) {
            assert_eq!(pair[1].start, pair[0].end);
        }
    }

    #[test]
    fn silent_frame_edge_cases() {
        let shape = SpectralShape::new(22050.0);
        let mut stats = ShapeStats::default();
        let zeros = vec![0.0f32; 1025];
        stats.push(&shape, &zeros, &zeros);
        assert_eq!(stats.centroid.mean(), 0.0);
        assert_eq!(stats.bandwidth.mean(), 0.0);
        assert_eq!(stats.rolloff.mean(), 0.0);
        assert_eq!(stats.flatness.mean(), 1.0);
    }

    use crate::features::stft::Framer;

    fn energy_of(y: &[f32]) -> FrameEnergy {
        let mut energy = FrameEnergy::default();
        let mut framer = Framer::new();
        let mut each = |f: &Frame<'_>| energy.push(f);
        framer.push(y, &mut each);
        framer.finish(&mut each);
        energy
    }

    #[test]
    fn zero_crossings_of_a_square_wave() {
        // Period 8 samples: 2 crossings every 8 → rate 0.25 away from the edges.
        let y: Vec<f32> = (0..44100).map(|i| if (i / 4) % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let rate = energy_of(&y).zcr_mean();
        assert!((rate - 0.25).abs() < 0.01, "{rate}");
    }

    #[test]
    fn rms_of_a_constant() {
        let (mean, std) = energy_of(&vec![0.5f32; 512 * 100]).rms_stats();
        // Edge frames are half padding, so the mean is a little below 0.5.
        assert!(mean > 0.48 && mean <= 0.5, "{mean}");
        assert!(std < 0.05, "{std}");
    }
}
