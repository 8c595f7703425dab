//! `mist-server`: the MIST HTTP API, job worker, storage and database.
//!
//! The binary (`main.rs`) only parses flags and calls into this library, so
//! integration tests run exactly the code the binary runs.

pub mod accounts;
pub mod admin_cli;
pub mod analysis;
pub mod app;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod http;
pub mod import;
pub mod ingest;
pub mod limiter;
pub mod quota;
pub mod serve;
pub mod server;
pub mod storage;
pub mod telemetry;
pub mod text;
pub mod transfer;
pub mod worker;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(test)]
mod layering;
