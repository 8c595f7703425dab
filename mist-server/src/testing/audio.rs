//! Test audio: generated with sox and ffmpeg (Debian packages the test
//! script installs), and compared by aligned correlation.

use std::path::Path;
use std::process::Command;

/// Runs a command, panicking with its stderr if it fails.
pub fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is it installed? ./scripts/test.sh installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A stereo test signal of `seconds`: a different chord in each channel with
/// a slow tremolo and a chirp, so misalignment or channel swaps show in the
/// correlation. Written as 44.1 kHz 16-bit WAV.
pub fn generate_wav(path: &Path, seconds: f64) {
    run(Command::new("sox")
        .args(["-n", "-r", "44100", "-b", "16", "-c", "2"])
        .arg(path)
        .args([
            "synth",
            &format!("{seconds}"),
            "sine",
            "220:880",
            "sine",
            "330",
            "sine",
            "440",
            "sine",
            "523",
        ])
        .args(["remix", "1,3", "2,4", "tremolo", "1.5", "60", "gain", "-6"]));
}

/// Converts with ffmpeg, choosing the codec from the extension; `tags` are
/// written as metadata (`title`, `artist`, ...).
pub fn convert(src: &Path, dst: &Path, tags: &[(&str, &str)]) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-i"]).arg(src);
    for (k, v) in tags {
        cmd.arg("-metadata").arg(format!("{k}={v}"));
    }
    match dst.extension().and_then(|e| e.to_str()) {
        Some("mp3") => cmd.args(["-c:a", "libmp3lame", "-b:a", "192k"]),
        Some("ogg") => cmd.args(["-c:a", "libvorbis", "-q:a", "5"]),
        Some("flac") => cmd.args(["-c:a", "flac"]),
        Some("m4a") => cmd.args(["-c:a", "aac", "-b:a", "192k"]),
        _ => &mut cmd,
    };
    run(cmd.arg(dst));
}

/// Decodes any file ffmpeg reads (or an HLS URL, with headers) to mono f32
/// at 44.1 kHz, as `ffmpeg -i INPUT -map 0:a:0 out.wav` would, failing on
/// any error ffmpeg reports.
///
/// The output is a WAV, as in the outside-client check of the ingest issue:
/// ffmpeg's HLS demuxer re-anchors packed-audio timestamps at each ID3 tag a
/// few frames off (its reads run ahead of the tag), which the WAV muxer
/// notes as a warning and a raw muxer would call an error; no sample is lost
/// or repeated either way (the tests check the duration and correlation).
pub fn decode_mono(input: &str, headers: Option<&str>) -> Vec<f32> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error"]);
    if let Some(h) = headers {
        cmd.args(["-headers", h]);
    }
    cmd.args([
        "-i",
        input,
        "-map",
        "0:a:0",
        "-ac",
        "1",
        "-ar",
        "44100",
        "-c:a",
        "pcm_f32le",
        "-f",
        "wav",
        "-",
    ]);
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run ffmpeg: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg could not decode {input}: {stderr}");
    assert!(
        stderr.trim().is_empty(),
        "ffmpeg reported errors decoding {input}: {stderr}"
    );
    wav_data(&out.stdout)
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The bytes of a WAV's `data` chunk (to the end: piped WAVs carry no size).
fn wav_data(wav: &[u8]) -> &[u8] {
    let mut at = 12;
    while at + 8 <= wav.len() {
        let id = &wav[at..at + 4];
        let len = u32::from_le_bytes([wav[at + 4], wav[at + 5], wav[at + 6], wav[at + 7]]) as usize;
        if id == b"data" {
            return &wav[at + 8..];
        }
        at += 8 + len + (len & 1);
    }
    panic!("ffmpeg's WAV output has no data chunk")
}

/// A FLAC file of `seconds` of a constant (DC) level in both channels: tiny
/// however long (a few bytes a frame of 65 535 samples), like the hostile
/// uploads that are hours of audio in a few hundred kilobytes. Its header
/// announces `declared_seconds` (`None`: the true length; `Some(0.0)`:
/// "unknown", as the format allows) — a header may lie.
pub fn constant_flac(seconds: f64, declared_seconds: Option<f64>) -> Vec<u8> {
    const RATE: u64 = 44_100;
    const BLOCK: u64 = 65_535;
    let total = (seconds * RATE as f64) as u64;
    let declared = declared_seconds.map_or(total, |s| (s * RATE as f64) as u64);
    let mut out = b"fLaC".to_vec();
    // STREAMINFO, the last metadata block: 34 bytes.
    out.extend_from_slice(&[0x80, 0, 0, 34]);
    let mut bits = BitWriter::default();
    bits.put(BLOCK, 16); // min block size
    bits.put(BLOCK, 16); // max block size
    bits.put(0, 24); // min frame size: unknown
    bits.put(0, 24); // max frame size: unknown
    bits.put(RATE, 20);
    bits.put(1, 3); // channels - 1
    bits.put(15, 5); // bits per sample - 1
    bits.put(declared, 36);
    out.extend_from_slice(&bits.bytes);
    out.extend_from_slice(&[0u8; 16]); // MD5: not computed
    let level: u16 = 0x2000; // about -12 dBFS
    let mut frame_number = 0u64;
    let mut done = 0u64;
    while done < total {
        let n = BLOCK.min(total - done);
        let mut frame = vec![0xFF, 0xF8]; // sync, fixed block size
        // Block size "16 bits at the end of the header", 44.1 kHz; stereo, 16-bit.
        frame.push(0x79);
        frame.push(0x18);
        frame.extend_from_slice(&utf8_number(frame_number));
        frame.extend_from_slice(&((n - 1) as u16).to_be_bytes());
        frame.push(crc8(&frame));
        for _ in 0..2 {
            frame.push(0x00); // CONSTANT subframe, no wasted bits
            frame.extend_from_slice(&level.to_be_bytes());
        }
        let crc = crc16(&frame);
        frame.extend_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(&frame);
        done += n;
        frame_number += 1;
    }
    out
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    used: u8,
}

impl BitWriter {
    fn put(&mut self, value: u64, width: u32) {
        for i in (0..width).rev() {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let bit = ((value >> i) & 1) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= bit << (7 - self.used);
            }
            self.used = (self.used + 1) % 8;
        }
    }
}

/// FLAC's "UTF-8" coding of a frame number: `k` bytes carry `5k + 1` bits.
fn utf8_number(n: u64) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let k = (2..=7u32).find(|&k| n < 1u64 << (5 * k + 1)).unwrap_or(7);
    let lead = ((0xFFu16 << (8 - k)) as u8) | (n >> (6 * (k - 1))) as u8;
    let mut out = vec![lead];
    out.extend((0..k - 1).rev().map(|i| 0x80 | ((n >> (6 * i)) & 0x3F) as u8));
    out
}

fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &byte in data {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 { (crc << 1) ^ 0x07 } else { crc << 1 };
        }
    }
    crc
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The best normalised correlation of `b` against `a` over lags
/// `0..=max_lag` (b delayed relative to a), computed on the overlap.
/// Returns `(lag, correlation)`.
pub fn aligned_correlation(a: &[f32], b: &[f32], max_lag: usize) -> (usize, f64) {
    // Find the lag on a 2 s window, coarse then fine, then measure the
    // correlation over the whole overlap at that lag.
    let window = 88_200.min(a.len());
    let score = |lag: usize, len: usize| correlation(&a[..len.min(a.len())], b.get(lag..).unwrap_or(&[]));
    let mut best = (0, f64::MIN);
    for lag in (0..=max_lag).step_by(16) {
        let c = score(lag, window);
        if c > best.1 {
            best = (lag, c);
        }
    }
    let (coarse, _) = best;
    for lag in coarse.saturating_sub(16)..=(coarse + 16).min(max_lag) {
        let c = score(lag, window);
        if c > best.1 {
            best = (lag, c);
        }
    }
    (best.0, score(best.0, a.len()))
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for i in 0..n {
        let (x, y) = (f64::from(a[i]), f64::from(b[i]));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-made FLAC decodes to its true length, whatever its header says.
    #[test]
    fn constant_flac_decodes() {
        let flac = constant_flac(10.0, None);
        assert!(flac.len() < 200, "{} bytes", flac.len());
        let audio = mist_core::audio::decode_bytes(flac, Some("flac")).expect("decodes");
        assert_eq!(audio.frames(), 441_000);
        assert!(audio.samples.iter().all(|&s| (s - 0.25).abs() < 1e-6));
        assert_eq!(audio.truncated, None);
        let unknown = mist_core::audio::decode_bytes(constant_flac(3.0, Some(0.0)), Some("flac")).expect("decodes");
        assert_eq!(unknown.frames(), 3 * 44_100);
        assert_eq!(utf8_number(0x7F), [0x7F]);
        assert_eq!(utf8_number(0x80), [0xC2, 0x80]);
        assert_eq!(utf8_number(0x800), [0xE0, 0xA0, 0x80]);
    }

    #[test]
    fn correlation_finds_a_delay() {
        let a: Vec<f32> = (0..50_000)
            .map(|i| ((i as f32) * 0.05).sin() * ((i as f32) * 0.0031).cos())
            .collect();
        let mut b = vec![0.0; 1234];
        b.extend_from_slice(&a);
        let (lag, c) = aligned_correlation(&a, &b, 4000);
        assert_eq!(lag, 1234);
        assert!(c > 0.999, "{c}");
        let noise: Vec<f32> = (0..50_000)
            .map(|i| (((i * 7919) % 1000) as f32 / 500.0) - 1.0)
            .collect();
        assert!(aligned_correlation(&a, &noise, 100).1 < 0.3);
    }
}
