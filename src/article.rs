//! Reading articles: a file or standard input, checked before any model time is
//! spent on it. Empty, binary, non-UTF-8 and oversized inputs are refused with a
//! reason that names the input.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Anything larger is not a news article (and would take hours to summarize).
pub const MAX_ARTICLE_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    /// Where it came from: a path, or `-` for standard input.
    pub source: String,
    pub text: String,
}

impl Article {
    /// Reads `path`, or standard input when it is `-`.
    pub fn read(path: &Path) -> Result<Self> {
        if path == Path::new("-") {
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(MAX_ARTICLE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::io("<stdin>", e))?;
            return Self::from_bytes("<stdin>", &bytes);
        }
        if path.is_dir() {
            return Err(Error::Input(format!(
                "{} is a directory, not an article file",
                path.display()
            )));
        }
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.len() > MAX_ARTICLE_BYTES as u64 {
            return Err(too_large(&path.display().to_string(), meta.len() as usize));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&path.display().to_string(), &bytes)
    }

    /// Validates raw bytes as article text.
    pub fn from_bytes(source: &str, bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_ARTICLE_BYTES {
            return Err(too_large(source, bytes.len()));
        }
        if looks_binary(bytes) {
            return Err(Error::Input(format!(
                "{source} looks like a binary file, not article text"
            )));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Error::Input(format!(
                "{source} is not valid UTF-8 (bad byte at offset {}); convert it first, \
                 e.g. `iconv -f latin1 -t utf-8`",
                e.valid_up_to()
            ))
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text).trim();
        if text.is_empty() {
            return Err(Error::Input(format!(
                "{source} is empty: no text to summarize"
            )));
        }
        Ok(Self {
            source: source.to_string(),
            text: text.to_string(),
        })
    }

    pub fn source_path(&self) -> Option<PathBuf> {
        (self.source != "<stdin>").then(|| PathBuf::from(&self.source))
    }
}

fn too_large(source: &str, len: usize) -> Error {
    Error::Input(format!(
        "{source} is {} MiB; articles over {} MiB are refused: split it first",
        len / (1024 * 1024),
        MAX_ARTICLE_BYTES / (1024 * 1024)
    ))
}

/// A NUL byte, or many control characters, in the first 8 KiB: text files have
/// neither.
fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return true;
    }
    let controls = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c))
        .count();
    controls * 20 > head.len().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_text_and_trims() {
        let a = Article::from_bytes("a.txt", "\u{feff}  Hello.\n\n".as_bytes()).unwrap();
        assert_eq!(a.text, "Hello.");
    }

    #[test]
    fn refuses_bad_input_with_reason() {
        let cases: [(&[u8], &str); 4] = [
            (b"", "is empty"),
            (b" \n\t \n", "is empty"),
            (b"PK\x03\x04\x00\x00binary", "binary"),
            (b"caf\xe9 au lait", "not valid UTF-8"),
        ];
        for (bytes, want) in cases {
            let err = Article::from_bytes("x.txt", bytes).unwrap_err().to_string();
            assert!(err.contains(want) && err.contains("x.txt"), "{err}");
        }
    }

    #[test]
    fn refuses_huge_input() {
        let big = vec![b'a'; MAX_ARTICLE_BYTES + 1];
        let err = Article::from_bytes("big.txt", &big)
            .unwrap_err()
            .to_string();
        assert!(err.contains("refused"), "{err}");
    }
}
