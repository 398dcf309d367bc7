//! The digest's bookkeeping in its output folder: article files, `manifest.jsonl`,
//! `index.md`, the resume key, the folder's lock, and stopping on a signal.
//!
//! Writes stay linear in the number of articles: each finished article is written
//! atomically, then one manifest line is appended and synced. The manifest is
//! compacted (one line per input, in input order) and `index.md` is written once, at
//! the end or when the run is interrupted. A run killed in between leaves a manifest
//! that may hold several lines for one input and a torn last line: the last complete
//! line of each input wins, torn lines are ignored.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::shard::Shard;
use super::{hex, ArticleOptions, DigestOptions};
use crate::article::Article;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::prompts::{Prompt, Retry, Source, Style, SummaryAsk, UnitAsk};
use crate::render::{self, ArticleDoc, IndexInfo, ManifestEntry, Status, INDEX_FILE};

/// The lock file inside the output folder. It stays there after a run: the lock is
/// the advisory lock on it, which dies with the process that held it.
pub const LOCK_FILE: &str = ".abridge.lock";

/// What one article came to, ready to publish.
pub(super) enum Done {
    Written(Box<ArticleDoc>, ManifestEntry),
    Failed(ManifestEntry),
}

/// The output folder's state, updated under a lock as articles finish.
pub(super) struct Outputs {
    dir: PathBuf,
    /// One slot per input, in input order; `None` until it is done.
    entries: Vec<Option<ManifestEntry>>,
    /// Per slot, what an earlier run recorded for an input this run redoes: listed
    /// in the manifest and index until it is redone, so a run stopped after a
    /// change of settings drops nothing from them.
    earlier: Vec<Option<ManifestEntry>>,
    /// `None` for a shard: its index is written by `merge`.
    info: Option<IndexInfo>,
    manifest: PathBuf,
    log: ManifestLog,
}

impl Outputs {
    /// Opens the manifest (`manifest.jsonl`, or a shard's) for appending; `entries`
    /// are the slots known at the start (unchanged articles, inputs refused when
    /// read), `earlier` what an earlier run recorded for some of the others. The
    /// index is written at the end if `info` is given.
    pub(super) fn open(
        dir: &Path,
        manifest: &str,
        entries: Vec<Option<ManifestEntry>>,
        earlier: Vec<(usize, ManifestEntry)>,
        info: Option<IndexInfo>,
    ) -> Result<Self> {
        let manifest = dir.join(manifest);
        let mut by_slot = vec![None; entries.len()];
        for (slot, entry) in earlier {
            by_slot[slot] = Some(entry);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            entries,
            earlier: by_slot,
            info,
            log: ManifestLog::open(&manifest)?,
            manifest,
        })
    }

    /// Writes a finished article, then appends the manifest line that records it: a
    /// kill at any point leaves every article file whole (at worst the manifest's
    /// last line torn), and the manifest never names an article file that is not
    /// complete.
    pub(super) fn publish(&mut self, slot: usize, done: Done) -> Result<ManifestEntry> {
        let entry = match done {
            Done::Written(doc, entry) => {
                let name = entry.output.as_deref().unwrap_or_default();
                render::write_atomic(
                    &self.dir.join(name),
                    render::render_article(&doc).as_bytes(),
                )?;
                entry
            }
            Done::Failed(entry) => entry,
        };
        self.log.append(&entry)?;
        self.entries[slot] = Some(entry.clone());
        Ok(entry)
    }

    /// Compacts the manifest and writes the index from what is done (and, for
    /// inputs a stop left undone, what an earlier run recorded); returns what this
    /// run did, in input order.
    pub(super) fn finish(self) -> Result<Vec<ManifestEntry>> {
        drop(self.log);
        // An earlier output whose name this run gave another article is gone.
        let written: std::collections::HashSet<&str> = (self.entries.iter().flatten())
            .filter_map(|e| e.output.as_deref())
            .collect();
        let earlier = |e: &ManifestEntry| e.output.as_deref().is_none_or(|o| !written.contains(o));
        let listed: Vec<ManifestEntry> = (self.entries.iter().cloned())
            .zip(self.earlier)
            .filter_map(|(now, before)| now.or(before.filter(earlier)))
            .collect();
        compact(&self.manifest, &listed)?;
        if let Some(info) = &self.info {
            render::write_atomic(
                &self.dir.join(INDEX_FILE),
                render::render_index(info, &listed).as_bytes(),
            )?;
        }
        Ok(self.entries.into_iter().flatten().collect())
    }
}

/// The manifest opened for appending one line per finished article.
#[derive(Debug)]
pub struct ManifestLog {
    path: PathBuf,
    file: File,
}

impl ManifestLog {
    /// Opens (or creates) the manifest at `path` for appending. A last line left
    /// without its newline by a killed run is closed first, so the next line is not
    /// glued to it (the torn line is then ignored when read).
    pub fn open(path: &Path) -> Result<Self> {
        let fail = |e| Error::io(path, e);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(fail)?;
        let len = file.metadata().map_err(fail)?.len();
        if len > 0 {
            let mut last = [0u8];
            file.seek(SeekFrom::Start(len - 1)).map_err(fail)?;
            file.read_exact(&mut last).map_err(fail)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(fail)?;
                file.sync_data().map_err(fail)?;
            }
        } else if !existed {
            // Makes the new name durable; best effort, as in `write_atomic`.
            if let Some(dir) = path.parent().and_then(|d| File::open(d).ok()) {
                let _ = dir.sync_all();
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends `entry` as one line and syncs it to disk.
    pub fn append(&mut self, entry: &ManifestEntry) -> Result<()> {
        // Callers hold the `Outputs` lock, so lines never interleave; a kill during
        // the write leaves at most this last line torn.
        let line = render::render_manifest(std::slice::from_ref(entry));
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// The manifest at `path` as left by earlier runs: the last complete line of each
/// (input, id) wins; torn or unparseable lines are skipped.
pub fn read_previous(path: &Path) -> Result<HashMap<(String, String), ManifestEntry>> {
    Ok(render::read_manifest(path)?
        .into_iter()
        .map(|e| ((e.input.clone(), e.id.clone()), e))
        .collect())
}

/// The stems of the markdown files in `dir` that are not the digest's: named by no
/// earlier manifest entry and without its front matter (a file written just
/// before a kill has it). Their names are never handed out, so a user's notes in
/// the output folder are not overwritten by an article of the same title.
pub(super) fn foreign_stems(
    dir: &Path,
    previous: &HashMap<(String, String), ManifestEntry>,
) -> Result<Vec<String>> {
    let owned: std::collections::HashSet<&str> = previous
        .values()
        .filter_map(|e| e.output.as_deref())
        .collect();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut stems = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".md") else {
            continue;
        };
        if owned.contains(name) || name == render::INDEX_FILE {
            continue;
        }
        let mut head = Vec::new();
        let ours = std::fs::File::open(entry.path())
            .and_then(|f| std::io::Read::read_to_end(&mut f.take(64 << 10), &mut head))
            .is_ok_and(|_| render::parse_front_matter(&String::from_utf8_lossy(&head)).is_some());
        if !ours {
            stems.push(stem.to_string());
        }
    }
    Ok(stems)
}

/// The earlier entry for `article`, as skipped, if it was done with the same key
/// and its file is still there and still says so.
pub(super) fn reusable(
    previous: &HashMap<(String, String), ManifestEntry>,
    article: &Article,
    key: &str,
    dir: &Path,
) -> Option<ManifestEntry> {
    let old = previous.get(&(article.input.clone(), article.id.clone()))?;
    let done = matches!(old.status, Status::Ok | Status::Skipped);
    if !done || old.key.as_deref() != Some(key) {
        return None;
    }
    let md = std::fs::read_to_string(dir.join(old.output.as_deref()?)).ok()?;
    let front = render::parse_front_matter(&md)?;
    (front.key == key).then(|| ManifestEntry {
        status: Status::Skipped,
        // a manifest from before fingerprints gets one now
        fingerprint: (old.fingerprint.clone())
            .or_else(|| Some(crate::brief::Fingerprint::of(&article.text))),
        ..old.clone()
    })
}

/// What an earlier run recorded for `article`, to list until this run redoes it:
/// a failure, or an output whose file is still there.
pub(super) fn earlier(
    previous: &HashMap<(String, String), ManifestEntry>,
    article: &Article,
    dir: &Path,
) -> Option<ManifestEntry> {
    let old = previous.get(&(article.input.clone(), article.id.clone()))?;
    let present = |name: &String| dir.join(name).is_file();
    old.output.as_ref().is_none_or(present).then(|| old.clone())
}

/// Replaces the manifest at `path` atomically with one line per entry, in order.
pub fn compact(path: &Path, entries: &[ManifestEntry]) -> Result<()> {
    render::write_atomic(path, render::render_manifest(entries).as_bytes())
}

/// An exclusive advisory lock on the output folder, held while it lives. The
/// operating system drops it when the process ends, even by `kill -9`, so a lock file
/// left behind never blocks a later run.
///
/// Shards of one run share the folder: each holds the folder's lock shared (so a
/// single-machine digest or a merge, which hold it exclusively, wait for all of
/// them) and its own shard's lock exclusively (so one shard never runs twice).
#[derive(Debug)]
pub struct OutputLock {
    _files: Vec<File>,
}

/// How a lock file is held.
#[derive(Clone, Copy, PartialEq)]
enum Hold {
    Shared,
    Exclusive,
}

impl OutputLock {
    /// Takes the lock on `dir` (which must exist), or refuses at once if another run
    /// holds it. Writes this process's id into the lock file, for that refusal.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let file = lock_file(dir, LOCK_FILE, Hold::Exclusive, None)?;
        Ok(Self { _files: vec![file] })
    }

    /// Takes the locks of `shard` in `dir`: the folder's shared, the shard's own
    /// exclusive; refuses at once if a run that excludes this one holds either.
    pub fn acquire_shard(dir: &Path, shard: &Shard) -> Result<Self> {
        let folder = lock_file(dir, LOCK_FILE, Hold::Shared, None)?;
        let own = lock_file(dir, &shard.lock_file(), Hold::Exclusive, Some(shard))?;
        Ok(Self {
            _files: vec![folder, own],
        })
    }

    /// Fails as [`OutputLock::acquire`] (or, for a shard,
    /// [`OutputLock::acquire_shard`]) would if another run holds `dir`, without
    /// creating anything: lets a caller refuse before slow setup (loading a model).
    pub fn check(dir: &Path, shard: Option<&Shard>) -> Result<()> {
        let Some(shard) = shard else {
            return check_file(dir, LOCK_FILE, Hold::Exclusive, None);
        };
        check_file(dir, LOCK_FILE, Hold::Shared, None)?;
        check_file(dir, &shard.lock_file(), Hold::Exclusive, Some(shard))
    }
}

fn try_hold(file: &File, hold: Hold) -> std::result::Result<(), TryLockError> {
    match hold {
        Hold::Shared => file.try_lock_shared(),
        Hold::Exclusive => file.try_lock(),
    }
}

fn lock_file(dir: &Path, name: &str, hold: Hold, shard: Option<&Shard>) -> Result<File> {
    let path = dir.join(name);
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    // A link planted in its place is refused: the lock file is emptied below.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let mut file = options.open(&path).map_err(|e| Error::io(&path, e))?;
    match try_hold(&file, hold) {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(busy(dir, shard, &mut file)),
        Err(TryLockError::Error(e)) if e.kind() == ErrorKind::Unsupported => {
            tracing::warn!(
                "{}: this file system cannot lock files; nothing stops two runs from \
                 writing into {} at once",
                path.display(),
                dir.display()
            );
        }
        Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
    }
    // Best effort: the id only makes another run's message more helpful. Holders of
    // a shared lock are many: none of them writes its id.
    if hold == Hold::Exclusive {
        let _ = file
            .set_len(0)
            .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
    }
    Ok(file)
}

fn check_file(dir: &Path, name: &str, hold: Hold, shard: Option<&Shard>) -> Result<()> {
    let path = dir.join(name);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    match try_hold(&file, hold) {
        Err(TryLockError::WouldBlock) => Err(busy(dir, shard, &mut file)),
        // Free (released when `file` closes), or not lockable: `acquire` decides.
        _ => Ok(()),
    }
}

fn busy(dir: &Path, shard: Option<&Shard>, lock: &mut File) -> Error {
    let mut holder = String::new();
    let _ = lock.read_to_string(&mut holder);
    let who = match holder.trim() {
        pid if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => {
            format!("another abridge run (process {pid})")
        }
        _ => "another abridge run".to_string(),
    };
    let what = match shard {
        Some(shard) => format!("shard {} of {}", shard.label(), dir.display()),
        None => dir.display().to_string(),
    };
    Error::Busy(format!(
        "{what} is in use by {who}; wait for that run to finish, or give this one another \
         --out folder"
    ))
}

/// Asks a running digest to stop: no new article is started, the ones in progress
/// finish, the manifest and index are written from what is done. Set by SIGINT or
/// SIGTERM with [`Interrupt::on_signals`], or by [`Interrupt::raise`].
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    /// The signal number that asked, 0 for none.
    signal: Arc<AtomicUsize>,
    /// Set by the first signal: arms the immediate exit on the second.
    armed: Arc<AtomicBool>,
}

impl Interrupt {
    /// An interrupt raised by SIGINT or SIGTERM. A second signal ends the process at
    /// once (exit 128 + signal): what was finished is already in the manifest.
    pub fn on_signals() -> std::io::Result<Self> {
        let this = Self::default();
        #[cfg(unix)]
        {
            use signal_hook::consts::{SIGINT, SIGTERM};
            use signal_hook::flag;
            for signal in [SIGINT, SIGTERM] {
                // Actions run in the order registered: the exit only once armed.
                flag::register_conditional_shutdown(signal, 128 + signal, this.armed.clone())?;
                flag::register_usize(signal, this.signal.clone(), signal as usize)?;
                flag::register(signal, this.armed.clone())?;
            }
            let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
            std::thread::spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    tracing::warn!(
                        "{}: finishing the articles in progress, then writing the manifest \
                         and index; signal again to stop at once (finished articles are \
                         kept either way)",
                        signal_name(signal)
                    );
                }
            });
        }
        Ok(this)
    }

    /// Asks the run to stop, as signal number `signal` would.
    pub fn raise(&self, signal: i32) {
        self.signal.store(signal.max(1) as usize, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.signal().is_some()
    }

    /// The signal number that asked for a stop.
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            n => Some(i32::try_from(n).unwrap_or(i32::MAX)),
        }
    }
}

/// `SIGINT`, `SIGTERM`, or `signal N`.
pub fn signal_name(signal: i32) -> String {
    match signal {
        2 => "SIGINT".to_string(),
        15 => "SIGTERM".to_string(),
        n => format!("signal {n}"),
    }
}

/// What decides whether an earlier result can be reused.
pub(super) struct Settings<'a> {
    pub(super) model: &'a str,
    pub(super) model_sha256: &'a str,
    pub(super) opts: &'a DigestOptions,
    /// Hex sha256 of everything but the article that shapes an output.
    run: String,
}

impl<'a> Settings<'a> {
    pub(super) fn new(
        model: &'a Model,
        model_sha256: &'a str,
        opts: &'a DigestOptions,
        window: usize,
    ) -> Self {
        let run = RunKey {
            abridge: env!("CARGO_PKG_VERSION"),
            code: code_sha256(),
            model_sha256: model_sha256.to_string(),
            template: chat_template(model),
            prompts: prompts_sha256(model, &opts.article),
            options: options(opts, window),
        };
        tracing::debug!(
            "resume key of this run {}: abridge {}, code {}, model {}, template {}, prompts {}, \
             options {}",
            run.sha256(),
            run.abridge,
            run.code,
            run.model_sha256,
            hex(&Sha256::digest(run.template.as_deref().unwrap_or("none"))),
            run.prompts,
            run.options
        );
        Settings {
            model: &model.name,
            model_sha256,
            opts,
            run: run.sha256(),
        }
    }

    /// The run's part of every article's key.
    pub(super) fn run_key(&self) -> &str {
        &self.run
    }

    /// A digest of everything that shapes an article's output.
    pub(super) fn key(&self, article: &Article) -> String {
        article_key(&self.run, article)
    }
}

/// Everything besides the article that shapes an output; its hash is in every key.
#[derive(Debug, Clone, serde::Serialize)]
struct RunKey {
    /// Released versions differ in code throughout (kernels, tokenizer, layout).
    abridge: &'static str,
    /// The source of the prompts, the checks that decide retries, the readers and the
    /// article layout (see [`code_sha256`]).
    code: String,
    model_sha256: String,
    /// The model's chat template, as written in its metadata.
    template: Option<String>,
    /// The token ids of this run's prompts on a fixed probe (see [`prompts_sha256`]).
    prompts: String,
    options: serde_json::Value,
}

impl RunKey {
    fn sha256(&self) -> String {
        let described = serde_json::to_string(self).unwrap_or_default();
        hex(&Sha256::digest(described.as_bytes()))
    }
}

fn article_key(run: &str, article: &Article) -> String {
    let described = serde_json::json!({
        "run": run,
        "input": article.input_sha256,
        "title": article.title,
    });
    hex(&Sha256::digest(described.to_string().as_bytes()))[..16].to_string()
}

/// The options as they shape outputs. Every field is named, so that an option added
/// later does not compile here until someone decides whether it belongs in the key.
fn options(opts: &DigestOptions, window: usize) -> serde_json::Value {
    let DigestOptions {
        article,
        // Where outputs go, how many at once, whether to redo, and stopping: none of
        // them changes what an article's output says.
        out: _,
        jobs: _,
        force: _,
        interrupt: _,
        // Which inputs this process does, not what their outputs say.
        shard: _,
        // The batch gives each sequence the tokens it gets alone (tested).
        scheduler: _,
    } = opts;
    let ArticleOptions {
        languages,
        sentences,
        style,
        long,
        translate_full,
        verify,
        // As resolved against the model, below.
        window: _,
        overlap,
        // Both decide whether an article fails: an output made under a higher limit
        // is not what this run would publish.
        max_article_tokens,
        deadline,
        max_answer_tokens,
    } = article;
    serde_json::json!({
        "languages": languages,
        "sentences": sentences,
        "style": style,
        "long": long,
        "translate_full": translate_full,
        "verify": verify,
        "window": window,
        "overlap": overlap,
        "max_article_tokens": max_article_tokens,
        "deadline_s": deadline.map(|d| d.as_secs_f64()),
        "max_answer_tokens": max_answer_tokens,
    })
}

/// Hex sha256 of the source files that decide what an output says: the prompt
/// wording, the summary and translation steps with the checks that send answers back,
/// the chunker, the article readers (the key hashes raw input bytes) and the article
/// layout. Editing any of them redoes articles; a source hash cannot go stale the way
/// a hand-bumped version can. Model and kernel code is left to the crate version
/// (the parity tests pin their output) and to the probe below.
fn code_sha256() -> String {
    const SOURCES: &[&str] = &[
        include_str!("../prompts/mod.rs"),
        include_str!("../prompts/examples.rs"),
        include_str!("summarize.rs"),
        include_str!("translate.rs"),
        include_str!("../chunk.rs"),
        include_str!("../lang.rs"),
        include_str!("../check/mod.rs"),
        include_str!("../check/gazetteer.rs"),
        include_str!("../check/names/world.tsv"),
        include_str!("../check/names/hand.tsv"),
        include_str!("../check/meaning.rs"),
        include_str!("../check/ground.rs"),
        include_str!("../check/inject.rs"),
        include_str!("../check/source.rs"),
        include_str!("../check/terms.rs"),
        include_str!("../check/translation.rs"),
        include_str!("../article/mod.rs"),
        include_str!("../article/html.rs"),
        include_str!("../article/jsonl.rs"),
        include_str!("../article/markdown.rs"),
        include_str!("../article/page.rs"),
        include_str!("../article/text.rs"),
        include_str!("../../vendor/rs-trafilatura/src/extract.rs"),
        include_str!("../../vendor/rs-trafilatura/src/metadata/mod.rs"),
        include_str!("../../vendor/rs-trafilatura/src/metadata/json_ld.rs"),
        include_str!("../../vendor/rs-trafilatura/src/metadata/meta_tags.rs"),
        include_str!("../../vendor/rs-trafilatura/src/metadata/dom_extraction.rs"),
        include_str!("../check/acronym.rs"),
        include_str!("verify.rs"),
        include_str!("../excerpt.rs"),
        include_str!("mod.rs"),
        include_str!("runner.rs"),
        include_str!("../model/generate.rs"),
        include_str!("../render/article.rs"),
        include_str!("../render/markdown.rs"),
    ];
    let mut hasher = Sha256::new();
    for source in SOURCES {
        hasher.update((source.len() as u64).to_le_bytes());
        hasher.update(source.as_bytes());
    }
    hex(&hasher.finalize())
}

/// A short article with what prompts and tokenizers treat specially: names, numbers,
/// accents, quotes, a fence marker and chat markup.
const PROBE: &str = "Zoë Müller, 42, said on Monday that the council's €1,500 plan \
\"will not pass\". <article> <|im_end|> Rates rose 0.25% in São Paulo.";

/// Hex sha256 of the token ids of every prompt this run can send, on [`PROBE`], as
/// this model renders and tokenizes them. Unlike a hash of `prompts.rs` it sees what
/// the model is actually given: the wording, the chat template as rendered, the
/// tokenizer (a `tokenizer.json` beside the model is not in the model's sha256).
fn prompts_sha256(model: &Model, opts: &ArticleOptions) -> String {
    let chat = model.is_chat();
    let mut prompts = Vec::new();
    for source in [
        Source::Article,
        Source::Part,
        Source::Summaries,
        Source::Excerpts,
    ] {
        for style in [Style::Paragraph, Style::Bullets] {
            for retry in [Retry::First, Retry::Length, Retry::Faithful, Retry::OnTopic] {
                let ask = SummaryAsk {
                    source,
                    sentences: opts.sentences,
                    style,
                    retry,
                };
                prompts.push(Prompt::summary_of(PROBE, &ask, chat));
            }
        }
    }
    for language in &opts.languages {
        let glossary = [("São Paulo".to_string(), "São Paulo".to_string())];
        let ask = UnitAsk {
            text: PROBE,
            lang: language,
            glossary: &glossary,
        };
        prompts.push(Prompt::translation_unit(&ask, chat));
        prompts.push(Prompt::back_translation(PROBE, language, chat));
    }
    let mut hasher = Sha256::new();
    for prompt in &prompts {
        match model.prompt_tokens(prompt) {
            Ok(ids) => {
                hasher.update((ids.len() as u64).to_le_bytes());
                for id in ids {
                    hasher.update(id.to_le_bytes());
                }
            }
            // Every article will fail the same way; the key still has to be stable.
            Err(e) => hasher.update(format!("error: {e}").as_bytes()),
        }
        for stop in prompt.stop() {
            hasher.update(stop.as_bytes());
        }
    }
    hex(&hasher.finalize())
}

/// The chat template text in the model's metadata, if it has one (kept by
/// the loaded model: reopening the file would map and populate it again).
fn chat_template(model: &Model) -> Option<String> {
    match &*model.format {
        crate::model::template::PromptFormat::Chat(t) => Some(t.source().to_string()),
        crate::model::template::PromptFormat::Completion => None,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::render::MANIFEST_FILE;

    #[cfg(unix)]
    #[test]
    fn a_link_in_place_of_the_lock_is_refused_and_its_target_kept() {
        let dir = tempfile::tempdir().unwrap();
        let precious = dir.path().join("precious.txt");
        std::fs::write(&precious, "keep me").unwrap();
        std::os::unix::fs::symlink(&precious, dir.path().join(LOCK_FILE)).unwrap();
        assert!(OutputLock::acquire(dir.path()).is_err());
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
    }

    #[test]
    fn only_files_the_digest_did_not_write_are_foreign() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("notes.md", "# My notes\n\nNot an article.\n");
        write("a.md", "listed in the manifest");
        let doc = ArticleDoc {
            meta: crate::render::ArticleMeta {
                title: "B".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        write("b.md", &render::render_article(&doc)); // written, then killed
        write(INDEX_FILE, "# Digest");
        write("c.txt", "not markdown");
        let previous = read_previous(Path::new("/nonexistent"))
            .unwrap()
            .into_iter()
            .chain([(("a".into(), "a".into()), entry("a", Status::Ok, "k"))])
            .collect();
        assert_eq!(foreign_stems(dir.path(), &previous).unwrap(), ["notes"]);
    }

    /// A manifest entry for `input`, with an article file `<input>.md` unless failed.
    pub(in crate::pipeline) fn entry(input: &str, status: Status, key: &str) -> ManifestEntry {
        ManifestEntry {
            input: input.into(),
            id: input.into(),
            status,
            error: (status == Status::Failed).then(|| "empty".into()),
            output: (status != Status::Failed).then(|| format!("{input}.md")),
            title: Some(format!("Title {input}")),
            about: Default::default(),
            summary: Some("Rates rose.".into()),
            translations: Default::default(),
            support: vec![],
            checks: Default::default(),
            warnings: vec![],
            tokens_in: 10,
            tokens_out: 5,
            seconds: 1.5,
            key: Some(key.into()),
            input_sha256: Some("00ff".into()),
            fingerprint: None,
        }
    }

    #[test]
    fn appended_lines_last_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let mut log = ManifestLog::open(&path).unwrap();
        log.append(&entry("a", Status::Ok, "k1")).unwrap();
        log.append(&entry("b", Status::Failed, "k1")).unwrap();
        log.append(&entry("a", Status::Ok, "k2")).unwrap();
        drop(log);
        // A second run appends to the same file.
        let mut log = ManifestLog::open(&path).unwrap();
        log.append(&entry("b", Status::Ok, "k3")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");

        let previous = read_previous(&path).unwrap();
        assert_eq!(previous.len(), 2);
        let key = |i: &str| previous[&(i.to_string(), i.to_string())].key.clone();
        assert_eq!(key("a").as_deref(), Some("k2"));
        assert_eq!(key("b").as_deref(), Some("k3"));
        assert_eq!(
            previous[&("b".to_string(), "b".to_string())].status,
            Status::Ok
        );
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_not_glued_to_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let whole = render::render_manifest(&[entry("a", Status::Ok, "k1")]);
        let torn = render::render_manifest(&[entry("b", Status::Ok, "k1")]);
        let torn = &torn[..torn.len() / 2];
        std::fs::write(&path, format!("{whole}{torn}")).unwrap();
        assert_eq!(read_previous(&path).unwrap().len(), 1);

        let mut log = ManifestLog::open(&path).unwrap();
        log.append(&entry("c", Status::Ok, "k1")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.ends_with("}\n"));
        let previous = read_previous(&path).unwrap();
        let mut inputs: Vec<&str> = previous.keys().map(|(i, _)| i.as_str()).collect();
        inputs.sort();
        assert_eq!(inputs, ["a", "c"]);

        // A whole line that lost only its newline is kept, and closed.
        let line = render::render_manifest(&[entry("d", Status::Ok, "k1")]);
        std::fs::write(&path, line.trim_end()).unwrap();
        let mut log = ManifestLog::open(&path).unwrap();
        log.append(&entry("e", Status::Ok, "k1")).unwrap();
        assert_eq!(read_previous(&path).unwrap().len(), 2);
    }

    #[test]
    fn opening_creates_the_manifest_and_leaves_a_whole_one_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        drop(ManifestLog::open(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        let text = render::render_manifest(&[entry("a", Status::Ok, "k1")]);
        std::fs::write(&path, &text).unwrap();
        drop(ManifestLog::open(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

        let err = ManifestLog::open(&dir.path().join("missing/manifest.jsonl")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn compaction_is_one_line_per_input_in_order_as_rendered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let mut log = ManifestLog::open(&path).unwrap();
        for (input, key) in [("b", "k1"), ("a", "k1"), ("b", "k2")] {
            log.append(&entry(input, Status::Ok, key)).unwrap();
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"input\":\"torn")
            .unwrap();
        let entries = vec![entry("a", Status::Ok, "k1"), entry("b", Status::Ok, "k2")];
        compact(&path, &entries).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            render::render_manifest(&entries)
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [MANIFEST_FILE]);
    }

    fn index_info() -> IndexInfo {
        IndexInfo {
            date: "2025-03-14".into(),
            model: "tiny".into(),
            languages: vec![],
        }
    }

    #[test]
    fn index_and_compacted_manifest_are_written_at_the_end_only() {
        let dir = tempfile::tempdir().unwrap();
        let info = index_info();
        let slots = vec![None, Some(entry("b", Status::Skipped, "k1")), None];
        let mut outputs =
            Outputs::open(dir.path(), MANIFEST_FILE, slots, vec![], Some(info.clone())).unwrap();
        let c = entry("c", Status::Failed, "k1");
        let a = entry("a", Status::Failed, "k1");
        assert_eq!(outputs.publish(2, Done::Failed(c.clone())).unwrap(), c);
        outputs.publish(0, Done::Failed(a.clone())).unwrap();
        assert!(!dir.path().join(INDEX_FILE).exists());
        // Appended in the order finished.
        let appended = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        assert_eq!(appended, render::render_manifest(&[c.clone(), a.clone()]));

        let done = outputs.finish().unwrap();
        let b = entry("b", Status::Skipped, "k1");
        assert_eq!(done, [a, b, c]);
        assert_written(dir.path(), &info, &done);
    }

    /// The compacted manifest and the index list `entries`.
    fn assert_written(dir: &Path, info: &IndexInfo, entries: &[ManifestEntry]) {
        let manifest = std::fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
        assert_eq!(manifest, render::render_manifest(entries));
        let index = std::fs::read_to_string(dir.join(INDEX_FILE)).unwrap();
        assert_eq!(index, render::render_index(info, entries));
    }

    #[test]
    fn a_stopped_run_keeps_what_an_earlier_one_recorded_for_inputs_it_did_not_redo() {
        let dir = tempfile::tempdir().unwrap();
        let info = index_info();
        // a, c and d were done with key k0 and are redone with k1; b is unchanged.
        let (old_a, old_c) = (entry("a", Status::Ok, "k0"), entry("c", Status::Ok, "k0"));
        let b = entry("b", Status::Skipped, "k1");
        let slots = vec![None, Some(b.clone()), None, None, None];
        let old_d = entry("d", Status::Ok, "k0");
        let earlier = vec![(0, old_a), (2, old_c.clone()), (3, old_d)];
        let mut outputs = Outputs::open(
            dir.path(),
            MANIFEST_FILE,
            slots,
            earlier,
            Some(info.clone()),
        )
        .unwrap();
        let a = entry("a", Status::Failed, "k1");
        outputs.publish(0, Done::Failed(a.clone())).unwrap();
        // d's file now holds e's article: d's earlier entry no longer has one.
        let e = ManifestEntry {
            output: Some("d.md".into()),
            ..entry("e", Status::Ok, "k1")
        };
        outputs.publish(4, Done::Failed(e.clone())).unwrap();

        // Stopped here: c and d were not redone.
        let done = outputs.finish().unwrap();
        assert_eq!(done, [a.clone(), b.clone(), e.clone()], "what this run did");
        assert_written(dir.path(), &info, &[a, b, old_c, e]);
    }

    #[test]
    fn only_an_earlier_output_still_there_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let article = article("T", "00ff");
        let key = |e: &ManifestEntry| (e.input.clone(), e.id.clone());
        let mut old = entry(&article.input, Status::Ok, "k0");
        old.id = article.id.clone();
        let previous = HashMap::from([(key(&old), old.clone())]);
        assert_eq!(earlier(&previous, &article, dir.path()), None, "file gone");
        std::fs::write(dir.path().join(old.output.as_ref().unwrap()), "x").unwrap();
        assert_eq!(earlier(&previous, &article, dir.path()), Some(old.clone()));
        let mut failed = entry(&article.input, Status::Failed, "k0");
        failed.id = article.id.clone();
        let previous = HashMap::from([(key(&failed), failed.clone())]);
        assert_eq!(earlier(&previous, &article, dir.path()), Some(failed));
    }

    #[test]
    fn a_held_folder_is_refused_naming_it_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        OutputLock::check(dir.path(), None).unwrap();
        assert!(
            !dir.path().join(LOCK_FILE).exists(),
            "check creates nothing"
        );
        let held = OutputLock::acquire(dir.path()).unwrap();
        let pid = std::process::id().to_string();
        for err in [
            OutputLock::acquire(dir.path()).unwrap_err(),
            OutputLock::check(dir.path(), None).unwrap_err(),
        ] {
            let msg = err.to_string();
            assert!(matches!(err, Error::Busy(_)), "{msg}");
            assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
            assert!(msg.contains(&pid) && msg.contains("--out"), "{msg}");
            assert!(msg.contains("wait"), "{msg}");
        }
        drop(held);
        // The lock file stays; it does not block once its holder is gone.
        assert!(dir.path().join(LOCK_FILE).exists());
        OutputLock::check(dir.path(), None).unwrap();
        drop(OutputLock::acquire(dir.path()).unwrap());

        let err = OutputLock::acquire(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn shards_share_the_folder_but_each_runs_once_and_a_whole_run_waits() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (Shard::new(1, 3).unwrap(), Shard::new(2, 3).unwrap());
        let held = OutputLock::acquire_shard(dir.path(), &one).unwrap();
        let other = OutputLock::acquire_shard(dir.path(), &two).unwrap();
        let pid = std::process::id().to_string();
        for err in [
            OutputLock::acquire_shard(dir.path(), &one).unwrap_err(),
            OutputLock::check(dir.path(), Some(&one)).unwrap_err(),
        ] {
            let msg = err.to_string();
            assert!(matches!(err, Error::Busy(_)), "{msg}");
            assert!(msg.contains("shard 1/3 of") && msg.contains(&pid), "{msg}");
        }
        // A single-machine run (or a merge) waits for every shard.
        assert!(OutputLock::acquire(dir.path()).is_err());
        drop(held);
        assert!(OutputLock::check(dir.path(), None).is_err());
        drop(other);
        let whole = OutputLock::acquire(dir.path()).unwrap();
        // And shards wait for it.
        let err = OutputLock::acquire_shard(dir.path(), &one).unwrap_err();
        assert!(err.to_string().contains(&pid), "{err}");
        drop(whole);
        drop(OutputLock::acquire_shard(dir.path(), &one).unwrap());
    }

    #[test]
    fn interrupt_records_the_signal() {
        let stop = Interrupt::default();
        assert!(!stop.requested());
        let shared = stop.clone();
        shared.raise(15);
        assert_eq!(stop.signal(), Some(15));
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(2), "SIGINT");
    }

    fn article(title: &str, sha: &str) -> Article {
        Article {
            id: "a".into(),
            title: title.into(),
            ..Article::plain("a.txt", "Rates rose.", sha)
        }
    }

    pub(in crate::pipeline) fn test_options() -> DigestOptions {
        DigestOptions {
            out: "out".into(),
            article: ArticleOptions {
                languages: vec!["fr".into()],
                sentences: 3,
                style: Style::Paragraph,
                long: crate::prompts::LongArticles::Excerpts,
                translate_full: false,
                verify: true,
                window: None,
                overlap: 0,
                max_article_tokens: 50_000,
                deadline: None,
                max_answer_tokens: None,
            },
            jobs: 1,
            scheduler: Default::default(),
            force: false,
            interrupt: Interrupt::default(),
            shard: None,
        }
    }

    fn run_key() -> RunKey {
        let opts = test_options();
        RunKey {
            abridge: "0.1.0",
            code: code_sha256(),
            model_sha256: "ab".repeat(32),
            template: Some("{% for m in messages %}{{ m.content }}{% endfor %}".into()),
            prompts: "cd".repeat(32),
            options: options(&opts, 4096),
        }
    }

    #[test]
    fn the_key_changes_with_everything_that_shapes_an_output() {
        let a = article("Rates", "00ff");
        let base = run_key();
        let key = |run: &RunKey| article_key(&run.sha256(), &a);
        assert_eq!(key(&base), key(&run_key()), "stable");
        assert_eq!(key(&base).len(), 16);

        let mut changed = Vec::new();
        let mut template = base.clone();
        template.template = Some("{{ messages[0].content }}".into());
        changed.push(("template", template));
        let mut no_template = base.clone();
        no_template.template = None;
        changed.push(("no template", no_template));
        let mut prompts = base.clone();
        prompts.prompts = "ce".repeat(32);
        changed.push(("prompts", prompts));
        let mut code = base.clone();
        code.code = "00".repeat(32);
        changed.push(("code", code));
        let mut model = base.clone();
        model.model_sha256 = "ac".repeat(32);
        changed.push(("model", model));
        let mut version = base.clone();
        version.abridge = "0.2.0";
        changed.push(("version", version));
        for (option, value) in [
            ("languages", serde_json::json!(["de"])),
            ("sentences", serde_json::json!(2)),
            ("style", serde_json::json!("bullets")),
            ("long", serde_json::json!("map-reduce")),
            ("translate_full", serde_json::json!(true)),
            ("verify", serde_json::json!(false)),
            ("window", serde_json::json!(768)),
            ("overlap", serde_json::json!(16)),
            ("max_article_tokens", serde_json::json!(1000)),
            ("deadline_s", serde_json::json!(60.0)),
        ] {
            let mut run = base.clone();
            assert!(run.options.get(option).is_some(), "{option} is in the key");
            run.options[option] = value;
            changed.push((option, run));
        }
        for (what, run) in &changed {
            assert_ne!(key(run), key(&base), "{what} does not change the key");
        }
        assert_ne!(
            article_key(&base.sha256(), &article("Rates", "00fe")),
            key(&base)
        );
        assert_ne!(
            article_key(&base.sha256(), &article("Rates!", "00ff")),
            key(&base)
        );
    }

    /// A synthetic chat model whose template writes roles as `open` + role + `close`.
    fn chat_model(dir: &Path, name: &str, open: &str, close: &str) -> Model {
        use candle_core::quantized::gguf_file::Value;
        let template = format!(
            "{{% for m in messages %}}{open}{{{{ m.role }}}}{close}{{{{ m.content }}}}\n\
             {{% endfor %}}{{% if add_generation_prompt %}}{open}assistant{close}{{% endif %}}"
        );
        let path = dir.join(name);
        crate::model::synthetic::TinyGguf::llama()
            .set("tokenizer.chat_template", Value::String(template))
            .write(&path)
            .unwrap();
        Model::load_path(name.into(), path).unwrap()
    }

    /// The key takes the template from the loaded model: opening the file again
    /// mapped and read in all of it a second time (1.1 GB more peak RSS on the
    /// default model), and would key on a file replaced since the load.
    #[test]
    fn the_key_takes_the_template_from_the_loaded_model() {
        let dir = tempfile::tempdir().unwrap();
        let a = chat_model(dir.path(), "a.gguf", "ab", "cd");
        let template = chat_template(&a).expect("a chat model");
        assert!(template.contains("add_generation_prompt"), "{template}");
        std::fs::remove_file(&a.path).unwrap();
        assert_eq!(chat_template(&a).as_deref(), Some(template.as_str()));
    }

    #[test]
    fn keys_on_real_models_follow_the_chat_template_and_the_prompts() {
        let dir = tempfile::tempdir().unwrap();
        // Letters: the synthetic vocabulary has no tokens for punctuation.
        let a = chat_model(dir.path(), "a.gguf", "ab", "cd");
        let a_again = chat_model(dir.path(), "a2.gguf", "ab", "cd");
        let b = chat_model(dir.path(), "b.gguf", "ef", "gh");
        let mut opts = test_options();
        let article = article("Rates", "00ff");
        // The same model sha256 for all: only the template differs.
        let sha = "ab".repeat(32);
        let key = |model: &Model, opts: &DigestOptions| {
            Settings::new(model, &sha, opts, 256).key(&article)
        };
        assert_eq!(key(&a, &opts), key(&a_again, &opts));
        assert_ne!(key(&a, &opts), key(&b, &opts));
        assert_eq!(chat_template(&a), chat_template(&a_again));
        assert_ne!(chat_template(&a), chat_template(&b));
        assert_ne!(
            prompts_sha256(&a, &opts.article),
            prompts_sha256(&b, &opts.article)
        );
        // What the prompts ask is in the probe: another length, another language.
        let before = prompts_sha256(&a, &opts.article);
        opts.article.sentences = 1;
        assert_ne!(prompts_sha256(&a, &opts.article), before);
        let one = prompts_sha256(&a, &opts.article);
        opts.article.languages = vec!["de".into()];
        assert_ne!(prompts_sha256(&a, &opts.article), one);
        // --jobs and --force do not shape outputs.
        let k = key(&a, &opts);
        opts.jobs = 4;
        opts.force = true;
        assert_eq!(key(&a, &opts), k);
    }

    #[test]
    fn the_code_hash_covers_the_prompt_wording() {
        // The wording is in the hashed sources, so editing it changes the key.
        assert!(include_str!("../prompts/mod.rs").contains("You are a careful news editor"));
        assert_eq!(code_sha256(), code_sha256());
    }
}
