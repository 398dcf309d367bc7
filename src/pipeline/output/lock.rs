//! The output folder's lock: one run per folder, or one run per shard of it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::pipeline::shard::Shard;

/// The lock file inside the output folder. It stays there after a run: the lock is
/// the advisory lock on it, which dies with the process that held it.
pub const LOCK_FILE: &str = ".abridge.lock";

/// An exclusive advisory lock on the output folder, held while it lives. The
/// operating system drops it when the process ends, even by `kill -9`, so a lock file
/// left behind never blocks a later run.
///
/// Shards of one run share the folder: each holds the folder's lock shared (so a
/// single-machine digest or a merge, which hold it exclusively, wait for all of
/// them) and its own shard's lock exclusively (so one shard never runs twice).
#[derive(Debug)]
pub struct OutputLock {
    _files: Vec<File>,
}

/// How a lock file is held.
#[derive(Clone, Copy, PartialEq)]
enum Hold {
    Shared,
    Exclusive,
}

impl OutputLock {
    /// Takes the lock on `dir` (which must exist), or refuses at once if another run
    /// holds it. Writes this process's id into the lock file, for that refusal.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let file = lock_file(dir, LOCK_FILE, Hold::Exclusive, None)?;
        Ok(Self { _files: vec![file] })
    }

    /// Takes the locks of `shard` in `dir`: the folder's shared, the shard's own
    /// exclusive; refuses at once if a run that excludes this one holds either.
    pub fn acquire_shard(dir: &Path, shard: &Shard) -> Result<Self> {
        let folder = lock_file(dir, LOCK_FILE, Hold::Shared, None)?;
        let own = lock_file(dir, &shard.lock_file(), Hold::Exclusive, Some(shard))?;
        Ok(Self {
            _files: vec![folder, own],
        })
    }

    /// Fails as [`OutputLock::acquire`] (or, for a shard,
    /// [`OutputLock::acquire_shard`]) would if another run holds `dir`, without
    /// creating anything: lets a caller refuse before slow setup (loading a model).
    pub fn check(dir: &Path, shard: Option<&Shard>) -> Result<()> {
        let Some(shard) = shard else {
            return check_file(dir, LOCK_FILE, Hold::Exclusive, None);
        };
        check_file(dir, LOCK_FILE, Hold::Shared, None)?;
        check_file(dir, &shard.lock_file(), Hold::Exclusive, Some(shard))
    }
}

fn try_hold(file: &File, hold: Hold) -> std::result::Result<(), TryLockError> {
    match hold {
        Hold::Shared => file.try_lock_shared(),
        Hold::Exclusive => file.try_lock(),
    }
}

fn lock_file(dir: &Path, name: &str, hold: Hold, shard: Option<&Shard>) -> Result<File> {
    let path = dir.join(name);
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    // A link planted in its place is refused: the lock file is emptied below.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let mut file = options.open(&path).map_err(|e| Error::io(&path, e))?;
    match try_hold(&file, hold) {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(busy(dir, shard, &mut file)),
        Err(TryLockError::Error(e)) if e.kind() == ErrorKind::Unsupported => {
            tracing::warn!(
                "{}: this file system cannot lock files; nothing stops two runs from \
                 writing into {} at once",
                path.display(),
                dir.display()
            );
        }
        Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
    }
    // Best effort: the id only makes another run's message more helpful. Holders of
    // a shared lock are many: none of them writes its id.
    if hold == Hold::Exclusive {
        let _ = file
            .set_len(0)
            .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
    }
    Ok(file)
}

fn check_file(dir: &Path, name: &str, hold: Hold, shard: Option<&Shard>) -> Result<()> {
    let path = dir.join(name);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    match try_hold(&file, hold) {
        Err(TryLockError::WouldBlock) => Err(busy(dir, shard, &mut file)),
        // Free (released when `file` closes), or not lockable: `acquire` decides.
        _ => Ok(()),
    }
}

fn busy(dir: &Path, shard: Option<&Shard>, lock: &mut File) -> Error {
    let mut holder = String::new();
    let _ = lock.read_to_string(&mut holder);
    let who = match holder.trim() {
        pid if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => {
            format!("another abridge run (process {pid})")
        }
        _ => "another abridge run".to_string(),
    };
    let what = match shard {
        Some(shard) => format!("shard {} of {}", shard.label(), dir.display()),
        None => dir.display().to_string(),
    };
    Error::Busy(format!(
        "{what} is in use by {who}; wait for that run to finish, or give this one another \
         --out folder"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_link_in_place_of_the_lock_is_refused_and_its_target_kept() {
        let dir = tempfile::tempdir().unwrap();
        let precious = dir.path().join("precious.txt");
        std::fs::write(&precious, "keep me").unwrap();
        std::os::unix::fs::symlink(&precious, dir.path().join(LOCK_FILE)).unwrap();
        assert!(OutputLock::acquire(dir.path()).is_err());
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
    }

    #[test]
    fn a_held_folder_is_refused_naming_it_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        OutputLock::check(dir.path(), None).unwrap();
        assert!(
            !dir.path().join(LOCK_FILE).exists(),
            "check creates nothing"
        );
        let held = OutputLock::acquire(dir.path()).unwrap();
        let pid = std::process::id().to_string();
        for err in [
            OutputLock::acquire(dir.path()).unwrap_err(),
            OutputLock::check(dir.path(), None).unwrap_err(),
        ] {
            let msg = err.to_string();
            assert!(matches!(err, Error::Busy(_)), "{msg}");
            assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
            assert!(msg.contains(&pid) && msg.contains("--out"), "{msg}");
            assert!(msg.contains("wait"), "{msg}");
        }
        drop(held);
        // The lock file stays; it does not block once its holder is gone.
        assert!(dir.path().join(LOCK_FILE).exists());
        OutputLock::check(dir.path(), None).unwrap();
        drop(OutputLock::acquire(dir.path()).unwrap());

        let err = OutputLock::acquire(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn shards_share_the_folder_but_each_runs_once_and_a_whole_run_waits() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (Shard::new(1, 3).unwrap(), Shard::new(2, 3).unwrap());
        let held = OutputLock::acquire_shard(dir.path(), &one).unwrap();
        let other = OutputLock::acquire_shard(dir.path(), &two).unwrap();
        let pid = std::process::id().to_string();
        for err in [
            OutputLock::acquire_shard(dir.path(), &one).unwrap_err(),
            OutputLock::check(dir.path(), Some(&one)).unwrap_err(),
        ] {
            let msg = err.to_string();
            assert!(matches!(err, Error::Busy(_)), "{msg}");
            assert!(msg.contains("shard 1/3 of") && msg.contains(&pid), "{msg}");
        }
        // A single-machine run (or a merge) waits for every shard.
        assert!(OutputLock::acquire(dir.path()).is_err());
        drop(held);
        assert!(OutputLock::check(dir.path(), None).is_err());
        drop(other);
        let whole = OutputLock::acquire(dir.path()).unwrap();
        // And shards wait for it.
        let err = OutputLock::acquire_shard(dir.path(), &one).unwrap_err();
        assert!(err.to_string().contains(&pid), "{err}");
        drop(whole);
        drop(OutputLock::acquire_shard(dir.path(), &one).unwrap());
    }
}
