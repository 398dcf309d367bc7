//! Grounding: each summary sentence linked to the article sentences that support it.
//!
//! The alignment is lexical, on purpose: it must be explainable to an editor and
//! cheap next to generation. A summary sentence is a set of terms (content-word
//! stems, numbers, names); each term weighs its BM25 idf over the article's
//! sentences (rare words tell more than common ones), names and numbers twice (they
//! are what a reader checks). Article sentences are picked greedily by the weight of
//! the terms they add (a weighted set cover, since a summary sentence often fuses
//! two or three source sentences), while each adds at least a sixth of the weight.
//! The pick ranks by that weight times BM25's length part, so a long sentence that
//! shares many words but says something else around them (on the seed, Washington
//! wanting the data, S7) loses to the sentence that states it (Turkey's pledge, S6).
//! Acronyms and expansions are one name ("UN", "United Nations"; see [`super::acronym`]).
//!
//! A sentence is **unsupported** when it names a person, place or number that the
//! article does not have (outside sentences that read as orders to the model), or
//! when the article covers under a third of its weight.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::source::{term_set, SourceIndex, SourceSentence};
use super::terms::{names, number_values, title_names};

/// Least share of a summary sentence's weight the article must cover.
const MIN_COVERAGE: f32 = 0.34;
/// Least share a further source sentence must add to be cited.
const MIN_GAIN: f32 = 1.0 / 6.0;
/// Most source sentences cited for one summary sentence.
const MAX_SOURCES: usize = 3;

/// Where one summary sentence comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceSupport {
    pub sentence: String,
    /// Cited article sentences, best first.
    pub sources: Vec<SourceSentence>,
    /// Share of the sentence's term weight found in the cited sentences (0..1).
    pub coverage: f32,
    /// Names and numbers the article does not have.
    pub unknown: Vec<String>,
    pub supported: bool,
    /// The model's verdict on whether the cited sentences state it, when asked
    /// (`--verify`, [`crate::pipeline::verify`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

impl SentenceSupport {
    /// Why it is unsupported, for a warning; `None` when supported.
    pub fn problem(&self) -> Option<String> {
        if self.supported {
            return None;
        }
        Some(if self.verified == Some(false) {
            "the sentences it cites do not state it (the model's check)".to_string()
        } else if !self.unknown.is_empty() {
            format!("the article never mentions {}", self.unknown.join(", "))
        } else {
            format!(
                "no article sentence supports it ({:.0}% of its words are covered)",
                self.coverage * 100.0
            )
        })
    }
}

/// The names and numbers of a headline or title that `index` does not have. Every
/// capitalized word counts as a name, the first too (it is no sentence's start).
pub fn title_unknowns(title: &str, index: &SourceIndex) -> Vec<String> {
    unknown(title_names(&index.respell(title)), title, index)
}

/// `names` (folded) and the numbers of `text` that `index` does not have.
fn unknown(names: Vec<String>, text: &str, index: &SourceIndex) -> Vec<String> {
    let mut unknown: Vec<String> = names.into_iter().filter(|n| !index.has_name(n)).collect();
    let mut numbers: Vec<String> = number_values(text, "en")
        .into_iter()
        .filter(|v| !index.has_number(v))
        .collect();
    numbers.sort();
    unknown.extend(numbers);
    unknown
}

/// Supports each summary sentence (or bullet point) in `units`.
pub fn ground(units: &[String], index: &SourceIndex) -> Vec<SentenceSupport> {
    units.iter().map(|u| support(u, index)).collect()
}

fn weight(term: &str, index: &SourceIndex) -> f32 {
    let boost = if term.starts_with('@') || term.starts_with('#') {
        2.0
    } else {
        1.0
    };
    boost * index.idf(term)
}

fn support(unit: &str, index: &SourceIndex) -> SentenceSupport {
    let respelled = index.respell(unit);
    let terms = term_set(&respelled);
    let total: f32 = terms.iter().map(|t| weight(t, index)).sum();
    let mut covered: BTreeSet<&String> = BTreeSet::new();
    let mut cited: Vec<usize> = Vec::new();
    while cited.len() < MAX_SOURCES && total > 0.0 {
        let best = (0..index.sentences.len())
            .filter(|&i| !index.orders[i] && !cited.contains(&i))
            .map(|i| {
                let gain: f32 = terms
                    .iter()
                    .filter(|t| !covered.contains(t) && index.terms(i).contains(*t))
                    .map(|t| weight(t, index))
                    .sum();
                (i, gain, gain * index.length_norm(i))
            })
            // Ties go to the earlier sentence: the lead usually states it first.
            .max_by(|a, b| a.2.total_cmp(&b.2).then(b.0.cmp(&a.0)));
        match best {
            Some((i, gain, _)) if gain > 0.0 && (cited.is_empty() || gain >= MIN_GAIN * total) => {
                covered.extend(terms.iter().filter(|t| index.terms(i).contains(*t)));
                cited.push(i);
            }
            _ => break,
        }
    }
    // Rounded: a share for people, not a float whose last bits mean nothing.
    let coverage = if total > 0.0 {
        // fold from +0: an empty f32 `sum` is -0.0, shown as "-0%".
        let share = covered
            .iter()
            .map(|t| weight(t, index))
            .fold(0.0, |a, w| a + w)
            / total;
        (share.min(1.0) * 1000.0).round() / 1000.0
    } else {
        0.0
    };
    let unknown = unknown(names(&respelled), unit, index);
    let supported = unknown.is_empty() && !cited.is_empty() && coverage >= MIN_COVERAGE;
    SentenceSupport {
        sentence: unit.to_string(),
        sources: cited.iter().map(|&i| index.sentences[i].clone()).collect(),
        coverage,
        unknown,
        supported,
        verified: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARTICLE: &str = "Prime Minister John Howard announced a $500 million drought package \
        on Tuesday. Farmers in New South Wales have faced three years without rain.\n\n\
        The opposition leader, Kim Beazley, said the package came too late. Mr Howard said \
        the money would reach farmers before Christmas.";

    fn one(sentence: &str) -> SentenceSupport {
        ground(&[sentence.to_string()], &SourceIndex::new(ARTICLE)).remove(0)
    }

    #[test]
    fn a_paraphrase_cites_its_sources() {
        let s = one("John Howard unveiled a $500 million package for drought-hit farmers.");
        assert!(s.supported, "{s:?}");
        assert_eq!(s.sources[0].n, 1);
        let fused = one("Kim Beazley said the drought package for farmers came too late.");
        assert!(fused.supported, "{fused:?}");
        assert_eq!(fused.sources[0].n, 3);
        assert_eq!(fused.sources[0].paragraph, 2);
    }

    #[test]
    fn invented_names_and_numbers_are_unsupported() {
        let s = one("John Howard announced a $700 million package in Beijing.");
        assert!(!s.supported);
        assert_eq!(s.unknown, ["beijing", "700"]);
        assert!(s.problem().unwrap().contains("beijing"));
        let s = one("Three years without rain hit farmers in New South Wales.");
        assert!(s.supported, "{s:?}");
    }

    #[test]
    fn acronyms_and_expansions_are_one_name() {
        let index = SourceIndex::new(
            "The United Nations said the U.S. had blocked the resolution. \
             Diplomats at NATO were surprised.",
        );
        let [un, us, nato] = [
            "The UN said the resolution was blocked by the United States.",
            "The US blocked the UN resolution.",
            "The North Atlantic Treaty Organization's diplomats were surprised.",
        ]
        .map(|s| ground(&[s.to_string()], &index).remove(0));
        assert!(un.supported && un.unknown.is_empty(), "{un:?}");
        assert!(us.supported && us.coverage > 0.9, "{us:?}");
        assert!(nato.supported, "{nato:?}");
        // What it was given is what it reports.
        assert!(un.sentence.starts_with("The UN said"));
    }

    #[test]
    fn the_best_support_is_cited_not_the_longest_overlap() {
        // The seed: the summary's first sentence is what Demir pledges (S6) and the
        // lead says (S2); S7 shares more words but is about Washington wanting the data.
        let text = std::fs::read_to_string("tests/fixtures/grounding/seed-s400.txt").unwrap();
        let s = ground(
            &[
                "Turkey has promised to protect sensitive information about the Russian \
               S-400 air defence system from being compromised."
                    .to_string(),
            ],
            &SourceIndex::new(&text),
        )
        .remove(0);
        let cited: Vec<usize> = s.sources.iter().map(|s| s.n).collect();
        assert!(cited.contains(&6) && !cited.contains(&7), "{cited:?}");
        assert!(s.supported, "{s:?}");
    }

    #[test]
    fn sentences_about_something_else_are_unsupported() {
        let s = one("The football season opened with a surprising victory for the visitors.");
        assert!(!s.supported);
        assert!(s.problem().unwrap().contains("no article sentence"));
        // No word covered is 0, not -0 ("-0% of its words").
        assert!(s.coverage.is_sign_positive(), "{s:?}");
        assert!(!s.problem().unwrap().contains("-0"), "{s:?}");
    }
}
