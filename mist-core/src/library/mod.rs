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
//! - [`sniff`]: whether bytes look like audio we can decode, by content (also
//!   alone, feature `sniff`, std only: the command line's bulk upload uses it).
//! - [`hash`]: SHA-256 of originals and covers (dedup, ETags).

#[cfg(feature = "library")]
pub mod cover;
#[cfg(feature = "hash")]
pub mod hash;
#[cfg(feature = "library")]
pub mod loudness;
#[cfg(feature = "library")]
pub mod lrc;
pub mod sniff;
#[cfg(feature = "library")]
pub mod tags;

#[cfg(all(test, feature = "library"))]
mod test_support;
