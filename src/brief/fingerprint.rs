//! What the brief needs of an article's text, small enough to keep in its
//! manifest line (so a merged sharded digest has it without the inputs): a
//! MinHash signature of its word shingles, for near-duplicates (Broder 1997),
//! and its most weighted content terms, names counted up, for stories.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::check::terms;

/// Hash functions of the signature: the Jaccard estimate's standard error is
/// at most 0.5/sqrt(64) = 0.06, enough to tell a copy (0.5 and up) from two
/// reports of one event (under 0.15 on the labelled set).
pub const HASHES: usize = 64;
/// Words per shingle: three is the usual size for news-length texts; shorter
/// shingles make two reports of one event look alike.
const SHINGLE: usize = 3;
/// Terms kept per article: enough for any article's topic, small in a manifest.
const TERMS: usize = 64;
/// A name counts this many times a common word: stories are told apart by
/// who and where more than by what.
const NAME_WEIGHT: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The least value of each of [`HASHES`] hash functions over the text's
    /// shingles (of folded words).
    pub minhash: Vec<u32>,
    /// Distinct shingles of the text (for containment).
    #[serde(default)]
    pub shingles: u32,
    /// Content-word stem -> weight (occurrences; a name's count [`NAME_WEIGHT`]
    /// times), the [`TERMS`] most weighted.
    pub terms: BTreeMap<String, u32>,
}

impl Fingerprint {
    pub fn of(text: &str) -> Self {
        let words = terms::words(text);
        let (minhash, shingles) = minhash(&words);
        Self {
            minhash,
            shingles,
            terms: weighted_terms(&words),
        }
    }

    /// The estimated share of the shorter text's shingles found in the
    /// longer one: a flash or a shortened version is contained in its full
    /// story while resembling it little. From the resemblance J and the
    /// sizes: |A ∩ B| = J (|A| + |B|) / (1 + J).
    pub fn containment(&self, other: &Fingerprint) -> f64 {
        let j = self.resemblance(other);
        let (a, b) = (self.shingles as f64, other.shingles as f64);
        if a.min(b) == 0.0 {
            return 0.0;
        }
        (j * (a + b) / (1.0 + j) / a.min(b)).min(1.0)
    }

    /// The estimated Jaccard similarity of the two texts' shingle sets.
    pub fn resemblance(&self, other: &Fingerprint) -> f64 {
        let same = self
            .minhash
            .iter()
            .zip(&other.minhash)
            .filter(|(a, b)| a == b)
            .count();
        same as f64 / HASHES.max(1) as f64
    }
}

/// The hash functions: `h_i(x) = (a_i x + b_i) >> 32` over one 64-bit hash of
/// the shingle, with odd multipliers from a fixed SplitMix64 sequence, so a
/// signature is the same on every machine and in every version.
fn permutations() -> &'static [(u64, u64); HASHES] {
    static P: std::sync::OnceLock<[(u64, u64); HASHES]> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        std::array::from_fn(|_| (next() | 1, next()))
    })
}

fn minhash(words: &[terms::Word]) -> (Vec<u32>, u32) {
    let folded: Vec<String> = words.iter().map(|w| terms::fold(w.text)).collect();
    let shingles: HashSet<u64> = if folded.len() < SHINGLE {
        std::iter::once(xxh3_64(folded.join(" ").as_bytes())).collect()
    } else {
        folded
            .windows(SHINGLE)
            .map(|w| xxh3_64(w.join(" ").as_bytes()))
            .collect()
    };
    let signature = permutations()
        .iter()
        .map(|&(a, b)| {
            shingles
                .iter()
                .map(|&x| (a.wrapping_mul(x).wrapping_add(b) >> 32) as u32)
                .min()
                .unwrap_or(u32::MAX)
        })
        .collect();
    (signature, shingles.len() as u32)
}

fn weighted_terms(words: &[terms::Word]) -> BTreeMap<String, u32> {
    let elsewhere: HashSet<String> = words
        .iter()
        .filter(|w| !w.sentence_initial && w.text.chars().next().is_some_and(char::is_uppercase))
        .map(|w| terms::fold(w.text))
        .collect();
    let mut weight: HashMap<String, u32> = HashMap::new();
    for w in words {
        let Some(key) = terms::content_key(w.text) else {
            continue;
        };
        // numbers tell stories apart poorly (years, counts, prices)
        if key.starts_with('#') {
            continue;
        }
        let add = if terms::is_name(w, &elsewhere) {
            NAME_WEIGHT
        } else {
            1
        };
        *weight.entry(key).or_default() += add;
    }
    let mut ranked: Vec<(String, u32)> = weight.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(TERMS);
    ranked.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_edit_resembles_its_original_and_another_report_does_not() {
        let a = "The minister said on Tuesday that the budget would be cut by ten per cent \
                 next year, after a long review of spending in every department of the state.";
        let edit = "The minister said on Tuesday that the budget will be cut by ten per cent \
                    next year, after a long review of spending in every department of the state.";
        let other = "Ten per cent less spending next year, the state's treasurer announced, \
                     blaming a long review; departments were told on Tuesday.";
        let (fa, fe, fo) = (
            Fingerprint::of(a),
            Fingerprint::of(edit),
            Fingerprint::of(other),
        );
        assert_eq!(fa.resemblance(&fa), 1.0);
        assert!(fa.resemblance(&fe) > 0.5, "{}", fa.resemblance(&fe));
        assert!(fa.resemblance(&fo) < 0.2, "{}", fa.resemblance(&fo));
    }

    #[test]
    fn names_weigh_more_than_common_words_and_numbers_not_at_all() {
        let f = Fingerprint::of("Police in Sydney said 12 fires burned. Sydney police said more.");
        assert_eq!(f.terms.get("sydney"), Some(&(2 * NAME_WEIGHT)));
        assert_eq!(f.terms.get("polic"), Some(&2));
        assert!(f.terms.keys().all(|k| !k.starts_with('#')));
        assert_eq!(f.minhash.len(), HASHES);
    }
}
