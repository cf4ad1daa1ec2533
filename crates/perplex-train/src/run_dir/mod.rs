//! The run directory: where a run leaves everything a person needs afterwards.
//!
//! ```text
//! runs/<name>/
//!   config.toml          the resolved config (overrides applied, vocab_size filled in)
//!   tokenizer.json       the tokenizer (ids are only meaningful with it)
//!   metrics.jsonl        one JSON record per log and per evaluation
//!   summary.json         how the run ended, written at the end
//!   checkpoints/best.safetensors   lowest validation loss so far
//!   checkpoints/last.safetensors   the latest weights
//!   checkpoints/state.bin          everything `--resume` needs (weights, optimizer, data order)
//! ```
//!
//! [`NewRun::claim`] claims the directory of a new run (built aside and moved into place once
//! the run has started); [`RunDir::open`] opens an existing one as an [`OpenRun`], whose
//! config and tokenizer have been read and checked, and which refuses any checkpoint or corpus
//! that was not made with its tokenizer. A [`RunLock`] keeps a second writer out.

mod lock;
mod new_run;
mod open;

use std::path::{Path, PathBuf};

use perplex_data::CorpusTokenizer;

pub use lock::RunLock;
pub use new_run::{NewRun, check_run_name};
pub use open::OpenRun;

use crate::TrainError;
use crate::config::RunConfig;
use perplex_monitor::StopReason;

use crate::summary::{RunSummary, parse_summary};

/// Which checkpoint of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "lowercase")]
pub enum CheckpointKind {
    /// The weights with the lowest validation loss.
    Best,
    /// The latest weights.
    Last,
}

impl CheckpointKind {
    /// `best` or `last` (strum derives it from the variant).
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for CheckpointKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CheckpointKind {
    type Err = perplex_monitor::UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        perplex_monitor::names::parse(s, "checkpoint")
    }
}

/// Paths inside one run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// `tokenizer.json`.
    pub fn tokenizer(&self) -> PathBuf {
        self.root.join("tokenizer.json")
    }

    /// `metrics.jsonl`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    /// `summary.json`.
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }

    /// `data_check.json`: the data hygiene report written at the start of training.
    pub fn data_check(&self) -> PathBuf {
        self.root.join("data_check.json")
    }

    /// The directory of checkpoints.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// The resumable training state.
    pub fn state(&self) -> PathBuf {
        self.checkpoints().join("state.bin")
    }

    /// One checkpoint's file.
    pub fn checkpoint(&self, kind: CheckpointKind) -> PathBuf {
        self.checkpoints().join(format!("{kind}.safetensors"))
    }

    /// Reads the run's `summary.json`; `None` when there is none (a run still going, or
    /// killed).
    pub fn read_summary(&self) -> Result<Option<RunSummary>, RunDirError> {
        let path = self.summary();
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        parse_summary(&text)
            .map(Some)
            .map_err(|source| RunDirError::BadSummary { path, source })
    }

    /// Whether the directory holds a perplex run (its `config.toml`, `metrics.jsonl` or
    /// `checkpoints/`).
    pub fn is_run(&self) -> bool {
        self.config().is_file() || self.metrics().is_file() || self.checkpoints().is_dir()
    }

    /// Opens the run at `root`: its config (validated) and tokenizer are read, and its
    /// tokenizer's fingerprint taken.
    pub fn open(root: impl Into<PathBuf>) -> Result<OpenRun, TrainError> {
        let dir = Self::new(root);
        if !dir.root.is_dir() || !dir.config().is_file() {
            return Err(RunDirError::NotARun { path: dir.root }.into());
        }
        let config = RunConfig::load(&dir.config(), &[])?;
        let tokenizer = CorpusTokenizer::load(&dir.tokenizer())?;
        let fingerprint = tokenizer.fingerprint()?;
        Ok(OpenRun {
            dir,
            config,
            tokenizer,
            fingerprint,
        })
    }
}

/// A run directory that is not what a command needs, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// A run name that is not one plain path component.
    #[error(
        "run name {name:?} is not allowed: {reason}. A run name is one plain directory name \
         under --runs-dir, such as `ptb-small-lr3e-4`"
    )]
    BadName { name: String, reason: &'static str },
    /// `--overwrite` asked to replace a directory that holds no perplex run.
    #[error(
        "{path}: not a perplex run directory (no config.toml, metrics.jsonl or checkpoints/); \
         --overwrite replaces only runs. Choose another --run-name or --runs-dir"
    )]
    NotARunToReplace { path: PathBuf },
    /// Another process is writing the run.
    #[error(
        "{path}: the run is being written by another perplex process ({holder}); wait for it to \
         finish or stop it first"
    )]
    Locked { path: PathBuf, holder: String },
    /// The lock file could not be created or locked.
    #[error("{path}: cannot lock the run: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The new run could not be moved into place.
    #[error("{from} → {to}: cannot move the new run into place: {source}")]
    Commit {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A new run's directory is taken.
    #[error(
        "{path}: the run directory already exists; continue it with --resume {path}, choose \
         another --run-name, or pass --overwrite to replace it"
    )]
    Exists { path: PathBuf },
    /// The old run could not be removed for `--overwrite`.
    #[error("{path}: cannot remove: {source}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The run directory could not be created.
    #[error("{path}: cannot create the run directory: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The directory does not exist or holds no run.
    #[error(
        "{path}: no such run directory, or not one `perplex train` wrote (it has no config.toml)"
    )]
    NotARun { path: PathBuf },
    /// The run has no saved state to resume from.
    #[error("{path}: no saved state to resume from (is this a perplex run directory?)")]
    NoState { path: PathBuf },
    /// The run already ended by itself; resuming would train past its own decision.
    #[error(
        "{path}: the run already finished ({reason} after step {steps}); start a new run instead"
    )]
    Finished {
        path: PathBuf,
        reason: StopReason,
        steps: u64,
    },
    /// `summary.json` is not a run summary.
    #[error("{path}: not a run summary: {source}")]
    BadSummary {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}
