//! Shared test values for the pipeline's modules.

use super::{ArticleOptions, DigestOptions, Interrupt};
use crate::article::Article;
use crate::prompts::Style;
use crate::render::{ManifestEntry, Status};

/// A manifest entry for `input`, with an article file `<input>.md` unless failed.
pub(crate) fn entry(input: &str, status: Status, key: &str) -> ManifestEntry {
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

pub(crate) fn test_options() -> DigestOptions {
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

/// A one-article input titled `title` whose bytes hash to `sha`.
pub(crate) fn article(title: &str, sha: &str) -> Article {
    Article {
        id: "a".into(),
        title: title.into(),
        ..Article::plain("a.txt", "Rates rose.", sha)
    }
}
