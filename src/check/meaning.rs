//! The meaning check of a translation: the model translates its translation back
//! into English, and the round trip is compared with the English source on what
//! carries meaning. Round-trip BLEU predicts quality poorly (Moon et al., EAMT 2020:
//! a fluent back-translation of a wrong translation can score well and a paraphrase
//! of a right one badly), so the comparison is not on n-grams but on content:
//!
//! - content terms (Snowball stems of content words, numbers, names twice), as a
//!   weighted F1 of the source's terms found in the round trip and of the round
//!   trip's terms found in the source: a substitution ("drug squad detectives" ->
//!   "medical service investigators") loses on both sides, a paraphrase of one word
//!   on one;
//! - names: a name of the source must not come back as another one;
//! - negation: the source and the round trip must agree on whether they negate;
//! - how a number is bounded: "as many as 10,000" (at most) must not come back as
//!   "more than 10,000" (at least).
//!
//! The verdict ([`Meaning::doubtful`]) is a low score or either disagreement.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::terms::{content_key, fold, like_name, name_key, words};
use super::translation::named_words;

/// Below this weighted F1, a round trip lost the source's meaning. Set from the
/// labelled round trips in `tests/fixtures/meaning-labels.jsonl` (see the test
/// `the_threshold_separates_the_labelled_round_trips`).
pub const THRESHOLD: f32 = 0.4;

/// How a translation's round trip compares with its English source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Meaning {
    /// Weighted F1 of content terms, 0..1.
    pub score: f32,
    /// Source terms the round trip lost (as written in the source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<String>,
    /// What disagrees beyond the terms (negation, bounds of a number).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl Meaning {
    /// Whether the translation may not say what the source says.
    pub fn doubtful(&self) -> bool {
        self.score < THRESHOLD || !self.problems.is_empty()
    }

    /// One line for a warning or a check's detail.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("meaning score {:.2}", self.score)];
        if !self.lost.is_empty() {
            parts.push(format!("lost: {}", self.lost.join(", ")));
        }
        parts.extend(self.problems.iter().cloned());
        parts.join("; ")
    }
}

/// Content terms of `text` with their weights (names and numbers count twice) and
/// how each was first written.
fn terms(text: &str) -> HashMap<String, (f32, String)> {
    let named = named_words(text);
    let mut out: HashMap<String, (f32, String)> = HashMap::new();
    for w in words(text) {
        let Some(key) = content_key(w.text) else {
            continue;
        };
        let weight = if key.starts_with('#') || named.contains(&fold(w.text)) {
            2.0
        } else {
            1.0
        };
        let entry = out.entry(key).or_insert((weight, w.text.to_string()));
        entry.0 = entry.0.max(weight);
    }
    out
}

/// Compares an English source with the English round trip of its translation.
pub fn compare(source: &str, round_trip: &str) -> Meaning {
    let (a, b) = (terms(source), terms(round_trip));
    let total_a: f32 = a.values().map(|(w, _)| w).sum();
    let total_b: f32 = b.values().map(|(w, _)| w).sum();
    let found_a: f32 = a
        .iter()
        .filter(|(k, _)| b.contains_key(*k))
        .map(|(_, (w, _))| w)
        .sum();
    let found_b: f32 = b
        .iter()
        .filter(|(k, _)| a.contains_key(*k))
        .map(|(_, (w, _))| w)
        .sum();
    let score = if total_a == 0.0 {
        1.0 // nothing to lose
    } else if total_b == 0.0 {
        0.0
    } else {
        let (recall, precision) = (found_a / total_a, found_b / total_b);
        if recall + precision == 0.0 {
            0.0
        } else {
            2.0 * recall * precision / (recall + precision)
        }
    };
    let mut lost: Vec<(usize, String)> = a
        .iter()
        .filter(|(k, _)| !b.contains_key(*k))
        .map(|(_, (_, text))| (source.find(text.as_str()).unwrap_or(0), text.clone()))
        .collect();
    lost.sort();
    let mut problems = Vec::new();
    match (negated(source), negated(round_trip)) {
        (true, false) => problems.push("the translation drops a negation".to_string()),
        (false, true) => problems.push("the translation adds a negation".to_string()),
        _ => {}
    }
    // A name swapped for another ("Afghan forces" back as "German forces").
    let (na, nb) = (named_words(source), named_words(round_trip));
    let unmatched = |x: &HashSet<String>, y: &HashSet<String>| -> Vec<String> {
        let mut v: Vec<String> = x
            .iter()
            .filter(|n| !y.iter().any(|m| like_name(&name_key(n), &name_key(m))))
            .cloned()
            .collect();
        v.sort();
        v
    };
    let (gone, new) = (unmatched(&na, &nb), unmatched(&nb, &na));
    if !gone.is_empty() && !new.is_empty() {
        problems.push(format!(
            "names differ: {} came back as {}",
            gone.join(", "),
            new.join(", ")
        ));
    }
    let (sa, sb) = (bounds(source), bounds(round_trip));
    if let (Some(x), Some(y)) = (sa, sb) {
        if x != y {
            problems.push(format!(
                "\"{}\" came back as \"{}\"",
                x.example(),
                y.example()
            ));
        }
    }
    Meaning {
        score,
        lost: lost.into_iter().map(|(_, t)| t).collect(),
        problems,
    }
}

/// Whether a sentence negates: not, no, never, nobody, nothing, none, neither, nor,
/// without, or a `n't` contraction.
fn negated(text: &str) -> bool {
    words(text).iter().any(|w| {
        let f = fold(w.text);
        f.ends_with("n't")
            || matches!(
                f.as_str(),
                "not"
                    | "no"
                    | "never"
                    | "nobody"
                    | "nothing"
                    | "none"
                    | "neither"
                    | "nor"
                    | "without"
                    | "cannot"
            )
    })
}

/// Which way a text bounds its numbers, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// "more than", "over", "at least".
    AtLeast,
    /// "up to", "as many as", "at most", "fewer than", "nearly".
    AtMost,
}

impl Bound {
    fn example(self) -> &'static str {
        match self {
            Bound::AtLeast => "more than",
            Bound::AtMost => "up to",
        }
    }
}

fn bounds(text: &str) -> Option<Bound> {
    let lower = format!(
        " {} ",
        fold(text).replace(|c: char| !c.is_alphanumeric(), " ")
    );
    let lower = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    let has = |phrases: &[&str]| {
        phrases
            .iter()
            .any(|p| format!(" {lower} ").contains(&format!(" {p} ")))
    };
    let at_least = has(&["more than", "over", "at least", "above", "in excess of"]);
    let at_most = has(&[
        "up to",
        "as many as",
        "as much as",
        "at most",
        "fewer than",
        "less than",
        "nearly",
        "almost",
        "under",
    ]);
    match (at_least, at_most) {
        (true, false) => Some(Bound::AtLeast),
        (false, true) => Some(Bound::AtMost),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_faithful_round_trip_scores_high() {
        let m = compare(
            "Police arrested three men in Sydney on Monday.",
            "Police arrested three men in Sydney on Monday.",
        );
        assert_eq!(m.score, 1.0);
        assert!(!m.doubtful());
        let paraphrase = compare(
            "Police arrested three men in Sydney on Monday.",
            "On Monday, the police detained three men in Sydney.",
        );
        assert!(!paraphrase.doubtful(), "{paraphrase:?}");
    }

    #[test]
    fn substitutions_negations_and_bounds_are_caught() {
        let m = compare(
            "Drug squad detectives raided the house.",
            "Investigators from the medical service searched the house.",
        );
        assert!(m.doubtful(), "{m:?}");
        assert!(m.lost.contains(&"Drug".to_string()), "{m:?}");
        let m = compare("The minister did not resign.", "The minister resigned.");
        assert!(m.doubtful() && m.problems[0].contains("negation"), "{m:?}");
        let m = compare(
            "As many as 10,000 people were evacuated.",
            "More than 10,000 people were evacuated.",
        );
        assert!(m.doubtful(), "{m:?}");
        assert!(m.problems[0].contains("up to"), "{m:?}");
        let m = compare(
            "Afghan security forces arrested a fighter.",
            "German security forces arrested a fighter.",
        );
        assert!(
            m.doubtful() && m.problems[0].contains("names differ"),
            "{m:?}"
        );
    }
}
