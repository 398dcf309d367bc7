//! One digest split over N processes sharing an output folder (a Slurm job array,
//! a Kubernetes Indexed Job): which inputs a shard owns, the names its files get, and
//! the marker it leaves when done, which `abridge merge` reads.
//!
//! Every shard reads every input, but generates only for those it owns. Article file
//! names are allocated over all inputs in input order, as one process would on a
//! fresh folder, so no two shards write the same file and the merged run is the
//! single-machine one.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::article::{Article, Rejected};
use crate::error::{Error, Result};
use crate::render::{self, IndexInfo, Slugs};

/// Shard `index` of `count` (0-based, as Slurm's `--array=0-N` and Kubernetes'
/// `JOB_COMPLETION_INDEX` count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// Enough for any cluster; bounds the marker files `merge` looks for.
const MAX_SHARDS: usize = 100_000;

impl Shard {
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || count > MAX_SHARDS {
            return Err(Error::Input(format!(
                "the shard count must be between 1 and {MAX_SHARDS}, not {count}"
            )));
        }
        if index >= count {
            return Err(Error::Input(format!(
                "shard {index} does not exist in a run of {count} shards: shards are \
                 numbered 0 to {}",
                count - 1
            )));
        }
        Ok(Self { index, count })
    }

    /// `I/N`, as given to `--shard`.
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = || {
            Error::Input(format!(
                "--shard {spec:?}: expected I/N, shard I (from 0) of N, e.g. --shard 0/4"
            ))
        };
        let (i, n) = spec.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Self::new(i, n)
    }

    /// The shard this process is: `--shard I/N` if given, else from the scheduler's
    /// environment (`var` reads it): Slurm's `SLURM_ARRAY_TASK_ID` with `--shard-count`
    /// or `SLURM_ARRAY_TASK_COUNT`, or Kubernetes' `JOB_COMPLETION_INDEX` with
    /// `--shard-count`. `None`: an ordinary, unsharded digest.
    pub fn resolve(
        spec: Option<&str>,
        count: Option<usize>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>> {
        if let Some(spec) = spec {
            let shard = Self::parse(spec)?;
            if count.is_some_and(|n| n != shard.count) {
                return Err(Error::Input(format!(
                    "--shard {spec} and --shard-count {} disagree on the shard count; give \
                     one of them",
                    count.unwrap_or_default()
                )));
            }
            return Ok(Some(shard));
        }
        let number = |name: &str, value: String| -> Result<usize> {
            value
                .trim()
                .parse()
                .map_err(|_| Error::Input(format!("{name}={value:?} is not a shard number")))
        };
        if let Some(id) = var("SLURM_ARRAY_TASK_ID") {
            let index = number("SLURM_ARRAY_TASK_ID", id)?;
            let count = match (count, var("SLURM_ARRAY_TASK_COUNT")) {
                (Some(n), _) => n,
                (None, Some(n)) => number("SLURM_ARRAY_TASK_COUNT", n)?,
                (None, None) => {
                    return Err(Error::Input(
                        "SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT; give \
                         --shard-count N"
                            .into(),
                    ))
                }
            };
            if let Some(step) = var("SLURM_ARRAY_TASK_STEP").filter(|s| s.trim() != "1") {
                return Err(Error::Input(format!(
                    "SLURM_ARRAY_TASK_STEP={step}: shards need consecutive task ids; submit \
                     with --array=0-{} (or give --shard I/N)",
                    count.saturating_sub(1)
                )));
            }
            return Self::new(index, count).map(Some).map_err(|e| {
                Error::Input(format!(
                    "SLURM_ARRAY_TASK_ID={index}: {e}; submit with --array=0-{}",
                    count.saturating_sub(1)
                ))
            });
        }
        if let Some(index) = var("JOB_COMPLETION_INDEX") {
            let index = number("JOB_COMPLETION_INDEX", index)?;
            let count = count.ok_or_else(|| {
                Error::Input(
                    "JOB_COMPLETION_INDEX is set: give --shard-count N, the Job's completions"
                        .into(),
                )
            })?;
            return Self::new(index, count).map(Some);
        }
        match count {
            Some(_) => Err(Error::Input(
                "--shard-count needs SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX in the \
                 environment; outside a job array give --shard I/N"
                    .into(),
            )),
            None => Ok(None),
        }
    }

    /// Whether this shard owns the article with `id`. Depends on the id and the count
    /// only, so adding inputs moves none of the others; a jump consistent hash (Lamping
    /// and Veach) so that a count raised to N + 1 moves only 1/(N + 1) of them.
    pub fn owns(&self, id: &str) -> bool {
        assign(id, self.count) == self.index
    }

    /// `shard-I-of-N`, the stem of this shard's files.
    pub fn name(&self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }

    /// The shard's own manifest, appended and compacted like `manifest.jsonl`.
    pub fn manifest_file(&self) -> String {
        format!("manifest.{}.jsonl", self.name())
    }

    /// Written when the shard has done all its inputs.
    pub fn marker_file(&self) -> String {
        format!("{}.done", self.name())
    }

    /// Held while the shard runs: two runs of one shard are refused.
    pub fn lock_file(&self) -> String {
        format!(".abridge.{}.lock", self.name())
    }

    /// `I/N`, for messages.
    pub fn label(&self) -> String {
        format!("{}/{}", self.index, self.count)
    }

    /// The shard a marker or manifest file name belongs to.
    pub fn of_file(name: &str) -> Option<Self> {
        let stem = name
            .strip_suffix(".done")
            .or_else(|| name.strip_prefix("manifest.")?.strip_suffix(".jsonl"))?;
        let (i, n) = stem.strip_prefix("shard-")?.split_once("-of-")?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(i) || !digits(n) {
            return None;
        }
        Self::new(i.parse().ok()?, n.parse().ok()?).ok()
    }
}

/// An input as read: an article, or why it cannot be one.
pub(super) type Item = std::result::Result<Article, Rejected>;

/// The shard of `count` that `id` goes to.
fn assign(id: &str, count: usize) -> usize {
    // sha256 rather than `DefaultHasher`, whose output may change between releases.
    let digest = Sha256::digest(id.as_bytes());
    let mut key = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
    let (mut b, mut j) = (-1i64, 0i64);
    while j < count as i64 {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as usize
}

/// Where a shard's inputs stand among all of them, built one input at a time (the
/// digest streams its inputs) by [`Plan::admit`].
pub(super) struct Plan {
    shard: Shard,
    /// Names allocated over all inputs, whichever shard owns them.
    slugs: Slugs,
    /// Each of the shard's items' article file name, as a single run on a fresh
    /// folder names it.
    pub(super) names: Vec<Option<String>>,
    /// Each of the shard's items' position among all inputs.
    pub(super) positions: Vec<usize>,
    /// How many inputs there are in all (so far).
    pub(super) total: usize,
}

impl Plan {
    pub(super) fn new(shard: Shard) -> Self {
        Self {
            shard,
            slugs: Slugs::default(),
            names: Vec::new(),
            positions: Vec::new(),
            total: 0,
        }
    }

    /// Keeps `stem` from being handed out (a file in the folder not the digest's).
    pub(super) fn reserve(&mut self, stem: &str) {
        self.slugs.reserve(stem);
    }

    /// Takes the next input, in input order: whether the shard owns it (then it is
    /// the shard's item `self.names.len() - 1`).
    pub(super) fn admit(&mut self, item: &Item) -> bool {
        let position = self.total;
        self.total += 1;
        // Every article takes its name, whichever shard owns it.
        let name = item
            .as_ref()
            .ok()
            .map(|a| format!("{}.md", self.slugs.allocate(&a.title, &a.id)));
        let mine = self.shard.owns(id_of(item));
        if mine {
            self.positions.push(position);
            self.names.push(name);
        }
        mine
    }

    /// The file name planned for the shard's item `i`.
    pub(super) fn name(&self, i: usize) -> Option<String> {
        self.names.get(i).cloned().flatten()
    }

    /// Whether the shard writes an article file named `name`.
    pub(super) fn writes(&self, name: &str) -> bool {
        self.names.iter().flatten().any(|n| n == name)
    }
}

fn id_of(item: &Item) -> &str {
    match item {
        Ok(a) => &a.id,
        Err(Rejected { id, .. }) => id,
    }
}

/// What a finished shard leaves for `merge`: `shard-I-of-N.done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub shard: usize,
    pub count: usize,
    /// Inputs of the whole run.
    pub inputs: usize,
    /// Positions among them of this shard's inputs, in the order of its manifest.
    pub positions: Vec<usize>,
    /// The run's resume key: shards run with other settings do not merge.
    pub run: String,
    pub index: IndexInfo,
}

/// Removes the marker of an earlier run of `shard`: until this run is done, the
/// shard is not complete.
pub(super) fn begin(dir: &Path, shard: &Shard) -> Result<()> {
    let path = dir.join(shard.marker_file());
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path, e)),
        _ => Ok(()),
    }
}

/// Writes the marker once the shard's manifest is compacted.
pub(super) fn complete(dir: &Path, shard: &Shard, marker: &Marker) -> Result<()> {
    let mut json = serde_json::to_string(marker).expect("a marker serializes");
    json.push('\n');
    render::write_atomic(&dir.join(shard.marker_file()), json.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shards_come_from_the_flag_or_the_scheduler() {
        let none = env(&[]);
        assert_eq!(Shard::resolve(None, None, &none).unwrap(), None);
        let s = Shard::resolve(Some("1/3"), None, &none).unwrap().unwrap();
        assert_eq!((s.index, s.count), (1, 3));
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert_eq!(
            Shard::resolve(None, None, &slurm).unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        // A resubmitted task is an array of one: the count comes from the flag.
        let again = env(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "1"),
        ]);
        assert_eq!(
            Shard::resolve(None, Some(3), &again).unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "4")]);
        assert_eq!(
            Shard::resolve(None, Some(5), &k8s).unwrap(),
            Some(Shard { index: 4, count: 5 })
        );
        // The flag wins over the environment.
        assert_eq!(
            Shard::resolve(Some("0/2"), None, &slurm).unwrap(),
            Some(Shard { index: 0, count: 2 })
        );
    }

    #[test]
    fn bad_shards_are_refused_naming_what_to_give() {
        let none = env(&[]);
        let err = |spec, count, vars: &[(&str, &str)]| {
            Shard::resolve(spec, count, env(vars))
                .unwrap_err()
                .to_string()
        };
        for spec in ["3", "a/b", "1/", "-1/3", "1/3/4"] {
            assert!(
                err(Some(spec), None, &[]).contains("expected I/N"),
                "{spec}"
            );
        }
        assert!(err(Some("3/3"), None, &[]).contains("numbered 0 to 2"));
        assert!(err(Some("0/0"), None, &[]).contains("between 1 and"));
        assert!(err(Some("0/3"), Some(4), &[]).contains("disagree"));
        assert!(err(None, Some(3), &[]).contains("--shard I/N"));
        assert!(err(None, None, &[("JOB_COMPLETION_INDEX", "0")]).contains("--shard-count"));
        assert!(err(None, None, &[("SLURM_ARRAY_TASK_ID", "0")]).contains("--shard-count"));
        let e = err(
            None,
            None,
            &[
                ("SLURM_ARRAY_TASK_ID", "3"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ],
        );
        assert!(e.contains("--array=0-2"), "{e}");
        let e = err(
            None,
            Some(3),
            &[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_STEP", "2")],
        );
        assert!(e.contains("consecutive"), "{e}");
        assert!(err(None, Some(2), &[("JOB_COMPLETION_INDEX", "x")]).contains("not a shard"));
        assert!(Shard::resolve(None, None, none).is_ok());
    }

    #[test]
    fn every_id_goes_to_exactly_one_shard_and_stays_when_shards_are_added() {
        let ids: Vec<String> = (0..2000).map(|i| format!("article-{i}")).collect();
        let three: Vec<usize> = ids.iter().map(|id| assign(id, 3)).collect();
        for (id, &s) in ids.iter().zip(&three) {
            let owners = (0..3)
                .filter(|&i| Shard { index: i, count: 3 }.owns(id))
                .count();
            assert_eq!((owners, s < 3), (1, true), "{id}");
        }
        // Roughly even.
        for i in 0..3 {
            let n = three.iter().filter(|&&s| s == i).count();
            assert!((550..780).contains(&n), "shard {i} has {n} of 2000");
        }
        // A fourth shard takes about a quarter, from the others; nothing else moves.
        let four: Vec<usize> = ids.iter().map(|id| assign(id, 4)).collect();
        let moved = three.iter().zip(&four).filter(|(a, b)| a != b).count();
        assert!(three.iter().zip(&four).all(|(&a, &b)| a == b || b == 3));
        assert!((400..600).contains(&moved), "{moved} moved");
        // Pinned: the assignment must not change between builds (shards of one run
        // may run different binaries of the same version).
        let pinned: Vec<usize> = ids[..8].iter().map(|id| assign(id, 3)).collect();
        assert_eq!(pinned, PINNED);
    }

    const PINNED: [usize; 8] = [2, 2, 1, 1, 0, 2, 2, 0];

    #[test]
    fn file_names_name_their_shard() {
        let s = Shard::new(1, 3).unwrap();
        for name in [s.manifest_file(), s.marker_file()] {
            assert_eq!(Shard::of_file(&name), Some(s), "{name}");
        }
        for name in [
            "manifest.jsonl",
            "index.md",
            "shard-3-of-3.done",
            "shard--of-3.done",
            "shard-1-of-3.md",
            "manifest.shard-1-of-x.jsonl",
        ] {
            assert_eq!(Shard::of_file(name), None, "{name}");
        }
    }
}
