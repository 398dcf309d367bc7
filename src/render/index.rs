//! `index.md`: the digest itself, every article's summary linked to its file.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::manifest::{ManifestEntry, Status};
use super::markdown::{escape_block, escape_inline};

/// Run-wide facts for the index heading.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    /// Already formatted by the caller.
    pub date: String,
    pub model: String,
    /// Language codes requested.
    pub languages: Vec<String>,
}

/// `name` percent-encoded for a link target: all but unreserved URI characters, so a
/// file name can neither close the link nor point elsewhere.
pub(crate) fn link_target(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// `fr ✓, de ✗ (translation failed)`: requested languages first, then any others.
fn languages_line(requested: &[String], entry: &ManifestEntry) -> String {
    let extra = entry.translations.keys().filter(|k| !requested.contains(k));
    requested
        .iter()
        .chain(extra)
        .map(|lang| {
            let mark = if entry.translations.contains_key(lang) {
                "✓"
            } else {
                "✗ (translation failed)"
            };
            format!("{} {mark}", escape_inline(lang))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// When an article was published, from the date its input gave: RFC 3339
/// ("2024-07-17T06:30:00+01:00", kept in its own offset, so the day shown is the
/// day written; compared as instants) or a day ("2024-07-17", taken as UTC).
fn published(entry: &ManifestEntry) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let date = entry.about.published.as_deref()?.trim();
    chrono::DateTime::parse_from_rfc3339(date).ok().or_else(|| {
        let day = chrono::NaiveDate::parse_from_str(date.get(..10)?, "%Y-%m-%d").ok()?;
        Some(day.and_hms_opt(0, 0, 0)?.and_utc().fixed_offset())
    })
}

/// The digest index: articles that have a file, newest first where their inputs
/// give a date (undated ones after, in the given order), then failures.
pub fn render_index(info: &IndexInfo, entries: &[ManifestEntry]) -> String {
    let (failed, mut articles): (Vec<_>, Vec<_>) =
        entries.iter().partition(|e| e.status == Status::Failed);
    // Stable: articles of the same moment keep their order.
    articles.sort_by_key(|e| std::cmp::Reverse(published(e)));
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# Digest — {}\n", escape_inline(&info.date));
    // Separate paragraphs: consecutive lines would render as one.
    let _ = writeln!(out, "Model: {}\n", escape_inline(&info.model));
    if !info.languages.is_empty() {
        let languages = escape_inline(&info.languages.join(", "));
        let _ = writeln!(out, "Languages: {languages}\n");
    }
    let _ = writeln!(
        out,
        "{}, {} failed",
        plural(articles.len(), "article"),
        failed.len()
    );

    for entry in articles {
        let title = entry.title.as_deref().unwrap_or(&entry.input);
        let title = escape_inline(title);
        let title = if title.is_empty() {
            "Untitled".into()
        } else {
            title
        };
        match &entry.output {
            Some(file) => {
                let _ = writeln!(out, "\n## [{title}]({})\n", link_target(file));
            }
            None => {
                let _ = writeln!(out, "\n## {title}\n");
            }
        }
        let byline: Vec<String> = [
            published(entry).map(|d| d.format("%Y-%m-%d").to_string()),
            entry.about.site.clone(),
            entry.about.author.clone(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !byline.is_empty() {
            let _ = writeln!(out, "_{}_\n", escape_inline(&byline.join(" · ")));
        }
        match entry.summary.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(summary) => out.push_str(&escape_block(summary)),
            None => out.push_str("_No summary._\n"),
        }
        let langs = languages_line(&info.languages, entry);
        if !langs.is_empty() {
            let _ = writeln!(out, "\nLanguages: {langs}");
        }
    }

    if !failed.is_empty() {
        out.push_str("\n## Failed\n\n");
        for entry in failed {
            let _ = writeln!(out, "- {}", escape_inline(&entry.failure()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(input: &str, status: Status) -> ManifestEntry {
        ManifestEntry {
            status,
            error: None,
            ..ManifestEntry::failed(input, input, String::new(), vec![])
        }
    }

    /// Dated articles newest first (RFC 3339 with any offset, or a day), each
    /// with its date, site and author; undated ones after, in their order.
    #[test]
    fn dated_articles_come_newest_first_with_their_byline() {
        let dated = |input: &str, date: Option<&str>| {
            let mut e = entry(input, Status::Ok);
            e.title = Some(input.into());
            e.summary = Some("S.".into());
            e.about.published = date.map(String::from);
            e
        };
        let mut late = dated("late", Some("2024-07-17T00:30:00+02:00"));
        late.about.site = Some("The Vale Courier".into());
        late.about.author = Some("Priya Shah".into());
        let entries = [
            dated("undated-1", None),
            dated("early", Some("2024-07-16")),
            late,
            dated("garbled", Some("last Tuesday")),
            dated("latest", Some("2024-07-16T23:31:00Z")),
        ];
        let md = render_index(&info(), &entries);
        let order: Vec<&str> = md.lines().filter_map(|l| l.strip_prefix("## ")).collect();
        assert_eq!(order, ["latest", "late", "early", "undated-1", "garbled"]);
        assert!(
            md.contains("## late\n\n_2024-07-17 · The Vale Courier · Priya Shah_\n\nS."),
            "{md}"
        );
    }

    fn info() -> IndexInfo {
        IndexInfo {
            date: "2025-03-14".into(),
            model: "gemma-3-1b-it-Q4_K_M".into(),
            languages: vec!["fr".into(), "de".into()],
        }
    }

    #[test]
    fn renders_articles_in_order_then_failures() {
        let mut a = entry("news/rates.html", Status::Ok);
        a.title = Some("Rates rise [again]".into());
        a.output = Some("rates-rise-again.md".into());
        a.summary = Some("The bank raised rates.".into());
        a.translations.insert("fr".into(), "La banque...".into());
        let mut b = entry("news/old.txt", Status::Skipped);
        b.title = Some("Old news".into());
        b.output = Some("old-news.md".into());
        b.summary = Some("Nothing new.".into());
        b.translations.insert("fr".into(), "Rien.".into());
        b.translations.insert("de".into(), "Nichts.".into());
        let mut c = entry("bad\nname.pdf", Status::Failed);
        c.error = Some("not a text file".into());

        let md = render_index(&info(), &[a, c, b]);
        assert_eq!(
            md,
            "# Digest — 2025-03-14\n\
             \n\
             Model: gemma-3-1b-it-Q4_K_M\n\
             \n\
             Languages: fr, de\n\
             \n\
             2 articles, 1 failed\n\
             \n\
             ## [Rates rise \\[again\\]](rates-rise-again.md)\n\
             \n\
             The bank raised rates.\n\
             \n\
             Languages: fr ✓, de ✗ (translation failed)\n\
             \n\
             ## [Old news](old-news.md)\n\
             \n\
             Nothing new.\n\
             \n\
             Languages: fr ✓, de ✓\n\
             \n\
             ## Failed\n\
             \n\
             - bad name.pdf: not a text file\n"
        );
    }

    #[test]
    fn no_failed_section_without_failures_and_hostile_fields_are_contained() {
        let mut a = entry("x", Status::Ok);
        a.title = Some("](javascript:alert(1)) <img src=x>\n## Fake".into());
        a.output = Some("../evil (1).md".into());
        a.summary = Some("## Fake section\n```".into());
        let md = render_index(
            &IndexInfo {
                languages: vec![],
                ..info()
            },
            &[a],
        );
        assert!(!md.contains("## Failed"));
        assert!(!md.contains("Languages"));
        assert!(md.contains("1 article, 0 failed"));
        assert!(md.contains(
            "\n## [\\](javascript:alert(1)) \\<img src=x> ## Fake](..%2Fevil%20%281%29.md)\n"
        ));
        assert!(md.contains("\n\\## Fake section\n\\```\n"));
        let headings = md.lines().filter(|l| l.starts_with('#')).count();
        assert_eq!(headings, 2, "{md}");
    }

    #[test]
    fn entries_without_file_or_title_fall_back_to_input() {
        let mut a = entry("feeds/a.html", Status::Ok);
        a.translations.insert("es".into(), "Hola".into());
        let md = render_index(&info(), &[a, entry("b", Status::Failed)]);
        assert!(md.contains("\n## feeds/a.html\n\n_No summary._\n"), "{md}");
        assert!(md.contains("fr ✗ (translation failed), de ✗ (translation failed), es ✓"));
        assert!(md.contains("- b: unknown error\n"));
    }
}
