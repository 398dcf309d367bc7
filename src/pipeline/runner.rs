//! Running one prompt on the model for the digest, with the token accounting and
//! window checks every job needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::chunk::TokenCount;
use crate::error::{Error, Result};
use crate::model::scheduler::Scheduler;
use crate::model::{GenerateOptions, Model, StopReason};
use crate::prompts::Prompt;

/// The generation scheduler with the working window of one article's jobs,
/// counting the tokens they use.
pub struct Runner<'m> {
    pub model: &'m Model,
    scheduler: &'m Scheduler,
    /// Prompt plus answer never exceed this many tokens.
    pub window: usize,
    /// No generation starts (or goes on) after this.
    deadline: Option<(Instant, Duration)>,
    tokens_in: AtomicU64,
    tokens_out: AtomicU64,
}

/// One answer, and whether the token limit stopped it (it may then be cut short).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    pub cut: bool,
}

impl<'m> Runner<'m> {
    pub fn new(scheduler: &'m Scheduler, window: usize) -> Self {
        Self {
            model: &scheduler.model,
            scheduler,
            window,
            deadline: None,
            tokens_in: AtomicU64::new(0),
            tokens_out: AtomicU64::new(0),
        }
    }

    /// The same, giving up on the work `limit` from now (`--deadline`).
    pub fn with_deadline(mut self, limit: Option<Duration>) -> Self {
        self.deadline = limit.map(|l| (Instant::now() + l, l));
        self
    }

    /// Greedy answer to `prompt`, at most `max_tokens` long, trimmed.
    pub fn answer(&self, prompt: &Prompt, max_tokens: usize) -> Result<Answer> {
        if let Some((at, limit)) = self.deadline {
            if Instant::now() >= at {
                return Err(deadline_error(limit));
            }
        }
        let (ids, cache_points) = self.model.prompt_ids(prompt)?;
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
            deadline: self.deadline.map(|(at, _)| at),
            ..Default::default()
        };
        let prompt_len = ids.len();
        let g = match self
            .scheduler
            .generate(ids, cache_points, opts, &mut |_| {})
        {
            Err(Error::Deadline(_)) => {
                return Err(deadline_error(
                    self.deadline.map_or(Duration::ZERO, |d| d.1),
                ))
            }
            other => other?,
        };
        self.tokens_in
            .fetch_add(prompt_len as u64, Ordering::Relaxed);
        self.tokens_out
            .fetch_add(g.generated_tokens() as u64, Ordering::Relaxed);
        Ok(Answer {
            text: g.text.trim().to_string(),
            cut: g.stop != StopReason::EndOfGeneration,
        })
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

fn deadline_error(limit: Duration) -> Error {
    Error::Deadline(format!(
        "gave up after {} s, the per-article deadline; raise it with --deadline SECONDS",
        limit.as_secs()
    ))
}
