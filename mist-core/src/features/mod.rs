//! Audio features of a whole track and the 40-dimensional similarity embedding.
//!
//! This module owns the signal analysis behind "similar tracks": it turns decoded
//! samples into named [`Features`] (what `GET /tracks/{id}/features` shows) and
//! [`Features::embedding`] (what the similarity index stores). It does no I/O, knows
//! nothing of databases, and never sees encoded audio: the ingest worker decodes,
//! calls [`prepare`] and then [`analyze`] on the samples in the same pass as
//! transcoding.
//!
//! # Agreement with librosa
//!
//! Every feature librosa also computes is computed the way librosa 0.11 does it with
//! its defaults, so values can be checked against it (`scripts/librosa_reference.py`
//! writes reference values for generated signals; `tests/features.rs` compares):
//!
//! | parameter | value |
//! |-----------|-------|
//! | sample rate | 22 050 Hz mono ([`SAMPLE_RATE`]) |
//! | STFT | n_fft 2048, hop 512, periodic Hann window, centred frames padded with **zeros** (librosa 0.11's `pad_mode="constant"`), `1 + len / 512` frames |
//! | mel | 128 bands, Slaney mel scale and Slaney area normalisation, 0 Hz – 11 025 Hz, on the power spectrogram |
//! | MFCC | 20 coefficients, DCT-II (orthonormal) of `power_to_db(mel, ref=1, amin=1e-10, top_db=80)`; the 80 dB floor is relative to the loudest mel value of the **whole track** |
//! | centroid, bandwidth (p = 2), rolloff (85 %) | magnitude spectrogram |
//! | contrast | magnitude spectrogram, 6 octave bands from 200 Hz + the rest (7 values), quantile 0.02, `power_to_db` of peaks and valleys with librosa's whole-track 80 dB floor |
//! | flatness | power spectrogram, amin 1e-10 |
//! | chroma | `chroma_stft`: 12 classes from C, Ellis' chroma filterbank (octave weighting around 880 Hz, width 2 octaves), per-frame max normalisation, tuning **estimated** like `librosa.estimate_tuning` (piptrack peaks 150–4000 Hz, median magnitude threshold, 0.01-semitone histogram) |
//! | zero-crossing rate | frames of 2048, hop 512, centred with edge padding, threshold 1e-10 |
//! | RMS | frames of 2048, hop 512, centred with zero padding |
//! | onset strength | mean over mel bands of the positive first difference (lag 1) of the same dB mel spectrogram, shifted by 3 frames like librosa's centred envelope |
//! | tempo | librosa's `feature.tempo`: mean of the 8 s autocorrelation tempogram (Hann window, per-frame max normalisation), log-normal prior around 120 BPM (1 octave std), max 320 BPM; **then refined** below the lag grid (see [`Features::tempo_bpm`]) |
//!
//! Means and standard deviations are over all frames (population std, like numpy).
//!
//! # Cost
//!
//! Two STFT passes (the second only for chroma, because the tuning estimate needs the
//! whole track first; keeping the spectrogram instead would cost ~0.7 GB an hour of
//! audio), one half-size complex FFT per frame each, plus an FFT autocorrelation per
//! onset frame for the tempogram. Memory is O(frames × 128) for the mel spectrogram,
//! which the whole-track dB floor needs. Five minutes of audio take about 0.45 s in
//! a release build on one core of the project's 2-core machine (librosa 0.11: 3.4 s);
//! `bench_five_minutes` in `tests/features.rs` measures it.

mod chroma;
mod decimate;
mod embedding;
mod mel;
mod rhythm;
mod spectral;
mod stft;

use serde::{Deserialize, Serialize};

pub use decimate::prepare;
pub use embedding::{EMBEDDING_DIM, cosine_distance};

/// The sample rate [`analyze`] expects, in Hz.
pub const SAMPLE_RATE: u32 = 22_050;
/// STFT size (librosa's default `n_fft`).
pub(crate) const N_FFT: usize = 2048;
/// Hop between frames, in samples (librosa's default `hop_length`).
pub(crate) const HOP: usize = 512;
/// Frequency bins of one STFT frame.
pub(crate) const N_BINS: usize = N_FFT / 2 + 1;
/// Mel bands (librosa's default `n_mels`).
pub(crate) const N_MELS: usize = 128;
/// MFCC coefficients kept.
pub(crate) const N_MFCC: usize = 20;
/// Spectral contrast values: 6 octave bands and the band above them.
pub(crate) const N_CONTRAST: usize = 7;
/// Pitch classes.
pub(crate) const N_CHROMA: usize = 12;

/// Why a signal could not be analysed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FeatureError {
    #[error("no samples to analyse")]
    Empty,
    #[error("sample {index} is not a finite number")]
    NonFinite { index: usize },
}

/// Named features of a whole track, each a mean (and some a standard deviation) over
/// STFT frames. Field units: Hz for centroid, bandwidth and rolloff; dB for MFCCs
/// and contrast; linear amplitude for RMS; BPM; seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Features {
    pub mfcc_mean: [f32; N_MFCC],
    pub mfcc_std: [f32; N_MFCC],
    pub centroid_mean: f32,
    pub centroid_std: f32,
    pub bandwidth_mean: f32,
    pub bandwidth_std: f32,
    pub rolloff_mean: f32,
    pub rolloff_std: f32,
    pub contrast_mean: [f32; N_CONTRAST],
    pub flatness_mean: f32,
    /// C, C♯, D, … B; each frame is scaled so its largest class is 1.
    pub chroma_mean: [f32; N_CHROMA],
    pub zcr_mean: f32,
    pub rms_mean: f32,
    pub rms_std: f32,
    pub onset_mean: f32,
    /// librosa's tempo estimate, refined below its lag grid: librosa only returns
    /// tempi whose beat period is a whole number of hops (at 120 BPM the neighbours
    /// are 117.5 and 123.0 BPM), so the period is refined to 1/100 hop by aligning a
    /// comb of its multiples with the mean tempogram. The result stays within half a
    /// hop of librosa's period.
    pub tempo_bpm: f32,
    pub duration_s: f32,
}

/// Analyses a whole track: `mono_22050` is mono audio at [`SAMPLE_RATE`] (see
/// [`prepare`] for 44.1 kHz stereo), nominally in [-1, 1].
pub fn analyze(mono_22050: &[f32]) -> Result<Features, FeatureError> {
    if mono_22050.is_empty() {
        return Err(FeatureError::Empty);
    }
    if let Some(index) = mono_22050.iter().position(|x| !x.is_finite()) {
        return Err(FeatureError::NonFinite { index });
    }
    let y = mono_22050;
    let sr = f64::from(SAMPLE_RATE);

    let stft = stft::Stft::new();
    let mel_bank = mel::MelFilterbank::slaney(sr);
    let spectral = spectral::SpectralShape::new(sr);
    let mut peaks = chroma::TuningPeaks::new(sr);

    let n_frames = stft::frame_count(y.len());
    let mut mel_power = Vec::with_capacity(n_frames * N_MELS);
    let mut shape = spectral::ShapeStats::default();
    let mut contrast = spectral::ContrastFrames::with_capacity(n_frames);

    // Pass 1: everything that needs the spectrum once.
    stft.for_each_frame(y, |power, magnitude| {
        mel_bank.push_frame(power, &mut mel_power);
        shape.push(&spectral, power, magnitude);
        contrast.push(&spectral, magnitude);
        peaks.push_frame(power);
    });

    // Pass 2: chroma, whose filterbank depends on the whole track's tuning.
    let tuning = peaks.estimate_tuning();
    let chroma_bank = chroma::ChromaFilterbank::new(sr, tuning);
    let mut chroma_sum = [0.0f64; N_CHROMA];
    let mut chroma_frame = [0.0f32; N_CHROMA];
    stft.for_each_power_frame(y, |power| {
        chroma_bank.frame(power, &mut chroma_frame);
        for (s, &c) in chroma_sum.iter_mut().zip(&chroma_frame) {
            *s += f64::from(c);
        }
    });

    let mel_db = mel::power_to_db_top80(mel_power);
    let mfcc = mel::mfcc_stats(&mel_db);
    let onset = rhythm::onset_envelope(&mel_db);
    let tempo_bpm = rhythm::tempo(&onset, sr);
    let (zcr_mean, (rms_mean, rms_std)) = (spectral::zcr_mean(y), spectral::rms_stats(y));

    let frames = n_frames as f64;
    Ok(Features {
        mfcc_mean: mfcc.mean,
        mfcc_std: mfcc.std,
        centroid_mean: shape.centroid.mean(),
        centroid_std: shape.centroid.std(),
        bandwidth_mean: shape.bandwidth.mean(),
        bandwidth_std: shape.bandwidth.std(),
        rolloff_mean: shape.rolloff.mean(),
        rolloff_std: shape.rolloff.std(),
        contrast_mean: contrast.mean_db(),
        flatness_mean: shape.flatness.mean(),
        chroma_mean: chroma_sum.map(|s| (s / frames) as f32),
        zcr_mean,
        rms_mean,
        rms_std,
        onset_mean: (onset.iter().map(|&o| f64::from(o)).sum::<f64>() / onset.len() as f64) as f32,
        tempo_bpm: tempo_bpm as f32,
        duration_s: (y.len() as f64 / sr) as f32,
    })
}

/// Running mean and population standard deviation of a per-frame value.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Moments {
    n: u64,
    sum: f64,
    sum_sq: f64,
}

impl Moments {
    pub(crate) fn push(&mut self, x: f64) {
        self.n += 1;
        self.sum += x;
        self.sum_sq += x * x;
    }

    pub(crate) fn mean(&self) -> f32 {
        if self.n == 0 {
            return 0.0;
        }
        (self.sum / self.n as f64) as f32
    }

    pub(crate) fn std(&self) -> f32 {
        if self.n == 0 {
            return 0.0;
        }
        let n = self.n as f64;
        let mean = self.sum / n;
        // Clamped: cancellation can make a constant feature's variance a hair negative.
        (self.sum_sq / n - mean * mean).max(0.0).sqrt() as f32
    }
}

/// `a · b` with eight independent partial sums, so the compiler can vectorise it
/// (a single running sum has a fixed order that forbids SIMD).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += xa[i] * xb[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_and_non_finite_input() {
        assert_eq!(analyze(&[]), Err(FeatureError::Empty));
        assert_eq!(analyze(&[0.0, f32::NAN]), Err(FeatureError::NonFinite { index: 1 }));
    }

    #[test]
    fn analyses_inputs_shorter_than_a_frame() {
        for len in [1, 511, 512, 2047] {
            let y: Vec<f32> = (0..len).map(|i| (i as f32 * 0.1).sin()).collect();
            let features = analyze(&y).expect("analysis");
            assert!(features.mfcc_mean.iter().all(|v| v.is_finite()), "{len}");
            assert!(features.tempo_bpm.is_finite() && features.tempo_bpm > 0.0);
            assert!(features.embedding().iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn dot_matches_a_plain_sum() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.01).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-3);
    }

    #[test]
    fn moments_are_population_statistics() {
        let mut m = Moments::default();
        for x in [1.0, 2.0, 3.0, 4.0] {
            m.push(x);
        }
        assert_eq!(m.mean(), 2.5);
        assert!((m.std() - 1.118_034).abs() < 1e-6);
    }
}
