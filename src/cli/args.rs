//! The command line's arguments (clap), and their conversion into the library's
//! options. Flags that several commands share are flattened from one struct here.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use abridge::lang;
use abridge::model::resolve::DEFAULT_MODEL;
use abridge::model::GenerateOptions;
use abridge::pipeline;
use abridge::prompts::{LongArticles, Style};

#[derive(Parser)]
#[command(
    name = "abridge",
    version,
    about = "Summaries and translations of news articles with a local GGUF model"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Worker threads for inference (default: the machine's cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// More status on stderr (-v info, -vv debug; info is the default on a terminal).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

// A variant's doc comment is its command's help; its struct holds the flags.
#[derive(Subcommand)]
pub enum Command {
    /// Summarize one article (a file, or - for stdin): a grounded summary, each
    /// sentence citing the article sentences that support it, checked like the digest's.
    Summarize(SummarizeArgs),
    /// Translate one article (a file, or - for stdin), paragraph by paragraph, with
    /// its numbers and names checked.
    Translate(TranslateArgs),
    /// Feed a file's text to the model exactly as written (no template) and print
    /// the greedy completion, like `llama-cli -p`.
    Generate(GenerateArgs),
    /// Summarize (and translate) many articles into one markdown file each, plus
    /// index.md and manifest.jsonl; re-runs skip what is unchanged.
    Digest(DigestArgs),
    /// Write the desk brief of a finished digest folder DIR (brief.md and
    /// brief.json): near-duplicates merged, related articles grouped into
    /// stories with a cited summary each, ranked by how much of the night they cover.
    Brief(BriefArgs),
    /// Combine the shards of a sharded digest (`digest --shard`) in DIR into its
    /// index.md and manifest.jsonl, once every shard has finished.
    Merge(MergeArgs),
    /// Keep the model loaded and serve editors over HTTP: the page at /, the API at
    /// /v1/summarize, /v1/translate, /v1/chat/completions and /v1/completions
    /// (OpenAI), /health, /metrics.
    Serve(ServeArgs),
    /// Print what the readers make of files, directories (walked) or - for stdin:
    /// one JSON line per article (title, language, text, warnings) or its
    /// rejection. No model is loaded: check a feed before a night's run.
    Read(ReadArgs),
    /// List the models available locally (models folder and hf-hub cache).
    Models,
    /// Measure load time, prefill and decode speed and peak memory.
    Bench(BenchArgs),
}

impl Command {
    /// What the command works on, for an internal error's message.
    pub fn subject(&self) -> String {
        match self {
            Command::Summarize(SummarizeArgs { input, .. })
            | Command::Translate(TranslateArgs { input, .. }) => input.display().to_string(),
            Command::Generate(GenerateArgs { prompt_file, .. })
            | Command::Bench(BenchArgs { prompt_file, .. }) => prompt_file.display().to_string(),
            Command::Digest(DigestArgs { inputs, .. }) | Command::Read(ReadArgs { inputs }) => {
                format!("{} inputs", inputs.len())
            }
            Command::Serve(_) => "a request to the server".to_string(),
            Command::Models => "the model list".to_string(),
            Command::Merge(MergeArgs { dir }) | Command::Brief(BriefArgs { dir, .. }) => {
                dir.display().to_string()
            }
        }
    }
}

#[derive(Args)]
pub struct SummarizeArgs {
    pub input: PathBuf,
    #[command(flatten)]
    pub article: ArticleArgs,
    /// Print one JSON object (summary, support, translations, checks, warnings).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args)]
pub struct TranslateArgs {
    pub input: PathBuf,
    /// Target language: ISO code or English name (fr, German, ...).
    #[arg(long)]
    pub to: String,
    /// Tokens per generation, prompt plus answer (default: the model's context, at most 4096).
    #[arg(long)]
    pub context: Option<usize>,
    /// Print one JSON object (translation, checks).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args)]
pub struct GenerateArgs {
    #[arg(long)]
    pub prompt_file: PathBuf,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args)]
pub struct DigestArgs {
    /// Files, directories (walked, sorted) or - for stdin.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub article: ArticleArgs,
    /// Articles worked on at once (default: --batch, enough to keep the batch full).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Sequences decoded together in one forward pass (1: one at a time).
    // 16, not 8: a packed step pays its repack once for all rows, so 16 rows
    // cost little more than 8 (README: 1.97x `--batch 1` on Zen 5, 8 gave 1.53x).
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// KV-cache memory for the sequences in flight, in MB (requests wait when full).
    #[arg(long, default_value_t = 4096)]
    pub kv_budget: usize,
    /// Redo articles even when input, model and settings are unchanged.
    #[arg(long)]
    pub force: bool,
    /// Do only shard I (from 0) of N of the inputs, for `abridge merge`; default
    /// from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX when set.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// The shard count with SLURM_ARRAY_TASK_ID (default SLURM_ARRAY_TASK_COUNT)
    /// or JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "N")]
    pub shard_count: Option<usize>,
    /// Then write the desk brief (`abridge brief`) into the folder; a shard
    /// leaves it to `abridge brief` after `abridge merge`.
    #[arg(long)]
    pub brief: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args)]
pub struct BriefArgs {
    /// The digest's --out folder (after `abridge merge` for a sharded run).
    pub dir: PathBuf,
    /// Languages to translate each story's headline and summary into, with
    /// the article translations' checks: ISO codes or English names.
    #[arg(long, value_delimiter = ',')]
    pub to: Vec<String>,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args)]
pub struct MergeArgs {
    /// The shards' shared --out folder.
    pub dir: PathBuf,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback needs --api-key-file.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// File holding the key clients must send as `Authorization: Bearer <key>`.
    #[arg(long)]
    pub api_key_file: Option<PathBuf>,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, default_value_t = 1 << 20)]
    pub body_limit: usize,
    /// Seconds a client may take to send a request's body (408 beyond), or to take
    /// any of an answer (its connection closed beyond). 1 MB in 30 s is a 35 KB/s link.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub client_timeout: u64,
    /// Requests admitted at once, running or waiting (429 with Retry-After beyond).
    #[arg(long, default_value_t = 32)]
    pub queue: usize,
    /// Sequences decoded together in one forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// KV-cache memory for the sequences in flight, in MB (requests wait when full).
    #[arg(long, default_value_t = 4096)]
    pub kv_budget: usize,
    /// Refuse articles longer than this many tokens.
    #[arg(long, default_value_t = pipeline::DEFAULT_MAX_ARTICLE_TOKENS)]
    pub max_article_tokens: usize,
    /// Most tokens one chat or text completion may generate (its `max_tokens`).
    #[arg(long, default_value_t = 2048)]
    pub max_completion_tokens: usize,
    /// Give up on a request after this many seconds (0: never).
    #[arg(long, default_value_t = 600)]
    pub deadline: u64,
    /// Tokens per generation, prompt plus answer (default: the model's context, at most 4096).
    #[arg(long)]
    pub context: Option<usize>,
    /// Skip the model's check that each summary sentence's cited article sentences
    /// state it (about 1 s per sentence on 2 cores).
    #[arg(long)]
    pub no_verify: bool,
    /// Show this digest folder's brief and articles at /digest/ (read-only).
    #[arg(long, value_name = "DIR")]
    pub digest: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args)]
pub struct ReadArgs {
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Args)]
pub struct BenchArgs {
    /// The article to summarize (or, with --raw, the exact prompt text).
    #[arg(long)]
    pub prompt_file: PathBuf,
    /// Feed the file as written instead of wrapping it in the summarize prompt.
    #[arg(long)]
    pub raw: bool,
    #[arg(long, default_value_t = 64)]
    pub gen_tokens: usize,
    /// Print JSON (keys load_s, prompt_tokens, pp_tok_s, tg_tok_s, peak_rss_mb).
    #[arg(long)]
    pub json: bool,
    /// Also write the prompt's token ids (JSON list), to run another engine on them.
    #[arg(long)]
    pub write_prompt_ids: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Clone)]
pub struct ModelArgs {
    /// A .gguf path or OWNER/REPO:FILE[@REVISION] on the Hugging Face hub.
    #[arg(long, env = "ABRIDGE_MODEL", default_value = DEFAULT_MODEL)]
    pub model: String,
}

#[derive(Args, Clone)]
pub struct SamplingArgs {
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
    pub fn options(&self) -> GenerateOptions {
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
pub struct ArticleArgs {
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
    pub fn options(&self) -> Result<pipeline::ArticleOptions> {
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
            deadline: deadline(self.deadline),
            max_answer_tokens: self.max_answer_tokens,
        })
    }
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

/// `--to`'s languages as ISO 639-1 codes.
pub fn languages(to: &[String]) -> Result<Vec<String>> {
    to.iter()
        .map(|l| {
            lang::language_code(l).map(str::to_string).with_context(|| {
                format!("unknown language `{l}` in --to: give ISO 639-1 codes or English names (fr,de or French,German)")
            })
        })
        .collect()
}

/// A `--deadline` in seconds, 0 meaning none.
pub fn deadline(seconds: u64) -> Option<Duration> {
    (seconds > 0).then(|| Duration::from_secs(seconds))
}
