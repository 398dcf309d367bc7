//! Acronyms and their expansions as one name: a summary that writes "UN" about an
//! article that writes "United Nations" (or "US" where it writes "U.S.") names
//! nothing new. The expansions come from the article itself: a run of capitalized
//! words whose initials spell the acronym ("North Atlantic Treaty Organization",
//! "Federal Bureau of Investigation"), so no list has to know every organisation.

use std::collections::HashMap;
use std::ops::Range;

use super::gazetteer::gazetteer;
use super::terms::{fold, name_key, words};

/// Small words allowed inside an expansion without giving a letter.
const JOINERS: &[&str] = &["of", "the", "and", "for", "on", "in", "&"];
/// Longest expansion looked at, in capitalized words.
const MAX_WORDS: usize = 8;

/// The letters an acronym spells, lowercased: "U.S" and "US" both give "us".
/// `None` for a word that is not written as an acronym (2 to 6 capitals).
pub fn key(word: &str) -> Option<String> {
    let letters: Vec<char> = word.chars().filter(|&c| c != '.').collect();
    let ok = (2..=6).contains(&letters.len()) && letters.iter().all(|c| c.is_uppercase());
    ok.then(|| letters.iter().flat_map(|c| c.to_lowercase()).collect())
}

/// One way a text writes a name that has an acronym form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spelling {
    /// The acronym's letters, lowercased.
    pub key: String,
    /// Where it stands in the text.
    pub span: Range<usize>,
    /// Written as the acronym itself, not spelled out.
    pub acronym: bool,
}

/// The acronyms of `text` and every run of two or more capitalized words (joiners
/// allowed inside) that could be spelled out from one, longest runs first.
pub fn spellings(text: &str) -> Vec<Spelling> {
    let words = words(text);
    let mut out = Vec::new();
    for w in &words {
        if let Some(key) = key(w.text) {
            out.push(Spelling {
                key,
                span: w.start..w.start + w.text.len(),
                acronym: true,
            });
        }
    }
    // Runs of capitalized words (not acronyms), by index into `words`; up to two
    // joiners between two of them keep the run going, punctuation ends it.
    let capital = |i: usize| {
        let t = words[i].text;
        t.chars().next().is_some_and(char::is_uppercase) && key(t).is_none()
    };
    let joined = |last: usize, next: usize| {
        let gap = &text[words[last].start + words[last].text.len()..words[next].start];
        gap.split_whitespace().count() <= 2
            && gap
                .split_whitespace()
                .all(|g| JOINERS.contains(&g.to_lowercase().as_str()))
    };
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let mut run: Vec<usize> = Vec::new();
    for i in 0..words.len() {
        if !capital(i) {
            continue;
        }
        if run.last().is_some_and(|&last| !joined(last, i)) {
            runs.push(std::mem::take(&mut run));
        }
        run.push(i);
    }
    runs.push(run);
    let mut spans = Vec::new();
    for run in runs.iter().filter(|r| r.len() >= 2) {
        for a in 0..run.len() {
            for b in (a + 2..=run.len().min(a + MAX_WORDS)).rev() {
                let part = &run[a..b];
                let key: String = part
                    .iter()
                    .filter_map(|&i| words[i].text.chars().next())
                    .flat_map(char::to_lowercase)
                    .collect();
                let last = &words[part[part.len() - 1]];
                spans.push(Spelling {
                    key,
                    span: words[part[0]].start..last.start + last.text.len(),
                    acronym: false,
                });
            }
        }
    }
    spans.sort_by_key(|s| std::cmp::Reverse(s.span.len()));
    out.extend(spans);
    out
}

/// How an article writes each acronym key: as the acronym (preferred: it is the
/// shorter name) or spelled out, first seen first.
#[derive(Debug, Clone, Default)]
pub struct ArticleSpellings {
    forms: HashMap<String, (String, bool)>,
}

impl ArticleSpellings {
    pub fn add(&mut self, text: &str) {
        for s in spellings(text) {
            let form = text[s.span.clone()].to_string();
            match self.forms.get(&s.key) {
                Some((_, true)) => {}
                Some((_, false)) if !s.acronym => {}
                _ => {
                    self.forms.insert(s.key, (form, s.acronym));
                }
            }
        }
    }

    /// `sentence` with each acronym or expansion that the article writes the other
    /// way rewritten in the article's spelling; `has_name` says whether the article
    /// writes a folded word itself (then nothing changes).
    pub fn respell(&self, sentence: &str, has_name: impl Fn(&str) -> bool) -> String {
        let mut edits: Vec<(Range<usize>, &str)> = Vec::new();
        for s in spellings(sentence) {
            let Some((form, acronym)) = self.forms.get(&s.key) else {
                continue;
            };
            // Two expansions with the same initials are two names ("Women's
            // Hospital", "Wollongong Hospital"); one side must be the acronym.
            if !s.acronym && !acronym {
                continue;
            }
            let written = &sentence[s.span.clone()];
            // Spelled out where the article has only the acronym: any capitalized
            // run with the right initials would pass ("Ukrainian Navy" for "UN"), so
            // only an expansion the name tables give for that acronym is one.
            if !s.acronym && !same_row(written, form) {
                continue;
            }
            let known = words(written)
                .iter()
                .filter(|w| !JOINERS.contains(&fold(w.text).as_str()))
                .all(|w| has_name(&fold(w.text)));
            let overlaps = edits
                .iter()
                .any(|(r, _)| r.start < s.span.end && s.span.start < r.end);
            if !known && !overlaps && written != form {
                edits.push((s.span, form));
            }
        }
        edits.sort_by_key(|(r, _)| r.start);
        let mut out = String::with_capacity(sentence.len());
        let mut at = 0;
        for (r, form) in edits {
            out.push_str(&sentence[at..r.start]);
            out.push_str(form);
            at = r.end;
        }
        out.push_str(&sentence[at..]);
        out
    }
}

/// Whether the name tables hold `expansion` and `acronym` as forms of one name.
fn same_row(expansion: &str, acronym: &str) -> bool {
    let g = gazetteer();
    let of = |text: &str| g.english(&name_key(text));
    let acronym_rows = of(acronym);
    of(expansion).iter().any(|r| acronym_rows.contains(r))
}

/// `text` with its acronyms and expansions written as `reference` writes them:
/// a round trip that says "United States" where the English said "U.S." says
/// the same thing.
pub fn as_written_in(reference: &str, text: &str) -> String {
    let mut spellings = ArticleSpellings::default();
    spellings.add(reference);
    let written: std::collections::HashSet<String> =
        words(reference).iter().map(|w| fold(w.text)).collect();
    spellings.respell(text, |n| written.contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(text: &str) -> (ArticleSpellings, impl Fn(&str) -> bool) {
        let mut a = ArticleSpellings::default();
        a.add(text);
        let folded: Vec<String> = words(text).iter().map(|w| fold(w.text)).collect();
        (a, move |n: &str| folded.iter().any(|f| f == n))
    }

    #[test]
    fn keys_ignore_dots_and_need_capitals() {
        assert_eq!(key("U.S").as_deref(), Some("us"));
        assert_eq!(key("NATO").as_deref(), Some("nato"));
        assert_eq!(key("Nato"), None);
        assert_eq!(key("A"), None);
    }

    #[test]
    fn acronyms_take_the_articles_expansion_and_back() {
        let (a, has) = article(
            "The United Nations said on Monday that the Federal Bureau of Investigation \
             and the U.S. Treasury had helped.",
        );
        assert_eq!(
            a.respell("The UN thanked the FBI and the US.", &has),
            "The United Nations thanked the Federal Bureau of Investigation and the U.S."
        );
        let (a, has) = article("The UN and NATO met in the US capital.");
        assert_eq!(
            a.respell(
                "The United Nations met the North Atlantic Treaty Organization in the United States.",
                &has
            ),
            "The UN met the NATO in the US."
        );
    }

    #[test]
    fn names_the_article_writes_stay_as_written() {
        let (a, has) = article("The United Nations (UN) met in New York.");
        assert_eq!(
            a.respell("The United Nations met in New York.", &has),
            "The United Nations met in New York."
        );
        assert_eq!(a.respell("The UN met.", &has), "The UN met.");
        // No expansion in the article: nothing to rewrite to.
        assert_eq!(a.respell("The WHO met.", &has), "The WHO met.");
        // Two expansions with the same initials are two names.
        let (a, has) = article("Midwives at Wollongong Hospital were suspended.");
        let other = "Midwives at the Women's Hospital were suspended.";
        assert_eq!(a.respell(other, &has), other);
    }

    #[test]
    fn an_expansion_the_article_lacks_must_be_a_known_one() {
        let (a, has) = article("The UN said the US would help.");
        // Initials are not enough: an invented name stays, for the name check.
        let invented = "The Ukrainian Navy said the Unified Services would help.";
        assert_eq!(a.respell(invented, &has), invented);
        assert_eq!(
            a.respell(
                "The United Nations said the United States would help.",
                &has
            ),
            "The UN said the US would help."
        );
    }
}
