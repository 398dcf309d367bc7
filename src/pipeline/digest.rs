//! The digest: many articles in, one markdown file each plus an index and a
//! manifest out. `--jobs` threads each work on one article at a time; all their
//! generations go to one [`Scheduler`], which batches them on the compute threads.
//! Each article file is written atomically and recorded in the manifest as it
//! finishes, so a killed run resumes where it stopped and a re-run skips what has not
//! changed (the bookkeeping is in [`super::output`], the key in `super::key`).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use super::key::Settings;
use super::output::{self, reusable, Done, OutputLock, Outputs};
use super::runner::Runner;
use super::shard::{self, Shard};
use super::{file_sha256, process_article, ArticleOptions, ArticleResult, Interrupt};
use crate::article::{self, Article};
use crate::error::{Error, Result};
use crate::model::scheduler::{Scheduler, SchedulerOptions};
use crate::model::Model;
use crate::render::{self, IndexInfo, ManifestEntry, Slugs, Status, INDEX_FILE, MANIFEST_FILE};

#[derive(Debug, Clone)]
pub struct DigestOptions {
    pub out: PathBuf,
    pub article: ArticleOptions,
    /// Articles worked on at once.
    pub jobs: usize,
    /// How generations share the model: batch size, KV memory.
    pub scheduler: SchedulerOptions,
    /// Redo articles even when their input, model and settings are unchanged.
    pub force: bool,
    /// Stops the run early: no new article starts, what is done is written.
    pub interrupt: Interrupt,
    /// Do only this shard's inputs, for `abridge merge` to combine (`--shard`).
    pub shard: Option<Shard>,
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
    /// Inputs not done because the run was interrupted.
    pub unfinished: usize,
    /// The signal that interrupted the run, if one did.
    pub interrupted: Option<i32>,
    /// Whether the run was stopped while reading its inputs, before it wrote
    /// anything.
    pub stopped_reading: bool,
    /// The shard this run did: then `manifest` is the shard's and there is no index
    /// until `abridge merge`.
    pub shard: Option<Shard>,
}

/// Told about the run as it goes (a progress bar, log lines).
pub trait Progress: Sync {
    /// `total` inputs, of which `skipped` are unchanged since an earlier run.
    fn start(&self, _total: usize, _skipped: usize) {}
    /// An article is done (or was refused when read).
    fn finished(&self, _entry: &ManifestEntry) {}
    /// Generated tokens per second so far, and the mean sequences per decode step.
    fn throughput(&self, _tokens_per_second: f64, _batch_fill: f64) {}
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
    // Inputs first: a missing one leaves no output folder behind.
    let inputs = article::Inputs::open(inputs, Some(&opts.out))?;
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    // Before anything is written or cleaned: the temp files may be another run's.
    let _lock = match &opts.shard {
        Some(shard) => OutputLock::acquire_shard(&opts.out, shard)?,
        None => OutputLock::acquire(&opts.out)?,
    };
    let window = opts.article.window(model);

    // A shard keeps its own inputs, their file names allocated over all of them.
    let mut plan = match &opts.shard {
        Some(shard) => {
            shard::begin(&opts.out, shard)?;
            Some(shard::Plan::new(*shard))
        }
        None => None,
    };
    let manifest_file = opts
        .shard
        .map_or(MANIFEST_FILE.to_string(), |s| s.manifest_file());

    let model_sha256 = file_sha256(&model.path)?;
    let settings = Settings::new(model, &model_sha256, opts, window);
    let mut previous = output::read_previous(&opts.out.join(MANIFEST_FILE))?;
    if opts.shard.is_some() {
        // The shard's own record wins over a merged or single-machine one.
        previous.extend(output::read_previous(&opts.out.join(&manifest_file))?);
    }

    let planned = match plan_run(&inputs, opts, &settings, &previous, plan.as_mut())? {
        Planning::Planned(planned) => planned,
        // A stop while planning (a slow input, a huge feed) ends the run before
        // anything is written: the output folder stays as the last run left it.
        Planning::Stopped { position, signal } => {
            return Ok(DigestReport {
                index: opts.out.join(INDEX_FILE),
                manifest: opts.out.join(&manifest_file),
                shard: opts.shard,
                unfinished: position,
                interrupted: Some(signal),
                stopped_reading: true,
                ..DigestReport::default()
            })
        }
    };
    let Planned {
        entries,
        earlier,
        jobs,
    } = planned;
    let stale = match &plan {
        // Other shards are writing: only this one's leftovers are stale.
        Some(plan) => render::remove_stale_temps_of(&opts.out, |target| {
            target == manifest_file || plan.writes(target)
        })?,
        None => render::remove_stale_temps(&opts.out)?,
    };
    if stale > 0 {
        tracing::info!("removed {stale} temporary files left by an interrupted run");
    }

    let skipped = entries
        .iter()
        .flatten()
        .filter(|e| e.status == Status::Skipped);
    progress.start(entries.len(), skipped.count());
    for entry in entries
        .iter()
        .flatten()
        .filter(|e| e.status == Status::Failed)
    {
        progress.finished(entry);
    }
    let total = entries.len();
    let info = IndexInfo {
        date: chrono::Local::now().format("%Y-%m-%d").to_string(),
        model: model.name.clone(),
        languages: opts.article.languages.clone(),
    };
    // A shard's index comes from `merge`.
    let index_info = opts.shard.is_none().then(|| info.clone());
    let state = Mutex::new(Outputs::open(
        &opts.out,
        &manifest_file,
        entries,
        earlier,
        index_info,
    )?);
    // One scheduler runs every generation; `jobs` threads each work on one article
    // at a time and wait on it, so nothing else competes for the compute threads.
    let scheduler = Scheduler::start(model.clone(), opts.scheduler)?;
    // Second pass: the articles to do, read again as workers take them, so at most
    // `jobs` texts are held at once.
    let workers = opts.jobs.clamp(1, jobs.len().max(1));
    let work = Mutex::new(Work {
        articles: articles(&inputs).enumerate(),
        jobs: jobs.into_iter(),
    });
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let worker = || loop {
        if opts.interrupt.requested() || failed.lock().unwrap_or_else(|p| p.into_inner()).is_some()
        {
            return;
        }
        let next = work.lock().unwrap_or_else(|p| p.into_inner()).next();
        let Some((job, item)) = next else {
            return;
        };
        let entry = match item {
            Ok(article) => run_article(&scheduler, window, &article, &job.output, &settings),
            Err(reason) => Done::Failed(ManifestEntry::failed(
                &job.input,
                &job.id,
                reason,
                Vec::new(),
            )),
        };
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        match state.publish(job.slot, entry) {
            Ok(entry) => {
                progress.throughput(scheduler.tokens_per_second(), scheduler.stats.batch_fill());
                progress.finished(&entry);
            }
            Err(e) => {
                // The article file could not be written: the run cannot go on.
                tracing::error!("{e}");
                *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                return;
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(worker);
        }
    });
    tracing::info!("generation: {}", scheduler.stats);
    drop(scheduler);
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }

    let state = state.into_inner().unwrap_or_else(|p| p.into_inner());
    let entries = state.finish()?;
    if let (Some(shard), Some(plan)) = (&opts.shard, plan) {
        if entries.len() == total {
            let marker = shard::Marker {
                shard: shard.index,
                count: shard.count,
                inputs: plan.total,
                positions: plan.positions,
                run: settings.run_key().to_string(),
                index: info,
            };
            shard::complete(&opts.out, shard, &marker)?;
        }
    }
    let count = |s: Status| entries.iter().filter(|e| e.status == s).count();
    Ok(DigestReport {
        ok: count(Status::Ok),
        skipped: count(Status::Skipped),
        failed: count(Status::Failed),
        index: opts.out.join(INDEX_FILE),
        manifest: opts.out.join(&manifest_file),
        shard: opts.shard,
        unfinished: total - entries.len(),
        // A stop that came after the last article left nothing undone.
        interrupted: opts.interrupt.signal().filter(|_| entries.len() < total),
        stopped_reading: false,
        entries,
    })
}

/// What the first pass decided: per slot, the entry already known (an unchanged
/// article, an input refused when read), what an earlier run recorded for the
/// others, and the jobs to do with their file names.
struct Planned {
    entries: Vec<Option<ManifestEntry>>,
    earlier: Vec<(usize, ManifestEntry)>,
    jobs: Vec<Job>,
}

enum Planning {
    Planned(Planned),
    /// Stopped by a signal at this input, before anything was written.
    Stopped {
        position: usize,
        signal: i32,
    },
}

/// The first pass: what each input needs, keeping entries and no texts. Outputs of
/// unchanged articles keep their names; the rest get new ones, in input order so
/// names do not depend on scheduling. A shard (`plan`) admits only its own inputs,
/// their names allocated over all of them.
fn plan_run(
    inputs: &article::Inputs,
    opts: &DigestOptions,
    settings: &Settings,
    previous: &HashMap<(String, String), ManifestEntry>,
    mut plan: Option<&mut shard::Plan>,
) -> Result<Planning> {
    let mut slugs = Slugs::default();
    // Shards see the same foreign files (other shards' outputs are the digest's),
    // so they still plan the same names.
    for stem in output::foreign_stems(&opts.out, previous)? {
        match plan.as_deref_mut() {
            Some(plan) => plan.reserve(&stem),
            None => slugs.reserve(&stem),
        }
    }
    let mut entries: Vec<Option<ManifestEntry>> = Vec::new();
    let mut earlier = Vec::new();
    let mut todo = Vec::new();
    for (position, item) in articles(inputs).enumerate() {
        if let Some(signal) = opts.interrupt.signal() {
            return Ok(Planning::Stopped { position, signal });
        }
        if plan.as_deref_mut().is_some_and(|p| !p.admit(&item)) {
            continue; // another shard's
        }
        let slot = entries.len();
        let planned = plan.as_deref().and_then(|p| p.name(slot));
        entries.push(match item {
            Err(r) => Some(ManifestEntry::failed(&r.input, &r.id, r.reason, Vec::new())),
            Ok(a) => {
                let reused = (!opts.force)
                    .then(|| reusable(previous, &a, &settings.key(&a), &opts.out))
                    .flatten()
                    // A shard's file must have the name no other shard gives out.
                    .filter(|e| plan.is_none() || e.output == planned)
                    .inspect(|e| {
                        let output = e.output.as_deref().unwrap_or_default();
                        slugs.reserve(output.strip_suffix(".md").unwrap_or(output));
                    });
                if reused.is_none() {
                    earlier.extend(output::earlier(previous, &a, &opts.out).map(|e| (slot, e)));
                    // The text is dropped here: the second pass reads it again.
                    let job = Job {
                        slot,
                        position,
                        output: String::new(),
                        input: a.input,
                        id: a.id,
                        input_sha256: a.input_sha256,
                    };
                    todo.push((job, a.title, planned));
                }
                reused
            }
        });
    }
    let jobs = todo
        .into_iter()
        .map(|(job, title, planned)| Job {
            output: planned.unwrap_or_else(|| format!("{}.md", slugs.allocate(&title, &job.id))),
            ..job
        })
        .collect();
    Ok(Planning::Planned(Planned {
        entries,
        earlier,
        jobs,
    }))
}

/// Every article of the run, in input order, read as asked for: the one place the
/// digest enumerates articles (both passes go through it).
fn articles(inputs: &article::Inputs) -> impl Iterator<Item = ReadArticle> + '_ {
    inputs.articles()
}

type ReadArticle = std::result::Result<Article, article::Rejected>;

/// An article the first pass found to do: where its result goes, and what it was
/// then, to check that the second pass reads the same article.
struct Job {
    /// Its entry among the run's (a shard's: its own inputs').
    slot: usize,
    /// Its article's place among all the inputs' articles.
    position: usize,
    output: String,
    input: String,
    id: String,
    input_sha256: String,
}

impl Job {
    fn reads(&self, a: &Article) -> bool {
        (a.input.as_str(), a.id.as_str(), a.input_sha256.as_str())
            == (&self.input, &self.id, &self.input_sha256)
    }
}

/// The jobs, in slot order, each with the article the second pass reads at its
/// slot, or why it failed: refused now, or not the article the first pass saw.
struct Work<I> {
    articles: std::iter::Enumerate<I>,
    jobs: std::vec::IntoIter<Job>,
}

impl<I: Iterator<Item = ReadArticle>> Iterator for Work<I> {
    type Item = (Job, std::result::Result<Article, String>);

    fn next(&mut self) -> Option<Self::Item> {
        let job = self.jobs.next()?;
        // Articles between jobs (skipped, refused) are read past, not kept.
        let item = self
            .articles
            .by_ref()
            .find(|(position, _)| *position >= job.position)
            .filter(|(position, _)| *position == job.position)
            .map(|(_, item)| item);
        let changed = || {
            format!(
                "{} changed while the digest was reading it; run the digest again",
                job.input
            )
        };
        let item = match item {
            Some(Ok(a)) if job.reads(&a) => Ok(a),
            Some(Err(r)) if (r.input.as_str(), r.id.as_str()) == (&job.input, &job.id) => {
                Err(r.reason)
            }
            _ => Err(changed()),
        };
        Some((job, item))
    }
}

/// Summarizes and translates one article; never panics, never fails the run.
fn run_article(
    scheduler: &Scheduler,
    window: usize,
    article: &Article,
    output: &str,
    settings: &Settings,
) -> Done {
    let started = Instant::now();
    let opts = &settings.opts.article;
    let runner = Runner::new(scheduler, window)
        .with_deadline(opts.deadline)
        .with_answer_cap(opts.max_answer_tokens)
        .with_label(article.id.clone());
    let result = catch_unwind(AssertUnwindSafe(|| process_article(&runner, article, opts)))
        .unwrap_or_else(|panic| {
            let what = crate::error::panic_message(&*panic);
            Err(Error::Model(format!("internal error: {what}")))
        });
    let seconds = started.elapsed().as_secs_f64();
    let tokens = runner.tokens();
    match result {
        Ok(done) => {
            let key = settings.key(article);
            let result =
                ArticleResult::new(article, done, opts.style, settings.model, tokens, seconds);
            let doc = result.doc(&key, settings.model_sha256, &opts.languages);
            let fingerprint = crate::brief::Fingerprint::of(&article.text);
            Done::Written(Box::new(doc), result.entry(output, &key, fingerprint))
        }
        Err(e) => {
            let mut entry = ManifestEntry::failed(
                &article.input,
                &article.id,
                e.to_string(),
                article.warnings.clone(),
            );
            entry.title = Some(article.title.clone());
            entry.about = article.about.clone();
            (entry.tokens_in, entry.tokens_out) = tokens;
            entry.seconds = seconds;
            entry.input_sha256 = Some(article.input_sha256.clone());
            Done::Failed(entry)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article::Rejected;

    fn article(input: &str, sha: &str) -> Article {
        Article::plain(input, "Text.", sha)
    }

    fn job(slot: usize, input: &str, sha: &str) -> Job {
        Job {
            slot,
            position: slot,
            output: format!("{input}.md"),
            input: input.into(),
            id: input.into(),
            input_sha256: sha.into(),
        }
    }

    /// A stop that comes while the inputs are read writes nothing: the folder keeps
    /// the manifest and index of the run before, byte for byte.
    #[test]
    fn a_stop_while_reading_the_inputs_leaves_the_folder_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let (inputs, out) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::create_dir_all(&inputs).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        for name in ["a", "b"] {
            std::fs::write(inputs.join(format!("{name}.txt")), "Rates rose.").unwrap();
        }
        let earlier = crate::pipeline::testing::entry("old.txt", Status::Ok, "k0");
        let manifest = render::render_manifest(std::slice::from_ref(&earlier));
        std::fs::write(out.join(MANIFEST_FILE), &manifest).unwrap();
        std::fs::write(out.join("old.txt.md"), "x").unwrap();
        std::fs::write(out.join(INDEX_FILE), "index").unwrap();
        let path = dir.path().join("tiny.gguf");
        crate::model::synthetic::TinyGguf::llama()
            .write(&path)
            .unwrap();
        let model = Model::load_path("tiny".into(), path).unwrap();
        let opts = DigestOptions {
            out: out.clone(),
            ..crate::pipeline::testing::test_options()
        };
        opts.interrupt.raise(2);

        let report = digest(&model, &[inputs], &opts, &Silent).unwrap();
        assert_eq!(
            (report.interrupted, report.stopped_reading),
            (Some(2), true)
        );
        assert!(report.entries.is_empty());
        assert_eq!(
            std::fs::read_to_string(out.join(MANIFEST_FILE)).unwrap(),
            manifest
        );
        assert_eq!(
            std::fs::read_to_string(out.join(INDEX_FILE)).unwrap(),
            "index"
        );
        let mut files: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [output::LOCK_FILE, INDEX_FILE, MANIFEST_FILE, "old.txt.md"]
        );
    }

    /// The second pass pairs each job with the article at its slot, and fails a job
    /// whose input changed since the first pass: other bytes, refused now, or gone.
    #[test]
    fn second_pass_pairs_jobs_with_their_articles_and_fails_changed_ones() {
        let read: Vec<ReadArticle> = vec![
            Ok(article("a", "1")),
            Ok(article("skipped", "2")),
            Ok(article("b", "3")),
            Ok(article("c", "other")),
            Err(Rejected {
                input: "d".into(),
                id: "d".into(),
                reason: "d is gone".into(),
            }),
        ];
        let work = Work {
            articles: read.into_iter().enumerate(),
            jobs: vec![
                job(0, "a", "1"),
                job(2, "b", "3"),
                job(3, "c", "4"),
                job(4, "d", "5"),
                job(5, "e", "6"),
            ]
            .into_iter(),
        };
        let got: Vec<(usize, std::result::Result<String, String>)> = work
            .map(|(job, item)| (job.slot, item.map(|a| a.id)))
            .collect();
        let changed = |i: &str| {
            Err(format!(
                "{i} changed while the digest was reading it; run the digest again"
            ))
        };
        assert_eq!(
            got,
            [
                (0, Ok("a".to_string())),
                (2, Ok("b".to_string())),
                (3, changed("c")),
                (4, Err("d is gone".to_string())),
                (5, changed("e")),
            ]
        );
    }
}
