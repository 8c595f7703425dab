//! The 40-dimensional similarity embedding and its distance.
//!
//! Each dimension is one feature (some through a logarithm, so that Hz and BPM
//! spread evenly), standardised with a **fixed** mean and standard deviation, clamped
//! to ±5 (`Z_CLAMP`), and the vector is then L2-normalised. Cosine distance between
//! embeddings is what "similar tracks" ranks by.
//!
//! | dims   | feature | transform |
//! |--------|---------|-----------|
//! | 0–12   | `mfcc_mean[0..13]` (timbre; 0 is overall level) | — |
//! | 13–25  | `mfcc_std[0..13]` (how the timbre moves) | — |
//! | 26–32  | `contrast_mean[0..7]` (peak-to-valley dB per octave band) | — |
//! | 33     | `centroid_mean` | ln(1 + Hz) |
//! | 34     | `bandwidth_mean` | ln(1 + Hz) |
//! | 35     | `chroma_mean` (how tonal: a clear pitch class vs all alike) | max − mean over the 12 classes |
//! | 36     | `flatness_mean` (noise-like vs tonal) | log10(flatness + 1e-6) |
//! | 37     | `zcr_mean` | — |
//! | 38     | `onset_mean` (how percussive) | — |
//! | 39     | `tempo_bpm` | log2(BPM) |
//!
//! Chroma enters only through dimension 35, which does not depend on the key: the
//! classes themselves say which key a track is in, and two songs in different keys
//! can sound alike. Rolloff is left out as it follows the centroid closely, and RMS
//! because overall level is in MFCC 0 already and depends on mastering more than on
//! the music. The `_std` features other than MFCC's are kept for display only.
//!
//! # Where the constants come from
//!
//! `MEAN` and `STD` are the per-dimension mean and standard deviation over a fixed
//! corpus of 480 generated tracks of 6–20 s (plucked strings, sustained harmonic
//! tones with vibrato, chords, drum patterns at 70–180 BPM, filtered noise textures, sweeps,
//! formant-synthesised "speech", and mixtures of these), produced by the `#[ignore]`d
//! test `derive_embedding_standardisation` in `tests/features.rs` from fixed seeds.
//! They are committed and never recomputed from the catalogue: an embedding must not
//! change when other tracks are added, or every stored vector would go stale. They
//! only need to put each dimension on a comparable scale; changing them (or the
//! feature set) means re-running `mist-server reindex-features`. On a second corpus
//! from the same generator with other seeds, 91.5 % of each track's five nearest
//! neighbours are of its own family (`corpus_retrieval_precision`; mixtures, which
//! resemble their parts, score lowest at 60 %).

use super::Features;

/// Length of [`Features::embedding`].
pub const EMBEDDING_DIM: usize = 40;

/// Standardised values are clamped to ±`Z_CLAMP`, so one extreme feature (digital
/// silence has an MFCC 0 far below any music) cannot take over the whole vector.
const Z_CLAMP: f64 = 5.0;

/// Per-dimension means of the raw (transformed) values; see the module docs.
#[rustfmt::skip]
const MEAN: [f64; EMBEDDING_DIM] = [
    // MFCC means 0–12
    -3.487229e2, 6.207483e1, -3.688296e0, 4.975301e0, -1.956698e0, -4.953240e0, -3.387650e0,
    -3.363480e0, -5.203775e0, -4.205007e0, -1.621828e0, -5.478600e-1, -8.310687e-1,
    // MFCC stds 0–12
    9.173557e1, 3.294499e1, 2.209402e1, 1.694208e1, 1.443463e1, 1.405614e1, 1.304025e1,
    1.216081e1, 1.120058e1, 1.158878e1, 1.145320e1, 1.086059e1, 1.129486e1,
    // contrast bands 0–6
    1.787177e1, 1.477825e1, 2.067903e1, 2.626944e1, 2.985509e1, 2.615518e1, 1.697373e1,
    // centroid, bandwidth, chroma peak, flatness, zcr, onset, tempo
    7.516844e0, 6.940219e0, 2.302034e-1, -2.364837e0, 1.207271e-1, 1.588194e0, 6.773247e0,
];

/// Per-dimension standard deviations of the raw (transformed) values.
#[rustfmt::skip]
const STD: [f64; EMBEDDING_DIM] = [
    // MFCC means 0–12
    1.592734e2, 7.156113e1, 2.683820e1, 2.033423e1, 1.746113e1, 1.870943e1, 1.878841e1,
    1.975810e1, 1.786715e1, 1.783641e1, 1.734053e1, 1.761637e1, 1.752174e1,
    // MFCC stds 0–12
    5.891438e1, 2.267327e1, 1.852574e1, 1.166277e1, 1.077816e1, 1.067733e1, 9.403905e0,
    9.505941e0, 8.570886e0, 8.436720e0, 7.937418e0, 7.936073e0, 8.226085e0,
    // contrast bands 0–6
    1.118561e1, 9.121970e0, 1.231431e1, 1.543369e1, 1.699802e1, 1.696007e1, 1.213939e1,
    // centroid, bandwidth, chroma peak, flatness, zcr, onset, tempo
    6.610044e-1, 1.235098e0, 2.633761e-1, 1.764673e0, 1.264592e-1, 1.218754e0, 4.697303e-1,
];

impl Features {
    /// The raw value of each embedding dimension, before standardisation (the table in
    /// the module docs).
    pub fn embedding_raw(&self) -> [f64; EMBEDDING_DIM] {
        let mut raw = [0.0f64; EMBEDDING_DIM];
        let ln_hz = |hz: f32| f64::from(hz.max(0.0)).ln_1p();
        for i in 0..13 {
            raw[i] = f64::from(self.mfcc_mean[i]);
            raw[13 + i] = f64::from(self.mfcc_std[i]);
        }
        for (r, &c) in raw[26..33].iter_mut().zip(&self.contrast_mean) {
            *r = f64::from(c);
        }
        raw[33] = ln_hz(self.centroid_mean);
        raw[34] = ln_hz(self.bandwidth_mean);
        let chroma_max = self.chroma_mean.iter().copied().fold(0.0f32, f32::max);
        let chroma_avg = self.chroma_mean.iter().sum::<f32>() / self.chroma_mean.len() as f32;
        raw[35] = f64::from(chroma_max - chroma_avg);
        raw[36] = (f64::from(self.flatness_mean.max(0.0)) + 1e-6).log10();
        raw[37] = f64::from(self.zcr_mean);
        raw[38] = f64::from(self.onset_mean);
        raw[39] = f64::from(self.tempo_bpm.max(1.0)).log2();
        raw
    }

    /// The unit-length 40-dimensional embedding (see the module docs for what each
    /// dimension is and how it is scaled). Compare embeddings with
    /// [`cosine_distance`].
    pub fn embedding(&self) -> [f32; EMBEDDING_DIM] {
        let raw = self.embedding_raw();
        let mut z = [0.0f64; EMBEDDING_DIM];
        for (i, v) in z.iter_mut().enumerate() {
            let standard = (raw[i] - MEAN[i]) / STD[i];
            // A NaN could only come from a non-finite feature; it would poison every
            // distance to this track, so it counts as average instead.
            *v = if standard.is_nan() {
                0.0
            } else {
                standard.clamp(-Z_CLAMP, Z_CLAMP)
            };
        }
        let norm = z.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 {
            return [0.0; EMBEDDING_DIM];
        }
        z.map(|v| (v / norm) as f32)
    }
}

/// Cosine distance, `1 − cos(a, b)`, in [0, 2]: 0 for the same direction. A zero
/// vector is at distance 1 from everything. Both slices should have the same length;
/// extra elements of the longer one are ignored.
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return 1.0;
    }
    let cos = (ab / (aa.sqrt() * bb.sqrt())).clamp(-1.0, 1.0);
    (1.0 - cos) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_distance_basics() {
        assert_eq!(cosine_distance(&[1.0, 0.0], &[2.0, 0.0]), 0.0);
        assert!((cosine_distance(&[1.0, 0.0], &[0.0, 3.0]) - 1.0).abs() < 1e-7);
        assert!((cosine_distance(&[1.0, 1.0], &[-1.0, -1.0]) - 2.0).abs() < 1e-7);
        assert_eq!(cosine_distance(&[0.0, 0.0], &[1.0, 0.0]), 1.0);
    }

    #[test]
    fn standardisation_constants_are_usable() {
        assert!(STD.iter().all(|&s| s > 0.0 && s.is_finite()));
        assert!(MEAN.iter().all(|m| m.is_finite()));
    }
}
