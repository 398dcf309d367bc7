//! `--digest DIR`: the night's desk brief and its articles as pages, read-only.
//! `/digest/` is the folder's `brief.md`, `/digest/NAME.md` one of its
//! markdown files, both rendered with pulldown-cmark. Only plain `.md` names
//! in the folder itself are served, and raw HTML in them is shown as text (an
//! article's words never become markup).

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use pulldown_cmark::{html, Event, Options, Parser};

use super::stream::ApiError;
use super::Shared;

/// The page may load only the editors' stylesheet; no scripts.
const CSP: &str = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

pub async fn brief(State(state): State<Shared>) -> Response {
    show(&state, "brief.md")
}

pub async fn file(State(state): State<Shared>, Path(name): Path<String>) -> Response {
    show(&state, &name)
}

fn show(state: &Shared, name: &str) -> Response {
    let Some(dir) = state.opts.digest.as_ref() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "no digest folder: start the server with --digest DIR to show a brief",
        )
        .into_response();
    };
    let plain = !name.is_empty()
        && name.ends_with(".md")
        && !name.starts_with('.')
        && !name.contains(['/', '\\']);
    let path: PathBuf = dir.join(name);
    let text = match plain.then(|| std::fs::read_to_string(&path)) {
        Some(Ok(text)) => text,
        _ => {
            let hint = if name == "brief.md" {
                format!("; run `abridge brief {}` first", dir.display())
            } else {
                String::new()
            };
            return ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no {name:?} in the digest folder{hint}"),
            )
            .into_response();
        }
    };
    let body = render(&text);
    let title = if name == "brief.md" { "Brief" } else { name };
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — abridge</title>\n<link rel=\"stylesheet\" href=\"/ui/style.css\">\n</head>\n\
         <body class=\"digest\">\n<header><h1><a href=\"/digest/\">abridge</a></h1></header>\n\
         <main class=\"digest-page\">\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        page,
    )
        .into_response()
}

/// Markdown to HTML, front matter left out, raw HTML turned into text.
fn render(markdown: &str) -> String {
    let body = strip_front_matter(markdown);
    let events = Parser::new_ext(body, Options::ENABLE_TABLES).map(|e| match e {
        Event::Html(t) | Event::InlineHtml(t) => Event::Text(t),
        e => e,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

fn strip_front_matter(text: &str) -> &str {
    text.strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n").map(|(_, body)| body))
        .unwrap_or(text)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_brief_is_shown_as_text() {
        let html = render("## 1. Story\n\nA <script>alert(1)</script> line [\\[1\\]](a.md)\n");
        assert!(html.contains("<h2>1. Story</h2>"), "{html}");
        assert!(
            !html.contains("<script>") && html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(html.contains("<a href=\"a.md\">[1]</a>"), "{html}");
    }

    #[test]
    fn front_matter_is_not_shown() {
        assert_eq!(strip_front_matter("---\nkey: k\n---\n# T\n"), "# T\n");
        assert_eq!(strip_front_matter("# T\n"), "# T\n");
    }
}
