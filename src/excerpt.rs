//! Excerpts of a long article: the sentences that matter, spread over all of it,
//! so the model reads a few thousand tokens instead of the whole article (a 37k-token
//! article took 11 minutes by map-reduce on 2 cores, and its summary was its lead).
//!
//! A sentence's score combines three signals, each cheap and without the model:
//! - centrality: LexRank (Erkan and Radev, 2004), PageRank over the graph of
//!   sentences linked by TF-IDF cosine of their content stems; what many sentences
//!   repeat is what the article is about;
//! - relevance to the title and the lead (cosine with their terms);
//! - position: a paragraph's first sentence usually states its topic.
//!
//! The lead is kept, then the budget is shared between the article's fifths, so
//! the excerpts (and the summary's sources) come from all of it; within a fifth
//! the best sentences go first, skipping near-repeats of one already taken.

use std::collections::{BTreeMap, HashMap};

use crate::check::terms::{content_key, words};
use crate::chunk::TokenCount;
use crate::error::Result;
use crate::sentence::{sentences, Sentence};

/// Parts the article is cut into, each given its share of the budget (and the
/// most stretches its excerpts are summarized in).
pub const PARTS: usize = 5;
/// Share of the budget the lead may take.
const LEAD_SHARE: f64 = 0.15;
/// Sentences this similar to one already taken add nothing.
const REPEAT: f64 = 0.6;
/// LexRank's graph keeps links at least this similar (the paper's 0.1).
const LINK: f64 = 0.1;

/// What was kept of an article.
#[derive(Debug, Clone, PartialEq)]
pub struct Excerpts {
    /// The kept sentences in article order; a paragraph break where sentences
    /// were left out between them.
    pub text: String,
    /// The same cut into `groups` consecutive stretches of the article, in order
    /// (a stretch with nothing kept is left out).
    pub parts: Vec<String>,
    /// Indices of the kept sentences in [`crate::sentence::sentences`] of the article.
    pub kept: Vec<usize>,
    /// Tokens of `text`.
    pub tokens: usize,
    /// Sentences the article has.
    pub of: usize,
}

/// Sparse unit vector of a sentence's content terms (TF-IDF weights), in term
/// order: sums run in one order, so equal sentences score exactly alike on every
/// run (a `HashMap`'s order is random per process).
type Vector = BTreeMap<u32, f64>;

fn cosine(a: &Vector, b: &Vector) -> f64 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small
        .iter()
        .filter_map(|(t, x)| large.get(t).map(|y| x * y))
        .sum()
}

/// The sentences of `text` that best say what it is about, at most `budget`
/// tokens of them, in order, also given as `groups` stretches of the article.
/// `title` adds to the relevance signal when known.
pub fn excerpts(
    text: &str,
    title: Option<&str>,
    budget: usize,
    groups: usize,
    counter: &dyn TokenCount,
) -> Result<Excerpts> {
    let groups = groups.max(1);
    let sents = sentences(text);
    let n = sents.len();
    let vectors = vectors(text, &sents, title);
    let (rows, query) = vectors.split_at(n);
    let centrality = lexrank(rows);
    let top = centrality.iter().cloned().fold(f64::MIN_POSITIVE, f64::max);
    let score: Vec<f64> = (0..n)
        .map(|i| {
            let s = sents[i].text(text);
            let length = words(s).len();
            // Fragments (captions, datelines) and run-ons say little per token.
            let shape = match length {
                0..=5 => 0.2,
                6..=50 => 1.0,
                _ => 0.7,
            };
            let start = if sents[i].starts_paragraph { 0.1 } else { 0.0 };
            shape * (0.6 * centrality[i] / top + 0.3 * cosine(&rows[i], &query[0]) + start)
        })
        .collect();
    let mut tokens = vec![0; n];
    for (i, s) in sents.iter().enumerate() {
        tokens[i] = counter.count(s.text(text))? + 1;
    }

    let mut kept = vec![false; n];
    let mut used = 0;
    let take = |i: usize, limit: usize, kept: &mut Vec<bool>, used: &mut usize| {
        if *used + tokens[i] > limit || kept[i] {
            return false;
        }
        let repeat = (0..n).any(|j| kept[j] && cosine(&rows[i], &rows[j]) > REPEAT);
        if repeat {
            return false;
        }
        kept[i] = true;
        *used += tokens[i];
        true
    };
    // The lead, in order, while it fits its share.
    let lead = (budget as f64 * LEAD_SHARE) as usize;
    for i in 0..n {
        if !take(i, lead, &mut kept, &mut used) {
            break;
        }
    }
    // Each fifth its share, best first; what a fifth leaves goes to the best anywhere.
    let share = budget.saturating_sub(used) / PARTS;
    for part in 0..PARTS {
        let range = part * n / PARTS..(part + 1) * n / PARTS;
        let limit = used + share;
        for i in by_score(range, &score) {
            take(i, limit, &mut kept, &mut used);
        }
    }
    for i in by_score(0..n, &score) {
        take(i, budget, &mut kept, &mut used);
    }

    let kept: Vec<usize> = (0..n).filter(|&i| kept[i]).collect();
    let join = |kept: &[usize]| {
        let mut out = String::new();
        for (k, &i) in kept.iter().enumerate() {
            if k > 0 {
                let joined = kept[k - 1] + 1 == i && !sents[i].starts_paragraph;
                out.push_str(if joined { " " } else { "\n\n" });
            }
            out.push_str(sents[i].text(text));
        }
        out
    };
    let parts = (0..groups)
        .map(|p| {
            let of_part: Vec<usize> = kept
                .iter()
                .copied()
                .filter(|&i| i * groups / n == p)
                .collect();
            join(&of_part)
        })
        .filter(|p| !p.is_empty())
        .collect();
    let out = join(&kept);
    Ok(Excerpts {
        tokens: counter.count(&out)?,
        text: out,
        parts,
        kept,
        of: n,
    })
}

/// Indices of `range` by score, best first (the earlier on a tie).
fn by_score(range: std::ops::Range<usize>, score: &[f64]) -> Vec<usize> {
    let mut v: Vec<usize> = range.collect();
    v.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
    v
}

/// TF-IDF unit vectors of every sentence, then of the query (title and lead).
fn vectors(text: &str, sents: &[Sentence], title: Option<&str>) -> Vec<Vector> {
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut counts = |s: &str| -> BTreeMap<u32, f64> {
        let mut c = BTreeMap::new();
        for w in words(s) {
            if let Some(key) = content_key(w.text) {
                let next = ids.len() as u32;
                let id = *ids.entry(key).or_insert(next);
                *c.entry(id).or_insert(0.0) += 1.0;
            }
        }
        c
    };
    let mut all: Vec<BTreeMap<u32, f64>> = sents.iter().map(|s| counts(s.text(text))).collect();
    // The lead: the first paragraph's first sentences.
    let lead: Vec<&str> = sents
        .iter()
        .enumerate()
        .take_while(|(i, s)| *i == 0 || !s.starts_paragraph)
        .take(3)
        .map(|(_, s)| s.text(text))
        .collect();
    all.push(counts(&format!(
        "{} {}",
        title.unwrap_or(""),
        lead.join(" ")
    )));
    let n = sents.len().max(1) as f64;
    let mut df: HashMap<u32, f64> = HashMap::new();
    for c in &all[..sents.len()] {
        for t in c.keys() {
            *df.entry(*t).or_insert(0.0) += 1.0;
        }
    }
    all.into_iter()
        .map(|c| {
            let mut v: Vector = c
                .into_iter()
                .map(|(t, tf)| {
                    let idf = (n / df.get(&t).copied().unwrap_or(1.0)).ln() + 1.0;
                    (t, (1.0 + tf.ln()) * idf)
                })
                .collect();
            let norm = v.values().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 0.0 {
                v.values_mut().for_each(|x| *x /= norm);
            }
            v
        })
        .collect()
}

/// LexRank centrality: PageRank (damping 0.85) over sentences linked by cosine
/// at least [`LINK`], weighted by it. Pairs are found through shared terms only.
fn lexrank(rows: &[Vector]) -> Vec<f64> {
    let n = rows.len();
    if n == 0 {
        return Vec::new();
    }
    let mut postings: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, v) in rows.iter().enumerate() {
        for t in v.keys() {
            postings.entry(*t).or_default().push(i);
        }
    }
    let mut links: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for i in 0..n {
        let mut dots: BTreeMap<usize, f64> = BTreeMap::new();
        for (t, x) in &rows[i] {
            for &j in &postings[t] {
                if j > i {
                    *dots.entry(j).or_insert(0.0) += x * rows[j][t];
                }
            }
        }
        for (j, w) in dots {
            if w >= LINK {
                links[i].push((j, w));
                links[j].push((i, w));
            }
        }
    }
    let out: Vec<f64> = links.iter().map(|l| l.iter().map(|x| x.1).sum()).collect();
    let mut rank = vec![1.0 / n as f64; n];
    for _ in 0..30 {
        let mut next = vec![0.15 / n as f64; n];
        for i in 0..n {
            if out[i] > 0.0 {
                for &(j, w) in &links[i] {
                    next[j] += 0.85 * rank[i] * w / out[i];
                }
            } else {
                // A sentence linked to none spreads its rank evenly.
                for x in next.iter_mut() {
                    *x += 0.85 * rank[i] / n as f64;
                }
            }
        }
        rank = next;
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One token per word, near enough for tests.
    struct Words;
    impl TokenCount for Words {
        fn count(&self, text: &str) -> Result<usize> {
            Ok(text.split_whitespace().count())
        }
    }

    #[test]
    fn excerpts_keep_the_lead_and_reach_every_part() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/seeds/000_57a6ad3420af089a.txt"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let e = excerpts(&text, None, 200, PARTS, &Words).unwrap();
        assert!(e.tokens <= 200 && e.tokens > 150, "{}", e.tokens);
        assert!(e.kept.len() < e.of);
        assert_eq!(e.parts.len(), PARTS);
        let words = |t: &str| t.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(words(&e.parts.join(" ")), words(&e.text));
        assert_eq!(e.kept[0], 0, "the lead comes first: {:?}", e.kept);
        assert!(e.kept.windows(2).all(|w| w[0] < w[1]));
        let fifths: std::collections::HashSet<usize> =
            e.kept.iter().map(|&i| i * PARTS / e.of).collect();
        assert_eq!(fifths.len(), PARTS, "{:?} of {}", e.kept, e.of);
        // Every kept sentence is the article's, as written.
        let sents = sentences(&text);
        for i in &e.kept {
            assert!(e.text.contains(sents[*i].text(&text)));
        }
    }

    #[test]
    fn a_short_article_is_kept_whole() {
        let text = "One sentence here is long enough to count. Another one follows it now.";
        let e = excerpts(text, None, 1000, 3, &Words).unwrap();
        assert_eq!(e.kept, vec![0, 1]);
        assert_eq!(e.text, text);
    }
}
