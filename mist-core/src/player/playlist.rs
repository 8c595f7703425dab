//! Reading the two playlists the server writes (RFC 8216): the master
//! playlist's variants and a media playlist's segments with their keys.
//!
//! A small hand parser rather than `m3u8-rs`: the player needs four tags
//! (`EXT-X-STREAM-INF`, `EXTINF`, `EXT-X-KEY`, `EXT-X-ENDLIST`) and must
//! resolve URIs against the playlist's own URL, which is simpler to do once
//! here than around a general parser's types. Unknown tags are ignored, as
//! the RFC asks of clients.

use url::Url;

/// Why a playlist cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlaylistError {
    #[error("the playlist does not start with #EXTM3U")]
    NotAPlaylist,
    #[error("the playlist has a bad line {line}: {reason}")]
    BadLine { line: usize, reason: String },
    #[error("the master playlist lists no renditions")]
    NoVariants,
    #[error("the media playlist lists no segments")]
    NoSegments,
}

/// One rendition listed in the master playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantStream {
    /// Absolute URL of the media playlist.
    pub url: Url,
    /// Peak bit rate in bit/s.
    pub bandwidth: u64,
    /// Short name for people: the URL's directory (`128k`), else the bit rate.
    pub name: String,
}

/// How one segment is encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentKey {
    /// Absolute URL of the 16-byte key (an API route: it needs the token).
    pub url: Url,
    pub iv: [u8; 16],
}

/// One segment of a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaSegment {
    /// Absolute URL (storage: never sent the token).
    pub url: Url,
    pub duration_s: f64,
    /// `None` for a clear segment (`METHOD=NONE` or no key at all).
    pub key: Option<SegmentKey>,
}

/// Parses a master playlist fetched from `base`, lowest bandwidth first.
pub fn parse_master(text: &str, base: &Url) -> Result<Vec<VariantStream>, PlaylistError> {
    let mut lines = lines(text)?;
    let mut variants = Vec::new();
    while let Some((number, line)) = lines.next() {
        let Some(attributes) = line.strip_prefix("#EXT-X-STREAM-INF:") else {
            continue;
        };
        let bandwidth = attribute(attributes, "BANDWIDTH")
            .and_then(|b| b.parse::<u64>().ok())
            .ok_or_else(|| bad(number, "EXT-X-STREAM-INF without a BANDWIDTH"))?;
        let (uri_number, uri) = lines
            .find(|(_, l)| !l.starts_with('#'))
            .ok_or_else(|| bad(number, "EXT-X-STREAM-INF without a URI"))?;
        let url = base.join(uri).map_err(|e| bad(uri_number, &e.to_string()))?;
        let name = url
            .path_segments()
            .and_then(|s| s.rev().nth(1).map(str::to_owned))
            .filter(|dir| !dir.is_empty())
            .unwrap_or_else(|| format!("{}k", bandwidth / 1000));
        variants.push(VariantStream { url, bandwidth, name });
    }
    if variants.is_empty() {
        return Err(PlaylistError::NoVariants);
    }
    variants.sort_by_key(|v| v.bandwidth);
    Ok(variants)
}

/// Parses a media playlist fetched from `base`.
pub fn parse_media(text: &str, base: &Url) -> Result<Vec<MediaSegment>, PlaylistError> {
    let mut key: Option<SegmentKey> = None;
    let mut duration: Option<f64> = None;
    let mut segments = Vec::new();
    for (number, line) in lines(text)? {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let value = rest.split(',').next().unwrap_or_default().trim();
            let seconds = value
                .parse::<f64>()
                .ok()
                .filter(|d| d.is_finite() && *d >= 0.0)
                .ok_or_else(|| bad(number, "EXTINF without a duration"))?;
            duration = Some(seconds);
        } else if let Some(attributes) = line.strip_prefix("#EXT-X-KEY:") {
            key = parse_key(attributes, base).map_err(|reason| bad(number, &reason))?;
        } else if line == "#EXT-X-ENDLIST" {
            break;
        } else if !line.starts_with('#') {
            let duration_s = duration
                .take()
                .ok_or_else(|| bad(number, "a segment URI without EXTINF"))?;
            let url = base.join(line).map_err(|e| bad(number, &e.to_string()))?;
            segments.push(MediaSegment {
                url,
                duration_s,
                key: key.clone(),
            });
        }
    }
    if segments.is_empty() {
        return Err(PlaylistError::NoSegments);
    }
    Ok(segments)
}

fn parse_key(attributes: &str, base: &Url) -> Result<Option<SegmentKey>, String> {
    match attribute(attributes, "METHOD") {
        Some("NONE") => return Ok(None),
        Some("AES-128") => {}
        other => return Err(format!("unsupported key method {other:?}")),
    }
    let uri = attribute(attributes, "URI").ok_or("EXT-X-KEY without a URI")?;
    let url = base.join(uri).map_err(|e| e.to_string())?;
    let iv = attribute(attributes, "IV").ok_or("EXT-X-KEY without an IV (media sequence IVs are not used here)")?;
    let digits = iv
        .strip_prefix("0x")
        .or_else(|| iv.strip_prefix("0X"))
        .ok_or("the IV is not hexadecimal")?;
    let value = u128::from_str_radix(digits, 16).map_err(|_| "the IV is not 128-bit hexadecimal")?;
    Ok(Some(SegmentKey {
        url,
        iv: value.to_be_bytes(),
    }))
}

/// Non-empty lines with their 1-based numbers, after checking the header.
fn lines(text: &str) -> Result<impl Iterator<Item = (usize, &str)>, PlaylistError> {
    let mut all = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    match all.next() {
        Some((_, "#EXTM3U")) => Ok(all),
        _ => Err(PlaylistError::NotAPlaylist),
    }
}

/// The value of `name` in an attribute list (`A=1,B="x,y"`), unquoted.
fn attribute<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = list;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], quoted[end + 1..].trim_start_matches(','))
        } else {
            match after.split_once(',') {
                Some((value, next)) => (value, next),
                None => (after, ""),
            }
        };
        if key.trim() == name {
            return Some(value);
        }
        rest = next;
    }
    None
}

fn bad(line: usize, reason: &str) -> PlaylistError {
    PlaylistError::BadLine {
        line,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::{KeyRef, MediaSegmentRef, Variant, master_playlist, media_playlist};

    fn url(s: &str) -> Url {
        Url::parse(s).expect("valid URL")
    }

    #[test]
    fn the_servers_master_playlist_reads_back() {
        let variants = ["192k", "64k", "128k"].map(|name| Variant {
            uri: format!("{name}/index.m3u8"),
            bandwidth: name.trim_end_matches('k').parse::<u64>().expect("number") * 1100,
            average_bandwidth: 1,
            codecs: crate::hls::MP3_CODECS.into(),
        });
        let base = url("http://h:1/media/tracks/t1/hls/master.m3u8");
        let parsed = parse_master(&master_playlist(&variants), &base).expect("parses");
        let names: Vec<_> = parsed.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["64k", "128k", "192k"]);
        assert_eq!(parsed[0].url.as_str(), "http://h:1/media/tracks/t1/hls/64k/index.m3u8");
        assert_eq!(parsed[2].bandwidth, 192 * 1100);
    }

    #[test]
    fn the_servers_media_playlist_reads_back_with_keys() {
        let iv = [7u8; 16];
        let segments: Vec<_> = (0..7)
            .map(|i| MediaSegmentRef {
                uri: if i == 6 {
                    "https://bucket.example/seg_00006.mp3?X-Amz-Signature=a%2Cb".into()
                } else {
                    format!("seg_{i:05}.mp3")
                },
                duration_s: 6.0 + f64::from(i) / 100.0,
                key: (i % 5 == 0).then(|| KeyRef {
                    uri: format!("http://h:1/api/v1/tracks/t1/keys/{}", i / 5),
                    iv,
                }),
            })
            .collect();
        let base = url("http://h:1/media/tracks/t1/hls/64k/index.m3u8");
        let parsed = parse_media(&media_playlist(&segments), &base).expect("parses");
        assert_eq!(parsed.len(), 7);
        assert_eq!(
            parsed[1].url.as_str(),
            "http://h:1/media/tracks/t1/hls/64k/seg_00001.mp3"
        );
        assert_eq!(
            parsed[6].url.as_str(),
            "https://bucket.example/seg_00006.mp3?X-Amz-Signature=a%2Cb"
        );
        assert!((parsed[3].duration_s - 6.03).abs() < 1e-9);
        let key = |i: usize| parsed[i].key.as_ref().expect("keyed");
        assert_eq!(key(4).url.as_str(), "http://h:1/api/v1/tracks/t1/keys/0");
        assert_eq!(key(5).url.as_str(), "http://h:1/api/v1/tracks/t1/keys/1");
        assert_eq!(key(6).iv, iv);
    }

    #[test]
    fn broken_playlists_are_refused() {
        let base = url("http://h/x/index.m3u8");
        assert_eq!(parse_media("<html>", &base), Err(PlaylistError::NotAPlaylist));
        assert_eq!(
            parse_media("#EXTM3U\n#EXT-X-ENDLIST\n", &base),
            Err(PlaylistError::NoSegments)
        );
        assert!(matches!(
            parse_media("#EXTM3U\nseg.mp3\n", &base),
            Err(PlaylistError::BadLine { line: 2, .. })
        ));
        assert!(matches!(
            parse_media("#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"k\"\n", &base),
            Err(PlaylistError::BadLine { line: 2, .. })
        ));
        assert_eq!(parse_master("#EXTM3U\n", &base), Err(PlaylistError::NoVariants));
    }

    #[test]
    fn attributes_may_be_quoted_and_hold_commas() {
        let list = r#"METHOD=AES-128,URI="http://h/k?a=1,b=2",IV=0x01"#;
        assert_eq!(attribute(list, "URI"), Some("http://h/k?a=1,b=2"));
        assert_eq!(attribute(list, "IV"), Some("0x01"));
        assert_eq!(attribute(list, "METHOD"), Some("AES-128"));
        assert_eq!(attribute(list, "NOPE"), None);
    }
}
