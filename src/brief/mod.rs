//! The desk brief: a finished digest folder as a front page. Near-duplicate
//! articles (one wire story in several outlets, an update) become one entry;
//! related articles are grouped into stories, each with a headline and a
//! summary the model writes from the articles' summaries, every sentence
//! citing the articles it comes from; stories are ranked by how much of the
//! night they cover, and single articles follow under "Other articles".
//!
//! It reads only the folder's `manifest.jsonl` (each line carries the
//! article's [`Fingerprint`]), so it works as well on a merged sharded run,
//! and its output depends only on the set of articles: not on their order in
//! the manifest, nor on `--jobs` or `--batch`.

pub mod eval;
pub mod fingerprint;
pub mod group;
mod page;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use fingerprint::Fingerprint;

use crate::check::source::SourceIndex;
use crate::error::{Error, Result};
use crate::pipeline::runner::{Ask, Runner, Writes};
use crate::prompts::{Prompt, Retry, Source, Style, SummaryAsk};
use crate::render::{ManifestEntry, Status};

/// Sentences of a story's summary.
const STORY_SENTENCES: usize = 3;
/// Summaries read in one prompt: a larger story is summarized in groups of
/// this many, and the groups' summaries combined.
const STORY_READS: usize = 8;

/// One article of the brief, with the near-duplicates it stands for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub id: String,
    pub title: String,
    /// Its markdown file in the digest folder.
    pub output: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    pub summary: String,
    /// The other versions of the same story text (wire copies, updates).
    pub also_in: Vec<Link>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    pub id: String,
    pub title: String,
    pub output: String,
}

/// A sentence of a story's summary and the articles (ids) it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cited {
    pub sentence: String,
    pub articles: Vec<String>,
}

/// A story's headline and summary in another language, as checked as an
/// article's translation; `text` is absent when it failed its checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoryTranslation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub checks: crate::check::TranslationChecks,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Story {
    pub headline: String,
    pub summary: Vec<Cited>,
    /// Language code -> the headline and summary in it (`--to`).
    pub translations: std::collections::BTreeMap<String, StoryTranslation>,
    pub items: Vec<Item>,
    /// Articles it covers, near-duplicates included, and their outlets.
    pub articles: usize,
    pub outlets: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Brief {
    /// Articles read (summarized ones; failures are left out).
    pub articles: usize,
    /// Articles folded into another as its near-duplicate.
    pub duplicates: usize,
    pub stories: Vec<Story>,
    /// Articles with no related article, newest first.
    pub others: Vec<Item>,
}

/// Stories as groups of entries (each group's items: a lead entry and its
/// near-duplicates), ranked; before the model writes anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub articles: usize,
    pub stories: Vec<Vec<Item>>,
}

/// The summarized entries of a manifest, grouped and ranked (no model).
pub fn plan(entries: &[ManifestEntry]) -> Plan {
    let mut done: Vec<&ManifestEntry> = entries
        .iter()
        .filter(|e| matches!(e.status, Status::Ok | Status::Skipped))
        .filter(|e| e.summary.as_deref().is_some_and(|s| !s.trim().is_empty()))
        .filter(|e| e.output.is_some())
        .collect();
    // the set decides, not the order it was written in (shards, --jobs)
    done.sort_by(|a, b| (&a.id, &a.input).cmp(&(&b.id, &b.input)));
    done.dedup_by(|a, b| a.id == b.id && a.input == b.input);
    let prints: Vec<Fingerprint> = done.iter().map(|e| fingerprint(e)).collect();
    let refs: Vec<&Fingerprint> = prints.iter().collect();
    let dups = group::duplicates(&refs);
    let groups = group::stories(&refs, &dups);
    let sets = group::duplicate_sets(done.len(), &dups);
    let mut stories: Vec<Vec<Item>> = groups
        .iter()
        .map(|members| {
            // near-duplicate sets inside the story, each led by its fullest text
            let mut items = Vec::new();
            for set in sets.iter().filter(|set| members.contains(&set[0])) {
                let lead = *set
                    .iter()
                    .max_by(|&&a, &&b| prints[a].shingles.cmp(&prints[b].shingles).then(b.cmp(&a)))
                    .expect("a set has a member");
                let mut item = item(done[lead]);
                item.also_in = set
                    .iter()
                    .filter(|&&j| j != lead)
                    .map(|&j| link(done[j]))
                    .collect();
                items.push(item);
            }
            items.sort_by(newest_first);
            items
        })
        .collect();
    stories.sort_by(|a, b| {
        let weight = |s: &Vec<Item>| (s.len(), outlets(s));
        weight(b)
            .cmp(&weight(a))
            .then_with(|| newest(b).cmp(&newest(a)))
            .then_with(|| a[0].id.cmp(&b[0].id))
    });
    Plan {
        articles: done.len(),
        stories,
    }
}

/// The entry's sketch, or for a manifest from before sketches, one of its title
/// and summary (near-duplicates then show only as equal summaries).
fn fingerprint(e: &ManifestEntry) -> Fingerprint {
    e.fingerprint.clone().unwrap_or_else(|| {
        let title = e.title.as_deref().unwrap_or_default();
        Fingerprint::of(&format!(
            "{title}\n{}",
            e.summary.as_deref().unwrap_or_default()
        ))
    })
}

fn item(e: &ManifestEntry) -> Item {
    Item {
        id: e.id.clone(),
        title: e.title.clone().unwrap_or_else(|| e.id.clone()),
        output: e.output.clone().unwrap_or_default(),
        site: e.about.site.clone(),
        published: e.about.published.clone(),
        summary: e.summary.clone().unwrap_or_default(),
        also_in: Vec::new(),
    }
}

fn link(e: &ManifestEntry) -> Link {
    Link {
        id: e.id.clone(),
        title: e.title.clone().unwrap_or_else(|| e.id.clone()),
        output: e.output.clone().unwrap_or_default(),
    }
}

/// Distinct outlets of a story's items and their copies (unknown: one each).
fn outlets(items: &[Item]) -> usize {
    let named: BTreeSet<&str> = items.iter().filter_map(|i| i.site.as_deref()).collect();
    named.len() + items.iter().filter(|i| i.site.is_none()).count()
}

fn newest(items: &[Item]) -> Option<&str> {
    items.iter().filter_map(|i| i.published.as_deref()).max()
}

fn newest_first(a: &Item, b: &Item) -> std::cmp::Ordering {
    b.published.cmp(&a.published).then_with(|| a.id.cmp(&b.id))
}

/// Writes each story's headline and summary with the model and cites, for
/// each sentence, the articles whose summaries hold it. A sentence no
/// article's summary holds is left out; a story left with no sentence, or a
/// headline the model could not write, falls back to its lead article's.
pub fn compose(runner: &Runner, plan: Plan, langs: &[String]) -> Result<Brief> {
    let (stories, singles): (Vec<Vec<Item>>, Vec<Vec<Item>>) =
        plan.stories.into_iter().partition(|s| s.len() > 1);
    let duplicates = stories
        .iter()
        .chain(&singles)
        .flatten()
        .map(|i| i.also_in.len())
        .sum();
    let mut out = Vec::new();
    for items in stories {
        out.push(write_story(runner, items, langs)?);
    }
    let mut others: Vec<Item> = singles.into_iter().flatten().collect();
    others.sort_by(newest_first);
    Ok(Brief {
        articles: plan.articles,
        duplicates,
        stories: out,
        others,
    })
}

fn write_story(runner: &Runner, items: Vec<Item>, langs: &[String]) -> Result<Story> {
    let chat = runner.model.is_chat();
    let ask = |text: &str| {
        let how = SummaryAsk {
            source: Source::Reports,
            sentences: STORY_SENTENCES,
            style: Style::Paragraph,
            retry: Retry::First,
        };
        Ask::new(
            Prompt::summary_of(text, &how, chat),
            runner.limit(40 * STORY_SENTENCES),
            Writes::Text,
        )
        .sentences(Some(STORY_SENTENCES + 1))
    };
    let listed = |texts: &mut dyn Iterator<Item = &str>| -> String {
        texts
            .map(|t| format!("- {}", t.trim()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // a large story is read in groups whose summaries are then combined
    // (map-reduce), so every article's summary is read and none is cut
    let reports = if items.len() <= STORY_READS {
        listed(&mut items.iter().map(|i| i.summary.as_str()))
    } else {
        let asks: Vec<Ask> = items
            .chunks(STORY_READS)
            .map(|group| ask(&listed(&mut group.iter().map(|i| i.summary.as_str()))))
            .collect();
        let partial = runner.answer_all(&asks)?;
        listed(&mut partial.iter().map(|a| a.text.as_str()))
    };
    let answer = runner.answer_one(&ask(&reports))?;
    let sentences: Vec<String> = crate::sentence::sentences(&answer.text)
        .iter()
        .map(|s| s.text(&answer.text).trim().to_string())
        .filter(|s| !s.is_empty())
        .take(STORY_SENTENCES + 1)
        .collect();
    let mut summary = cite(&sentences, &items);
    if summary.is_empty() {
        summary.push(Cited {
            sentence: items[0].summary.trim().to_string(),
            articles: vec![items[0].id.clone()],
        });
    }
    let told: String = summary
        .iter()
        .map(|c| c.sentence.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let headline = runner
        .answer_one(&Ask::new(
            Prompt::headline(&told, chat),
            runner.limit(24),
            Writes::Text,
        ))?
        .text;
    let headline = clean_headline(&headline)
        .filter(|h| {
            let strays = headline_strays(h, &told);
            if !strays.is_empty() {
                tracing::warn!(
                    "the headline {h:?} names what its story does not ({}); the lead article's title stands instead",
                    strays.join(", ")
                );
            }
            strays.is_empty()
        })
        .unwrap_or_else(|| items[0].title.clone());
    let articles = items.iter().map(|i| 1 + i.also_in.len()).sum();
    let outlets = outlets(&items);
    // the headline one paragraph, the summary the next: translated unit by unit
    let english = format!("{headline}\n\n{told}");
    let translations = crate::pipeline::translate::translate_from(runner, &english, None, langs)
        .into_iter()
        .map(|t| {
            let (headline, summary, error) = match t.outcome {
                Ok(text) => match text.split_once("\n\n") {
                    Some((h, s)) => (Some(h.trim().to_string()), Some(s.trim().to_string()), None),
                    None => (None, Some(text.trim().to_string()), None),
                },
                Err(why) => (None, None, Some(why)),
            };
            let translation = StoryTranslation {
                headline,
                summary,
                error,
                checks: t.checks,
            };
            (t.lang, translation)
        })
        .collect();
    Ok(Story {
        headline,
        summary,
        translations,
        items,
        articles,
        outlets,
    })
}

/// Each sentence with the articles it comes from, as a summary sentence cites
/// article sentences: grounded against the items' summaries, one paragraph
/// each, the cited sentences' paragraphs naming the articles. A sentence no
/// summary supports (a name or number none has, too little of it covered) is
/// left out.
fn cite(sentences: &[String], items: &[Item]) -> Vec<Cited> {
    // one paragraph per item: markup the index would break into paragraphs
    // of its own is defused first, so the index finds exactly these
    let one_line = |s: &str| {
        let s = crate::check::inject::defuse_markup(s);
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let text: Vec<String> = items.iter().map(|i| one_line(&i.summary)).collect();
    let index = SourceIndex::new(&text.join("\n\n"));
    crate::check::ground::ground(sentences, &index)
        .into_iter()
        .filter(|support| support.supported)
        .filter_map(|support| {
            let mut articles: Vec<String> = Vec::new();
            for source in &support.sources {
                let Some(item) = source.paragraph.checked_sub(1).and_then(|p| items.get(p)) else {
                    continue;
                };
                if !articles.contains(&item.id) {
                    articles.push(item.id.clone());
                }
            }
            (!articles.is_empty()).then_some(Cited {
                sentence: support.sentence,
                articles,
            })
        })
        .collect()
}

/// The names and numbers of `headline` that the story's summary `told` does not
/// have: a headline is the most read line of a story, so it may say nothing the
/// checked summary does not. Title case is no trouble: any word of the summary,
/// in any form, counts as known.
fn headline_strays(headline: &str, told: &str) -> Vec<String> {
    crate::check::ground::title_unknowns(headline, &SourceIndex::new(told))
}

/// The headline's first line without markdown, quotes or a "Headline:" label.
fn clean_headline(answer: &str) -> Option<String> {
    let line = answer.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line.trim_start_matches('#').trim();
    let line = line
        .strip_prefix("Headline:")
        .or_else(|| line.strip_prefix("headline:"))
        .unwrap_or(line)
        .trim()
        .trim_matches(|c| matches!(c, '"' | '*' | '\u{201c}' | '\u{201d}'))
        .trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// Where `abridge brief` writes: `brief.md` and `brief.json` in the folder.
pub struct Written {
    pub markdown: PathBuf,
    pub json: PathBuf,
    pub brief: Brief,
}

/// Reads `dir`'s manifest, writes the brief beside it, its stories also in
/// `langs`.
pub fn brief(runner: &Runner, dir: &Path, langs: &[String]) -> Result<Written> {
    let manifest = dir.join("manifest.jsonl");
    if !manifest.is_file() {
        return Err(Error::Input(format!(
            "{}: no manifest.jsonl here; point `abridge brief` at a finished digest folder \
             (after `abridge merge` for a sharded run)",
            dir.display()
        )));
    }
    let entries = crate::render::read_manifest(&manifest)?;
    let brief = compose(runner, plan(&entries), langs)?;
    let markdown = dir.join("brief.md");
    let json = dir.join("brief.json");
    crate::render::write_atomic(&markdown, page::markdown(&brief).as_bytes())?;
    let text = serde_json::to_string_pretty(&brief).expect("a brief serializes") + "\n";
    crate::render::write_atomic(&json, text.as_bytes())?;
    Ok(Written {
        markdown,
        json,
        brief,
    })
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::{gguf_file::Value, GgmlDType};

    use super::*;
    use crate::model::scheduler::{Scheduler, SchedulerOptions};
    use crate::model::synthetic::TinyGguf;
    use crate::model::Model;

    /// A headline keeps to its story: a name or number the summary lacks sends
    /// the story back to its lead article's title.
    #[test]
    fn a_headline_names_only_what_its_story_tells() {
        let told = "Turkey has promised to keep data on the Russian S-400 system safe. \
                    Washington removed Ankara from the F-35 programme in 2019.";
        for fine in [
            "Turkey Promises To Keep S-400 Data Safe",
            "Turkey vows S-400 secrets stay safe after F-35 exit",
            "Ankara removed from F-35 programme in 2019",
        ] {
            assert!(headline_strays(fine, told).is_empty(), "{fine}");
        }
        for (stray, what) in [
            ("Putin praises Turkey over S-400 deal", "putin"),
            ("Turkey buys 40 S-400 systems", "40"),
            ("Greece objects as Turkey keeps S-400 data", "greece"),
        ] {
            let got = headline_strays(stray, told);
            assert!(got.iter().any(|n| n == what), "{stray}: {got:?}");
        }
    }

    fn items(n: usize) -> Vec<Item> {
        (0..n)
            .map(|i| Item {
                id: format!("a{i}"),
                title: format!("Story {i}"),
                output: format!("a{i}.md"),
                site: None,
                published: None,
                summary: format!("Rates rose {i} times."),
                also_in: Vec::new(),
            })
            .collect()
    }

    /// A story of more entries than one prompt reads is summarized in groups
    /// whose summaries are combined: every entry is read, none is cut. (A tiny
    /// synthetic model: what it writes is noise; the requests are counted.)
    #[test]
    fn a_large_story_is_read_in_groups_then_combined() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        TinyGguf::llama_dims(64, 4, 2, 96, 2)
            .set("llama.context_length", Value::U32(4096))
            .weights(GgmlDType::Q8_0)
            .write(&path)
            .unwrap();
        let model = Model::load_path("tiny".into(), path).unwrap();
        let options = SchedulerOptions {
            prefix_store: false,
            ..Default::default()
        };
        let scheduler = Scheduler::start(model, options).unwrap();
        let runner = Runner::new(&scheduler, 4096);
        // the story's summary and headline, plus one summary per group of 8
        for (n, asks) in [
            (3, 2),
            (STORY_READS, 2),
            (STORY_READS + 2, 4),
            (3 * STORY_READS, 5),
        ] {
            let before = runner.requests();
            let story = write_story(&runner, items(n), &[]).unwrap();
            assert_eq!(story.items.len(), n);
            assert!(!story.summary.is_empty() && !story.headline.is_empty());
            assert_eq!(runner.requests() - before, asks, "{n} entries");
        }
    }
}
