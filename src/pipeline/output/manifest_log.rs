//! The manifest (`manifest.jsonl`): one line appended and synced per finished
//! article, read back by later runs, compacted at the end.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::render::{self, ManifestEntry};

#[derive(Debug)]
pub struct ManifestLog {
    path: PathBuf,
    file: File,
}

impl ManifestLog {
    /// Opens (or creates) the manifest at `path` for appending. A last line left
    /// without its newline by a killed run is closed first, so the next line is not
    /// glued to it (the torn line is then ignored when read).
    pub fn open(path: &Path) -> Result<Self> {
        let fail = |e| Error::io(path, e);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(fail)?;
        let len = file.metadata().map_err(fail)?.len();
        if len > 0 {
            let mut last = [0u8];
            file.seek(SeekFrom::Start(len - 1)).map_err(fail)?;
            file.read_exact(&mut last).map_err(fail)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(fail)?;
                file.sync_data().map_err(fail)?;
            }
        } else if !existed {
            // Makes the new name durable; best effort, as in `write_atomic`.
            if let Some(dir) = path.parent().and_then(|d| File::open(d).ok()) {
                let _ = dir.sync_all();
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends `entry` as one line and syncs it to disk.
    pub fn append(&mut self, entry: &ManifestEntry) -> Result<()> {
        // Callers hold the `Outputs` lock, so lines never interleave; a kill during
        // the write leaves at most this last line torn.
        let line = render::render_manifest(std::slice::from_ref(entry));
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// The manifest at `path` as left by earlier runs: the last complete line of each
/// (input, id) wins; torn or unparseable lines are skipped.
pub fn read_previous(path: &Path) -> Result<HashMap<(String, String), ManifestEntry>> {
    Ok(render::read_manifest(path)?
        .into_iter()
        .map(|e| ((e.input.clone(), e.id.clone()), e))
        .collect())
}

/// Replaces the manifest at `path` atomically with one line per entry, in order.
pub fn compact(path: &Path, entries: &[ManifestEntry]) -> Result<()> {
    render::write_atomic(path, render::render_manifest(entries).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testing::entry;
    use crate::render::{Status, MANIFEST_FILE};

    #[test]
    fn appended_lines_last_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let mut log = ManifestLog::open(&path).unwrap();
        log.append(&entry("a", Status::Ok, "k1")).unwrap();
        log.append(&entry("b", Status::Failed, "k1")).unwrap();
        log.append(&entry("a", Status::Ok, "k2")).unwrap();
        drop(log);
        // A second run appends to the same file.
        let mut log = ManifestLog::open(&path).unwrap();
        log.append(&entry("b", Status::Ok, "k3")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");

        let previous = read_previous(&path).unwrap();
        assert_eq!(previous.len(), 2);
        let key = |i: &str| previous[&(i.to_string(), i.to_string())].key.clone();
        assert_eq!(key("a").as_deref(), Some("k2"));
        assert_eq!(key("b").as_deref(), Some("k3"));
        assert_eq!(
            previous[&("b".to_string(), "b".to_string())].status,
            Status::Ok
        );
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_not_glued_to_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let whole = render::render_manifest(&[entry("a", Status::Ok, "k1")]);
        let torn = render::render_manifest(&[entry("b", Status::Ok, "k1")]);
        let torn = &torn[..torn.len() / 2];
        std::fs::write(&path, format!("{whole}{torn}")).unwrap();
        assert_eq!(read_previous(&path).unwrap().len(), 1);

        let mut log = ManifestLog::open(&path).unwrap();
        log.append(&entry("c", Status::Ok, "k1")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.ends_with("}\n"));
        let previous = read_previous(&path).unwrap();
        let mut inputs: Vec<&str> = previous.keys().map(|(i, _)| i.as_str()).collect();
        inputs.sort();
        assert_eq!(inputs, ["a", "c"]);

        // A whole line that lost only its newline is kept, and closed.
        let line = render::render_manifest(&[entry("d", Status::Ok, "k1")]);
        std::fs::write(&path, line.trim_end()).unwrap();
        let mut log = ManifestLog::open(&path).unwrap();
        log.append(&entry("e", Status::Ok, "k1")).unwrap();
        assert_eq!(read_previous(&path).unwrap().len(), 2);
    }

    #[test]
    fn opening_creates_the_manifest_and_leaves_a_whole_one_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        drop(ManifestLog::open(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        let text = render::render_manifest(&[entry("a", Status::Ok, "k1")]);
        std::fs::write(&path, &text).unwrap();
        drop(ManifestLog::open(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

        let err = ManifestLog::open(&dir.path().join("missing/manifest.jsonl")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn compaction_is_one_line_per_input_in_order_as_rendered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let mut log = ManifestLog::open(&path).unwrap();
        for (input, key) in [("b", "k1"), ("a", "k1"), ("b", "k2")] {
            log.append(&entry(input, Status::Ok, key)).unwrap();
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"input\":\"torn")
            .unwrap();
        let entries = vec![entry("a", Status::Ok, "k1"), entry("b", Status::Ok, "k2")];
        compact(&path, &entries).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            render::render_manifest(&entries)
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [MANIFEST_FILE]);
    }
}
