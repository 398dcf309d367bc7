//! The binary's commands, one module each; their flags are in `args`, what
//! several of them share in `shared`, and the set-up before any runs in `setup`.
//! The library does the work: these modules turn flags into its options and its
//! results into stdout, stderr and exit codes.

pub mod args;
pub mod bench;
pub mod brief;
pub mod digest;
pub mod generate;
pub mod merge;
pub mod models;
pub mod read;
pub mod serve;
pub mod setup;
pub mod shared;
pub mod summarize;
pub mod translate;
