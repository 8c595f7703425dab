//! Loudness: EBU R128 / ITU-R BS.1770 integrated loudness and true peak, per
//! track and per album, and the ReplayGain 2.0 values clients apply.
//!
//! A [`LoudnessMeter`] is fed the same bounded chunks of interleaved samples
//! the ingest hands the feature extractors, so nothing holds a whole track.
//! The K-weighting filter, the 400 ms blocks and the true peak (4× oversampling
//! below 96 kHz) are the `ebur128` crate's.
//!
//! Album loudness is not the mean of track loudnesses: BS.1770 gates the
//! album's 400 ms blocks together (a quiet interlude is measured against the
//! whole album, not against itself). `ebur128` can do that only across live
//! analysers (`loudness_global_multiple`), but an album's tracks are ingested
//! at different times, even on different workers. So each track also keeps
//! its blocks as [`GatingBlocks`]: a histogram of block energies in 0.1 LU bins
//! from −70 to +30 LUFS (the same bins libebur128's histogram mode uses), each
//! bin holding its count and its exact energy sum. Merging tracks is adding
//! bins; the gated mean is exact except inside the one bin the relative gate
//! falls in. Stored with [`GatingBlocks::to_bytes`] it is at most ~14 KB a
//! track whatever its length, so the album figure can be recomputed whenever a
//! track joins or leaves.
//!
//! ReplayGain 2.0: reference −18 LUFS, so gain = −18 − integrated loudness;
//! peak is the linear true peak (1.0 = full scale). A silent track (no block
//! above the −70 LUFS absolute gate) has no loudness and no gain.

use ebur128::{EbuR128, Mode};

use crate::audio::SAMPLE_RATE;

/// The ReplayGain 2.0 reference level.
pub const REFERENCE_LUFS: f64 = -18.0;
/// BS.1770's absolute gate.
const ABSOLUTE_GATE_LUFS: f64 = -70.0;
/// BS.1770's relative gate, below the ungated mean.
const RELATIVE_GATE_LU: f64 = -10.0;
/// Histogram bins: 0.1 LU each from −70 to +30 LUFS.
const BINS: usize = 1000;
const BIN_LU: f64 = 0.1;
/// The blocks' energy → loudness offset (BS.1770's −0.691 dB).
const LOUDNESS_OFFSET: f64 = -0.691;

/// Why loudness could not be measured.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoudnessError {
    #[error("unsupported layout: {channels} channels at {rate} Hz")]
    Layout { channels: u32, rate: u32 },
    #[error("a chunk of {samples} samples does not hold whole frames of {channels} channels")]
    PartialFrame { samples: usize, channels: usize },
    #[error("loudness analysis failed: {0}")]
    Meter(String),
}

/// A streaming loudness measurement of one track.
pub struct LoudnessMeter {
    meter: EbuR128,
    channels: usize,
    /// Frames in 100 ms, the hop between gating blocks.
    hop_frames: usize,
    /// Frames fed since the last hop boundary.
    into_hop: usize,
    /// Hops completed; a block is complete from the fourth on.
    hops: u64,
    blocks: GatingBlocks,
    /// Scratch for chunks that hold NaN or infinity.
    clean: Vec<f32>,
}

impl Default for LoudnessMeter {
    /// A meter for what `audio::decode` produces: stereo at [`SAMPLE_RATE`].
    fn default() -> Self {
        match Self::new(2, SAMPLE_RATE) {
            Ok(meter) => meter,
            // ebur128 refuses only impossible layouts or a failed allocation of
            // a few KB; stereo at 44.1 kHz is neither.
            Err(e) => panic!("a stereo 44.1 kHz loudness meter: {e}"),
        }
    }
}

impl LoudnessMeter {
    /// A meter for interleaved audio of `channels` (1–8; the first two are
    /// left and right, as `ebur128` maps them) at `rate` Hz.
    pub fn new(channels: u32, rate: u32) -> Result<Self, LoudnessError> {
        if !(1..=8).contains(&channels) || !(8_000..=384_000).contains(&rate) {
            return Err(LoudnessError::Layout { channels, rate });
        }
        let meter =
            EbuR128::new(channels, rate, Mode::M | Mode::TRUE_PEAK).map_err(|e| LoudnessError::Meter(e.to_string()))?;
        Ok(Self {
            meter,
            channels: channels as usize,
            // ebur128's own rounding of 100 ms.
            hop_frames: (rate as usize + 5) / 10,
            into_hop: 0,
            hops: 0,
            blocks: GatingBlocks::default(),
            clean: Vec::new(),
        })
    }

    /// Feeds the next chunk of interleaved samples (any length of whole
    /// frames). NaN and infinite samples count as silence.
    pub fn add(&mut self, interleaved: &[f32]) -> Result<(), LoudnessError> {
        if !interleaved.len().is_multiple_of(self.channels) {
            return Err(LoudnessError::PartialFrame {
                samples: interleaved.len(),
                channels: self.channels,
            });
        }
        let mut samples = interleaved;
        let mut clean = std::mem::take(&mut self.clean);
        if !samples.iter().all(|s| s.is_finite()) {
            clean.clear();
            clean.extend(samples.iter().map(|&s| if s.is_finite() { s } else { 0.0 }));
            samples = &clean;
        }
        let result = self.add_clean(samples);
        self.clean = clean;
        result
    }

    fn add_clean(&mut self, mut samples: &[f32]) -> Result<(), LoudnessError> {
        // Cut the chunk at 100 ms boundaries so that, at each, the momentary
        // loudness (the last 400 ms) is exactly the gating block BS.1770 takes.
        while !samples.is_empty() {
            let frames = (self.hop_frames - self.into_hop).min(samples.len() / self.channels);
            let (now, later) = samples.split_at(frames * self.channels);
            self.meter
                .add_frames_f32(now)
                .map_err(|e| LoudnessError::Meter(e.to_string()))?;
            self.into_hop += frames;
            samples = later;
            if self.into_hop == self.hop_frames {
                self.into_hop = 0;
                self.hops += 1;
                if self.hops >= 4 {
                    let lufs = self
                        .meter
                        .loudness_momentary()
                        .map_err(|e| LoudnessError::Meter(e.to_string()))?;
                    self.blocks.add(lufs);
                }
            }
        }
        Ok(())
    }

    /// The measurement of everything fed so far.
    pub fn finish(&self) -> Loudness {
        let true_peak = (0..self.channels as u32)
            .filter_map(|ch| self.meter.true_peak(ch).ok())
            .fold(0.0f64, f64::max);
        Loudness {
            integrated_lufs: self.blocks.integrated_lufs(),
            true_peak,
            blocks: self.blocks.clone(),
        }
    }
}

/// A measurement of a track, or of an album (see [`Loudness::album`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Loudness {
    /// Gated integrated loudness in LUFS; `None` when silent.
    pub integrated_lufs: Option<f64>,
    /// Linear true peak (1.0 = full scale), at least the sample peak.
    pub true_peak: f64,
    /// The gating blocks, to merge into an album figure later.
    pub blocks: GatingBlocks,
}

impl Loudness {
    /// The album measurement from its tracks' measurements: blocks gated
    /// together, the highest peak.
    pub fn album<'a>(tracks: impl IntoIterator<Item = &'a Loudness>) -> Loudness {
        let mut blocks = GatingBlocks::default();
        let mut true_peak = 0.0f64;
        for track in tracks {
            blocks.merge(&track.blocks);
            true_peak = true_peak.max(track.true_peak);
        }
        Loudness {
            integrated_lufs: blocks.integrated_lufs(),
            true_peak,
            blocks,
        }
    }

    /// The ReplayGain 2.0 gain and peak; `None` when silent.
    pub fn replay_gain(&self) -> Option<ReplayGain> {
        self.integrated_lufs.map(|lufs| ReplayGain {
            gain_db: REFERENCE_LUFS - lufs,
            peak: self.true_peak,
        })
    }
}

/// What a player applies: `gain_db` of gain, limited so `peak` × gain stays
/// at or below full scale if it prevents clipping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayGain {
    pub gain_db: f64,
    /// Linear true peak.
    pub peak: f64,
}

/// A histogram of 400 ms block energies: per 0.1 LU bin, the count and the
/// sum of energies. See the module doc for why.
#[derive(Clone, PartialEq)]
pub struct GatingBlocks {
    bins: Vec<Bin>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Bin {
    count: u64,
    energy: f64,
}

impl Default for GatingBlocks {
    fn default() -> Self {
        Self {
            bins: vec![Bin::default(); BINS],
        }
    }
}

impl std::fmt::Debug for GatingBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GatingBlocks({} blocks, {:?} LUFS)",
            self.count(),
            self.integrated_lufs()
        )
    }
}

/// Bytes a serialised bin takes: bin index u16, count u32, energy f64.
const BIN_BYTES: usize = 2 + 4 + 8;
const FORMAT_VERSION: u8 = 1;

impl GatingBlocks {
    /// Number of blocks above the absolute gate.
    pub fn count(&self) -> u64 {
        self.bins.iter().map(|b| b.count).sum()
    }

    fn add(&mut self, lufs: f64) {
        if lufs.is_nan() || lufs < ABSOLUTE_GATE_LUFS {
            return;
        }
        let bin = &mut self.bins[bin_of(lufs)];
        bin.count += 1;
        bin.energy += energy_of(lufs);
    }

    /// Adds another track's blocks to these.
    pub fn merge(&mut self, other: &GatingBlocks) {
        for (mine, theirs) in self.bins.iter_mut().zip(&other.bins) {
            mine.count += theirs.count;
            mine.energy += theirs.energy;
        }
    }

    /// The gated integrated loudness of these blocks (BS.1770-4): the mean
    /// energy of the blocks above the absolute gate sets a relative gate
    /// 10 LU below it; the mean of the blocks at or above both is the answer.
    pub fn integrated_lufs(&self) -> Option<f64> {
        let (count, energy) = self
            .bins
            .iter()
            .fold((0u64, 0.0f64), |(c, e), b| (c + b.count, e + b.energy));
        if count == 0 {
            return None;
        }
        let threshold = energy / count as f64 * 10f64.powf(RELATIVE_GATE_LU / 10.0);
        let (count, energy) = self
            .bins
            .iter()
            .filter(|b| b.count > 0 && b.energy / b.count as f64 >= threshold)
            .fold((0u64, 0.0f64), |(c, e), b| (c + b.count, e + b.energy));
        (count > 0 && energy > 0.0).then(|| loudness_of(energy / count as f64))
    }

    /// A compact form to store: at most ~14 KB, however long the track.
    pub fn to_bytes(&self) -> Vec<u8> {
        let used: Vec<(usize, &Bin)> = self.bins.iter().enumerate().filter(|(_, b)| b.count > 0).collect();
        let mut out = Vec::with_capacity(3 + used.len() * BIN_BYTES);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&(used.len() as u16).to_le_bytes());
        for (index, bin) in used {
            out.extend_from_slice(&(index as u16).to_le_bytes());
            // 2^32 blocks of 100 ms are 13 years of audio.
            out.extend_from_slice(&u32::try_from(bin.count).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(&bin.energy.to_le_bytes());
        }
        out
    }

    /// Reads [`GatingBlocks::to_bytes`]'s form back; `None` for anything
    /// else (wrong version or length, bins out of order or range, a count of
    /// zero, an energy that is not a finite positive number inside its bin).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (&version, rest) = bytes.split_first()?;
        if version != FORMAT_VERSION || rest.len() < 2 {
            return None;
        }
        let n = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        if n > BINS || body.len() != n * BIN_BYTES {
            return None;
        }
        let mut blocks = GatingBlocks::default();
        let mut previous: Option<usize> = None;
        for chunk in body.chunks_exact(BIN_BYTES) {
            let index = usize::from(u16::from_le_bytes([chunk[0], chunk[1]]));
            let count = u32::from_le_bytes(chunk[2..6].try_into().ok()?);
            let energy = f64::from_le_bytes(chunk[6..14].try_into().ok()?);
            if index >= BINS || previous.is_some_and(|p| p >= index) || count == 0 {
                return None;
            }
            // The mean must lie in its bin (with rounding room): otherwise one
            // stored track could drag an album's figure anywhere.
            let mean = energy / f64::from(count);
            let low = energy_of(ABSOLUTE_GATE_LUFS + index as f64 * BIN_LU - BIN_LU);
            let high = energy_of(ABSOLUTE_GATE_LUFS + (index + 1) as f64 * BIN_LU + BIN_LU);
            let top_bin = index == BINS - 1;
            if !energy.is_finite() || !(mean >= low && (mean <= high || top_bin)) {
                return None;
            }
            blocks.bins[index] = Bin {
                count: u64::from(count),
                energy,
            };
            previous = Some(index);
        }
        Some(blocks)
    }
}

fn bin_of(lufs: f64) -> usize {
    let index = ((lufs - ABSOLUTE_GATE_LUFS) / BIN_LU).floor();
    (index.max(0.0) as usize).min(BINS - 1)
}

fn energy_of(lufs: f64) -> f64 {
    10f64.powf((lufs - LOUDNESS_OFFSET) / 10.0)
}

fn loudness_of(energy: f64) -> f64 {
    10.0 * energy.log10() + LOUDNESS_OFFSET
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;

    /// A stereo sine at `dbfs` peak in both channels, `seconds` long.
    fn sine(freq: f64, dbfs: f64, seconds: f64) -> Vec<f32> {
        let amplitude = 10f64.powf(dbfs / 20.0);
        let frames = (seconds * f64::from(SAMPLE_RATE)) as usize;
        (0..frames)
            .flat_map(|i| {
                let s =
                    (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(SAMPLE_RATE)).sin()) as f32;
                [s, s]
            })
            .collect()
    }

    fn measure(samples: &[f32], chunk_frames: usize) -> Loudness {
        let mut meter = LoudnessMeter::default();
        for chunk in samples.chunks(chunk_frames * 2) {
            meter.add(chunk).expect("whole frames");
        }
        meter.finish()
    }

    /// The same samples through ebur128's own integrated mode (no histogram).
    fn reference(samples: &[f32]) -> f64 {
        let mut meter = EbuR128::new(2, SAMPLE_RATE, Mode::I).expect("meter");
        meter.add_frames_f32(samples).expect("frames");
        meter.loudness_global().expect("global")
    }

    #[test]
    fn ebu_sine_reads_its_level() {
        // EBU Tech 3341 case 1: a 1 kHz stereo sine at −23 dBFS reads −23 LUFS.
        let loudness = measure(&sine(1000.0, -23.0, 20.0), 4096);
        let lufs = loudness.integrated_lufs.expect("not silent");
        assert!((lufs + 23.0).abs() < 0.1, "{lufs}");
        let rg = loudness.replay_gain().expect("gain");
        assert!((rg.gain_db - 5.0).abs() < 0.1, "{rg:?}");
        assert!((rg.peak - 10f64.powf(-23.0 / 20.0)).abs() < 0.002, "{rg:?}");
    }

    #[test]
    fn hostile_and_empty_input() {
        let mut meter = LoudnessMeter::default();
        assert_eq!(
            meter.add(&[0.1, 0.2, 0.3]),
            Err(LoudnessError::PartialFrame {
                samples: 3,
                channels: 2
            })
        );
        let empty = meter.finish();
        assert_eq!(empty.integrated_lufs, None);
        assert_eq!(empty.replay_gain(), None);
        assert_eq!(empty.true_peak, 0.0);
        // Digital silence, and silence under the absolute gate.
        assert_eq!(measure(&vec![0.0; 44_100 * 4], 1000).integrated_lufs, None);
        assert_eq!(measure(&sine(1000.0, -75.0, 4.0), 1000).integrated_lufs, None);
        // NaN and infinities count as silence; they never poison the figure.
        let mut poisoned = sine(1000.0, -23.0, 5.0);
        let clean = measure(&poisoned, 4410);
        for i in (0..poisoned.len()).step_by(9_999) {
            poisoned[i] = if i % 2 == 0 { f32::NAN } else { f32::INFINITY };
        }
        let dirty = measure(&poisoned, 4410);
        let (a, b) = (
            clean.integrated_lufs.expect("loud"),
            dirty.integrated_lufs.expect("loud"),
        );
        assert!(b.is_finite() && (a - b).abs() < 0.05, "{a} vs {b}");
        assert!(dirty.true_peak.is_finite() && dirty.true_peak < 0.1);
        // Layouts ebur128 cannot take are refused, not panicked on.
        assert!(matches!(
            LoudnessMeter::new(0, 44_100),
            Err(LoudnessError::Layout { .. })
        ));
        assert!(matches!(LoudnessMeter::new(2, 0), Err(LoudnessError::Layout { .. })));
        assert!(matches!(
            LoudnessMeter::new(64, 44_100),
            Err(LoudnessError::Layout { .. })
        ));
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        let mut samples = sine(440.0, -12.0, 3.0);
        samples.extend(sine(3000.0, -30.0, 3.0));
        let whole = measure(&samples, samples.len());
        for chunk in [1, 7, 4409, 4410, 4411, 44_100] {
            let chunked = measure(&samples, chunk);
            assert_eq!(chunked.blocks.count(), whole.blocks.count(), "chunk {chunk}");
            let (a, b) = (
                whole.integrated_lufs.expect("loud"),
                chunked.integrated_lufs.expect("loud"),
            );
            assert!((a - b).abs() < 1e-9, "chunk {chunk}: {a} vs {b}");
            assert!((whole.true_peak - chunked.true_peak).abs() < 1e-9);
        }
        // 6 s at 100 ms hops: blocks from 400 ms on.
        assert_eq!(whole.blocks.count(), 60 - 3);
    }

    #[test]
    fn histogram_gating_matches_ebur128() {
        // Loud, quiet (gated out relatively), loud again.
        let mut samples = sine(440.0, -10.0, 5.0);
        samples.extend(sine(440.0, -40.0, 5.0));
        samples.extend(sine(2000.0, -16.0, 5.0));
        let ours = measure(&samples, 3000).integrated_lufs.expect("loud");
        let theirs = reference(&samples);
        assert!((ours - theirs).abs() < 0.02, "ours {ours} vs ebur128 {theirs}");
    }

    #[test]
    fn album_gates_tracks_together() {
        // The quieter track's −45 dB interlude is gated out, alone and in the album.
        let loud = sine(440.0, -14.0, 6.0);
        let mut quiet = sine(1000.0, -20.0, 6.0);
        quiet.extend(sine(500.0, -45.0, 4.0));
        let (a, b) = (measure(&loud, 4096), measure(&quiet, 4096));
        let album = Loudness::album([&a, &b]);
        let album_lufs = album.integrated_lufs.expect("loud");

        // ebur128's own answer across two live analysers.
        let analyse = |s: &[f32]| {
            let mut m = EbuR128::new(2, SAMPLE_RATE, Mode::I).expect("meter");
            m.add_frames_f32(s).expect("frames");
            m
        };
        let (ma, mb) = (analyse(&loud), analyse(&quiet));
        let theirs = EbuR128::loudness_global_multiple([&ma, &mb].into_iter()).expect("global");
        assert!(
            (album_lufs - theirs).abs() < 0.02,
            "ours {album_lufs} vs ebur128 {theirs}"
        );

        let (la, lb) = (a.integrated_lufs.expect("loud"), b.integrated_lufs.expect("loud"));
        assert!(album_lufs < la && album_lufs > lb, "{lb} < {album_lufs} < {la}");
        assert_eq!(album.true_peak, a.true_peak.max(b.true_peak));
        assert_eq!(album.blocks.count(), a.blocks.count() + b.blocks.count());

        // Stored and read back, the blocks give the same album figure.
        let stored: Vec<Loudness> = [&a, &b]
            .iter()
            .map(|t| Loudness {
                blocks: GatingBlocks::from_bytes(&t.blocks.to_bytes()).expect("round trip"),
                ..(*t).clone()
            })
            .collect();
        assert_eq!(Loudness::album(&stored).integrated_lufs, album.integrated_lufs);
        assert!(a.blocks.to_bytes().len() <= 3 + BINS * BIN_BYTES);
    }

    #[test]
    fn stored_blocks_are_checked() {
        let blocks = measure(&sine(1000.0, -20.0, 3.0), 4410).blocks;
        let good = blocks.to_bytes();
        assert_eq!(GatingBlocks::from_bytes(&good), Some(blocks.clone()));
        assert_eq!(
            GatingBlocks::from_bytes(&[FORMAT_VERSION, 0, 0]),
            Some(GatingBlocks::default())
        );

        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![FORMAT_VERSION],
            vec![2, 0, 0],
            good[..good.len() - 1].to_vec(),
        ];
        let mut extra = good.clone();
        extra.push(0);
        cases.push(extra);
        // One bin, mutated in each field.
        let one_bin = |index: u16, count: u32, energy: f64| {
            let mut b = vec![FORMAT_VERSION, 1, 0];
            b.extend_from_slice(&index.to_le_bytes());
            b.extend_from_slice(&count.to_le_bytes());
            b.extend_from_slice(&energy.to_le_bytes());
            b
        };
        let e500 = energy_of(ABSOLUTE_GATE_LUFS + 50.05);
        assert!(GatingBlocks::from_bytes(&one_bin(500, 1, e500)).is_some());
        cases.push(one_bin(1000, 1, e500));
        cases.push(one_bin(500, 0, e500));
        cases.push(one_bin(500, 1, f64::NAN));
        cases.push(one_bin(500, 1, f64::INFINITY));
        cases.push(one_bin(500, 1, -e500));
        cases.push(one_bin(500, 1, e500 * 1e9)); // far outside its bin
        // Two bins out of order.
        let mut unordered = vec![FORMAT_VERSION, 2, 0];
        for index in [600u16, 500] {
            unordered.extend_from_slice(&index.to_le_bytes());
            unordered.extend_from_slice(&1u32.to_le_bytes());
            unordered.extend_from_slice(&energy_of(ABSOLUTE_GATE_LUFS + f64::from(index) / 10.0 + 0.05).to_le_bytes());
        }
        cases.push(unordered);
        for bytes in cases {
            assert_eq!(GatingBlocks::from_bytes(&bytes), None, "{bytes:?}");
        }
    }

    /// Runs ffmpeg's `ebur128` filter on `path` and reads its summary:
    /// (integrated LUFS, true peak dBFS).
    fn ffmpeg_ebur128(path: &Path) -> (f64, f64) {
        let out = Command::new("ffmpeg")
            .args(["-nostats", "-hide_banner", "-i"])
            .arg(path)
            .args(["-af", "ebur128=peak=true", "-f", "null", "-"])
            .output()
            .expect("ffmpeg runs (it is installed by .ci/run)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let log = String::from_utf8_lossy(&out.stderr);
        let summary = log.split("Summary:").nth(1).expect("an ebur128 summary");
        let value = |label: &str| -> f64 {
            summary
                .lines()
                .find_map(|l| l.trim().strip_prefix(label))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{label} in {summary}"))
        };
        (value("I:"), value("Peak:"))
    }

    #[test]
    fn matches_ffmpeg_ebur128() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Left a tone, right pink noise; loud, then very quiet (gated), then medium.
        let cases = [
            (
                "mixed.wav",
                "sine=frequency=997:duration=12:sample_rate=44100",
                "0.9",
                "0.02",
                "0.5",
                44_100,
            ),
            (
                "hot.wav",
                "sine=frequency=3000:duration=8:sample_rate=48000",
                "8",
                "4",
                "2",
                48_000,
            ),
        ];
        for (name, tone, a, b, c, rate) in cases {
            let path = dir.path().join(name);
            let volume = format!("volume='if(lt(t,4),{a},if(lt(t,6),{b},{c}))':eval=frame");
            let status = Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-f", "lavfi", "-i", tone, "-f", "lavfi", "-i"])
                .arg(format!(
                    "anoisesrc=duration=12:color=pink:amplitude=0.25:sample_rate={rate}:seed=7"
                ))
                .args([
                    "-filter_complex",
                    &format!("[0][1]amerge=inputs=2,{volume}[a]"),
                    "-map",
                    "[a]",
                ])
                .args(["-c:a", "pcm_f32le"])
                .arg(&path)
                .status()
                .expect("ffmpeg runs");
            assert!(status.success());

            // Through the real decoder (it resamples 48 kHz to 44.1 kHz), in
            // the bounded chunks the ingest uses.
            let decoded = crate::audio::decode_file(&path, Some("wav")).expect("decodes");
            let ours = measure(&decoded.samples, 8192);
            let (their_lufs, their_peak_db) = ffmpeg_ebur128(&path);
            let lufs = ours.integrated_lufs.expect("loud");
            assert!(
                (lufs - their_lufs).abs() <= 0.5,
                "{name}: ours {lufs:.2} LUFS vs ffmpeg {their_lufs} LUFS"
            );
            let peak_db = 20.0 * ours.true_peak.log10();
            assert!(
                (peak_db - their_peak_db).abs() <= 0.5,
                "{name}: ours {peak_db:.2} dBTP vs ffmpeg {their_peak_db}"
            );
        }
    }
}
