//! Running one prompt on the model for the digest, with the token accounting and
//! window checks every job needs.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::chunk::TokenCount;
use crate::error::{Error, Result};
use crate::model::scheduler::{Event, Pending, Scheduler};
use crate::model::{Enough, GenerateOptions, Model};
use crate::prompts::{MarkerFilter, Prompt};

/// The generation scheduler with the working window of one article's jobs,
/// counting the tokens they use.
pub struct Runner<'m> {
    pub model: &'m Model,
    scheduler: &'m Scheduler,
    /// Prompt plus answer never exceed this many tokens.
    pub window: usize,
    /// No generation starts (or goes on) after this.
    deadline: Option<(Instant, Duration)>,
    /// At most this many tokens per answer, whatever a step asks for.
    answer_cap: Option<usize>,
    tokens_in: AtomicU64,
    tokens_out: AtomicU64,
    /// Article id in the request log (`ABRIDGE_REQUEST_LOG`), and its requests
    /// (generations asked for) so far.
    label: Option<String>,
    requests: AtomicU64,
    /// Hears each generation's text as it is decoded, and may stop the work.
    watcher: Option<Arc<dyn Watcher>>,
    generations: AtomicU64,
}

/// Someone following a runner's generations as they happen (the server, streaming
/// to an editor), who may go away.
pub trait Watcher: Send + Sync {
    /// A piece of newly decoded text of generation `generation` (numbered from 0
    /// in the order the runner started them; a retry is a new generation), which
    /// `writes` what it is; fence markers copied from the prompt are left out.
    fn text(&self, generation: u64, writes: &Writes, piece: &str);
    /// True once nobody wants the answers any more: the generation in progress is
    /// cancelled and the work ends with [`Error::Cancelled`].
    fn cancelled(&self) -> bool;
}

/// How often a watched generation checks whether its watcher went away.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// One generation to ask for: greedy unless `sample` says otherwise.
#[derive(Debug, Clone)]
pub struct Ask {
    pub prompt: Prompt,
    pub max_tokens: usize,
    pub sample: Option<Sample>,
    /// End the answer after this many sentences ([`GenerateOptions::max_sentences`]).
    pub max_sentences: Option<usize>,
    /// End earlier where fewer sentences are enough ([`GenerateOptions::enough`]).
    pub enough: Option<Enough>,
    /// An answer to score rather than one to write: the model is taught this
    /// text as its answer and [`Answer::logprobs`] says how likely it found
    /// each token ([`GenerateOptions::score`]). Read as prompt rows, it costs
    /// a fraction of generating as much.
    pub taught: Option<String>,
    pub writes: Writes,
}

impl Ask {
    /// A greedy ask with no sentence limit.
    pub fn new(prompt: Prompt, max_tokens: usize, writes: Writes) -> Self {
        Self {
            prompt,
            max_tokens,
            sample: None,
            max_sentences: None,
            enough: None,
            taught: None,
            writes,
        }
    }

    /// `answer` to `prompt`, scored: how likely the model finds it, end of the
    /// answer included.
    pub fn taught(prompt: Prompt, answer: &str, writes: Writes) -> Self {
        Self {
            taught: Some(answer.to_string()),
            ..Self::new(prompt, 0, writes)
        }
    }

    /// The same, sampled as `sample` says (`None`: greedy).
    pub fn sampled(mut self, sample: Option<Sample>) -> Self {
        self.sample = sample;
        self
    }

    /// The same, ended after `n` sentences.
    pub fn sentences(mut self, n: Option<usize>) -> Self {
        self.max_sentences = n;
        self
    }

    /// The same, ended earlier where `enough` accepts the sentences so far.
    pub fn enough(mut self, enough: Option<Enough>) -> Self {
        self.enough = enough;
        self
    }
}

/// What a generation writes, so a watcher can show it for what it is (a reader
/// watching French being written is told it is French, and is not shown the
/// English of its round trip as if it were the translation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writes {
    /// Text for the reader as it is (a summary, or a part of one).
    Text,
    /// A translation into this language (ISO 639-1 code).
    Translation(String),
    /// The English of a translation from this language, for its meaning check.
    RoundTrip(String),
    /// A yes-or-no check of the summary.
    Check,
}

/// Sampling with a fixed seed: another candidate, the same one on every run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub temperature: f64,
    pub seed: u64,
}

/// One answer, and whether the token limit stopped it (it may then be cut short).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub text: String,
    pub cut: bool,
    /// A taught answer's tokens' natural log-probabilities ([`Ask::taught`]).
    pub logprobs: Vec<f32>,
}

impl Answer {
    /// How surprised the model was by a taught answer: the sum of its tokens'
    /// negative log-probabilities, in nats.
    pub fn surprisal(&self) -> f32 {
        -self.logprobs.iter().sum::<f32>()
    }
}

impl<'m> Runner<'m> {
    pub fn new(scheduler: &'m Scheduler, window: usize) -> Self {
        Self {
            model: &scheduler.model,
            scheduler,
            window,
            deadline: None,
            answer_cap: None,
            tokens_in: AtomicU64::new(0),
            tokens_out: AtomicU64::new(0),
            label: None,
            requests: AtomicU64::new(0),
            watcher: None,
            generations: AtomicU64::new(0),
        }
    }

    /// The same, telling `watcher` each generation's text as it comes.
    pub fn with_watcher(mut self, watcher: Arc<dyn Watcher>) -> Self {
        self.watcher = Some(watcher);
        self
    }

    /// The same, naming its requests `label` (the article id) in the request log.
    pub fn with_label(mut self, label: String) -> Self {
        self.label = Some(label);
        self
    }

    /// The same, giving up on the work `limit` from now (`--deadline`).
    pub fn with_deadline(mut self, limit: Option<Duration>) -> Self {
        self.deadline = limit.map(|l| (Instant::now() + l, l));
        self
    }

    /// The same, answers capped at `cap` tokens (`--max-answer-tokens`).
    pub fn with_answer_cap(mut self, cap: Option<usize>) -> Self {
        self.answer_cap = cap;
        self
    }

    /// The token limit an answer asked for with `max_tokens` gets.
    pub fn limit(&self, max_tokens: usize) -> usize {
        self.answer_cap
            .map_or(max_tokens, |cap| max_tokens.min(cap))
    }

    /// Greedy answer to `prompt`, at most [`Runner::limit`]`(max_tokens)` long,
    /// trimmed; streamed as [`Writes::Text`].
    pub fn answer(&self, prompt: &Prompt, max_tokens: usize) -> Result<Answer> {
        self.answer_one(&Ask::new(prompt.clone(), max_tokens, Writes::Text))
    }

    /// The answer to one ask.
    pub fn answer_one(&self, ask: &Ask) -> Result<Answer> {
        let mut answers = self.answer_all(std::slice::from_ref(ask))?;
        Ok(answers.pop().expect("one answer per ask"))
    }

    /// Answers to every ask, generated together: all are submitted to the scheduler
    /// before the first is waited for, so they fill its batch (the units and
    /// languages of a translation, its candidates, their back-translations). In the
    /// asks' order; an error (deadline, cancel) ends them all.
    pub fn answer_all(&self, asks: &[Ask]) -> Result<Vec<Answer>> {
        if let Some((at, limit)) = self.deadline {
            if Instant::now() >= at {
                return Err(deadline_error(limit));
            }
        }
        // Every prompt is made before any is submitted: the scheduler then finds
        // them all queued together and reads their prompts in shared passes.
        let mut ready = Vec::with_capacity(asks.len());
        for ask in asks {
            let max_tokens = self.limit(ask.max_tokens);
            let (mut ids, cache_points) = self.model.prompt_ids(&ask.prompt)?;
            let score = match &ask.taught {
                Some(answer) => self.append_answer(&mut ids, &ask.prompt, answer)?,
                None => 0,
            };
            if ids.len() + max_tokens > self.window {
                // Budgets are computed so that this does not happen; say so if it does.
                return Err(Error::Context(format!(
                    "a {}-token prompt with {max_tokens} tokens of answer does not fit the \
                     {}-token window",
                    ids.len(),
                    self.window
                )));
            }
            let (temperature, seed) = ask
                .sample
                .map_or((0.0, GenerateOptions::default().seed), |s| {
                    (s.temperature, s.seed)
                });
            let opts = GenerateOptions {
                max_tokens,
                temperature,
                seed,
                stop: ask.prompt.stop().iter().map(|s| s.to_string()).collect(),
                deadline: self.deadline.map(|(at, _)| at),
                max_sentences: ask.max_sentences,
                enough: ask.enough.clone(),
                score,
                ..Default::default()
            };
            self.log_request(&ids, max_tokens, &opts.stop);
            ready.push((ids, cache_points, opts, &ask.writes));
        }
        let mut submitted = Vec::with_capacity(asks.len());
        for (ids, cache_points, opts, writes) in ready {
            let prompt_len = ids.len();
            submitted.push((prompt_len, writes, self.submit(ids, cache_points, opts)?));
        }
        let mut answers = Vec::with_capacity(asks.len());
        for (prompt_len, writes, pending) in submitted {
            let g = match self.wait(pending, writes) {
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
            tracing::debug!(
                "answer ({} prompt tokens, {} generated): {:?}",
                prompt_len,
                g.generated_tokens(),
                g.text
            );
            answers.push(Answer {
                text: g.text.trim().to_string(),
                cut: g.stop.is_cut(),
                logprobs: g.logprobs,
            });
        }
        Ok(answers)
    }

    /// Appends `answer` and the end of the answer (the end-of-turn token of a
    /// chat, the stop string of a completion) to a prompt's `ids`; returns how
    /// many tokens that added.
    fn append_answer(&self, ids: &mut Vec<u32>, prompt: &Prompt, answer: &str) -> Result<usize> {
        let tokenizer = &self.model.tokenizer;
        let before = ids.len();
        ids.extend(tokenizer.encode(answer, false)?);
        match prompt {
            Prompt::Chat(_) => ids.extend(tokenizer.eos_id()),
            Prompt::Completion { stop, .. } => {
                if let Some(stop) = stop.first() {
                    ids.extend(tokenizer.encode(stop, false)?);
                }
            }
        }
        Ok(ids.len() - before)
    }

    /// Queues one generation (refused at once if the watcher went away).
    fn submit(
        &self,
        ids: Vec<u32>,
        cache_points: Vec<usize>,
        opts: GenerateOptions,
    ) -> Result<Pending> {
        if self.cancelled() {
            return Err(cancelled());
        }
        self.scheduler.submit(ids, cache_points, opts)
    }

    /// Waits for one generation, streaming its text to the watcher if there is one.
    /// Dropping `pending` on the way out cancels the sequence in the scheduler.
    fn wait(&self, pending: Pending, writes: &Writes) -> Result<crate::model::Generation> {
        let Some(watcher) = &self.watcher else {
            return pending.wait(&mut |_| {});
        };
        let n = self.generations.fetch_add(1, Ordering::Relaxed);
        // The answer is unfenced once whole; its pieces must be as the reader sees them.
        let mut markers = MarkerFilter::default();
        loop {
            match pending.next_timeout(CANCEL_POLL) {
                Ok(Event::Text(piece)) => watcher.text(n, writes, &markers.push(&piece)),
                Ok(Event::Done(result)) => {
                    watcher.text(n, writes, &markers.finish());
                    return result;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Error::Model(
                        "the generation thread stopped (see the error before this one)".into(),
                    ))
                }
            }
            if watcher.cancelled() {
                return Err(cancelled());
            }
        }
    }

    /// True once the watcher (if any) went away.
    pub fn cancelled(&self) -> bool {
        self.watcher.as_ref().is_some_and(|w| w.cancelled())
    }

    /// Tokens of `text` alone, as the model's tokenizer counts them.
    pub fn count(&self, text: &str) -> Result<usize> {
        self.model.tokenizer.count(text)
    }

    /// Tokens a prompt adds around its text (template, instructions), measured on
    /// an empty text, plus a margin for merges at the text's edges.
    pub fn overhead(&self, prompt: &Prompt) -> Result<usize> {
        Self::prompt_overhead(self.model, prompt)
    }

    /// [`Self::overhead`] on `model`, before any runner exists.
    pub fn prompt_overhead(model: &Model, prompt: &Prompt) -> Result<usize> {
        Ok(model.prompt_tokens(prompt)?.len() + 8)
    }

    /// (prompt tokens, generated tokens) so far.
    /// Generations asked for so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn tokens(&self) -> (u64, u64) {
        (
            self.tokens_in.load(Ordering::Relaxed),
            self.tokens_out.load(Ordering::Relaxed),
        )
    }
}

impl Runner<'_> {
    /// Opt-in request log, for replaying the exact prompts on another engine
    /// (scripts/bench-digest.sh against llama-server): with `ABRIDGE_REQUEST_LOG=<path>`
    /// set, every generation request appends one JSON line
    /// `{"article", "seq" (its order within the article), "prompt" (token ids),
    /// "max_tokens", "stop"}` to that file, under a lock and with one `write` of
    /// an `O_APPEND` file, so lines of concurrent articles never interleave.
    /// Logging never fails the request.
    fn log_request(&self, ids: &[u32], max_tokens: usize, stop: &[String]) {
        static LOG: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
        let log = LOG.get_or_init(|| {
            let path = std::env::var_os("ABRIDGE_REQUEST_LOG")?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path);
            match file {
                Ok(f) => Some(Mutex::new(f)),
                Err(e) => {
                    tracing::warn!("ABRIDGE_REQUEST_LOG {}: {e}", path.to_string_lossy());
                    None
                }
            }
        });
        let seq = self.requests.fetch_add(1, Ordering::Relaxed);
        let Some(log) = log else { return };
        let mut line = serde_json::json!({
            "article": self.label,
            "seq": seq,
            "prompt": ids,
            "max_tokens": max_tokens,
            "stop": stop,
        })
        .to_string();
        line.push('\n');
        let mut file = log.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::warn!("ABRIDGE_REQUEST_LOG: {e}");
        }
    }
}

fn cancelled() -> Error {
    Error::Cancelled("the request was cancelled by its client".into())
}

fn deadline_error(limit: Duration) -> Error {
    Error::Deadline(format!(
        "gave up after {} s, the per-article deadline; raise it with --deadline SECONDS",
        limit.as_secs()
    ))
}
