//! HLS packaging: packed-audio MP3 segments, their ID3 timestamps, and playlists.
//!
//! - [`segment`]: MP3 frame headers, cutting renditions into ~6 s segments on
//!   shared frame boundaries as their frames arrive, and making each segment
//!   decodable on its own.
//! - [`id3`]: the `PRIV` transport-stream timestamp tag that starts every segment.
//! - [`playlist`]: the media and master playlists (one typed model, `m3u8-rs`),
//!   key periods, bandwidth.
//!
//! Everything here is pure: bytes and strings in, bytes and strings out.
//! Encryption is in [`crate::crypto`]; storage and URLs are the server's.

pub mod id3;
pub mod playlist;
pub mod segment;

pub use id3::{id3_tag_len, id3_timestamp_tag, parse_id3_timestamp};
pub use playlist::{
    KeyRef, LEGACY_SEGMENTS_PER_KEY, MP3_CODECS, MediaSegmentRef, PlaylistError, SEGMENTS_PER_KEY, Trim, Variant,
    bandwidth, key_count, key_index, key_segments, master_model, master_playlist, media_model, media_playlist,
    parse_iv, parse_master, parse_media, set_trim, trim, write_master, write_media,
};
pub use segment::{SEGMENT_FRAMES, Segment, SegmentError, Segmenter, segment_frames, segment_renditions};
