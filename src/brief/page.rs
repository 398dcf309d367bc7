//! `brief.md`: the stories with their cited summaries and articles, then the
//! other articles. Links are relative, so the folder can move as a whole.

use std::fmt::Write;

use super::{Brief, Item};
use crate::render::{escape_inline as escape, link_target as link, paragraph_start, plural};

pub fn markdown(b: &Brief) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Brief\n\n{}: {}, {}; {} folded in.\n",
        plural(b.articles, "article"),
        match b.stories.len() {
            1 => "1 story".to_string(),
            n => format!("{n} stories"),
        },
        plural(b.others.len(), "other article"),
        plural(b.duplicates, "near-duplicate")
    );
    for (n, story) in b.stories.iter().enumerate() {
        let _ = writeln!(out, "## {}. {}\n", n + 1, escape(&story.headline));
        let _ = writeln!(
            out,
            "*{} from {}*\n",
            plural(story.articles, "article"),
            plural(story.outlets, "outlet")
        );
        // citations are the story's article numbers, linked to the articles
        let number = |id: &str| story.items.iter().position(|i| i.id == id).map(|p| p + 1);
        let sentences: Vec<String> = story
            .summary
            .iter()
            .map(|c| {
                let refs: String = c
                    .articles
                    .iter()
                    .filter_map(|id| {
                        let n = number(id)?;
                        Some(format!("[\\[{n}\\]]({})", link(&story.items[n - 1].output)))
                    })
                    .collect();
                format!("{} {refs}", escape(&c.sentence))
            })
            .collect();
        let _ = writeln!(out, "{}\n", paragraph_start(&sentences.join(" ")));
        for (lang, t) in &story.translations {
            let language = crate::lang::language_name(lang).unwrap_or(lang);
            let line = match (&t.headline, &t.summary, &t.error) {
                (Some(h), Some(s), _) => format!("*{}*: {}", escape(h), escape(s)),
                (None, Some(s), _) => escape(s),
                (_, _, Some(why)) => format!("*not published: {}*", escape(why)),
                _ => continue,
            };
            let _ = writeln!(out, "> **{language}** — {line}\n");
        }
        for (k, item) in story.items.iter().enumerate() {
            let _ = writeln!(out, "{}. {}", k + 1, entry(item));
        }
        out.push('\n');
    }
    if !b.others.is_empty() {
        out.push_str("## Other articles\n\n");
        for item in &b.others {
            let _ = writeln!(out, "- {}", entry(item));
        }
        out.push('\n');
    }
    out
}

/// An article's line: its linked title, outlet and date, summary, and copies.
fn entry(item: &Item) -> String {
    let mut line = format!("[{}]({})", escape(&item.title), link(&item.output));
    let about: Vec<&str> = [item.site.as_deref(), item.published.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !about.is_empty() {
        let _ = write!(line, " ({})", escape(&about.join(", ")));
    }
    let _ = write!(line, ": {}", escape(item.summary.trim()));
    if !item.also_in.is_empty() {
        let copies: Vec<String> = item
            .also_in
            .iter()
            .map(|l| format!("[{}]({})", escape(&l.title), link(&l.output)))
            .collect();
        let _ = write!(line, " (also in: {})", copies.join(", "));
    }
    line
}
