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
    /// Strings that end the answer (not included in it): base models have no
    /// end-of-turn token.
    pub stop: Vec<String>,
    /// Give up (with [`Error::Deadline`]) when a step would start after this.
    pub deadline: Option<Instant>,
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
            stop: Vec::new(),
            deadline: None,
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
        let mut out = StopText::new(&opts.stop);

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
            if let Some(piece) = stream.push(next)? {
                if out.push(&piece, on_text) {
                    stop = StopReason::EndOfGeneration;
                    break;
                }
            }
            if ids.len() >= max_new {
                if max_new < opts.max_tokens {
                    stop = StopReason::ContextFull;
                }
                break;
            }
            if opts.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Deadline(format!(
                    "the deadline passed after {} generated tokens",
                    ids.len()
                )));
            }
            logits = self.weights.forward(&[next], &mut cache)?;
        }
        if stop != StopReason::EndOfGeneration {
            if let Some(piece) = stream.finish()? {
                out.push(&piece, on_text);
            }
        }
        Ok(Generation {
            text: out.finish(on_text),
            ids,
            prompt_tokens: prompt.len(),
            prompt_seconds,
            generate_seconds: t1.elapsed().as_secs_f64(),
            stop,
        })
    }
}

/// Generated text with stop strings: text is passed on as soon as it cannot be
/// the start of a stop string, and everything from a stop string on is dropped.
struct StopText<'a> {
    stop: &'a [String],
    text: String,
    emitted: usize,
}

impl<'a> StopText<'a> {
    fn new(stop: &'a [String]) -> Self {
        Self {
            stop,
            text: String::new(),
            emitted: 0,
        }
    }

    /// Adds a piece; true when a stop string has been reached.
    fn push(&mut self, piece: &str, on_text: &mut dyn FnMut(&str)) -> bool {
        self.text.push_str(piece);
        if let Some(at) = self
            .stop
            .iter()
            .filter_map(|s| self.text.find(s.as_str()))
            .min()
        {
            self.text.truncate(at);
            self.flush(self.text.len(), on_text);
            return true;
        }
        // Hold back a tail that could still grow into a stop string.
        let text = &self.text;
        let hold = self
            .stop
            .iter()
            .flat_map(|s| {
                (1..s.len()).filter(move |&n| s.is_char_boundary(n) && text.ends_with(&s[..n]))
            })
            .max()
            .unwrap_or(0);
        self.flush(self.text.len() - hold, on_text);
        false
    }

    fn flush(&mut self, upto: usize, on_text: &mut dyn FnMut(&str)) {
        if upto > self.emitted && self.text.is_char_boundary(upto) {
            on_text(&self.text[self.emitted..upto]);
            self.emitted = upto;
        }
    }

    fn finish(mut self, on_text: &mut dyn FnMut(&str)) -> String {
        self.flush(self.text.len(), on_text);
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stop: &[&str], pieces: &[&str]) -> (String, String, bool) {
        let stop: Vec<String> = stop.iter().map(|s| s.to_string()).collect();
        let mut st = StopText::new(&stop);
        let mut streamed = String::new();
        let mut stopped = false;
        for p in pieces {
            if st.push(p, &mut |t| streamed.push_str(t)) {
                stopped = true;
                break;
            }
        }
        let text = st.finish(&mut |t| streamed.push_str(t));
        (text, streamed, stopped)
    }

    #[test]
    fn stop_string_split_across_pieces_is_cut() {
        let (text, streamed, stopped) =
            run(&["\n\n"], &["Turkey", " agreed.", "\n", "\nThe", " rest"]);
        assert!(stopped);
        assert_eq!(text, "Turkey agreed.");
        assert_eq!(streamed, text);
    }

    #[test]
    fn held_back_tail_is_released_when_it_is_not_a_stop() {
        let (text, streamed, stopped) = run(&["\n\n"], &["a", "\n", "b"]);
        assert!(!stopped);
        assert_eq!(text, "a\nb");
        assert_eq!(streamed, text);
    }

    #[test]
    fn no_stop_strings_pass_everything() {
        let (text, _, stopped) = run(&[], &["x", "\n\n", "y"]);
        assert!(!stopped);
        assert_eq!(text, "x\n\ny");
    }
}
