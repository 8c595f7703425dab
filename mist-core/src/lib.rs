//! MIST core: what the server and its clients share.
//!
//! - [`api`]: the JSON wire types of the HTTP API. Both ends use these, so the
//!   contract is tested from both sides.
//! - `client` (feature `client`): the only code that speaks HTTP to the server.
//! - [`text`]: what text is unsafe to show on a terminal; the server refuses or
//!   strips it, clients neutralise it when they print.
//! - `player` (feature `client`): the streaming engine, from a playback session
//!   to decoded PCM, with heartbeats, keys and retries.
//! - `library` (feature `library`): tags, lyrics, cover images, loudness,
//!   audio sniffing and content hashes for the music library (feature `sniff`:
//!   only the sniffing; feature `hash`: the sniffing and the hashes).
//!
//! This crate knows nothing of databases, axum, sqlx or terminals.

pub mod api;
pub mod audio;
pub mod crypto;
pub mod features;
pub mod hls;
pub mod text;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "sniff")]
pub mod library;
#[cfg(feature = "client")]
pub mod player;
