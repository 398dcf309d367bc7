//! One article through the pipeline, the path every front door takes (the CLI's
//! `summarize`, the server, each article of a digest): summarize, check and ground
//! the summary, translate it into every language asked for.

use super::runner::Runner;
use super::summarize::{summarize, Summary, SummarySpec};
use super::translate::{translate_from, Translation};
use crate::article::Article;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::prompts::{LongArticles, Style};

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
    /// How an article longer than one window is read (`--long`).
    pub long: LongArticles,
    /// Also translate whole articles.
    pub translate_full: bool,
    /// Ask the model whether each summary sentence's sources state it
    /// ([`verify`]); off with `--no-verify`.
    pub verify: bool,
    /// Tokens of prompt plus answer per generation (default: the model's context,
    /// at most [`DEFAULT_WINDOW`]).
    pub window: Option<usize>,
    /// Tokens of context repeated between consecutive chunks.
    pub overlap: usize,
    /// Longer articles are refused at once (`--max-article-tokens`).
    pub max_article_tokens: usize,
    /// Work on one article stops after this long (`--deadline`).
    pub deadline: Option<std::time::Duration>,
    /// Caps every answer below what the prompts budget for it (hidden
    /// `--max-answer-tokens`): lets a test force answers cut at their limit.
    pub max_answer_tokens: Option<usize>,
}

/// The working window on `model`: `requested` tokens, else [`DEFAULT_WINDOW`], at
/// most the model's context. Every front door sizes its generations with this; the
/// summary's and the translation's chunk budgets are cut from it by their steps.
pub fn window(model: &Model, requested: Option<usize>) -> usize {
    requested
        .unwrap_or(DEFAULT_WINDOW)
        .min(model.context_length())
}

/// A long feature is 10-20k tokens; 50k leaves room for a report while bounding
/// what one article can cost (map-reduce time grows with it).
pub const DEFAULT_MAX_ARTICLE_TOKENS: usize = 50_000;

impl ArticleOptions {
    /// The working window on `model`.
    pub fn window(&self, model: &Model) -> usize {
        window(model, self.window)
    }
}

/// One article's checked summary and translations.
#[derive(Debug, Clone)]
pub struct Processed {
    pub summary: Summary,
    pub translations: Vec<Translation>,
    pub full_translations: Vec<Translation>,
}

/// Summarizes an article, checks and grounds the summary, and translates it (and,
/// if asked, the whole text) with checks: the one path behind every front door.
pub fn process_article(
    runner: &Runner,
    article: &Article,
    opts: &ArticleOptions,
) -> Result<Processed> {
    process_article_with(runner, article, opts, &mut |_| {})
}

/// A step of [`process_article`] as soon as it is done, for a front door that
/// shows results as they come (the server).
pub enum Step<'a> {
    Summary(&'a Summary),
    /// A translation of the summary.
    Translation(&'a Translation),
    /// A translation of the whole article (`translate_full`).
    FullTranslation(&'a Translation),
}

/// [`process_article`], telling `on_step` the summary, then each translation, as
/// each is done.
pub fn process_article_with(
    runner: &Runner,
    article: &Article,
    opts: &ArticleOptions,
    on_step: &mut dyn FnMut(Step),
) -> Result<Processed> {
    let text = article.text.as_str();
    check_length(runner, text, opts.max_article_tokens)?;
    let spec = SummarySpec {
        sentences: opts.sentences,
        style: opts.style,
        long: opts.long,
        overlap: opts.overlap,
        verify: opts.verify,
    };
    let summary = summarize(runner, text, &spec)?;
    on_step(Step::Summary(&summary));
    // Every language at once, so their sentences share the scheduler's batch.
    let mut all = |text: &str, full: bool| -> Result<Vec<Translation>> {
        // The summary is written in English whatever the article's language.
        let written_in = full.then_some(article.about.lang.as_deref()).flatten();
        let done = translate_from(runner, text, written_in, &opts.languages);
        for t in &done {
            // A translation records its own failures; a cancelled request stops here.
            if let Err(reason) = &t.outcome {
                if runner.cancelled() {
                    return Err(Error::Cancelled(reason.clone()));
                }
            }
            on_step(if full {
                Step::FullTranslation(t)
            } else {
                Step::Translation(t)
            });
        }
        Ok(done)
    };
    let translations = if opts.languages.is_empty() {
        Vec::new()
    } else {
        all(&summary.text, false)?
    };
    let full_translations = if opts.translate_full && !opts.languages.is_empty() {
        all(text, true)?
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
pub fn check_length(runner: &Runner, text: &str, max: usize) -> Result<()> {
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
