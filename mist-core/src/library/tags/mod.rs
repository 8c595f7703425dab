//! Tags: what a file says about itself, read with lofty (ID3v2 and ID3v1,
//! Vorbis comments in FLAC and Ogg, MP4 atoms, APE, RIFF INFO) into one
//! plain [`TrackTags`].
//!
//! The file is anyone's, so reading is bounded:
//! - ID3v2 tags pass through [`id3v2::guard`] first (compressed frames,
//!   nested chapters and floods of frames cost lofty far more than the
//!   file's size; see there), and the other formats' tags through
//!   [`floods::check`] (more than [`floods::MAX_ITEMS`] items in one tag is
//!   refused: lofty spends ten times an item's bytes on it).
//! - lofty's own per-item allocation limit is [`MAX_ITEM_BYTES`], the cover
//!   limit: a picture larger than that could not be used anyway.
//! - Text is cut to [`MAX_FIELD_CHARS`] characters (the catalogue's text gate
//!   cuts further and strips control characters); invalid UTF-8 is replaced.
//! - Numbers outside what a real release has (track 1–[`MAX_TRACK`], disc
//!   1–[`MAX_DISC`], year 1000–2999) are dropped, not clamped.
//!
//! When a file has several tags (ID3v2 and ID3v1 and APE on one MP3), the
//! format's main tag wins field by field and the others fill its gaps.

pub mod floods;
pub mod id3v2;

use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

use lofty::config::{GlobalOptions, ParseOptions, ParsingMode};
use lofty::file::{TaggedFile, TaggedFileExt};
use lofty::id3::v2::{FrameFlags, SyncTextContentType, SynchronizedTextFrame, TimestampFormat};
use lofty::picture::PictureType;
use lofty::probe::Probe;
use lofty::tag::{ItemKey, Tag};

use super::cover::MAX_COVER_BYTES;
use super::lrc::{self, Lyrics, TimedLine};

/// lofty's limit for one tag item, in bytes.
pub const MAX_ITEM_BYTES: usize = MAX_COVER_BYTES;
/// Longest text field kept, in characters.
pub const MAX_FIELD_CHARS: usize = 1000;
/// Highest track number believed.
pub const MAX_TRACK: u32 = 999;
/// Highest disc number believed.
pub const MAX_DISC: u32 = 99;

/// Why tags could not be read. The audio may still be fine: callers go on
/// without tags.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    #[error("the file could not be read: {0}")]
    Io(#[from] io::Error),
    #[error("no tags could be read: {0}")]
    Unreadable(String),
    #[error("the tags are refused: {0}")]
    Refused(String),
}

/// Everything the library takes from a file's tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackTags {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album_artist: Option<String>,
    pub album: Option<String>,
    pub track_number: Option<u32>,
    pub track_total: Option<u32>,
    pub disc_number: Option<u32>,
    pub disc_total: Option<u32>,
    pub year: Option<u16>,
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`: the recording date, else the release date.
    pub date: Option<String>,
    pub genre: Option<String>,
    pub composer: Option<String>,
    /// The iTunes / Vorbis compilation flag ("Various Artists").
    pub compilation: bool,
    /// The front cover, else the first picture.
    pub cover: Option<EmbeddedPicture>,
    /// Timed lyrics (SYLT, or LRC in a lyrics tag), else plain ones.
    pub lyrics: Option<Lyrics>,
}

/// A picture from the tags, not yet decoded (see `cover`).
#[derive(Clone, PartialEq, Eq)]
pub struct EmbeddedPicture {
    pub data: Vec<u8>,
    /// As the tag declares it (untrusted: `cover` sniffs the bytes).
    pub mime: Option<String>,
    pub front: bool,
}

impl std::fmt::Debug for EmbeddedPicture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EmbeddedPicture({} bytes, {:?}, front: {})",
            self.data.len(),
            self.mime,
            self.front
        )
    }
}

/// Reads the tags of the file at `path`.
pub fn read_file(path: &Path) -> Result<TrackTags, TagError> {
    read(&mut BufReader::new(File::open(path)?))
}

/// Reads the tags of a whole file given as a reader.
pub fn read<R: Read + Seek>(reader: &mut R) -> Result<TrackTags, TagError> {
    let guarded = id3v2::guard(reader)?;
    floods::check(reader, guarded.after_tags)?;
    let file = match read_patched(reader, guarded.patches.clone()) {
        Ok(file) => file,
        // lofty drops a whole file for one frame it cannot parse; without the
        // ID3v2 tags, the file's other tags may still be read.
        Err(_) if guarded.patches.iter().any(|p| p.data.starts_with(b"ID3")) => {
            read_patched(reader, guarded.without_id3v2())?
        }
        Err(e) => return Err(e),
    };
    // Audio properties are not read (the decoder knows them better); SYLT's
    // rare MPEG-frame stamps assume 44.1 kHz.
    let sample_rate = 44_100;

    let mut tags: Vec<&Tag> = Vec::new();
    if let Some(primary) = file.primary_tag() {
        tags.push(primary);
    }
    tags.extend(
        file.tags()
            .iter()
            .filter(|t| Some(t.tag_type()) != file.primary_tag().map(Tag::tag_type)),
    );

    let mut out = TrackTags::default();
    for tag in &tags {
        fill(&mut out, tag);
    }
    out.cover = pick_cover(&tags);
    out.lyrics = guarded
        .sylt
        .iter()
        .find_map(|content| synced_lyrics(content, sample_rate))
        .or_else(|| {
            tags.iter().find_map(|t| {
                let text = t
                    .get_string(ItemKey::Lyrics)
                    .or_else(|| t.get_string(ItemKey::UnsyncLyrics))?;
                lrc::parse(text)
            })
        });
    Ok(out)
}

fn read_patched<R: Read + Seek>(reader: &mut R, patches: Vec<id3v2::Patch>) -> Result<TaggedFile, TagError> {
    reader.rewind()?;
    let mut patched = id3v2::Patched::new(reader, patches);
    // Per thread in lofty; set on every call, since the thread may be a pool's.
    lofty::config::apply_global_options(GlobalOptions::new().allocation_limit(MAX_ITEM_BYTES));
    let options = ParseOptions::new()
        .parsing_mode(ParsingMode::BestAttempt)
        .max_junk_bytes(id3v2::JUNK_WINDOW)
        .read_properties(false);
    let probe = Probe::new(&mut patched)
        .options(options)
        .guess_file_type()
        .map_err(|e| TagError::Unreadable(e.to_string()))?;
    probe.read().map_err(|e| TagError::Unreadable(e.to_string()))
}

/// Fills the fields of `out` still empty from `tag`.
fn fill(out: &mut TrackTags, tag: &Tag) {
    let text = |key: ItemKey| -> Option<String> {
        // Several values (ID3v2.4 lists, repeated Vorbis fields) are joined.
        let mut values: Vec<String> = Vec::new();
        for v in tag.get_strings(key).take(64) {
            if let Some(v) = clean(v)
                && !values.contains(&v)
            {
                values.push(v);
            }
        }
        clean(&values.join(", "))
    };
    let set = |field: &mut Option<String>, value: Option<String>| {
        if field.is_none() {
            *field = value;
        }
    };
    set(&mut out.title, text(ItemKey::TrackTitle));
    set(&mut out.artist, text(ItemKey::TrackArtist));
    set(&mut out.album_artist, text(ItemKey::AlbumArtist));
    set(&mut out.album, text(ItemKey::AlbumTitle));
    set(&mut out.composer, text(ItemKey::Composer));
    // One genre (the first) for browsing by genre; ID3v2.3's "(13)Pop-ish" reads as Pop.
    set(
        &mut out.genre,
        tag.get_strings(ItemKey::Genre)
            .find_map(clean)
            .and_then(|g| genre_name(&g)),
    );

    let (track, track_total) = number_pair(tag.get_string(ItemKey::TrackNumber));
    let (disc, disc_total) = number_pair(tag.get_string(ItemKey::DiscNumber));
    let track_total = track_total.or_else(|| number_pair(tag.get_string(ItemKey::TrackTotal)).0);
    let disc_total = disc_total.or_else(|| number_pair(tag.get_string(ItemKey::DiscTotal)).0);
    if out.track_number.is_none() {
        out.track_number = track.filter(|n| (1..=MAX_TRACK).contains(n));
    }
    if out.track_total.is_none() {
        out.track_total = track_total.filter(|n| (1..=MAX_TRACK).contains(n));
    }
    if out.disc_number.is_none() {
        out.disc_number = disc.filter(|n| (1..=MAX_DISC).contains(n));
    }
    if out.disc_total.is_none() {
        out.disc_total = disc_total.filter(|n| (1..=MAX_DISC).contains(n));
    }
    // A total below its number is a typo; drop the total, keep the number.
    if let (Some(n), Some(total)) = (out.track_number, out.track_total)
        && total < n
    {
        out.track_total = None;
    }
    if let (Some(n), Some(total)) = (out.disc_number, out.disc_total)
        && total < n
    {
        out.disc_total = None;
    }

    if out.date.is_none() {
        let date = [
            ItemKey::RecordingDate,
            ItemKey::Year,
            ItemKey::ReleaseDate,
            ItemKey::OriginalReleaseDate,
        ]
        .into_iter()
        .find_map(|key| tag.get_string(key).and_then(parse_date));
        if let Some((year, date)) = date {
            out.year = Some(year);
            out.date = Some(date);
        }
    }
    if !out.compilation {
        out.compilation = tag
            .get_string(ItemKey::FlagCompilation)
            .is_some_and(|v| matches!(v.trim(), "1" | "true" | "True" | "TRUE" | "yes"));
    }
}

/// Trimmed, NUL-free, at most [`MAX_FIELD_CHARS`] characters; `None` if empty.
fn clean(value: &str) -> Option<String> {
    let value: String = value.chars().filter(|&c| c != '\0').take(MAX_FIELD_CHARS).collect();
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// `3`, `3/12`, ` 03 / 12 ` → (number, total); anything else is `None`.
fn number_pair(value: Option<&str>) -> (Option<u32>, Option<u32>) {
    let Some(value) = value else { return (None, None) };
    let number = |s: &str| -> Option<u32> {
        let s = s.trim();
        (!s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match value.split_once('/') {
        Some((n, total)) => (number(n), number(total)),
        None => (number(value), None),
    }
}

/// A year from 1000 to 2999 and the date as far as it is given and valid:
/// `2001`, `2001-05`, `2001-05-03` (ID3v2.4, Vorbis, MP4 `2001-05-03T…`).
fn parse_date(value: &str) -> Option<(u16, String)> {
    let value = value.trim();
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let year_part = value.get(..4)?;
    if !digits(year_part) {
        return None;
    }
    let year: u16 = year_part.parse().ok()?;
    if !(1000..=2999).contains(&year) {
        return None;
    }
    let part = |range: std::ops::Range<usize>, max: u8| -> Option<u8> {
        let s = value.get(range)?;
        let n: u8 = if digits(s) { s.parse().ok()? } else { return None };
        (1..=max).contains(&n).then_some(n)
    };
    let month = (value.as_bytes().get(4) == Some(&b'-'))
        .then(|| part(5..7, 12))
        .flatten();
    let day = month.and_then(|_| {
        (value.as_bytes().get(7) == Some(&b'-'))
            .then(|| part(8..10, 31))
            .flatten()
    });
    let date = match (month, day) {
        (Some(m), Some(d)) => format!("{year:04}-{m:02}-{d:02}"),
        (Some(m), None) => format!("{year:04}-{m:02}"),
        _ => format!("{year:04}"),
    };
    Some((year, date))
}

/// ID3v1 genre numbers (`17`, `(17)`, `(17)Rock`) to their names; a number
/// with no name is no genre.
fn genre_name(genre: &str) -> Option<String> {
    let inner = genre
        .strip_prefix('(')
        .and_then(|g| g.split_once(')'))
        .map(|(n, rest)| (n, rest.trim()));
    let (number, rest) = inner.unwrap_or((genre, ""));
    if !rest.is_empty() {
        return Some(rest.to_owned());
    }
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Some(genre.to_owned());
    }
    let index: usize = number.parse().ok()?;
    lofty::id3::v1::GENRES.get(index).map(|name| (*name).to_owned())
}

/// The front cover from the first tag that has one, else the first picture.
fn pick_cover(tags: &[&Tag]) -> Option<EmbeddedPicture> {
    let pictures = || tags.iter().flat_map(|t| t.pictures()).filter(|p| !p.data().is_empty());
    let picture = pictures()
        .find(|p| p.pic_type() == PictureType::CoverFront)
        .or_else(|| pictures().next())?;
    (picture.data().len() <= MAX_COVER_BYTES).then(|| EmbeddedPicture {
        data: picture.data().to_vec(),
        mime: picture.mime_type().map(|m| m.as_str().to_owned()),
        front: picture.pic_type() == PictureType::CoverFront,
    })
}

/// Timed lines from a `SYLT` frame's content; MPEG-frame stamps are
/// converted with the file's sample rate.
fn synced_lyrics(content: &[u8], sample_rate: u32) -> Option<Lyrics> {
    let frame = SynchronizedTextFrame::parse(content, FrameFlags::default()).ok()?;
    if !matches!(
        frame.content_type,
        SyncTextContentType::Lyrics | SyncTextContentType::Other
    ) {
        return None;
    }
    let samples_per_frame: u64 = if sample_rate >= 32_000 { 1152 } else { 576 };
    let lines = frame
        .content
        .into_iter()
        .filter_map(|(stamp, text)| {
            let ms = match frame.timestamp_format {
                TimestampFormat::MS => u64::from(stamp),
                TimestampFormat::MPEG => u64::from(stamp) * samples_per_frame * 1000 / u64::from(sample_rate.max(1)),
            };
            let text = text
                .trim_matches(|c: char| c == '\n' || c == '\r')
                .chars()
                .take(MAX_FIELD_CHARS)
                .collect();
            Some(TimedLine {
                start_ms: u32::try_from(ms).ok()?,
                text,
            })
        })
        .collect();
    let lyrics = Lyrics::from_timed(lines);
    (!lyrics.text.is_empty()).then_some(lyrics)
}

#[cfg(test)]
mod tests;
