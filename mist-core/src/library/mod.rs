//! The music library's building blocks (feature `library`): what a file says
//! about itself beyond its audio. Each module works on bytes or samples
//! handed to it and knows nothing of albums as records, databases or storage;
//! the server's ingest and import decide what to keep.
//!
//! - [`tags`]: lofty → [`tags::TrackTags`] (titles, numbers, date, genre,
//!   composer, the embedded cover, lyrics), bounded against hostile files.
//! - [`lrc`]: `.lrc` files and LRC text inside tags → [`lrc::Lyrics`] (timed
//!   lines, or plain text when there are none).
//! - [`cover`]: decoding a picture under hard limits, JPEG thumbnails at
//!   [`cover::SIZES`].
//! - [`loudness`]: EBU R128 integrated loudness and true peak, per track from
//!   streamed chunks and per album from stored gating blocks, as ReplayGain 2.0.
//! - [`sniff`]: whether bytes look like audio we can decode, by content.
//! - [`hash`]: SHA-256 of originals and covers (dedup, ETags).

pub mod cover;
pub mod hash;
pub mod loudness;
pub mod lrc;
pub mod sniff;
pub mod tags;

#[cfg(test)]
mod test_support;
