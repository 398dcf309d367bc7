//! The `abridge` command line: parses arguments, sets up logging and threads,
//! and calls the library. Results go to stdout, everything else to stderr.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use abridge::article::Article;
use abridge::model::resolve::{local_models, models_dir, ModelSpec, ALIASES, DEFAULT_MODEL};
use abridge::model::scheduler::{Scheduler, SchedulerOptions};
use abridge::model::{gguf::Gguf, GenerateOptions, Model};
use abridge::pipeline::runner::Runner;
use abridge::prompts::{LongArticles, Prompt, Style};
use abridge::{bench, lang, pipeline, progress, render};

#[derive(Parser)]
#[command(
    name = "abridge",
    version,
    about = "Summaries and translations of news articles with a local GGUF model"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Worker threads for inference (default: the machine's cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// More status on stderr (-v info, -vv debug; info is the default on a terminal).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// A .gguf path or OWNER/REPO:FILE[@REVISION] on the Hugging Face hub.
    #[arg(long, env = "ABRIDGE_MODEL", default_value = DEFAULT_MODEL)]
    model: String,
}

#[derive(Args, Clone)]
struct SamplingArgs {
    /// Most tokens to generate.
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// Sampling temperature; 0 is greedy (deterministic).
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    /// Nucleus sampling threshold (with --temperature > 0).
    #[arg(long)]
    top_p: Option<f64>,
    /// Seed for sampling.
    #[arg(long, default_value_t = 299792458)]
    seed: u64,
    /// Penalty for repeating recent tokens; 1.0 is off.
    #[arg(long, default_value_t = 1.0)]
    repeat_penalty: f32,
}

impl SamplingArgs {
    fn options(&self) -> GenerateOptions {
        GenerateOptions {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed,
            repeat_penalty: self.repeat_penalty,
            ..Default::default()
        }
    }
}

/// How an article is summarized and translated (the digest and `summarize`).
#[derive(Args, Clone)]
struct ArticleArgs {
    /// Languages to translate summaries into: ISO codes or English names, comma-separated.
    #[arg(long, value_delimiter = ',')]
    to: Vec<String>,
    /// Length of each summary, in sentences (or bullet points).
    #[arg(long, default_value_t = 3)]
    sentences: usize,
    #[arg(long, value_enum, default_value_t = StyleArg::Paragraph)]
    style: StyleArg,
    /// How an article longer than one window is read: its sentences that matter,
    /// chosen over all of it, summarized stretch by stretch; or every part
    /// summarized, then the parts' summaries combined.
    #[arg(long, value_enum, default_value_t = LongArg::Excerpts)]
    long: LongArg,
    /// Also translate each whole article, paragraph by paragraph.
    #[arg(long)]
    translate_full: bool,
    /// Tokens per generation, prompt plus answer (default: the model's context, at most 4096).
    #[arg(long)]
    context: Option<usize>,
    /// Skip the model's check that each summary sentence's cited article sentences
    /// state it (about 1 s per sentence on 2 cores).
    #[arg(long)]
    no_verify: bool,
    /// Tokens of context repeated between consecutive chunks of a long article.
    #[arg(long, default_value_t = 0)]
    overlap: usize,
    /// Refuse articles longer than this many tokens.
    #[arg(long, default_value_t = pipeline::DEFAULT_MAX_ARTICLE_TOKENS)]
    max_article_tokens: usize,
    /// Give up on an article after this many seconds (0: never).
    #[arg(long, default_value_t = 1800)]
    deadline: u64,
    /// Cap every answer at this many tokens (for tests of answers cut at their limit).
    #[arg(long, hide = true)]
    max_answer_tokens: Option<usize>,
}

impl ArticleArgs {
    fn options(&self) -> Result<pipeline::ArticleOptions> {
        anyhow::ensure!(self.sentences > 0, "--sentences must be at least 1");
        let languages = languages(&self.to)?;
        Ok(pipeline::ArticleOptions {
            languages,
            sentences: self.sentences,
            style: match self.style {
                StyleArg::Paragraph => Style::Paragraph,
                StyleArg::Bullets => Style::Bullets,
            },
            long: match self.long {
                LongArg::Excerpts => LongArticles::Excerpts,
                LongArg::MapReduce => LongArticles::MapReduce,
            },
            translate_full: self.translate_full,
            verify: !self.no_verify,
            window: self.context,
            overlap: self.overlap,
            max_article_tokens: self.max_article_tokens,
            deadline: (self.deadline > 0).then(|| std::time::Duration::from_secs(self.deadline)),
            max_answer_tokens: self.max_answer_tokens,
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Summarize one article (a file, or - for stdin): a grounded summary, each
    /// sentence citing the article sentences that support it, checked like the digest's.
    Summarize {
        input: PathBuf,
        #[command(flatten)]
        article: ArticleArgs,
        /// Print one JSON object (summary, support, translations, checks, warnings).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Translate one article (a file, or - for stdin), paragraph by paragraph, with
    /// its numbers and names checked.
    Translate {
        input: PathBuf,
        /// Target language: ISO code or English name (fr, German, ...).
        #[arg(long)]
        to: String,
        /// Tokens per generation, prompt plus answer (default: the model's context, at most 4096).
        #[arg(long)]
        context: Option<usize>,
        /// Print one JSON object (translation, checks).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Feed a file's text to the model exactly as written (no template) and print
    /// the greedy completion, like `llama-cli -p`.
    Generate {
        #[arg(long)]
        prompt_file: PathBuf,
        #[command(flatten)]
        sampling: SamplingArgs,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Summarize (and translate) many articles into one markdown file each, plus
    /// index.md and manifest.jsonl; re-runs skip what is unchanged.
    Digest {
        /// Files, directories (walked, sorted) or - for stdin.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        article: ArticleArgs,
        /// Articles worked on at once (default: --batch, enough to keep the batch full).
        #[arg(long)]
        jobs: Option<usize>,
        /// Sequences decoded together in one forward pass (1: one at a time).
        // 16, not 8: a packed step pays its repack once for all rows, so 16 rows
        // cost little more than 8 (README: 1.97x `--batch 1` on Zen 5, 8 gave 1.53x).
        #[arg(long, default_value_t = 16)]
        batch: usize,
        /// KV-cache memory for the sequences in flight, in MB (requests wait when full).
        #[arg(long, default_value_t = 4096)]
        kv_budget: usize,
        /// Redo articles even when input, model and settings are unchanged.
        #[arg(long)]
        force: bool,
        /// Do only shard I (from 0) of N of the inputs, for `abridge merge`; default
        /// from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX when set.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// The shard count with SLURM_ARRAY_TASK_ID (default SLURM_ARRAY_TASK_COUNT)
        /// or JOB_COMPLETION_INDEX.
        #[arg(long, value_name = "N")]
        shard_count: Option<usize>,
        /// Then write the desk brief (`abridge brief`) into the folder; a shard
        /// leaves it to `abridge brief` after `abridge merge`.
        #[arg(long)]
        brief: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Write the desk brief of a finished digest folder DIR (brief.md and
    /// brief.json): near-duplicates merged, related articles grouped into
    /// stories with a cited summary each, ranked by how much of the night they cover.
    Brief {
        /// The digest's --out folder (after `abridge merge` for a sharded run).
        dir: PathBuf,
        /// Languages to translate each story's headline and summary into, with
        /// the article translations' checks: ISO codes or English names.
        #[arg(long, value_delimiter = ',')]
        to: Vec<String>,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Combine the shards of a sharded digest (`digest --shard`) in DIR into its
    /// index.md and manifest.jsonl, once every shard has finished.
    Merge {
        /// The shards' shared --out folder.
        dir: PathBuf,
    },
    /// Keep the model loaded and serve editors over HTTP: the page at /, the API at
    /// /v1/summarize, /v1/translate, /v1/chat/completions and /v1/completions
    /// (OpenAI), /health, /metrics.
    Serve {
        /// Address to listen on; anything but loopback needs --api-key-file.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// File holding the key clients must send as `Authorization: Bearer <key>`.
        #[arg(long)]
        api_key_file: Option<PathBuf>,
        /// Largest request body in bytes (413 beyond).
        #[arg(long, default_value_t = 1 << 20)]
        body_limit: usize,
        /// Requests admitted at once, running or waiting (429 with Retry-After beyond).
        #[arg(long, default_value_t = 32)]
        queue: usize,
        /// Sequences decoded together in one forward pass.
        #[arg(long, default_value_t = 8)]
        batch: usize,
        /// KV-cache memory for the sequences in flight, in MB (requests wait when full).
        #[arg(long, default_value_t = 4096)]
        kv_budget: usize,
        /// Refuse articles longer than this many tokens.
        #[arg(long, default_value_t = pipeline::DEFAULT_MAX_ARTICLE_TOKENS)]
        max_article_tokens: usize,
        /// Most tokens one chat or text completion may generate (its `max_tokens`).
        #[arg(long, default_value_t = 2048)]
        max_completion_tokens: usize,
        /// Give up on a request after this many seconds (0: never).
        #[arg(long, default_value_t = 600)]
        deadline: u64,
        /// Tokens per generation, prompt plus answer (default: the model's context, at most 4096).
        #[arg(long)]
        context: Option<usize>,
        /// Skip the model's check that each summary sentence's cited article sentences
        /// state it (about 1 s per sentence on 2 cores).
        #[arg(long)]
        no_verify: bool,
        /// Show this digest folder's brief and articles at /digest/ (read-only).
        #[arg(long, value_name = "DIR")]
        digest: Option<PathBuf>,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Print what the readers make of files, directories (walked) or - for stdin:
    /// one JSON line per article (title, language, text, warnings) or its
    /// rejection. No model is loaded: check a feed before a night's run.
    Read {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// List the models available locally (models folder and hf-hub cache).
    Models,
    /// Measure load time, prefill and decode speed and peak memory.
    Bench {
        /// The article to summarize (or, with --raw, the exact prompt text).
        #[arg(long)]
        prompt_file: PathBuf,
        /// Feed the file as written instead of wrapping it in the summarize prompt.
        #[arg(long)]
        raw: bool,
        #[arg(long, default_value_t = 64)]
        gen_tokens: usize,
        /// Print JSON (keys load_s, prompt_tokens, pp_tok_s, tg_tok_s, peak_rss_mb).
        #[arg(long)]
        json: bool,
        /// Also write the prompt's token ids (JSON list), to run another engine on them.
        #[arg(long)]
        write_prompt_ids: Option<PathBuf>,
        #[command(flatten)]
        model: ModelArgs,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LongArg {
    Excerpts,
    MapReduce,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StyleArg {
    Paragraph,
    Bullets,
}

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (mimalloc.h).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Freed pages are returned to the OS after 10 ms by default, shorter than a
    // layer's prefill: the next layer's buffers then fault in again (5% of prefill).
    // SAFETY: set before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    if let Err(e) = init_threads(cli.threads) {
        eprintln!("abridge: error: {e:#}");
        return ExitCode::from(2);
    }
    // A panic is a bug, reported once as an internal error naming the input (the
    // digest also catches it per article and goes on); its details at -vv.
    std::panic::set_hook(Box::new(|info| tracing::debug!("{info}")));
    let subject = cli.command.subject();
    let quiet = cli.quiet;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if let Command::Digest { .. } = cli.command {
            return digest(cli.command, quiet);
        }
        // Not on a worker of the pool: the server blocks its thread until it stops.
        if let Command::Serve { .. } = cli.command {
            return match serve(cli.command) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("abridge: error: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        // On a worker of the pool: each matmul's parallel split is then picked up by
        // the other (spinning) workers instead of waking the pool from outside.
        match rayon::scope(|_| run(cli.command)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("abridge: error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }));
    outcome.unwrap_or_else(|panic| {
        eprintln!(
            "abridge: error: internal error while working on {subject}: {}; please report it \
             with that input",
            abridge::error::panic_message(&*panic)
        );
        ExitCode::FAILURE
    })
}

impl Command {
    /// What the command works on, for an internal error's message.
    fn subject(&self) -> String {
        match self {
            Command::Summarize { input, .. } | Command::Translate { input, .. } => {
                input.display().to_string()
            }
            Command::Generate { prompt_file, .. } | Command::Bench { prompt_file, .. } => {
                prompt_file.display().to_string()
            }
            Command::Digest { inputs, .. } => format!("{} inputs", inputs.len()),
            Command::Serve { .. } => "a request to the server".to_string(),
            Command::Models => "the model list".to_string(),
            Command::Read { inputs } => format!("{} inputs", inputs.len()),
            Command::Merge { dir } | Command::Brief { dir, .. } => dir.display().to_string(),
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    // An editor at a terminal sees what it is waiting for; logs and pipes stay quiet.
    let default = if std::io::stderr().is_terminal() {
        "info"
    } else {
        "warn"
    };
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => default,
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ABRIDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("abridge={level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
}

fn init_threads(threads: Option<usize>) -> Result<()> {
    let n = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    anyhow::ensure!(n > 0, "--threads must be at least 1");
    // candle sizes its own matmul parallelism from this variable.
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .context("cannot start the thread pool")
}

/// `--to`'s languages as ISO 639-1 codes.
fn languages(to: &[String]) -> Result<Vec<String>> {
    to.iter()
        .map(|l| {
            lang::language_code(l).map(str::to_string).with_context(|| {
                format!("unknown language `{l}` in --to: give ISO 639-1 codes or English names (fr,de or French,German)")
            })
        })
        .collect()
}

fn read_prompt_file(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read prompt file {}", path.display()))?;
    anyhow::ensure!(
        !text.trim().is_empty(),
        "prompt file {} is empty",
        path.display()
    );
    Ok(text)
}

fn load(spec: &str) -> Result<Model> {
    let t = std::time::Instant::now();
    let model = Model::load(spec)?;
    tracing::info!(
        "loaded {} ({}, {}) in {:.1}s",
        model.name,
        model.architecture,
        model.quantization,
        t.elapsed().as_secs_f64()
    );
    Ok(model)
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Summarize {
            input,
            article,
            json,
            model,
        } => {
            let opts = article.options()?;
            let article = Article::read(&input)?;
            let model = load(&model.model)?;
            let scheduler = Scheduler::start(model.clone(), SchedulerOptions::default())?;
            let runner = Runner::new(&scheduler, opts.window(&model))
                .with_deadline(opts.deadline)
                .with_answer_cap(opts.max_answer_tokens);
            let started = std::time::Instant::now();
            let done = pipeline::process_article(&runner, &article, &opts)
                .with_context(|| format!("cannot summarize {}", article.input))?;
            let tokens = runner.tokens();
            tracing::info!("{} prompt tokens read, {} generated", tokens.0, tokens.1);
            tracing::info!("generation: {}", scheduler.stats);
            let seconds = started.elapsed().as_secs_f64();
            let result = pipeline::ArticleResult::new(
                &article,
                done,
                opts.style,
                &model.name,
                tokens,
                seconds,
            );
            if json {
                println!("{}", result.to_json());
            } else {
                print!(
                    "{}",
                    render::plain_summary(&result.summary, &result.support, opts.style)
                );
                for t in &result.done.translations {
                    let name = lang::language_name(&t.lang).unwrap_or(&t.lang);
                    match &t.outcome {
                        Ok(text) => {
                            println!("\n{name}:\n{}", render::marked_translation(text, &t.checks))
                        }
                        Err(reason) => println!("\n{name}: translation failed: {reason}"),
                    }
                }
                for w in &result.warnings {
                    tracing::warn!("{w}");
                }
            }
            Ok(())
        }
        Command::Translate {
            input,
            to,
            context,
            json,
            model,
        } => {
            let code = lang::language_code(&to).with_context(|| {
                format!("unknown language `{to}`: give an ISO 639-1 code or English name (fr, German, ...)")
            })?;
            let article = Article::read(&input)?;
            let model = load(&model.model)?;
            let window = context
                .unwrap_or(pipeline::DEFAULT_WINDOW)
                .min(model.context_length());
            let scheduler = Scheduler::start(model.clone(), SchedulerOptions::default())?;
            let runner = Runner::new(&scheduler, window);
            let t = pipeline::translate::translate(&runner, &article.text, code);
            if json {
                let value = serde_json::json!({
                    "input": article.input,
                    "lang": t.lang,
                    "translation": t.outcome.as_ref().ok(),
                    "error": t.outcome.as_ref().err(),
                    "checks": t.checks,
                });
                println!("{value}");
            }
            match t.outcome {
                Ok(text) => {
                    if !json {
                        println!("{}", render::marked_translation(&text, &t.checks));
                    }
                    if let Some(w) = t.warning {
                        tracing::warn!("{w}");
                    }
                    Ok(())
                }
                Err(reason) => anyhow::bail!(
                    "the {} translation of {} was not published: {reason}",
                    lang::language_name(code).unwrap_or(code),
                    article.input
                ),
            }
        }
        Command::Generate {
            prompt_file,
            sampling,
            model,
        } => {
            let text = read_prompt_file(&prompt_file)?;
            let model = load(&model.model)?;
            let prompt = model.raw_prompt(&text)?;
            print_tokens(&model, &prompt, &sampling.options())
        }
        Command::Digest { .. } => unreachable!("handled by digest()"),
        Command::Serve { .. } => unreachable!("handled by serve()"),
        Command::Models => list_models(),
        Command::Read { inputs } => {
            let inputs = abridge::article::Inputs::open(&inputs, None)?;
            let mut out = std::io::stdout().lock();
            for read in inputs.articles() {
                writeln!(out, "{}", abridge::article::report(&read))?;
            }
            Ok(())
        }
        Command::Brief { dir, to, model } => {
            let langs = languages(&to)?;
            let model = load(&model.model)?;
            write_brief(&model, &dir, &langs)
        }
        Command::Merge { dir } => {
            let report = pipeline::merge::merge(&dir)?;
            eprintln!(
                "abridge: merge of {} shards: {} ok, {} skipped, {} failed; index {}",
                report.shards,
                report.ok,
                report.skipped,
                report.failed,
                report.index.display()
            );
            Ok(())
        }
        Command::Bench {
            prompt_file,
            raw,
            gen_tokens,
            json,
            write_prompt_ids,
            model,
        } => {
            let text = read_prompt_file(&prompt_file)?;
            let report = bench::run(&model.model, gen_tokens, |m| {
                let ids = if raw {
                    m.raw_prompt(&text)?
                } else {
                    m.prompt_tokens(&Prompt::summary(&text, 3, m.is_chat()))?
                };
                if let Some(path) = &write_prompt_ids {
                    let json = serde_json::to_string(&ids).expect("ids serialize");
                    std::fs::write(path, json).map_err(|e| abridge::Error::io(path, e))?;
                }
                Ok(ids)
            })?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                let r = &report.roofline;
                println!(
                    "model {}\nthreads {}\nload {:.2} s\nprompt {} tokens\nprefill {:.1} tok/s\ndecode {:.1} tok/s ({} tokens)\npeak RSS {:.0} MiB ({:.0} MiB of weights mapped, {:.0} MiB shared)\nroofline ({}): prefill {:.0} of {:.0} Gop/s ({:.0}%), decode {:.1} of {:.1} GB/s ({:.0}%)",
                    report.model,
                    report.threads,
                    report.load_s,
                    report.prompt_tokens,
                    report.pp_tok_s,
                    report.tg_tok_s,
                    report.gen_tokens,
                    report.peak_rss_mb,
                    report.weights_mapped_mb,
                    report.weights_shared_mb,
                    r.isa,
                    r.prefill_gops,
                    r.peak_gops,
                    100.0 * r.prefill_of_peak,
                    r.decode_gbs,
                    r.peak_gbs,
                    100.0 * r.decode_of_peak,
                );
            }
            Ok(())
        }
    }
}

/// `abridge brief DIR`, also run by `digest --brief`.
fn write_brief(model: &Model, dir: &Path, langs: &[String]) -> Result<()> {
    let scheduler = Scheduler::start(model.clone(), SchedulerOptions::default())?;
    let window = pipeline::DEFAULT_WINDOW.min(model.context_length());
    let runner = Runner::new(&scheduler, window);
    let written = abridge::brief::brief(&runner, dir, langs)
        .with_context(|| format!("cannot write the brief of {}", dir.display()))?;
    let b = &written.brief;
    eprintln!(
        "abridge: brief of {} articles: stories {}, other articles {}, near-duplicates \
         folded in {}; wrote {} and {}",
        b.articles,
        b.stories.len(),
        b.others.len(),
        b.duplicates,
        written.markdown.display(),
        written.json.display()
    );
    Ok(())
}

/// Exit 0 when every article is done, 1 when some failed (the rest are written),
/// 2 when the run could not start (no model, bad options, unwritable folder, another
/// run writing into it), 128 + the signal when SIGINT or SIGTERM stopped it.
fn digest(command: Command, quiet: bool) -> ExitCode {
    let Command::Digest {
        inputs,
        out,
        article,
        jobs,
        batch,
        kv_budget,
        force,
        shard,
        shard_count,
        brief,
        model,
    } = command
    else {
        unreachable!("digest() is only called for the digest command")
    };
    let reporter = progress::Reporter::new(std::io::stderr().is_terminal(), quiet);
    let run = || -> Result<pipeline::DigestReport> {
        let article = article.options()?;
        anyhow::ensure!(batch > 0, "--batch must be at least 1");
        anyhow::ensure!(kv_budget > 0, "--kv-budget must be at least 1 (MB)");
        let jobs = jobs.unwrap_or(batch);
        anyhow::ensure!(jobs > 0, "--jobs must be at least 1");
        let shard = pipeline::shard::Shard::resolve(shard.as_deref(), shard_count, |k| {
            std::env::var(k).ok()
        })?;
        // Refused before the model loads; the digest takes the lock itself.
        pipeline::OutputLock::check(&out, shard.as_ref())?;
        let interrupt = pipeline::Interrupt::on_signals()
            .context("cannot set up SIGINT and SIGTERM handling")?;
        let model = load(&model.model)?;
        let opts = pipeline::DigestOptions {
            out,
            article,
            jobs,
            scheduler: SchedulerOptions {
                batch,
                kv_budget: kv_budget << 20,
                ..SchedulerOptions::default()
            },
            force,
            interrupt,
            shard,
        };
        let report = pipeline::digest(&model, &inputs, &opts, &reporter)?;
        // Not after an interrupt (the user asked to stop) nor for a shard (its
        // brief waits for `merge`); a brief that fails loses no article.
        if brief && report.shard.is_none() && report.interrupted.is_none() {
            let dir = report.index.parent().unwrap_or(Path::new("."));
            if let Err(e) = write_brief(&model, dir, &opts.article.languages) {
                tracing::error!("{e:#}; the articles are written, `abridge brief` can retry");
            }
        }
        Ok(report)
    };
    let result = run();
    reporter.finish();
    match result {
        Ok(report) => {
            // A shard has no index of its own: `merge` writes it.
            let (what, records, written) = match &report.shard {
                Some(shard) => (
                    format!("digest shard {}", shard.label()),
                    report.manifest.display().to_string(),
                    format!(
                        "shard manifest {}; abridge merge {} once all {} shards are done",
                        report.manifest.display(),
                        report.manifest.parent().unwrap_or(Path::new(".")).display(),
                        shard.count
                    ),
                ),
                None => (
                    "digest".to_string(),
                    format!(
                        "{} and {}",
                        report.manifest.display(),
                        report.index.display()
                    ),
                    format!("index {}", report.index.display()),
                ),
            };
            if let (Some(signal), true) = (report.interrupted, report.stopped_reading) {
                eprintln!(
                    "abridge: {what} interrupted by {} while reading the inputs ({} read); \
                     nothing was written: run the same command again",
                    pipeline::signal_name(signal),
                    report.unfinished,
                );
                return ExitCode::from(u8::try_from(128 + signal).unwrap_or(1));
            }
            if let Some(signal) = report.interrupted {
                eprintln!(
                    "abridge: {what} interrupted by {}: {} ok, {} skipped, {} failed, {} not \
                     done; {records} record what is done: run the same command again to \
                     resume",
                    pipeline::signal_name(signal),
                    report.ok,
                    report.skipped,
                    report.failed,
                    report.unfinished,
                );
                return ExitCode::from(u8::try_from(128 + signal).unwrap_or(1));
            }
            if !quiet || report.failed > 0 {
                eprintln!(
                    "abridge: {what}: {} ok, {} skipped, {} failed; {written}",
                    report.ok, report.skipped, report.failed,
                );
            }
            if report.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("abridge: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn serve(command: Command) -> Result<()> {
    let Command::Serve {
        host,
        port,
        api_key_file,
        body_limit,
        queue,
        batch,
        kv_budget,
        max_article_tokens,
        max_completion_tokens,
        deadline,
        context,
        no_verify,
        digest,
        model,
    } = command
    else {
        unreachable!("serve() is only called for the serve command")
    };
    anyhow::ensure!(batch > 0, "--batch must be at least 1");
    anyhow::ensure!(queue > 0, "--queue must be at least 1");
    anyhow::ensure!(kv_budget > 0, "--kv-budget must be at least 1 (MB)");
    anyhow::ensure!(body_limit > 0, "--body-limit must be at least 1 (byte)");
    let api_key = api_key_file
        .as_deref()
        .map(abridge::serve::read_api_key)
        .transpose()?;
    let opts = abridge::serve::ServeOptions {
        host,
        port,
        model: model.model,
        api_key,
        body_limit,
        queue,
        scheduler: SchedulerOptions {
            batch,
            kv_budget: kv_budget << 20,
            ..SchedulerOptions::default()
        },
        max_article_tokens,
        max_completion_tokens,
        deadline: (deadline > 0).then(|| std::time::Duration::from_secs(deadline)),
        window: context,
        verify: !no_verify,
        digest,
    };
    // One line on stdout a supervisor (or a test) can wait for, with the real port.
    abridge::serve::run(opts, |addr| {
        println!("abridge: listening on http://{addr}");
        let _ = std::io::stdout().flush();
    })?;
    Ok(())
}

/// Streams the text to a terminal as it comes; otherwise prints it whole.
fn print_tokens(model: &Model, prompt: &[u32], opts: &GenerateOptions) -> Result<()> {
    let stream = std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    let mut on_text = |piece: &str| {
        if stream {
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
        }
    };
    tracing::info!("reading {} prompt tokens", prompt.len());
    let g = model.generate(prompt, opts, &mut on_text)?;
    let mut out = std::io::stdout().lock();
    if stream {
        writeln!(out)?;
    } else {
        writeln!(out, "{}", g.text.trim())?;
    }
    tracing::info!(
        "{} prompt tokens at {:.1} tok/s, {} generated at {:.1} tok/s ({:?})",
        g.prompt_tokens,
        g.prompt_tokens as f64 / g.prompt_seconds,
        g.generated_tokens(),
        g.generated_tokens() as f64 / g.generate_seconds.max(1e-9),
        g.stop
    );
    Ok(())
}

fn list_models() -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "aliases (--model NAME; * is the default):")?;
    for (alias, spec, what) in ALIASES {
        let mark = if *spec == DEFAULT_MODEL { "*" } else { " " };
        // Only local look-ups: listing must not download anything.
        let present = match ModelSpec::parse(spec) {
            Ok(ModelSpec::Hub { file, .. }) => models_dir().join(file).is_file(),
            Ok(ModelSpec::Path(p)) => p.is_file(),
            Err(_) => false,
        };
        let here = if present { "present" } else { "missing" };
        let name = format!("{alias}{mark}");
        writeln!(out, "  {name:<9} {spec}  ({here}; {what})")?;
    }
    writeln!(out)?;
    drop(out);
    let found = local_models();
    if found.is_empty() {
        eprintln!(
            "no models found in {} or the hf-hub cache; run scripts/fetch-models.sh",
            models_dir().display()
        );
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<10} {:>9}  {:<8} path", "arch", "size", "quant")?;
    for path in found {
        match Gguf::header(&path) {
            Ok(g) => writeln!(
                out,
                "{:<10} {:>6} MB  {:<8} {}",
                g.architecture().unwrap_or_else(|_| "?".into()),
                g.file_size / 1_000_000,
                g.quantization(),
                path.display()
            )?,
            Err(e) => writeln!(
                out,
                "{:<10} {:>9}  {:<8} {} ({e})",
                "invalid",
                "-",
                "-",
                path.display()
            )?,
        }
    }
    Ok(())
}

/// Each layer allocates and frees megabytes of activations; with glibc's malloc,
/// whether they come back as fresh (faulting) pages depends on the sizes of other
/// allocations (the KV cache), and prefill speed varied by 20% with them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
