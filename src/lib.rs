//! abridge: summaries and translations of news articles with a local GGUF transformer.
//!
//! Data flows one way: inputs -> articles -> prompts -> generation -> results.

pub mod article;
pub mod bench;
pub mod chunk;
pub mod error;
pub mod kernels;
pub mod lang;
pub mod model;
pub mod prompts;
pub mod render;

pub use error::{Error, Result};
