//! A new run's directory: claimed under its lock, built aside in `.<name>.partial`, and moved
//! into place only once the run has started, so a run that fails to start leaves nothing
//! behind and `--overwrite` loses the old run only to a new one that is running.

use std::path::{Component, Path, PathBuf};

use perplex_data::{Corpus, DataDir};

use super::{RunDir, RunDirError, RunLock};
use crate::TrainError;
use crate::config::RunConfig;
use crate::data::TrainData;
use crate::data_check::{check_data, save_data_check};

/// Refuses a run name that is not one plain path component: empty, `.`, `..`, a path with a
/// separator, or a name starting with a dot (those are perplex's own lock and staging files).
pub fn check_run_name(name: &str) -> Result<(), RunDirError> {
    let bad = |reason| {
        Err(RunDirError::BadName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.contains(['/', '\\', '\0']) {
        return bad("it contains a path separator");
    }
    if name.starts_with('.') {
        return bad("it starts with a dot");
    }
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) => Ok(()),
        _ => bad("it is not a plain directory name"),
    }
}

/// The directory of a run that has not started yet.
#[derive(Debug)]
pub struct NewRun {
    root: RunDir,
    staging: RunDir,
    replaces: bool,
    committed: bool,
    lock: Option<RunLock>,
}

impl NewRun {
    /// Claims `runs_dir/name` for a new run, under the run's lock. An existing directory is
    /// refused unless `overwrite`, and then only when it holds a perplex run. Nothing is
    /// removed or created here but the lock file and an empty staging directory.
    pub fn claim(runs_dir: &Path, name: &str, overwrite: bool) -> Result<Self, RunDirError> {
        check_run_name(name)?;
        let root = RunDir::new(runs_dir.join(name));
        let lock = RunLock::acquire(root.root())?;
        if root.root().exists() {
            if !overwrite {
                return Err(RunDirError::Exists {
                    path: root.root().to_owned(),
                });
            }
            if !root.is_run() {
                return Err(RunDirError::NotARunToReplace {
                    path: root.root().to_owned(),
                });
            }
        }
        let staging = RunDir::new(runs_dir.join(format!(".{name}.partial")));
        // A staging directory left by a start that was killed: ours now, under the lock.
        if staging.root().exists() {
            std::fs::remove_dir_all(staging.root()).map_err(|source| RunDirError::Remove {
                path: staging.root().to_owned(),
                source,
            })?;
        }
        std::fs::create_dir_all(staging.checkpoints()).map_err(|source| RunDirError::Create {
            path: staging.root().to_owned(),
            source,
        })?;
        Ok(Self {
            replaces: root.root().exists(),
            root,
            staging,
            committed: false,
            lock: Some(lock),
        })
    }

    /// Where the run is built until it starts.
    pub fn staging(&self) -> &RunDir {
        &self.staging
    }

    /// Everything the new run needs before its first step: reads the corpus in `dir` once,
    /// makes the tokenizer and the streams, runs the data check (refusing a leaky corpus
    /// under `data.strict`), and writes the check into the staging directory.
    pub fn data(&self, dir: &DataDir, config: &RunConfig) -> Result<TrainData, TrainError> {
        let corpus: Corpus = dir.read_all()?;
        let data = TrainData::from_lines(dir, config.data(), &corpus.train, &corpus.valid)?;
        let check = check_data(dir, &corpus, &data.tokenizer, config.data())?;
        save_data_check(&self.staging.data_check(), &check)?;
        Ok(data)
    }

    /// Where the run will live.
    pub fn root(&self) -> &RunDir {
        &self.root
    }

    /// The run has started: moves it into place (the old run it replaces, if any, is moved
    /// aside first and removed last), and hands over the directory and the lock, which the
    /// caller holds for the life of the run.
    pub fn commit(mut self) -> Result<(RunDir, RunLock), RunDirError> {
        let root = self.root.root().to_owned();
        let aside = root.with_file_name(format!(
            ".{}.replaced",
            root.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ));
        if self.replaces {
            rename(&root, &aside)?;
        }
        rename(self.staging.root(), &root)?;
        self.committed = true;
        if self.replaces {
            std::fs::remove_dir_all(&aside).map_err(|source| RunDirError::Remove {
                path: aside.clone(),
                source,
            })?;
        }
        let lock = self.lock.take().expect("a claimed run holds its lock");
        Ok((self.root.clone(), lock))
    }
}

impl Drop for NewRun {
    /// A run that never started leaves nothing behind.
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(self.staging.root());
        }
    }
}

fn rename(from: &Path, to: &PathBuf) -> Result<(), RunDirError> {
    std::fs::rename(from, to).map_err(|source| RunDirError::Commit {
        from: from.to_owned(),
        to: to.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_are_one_plain_component() {
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "/abs", ".hidden"] {
            assert!(check_run_name(bad).is_err(), "{bad:?} was accepted");
        }
        for good in ["ptb-small", "lr3e-4_seed2", "run.v2"] {
            check_run_name(good).unwrap();
        }
    }

    #[test]
    fn a_claim_that_never_starts_leaves_nothing_and_the_old_run_intact() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let old = runs.join("a");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("config.toml"), "old").unwrap();
        let claim = NewRun::claim(&runs, "a", true).unwrap();
        assert!(claim.staging().root().is_dir());
        drop(claim);
        assert!(!runs.join(".a.partial").exists());
        assert_eq!(
            std::fs::read_to_string(old.join("config.toml")).unwrap(),
            "old"
        );
        // Committed, the new run replaces the old one whole.
        let claim = NewRun::claim(&runs, "a", true).unwrap();
        std::fs::write(claim.staging().config(), "new").unwrap();
        let (run, _lock) = claim.commit().unwrap();
        assert_eq!(std::fs::read_to_string(run.config()).unwrap(), "new");
        assert!(!runs.join(".a.replaced").exists() && !runs.join(".a.partial").exists());
    }

    #[test]
    fn only_a_perplex_run_is_overwritten_and_never_without_asking() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("photos")).unwrap();
        let err = NewRun::claim(dir.path(), "photos", true).unwrap_err();
        assert!(matches!(err, RunDirError::NotARunToReplace { .. }), "{err}");
        let err = NewRun::claim(dir.path(), "photos", false).unwrap_err();
        assert!(matches!(err, RunDirError::Exists { .. }), "{err}");
        assert!(dir.path().join("photos").is_dir());
    }
}
