//! Every integration test of `mist-server`, in one binary: each module was a
//! binary of its own, and each linked sqlx, aws-sdk-s3 and symphonia again.
//! Run one area with a filter, e.g. `cargo test -p mist-server --all-features
//! --test it catalogue::`.

mod api;
mod catalogue;
mod deploy;
mod ingest;
mod playback;
mod scale;
mod similar;
mod storage;
mod transfer;
mod web;
