//! Whole-file writes that never leave a half-written file under the target name: a run
//! killed mid-write leaves the old file (or none) plus a temp file that the next run
//! removes.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Marks temp files as ours: `.<name>.abridge-tmp-<pid>-<n>`.
const TEMP_MARK: &str = ".abridge-tmp-";
/// Bytes of the target's name kept in a temp name, to stay under file-name limits.
const TEMP_NAME_MAX: usize = 100;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn temp_path(dir: &Path, name: &str) -> PathBuf {
    let mut end = name.len().min(TEMP_NAME_MAX);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    // pid + counter: unique across processes and across threads of this one.
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(
        ".{}{TEMP_MARK}{}-{n}",
        &name[..end],
        std::process::id()
    ))
}

fn is_temp_name(name: &str) -> bool {
    let Some((stem, suffix)) = name.rsplit_once(TEMP_MARK) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    stem.starts_with('.')
        && suffix
            .split_once('-')
            .is_some_and(|(pid, n)| digits(pid) && digits(n))
}

/// The (possibly shortened) name of the file a temp name stands for.
fn temp_target(temp: &str) -> &str {
    let stem = temp.rsplit_once(TEMP_MARK).map_or(temp, |(stem, _)| stem);
    stem.strip_prefix('.').unwrap_or(stem)
}

/// Replaces `path` with `contents` atomically: readers see the old file or the new one,
/// never a mix, even if the process dies. Creates the parent directory if needed.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let name = path.file_name().ok_or_else(|| {
        Error::io(
            path,
            std::io::Error::new(ErrorKind::InvalidInput, "not a file path"),
        )
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let temp = temp_path(dir, &name.to_string_lossy());
    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(contents)?;
        // Data on disk before the rename makes it visible; otherwise a crash can leave
        // an empty file under the target name.
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&temp);
        return Err(Error::io(path, e));
    }
    // Makes the rename itself durable. Best effort: directories cannot be opened (or
    // synced) everywhere, and the data is already safe.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Deletes temp files left in `dir` by [`write_atomic`] in a killed run; returns how
/// many. Call before writing, as it would also delete the temps of a concurrent run.
pub fn remove_stale_temps(dir: &Path) -> Result<usize> {
    remove_stale_temps_of(dir, |_| true)
}

/// Deletes the temp files [`remove_stale_temps`] would, but only those whose target's
/// name `ours` accepts: a shard cleans up after itself while others write.
pub fn remove_stale_temps_of(dir: &Path, ours: impl Fn(&str) -> bool) -> Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let is_temp = entry
            .file_name()
            .to_str()
            .is_some_and(|name| is_temp_name(name) && ours(temp_target(name)));
        if is_temp && entry.file_type().is_ok_and(|t| t.is_file()) {
            let path = entry.path();
            match fs::remove_file(&path) {
                Ok(()) => removed += 1,
                // Gone already: someone else cleaned up.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_and_replaces_without_leaving_temps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.md");
        write_atomic(&path, b"first version, longer").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(names(dir.path()), ["index.md"]);
    }

    #[test]
    fn creates_a_fresh_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/nested/a.md");
        write_atomic(&path, b"x").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"x");
        assert_eq!(names(&dir.path().join("out/nested")), ["a.md"]);
    }

    #[test]
    fn failures_name_the_path_and_clean_up() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a non-empty directory: the rename fails after the temp exists.
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("f"), b"").unwrap();
        let err = write_atomic(&target, b"x").unwrap_err();
        assert!(err.to_string().contains("taken"), "{err}");
        assert_eq!(names(dir.path()), ["taken"]);
        assert!(write_atomic(Path::new("/"), b"x").is_err());
    }

    #[test]
    fn stale_temps_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let stale = [
            ".index.md.abridge-tmp-123-0",
            ".rates-rise.md.abridge-tmp-4567-89",
        ];
        let kept = [
            "index.md",
            ".abridge-tmp-1-2",
            ".notes.abridge-tmp-todo",
            ".x.abridge-tmp-12-",
            "y.abridge-tmp-1-2",
        ];
        for name in stale.iter().chain(&kept) {
            fs::write(dir.path().join(name), b"partial").unwrap();
        }
        // Directories are never ours.
        fs::create_dir(dir.path().join(".d.abridge-tmp-1-1")).unwrap();
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 2);
        let mut expected: Vec<&str> = kept.to_vec();
        expected.push(".d.abridge-tmp-1-1");
        expected.sort();
        assert_eq!(names(dir.path()), expected);
        assert_eq!(remove_stale_temps(&dir.path().join("missing")).unwrap(), 0);
    }

    #[test]
    fn only_the_chosen_targets_temps_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mine = ".a.md.abridge-tmp-1-0";
        let theirs = ".b.md.abridge-tmp-2-0";
        for name in [mine, theirs] {
            fs::write(dir.path().join(name), b"partial").unwrap();
        }
        assert_eq!(temp_target(mine), "a.md");
        assert_eq!(
            remove_stale_temps_of(dir.path(), |t| t == "a.md").unwrap(),
            1
        );
        assert_eq!(names(dir.path()), [theirs]);
    }

    #[test]
    fn temp_names_are_recognized_and_bounded() {
        let dir = Path::new("out");
        let temp = temp_path(dir, "a.md");
        let name = temp.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(".a.md.abridge-tmp-"));
        assert!(is_temp_name(name));
        assert_ne!(temp, temp_path(dir, "a.md"));
        let long = temp_path(dir, &"é".repeat(200));
        let long = long.file_name().unwrap().to_str().unwrap();
        assert!(long.len() < 150 && is_temp_name(long));
    }
}
