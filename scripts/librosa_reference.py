#!/usr/bin/env python3
"""Reference feature values from librosa 0.11 for mist-core's feature tests.

Generates a fixed set of signals (tones, a chord, a chirp, white noise, click
tracks, silence) exactly as `mist-core/tests/features.rs` does, runs the
librosa feature calls that `mist_core::features::analyze` mirrors, and writes
`mist-core/tests/data/features/reference.json`. CI does not run this script:
the JSON is committed and the Rust tests only read it.

    python3 -m venv /tmp/librosa-venv
    /tmp/librosa-venv/bin/pip install -r scripts/requirements-librosa.txt
    /tmp/librosa-venv/bin/python scripts/librosa_reference.py          # write the JSON
    /tmp/librosa-venv/bin/python scripts/librosa_reference.py --bench  # time 5 min of audio

The signals are computed in float64 and rounded to float32, the way both
sides do it, so no audio needs committing. White noise comes from SplitMix64
(not numpy's generator) because the same few lines exist in Rust.
"""

import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np
import librosa

SR = 22050
N_FFT = 2048
HOP = 512

OUT = (
    pathlib.Path(__file__).resolve().parent.parent
    / "mist-core"
    / "tests"
    / "data"
    / "features"
    / "reference.json"
)

def splitmix64_uniform(seed: int, n: int) -> np.ndarray:
    """n values in [-1, 1) from SplitMix64; mirrors `splitmix_noise` in the Rust tests.

    SplitMix64's i-th state is seed + (i + 1) * gamma, so it vectorises with
    numpy's wrapping uint64 arithmetic.
    """
    i = np.arange(1, n + 1, dtype=np.uint64)
    z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53)) * 2.0 - 1.0


def tone(freqs, amp, seconds):
    t = np.arange(int(round(seconds * SR)), dtype=np.float64) / SR
    y = np.zeros_like(t)
    for f in freqs:
        y += amp * np.sin(2.0 * np.pi * f * t)
    return y


def harmonic(f0, n_harmonics, seconds):
    t = np.arange(int(round(seconds * SR)), dtype=np.float64) / SR
    y = np.zeros_like(t)
    for k in range(1, n_harmonics + 1):
        y += (0.5 / k) * np.sin(2.0 * np.pi * k * f0 * t)
    return y


def chirp(f0, f1, seconds):
    n = int(round(seconds * SR))
    t = np.arange(n, dtype=np.float64) / SR
    phase = 2.0 * np.pi * (f0 * t + (f1 - f0) * t * t / (2.0 * seconds))
    return 0.5 * np.sin(phase)


def clicks(bpm, seconds):
    """A 1.5 kHz decaying burst (30 ms) on every beat, starting at t = 0."""
    n = int(round(seconds * SR))
    y = np.zeros(n, dtype=np.float64)
    period = 60.0 * SR / bpm
    burst_len = int(0.03 * SR)
    tb = np.arange(burst_len, dtype=np.float64) / SR
    burst = 0.8 * np.sin(2.0 * np.pi * 1500.0 * tb) * np.exp(-tb / 0.006)
    k = 0
    while True:
        start = int(round(k * period))
        if start >= n:
            break
        end = min(n, start + burst_len)
        y[start:end] += burst[: end - start]
        k += 1
    return y


# name -> generator. Keep in step with `signal()` in mist-core/tests/features.rs.
SIGNALS = {
    "tone_a3": lambda: tone([220.0], 0.5, 3.0),
    "tone_a4": lambda: tone([440.0], 0.5, 3.0),
    "tone_c4": lambda: tone([261.6255653005986], 0.5, 3.0),
    "tone_1k": lambda: tone([1000.0], 0.5, 3.0),
    "tone_e6": lambda: tone([1318.5102276514797], 0.5, 3.0),
    "harmonic_g3": lambda: harmonic(195.99771799087463, 10, 3.0),
    "chord_c_major": lambda: tone(
        [261.6255653005986, 329.6275569128699, 391.99543598174927], 0.25, 3.0
    ),
    "chirp_100_8000": lambda: chirp(100.0, 8000.0, 5.0),
    "noise_white": lambda: 0.5 * splitmix64_uniform(0x5EED, 3 * SR),
    "clicks_90": lambda: clicks(90.0, 12.0),
    "clicks_120": lambda: clicks(120.0, 12.0),
    "clicks_140": lambda: clicks(140.0, 12.0),
    "silence": lambda: np.zeros(SR, dtype=np.float64),
    "short_tone": lambda: tone([440.0], 0.5, 1000.0 / SR),
}


def stats(x):
    x = np.asarray(x, dtype=np.float64)
    return float(x.mean()), float(x.std())


def analyze(y):
    """The librosa calls `features::analyze` reproduces, with librosa's defaults."""
    mfcc = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20)
    centroid = librosa.feature.spectral_centroid(y=y, sr=SR)[0]
    bandwidth = librosa.feature.spectral_bandwidth(y=y, sr=SR)[0]
    rolloff = librosa.feature.spectral_rolloff(y=y, sr=SR)[0]
    contrast = librosa.feature.spectral_contrast(y=y, sr=SR)
    flatness = librosa.feature.spectral_flatness(y=y)[0]
    chroma = librosa.feature.chroma_stft(y=y, sr=SR)
    zcr = librosa.feature.zero_crossing_rate(y)[0]
    rms = librosa.feature.rms(y=y)[0]
    onset = librosa.onset.onset_strength(y=y, sr=SR)
    tempo = librosa.feature.tempo(onset_envelope=onset, sr=SR)
    return mfcc, centroid, bandwidth, rolloff, contrast, flatness, chroma, zcr, rms, onset, tempo


def features_of(y):
    mfcc, centroid, bandwidth, rolloff, contrast, flatness, chroma, zcr, rms, onset, tempo = analyze(y)
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    tuning = librosa.estimate_tuning(S=S, sr=SR, bins_per_octave=12)
    c_mean, c_std = stats(centroid)
    b_mean, b_std = stats(bandwidth)
    r_mean, r_std = stats(rolloff)
    rms_mean, rms_std = stats(rms)
    m64 = mfcc.astype(np.float64)
    return {
        "n_frames": int(mfcc.shape[1]),
        "mfcc_mean": m64.mean(axis=1).tolist(),
        "mfcc_std": m64.std(axis=1).tolist(),
        "centroid_mean": c_mean,
        "centroid_std": c_std,
        "bandwidth_mean": b_mean,
        "bandwidth_std": b_std,
        "rolloff_mean": r_mean,
        "rolloff_std": r_std,
        "contrast_mean": contrast.astype(np.float64).mean(axis=1).tolist(),
        "flatness_mean": stats(flatness)[0],
        "chroma_mean": chroma.astype(np.float64).mean(axis=1).tolist(),
        "zcr_mean": stats(zcr)[0],
        "rms_mean": rms_mean,
        "rms_std": rms_std,
        "onset_mean": stats(onset)[0],
        "tempo_bpm": float(tempo[0]),
        "tuning": float(tuning),
    }


def filterbank_reference():
    """A few rows and columns of librosa's filterbanks and windows for unit tests."""
    mel = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=128)
    mel_rows = {}
    for band in [0, 1, 10, 40, 64, 100, 127]:
        nz = np.flatnonzero(mel[band])
        mel_rows[str(band)] = {
            "start": int(nz[0]),
            "weights": mel[band, nz[0] : nz[-1] + 1].astype(np.float64).tolist(),
        }
    chroma_cols = {}
    for tuning in [0.0, -0.23]:
        fb = librosa.filters.chroma(sr=SR, n_fft=N_FFT, tuning=tuning)
        chroma_cols[repr(tuning)] = {
            str(b): fb[:, b].astype(np.float64).tolist() for b in [0, 1, 20, 41, 100, 500, 1024]
        }
    window = librosa.filters.get_window("hann", N_FFT, fftbins=True)
    return {
        "mel_rows": mel_rows,
        "chroma_columns": chroma_cols,
        "hann_2048": {str(i): float(window[i]) for i in [0, 1, 100, 512, 1024, 1500, 2047]},
        "mel_frequencies_130": librosa.mel_frequencies(130, fmin=0.0, fmax=SR / 2).tolist(),
    }


def write_reference():
    signals = {}
    for name, make in SIGNALS.items():
        y = make().astype(np.float32)
        signals[name] = features_of(y)
        print(f"{name}: tempo {signals[name]['tempo_bpm']:.2f} tuning {signals[name]['tuning']:+.2f}",
              file=sys.stderr)
    doc = {
        "generator": "scripts/librosa_reference.py",
        "librosa": librosa.__version__,
        "numpy": np.__version__,
        "sr": SR,
        "n_fft": N_FFT,
        "hop_length": HOP,
        "signals": signals,
        "filters": filterbank_reference(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)


def bench_signal(seconds=300.0):
    """5 minutes of a harmonic tone over clicks and noise; mirrors `bench_signal` in Rust."""
    n = int(seconds * SR)
    t = np.arange(n, dtype=np.float64) / SR
    y = 0.3 * np.sin(2.0 * np.pi * 220.0 * t) + 0.1 * np.sin(2.0 * np.pi * 660.0 * t)
    y += 0.1 * splitmix64_uniform(7, n)
    y += clicks(128.0, seconds)
    return y.astype(np.float32)


def bench():
    y = bench_signal()
    analyze(y)  # warm numba's caches and the FFT plans
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        analyze(y)
        runs.append(time.perf_counter() - start)
    print(f"librosa {librosa.__version__}: 300 s of audio analysed in "
          f"{min(runs):.2f} s (best of 3; runs {', '.join(f'{r:.2f}' for r in runs)})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", action="store_true", help="time librosa on 5 minutes of audio")
    args = parser.parse_args()
    if args.bench:
        bench()
    else:
        write_reference()


if __name__ == "__main__":
    main()
