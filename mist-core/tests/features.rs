//! `mist_core::features` against librosa 0.11.
//!
//! `tests/data/features/reference.json` holds librosa's values for a set of generated
//! signals; it is written by `scripts/librosa_reference.py`, which generates the same
//! signals as [`signal`] here (float64 arithmetic rounded to float32, SplitMix64 for
//! noise), so no audio is committed. CI only reads the JSON.
//!
//! Three `#[ignore]`d tests print figures rather than check them (run them with
//! `cargo test --release -p mist-core --test features -- --ignored --nocapture`):
//! `bench_five_minutes` (analysis time), `derive_embedding_standardisation` (how
//! the embedding's constants were made) and `corpus_retrieval_precision` (how often
//! a generated track's nearest neighbours come from its own family).

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::time::Instant;

use mist_core::features::{EMBEDDING_DIM, Features, analyze, cosine_distance, prepare};
use serde_json::Value;

const SR: f64 = 22050.0;

fn reference() -> Value {
    let text = include_str!("data/features/reference.json");
    serde_json::from_str(text).expect("reference.json parses")
}

// ---------------------------------------------------------------------------
// Signals, identical to scripts/librosa_reference.py

fn samples(seconds: f64) -> usize {
    (seconds * SR).round_ties_even() as usize
}

fn tone(freqs: &[f64], amp: f64, seconds: f64) -> Vec<f64> {
    (0..samples(seconds))
        .map(|i| {
            let t = i as f64 / SR;
            freqs.iter().fold(0.0, |y, &f| y + amp * (2.0 * PI * f * t).sin())
        })
        .collect()
}

fn harmonic(f0: f64, n_harmonics: usize, seconds: f64) -> Vec<f64> {
    (0..samples(seconds))
        .map(|i| {
            let t = i as f64 / SR;
            (1..=n_harmonics).fold(0.0, |y, k| y + (0.5 / k as f64) * (2.0 * PI * k as f64 * f0 * t).sin())
        })
        .collect()
}

fn chirp(f0: f64, f1: f64, seconds: f64) -> Vec<f64> {
    (0..samples(seconds))
        .map(|i| {
            let t = i as f64 / SR;
            0.5 * (2.0 * PI * (f0 * t + (f1 - f0) * t * t / (2.0 * seconds))).sin()
        })
        .collect()
}

/// SplitMix64 (Steele, Lea and Flood), as scripts/librosa_reference.py has it.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.uniform() + 1.0) / 2.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

fn splitmix_noise(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = SplitMix(seed);
    (0..n).map(|_| rng.uniform()).collect()
}

/// A 1.5 kHz burst of 30 ms decaying with a 6 ms time constant on every beat.
fn clicks(bpm: f64, seconds: f64) -> Vec<f64> {
    let n = samples(seconds);
    let mut y = vec![0.0; n];
    let period = 60.0 * SR / bpm;
    let burst_len = (0.03 * SR) as usize;
    for k in 0.. {
        let start = (f64::from(k) * period).round_ties_even() as usize;
        if start >= n {
            break;
        }
        for i in 0..burst_len.min(n - start) {
            let t = i as f64 / SR;
            y[start + i] += 0.8 * (2.0 * PI * 1500.0 * t).sin() * (-t / 0.006).exp();
        }
    }
    y
}

const A3: f64 = 220.0;
const C4: f64 = 261.625_565_300_598_6;
const E4: f64 = 329.627_556_912_869_9;
const G3: f64 = 195.997_717_990_874_63;
const G4: f64 = 391.995_435_981_749_27;
const E6: f64 = 1_318.510_227_651_479_7;

/// The named reference signals, as float32.
fn signal(name: &str) -> Vec<f32> {
    let y = match name {
        "tone_a3" => tone(&[A3], 0.5, 3.0),
        "tone_a4" => tone(&[440.0], 0.5, 3.0),
        "tone_c4" => tone(&[C4], 0.5, 3.0),
        "tone_1k" => tone(&[1000.0], 0.5, 3.0),
        "tone_e6" => tone(&[E6], 0.5, 3.0),
        "harmonic_g3" => harmonic(G3, 10, 3.0),
        "chord_c_major" => tone(&[C4, E4, G4], 0.25, 3.0),
        "chirp_100_8000" => chirp(100.0, 8000.0, 5.0),
        "noise_white" => splitmix_noise(0x5EED, 3 * 22050).into_iter().map(|v| 0.5 * v).collect(),
        "clicks_90" => clicks(90.0, 12.0),
        "clicks_120" => clicks(120.0, 12.0),
        "clicks_140" => clicks(140.0, 12.0),
        "silence" => vec![0.0; 22050],
        "short_tone" => tone(&[440.0], 0.5, 1000.0 / SR),
        other => panic!("no generator for reference signal {other}"),
    };
    y.into_iter().map(|v| v as f32).collect()
}

// ---------------------------------------------------------------------------
// Agreement with librosa

/// One compared value: which feature, on which signal, ours and librosa's.
struct Comparison {
    feature: String,
    signal: String,
    ours: f64,
    librosa: f64,
    /// Accepted when |ours − librosa| ≤ max(rel · |librosa|, abs).
    rel: f64,
    abs: f64,
}

impl Comparison {
    fn error(&self) -> f64 {
        (self.ours - self.librosa).abs()
    }

    fn relative_error(&self) -> f64 {
        self.error() / self.librosa.abs().max(1e-12)
    }

    fn passes(&self) -> bool {
        self.error() <= (self.rel * self.librosa.abs()).max(self.abs)
    }
}

fn f(value: &Value) -> f64 {
    value.as_f64().expect("a number")
}

fn floats(value: &Value) -> Vec<f64> {
    value.as_array().expect("an array").iter().map(f).collect()
}

fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .fold(0, |best, (i, &v)| if v > values[best] { i } else { best })
}

/// Every comparison of our features for `name` with librosa's `expected`.
fn compare(name: &str, ours: &Features, expected: &Value) -> Vec<Comparison> {
    let mut out = Vec::new();
    let mut push = |feature: String, ours: f32, librosa: f64, rel: f64, abs: f64| {
        out.push(Comparison {
            feature,
            signal: name.to_owned(),
            ours: f64::from(ours),
            librosa,
            rel,
            abs,
        });
    };
    // The tolerances: MFCC means within 1 % or 0.5; centroid, rolloff and
    // bandwidth means within 2 % (silence has zeros there, hence a small absolute
    // slack). The rest is not in the issue; we agree with librosa to about 1e-5, so
    // it is held to 0.1 % (or a small absolute slack near zero) to catch regressions.
    let arrays: [(&str, &[f32], f64, f64); 4] = [
        ("mfcc_mean", &ours.mfcc_mean, 0.01, 0.5),
        ("mfcc_std", &ours.mfcc_std, 0.001, 0.05),
        ("contrast_mean", &ours.contrast_mean, 0.001, 0.01),
        ("chroma_mean", &ours.chroma_mean, 0.001, 1e-4),
    ];
    for (feature, values, rel, abs) in arrays {
        for (i, e) in floats(&expected[feature]).into_iter().enumerate() {
            push(format!("{feature}[{i}]"), values[i], e, rel, abs);
        }
    }
    let scalars = [
        ("centroid_mean", ours.centroid_mean, 0.02, 1e-3),
        ("bandwidth_mean", ours.bandwidth_mean, 0.02, 1e-3),
        ("rolloff_mean", ours.rolloff_mean, 0.02, 1e-3),
        ("centroid_std", ours.centroid_std, 0.001, 0.1),
        ("bandwidth_std", ours.bandwidth_std, 0.001, 0.1),
        ("rolloff_std", ours.rolloff_std, 0.001, 0.1),
        ("flatness_mean", ours.flatness_mean, 0.001, 1e-6),
        ("zcr_mean", ours.zcr_mean, 0.001, 1e-6),
        ("rms_mean", ours.rms_mean, 0.001, 1e-6),
        ("rms_std", ours.rms_std, 0.001, 1e-6),
        ("onset_mean", ours.onset_mean, 0.001, 1e-4),
    ];
    for (feature, value, rel, abs) in scalars {
        push(feature.into(), value, f(&expected[feature]), rel, abs);
    }
    out
}

#[test]
fn matches_librosa_reference() {
    let reference = reference();
    let signals = reference["signals"].as_object().expect("signals");
    assert_eq!(signals.len(), 14);
    let mut comparisons = Vec::new();
    let mut failures = Vec::new();
    for (name, expected) in signals {
        let y = signal(name);
        let ours = analyze(&y).expect("analysis");
        assert!(
            (f64::from(ours.duration_s) - y.len() as f64 / SR).abs() < 1e-6,
            "{name}: duration"
        );
        comparisons.extend(compare(name, &ours, expected));

        // Chroma: the strongest pitch class is librosa's (the criterion).
        let ours_chroma: Vec<f64> = ours.chroma_mean.iter().map(|&c| f64::from(c)).collect();
        let librosa_chroma = floats(&expected["chroma_mean"]);
        if argmax(&ours_chroma) != argmax(&librosa_chroma) {
            failures.push(format!(
                "{name}: chroma argmax {} vs librosa {}",
                argmax(&ours_chroma),
                argmax(&librosa_chroma)
            ));
        }
    }

    // The worst relative error per feature family, for the record.
    let mut worst: BTreeMap<String, &Comparison> = BTreeMap::new();
    for c in &comparisons {
        let family = c.feature.split('[').next().unwrap_or(&c.feature).to_owned();
        // Silence and near-zero values make relative errors meaningless.
        if c.librosa.abs() < 1e-3 {
            continue;
        }
        let entry = worst.entry(family).or_insert(c);
        if c.relative_error() > entry.relative_error() {
            *entry = c;
        }
    }
    eprintln!("worst relative error per feature vs librosa 0.11:");
    for (family, c) in &worst {
        eprintln!(
            "  {family:<15} {:.1e}  ({} {}: ours {:.6} librosa {:.6})",
            c.relative_error(),
            c.signal,
            c.feature,
            c.ours,
            c.librosa
        );
    }

    failures.extend(comparisons.iter().filter(|c| !c.passes()).map(|c| {
        format!(
            "{} {}: ours {} vs librosa {} (rel {:.4} %)",
            c.signal,
            c.feature,
            c.ours,
            c.librosa,
            100.0 * c.relative_error()
        )
    }));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tempo_of_click_tracks_is_within_two_percent() {
    let reference = reference();
    for bpm in [90.0, 120.0, 140.0] {
        let name = format!("clicks_{bpm}");
        let ours = analyze(&signal(&name)).expect("analysis");
        let librosa = f(&reference["signals"][&name]["tempo_bpm"]);
        let error = (f64::from(ours.tempo_bpm) - bpm).abs() / bpm;
        eprintln!(
            "{name}: ours {:.2} BPM ({:+.2} %), librosa {librosa:.2} BPM ({:+.2} %)",
            ours.tempo_bpm,
            100.0 * (f64::from(ours.tempo_bpm) - bpm) / bpm,
            100.0 * (librosa - bpm) / bpm
        );
        assert!(error < 0.02, "{name}: {} BPM", ours.tempo_bpm);
    }
}

// ---------------------------------------------------------------------------
// Embedding

#[test]
fn embeddings_are_unit_length_and_finite() {
    for name in ["tone_a4", "noise_white", "clicks_120", "chirp_100_8000", "silence"] {
        let embedding = analyze(&signal(name)).expect("analysis").embedding();
        assert_eq!(embedding.len(), EMBEDDING_DIM);
        assert!(embedding.iter().all(|v| v.is_finite()), "{name}");
        let norm: f32 = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{name}: |e| = {norm}");
    }
}

#[test]
fn a_tone_is_nearer_another_tone_than_noise() {
    let embed = |name| analyze(&signal(name)).expect("analysis").embedding();
    let (a4, c4, noise) = (embed("tone_a4"), embed("tone_c4"), embed("noise_white"));
    let (clicks_90, clicks_140) = (embed("clicks_90"), embed("clicks_140"));
    assert!(cosine_distance(&a4, &c4) < cosine_distance(&a4, &noise));
    assert!(cosine_distance(&a4, &c4) < cosine_distance(&a4, &clicks_90));
    assert!(cosine_distance(&clicks_90, &clicks_140) < cosine_distance(&clicks_90, &noise));
    assert!(cosine_distance(&a4, &a4).abs() < 1e-6);
}

#[test]
fn prepared_44k_stereo_analyses_like_22k_mono() {
    // The same chord rendered at 44.1 kHz stereo and at 22.05 kHz mono.
    let at = |sr: f64, i: usize| {
        let t = i as f64 / sr;
        [C4, E4, G4]
            .iter()
            .map(|f| 0.25 * (2.0 * PI * f * t).sin())
            .sum::<f64>() as f32
    };
    let stereo: Vec<f32> = (0..44100 * 3).flat_map(|i| [at(44100.0, i); 2]).collect();
    let mono: Vec<f32> = (0..22050 * 3).map(|i| at(22050.0, i)).collect();
    let from_stereo = analyze(&prepare(&stereo)).expect("analysis");
    let direct = analyze(&mono).expect("analysis");
    assert!(cosine_distance(&from_stereo.embedding(), &direct.embedding()) < 1e-3);
    for (a, b) in from_stereo.mfcc_mean.iter().zip(&direct.mfcc_mean) {
        assert!((a - b).abs() < 0.5, "{a} vs {b}");
    }
}

#[test]
fn features_round_trip_through_json() {
    let features = analyze(&signal("chord_c_major")).expect("analysis");
    let json = serde_json::to_value(&features).expect("serialise");
    assert_eq!(json["mfcc_mean"].as_array().map(Vec::len), Some(20));
    assert_eq!(json["chroma_mean"].as_array().map(Vec::len), Some(12));
    let back: Features = serde_json::from_value(json).expect("deserialise");
    assert_eq!(back, features);
}

// ---------------------------------------------------------------------------
// Figures: cargo test --release -p mist-core --test features -- --ignored --nocapture

/// Five minutes of a two-partial tone over noise and 128 BPM clicks; the same signal
/// as `bench_signal` in scripts/librosa_reference.py.
fn bench_signal(seconds: f64) -> Vec<f32> {
    let n = (seconds * SR) as usize;
    let noise = splitmix_noise(7, n);
    let clicks = clicks(128.0, seconds);
    (0..n)
        .map(|i| {
            let t = i as f64 / SR;
            let y = 0.3 * (2.0 * PI * 220.0 * t).sin() + 0.1 * (2.0 * PI * 660.0 * t).sin();
            (y + 0.1 * noise[i] + clicks[i]) as f32
        })
        .collect()
}

#[test]
#[ignore = "prints timings; run with --release"]
fn bench_five_minutes() {
    let y = bench_signal(300.0);
    analyze(&y).expect("analysis"); // warm up
    let mut runs = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let features = analyze(&y).expect("analysis");
        runs.push(start.elapsed().as_secs_f64());
        assert!((features.tempo_bpm - 128.0).abs() < 2.0);
    }
    let best = runs.iter().copied().fold(f64::INFINITY, f64::min);
    eprintln!("analyze: 300 s of 22.05 kHz mono in {best:.3} s (best of 3: {runs:.3?})");

    let stereo: Vec<f32> = y.iter().flat_map(|&v| [v, v, v, v]).collect();
    let start = Instant::now();
    let prepared = prepare(&stereo);
    eprintln!(
        "prepare: 300 s of 44.1 kHz stereo to 22.05 kHz mono in {:.3} s",
        start.elapsed().as_secs_f64()
    );
    // Every sample was repeated to make 44.1 kHz, so the length comes back.
    assert_eq!(prepared.len(), y.len());
}

// --- The standardisation corpus ----------------------------------------------------

/// A one-pole low-pass (`a` near 1: darker).
fn lowpass(y: &mut [f64], a: f64) {
    let mut state = 0.0;
    for v in y.iter_mut() {
        state = a * state + (1.0 - a) * *v;
        *v = state;
    }
}

/// A two-pole resonator at `freq` with bandwidth `bw` Hz (for formants and bands).
fn resonator(input: &[f64], freq: f64, bw: f64) -> Vec<f64> {
    let r = (-PI * bw / SR).exp();
    let (a1, a2) = (2.0 * r * (2.0 * PI * freq / SR).cos(), -r * r);
    let gain = 1.0 - r;
    let (mut y1, mut y2) = (0.0, 0.0);
    input
        .iter()
        .map(|&x| {
            let y = gain * x + a1 * y1 + a2 * y2;
            y2 = y1;
            y1 = y;
            y
        })
        .collect()
}

fn normalise(y: &mut [f64], peak: f64) {
    let max = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max > 0.0 {
        for v in y.iter_mut() {
            *v *= peak / max;
        }
    }
}

fn add(into: &mut [f64], from: &[f64], at: usize, gain: f64) {
    for (a, b) in into.iter_mut().skip(at).zip(from) {
        *a += gain * b;
    }
}

/// Karplus–Strong plucked notes at a random rate.
fn plucks(rng: &mut SplitMix, n: usize) -> Vec<f64> {
    let mut y = vec![0.0; n];
    let note_every = (rng.range(0.15, 0.8) * SR) as usize;
    let base = rng.range(80.0, 600.0);
    let damping = rng.range(0.990, 0.999);
    let mut at = 0;
    while at < n {
        let f = base * 2f64.powf(rng.below(13) as f64 / 12.0);
        let period = (SR / f).round().max(2.0) as usize;
        let mut line: Vec<f64> = (0..period).map(|_| rng.uniform()).collect();
        let len = (n - at).min((2.0 * SR) as usize);
        let mut note = Vec::with_capacity(len);
        for i in 0..len {
            let j = i % period;
            let next = line[(j + 1) % period];
            let v = line[j];
            note.push(v);
            line[j] = damping * 0.5 * (v + next);
        }
        add(&mut y, &note, at, rng.range(0.3, 1.0));
        at += note_every;
    }
    y
}

/// A sustained note with `k` harmonics, vibrato and a random spectral tilt.
fn sustained(rng: &mut SplitMix, n: usize, f0: f64) -> Vec<f64> {
    let harmonics = 1 + rng.below(12);
    let tilt = rng.range(0.5, 2.0);
    let (vib_rate, vib_depth) = (rng.range(3.0, 7.0), rng.range(0.0, 0.01));
    let mut phase = 0.0;
    (0..n)
        .map(|i| {
            let t = i as f64 / SR;
            phase += 2.0 * PI * f0 * (1.0 + vib_depth * (2.0 * PI * vib_rate * t).sin()) / SR;
            (1..=harmonics)
                .map(|k| (k as f64 * phase).sin() / (k as f64).powf(tilt))
                .sum::<f64>()
        })
        .collect()
}

fn chords(rng: &mut SplitMix, n: usize) -> Vec<f64> {
    let mut y = vec![0.0; n];
    let change = (rng.range(1.0, 4.0) * SR) as usize;
    let mut at = 0;
    while at < n {
        let root = 110.0 * 2f64.powf(rng.below(24) as f64 / 12.0);
        let intervals: &[f64] = if rng.below(2) == 0 {
            &[0.0, 4.0, 7.0]
        } else {
            &[0.0, 3.0, 7.0, 10.0]
        };
        let len = change.min(n - at);
        for &iv in intervals {
            let note = sustained(rng, len, root * 2f64.powf(iv / 12.0));
            add(&mut y, &note, at, 0.3);
        }
        at += change;
    }
    y
}

fn drums(rng: &mut SplitMix, n: usize) -> Vec<f64> {
    let bpm = rng.range(70.0, 180.0);
    let step = 60.0 * SR / bpm / 4.0; // sixteenth notes
    let pattern: Vec<u8> = (0..16).map(|_| rng.below(8) as u8).collect();
    let mut y = vec![0.0; n];
    let kick: Vec<f64> = (0..(0.25 * SR) as usize)
        .scan(0.0, |phase, i| {
            let t = i as f64 / SR;
            *phase += 2.0 * PI * (50.0 + 100.0 * (-t / 0.03).exp()) / SR;
            Some(phase.sin() * (-t / 0.08).exp())
        })
        .collect();
    let mut snare: Vec<f64> = (0..(0.2 * SR) as usize)
        .map(|i| {
            let t = i as f64 / SR;
            (0.6 * rng.uniform() + 0.4 * (2.0 * PI * 190.0 * t).sin()) * (-t / 0.05).exp()
        })
        .collect();
    lowpass(&mut snare, 0.3);
    let hat: Vec<f64> = {
        let noise: Vec<f64> = (0..(0.05 * SR) as usize).map(|_| rng.uniform()).collect();
        let mut low = noise.clone();
        lowpass(&mut low, 0.5);
        noise
            .iter()
            .zip(&low)
            .enumerate()
            .map(|(i, (a, b))| (a - b) * (-(i as f64 / SR) / 0.015).exp())
            .collect()
    };
    let mut s = 0;
    loop {
        let at = (s as f64 * step) as usize;
        if at >= n {
            break;
        }
        let p = pattern[s % 16];
        if s % 4 == 0 || p == 1 {
            add(&mut y, &kick, at, 0.9);
        }
        if s % 8 == 4 || p == 2 {
            add(&mut y, &snare, at, 0.7);
        }
        if s % 2 == 0 || p >= 5 {
            add(&mut y, &hat, at, 0.3);
        }
        s += 1;
    }
    y
}

fn noise_texture(rng: &mut SplitMix, n: usize) -> Vec<f64> {
    let mut y: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
    match rng.below(4) {
        0 => {}
        1 => lowpass(&mut y, rng.range(0.5, 0.99)),
        2 => y = resonator(&y, rng.range(200.0, 6000.0), rng.range(50.0, 2000.0)),
        _ => {
            // Brown-ish: integrated, with a slow leak.
            let mut s = 0.0;
            for v in y.iter_mut() {
                s = 0.995 * s + 0.05 * *v;
                *v = s;
            }
        }
    }
    let (rate, depth) = (rng.range(0.05, 4.0), rng.range(0.0, 0.8));
    for (i, v) in y.iter_mut().enumerate() {
        *v *= 1.0 - depth * 0.5 * (1.0 + (2.0 * PI * rate * i as f64 / SR).sin());
    }
    y
}

fn sweep(rng: &mut SplitMix, n: usize) -> Vec<f64> {
    let (f0, f1) = (rng.range(50.0, 4000.0), rng.range(50.0, 9000.0));
    let repeat = rng.range(0.5, 5.0) * SR;
    let exponential = rng.below(2) == 0;
    let mut phase = 0.0;
    (0..n)
        .map(|i| {
            let x = (i as f64 % repeat) / repeat;
            let f = if exponential {
                f0 * (f1 / f0).powf(x)
            } else {
                f0 + (f1 - f0) * x
            };
            phase += 2.0 * PI * f / SR;
            phase.sin()
        })
        .collect()
}

/// Formant-synthesised "speech": a jittered glottal pulse train through three vowel
/// formants that change every syllable, with pauses between words.
fn speech(rng: &mut SplitMix, n: usize) -> Vec<f64> {
    const VOWELS: [[f64; 3]; 5] = [
        [730.0, 1090.0, 2440.0],
        [270.0, 2290.0, 3010.0],
        [300.0, 870.0, 2240.0],
        [530.0, 1840.0, 2480.0],
        [570.0, 840.0, 2410.0],
    ];
    let f0 = rng.range(90.0, 240.0);
    let mut y = vec![0.0; n];
    let mut at = 0;
    while at < n {
        let syllables = 1 + rng.below(4);
        for _ in 0..syllables {
            let len = ((rng.range(0.12, 0.3) * SR) as usize).min(n.saturating_sub(at));
            if len == 0 {
                break;
            }
            let vowel = VOWELS[rng.below(VOWELS.len())];
            let mut source = vec![0.0; len];
            let mut next = 0.0;
            let pitch = f0 * rng.range(0.85, 1.2);
            while (next as usize) < len {
                source[next as usize] = 1.0;
                next += SR / (pitch * rng.range(0.97, 1.03));
            }
            // A little breath noise for consonant-like onsets.
            for v in source.iter_mut().take(len / 5) {
                *v += 0.2 * rng.uniform();
            }
            let mut syllable = vec![0.0; len];
            for (k, &formant) in vowel.iter().enumerate() {
                let band = resonator(&source, formant, 80.0 + 40.0 * k as f64);
                add(&mut syllable, &band, 0, 1.0 / (k + 1) as f64);
            }
            for (i, v) in syllable.iter_mut().enumerate() {
                *v *= (PI * i as f64 / len as f64).sin();
            }
            add(&mut y, &syllable, at, 1.0);
            at += len;
        }
        at += (rng.range(0.1, 0.5) * SR) as usize;
    }
    y
}

/// The corpus families, in [`corpus_track`]'s order.
const FAMILY_NAMES: [&str; 8] = [
    "plucks",
    "sustained",
    "chords",
    "drums",
    "noise",
    "sweeps",
    "speech",
    "mixtures",
];

/// One corpus track of family `family` from `rng`.
fn corpus_track(family: usize, rng: &mut SplitMix) -> Vec<f32> {
    let n = (rng.range(6.0, 20.0) * SR) as usize;
    let mut y = match family {
        0 => plucks(rng, n),
        1 => {
            let f0 = rng.range(60.0, 1500.0);
            sustained(rng, n, f0)
        }
        2 => chords(rng, n),
        3 => drums(rng, n),
        4 => noise_texture(rng, n),
        5 => sweep(rng, n),
        6 => speech(rng, n),
        _ => {
            // Mixtures: drums under chords or plucks, or plucks over noise.
            let mut a = drums(rng, n);
            let b = match rng.below(3) {
                0 => chords(rng, n),
                1 => plucks(rng, n),
                _ => noise_texture(rng, n),
            };
            normalise(&mut a, 1.0);
            let mut b = b;
            normalise(&mut b, 1.0);
            add(&mut a, &b, 0, rng.range(0.3, 1.0));
            a
        }
    };
    let peak = rng.range(0.1, 0.95);
    normalise(&mut y, peak);
    y.into_iter().map(|v| v as f32).collect()
}

#[test]
#[ignore = "derives the embedding's constants; run with --release --nocapture"]
fn derive_embedding_standardisation() {
    const FAMILIES: usize = FAMILY_NAMES.len();
    const PER_FAMILY: usize = 60;
    let mut rng = SplitMix(0x00C0_FFEE);
    let mut rows = Vec::new();
    for i in 0..FAMILIES * PER_FAMILY {
        let y = corpus_track(i % FAMILIES, &mut rng);
        rows.push(analyze(&y).expect("analysis").embedding_raw());
    }
    let n = rows.len() as f64;
    let mean: Vec<f64> = (0..EMBEDDING_DIM)
        .map(|d| rows.iter().map(|r| r[d]).sum::<f64>() / n)
        .collect();
    let std: Vec<f64> = (0..EMBEDDING_DIM)
        .map(|d| (rows.iter().map(|r| (r[d] - mean[d]).powi(2)).sum::<f64>() / n).sqrt())
        .collect();
    let format = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{:.6e}", v))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("corpus: {} tracks in {FAMILIES} families", rows.len());
    println!("const MEAN: [f64; EMBEDDING_DIM] = [{}];", format(&mean));
    println!("const STD: [f64; EMBEDDING_DIM] = [{}];", format(&std));
}

#[test]
#[ignore = "prints retrieval precision on a held-out generated corpus; run with --release"]
fn corpus_retrieval_precision() {
    const FAMILIES: usize = FAMILY_NAMES.len();
    // A different seed from the one the constants were derived with.
    let mut rng = SplitMix(0xBAD5_EED5);
    let tracks: Vec<(usize, [f32; EMBEDDING_DIM])> = (0..FAMILIES * 25)
        .map(|i| {
            let family = i % FAMILIES;
            let y = corpus_track(family, &mut rng);
            (family, analyze(&y).expect("analysis").embedding())
        })
        .collect();
    let mut per_family = [(0usize, 0usize); FAMILIES];
    for (i, (family, e)) in tracks.iter().enumerate() {
        let mut others: Vec<(f32, usize)> = tracks
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, (f, o))| (cosine_distance(e, o), *f))
            .collect();
        others.sort_by(|a, b| a.0.total_cmp(&b.0));
        let hits = others.iter().take(5).filter(|(_, f)| f == family).count();
        per_family[*family].0 += hits;
        per_family[*family].1 += 5;
    }
    for (family, (hits, total)) in per_family.iter().enumerate() {
        println!(
            "{:<10} {:>3.0} % of the 5 nearest share the family",
            FAMILY_NAMES[family],
            100.0 * *hits as f64 / *total as f64
        );
    }
    let (hits, total) = per_family.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    println!("overall: {:.1} %", 100.0 * hits as f64 / total as f64);
}
