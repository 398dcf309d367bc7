//! A warning about a result: the sentence the CLI, manifests and article files
//! print, and a stable `kind` that a front end words for its own reader (the page
//! speaks to an editor, who cannot change a token limit). Serialized as
//! `{"kind", "message", "sentence"?, "lang"?}`.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
    /// The summary sentence it is about, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentence: Option<usize>,
    /// The translation it is about (ISO 639-1 code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

/// What a warning is about. The names are part of the HTTP API: add, never rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// Reading the input (its encoding, a JSONL field).
    Input,
    /// Article sentences that read as orders to the model were not shown to it.
    WithheldOrders,
    /// The summary may be about something else.
    OffArticle,
    /// A summary sentence the article does not support (`sentence` says which).
    Unsupported,
    /// A long article was summarized from its chosen sentences.
    Excerpted,
    /// Partial summaries of a long article stopped at their token limit.
    PartsCut,
    /// The summary's answer stopped at its token limit.
    AnswerCut,
    /// A partial summary ran long and was cut to length.
    Shortened,
    /// Fewer summary sentences than asked for.
    TooFew,
    /// More summary sentences than asked for; unsupported, then the last, were left out.
    Dropped,
    /// A translation published with a note (a doubtful sentence, an unchecked language).
    TranslationNote,
    /// A translation not published.
    TranslationFailed,
}

impl Warning {
    pub fn new(kind: WarningKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            sentence: None,
            lang: None,
        }
    }

    pub fn about_sentence(mut self, n: usize) -> Self {
        self.sentence = Some(n);
        self
    }

    pub fn about_lang(mut self, lang: &str) -> Self {
        self.lang = Some(lang.to_string());
        self
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
