//! The digest's output folder as a run fills it: article files, `manifest.jsonl` and
//! `index.md`.
//!
//! Writes stay linear in the number of articles: each finished article is written
//! atomically, then one manifest line is appended and synced. The manifest is
//! compacted (one line per input, in input order) and `index.md` is written once, at
//! the end or when the run is interrupted. A run killed in between leaves a manifest
//! that may hold several lines for one input and a torn last line: the last complete
//! line of each input wins, torn lines are ignored.

mod lock;
mod manifest_log;
mod resume;

pub use lock::{OutputLock, LOCK_FILE};
pub use manifest_log::{compact, read_previous, ManifestLog};
pub(super) use resume::{earlier, foreign_stems, reusable};

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::render::{self, ArticleDoc, IndexInfo, ManifestEntry, INDEX_FILE};

/// What one article came to, ready to publish.
pub(crate) enum Done {
    Written(Box<ArticleDoc>, ManifestEntry),
    Failed(ManifestEntry),
}

/// The output folder's state, updated under a lock as articles finish.
pub(crate) struct Outputs {
    dir: PathBuf,
    /// One slot per input, in input order; `None` until it is done.
    entries: Vec<Option<ManifestEntry>>,
    /// Per slot, what an earlier run recorded for an input this run redoes: listed
    /// in the manifest and index until it is redone, so a run stopped after a
    /// change of settings drops nothing from them.
    earlier: Vec<Option<ManifestEntry>>,
    /// `None` for a shard: its index is written by `merge`.
    info: Option<IndexInfo>,
    manifest: PathBuf,
    log: ManifestLog,
}

impl Outputs {
    /// Opens the manifest (`manifest.jsonl`, or a shard's) for appending; `entries`
    /// are the slots known at the start (unchanged articles, inputs refused when
    /// read), `earlier` what an earlier run recorded for some of the others. The
    /// index is written at the end if `info` is given.
    pub(crate) fn open(
        dir: &Path,
        manifest: &str,
        entries: Vec<Option<ManifestEntry>>,
        earlier: Vec<(usize, ManifestEntry)>,
        info: Option<IndexInfo>,
    ) -> Result<Self> {
        let manifest = dir.join(manifest);
        let mut by_slot = vec![None; entries.len()];
        for (slot, entry) in earlier {
            by_slot[slot] = Some(entry);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            entries,
            earlier: by_slot,
            info,
            log: ManifestLog::open(&manifest)?,
            manifest,
        })
    }

    /// Writes a finished article, then appends the manifest line that records it: a
    /// kill at any point leaves every article file whole (at worst the manifest's
    /// last line torn), and the manifest never names an article file that is not
    /// complete.
    pub(crate) fn publish(&mut self, slot: usize, done: Done) -> Result<ManifestEntry> {
        let entry = match done {
            Done::Written(doc, entry) => {
                let name = entry.output.as_deref().unwrap_or_default();
                render::write_atomic(
                    &self.dir.join(name),
                    render::render_article(&doc).as_bytes(),
                )?;
                entry
            }
            Done::Failed(entry) => entry,
        };
        self.log.append(&entry)?;
        self.entries[slot] = Some(entry.clone());
        Ok(entry)
    }

    /// Compacts the manifest and writes the index from what is done (and, for
    /// inputs a stop left undone, what an earlier run recorded); returns what this
    /// run did, in input order.
    pub(crate) fn finish(self) -> Result<Vec<ManifestEntry>> {
        drop(self.log);
        // An earlier output whose name this run gave another article is gone.
        let written: std::collections::HashSet<&str> = (self.entries.iter().flatten())
            .filter_map(|e| e.output.as_deref())
            .collect();
        let earlier = |e: &ManifestEntry| e.output.as_deref().is_none_or(|o| !written.contains(o));
        let listed: Vec<ManifestEntry> = (self.entries.iter().cloned())
            .zip(self.earlier)
            .filter_map(|(now, before)| now.or(before.filter(earlier)))
            .collect();
        compact(&self.manifest, &listed)?;
        if let Some(info) = &self.info {
            render::write_atomic(
                &self.dir.join(INDEX_FILE),
                render::render_index(info, &listed).as_bytes(),
            )?;
        }
        Ok(self.entries.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testing::entry;
    use crate::render::{Status, MANIFEST_FILE};

    fn index_info() -> IndexInfo {
        IndexInfo {
            date: "2025-03-14".into(),
            model: "tiny".into(),
            languages: vec![],
        }
    }

    #[test]
    fn index_and_compacted_manifest_are_written_at_the_end_only() {
        let dir = tempfile::tempdir().unwrap();
        let info = index_info();
        let slots = vec![None, Some(entry("b", Status::Skipped, "k1")), None];
        let mut outputs =
            Outputs::open(dir.path(), MANIFEST_FILE, slots, vec![], Some(info.clone())).unwrap();
        let c = entry("c", Status::Failed, "k1");
        let a = entry("a", Status::Failed, "k1");
        assert_eq!(outputs.publish(2, Done::Failed(c.clone())).unwrap(), c);
        outputs.publish(0, Done::Failed(a.clone())).unwrap();
        assert!(!dir.path().join(INDEX_FILE).exists());
        // Appended in the order finished.
        let appended = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        assert_eq!(appended, render::render_manifest(&[c.clone(), a.clone()]));

        let done = outputs.finish().unwrap();
        let b = entry("b", Status::Skipped, "k1");
        assert_eq!(done, [a, b, c]);
        assert_written(dir.path(), &info, &done);
    }

    /// The compacted manifest and the index list `entries`.
    fn assert_written(dir: &Path, info: &IndexInfo, entries: &[ManifestEntry]) {
        let manifest = std::fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
        assert_eq!(manifest, render::render_manifest(entries));
        let index = std::fs::read_to_string(dir.join(INDEX_FILE)).unwrap();
        assert_eq!(index, render::render_index(info, entries));
    }

    #[test]
    fn a_stopped_run_keeps_what_an_earlier_one_recorded_for_inputs_it_did_not_redo() {
        let dir = tempfile::tempdir().unwrap();
        let info = index_info();
        // a, c and d were done with key k0 and are redone with k1; b is unchanged.
        let (old_a, old_c) = (entry("a", Status::Ok, "k0"), entry("c", Status::Ok, "k0"));
        let b = entry("b", Status::Skipped, "k1");
        let slots = vec![None, Some(b.clone()), None, None, None];
        let old_d = entry("d", Status::Ok, "k0");
        let earlier = vec![(0, old_a), (2, old_c.clone()), (3, old_d)];
        let mut outputs = Outputs::open(
            dir.path(),
            MANIFEST_FILE,
            slots,
            earlier,
            Some(info.clone()),
        )
        .unwrap();
        let a = entry("a", Status::Failed, "k1");
        outputs.publish(0, Done::Failed(a.clone())).unwrap();
        // d's file now holds e's article: d's earlier entry no longer has one.
        let e = ManifestEntry {
            output: Some("d.md".into()),
            ..entry("e", Status::Ok, "k1")
        };
        outputs.publish(4, Done::Failed(e.clone())).unwrap();

        // Stopped here: c and d were not redone.
        let done = outputs.finish().unwrap();
        assert_eq!(done, [a.clone(), b.clone(), e.clone()], "what this run did");
        assert_written(dir.path(), &info, &[a, b, old_c, e]);
    }
}
