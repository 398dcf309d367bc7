//! One article's result, the one record every output is derived from: the CLI's
//! `summarize --json`, the server's `done` event, the article file's front matter
//! and body, and the digest's manifest line. Built once, so a field or a warning
//! added here reaches every output alike.

use std::collections::BTreeMap;

use serde::Serialize;

use super::translate::Translation;
use super::warning::{Warning, WarningKind};
use super::Processed;
use crate::article::{About, Article};
use crate::brief::Fingerprint;
use crate::check::SentenceSupport;
use crate::prompts::Style;
use crate::render::{self, ArticleDoc, ArticleMeta, ManifestEntry, Status, TranslationDoc};

/// See the module doc.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleResult {
    pub input: String,
    pub id: String,
    pub title: String,
    #[serde(skip)]
    pub about: About,
    #[serde(skip)]
    pub input_sha256: String,
    pub model: String,
    pub summary: String,
    #[serde(skip)]
    pub style: Style,
    pub chunks: usize,
    pub article_sentences: usize,
    pub support: Vec<SentenceSupport>,
    /// The published translations of the summary, by language.
    pub translations: BTreeMap<String, String>,
    /// Every requested language's checks, published or not.
    pub checks: BTreeMap<String, crate::check::TranslationChecks>,
    /// What each output lists as text: the reader's, the summary's, then each
    /// translation's note or failure, in that order.
    pub warnings: Vec<String>,
    /// The same, with their kinds, for a front end to word for its reader.
    pub warning_details: Vec<Warning>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub seconds: f64,
    /// The summary's and the whole article's translations as done, for the article
    /// file and the terminal.
    #[serde(skip)]
    pub done: Processed,
}

/// What a translation warns of, with its kind: a note on one published, or why it
/// was not.
pub fn translation_warnings(t: &Translation) -> Vec<Warning> {
    let note = (t.warning.iter())
        .map(|w| Warning::new(WarningKind::TranslationNote, w.clone()).about_lang(&t.lang));
    let failed = (t.failure().into_iter())
        .map(|m| Warning::new(WarningKind::TranslationFailed, m).about_lang(&t.lang));
    note.chain(failed).collect()
}

/// The reader's warnings about an article, with their kind.
pub fn input_warnings(warnings: &[String]) -> Vec<Warning> {
    (warnings.iter())
        .map(|w| Warning::new(WarningKind::Input, w.clone()))
        .collect()
}

impl ArticleResult {
    /// `done` for `article`, by `model`, with what the run cost.
    pub fn new(
        article: &Article,
        done: Processed,
        style: Style,
        model: &str,
        tokens: (u64, u64),
        seconds: f64,
    ) -> Self {
        let mut details = input_warnings(&article.warnings);
        details.extend(done.summary.warnings.iter().cloned());
        let all = done.translations.iter().chain(&done.full_translations);
        details.extend(all.flat_map(translation_warnings));
        Self {
            input: article.input.clone(),
            id: article.id.clone(),
            title: article.title.clone(),
            about: article.about.clone(),
            input_sha256: article.input_sha256.clone(),
            model: model.to_string(),
            summary: done.summary.text.clone(),
            style,
            chunks: done.summary.chunks,
            article_sentences: done.summary.article_sentences,
            support: done.summary.support.clone(),
            translations: (done.translations.iter())
                .filter_map(|t| Some((t.lang.clone(), t.outcome.clone().ok()?)))
                .collect(),
            checks: (done.translations.iter())
                .map(|t| (t.lang.clone(), t.checks.clone()))
                .collect(),
            warnings: details.iter().map(|w| w.message.clone()).collect(),
            warning_details: details,
            tokens_in: tokens.0,
            tokens_out: tokens.1,
            seconds,
            done,
        }
    }

    /// The record as JSON: what `summarize --json` prints and the server's `done`
    /// event starts from.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The article file: front matter with what made it, then the results.
    pub fn doc(&self, key: &str, model_sha256: &str, languages: &[String]) -> ArticleDoc {
        ArticleDoc {
            meta: ArticleMeta {
                title: self.title.clone(),
                source: self.input.clone(),
                about: self.about.clone(),
                input_sha256: self.input_sha256.clone(),
                model: self.model.clone(),
                model_sha256: model_sha256.to_string(),
                languages: languages.to_vec(),
                chunks: self.chunks,
                tokens_in: self.tokens_in,
                tokens_out: self.tokens_out,
                seconds: self.seconds,
                key: key.to_string(),
                warnings: self.warnings.clone(),
            },
            ..self.results_doc()
        }
    }

    /// The summary (with its sources) and the translations as an article file lays
    /// them out, model text escaped the same way: what an editor copies.
    pub fn to_markdown(&self) -> String {
        render::render_results(&self.results_doc())
    }

    fn results_doc(&self) -> ArticleDoc {
        let docs = |ts: &[Translation]| ts.iter().map(translation_doc).collect();
        ArticleDoc {
            meta: Default::default(),
            summary: self.summary.clone(),
            style: self.style,
            support: self.support.clone(),
            translations: docs(&self.done.translations),
            full_translations: docs(&self.done.full_translations),
        }
    }

    /// The manifest line of the article written to `output` under `key`.
    pub fn entry(&self, output: &str, key: &str, fingerprint: Fingerprint) -> ManifestEntry {
        ManifestEntry {
            input: self.input.clone(),
            id: self.id.clone(),
            status: Status::Ok,
            error: None,
            output: Some(output.to_string()),
            title: Some(self.title.clone()),
            about: self.about.clone(),
            summary: Some(self.summary.clone()),
            translations: self.translations.clone(),
            support: self.support.clone(),
            checks: self.checks.clone(),
            warnings: self.warnings.clone(),
            tokens_in: self.tokens_in,
            tokens_out: self.tokens_out,
            seconds: self.seconds,
            key: Some(key.to_string()),
            input_sha256: Some(self.input_sha256.clone()),
            fingerprint: Some(fingerprint),
        }
    }
}

fn translation_doc(t: &Translation) -> TranslationDoc {
    TranslationDoc {
        lang: t.lang.clone(),
        text: t.outcome.clone().ok(),
        error: t.outcome.clone().err(),
        checks: t.checks.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::summarize::Summary;

    fn translation(lang: &str, outcome: std::result::Result<&str, &str>) -> Translation {
        Translation {
            lang: lang.into(),
            outcome: outcome.map(String::from).map_err(String::from),
            warning: None,
            checks: Default::default(),
        }
    }

    /// Every output says the same: a failed translation once counted in the server's
    /// and the manifest's warnings but not in `summarize --json`'s.
    #[test]
    fn every_output_lists_the_same_warnings_a_failed_translation_included() {
        let mut article = Article::plain("a.txt", "Rates rose by 5%. Markets fell.", "00ff");
        article.warnings = vec!["a.txt: not UTF-8; read as windows-1252".into()];
        let summary = Summary {
            text: "Rates rose by 5%.".into(),
            support: vec![],
            chunks: 1,
            article_sentences: 2,
            rounds: 0,
            warnings: vec![Warning::new(WarningKind::TooFew, "1 sentence of 3")],
        };
        let mut noted = translation("fr", Ok("Les taux ont augmenté de 5 %."));
        noted.warning = Some("fr: one sentence marked".into());
        let done = Processed {
            summary,
            translations: vec![noted, translation("de", Err("numbers missing: 5"))],
            full_translations: vec![],
        };
        let result = ArticleResult::new(&article, done, Style::Paragraph, "m", (10, 5), 1.5);
        let expected = [
            "a.txt: not UTF-8; read as windows-1252",
            "1 sentence of 3",
            "fr: one sentence marked",
            "de translation failed: numbers missing: 5",
        ];
        assert_eq!(result.warnings, expected);
        let json = result.to_json();
        assert_eq!(json["warnings"], serde_json::json!(expected));
        assert_eq!(json["warning_details"][3]["kind"], "translation_failed");
        assert_eq!(json["warning_details"][3]["lang"], "de");
        assert_eq!(
            json["translations"],
            serde_json::json!({"fr": "Les taux ont augmenté de 5 %."})
        );
        assert!(
            json["checks"].get("de").is_some(),
            "a failed language's checks are kept"
        );
        let doc = result.doc("k", "ab", &["fr".into(), "de".into()]);
        assert_eq!(doc.meta.warnings, expected);
        assert_eq!(
            doc.translations[1].error.as_deref(),
            Some("numbers missing: 5")
        );
        let entry = result.entry("a.md", "k", Fingerprint::of(&article.text));
        assert_eq!(entry.warnings, expected);
        assert_eq!(entry.translations, result.translations);
        assert!(render::render_article(&doc).contains("de translation failed"));
    }
}
