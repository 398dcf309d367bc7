//! HTML articles: the article text without the page around it (menus, banners,
//! scripts, sidebars), block by block so that paragraphs stay paragraphs.

use encoding_rs::Encoding;
use scraper::{ElementRef, Html};

use super::text::collapse;
use super::{About, Doc};

/// Never article text. `button` too: "Share", "Subscribe", "Play".
const DROPPED: &[&str] = &[
    "script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "svg",
    "template", "button",
];

/// ARIA roles of the same page furniture.
const DROPPED_ROLES: &[&str] = &["navigation", "banner", "contentinfo", "complementary"];

/// Elements that start a new paragraph.
#[rustfmt::skip]
const BLOCKS: &[&str] = &[
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "th", "div",
    "section", "article", "main", "header", "ul", "ol", "dl", "dt", "dd", "table", "tr",
    "caption", "figure", "figcaption", "address", "details", "summary", "hr", "body",
];

/// How deep elements may nest. The HTML parser checks scopes by walking its stack
/// of open elements, so a page of nested `<div>`s costs the square of its depth
/// (100,000 of them: minutes); real pages stay under a few hundred.
const MAX_DEPTH: usize = 1000;

/// Elements that never hold others, and those the parser never opens twice.
#[rustfmt::skip]
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr", "param", "keygen", "frame", "basefont", "bgsound", "html", "head", "body",
];

/// The HTML standard's "special" elements: an end tag for another element does
/// not close past them.
#[rustfmt::skip]
const SPECIAL: &[&str] = &[
    "address", "applet", "area", "article", "aside", "base", "basefont", "bgsound",
    "blockquote", "body", "br", "button", "caption", "center", "col", "colgroup", "dd",
    "details", "dir", "div", "dl", "dt", "embed", "fieldset", "figcaption", "figure", "footer",
    "form", "frame", "frameset", "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hgroup",
    "hr", "html", "iframe", "img", "input", "keygen", "li", "link", "listing", "main",
    "marquee", "menu", "meta", "nav", "noembed", "noframes", "noscript", "object", "ol", "p",
    "param", "plaintext", "pre", "script", "search", "section", "select", "source", "style",
    "summary", "table", "tbody", "td", "template", "textarea", "tfoot", "th", "thead", "title",
    "tr", "track", "ul", "wbr", "xmp",
];

/// Where the parser's "has an element in scope" search stops.
const SCOPE: &[&str] = &[
    "applet", "caption", "html", "table", "td", "th", "marquee", "object", "template",
];

/// Parts of a table: outside an open `<table>` the parser ignores their tags.
const TABLE_PARTS: &[&str] = &[
    "caption", "col", "colgroup", "tbody", "td", "tfoot", "th", "thead", "tr",
];

/// An element open in [`check_depth`]'s model of the parser's stack.
struct Open<'a> {
    name: &'a str,
    special: bool,
    scope: bool,
}

/// Where a search down the open elements stops.
type Boundary = fn(&Open) -> bool;

/// The open elements a start tag `name` closes first, as the parser does (a `<p>`
/// or `<li>` ends the one before): the names it closes, and where the search
/// for them stops.
fn closes_first(name: &str) -> Option<(&'static [&'static str], Boundary)> {
    fn list_boundary(o: &Open) -> bool {
        o.special && !matches!(o.name, "address" | "div" | "p")
    }
    Some(match name {
        "li" => (&["li"], list_boundary),
        "dd" | "dt" => (&["dd", "dt"], list_boundary),
        "p" => (&["p"], |o| o.scope || o.name == "button"),
        "option" | "optgroup" => (&["option"], |o| o.name != "option"),
        "td" | "th" => (&["td", "th"], |o| o.name == "table"),
        "tr" => (&["tr"], |o| o.name == "table"),
        "tbody" | "thead" | "tfoot" => (&["tbody", "thead", "tfoot"], |o| o.name == "table"),
        _ => return None,
    })
}

/// Refuses markup nested deeper than [`MAX_DEPTH`] before the parser sees it. It
/// follows the parser's stack of open elements closely enough never to count it
/// shallower: void elements, implied ends (`<p>`, `<li>`, table cells), end tags
/// that close only what the parser's would (a stray `</i>` closes nothing), and
/// no tags inside comments or the raw text of `script`, `style`, `textarea` and
/// `title`. Returns the deepest nesting found.
pub(super) fn check_depth(src: &str) -> Result<usize, String> {
    let lower = src.to_ascii_lowercase();
    let (b, mut at) = (lower.as_bytes(), 0);
    let mut open: Vec<Open> = Vec::new();
    let mut deepest = 0;
    // The last element from the top named in `names`, unless `stop` comes first.
    let find = |open: &[Open], names: &[&str], stop: &dyn Fn(&Open) -> bool| {
        for (i, o) in open.iter().enumerate().rev() {
            if names.contains(&o.name) {
                return Some(i);
            }
            if stop(o) {
                return None;
            }
        }
        None
    };
    while let Some(i) = lower[at..].find('<').map(|i| at + i) {
        at = i + 1;
        if lower[at..].starts_with("!--") {
            at = lower[at..].find("-->").map_or(b.len(), |j| at + j + 3);
            continue;
        }
        let end = b.get(at) == Some(&b'/');
        let start = at + usize::from(end);
        let len = b[start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-')
            .count();
        if len == 0 || !b[start].is_ascii_alphabetic() {
            continue;
        }
        let name = &lower[start..start + len];
        if end {
            // A special element's end tag closes it if it is in scope; any other
            // closes it unless a special element is open above it.
            let found = if name == "table" || TABLE_PARTS.contains(&name) {
                find(&open, &[name], &|o| {
                    matches!(o.name, "html" | "template" | "table")
                })
            } else if SPECIAL.contains(&name) {
                find(&open, &[name], &|o| o.scope)
            } else {
                find(&open, &[name], &|o| o.special)
            };
            if let Some(i) = found {
                open.truncate(i);
            }
        } else if ["script", "style", "textarea", "title"].contains(&name) {
            let close = format!("</{name}");
            at = lower[at..].find(&close).map_or(b.len(), |j| at + j);
        } else if TABLE_PARTS.contains(&name) && !open.iter().any(|o| o.name == "table") {
            continue;
        } else if !VOID.contains(&name) {
            if let Some((names, stop)) = closes_first(name) {
                if let Some(i) = find(&open, names, &stop) {
                    open.truncate(i);
                }
            }
            open.push(Open {
                name,
                special: SPECIAL.contains(&name),
                scope: SCOPE.contains(&name),
            });
            deepest = deepest.max(open.len());
            if open.len() > MAX_DEPTH {
                return Err(format!(
                    "elements nested over {MAX_DEPTH} deep; not an article page (refused \
                     before parsing)"
                ));
            }
        }
    }
    Ok(deepest)
}

pub(super) fn parse(src: &str) -> Doc {
    let html = Html::parse_document(src);
    let page = html.root_element();
    let content = |name| named(page, name).filter(|el| visible(*el));
    let with_text = |el| (extract(el), el);

    // The largest <article> (pages also use it for teasers), else <main>, else <body>.
    // Only outermost ones: a visible article holds all the text of those inside it,
    // and extracting each of a thousand nested ones took seconds.
    let outermost = |el: &ElementRef| {
        !el.ancestors()
            .filter_map(ElementRef::wrap)
            .any(|a| a.value().name() == "article")
    };
    let (text, root) = content("article")
        .filter(outermost)
        .map(with_text)
        .max_by_key(|(text, _)| text.split_whitespace().count())
        .filter(|(text, _)| !text.trim().is_empty())
        .or_else(|| content("main").map(with_text).next())
        .or_else(|| content("body").map(with_text).next())
        .unwrap_or_else(|| with_text(page));

    let title = named(page, "title")
        .chain(named(root, "h1"))
        .filter(|el| visible(*el))
        .map(|el| collapse(&el.text().collect::<String>()))
        .find(|t| !t.is_empty());
    // The value of attribute `wanted` on the first <tag key=value>.
    let attr = |tag, key, value: &str, wanted| {
        named(page, tag)
            .find(|el| {
                el.attr(key)
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
            })
            .and_then(|el| non_empty(el.attr(wanted)))
    };
    Doc {
        title,
        text,
        about: About {
            url: attr("link", "rel", "canonical", "href")
                .or_else(|| attr("meta", "property", "og:url", "content")),
            lang: non_empty(page.attr("lang")),
            ..About::default()
        },
    }
}

fn named<'a>(root: ElementRef<'a>, name: &'a str) -> impl Iterator<Item = ElementRef<'a>> {
    root.descendent_elements()
        .filter(move |el| el.value().name() == name)
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
}

/// The encoding a `<meta charset>` (or `http-equiv` content type) declares.
pub(super) fn declared_encoding(bytes: &[u8]) -> Option<&'static Encoding> {
    // Browsers look at the first 1024 bytes; some pages have longer heads.
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_ascii_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let label = head[at..].trim_start_matches(['"', '\'', ' ']);
    let end = label
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_:.".contains(c)))
        .unwrap_or(label.len());
    // A document that claims UTF-16 in ASCII is not UTF-16: output_encoding says UTF-8.
    Encoding::for_label(&label.as_bytes()[..end]).map(Encoding::output_encoding)
}

/// Whether neither `el` nor its ancestors are page furniture.
fn visible(el: ElementRef) -> bool {
    !std::iter::once(el)
        .chain(el.ancestors().filter_map(ElementRef::wrap))
        .any(dropped)
}

fn dropped(el: ElementRef) -> bool {
    let e = el.value();
    if e.attr("hidden").is_some()
        || e.attr("aria-hidden") == Some("true")
        || e.attr("role")
            .is_some_and(|role| DROPPED_ROLES.contains(&role.trim()))
    {
        return true;
    }
    match e.name() {
        // A <header> inside the article holds its headline and byline; only the
        // page's own header is a banner.
        "header" => !el
            .ancestors()
            .filter_map(ElementRef::wrap)
            .any(|a| matches!(a.value().name(), "article" | "main")),
        name => DROPPED.contains(&name),
    }
}

enum Step<'a> {
    Open(ElementRef<'a>),
    Text(&'a str),
    Close { block: bool, pre: bool },
}

/// The text under `root`, blank lines between blocks, whitespace collapsed as a
/// browser would except in `<pre>`. An explicit stack: pages can nest deeper
/// than the call stack allows.
fn extract(root: ElementRef) -> String {
    let mut out = String::new();
    let mut pre = 0usize;
    let mut stack = vec![Step::Open(root)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Text(text) if pre > 0 => out.push_str(text),
            Step::Text(text) => {
                out.extend(
                    text.chars()
                        .map(|c| if c.is_whitespace() { ' ' } else { c }),
                )
            }
            Step::Close {
                block,
                pre: was_pre,
            } => {
                if block {
                    out.push_str("\n\n");
                }
                pre -= usize::from(was_pre);
            }
            Step::Open(el) if dropped(el) => {}
            Step::Open(el) if el.value().name() == "br" => out.push('\n'),
            Step::Open(el) => {
                let name = el.value().name();
                let (block, is_pre) = (BLOCKS.contains(&name), name == "pre");
                if block {
                    out.push_str("\n\n");
                }
                pre += usize::from(is_pre);
                stack.push(Step::Close { block, pre: is_pre });
                for child in el.children().rev() {
                    if let Some(child) = ElementRef::wrap(child) {
                        stack.push(Step::Open(child));
                    } else if let Some(text) = child.value().as_text() {
                        stack.push(Step::Text(text));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{tests::read_one, text::normalize, Format};
    use super::*;

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let nested = |n: usize, tag: &str| {
            format!(
                "<body>{}Rivers rose.{}</body>",
                format!("<{tag}>").repeat(n),
                format!("</{tag}>").repeat(n)
            )
        };
        assert!(check_depth(&nested(MAX_DEPTH, "div")).is_ok());
        let err = check_depth(&nested(MAX_DEPTH + 1, "div")).unwrap_err();
        assert!(err.contains("nested over 1000 deep"), "{err}");
        // Siblings, implied ends, void elements, comments and script text do not nest.
        let flat = "<div><p>a<p>b<br><img src=x></div><!-- <div> -->".repeat(5000)
            + &format!("<script>{}</script>", "'<div>'".repeat(5000))
            + &"<li>x".repeat(5000);
        assert!(check_depth(&flat).is_ok());
        assert!(check_depth(PAGE).is_ok());
        // Implied ends the parser makes: unclosed cells, rows, list items, options.
        let table = "<table><tr><td>a<td>b<tr><th>c</table>".repeat(2000);
        let lists = "<ul><li>a<li><ol><li>b</ol></ul><dl><dt>t<dd>d</dl>".repeat(2000);
        let select = "<select><option>a<option>b</select>".repeat(2000);
        for page in [table, lists, select] {
            assert!(check_depth(&page).is_ok(), "{}", &page[..60]);
        }
        // End tags that close nothing in the parser do not lower the count: a stray
        // `</i>`, one past a special element, a special one out of scope.
        for unit in [
            "<div></i>",
            "<x><div></x>",
            "<td><div></td>",
            "<rt>",
            "<p><table>",
        ] {
            let page = format!("<body>{}</body>", unit.repeat(MAX_DEPTH + 1));
            assert!(
                check_depth(&page).is_err(),
                "{unit} x {} passed",
                MAX_DEPTH + 1
            );
        }
        // Through the reader: a rejection naming the file, not minutes of parsing.
        let page = nested(100_000, "div");
        let err = read_one("deep.html", Format::Html, page.as_bytes()).unwrap_err();
        assert!(
            err.reason.contains("deep.html") && err.reason.contains("nested"),
            "{err:?}"
        );
    }

    const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en-GB">
<head>
  <meta charset="utf-8">
  <title>Harbour bridge reopens after repairs | The Coastal Times</title>
  <link rel="canonical" href="https://coastal.example/news/bridge">
  <style>body { font: 12px serif } .ad { display: none }</style>
  <script>window.analytics = { track: function () {} };</script>
</head>
<body>
  <header class="site"><a href="/">The Coastal Times</a> <span>Subscribe today</span></header>
  <nav><ul><li><a href="/world">World</a></li><li><a href="/sport">Sport</a></li></ul></nav>
  <div role="banner">Breaking: cookie banner</div>
  <main>
    <article>
      <header><h1>Harbour   bridge
        reopens</h1><p class="byline">By A. Writer</p></header>
      <p>The harbour bridge reopened on Monday after &ldquo;eight months&rdquo; of repairs.</p>
      <p>Engineers replaced 40 cables<br>and resurfaced the deck &amp; walkways.</p>
      <script>trackRead();</script>
      <aside class="related"><article><h2>Related: ferry fares rise</h2></article></aside>
      <ul><li>Cars: from today</li><li>Trucks: next week</li></ul>
      <div class="ad" hidden>Advertisement</div>
      <p>Traffic is <em>expected</em> to ease.</p>
      <button>Share</button>
      <footer>Tags: bridge, transport</footer>
    </article>
  </main>
  <aside role="complementary">Most read: celebrity gossip</aside>
  <form><input name="email"> Sign up for our newsletter</form>
  <footer>© 2024 The Coastal Times. All rights reserved.</footer>
  <noscript>Please enable JavaScript</noscript>
  <iframe src="https://ads.example"></iframe>
</body>
</html>"#;

    /// The structural reader alone (what the content reader falls back to).
    #[test]
    fn realistic_page_keeps_only_the_article_by_structure() {
        let doc = parse(PAGE);
        assert_eq!(
            normalize(&doc.text),
            "Harbour bridge reopens\n\nBy A. Writer\n\n\
             The harbour bridge reopened on Monday after \u{201c}eight months\u{201d} of repairs.\n\n\
             Engineers replaced 40 cables\nand resurfaced the deck & walkways.\n\n\
             Cars: from today\n\nTrucks: next week\n\nTraffic is expected to ease."
        );
        assert_eq!(
            doc.title.as_deref(),
            Some("Harbour bridge reopens after repairs | The Coastal Times")
        );
        assert_eq!(
            doc.about.url.as_deref(),
            Some("https://coastal.example/news/bridge")
        );
        assert_eq!(doc.about.lang.as_deref(), Some("en-GB"));
    }

    /// The page as an article is read: the content reader, its title without the
    /// site's name. It keeps the article's own footer ("Tags: ..."), as trafilatura does.
    #[test]
    fn realistic_page_keeps_only_the_article() {
        let a = read_one("bridge.html", Format::Html, PAGE.as_bytes()).unwrap();
        assert_eq!(
            a.text,
            "Harbour bridge\nreopens\n\n\
             The harbour bridge reopened on Monday after \u{201c}eight months\u{201d} of repairs.\n\n\
             Engineers replaced 40 cables\nand resurfaced the deck & walkways.\n\n\
             Cars: from today\nTrucks: next week\n\nTraffic is expected to ease.\n\n\
             Tags: bridge, transport"
        );
        assert_eq!(a.title, "Harbour bridge reopens after repairs");
        assert_eq!(
            a.about.url.as_deref(),
            Some("https://coastal.example/news/bridge")
        );
        assert_eq!(a.about.lang.as_deref(), Some("en"));
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        for junk in [
            "Subscribe",
            "World",
            "cookie",
            "ferry",
            "Advertisement",
            "Share",
            "Most read",
            "newsletter",
            "©",
            "JavaScript",
            "analytics",
            "trackRead",
            "font",
        ] {
            assert!(!a.text.contains(junk), "{junk} in {}", a.text);
        }
    }

    #[test]
    fn body_fallback_h1_title_and_pre() {
        let doc = parse(
            "<title> </title><svg><title>Icon</title></svg><body><header><h1>Site</h1></header><div><h1>Real headline</h1>\
             <pre>line 1\n  line 2</pre><table><tr><td>a</td><td>b</td></tr></table></div></body>",
        );
        assert_eq!(doc.title.as_deref(), Some("Real headline"));
        assert_eq!(
            normalize(&doc.text),
            "Real headline\n\nline 1\nline 2\n\na\n\nb"
        );
        assert_eq!((doc.about.url, doc.about.lang), (None, None));
    }

    #[test]
    fn main_without_article_and_deep_nesting() {
        let doc = parse("<body><p>Menu</p><main><p>Story.</p></main></body>");
        assert_eq!(normalize(&doc.text), "Story.");
        let deep = format!(
            "{}deep{}",
            "<div><span>".repeat(20_000),
            "</span></div>".repeat(20_000)
        );
        assert_eq!(normalize(&parse(&deep).text), "deep");
    }

    /// Nested articles: the outermost visible one is the article, whatever the depth
    /// (each used to be extracted, quadratic in the nesting); one inside a dropped
    /// <aside> does not count.
    #[test]
    fn nested_articles_give_the_outermost() {
        let doc = parse(
            "<body><article><h1>Head</h1><p>Intro.</p><article><p>Inner body.</p></article>\
             </article><aside><article><p>A related story with many more words than \
             the real one has.</p></article></aside></body>",
        );
        assert_eq!(normalize(&doc.text), "Head\n\nIntro.\n\nInner body.");
        assert_eq!(doc.title.as_deref(), Some("Head"));
        let deep = format!(
            "<body><p>Menu</p>{}<p>deep</p>{}</body>",
            "<article>".repeat(900),
            "</article>".repeat(900)
        );
        assert_eq!(normalize(&parse(&deep).text), "deep");
    }

    #[test]
    fn declared_charsets() {
        let latin = b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\"></head><body><p>Caf\xe9</p></body></html>";
        assert_eq!(declared_encoding(latin), Some(encoding_rs::WINDOWS_1252));
        assert_eq!(
            declared_encoding(b"<meta charset='utf-16'>"),
            Some(encoding_rs::UTF_8)
        );
        assert_eq!(declared_encoding(b"<p>no charset</p>"), None);
        // Declared, so decoded without a warning.
        let a = read_one("cafe.htm", Format::Html, latin).unwrap();
        assert_eq!((a.text.as_str(), a.warnings.len()), ("Café", 0));
        let sjis = b"<meta charset=\"shift_jis\"><p>\x93\xfa\x96\x7b</p>";
        let a = read_one("jp.html", Format::Html, sjis).unwrap();
        assert_eq!(a.text, "日本");
        // Undeclared Latin-1: decoded with a warning.
        let a = read_one("old.html", Format::Html, b"<p>Caf\xe9</p>").unwrap();
        assert_eq!((a.text.as_str(), a.warnings.len()), ("Café", 1));
    }
}
