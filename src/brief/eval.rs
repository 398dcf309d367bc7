//! Grouping against hand labels: the labelled set's files
//! (tests/fixtures/brief) and the measures the note and tests report
//! (precision and recall of pairs, the adjusted Rand index).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::error::{Error, Result};

/// Articles with their labels: duplicate pairs (i < j) and a story per article.
pub struct Labelled {
    pub ids: Vec<String>,
    pub texts: Vec<String>,
    pub duplicates: BTreeSet<(usize, usize)>,
    pub story: Vec<usize>,
}

impl Labelled {
    /// `articles.jsonl` and `labels.json` of `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))
        };
        let bad = |what: String| Error::Input(format!("{}: {what}", dir.display()));
        let (mut ids, mut texts) = (Vec::new(), Vec::new());
        for line in read("articles.jsonl")?
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| bad(format!("articles.jsonl: {e}")))?;
            let field = |k: &str| v[k].as_str().map(str::to_string);
            match (field("id"), field("text")) {
                (Some(id), Some(text)) => {
                    ids.push(id);
                    texts.push(text);
                }
                _ => return Err(bad("an article without id or text".into())),
            }
        }
        let at: BTreeMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        let labels: serde_json::Value = serde_json::from_str(&read("labels.json")?)
            .map_err(|e| bad(format!("labels.json: {e}")))?;
        let index = |v: &serde_json::Value| -> Result<usize> {
            let id = v.as_str().unwrap_or_default();
            at.get(id)
                .copied()
                .ok_or_else(|| bad(format!("labels name an unknown article {id:?}")))
        };
        let mut duplicates = BTreeSet::new();
        for pair in labels["duplicates"].as_array().into_iter().flatten() {
            let (a, b) = (index(&pair[0])?, index(&pair[1])?);
            duplicates.insert((a.min(b), a.max(b)));
        }
        let mut story = vec![usize::MAX; ids.len()];
        for (s, group) in labels["stories"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            for id in group["ids"].as_array().into_iter().flatten() {
                story[index(id)?] = s;
            }
        }
        if let Some(i) = story.iter().position(|&s| s == usize::MAX) {
            return Err(bad(format!("article {} has no story label", ids[i])));
        }
        Ok(Self {
            ids,
            texts,
            duplicates,
            story,
        })
    }

    /// Pairwise precision, recall and adjusted Rand index of `groups`
    /// against the story labels.
    pub fn score(&self, groups: &[Vec<usize>]) -> (f64, f64, f64) {
        let mut got = vec![0; self.ids.len()];
        for (g, members) in groups.iter().enumerate() {
            for &i in members {
                got[i] = g;
            }
        }
        let (p, r) = precision_recall(&same_label(&got), &same_label(&self.story));
        (p, r, adjusted_rand(&got, &self.story))
    }
}

/// Pairs (i < j) given the same label.
pub fn same_label(labels: &[usize]) -> BTreeSet<(usize, usize)> {
    let n = labels.len();
    (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .filter(|&(i, j)| labels[i] == labels[j])
        .collect()
}

pub fn precision_recall(
    found: &BTreeSet<(usize, usize)>,
    truth: &BTreeSet<(usize, usize)>,
) -> (f64, f64) {
    let hit = found.intersection(truth).count() as f64;
    (
        hit / found.len().max(1) as f64,
        hit / truth.len().max(1) as f64,
    )
}

/// Adjusted Rand index of two labelings (Hubert & Arabie 1985).
pub fn adjusted_rand(a: &[usize], b: &[usize]) -> f64 {
    let c2 = |n: usize| (n * n.saturating_sub(1)) as f64 / 2.0;
    let mut table: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let (mut ra, mut rb): (BTreeMap<usize, usize>, BTreeMap<usize, usize>) = Default::default();
    for (&x, &y) in a.iter().zip(b) {
        *table.entry((x, y)).or_default() += 1;
        *ra.entry(x).or_default() += 1;
        *rb.entry(y).or_default() += 1;
    }
    let index: f64 = table.values().map(|&n| c2(n)).sum();
    let sa: f64 = ra.values().map(|&n| c2(n)).sum();
    let sb: f64 = rb.values().map(|&n| c2(n)).sum();
    let expected = sa * sb / c2(a.len());
    (index - expected) / ((sa + sb) / 2.0 - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjusted_rand_is_one_for_the_same_partition_and_near_zero_for_chance() {
        assert!((adjusted_rand(&[0, 0, 1, 1, 2], &[5, 5, 7, 7, 9]) - 1.0).abs() < 1e-12);
        let ari = adjusted_rand(&[0, 1, 0, 1, 0, 1, 0, 1], &[0, 0, 1, 1, 0, 0, 1, 1]);
        assert!(ari.abs() < 0.2, "{ari}");
    }
}
