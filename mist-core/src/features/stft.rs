//! The short-time Fourier transform: centred, zero-padded, Hann-windowed frames of
//! 2048 samples every 512, as power spectra (`|X|²`, 1025 bins).
//!
//! Matches `librosa.stft(y, n_fft=2048, hop_length=512)` with librosa 0.11's defaults:
//! `center=True` with `pad_mode="constant"` (zeros; older librosa used reflection)
//! and scipy's periodic Hann window. Like librosa, the window and the FFT are in
//! float64 and the spectrum is then rounded to float32: a pure tone's spectrum is
//! ~140 dB down a few bins away, so float32 FFT rounding noise would otherwise
//! decide bandwidth and contrast. Each real frame goes through one complex FFT of
//! half the size (even samples as the real part, odd as the imaginary part) and is
//! then unpacked, which halves the FFT work without mixing frames: a silent frame
//! stays exactly zero, as librosa's does.

use std::f64::consts::PI;
use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use super::{HOP, N_BINS, N_FFT};

/// Number of centred frames for a signal of `len` samples, as librosa counts them.
pub(crate) fn frame_count(len: usize) -> usize {
    1 + len / HOP
}

/// scipy's `get_window("hann", n, fftbins=True)`: the periodic Hann window.
pub(crate) fn hann_periodic(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos())
        .collect()
}

/// Centre frequency of each STFT bin in Hz, computed as numpy's `rfftfreq` does so
/// that band edges compare equal to librosa's (`k · (1 / (n · (1/sr)))`).
pub(crate) fn fft_frequencies(sr: f64) -> Vec<f64> {
    let step = 1.0 / (N_FFT as f64 * (1.0 / sr));
    (0..N_BINS).map(|k| k as f64 * step).collect()
}

/// A reusable STFT plan.
pub(crate) struct Stft {
    window: Vec<f64>,
    fft: Arc<dyn Fft<f64>>,
    /// `e^{-2πik/N}` for k in 0..N/2, to unpack the half-size FFT.
    twiddles: Vec<Complex<f64>>,
}

impl Stft {
    pub(crate) fn new() -> Self {
        let half = N_FFT / 2;
        Self {
            window: hann_periodic(N_FFT),
            fft: FftPlanner::new().plan_fft_forward(half),
            twiddles: (0..half)
                .map(|k| {
                    let angle = -2.0 * PI * k as f64 / N_FFT as f64;
                    Complex::new(angle.cos(), angle.sin())
                })
                .collect(),
        }
    }

    /// Calls `f` with the power spectrum of every frame of `y`, in order.
    #[cfg(test)]
    pub(crate) fn for_each_power_frame(&self, y: &[f32], mut f: impl FnMut(&[f32])) {
        self.for_each_frame(y, |power, _| f(power));
    }

    /// Calls `f` with the power and magnitude spectra of every frame of `y`, in
    /// order. Both come from the float32-rounded spectrum, as librosa's
    /// `np.abs(stft(y))` and `np.abs(stft(y)) ** 2` do.
    #[cfg(test)]
    pub(crate) fn for_each_frame(&self, y: &[f32], mut f: impl FnMut(&[f32], &[f32])) {
        let mut spectrum = Spectrum::new(self);
        let mut framer = Framer::new();
        let mut each = |frame: &Frame<'_>| {
            self.transform(frame.samples, &mut spectrum);
            f(&spectrum.power, &spectrum.magnitude);
        };
        framer.push(y, &mut each);
        framer.finish(&mut each);
    }

    /// The spectrum of one frame of [`N_FFT`] samples (zeros where the frame
    /// runs past the signal), windowed.
    pub(crate) fn transform(&self, samples: &[f32], out: &mut Spectrum) {
        for ((o, &s), &w) in out.frame.iter_mut().zip(samples).zip(&self.window) {
            *o = f64::from(s) * w;
        }
        for (c, pair) in out.buf.iter_mut().zip(out.frame.chunks_exact(2)) {
            *c = Complex::new(pair[0], pair[1]);
        }
        self.fft.process_with_scratch(&mut out.buf, &mut out.scratch);
        self.unpack(&out.buf, &mut out.power, &mut out.magnitude);
    }

    /// Turns the half-size FFT `z` of a packed real frame into the spectrum of the
    /// real frame: with E and O the spectra of the even and odd samples,
    /// `E[k] = (Z[k] + Z*[M-k]) / 2`, `O[k] = (Z[k] - Z*[M-k]) / 2i` and
    /// `X[k] = E[k] + e^{-2πik/N} O[k]`; then rounds it to float32.
    fn unpack(&self, z: &[Complex<f64>], power: &mut [f32], magnitude: &mut [f32]) {
        let m = z.len();
        let mut store = |k: usize, x: Complex<f64>| {
            // glibc's hypotf (what numpy's abs of complex64 calls) is the float64
            // sqrt of float64 squares, rounded; the same without its call overhead.
            let (re, im) = (f64::from(x.re as f32), f64::from(x.im as f32));
            let mag = (re * re + im * im).sqrt() as f32;
            magnitude[k] = mag;
            power[k] = mag * mag;
        };
        for k in 0..m {
            let a = z[k];
            let b = z[(m - k) % m].conj();
            let even = (a + b) * 0.5;
            let odd = (a - b) * Complex::new(0.0, -0.5);
            store(k, even + self.twiddles[k] * odd);
        }
        // Nyquist: E[M] = E[0], O[M] = O[0] and the twiddle is -1.
        store(m, Complex::new(z[0].re - z[0].im, 0.0));
    }
}

/// Scratch space and the result of [`Stft::transform`].
pub(crate) struct Spectrum {
    frame: Vec<f64>,
    buf: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    /// `|X|²` of the last frame, [`N_BINS`] values.
    pub(crate) power: Vec<f32>,
    /// `|X|` of the last frame.
    pub(crate) magnitude: Vec<f32>,
}

impl Spectrum {
    pub(crate) fn new(stft: &Stft) -> Self {
        Spectrum {
            frame: vec![0.0; N_FFT],
            buf: vec![Complex::new(0.0, 0.0); N_FFT / 2],
            scratch: vec![Complex::new(0.0, 0.0); stft.fft.get_inplace_scratch_len()],
            power: vec![0.0; N_BINS],
            magnitude: vec![0.0; N_BINS],
        }
    }
}

/// One centred frame as [`Framer`] hands it out.
pub(crate) struct Frame<'a> {
    /// [`N_FFT`] samples centred on sample `t · HOP`, zeros outside the signal.
    pub(crate) samples: &'a [f32],
    /// Which of `samples` are the signal's own (the rest is padding).
    pub(crate) real: std::ops::Range<usize>,
    /// Sign changes between consecutive samples of the frame as librosa's
    /// `zero_crossing_rate` counts them (its frames repeat the edge sample
    /// instead of padding with zeros, which adds no crossing).
    pub(crate) crossings: u32,
}

/// Cuts a signal that arrives in pieces into librosa's centred frames
/// ([`frame_count`] of them, [`N_FFT`] long, every [`HOP`] samples), holding
/// only one frame's worth of samples.
pub(crate) struct Framer {
    /// Samples from `base` on.
    samples: Vec<f32>,
    /// `crossings[i]`: sign changes between consecutive samples up to sample `base + i`.
    crossings: Vec<u32>,
    base: usize,
    len: usize,
    /// Index of the next frame.
    next: usize,
    last_negative: bool,
    count: u32,
    padded: Vec<f32>,
}

impl Framer {
    pub(crate) fn new() -> Self {
        Framer {
            samples: Vec::new(),
            crossings: Vec::new(),
            base: 0,
            len: 0,
            next: 0,
            last_negative: false,
            count: 0,
            padded: vec![0.0; N_FFT],
        }
    }

    /// Samples pushed so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Frames handed out so far.
    pub(crate) fn frames(&self) -> usize {
        self.next
    }

    /// Adds samples and calls `f` with every frame now complete.
    pub(crate) fn push(&mut self, y: &[f32], f: &mut impl FnMut(&Frame<'_>)) {
        // librosa counts values within 1e-10 of zero as positive.
        let negative = |x: f32| x.abs() > 1e-10 && x.is_sign_negative();
        for &x in y {
            let n = negative(x);
            if self.len > 0 && n != self.last_negative {
                self.count += 1;
            }
            self.last_negative = n;
            self.samples.push(x);
            self.crossings.push(self.count);
            self.len += 1;
        }
        // Frame t is whole once sample t·HOP + N_FFT/2 − 1 has arrived.
        while self.next * HOP + N_FFT / 2 <= self.len {
            self.emit(f);
        }
        self.forget();
    }

    /// Calls `f` with the frames that run past the end of the signal.
    pub(crate) fn finish(&mut self, f: &mut impl FnMut(&Frame<'_>)) {
        while self.next < frame_count(self.len) {
            self.emit(f);
        }
    }

    fn emit(&mut self, f: &mut impl FnMut(&Frame<'_>)) {
        let t = self.next;
        let centre = t * HOP;
        let first = centre as isize - (N_FFT / 2) as isize;
        let last_sample = self.len as isize - 1;
        // Crossings over the frame's samples, clamped to the signal like
        // librosa's edge padding.
        let a = first.clamp(0, last_sample.max(0)) as usize;
        let b = (first + N_FFT as isize - 1).clamp(0, last_sample.max(0)) as usize;
        let crossings = if self.len == 0 {
            0
        } else {
            self.crossings[b - self.base] - self.crossings[a - self.base]
        };
        let real_start = (-first).max(0) as usize;
        let real_end = (self.len as isize - first).clamp(0, N_FFT as isize) as usize;
        let real = real_start..real_end.max(real_start);
        let samples: &[f32] = if real == (0..N_FFT) {
            let at = first as usize - self.base;
            &self.samples[at..at + N_FFT]
        } else {
            self.padded.fill(0.0);
            if !real.is_empty() {
                let at = (first + real.start as isize) as usize - self.base;
                self.padded[real.clone()].copy_from_slice(&self.samples[at..at + real.len()]);
            }
            &self.padded
        };
        f(&Frame {
            samples,
            real,
            crossings,
        });
        self.next += 1;
    }

    /// Drops samples no later frame reaches.
    fn forget(&mut self) {
        let keep_from = (self.next * HOP).saturating_sub(N_FFT / 2);
        let drop = keep_from.saturating_sub(self.base);
        if drop >= 1 << 16 {
            self.samples.drain(..drop);
            self.crossings.drain(..drop);
            self.base += drop;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/data/features/reference.json")).unwrap()
    }

    #[test]
    fn hann_window_matches_scipy() {
        let window = hann_periodic(N_FFT);
        let expected = &reference()["filters"]["hann_2048"];
        for (index, value) in expected.as_object().unwrap() {
            let i: usize = index.parse().unwrap();
            assert!((window[i] - value.as_f64().unwrap()).abs() < 1e-12, "w[{i}]");
        }
        // Periodic, not symmetric: w[0] = 0 and the peak is at n/2.
        assert_eq!(window[0], 0.0);
        assert!((window[N_FFT / 2] - 1.0).abs() < 1e-15);
    }

    /// The packed real FFT against a direct DFT of the same windowed frame.
    #[test]
    fn power_spectrum_matches_a_direct_dft() {
        let y: Vec<f32> = (0..5000)
            .map(|i| {
                let t = i as f64 / 22050.0;
                ((2.0 * PI * 440.0 * t).sin() * 0.5 + (2.0 * PI * 3000.0 * t).cos() * 0.2) as f32
            })
            .collect();
        let stft = Stft::new();
        let mut frames = Vec::new();
        stft.for_each_power_frame(&y, |p| frames.push(p.to_vec()));
        assert_eq!(frames.len(), 1 + 5000 / HOP);

        let t = 3;
        let window = hann_periodic(N_FFT);
        let start = (t * HOP) as isize - 1024;
        let x: Vec<f64> = (0..N_FFT)
            .map(|i| {
                let j = start + i as isize;
                if j < 0 || j as usize >= y.len() {
                    0.0
                } else {
                    f64::from(y[j as usize]) * window[i]
                }
            })
            .collect();
        for k in [0, 1, 41, 279, 512, 1023, 1024] {
            let (mut re, mut im) = (0.0, 0.0);
            for (n, &v) in x.iter().enumerate() {
                let angle = -2.0 * PI * (k * n) as f64 / N_FFT as f64;
                re += v * angle.cos();
                im += v * angle.sin();
            }
            let direct = re * re + im * im;
            let ours = f64::from(frames[t][k]);
            assert!(
                (ours - direct).abs() <= 1e-4 * direct.max(1.0),
                "bin {k}: {ours} vs {direct}"
            );
        }
    }

    #[test]
    fn frames_in_pieces_match_frames_of_the_whole() {
        let y: Vec<f32> = (0..9000)
            .map(|i| ((i as f32) * 0.37).sin() * if i % 700 < 350 { 1.0 } else { -0.2 })
            .collect();
        let collect = |pieces: usize| {
            let mut framer = Framer::new();
            let mut frames = Vec::new();
            let mut each = |f: &Frame<'_>| frames.push((f.samples.to_vec(), f.real.clone(), f.crossings));
            for part in y.chunks(pieces) {
                framer.push(part, &mut each);
            }
            framer.finish(&mut each);
            frames
        };
        let whole = collect(y.len());
        assert_eq!(whole.len(), frame_count(y.len()));
        // Frame 0 is half padding; frame 3 is all signal.
        assert_eq!(whole[0].1, 1024..2048);
        assert_eq!(whole[3].1, 0..2048);
        assert_eq!(&whole[3].0[..], &y[3 * 512 - 1024..3 * 512 + 1024]);
        for pieces in [1, 511, 2048, 5000] {
            assert!(collect(pieces) == whole, "pieces of {pieces}");
        }
    }

    #[test]
    fn silent_frames_stay_exactly_zero() {
        let mut y = vec![0.0f32; 22050];
        y[100] = 1.0;
        let stft = Stft::new();
        let mut last = Vec::new();
        stft.for_each_power_frame(&y, |p| last = p.to_vec());
        assert!(last.iter().all(|&p| p == 0.0));
    }
}
