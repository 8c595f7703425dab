//! Every integration test of `mist` (the command line, playback to `wav:`,
//! the terminal player in tmux), in one binary. Run one area with a filter,
//! e.g. `cargo test -p mist-tui --all-features --test it tui::`.

mod cli;
mod common;
mod play;
mod tui;
