//! Markdown articles: the title from the front matter or the first heading, and
//! the text with its markup lightly stripped, so that the model reads prose and
//! not `**`, `#` or link targets.

use super::text::collapse;
use super::Doc;

/// Links are searched this far: keeps lines full of brackets linear.
const MAX_LINK_CHARS: usize = 2048;

pub(super) fn parse(src: &str) -> Doc {
    let (mut doc, body) = front_matter(src);
    let lines: Vec<&str> = body.lines().collect();
    let mut text = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let setext = i + 1 < lines.len()
            && !line.trim().is_empty()
            && !is_rule(line)
            && is_underline(lines[i + 1]);
        if let Some(heading) = atx_heading(line).or(setext.then_some(line)) {
            let heading = inline(heading);
            if doc.title.is_none() && !heading.trim().is_empty() {
                doc.title = Some(collapse(&heading));
            }
            text.extend(["", &heading, ""].map(String::from));
            i += if setext { 2 } else { 1 };
            continue;
        }
        if !is_rule(line) && !is_link_definition(line) {
            text.push(inline(strip_quote(line)));
        }
        i += 1;
    }
    doc.text = text.join("\n");
    doc
}

/// A leading `---` YAML block: its `title`, `url` and `lang` go into the `Doc`,
/// the rest is dropped. Returns the body after it.
fn front_matter(src: &str) -> (Doc, &str) {
    let mut doc = Doc::default();
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let Some(rest) = src
        .strip_prefix("---\n")
        .or_else(|| src.strip_prefix("---\r\n"))
    else {
        return (doc, src);
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        offset += line.len();
        let line = line.trim_end();
        if line == "---" || line == "..." {
            return (doc, &rest[offset..]);
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        let field = match key.trim() {
            "title" => &mut doc.title,
            "url" | "link" => &mut doc.url,
            "lang" | "language" => &mut doc.lang,
            _ => continue,
        };
        if !value.is_empty() {
            *field = Some(value.to_string());
        }
    }
    (Doc::default(), src) // never closed: not front matter
}

/// The text of an ATX heading (`## Title ##`).
fn atx_heading(line: &str) -> Option<&str> {
    let line = line.trim();
    let hashes = line.len() - line.trim_start_matches('#').len();
    let rest = &line[hashes..];
    if !(1..=6).contains(&hashes) || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let rest = rest.trim_end_matches('#');
    Some(rest.trim())
}

/// A setext underline (`===` or `---`) below a heading line.
fn is_underline(line: &str) -> bool {
    let line = line.trim();
    line.len() >= 2 && (line.bytes().all(|b| b == b'=') || line.bytes().all(|b| b == b'-'))
}

/// A thematic break: `---`, `***`, `___` (spaces allowed).
fn is_rule(line: &str) -> bool {
    let marks: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
    marks.len() >= 3 && matches!(marks[0], '-' | '*' | '_') && marks.iter().all(|&c| c == marks[0])
}

/// `[label]: https://...`, the target of a reference link.
fn is_link_definition(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with('[') && line.find("]:").is_some_and(|i| !line[1..i].contains(']'))
}

fn strip_quote(line: &str) -> &str {
    let mut line = line.trim_start();
    while let Some(rest) = line.strip_prefix('>') {
        line = rest.trim_start();
    }
    line
}

/// Inline markup removed: images dropped, links to their text, code backticks,
/// emphasis and strikethrough markers (only where they open or close a span, so
/// `snake_case` and `2 * 3` stay).
fn inline(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '!' if chars.get(i + 1) == Some(&'[') => {
                if let Some((_, end)) = link(&chars, i + 1) {
                    i = end;
                    continue;
                }
            }
            '[' => {
                if let Some((label, end)) = link(&chars, i) {
                    out.push_str(&inline(&label));
                    i = end;
                    continue;
                }
            }
            '<' => {
                // Autolink: <https://example.com>
                let rest: String = chars[i + 1..]
                    .iter()
                    .take(MAX_LINK_CHARS)
                    .take_while(|&&c| c != '>')
                    .collect();
                if rest.starts_with("http") && i + 1 + rest.len() < chars.len() {
                    out.push_str(&rest);
                    i += rest.len() + 2;
                    continue;
                }
            }
            '`' => {
                i += 1;
                continue;
            }
            '*' | '_' | '~' => {
                let run = chars[i..].iter().take_while(|&&r| r == c).count();
                let (before, after) = (
                    i.checked_sub(1).map(|j| chars[j]),
                    chars.get(i + run).copied(),
                );
                if (c != '~' || run == 2) && is_delimiter(before, after) {
                    i += run;
                    continue;
                }
                out.extend(&chars[i..i + run]);
                i += run;
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Whether an emphasis run opens a span (before a word) or closes one (after a
/// word), as opposed to sitting inside a word or between spaces.
fn is_delimiter(before: Option<char>, after: Option<char>) -> bool {
    let space = |c: Option<char>| c.is_none_or(char::is_whitespace);
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let opens = !space(after) && !word(before);
    let closes = !space(before) && !word(after);
    opens || closes
}

/// `[label](target)` or `[label][ref]` starting at `open`: the label and the
/// index just past the link.
fn link(chars: &[char], open: usize) -> Option<(String, usize)> {
    let close = matching(chars, open, '[', ']')?;
    let end = match chars.get(close + 1) {
        Some('(') => matching(chars, close + 1, '(', ')')?,
        Some('[') => matching(chars, close + 1, '[', ']')?,
        _ => return None,
    };
    Some((chars[open + 1..close].iter().collect(), end + 1))
}

/// Index of the bracket closing the one at `open`, allowing nesting.
fn matching(chars: &[char], open: usize, left: char, right: char) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &c) in chars.iter().enumerate().skip(open).take(MAX_LINK_CHARS) {
        if c == left {
            depth += 1;
        } else if c == right {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::{tests::read_one, text::normalize, Format};
    use super::*;

    #[test]
    fn inline_markup_is_stripped() {
        for (md, want) in [
            ("**Bold** and *it*, __b__ _i_.", "Bold and it, b i."),
            (
                "See [the report](https://x.org/a_(b)) now",
                "See the report now",
            ),
            ("A ![chart](c.png) here [ref][1].", "A  here ref."),
            ("[![logo](l.png)](https://x.org)", ""),
            (
                "snake_case, 2 * 3, 5*3, ~5 km",
                "snake_case, 2 * 3, 5*3, ~5 km",
            ),
            (
                "~~old~~ new `code` <https://x.org>",
                "old new code https://x.org",
            ),
            ("* item, [not a link] (x)", "* item, [not a link] (x)"),
        ] {
            assert_eq!(inline(md), want, "{md}");
        }
    }

    #[test]
    fn headings_rules_quotes_and_definitions() {
        let md = "Intro line\n\nCity Votes\n==========\n\n## Results ##\n\n> Quoted *words*\n\n---\n\n[1]: https://x.org\nEnd.";
        let doc = parse(md);
        assert_eq!(doc.title.as_deref(), Some("City Votes"));
        assert_eq!(
            normalize(&doc.text),
            "Intro line\n\nCity Votes\n\nResults\n\nQuoted words\n\nEnd."
        );
    }

    #[test]
    fn front_matter_gives_title_url_and_lang() {
        let md = "---\ntitle: \"Rail strike ends\"\nurl: https://news.example/rail\nlang: en\ntags: [a]\n---\n# Other\n\nBody.";
        let doc = parse(md);
        assert_eq!(doc.title.as_deref(), Some("Rail strike ends"));
        assert_eq!(doc.url.as_deref(), Some("https://news.example/rail"));
        assert_eq!(doc.lang.as_deref(), Some("en"));
        assert_eq!(normalize(&doc.text), "Other\n\nBody.");
        // Unclosed: an ordinary rule, and the text stays.
        assert_eq!(normalize(&parse("---\ntitle: x\n").text), "title: x");
    }

    #[test]
    fn markdown_file_end_to_end() {
        let md = "# Dam *opens* [early](https://x.org)\n\nThe **new** dam opened.\n![photo](p.jpg)\n\nPower flows.\n";
        let a = read_one("dam.md", Format::Markdown, md.as_bytes()).unwrap();
        assert_eq!(a.title, "Dam opens early");
        assert_eq!(
            a.text,
            "Dam opens early\n\nThe new dam opened.\n\nPower flows."
        );
        let a = read_one(
            "plain.markdown",
            Format::Markdown,
            b"No heading here.\nMore.",
        )
        .unwrap();
        assert_eq!(a.title, "No heading here.");
    }
}
