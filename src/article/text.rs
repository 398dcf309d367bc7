//! Text helpers shared by the format readers: whitespace, titles, ids, hashes.

use std::fmt::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Titles guessed from the text are cut to about this many characters.
const TITLE_CHARS: usize = 80;

/// Normalizes whitespace while keeping paragraphs: CRLF to LF, no BOM, runs of
/// spaces and tabs collapsed, lines trimmed, at most one blank line between
/// paragraphs (later steps split on blank lines), none at either end.
pub(super) fn normalize(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    let mut blank = false;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else {
            blank = true;
            continue;
        };
        if !out.is_empty() {
            out.push_str(if blank { "\n\n" } else { "\n" });
        }
        blank = false;
        out.push_str(first);
        for word in words {
            out.push(' ');
            out.push_str(word);
        }
    }
    out
}

/// A title for text that has none: its first non-empty line, without markdown
/// heading hashes, cut to the first sentence or a word boundary when long.
pub(super) fn title(text: &str) -> String {
    let line = text
        .lines()
        .map(|line| {
            let line = line.trim();
            match line.trim_start_matches('#') {
                rest if rest.is_empty() || rest.starts_with(char::is_whitespace) => rest,
                _ => line, // "#hashtag" is not a heading
            }
        })
        // `shorten` looks no further than its first TITLE_CHARS + 1 characters, so
        // a line of megabytes is not collapsed whole.
        .map(|line| collapse_words(line.split_whitespace(), TITLE_CHARS + 1))
        .find(|l| !l.is_empty());
    shorten(&line.unwrap_or_default(), TITLE_CHARS)
}

/// Whitespace runs (newlines included) to single spaces, trimmed.
pub(super) fn collapse(s: &str) -> String {
    collapse_words(s.split_whitespace(), usize::MAX)
}

/// `words` joined by single spaces, stopping once at least `chars` characters
/// are written.
fn collapse_words<'a>(words: impl Iterator<Item = &'a str>, chars: usize) -> String {
    let mut out = String::new();
    let mut written = 0;
    for word in words {
        if written >= chars {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
            written += 1;
        }
        out.push_str(word);
        written += word.chars().count();
    }
    out
}

fn shorten(line: &str, max: usize) -> String {
    let Some((cut, _)) = line.char_indices().nth(max) else {
        return line.to_string();
    };
    if let Some(end) = sentence_end(&line[..cut]) {
        return line[..end].to_string();
    }
    let head = &line[..cut];
    // Cut at the last space unless that leaves almost nothing (one long word).
    let head = match head.rfind(' ') {
        Some(i) if i >= max / 2 => &head[..i],
        _ => head,
    };
    format!(
        "{}…",
        head.trim_end_matches(|c: char| c.is_whitespace() || c == ',')
    )
}

/// End of the first sentence, if there is one of a reasonable length: a `.`, `!`
/// or `?` followed by a space, after a lowercase letter so that "U.S." and
/// initials do not end it.
fn sentence_end(s: &str) -> Option<usize> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    chars.windows(3).find_map(|w| {
        let [(_, before), (i, mark), (_, after)] = [w[0], w[1], w[2]];
        (matches!(mark, '.' | '!' | '?')
            && after == ' '
            && (before.is_lowercase() || before.is_ascii_digit())
            && i >= 20)
            .then_some(i + 1)
    })
}

/// A file-name-safe identifier from a path's stem: lowercase letters and digits,
/// anything else one `-`. `<stdin>` gives `stdin`.
pub(super) fn slug(path: &Path) -> String {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let mut id = String::with_capacity(stem.len());
    for c in stem.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            id.push(c);
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
    }
    let id = id.trim_end_matches('-');
    if id.is_empty() { "article" } else { id }.to_string()
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalize_keeps_paragraphs() {
        let raw = "\u{feff}\n \t\nOne  two\t three \r\nfour\r\n\r\n \r\n\t\nfive\u{a0} six\n\n";
        assert_eq!(normalize(raw), "One two three\nfour\n\nfive six");
        assert_eq!(normalize(" \n\t\r\n"), "");
    }

    #[test]
    fn titles_from_text() {
        assert_eq!(title("\n\n  ## Rates  rise \nBody"), "Rates rise");
        assert_eq!(title("#hashtag news\nBody"), "#hashtag news");
        assert_eq!(title(""), "");
        assert_eq!(title("###\n\nBody"), "Body");
        let long = "The central bank raised rates again on Tuesday. Markets fell sharply \
                    as investors weighed the odds of a recession next year.";
        assert_eq!(
            title(long),
            "The central bank raised rates again on Tuesday."
        );
        let long = "Officials in the U.S. and Canada said on Tuesday that the border crossing \
                    would reopen next week after repairs";
        let t = title(long);
        assert_eq!(
            t,
            "Officials in the U.S. and Canada said on Tuesday that the border crossing would…"
        );
        assert!(t.chars().count() <= 81);
        assert_eq!(title(&"x".repeat(100)).chars().count(), 81);
    }

    #[test]
    fn slugs() {
        for (path, want) in [
            ("dir/Big News (2024).txt", "big-news-2024"),
            ("Été.md", "été"),
            ("<stdin>", "stdin"),
            ("---.txt", "article"),
            ("feed.jsonl", "feed"),
        ] {
            assert_eq!(slug(Path::new(path)), want, "{path}");
        }
    }

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    proptest! {
        #[test]
        fn normalize_is_idempotent_and_tidy(s in "\u{feff}?[a-c \t\r\n\u{a0}]{0,60}") {
            let n = normalize(&s);
            prop_assert_eq!(normalize(&n), n.clone());
            prop_assert!(!n.contains("\n\n\n") && !n.contains('\r') && !n.contains('\t'));
            prop_assert!(!n.contains("  ") && n.trim() == n);
            prop_assert_eq!(collapse(&n), collapse(s.trim_start_matches('\u{feff}')));
        }

        #[test]
        fn title_is_short_and_never_panics(s in "\\PC{0,200}") {
            prop_assert!(title(&s).chars().count() <= TITLE_CHARS + 1);
        }

        /// Collapsing only the head of the line gives the title collapsing all of it did.
        #[test]
        fn title_reads_only_the_head_of_a_long_line(
            s in "[a-zA-Z. \t\u{a0}é]{0,300}(\n[a-z ]{0,20}){0,2}",
        ) {
            let first = s.lines().map(|l| collapse(l.trim())).find(|l| !l.is_empty());
            prop_assert_eq!(title(&s), shorten(&first.unwrap_or_default(), TITLE_CHARS));
        }
    }
}
