//! Markdown articles, parsed as CommonMark (with tables and strikethrough): the
//! title from the front matter or the first heading, and the prose the model
//! should read: link text without its URL, emphasis without its markers, inline
//! HTML without its tags, tables as rows of cells. Code blocks, images and
//! reference definitions are dropped: they are not prose to summarize.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::text::collapse;
use super::{html, Doc};

pub(super) fn parse(src: &str) -> Doc {
    let (mut doc, body) = front_matter(src);
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_TASKLISTS
        // front matter that `front_matter` did not take (`+++` TOML, say) is dropped
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_PLUSES_DELIMITED_METADATA_BLOCKS;
    let mut out = String::with_capacity(body.len());
    // Where the heading being read starts in `out`; depth of dropped content.
    let mut heading: Option<usize> = None;
    let mut dropped = 0usize;
    let mut html_block = String::new();
    for event in Parser::new_ext(body, options) {
        match event {
            Event::Start(Tag::CodeBlock(_) | Tag::Image { .. } | Tag::MetadataBlock(_)) => {
                dropped += 1
            }
            Event::End(TagEnd::CodeBlock | TagEnd::Image | TagEnd::MetadataBlock(_)) => {
                dropped = dropped.saturating_sub(1)
            }
            _ if dropped > 0 => {}
            Event::Start(Tag::Heading { .. }) => {
                out.push_str("\n\n");
                heading = Some(out.len());
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(at) = heading.take() {
                    let text = collapse(&out[at..]);
                    if doc.title.is_none() && !text.is_empty() {
                        doc.title = Some(text);
                    }
                }
                out.push_str("\n\n");
            }
            Event::Start(Tag::Item | Tag::TableRow | Tag::TableHead) => out.push('\n'),
            Event::End(TagEnd::TableCell) => out.push_str(" | "),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::BlockQuote(_)
                | TagEnd::List(_)
                | TagEnd::Table
                | TagEnd::FootnoteDefinition,
            )
            | Event::Rule => out.push_str("\n\n"),
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            // block HTML comes line by line: its text once the block is whole
            Event::Start(Tag::HtmlBlock) => html_block.clear(),
            Event::Html(h) => html_block.push_str(&h),
            Event::End(TagEnd::HtmlBlock) => {
                out.push_str("\n\n");
                out.push_str(&html::parse(&html_block).text);
                out.push_str("\n\n");
            }
            // inline tags go, the text between them stays; footnote marks go
            _ => {}
        }
    }
    doc.text = out;
    doc
}

/// A leading `---` YAML block: its `title`, `url`, `lang`, `date`, `author` and
/// `site` go into the `Doc`,
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
            "url" | "link" => &mut doc.about.url,
            "lang" | "language" => &mut doc.about.lang,
            "date" | "published" => &mut doc.about.published,
            "author" => &mut doc.about.author,
            "site" | "site_name" => &mut doc.about.site,
            _ => continue,
        };
        if !value.is_empty() {
            *field = Some(value.to_string());
        }
    }
    (Doc::default(), src) // never closed: not front matter
}

#[cfg(test)]
mod tests {
    use super::super::{tests::read_one, text::normalize, Format};
    use super::*;

    fn text(md: &str) -> String {
        normalize(&parse(md).text)
    }

    #[test]
    fn inline_markup_is_stripped() {
        for (md, want) in [
            ("**Bold** and *it*, __b__ _i_.", "Bold and it, b i."),
            (
                "See [the report](https://x.org/a_(b)) now",
                "See the report now",
            ),
            (
                "A ![chart](c.png) here [ref][1].\n\n[1]: https://x.org",
                "A here ref.",
            ),
            ("[![logo](l.png)](https://x.org)", ""),
            (
                "snake_case, 2 * 3, 5*3, ~5 km",
                "snake_case, 2 * 3, 5*3, ~5 km",
            ),
            (
                "~~old~~ new `code` <https://x.org>",
                "old new code https://x.org",
            ),
            ("* item, [not a link] (x)", "item, [not a link] (x)"),
            (
                "Rates <b>rose</b> to <span class=\"n\">5%</span>.",
                "Rates rose to 5%.",
            ),
        ] {
            assert_eq!(text(md), want, "{md}");
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
    fn code_blocks_are_dropped_and_tables_become_rows() {
        let md = "# Budget\n\nThe plan:\n\n```python\n# not a heading\nprint('x')\n```\n\n    \
                  indented code\n\n| Party | Seats |\n|---|--:|\n| Green | 12 |\n| *Blue* | 9 |\n\nAfter.";
        let doc = parse(md);
        assert_eq!(doc.title.as_deref(), Some("Budget"));
        let t = normalize(&doc.text);
        assert!(!t.contains("print") && !t.contains("not a heading"), "{t}");
        assert!(!t.contains("indented code") && !t.contains("---"), "{t}");
        let rows: Vec<&str> = t.lines().filter(|l| l.contains('|')).collect();
        assert_eq!(rows, ["Party | Seats |", "Green | 12 |", "Blue | 9 |"]);
        assert!(
            t.starts_with("Budget\n\nThe plan:") && t.ends_with("After."),
            "{t}"
        );
    }

    #[test]
    fn html_blocks_give_their_text_without_scripts() {
        let md = "Before.\n\n<div class=\"box\">\n<p>Inside <em>the</em> box.</p>\n<script>alert(1)</script>\n</div>\n\n<!-- a comment -->\n\nAfter.";
        let t = text(md);
        assert!(t.contains("Inside the box."), "{t}");
        assert!(
            !t.contains('<') && !t.contains("alert") && !t.contains("comment"),
            "{t}"
        );
        assert!(t.starts_with("Before.") && t.ends_with("After."), "{t}");
    }

    #[test]
    fn front_matter_gives_title_url_and_lang() {
        let md = "---\ntitle: \"Rail strike ends\"\nurl: https://news.example/rail\nlang: en\ntags: [a]\n---\n# Other\n\nBody.";
        let doc = parse(md);
        assert_eq!(doc.title.as_deref(), Some("Rail strike ends"));
        assert_eq!(doc.about.url.as_deref(), Some("https://news.example/rail"));
        assert_eq!(doc.about.lang.as_deref(), Some("en"));
        assert_eq!(normalize(&doc.text), "Other\n\nBody.");
        // Unclosed: not front matter; the line under `title: x` makes it a heading.
        let doc = parse("---\ntitle: x\n");
        assert_eq!(normalize(&doc.text), "title: x");
        // TOML front matter is dropped
        assert_eq!(text("+++\ntitle = \"x\"\n+++\n\nBody."), "Body.");
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
