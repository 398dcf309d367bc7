//! Translations checked for their language: small models often answer in English
//! when asked for German, so every answer is identified, retried once with the
//! stricter prompt, and marked failed rather than published in the wrong language.

use super::runner::Runner;
use crate::chunk::{chunk, chunk_budget, ChunkOptions};
use crate::error::{Error, Result};
use crate::lang::{check_language, language_name, LanguageCheck};
use crate::prompts::Prompt;

/// A translation into one language: the text, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    /// ISO 639-1 code.
    pub lang: String,
    pub outcome: std::result::Result<String, String>,
    /// Worth knowing but not a failure (e.g. a language no identifier covers).
    pub warning: Option<String>,
}

/// Translates `text` into `lang` (a code), keeping its paragraph breaks.
pub fn translate(runner: &Runner, text: &str, lang: &str) -> Translation {
    let language = language_name(lang).unwrap_or(lang);
    let mut found = None;
    for strict in [false, true] {
        let answer = match translate_paragraphs(runner, text, language, strict) {
            Ok(answer) => answer,
            Err(e) => return failed(lang, format!("{e}")),
        };
        if answer.trim().is_empty() {
            found = Some("nothing (an empty answer)");
            continue;
        }
        match check_language(&answer, lang) {
            LanguageCheck::Match => return ok(lang, answer, None),
            LanguageCheck::Unknown => {
                let warning = format!("{language} translation not language-checked");
                return ok(lang, answer, Some(warning));
            }
            LanguageCheck::Mismatch(other) => found = Some(other),
        }
    }
    let found = found.unwrap_or("another language");
    failed(
        lang,
        format!("the model answered in {found}, not {language}, even with the strict prompt"),
    )
}

fn ok(lang: &str, text: String, warning: Option<String>) -> Translation {
    Translation {
        lang: lang.to_string(),
        outcome: Ok(text),
        warning,
    }
}

fn failed(lang: &str, reason: String) -> Translation {
    Translation {
        lang: lang.to_string(),
        outcome: Err(reason),
        warning: None,
    }
}

/// Paragraph by paragraph (pieces of a long one joined back with spaces); base
/// models, whose completion prompt ends at a newline, go line by line.
fn translate_paragraphs(
    runner: &Runner,
    text: &str,
    language: &str,
    strict: bool,
) -> Result<String> {
    let chat = runner.model.is_chat();
    let prompt = |t: &str| Prompt::translation(t, language, chat, strict);
    let overhead = runner.overhead(&prompt(""))?;
    // A translation can run to twice its source's tokens: leave it room.
    let budget = chunk_budget(runner.window, overhead, 0)
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
    for paragraph in text
        .split(separator)
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let mut pieces = Vec::new();
        for piece in chunk(paragraph, &*runner.model.tokenizer, &options)? {
            let max_tokens = 2 * piece.tokens + 32;
            pieces.push(runner.answer(&prompt(&piece.text), max_tokens)?);
        }
        out.push(pieces.join(" "));
    }
    Ok(out.join(separator))
}
