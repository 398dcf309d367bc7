//! The `abridge` command line: parses arguments, sets up logging and threads,
//! and calls the library. Results go to stdout, everything else to stderr.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use abridge::article::Article;
use abridge::model::resolve::{local_models, DEFAULT_MODEL};
use abridge::model::{gguf::Gguf, GenerateOptions, Model};
use abridge::prompts::{Prompt, Style};
use abridge::{bench, lang, pipeline, progress};

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
    #[arg(long, default_value_t = 256)]
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

#[derive(Subcommand)]
enum Command {
    /// Summarize one article (a file, or - for stdin).
    Summarize {
        input: PathBuf,
        /// Length of the summary, in sentences.
        #[arg(long, default_value_t = 3)]
        sentences: usize,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        sampling: SamplingArgs,
    },
    /// Translate one article (a file, or - for stdin).
    Translate {
        input: PathBuf,
        /// Target language: ISO code or English name (fr, German, ...).
        #[arg(long)]
        to: String,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        sampling: SamplingArgs,
    },
    /// Feed a file's text to the model exactly as written (no template) and print
    /// the greedy completion, like `llama-cli -p`.
    Generate {
        #[arg(long)]
        prompt_file: PathBuf,
        #[arg(long, default_value_t = 128)]
        max_tokens: usize,
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
        /// Languages to translate summaries into: ISO codes or English names, comma-separated.
        #[arg(long, value_delimiter = ',')]
        to: Vec<String>,
        /// Length of each summary, in sentences (or bullet points).
        #[arg(long, default_value_t = 3)]
        sentences: usize,
        #[arg(long, value_enum, default_value_t = StyleArg::Paragraph)]
        style: StyleArg,
        /// Also translate each whole article, paragraph by paragraph.
        #[arg(long)]
        translate_full: bool,
        /// Articles worked on at once (default: the machine's cores, at most 4).
        #[arg(long)]
        jobs: Option<usize>,
        /// Redo articles even when input, model and settings are unchanged.
        #[arg(long)]
        force: bool,
        /// Tokens per generation, prompt plus answer (default: the model's context, at most 4096).
        #[arg(long)]
        context: Option<usize>,
        /// Tokens of context repeated between consecutive chunks of a long article.
        #[arg(long, default_value_t = 0)]
        overlap: usize,
        #[command(flatten)]
        model: ModelArgs,
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
    if let Command::Digest { .. } = cli.command {
        return digest(cli.command, cli.quiet);
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
            sentences,
            model,
            sampling,
        } => {
            anyhow::ensure!(sentences > 0, "--sentences must be at least 1");
            let article = Article::read(&input)?;
            let model = load(&model.model)?;
            let prompt = Prompt::summary(&article.text, sentences, model.is_chat());
            print_generation(&model, &prompt, sampling.options())
        }
        Command::Translate {
            input,
            to,
            model,
            sampling,
        } => {
            let language = lang::language_name(&to).with_context(|| {
                format!("unknown language `{to}`: give an ISO 639-1 code or English name (fr, German, ...)")
            })?;
            let article = Article::read(&input)?;
            let model = load(&model.model)?;
            let prompt = Prompt::translation(&article.text, language, model.is_chat(), false);
            print_generation(&model, &prompt, sampling.options())
        }
        Command::Generate {
            prompt_file,
            max_tokens,
            model,
        } => {
            let text = read_prompt_file(&prompt_file)?;
            let model = load(&model.model)?;
            let prompt = model.raw_prompt(&text)?;
            let opts = GenerateOptions {
                max_tokens,
                ..Default::default()
            };
            print_tokens(&model, &prompt, &opts)
        }
        Command::Digest { .. } => unreachable!("handled by digest()"),
        Command::Models => list_models(),
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
                println!(
                    "model {}\nthreads {}\nload {:.2} s\nprompt {} tokens\nprefill {:.1} tok/s\ndecode {:.1} tok/s ({} tokens)\npeak RSS {:.0} MiB",
                    report.model,
                    report.threads,
                    report.load_s,
                    report.prompt_tokens,
                    report.pp_tok_s,
                    report.tg_tok_s,
                    report.gen_tokens,
                    report.peak_rss_mb
                );
            }
            Ok(())
        }
    }
}

/// Exit 0 when every article is done, 1 when some failed (the rest are written),
/// 2 when the run could not start (no model, bad options, unwritable folder).
fn digest(command: Command, quiet: bool) -> ExitCode {
    let Command::Digest {
        inputs,
        out,
        to,
        sentences,
        style,
        translate_full,
        jobs,
        force,
        context,
        overlap,
        model,
    } = command
    else {
        unreachable!("digest() is only called for the digest command")
    };
    let reporter = progress::Reporter::new(std::io::stderr().is_terminal(), quiet);
    let run = || -> Result<pipeline::DigestReport> {
        anyhow::ensure!(sentences > 0, "--sentences must be at least 1");
        let languages = to
            .iter()
            .map(|l| {
                lang::language_code(l).map(str::to_string).with_context(|| {
                    format!("unknown language `{l}` in --to: give ISO 639-1 codes or English names (fr,de or French,German)")
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let jobs = jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)));
        anyhow::ensure!(jobs > 0, "--jobs must be at least 1");
        let model = load(&model.model)?;
        let opts = pipeline::DigestOptions {
            out,
            languages,
            sentences,
            style: match style {
                StyleArg::Paragraph => Style::Paragraph,
                StyleArg::Bullets => Style::Bullets,
            },
            translate_full,
            jobs,
            force,
            window: context,
            overlap,
        };
        Ok(pipeline::digest(&model, &inputs, &opts, &reporter)?)
    };
    let result = run();
    reporter.finish();
    match result {
        Ok(report) => {
            if !quiet || report.failed > 0 {
                eprintln!(
                    "abridge: digest: {} ok, {} skipped, {} failed; index {}",
                    report.ok,
                    report.skipped,
                    report.failed,
                    report.index.display()
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

fn print_generation(model: &Model, prompt: &Prompt, mut opts: GenerateOptions) -> Result<()> {
    opts.stop = prompt.stop().iter().map(|s| s.to_string()).collect();
    print_tokens(model, &model.prompt_tokens(prompt)?, &opts)
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
    let found = local_models();
    if found.is_empty() {
        eprintln!(
            "no models found in {} or the hf-hub cache; run scripts/fetch-models.sh",
            abridge::model::resolve::models_dir().display()
        );
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<10} {:>9}  {:<8} path", "arch", "size", "quant")?;
    for path in found {
        match Gguf::open(&path) {
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
