//! Running one prompt on the model for the digest, with the token accounting and
//! window checks every job needs.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::chunk::TokenCount;
use crate::error::{Error, Result};
use crate::model::{GenerateOptions, Model};
use crate::prompts::Prompt;

/// A model with the digest's working window; shared by the jobs of one article
/// (each generation gets its own KV cache), counting the tokens they use.
pub struct Runner<'m> {
    pub model: &'m Model,
    /// Prompt plus answer never exceed this many tokens.
    pub window: usize,
    tokens_in: AtomicU64,
    tokens_out: AtomicU64,
}

impl<'m> Runner<'m> {
    pub fn new(model: &'m Model, window: usize) -> Self {
        Self {
            model,
            window,
            tokens_in: AtomicU64::new(0),
            tokens_out: AtomicU64::new(0),
        }
    }

    /// Greedy answer to `prompt`, at most `max_tokens` long, trimmed.
    pub fn answer(&self, prompt: &Prompt, max_tokens: usize) -> Result<String> {
        let ids = self.model.prompt_tokens(prompt)?;
        if ids.len() + max_tokens > self.window {
            // Budgets are computed so that this does not happen; say so if it does.
            return Err(Error::Context(format!(
                "a {}-token prompt with {max_tokens} tokens of answer does not fit the \
                 {}-token window",
                ids.len(),
                self.window
            )));
        }
        let opts = GenerateOptions {
            max_tokens,
            stop: prompt.stop().iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let g = self.model.generate(&ids, &opts, &mut |_| {})?;
        self.tokens_in
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        self.tokens_out
            .fetch_add(g.generated_tokens() as u64, Ordering::Relaxed);
        Ok(g.text.trim().to_string())
    }

    /// Tokens of `text` alone, as the model's tokenizer counts them.
    pub fn count(&self, text: &str) -> Result<usize> {
        self.model.tokenizer.count(text)
    }

    /// Tokens a prompt adds around its text (template, instructions), measured on
    /// an empty text, plus a margin for merges at the text's edges.
    pub fn overhead(&self, prompt: &Prompt) -> Result<usize> {
        Ok(self.model.prompt_tokens(prompt)?.len() + 8)
    }

    /// (prompt tokens, generated tokens) so far.
    pub fn tokens(&self) -> (u64, u64) {
        (
            self.tokens_in.load(Ordering::Relaxed),
            self.tokens_out.load(Ordering::Relaxed),
        )
    }
}
