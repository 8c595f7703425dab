//! MP3 frames and packed-audio segments.
//!
//! Owns the MPEG audio Layer III bitstream knowledge the pipeline needs: the
//! frame header (sync word, bitrate, sample rate, padding → frame length), the
//! one field of the side information that links frames together
//! (`main_data_begin`, the bit reservoir), and cutting a rendition's frames into
//! ~6 s segments that each start with the ID3 timestamp tag.
//!
//! # Why segments are repacked
//!
//! A Layer III frame may keep part of its audio data ("main data") in the
//! unused tail of the frames before it: the bit reservoir. A decoder that
//! starts at a segment boundary (a seek, a rendition switch, a player that
//! decodes segment by segment) has not seen those frames and silences the
//! first granules of the segment. LAME can be told not to use the reservoir,
//! but only through its C API, which the safe `mp3lame-encoder` wrapper does
//! not expose. So the segmenter rewrites the first frames of every segment so
//! that no frame refers to bytes before its segment: main data is laid out
//! afresh from the segment's start, and where a frame's slot is too small for
//! what it must now carry, that frame (or the one before it) moves to a higher
//! bitrate index — a legal per-frame bitrate change, as in VBR streams. Audio
//! data is copied bit for bit; only `main_data_begin`, the bitrate index and
//! the padding bit change, so decoded audio is identical. Typically 2–5 frames
//! per rendition grow, costing well under 1 % in size. If the encoder already
//! produced self-contained frames this is a no-op.
//!
//! The one thing repacking cannot do is fit more than 1009 bytes of main data
//! into the *first* frame of a segment (a 320 kbit/s frame is the largest).
//! LAME reaches that only at 192 kbit/s and up on dense material, a few frames
//! in a thousand; [`segment_renditions`] moves such a boundary a frame or two
//! later in every rendition at once.
//!
//! Frame boundaries never move, and segment boundaries are chosen on frame
//! indices shared by all renditions, so a player can switch rendition at any
//! segment.
//!
//! Decoders: these segments carry no Xing/LAME header, and their first frames
//! may have a higher bitrate than the rest. symphonia then *estimates* a too
//! short length from the first frames and, with gapless decoding on, drops the
//! tail of the segment: decode segments with gapless off (as
//! [`crate::audio::decode_bytes`] does for any MP3 without a LAME tag) or from
//! a non-seekable stream.

use std::ops::Range;

use super::id3::id3_timestamp_tag;

/// Frames per segment: 230 × 1152 / 44 100 ≈ 6.008 s.
pub const SEGMENT_FRAMES: usize = 230;

/// The MPEG-2 system clock rate used by HLS timestamps.
const PTS_HZ: u64 = 90_000;

/// One packed-audio segment of a rendition, in clear.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Position of the segment in the rendition (`seg_{index:05}.mp3`).
    pub index: usize,
    /// Index of the segment's first MP3 frame in the rendition.
    pub first_frame: usize,
    /// Number of MP3 frames in the segment.
    pub frames: usize,
    /// Duration of the segment's frames in seconds.
    pub duration_s: f64,
    /// The ID3 timestamp tag followed by the MP3 frames.
    pub data: Vec<u8>,
}

/// MPEG audio version of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpegVersion {
    /// MPEG-1 (32, 44.1, 48 kHz; 1152 samples per Layer III frame).
    Mpeg1,
    /// MPEG-2 low sample rate extension (16, 22.05, 24 kHz; 576 samples).
    Mpeg2,
    /// The unofficial MPEG-2.5 extension (8, 11.025, 12 kHz; 576 samples).
    Mpeg25,
}

/// A parsed MPEG audio Layer III frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// MPEG version.
    pub version: MpegVersion,
    /// Bitrate index (1..=14) into the version's table.
    pub bitrate_index: u8,
    /// Bitrate in kbit/s.
    pub bitrate_kbps: u32,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Whether the frame carries one padding byte.
    pub padding: bool,
    /// Whether a 16-bit CRC follows the header.
    pub crc: bool,
    /// Channel mode bits: 0 stereo, 1 joint stereo, 2 dual channel, 3 mono.
    pub channel_mode: u8,
}

const BITRATES_MPEG1: [u32; 15] = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const BITRATES_MPEG2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

impl FrameHeader {
    /// Parses a Layer III frame header from the first four bytes of `bytes`.
    ///
    /// Returns `None` for anything else: no sync word, reserved version or
    /// sample rate, Layer I/II, free-format or invalid bitrate. MIST only ever
    /// writes Layer III, so the other layers are not needed.
    pub fn parse(bytes: &[u8]) -> Option<FrameHeader> {
        let b: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
        if b[0] != 0xFF || b[1] & 0xE0 != 0xE0 {
            return None;
        }
        let version = match (b[1] >> 3) & 0b11 {
            0b00 => MpegVersion::Mpeg25,
            0b10 => MpegVersion::Mpeg2,
            0b11 => MpegVersion::Mpeg1,
            _ => return None,
        };
        if (b[1] >> 1) & 0b11 != 0b01 {
            return None; // not Layer III
        }
        let crc = b[1] & 1 == 0;
        let bitrate_index = b[2] >> 4;
        if bitrate_index == 0 || bitrate_index == 15 {
            return None;
        }
        let rate_index = usize::from((b[2] >> 2) & 0b11);
        let sample_rate = match (version, rate_index) {
            (_, 3) => return None,
            (MpegVersion::Mpeg1, i) => [44_100, 48_000, 32_000][i],
            (MpegVersion::Mpeg2, i) => [22_050, 24_000, 16_000][i],
            (MpegVersion::Mpeg25, i) => [11_025, 12_000, 8_000][i],
        };
        Some(FrameHeader {
            version,
            bitrate_index,
            bitrate_kbps: bitrate_table(version)[usize::from(bitrate_index)],
            sample_rate,
            padding: b[2] & 0b10 != 0,
            crc,
            channel_mode: b[3] >> 6,
        })
    }

    /// Total frame length in bytes, header included.
    pub fn frame_len(&self) -> usize {
        frame_len(self.version, self.bitrate_kbps, self.sample_rate, self.padding)
    }

    /// PCM samples (per channel) the frame decodes to.
    pub fn samples_per_frame(&self) -> usize {
        match self.version {
            MpegVersion::Mpeg1 => 1152,
            MpegVersion::Mpeg2 | MpegVersion::Mpeg25 => 576,
        }
    }

    /// Number of audio channels.
    pub fn channels(&self) -> usize {
        if self.channel_mode == 3 { 1 } else { 2 }
    }

    /// Length of the side information that follows the header (and CRC).
    pub fn side_info_len(&self) -> usize {
        match (self.version, self.channels()) {
            (MpegVersion::Mpeg1, 1) => 17,
            (MpegVersion::Mpeg1, _) => 32,
            (_, 1) => 9,
            (_, _) => 17,
        }
    }

    /// Offset of the side information in the frame.
    fn side_info_offset(&self) -> usize {
        if self.crc { 6 } else { 4 }
    }
}

fn bitrate_table(version: MpegVersion) -> &'static [u32; 15] {
    match version {
        MpegVersion::Mpeg1 => &BITRATES_MPEG1,
        MpegVersion::Mpeg2 | MpegVersion::Mpeg25 => &BITRATES_MPEG2,
    }
}

fn frame_len(version: MpegVersion, kbps: u32, sample_rate: u32, padding: bool) -> usize {
    let coefficient = match version {
        MpegVersion::Mpeg1 => 144_000,
        MpegVersion::Mpeg2 | MpegVersion::Mpeg25 => 72_000,
    };
    (coefficient * u64::from(kbps) / u64::from(sample_rate)) as usize + usize::from(padding)
}

/// Why a byte stream could not be split into frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// No valid Layer III header where a frame should start.
    #[error("no MP3 frame header at byte {0}")]
    NoHeader(usize),
    /// The last frame is cut short.
    #[error("MP3 frame at byte {offset} needs {needed} bytes but only {available} remain")]
    Truncated {
        /// Where the frame starts.
        offset: usize,
        /// Its length according to the header.
        needed: usize,
        /// Bytes left in the stream.
        available: usize,
    },
}

/// Splits a raw Layer III stream (as LAME writes it: no tags) into frames.
///
/// Strict on purpose: the input is our own encoder's output, so any byte that
/// is not part of a frame is a bug worth reporting rather than skipping.
pub fn split_frames(stream: &[u8]) -> Result<Vec<Vec<u8>>, FrameError> {
    let mut frames = Vec::with_capacity(stream.len() / 400 + 1);
    let mut pos = 0;
    while pos < stream.len() {
        let header = FrameHeader::parse(&stream[pos..]).ok_or(FrameError::NoHeader(pos))?;
        let len = header.frame_len();
        let frame = stream.get(pos..pos + len).ok_or(FrameError::Truncated {
            offset: pos,
            needed: len,
            available: stream.len() - pos,
        })?;
        frames.push(frame.to_vec());
        pos += len;
    }
    Ok(frames)
}

/// The parts of a Layer III frame that the reservoir concerns.
#[derive(Debug, Clone, Copy)]
struct FrameLayout {
    header: FrameHeader,
    /// Bytes the frame's main data reaches back into earlier frames' slots.
    main_data_begin: usize,
    /// Length of the frame's main data in bytes (part2_3 bits, rounded up).
    main_data_len: usize,
    /// Bytes after the side information: where main data (this frame's or later ones') lives.
    slot_len: usize,
}

impl FrameLayout {
    fn parse(frame: &[u8]) -> Option<FrameLayout> {
        let header = FrameHeader::parse(frame)?;
        if frame.len() != header.frame_len() {
            return None;
        }
        let side_start = header.side_info_offset();
        let side = frame.get(side_start..side_start + header.side_info_len())?;
        let mut bits = BitReader::new(side);
        let (main_data_begin, granules, private_bits, per_granule_bits) = match (header.version, header.channels()) {
            // Skipped per granule and channel after part2_3_length: MPEG-1 has
            // 59 - 12 = 47 more bits, MPEG-2 63 - 12 = 51 (its scalefac_compress is 9 bits).
            (MpegVersion::Mpeg1, 1) => (bits.read(9)?, 2, 5 + 4, 47),
            (MpegVersion::Mpeg1, _) => (bits.read(9)?, 2, 3 + 8, 47),
            (_, 1) => (bits.read(8)?, 1, 1, 51),
            (_, _) => (bits.read(8)?, 1, 2, 51),
        };
        bits.skip(private_bits)?; // private bits and (MPEG-1) scfsi
        let mut main_bits = 0usize;
        for _ in 0..granules * header.channels() {
            main_bits += bits.read(12)? as usize;
            bits.skip(per_granule_bits)?;
        }
        let slot_len = frame.len() - side_start - header.side_info_len();
        Some(FrameLayout {
            header,
            main_data_begin: main_data_begin as usize,
            main_data_len: main_bits.div_ceil(8),
            slot_len,
        })
    }
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    fn read(&mut self, n: usize) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            value = (value << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(value)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.pos += n;
        (self.pos <= self.data.len() * 8).then_some(())
    }
}

/// The `main_data_begin` field of a Layer III frame (bytes borrowed from earlier frames).
pub fn main_data_begin(frame: &[u8]) -> Option<usize> {
    FrameLayout::parse(frame).map(|l| l.main_data_begin)
}

/// Counts the frames that need main data from before `frames[0]`, that is the
/// frames a decoder starting at `frames[0]` would have to drop or silence.
/// Zero means the sequence decodes on its own. Unparseable frames count too.
pub fn reservoir_underflows<F: AsRef<[u8]>>(frames: &[F]) -> usize {
    let mut available = 0usize;
    let mut underflows = 0;
    for frame in frames {
        match FrameLayout::parse(frame.as_ref()) {
            Some(layout) => {
                if layout.main_data_begin > available {
                    underflows += 1;
                }
                available += layout.slot_len;
            }
            None => underflows += 1,
        }
    }
    underflows
}

/// Frames a segment boundary may move later so that every rendition can
/// start a segment there (see [`segment_renditions`]): 20 frames ≈ 0.5 s.
pub const MAX_BOUNDARY_SHIFT: usize = 20;

/// Bytes of earlier slots a frame may reach back into: `main_data_begin` is
/// 9 bits in MPEG-1 (the larger), so at most 511.
const MAX_RESERVOIR_REACH: usize = 511;

/// Cuts one rendition's MP3 frames into segments of [`SEGMENT_FRAMES`] frames
/// (the last may be shorter).
///
/// Each segment starts with an ID3v2.4 tag whose `PRIV`
/// `com.apple.streaming.transportStreamTimestamp` value is the 33-bit 90 kHz
/// timestamp of the segment's first sample (RFC 8216 §3.4), and its frames are
/// repacked so that it decodes on its own (see the module docs). Durations and
/// timestamps use `sample_rate` and the frames' own sample counts.
///
/// Boundaries here are fixed, so separate calls for several renditions agree.
/// Rarely (dense material at 192 kbit/s and up) the first frame of a segment
/// holds more data than any single frame can carry; that segment then keeps
/// the encoder's frames and needs its predecessor to decode its first
/// granules. [`segment_renditions`] avoids this by moving such a boundary in
/// every rendition at once; the ingest uses that (through [`Segmenter`]).
pub fn segment_frames(frames: &[Vec<u8>], sample_rate: u32) -> Vec<Segment> {
    let mut segmenter = Segmenter::fixed(sample_rate);
    segmenter.push(0, frames.to_vec());
    segmenter.finish();
    let mut out = Vec::new();
    // One rendition cannot be uneven with itself.
    while let Ok(Some(mut set)) = segmenter.next_segments() {
        out.append(&mut set);
    }
    out
}

/// Segments several renditions of the same audio with shared boundaries.
///
/// Like [`segment_frames`], but a boundary where some rendition's first frame
/// could not be made self-contained moves up to [`MAX_BOUNDARY_SHIFT`] frames
/// later, in every rendition, so segments are 230–250 frames (6.0–6.5 s) and
/// frame-aligned everywhere. Renditions must have the same number of frames
/// (true of `audio::encode_renditions`); if they do
/// not, each is cut with fixed boundaries instead.
///
/// The whole-track form of [`Segmenter`], which gives the same segments a
/// piece at a time.
pub fn segment_renditions<F: AsRef<[Vec<u8>]>>(renditions: &[F], sample_rate: u32) -> Vec<Vec<Segment>> {
    let len = renditions.first().map_or(0, |r| r.as_ref().len());
    if renditions.iter().any(|r| r.as_ref().len() != len) {
        return renditions
            .iter()
            .map(|r| segment_frames(r.as_ref(), sample_rate))
            .collect();
    }
    let mut segmenter = Segmenter::new(renditions.len(), sample_rate);
    for (r, frames) in renditions.iter().enumerate() {
        segmenter.push(r, frames.as_ref().to_vec());
    }
    segmenter.finish();
    let mut out: Vec<Vec<Segment>> = vec![Vec::new(); renditions.len()];
    while let Ok(Some(set)) = segmenter.next_segments() {
        for (list, segment) in out.iter_mut().zip(set) {
            list.push(segment);
        }
    }
    out
}

/// Why [`Segmenter`] could not cut the renditions it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// Renditions of the same audio ended with different frame counts (an
    /// encoder bug: they cannot share segment boundaries).
    #[error("the renditions have different lengths: {0:?} frames")]
    UnevenRenditions(Vec<usize>),
}

/// Cuts renditions into segments as their frames arrive, holding only the
/// frames of the segment being cut (plus a few before it, whose reservoir its
/// first frames may reach into, and [`MAX_BOUNDARY_SHIFT`] after it).
///
/// Segments come out exactly as [`segment_renditions`] cuts the whole
/// renditions: the same shared boundaries, the same repacked frames, the same
/// timestamps. Feed each rendition's frames with [`Segmenter::push`] in any
/// amounts, call [`Segmenter::finish`] after the last, and take segments with
/// [`Segmenter::next_segments`] whenever convenient.
pub struct Segmenter {
    sample_rate: u32,
    /// Whether boundaries may move to where every rendition can start a segment.
    shift: bool,
    renditions: Vec<PendingFrames>,
    /// Frame index (in every rendition) where the next segment starts.
    start: usize,
    /// Index of the next segment.
    index: usize,
    finished: bool,
}

/// One rendition's frames not yet behind us.
#[derive(Default)]
struct PendingFrames {
    frames: std::collections::VecDeque<Vec<u8>>,
    /// Frame index of `frames[0]` in the rendition.
    first: usize,
    /// Samples (per channel) before the next segment: its timestamp.
    first_sample: u64,
}

impl PendingFrames {
    /// Frames received so far.
    fn end(&self) -> usize {
        self.first + self.frames.len()
    }
}

impl Segmenter {
    /// A segmenter for `renditions` renditions of the same audio, with
    /// boundaries that move where needed (see [`segment_renditions`]).
    pub fn new(renditions: usize, sample_rate: u32) -> Self {
        Segmenter {
            sample_rate,
            shift: true,
            renditions: (0..renditions).map(|_| PendingFrames::default()).collect(),
            start: 0,
            index: 0,
            finished: false,
        }
    }

    /// A segmenter for one rendition with fixed boundaries every
    /// [`SEGMENT_FRAMES`] frames (see [`segment_frames`]).
    pub fn fixed(sample_rate: u32) -> Self {
        Segmenter {
            shift: false,
            ..Segmenter::new(1, sample_rate)
        }
    }

    /// Adds the next frames of rendition `rendition`.
    pub fn push(&mut self, rendition: usize, frames: impl IntoIterator<Item = Vec<u8>>) {
        if let Some(pending) = self.renditions.get_mut(rendition) {
            pending.frames.extend(frames);
        }
    }

    /// Says no more frames will come.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// The next segment of every rendition (in the order they were
    /// numbered), once enough frames have arrived to fix where it ends;
    /// `None` when more frames are needed or, after [`Segmenter::finish`],
    /// when every segment has been taken.
    pub fn next_segments(&mut self) -> Result<Option<Vec<Segment>>, SegmentError> {
        let known = self.renditions.iter().map(PendingFrames::end).min().unwrap_or(0);
        let ends: Vec<usize> = self.renditions.iter().map(PendingFrames::end).collect();
        if self.finished && ends.windows(2).any(|w| w[0] != w[1]) {
            return Err(SegmentError::UnevenRenditions(ends));
        }
        if self.start >= known {
            return Ok(None);
        }
        let nominal = self.start + SEGMENT_FRAMES;
        let end = if self.finished && nominal >= known {
            known
        } else if !self.shift {
            if known < nominal {
                return Ok(None);
            }
            nominal
        } else {
            // Frames up to the last candidate boundary must be here (or the
            // end known) before the boundary can be chosen.
            let last = if self.finished {
                (nominal + MAX_BOUNDARY_SHIFT).min(known - 1)
            } else if known > nominal + MAX_BOUNDARY_SHIFT {
                nominal + MAX_BOUNDARY_SHIFT
            } else {
                return Ok(None);
            };
            (nominal..=last)
                .find(|&b| self.renditions.iter().all(|r| can_start_segment_at(r, b)))
                .unwrap_or(nominal)
        };

        let (start, index, sample_rate) = (self.start, self.index, self.sample_rate);
        let segments = self
            .renditions
            .iter_mut()
            .map(|pending| cut(pending, start, end, index, sample_rate))
            .collect();
        self.start = end;
        self.index += 1;
        Ok(Some(segments))
    }
}

/// Whether frame `frame` of a rendition can open a segment (frames that do
/// not parse as Layer III are kept as they are, so they can).
fn can_start_segment_at(pending: &PendingFrames, frame: usize) -> bool {
    let Some(bytes) = frame.checked_sub(pending.first).and_then(|i| pending.frames.get(i)) else {
        return true;
    };
    FrameLayout::parse(bytes).is_none_or(|layout| fits_alone(&layout))
}

/// Whether a frame can open a segment: with nothing before it, all its main
/// data must fit its own slot, grown to the largest frame if need be.
fn fits_alone(layout: &FrameLayout) -> bool {
    layout.main_data_len <= layout.slot_len
        || grow_frame(&layout.header, layout.slot_len, layout.main_data_len).is_some()
}

/// Cuts frames `start..end` of one rendition into segment `index`, then
/// forgets the frames no later segment can need.
fn cut(pending: &mut PendingFrames, start: usize, end: usize, index: usize, sample_rate: u32) -> Segment {
    let frames = pending.frames.make_contiguous();
    let lead_in = start - pending.first;
    let window = &frames[..end - pending.first];
    let rendition = Rendition::new(window, lead_in);
    let segment = rendition.segment(lead_in..window.len(), start, index, pending.first_sample, sample_rate);
    pending.first_sample += rendition.samples[lead_in..].iter().sum::<u64>();

    // Keep, before the next segment, the frames whose slots its first frame
    // may still borrow from.
    let mut keep = 0;
    let mut reach = 0;
    while keep < window.len() && reach <= MAX_RESERVOIR_REACH {
        let frame = &window[window.len() - 1 - keep];
        reach += FrameLayout::parse(frame).map_or(frame.len(), |l| l.slot_len);
        keep += 1;
    }
    let drop = window.len() - keep;
    pending.frames.drain(..drop);
    pending.first += drop;
    segment
}

/// A stretch of one rendition's frames with what the segmenter knows about
/// them: the first `lead_in` frames come before the segment being cut and
/// are there only for the reservoir its first frames may reach into.
struct Rendition<'a> {
    frames: &'a [Vec<u8>],
    /// Samples per frame (1152 unless the stream is not MPEG-1).
    samples: Vec<u64>,
    /// `None` if a frame of the segment is not a Layer III frame we can repack.
    reservoir: Option<ReservoirStream<'a>>,
}

impl<'a> Rendition<'a> {
    fn new(frames: &'a [Vec<u8>], lead_in: usize) -> Self {
        let layouts: Vec<Option<FrameLayout>> = frames.iter().map(|f| FrameLayout::parse(f)).collect();
        let samples = layouts
            .iter()
            .map(|l| l.map_or(1152, |l| l.header.samples_per_frame()) as u64)
            .collect();
        Rendition {
            frames,
            samples,
            reservoir: ReservoirStream::new(frames, &layouts, lead_in),
        }
    }

    /// The segment made of `range` (indices into this stretch), the
    /// rendition's frame `first_frame` onwards, starting `first_sample`
    /// samples into the track.
    fn segment(
        &self,
        range: Range<usize>,
        first_frame: usize,
        index: usize,
        first_sample: u64,
        sample_rate: u32,
    ) -> Segment {
        let sample_rate = u64::from(sample_rate.max(1));
        let samples: u64 = self.samples[range.clone()].iter().sum();
        let pts = (u128::from(first_sample) * u128::from(PTS_HZ) / u128::from(sample_rate)) as u64;
        let mut data = id3_timestamp_tag(pts);
        match self.reservoir.as_ref().and_then(|r| r.repack(range.clone())) {
            Some(repacked) => repacked.iter().for_each(|f| data.extend_from_slice(f)),
            // Not a stream we can repack: keep the frames exactly as they are.
            None => self.frames[range.clone()]
                .iter()
                .for_each(|f| data.extend_from_slice(f)),
        }
        Segment {
            index,
            first_frame,
            frames: range.len(),
            duration_s: samples as f64 / sample_rate as f64,
            data,
        }
    }
}

/// A whole rendition seen as the decoder sees it: frame headers and side
/// information, plus one continuous "virtual" stream of the bytes after them,
/// in which each frame's main data sits at a known position.
struct ReservoirStream<'a> {
    frames: &'a [Vec<u8>],
    layouts: Vec<FrameLayout>,
    /// The concatenated slots (bytes after the side info) of all frames.
    virtual_stream: Vec<u8>,
    /// Where each frame's main data starts in `virtual_stream`.
    data_start: Vec<usize>,
}

impl<'a> ReservoirStream<'a> {
    /// `None` unless every frame parses and the main data of every frame
    /// after the first `lead_in` lies inside the stream. The lead-in frames
    /// are there for their slots only (frames after them may borrow from
    /// them); their own main data may reach before the stream.
    fn new(frames: &'a [Vec<u8>], layouts: &[Option<FrameLayout>], lead_in: usize) -> Option<Self> {
        let layouts: Vec<FrameLayout> = layouts.iter().copied().collect::<Option<_>>()?;
        let mut virtual_stream = Vec::new();
        let mut data_start = Vec::with_capacity(frames.len());
        for (j, (frame, layout)) in frames.iter().zip(&layouts).enumerate() {
            let slot_start = virtual_stream.len();
            let start = match slot_start.checked_sub(layout.main_data_begin) {
                Some(start) => start,
                None if j < lead_in => 0,
                None => return None,
            };
            // A frame's main data must end inside its own slot.
            if j >= lead_in && start + layout.main_data_len > slot_start + layout.slot_len {
                return None;
            }
            data_start.push(start);
            virtual_stream.extend_from_slice(&frame[frame.len() - layout.slot_len..]);
        }
        Some(ReservoirStream {
            frames,
            layouts,
            virtual_stream,
            data_start,
        })
    }

    /// Whether frame `i` can open a segment (see [`fits_alone`]).
    #[cfg(test)]
    fn fits_as_first(&self, i: usize) -> bool {
        fits_alone(&self.layouts[i])
    }

    /// Lays the main data of `range` out afresh so that nothing refers to bytes
    /// before the first frame, growing frames where their data does not fit.
    /// `None` if the first frame cannot hold its data even at the highest
    /// bitrate (the caller then keeps the original frames).
    fn repack(&self, range: Range<usize>) -> Option<Vec<Vec<u8>>> {
        if reservoir_underflows(&self.frames[range.clone()]) == 0 {
            return Some(self.frames[range].to_vec());
        }
        let layouts = &self.layouts[range.clone()];
        // Slot sizes, starting from the encoder's and only ever growing.
        let mut sizes: Vec<(FrameHeader, usize)> = layouts.iter().map(|l| (l.header, l.slot_len)).collect();
        let placement = 'layout: loop {
            let mut placement = Vec::with_capacity(layouts.len());
            let mut next_free = 0usize; // first byte after the previous frame's main data
            let mut slot_start = 0usize;
            for (j, layout) in layouts.iter().enumerate() {
                // Keep the encoder's placement relative to the slot where the cut
                // allows, so the layout converges back to the original within a
                // few frames; otherwise start right after the previous frame's data.
                let data_start = next_free.max(slot_start.saturating_sub(layout.main_data_begin));
                let needed = (data_start + layout.main_data_len).saturating_sub(slot_start);
                if needed > sizes[j].1 {
                    if let Some(grown) = grow_frame(&layout.header, layout.slot_len, needed) {
                        sizes[j] = grown;
                    } else {
                        // Even the largest frame is too small: make room before
                        // it by growing the nearest earlier frame that can still
                        // grow, and lay out again. Sizes only increase, so this ends.
                        let earlier = (0..j).rev().find_map(|k| {
                            grow_frame(&layouts[k].header, layouts[k].slot_len, sizes[k].1 + 1).map(|grown| (k, grown))
                        });
                        let (k, grown) = earlier?;
                        sizes[k] = grown;
                        continue 'layout;
                    }
                }
                placement.push((slot_start, data_start));
                next_free = data_start + layout.main_data_len;
                slot_start += sizes[j].1;
            }
            break placement;
        };

        let total = placement.last().map_or(0, |&(s, _)| s) + sizes.last().map_or(0, |s| s.1);
        let mut new_stream = vec![0u8; total];
        for ((i, layout), &(_, data_start)) in range.clone().zip(layouts).zip(&placement) {
            let (src, len) = (self.data_start[i], layout.main_data_len);
            new_stream[data_start..data_start + len].copy_from_slice(&self.virtual_stream[src..src + len]);
        }
        let frames = range
            .zip(sizes)
            .zip(placement)
            .map(|((i, (header, slot_len)), (slot_start, data_start))| {
                let original = &self.frames[i];
                let side_start = header.side_info_offset();
                let side_end = side_start + header.side_info_len();
                let mut frame = Vec::with_capacity(side_end + slot_len);
                frame.extend_from_slice(&original[..side_end]);
                write_header(&mut frame, &header);
                write_main_data_begin(&mut frame[side_start..side_end], &header, slot_start - data_start);
                if header.crc {
                    let crc = layer3_crc(&frame[2..4], &frame[side_start..side_end]);
                    frame[4..6].copy_from_slice(&crc.to_be_bytes());
                }
                frame.extend_from_slice(&new_stream[slot_start..slot_start + slot_len]);
                frame
            })
            .collect();
        Some(frames)
    }
}

/// The smallest bitrate (and padding) at or above `header`'s whose slot holds
/// `needed_slot` bytes: `(new header, new slot length)`.
fn grow_frame(header: &FrameHeader, slot_len: usize, needed_slot: usize) -> Option<(FrameHeader, usize)> {
    let overhead = header.frame_len() - slot_len;
    let table = bitrate_table(header.version);
    (header.bitrate_index..=14)
        .flat_map(|index| [(index, false), (index, true)])
        .map(|(index, padding)| FrameHeader {
            bitrate_index: index,
            bitrate_kbps: table[usize::from(index)],
            padding,
            ..*header
        })
        .map(|h| (h, h.frame_len() - overhead))
        .find(|&(_, len)| len >= needed_slot)
}

fn write_header(frame: &mut [u8], header: &FrameHeader) {
    frame[2] = (header.bitrate_index << 4) | (frame[2] & 0x0D) | (u8::from(header.padding) << 1);
}

fn write_main_data_begin(side: &mut [u8], header: &FrameHeader, value: usize) {
    match header.version {
        MpegVersion::Mpeg1 => {
            side[0] = (value >> 1) as u8;
            side[1] = (side[1] & 0x7F) | (((value & 1) as u8) << 7);
        }
        MpegVersion::Mpeg2 | MpegVersion::Mpeg25 => side[0] = value as u8,
    }
}

/// CRC-16 (polynomial 0x8005, initial 0xFFFF) over header bytes 2–3 and the
/// side information, as ISO/IEC 11172-3 protects Layer III frames.
fn layer3_crc(header_tail: &[u8], side_info: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in header_tail.iter().chain(side_info) {
        for bit in (0..8).rev() {
            let input = (byte >> bit) & 1 == 1;
            let top = crc & 0x8000 != 0;
            crc <<= 1;
            if input != top {
                crc ^= 0x8005;
            }
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bytes: [u8; 4]) -> Option<FrameHeader> {
        FrameHeader::parse(&bytes)
    }

    #[test]
    fn parses_crafted_headers() {
        // (header bytes, version, kbps, rate, padding, frame length, samples)
        let cases = [
            (
                [0xFF, 0xFB, 0x90, 0x64],
                MpegVersion::Mpeg1,
                128,
                44_100,
                false,
                417,
                1152,
            ),
            (
                [0xFF, 0xFB, 0x92, 0x64],
                MpegVersion::Mpeg1,
                128,
                44_100,
                true,
                418,
                1152,
            ),
            (
                [0xFF, 0xFB, 0x50, 0xC4],
                MpegVersion::Mpeg1,
                64,
                44_100,
                false,
                208,
                1152,
            ),
            (
                [0xFF, 0xFB, 0xB0, 0x44],
                MpegVersion::Mpeg1,
                192,
                44_100,
                false,
                626,
                1152,
            ),
            (
                [0xFF, 0xFB, 0xE0, 0x44],
                MpegVersion::Mpeg1,
                320,
                44_100,
                false,
                1044,
                1152,
            ),
            (
                [0xFF, 0xFB, 0x94, 0x44],
                MpegVersion::Mpeg1,
                128,
                48_000,
                false,
                384,
                1152,
            ),
            (
                [0xFF, 0xFB, 0x18, 0x44],
                MpegVersion::Mpeg1,
                32,
                32_000,
                false,
                144,
                1152,
            ),
            (
                [0xFF, 0xF3, 0x80, 0xC4],
                MpegVersion::Mpeg2,
                64,
                22_050,
                false,
                208,
                576,
            ),
            (
                [0xFF, 0xE3, 0x38, 0xC4],
                MpegVersion::Mpeg25,
                24,
                8_000,
                false,
                216,
                576,
            ),
        ];
        for (bytes, version, kbps, rate, padding, len, samples) in cases {
            let h = header(bytes).unwrap_or_else(|| panic!("{bytes:02X?} should parse"));
            assert_eq!(h.version, version, "{bytes:02X?}");
            assert_eq!(h.bitrate_kbps, kbps, "{bytes:02X?}");
            assert_eq!(h.sample_rate, rate, "{bytes:02X?}");
            assert_eq!(h.padding, padding, "{bytes:02X?}");
            assert_eq!(h.frame_len(), len, "{bytes:02X?}");
            assert_eq!(h.samples_per_frame(), samples, "{bytes:02X?}");
            assert!(!h.crc, "protection bit set means no CRC");
        }
        let mono_crc = header([0xFF, 0xFA, 0x90, 0xC0]).unwrap();
        assert!(mono_crc.crc);
        assert_eq!(mono_crc.channels(), 1);
        assert_eq!(mono_crc.side_info_len(), 17);
        assert_eq!(mono_crc.side_info_offset(), 6);
    }

    #[test]
    fn rejects_invalid_headers() {
        for bytes in [
            [0xFF, 0xFB, 0xF0, 0x64], // bitrate index 15
            [0xFF, 0xFB, 0x00, 0x64], // free format
            [0xFF, 0xFB, 0x9C, 0x64], // reserved sample rate
            [0xFF, 0xEB, 0x90, 0x64], // reserved version
            [0xFF, 0xFD, 0x90, 0x64], // Layer II
            [0xFF, 0xFF, 0x90, 0x64], // Layer I
            [0xFF, 0xF9, 0x90, 0x64], // layer 00 reserved
            [0xFE, 0xFB, 0x90, 0x64], // no sync
            [0xFF, 0x7B, 0x90, 0x64], // 11-bit sync broken
        ] {
            assert_eq!(header(bytes), None, "{bytes:02X?} must be rejected");
        }
        assert_eq!(FrameHeader::parse(&[0xFF, 0xFB, 0x90]), None, "too short");
    }

    /// A syntactically valid MPEG-1 stereo frame with the given reservoir use.
    fn frame(kbps_index: u8, main_data_begin: usize, part2_3_bits: [u16; 4], fill: u8) -> Vec<u8> {
        let h = header([0xFF, 0xFB, kbps_index << 4, 0x44]).unwrap();
        let mut f = vec![fill; h.frame_len()];
        f[..4].copy_from_slice(&[0xFF, 0xFB, kbps_index << 4, 0x44]);
        let side = &mut f[4..36];
        side.fill(0);
        // Bit offsets: main_data_begin 0..9, private 9..12, scfsi 12..20, then 4 × 59 bits.
        let mut bits = vec![false; 256];
        let mut put = |at: usize, width: usize, value: usize| {
            for k in 0..width {
                bits[at + k] = (value >> (width - 1 - k)) & 1 == 1;
            }
        };
        put(0, 9, main_data_begin);
        for (gc, &p) in part2_3_bits.iter().enumerate() {
            put(20 + gc * 59, 12, usize::from(p));
        }
        for (k, bit) in bits.iter().enumerate() {
            if *bit {
                side[k / 8] |= 0x80 >> (k % 8);
            }
        }
        f
    }

    #[test]
    fn reads_side_info_fields() {
        let f = frame(9, 300, [1000, 1001, 8, 7], 0xAA);
        let layout = FrameLayout::parse(&f).unwrap();
        assert_eq!(layout.main_data_begin, 300);
        assert_eq!(layout.main_data_len, (1000 + 1001 + 8 + 7usize).div_ceil(8));
        assert_eq!(layout.slot_len, 417 - 36);
        assert_eq!(main_data_begin(&f), Some(300));
    }

    #[test]
    fn splits_a_stream_and_reports_garbage() {
        let mut stream = frame(9, 0, [0; 4], 1);
        stream.extend(frame(11, 0, [0; 4], 2));
        let frames = split_frames(&stream).unwrap();
        assert_eq!(frames.iter().map(Vec::len).collect::<Vec<_>>(), [417, 626]);
        assert_eq!(
            split_frames(&stream[..500]),
            Err(FrameError::Truncated {
                offset: 417,
                needed: 626,
                available: 83
            })
        );
        let mut junk = stream.clone();
        junk.extend_from_slice(b"TAG");
        assert_eq!(split_frames(&junk), Err(FrameError::NoHeader(417 + 626)));
    }

    #[test]
    fn crc_matches_the_iso_check() {
        // CRC-16/0x8005 with init 0xFFFF of "123456789" is 0xAEE7 (CRC-16/CMS).
        assert_eq!(layer3_crc(b"12", b"3456789"), 0xAEE7);
    }

    /// Three 128 kbit/s frames where frames 1 and 2 borrow from the frames before.
    fn borrowing_stream() -> Vec<Vec<u8>> {
        let slot = 417 - 36;
        // Frame 0: 200 bytes of its own data, the rest of its slot lent to frame 1.
        let f0 = frame(9, 0, [400, 400, 400, 400], 0x10);
        // Frame 1: starts 150 bytes back (inside frame 0), 500 bytes long.
        let f1 = frame(9, 150, [1000, 1000, 1000, 1000], 0x11);
        // Frame 2: starts 31 bytes back into frame 1's slot, 100 bytes long.
        let f2 = frame(9, 31, [200, 200, 200, 200], 0x12);
        let frames = vec![f0, f1, f2];
        assert_eq!(slot - 150 + 500, 731, "frame 1 data ends 350 bytes into its slot");
        frames
    }

    #[test]
    fn underflow_counter_sees_borrowed_bytes() {
        let frames = borrowing_stream();
        assert_eq!(reservoir_underflows(&frames), 0);
        assert_eq!(reservoir_underflows(&frames[1..]), 1, "frame 1 borrows from frame 0");
        assert_eq!(reservoir_underflows(&frames[2..]), 1);
    }

    #[test]
    fn repacking_makes_a_cut_self_contained_and_keeps_the_data() {
        let frames = borrowing_stream();
        let layouts: Vec<_> = frames.iter().map(|f| FrameLayout::parse(f)).collect();
        let stream = ReservoirStream::new(&frames, &layouts, 0).unwrap();

        // Starting at frame 1: its 500 bytes do not fit a 381-byte slot, so the
        // frame grows to the next bitrate (160 kbit/s, 522 bytes, slot 486)… still
        // too small; 192 kbit/s (626, slot 590) fits.
        let repacked = stream.repack(1..3).unwrap();
        assert_eq!(reservoir_underflows(&repacked), 0);
        let h1 = FrameHeader::parse(&repacked[0]).unwrap();
        assert_eq!(h1.bitrate_kbps, 192);
        assert_eq!(repacked[0].len(), 626);
        assert_eq!(main_data_begin(&repacked[0]), Some(0));
        // Frame 2 keeps its size and its place relative to its own slot.
        assert_eq!(repacked[1].len(), 417);
        assert_eq!(main_data_begin(&repacked[1]), Some(31));

        // The main data bytes are carried over unchanged.
        let old = &stream;
        for (k, i) in (1..3).enumerate() {
            let new_layouts: Vec<_> = repacked.iter().map(|f| FrameLayout::parse(f)).collect();
            let new = ReservoirStream::new(&repacked, &new_layouts, 0).unwrap();
            let len = old.layouts[i].main_data_len;
            assert_eq!(
                &new.virtual_stream[new.data_start[k]..new.data_start[k] + len],
                &old.virtual_stream[old.data_start[i]..old.data_start[i] + len],
            );
        }

        // A cut where nothing borrows across it is left byte-for-byte alone.
        assert_eq!(stream.repack(0..3).unwrap(), frames);
    }

    #[test]
    fn a_frame_too_big_for_any_slot_borrows_room_from_the_frame_before() {
        // 192 kbit/s (slot 590). Frame 1 lives entirely in the reservoir of
        // frame 0; frame 2 carries 1101 bytes, 511 of them borrowed.
        let frames = vec![
            frame(11, 0, [0; 4], 0x20),
            frame(11, 511, [1180; 4], 0x21),
            frame(11, 511, [2202; 4], 0x22),
        ];
        let layouts: Vec<_> = frames.iter().map(|f| FrameLayout::parse(f)).collect();
        let stream = ReservoirStream::new(&frames, &layouts, 0).unwrap();
        assert!(stream.fits_as_first(1));
        assert!(!stream.fits_as_first(2), "1101 bytes exceed a 320 kbit/s frame");

        // Cut before frame 1: frame 2 needs 1101 bytes after frame 1's 590, more
        // than a 320 kbit/s slot (1008), so frame 1 must grow to 224 kbit/s
        // (slot 695) to let frame 2 start inside it.
        let repacked = stream.repack(1..3).unwrap();
        assert_eq!(reservoir_underflows(&repacked), 0);
        let kbps: Vec<u32> = repacked
            .iter()
            .map(|f| FrameHeader::parse(f).unwrap().bitrate_kbps)
            .collect();
        assert_eq!(kbps, [224, 320]);
        assert_eq!(main_data_begin(&repacked[1]), Some(695 - 590));
        assert!(stream.repack(2..3).is_none(), "nothing before frame 2 to borrow from");
    }

    #[test]
    fn shared_boundaries_skip_frames_that_cannot_open_a_segment() {
        // Two renditions of 700 frames; in the second, frame 230 (the nominal
        // boundary) and 231 cannot open a segment, so both renditions cut at 232.
        let plain = || frame(9, 0, [0; 4], 0);
        let first: Vec<Vec<u8>> = (0..700).map(|_| plain()).collect();
        let mut second: Vec<Vec<u8>> = (0..700).map(|_| frame(11, 0, [0; 4], 0)).collect();
        second[229] = frame(11, 0, [0; 4], 0);
        second[230] = frame(11, 511, [2202; 4], 0);
        second[231] = frame(11, 511, [2202; 4], 0);
        let both = segment_renditions(&[first.clone(), second], 44_100);
        let starts: Vec<Vec<usize>> = both
            .iter()
            .map(|s| s.iter().map(|seg| seg.first_frame).collect())
            .collect();
        assert_eq!(starts[0], [0, 232, 462, 692]);
        assert_eq!(starts[0], starts[1]);
        // Renditions of different lengths (a caller bug) fall back to fixed boundaries.
        let uneven = segment_renditions(&[first[..500].to_vec(), first.clone()], 44_100);
        assert_eq!(uneven.iter().map(Vec::len).collect::<Vec<_>>(), [3, 4]);
        // A single rendition keeps the fixed boundaries.
        let alone: Vec<usize> = segment_frames(&first, 44_100).iter().map(|s| s.first_frame).collect();
        assert_eq!(alone, [0, 230, 460, 690]);
    }

    #[test]
    fn grow_frame_picks_the_smallest_fitting_size() {
        let h = header([0xFF, 0xFB, 0x90, 0x64]).unwrap();
        let (g, slot) = grow_frame(&h, 381, 382).unwrap();
        assert_eq!((g.bitrate_kbps, g.padding, slot), (128, true, 382));
        let (g, slot) = grow_frame(&h, 381, 400).unwrap();
        assert_eq!((g.bitrate_kbps, g.padding, slot), (160, false, 486));
        assert!(grow_frame(&h, 381, 1009).is_some(), "320 kbit/s with padding: 1009");
        assert!(grow_frame(&h, 381, 1010).is_none());
    }

    #[test]
    fn segments_have_timestamps_and_durations() {
        let frames: Vec<Vec<u8>> = (0..500).map(|_| frame(9, 0, [0; 4], 0)).collect();
        let segments = segment_frames(&frames, 44_100);
        assert_eq!(segments.len(), 3);
        assert_eq!(
            segments
                .iter()
                .map(|s| (s.index, s.first_frame, s.frames))
                .collect::<Vec<_>>(),
            [(0, 0, 230), (1, 230, 230), (2, 460, 40)]
        );
        assert!((segments[0].duration_s - 230.0 * 1152.0 / 44_100.0).abs() < 1e-9);
        let pts: Vec<u64> = segments
            .iter()
            .map(|s| super::super::id3::parse_id3_timestamp(&s.data).unwrap().0)
            .collect();
        // 230 × 1152 samples at 44.1 kHz = 540 734.69… ticks of 90 kHz.
        assert_eq!(pts, [0, 540_734, 1_081_469]);
        assert_eq!(segments[2].data.len(), 73 + 40 * 417);
    }
}

#[cfg(all(test, feature = "encode"))]
mod with_lame {
    use super::*;
    use crate::audio::{DecodedAudio, encode_mp3_frames};

    /// Noise bursts between silences: LAME fills its reservoir in the silence
    /// and spends it on the noise, producing the largest frames it can.
    fn bursts(seconds: f64) -> DecodedAudio {
        let mut seed = 0x9E37_79B9u32;
        let samples = (0..(seconds * 44_100.0) as usize)
            .flat_map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let on = (i / 30_000) % 2 == 0;
                let v = if on {
                    (seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0
                } else {
                    0.0
                };
                [0.9 * v, -0.7 * v]
            })
            .collect();
        DecodedAudio {
            samples,
            tags: Default::default(),
            source_sample_rate: 44_100,
            source_channels: 2,
            truncated: None,
        }
    }

    /// Frames arriving a few at a time are cut exactly as the whole
    /// renditions are: the same boundaries and, for every segment, the frames
    /// a reservoir spanning the whole rendition gives when repacked there.
    #[test]
    fn streaming_cuts_match_the_whole_renditions() {
        let audio = bursts(40.0);
        let renditions: Vec<Vec<Vec<u8>>> = [64, 128, 192]
            .iter()
            .map(|&kbps| encode_mp3_frames(&audio, kbps).unwrap())
            .collect();
        let mut segmenter = Segmenter::new(3, 44_100);
        let mut streamed: Vec<Vec<Segment>> = vec![Vec::new(); 3];
        let len = renditions[0].len();
        let mut at = 0;
        while at < len {
            let step = 1 + (at * 7919) % 97;
            for (r, frames) in renditions.iter().enumerate() {
                segmenter.push(r, frames[at..(at + step).min(len)].iter().cloned());
            }
            at += step;
            while let Some(set) = segmenter.next_segments().unwrap() {
                for (list, seg) in streamed.iter_mut().zip(set) {
                    list.push(seg);
                }
            }
        }
        segmenter.finish();
        while let Some(set) = segmenter.next_segments().unwrap() {
            for (list, seg) in streamed.iter_mut().zip(set) {
                list.push(seg);
            }
        }
        assert_eq!(streamed, segment_renditions(&renditions, 44_100));
        let mut moved = 0;
        for (frames, segments) in renditions.iter().zip(&streamed) {
            let layouts: Vec<_> = frames.iter().map(|f| FrameLayout::parse(f)).collect();
            let whole = ReservoirStream::new(frames, &layouts, 0).expect("LAME output parses");
            for seg in segments {
                let range = seg.first_frame..seg.first_frame + seg.frames;
                let expected: Vec<u8> = whole.repack(range).expect("repacks").concat();
                let tag = crate::hls::id3::id3_tag_len(&seg.data).expect("tag");
                assert_eq!(&seg.data[tag..], &expected[..], "segment {}", seg.index);
                moved += usize::from(seg.first_frame % SEGMENT_FRAMES != 0);
            }
            assert_eq!(segments.iter().map(|s| s.frames).sum::<usize>(), frames.len());
        }
        eprintln!("{moved} boundaries moved");
    }

    #[test]
    fn every_cut_that_can_open_a_segment_repacks_cleanly() {
        let audio = bursts(12.0);
        for kbps in [64, 128, 192] {
            let frames = encode_mp3_frames(&audio, kbps).unwrap();
            let layouts: Vec<_> = frames.iter().map(|f| FrameLayout::parse(f)).collect();
            let stream = ReservoirStream::new(&frames, &layouts, 0).expect("LAME output parses");
            let largest = stream.layouts.iter().map(|l| l.main_data_len).max().unwrap_or(0);
            let mut unfit = 0;
            for start in 0..frames.len() - 40 {
                if !stream.fits_as_first(start) {
                    unfit += 1;
                    continue;
                }
                let repacked = stream.repack(start..start + 40).unwrap();
                assert_eq!(reservoir_underflows(&repacked), 0, "{kbps}k cut at {start}");
            }
            // 64 and 128 kbit/s frames can never outgrow a 320 kbit/s frame.
            if kbps < 192 {
                assert_eq!(unfit, 0, "{kbps}k");
            }
            eprintln!(
                "{kbps}k: largest main data {largest} bytes, {unfit} of {} frames cannot open a segment",
                frames.len()
            );
        }
    }
}
