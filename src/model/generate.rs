//! The generation loop: prefill the prompt, then pick tokens one at a time until
//! an end-of-generation token or the token budget.

use std::time::Instant;

use candle_transformers::generation::{LogitsProcessor, Sampling};

use super::tokenizer::TokenStream;
use super::Model;
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    /// 0 (the default) is greedy: deterministic argmax.
    pub temperature: f64,
    pub top_p: Option<f64>,
    pub seed: u64,
    /// 1.0 is off.
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
    /// Keep going past end-of-generation tokens (benchmarks want a fixed length).
    pub ignore_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            temperature: 0.0,
            top_p: None,
            seed: 299792458,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            ignore_eos: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndOfGeneration,
    MaxTokens,
    ContextFull,
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    pub ids: Vec<u32>,
    pub prompt_tokens: usize,
    pub prompt_seconds: f64,
    pub generate_seconds: f64,
    pub stop: StopReason,
}

impl Generation {
    pub fn generated_tokens(&self) -> usize {
        self.ids.len()
    }
}

impl Model {
    /// Generates from `prompt` token ids, calling `on_text` with each piece of
    /// text as soon as it is complete (for streaming).
    pub fn generate(
        &self,
        prompt: &[u32],
        opts: &GenerateOptions,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let ctx = self.context_length();
        if prompt.is_empty() {
            return Err(Error::Context("the prompt is empty".into()));
        }
        if prompt.len() >= ctx {
            return Err(Error::Context(format!(
                "the prompt is {} tokens but {} has a context of {ctx} tokens; \
                 shorten the input",
                prompt.len(),
                self.name
            )));
        }
        let max_new = opts.max_tokens.min(ctx - prompt.len());
        if max_new < opts.max_tokens {
            tracing::warn!(
                "only {max_new} tokens of output fit in the context after a {}-token prompt",
                prompt.len()
            );
        }
        let sampling = if opts.temperature <= 0.0 {
            Sampling::ArgMax
        } else {
            match opts.top_p {
                Some(p) if p < 1.0 => Sampling::TopP {
                    p,
                    temperature: opts.temperature,
                },
                _ => Sampling::All {
                    temperature: opts.temperature,
                },
            }
        };
        let mut sampler = LogitsProcessor::from_sampling(opts.seed, sampling);
        let eog = self.tokenizer.eog_ids();
        let mut cache = self.weights.new_cache(prompt.len() + max_new)?;
        let mut stream = TokenStream::new(&self.tokenizer);
        let mut text = String::new();
        let mut emit = |piece: Option<String>, text: &mut String| {
            if let Some(p) = piece {
                on_text(&p);
                text.push_str(&p);
            }
        };

        let t0 = Instant::now();
        let mut logits = self.weights.forward(prompt, &mut cache)?;
        let prompt_seconds = t0.elapsed().as_secs_f64();

        let t1 = Instant::now();
        let mut ids: Vec<u32> = Vec::new();
        let mut stop = StopReason::MaxTokens;
        loop {
            if opts.repeat_penalty != 1.0 {
                let start = ids.len().saturating_sub(opts.repeat_last_n);
                logits = candle_transformers::utils::apply_repeat_penalty(
                    &logits,
                    opts.repeat_penalty,
                    &ids[start..],
                )?;
            }
            let next = sampler.sample(&logits)?;
            if !opts.ignore_eos && eog.contains(&next) {
                stop = StopReason::EndOfGeneration;
                break;
            }
            ids.push(next);
            emit(stream.push(next)?, &mut text);
            if ids.len() >= max_new {
                if max_new < opts.max_tokens {
                    stop = StopReason::ContextFull;
                }
                break;
            }
            logits = self.weights.forward(&[next], &mut cache)?;
        }
        emit(stream.finish()?, &mut text);
        Ok(Generation {
            text,
            ids,
            prompt_tokens: prompt.len(),
            prompt_seconds,
            generate_seconds: t1.elapsed().as_secs_f64(),
            stop,
        })
    }
}
