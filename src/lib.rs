//! abridge: summaries and translations of news articles with a local GGUF transformer.
//!
//! Data flows one way: inputs -> articles -> chunks -> generation jobs -> results ->
//! files (`article`, `chunk`, `model`, `pipeline`, `render`).

pub mod article;
pub mod bench;
pub mod brief;
pub mod check;
pub mod chunk;
pub mod error;
pub mod excerpt;
pub mod kernels;
pub mod lang;
pub mod model;
pub mod pipeline;
pub mod progress;
pub mod prompts;
pub mod render;
pub mod sentence;
#[cfg(feature = "serve")]
pub mod serve;

pub use error::{Error, Result};
