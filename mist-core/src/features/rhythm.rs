//! Onset strength and tempo.
//!
//! The onset envelope is `librosa.onset.onset_strength` with its defaults: the mean
//! over mel bands of the rise (lag 1, no maximum filter) of the dB mel spectrogram,
//! delayed by 3 frames as librosa's centred envelope is. Tempo is
//! `librosa.feature.tempo`: the mean over time of an 8 s autocorrelation tempogram,
//! weighted by a log-normal prior around 120 BPM, max 320 BPM. librosa stops at a
//! whole number of hops per beat, which near 120 BPM is a 5 % grid; [`tempo`] then
//! refines the period to 1/100 hop (see there).

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

use super::stft::hann_periodic;
use super::{HOP, N_FFT, N_MELS};

/// Onset strength per frame, fed one floored dB mel frame at a time: the
/// envelope is one value per frame (172 bytes a second of audio), the bounded
/// summary of the track that tempo needs.
pub(crate) struct OnsetEnvelope {
    previous: Option<Vec<f32>>,
    env: Vec<f32>,
}

impl OnsetEnvelope {
    pub(crate) fn new() -> Self {
        // librosa pads `lag + n_fft / (2 hop)` zeros in front and trims to the frame count.
        OnsetEnvelope {
            previous: None,
            env: vec![0.0; ONSET_DELAY],
        }
    }

    pub(crate) fn push(&mut self, frame: &[f32]) {
        if let Some(prev) = self.previous.as_mut() {
            let rise: f64 = prev.iter().zip(frame).map(|(&a, &b)| f64::from((b - a).max(0.0))).sum();
            self.env.push((rise / N_MELS as f64) as f32);
            prev.copy_from_slice(frame);
        } else {
            self.previous = Some(frame.to_vec());
        }
    }

    /// The envelope of the `frames` frames pushed.
    pub(crate) fn finish(mut self, frames: usize) -> Vec<f32> {
        self.env.resize(frames, 0.0);
        self.env
    }
}

/// Frames the envelope lags the spectrogram by.
const ONSET_DELAY: usize = 1 + N_FFT / (2 * HOP);

/// Onset strength per frame from the dB mel spectrogram (frame-major, 128 a frame).
#[cfg(test)]
pub(crate) fn onset_envelope(mel_db: &[f32]) -> Vec<f32> {
    let mut onset = OnsetEnvelope::new();
    for frame in mel_db.chunks_exact(N_MELS) {
        onset.push(frame);
    }
    onset.finish(mel_db.len() / N_MELS)
}

/// Beats per minute of a lag of `lag` onset frames.
fn lag_to_bpm(lag: f64, sr: f64) -> f64 {
    60.0 * sr / (HOP as f64 * lag)
}

/// The tempo in BPM from the onset envelope.
///
/// First librosa's estimate: the lag maximising `log1p(1e6 · tempogram) + log prior`.
/// Then the period is refined within ±0.5 lag: each candidate period T (steps of
/// 0.01) is scored by the mean tempogram, linearly interpolated, summed over its
/// multiples T, 2T, … up to the 8 s window. A steady beat puts a peak at every
/// multiple of its true period, and the farther multiples pin T down to a small
/// fraction of a hop. Ties keep librosa's period, so a silent track gets librosa's
/// answer for silence (117.5 BPM, the lag nearest the prior's 120).
pub(crate) fn tempo(onset: &[f32], sr: f64) -> f64 {
    let win = (8.0 * sr / HOP as f64).floor() as usize;
    let tg = tempogram_mean(onset, win);

    let log2_start = 120f64.log2();
    let mut best = None::<(usize, f64)>;
    for (lag, &value) in tg.iter().enumerate().skip(1) {
        let bpm = lag_to_bpm(lag as f64, sr);
        if bpm >= 320.0 {
            continue;
        }
        let prior = -0.5 * (bpm.log2() - log2_start).powi(2);
        let score = (1e6 * value).ln_1p() + prior;
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((lag, score));
        }
    }
    let Some((lag, _)) = best else {
        return 120.0;
    };
    lag_to_bpm(refine_period(&tg, lag), sr)
}

/// The period near `lag` whose comb of multiples best fits the mean tempogram.
fn refine_period(tg: &[f64], lag: usize) -> f64 {
    let last = (tg.len() - 1) as f64;
    let interp = |x: f64| {
        let i = x.floor() as usize;
        let frac = x - i as f64;
        if i + 1 >= tg.len() {
            tg[tg.len() - 1]
        } else {
            tg[i] * (1.0 - frac) + tg[i + 1] * frac
        }
    };
    let multiples = ((last / (lag as f64 + 0.5)).floor() as usize).max(1);
    let score = |period: f64| (1..=multiples).map(|k| interp(k as f64 * period)).sum::<f64>();
    let mut best = (lag as f64, score(lag as f64));
    for step in -50..=50 {
        let period = lag as f64 + f64::from(step) / 100.0;
        let s = score(period);
        if s > best.1 {
            best = (period, s);
        }
    }
    best.0
}

/// `librosa.feature.tempogram(onset_envelope, win_length=win)` averaged over time:
/// the envelope is padded with linear ramps to zero, cut into Hann-windowed frames of
/// `win` around every onset frame, and each frame's autocorrelation (lags 0..win) is
/// divided by its largest value before averaging.
fn tempogram_mean(onset: &[f32], win: usize) -> Vec<f64> {
    let n = onset.len();
    let half = win / 2;
    let mut padded = Vec::with_capacity(n + 2 * half);
    // np.pad(mode="linear_ramp", end_values=0), in float32 like the envelope.
    let (first, last) = (onset[0], onset[n - 1]);
    padded.extend((0..half).map(|i| i as f32 * (first / half as f32)));
    padded.extend_from_slice(onset);
    padded.extend((0..half).map(|j| (half - 1 - j) as f32 * (last / half as f32)));

    let window = hann_periodic(win);
    let size = (2 * win - 1).next_power_of_two();
    let mut planner = FftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(size);
    let inverse = planner.plan_fft_inverse(size);
    let mut buf = vec![Complex::new(0.0, 0.0); size];
    let mut spectrum = vec![Complex::new(0.0, 0.0); size];
    let mut sum = vec![0.0f64; win];

    let frame = |t: usize| -> Option<Vec<f64>> {
        (t < n).then(|| {
            padded[t..t + win]
                .iter()
                .zip(&window)
                .map(|(&x, &w)| f64::from(x) * w)
                .collect()
        })
    };
    // Two real frames share one complex FFT each way: frame a in the real part, b in
    // the imaginary part. Their power spectra separate by conjugate symmetry, and
    // both autocorrelations come back real, in the two parts of one inverse FFT.
    for t in (0..n).step_by(2) {
        let a = frame(t).unwrap_or_default();
        let b = frame(t + 1).unwrap_or_default();
        for (i, c) in buf.iter_mut().enumerate() {
            *c = Complex::new(a.get(i).copied().unwrap_or(0.0), b.get(i).copied().unwrap_or(0.0));
        }
        forward.process(&mut buf);
        for k in 0..size {
            let z = buf[k];
            let zc = buf[(size - k) % size].conj();
            let pa = (z + zc).norm_sqr() / 4.0;
            let pb = (z - zc).norm_sqr() / 4.0;
            spectrum[k] = Complex::new(pa, pb);
        }
        inverse.process(&mut spectrum);
        for (frame, values) in [(&a, 0), (&b, 1)] {
            // An all-zero frame has an all-zero autocorrelation, which librosa leaves
            // unscaled; only the other frame's rounding noise would be left here.
            if frame.iter().all(|&x| x == 0.0) {
                continue;
            }
            let r = |lag: usize| {
                let c = spectrum[lag];
                (if values == 0 { c.re } else { c.im }) / size as f64
            };
            let max = (0..win).map(|lag| r(lag).abs()).fold(0.0, f64::max);
            let scale = if max < f64::MIN_POSITIVE { 1.0 } else { 1.0 / max };
            for (lag, s) in sum.iter_mut().enumerate() {
                *s += r(lag) * scale;
            }
        }
    }
    sum.iter().map(|s| s / n as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{analyze, mel, stft};
    use std::f64::consts::PI;

    /// The click track of `tests/features.rs` (a 1.5 kHz, 30 ms decaying burst on
    /// every beat).
    fn clicks(bpm: f64, seconds: f64) -> Vec<f32> {
        let sr = 22050.0;
        let n = (seconds * sr).round() as usize;
        let mut y = vec![0.0f64; n];
        let period = 60.0 * sr / bpm;
        let burst_len = (0.03 * sr) as usize;
        let mut k = 0;
        loop {
            let start = (k as f64 * period).round_ties_even() as usize;
            if start >= n {
                break;
            }
            for i in 0..burst_len.min(n - start) {
                let t = i as f64 / sr;
                y[start + i] += 0.8 * (2.0 * PI * 1500.0 * t).sin() * (-t / 0.006).exp();
            }
            k += 1;
        }
        y.into_iter().map(|v| v as f32).collect()
    }

    fn onset_of(y: &[f32]) -> Vec<f32> {
        let bank = mel::MelFilterbank::slaney(22050.0);
        let mut power = Vec::new();
        stft::Stft::new().for_each_power_frame(y, |p| bank.push_frame(p, &mut power));
        onset_envelope(&mel::power_to_db_top80(power))
    }

    /// Before refinement, the lag grid gives librosa's own answers for the click
    /// tracks (from tests/data/features/reference.json).
    #[test]
    fn unrefined_tempo_matches_librosa_grid() {
        let reference: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/features/reference.json")).unwrap();
        for bpm in [90, 120, 140] {
            let onset = onset_of(&clicks(f64::from(bpm), 12.0));
            let tg = tempogram_mean(&onset, 344);
            let (lag, _) = tg
                .iter()
                .enumerate()
                .skip(9)
                .map(|(lag, &v)| {
                    let b = lag_to_bpm(lag as f64, 22050.0);
                    (lag, (1e6 * v).ln_1p() - 0.5 * (b.log2() - 120f64.log2()).powi(2))
                })
                .fold((0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
            let ours = lag_to_bpm(lag as f64, 22050.0);
            let librosa = reference["signals"][format!("clicks_{bpm}")]["tempo_bpm"]
                .as_f64()
                .unwrap();
            assert!((ours - librosa).abs() < 1e-6, "{bpm}: {ours} vs librosa {librosa}");
        }
    }

    #[test]
    fn refined_tempo_of_click_tracks() {
        for bpm in [72.0, 90.0, 120.0, 128.0, 140.0, 174.0] {
            let features = analyze(&clicks(bpm, 12.0)).unwrap();
            let error = (f64::from(features.tempo_bpm) - bpm).abs() / bpm;
            assert!(error < 0.01, "{bpm} BPM estimated as {}", features.tempo_bpm);
        }
    }

    #[test]
    fn onset_envelope_is_delayed_by_three_frames() {
        let mut db = vec![0.0f32; N_MELS * 6];
        db[N_MELS * 4..].fill(10.0); // everything rises by 10 dB at frame 4
        let env = onset_envelope(&db);
        assert_eq!(env, vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let mut db = vec![0.0f32; N_MELS * 8];
        db[N_MELS * 2..].fill(10.0);
        let env = onset_envelope(&db);
        assert_eq!(env, vec![0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0]);
    }
}
