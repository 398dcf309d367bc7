//! The pipeline: inputs -> articles -> chunks -> generation requests -> results ->
//! files. [`article`] is the one article's path every front door takes, [`digest`]
//! the batch of many (resumable, sharded); [`output`], [`key`] and [`interrupt`] are
//! the digest's bookkeeping, [`result`] the one record every output derives from.

mod article;
mod digest;
pub mod interrupt;
mod key;
pub mod merge;
pub mod output;
pub mod result;
pub mod runner;
pub mod shard;
pub mod summarize;
#[cfg(test)]
mod testing;
pub mod translate;
pub mod verify;
pub mod warning;

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
pub use article::{
    check_length, process_article, process_article_with, window, ArticleOptions, Processed, Step,
    DEFAULT_MAX_ARTICLE_TOKENS, DEFAULT_WINDOW,
};
pub use digest::{digest, DigestOptions, DigestReport, Progress, Silent};
pub use interrupt::{signal_name, Interrupt};
pub use output::OutputLock;
pub use result::ArticleResult;

/// Hex sha256 of a file, read in blocks (model files are hundreds of MB).
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
