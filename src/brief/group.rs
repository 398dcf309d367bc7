//! Which articles are one story version (near-duplicates) and which tell one
//! story (related articles), from their [`Fingerprint`]s alone. Pure and
//! deterministic: the same fingerprints in the same order give the same groups.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use rayon::prelude::*;

use super::fingerprint::{Fingerprint, HASHES};

/// Two articles are one story version when their shingles' estimated
/// Jaccard resemblance reaches `DUPLICATE`, or the shorter one is mostly
/// inside the longer (a shortened version): `CONTAINED`. On the labelled set
/// (tests/fixtures/brief, 77 articles, 18 duplicate pairs) every copy edit,
/// correction and extension resembles its twin by 0.44 or more, the two
/// shortened rewrites by 0.25 with 0.76 and 0.83 contained, and no two other
/// articles pass 0.08 resemblance or 0.3 containment: both thresholds sit in
/// the middle of those gaps. Missed: a one-line flash inside its full item
/// (0.43 contained; its ten shingles are too few to tell).
pub const DUPLICATE: f64 = 0.4;
pub const CONTAINED: f64 = 0.6;
/// Mean TF-IDF cosine of two groups' articles from which they tell one story.
pub const STORY: f64 = 0.16;
/// LSH bands of the signature: 32 bands of 2 values make a pair of 0.25
/// resemblance a candidate with probability 0.87, one of 0.3 with 0.95, and
/// one of 0.05 (unrelated news) with 0.08.
const BANDS: usize = 32;

/// Pairs (i < j) of near-duplicates, in order: candidates share a band of
/// their signatures (cost near-linear in the number of articles), and are
/// kept by [`DUPLICATE`] or [`CONTAINED`].
pub fn duplicates(prints: &[&Fingerprint]) -> Vec<(usize, usize)> {
    let rows = HASHES / BANDS;
    let mut pairs = Vec::new();
    let mut buckets: HashMap<(usize, &[u32]), Vec<usize>> = HashMap::new();
    for (i, f) in prints.iter().enumerate() {
        if f.minhash.len() != HASHES {
            continue; // an older or damaged manifest line: no signature
        }
        for band in 0..BANDS {
            let key = (band, &f.minhash[band * rows..(band + 1) * rows]);
            buckets.entry(key).or_default().push(i);
        }
    }
    for members in buckets.values() {
        for (x, &i) in members.iter().enumerate() {
            for &j in &members[x + 1..] {
                pairs.push((i.min(j), i.max(j)));
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs.retain(|&(i, j)| {
        let (a, b) = (prints[i], prints[j]);
        a.resemblance(b) >= DUPLICATE || a.containment(b) >= CONTAINED
    });
    pairs
}

/// Groups of article indices telling one story, each in index order, the
/// groups in order of their first article. Near-duplicates (`dups`) start
/// in one group; groups then merge by average linkage while the best pair
/// of groups has a mean cosine of [`STORY`] or more.
pub fn stories(prints: &[&Fingerprint], dups: &[(usize, usize)]) -> Vec<Vec<usize>> {
    stories_at(prints, dups, STORY)
}

/// The near-duplicate sets of `n` articles: connected by `dups` (a copy of a
/// copy is a copy), each set in index order, the sets by their first member.
pub fn duplicate_sets(n: usize, dups: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let mut leader: Vec<usize> = (0..n).collect();
    fn root(leader: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while leader[r] != r {
            r = leader[r];
        }
        leader[i] = r;
        r
    }
    for &(i, j) in dups {
        let (a, b) = (root(&mut leader, i), root(&mut leader, j));
        leader[a.max(b)] = a.min(b);
    }
    let mut sets: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let r = root(&mut leader, i);
        sets.entry(r).or_default().push(i);
    }
    sets.into_values().collect()
}

/// Cosines under this are taken as 0: they cannot lift a group's mean to
/// [`STORY`] on their own, and keeping them would keep nearly every pair.
const FLOOR: f64 = 0.04;

/// [`stories`] with another threshold (to measure the choice).
pub fn stories_at(
    prints: &[&Fingerprint],
    dups: &[(usize, usize)],
    threshold: f64,
) -> Vec<Vec<usize>> {
    cluster(prints.len(), similar_pairs(prints), dups, threshold)
}

/// Average-linkage groups of `n` items from their similar pairs `(i, j,
/// similarity)` (pairs not given count as 0), starting from the
/// near-duplicate sets, while the best mean similarity between two groups
/// reaches `threshold`; as [`stories`] returns them.
pub fn cluster(
    n: usize,
    pairs: Vec<(usize, usize, f64)>,
    dups: &[(usize, usize)],
    threshold: f64,
) -> Vec<Vec<usize>> {
    // groups start as the near-duplicate sets; each is named by its least member
    let mut members: BTreeMap<usize, Vec<usize>> = duplicate_sets(n, dups)
        .into_iter()
        .map(|set| (set[0], set))
        .collect();
    let mut leader: Vec<usize> = (0..n).collect();
    for set in members.values() {
        for &i in set {
            leader[i] = set[0];
        }
    }
    // summed cosines between groups, both ways; ordered maps, so sums are
    // added in one order on every run
    let mut between: BTreeMap<usize, BTreeMap<usize, f64>> = BTreeMap::new();
    for (i, j, s) in pairs {
        let (a, b) = (leader[i], leader[j]);
        if a != b {
            *between.entry(a).or_default().entry(b).or_default() += s;
            *between.entry(b).or_default().entry(a).or_default() += s;
        }
    }
    // best merge first; entries go stale when either group changes size
    let mut heap = BinaryHeap::new();
    let push = |heap: &mut BinaryHeap<Candidate>,
                members: &BTreeMap<usize, Vec<usize>>,
                a: usize,
                b: usize,
                sum: f64| {
        let (sa, sb) = (members[&a].len(), members[&b].len());
        let mean = sum / (sa * sb) as f64;
        if mean >= threshold {
            heap.push(Candidate {
                mean,
                pair: Reverse((a.min(b), a.max(b))),
                sizes: (sa + sb, sa * sb),
            });
        }
    };
    for (&a, row) in &between {
        for (&b, &sum) in row.range(a + 1..) {
            push(&mut heap, &members, a, b, sum);
        }
    }
    while let Some(c) = heap.pop() {
        let Reverse((a, b)) = c.pair;
        let (Some(ma), Some(mb)) = (members.get(&a), members.get(&b)) else {
            continue;
        };
        if (ma.len() + mb.len(), ma.len() * mb.len()) != c.sizes {
            continue; // stale: a group changed since
        }
        // b joins a
        let moved = members.remove(&b).expect("live");
        members.get_mut(&a).expect("live").extend(moved);
        let row_b = between.remove(&b).unwrap_or_default();
        let mut row_a = between.remove(&a).unwrap_or_default();
        row_a.remove(&b);
        for (c, s) in row_b {
            if c != a {
                *row_a.entry(c).or_default() += s;
            }
        }
        for (&c, &s) in &row_a {
            let row_c = between.get_mut(&c).expect("symmetric");
            row_c.remove(&b);
            row_c.insert(a, s);
        }
        for (&c, &s) in &row_a {
            push(&mut heap, &members, a, c, s);
        }
        between.insert(a, row_a);
    }
    let mut out: Vec<Vec<usize>> = members
        .into_values()
        .map(|mut m| {
            m.sort_unstable();
            m
        })
        .collect();
    out.sort_by_key(|m| m[0]);
    out
}

/// A possible merge: the highest mean first, ties to the earliest pair.
struct Candidate {
    mean: f64,
    pair: Reverse<(usize, usize)>,
    /// The two groups' total and product of sizes when it was computed.
    sizes: (usize, usize),
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.mean
            .total_cmp(&other.mean)
            .then_with(|| self.pair.cmp(&other.pair))
            .then_with(|| self.sizes.cmp(&other.sizes))
    }
}

/// Pairs (i < j) whose TF-IDF cosine reaches [`FLOOR`], with it: for each
/// article, its dot products with every later one through the terms' postings,
/// summed in a dense row (each article's row on its own thread).
fn similar_pairs(prints: &[&Fingerprint]) -> Vec<(usize, usize, f64)> {
    let vectors = tfidf(prints);
    let mut postings: HashMap<&str, Vec<(usize, f64)>> = HashMap::new();
    for (i, v) in vectors.iter().enumerate() {
        for (&term, &w) in v {
            postings.entry(term).or_default().push((i, w));
        }
    }
    let n = prints.len();
    (0..n)
        .into_par_iter()
        .map_init(
            || vec![0f64; n],
            |row, i| {
                // terms in order, so each sum is added in one order
                let mut touched = Vec::new();
                for (term, &w) in &vectors[i] {
                    let list = &postings[term];
                    let from = list.partition_point(|&(j, _)| j <= i);
                    for &(j, x) in &list[from..] {
                        if row[j] == 0.0 {
                            touched.push(j);
                        }
                        row[j] += w * x;
                    }
                }
                touched.sort_unstable();
                let found: Vec<(usize, usize, f64)> = touched
                    .iter()
                    .filter(|&&j| row[j] >= FLOOR)
                    .map(|&j| (i, j, row[j]))
                    .collect();
                for &j in &touched {
                    row[j] = 0.0;
                }
                found
            },
        )
        .flatten_iter()
        .collect()
}

/// Pairs (i < j) of dense vectors (embeddings) with their cosine, once the
/// set's mean vector is taken away (a model's mean-pooled states all point
/// much the same way), keeping those that reach [`FLOOR`].
pub fn cosine_pairs(vectors: &[Vec<f32>]) -> Vec<(usize, usize, f64)> {
    let n = vectors.len();
    let d = vectors.first().map_or(0, Vec::len);
    let mut mean = vec![0f64; d];
    for v in vectors {
        for (m, &x) in mean.iter_mut().zip(v) {
            *m += x as f64 / n as f64;
        }
    }
    let unit: Vec<Vec<f64>> = vectors
        .iter()
        .map(|v| {
            let c: Vec<f64> = v.iter().zip(&mean).map(|(&x, m)| x as f64 - m).collect();
            let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
            c.iter().map(|x| x / norm).collect()
        })
        .collect();
    (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .map(|(i, j)| (i, j, unit[i].iter().zip(&unit[j]).map(|(a, b)| a * b).sum()))
        .filter(|&(_, _, c)| c >= FLOOR)
        .collect()
}

/// Unit TF-IDF vectors of the articles' terms: `(1 + ln w) * ln(n / df)`.
fn tfidf<'a>(prints: &[&'a Fingerprint]) -> Vec<BTreeMap<&'a str, f64>> {
    let n = prints.len() as f64;
    let mut df: HashMap<&str, usize> = HashMap::new();
    for f in prints {
        for t in f.terms.keys() {
            *df.entry(t).or_default() += 1;
        }
    }
    prints
        .iter()
        .map(|f| {
            let mut v: BTreeMap<&str, f64> = f
                .terms
                .iter()
                .map(|(t, &w)| {
                    (
                        t.as_str(),
                        (1.0 + (w as f64).ln()) * (n / df[t.as_str()] as f64).ln(),
                    )
                })
                .filter(|(_, x)| *x > 0.0)
                .collect();
            let norm = v.values().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 0.0 {
                v.values_mut().for_each(|x| *x /= norm);
            }
            v
        })
        .collect()
}
