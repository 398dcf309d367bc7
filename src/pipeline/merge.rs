//! `abridge merge DIR`: the one `index.md` and `manifest.jsonl` of a sharded digest,
//! once every shard has left its marker; the same files a single process writes over
//! the same inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::outputs::{compact, OutputLock};
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

    let mut slots: Vec<Option<ManifestEntry>> = Vec::new();
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
        slots.resize(marker.inputs, None);
        let path = dir.join(shard.manifest_file());
        let entries = render::read_manifest(&path)?;
        if entries.len() != marker.positions.len() {
            return Err(stale(dir, &shard, "its manifest does not match its marker"));
        }
        for (position, entry) in marker.positions.iter().zip(entries) {
            match slots.get_mut(*position) {
                Some(slot @ None) => *slot = Some(entry),
                _ => return Err(stale(dir, &shard, "two shards claim the same input")),
            }
        }
    }
    let first = first.expect("at least one shard");
    let entries: Vec<ManifestEntry> =
        slots.into_iter().collect::<Option<_>>().ok_or_else(|| {
            Error::Input(format!(
                "{}: the shards' markers leave inputs unclaimed; run every shard with the same \
             command, then merge",
                dir.display()
            ))
        })?;
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
