//! The instructions abridge gives the model; one place to change wording.
//!
//! The chat wording is what the parity fixtures were produced with (see
//! `tests/fixtures/greedy-*.json`): change it and those fixtures need regenerating.
//! Inputs are trimmed so the prompt does not depend on how an article was cut.

use crate::lang::language_name;
use crate::model::template::Message;

/// What to ask the model for one task: a conversation for chat models, or for base
/// models a completion prompt and the strings that end its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    Chat(Vec<Message>),
    Completion {
        text: String,
        stop: &'static [&'static str],
    },
}

/// How a summary is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    #[default]
    Paragraph,
    Bullets,
}

/// What the text handed to a summary prompt is: map-reduce summarizes parts of an
/// article, then the summaries of those parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Article,
    Part,
    Summaries,
}

/// What a summary prompt asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryAsk {
    pub source: Source,
    pub sentences: usize,
    pub style: Style,
    /// The retry wording, for an answer that ran long (small models sometimes copy
    /// the article instead of summarizing it).
    pub strict: bool,
}

impl Prompt {
    /// A summary of `sentences` sentences; `chat` says whether the model has a chat template.
    pub fn summary(article: &str, sentences: usize, chat: bool) -> Self {
        let ask = SummaryAsk {
            source: Source::Article,
            sentences,
            style: Style::Paragraph,
            strict: false,
        };
        Self::summary_of(article, &ask, chat)
    }

    /// A summary of `text` (an article, a part of one, or summaries of its parts).
    pub fn summary_of(text: &str, ask: &SummaryAsk, chat: bool) -> Self {
        if chat {
            Prompt::Chat(match ask {
                SummaryAsk {
                    source: Source::Article,
                    style: Style::Paragraph,
                    strict: false,
                    sentences,
                } => summarize(text, *sentences),
                _ => summarize_as(text, ask),
            })
        } else {
            // Base models cannot be told what the text is or how to lay it out; the
            // model goes on to unrelated paragraphs after its TL;DR.
            Prompt::Completion {
                text: summarize_completion(text, ask.sentences),
                stop: &["\n\n"],
            }
        }
    }

    /// A translation into `language`; `strict` is the retry wording.
    pub fn translation(text: &str, language: &str, chat: bool, strict: bool) -> Self {
        match (chat, strict) {
            (true, false) => Prompt::Chat(translate(text, language)),
            (true, true) => Prompt::Chat(translate_strict(text, language)),
            // The parallel-text pattern continues with a new "English:" line.
            (false, _) => Prompt::Completion {
                text: translate_completion(text, language),
                stop: &["\n"],
            },
        }
    }

    /// Strings that end the answer (none for chat: end-of-turn tokens do that).
    pub fn stop(&self) -> &'static [&'static str] {
        match self {
            Prompt::Chat(_) => &[],
            Prompt::Completion { stop, .. } => stop,
        }
    }
}

/// Asks an instruction-tuned model for a summary of `sentences` sentences.
pub fn summarize(article: &str, sentences: usize) -> Vec<Message> {
    let unit = if sentences == 1 {
        "sentence"
    } else {
        "sentences"
    };
    vec![Message::user(format!(
        "Summarize the following news article in {sentences} {unit}:\n\n{}",
        article.trim()
    ))]
}

/// The digest's wordings: parts of a long article, the combination of their
/// summaries, and bullet lists.
pub fn summarize_as(text: &str, ask: &SummaryAsk) -> Vec<Message> {
    let what = match ask.source {
        Source::Article => "Summarize the following news article",
        Source::Part => "Summarize the following part of a longer news article",
        Source::Summaries => {
            "The following are summaries of consecutive parts of one news article. \
             Combine them into one summary of the whole article"
        }
    };
    let length = match (ask.style, ask.sentences) {
        (Style::Paragraph, 1) => "in 1 sentence".to_string(),
        (Style::Paragraph, n) => format!("in {n} sentences"),
        (Style::Bullets, 1) => "as 1 bullet point".to_string(),
        (Style::Bullets, n) => {
            format!("as {n} bullet points, one per line, each starting with \"- \"")
        }
    };
    let strict = if ask.strict {
        ". Use your own words and write only the summary"
    } else {
        ""
    };
    vec![Message::user(format!(
        "{what} {length}{strict}:\n\n{}",
        text.trim()
    ))]
}

/// Asks an instruction-tuned model to translate `text` into `language` (an English name
/// such as "French"; ISO codes are accepted too).
pub fn translate(text: &str, language: &str) -> Vec<Message> {
    let language = display_name(language);
    vec![Message::user(format!(
        "Translate the following text into {language}:\n\n{}",
        text.trim()
    ))]
}

/// The retry when [`translate`] got an answer in the wrong language: small models
/// (the default one included) follow this explicit form where the short one fails.
pub fn translate_strict(text: &str, language: &str) -> Vec<Message> {
    let language = display_name(language);
    vec![Message::user(format!(
        "Translate the following English text into {language}. \
         Output only the {language} translation.\n\n{}",
        text.trim()
    ))]
}

/// Base models do not follow instructions; the "TL;DR:" convention from their web
/// training data makes them continue with a summary. They cannot be held to a number of
/// sentences, so `_sentences` is left to the caller to enforce on the output.
pub fn summarize_completion(article: &str, _sentences: usize) -> String {
    format!("{}\n\nTL;DR:", article.trim())
}

/// Base models translate by continuing a parallel text: one example pair sets the
/// pattern ("English: ...\nFrench: ..."), then the model completes the last line.
pub fn translate_completion(text: &str, language: &str) -> String {
    let language = display_name(language);
    let example = match greeting(language) {
        Some(greeting) => format!("English: Good morning.\n{language}: {greeting}\n"),
        // No example we trust for this language: zero-shot, same pattern.
        None => String::new(),
    };
    format!("{example}English: {}\n{language}:", text.trim())
}

/// The canonical English name when known ("fr" -> "French"), else the caller's words.
fn display_name(language: &str) -> &str {
    language_name(language).unwrap_or(language)
}

/// "Good morning." in `language` (English name), the example of [`translate_completion`].
fn greeting(language: &str) -> Option<&'static str> {
    Some(match language {
        "Arabic" => "صباح الخير.",
        "Catalan" => "Bon dia.",
        "Chinese" => "早上好。",
        "Czech" => "Dobré ráno.",
        "Danish" => "God morgen.",
        "Dutch" => "Goedemorgen.",
        "Finnish" => "Hyvää huomenta.",
        "French" => "Bonjour.",
        "German" => "Guten Morgen.",
        "Greek" => "Καλημέρα.",
        "Hebrew" => "בוקר טוב.",
        "Hungarian" => "Jó reggelt.",
        "Indonesian" => "Selamat pagi.",
        "Italian" => "Buongiorno.",
        "Japanese" => "おはようございます。",
        "Korean" => "좋은 아침입니다.",
        "Norwegian" => "God morgen.",
        "Polish" => "Dzień dobry.",
        "Portuguese" => "Bom dia.",
        "Romanian" => "Bună dimineața.",
        "Russian" => "Доброе утро.",
        "Spanish" => "Buenos días.",
        "Swedish" => "God morgon.",
        "Turkish" => "Günaydın.",
        "Ukrainian" => "Доброго ранку.",
        "Vietnamese" => "Chào buổi sáng.",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn repo_file(path: &str) -> String {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn fixture(name: &str) -> serde_json::Value {
        serde_json::from_str(&repo_file(&format!("tests/fixtures/{name}"))).unwrap()
    }

    fn seed_article() -> String {
        repo_file("seeds/000_57a6ad3420af089a.txt")
    }

    /// The seed's first paragraph after the headline, as the translate fixtures used it
    /// (its trailing non-breaking spaces trimmed).
    fn seed_paragraph() -> String {
        seed_article().split("\n\n").nth(1).unwrap().to_owned()
    }

    fn user_content(fixture_name: &str) -> String {
        let f = fixture(fixture_name);
        assert_eq!(f["messages"].as_array().unwrap().len(), 1);
        assert_eq!(f["messages"][0]["role"], "user");
        f["messages"][0]["content"].as_str().unwrap().to_owned()
    }

    #[test]
    fn summarize_matches_fixtures() {
        for name in [
            "greedy-qwen2.5-coder-0.5b-summarize.json",
            "greedy-smollm2-summarize.json",
        ] {
            let messages = summarize(&seed_article(), 3);
            assert_eq!(messages, vec![Message::user(user_content(name))], "{name}");
        }
        // Surrounding whitespace does not leak into the prompt.
        assert_eq!(
            summarize(&format!("\n {} \n", seed_article()), 3),
            summarize(&seed_article(), 3)
        );
    }

    #[test]
    fn translate_matches_fixtures() {
        assert!(seed_paragraph().ends_with('\u{a0}'));
        for name in [
            "greedy-qwen2.5-coder-0.5b-translate-fr.json",
            "greedy-smollm2-translate-fr.json",
        ] {
            let expected = vec![Message::user(user_content(name))];
            assert_eq!(translate(&seed_paragraph(), "French"), expected, "{name}");
            assert_eq!(translate(&seed_paragraph(), "fr"), expected, "{name}");
        }
    }

    #[test]
    fn translate_strict_wording() {
        assert_eq!(
            translate_strict(" Hello. ", "de"),
            vec![Message::user(
                "Translate the following English text into German. \
                 Output only the German translation.\n\nHello."
            )]
        );
    }

    #[test]
    fn digest_wordings() {
        let ask = |source, sentences, style, strict| SummaryAsk {
            source,
            sentences,
            style,
            strict,
        };
        let content = |ask: SummaryAsk| match Prompt::summary_of("x", &ask, true) {
            Prompt::Chat(m) => m[0].content.clone(),
            other => panic!("chat expected: {other:?}"),
        };
        assert_eq!(
            Prompt::summary_of("x", &ask(Source::Article, 3, Style::Paragraph, false), true),
            Prompt::summary("x", 3, true)
        );
        assert_eq!(
            content(ask(Source::Part, 2, Style::Paragraph, false)),
            "Summarize the following part of a longer news article in 2 sentences:\n\nx"
        );
        let combine = content(ask(Source::Summaries, 4, Style::Bullets, false));
        assert!(combine.contains("Combine them") && combine.contains("4 bullet points"));
        assert_eq!(
            content(ask(Source::Article, 3, Style::Paragraph, true)),
            "Summarize the following news article in 3 sentences. \
             Use your own words and write only the summary:\n\nx"
        );
        assert!(matches!(
            Prompt::summary_of("x", &ask(Source::Part, 2, Style::Bullets, false), false),
            Prompt::Completion { .. }
        ));
    }

    #[test]
    fn summarize_singular() {
        assert!(summarize("x", 1)[0]
            .content
            .starts_with("Summarize the following news article in 1 sentence:\n\n"));
    }

    #[test]
    fn completion_prompts_match_gemma_fixtures() {
        let f = fixture("greedy-gemma-3-270m-summarize.json");
        assert_eq!(summarize_completion(&seed_article(), 3), f["prompt"]);
        let f = fixture("greedy-gemma-3-270m-translate-fr.json");
        assert_eq!(
            translate_completion(&seed_paragraph(), "French"),
            f["prompt"]
        );
    }

    #[test]
    fn translate_completion_examples() {
        for language in [
            "French",
            "German",
            "Spanish",
            "Italian",
            "Portuguese",
            "Dutch",
        ] {
            assert!(greeting(language).is_some(), "{language}");
        }
        assert_eq!(
            translate_completion("Hi.", "de"),
            "English: Good morning.\nGerman: Guten Morgen.\nEnglish: Hi.\nGerman:"
        );
        assert_eq!(
            translate_completion("Hi.", "Esperanto"),
            "English: Hi.\nEsperanto:"
        );
    }
}
