//! `abridge merge DIR`: the one `index.md` and `manifest.jsonl` of a sharded digest,
//! once every shard has left its marker; the same files a single process writes over
//! the same inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::output::{compact, OutputLock};
use super::shard::{Marker, Shard};
use crate::error::{Error, Result};
use crate::render::{self, ManifestEntry, Status, INDEX_FILE, MANIFEST_FILE};

/// What a merge wrote.
#[derive(Debug, Clone)]
pub struct MergeReport {
    pub shards: usize,
    pub ok: usize,
    pub skipped: usize,
    pub failed: usize,
    pub index: PathBuf,
    pub manifest: PathBuf,
}

/// Merges the shards in `dir`; refuses, naming them, if some have not completed.
pub fn merge(dir: &Path) -> Result<MergeReport> {
    if !dir.is_dir() {
        return Err(Error::Input(format!(
            "{} is not a folder: give the --out folder of a sharded digest",
            dir.display()
        )));
    }
    // Exclusive: waits for no one, and refuses while any shard still runs.
    let _lock = OutputLock::acquire(dir)?;
    render::remove_stale_temps(dir)?;
    let (count, markers) = find_shards(dir)?;
    let missing: Vec<Shard> = (0..count)
        .map(|index| Shard { index, count })
        .filter(|shard| !markers.contains(shard))
        .collect();
    if !missing.is_empty() {
        let list =
            |f: &dyn Fn(&Shard) -> String| missing.iter().map(f).collect::<Vec<_>>().join(", ");
        let (shards, them) = match missing.len() {
            1 => ("shard", "it"),
            _ => ("shards", "them"),
        };
        return Err(Error::Input(format!(
            "{}: the sharded digest is not complete: {shards} {} of 0-{} did not finish \
             (no {}); run {them} again (--shard {}, or the same array task), which \
             resumes, then merge",
            dir.display(),
            list(&|s| s.index.to_string()),
            count - 1,
            list(&|s| s.marker_file()),
            list(&|s| s.label()),
        )));
    }

    // By input position; the markers' counts are checked against what they claim,
    // never used to size anything (a marker is a file anyone can edit).
    let mut slots: std::collections::BTreeMap<usize, ManifestEntry> = Default::default();
    let mut first: Option<Marker> = None;
    for index in 0..count {
        let shard = Shard { index, count };
        let marker = read_marker(dir, &shard)?;
        let first = first.get_or_insert_with(|| marker.clone());
        if marker.run != first.run || marker.inputs != first.inputs {
            return Err(Error::Input(format!(
                "{}: shard {} ran over other inputs or with other settings (model, \
                 options, abridge version) than shard {}; run every shard with the same \
                 command, then merge",
                dir.display(),
                shard.label(),
                Shard {
                    index: first.shard,
                    count
                }
                .label()
            )));
        }
        let path = dir.join(shard.manifest_file());
        let entries = render::read_manifest(&path)?;
        if entries.len() != marker.positions.len() {
            return Err(stale(dir, &shard, "its manifest does not match its marker"));
        }
        for (&position, entry) in marker.positions.iter().zip(entries) {
            if position >= marker.inputs {
                return Err(stale(
                    dir,
                    &shard,
                    "its marker claims an input past its count",
                ));
            }
            if slots.insert(position, entry).is_some() {
                return Err(stale(dir, &shard, "two shards claim the same input"));
            }
        }
    }
    let first = first.expect("at least one shard");
    if slots.len() != first.inputs {
        return Err(Error::Input(format!(
            "{}: the shards' markers leave inputs unclaimed; run every shard with the same \
             command, then merge",
            dir.display()
        )));
    }
    let entries: Vec<ManifestEntry> = slots.into_values().collect();
    for entry in &entries {
        let Some(output) = entry.output.as_deref() else {
            continue;
        };
        if !dir.join(output).is_file() {
            return Err(Error::Input(format!(
                "{}: {output}, the article of {}, is missing; run its shard again, then \
                 merge",
                dir.display(),
                entry.input
            )));
        }
    }

    // The run's date is the day its first shard started, as a single run's is.
    let mut info = first.index.clone();
    for index in 0..count {
        let date = read_marker(dir, &Shard { index, count })?.index.date;
        info.date = info.date.min(date);
    }
    compact(&dir.join(MANIFEST_FILE), &entries)?;
    render::write_atomic(
        &dir.join(INDEX_FILE),
        render::render_index(&info, &entries).as_bytes(),
    )?;
    let n = |s: Status| entries.iter().filter(|e| e.status == s).count();
    Ok(MergeReport {
        shards: count,
        ok: n(Status::Ok),
        skipped: n(Status::Skipped),
        failed: n(Status::Failed),
        index: dir.join(INDEX_FILE),
        manifest: dir.join(MANIFEST_FILE),
    })
}

fn stale(dir: &Path, shard: &Shard, what: &str) -> Error {
    Error::Input(format!(
        "{}: shard {}: {what}; run it again with --shard {} (it resumes), then merge",
        dir.display(),
        shard.label(),
        shard.label()
    ))
}

/// The shard count of the run in `dir`, and the shards that completed.
fn find_shards(dir: &Path) -> Result<(usize, BTreeSet<Shard>)> {
    let mut counts = BTreeMap::<usize, BTreeSet<Shard>>::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(shard) = name.to_str().and_then(Shard::of_file) else {
            continue;
        };
        let done = counts.entry(shard.count).or_default();
        if name.to_str().is_some_and(|n| n.ends_with(".done")) {
            done.insert(shard);
        }
    }
    match counts.len() {
        0 => Err(Error::Input(format!(
            "{} holds no shard of a sharded digest (no shard-I-of-N.done or \
             manifest.shard-I-of-N.jsonl); run abridge digest --shard I/N --out {0} first",
            dir.display()
        ))),
        1 => Ok(counts.into_iter().next().expect("one count")),
        _ => Err(Error::Input(format!(
            "{} holds shards of runs split {} ways; remove the files of the runs you do not \
             want (shard-I-of-N.done, manifest.shard-I-of-N.jsonl), then merge",
            dir.display(),
            counts
                .keys()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        ))),
    }
}

fn read_marker(dir: &Path, shard: &Shard) -> Result<Marker> {
    let path = dir.join(shard.marker_file());
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Input(format!(
            "{}: not a shard marker ({e}); run shard {} again, then merge",
            path.display(),
            shard.label()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::super::shard::complete;
    use super::*;
    use crate::pipeline::testing::entry;
    use crate::render::IndexInfo;

    /// A finished shard `index` of `count` in `dir` holding `entries` at `positions`.
    fn shard_done(dir: &Path, index: usize, count: usize, entries: &[(usize, ManifestEntry)]) {
        let shard = Shard::new(index, count).unwrap();
        let manifest: Vec<ManifestEntry> = entries.iter().map(|(_, e)| e.clone()).collect();
        for e in &manifest {
            if let Some(output) = &e.output {
                std::fs::write(dir.join(output), "article").unwrap();
            }
        }
        std::fs::write(
            dir.join(shard.manifest_file()),
            render::render_manifest(&manifest),
        )
        .unwrap();
        let marker = Marker {
            shard: index,
            count,
            inputs: 3,
            positions: entries.iter().map(|(p, _)| *p).collect(),
            run: "run-key".into(),
            index: IndexInfo {
                date: format!("2025-03-1{}", 5 - index),
                model: "tiny".into(),
                languages: vec!["fr".into()],
            },
        };
        complete(dir, &shard, &marker).unwrap();
    }

    fn error(dir: &Path) -> String {
        merge(dir).unwrap_err().to_string()
    }

    #[test]
    fn shards_merge_in_input_order_once_all_are_done() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let (a, b, c) = (
            entry("a", Status::Ok, "k"),
            entry("b", Status::Failed, "k"),
            entry("c", Status::Skipped, "k"),
        );
        assert!(error(dir).contains("holds no shard"), "{}", error(dir));
        shard_done(dir, 0, 2, &[(0, a.clone()), (2, c.clone())]);
        let err = error(dir);
        assert!(
            err.contains("shard 1 of 0-1 did not finish (no shard-1-of-2.done)")
                && err.contains("--shard 1/2"),
            "{err}"
        );
        assert!(!dir.join(INDEX_FILE).exists() && !dir.join(MANIFEST_FILE).exists());

        shard_done(dir, 1, 2, &[(1, b.clone())]);
        // Not while a shard runs.
        let running = OutputLock::acquire_shard(dir, &Shard::new(1, 2).unwrap()).unwrap();
        assert!(matches!(merge(dir), Err(Error::Busy(_))));
        drop(running);
        let report = merge(dir).unwrap();
        assert_eq!((report.ok, report.skipped, report.failed), (1, 1, 1));
        let done = [a, b, c];
        let manifest = std::fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
        assert_eq!(manifest, render::render_manifest(&done));
        let info = IndexInfo {
            // The earlier shard's day.
            date: "2025-03-14".into(),
            model: "tiny".into(),
            languages: vec!["fr".into()],
        };
        let index = std::fs::read_to_string(dir.join(INDEX_FILE)).unwrap();
        assert_eq!(index, render::render_index(&info, &done));

        // An article file gone since: refused, naming it.
        std::fs::remove_file(dir.join("c.md")).unwrap();
        assert!(error(dir).contains("c.md, the article of c, is missing"));
    }

    #[test]
    fn shards_of_other_runs_do_not_merge() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let (a, b) = (entry("a", Status::Ok, "k"), entry("b", Status::Ok, "k"));
        shard_done(dir, 0, 2, &[(0, a.clone()), (1, b.clone())]);
        shard_done(dir, 1, 2, &[(2, entry("c", Status::Ok, "k"))]);
        merge(dir).unwrap();

        // Other settings.
        let one = Shard::new(1, 2).unwrap();
        let path = dir.join(one.marker_file());
        let marker = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, marker.replace("run-key", "other-key")).unwrap();
        assert!(error(dir).contains("other settings"), "{}", error(dir));
        std::fs::write(&path, &marker).unwrap();
        // Counts edited in both markers: refused, not used to size anything.
        let zero_marker = dir.join(Shard::new(0, 2).unwrap().marker_file());
        let markers = [&zero_marker, &path].map(|p| std::fs::read_to_string(p).unwrap());
        for (count, want) in [(u64::MAX, "unclaimed"), (1, "past its count")] {
            for (p, m) in [&zero_marker, &path].iter().zip(&markers) {
                let edited = m.replace("\"inputs\":3", &format!("\"inputs\":{count}"));
                assert_ne!(&edited, m);
                std::fs::write(p, edited).unwrap();
            }
            assert!(error(dir).contains(want), "{}", error(dir));
        }
        for (p, m) in [&zero_marker, &path].iter().zip(&markers) {
            std::fs::write(p, m).unwrap();
        }
        // A manifest that lost a line.
        let zero = Shard::new(0, 2).unwrap();
        std::fs::write(
            dir.join(zero.manifest_file()),
            render::render_manifest(&[a]),
        )
        .unwrap();
        assert!(error(dir).contains("does not match its marker"));
        // Two claims on one input.
        shard_done(dir, 0, 2, &[(0, entry("a", Status::Ok, "k")), (2, b)]);
        assert!(error(dir).contains("two shards claim"), "{}", error(dir));
        // A run split another way in the same folder.
        shard_done(dir, 0, 3, &[]);
        assert!(error(dir).contains("split 2 and 3 ways"), "{}", error(dir));
        for name in ["shard-0-of-3.done", "manifest.shard-0-of-3.jsonl"] {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        // A marker that is not one.
        std::fs::write(&path, "{").unwrap();
        assert!(error(dir).contains("not a shard marker"), "{}", error(dir));
        assert!(error(&dir.join("nothing")).contains("not a folder"));
    }
}
