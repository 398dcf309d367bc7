//! The generation loop: prefill the prompt, then pick tokens one at a time until
//! an end-of-generation token or the token budget.

use std::time::Instant;

use candle_core::Tensor;
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
    /// End the answer once it has this many sentences and starts another (which
    /// is left out): a summary that copies the article is known to be too long
    /// long before its token limit.
    pub max_sentences: Option<usize>,
    /// End earlier, after fewer sentences, where they are good enough.
    pub enough: Option<Enough>,
    /// The prompt's last this many tokens are a text to score, not to go on
    /// from: each one's log-probability given what comes before it goes into
    /// [`Generation::logprobs`], and nothing is generated. The model is taught
    /// the text (read as prompt rows) rather than asked to write it.
    pub score: usize,
}

/// An earlier end by sentences: once `sentences` are written and another begins,
/// the answer ends there if `accept` takes the text so far (a summary whose
/// sentences all check out needs no spare for the checks to drop). Asked once.
#[derive(Clone)]
pub struct Enough {
    pub sentences: usize,
    pub accept: std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

impl std::fmt::Debug for Enough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Enough({} sentences)", self.sentences)
    }
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
            max_sentences: None,
            enough: None,
            score: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndOfGeneration,
    MaxTokens,
    ContextFull,
    /// [`GenerateOptions::max_sentences`] were written, or [`GenerateOptions::enough`].
    Sentences,
}

impl StopReason {
    /// The answer may have been cut short by a token limit.
    pub fn is_cut(self) -> bool {
        matches!(self, StopReason::MaxTokens | StopReason::ContextFull)
    }
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    pub ids: Vec<u32>,
    pub prompt_tokens: usize,
    pub prompt_seconds: f64,
    pub generate_seconds: f64,
    pub stop: StopReason,
    /// Natural log-probabilities of the scored tokens ([`GenerateOptions::score`]).
    pub logprobs: Vec<f32>,
}

impl Generation {
    pub fn generated_tokens(&self) -> usize {
        self.ids.len()
    }
}

/// Prompts are prefilled at most this many positions at a time: llama.cpp's
/// default micro-batch, so long prompts are computed as it computes them, and
/// the same way whatever else is being generated (a scheduler interleaves these
/// chunks with decode steps of other sequences).
pub const PREFILL_CHUNK: usize = 512;

impl Model {
    /// Generates from `prompt` token ids, calling `on_text` with each piece of
    /// text as soon as it is complete (for streaming). One sequence on the
    /// calling thread; [`super::scheduler::Scheduler`] runs many in one batch,
    /// through the same [`Sequence`] steps and with the same results.
    pub fn generate(
        &self,
        prompt: &[u32],
        opts: &GenerateOptions,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let mut seq = Sequence::new(self, prompt.to_vec(), Vec::new(), opts.clone())?;
        while !seq.is_done() {
            let logits = match seq.prefill_chunk() {
                Some(chunk) => {
                    let chunk = chunk.to_vec();
                    let first = seq.first_logit_row(chunk.len());
                    let rows = self.weights.forward_prompt_rows(
                        &[&chunk],
                        &mut [&mut seq.cache],
                        &[first],
                    )?;
                    seq.prefilled_rows(chunk.len(), &rows)?;
                    if seq.is_prefilling() || seq.is_done() {
                        continue;
                    }
                    rows.get(rows.dim(0)? - 1)?
                }
                None => self.weights.forward(&[seq.last_token()], &mut seq.cache)?,
            };
            on_text(&seq.accept(&logits)?);
            seq.past_deadline()?;
        }
        let (text, generation) = seq.finish();
        on_text(&text);
        Ok(generation)
    }
}

/// One sequence being generated, step by step: its prompt (prefilled in
/// chunks that end at its cache points), KV cache, sampler, stop rules and
/// decoded text. The steps' forward passes are run by the caller, alone or in
/// a batch with other sequences.
pub struct Sequence<'m> {
    prompt: Vec<u32>,
    /// Prompt positions where a chunk ends, so the KV before them can be
    /// cached and reused by other prompts with the same head.
    cache_points: Vec<usize>,
    /// Prompt tokens already in the cache.
    done_prompt: usize,
    pub cache: super::transformer::KvCache,
    opts: GenerateOptions,
    sampler: LogitsProcessor,
    eog: Vec<u32>,
    max_new: usize,
    stream: TokenStream<'m>,
    out: StopText,
    ids: Vec<u32>,
    stop: Option<StopReason>,
    started: Instant,
    prompt_seconds: f64,
    /// A checked draft computes each row exactly as a decode step would.
    drafts_exact: bool,
    /// Log-probabilities of the scored prompt tokens so far.
    logprobs: Vec<f32>,
}

impl<'m> Sequence<'m> {
    /// Checks the prompt against the context and sets up sampling; nothing runs yet.
    pub fn new(
        model: &'m Model,
        prompt: Vec<u32>,
        cache_points: Vec<usize>,
        opts: GenerateOptions,
    ) -> Result<Self> {
        let ctx = model.context_length();
        if prompt.is_empty() {
            return Err(Error::Context("the prompt is empty".into()));
        }
        if opts.score >= prompt.len() {
            return Err(Error::Context(format!(
                "cannot score {} tokens of a {}-token prompt: the first token has nothing \
                 before it",
                opts.score,
                prompt.len()
            )));
        }
        if prompt.len() >= ctx {
            return Err(Error::Context(format!(
                "the prompt is {} tokens but {} has a context of {ctx} tokens; \
                 shorten the input",
                prompt.len(),
                model.name
            )));
        }
        // A scored text ends the sequence: nothing is generated after it.
        let max_new = match opts.score {
            0 => opts.max_tokens.min(ctx - prompt.len()),
            _ => 0,
        };
        if max_new < opts.max_tokens && opts.score == 0 {
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
        let mut cache_points = cache_points;
        // The row before a scored text is computed, never resumed past: its
        // logits score the text's first token.
        let end = prompt.len() - opts.score;
        cache_points.retain(|&p| p > 0 && p < end);
        cache_points.sort_unstable();
        cache_points.dedup();
        Ok(Self {
            sampler: LogitsProcessor::from_sampling(opts.seed, sampling),
            eog: model.tokenizer.eog_ids(),
            cache: model.weights.new_cache(prompt.len() + max_new)?,
            stream: TokenStream::new(&model.tokenizer),
            out: StopText::new(opts.stop.clone())
                .ending_after(opts.max_sentences, opts.enough.clone()),
            prompt,
            cache_points,
            done_prompt: 0,
            opts,
            max_new,
            ids: Vec::new(),
            stop: None,
            started: Instant::now(),
            prompt_seconds: 0.0,
            drafts_exact: model.weights.rows_independent(),
            logprobs: Vec::new(),
        })
    }

    pub fn prompt(&self) -> &[u32] {
        &self.prompt
    }

    pub fn cache_points(&self) -> &[usize] {
        &self.cache_points
    }

    /// Positions of KV this sequence will hold at most (prompt and answer).
    pub fn capacity(&self) -> usize {
        self.prompt.len() + self.max_new
    }

    /// Starts from a cached KV of the prompt's first `len` tokens (a cache point).
    pub fn resume_from(&mut self, prefix: &super::transformer::KvCache) -> Result<()> {
        let len = prefix.len();
        if !self.cache_points.contains(&len) {
            return Err(Error::Context(format!(
                "a cached prefix of {len} tokens is not at a cache point of this prompt"
            )));
        }
        self.cache = prefix.extended(self.capacity());
        self.done_prompt = len;
        Ok(())
    }

    pub fn is_prefilling(&self) -> bool {
        self.done_prompt < self.prompt.len()
    }

    pub fn is_done(&self) -> bool {
        self.stop.is_some()
    }

    /// The prompt tokens the next prefill step runs: up to the next cache point,
    /// at most [`PREFILL_CHUNK`]; `None` once the prompt is in the cache.
    pub fn prefill_chunk(&self) -> Option<&[u32]> {
        let from = self.done_prompt;
        if from >= self.prompt.len() {
            return None;
        }
        let point = self
            .cache_points
            .iter()
            .copied()
            .find(|&p| p > from)
            .unwrap_or(self.prompt.len());
        let to = point.min(from + PREFILL_CHUNK);
        Some(&self.prompt[from..to])
    }

    /// Records that the caller ran `n` prompt tokens of [`Self::prefill_chunk`].
    pub fn prefilled(&mut self, n: usize) {
        self.done_prompt += n;
        if !self.is_prefilling() {
            self.prompt_seconds = self.started.elapsed().as_secs_f64();
        }
    }

    /// The first row of a prefill chunk of `len` tokens whose logits this
    /// sequence needs: the last (its next token is picked from it), or every
    /// row from the one before the first scored token.
    pub fn first_logit_row(&self, len: usize) -> usize {
        let last = len - 1;
        match self.opts.score {
            0 => last,
            n => (self.prompt.len() - n - 1)
                .saturating_sub(self.done_prompt)
                .min(last),
        }
    }

    /// [`Self::prefilled`], given the logits of the chunk's rows from
    /// [`Self::first_logit_row`] on: the scored tokens among the next rows'
    /// get their log-probabilities, and a scored sequence ends with its prompt.
    pub fn prefilled_rows(&mut self, n: usize, rows: &Tensor) -> Result<()> {
        if self.opts.score > 0 {
            let first = self.first_logit_row(n);
            let scored_from = self.prompt.len() - self.opts.score;
            let rows: Vec<Vec<f32>> = rows.to_vec2()?;
            for (r, logits) in rows.iter().enumerate() {
                // row `first + r` of the chunk predicts the token after it
                let next = self.done_prompt + first + r + 1;
                if next >= scored_from && next < self.prompt.len() {
                    self.logprobs
                        .push(log_softmax_at(logits, self.prompt[next]));
                }
            }
        }
        self.prefilled(n);
        if self.opts.score > 0 && !self.is_prefilling() {
            self.stop = Some(StopReason::EndOfGeneration);
        }
        Ok(())
    }

    /// Whether the cache now ends at one of the prompt's cache points.
    pub fn at_cache_point(&self) -> bool {
        self.cache_points.contains(&self.done_prompt)
    }

    /// Prompt tokens already in the cache.
    pub fn prompt_done(&self) -> usize {
        self.done_prompt
    }

    /// Tokens picked so far.
    pub fn generated(&self) -> usize {
        self.ids.len()
    }

    /// The token the next decode step feeds (the last one picked).
    pub fn last_token(&self) -> u32 {
        *self
            .ids
            .last()
            .expect("a decode step follows a picked token")
    }

    /// Picks the next token from the logits of the last position (after the
    /// prompt, or after a decode step); returns the text it completes.
    pub fn accept(&mut self, logits: &Tensor) -> Result<String> {
        let mut text = String::new();
        let mut emit = |t: &str| text.push_str(t);
        let mut logits = logits.flatten_all()?;
        if self.opts.repeat_penalty != 1.0 {
            let start = self.ids.len().saturating_sub(self.opts.repeat_last_n);
            logits = candle_transformers::utils::apply_repeat_penalty(
                &logits,
                self.opts.repeat_penalty,
                &self.ids[start..],
            )?;
        }
        let next = self.sampler.sample(&logits)?;
        if !self.opts.ignore_eos && self.eog.contains(&next) {
            self.stop = Some(StopReason::EndOfGeneration);
            return Ok(text);
        }
        self.ids.push(next);
        if let Some(piece) = self.stream.push(next)? {
            if self.out.push(&piece, &mut emit) {
                self.stop = Some(match self.out.sentences_done {
                    true => StopReason::Sentences,
                    false => StopReason::EndOfGeneration,
                });
                return Ok(text);
            }
        }
        if self.ids.len() >= self.max_new {
            self.stop = Some(if self.max_new < self.opts.max_tokens {
                StopReason::ContextFull
            } else {
                StopReason::MaxTokens
            });
            return Ok(text);
        }
        Ok(text)
    }

    /// After a step's tokens are picked and delivered: an error if the sequence
    /// is still going and its deadline has passed. Checked per step, not per
    /// token, so that a checked draft's picked tokens all reach the requester.
    pub fn past_deadline(&self) -> Result<()> {
        if !self.is_done() && self.opts.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::Deadline(format!(
                "the deadline passed after {} generated tokens",
                self.ids.len()
            )));
        }
        Ok(())
    }

    /// Up to `max` tokens the answer may go on with, copied from the prompt
    /// ([`super::lookup`]), to be checked by [`Self::accept_drafted`]. Empty
    /// unless the picking is greedy without a repeat penalty and every
    /// projection runs on our kernels (only then is a checked draft exactly
    /// what one-at-a-time decoding gives).
    pub fn draft(&self, max: usize) -> Vec<u32> {
        let exact =
            self.drafts_exact && self.opts.temperature <= 0.0 && self.opts.repeat_penalty == 1.0;
        // the last picked token is fed too, and each checked row picks one
        let room = self.max_new.saturating_sub(self.ids.len() + 1);
        if !exact || self.is_prefilling() || self.ids.is_empty() || room == 0 {
            return Vec::new();
        }
        let history: Vec<u32> = self.prompt.iter().chain(&self.ids).copied().collect();
        super::lookup::draft(&history, max.min(room))
    }

    /// Picks tokens from the logits of a checked draft ([`Transformer::verify`]
    /// over the last picked token and `draft`, (rows, vocab)) while the
    /// draft holds, and drops the cache rows past the last one used. Returns
    /// the text and how many of the draft's tokens were kept.
    ///
    /// [`Transformer::verify`]: super::transformer::Transformer::verify
    pub fn accept_drafted(&mut self, logits: &Tensor, draft: &[u32]) -> Result<(String, usize)> {
        let start = self.cache.len() - (draft.len() + 1);
        let mut text = String::new();
        let mut rows = 0;
        for i in 0..=draft.len() {
            text.push_str(&self.accept(&logits.get(i)?)?);
            rows = i + 1;
            if self.is_done() || i == draft.len() || self.last_token() != draft[i] {
                break;
            }
        }
        self.cache.truncate(start + rows);
        Ok((text, rows - 1))
    }

    /// The generation, and the text still held back for streaming.
    pub fn finish(mut self) -> (String, Generation) {
        let stop = self.stop.unwrap_or(StopReason::MaxTokens);
        let mut rest = String::new();
        let mut emit = |t: &str| rest.push_str(t);
        if stop != StopReason::EndOfGeneration {
            if let Ok(Some(piece)) = self.stream.finish() {
                self.out.push(&piece, &mut emit);
            }
        }
        let text = self.out.finish(&mut emit);
        let generation = Generation {
            text,
            ids: self.ids,
            prompt_tokens: self.prompt.len(),
            prompt_seconds: self.prompt_seconds,
            generate_seconds: self.started.elapsed().as_secs_f64() - self.prompt_seconds,
            stop,
            logprobs: self.logprobs,
        };
        (rest, generation)
    }
}

/// The natural log-probability of token `id` under `logits` (computed in f64).
fn log_softmax_at(logits: &[f32], id: u32) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&x| f64::from(x - max).exp()).sum();
    (f64::from(logits[id as usize] - max) - sum.ln()) as f32
}

/// Generated text with stop strings: text is passed on as soon as it cannot be
/// the start of a stop string, and everything from a stop string on is dropped.
struct StopText {
    stop: Vec<String>,
    text: String,
    emitted: usize,
    /// End after this many sentences ([`GenerateOptions::max_sentences`]).
    sentences: Option<usize>,
    /// End earlier where these sentences are enough (taken once asked).
    enough: Option<Enough>,
    /// Ended by `sentences` or `enough`, not a stop string.
    sentences_done: bool,
}

impl StopText {
    fn new(stop: Vec<String>) -> Self {
        Self {
            stop,
            text: String::new(),
            emitted: 0,
            sentences: None,
            enough: None,
            sentences_done: false,
        }
    }

    fn ending_after(mut self, sentences: Option<usize>, enough: Option<Enough>) -> Self {
        self.sentences = sentences;
        self.enough = enough;
        self
    }

    /// Adds a piece; true when a stop string has been reached.
    fn push(&mut self, piece: &str, on_text: &mut dyn FnMut(&str)) -> bool {
        // Only a stop string ending in the new piece can be new: search from where
        // the longest one could start, not the whole answer again.
        let longest = self.stop.iter().map(String::len).max().unwrap_or(0);
        let from = self
            .text
            .floor_char_boundary(self.text.len().saturating_sub(longest.saturating_sub(1)));
        self.text.push_str(piece);
        let tail = &self.text[from..];
        if let Some(at) = self
            .stop
            .iter()
            .filter_map(|s| tail.find(s.as_str()).map(|i| from + i))
            .min()
        {
            self.text.truncate(at);
            self.flush(self.text.len(), on_text);
            return true;
        }
        // A sentence past the count ends the text before it is streamed: the
        // reader never sees the start of a sentence that is then taken back.
        // The text is cut into sentences once per piece, for both limits.
        let found = match (&self.enough, self.sentences) {
            (None, None) => Vec::new(),
            _ => crate::sentence::sentences(&self.text),
        };
        let mut end = None;
        if let Some(at) = (self.enough.as_ref()).and_then(|e| ends_after(&found, e.sentences)) {
            let enough = self.enough.take().expect("just seen");
            end = (enough.accept)(&self.text[..at]).then_some(at);
        }
        let end = end.or_else(|| self.sentences.and_then(|n| ends_after(&found, n)));
        if let Some(end) = end {
            self.text.truncate(end);
            self.emitted = self.emitted.min(end);
            self.flush(end, on_text);
            self.sentences_done = true;
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

/// Where the first `n` sentences of `text` end, once a further one has begun.
#[cfg(test)]
fn sentences_end(text: &str, n: usize) -> Option<usize> {
    ends_after(&crate::sentence::sentences(text), n)
}

/// Where the first `n` of `found` (a text's sentences) end, once a further one
/// has begun.
fn ends_after(found: &[crate::sentence::Sentence], n: usize) -> Option<usize> {
    (found.len() > n && n > 0).then(|| found[n - 1].range.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_end_after_their_sentences() {
        assert_eq!(sentences_end("One. Two. Thr", 2), Some(9));
        assert_eq!(sentences_end("One. Two.", 2), None);
        assert_eq!(sentences_end("The U.S. said so. Then", 1), Some(17));
    }

    #[test]
    fn a_sentence_past_the_count_is_never_streamed() {
        let mut st = StopText::new(Vec::new()).ending_after(Some(2), None);
        let mut streamed = String::new();
        let mut ended = false;
        for p in ["One.", " Two.", " Thr", "ee."] {
            if st.push(p, &mut |t| streamed.push_str(t)) {
                ended = true;
                break;
            }
        }
        assert!(ended && st.sentences_done);
        assert_eq!(st.finish(&mut |t| streamed.push_str(t)), "One. Two.");
        assert!(!streamed.contains("Thr"), "{streamed:?}");
    }

    /// Pieces pushed until the text ends; the text, and whether it ended early.
    fn ended_text(mut st: StopText, pieces: &[&str]) -> (String, bool) {
        let ended = pieces.iter().any(|p| st.push(p, &mut |_| {}));
        let done = st.sentences_done;
        (st.finish(&mut |_| {}), ended && done)
    }

    #[test]
    fn enough_sentences_end_the_answer_only_where_accepted() {
        let pieces = ["One.", " Two.", " Three.", " Four.", " Fi"];
        let enough = |ok: bool| Enough {
            sentences: 2,
            accept: std::sync::Arc::new(move |text: &str| {
                assert_eq!(text, "One. Two.");
                ok
            }),
        };
        let st = StopText::new(Vec::new()).ending_after(Some(3), Some(enough(true)));
        assert_eq!(ended_text(st, &pieces), ("One. Two.".to_string(), true));
        // Refused: asked once, and the answer runs on to its most sentences.
        let st = StopText::new(Vec::new()).ending_after(Some(3), Some(enough(false)));
        assert_eq!(
            ended_text(st, &pieces),
            ("One. Two. Three.".to_string(), true)
        );
    }

    fn run(stop: &[&str], pieces: &[&str]) -> (String, String, bool) {
        let stop: Vec<String> = stop.iter().map(|s| s.to_string()).collect();
        let mut st = StopText::new(stop);
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
