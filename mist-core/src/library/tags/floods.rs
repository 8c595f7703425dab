//! Floods of tag items in the formats other than ID3v2.
//!
//! lofty turns every Vorbis comment, MP4 `ilst` atom and APE item into a few
//! heap objects, about ten times the bytes the item took in the file: a
//! 16 MB FLAC comment block of empty comments costs 200 MB. No real file has
//! more than a few hundred items (a tagger's whole vocabulary, some lyrics,
//! a picture), so a file announcing more than [`MAX_ITEMS`] in one tag is
//! refused before lofty reads it. Each check reads only headers and counts,
//! a bounded number of them.

use std::io::{Read, Seek, SeekFrom};

use super::TagError;

/// Items in one Vorbis comment block, MP4 `ilst` or APE tag, at most.
pub const MAX_ITEMS: u32 = 4096;
/// Containers' boxes, blocks or pages walked to find the counts, at most.
const MAX_STEPS: usize = 100_000;
/// FLAC PICTURE blocks, at most (front, back, disc, booklet pages…).
const MAX_FLAC_PICTURES: usize = 64;
/// How far into an Ogg stream the comment header's count may lie.
const MAX_OGG_SCAN: u64 = 1024 * 1024;

/// Checks the tag at `start` (the first byte after any leading ID3v2 tags)
/// and any APE tag at the end of the file.
pub fn check<R: Read + Seek>(reader: &mut R, start: u64) -> Result<(), TagError> {
    let len = reader.seek(SeekFrom::End(0))?;
    let head = read_at(reader, start, 12)?;
    if head.starts_with(b"fLaC") {
        flac(reader, start + 4, len)?;
    } else if head.starts_with(b"OggS") {
        ogg(reader, start, len)?;
    } else if head.get(4..8) == Some(b"ftyp") {
        mp4(reader, start, len)?;
    }
    ape(reader, start, len)
}

fn refuse(what: &str, count: u64) -> TagError {
    TagError::Refused(format!("{what} announces {count} items (at most {MAX_ITEMS} are read)"))
}

fn read_at<R: Read + Seek>(reader: &mut R, pos: u64, n: usize) -> std::io::Result<Vec<u8>> {
    reader.seek(SeekFrom::Start(pos))?;
    let mut out = Vec::with_capacity(n);
    reader.by_ref().take(n as u64).read_to_end(&mut out)?;
    Ok(out)
}

fn u32_le(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u32_be(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// FLAC metadata blocks: a VORBIS_COMMENT block's count, the PICTURE blocks.
fn flac<R: Read + Seek>(reader: &mut R, mut pos: u64, len: u64) -> Result<(), TagError> {
    let mut pictures = 0;
    for _ in 0..MAX_STEPS {
        let header = read_at(reader, pos, 4)?;
        if header.len() < 4 {
            return Ok(());
        }
        let block_len = u64::from(u32::from_be_bytes([0, header[1], header[2], header[3]]));
        if header[0] & 0x7F == 6 {
            pictures += 1;
            if pictures > MAX_FLAC_PICTURES {
                return Err(TagError::Refused(format!(
                    "more than {MAX_FLAC_PICTURES} FLAC pictures"
                )));
            }
        }
        if header[0] & 0x7F == 4 {
            let vendor = read_at(reader, pos + 4, 4)?;
            if let Some(vendor_len) = u32_le(&vendor, 0) {
                let count = read_at(reader, pos + 8 + u64::from(vendor_len), 4)?;
                if let Some(count) = u32_le(&count, 0).filter(|&c| c > MAX_ITEMS) {
                    return Err(refuse("a Vorbis comment block", count.into()));
                }
            }
        }
        pos += 4 + block_len;
        if header[0] & 0x80 != 0 || pos >= len {
            return Ok(());
        }
    }
    Err(TagError::Refused(format!("more than {MAX_STEPS} FLAC metadata blocks")))
}

/// Ogg: the first stream's second packet is its comment header (Vorbis,
/// Opus, or an Ogg FLAC metadata block); its count follows the vendor string.
fn ogg<R: Read + Seek>(reader: &mut R, mut pos: u64, len: u64) -> Result<(), TagError> {
    let mut serial: Option<[u8; 4]> = None;
    let mut packet_index = 0usize;
    let mut comment: Vec<u8> = Vec::new();
    let scan_end = (pos + MAX_OGG_SCAN).min(len);
    while pos < scan_end {
        let header = read_at(reader, pos, 27)?;
        if header.len() < 27 || &header[..4] != b"OggS" {
            return Ok(());
        }
        let segments = usize::from(header[26]);
        let lacing = read_at(reader, pos + 27, segments)?;
        let mut payload_at = pos + 27 + segments as u64;
        let this_serial: [u8; 4] = [header[14], header[15], header[16], header[17]];
        let ours = *serial.get_or_insert(this_serial) == this_serial;
        for &size in &lacing {
            if ours && packet_index == 1 {
                comment.extend(read_at(reader, payload_at, usize::from(size))?);
                if let Some(count) = comment_count(&comment) {
                    return if count > MAX_ITEMS {
                        Err(refuse("an Ogg comment header", count.into()))
                    } else {
                        Ok(())
                    };
                }
            }
            payload_at += u64::from(size);
            if ours && size < 255 {
                packet_index += 1;
                if packet_index > 1 {
                    return Ok(()); // the comment packet ended without a count: lofty fails it
                }
            }
        }
        pos = payload_at;
    }
    if packet_index == 1 && !comment.is_empty() {
        return Err(TagError::Refused(
            "an Ogg comment header whose vendor string is over 1 MiB".into(),
        ));
    }
    Ok(())
}

/// The comment count of an Ogg comment packet, once enough of it is there.
fn comment_count(packet: &[u8]) -> Option<u32> {
    let skip = if packet.starts_with(b"\x03vorbis") {
        7
    } else if packet.starts_with(b"OpusTags") {
        8
    } else {
        4 // Ogg FLAC: a metadata block header, then the Vorbis comment block
    };
    let vendor_len = u32_le(packet, skip)? as usize;
    u32_le(packet, skip.checked_add(4)?.checked_add(vendor_len)?)
}

/// MP4: `moov` → every `udta` → `meta` → `ilst`, counting `ilst`'s children.
fn mp4<R: Read + Seek>(reader: &mut R, start: u64, len: u64) -> Result<(), TagError> {
    let mut steps = 0usize;
    for (moov_start, moov_end) in children(reader, start, len, &mut steps)?
        .into_iter()
        .filter(|c| &c.0 == b"moov")
        .map(|c| (c.1, c.2))
    {
        for (_, udta_start, udta_end) in children(reader, moov_start, moov_end, &mut steps)?
            .into_iter()
            .filter(|c| &c.0 == b"udta")
        {
            for (_, meta_start, meta_end) in children(reader, udta_start, udta_end, &mut steps)?
                .into_iter()
                .filter(|c| &c.0 == b"meta")
            {
                // `meta` is usually a full box (4 bytes of version and flags).
                let first = read_at(reader, meta_start, 8)?;
                let body = if first.get(..4) == Some(&[0, 0, 0, 0]) {
                    meta_start + 4
                } else {
                    meta_start
                };
                for (_, ilst_start, ilst_end) in children(reader, body, meta_end, &mut steps)?
                    .into_iter()
                    .filter(|c| &c.0 == b"ilst")
                {
                    let items = children(reader, ilst_start, ilst_end, &mut steps)?.len() as u64;
                    if items > u64::from(MAX_ITEMS) {
                        return Err(TagError::Refused(format!(
                            "an MP4 `ilst` holds more than {MAX_ITEMS} items"
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// The boxes in `[start, end)`: (type, content start, content end). Walks
/// at most [`MAX_STEPS`] boxes in all, and lists at most `MAX_ITEMS + 1`.
fn children<R: Read + Seek>(
    reader: &mut R,
    start: u64,
    end: u64,
    steps: &mut usize,
) -> Result<Vec<([u8; 4], u64, u64)>, TagError> {
    let mut out = Vec::new();
    let mut pos = start;
    while pos + 8 <= end && out.len() <= MAX_ITEMS as usize {
        *steps += 1;
        if *steps > MAX_STEPS {
            return Err(TagError::Refused(format!("more than {MAX_STEPS} MP4 boxes")));
        }
        let header = read_at(reader, pos, 16)?;
        let (Some(size), Some(kind)) = (u32_be(&header, 0), header.get(4..8)) else {
            break;
        };
        let kind: [u8; 4] = [kind[0], kind[1], kind[2], kind[3]];
        let (header_len, size) = match size {
            0 => (8, end - pos),
            1 => match header.get(8..16) {
                Some(large) => (
                    16,
                    u64::from_be_bytes([
                        large[0], large[1], large[2], large[3], large[4], large[5], large[6], large[7],
                    ]),
                ),
                None => break,
            },
            n => (8, u64::from(n)),
        };
        if size < header_len || pos + size > end {
            break;
        }
        out.push((kind, pos + header_len, pos + size));
        pos += size;
    }
    Ok(out)
}

/// APE tags: a header at the start, or a footer at the end (before ID3v1).
fn ape<R: Read + Seek>(reader: &mut R, start: u64, len: u64) -> Result<(), TagError> {
    let id3v1 = len >= 128 && read_at(reader, len - 128, 3)? == b"TAG";
    let mut places = vec![start];
    for end in [len, len.saturating_sub(128)] {
        if end >= 32 && (end == len || id3v1) {
            places.push(end - 32);
        }
    }
    for at in places {
        let block = read_at(reader, at, 32)?;
        if block.starts_with(b"APETAGEX")
            && let Some(count) = u32_le(&block, 16).filter(|&c| c > MAX_ITEMS)
        {
            return Err(refuse("an APE tag", count.into()));
        }
    }
    Ok(())
}
