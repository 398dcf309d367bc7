//! Checked translations. Small models answer in English when asked for German, drop
//! numbers and swap names (Beijing became Berlin), so every answer is checked for its
//! language, its numbers and its names. A failed check is retried sentence by
//! sentence with the strict prompt; if that fails too the language is marked failed
//! rather than published wrong.

use super::runner::Runner;
use crate::check::translation::english_sentences;
use crate::check::{check_names, check_numbers, Check, TranslationChecks};
use crate::chunk::{chunk, chunk_budget, sentences, ChunkOptions};
use crate::error::{Error, Result};
use crate::lang::{check_language, language_name, LanguageCheck};
use crate::prompts::{unfence, Prompt};

/// A translation into one language: the text, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    /// ISO 639-1 code.
    pub lang: String,
    pub outcome: std::result::Result<String, String>,
    /// Worth knowing but not a failure (e.g. a language no identifier covers).
    pub warning: Option<String>,
    pub checks: TranslationChecks,
}

/// Translates `text` into `lang` (a code), keeping its paragraph breaks.
pub fn translate(runner: &Runner, text: &str, lang: &str) -> Translation {
    let language = language_name(lang).unwrap_or(lang);
    let mut last = TranslationChecks::default();
    for attempt in [Attempt::Whole, Attempt::Sentences] {
        let (answer, cut) = match translate_with(runner, text, language, attempt) {
            Ok(answer) => answer,
            Err(e) => return failed(lang, format!("{e}"), last),
        };
        let mut checks = check(text, &answer, lang, language, attempt as u32);
        if cut {
            // Cut at the token limit: part of the text may be missing.
            checks.language = Some(Check::failed("the answer stopped at the token limit"));
        }
        if checks.failures().is_empty() {
            let warning = checks.language.as_ref().and_then(|c| c.detail.clone());
            return Translation {
                lang: lang.to_string(),
                outcome: Ok(answer),
                warning,
                checks,
            };
        }
        tracing::info!(
            "{language} translation failed its checks: {:?}",
            checks.failures()
        );
        last = checks;
    }
    let reasons = last.failures().join("; ");
    failed(
        lang,
        format!("{reasons} (also when translated sentence by sentence)"),
        last,
    )
}

fn check(
    english: &str,
    answer: &str,
    lang: &str,
    language: &str,
    attempts: u32,
) -> TranslationChecks {
    let language_check = if answer.trim().is_empty() {
        Check::failed("the answer is empty")
    } else {
        match check_language(answer, lang) {
            LanguageCheck::Match => match english_sentences(answer, lang).first() {
                None => Check::passed(),
                Some(s) => Check::failed(format!("a sentence was left in English: \"{s}\"")),
            },
            LanguageCheck::Unknown => {
                Check::noted(format!("{language} translation not language-checked"))
            }
            LanguageCheck::Mismatch(other) => {
                Check::failed(format!("the model answered in {other}, not {language}"))
            }
        }
    };
    TranslationChecks {
        language: Some(language_check),
        numbers: Some(check_numbers(english, answer, lang)),
        names: Some(check_names(english, answer, lang)),
        attempts,
    }
}

fn failed(lang: &str, reason: String, checks: TranslationChecks) -> Translation {
    Translation {
        lang: lang.to_string(),
        outcome: Err(reason),
        warning: None,
        checks,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// Paragraph by paragraph (pieces of a long one joined back with spaces).
    Whole = 1,
    /// Sentence by sentence with the strict prompt: short pieces keep small models
    /// from dropping or inventing.
    Sentences = 2,
}

/// Base models, whose completion prompt ends at a newline, go line by line.
/// The translation, and whether any piece of it stopped at the token limit.
fn translate_with(
    runner: &Runner,
    text: &str,
    language: &str,
    attempt: Attempt,
) -> Result<(String, bool)> {
    let chat = runner.model.is_chat();
    let strict = attempt == Attempt::Sentences;
    let prompt = |t: &str| Prompt::translation(t, language, chat, strict);
    let overhead = runner.overhead(&prompt(""))?;
    // A translation can run to twice its source's tokens, plus the answer's margin:
    // pieces of `budget` tokens get 2 * budget + MARGIN of answer.
    const MARGIN: usize = 32;
    let budget = chunk_budget(runner.window, overhead, MARGIN)
        .map(|room| room / 3)
        .filter(|&b| b >= 16)
        .ok_or_else(|| {
            Error::Context(format!(
                "a {}-token window leaves no room to translate",
                runner.window
            ))
        })?;
    let options = ChunkOptions { budget, overlap: 0 };
    let separator = if chat { "\n\n" } else { "\n" };
    let mut out = Vec::new();
    let mut cut = false;
    for paragraph in text
        .split(separator)
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let pieces: Vec<String> = match attempt {
            Attempt::Whole => chunk(paragraph, &*runner.model.tokenizer, &options)?
                .into_iter()
                .map(|c| c.text)
                .collect(),
            Attempt::Sentences => sentences(paragraph)
                .iter()
                .map(|s| s.text(paragraph).trim().to_string())
                .filter(|s| !s.is_empty())
                .flat_map(|s| {
                    // A sentence over the budget is still cut to fit.
                    match chunk(&s, &*runner.model.tokenizer, &options) {
                        Ok(c) => c.into_iter().map(|c| Ok(c.text)).collect::<Vec<_>>(),
                        Err(e) => vec![Err(e)],
                    }
                })
                .collect::<Result<_>>()?,
        };
        let mut translated = Vec::new();
        for piece in pieces {
            let tokens = runner.count(&piece)?;
            let answer = runner.answer(&prompt(&piece), 2 * tokens + MARGIN)?;
            cut |= answer.cut;
            translated.push(unfence(&answer.text));
        }
        out.push(translated.join(" "));
    }
    Ok((out.join(separator), cut))
}
