//! Streaming text out of generated ids.

use super::TextTokenizer;
use crate::error::Result;

/// Streams text out of generated ids.
///
/// Each step decodes the ids since the last emitted piece, with one id of context before
/// them, and emits the new suffix. The context id keeps decoders that strip a leading
/// space (SentencePiece) from eating real spaces; a trailing U+FFFD means a character is
/// split over ids (byte-level BPE or byte fallback), so the text waits for the next id.
pub struct TokenStream<'a> {
    tok: &'a TextTokenizer,
    ids: Vec<u32>,
    /// Start of the decode window (one id before the unsent ones).
    prev: usize,
    /// First id whose text has not been sent.
    current: usize,
}

impl<'a> TokenStream<'a> {
    pub fn new(tok: &'a TextTokenizer) -> Self {
        Self {
            tok,
            ids: Vec::new(),
            prev: 0,
            current: 0,
        }
    }

    /// Add one generated id; returns the text it completes, if any.
    pub fn push(&mut self, id: u32) -> Result<Option<String>> {
        let sent = self.tok.decode(&self.ids[self.prev..self.current])?;
        self.ids.push(id);
        let text = self.tok.decode(&self.ids[self.prev..])?;
        if text.ends_with('\u{FFFD}') || text.len() <= sent.len() {
            return Ok(None);
        }
        self.take(&text, &sent).map(Some)
    }

    /// The text still held back (an incomplete character at the end of generation).
    pub fn finish(&mut self) -> Result<Option<String>> {
        if self.current == self.ids.len() {
            return Ok(None);
        }
        let sent = self.tok.decode(&self.ids[self.prev..self.current])?;
        let text = self.tok.decode(&self.ids[self.prev..])?;
        let rest = self.take(&text, &sent)?;
        Ok(Some(rest).filter(|s| !s.is_empty()))
    }

    /// Text of the unsent ids, given the decoded window with and without them; moves on.
    fn take(&mut self, text: &str, sent: &str) -> Result<String> {
        let rest = match text.strip_prefix(sent) {
            Some(rest) => rest.to_string(),
            // The new ids changed how the sent ones decode (byte fallback turns a whole
            // run of invalid bytes into U+FFFD): decode the unsent ids alone.
            None => self.tok.decode(&self.ids[self.current..])?,
        };
        self.prev = self.current;
        self.current = self.ids.len();
        Ok(rest)
    }
}
