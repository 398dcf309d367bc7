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
//!   "more than 10,000" (at least);
//! - numbers: the round trip must not hold a number the source does not ("Boxing
//!   Day" back as "25 December"), nor another order of magnitude ("hundreds" back
//!   as "thousands").
//!
//! The verdict ([`Meaning::doubtful`]) is either disagreement or, where the model
//! scored it, its surprisal: how unlikely the model finds the English source as
//! its own translation back of the translation, taught rather than generated
//! (-log P(English | translation), noisy-channel scoring as in Yee et al. 2019).
//! Very unlikely, or fairly unlikely with a low term score: that finds wrong
//! translations better than the terms alone (see [`SURPRISAL_THRESHOLD`]).
//! Without a surprisal, a low term score.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::terms::{content_key, fold, like_name, name_key, number_values, unabbreviated, words};
use super::translation::named_words;

/// Below this weighted F1, a round trip lost the source's meaning. Set from the 106
/// round trips of the default model labelled by reading in
/// `tests/fixtures/meaning-labels.jsonl` (46 wrong: de 25 of 37, fr 12 of 35, es 9
/// of 34) by one rule: the most wrong sentences flagged at a precision of 0.7 or
/// more. With the problems below and the names the tables verify in the translation
/// left out of them, 0.65 flags 32, 23 of them wrong (precision 0.72, recall 0.50).
/// It was 0.50 (flags 20, 14 wrong) while a verified name the round trip garbled
/// ("Australie-Méridionale" back as "the Australian Southeast") still counted as
/// lost: those false flags kept the precision of the higher thresholds under 0.7.
/// Higher thresholds catch more (0.80: recall 0.72) but mark about as many right
/// sentences as wrong ones. See the test
/// `the_threshold_separates_the_labelled_round_trips`.
pub const THRESHOLD: f32 = 0.65;

/// Above this surprisal (nats, the English source's tokens and its end, see
/// [`Meaning::surprisal`]) a translation may not say what the source says; above
/// half of it, where the round trip's term score is under [`THRESHOLD`] too. Set
/// from the same 106 labelled round trips by the same rule as [`THRESHOLD`]: with
/// the problems below, it flags 40, 28 of them wrong (precision 0.70, recall
/// 0.61), against the term score's 32 and 23 (0.72, 0.50). On the 97 published
/// sentences of `meaning-labels-2.jsonl`, read after both were set, it flags 32,
/// 25 wrong (precision 0.78, recall 0.60), the term score 19 and 10 (0.53, 0.24).
/// The surprisal alone (30 by the same rule) flags 26 there, 21 wrong. (The rule
/// was picked from three tried on both sets; the threshold on the first alone.)
/// Missed still: one swapped word in a short sentence ("drug squad" as "service
/// médical": 20 nats against 9 for the right words, and a round trip keeping
/// 0.74 of the terms). `cargo bench --bench channel` measures it and writes the
/// figures that the test
/// `the_surprisal_threshold_separates_the_labelled_sentences` reads. A sum, not a
/// mean per token: per token it tells no more than the sentence's length.
pub const SURPRISAL_THRESHOLD: f32 = 32.5;

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
    /// The model's surprisal at the English source as the translation's
    /// translation back: the sum of its tokens' negative log-probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surprisal: Option<f32>,
}

impl Meaning {
    /// Whether the translation may not say what the source says.
    pub fn doubtful(&self) -> bool {
        !self.problems.is_empty() || self.unlikely()
    }

    /// The meaning part of the verdict: a high surprisal where the model scored
    /// the translation, a low term score where it did not.
    fn unlikely(&self) -> bool {
        self.unlikely_at(SURPRISAL_THRESHOLD)
    }

    /// [`Self::unlikely`] at surprisal threshold `threshold`.
    fn unlikely_at(&self, threshold: f32) -> bool {
        let low_terms = self.score < THRESHOLD;
        match self.surprisal {
            Some(s) => s > threshold || (low_terms && s > threshold / 2.0),
            None => low_terms,
        }
    }

    /// The same, with the model's surprisal at the source.
    pub fn with_surprisal(mut self, surprisal: f32) -> Self {
        self.surprisal = Some(surprisal);
        self
    }

    /// One line for a warning or a check's detail.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("meaning score {:.2}", self.score)];
        if let Some(s) = self.surprisal.filter(|_| self.unlikely()) {
            parts.push(format!(
                "the English is unlikely as its translation back (surprisal {s:.1} nats)"
            ));
        }
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
    compare_with_names(source, round_trip, &[])
}

/// [`compare`], where `written` are names of the source (as it writes them) that the
/// name tables found in the translation in a known form: their words count as kept,
/// and their compass points ("South Australia") as agreed, whatever the round trip
/// made of them.
pub fn compare_with_names(source: &str, round_trip: &str, written: &[String]) -> Meaning {
    let round_trip = &super::acronym::as_written_in(source, round_trip);
    // The source without the verified names, for what those names would skew.
    let mut rest = source.to_string();
    for name in written {
        rest = rest.replace(name.as_str(), ",");
    }
    let elsewhere = terms(&rest);
    let verified: HashSet<String> = written
        .iter()
        .flat_map(|n| terms(n).into_keys())
        .filter(|k| !elsewhere.contains_key(k))
        .collect();
    let (a, b) = (terms(source), terms(round_trip));
    let kept = |k: &String| b.contains_key(k) || verified.contains(k);
    let total_a: f32 = a.values().map(|(w, _)| w).sum();
    let total_b: f32 = b.values().map(|(w, _)| w).sum();
    let found_a: f32 = a.iter().filter(|(k, _)| kept(k)).map(|(_, (w, _))| w).sum();
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
        .filter(|(k, _)| !kept(k))
        .map(|(_, (_, text))| (source.find(text.as_str()).unwrap_or(0), text.clone()))
        .collect();
    lost.sort();
    let mut problems = Vec::new();
    match (negated(source), negated(round_trip)) {
        (true, false) if !negates_by_prefix(round_trip, source) => {
            problems.push("the translation drops a negation".to_string())
        }
        (false, true) if !negates_by_prefix(source, round_trip) => {
            problems.push("the translation adds a negation".to_string())
        }
        _ => {}
    }
    // A name swapped for another ("Afghan forces" back as "German forces").
    // Title abbreviations written out: "Gov." may come back as "Governor".
    let named = |text: &str| -> HashSet<String> {
        named_words(text).iter().map(|n| unabbreviated(n)).collect()
    };
    // A verified name need not come back, but is no new name when it does.
    let (na, nb, all) = (named(&rest), named(round_trip), named(source));
    let unmatched = |x: &HashSet<String>, y: &HashSet<String>| -> Vec<String> {
        let mut v: Vec<String> = x
            .iter()
            .filter(|n| !y.iter().any(|m| like_name(&name_key(n), &name_key(m))))
            .cloned()
            .collect();
        v.sort();
        v
    };
    let (gone, new) = (unmatched(&na, &nb), unmatched(&nb, &all));
    if !gone.is_empty() && !new.is_empty() {
        problems.push(format!(
            "names differ: {} came back as {}",
            gone.join(", "),
            new.join(", ")
        ));
    }
    let (va, vb) = (number_values(source, "en"), number_values(round_trip, "en"));
    let mut invented: Vec<&String> = vb.difference(&va).collect();
    invented.sort();
    if !invented.is_empty() {
        let list: Vec<&str> = invented.iter().map(|s| s.as_str()).collect();
        problems.push(format!(
            "a number came back that the English lacks: {}",
            list.join(", ")
        ));
    }
    // Compass points and orders of magnitude: stated on both sides, they must agree.
    for (a, b) in [
        (directions(&rest), directions(round_trip)),
        (magnitudes(source), magnitudes(round_trip)),
    ] {
        if !a.is_empty() && !b.is_empty() && a != b {
            problems.push(format!(
                "\"{}\" came back as \"{}\"",
                a.join(", "),
                b.join(", ")
            ));
        }
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
        surprisal: None,
    }
}

/// The orders of magnitude a text gives without a number ("hundreds of people",
/// "a thousand"), as the plural word, sorted. A word that scales a number ("$8.8
/// billion") is left out: the translation's own amounts are checked against the
/// English with the target language's words (`check::magnitude`), and the round
/// trip misreads right ones ("8,8 mil millones" back as "8.8 million").
fn magnitudes(text: &str) -> Vec<&'static str> {
    const WORDS: [(&str, &str); 5] = [
        ("dozen", "dozens"),
        ("hundred", "hundreds"),
        ("thousand", "thousands"),
        ("million", "millions"),
        ("billion", "billions"),
    ];
    let words = words(text);
    let mut out: Vec<&'static str> = words
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            let before = i.checked_sub(1).map(|j| words[j].text);
            !before.is_some_and(|b| b.chars().next().is_some_and(|c| c.is_ascii_digit()))
        })
        .filter_map(|(_, w)| {
            let f = fold(w.text);
            WORDS
                .iter()
                .find(|(one, many)| f == *one || f == *many)
                .map(|(_, many)| *many)
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The compass points a text names ("Sydney's west", "northern", "north-west"),
/// sorted: a place's side is a fact a translation can get wrong while every other
/// term survives.
fn directions(text: &str) -> Vec<&'static str> {
    const POINTS: [&str; 4] = ["north", "south", "east", "west"];
    let mut out: Vec<&'static str> = words(text)
        .iter()
        .flat_map(|w| {
            let f = fold(w.text);
            POINTS
                .iter()
                .filter(move |p| {
                    f.split('-').any(|part| {
                        part == **p || part == format!("{p}ern") || part == format!("{p}erly")
                    })
                })
                .copied()
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether a sentence negates: not, no, never, nobody, nothing, none, neither, nor,
/// or a `n't` contraction. Not "without": round trips write "without deaths" for
/// "fatality free".
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
                    | "cannot"
            )
    })
}

/// Whether `text` says with a negating prefix what `negating` says with "not":
/// "impossible" for "not possible", "unable" for "not able". Only the word right
/// after the negation counts ("inside" is no "not side").
fn negates_by_prefix(text: &str, negating: &str) -> bool {
    let negating = words(negating);
    let negated: HashSet<String> = negating
        .windows(2)
        .filter(|w| negated(w[0].text))
        .map(|w| fold(w[1].text))
        .collect();
    words(text).iter().any(|w| {
        let f = fold(w.text);
        ["un", "in", "im", "il", "ir", "dis", "non"]
            .iter()
            .filter_map(|p| f.strip_prefix(p))
            .any(|rest| rest.len() >= 3 && negated.contains(rest))
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

    /// One round trip of `tests/fixtures/meaning-labels.jsonl`, judged by reading the
    /// translation against the English: "faithful", "minor" (a wrong word or grammar,
    /// no false fact) or "wrong" (a reader learns something the English does not say).
    #[derive(Deserialize)]
    struct Labelled {
        source: String,
        translation: String,
        back: String,
        lang: String,
        label: String,
        /// As `cargo bench --bench channel` measured it with the default model.
        surprisal: f32,
    }

    fn labelled() -> Vec<Labelled> {
        read_labels("meaning-labels.jsonl")
    }

    fn read_labels(name: &str) -> Vec<Labelled> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// (flagged wrong, wrong, flagged) when a sentence is doubtful as `doubtful`
    /// says of its comparison (with the stored surprisal), or has a problem.
    fn tally(set: &[Labelled], doubtful: impl Fn(&Meaning) -> bool) -> (usize, usize, usize) {
        let (mut hit, mut wrong, mut flagged) = (0, 0, 0);
        for l in set {
            // As the translations are checked: with the names the tables verified.
            let written =
                super::super::translation::names_written(&l.source, &l.translation, &l.lang);
            let m = compare_with_names(&l.source, &l.back, &written).with_surprisal(l.surprisal);
            let doubtful = doubtful(&m) || !m.problems.is_empty();
            let is_wrong = l.label == "wrong";
            hit += (doubtful && is_wrong) as usize;
            wrong += is_wrong as usize;
            flagged += doubtful as usize;
        }
        (hit, wrong, flagged)
    }

    /// [`tally`] by the term score at `threshold`.
    fn counts(set: &[Labelled], threshold: f32) -> (usize, usize, usize) {
        tally(set, |m| m.score < threshold)
    }

    /// [`tally`] by the surprisal at `threshold`.
    fn surprisal_counts(set: &[Labelled], threshold: f32) -> (usize, usize, usize) {
        tally(set, |m| m.unlikely_at(threshold))
    }

    /// The surprisal threshold is set as [`THRESHOLD`] is (the sweep's most
    /// wrong sentences flagged at a precision of 0.7 or more); on the held-out
    /// set it keeps that precision and flags more wrong sentences than the term
    /// score does there. The figures print with `--nocapture`.
    #[test]
    fn the_surprisal_threshold_separates_the_labelled_sentences() {
        let set = labelled();
        let mut best = (0, 0.0f32);
        for step in 0..=60 {
            let t = 20.0 + 0.5 * step as f32;
            let (hit, wrong, flagged) = surprisal_counts(&set, t);
            if step % 4 == 0 {
                println!("surprisal {t:.1}: flags {flagged}, {hit} of {wrong} wrong");
            }
            if hit as f32 >= 0.7 * flagged as f32 && hit > best.0 {
                best = (hit, t);
            }
        }
        let (hit, _, _) = surprisal_counts(&set, SURPRISAL_THRESHOLD);
        assert_eq!(hit, best.0, "a threshold of {} flags more", best.1);
        let held_out = read_labels("meaning-labels-2.jsonl");
        let (hit, wrong, flagged) = surprisal_counts(&held_out, SURPRISAL_THRESHOLD);
        let (terms, ..) = counts(&held_out, THRESHOLD);
        println!("held out: flags {flagged}, {hit} of {wrong} wrong; the term score {terms}");
        assert!(hit as f32 >= 0.7 * flagged as f32, "{hit} of {flagged}");
        assert!(hit > terms, "{hit} against the term score's {terms}");
    }

    /// The threshold is the one of a sweep that flags the most wrong round trips
    /// at a precision of 0.7 or more (a marked sentence is wrong at least 7 times in
    /// 10, so editors learn to trust the mark); the figures print with
    /// `--nocapture`.
    #[test]
    fn the_threshold_separates_the_labelled_round_trips() {
        let set = labelled();
        let mut best = (0, 0.0f32);
        for step in 0..=16 {
            let t = 0.2 + 0.05 * step as f32;
            let (hit, wrong, flagged) = counts(&set, t);
            let precision = hit as f32 / flagged.max(1) as f32;
            println!(
                "threshold {t:.2}: flags {flagged}, {hit} of {wrong} wrong (precision {precision:.2}, recall {:.2})",
                hit as f32 / wrong.max(1) as f32
            );
            if precision >= 0.7 && hit > best.0 {
                best = (hit, t);
            }
        }
        let (hit, wrong, flagged) = counts(&set, THRESHOLD);
        println!("THRESHOLD {THRESHOLD}: flags {flagged}, {hit} of {wrong} wrong");
        assert_eq!(hit, best.0, "a threshold of {} flags more", best.1);
        assert!(
            2 * hit >= flagged,
            "precision under 0.5: {hit} of {flagged}"
        );
    }

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
        // The 0.5B's round trip of a summary sentence: the same countries, spelled out.
        let spelled = compare(
            "The U.K. and U.S. will open new trade talks at No. 10 Downing Street on Monday.",
            "The United Kingdom and the United States will open new trade talks at No. 10 \
             Downing Street on Monday.",
        );
        assert!(!spelled.doubtful(), "{spelled:?}");
    }

    /// A title abbreviation written out is the same title (the default model's
    /// German round trip).
    #[test]
    fn a_title_written_out_is_the_same_title() {
        let m = compare(
            "South Dakota Gov. Kristi Noem is defending her state's anti-drug campaign.",
            "South Dakota Governor Kristi Noem is defending her state's anti-drug campaign.",
        );
        assert!(!m.doubtful() && m.lost.is_empty(), "{m:?}");
    }

    /// A name the tables found in the translation in its own form says nothing of
    /// the meaning when the round trip garbles it (the default model's French).
    #[test]
    fn a_verified_name_garbled_on_the_way_back_is_kept() {
        let en = "Western Australia, the Northern Territory, and South Australia have each \
                  recorded three deaths, while the ACT and Tasmania remain fatality free.";
        let fr = "Western Australia, le Territoire du Nord et l'Australie-Méridionale ont \
                  chacun recordé trois décès, tandis que l'ACT et la Tasmanie restent sans décès.";
        let back = "Western Australia, the Northern Territory, and the Australian Southeast \
                    recorded three deaths each, while the ACT and Tasmania remain without deaths.";
        assert!(
            compare(en, back).doubtful(),
            "without the names, the compass points differ"
        );
        let written = crate::check::translation::names_written(en, fr, "fr");
        assert!(
            written.iter().any(|n| n == "South Australia"),
            "{written:?}"
        );
        let m = compare_with_names(en, back, &written);
        assert!(!m.doubtful(), "{m:?}");
        assert!(!m.lost.iter().any(|t| t == "South"), "{m:?}");
        // A name the translation got wrong is not verified, and stays doubtful.
        let de = "West-Australien, das Nord-Territorium und Süddeutschland haben je drei \
                  Tote verzeichnet, während das ACT und Tasmanien ohne Tote bleiben.";
        let back = "Western Australia, the Northern Territory and southern Germany have each \
                    recorded three deaths, while the ACT and Tasmania remain without deaths.";
        let written = crate::check::translation::names_written(en, de, "de");
        assert!(
            !written.iter().any(|n| n == "South Australia"),
            "{written:?}"
        );
        assert!(compare_with_names(en, back, &written).doubtful());
    }

    #[test]
    fn a_negating_prefix_is_a_negation() {
        let m = compare("A rescue was not possible.", "A rescue was impossible.");
        assert!(m.problems.is_empty(), "{m:?}");
        let m = compare("They were unable to leave.", "They were not able to leave.");
        assert!(m.problems.is_empty(), "{m:?}");
        // Another word with the prefix is no excuse.
        let m = compare(
            "The rescue was not possible.",
            "The rescue was independent.",
        );
        assert!(m.problems.iter().any(|p| p.contains("negation")), "{m:?}");
        let m = compare(
            "The gun was not found by the side door.",
            "The gun was found inside.",
        );
        assert!(m.problems.iter().any(|p| p.contains("negation")), "{m:?}");
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
        // Real round trips of the default model (fr, de): a date from "Boxing Day",
        // "hundreds" become "more than 1,000".
        let m = compare(
            "The second Test will start in Melbourne on Boxing Day.",
            "The second Test will begin in Melbourne on 25 December.",
        );
        assert!(m.doubtful() && m.problems[0].contains("25"), "{m:?}");
        let m = compare(
            "A severe bushfire has forced hundreds of people to evacuate their homes.",
            "A severe bushfire has displaced thousands of people from their homes.",
        );
        assert!(m.doubtful() && m.problems[0].contains("hundreds"), "{m:?}");
        // An amount's word is the translation's own check: "8,8 mil millones" read
        // back as "8.8 million" is the round trip's error.
        let m = compare(
            "The order is valued at $8.8 billion at list prices.",
            "The order is valued at $8.8 million at list prices.",
        );
        assert!(m.problems.is_empty(), "{m:?}");
        let m = compare(
            "A new fire has been reported in Sydney's west.",
            "A new fire has been reported in the south of Sydney.",
        );
        assert!(m.doubtful() && m.problems[0].contains("west"), "{m:?}");
        // The same number written otherwise is no problem.
        let m = compare(
            "Seven people were hurt and 10,000 fled.",
            "7 people were injured and 10 000 fled.",
        );
        assert!(m.problems.is_empty(), "{m:?}");
    }
}
