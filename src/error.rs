//! One error type for the library; the binary turns it into a one-line message.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a file or stream failed.
    // The cause is in the message and not also a `#[source]`: `{:#}` would print
    // it twice.
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The article text cannot be used (empty, binary, not UTF-8, ...).
    #[error("{0}")]
    Input(String),
    /// The model cannot be found, opened or run.
    #[error("{0}")]
    Model(String),
    /// The tokenizer cannot be built from the model, or failed on a text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template does not parse or render.
    #[error("chat template: {0}")]
    Template(String),
    /// A prompt does not fit in the model's context.
    #[error("{0}")]
    Context(String),
    /// The work on one article ran past its deadline.
    #[error("{0}")]
    Deadline(String),
    /// The requester went away (an HTTP client hung up): the work was stopped.
    #[error("{0}")]
    Cancelled(String),
    /// The output folder is in use by another run.
    #[error("{0}")]
    Busy(String),
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }
}

/// The message a panic carried, for an "internal error" line.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown")
}
