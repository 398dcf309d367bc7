//! The generation scheduler: one thread owns the model's compute and runs every
//! generation submitted to it (map chunks, reduces, translations, retries, from
//! every article in flight, or an editor's one request), up to `batch` sequences
//! at a time, with continuous batching as in llama.cpp's server:
//!
//! - each step prefills one chunk of one waiting prompt (chunks stop at the
//!   prompt's cache points and at `PREFILL_CHUNK` tokens, so decodes keep flowing
//!   between the chunks of a long prompt), with the chunks of other waiting
//!   prompts in the same pass where the model computes each prompt row on its
//!   own ([`Transformer::forward_prompts`]), then runs one decode step of every
//!   sequence past its prompt in a single forward pass: every weight is read once
//!   for the whole batch ([`Transformer::decode`]);
//! - a finished sequence frees its slot at once and the next request is admitted;
//! - admission also waits for KV memory: the KV a sequence may need (prompt plus
//!   answer) is reserved against `kv_budget` bytes;
//! - text streams back to each requester as it is decoded; a requester that goes
//!   away cancels its sequence.
//!
//! A sequence's tokens do not depend on its batch: decode rows are computed as
//! one row each (`Rows::Independent`) and prompts are chunked the same way
//! whatever runs beside them, so `--batch 1` and `--batch 8` give the same text.
//!
//! [`Transformer::decode`]: super::transformer::Transformer::decode
//! [`Transformer::forward_prompts`]: super::transformer::Transformer::forward_prompts

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use super::generate::{GenerateOptions, Generation, Sequence, PREFILL_CHUNK};
use super::lookup::DraftPolicy;
use super::prefix::{PrefixCache, PrefixStore};
use super::Model;
use crate::error::{Error, Result};
use crate::kernels::FUSED_ROWS;

#[derive(Debug, Clone, Copy)]
pub struct SchedulerOptions {
    /// Sequences decoded together at most.
    pub batch: usize,
    /// KV memory the active sequences may reserve, in bytes (one sequence is
    /// always admitted, whatever it needs).
    pub kv_budget: usize,
    /// KV memory for cached prompt prefixes, in bytes (0: no prefix cache).
    pub prefix_cache: usize,
    /// Keep prompt heads on disk between runs ([`PrefixStore`]).
    pub prefix_store: bool,
    /// Tokens drafted from the prompt per step when one sequence decodes
    /// alone (0: off; `$ABRIDGE_DRAFT` sets the default); see [`super::lookup`].
    pub draft: usize,
    /// Draft lengths follow measured costs and agreement ([`DraftPolicy`]);
    /// off, every draft is as long as `draft` allows (tests, comparisons).
    pub adaptive_drafts: bool,
    /// Keep the packed kernels' copies of the weights (`kernels::kept`): decode
    /// batches then skip repacking, for about 1.3x the Q4_K weights' bytes more
    /// memory. For processes that batch many sequences (a digest, a server).
    pub keep_packed: bool,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            batch: 8,
            kv_budget: 4 << 30,
            prefix_cache: 512 << 20,
            prefix_store: true,
            draft: std::env::var("ABRIDGE_DRAFT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(DRAFT),
            adaptive_drafts: true,
            keep_packed: false,
        }
    }
}

/// Drafted tokens per step by default: see `scripts/bench-lookup.sh`.
pub const DRAFT: usize = 8;

/// What a requester hears about its generation.
pub enum Event {
    /// Newly decoded text.
    Text(String),
    /// The end: the whole generation, or why it failed.
    Done(Result<Generation>),
}

struct Request {
    prompt: Vec<u32>,
    cache_points: Vec<usize>,
    opts: GenerateOptions,
    events: mpsc::Sender<Event>,
}

/// Counters for progress lines and metrics.
#[derive(Default)]
pub struct Stats {
    pub queued: AtomicUsize,
    pub active: AtomicUsize,
    pub prompt_tokens: AtomicU64,
    pub cached_tokens: AtomicU64,
    pub generated_tokens: AtomicU64,
    pub decode_steps: AtomicU64,
    /// Sum over decode steps of the sequences in them (fill = rows / steps).
    pub decode_rows: AtomicU64,
    /// Tokens drafted from prompts, and how many of them the model agreed with.
    pub drafted_tokens: AtomicU64,
    pub kept_drafts: AtomicU64,
    /// Prefill passes, and the prompt chunks they ran (more chunks than passes:
    /// prompts read together).
    pub prefill_passes: AtomicU64,
    pub prefill_chunks: AtomicU64,
    /// Time in prefill passes and in decode steps (drafts checked included),
    /// in microseconds: where a batch's time goes.
    pub prefill_micros: AtomicU64,
    pub decode_micros: AtomicU64,
}

/// One line for logs: tokens read, reused, generated, batch fill and drafts.
impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        write!(
            f,
            "{} prompt tokens ({} of them reused from the prefix cache), {} generated \
             in {} decode steps, batch {:.1}, {} of {} drafted tokens kept, {} prompt \
             chunks in {} prefill passes; {:.1} s prefilling, {:.1} s decoding",
            n(&self.prompt_tokens),
            n(&self.cached_tokens),
            n(&self.generated_tokens),
            n(&self.decode_steps),
            self.batch_fill(),
            n(&self.kept_drafts),
            n(&self.drafted_tokens),
            n(&self.prefill_chunks),
            n(&self.prefill_passes),
            n(&self.prefill_micros) as f64 / 1e6,
            n(&self.decode_micros) as f64 / 1e6,
        )
    }
}

impl Stats {
    /// Adds the time since `started` to a microsecond counter.
    fn add_time(&self, counter: &AtomicU64, started: Instant) {
        counter.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    /// Mean sequences per decode step so far.
    pub fn batch_fill(&self) -> f64 {
        let steps = self.decode_steps.load(Ordering::Relaxed);
        self.decode_rows.load(Ordering::Relaxed) as f64 / steps.max(1) as f64
    }
}

/// A running scheduler; dropping it lets the queued work finish, then stops.
pub struct Scheduler {
    /// The model the thread runs (for tokenizing on the requesters' side).
    pub model: Model,
    requests: Mutex<Option<mpsc::Sender<Request>>>,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<Stats>,
    pub options: SchedulerOptions,
    started: Instant,
}

impl Scheduler {
    pub fn start(model: Model, options: SchedulerOptions) -> Result<Self> {
        if options.keep_packed {
            crate::kernels::kept::keep(true);
        }
        let (tx, rx) = mpsc::channel::<Request>();
        let stats = Arc::new(Stats::default());
        let thread_stats = stats.clone();
        let shared = model.clone();
        // Compute gets a pool of its own, as many threads as the global one
        // (`--threads`): requesters may be workers of the global pool (the map
        // step of a long article runs in parallel there) and block waiting for
        // answers, which must never starve the matmuls that produce them.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("abridge-compute-{i}"))
            .build()
            .map_err(|e| Error::Model(format!("cannot start the compute threads: {e}")))?;
        let thread = std::thread::Builder::new()
            .name("abridge-generate".into())
            .spawn(move || {
                let worker = Worker {
                    model: &model,
                    options,
                    stats: thread_stats,
                };
                // On a worker of the pool: each matmul's split is picked up by the
                // others instead of waking the pool from outside.
                pool.install(|| worker.run(rx))
            })
            .map_err(|e| Error::Model(format!("cannot start the generation thread: {e}")))?;
        Ok(Self {
            model: shared,
            requests: Mutex::new(Some(tx)),
            thread: Some(thread),
            stats,
            options,
            started: Instant::now(),
        })
    }

    /// Queues a generation; its text and result arrive on the returned handle.
    pub fn submit(
        &self,
        prompt: Vec<u32>,
        cache_points: Vec<usize>,
        opts: GenerateOptions,
    ) -> Result<Pending> {
        let (events, rx) = mpsc::channel();
        let request = Request {
            prompt,
            cache_points,
            opts,
            events,
        };
        let sent = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|tx| tx.send(request).is_ok());
        if sent != Some(true) {
            return Err(stopped());
        }
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        Ok(Pending { events: rx })
    }

    /// Generates and waits, streaming text to `on_text`.
    pub fn generate(
        &self,
        prompt: Vec<u32>,
        cache_points: Vec<usize>,
        opts: GenerateOptions,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        self.submit(prompt, cache_points, opts)?.wait(on_text)
    }

    /// Generated tokens per second since the start.
    pub fn tokens_per_second(&self) -> f64 {
        let tokens = self.stats.generated_tokens.load(Ordering::Relaxed);
        tokens as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A submitted generation. Dropping it cancels the generation.
pub struct Pending {
    events: mpsc::Receiver<Event>,
}

impl Pending {
    /// The next event; `None` after `Done`.
    pub fn next(&self) -> Option<Event> {
        self.events.recv().ok()
    }

    /// The next event, waiting at most `timeout` (so a requester can check
    /// whether its own client is still there).
    pub fn next_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> std::result::Result<Event, mpsc::RecvTimeoutError> {
        self.events.recv_timeout(timeout)
    }

    /// Waits for the end, passing text on as it comes.
    pub fn wait(self, on_text: &mut dyn FnMut(&str)) -> Result<Generation> {
        loop {
            match self.events.recv() {
                Ok(Event::Text(t)) => on_text(&t),
                Ok(Event::Done(result)) => return result,
                Err(_) => return Err(stopped()),
            }
        }
    }
}

/// Whether the requester is still there (its receiver not dropped); an empty
/// text is the probe, which requesters ignore.
fn listening(events: &mpsc::Sender<Event>) -> bool {
    events.send(Event::Text(String::new())).is_ok()
}

fn stopped() -> Error {
    Error::Model("the generation thread stopped (see the error before this one)".into())
}

struct Worker<'m> {
    model: &'m Model,
    options: SchedulerOptions,
    stats: Arc<Stats>,
}

struct Active<'m> {
    seq: Sequence<'m>,
    events: mpsc::Sender<Event>,
    reserved: usize,
    /// Ended early: failed (and told so) or cancelled by its requester.
    gone: bool,
}

impl<'m> Worker<'m> {
    fn run(&self, requests: mpsc::Receiver<Request>) {
        let mut queue: VecDeque<Request> = VecDeque::new();
        let mut active: Vec<Active<'m>> = Vec::new();
        let mut prefixes = PrefixCache::new(self.options.prefix_cache);
        let mut drafts = match self.options.adaptive_drafts {
            true => DraftPolicy::new(self.options.draft),
            false => DraftPolicy::fixed(self.options.draft),
        };
        let store = (self.options.prefix_store && self.options.prefix_cache > 0)
            .then(|| PrefixStore::for_model(self.model))
            .flatten();
        let per_position = self.model.weights.kv_bytes_per_position();
        let mut open = true;
        loop {
            // Wait for work only when there is nothing to do.
            if active.is_empty() && queue.is_empty() {
                match requests.recv() {
                    Ok(r) => queue.push_back(r),
                    Err(_) => return,
                }
            }
            while open {
                match requests.try_recv() {
                    Ok(r) => queue.push_back(r),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => open = false,
                }
            }
            self.admit(
                &mut queue,
                &mut active,
                &mut prefixes,
                store.as_ref(),
                per_position,
            );
            let step = catch_unwind(AssertUnwindSafe(|| {
                self.step(&mut active, &mut prefixes, store.as_ref(), &mut drafts)
            }));
            let failure = match step {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(panic) => Some(format!(
                    "internal error while generating: {}",
                    crate::error::panic_message(&*panic)
                )),
            };
            if let Some(why) = failure {
                // A failed forward pass leaves its batch's caches unusable.
                tracing::error!("{why}");
                for a in active.drain(..) {
                    let _ = a.events.send(Event::Done(Err(Error::Model(why.clone()))));
                }
            }
            self.retire(&mut active);
            self.stats.active.store(active.len(), Ordering::Relaxed);
            if !open && active.is_empty() && queue.is_empty() {
                return;
            }
        }
    }

    /// Starts queued requests while there are free slots and KV memory.
    fn admit(
        &self,
        queue: &mut VecDeque<Request>,
        active: &mut Vec<Active<'m>>,
        prefixes: &mut PrefixCache,
        store: Option<&PrefixStore>,
        per_position: usize,
    ) {
        let mut reserved: usize = active.iter().map(|a| a.reserved).sum();
        while active.len() < self.options.batch.max(1) {
            let Some(r) = queue.front() else { break };
            let need = (r.prompt.len() + r.opts.max_tokens) * per_position;
            if !active.is_empty() && reserved + need > self.options.kv_budget {
                break;
            }
            let r = queue.pop_front().expect("front exists");
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            if !listening(&r.events) {
                continue; // cancelled while it waited
            }
            let started =
                Sequence::new(self.model, r.prompt, r.cache_points, r.opts).and_then(|mut seq| {
                    let mut cached = prefixes.lookup(seq.prompt(), seq.cache_points());
                    if let (None, Some(store), Some(&head)) =
                        (&cached, store, seq.cache_points().first())
                    {
                        let tokens = &seq.prompt()[..head];
                        if let Some(kv) = store.load(tokens, &self.model.weights.config) {
                            prefixes.insert(tokens, &kv);
                            cached = Some(Arc::new(kv));
                        }
                    }
                    if let Some(kv) = cached {
                        self.stats
                            .cached_tokens
                            .fetch_add(kv.len() as u64, Ordering::Relaxed);
                        seq.resume_from(&kv)?;
                    }
                    Ok(seq)
                });
            match started {
                Ok(seq) => {
                    self.stats
                        .prompt_tokens
                        .fetch_add(seq.prompt().len() as u64, Ordering::Relaxed);
                    reserved += need;
                    active.push(Active {
                        seq,
                        events: r.events,
                        reserved: need,
                        gone: false,
                    });
                }
                Err(e) => {
                    let _ = r.events.send(Event::Done(Err(e)));
                }
            }
        }
    }

    /// One prefill chunk of the oldest prompt still prefilling (with the chunks
    /// of others that can share its pass, see [`Self::prefill_batch`]), then
    /// one decode step of every sequence past its prompt.
    fn step(
        &self,
        active: &mut [Active<'m>],
        prefixes: &mut PrefixCache,
        store: Option<&PrefixStore>,
        drafts: &mut DraftPolicy,
    ) -> Result<()> {
        let weights = &self.model.weights;
        let picked = self.prefill_batch(active, prefixes)?;
        if !picked.is_empty() {
            let mut batch: Vec<&mut Active<'m>> = active
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| picked.contains(i))
                .map(|(_, a)| a)
                .collect();
            let chunks: Vec<Vec<u32>> = batch
                .iter()
                .map(|a| a.seq.prefill_chunk().expect("prefilling").to_vec())
                .collect();
            self.stats.prefill_passes.fetch_add(1, Ordering::Relaxed);
            (self.stats.prefill_chunks).fetch_add(chunks.len() as u64, Ordering::Relaxed);
            let started = Instant::now();
            // Each prompt's last row, or every row of a text it scores.
            let first: Vec<usize> = batch
                .iter()
                .zip(&chunks)
                .map(|(a, c)| a.seq.first_logit_row(c.len()))
                .collect();
            let logits = {
                let chunks: Vec<&[u32]> = chunks.iter().map(Vec::as_slice).collect();
                let mut caches: Vec<&mut super::transformer::KvCache> =
                    batch.iter_mut().map(|a| &mut a.seq.cache).collect();
                weights.forward_prompt_rows(&chunks, &mut caches, &first)
            };
            self.stats.add_time(&self.stats.prefill_micros, started);
            match logits {
                Ok(logits) => {
                    let mut row = 0;
                    for ((a, chunk), first) in batch.into_iter().zip(&chunks).zip(first) {
                        let rows = logits.narrow(0, row, chunk.len() - first)?;
                        row += chunk.len() - first;
                        a.seq.prefilled_rows(chunk.len(), &rows)?;
                        if a.seq.at_cache_point() {
                            let len = a.seq.cache.len();
                            prefixes.insert(&a.seq.prompt()[..len], &a.seq.cache);
                            // The head (the first point) is shared by every article.
                            if let Some(store) = store.filter(|_| a.seq.cache_points()[0] == len) {
                                store.save(&a.seq.prompt()[..len], &a.seq.cache);
                            }
                        }
                        if !a.seq.is_prefilling() && !a.seq.is_done() {
                            self.accept(a, &rows.get(rows.dim(0)? - 1)?);
                        }
                    }
                }
                Err(e) => {
                    // the error itself to the first, its message to the others
                    let message = e.to_string();
                    let mut error = Some(e);
                    for a in batch {
                        let e = error
                            .take()
                            .unwrap_or_else(|| Error::Context(message.clone()));
                        let _ = a.events.send(Event::Done(Err(e)));
                        a.gone = true;
                    }
                }
            }
        }
        // Past its prompt and not finished: its last picked token is the next input.
        let mut decoding: Vec<&mut Active<'m>> = active
            .iter_mut()
            .filter(|a| !a.seq.is_prefilling() && !a.seq.is_done() && !a.gone)
            .collect();
        if decoding.is_empty() {
            return Ok(());
        }
        // A sequence decoding alone may check a draft instead; while drafts do
        // not pay, the draft's first token is still compared with the pick.
        let mut peeked = None;
        if let [alone] = &mut decoding[..] {
            let mut draft = alone.seq.draft(drafts.max());
            peeked = draft.first().copied();
            draft.truncate(drafts.length());
            if !draft.is_empty() {
                return self.check_draft(alone, &draft, drafts);
            }
        }
        let ids: Vec<u32> = decoding.iter().map(|a| a.seq.last_token()).collect();
        let started = Instant::now();
        let logits = {
            let mut caches: Vec<&mut super::transformer::KvCache> =
                decoding.iter_mut().map(|a| &mut a.seq.cache).collect();
            weights.decode(&ids, &mut caches)?
        };
        self.stats.add_time(&self.stats.decode_micros, started);
        if ids.len() == 1 {
            drafts.decoded(started.elapsed().as_secs_f64());
        }
        self.stats.decode_steps.fetch_add(1, Ordering::Relaxed);
        self.stats
            .decode_rows
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        for (b, a) in decoding.into_iter().enumerate() {
            let before = a.seq.generated();
            self.accept(a, &logits.get(b)?);
            if let Some(token) = peeked.filter(|_| a.seq.generated() > before) {
                drafts.peeked(a.seq.last_token() == token);
            }
        }
        Ok(())
    }

    /// The prompts whose next chunks run in this step's prefill pass, by
    /// index in `active`: the oldest one still prefilling (and still wanted),
    /// and, where the model computes each row of a prompt on its own
    /// (`batches_prompts`), others of at least `FUSED_ROWS` rows each up to
    /// [`PREFILL_CHUNK`] rows in all, so one read of the weights serves them
    /// all (a summary's claims to verify, a translation's sentences). A prompt
    /// whose chunk is a head one already picked is computing waits for it to
    /// be cached instead of computing it again.
    fn prefill_batch(
        &self,
        active: &mut [Active<'m>],
        prefixes: &mut PrefixCache,
    ) -> Result<Vec<usize>> {
        let batches = self.model.weights.batches_prompts();
        let mut picked: Vec<usize> = Vec::new();
        let mut rows = 0;
        for i in 0..active.len() {
            if !active[i].seq.is_prefilling() || active[i].gone {
                continue;
            }
            // A long prompt sends no text until it is read: ask before each
            // chunk whether anyone still wants it.
            let a = &mut active[i];
            a.gone = !listening(&a.events);
            if a.gone {
                continue;
            }
            self.catch_up(&mut a.seq, prefixes)?;
            let len = a.seq.prefill_chunk().map_or(0, <[u32]>::len);
            if picked.is_empty() {
                picked.push(i);
                rows = len;
                if !batches || len < FUSED_ROWS {
                    break;
                }
                continue;
            }
            if len < FUSED_ROWS || rows + len > PREFILL_CHUNK {
                continue;
            }
            let end = active[i].seq.prompt_done() + len;
            let head = &active[i].seq.prompt()[..end];
            if picked
                .iter()
                .any(|&j| active[j].seq.prompt().starts_with(head))
            {
                continue;
            }
            picked.push(i);
            rows += len;
        }
        Ok(picked)
    }

    /// One pass over the last picked token and a draft of the tokens after it;
    /// keeps the draft up to its first token the model would not have picked.
    /// A sequence decoding alone reads the weights for one row either way, so
    /// the drafted rows come nearly free where decode waits on memory
    /// (`drafts` learns what they cost here).
    fn check_draft(
        &self,
        a: &mut Active<'m>,
        draft: &[u32],
        drafts: &mut DraftPolicy,
    ) -> Result<()> {
        let ids: Vec<u32> = std::iter::once(a.seq.last_token())
            .chain(draft.iter().copied())
            .collect();
        let started = Instant::now();
        let logits = self.model.weights.verify(&ids, &mut a.seq.cache)?;
        let seconds = started.elapsed().as_secs_f64();
        self.stats.add_time(&self.stats.decode_micros, started);
        self.stats.decode_steps.fetch_add(1, Ordering::Relaxed);
        self.stats.decode_rows.fetch_add(1, Ordering::Relaxed);
        let before = a.seq.generated();
        let picked = a.seq.accept_drafted(&logits, draft).map(|(text, kept)| {
            let s = &self.stats;
            s.drafted_tokens
                .fetch_add(draft.len() as u64, Ordering::Relaxed);
            s.kept_drafts.fetch_add(kept as u64, Ordering::Relaxed);
            drafts.checked(draft.len(), kept, seconds, a.seq.is_done());
            text
        });
        self.deliver(a, before, picked);
        Ok(())
    }

    /// Takes a longer cached prefix for a sequence about to prefill, if one was
    /// cached since it was admitted: requests that share a head and arrive together
    /// (a translation's sentences, all with the same instructions and examples) are
    /// admitted together, and only the first computes the head.
    fn catch_up(&self, seq: &mut Sequence<'m>, prefixes: &mut PrefixCache) -> Result<()> {
        let done = seq.prompt_done();
        if done != 0 && !seq.at_cache_point() {
            return Ok(());
        }
        let later: Vec<usize> = seq
            .cache_points()
            .iter()
            .copied()
            .filter(|&p| p > done)
            .collect();
        if later.is_empty() {
            return Ok(());
        }
        if let Some(kv) = prefixes.lookup(seq.prompt(), &later) {
            self.stats
                .cached_tokens
                .fetch_add((kv.len() - done) as u64, Ordering::Relaxed);
            seq.resume_from(&kv)?;
        }
        Ok(())
    }

    /// Picks a sequence's next token and streams its text; a requester that
    /// has gone away or an error ends the sequence.
    fn accept(&self, a: &mut Active<'m>, logits: &candle_core::Tensor) {
        let before = a.seq.generated();
        let picked = a.seq.accept(logits);
        self.deliver(a, before, picked);
    }

    /// Streams the text of tokens picked since `before`, or ends the sequence
    /// with the error that picking them met.
    fn deliver(&self, a: &mut Active<'m>, before: usize, picked: Result<String>) {
        match picked {
            Ok(text) => {
                let new = (a.seq.generated() - before) as u64;
                self.stats
                    .generated_tokens
                    .fetch_add(new, Ordering::Relaxed);
                if !text.is_empty() && a.events.send(Event::Text(text)).is_err() {
                    a.gone = true; // cancelled: nobody is listening
                } else if let Err(e) = a.seq.past_deadline() {
                    let _ = a.events.send(Event::Done(Err(e)));
                    a.gone = true;
                }
            }
            Err(e) => {
                let _ = a.events.send(Event::Done(Err(e)));
                a.gone = true;
            }
        }
    }

    /// Sends finished sequences their result and frees their slots.
    /// Keeps the rest in admission order (the oldest prompt prefills first).
    fn retire(&self, active: &mut Vec<Active<'m>>) {
        let (ended, running): (Vec<_>, Vec<_>) =
            active.drain(..).partition(|a| a.gone || a.seq.is_done());
        *active = running;
        for a in ended.into_iter().filter(|a| !a.gone) {
            let (rest, generation) = a.seq.finish();
            if !rest.is_empty() {
                let _ = a.events.send(Event::Text(rest));
            }
            let _ = a.events.send(Event::Done(Ok(generation)));
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::*;
    use crate::model::synthetic::TinyGguf;

    /// A synthetic model on K-quant weights: the type whose f32 order llama.cpp
    /// changes with the batch, so the test would see a batch leaking into a row.
    fn model(dir: &tempfile::TempDir) -> Model {
        let path = dir.path().join("tiny.gguf");
        TinyGguf::llama_dims(256, 4, 2, 256, 2)
            .weights(GgmlDType::Q4K)
            .write(&path)
            .unwrap();
        Model::load_path("tiny".into(), path).unwrap()
    }

    fn opts(n: usize) -> GenerateOptions {
        GenerateOptions {
            max_tokens: n,
            ignore_eos: true,
            ..Default::default()
        }
    }

    fn prompts() -> Vec<Vec<u32>> {
        (0..6u32)
            .map(|i| {
                (0..(5 + 7 * i))
                    .map(|j| 3 + (i * 11 + j * 5) % 25)
                    .collect()
            })
            .collect()
    }

    /// Every sequence gets, token for token, what it gets alone, whatever the
    /// batch and the order requests arrive in, prompts read together included.
    #[test]
    fn batched_sequences_match_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let m = model(&dir);
        let alone: Vec<Vec<u32>> = prompts()
            .iter()
            .map(|p| m.generate(p, &opts(10), &mut |_| {}).unwrap().ids)
            .collect();
        for batch in [1, 3, 8] {
            let options = SchedulerOptions {
                batch,
                ..Default::default()
            };
            let s = Scheduler::start(m.clone(), options).unwrap();
            let pending: Vec<Pending> = prompts()
                .into_iter()
                .map(|p| s.submit(p, vec![], opts(10)).unwrap())
                .collect();
            let got: Vec<Vec<u32>> = pending
                .into_iter()
                .map(|p| p.wait(&mut |_| {}).unwrap().ids)
                .collect();
            assert_eq!(got, alone, "batch {batch}");
            if batch > 1 {
                assert!(s.stats.batch_fill() > 1.5, "{}", s.stats.batch_fill());
                // prompts of 8+ tokens were read in shared passes
                let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
                let (chunks, passes) = (n(&s.stats.prefill_chunks), n(&s.stats.prefill_passes));
                assert!(chunks > passes, "{chunks} chunks in {passes} passes");
            }
        }
    }

    /// A scored text gets each token's log-probability given everything before
    /// it, as one-at-a-time reading gives it, alone or beside generations it
    /// does not change, and wherever the prompt's chunks end.
    #[test]
    fn scored_texts_get_their_tokens_log_probabilities() {
        let dir = tempfile::tempdir().unwrap();
        let m = model(&dir);
        let prompt: Vec<u32> = (0..30u32).map(|j| 3 + (j * 7) % 25).collect();
        let n = 6;
        let want: Vec<f32> = (prompt.len() - n..prompt.len())
            .map(|i| {
                let mut cache = m.weights.new_cache(i).unwrap();
                let logits: Vec<f32> = m
                    .weights
                    .forward(&prompt[..i], &mut cache)
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let max = logits.iter().copied().fold(f32::MIN, f32::max);
                let sum: f32 = logits.iter().map(|x| (x - max).exp()).sum();
                logits[prompt[i] as usize] - max - sum.ln()
            })
            .collect();
        let scored = GenerateOptions {
            score: n,
            ..Default::default()
        };
        let alone = m.generate(&prompt, &scored, &mut |_| {}).unwrap();
        assert!(alone.ids.is_empty() && alone.text.is_empty());
        assert_eq!(alone.logprobs.len(), n);
        for (got, want) in alone.logprobs.iter().zip(&want) {
            assert!(
                (got - want).abs() < 1e-3,
                "{:?} against {want:?}",
                alone.logprobs
            );
        }
        let generations: Vec<Vec<u32>> = prompts()
            .iter()
            .map(|p| m.generate(p, &opts(10), &mut |_| {}).unwrap().ids)
            .collect();
        // chunks that end just before the row the first score needs, and at it
        let end = prompt.len() - n;
        for points in [vec![], vec![end - 3], vec![end - 1], vec![end, end + 2]] {
            let s = Scheduler::start(m.clone(), SchedulerOptions::default()).unwrap();
            let others: Vec<Pending> = prompts()
                .into_iter()
                .map(|p| s.submit(p, vec![], opts(10)).unwrap())
                .collect();
            let got = s
                .submit(prompt.clone(), points.clone(), scored.clone())
                .unwrap()
                .wait(&mut |_| {})
                .unwrap();
            assert_eq!(got.logprobs, alone.logprobs, "cache points {points:?}");
            let others: Vec<Vec<u32>> = others
                .into_iter()
                .map(|p| p.wait(&mut |_| {}).unwrap().ids)
                .collect();
            assert_eq!(others, generations);
        }
        let whole = GenerateOptions {
            score: prompt.len(),
            ..Default::default()
        };
        assert!(m.generate(&prompt, &whole, &mut |_| {}).is_err());
    }

    /// Drafts checked in one pass give the tokens of one-at-a-time decoding,
    /// whether the model keeps all, some or none of a draft.
    #[test]
    fn drafted_answers_are_the_one_at_a_time_answers() {
        let dir = tempfile::tempdir().unwrap();
        let m = model(&dir);
        // prompts that repeat themselves, so their answers' tails recur in them
        let prompts: Vec<Vec<u32>> = (0..6u32)
            .map(|i| (0..40).map(|j| 3 + (j * (i + 1)) % (5 + i)).collect())
            .collect();
        let alone: Vec<Vec<u32>> = prompts
            .iter()
            .map(|p| m.generate(p, &opts(24), &mut |_| {}).unwrap().ids)
            .collect();
        for draft in [1, 3, 8] {
            let options = SchedulerOptions {
                batch: 1,
                draft,
                adaptive_drafts: false,
                ..Default::default()
            };
            let s = Scheduler::start(m.clone(), options).unwrap();
            let got: Vec<Vec<u32>> = prompts
                .iter()
                .map(|p| s.generate(p.clone(), vec![], opts(24), &mut |_| {}))
                .map(|g| g.unwrap().ids)
                .collect();
            assert_eq!(got, alone, "draft {draft}");
            let drafted = s.stats.drafted_tokens.load(Ordering::Relaxed);
            let kept = s.stats.kept_drafts.load(Ordering::Relaxed);
            eprintln!("draft {draft}: drafted {drafted}, kept {kept}");
            assert!(
                drafted > kept && kept > 0,
                "draft {draft}: {kept} of {drafted}"
            );
        }
    }

    /// A cached prefix gives the same tokens as computing it: prefills always stop
    /// at cache points, hit or miss.
    #[test]
    fn prefix_cache_hits_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let m = model(&dir);
        let head: Vec<u32> = (0..37).map(|j| 3 + j % 20).collect();
        let requests: Vec<(Vec<u32>, Vec<usize>)> = (0..4u32)
            .map(|i| {
                let mut p = head.clone();
                p.extend((0..9 + i).map(|j| 4 + (i + j) % 17));
                (p, vec![head.len()])
            })
            .collect();
        let run = |prefix_cache: usize| {
            let options = SchedulerOptions {
                batch: 2,
                prefix_cache,
                ..Default::default()
            };
            let s = Scheduler::start(m.clone(), options).unwrap();
            let ids: Vec<Vec<u32>> = requests
                .iter()
                .map(|(p, c)| s.generate(p.clone(), c.clone(), opts(8), &mut |_| {}))
                .map(|g| g.unwrap().ids)
                .collect();
            (ids, s.stats.cached_tokens.load(Ordering::Relaxed))
        };
        let (fresh, none) = run(0);
        let (cached, reused) = run(64 << 20);
        assert_eq!(none, 0);
        assert_eq!(reused, 3 * head.len() as u64);
        assert_eq!(cached, fresh);
    }

    /// A requester that goes away frees its slot; the others are still served.
    #[test]
    fn a_dropped_request_is_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let m = model(&dir);
        let options = SchedulerOptions {
            batch: 1,
            ..Default::default()
        };
        let s = Scheduler::start(m.clone(), options).unwrap();
        let p = prompts();
        let gone = s.submit(p[0].clone(), vec![], opts(100_000)).unwrap();
        drop(gone);
        let g = s
            .generate(p[1].clone(), vec![], opts(5), &mut |_| {})
            .unwrap();
        assert_eq!(g.ids.len(), 5);
    }

    /// Requesters that are themselves workers of the global pool (the map step
    /// of a long article) can all wait at once without starving the compute.
    #[test]
    fn requesters_on_the_global_pool_do_not_starve_compute() {
        use rayon::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let s = Scheduler::start(model(&dir), SchedulerOptions::default()).unwrap();
        let n = 4 * rayon::current_num_threads();
        let got: Vec<usize> = prompts()
            .into_iter()
            .cycle()
            .take(n)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|p| {
                s.generate(p, vec![], opts(4), &mut |_| {})
                    .unwrap()
                    .ids
                    .len()
            })
            .collect();
        assert_eq!(got, vec![4; n]);
    }

    /// A deadline ends a sequence after its step: every token that step picked,
    /// a checked draft's included, reaches the requester before the error.
    #[test]
    fn a_deadline_keeps_the_text_already_picked() {
        let dir = tempfile::tempdir().unwrap();
        let m = model(&dir);
        let prompt: Vec<u32> = (0..40).map(|j| 3 + (j * 3) % 7).collect();
        let mut whole = String::new();
        m.generate(&prompt, &opts(24), &mut |t| whole.push_str(t))
            .unwrap();
        let options = SchedulerOptions {
            batch: 1,
            draft: 8,
            adaptive_drafts: false,
            ..Default::default()
        };
        let s = Scheduler::start(m, options).unwrap();
        // a deadline that passes during the prompt: one step of text, then the error
        let late = GenerateOptions {
            deadline: Some(Instant::now()),
            ..opts(24)
        };
        let mut streamed = String::new();
        let e = s
            .generate(prompt, vec![], late, &mut |t| streamed.push_str(t))
            .unwrap_err();
        assert!(matches!(e, Error::Deadline(_)), "{e}");
        assert!(
            !streamed.is_empty() && whole.starts_with(&streamed),
            "{streamed:?} of {whole:?}"
        );
    }

    /// Errors reach the requester, not a panic: an empty prompt.
    #[test]
    fn a_bad_request_gets_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = Scheduler::start(model(&dir), SchedulerOptions::default()).unwrap();
        let e = s
            .generate(vec![], vec![], opts(5), &mut |_| {})
            .unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }
}
