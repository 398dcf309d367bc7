//! The digest: many articles in, one markdown file each plus an index and a
//! manifest out. Articles are jobs on the rayon pool sharing one set of weights;
//! every file is replaced atomically as each article finishes, so a killed run
//! resumes where it stopped and a re-run skips what has not changed.

pub mod runner;
pub mod summarize;
pub mod translate;

use std::collections::HashMap;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::article::{self, Article};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::prompts::Style;
use crate::render::{
    self, ArticleDoc, ArticleMeta, IndexInfo, ManifestEntry, Slugs, Status, TranslationDoc,
    INDEX_FILE, MANIFEST_FILE,
};
use runner::Runner;
use summarize::{summarize, Summary, SummarySpec};
use translate::{translate, Translation};

/// Working window when the model's context is larger: small models lose the
/// thread on long inputs, and map-reduce covers articles of any length anyway.
pub const DEFAULT_WINDOW: usize = 4096;

/// How each article is summarized and translated, in the digest and the editor
/// commands alike.
#[derive(Debug, Clone)]
pub struct ArticleOptions {
    /// ISO 639-1 codes to translate each summary into.
    pub languages: Vec<String>,
    pub sentences: usize,
    pub style: Style,
    /// Also translate whole articles.
    pub translate_full: bool,
    /// Tokens of prompt plus answer per generation (default: the model's context,
    /// at most [`DEFAULT_WINDOW`]).
    pub window: Option<usize>,
    /// Tokens of context repeated between consecutive chunks.
    pub overlap: usize,
    /// Longer articles are refused at once (`--max-article-tokens`).
    pub max_article_tokens: usize,
    /// Work on one article stops after this long (`--deadline`).
    pub deadline: Option<std::time::Duration>,
}

/// A long feature is 10-20k tokens; 50k leaves room for a report while bounding
/// what one article can cost (map-reduce time grows with it).
pub const DEFAULT_MAX_ARTICLE_TOKENS: usize = 50_000;

impl ArticleOptions {
    /// The working window on `model`.
    pub fn window(&self, model: &Model) -> usize {
        self.window
            .unwrap_or(DEFAULT_WINDOW)
            .min(model.context_length())
    }
}

#[derive(Debug, Clone)]
pub struct DigestOptions {
    pub out: PathBuf,
    pub article: ArticleOptions,
    /// Articles worked on at once.
    pub jobs: usize,
    /// Redo articles even when their input, model and settings are unchanged.
    pub force: bool,
}

/// One article's checked summary and translations.
#[derive(Debug, Clone)]
pub struct Processed {
    pub summary: Summary,
    pub translations: Vec<Translation>,
    pub full_translations: Vec<Translation>,
}

/// Summarizes `text`, checks and grounds the summary, and translates it (and, if
/// asked, the whole text) with checks: the one path behind every front door.
pub fn process_article(runner: &Runner, text: &str, opts: &ArticleOptions) -> Result<Processed> {
    check_length(runner, text, opts.max_article_tokens)?;
    let spec = SummarySpec {
        sentences: opts.sentences,
        style: opts.style,
        overlap: opts.overlap,
    };
    let summary = summarize(runner, text, &spec)?;
    let all = |text: &str| -> Vec<Translation> {
        opts.languages
            .iter()
            .map(|lang| translate(runner, text, lang))
            .collect()
    };
    let translations = all(&summary.text);
    let full_translations = if opts.translate_full {
        all(text)
    } else {
        Vec::new()
    };
    Ok(Processed {
        summary,
        translations,
        full_translations,
    })
}

/// Refuses an article over `max` tokens, without tokenizing a text so large that
/// counting it would itself take long (text runs under 16 bytes a token).
fn check_length(runner: &Runner, text: &str, max: usize) -> Result<()> {
    let refuse = |tokens: String| {
        Error::Input(format!(
            "the article is {tokens} tokens long, over the limit of {max}; raise it with \
             --max-article-tokens"
        ))
    };
    // A token is at least a byte, so a text of at most `max` bytes always fits.
    if text.len() <= max {
        return Ok(());
    }
    if text.len() / 16 > max {
        return Err(refuse(format!("about {}", text.len() / 4)));
    }
    match runner.count(text)? {
        n if n > max => Err(refuse(n.to_string())),
        _ => Ok(()),
    }
}

/// What a run did, for the final line and the exit code.
#[derive(Debug, Clone, Default)]
pub struct DigestReport {
    pub ok: usize,
    pub skipped: usize,
    pub failed: usize,
    pub index: PathBuf,
    pub manifest: PathBuf,
    pub entries: Vec<ManifestEntry>,
}

/// Told about the run as it goes (a progress bar, log lines).
pub trait Progress: Sync {
    /// `total` inputs, of which `skipped` are unchanged since an earlier run.
    fn start(&self, _total: usize, _skipped: usize) {}
    /// An article is done (or was refused when read).
    fn finished(&self, _entry: &ManifestEntry) {}
}

/// A no-op [`Progress`].
pub struct Silent;
impl Progress for Silent {}

pub fn digest(
    model: &Model,
    inputs: &[PathBuf],
    opts: &DigestOptions,
    progress: &dyn Progress,
) -> Result<DigestReport> {
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    let stale = render::remove_stale_temps(&opts.out)?;
    if stale > 0 {
        tracing::info!("removed {stale} temporary files left by an interrupted run");
    }
    let window = opts.article.window(model);

    let mut items = Vec::new();
    for source in article::expand_inputs(inputs)? {
        items.extend(article::read_source(&source));
    }

    let model_sha256 = file_sha256(&model.path)?;
    let settings = Settings {
        model: &model.name,
        model_sha256: &model_sha256,
        opts,
        window,
    };
    let previous: HashMap<(String, String), ManifestEntry> =
        render::read_manifest(&opts.out.join(MANIFEST_FILE))?
            .into_iter()
            .map(|e| ((e.input.clone(), e.id.clone()), e))
            .collect();

    // Outputs of unchanged articles keep their names; the rest get new ones, in
    // input order so names do not depend on scheduling.
    let mut slugs = Slugs::default();
    let mut entries: Vec<Option<ManifestEntry>> = Vec::with_capacity(items.len());
    for item in &items {
        entries.push(match item {
            Err(r) => Some(failed_entry(&r.input, &r.id, r.reason.clone(), Vec::new())),
            Ok(a) => (!opts.force)
                .then(|| reusable(&previous, a, &settings.key(a), &opts.out))
                .flatten()
                .inspect(|e| {
                    let output = e.output.as_deref().unwrap_or_default();
                    slugs.reserve(output.strip_suffix(".md").unwrap_or(output));
                }),
        });
    }
    let mut jobs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let (Ok(a), None) = (item, &entries[i]) {
            let slug = slugs.allocate(&a.title, &a.id);
            jobs.push((i, a, format!("{slug}.md")));
        }
    }

    let skipped = entries
        .iter()
        .flatten()
        .filter(|e| e.status == Status::Skipped);
    progress.start(items.len(), skipped.count());
    for entry in entries
        .iter()
        .flatten()
        .filter(|e| e.status == Status::Failed)
    {
        progress.finished(entry);
    }
    let state = Mutex::new(Outputs {
        dir: opts.out.clone(),
        entries,
        info: IndexInfo {
            date: chrono::Local::now().format("%Y-%m-%d").to_string(),
            model: model.name.clone(),
            languages: opts.article.languages.clone(),
        },
    });
    let work = |(i, article, output): &(usize, &Article, String)| {
        let entry = run_article(model, window, article, output, &settings);
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        let entry = match state.publish(*i, entry) {
            Ok(entry) => entry,
            Err(e) => {
                // The article file could not be written: the run cannot go on.
                tracing::error!("{e}");
                return Err(e);
            }
        };
        progress.finished(&entry);
        Ok(())
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1).max(rayon::current_num_threads()))
        .build()
        .map_err(|e| Error::Model(format!("cannot start the worker pool: {e}")))?;
    if opts.jobs <= 1 {
        pool.install(|| jobs.iter().try_for_each(work))?;
    } else {
        pool.install(|| jobs.par_iter().with_max_len(1).try_for_each(work))?;
    }

    let state = state.into_inner().unwrap_or_else(|p| p.into_inner());
    state.write_listings()?;
    let entries: Vec<ManifestEntry> = state.entries.into_iter().flatten().collect();
    let count = |s: Status| entries.iter().filter(|e| e.status == s).count();
    Ok(DigestReport {
        ok: count(Status::Ok),
        skipped: count(Status::Skipped),
        failed: count(Status::Failed),
        index: opts.out.join(INDEX_FILE),
        manifest: opts.out.join(MANIFEST_FILE),
        entries,
    })
}

/// What decides whether an earlier result can be reused.
struct Settings<'a> {
    model: &'a str,
    model_sha256: &'a str,
    opts: &'a DigestOptions,
    window: usize,
}

impl Settings<'_> {
    /// A digest of everything that shapes an article's output.
    fn key(&self, article: &Article) -> String {
        let o = &self.opts.article;
        let described = serde_json::json!({
            "abridge": env!("CARGO_PKG_VERSION"),
            "input": article.input_sha256,
            "title": article.title,
            "model": self.model_sha256,
            "languages": o.languages,
            "sentences": o.sentences,
            "style": o.style,
            "translate_full": o.translate_full,
            "window": self.window,
            "overlap": o.overlap,
        });
        hex(&Sha256::digest(described.to_string().as_bytes()))[..16].to_string()
    }
}

/// The earlier entry for `article`, as skipped, if it was done with the same key
/// and its file is still there and still says so.
fn reusable(
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
        ..old.clone()
    })
}

/// Summarizes and translates one article; never panics, never fails the run.
fn run_article(
    model: &Model,
    window: usize,
    article: &Article,
    output: &str,
    settings: &Settings,
) -> Done {
    let started = Instant::now();
    let runner = Runner::new(model, window).with_deadline(settings.opts.article.deadline);
    let runner = runner.with_label(article.id.clone());
    let result = catch_unwind(AssertUnwindSafe(|| article_doc(&runner, article, settings)))
        .unwrap_or_else(|panic| {
            let what = crate::error::panic_message(&*panic);
            Err(Error::Model(format!("internal error: {what}")))
        });
    let seconds = started.elapsed().as_secs_f64();
    let (tokens_in, tokens_out) = runner.tokens();
    match result {
        Ok(mut doc) => {
            doc.meta.seconds = seconds;
            doc.meta.tokens_in = tokens_in;
            doc.meta.tokens_out = tokens_out;
            let entry = ManifestEntry {
                input: article.input.clone(),
                id: article.id.clone(),
                status: Status::Ok,
                error: None,
                output: Some(output.to_string()),
                title: Some(article.title.clone()),
                summary: Some(doc.summary.clone()),
                translations: doc
                    .translations
                    .iter()
                    .filter_map(|t| Some((t.lang.clone(), t.text.clone()?)))
                    .collect(),
                support: doc.support.clone(),
                checks: doc
                    .translations
                    .iter()
                    .map(|t| (t.lang.clone(), t.checks.clone()))
                    .collect(),
                warnings: doc.meta.warnings.clone(),
                tokens_in,
                tokens_out,
                seconds,
                key: Some(doc.meta.key.clone()),
                input_sha256: Some(article.input_sha256.clone()),
            };
            Done::Written(Box::new(doc), entry)
        }
        Err(e) => {
            let mut entry = failed_entry(
                &article.input,
                &article.id,
                e.to_string(),
                article.warnings.clone(),
            );
            entry.title = Some(article.title.clone());
            entry.tokens_in = tokens_in;
            entry.tokens_out = tokens_out;
            entry.seconds = seconds;
            entry.input_sha256 = Some(article.input_sha256.clone());
            Done::Failed(entry)
        }
    }
}

fn article_doc(runner: &Runner, article: &Article, settings: &Settings) -> Result<ArticleDoc> {
    let opts = &settings.opts.article;
    let done = process_article(runner, &article.text, opts)?;
    let mut warnings = article.warnings.clone();
    warnings.extend(done.summary.warnings.iter().cloned());
    let mut docs = |ts: Vec<Translation>| -> Vec<TranslationDoc> {
        ts.into_iter()
            .map(|t| translation_doc(t, &mut warnings))
            .collect()
    };
    let translations = docs(done.translations);
    let full_translations = docs(done.full_translations);
    Ok(ArticleDoc {
        meta: ArticleMeta {
            title: article.title.clone(),
            source: article.input.clone(),
            input_sha256: article.input_sha256.clone(),
            model: settings.model.to_string(),
            model_sha256: settings.model_sha256.to_string(),
            languages: opts.languages.clone(),
            chunks: done.summary.chunks,
            // Filled in once the article is done.
            tokens_in: 0,
            tokens_out: 0,
            seconds: 0.0,
            key: settings.key(article),
            warnings,
        },
        summary: done.summary.text,
        style: opts.style,
        support: done.summary.support,
        translations,
        full_translations,
    })
}

fn translation_doc(t: Translation, warnings: &mut Vec<String>) -> TranslationDoc {
    warnings.extend(t.warning);
    let (text, error) = match t.outcome {
        Ok(text) => (Some(text), None),
        Err(reason) => {
            warnings.push(format!("{} translation failed: {reason}", t.lang));
            (None, Some(reason))
        }
    };
    TranslationDoc {
        lang: t.lang,
        text,
        error,
        checks: t.checks,
    }
}

enum Done {
    Written(Box<ArticleDoc>, ManifestEntry),
    Failed(ManifestEntry),
}

fn failed_entry(input: &str, id: &str, reason: String, warnings: Vec<String>) -> ManifestEntry {
    ManifestEntry {
        input: input.to_string(),
        id: id.to_string(),
        status: Status::Failed,
        error: Some(reason),
        output: None,
        title: None,
        summary: None,
        translations: Default::default(),
        support: Vec::new(),
        checks: Default::default(),
        warnings,
        tokens_in: 0,
        tokens_out: 0,
        seconds: 0.0,
        key: None,
        input_sha256: None,
    }
}

/// The output folder's state, updated under a lock as articles finish.
struct Outputs {
    dir: PathBuf,
    /// One slot per input, in input order; `None` until it is done.
    entries: Vec<Option<ManifestEntry>>,
    info: IndexInfo,
}

impl Outputs {
    /// Writes a finished article, then the manifest and index that record it: a
    /// kill at any point leaves every file whole, and the manifest never names an
    /// article file that is not complete.
    fn publish(&mut self, slot: usize, done: Done) -> Result<ManifestEntry> {
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
        self.entries[slot] = Some(entry.clone());
        self.write_listings()?;
        Ok(entry)
    }

    fn write_listings(&self) -> Result<()> {
        let done: Vec<ManifestEntry> = self.entries.iter().flatten().cloned().collect();
        render::write_atomic(
            &self.dir.join(MANIFEST_FILE),
            render::render_manifest(&done).as_bytes(),
        )?;
        render::write_atomic(
            &self.dir.join(INDEX_FILE),
            render::render_index(&self.info, &done).as_bytes(),
        )
    }
}

/// Hex sha256 of a file, read in blocks (model files are hundreds of MB).
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
