//! Web pages read as trafilatura reads them: `rs-trafilatura` (MIT/Apache-2.0, a
//! port of trafilatura) finds the main text by scoring the page's blocks (text and
//! link density, position, page-type profiles) and reads the page's metadata
//! (JSON-LD, Open Graph, Dublin Core, `<meta>`, `<time>`). On Scrapinghub's
//! article-extraction-benchmark it reads 0.964 F1 where the structural reader
//! ([`super::html`]) reads 0.816 (`scripts/bench-reader.sh`).
//!
//! The crate is not trusted with hostile pages: a page over [`PAGE_BUDGET`], one
//! nested too deep for its size ([`WORK_BUDGET`]) or one it panics on goes to the
//! structural reader, with a warning naming why. A page where it finds no text goes
//! there too, silently: a short page, which that reader may still read or refuse.

use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::Datelike;

use rs_trafilatura::page_type::PageType;
use rs_trafilatura::{extract_with_options, Options};

use super::html;
use super::text::collapse;
use super::{About, Doc};

/// Larger pages go to the structural reader: no news page's markup is this large
/// (the benchmark's largest is 1.5 MB).
pub const PAGE_BUDGET: usize = 4 * 1024 * 1024;

/// The crate's work grows with the page's size times its nesting (ancestor walks
/// for each block): a 1 MB page nested 900 deep took 8 s. Pages over this many
/// byte-levels (1 MB nested 256 deep; the benchmark's pages stay under 30 M, at
/// depth 49 or less) go to the structural reader, so no page costs the crate more
/// than a few seconds (4 s for 4 MB nested 62 deep, on an Intel Xeon, family 6
/// model 167).
pub const WORK_BUDGET: usize = 256 * 1024 * 1024;

/// The page's main text and metadata (`depth`: its deepest nesting, from
/// [`html::check_depth`]); `warning` says when the structural reader had to
/// read it instead.
pub(super) fn read(src: &str, depth: usize) -> (Doc, Option<String>) {
    if src.len() > PAGE_BUDGET {
        let why = format!(
            "the page is {:.1} MB, over the {} MB the content reader takes: read by its structure",
            src.len() as f64 / (1024.0 * 1024.0),
            PAGE_BUDGET / (1024 * 1024)
        );
        return (html::parse(src), Some(why));
    }
    if src.len().saturating_mul(depth.max(1)) > WORK_BUDGET {
        let why = format!(
            "the page nests {depth} elements deep over {:.1} MB, more than the content \
             reader takes: read by its structure",
            src.len() as f64 / (1024.0 * 1024.0)
        );
        return (html::parse(src), Some(why));
    }
    let options = Options {
        // Tables are article text (results, figures); comments are not.
        include_tables: true,
        include_comments: false,
        // A feed's pages are articles: the article profile, without the page-type
        // classifier (which also costs a third of the time).
        page_type: Some(PageType::Article),
        ..Options::default()
    };
    let found = catch_unwind(AssertUnwindSafe(|| extract_with_options(src, &options)));
    let result = match found {
        Ok(Ok(result)) if !result.content_text.trim().is_empty() => result,
        Ok(Ok(_)) | Ok(Err(_)) => {
            // Short pages and pages without a scoring block: the structural reader
            // keeps what the page has (its own title, URL and language), or refuses it.
            return (html::parse(src), None);
        }
        Err(_) => {
            let why = "the content reader failed on this page: read by structure".to_string();
            return (html::parse(src), Some(why));
        }
    };
    let meta = result.metadata;
    let url = clean(meta.url);
    let about = About {
        lang: clean(meta.language),
        // Pages without a date give the crate's zero date (year 1); nothing on the
        // web predates 1991.
        published: meta
            .date
            .filter(|d| d.year() >= 1991)
            .map(|d| d.to_rfc3339()),
        author: clean(meta.author),
        // A Twitter handle ("@ap") is not the outlet's name: the URL's host is.
        site: clean(meta.sitename)
            .filter(|s| !s.starts_with('@'))
            .or_else(|| host(url.as_deref()?)),
        url,
    };
    let doc = Doc {
        title: clean(meta.title),
        text: paragraphs(&result.content_text),
        about,
    };
    (doc, None)
}

/// A metadata value as text: entities decoded ("doesn&#039;t"), whitespace
/// collapsed, empty as none.
fn clean(value: Option<String>) -> Option<String> {
    let value = value?;
    let decoded = if value.contains('&') {
        // As text, not markup: "Q&A: x<y" keeps what follows the "<".
        scraper::Html::parse_fragment(&value.replace('<', "&lt;"))
            .root_element()
            .text()
            .collect::<String>()
    } else {
        value
    };
    Some(collapse(&decoded)).filter(|v| !v.is_empty())
}

/// The host of a URL without `www.`.
fn host(url: &str) -> Option<String> {
    let host = url::Url::parse(url).ok()?.host_str()?.to_string();
    Some(host.strip_prefix("www.").unwrap_or(&host).to_string())
}

/// The crate's text as paragraphs: its blocks are separated by blank lines; a
/// line break inside one (`<br>`, list items, the source's own wrapping) stays a
/// line break.
fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|block| {
            block
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|b| !b.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::super::{tests::read_one, Format};

    const STORY: &str = "<p>The count finished on Monday night after a long day of checks in \
        every district of the county, officials said.</p><p>Turnout was higher than at the \
        last election, with queues at several polling stations in the morning.</p>";

    /// Tables and lists become text rows; paragraphs stay paragraphs.
    #[test]
    fn tables_and_lists_are_rows() {
        let page = format!(
            "<html lang=\"en\"><head><title>Election results | Daily</title></head><body>\
             <nav><a href=\"/\">Home</a></nav><article><h1>Election results</h1>{STORY}\
             <table><tr><th>Party</th><th>Seats</th></tr><tr><td>Green</td><td>12</td></tr>\
             </table><ul><li>Count: Monday</li><li>Council: next week</li></ul>{STORY}\
             </article><footer>© Daily</footer></body></html>"
        );
        let a = read_one("results.html", Format::Html, page.as_bytes()).unwrap();
        assert!(
            a.text
                .contains("\n\nParty | Seats\nGreen | 12\n\nCount: Monday\nCouncil: next week\n\n"),
            "{}",
            a.text
        );
        assert!(a.text.starts_with("The count finished"), "{}", a.text);
        assert_eq!(a.title, "Election results");
        assert!(
            !a.text.contains("Home") && !a.text.contains('©'),
            "{}",
            a.text
        );
    }

    /// A page nested deep over a few hundred kB is read by its structure, with a
    /// warning (the content reader took seconds per MB on such pages).
    #[test]
    fn deep_pages_go_to_the_structural_reader() {
        let unit = format!(
            "{}{STORY}{}",
            "<div><span>".repeat(400),
            "</span></div>".repeat(400)
        );
        let page = format!("<html><body>{}</body></html>", unit.repeat(40));
        let a = read_one("deep.html", Format::Html, page.as_bytes()).unwrap();
        assert!(a.text.contains("Turnout was higher"), "{}", a.text);
        assert!(
            a.warnings
                .iter()
                .any(|w| w.contains("nests 801 elements deep")),
            "{:?}",
            a.warnings
        );
    }
}
