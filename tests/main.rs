//! The integration tests, in one binary: cargo builds and links one executable
//! instead of nine, and libtest keeps both cores busy across files instead of
//! waiting for each file's longest test. One file per front door or concern;
//! `cargo test --release --test it digest::` runs one of them.

mod common;

mod brief;
mod browser;
mod cli;
mod digest;
mod grounding;
mod meaning;
mod parity;
mod serve;
mod template_parity;
mod tokenizer_parity;
