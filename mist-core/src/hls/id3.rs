//! The ID3v2 tag at the head of every packed-audio segment.
//!
//! HLS packed audio (RFC 8216 §3.4) has no container timestamps, so each
//! segment must start with an ID3 tag holding a `PRIV` frame owned by
//! `com.apple.streaming.transportStreamTimestamp` whose 8-byte big-endian value
//! is the 33-bit MPEG-2 (90 kHz) timestamp of the segment's first sample.
//! hls.js, Safari and ffmpeg all read it; without it they cannot place the
//! segment on the timeline.
//!
//! This module only writes that one tag and reads it (and the tag length) back;
//! track tags live in the database, not in segments.

/// Owner identifier of the timestamp `PRIV` frame (RFC 8216 §3.4).
pub const TIMESTAMP_OWNER: &str = "com.apple.streaming.transportStreamTimestamp";

/// MPEG-2 timestamps are 33 bits wide.
const PTS_MASK: u64 = (1 << 33) - 1;

/// Builds the 73-byte ID3v2.4 tag with the transport-stream timestamp `PRIV` frame.
///
/// `pts_90khz` is reduced to 33 bits, as a transport stream would.
pub fn id3_timestamp_tag(pts_90khz: u64) -> Vec<u8> {
    let body_len = TIMESTAMP_OWNER.len() + 1 + 8;
    let frame_len = 10 + body_len;
    let mut tag = Vec::with_capacity(10 + frame_len);
    // Tag header: "ID3", version 2.4.0, no flags, syncsafe size of everything after it.
    tag.extend_from_slice(b"ID3\x04\x00\x00");
    tag.extend_from_slice(&syncsafe(frame_len as u32));
    // Frame header: id, syncsafe size (v2.4), no flags.
    tag.extend_from_slice(b"PRIV");
    tag.extend_from_slice(&syncsafe(body_len as u32));
    tag.extend_from_slice(&[0, 0]);
    tag.extend_from_slice(TIMESTAMP_OWNER.as_bytes());
    tag.push(0);
    tag.extend_from_slice(&(pts_90khz & PTS_MASK).to_be_bytes());
    tag
}

/// Reads the transport-stream timestamp from the ID3 tag at the start of a segment.
///
/// Returns the 33-bit 90 kHz timestamp and the length of the whole tag (so the
/// MP3 frames start at that offset), or `None` when the segment does not start
/// with an ID3v2.3/2.4 tag holding the timestamp frame.
pub fn parse_id3_timestamp(segment: &[u8]) -> Option<(u64, usize)> {
    let (header, tag_len) = tag_header(segment)?;
    let frames = segment.get(header.frames_start..header.frames_end)?;
    let mut pos = 0;
    while pos + 10 <= frames.len() {
        let id = &frames[pos..pos + 4];
        if id[0] == 0 {
            break; // padding
        }
        let size_bytes: [u8; 4] = frames[pos + 4..pos + 8].try_into().ok()?;
        let size = if header.major == 4 {
            from_syncsafe(size_bytes)?
        } else {
            u32::from_be_bytes(size_bytes)
        } as usize;
        let body = frames.get(pos + 10..pos + 10 + size)?;
        if id == b"PRIV" {
            let owner_end = body.iter().position(|&b| b == 0)?;
            if &body[..owner_end] == TIMESTAMP_OWNER.as_bytes() {
                let value: [u8; 8] = body.get(owner_end + 1..owner_end + 9)?.try_into().ok()?;
                return Some((u64::from_be_bytes(value) & PTS_MASK, tag_len));
            }
        }
        pos += 10 + size;
    }
    None
}

/// Length of the ID3v2 tag at the start of `data` (header, frames, padding and
/// footer), or `None` if `data` does not start with one.
pub fn id3_tag_len(data: &[u8]) -> Option<usize> {
    tag_header(data).map(|(_, len)| len)
}

struct TagHeader {
    major: u8,
    frames_start: usize,
    frames_end: usize,
}

fn tag_header(data: &[u8]) -> Option<(TagHeader, usize)> {
    if data.len() < 10 || &data[..3] != b"ID3" {
        return None;
    }
    let major = data[3];
    if !(2..=4).contains(&major) || data[4] == 0xFF {
        return None;
    }
    let flags = data[5];
    let size = from_syncsafe(data[6..10].try_into().ok()?)? as usize;
    let footer = if major == 4 && flags & 0x10 != 0 { 10 } else { 0 };
    let frames_end = 10 + size;
    let mut frames_start = 10;
    if flags & 0x40 != 0 {
        // Extended header: v2.4 gives its whole size (syncsafe), v2.3 the size after the field.
        let raw: [u8; 4] = data.get(10..14)?.try_into().ok()?;
        frames_start += match major {
            4 => from_syncsafe(raw)? as usize,
            _ => u32::from_be_bytes(raw) as usize + 4,
        };
    }
    if major == 2 || frames_start > frames_end {
        // ID3v2.2 uses 3-byte frame ids; we never write it, so only its length is known.
        frames_start = frames_end;
    }
    Some((
        TagHeader {
            major,
            frames_start,
            frames_end,
        },
        frames_end + footer,
    ))
}

fn syncsafe(value: u32) -> [u8; 4] {
    [
        ((value >> 21) & 0x7F) as u8,
        ((value >> 14) & 0x7F) as u8,
        ((value >> 7) & 0x7F) as u8,
        (value & 0x7F) as u8,
    ]
}

fn from_syncsafe(bytes: [u8; 4]) -> Option<u32> {
    if bytes.iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    Some(bytes.iter().fold(0u32, |acc, &b| (acc << 7) | u32::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_tag_bytes_are_exact() {
        let tag = id3_timestamp_tag(0x1_2345_6789);
        let mut expected = Vec::new();
        expected.extend_from_slice(b"ID3");
        expected.extend_from_slice(&[0x04, 0x00, 0x00]); // v2.4.0, no flags
        expected.extend_from_slice(&[0x00, 0x00, 0x00, 0x3F]); // 63 bytes of frames
        expected.extend_from_slice(b"PRIV");
        expected.extend_from_slice(&[0x00, 0x00, 0x00, 0x35]); // 53-byte body
        expected.extend_from_slice(&[0x00, 0x00]);
        expected.extend_from_slice(b"com.apple.streaming.transportStreamTimestamp\0");
        expected.extend_from_slice(&[0x00, 0x00, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89]);
        assert_eq!(tag, expected);
        assert_eq!(tag.len(), 73);
    }

    #[test]
    fn timestamp_is_reduced_to_33_bits() {
        let tag = id3_timestamp_tag((1 << 33) + 5);
        assert_eq!(&tag[65..], &[0, 0, 0, 0, 0, 0, 0, 5]);
    }

    #[test]
    fn parse_roundtrip_and_header_length() {
        for pts in [0u64, 1, 540_734, (1 << 33) - 1] {
            let mut segment = id3_timestamp_tag(pts);
            segment.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
            assert_eq!(parse_id3_timestamp(&segment), Some((pts, 73)));
            assert_eq!(id3_tag_len(&segment), Some(73));
        }
    }

    #[test]
    fn parse_finds_the_priv_frame_among_others_in_v23() {
        // ID3v2.3 tag (plain frame sizes) with a TIT2 frame before the PRIV frame.
        let mut frames = Vec::new();
        frames.extend_from_slice(b"TIT2");
        frames.extend_from_slice(&200u32.to_be_bytes()); // > 127: not syncsafe-compatible
        frames.extend_from_slice(&[0, 0]);
        frames.extend_from_slice(&[b'x'; 200]);
        frames.extend_from_slice(b"PRIV");
        frames.extend_from_slice(&53u32.to_be_bytes());
        frames.extend_from_slice(&[0, 0]);
        frames.extend_from_slice(TIMESTAMP_OWNER.as_bytes());
        frames.push(0);
        frames.extend_from_slice(&90_000u64.to_be_bytes());
        frames.extend_from_slice(&[0; 16]); // padding
        let mut tag = b"ID3\x03\x00\x00".to_vec();
        tag.extend_from_slice(&syncsafe(frames.len() as u32));
        tag.extend_from_slice(&frames);
        assert_eq!(parse_id3_timestamp(&tag), Some((90_000, tag.len())));
    }

    #[test]
    fn parse_rejects_what_is_not_a_timestamp_tag() {
        assert_eq!(parse_id3_timestamp(b""), None);
        assert_eq!(parse_id3_timestamp(&[0xFF, 0xFB, 0x90, 0x64, 0, 0, 0, 0, 0, 0]), None);
        let mut other_owner = id3_timestamp_tag(7);
        other_owner[20] = b'X';
        assert_eq!(parse_id3_timestamp(&other_owner), None);
        let truncated = &id3_timestamp_tag(7)[..60];
        assert_eq!(parse_id3_timestamp(truncated), None);
        // Non-syncsafe size byte.
        let mut bad_size = id3_timestamp_tag(7);
        bad_size[9] = 0x80;
        assert_eq!(parse_id3_timestamp(&bad_size), None);
    }

    #[test]
    fn syncsafe_roundtrip() {
        for v in [0u32, 1, 127, 128, 16_383, 16_384, (1 << 28) - 1] {
            assert_eq!(from_syncsafe(syncsafe(v)), Some(v));
        }
        assert_eq!(syncsafe(200), [0, 0, 1, 0x48]);
    }
}
