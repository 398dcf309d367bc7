//! Markdown escaping for text we did not write: titles and paths come from the input,
//! summaries and translations from the model. Either may try to add headings, HTML or
//! unclosed code fences; escaping keeps the document's structure ours while leaving the
//! text readable in the raw file.

/// `text` on one line: control characters and line breaks become spaces, bidi overrides
/// (which can make displayed text differ from its bytes) and BOMs are dropped, runs of
/// whitespace collapse to one space.
pub(super) fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .map(|word| word.replace(is_invisible_control, ""))
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_invisible_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `text` as inline markdown on one line (a heading, link text, a list item): markup
/// characters are backslash-escaped so the text shows as written.
pub(crate) fn escape_inline(text: &str) -> String {
    let line = one_line(text);
    let mut out = String::with_capacity(line.len());
    let mut prev = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        // `_` inside a word (`Q4_K_M`) cannot start emphasis: left as is, for readability.
        let in_word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric());
        let intraword = c == '_' && in_word(prev.as_ref()) && in_word(chars.peek());
        if matches!(c, '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '<') && !intraword {
            out.push('\\');
        }
        out.push(c);
        prev = Some(c);
    }
    // A trailing ` ###` would be taken as the closing sequence of an ATX heading.
    let stem = out.trim_end_matches('#');
    if stem.len() < out.len() && (stem.is_empty() || stem.ends_with(' ')) {
        out.insert(stem.len(), '\\');
    }
    out
}

/// Inline-escaped text ([`escape_inline`]) made safe to start a paragraph: a
/// first character that would open a heading, quote, list item or setext
/// underline is escaped too.
pub(crate) fn paragraph_start(escaped: &str) -> String {
    let digits = escaped.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && escaped[digits..].starts_with(['.', ')']) {
        return format!("{}\\{}", &escaped[..digits], &escaped[digits..]);
    }
    if escaped.starts_with(['#', '>', '-', '+', '=', '*']) {
        return format!("\\{escaped}");
    }
    escaped.to_string()
}

/// Multi-line `text` as a markdown block: lines that would start a heading or a code
/// fence are escaped (a fence would swallow every section after it), so are HTML and
/// link reference definitions (`[S1]: https://...` would turn the document's citations
/// into links); other markdown (lists, emphasis) is kept. A lone `\r` ends a line in
/// markdown, so it does here.
pub(super) fn escape_block(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    for line in text.trim().lines() {
        let line = line.trim_end();
        let body = line.trim_start_matches(' ');
        let indent = line.len() - body.len();
        // Four spaces make an indented code block, where nothing below is special.
        if indent <= 3 && starts_block_markup(body) {
            out.push_str(&line[..indent]);
            out.push('\\');
            out.push_str(body);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out.replace('<', "\\<")
}

/// Whether a line starts an ATX heading, a code fence or a link reference
/// definition, or underlines the line before into a setext heading.
fn starts_block_markup(body: &str) -> bool {
    let underline = |c: char| !body.is_empty() && body.chars().all(|b| b == c);
    body.starts_with('#')
        || body.starts_with('[')
        || body.starts_with("```")
        || body.starts_with("~~~")
        || underline('=')
        || underline('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_removes_breaks_controls_and_bidi_overrides() {
        assert_eq!(one_line(" a\nb\r\n\tc\0d\u{2028}e "), "a b c d e");
        assert_eq!(one_line("abc\u{202e}txt.exe"), "abctxt.exe");
        assert_eq!(one_line("שלום עולם"), "שלום עולם");
    }

    #[test]
    fn a_paragraph_cannot_open_a_block() {
        for (text, want) in [
            ("# Breaking", "\\# Breaking"),
            ("- a - b", "\\- a - b"),
            ("> quoted", "\\> quoted"),
            ("1. first", "1\\. first"),
            ("2019 was", "2019 was"),
        ] {
            assert_eq!(paragraph_start(&escape_inline(text)), want, "{text}");
        }
    }

    #[test]
    fn inline_markup_is_escaped() {
        assert_eq!(escape_inline("# Breaking"), "# Breaking");
        assert_eq!(escape_inline("C# wins ##"), "C# wins \\##");
        assert_eq!(escape_inline("##"), "\\##");
        assert_eq!(
            escape_inline("<script>alert(1)</script>"),
            "\\<script>alert(1)\\</script>"
        );
        assert_eq!(
            escape_inline("[link](x) *bold* `code`"),
            "\\[link\\](x) \\*bold\\* \\`code\\`"
        );
        assert_eq!(escape_inline("a\n## b"), "a ## b");
        assert_eq!(escape_inline("Q4_K_M _x_ a_"), "Q4_K_M \\_x\\_ a\\_");
    }

    #[test]
    fn block_structure_is_escaped_and_lists_kept() {
        let text = "Intro\n## German\n```\n- item *one*\n===\n    # code\n<b>x</b>\n\n";
        assert_eq!(
            escape_block(text),
            "Intro\n\\## German\n\\```\n- item *one*\n\\===\n    # code\n\\<b>x\\</b>\n"
        );
        assert_eq!(escape_block("  \n "), "");
        // A lone CR ends a line in markdown; a reference definition would hijack [S1].
        assert_eq!(
            escape_block("Fine.\r# Owned\r\n[S1]: https://evil.example\nok"),
            "Fine.\n\\# Owned\n\\[S1]: https://evil.example\nok\n"
        );
    }
}
