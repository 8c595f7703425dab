//! Audio features of a whole track and the 40-dimensional similarity embedding.
//!
//! This module owns the signal analysis behind "similar tracks": it turns decoded
//! samples into named [`Features`] (what `GET /tracks/{id}/features` shows) and
//! [`Features::embedding`] (what the similarity index stores). It does no I/O, knows
//! nothing of databases, and never sees encoded audio: the ingest worker decodes
//! and pushes the samples into an [`Extractor`] in the same pass as transcoding,
//! a chunk at a time; [`analyze`] does the same for a signal already in memory.
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
//! onset frame for the tempogram. Memory does not grow with the track: what the
//! whole-track steps need again (the dB mel spectrogram under its track-wide floor,
//! contrast peaks and valleys, spectral peaks, and the 22.05 kHz signal for the
//! chroma pass) is written to temporary files, about 0.45 GB per hour of audio,
//! and read back in order; only the onset envelope (0.6 MB an hour) is kept.
//! Five minutes of audio take about 0.45 s in a release build on one core of the
//! project's 2-core machine (librosa 0.11: 3.4 s); `bench_five_minutes` in
//! `tests/features.rs` measures it.

mod chroma;
mod decimate;
mod embedding;
mod mel;
mod rhythm;
mod spectral;
mod spill;
mod stft;

use serde::{Deserialize, Serialize};

use decimate::Decimator;
pub use decimate::prepare;
pub use embedding::{EMBEDDING_DIM, cosine_distance};
use spill::Spill;
use stft::Framer;

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
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum FeatureError {
    #[error("no samples to analyse")]
    Empty,
    #[error("sample {index} is not a finite number")]
    NonFinite { index: usize },
    /// The temporary files that hold whole-track values failed.
    #[error("analysis scratch files: {0}")]
    Io(String),
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
    let mut extractor = Extractor::new();
    extractor.push_mono(mono_22050)?;
    extractor.finish()
}

/// The analysis of a track that arrives in pieces: push the decoded audio as it
/// comes ([`Extractor::push_stereo_44100`] for the ingest's 44.1 kHz stereo,
/// [`Extractor::push_mono`] for 22.05 kHz mono), then [`Extractor::finish`].
///
/// The result is exactly [`analyze`]'s for the whole signal. Memory stays
/// bounded: each frame's spectrum is reduced at once; what the whole-track
/// steps need again (the dB mel frames and contrast values under librosa's
/// track-wide 80 dB floor, the spectral peaks behind the tuning estimate, and
/// the 22.05 kHz signal for the chroma pass that tuning decides) goes to
/// temporary files (see `spill`); only the onset envelope, one value per
/// frame, stays in memory for the tempo.
pub struct Extractor {
    decimator: Decimator,
    framer: Framer,
    stft: stft::Stft,
    spectrum: stft::Spectrum,
    mel_bank: mel::MelFilterbank,
    spectral: spectral::SpectralShape,
    shape: spectral::ShapeStats,
    contrast: spectral::ContrastFrames,
    peaks: chroma::TuningPeaks,
    energy: spectral::FrameEnergy,
    /// dB mel frames before the floor, 128 values a frame.
    mel_db: Spill,
    mel_max: f32,
    /// The 22.05 kHz signal, for the chroma pass.
    signal: Spill,
    mono: Vec<f32>,
    error: Option<FeatureError>,
}

impl Default for Extractor {
    fn default() -> Self {
        Self::new()
    }
}

impl Extractor {
    pub fn new() -> Self {
        let sr = f64::from(SAMPLE_RATE);
        let stft = stft::Stft::new();
        let spectrum = stft::Spectrum::new(&stft);
        Extractor {
            decimator: Decimator::new(),
            framer: Framer::new(),
            stft,
            spectrum,
            mel_bank: mel::MelFilterbank::slaney(sr),
            spectral: spectral::SpectralShape::new(sr),
            shape: spectral::ShapeStats::default(),
            contrast: spectral::ContrastFrames::new(),
            peaks: chroma::TuningPeaks::new(sr),
            energy: spectral::FrameEnergy::default(),
            mel_db: Spill::new(),
            mel_max: f32::NEG_INFINITY,
            signal: Spill::new(),
            mono: Vec::new(),
            error: None,
        }
    }

    /// Adds interleaved 44.1 kHz stereo (whole frames), as the ingest decodes it.
    pub fn push_stereo_44100(&mut self, stereo: &[f32]) -> Result<(), FeatureError> {
        let mut mono = std::mem::take(&mut self.mono);
        mono.clear();
        self.decimator.push(stereo, &mut mono);
        let result = self.push_mono(&mono);
        self.mono = mono;
        result
    }

    /// Adds mono audio at [`SAMPLE_RATE`].
    pub fn push_mono(&mut self, y: &[f32]) -> Result<(), FeatureError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if let Some(i) = y.iter().position(|x| !x.is_finite()) {
            let error = FeatureError::NonFinite {
                index: self.framer.len() + i,
            };
            self.error = Some(error.clone());
            return Err(error);
        }
        self.signal.push_f32s(y).map_err(io_error)?;
        let mut framer = std::mem::replace(&mut self.framer, Framer::new());
        let mut failed = None;
        framer.push(y, &mut |frame| {
            if failed.is_none() {
                failed = self.frame(frame).err();
            }
        });
        self.framer = framer;
        match failed {
            Some(e) => {
                let error = io_error(e);
                self.error = Some(error.clone());
                Err(error)
            }
            None => Ok(()),
        }
    }

    /// Pass 1: everything that needs each frame's spectrum once.
    fn frame(&mut self, frame: &stft::Frame<'_>) -> std::io::Result<()> {
        self.stft.transform(frame.samples, &mut self.spectrum);
        let (power, magnitude) = (&self.spectrum.power, &self.spectrum.magnitude);
        for v in self.mel_bank.bands(power) {
            let db = mel::power_to_db(v);
            self.mel_max = self.mel_max.max(db);
            self.mel_db.push_f32(db)?;
        }
        self.shape.push(&self.spectral, power, magnitude);
        self.contrast.push(&self.spectral, magnitude)?;
        self.peaks.push_frame(power)?;
        self.energy.push(frame);
        Ok(())
    }

    /// The features of everything pushed.
    pub fn finish(mut self) -> Result<Features, FeatureError> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        let mut tail = Vec::new();
        self.decimator.finish(&mut tail);
        if !tail.is_empty() {
            self.push_mono(&tail)?;
        }
        if self.framer.len() == 0 {
            return Err(FeatureError::Empty);
        }
        let mut framer = std::mem::replace(&mut self.framer, Framer::new());
        let mut failed = None;
        framer.finish(&mut |frame| {
            if failed.is_none() {
                failed = self.frame(frame).err();
            }
        });
        if let Some(e) = failed {
            return Err(io_error(e));
        }
        let (samples, n_frames) = (framer.len(), framer.frames());
        let sr = f64::from(SAMPLE_RATE);

        // The dB mel spectrogram under its track-wide floor: MFCCs and onsets.
        let floor = self.mel_max - 80.0;
        let mut mfcc = mel::MfccStats::new();
        let mut onset = rhythm::OnsetEnvelope::new();
        let mut frame = [0.0f32; N_MELS];
        let mut reader = self.mel_db.reader().map_err(io_error)?;
        while reader.f32s(&mut frame).map_err(io_error)? == N_MELS {
            for v in &mut frame {
                *v = v.max(floor);
            }
            mfcc.push(&frame);
            onset.push(&frame);
        }
        let onset = onset.finish(n_frames);
        let tempo_bpm = rhythm::tempo(&onset, sr);

        // Pass 2: chroma, whose filterbank depends on the whole track's tuning.
        let tuning = self.peaks.estimate_tuning().map_err(io_error)?;
        let chroma_bank = chroma::ChromaFilterbank::new(sr, tuning);
        let mut chroma_sum = [0.0f64; N_CHROMA];
        let mut chroma_frame = [0.0f32; N_CHROMA];
        let mut signal = self.signal.reader().map_err(io_error)?;
        let mut framer = Framer::new();
        let mut piece = vec![0.0f32; 1 << 16];
        let (stft, spectrum) = (&self.stft, &mut self.spectrum);
        let mut each = |frame: &stft::Frame<'_>| {
            stft.transform(frame.samples, spectrum);
            chroma_bank.frame(&spectrum.power, &mut chroma_frame);
            for (s, &c) in chroma_sum.iter_mut().zip(&chroma_frame) {
                *s += f64::from(c);
            }
        };
        loop {
            let n = signal.f32s(&mut piece).map_err(io_error)?;
            framer.push(&piece[..n], &mut each);
            if n < piece.len() {
                break;
            }
        }
        framer.finish(&mut each);

        let contrast_mean = self.contrast.mean_db().map_err(io_error)?;
        let (rms_mean, rms_std) = self.energy.rms_stats();
        let frames = n_frames as f64;
        Ok(Features {
            mfcc_mean: mfcc.mean(),
            mfcc_std: mfcc.std(),
            centroid_mean: self.shape.centroid.mean(),
            centroid_std: self.shape.centroid.std(),
            bandwidth_mean: self.shape.bandwidth.mean(),
            bandwidth_std: self.shape.bandwidth.std(),
            rolloff_mean: self.shape.rolloff.mean(),
            rolloff_std: self.shape.rolloff.std(),
            contrast_mean,
            flatness_mean: self.shape.flatness.mean(),
            chroma_mean: chroma_sum.map(|s| (s / frames) as f32),
            zcr_mean: self.energy.zcr_mean(),
            rms_mean,
            rms_std,
            onset_mean: (onset.iter().map(|&o| f64::from(o)).sum::<f64>() / onset.len() as f64) as f32,
            tempo_bpm: tempo_bpm as f32,
            duration_s: (samples as f64 / sr) as f32,
        })
    }
}

fn io_error(e: std::io::Error) -> FeatureError {
    FeatureError::Io(e.to_string())
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

    /// Pushed in any pieces, as stereo or as mono, the features are exactly
    /// those of the whole signal at once.
    #[test]
    fn pieces_give_exactly_the_features_of_the_whole() {
        let stereo: Vec<f32> = (0..44_100 * 3)
            .flat_map(|i| {
                let t = i as f32 / 44_100.0;
                let beat = if (i / 11_025) % 2 == 0 { 1.0 } else { 0.3 };
                [
                    beat * 0.5 * (2.0 * std::f32::consts::PI * 440.0 * t).sin(),
                    0.3 * (2.0 * std::f32::consts::PI * 659.3 * t).sin(),
                ]
            })
            .collect();
        let whole = analyze(&prepare(&stereo)).unwrap();
        for piece in [2, 1000, 65_536] {
            let mut extractor = Extractor::new();
            for part in stereo.chunks(piece) {
                extractor.push_stereo_44100(part).unwrap();
            }
            assert_eq!(extractor.finish().unwrap(), whole, "stereo in pieces of {piece}");
        }
        let mono = prepare(&stereo);
        let mut extractor = Extractor::new();
        for part in mono.chunks(333) {
            extractor.push_mono(part).unwrap();
        }
        assert_eq!(extractor.finish().unwrap(), whole);
    }

    #[test]
    fn non_finite_samples_are_found_across_pieces() {
        let mut extractor = Extractor::new();
        extractor.push_mono(&[0.1; 100]).unwrap();
        assert_eq!(
            extractor.push_mono(&[0.0, f32::INFINITY]),
            Err(FeatureError::NonFinite { index: 101 })
        );
        assert_eq!(extractor.finish(), Err(FeatureError::NonFinite { index: 101 }));
        assert_eq!(Extractor::new().finish(), Err(FeatureError::Empty));
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
