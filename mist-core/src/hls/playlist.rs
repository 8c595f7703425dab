//! M3U8 playlists (RFC 8216) and key periods.
//!
//! One typed model for every playlist MIST handles: `m3u8-rs`'s
//! [`MediaPlaylist`] and [`MasterPlaylist`]. Ingest builds them here
//! ([`media_playlist`], [`master_playlist`]) and writes them with the crate's
//! writer; the server parses the stored ones back ([`parse_media`]) to fill in
//! per-request URIs (key URIs on the current public URL, presigned segment
//! URLs on S3) and writes them again ([`write_media`]); the player reads what
//! it is served through the same parser (`player::playlist`). No playlist text
//! is ever edited line by line.
//!
//! Key rotation: key `k` covers segments `[k·K, (k+1)·K)` of every rendition,
//! where K is the track's segments per key. New ingests use
//! [`SEGMENTS_PER_KEY`] (one key per ~6 s segment: the key is the unit the
//! listening quota charges, docs/quota.md); tracks stored before kept their
//! K = [`LEGACY_SEGMENTS_PER_KEY`], recorded per track by the server.

use std::ops::Range;

pub use m3u8_rs::{Key, KeyMethod, MasterPlaylist, MediaPlaylist, MediaPlaylistType, MediaSegment, VariantStream};

/// Segments encrypted with one content key in new ingests: one segment, ~6 s.
pub const SEGMENTS_PER_KEY: usize = 1;

/// Segments per key of tracks ingested before keys became the quota's unit
/// (5 × ~6 s ≈ 30 s).
pub const LEGACY_SEGMENTS_PER_KEY: usize = 5;

/// The `CODECS` value of an MP3 rendition: MPEG-4 audio object type 34
/// (Layer III), the string Apple's HLS authoring specification gives for MP3.
pub const MP3_CODECS: &str = "mp4a.40.34";

/// The playlist version written: decimal `EXTINF` durations need 3, the `IV`
/// attribute 2; nothing newer is used.
const VERSION: usize = 3;

/// The key that encrypts segment `segment_index` in a new ingest.
pub fn key_index(segment_index: usize) -> usize {
    segment_index / SEGMENTS_PER_KEY
}

/// The segments covered by key `key_index` in a rendition of `segment_count` segments.
pub fn key_segments(key_index: usize, segment_count: usize) -> Range<usize> {
    let start = (key_index * SEGMENTS_PER_KEY).min(segment_count);
    start..(start + SEGMENTS_PER_KEY).min(segment_count)
}

/// How many keys a rendition of `segment_count` segments needs.
pub fn key_count(segment_count: usize) -> usize {
    segment_count.div_ceil(SEGMENTS_PER_KEY)
}

/// An `#EXT-X-KEY` for AES-128.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// URI the player fetches the 16-byte key from.
    pub uri: String,
    /// The CBC IV of every segment in the key period.
    pub iv: [u8; 16],
}

/// One segment of a media playlist being written.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaSegmentRef {
    /// Segment URI, usually relative to the playlist (`seg_00000.mp3`).
    pub uri: String,
    /// Duration in seconds.
    pub duration_s: f64,
    /// `Some` on the first segment of each key period: an `#EXT-X-KEY` goes before it.
    pub key: Option<KeyRef>,
}

/// One rendition in the master playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Media playlist URI, usually relative (`128k/index.m3u8`).
    pub uri: String,
    /// Peak segment bit rate in bit/s (`BANDWIDTH`).
    pub bandwidth: u64,
    /// Average bit rate in bit/s (`AVERAGE-BANDWIDTH`).
    pub average_bandwidth: u64,
    /// `CODECS`, normally [`MP3_CODECS`].
    pub codecs: String,
}

/// Why stored or served playlist text cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlaylistError {
    #[error("the playlist does not start with #EXTM3U")]
    NotAPlaylist,
    #[error("the playlist cannot be read: {0}")]
    Invalid(String),
    #[error("the master playlist lists no renditions")]
    NoVariants,
    #[error("the media playlist lists no segments")]
    NoSegments,
}

/// The `#EXT-X-KEY` of an AES-128 key period.
pub fn aes128_key(uri: String, iv: &[u8; 16]) -> Key {
    Key {
        method: KeyMethod::AES128,
        uri: Some(uri),
        iv: Some(format!("0x{}", hex(iv))),
        keyformat: None,
        keyformatversions: None,
    }
}

/// The 16 bytes of an `IV=0x…` attribute.
pub fn parse_iv(iv: &str) -> Option<[u8; 16]> {
    let digits = iv.strip_prefix("0x").or_else(|| iv.strip_prefix("0X"))?;
    if digits.is_empty() || digits.len() > 32 {
        return None;
    }
    u128::from_str_radix(digits, 16).ok().map(u128::to_be_bytes)
}

/// The tag naming a rendition's gapless trim, before its first segment:
/// `#EXT-X-MIST-TRIM:START=1105,END=875`. Players that do not know it ignore
/// it (RFC 8216 §4.1); the server's rewrite keeps it (the model holds it as
/// the first segment's unknown tag).
const TRIM_TAG: &str = "X-MIST-TRIM";

/// Samples (per channel, at 44.1 kHz) a decoder outputs that are not the
/// source's: `start` before its first sample (encoder and decoder delay) and
/// `end` after its last (the last frame's padding). Dropping them makes the
/// decoded rendition exactly the source's length and timing, so consecutive
/// tracks of one recording join without a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trim {
    pub start: u64,
    pub end: u64,
}

/// Records `trim` in `playlist` (on its first segment).
pub fn set_trim(playlist: &mut MediaPlaylist, trim: Trim) {
    if let Some(first) = playlist.segments.first_mut() {
        first.unknown_tags.retain(|t| t.tag != TRIM_TAG);
        first.unknown_tags.push(m3u8_rs::ExtTag {
            tag: TRIM_TAG.into(),
            rest: Some(format!("START={},END={}", trim.start, trim.end)),
        });
    }
}

/// The trim recorded in `playlist`; `None` for playlists written before it
/// was recorded, or a tag that does not read as two counts.
pub fn trim(playlist: &MediaPlaylist) -> Option<Trim> {
    let tag = playlist
        .segments
        .first()?
        .unknown_tags
        .iter()
        .find(|t| t.tag == TRIM_TAG)?;
    let mut trim = Trim::default();
    let (mut start, mut end) = (false, false);
    for attribute in tag.rest.as_deref()?.split(',') {
        match attribute.trim().split_once('=')? {
            ("START", n) => (trim.start, start) = (n.parse().ok()?, true),
            ("END", n) => (trim.end, end) = (n.parse().ok()?, true),
            _ => {}
        }
    }
    (start && end).then_some(trim)
}

/// The text of a VOD media playlist of `segments` (see [`media_model`]).
pub fn media_playlist(segments: &[MediaSegmentRef]) -> String {
    write_media(&media_model(segments))
}

/// The text of the master playlist listing `variants` (see [`master_model`]).
pub fn master_playlist(variants: &[Variant]) -> String {
    write_master(&master_model(variants))
}

/// A VOD media playlist of `segments`.
///
/// `TARGETDURATION` is the longest segment rounded up, which satisfies
/// RFC 8216 §4.3.3.1 for any rounding a player applies.
pub fn media_model(segments: &[MediaSegmentRef]) -> MediaPlaylist {
    let max = segments.iter().map(|s| s.duration_s).fold(0.0f64, f64::max);
    MediaPlaylist {
        version: Some(VERSION),
        target_duration: (max.ceil() as u64).max(1),
        media_sequence: 0,
        playlist_type: Some(MediaPlaylistType::Vod),
        end_list: true,
        segments: segments
            .iter()
            .map(|s| MediaSegment {
                uri: s.uri.clone(),
                duration: s.duration_s as f32,
                key: s.key.as_ref().map(|k| aes128_key(k.uri.clone(), &k.iv)),
                ..MediaSegment::default()
            })
            .collect(),
        ..MediaPlaylist::default()
    }
}

/// The master playlist listing the renditions, in the order given.
///
/// `#EXT-X-INDEPENDENT-SEGMENTS` is declared because every segment starts with
/// a timestamp and decodes without the segments before it (see
/// [`segment_frames`](super::segment_frames)).
pub fn master_model(variants: &[Variant]) -> MasterPlaylist {
    MasterPlaylist {
        version: Some(VERSION),
        independent_segments: true,
        variants: variants
            .iter()
            .map(|v| VariantStream {
                uri: v.uri.clone(),
                bandwidth: v.bandwidth,
                average_bandwidth: Some(v.average_bandwidth),
                codecs: Some(v.codecs.clone()),
                ..VariantStream::default()
            })
            .collect(),
        ..MasterPlaylist::default()
    }
}

/// The text of a media playlist.
pub fn write_media(playlist: &MediaPlaylist) -> String {
    let mut out = Vec::with_capacity(128 + playlist.segments.len() * 64);
    // Writing to a Vec cannot fail.
    let _ = playlist.write_to(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The text of a master playlist.
pub fn write_master(playlist: &MasterPlaylist) -> String {
    let mut out = Vec::with_capacity(128 + playlist.variants.len() * 96);
    let _ = playlist.write_to(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads a media playlist. Segments carry their `#EXT-X-KEY` only where the
/// tag stands (on the first segment of a key period), as in the text.
pub fn parse_media(text: &[u8]) -> Result<MediaPlaylist, PlaylistError> {
    check_header(text)?;
    let playlist = m3u8_rs::parse_media_playlist_res(text).map_err(|e| PlaylistError::Invalid(short(&e)))?;
    if playlist.segments.is_empty() {
        return Err(PlaylistError::NoSegments);
    }
    Ok(playlist)
}

/// Reads a master playlist.
pub fn parse_master(text: &[u8]) -> Result<MasterPlaylist, PlaylistError> {
    check_header(text)?;
    let playlist = m3u8_rs::parse_master_playlist_res(text).map_err(|e| PlaylistError::Invalid(short(&e)))?;
    if playlist.variants.iter().all(|v| v.is_i_frame) {
        return Err(PlaylistError::NoVariants);
    }
    Ok(playlist)
}

fn check_header(text: &[u8]) -> Result<(), PlaylistError> {
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    if text.starts_with(b"#EXTM3U") {
        Ok(())
    } else {
        Err(PlaylistError::NotAPlaylist)
    }
}

/// A parse error without the rest of the input it carries.
fn short(error: &nom::Err<nom::error::Error<&[u8]>>) -> String {
    match error {
        nom::Err::Incomplete(_) => "it ends too early".into(),
        nom::Err::Error(e) | nom::Err::Failure(e) => {
            let line = e.input.split(|b| *b == b'\n').next().unwrap_or_default();
            let line = String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
            format!("{:?} near {line:?}", e.code)
        }
    }
}

/// Peak and average bit rates (bit/s) of a rendition from its segments'
/// `(bytes as served, duration in seconds)`, for [`Variant`].
///
/// Pass the encrypted sizes: they are what a player downloads. The peak is
/// taken over segments, as RFC 8216 §4.3.4.2 defines `BANDWIDTH`, rounded up.
pub fn bandwidth(segments: &[(usize, f64)]) -> (u64, u64) {
    let peak = segments
        .iter()
        .filter(|(_, d)| *d > 0.0)
        .map(|&(bytes, d)| (bytes as f64 * 8.0 / d).ceil() as u64)
        .max()
        .unwrap_or(0);
    let total_bytes: usize = segments.iter().map(|s| s.0).sum();
    let total_s: f64 = segments.iter().map(|s| s.1).sum();
    let average = if total_s > 0.0 {
        (total_bytes as f64 * 8.0 / total_s).ceil() as u64
    } else {
        0
    };
    (peak, average)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_segments() -> Vec<MediaSegmentRef> {
        let iv0: [u8; 16] = core::array::from_fn(|i| i as u8);
        vec![
            MediaSegmentRef {
                uri: "seg_00000.mp3".into(),
                duration_s: 6.008163,
                key: Some(KeyRef {
                    uri: "https://m.example/api/v1/tracks/t1/keys/0".into(),
                    iv: iv0,
                }),
            },
            MediaSegmentRef {
                uri: "seg_00001.mp3".into(),
                duration_s: 6.008163,
                key: None,
            },
            MediaSegmentRef {
                uri: "seg_00002.mp3".into(),
                duration_s: 2.5,
                key: Some(KeyRef {
                    uri: "https://m.example/api/v1/tracks/t1/keys/1".into(),
                    iv: [0xAB; 16],
                }),
            },
        ]
    }

    #[test]
    fn the_trim_survives_writing_and_reading_again() {
        let mut model = media_model(&three_segments());
        assert_eq!(trim(&model), None, "not recorded yet");
        set_trim(&mut model, Trim { start: 1105, end: 875 });
        let text = write_media(&model);
        assert!(
            text.contains("#EXT-X-MIST-TRIM:START=1105,END=875\n#EXTINF:6.008163,\nseg_00000.mp3"),
            "{text}"
        );
        // What the server does to every stored playlist: parse, change URIs, write.
        let mut again = parse_media(text.as_bytes()).unwrap();
        again.segments[0].uri = "https://s3.example/seg_00000.mp3?sig".into();
        let again = parse_media(write_media(&again).as_bytes()).unwrap();
        assert_eq!(trim(&again), Some(Trim { start: 1105, end: 875 }));
        assert_eq!(again.segments[1].unknown_tags, vec![], "on the first segment only");
    }

    #[test]
    fn a_trim_tag_that_does_not_read_is_no_trim() {
        for rest in [
            "START=1105",
            "START=-1,END=3",
            "START=1105,END=99999999999999999999999",
            "START=x,END=1",
            "junk",
            "",
        ] {
            let text =
                format!("#EXTM3U\n#EXT-X-TARGETDURATION:7\n#EXT-X-MIST-TRIM:{rest}\n#EXTINF:6.0,\nseg_00000.mp3\n");
            let model = parse_media(text.as_bytes()).unwrap();
            assert_eq!(trim(&model), None, "{rest:?}");
        }
    }

    #[test]
    fn media_playlist_text_is_exact() {
        let expected = "#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:7
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-KEY:METHOD=AES-128,URI=\"https://m.example/api/v1/tracks/t1/keys/0\",IV=0x000102030405060708090a0b0c0d0e0f
#EXTINF:6.008163,
seg_00000.mp3
#EXTINF:6.008163,
seg_00001.mp3
#EXT-X-KEY:METHOD=AES-128,URI=\"https://m.example/api/v1/tracks/t1/keys/1\",IV=0xabababababababababababababababab
#EXTINF:2.5,
seg_00002.mp3
#EXT-X-ENDLIST
";
        assert_eq!(media_playlist(&three_segments()), expected);
    }

    #[test]
    fn a_written_media_playlist_reads_back_as_the_same_model() {
        let model = media_model(&three_segments());
        let parsed = parse_media(media_playlist(&three_segments()).as_bytes()).expect("parses");
        assert_eq!(parsed, model);
        let key = parsed.segments[2].key.as_ref().expect("key");
        assert_eq!(parse_iv(key.iv.as_deref().expect("iv")), Some([0xAB; 16]));
    }

    #[test]
    fn target_duration_is_at_least_one_and_rounds_up() {
        let one = |d: f64| {
            vec![MediaSegmentRef {
                uri: "a".into(),
                duration_s: d,
                key: None,
            }]
        };
        let target = |segments: &[MediaSegmentRef]| media_model(segments).target_duration;
        assert_eq!(target(&[]), 1);
        assert_eq!(target(&one(0.2)), 1);
        assert_eq!(target(&one(6.0)), 6);
        assert_eq!(target(&one(6.0001)), 7);
    }

    #[test]
    fn master_playlist_text_is_exact() {
        let variants = [
            Variant {
                uri: "64k/index.m3u8".into(),
                bandwidth: 70_000,
                average_bandwidth: 66_000,
                codecs: MP3_CODECS.into(),
            },
            Variant {
                uri: "128k/index.m3u8".into(),
                bandwidth: 140_000,
                average_bandwidth: 131_000,
                codecs: MP3_CODECS.into(),
            },
        ];
        let expected = "#EXTM3U
#EXT-X-VERSION:3
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=70000,AVERAGE-BANDWIDTH=66000,CODECS=\"mp4a.40.34\"
64k/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=140000,AVERAGE-BANDWIDTH=131000,CODECS=\"mp4a.40.34\"
128k/index.m3u8
";
        let model = master_model(&variants);
        assert_eq!(master_playlist(&variants), expected);
        assert_eq!(parse_master(expected.as_bytes()).expect("parses"), model);
    }

    #[test]
    fn what_is_not_a_playlist_is_refused() {
        assert_eq!(parse_media(b"<html>"), Err(PlaylistError::NotAPlaylist));
        assert_eq!(
            parse_media(b"#EXTM3U\n#EXT-X-ENDLIST\n"),
            Err(PlaylistError::NoSegments)
        );
        assert_eq!(parse_master(b"#EXTM3U\n"), Err(PlaylistError::NoVariants));
        assert!(matches!(
            parse_master(b"#EXTM3U\n#EXT-X-STREAM-INF:CODECS=\"x\"\na.m3u8\n"),
            Err(PlaylistError::Invalid(_) | PlaylistError::NoVariants)
        ));
    }

    #[test]
    fn ivs_are_sixteen_bytes_of_hex() {
        assert_eq!(parse_iv("0x01"), Some(1u128.to_be_bytes()));
        assert_eq!(parse_iv("0XFF"), Some(255u128.to_be_bytes()));
        assert_eq!(parse_iv("01"), None);
        assert_eq!(parse_iv("0x"), None);
        assert_eq!(parse_iv(&format!("0x{}", "f".repeat(33))), None);
        assert_eq!(parse_iv("0xzz"), None);
    }

    #[test]
    fn key_periods_cover_every_segment_once() {
        assert_eq!(SEGMENTS_PER_KEY, 1, "one key per segment: the quota's unit");
        assert_eq!(key_count(0), 0);
        assert_eq!(key_count(11), 11);
        assert_eq!(key_segments(2, 11), 2..3);
        assert_eq!(key_segments(11, 11), 11..11);
        for n in 0..23 {
            let covered: Vec<usize> = (0..key_count(n)).flat_map(|k| key_segments(k, n)).collect();
            assert_eq!(covered, (0..n).collect::<Vec<_>>());
            assert!(covered.iter().all(|&s| key_segments(key_index(s), n).contains(&s)));
        }
    }

    #[test]
    fn bandwidth_is_peak_and_average_in_bits_per_second() {
        let (peak, avg) = bandwidth(&[(96_000, 6.0), (120_000, 6.0), (12_000, 1.0)]);
        assert_eq!(peak, 160_000);
        assert_eq!(avg, (228_000.0f64 * 8.0 / 13.0).ceil() as u64);
        assert_eq!(bandwidth(&[]), (0, 0));
    }
}
