//! One article's markdown file: YAML front matter with what produced it, then the
//! summary and each translation.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::markdown::{escape_block, escape_inline};
use crate::article::About;
use crate::check::{SentenceSupport, SourceSentence, TranslationChecks};
use crate::lang::language_name;
use crate::prompts::Style;

/// What an article file was made from and with: its YAML front matter. Resuming reads
/// it back ([`parse_front_matter`]) to tell whether the file is still current.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ArticleMeta {
    pub title: String,
    /// The input as the user gave it (path display).
    pub source: String,
    /// Where and when the article was published, by whom, in what language.
    #[serde(flatten)]
    pub about: About,
    pub input_sha256: String,
    /// Model id as resolved (repo/file or path).
    pub model: String,
    pub model_sha256: String,
    /// Language codes requested, in the order given.
    pub languages: Vec<String>,
    pub chunks: usize,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub seconds: f64,
    /// Opaque settings key: equal keys mean equal outputs for equal inputs.
    pub key: String,
    pub warnings: Vec<String>,
}

/// One language's translation, or why there is none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TranslationDoc {
    /// Language code, e.g. `fr`.
    pub lang: String,
    pub text: Option<String>,
    /// Set when the translation failed or was rejected (e.g. wrong language); `text` is
    /// then not shown.
    pub error: Option<String>,
    /// The language, number and name checks of the last attempt.
    #[serde(default)]
    pub checks: TranslationChecks,
}

/// Everything in one article file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArticleDoc {
    pub meta: ArticleMeta,
    pub summary: String,
    /// How the summary is laid out.
    #[serde(default)]
    pub style: Style,
    /// Each summary sentence (or point) with the article sentences supporting it; the
    /// summary is shown from these when present.
    #[serde(default)]
    pub support: Vec<SentenceSupport>,
    /// Translations of the summary.
    pub translations: Vec<TranslationDoc>,
    /// Translations of the whole article; empty unless asked for.
    pub full_translations: Vec<TranslationDoc>,
}

/// YAML string scalar for `s`. JSON strings are YAML double-quoted scalars; the
/// characters YAML does not allow raw (DEL, C1 controls, BOM, noncharacters) or that
/// YAML 1.1 treats as line breaks (U+2028/9) are escaped too, which keeps it JSON.
fn yaml_string(s: &str) -> String {
    let json = Value::from(s).to_string();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '\u{7f}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}'
            | '\u{fffe}'
            | '\u{ffff}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            _ => out.push(c),
        }
    }
    out
}

/// YAML (flow-style, JSON-compatible) for one front matter value.
fn yaml_value(value: &Value) -> String {
    match value {
        Value::String(s) => yaml_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(yaml_value).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

fn front_matter(meta: &ArticleMeta) -> String {
    // Milliseconds are plenty for a human; NaN would not round-trip (JSON null).
    let seconds = if meta.seconds.is_finite() {
        (meta.seconds * 1000.0).round() / 1000.0
    } else {
        0.0
    };
    // Listed by hand (serde_json maps are sorted) so the title comes first; the
    // round-trip test catches a field missing here.
    let about = [
        ("url", &meta.about.url),
        ("lang", &meta.about.lang),
        ("published", &meta.about.published),
        ("author", &meta.about.author),
        ("site", &meta.about.site),
    ];
    let about = about
        .into_iter()
        .filter_map(|(name, v)| Some((name, json!(v.as_ref()?))));
    let fields = [("title", json!(meta.title)), ("source", json!(meta.source))]
        .into_iter()
        .chain(about)
        .chain([
            ("input_sha256", json!(meta.input_sha256)),
            ("model", json!(meta.model)),
            ("model_sha256", json!(meta.model_sha256)),
            ("languages", json!(meta.languages)),
            ("chunks", json!(meta.chunks)),
            ("tokens_in", json!(meta.tokens_in)),
            ("tokens_out", json!(meta.tokens_out)),
            ("seconds", json!(seconds)),
            ("key", json!(meta.key)),
            ("warnings", json!(meta.warnings)),
        ]);
    let mut out = String::from("---\n");
    for (name, value) in fields {
        out.push_str(&format!("{name}: {}\n", yaml_value(&value)));
    }
    out.push_str("---\n");
    out
}

/// Reads the front matter of an article file written by [`render_article`]; `None` if
/// there is none or a value is damaged (the file should then be made again). Missing
/// fields take default values, so they compare unequal to real ones.
pub fn parse_front_matter(md: &str) -> Option<ArticleMeta> {
    let mut lines = md.strip_prefix('\u{feff}').unwrap_or(md).lines();
    if lines.next()? != "---" {
        return None;
    }
    let mut map = serde_json::Map::new();
    for line in lines {
        if line == "---" {
            return serde_json::from_value(Value::Object(map)).ok();
        }
        // Every value is one line of JSON, whatever the text in it.
        let (name, value) = line.split_once(':')?;
        map.insert(name.trim().to_string(), serde_json::from_str(value).ok()?);
    }
    None // no closing `---`: a torn file
}

/// Heading for a language code: its English name when known.
fn language_heading(code: &str) -> String {
    escape_inline(language_name(code).unwrap_or(code))
}

fn push_translation(out: &mut String, heading: &str, t: &TranslationDoc) {
    out.push_str(&format!("\n## {heading}\n\n"));
    // An error wins over text: rejected text may be in the wrong language.
    match (&t.error, &t.text) {
        (None, Some(text)) if !text.trim().is_empty() => {
            out.push_str(&escape_block(&marked_translation(text, &t.checks)));
        }
        (error, _) => {
            let reason = error.as_deref().unwrap_or("no text was produced");
            let reason = escape_inline(reason);
            let reason = reason.trim_end_matches('.');
            out.push_str(&format!("_Translation failed: {reason}._\n"));
        }
    }
}

/// Marks a published translation's doubtful sentences: `[doubtful]` after each, as a
/// summary's unsupported sentences are marked, so an editor checks that sentence.
pub fn marked_translation(text: &str, checks: &TranslationChecks) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    for sentence in checks.doubtful() {
        // Sentences are in order, and the text is made of them.
        if let Some(at) = rest.find(sentence.text.as_str()) {
            let end = at + sentence.text.len();
            out.push_str(&rest[..end]);
            out.push_str(" [doubtful]");
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// The markdown file for one article.
pub fn render_article(doc: &ArticleDoc) -> String {
    let mut out = front_matter(&doc.meta);
    let title = escape_inline(&doc.meta.title);
    let title = if title.is_empty() { "Untitled" } else { &title };
    out.push_str(&format!("\n# {title}\n\n"));
    out.push_str(&render_results(doc));
    out
}

/// An article file's sections after its title: the summary with its sources, then
/// each translation (what the server gives the editor's page to copy).
pub fn render_results(doc: &ArticleDoc) -> String {
    let mut out = String::from("## Summary\n\n");
    if doc.summary.trim().is_empty() {
        out.push_str("_No summary._\n");
    } else if doc.support.is_empty() {
        out.push_str(&escape_block(&doc.summary));
    } else {
        out.push_str(&grounded_summary(&doc.support, doc.style));
        out.push_str(&sources(&doc.support));
    }
    for t in &doc.translations {
        push_translation(&mut out, &language_heading(&t.lang), t);
    }
    for t in &doc.full_translations {
        let heading = format!("{} (full text)", language_heading(&t.lang));
        push_translation(&mut out, &heading, t);
    }
    out
}

/// A sentence's reference: the article sentences it rests on (`[S2, S5]`), or a flag.
pub fn reference(s: &SentenceSupport) -> String {
    if s.supported {
        let cited: Vec<String> = s.sources.iter().map(|c| format!("S{}", c.n)).collect();
        format!("[{}]", cited.join(", "))
    } else {
        "[unsupported]".to_string()
    }
}

/// The summary with a source reference after each sentence (or point).
pub fn grounded_summary(support: &[SentenceSupport], style: Style) -> String {
    laid_out(support, style, escape_inline)
}

/// Sentences (each as `text` makes it, then its reference) as a paragraph or points.
fn laid_out(support: &[SentenceSupport], style: Style, text: impl Fn(&str) -> String) -> String {
    let marked = |s: &SentenceSupport| format!("{} {}", text(&s.sentence), reference(s));
    match style {
        Style::Paragraph => {
            let sentences: Vec<String> = support.iter().map(marked).collect();
            format!("{}\n", sentences.join(" "))
        }
        Style::Bullets => support
            .iter()
            .map(|s| format!("- {}\n", marked(s)))
            .collect(),
    }
}

/// The summary for a terminal: each sentence with its reference, then the cited
/// sentences; plain text (no markdown escapes).
pub fn plain_summary(summary: &str, support: &[SentenceSupport], style: Style) -> String {
    if support.is_empty() {
        return format!("{}\n", summary.trim());
    }
    let mut out = laid_out(support, style, str::to_string);
    out.push_str("\nSources:\n");
    for c in cited(support) {
        out.push_str(&format!("  S{} (¶{}): {}\n", c.n, c.paragraph, c.text));
    }
    for (i, s) in support.iter().enumerate() {
        if let Some(problem) = s.problem() {
            out.push_str(&format!("  unsupported (sentence {}): {problem}\n", i + 1));
        }
    }
    out
}

/// The article sentences the supported summary sentences cite, in article order.
fn cited(support: &[SentenceSupport]) -> Vec<&SourceSentence> {
    let mut cited: Vec<&SourceSentence> = support
        .iter()
        .filter(|s| s.supported)
        .flat_map(|s| &s.sources)
        .collect();
    cited.sort_by_key(|c| c.n);
    cited.dedup_by_key(|c| c.n);
    cited
}

/// The cited article sentences in article order, and why flagged sentences are flagged.
fn sources(support: &[SentenceSupport]) -> String {
    let mut out = String::from("\n### Sources\n\n");
    for c in cited(support) {
        out.push_str(&format!(
            "- **S{}** (¶{}): {}\n",
            c.n,
            c.paragraph,
            escape_inline(&c.text)
        ));
    }
    for (i, s) in support.iter().enumerate() {
        if let Some(problem) = s.problem() {
            out.push_str(&format!(
                "- **unsupported** (summary sentence {}): {}\n",
                i + 1,
                escape_inline(&problem)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hostile_titles() -> Vec<String> {
        vec![
            "Plain title".into(),
            "key: value # comment".into(),
            "\"quoted\" and 'single' \\ backslash".into(),
            "line\nbreak\r\n---\nkey: \"injected\"".into(),
            "---".into(),
            "# Heading <script>alert(1)</script>".into(),
            "[x](javascript:alert(1)) ![img](y)".into(),
            "tab\tnul\0del\u{7f}c1\u{85}\u{9b}bom\u{feff}ls\u{2028}end".into(),
            "مرحبا بالعالم \u{202e}txt".into(),
            "😀 ".repeat(100),
            "- [ ] {a: b}, &anchor *alias !tag | > %".into(),
            String::new(),
        ]
    }

    fn doc(title: &str) -> ArticleDoc {
        ArticleDoc {
            meta: ArticleMeta {
                title: title.into(),
                source: "news/rates.html".into(),
                about: About {
                    url: Some("https://news.example/rates".into()),
                    lang: Some("en".into()),
                    published: Some("2019-11-19T07:03:25+00:00".into()),
                    author: Some("A. Writer".into()),
                    site: Some("The \"Example\" Times".into()),
                },
                input_sha256: "ab".repeat(32),
                model: "unsloth/gemma-3-1b-it-GGUF/gemma-3-1b-it-Q4_K_M.gguf".into(),
                model_sha256: "cd".repeat(32),
                languages: vec!["fr".into(), "de".into()],
                chunks: 3,
                tokens_in: 2048,
                tokens_out: 300,
                seconds: 12.5,
                key: "v1:temp=0:fr,de".into(),
                warnings: vec!["chunk 2: output truncated".into()],
            },
            summary: "The bank raised rates.\n\n- by 0.25 points".into(),
            style: Style::Paragraph,
            support: vec![],
            translations: vec![
                TranslationDoc {
                    lang: "fr".into(),
                    text: Some("La banque a relevé ses taux.".into()),
                    error: None,
                    checks: Default::default(),
                },
                TranslationDoc {
                    lang: "de".into(),
                    text: Some("The bank raised rates.".into()),
                    error: Some("output is in English, not German.".into()),
                    checks: Default::default(),
                },
            ],
            full_translations: vec![],
        }
    }

    #[test]
    fn renders_front_matter_summary_and_translations() {
        let md = render_article(&doc("Rates rise"));
        let expected_start = format!(
            "---\ntitle: \"Rates rise\"\nsource: \"news/rates.html\"\n\
             url: \"https://news.example/rates\"\nlang: \"en\"\n\
             published: \"2019-11-19T07:03:25+00:00\"\nauthor: \"A. Writer\"\n\
             site: \"The \\\"Example\\\" Times\"\ninput_sha256: \"{}\"\n",
            "ab".repeat(32)
        );
        assert!(md.starts_with(&expected_start), "{md}");
        assert!(
            md.contains("\nlanguages: [\"fr\", \"de\"]\nchunks: 3\n"),
            "{md}"
        );
        assert!(
            md.contains("\nseconds: 12.5\nkey: \"v1:temp=0:fr,de\"\n"),
            "{md}"
        );
        assert!(md.contains(
            "---\n\n# Rates rise\n\n## Summary\n\nThe bank raised rates.\n\n- by 0.25 points\n"
        ));
        assert!(md.contains("\n## French\n\nLa banque a relevé ses taux.\n"));
        assert!(md
            .ends_with("\n## German\n\n_Translation failed: output is in English, not German._\n"));
        // The rejected English text is not shown under the German heading.
        assert_eq!(md.matches("The bank raised rates.").count(), 1);
    }

    #[test]
    fn full_translations_and_unknown_languages() {
        let mut d = doc("T");
        d.translations.clear();
        d.full_translations = vec![
            TranslationDoc {
                lang: "fr".into(),
                text: Some("Texte intégral.".into()),
                error: None,
                checks: Default::default(),
            },
            TranslationDoc {
                lang: "tlh".into(),
                text: None,
                error: None,
                checks: Default::default(),
            },
        ];
        let md = render_article(&d);
        assert!(md.contains("\n## French (full text)\n\nTexte intégral.\n"));
        assert!(
            md.contains("\n## tlh (full text)\n\n_Translation failed: no text was produced._\n")
        );
    }

    #[test]
    fn doubtful_sentences_are_marked_where_they_stand() {
        let sentence = |text: &str, doubt: Option<&str>| crate::check::SentenceCheck {
            text: text.into(),
            source: String::new(),
            back: String::new(),
            meaning: 0.5,
            surprisal: None,
            candidates: 3,
            doubt: doubt.map(str::to_string),
            failed: None,
        };
        let checks = TranslationChecks {
            sentences: vec![
                sentence("Il pleut.", None),
                sentence("Le train part.", Some("meaning score 0.31")),
                sentence("Il pleut.", None),
            ],
            ..Default::default()
        };
        let text = "Il pleut. Le train part.\n\nIl pleut.";
        let marked = marked_translation(text, &checks);
        assert_eq!(marked, "Il pleut. Le train part. [doubtful]\n\nIl pleut.");
        let mut d = doc("T");
        d.translations[0].text = Some(text.into());
        d.translations[0].checks = checks;
        assert!(render_article(&d)
            .contains("\n## French\n\nIl pleut. Le train part. [doubtful]\n\nIl pleut.\n"));
        // Nothing doubtful, nothing marked.
        assert_eq!(
            marked_translation(text, &TranslationChecks::default()),
            text
        );
    }

    #[test]
    fn hostile_titles_round_trip_and_cannot_inject() {
        for title in hostile_titles() {
            let d = doc(&title);
            let md = render_article(&d);
            let meta = parse_front_matter(&md).unwrap_or_else(|| panic!("{title:?}\n{md}"));
            assert_eq!(meta, d.meta, "{title:?}");
            // Exactly two front matter delimiters, then our headings only.
            assert_eq!(md.lines().filter(|l| *l == "---").count(), 2, "{md}");
            let headings: Vec<&str> = md.lines().filter(|l| l.starts_with('#')).collect();
            assert_eq!(headings.len(), 4, "{md}");
            assert_eq!(&headings[1..], ["## Summary", "## French", "## German"]);
            let (_, body) = md[4..].split_once("\n---\n").unwrap();
            assert!(
                !body.replace("\\<", "").contains('<'),
                "unescaped HTML: {md}"
            );
            for c in ['\0', '\u{7f}', '\u{85}', '\u{feff}', '\u{2028}'] {
                assert!(!md.contains(c), "{title:?}: raw {c:?}");
            }
        }
        let md = render_article(&doc("# Heading <script>x</script> ##"));
        assert!(
            md.contains("\n# # Heading \\<script>x\\</script> \\##\n"),
            "{md}"
        );
        assert!(render_article(&doc("")).contains("\n# Untitled\n"));
    }

    #[test]
    fn front_matter_parse_rejects_damage_and_tolerates_missing_fields() {
        assert_eq!(parse_front_matter("# No front matter"), None);
        assert_eq!(parse_front_matter(""), None);
        assert_eq!(parse_front_matter("---\ntitle: \"torn"), None);
        assert_eq!(parse_front_matter("---\ntitle: \"a\"\n"), None);
        assert_eq!(parse_front_matter("---\ntitle: \"a\nb\"\n---\n"), None);
        let meta = parse_front_matter("\u{feff}---\r\nkey: \"k\"\r\nextra: 1\r\n---\r\n").unwrap();
        assert_eq!(meta.key, "k");
        assert_eq!(meta.input_sha256, "");
    }

    #[test]
    fn non_finite_seconds_still_parse() {
        let mut d = doc("t");
        d.meta.seconds = f64::NAN;
        assert_eq!(
            parse_front_matter(&render_article(&d)).unwrap().seconds,
            0.0
        );
        d.meta.seconds = 1.23456;
        assert_eq!(
            parse_front_matter(&render_article(&d)).unwrap().seconds,
            1.235
        );
    }
}
