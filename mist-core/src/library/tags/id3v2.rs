//! The guard in front of lofty's ID3v2 reader.
//!
//! lofty 0.25 reads ID3v2 frames as the file declares them, and some of the
//! ways a file can declare them cost far more than the file's size (each
//! measured in `tests.rs`, `hostile_files_cost_little`):
//!
//! - **Compressed frames** are inflated with no bound on the output (its
//!   allocation limit covers only some reads): 50 MB of zlib is 50 GB.
//! - **Chapter frames** (`CHAP`, `CTOC`) hold frames, which can hold chapter
//!   frames: nesting deep enough overflows the stack, which aborts the process.
//! - **Many frames**: each new frame is compared with every one before it, so
//!   200,000 tiny frames take minutes.
//! - **Huge frames**: a picture is read whole, whatever the allocation limit
//!   says, only to be refused by `cover` later.
//! - **One bad frame** (invalid UTF-8, say) makes lofty give up on the whole
//!   file, losing every good tag with it.
//!
//! So lofty never sees a file's own ID3v2 tags. [`guard`] walks each of them
//! itself and lays over it, byte for byte the same length, a clean tag of the
//! same version holding only the frames the library reads ([`KEPT`]):
//! uncompressed and unencrypted, at most [`MAX_KEPT_FRAMES`] of them, each
//! within its size limit, with their flags cleared (unsynchronisation undone,
//! data-length and group bytes removed) and their text re-encoded as valid
//! UTF-8 (UTF-16 in ID3v2.2), then zero padding. The rest of the
//! file is untouched, so lofty's reading of it is unchanged. Where lofty would
//! look for ID3v2 beyond the tags at the start (in leading junk, in WAV/AIFF
//! chunks), the marker is overwritten so it finds none there.
//!
//! `SYLT` (timed lyrics) frames are handed back to the caller instead of
//! being kept, since lofty leaves them unparsed anyway.

use std::io::{self, BufReader, Read, Seek, SeekFrom};

use lofty::id3::v2::util::synchsafe::{SynchsafeInteger, UnsynchronizedStream};

use super::TagError;
use crate::library::cover::MAX_COVER_BYTES;

/// Frames kept per file, at most (real tags have tens).
pub const MAX_KEPT_FRAMES: usize = 256;
/// ID3v2 tags in a row at the start of a file, at most (some files have two).
pub const MAX_TAGS: usize = 8;
/// Bytes of frames kept per file, at most: two covers and some lyrics.
const MAX_KEPT_BYTES: usize = 2 * MAX_COVER_BYTES + 4 * MAX_LYRICS_FRAME;
/// The largest picture frame kept: a cover at the cover limit plus its header.
const MAX_PICTURE_FRAME: usize = MAX_COVER_BYTES + 4096;
/// The largest lyrics frame kept.
const MAX_LYRICS_FRAME: usize = 1024 * 1024;
/// The largest text frame kept.
const MAX_TEXT_FRAME: usize = 16 * 1024;
/// Where lofty looks for an ID3v2 tag buried in junk before MPEG frames.
pub const JUNK_WINDOW: usize = 1024;

/// The frames the library reads, by ID3v2.3/2.4 and ID3v2.2 names.
pub const KEPT: [(&str, &str); 19] = [
    ("TIT2", "TT2"),
    ("TPE1", "TP1"),
    ("TPE2", "TP2"),
    ("TALB", "TAL"),
    ("TRCK", "TRK"),
    ("TPOS", "TPA"),
    ("TYER", "TYE"),
    ("TDAT", "TDA"),
    ("TDRC", "TDRC"),
    ("TDRL", "TDRL"),
    ("TDOR", "TDOR"),
    ("TORY", "TOR"),
    ("TCON", "TCO"),
    ("TCOM", "TCM"),
    ("TCMP", "TCP"),
    ("TXXX", "TXX"),
    ("APIC", "PIC"),
    ("USLT", "ULT"),
    ("SYLT", "SLT"),
];

/// What the guard found: byte ranges to lay over the file, and the raw
/// content of the `SYLT` frames.
#[derive(Debug, Default)]
pub struct Guarded {
    pub patches: Vec<Patch>,
    /// The first byte after leading zeros and ID3v2 tags: where the
    /// container itself starts.
    pub after_tags: u64,
    /// `SYLT` frame contents (flags undone), in file order.
    pub sylt: Vec<Vec<u8>>,
}

/// Bytes laid over the file from `start`: `data`, then `zeros` zero bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub start: u64,
    pub data: Vec<u8>,
    pub zeros: u64,
}

impl Patch {
    fn end(&self) -> u64 {
        self.start + self.data.len() as u64 + self.zeros
    }
}

impl Guarded {
    /// The same patches with every ID3v2 tag emptied (its header, then
    /// padding): the fallback when lofty still refuses the cleaned tags.
    pub fn without_id3v2(&self) -> Vec<Patch> {
        self.patches
            .iter()
            .map(|p| {
                if p.data.starts_with(b"ID3") && p.data.len() >= 10 {
                    let zeros = p.zeros + (p.data.len() - 10) as u64;
                    Patch {
                        start: p.start,
                        data: p.data[..10].to_vec(),
                        zeros,
                    }
                } else {
                    p.clone()
                }
            })
            .collect()
    }
}

/// Walks the ID3v2 tags lofty would read in `reader` and returns the patches
/// that make them safe (see the module doc).
pub fn guard<R: Read + Seek>(reader: &mut R) -> Result<Guarded, TagError> {
    let len = reader.seek(SeekFrom::End(0))?;
    let mut guarded = Guarded::default();
    let mut pos = skip_zeros(reader, len)?;
    let mut kept = Budget::default();
    let mut tags = 0;
    while let Some(header) = read_header(reader, pos, len)? {
        if tags == MAX_TAGS {
            return Err(TagError::Refused(format!("more than {MAX_TAGS} ID3v2 tags in a row")));
        }
        tags += 1;
        let body = header.size.min(len.saturating_sub(pos + 10));
        reader.seek(SeekFrom::Start(pos + 10))?;
        let limited = BufReader::new(reader.by_ref().take(body));
        // The clean tag must fit where the old one was (10 bytes of header).
        let frames = clean_frames(limited, &header, body as usize, &mut kept, &mut guarded.sylt)?;
        let mut data = Vec::with_capacity(10 + frames.len());
        data.extend_from_slice(b"ID3");
        data.push(header.version);
        data.push(header.revision);
        // Keep only the footer flag: no unsynchronisation, no extended header.
        data.push(if header.version >= 3 { header.flags & 0x10 } else { 0 });
        data.extend_from_slice(&header.size_field);
        data.extend_from_slice(&frames);
        let region = 10 + body;
        guarded.patches.push(Patch {
            start: pos,
            zeros: region - data.len() as u64,
            data,
        });
        pos += 10
            + header.size
            + if header.version >= 3 && header.flags & 0x10 != 0 {
                10
            } else {
                0
            };
    }
    // Zeros before a tag are skipped (lofty does for MPEG); without a tag
    // they are the container's own bytes (an MP4 box size starts 00 00).
    guarded.after_tags = if tags == 0 { 0 } else { pos };
    if tags == 0 {
        // lofty searches leading junk for a tag only when there is none at
        // the start: blind every "ID3" it could find there.
        let window = read_at(reader, 0, JUNK_WINDOW + 3)?;
        blind(&mut guarded.patches, &window, 0, b"ID3", b"XD3");
    }
    let start = read_at(reader, 0, 4)?;
    if start == b"RIFF" || start == b"FORM" || start == b"RF64" {
        blind_chunks(reader, &mut guarded.patches)?;
    }
    guarded.patches.sort_by_key(|p| p.start);
    Ok(guarded)
}

/// lofty reads ID3v2 chunks in WAV and AIFF files; a chunk walk of our own
/// could disagree with lofty's, so every `ID3 ` or `id3 ` anywhere in the file
/// is turned into `JUNK` (a chunk every reader skips).
fn blind_chunks<R: Read + Seek>(reader: &mut R, patches: &mut Vec<Patch>) -> io::Result<()> {
    reader.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut carry = 0usize; // bytes kept from the previous read: a marker may straddle reads
    let mut offset = 0u64; // file offset of buf[0]
    loop {
        let n = reader.read(&mut buf[carry..])?;
        if n == 0 {
            break;
        }
        let filled = carry + n;
        blind(patches, &buf[..filled], offset, b"ID3 ", b"JUNK");
        blind(patches, &buf[..filled], offset, b"id3 ", b"JUNK");
        carry = filled.min(3);
        buf.copy_within(filled - carry..filled, 0);
        offset += (filled - carry) as u64;
    }
    Ok(())
}

/// Adds a patch replacing every `marker` in `bytes` (at file offset `offset`)
/// with `with`, unless already patched.
fn blind(patches: &mut Vec<Patch>, bytes: &[u8], offset: u64, marker: &[u8], with: &[u8]) {
    for (i, window) in bytes.windows(marker.len()).enumerate() {
        let start = offset + i as u64;
        if window == marker && !patches.iter().any(|p| p.start <= start && start < p.end()) {
            patches.push(Patch {
                start,
                data: with.to_vec(),
                zeros: 0,
            });
        }
    }
}

fn skip_zeros<R: Read + Seek>(reader: &mut R, len: u64) -> io::Result<u64> {
    reader.seek(SeekFrom::Start(0))?;
    let mut buf = [0u8; 64 * 1024];
    let mut pos = 0u64;
    while pos < len {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
            return Ok(pos + i as u64);
        }
        pos += n as u64;
    }
    Ok(pos)
}

fn read_at<R: Read + Seek>(reader: &mut R, pos: u64, max: usize) -> io::Result<Vec<u8>> {
    reader.seek(SeekFrom::Start(pos))?;
    let mut out = Vec::with_capacity(max);
    reader.by_ref().take(max as u64).read_to_end(&mut out)?;
    Ok(out)
}

struct Header {
    version: u8,
    revision: u8,
    flags: u8,
    size_field: [u8; 4],
    size: u64,
}

fn read_header<R: Read + Seek>(reader: &mut R, pos: u64, len: u64) -> io::Result<Option<Header>> {
    if pos + 10 > len {
        return Ok(None);
    }
    let h = read_at(reader, pos, 10)?;
    if h.len() < 10 || &h[..3] != b"ID3" || !(2..=4).contains(&h[3]) {
        return Ok(None);
    }
    let size_field = [h[6], h[7], h[8], h[9]];
    Ok(Some(Header {
        version: h[3],
        revision: h[4],
        flags: h[5],
        size_field,
        // lofty reads the tag size this way, whatever the high bits hold.
        size: u64::from(u32::from_be_bytes(size_field).unsynch()),
    }))
}

/// What has been kept so far in this file.
#[derive(Default)]
struct Budget {
    frames: usize,
    bytes: usize,
    pictures: usize,
    front_cover: bool,
    lyrics: usize,
}

/// The kept frames of one tag, re-encoded without flags.
fn clean_frames(
    body: impl Read,
    header: &Header,
    room: usize,
    kept: &mut Budget,
    sylt: &mut Vec<Vec<u8>>,
) -> Result<Vec<u8>, TagError> {
    let v2 = header.version == 2;
    if v2 && header.flags & 0x40 != 0 {
        return Ok(Vec::new()); // ID3v2.2 "compression": no scheme was ever defined
    }
    // ID3v2.2 and 2.3 unsynchronise the whole tag; 2.4 marks it per frame.
    let mut body: Box<dyn Read> = if header.flags & 0x80 != 0 && header.version < 4 {
        Box::new(UnsynchronizedStream::new(body))
    } else {
        Box::new(body)
    };
    if !v2 && header.flags & 0x40 != 0 {
        let mut size = [0u8; 4];
        if body.read_exact(&mut size).is_err() {
            return Ok(Vec::new());
        }
        let size = u32::from_be_bytes(size);
        // 2.3 counts the header after the size field; 2.4 counts all of it, syncsafe.
        let rest = if header.version == 3 {
            u64::from(size)
        } else {
            u64::from(size.unsynch()).saturating_sub(4)
        };
        io::copy(&mut body.by_ref().take(rest), &mut io::sink())?;
    }

    let mut out = Vec::new();
    let header_len = if v2 { 6 } else { 10 };
    loop {
        let mut h = [0u8; 10];
        if body.read_exact(&mut h[..header_len]).is_err() || h[0] == 0 {
            break;
        }
        let id = &h[..header_len - if v2 { 3 } else { 6 }];
        let size = if v2 {
            u32::from_be_bytes([0, h[3], h[4], h[5]])
        } else if header.version == 3 {
            u32::from_be_bytes([h[4], h[5], h[6], h[7]])
        } else {
            u32::from_be_bytes([h[4], h[5], h[6], h[7]]).unsynch()
        } as usize;
        let flags = if v2 { 0 } else { u16::from_be_bytes([h[8], h[9]]) };
        let (compressed, encrypted, grouped, length_indicator, unsynchronised) = match header.version {
            2 => (false, false, false, false, false),
            3 => (flags & 0x80 != 0, flags & 0x40 != 0, flags & 0x20 != 0, false, false),
            _ => (
                flags & 0x08 != 0,
                flags & 0x04 != 0,
                flags & 0x40 != 0,
                flags & 0x01 != 0,
                flags & 0x02 != 0 || header.flags & 0x80 != 0,
            ),
        };
        let kind = frame_kind(id, v2);
        let limit = match kind {
            Some(Kind::Picture) => MAX_PICTURE_FRAME,
            Some(Kind::Lyrics | Kind::SyncedLyrics) => MAX_LYRICS_FRAME,
            Some(Kind::Text) => MAX_TEXT_FRAME,
            None => 0,
        };
        let wanted = kind.is_some()
            && !compressed
            && !encrypted
            && size > 0
            && size <= limit
            && kept.frames < MAX_KEPT_FRAMES
            && kept.bytes + size <= MAX_KEPT_BYTES
            && match kind {
                Some(Kind::Lyrics | Kind::SyncedLyrics) => kept.lyrics < 4,
                Some(Kind::Picture) => kept.pictures < 2,
                _ => true,
            };
        let Some(kind) = kind.filter(|_| wanted) else {
            let skipped = io::copy(&mut body.by_ref().take(size as u64), &mut io::sink())?;
            if skipped < size as u64 {
                break;
            }
            continue;
        };
        let mut content = vec![0u8; size];
        if body.read_exact(&mut content).is_err() {
            break; // the tag ends inside this frame
        }
        let mut content = content.as_slice();
        if grouped {
            content = content.get(1..).unwrap_or_default();
        }
        if length_indicator {
            content = content.get(4..).unwrap_or_default();
        }
        let content = if unsynchronised {
            resynchronise(content)
        } else {
            content.to_vec()
        };
        // lofty gives up on a whole file for one badly encoded frame: re-encode.
        let Some(content) = repair(kind, id, &content, v2) else {
            continue;
        };
        match kind {
            Kind::Picture => {
                let front = picture_type(&content, v2) == Some(3);
                // The first picture, and the first front cover if it is another.
                if kept.pictures == 1 && (kept.front_cover || !front) {
                    continue;
                }
                kept.front_cover |= front;
                kept.pictures += 1;
            }
            Kind::Lyrics => kept.lyrics += 1,
            Kind::SyncedLyrics => {
                kept.lyrics += 1;
                kept.bytes += content.len();
                sylt.push(content);
                continue;
            }
            Kind::Text => {}
        }
        // Re-encoding can grow text (Latin-1 to UTF-8, a replacement
        // character for each bad byte): a frame that no longer fits is dropped.
        if out.len() + header_len + content.len() > room {
            continue;
        }
        kept.frames += 1;
        kept.bytes += content.len();
        out.extend_from_slice(id);
        if v2 {
            out.extend_from_slice(&(content.len() as u32).to_be_bytes()[1..]);
        } else {
            let size = content.len() as u32;
            // Sizes are far below 2^28 (limits above), so synch cannot fail.
            let field = if header.version == 3 {
                size
            } else {
                size.synch().unwrap_or(size)
            };
            out.extend_from_slice(&field.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
        out.extend_from_slice(&content);
    }
    Ok(out)
}

/// A kept frame's content re-encoded so that any reader accepts it: text as
/// UTF-8 (UTF-16 in ID3v2.2, which has no UTF-8), invalid sequences replaced,
/// a USLT language made of letters, a picture's MIME type plain ASCII.
/// `SYLT` passes unchanged (it is parsed on its own, where an error costs
/// only itself). `None` when nothing is left.
fn repair(kind: Kind, id: &[u8], content: &[u8], v2: bool) -> Option<Vec<u8>> {
    let (&encoding, rest) = content.split_first()?;
    let mut out = vec![if v2 { 1 } else { 3 }];
    let put = |out: &mut Vec<u8>, text: &str, terminated: bool| {
        if v2 {
            out.extend_from_slice(&[0xFF, 0xFE]);
            out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            if terminated {
                out.extend_from_slice(&[0, 0]);
            }
        } else {
            out.extend_from_slice(text.as_bytes());
            if terminated {
                out.push(0);
            }
        }
    };
    match kind {
        Kind::SyncedLyrics => return Some(content.to_vec()),
        Kind::Text if id == b"TXXX" || id == b"TXX" => {
            let (description, value) = split_terminated(encoding, rest);
            put(&mut out, &decode_text(encoding, description), true);
            put(&mut out, &decode_text(encoding, value), false);
        }
        Kind::Text => put(&mut out, &decode_text(encoding, rest), false),
        Kind::Lyrics => {
            let language = rest.get(..3)?;
            let language = if language.iter().all(u8::is_ascii_alphabetic) {
                language
            } else {
                b"xxx"
            };
            out.extend_from_slice(language);
            let (description, text) = split_terminated(encoding, &rest[3..]);
            put(&mut out, &decode_text(encoding, description), true);
            put(&mut out, &decode_text(encoding, text), false);
        }
        Kind::Picture => {
            // Latin-1 header fields; the description is dropped (never shown).
            out[0] = 0;
            let rest = if v2 {
                let format = rest.get(..3)?;
                // lofty knows these; the bytes are sniffed later anyway.
                out.extend_from_slice(if format.eq_ignore_ascii_case(b"PNG") {
                    b"PNG"
                } else {
                    b"JPG"
                });
                rest.get(3..)?
            } else {
                let end = rest.iter().position(|&b| b == 0)?;
                let mime: Vec<u8> = rest[..end]
                    .iter()
                    .copied()
                    .filter(|b| b.is_ascii_graphic())
                    .take(64)
                    .collect();
                out.extend_from_slice(&mime);
                out.push(0);
                &rest[end + 1..]
            };
            let (&picture_type, rest) = rest.split_first()?;
            out.push(picture_type);
            let (_, data) = split_terminated(encoding, rest);
            out.push(0);
            if data.is_empty() {
                return None;
            }
            out.extend_from_slice(data);
        }
    }
    Some(out)
}

/// The text before the encoding's terminator and the bytes after it.
fn split_terminated(encoding: u8, bytes: &[u8]) -> (&[u8], &[u8]) {
    if matches!(encoding, 1 | 2) {
        let end = bytes.chunks_exact(2).position(|pair| pair == [0, 0]).map(|i| i * 2);
        match end {
            Some(i) => (&bytes[..i], &bytes[i + 2..]),
            None => (bytes, &[]),
        }
    } else {
        match bytes.iter().position(|&b| b == 0) {
            Some(i) => (&bytes[..i], &bytes[i + 1..]),
            None => (bytes, &[]),
        }
    }
}

/// Text in an ID3v2 encoding (0 Latin-1, 1 UTF-16 with BOM, 2 UTF-16BE,
/// 3 UTF-8), invalid sequences replaced. Separators (NUL) are kept.
fn decode_text(encoding: u8, bytes: &[u8]) -> String {
    let utf16 = |bytes: &[u8], from: fn([u8; 2]) -> u16| -> String {
        let units = bytes.chunks_exact(2).map(|p| from([p[0], p[1]]));
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    };
    match encoding {
        0 => bytes.iter().map(|&b| char::from(b)).collect(),
        1 => match bytes {
            // Each value of a list may carry its own BOM.
            [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes).replace("\0\u{feff}", "\0"),
            [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes).replace("\0\u{feff}", "\0"),
            _ => utf16(bytes, u16::from_le_bytes),
        },
        2 => utf16(bytes, u16::from_be_bytes),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Picture,
    Lyrics,
    SyncedLyrics,
}

fn frame_kind(id: &[u8], v2: bool) -> Option<Kind> {
    let name = std::str::from_utf8(id).ok()?;
    let known = KEPT
        .iter()
        .find(|(v34, v22)| if v2 { *v22 == name } else { *v34 == name })?;
    Some(match known.0 {
        "APIC" => Kind::Picture,
        "USLT" => Kind::Lyrics,
        "SYLT" => Kind::SyncedLyrics,
        _ => Kind::Text,
    })
}

/// The picture type byte of an APIC (or ID3v2.2 PIC) frame's content.
fn picture_type(content: &[u8], v2: bool) -> Option<u8> {
    if v2 {
        return content.get(4).copied(); // encoding, 3-letter format, type
    }
    let mime_end = content.get(1..)?.iter().position(|&b| b == 0)?;
    content.get(1 + mime_end + 1).copied()
}

/// Undoes unsynchronisation (every `FF 00` back to `FF`).
fn resynchronise(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut after_ff = false;
    for &b in bytes {
        if !(after_ff && b == 0) {
            out.push(b);
        }
        after_ff = b == 0xFF;
    }
    out
}

/// A reader that shows `inner` with the patches laid over it.
pub struct Patched<R> {
    inner: R,
    pos: u64,
    patches: Vec<Patch>,
}

impl<R> Patched<R> {
    /// `patches` must be sorted and must not overlap (as [`guard`] returns them).
    pub fn new(inner: R, patches: Vec<Patch>) -> Self {
        Self { inner, pos: 0, patches }
    }
}

impl<R: Read> Read for Patched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let (from, to) = (self.pos, self.pos + n as u64);
        let first = self.patches.partition_point(|p| p.end() <= from);
        for patch in self.patches[first..].iter().take_while(|p| p.start < to) {
            // The part of the patch this read covers, as offsets into the patch.
            let lo = from.max(patch.start) - patch.start;
            let hi = to.min(patch.end()) - patch.start;
            let out = &mut buf[(patch.start + lo - from) as usize..(patch.start + hi - from) as usize];
            let data_len = patch.data.len() as u64;
            let (data_part, zero_part) = out.split_at_mut((data_len.clamp(lo, hi) - lo) as usize);
            data_part.copy_from_slice(&patch.data[lo.min(data_len) as usize..hi.min(data_len) as usize]);
            zero_part.fill(0);
        }
        self.pos = to;
        Ok(n)
    }
}

impl<R: Seek> Seek for Patched<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn patched_reads_overlay_at_any_alignment() {
        let original: Vec<u8> = (0..100u8).collect();
        let patches = vec![
            Patch {
                start: 10,
                data: vec![200, 201],
                zeros: 3,
            },
            Patch {
                start: 50,
                data: vec![250],
                zeros: 0,
            },
        ];
        let mut expected = original.clone();
        expected[10..15].copy_from_slice(&[200, 201, 0, 0, 0]);
        expected[50] = 250;
        for chunk in [1, 3, 7, 64, 100] {
            let mut reader = Patched::new(Cursor::new(original.clone()), patches.clone());
            let mut out = Vec::new();
            let mut buf = vec![0u8; chunk];
            loop {
                let n = reader.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(out, expected, "chunk {chunk}");
        }
        let mut reader = Patched::new(Cursor::new(original), patches);
        reader.seek(SeekFrom::Start(12)).expect("seek");
        let mut two = [0u8; 4];
        reader.read_exact(&mut two).expect("read");
        assert_eq!(two, [0, 0, 0, 15]);
    }

    #[test]
    fn resynchronisation() {
        assert_eq!(
            resynchronise(&[0xFF, 0x00, 0xE0, 0xFF, 0x00, 0x00, 0x12]),
            vec![0xFF, 0xE0, 0xFF, 0x00, 0x12]
        );
    }
}
