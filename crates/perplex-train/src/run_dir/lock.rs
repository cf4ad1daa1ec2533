//! One writer per run: an advisory lock on `.<name>.lock` beside the run directory, held by
//! `perplex train` (new or resumed) for the life of the run.
//!
//! The lock is the operating system's (`flock` on Unix, `LockFileEx` on Windows, through
//! `std::fs::File::try_lock`), so a killed process never leaves it held: the file stays, with
//! the last holder's description, but nothing blocks on it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::RunDirError;

/// A held lock on one run; released when dropped (or when the process ends, however).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Locks the run whose directory is (or will be) `root`, creating its parent directory if
    /// needed; refused, naming the holder, when another process holds it.
    pub fn acquire(root: &Path) -> Result<Self, RunDirError> {
        let path = lock_path(root);
        let err = |source| RunDirError::Lock {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(RunDirError::Locked {
                    path: root.to_owned(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(err(e)),
        }
        let me = format!(
            "pid {} since {} (unix seconds), `{}`",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            std::env::args().collect::<Vec<_>>().join(" ")
        );
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(me.as_bytes()))
            .and_then(|_| file.flush())
            .map_err(err)?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `.<name>.lock` beside the run directory `root`.
fn lock_path(root: &Path) -> PathBuf {
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    root.with_file_name(format!(".{name}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_run_is_refused_naming_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("runs/a");
        let held = RunLock::acquire(&root).unwrap();
        assert!(held.path().ends_with("runs/.a.lock"));
        let err = RunLock::acquire(&root).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(held);
        RunLock::acquire(&root).expect("free again once dropped");
    }
}
