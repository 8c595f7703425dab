//! What the player needs from the two playlists it is served: the master
//! playlist's renditions and a media playlist's segments with their keys,
//! with every URI resolved against the playlist's own URL.
//!
//! The text is read by the same typed model the server writes
//! (`crate::hls::playlist`, `m3u8-rs`); this module only resolves URIs, checks
//! what the engine relies on (a duration per segment, AES-128 keys with an
//! IV) and carries each `#EXT-X-KEY` forward to the segments after it, as
//! RFC 8216 §4.3.2.4 says it applies (the model keeps it where the tag stood),
//! and hands the rendition's gapless trim to the segments it applies to.

use url::Url;

use crate::hls::playlist::{self, KeyMethod};
pub use crate::hls::playlist::{PlaylistError, Trim};

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
    /// `None` for a clear segment.
    pub key: Option<SegmentKey>,
    /// Samples (per channel) to drop from the start and the end of this
    /// segment's decoded audio: the rendition's gapless trim (the encoder
    /// delay on the first segment, the padding on the last), zero elsewhere
    /// and in playlists that record none.
    pub trim: Trim,
}

/// Parses a master playlist fetched from `base`, lowest bandwidth first.
pub fn parse_master(text: &str, base: &Url) -> Result<Vec<VariantStream>, PlaylistError> {
    let master = playlist::parse_master(text.as_bytes())?;
    let mut variants = Vec::new();
    for variant in master.variants.iter().filter(|v| !v.is_i_frame) {
        let url = join(base, &variant.uri)?;
        let name = url
            .path_segments()
            .and_then(|s| s.rev().nth(1).map(str::to_owned))
            .filter(|dir| !dir.is_empty())
            .unwrap_or_else(|| format!("{}k", variant.bandwidth / 1000));
        variants.push(VariantStream {
            url,
            bandwidth: variant.bandwidth,
            name,
        });
    }
    variants.sort_by_key(|v| v.bandwidth);
    Ok(variants)
}

/// Parses a media playlist fetched from `base`.
pub fn parse_media(text: &str, base: &Url) -> Result<Vec<MediaSegment>, PlaylistError> {
    let media = playlist::parse_media(text.as_bytes())?;
    let mut key: Option<SegmentKey> = None;
    let mut segments = Vec::with_capacity(media.segments.len());
    for (index, segment) in media.segments.iter().enumerate() {
        if let Some(tag) = &segment.key {
            key = segment_key(tag, base).map_err(|reason| invalid(index, &reason))?;
        }
        let duration_s = f64::from(segment.duration);
        if !(duration_s.is_finite() && duration_s > 0.0) {
            return Err(invalid(index, "no duration (EXTINF)"));
        }
        segments.push(MediaSegment {
            url: join(base, &segment.uri)?,
            duration_s,
            key: key.clone(),
            trim: Trim::default(),
        });
    }
    let whole = playlist::trim(&media).unwrap_or_default();
    if let Some(first) = segments.first_mut() {
        first.trim.start = whole.start;
    }
    if let Some(last) = segments.last_mut() {
        last.trim.end = whole.end;
    }
    Ok(segments)
}

fn segment_key(tag: &playlist::Key, base: &Url) -> Result<Option<SegmentKey>, String> {
    match &tag.method {
        KeyMethod::None => return Ok(None),
        KeyMethod::AES128 => {}
        other => return Err(format!("unsupported key method {other}")),
    }
    let uri = tag.uri.as_deref().ok_or("EXT-X-KEY without a URI")?;
    let url = base.join(uri).map_err(|e| e.to_string())?;
    let iv = tag
        .iv
        .as_deref()
        .ok_or("EXT-X-KEY without an IV (media sequence IVs are not used here)")?;
    let iv = playlist::parse_iv(iv).ok_or("the IV is not 128-bit hexadecimal")?;
    Ok(Some(SegmentKey { url, iv }))
}

fn join(base: &Url, uri: &str) -> Result<Url, PlaylistError> {
    base.join(uri)
        .map_err(|e| PlaylistError::Invalid(format!("bad URI {uri:?}: {e}")))
}

fn invalid(segment: usize, reason: &str) -> PlaylistError {
    PlaylistError::Invalid(format!("segment {segment}: {reason}"))
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
        let base = url("http://h:1/media/cap/tracks/t1/hls/master.m3u8");
        let parsed = parse_master(&master_playlist(&variants), &base).expect("parses");
        let names: Vec<_> = parsed.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["64k", "128k", "192k"]);
        assert_eq!(
            parsed[0].url.as_str(),
            "http://h:1/media/cap/tracks/t1/hls/64k/index.m3u8"
        );
        assert_eq!(parsed[2].bandwidth, 192 * 1100);
    }

    #[test]
    fn the_servers_media_playlist_reads_back_with_keys_carried_forward() {
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
        let base = url("http://h:1/media/cap/tracks/t1/hls/64k/index.m3u8");
        let parsed = parse_media(&media_playlist(&segments), &base).expect("parses");
        assert_eq!(parsed.len(), 7);
        assert_eq!(
            parsed[1].url.as_str(),
            "http://h:1/media/cap/tracks/t1/hls/64k/seg_00001.mp3"
        );
        assert_eq!(
            parsed[6].url.as_str(),
            "https://bucket.example/seg_00006.mp3?X-Amz-Signature=a%2Cb"
        );
        assert!((parsed[3].duration_s - 6.03).abs() < 1e-6);
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
        // A URI without EXTINF has no duration to keep time with.
        assert!(matches!(
            parse_media("#EXTM3U\nseg.mp3\n", &base),
            Err(PlaylistError::Invalid(_))
        ));
        assert!(matches!(
            parse_media(
                "#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"k\",IV=0x01\n#EXTINF:6,\nseg.mp3\n",
                &base
            ),
            Err(PlaylistError::Invalid(reason)) if reason.contains("SAMPLE-AES")
        ));
        assert!(matches!(
            parse_media(
                "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\",IV=0xnothex\n#EXTINF:6,\nseg.mp3\n",
                &base
            ),
            Err(PlaylistError::Invalid(_))
        ));
        assert_eq!(parse_master("#EXTM3U\n", &base), Err(PlaylistError::NoVariants));
    }
}
