//! M3U8 playlist text and key periods.
//!
//! Owns the exact text of the media and master playlists (RFC 8216) and the
//! arithmetic of key rotation: key `k` covers segments
//! `[k·SEGMENTS_PER_KEY, (k+1)·SEGMENTS_PER_KEY)` of every rendition. It writes
//! strings only; URIs are given by the caller, who knows the public base URL
//! and the storage layout.

use std::fmt::Write as _;
use std::ops::Range;

/// Segments encrypted with one content key: 5 × ~6 s ≈ 30 s of audio.
pub const SEGMENTS_PER_KEY: usize = 5;

/// The `CODECS` value of an MP3 rendition: MPEG-4 audio object type 34
/// (Layer III), the string Apple's HLS authoring specification gives for MP3.
pub const MP3_CODECS: &str = "mp4a.40.34";

/// The key that encrypts segment `segment_index`.
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
    /// Absolute URI the player fetches the 16-byte key from.
    pub uri: String,
    /// The CBC IV of every segment in the key period.
    pub iv: [u8; 16],
}

/// One segment line of a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaSegmentRef {
    /// Segment URI, usually relative to the playlist (`seg_00000.mp3`).
    pub uri: String,
    /// Duration in seconds.
    pub duration_s: f64,
    /// `Some` on the first segment of each key period: an `#EXT-X-KEY` line goes before it.
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

/// Writes a VOD media playlist.
///
/// Version 3 covers everything used here: decimal `EXTINF` durations (v3) and
/// the `IV` attribute (v2). `TARGETDURATION` is the longest segment rounded up,
/// which satisfies RFC 8216 §4.3.3.1 for any rounding a player applies.
pub fn media_playlist(segments: &[MediaSegmentRef]) -> String {
    let max = segments.iter().map(|s| s.duration_s).fold(0.0f64, f64::max);
    let target = (max.ceil() as u64).max(1);
    let mut out = String::with_capacity(128 + segments.len() * 40);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:3\n");
    // `write!` to a String cannot fail.
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    out.push_str("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    for segment in segments {
        if let Some(key) = &segment.key {
            let _ = writeln!(
                out,
                "#EXT-X-KEY:METHOD=AES-128,URI=\"{}\",IV=0x{}",
                key.uri,
                hex(&key.iv)
            );
        }
        let _ = writeln!(out, "#EXTINF:{:.3},\n{}", segment.duration_s, segment.uri);
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// Writes the master playlist listing the renditions, lowest bandwidth first as given.
///
/// `#EXT-X-INDEPENDENT-SEGMENTS` is declared because every segment starts with
/// a timestamp and decodes without the segments before it (see
/// [`segment_frames`](super::segment_frames)).
pub fn master_playlist(variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        let _ = writeln!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"\n{}",
            v.bandwidth, v.average_bandwidth, v.codecs, v.uri
        );
    }
    out
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
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_playlist_text_is_exact() {
        let iv0: [u8; 16] = core::array::from_fn(|i| i as u8);
        let segments = vec![
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
        ];
        let expected = "#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:7
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-KEY:METHOD=AES-128,URI=\"https://m.example/api/v1/tracks/t1/keys/0\",IV=0x000102030405060708090a0b0c0d0e0f
#EXTINF:6.008,
seg_00000.mp3
#EXTINF:6.008,
seg_00001.mp3
#EXT-X-KEY:METHOD=AES-128,URI=\"https://m.example/api/v1/tracks/t1/keys/1\",IV=0xabababababababababababababababab
#EXTINF:2.500,
seg_00002.mp3
#EXT-X-ENDLIST
";
        assert_eq!(media_playlist(&segments), expected);
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
        assert!(media_playlist(&[]).contains("#EXT-X-TARGETDURATION:1\n"));
        assert!(media_playlist(&one(0.2)).contains("#EXT-X-TARGETDURATION:1\n"));
        assert!(media_playlist(&one(6.0)).contains("#EXT-X-TARGETDURATION:6\n"));
        assert!(media_playlist(&one(6.0001)).contains("#EXT-X-TARGETDURATION:7\n"));
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
        assert_eq!(master_playlist(&variants), expected);
    }

    #[test]
    fn key_periods_cover_every_segment_once() {
        assert_eq!(key_count(0), 0);
        assert_eq!(key_count(5), 1);
        assert_eq!(key_count(11), 3);
        assert_eq!(key_segments(0, 11), 0..5);
        assert_eq!(key_segments(2, 11), 10..11);
        assert_eq!(key_segments(3, 11), 11..11);
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
