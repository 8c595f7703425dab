//! Is this audio we can decode? Judged by content, never by the file name, so
//! that a bulk upload or an import picks `track01` and skips `cover.jpg.mp3`.
//!
//! Only containers the ingest decodes (see `audio::decode`) count: MP3, FLAC,
//! WAV, Ogg (Vorbis or FLAC inside; Ogg Opus is refused because it would only
//! fail later), MP4/M4A and raw ADTS AAC. The judgement reads a bounded prefix
//! ([`SNIFF_BYTES`]) and, for a file, once more past a leading ID3v2 tag (a tag
//! with a large cover can be megabytes). It is a cheap pre-filter, not a
//! promise: the server's decoder has the last word.
//!
//! Frame-sync formats (MP3, ADTS) have no magic number, and random bytes hold
//! a sync word often enough, so they need [`MIN_SYNC_FRAMES`] consecutive
//! valid frame headers that agree with each other.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes read from the start of a file (and again after an ID3v2 tag).
pub const SNIFF_BYTES: usize = 16 * 1024;
/// Consecutive frame headers an MP3 or ADTS stream must show.
pub const MIN_SYNC_FRAMES: usize = 3;
/// How far into the data (after any tag) the first MPEG frame may start: some
/// encoders leave padding or a little junk.
const SYNC_SEARCH_BYTES: usize = 4096;
/// Leading ID3v2 tags skipped, at most (some files carry two).
const MAX_ID3_TAGS: usize = 4;

/// A container the ingest can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioContainer {
    Mp3,
    Flac,
    Wav,
    /// Ogg with Vorbis or FLAC inside.
    Ogg,
    /// MP4 / M4A (AAC or ALAC inside).
    Mp4,
    /// Raw AAC in ADTS frames (`.aac`).
    Adts,
}

impl AudioContainer {
    /// The usual file extension (no dot), a hint for upload names.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Flac => "flac",
            Self::Wav => "wav",
            Self::Ogg => "ogg",
            Self::Mp4 => "m4a",
            Self::Adts => "aac",
        }
    }

    /// The media type an upload of it declares.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Mp3 => "audio/mpeg",
            Self::Flac => "audio/flac",
            Self::Wav => "audio/wav",
            Self::Ogg => "audio/ogg",
            Self::Mp4 => "audio/mp4",
            Self::Adts => "audio/aac",
        }
    }
}

/// Judges the first bytes of a file (ideally [`SNIFF_BYTES`] of them). An
/// ID3v2 tag is skipped when it ends inside `prefix`; one that runs past the
/// end is taken for MP3 (use [`sniff_file`] to look past it).
pub fn sniff(prefix: &[u8]) -> Option<AudioContainer> {
    let prefix = &prefix[..prefix.len().min(SNIFF_BYTES)];
    let mut offset = 0;
    let mut tagged = false;
    for _ in 0..MAX_ID3_TAGS {
        match id3v2_len(&prefix[offset..]) {
            Some(len) if offset + len < prefix.len() => {
                offset += len;
                tagged = true;
            }
            Some(_) => return Some(AudioContainer::Mp3),
            None => break,
        }
    }
    sniff_untagged(&prefix[offset..], tagged)
}

/// Judges a file on disk, reading at most two [`SNIFF_BYTES`] windows: the
/// start, and the data after any leading ID3v2 tags.
pub fn sniff_file(path: &Path) -> io::Result<Option<AudioContainer>> {
    sniff_reader(&mut File::open(path)?)
}

/// As [`sniff_file`], for any seekable reader.
pub fn sniff_reader<R: Read + Seek>(reader: &mut R) -> io::Result<Option<AudioContainer>> {
    let mut offset = 0u64;
    let mut tagged = false;
    let mut buf = read_window(reader, offset)?;
    for _ in 0..MAX_ID3_TAGS {
        let Some(len) = id3v2_len(&buf) else { break };
        offset += len as u64;
        tagged = true;
        buf = read_window(reader, offset)?;
    }
    Ok(sniff_untagged(&buf, tagged))
}

fn read_window<R: Read + Seek>(reader: &mut R, offset: u64) -> io::Result<Vec<u8>> {
    reader.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(SNIFF_BYTES);
    reader.take(SNIFF_BYTES as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The whole length (header, body, footer) of an ID3v2 tag at the start of
/// `bytes`, if one is there.
fn id3v2_len(bytes: &[u8]) -> Option<usize> {
    let header = bytes.get(..10)?;
    if &header[..3] != b"ID3" || header[3] == 0xFF || header[4] == 0xFF {
        return None;
    }
    // The size is "syncsafe": 4 × 7 bits.
    if header[6..10].iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    let size = header[6..10].iter().fold(0usize, |acc, &b| acc << 7 | usize::from(b));
    let footer = if header[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

fn sniff_untagged(data: &[u8], tagged: bool) -> Option<AudioContainer> {
    if data.starts_with(b"fLaC") {
        return Some(AudioContainer::Flac);
    }
    if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WAVE" {
        return Some(AudioContainer::Wav);
    }
    if data.starts_with(b"OggS") {
        return ogg_codec_supported(data).then_some(AudioContainer::Ogg);
    }
    if data.len() >= 12 && &data[4..8] == b"ftyp" {
        return mp4_is_audio(data).then_some(AudioContainer::Mp4);
    }
    // Zero padding between a tag and the first frame is common.
    let start = if tagged {
        data.iter().position(|&b| b != 0).unwrap_or(data.len())
    } else {
        0
    };
    let search_end = (start + SYNC_SEARCH_BYTES).min(data.len());
    (start..search_end).find_map(|at| {
        if frames_agree(&data[at..], mpeg_frame) {
            Some(AudioContainer::Mp3)
        } else if frames_agree(&data[at..], adts_frame) {
            Some(AudioContainer::Adts)
        } else {
            None
        }
    })
}

/// The first Ogg page's first packet names the codec.
fn ogg_codec_supported(data: &[u8]) -> bool {
    // Page header: 27 bytes, then `segments` lacing values, then the packet.
    let Some(&segments) = data.get(26) else { return false };
    let Some(packet) = data.get(27 + usize::from(segments)..) else {
        return false;
    };
    packet.starts_with(b"\x01vorbis") || packet.starts_with(b"\x7fFLAC")
}

/// MP4 brands that mean audio (or a generic ISO file that may hold it); the
/// image formats built on the same box structure (HEIF, AVIF) are not audio.
fn mp4_is_audio(data: &[u8]) -> bool {
    const AUDIO: [&[u8; 4]; 13] = [
        b"M4A ", b"M4B ", b"M4P ", b"mp41", b"mp42", b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"dash",
        b"3gp4",
    ];
    const IMAGE: [&[u8; 4]; 8] = [b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif", b"avis", b"crx "];
    let Some(size) = data
        .get(..4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
    else {
        return false;
    };
    let Some(body) = data.get(8..size.clamp(8, data.len())) else {
        return false;
    };
    // Major brand, minor version, then compatible brands.
    let major = body.get(..4);
    if major.is_some_and(|m| IMAGE.iter().any(|i| i.as_slice() == m)) {
        return false;
    }
    let mut brands = body
        .chunks_exact(4)
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, b)| b);
    brands.any(|b| AUDIO.iter().any(|a| a.as_slice() == b))
}

/// What a frame header says: its length and the fields later frames must repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameHeader {
    len: usize,
    /// Version, layer and sample rate bits: constant within a stream.
    stream: u32,
}

/// Whether `data` starts with [`MIN_SYNC_FRAMES`] consecutive frames of one
/// stream (fewer only if the data ends cleanly after at least two).
fn frames_agree(data: &[u8], parse: fn(&[u8]) -> Option<FrameHeader>) -> bool {
    let Some(first) = parse(data) else { return false };
    let mut at = first.len;
    for seen in 1..MIN_SYNC_FRAMES {
        if at + 4 > data.len() {
            return seen >= 2;
        }
        match parse(&data[at..]) {
            Some(next) if next.stream == first.stream => at += next.len,
            _ => return false,
        }
    }
    true
}

/// An MPEG audio Layer III frame header (MPEG-1, 2 or 2.5).
fn mpeg_frame(data: &[u8]) -> Option<FrameHeader> {
    let h = u32::from_be_bytes(data.get(..4)?.try_into().ok()?);
    if h >> 21 != 0x7FF {
        return None;
    }
    let version = (h >> 19) & 3; // 0: 2.5, 2: 2, 3: 1, 1: reserved
    let layer = (h >> 17) & 3; // 1: Layer III
    let bitrate_index = ((h >> 12) & 0xF) as usize;
    let rate_index = ((h >> 10) & 3) as usize;
    let padding = ((h >> 9) & 1) as usize;
    if version == 1 || layer != 1 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        return None;
    }
    const V1_KBPS: [usize; 15] = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
    const V2_KBPS: [usize; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    const RATES: [usize; 3] = [44_100, 48_000, 32_000];
    let (kbps, rate, coefficient) = match version {
        3 => (V1_KBPS[bitrate_index], RATES[rate_index], 144),
        2 => (V2_KBPS[bitrate_index], RATES[rate_index] / 2, 72),
        _ => (V2_KBPS[bitrate_index], RATES[rate_index] / 4, 72),
    };
    let len = coefficient * kbps * 1000 / rate + padding;
    Some(FrameHeader {
        len,
        stream: h & 0xFFFE_0C00,
    })
}

/// An ADTS (raw AAC) frame header.
fn adts_frame(data: &[u8]) -> Option<FrameHeader> {
    let h = data.get(..7)?;
    if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
        return None; // sync, then layer must be 0
    }
    let rate_index = (h[2] >> 2) & 0xF;
    if rate_index >= 13 {
        return None;
    }
    let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
    let header_len = if h[1] & 1 == 0 { 9 } else { 7 };
    if len <= header_len {
        return None;
    }
    let stream = u32::from_be_bytes([h[1] & 0xF8, h[2] & 0xFC, h[3] & 0xC0, 0]);
    Some(FrameHeader { len, stream })
}

#[cfg(all(test, feature = "library"))]
mod tests {
    use super::*;
    use crate::library::test_support::ffmpeg;

    /// `count` frames of MPEG-1 Layer III, 128 kbps, 44.1 kHz, no padding
    /// (417 bytes each), filled with `fill`.
    fn mp3_frames(count: usize, fill: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..count {
            out.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
            out.extend(std::iter::repeat_n(fill, 417 - 4));
        }
        out
    }

    fn id3_tag(body_len: usize) -> Vec<u8> {
        let size = body_len as u32;
        let syncsafe = [
            (size >> 21) as u8 & 0x7F,
            (size >> 14) as u8 & 0x7F,
            (size >> 7) as u8 & 0x7F,
            size as u8 & 0x7F,
        ];
        let mut out = b"ID3\x03\x00\x00".to_vec();
        out.extend_from_slice(&syncsafe);
        out.extend(std::iter::repeat_n(0u8, body_len));
        out
    }

    fn adts_frames(count: usize) -> Vec<u8> {
        let len = 200usize;
        let mut out = Vec::new();
        for _ in 0..count {
            // AAC LC, 44.1 kHz (index 4), stereo, no CRC.
            out.extend_from_slice(&[
                0xFF,
                0xF1,
                0x50,
                0x80 | ((len >> 11) as u8 & 3),
                (len >> 3) as u8,
                ((len & 7) as u8) << 5 | 0x1F,
                0xFC,
            ]);
            out.extend(std::iter::repeat_n(0x21u8, len - 7));
        }
        out
    }

    fn ogg_page(packet: &[u8]) -> Vec<u8> {
        let mut out = b"OggS\x00\x02".to_vec();
        out.extend_from_slice(&[0; 20]);
        out.push(1); // one segment
        out.push(packet.len() as u8);
        out.extend_from_slice(packet);
        out
    }

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len();
        let mut out = (size as u32).to_be_bytes().to_vec();
        out.extend_from_slice(b"ftyp");
        out.extend_from_slice(major);
        out.extend_from_slice(&[0, 0, 2, 0]);
        for brand in compatible {
            out.extend_from_slice(*brand);
        }
        out.extend_from_slice(b"\x00\x00\x00\x08free");
        out
    }

    #[test]
    fn containers_by_magic() {
        let cases: Vec<(Vec<u8>, Option<AudioContainer>)> = vec![
            (b"fLaC\x00\x00\x00\x22".to_vec(), Some(AudioContainer::Flac)),
            (b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec(), Some(AudioContainer::Wav)),
            (b"RIFF\x24\x00\x00\x00AVI LIST".to_vec(), None),
            (ogg_page(b"\x01vorbis\x00\x00\x00\x00\x02"), Some(AudioContainer::Ogg)),
            (ogg_page(b"\x7fFLAC\x01\x00"), Some(AudioContainer::Ogg)),
            (ogg_page(b"OpusHead\x01\x02"), None),
            (ogg_page(b"\x80theora"), None),
            (ftyp(b"M4A ", &[b"M4A ", b"mp42", b"isom"]), Some(AudioContainer::Mp4)),
            (ftyp(b"isom", &[b"isom", b"iso2", b"mp41"]), Some(AudioContainer::Mp4)),
            (ftyp(b"heic", &[b"mif1", b"heic"]), None),
            (ftyp(b"avif", &[b"avif", b"mif1", b"miaf", b"isom"]), None),
            (ftyp(b"qt  ", &[b"qt  "]), None),
            (mp3_frames(3, 0x55), Some(AudioContainer::Mp3)),
            (adts_frames(3), Some(AudioContainer::Adts)),
        ];
        for (bytes, expected) in cases {
            assert_eq!(sniff(&bytes), expected, "{:?}", &bytes[..bytes.len().min(16)]);
        }
    }

    #[test]
    fn not_audio() {
        let cases: Vec<&[u8]> = vec![
            b"",
            b"ID3",
            b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00", // JPEG
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR",
            b"%PDF-1.7\n",
            b"#EXTM3U\n#EXTINF:1,a\n",
            b"hello, this is a text file that mentions fLaC and OggS",
        ];
        for bytes in cases {
            assert_eq!(sniff(bytes), None, "{bytes:?}");
        }
    }

    #[test]
    fn one_sync_word_in_noise_is_not_mp3() {
        // A lone valid header followed by junk: the next "frame" is not there.
        let mut bytes = mp3_frames(1, 0x00);
        bytes.extend(std::iter::repeat_n(0x13u8, 2000));
        assert_eq!(sniff(&bytes), None);
        // Two frames then junk where the third should start.
        let mut bytes = mp3_frames(2, 0x00);
        bytes.extend(std::iter::repeat_n(0x13u8, 2000));
        assert_eq!(sniff(&bytes), None);
        // Frames whose stream fields change (44.1 then 48 kHz) do not agree.
        let mut bytes = mp3_frames(1, 0);
        bytes.extend_from_slice(&[0xFF, 0xFB, 0x94, 0x64]);
        bytes.extend(std::iter::repeat_n(0u8, 2000));
        assert_eq!(sniff(&bytes), None);
    }

    #[test]
    fn pseudo_random_bytes_are_not_audio() {
        // A deterministic xorshift stream: 2,000 windows of noise.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut noise = vec![0u8; SNIFF_BYTES];
        for _ in 0..2_000 {
            for b in noise.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            assert_eq!(sniff(&noise), None);
        }
    }

    #[test]
    fn id3_tags_are_looked_past() {
        let mut small = id3_tag(100);
        small.extend(mp3_frames(3, 0x55));
        assert_eq!(sniff(&small), Some(AudioContainer::Mp3));

        // A FLAC with an ID3 tag in front (some taggers do this).
        let mut flac = id3_tag(100);
        flac.extend_from_slice(b"fLaC\x00\x00\x00\x22");
        assert_eq!(sniff(&flac), Some(AudioContainer::Flac));

        // Zero padding after the tag, then frames.
        let mut padded = id3_tag(50);
        padded.extend(std::iter::repeat_n(0u8, 700));
        padded.extend(mp3_frames(3, 0x55));
        assert_eq!(sniff(&padded), Some(AudioContainer::Mp3));

        // A tag that runs past the prefix: taken for MP3 from the prefix
        // alone; a reader looks past it and finds the truth.
        let mut big = id3_tag(3 * SNIFF_BYTES);
        assert_eq!(sniff(&big), Some(AudioContainer::Mp3));
        big.extend_from_slice(b"%PDF-1.7\n");
        assert_eq!(sniff_reader(&mut io::Cursor::new(&big)).expect("reading memory"), None);
        let mut big = id3_tag(3 * SNIFF_BYTES);
        big.extend(adts_frames(4));
        assert_eq!(
            sniff_reader(&mut io::Cursor::new(&big)).expect("reading memory"),
            Some(AudioContainer::Adts)
        );
    }

    #[test]
    fn hostile_id3_chains_stop() {
        // Thousands of empty ID3 headers one after another: only a few are skipped.
        let bytes: Vec<u8> = std::iter::repeat_n(id3_tag(0), 5_000).flatten().collect();
        assert_eq!(
            sniff_reader(&mut io::Cursor::new(&bytes)).expect("reading memory"),
            None
        );
        // A header with a non-syncsafe size is not a tag.
        assert_eq!(id3v2_len(b"ID3\x03\x00\x00\x80\x00\x00\x00"), None);
        // The largest size a syncsafe field can give is bounded (256 MiB).
        assert_eq!(
            id3v2_len(b"ID3\x04\x00\x10\x7f\x7f\x7f\x7f"),
            Some(10 + (1 << 28) - 1 + 10)
        );
    }

    /// Real files from ffmpeg, through the reader.
    #[test]
    fn files_made_by_ffmpeg() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cases = [
            (
                "a.mp3",
                vec!["-c:a", "libmp3lame", "-id3v2_version", "3"],
                Some(AudioContainer::Mp3),
            ),
            ("a.flac", vec!["-c:a", "flac"], Some(AudioContainer::Flac)),
            ("a.wav", vec!["-c:a", "pcm_s16le"], Some(AudioContainer::Wav)),
            ("a.ogg", vec!["-c:a", "libvorbis"], Some(AudioContainer::Ogg)),
            ("a.m4a", vec!["-c:a", "aac"], Some(AudioContainer::Mp4)),
            ("a.aac", vec!["-c:a", "aac", "-f", "adts"], Some(AudioContainer::Adts)),
            ("a.opus", vec!["-c:a", "libopus"], None),
        ];
        for (name, codec, expected) in cases {
            let path = dir.path().join(name);
            let mut args = vec!["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-ac", "2"];
            args.extend(codec);
            ffmpeg(&args, &path);
            assert_eq!(sniff_file(&path).expect("reading the file"), expected, "{name}");
        }
        let jpeg = dir.path().join("cover.mp3");
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "color=c=red:s=64x64",
                "-frames:v",
                "1",
                "-f",
                "mjpeg",
            ],
            &jpeg,
        );
        assert_eq!(sniff_file(&jpeg).expect("reading the file"), None, "a JPEG named .mp3");
    }
}
