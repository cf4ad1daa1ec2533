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
//! [`RunDir::create`] claims the directory of a new run; [`RunDir::open`] opens an existing
//! one as an [`OpenRun`], whose config and tokenizer have been read and checked, and which
//! refuses any checkpoint or corpus that was not made with its tokenizer.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use perplex_data::{CorpusTokenizer, DataDir, Split};
use perplex_model::Gpt;

use crate::TrainError;
use crate::checkpoint::{self, CheckpointMeta};
use crate::config::RunConfig;
use crate::data::{TrainData, corpus_tokenizer};
use crate::error::same_tokenizer;
use crate::summary::{RunSummary, StopReason};

/// Which checkpoint of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointKind {
    /// The weights with the lowest validation loss.
    Best,
    /// The latest weights.
    Last,
}

impl CheckpointKind {
    /// `best` or `last`.
    pub fn name(self) -> &'static str {
        match self {
            CheckpointKind::Best => "best",
            CheckpointKind::Last => "last",
        }
    }
}

impl std::fmt::Display for CheckpointKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CheckpointKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "best" => Ok(Self::Best),
            "last" => Ok(Self::Last),
            other => Err(format!("unknown checkpoint `{other}`: use best or last")),
        }
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

    /// Claims `root` for a new run: refused when it exists, unless `overwrite`, which removes
    /// it. Nothing is created here (the run creates its directory once its data is checked).
    pub fn create(root: impl Into<PathBuf>, overwrite: bool) -> Result<Self, RunDirError> {
        let run = Self::new(root);
        if run.root.exists() {
            if !overwrite {
                return Err(RunDirError::Exists {
                    path: run.root.clone(),
                });
            }
            std::fs::remove_dir_all(&run.root).map_err(|source| RunDirError::Remove {
                path: run.root.clone(),
                source,
            })?;
        }
        Ok(run)
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

/// A run directory whose config and tokenizer have been read: everything `eval`, `generate`
/// and `train --resume` need, and the checks that its ids mean what they meant in training.
pub struct OpenRun {
    /// The directory.
    pub dir: RunDir,
    /// The run's resolved config.
    pub config: RunConfig,
    /// The run's tokenizer.
    pub tokenizer: CorpusTokenizer,
    /// sha256 of the tokenizer.
    pub fingerprint: String,
}

impl OpenRun {
    /// Loads a checkpoint onto `device`, refusing one trained with another tokenizer.
    pub fn checkpoint(
        &self,
        kind: CheckpointKind,
        device: &Device,
    ) -> Result<(Gpt, CheckpointMeta), TrainError> {
        let path = self.dir.checkpoint(kind);
        let (model, meta) = checkpoint::load(&path, device)?;
        same_tokenizer(
            path.display().to_string(),
            &meta.tokenizer_sha256,
            self.dir.tokenizer().display().to_string(),
            &self.fingerprint,
            "the ids would mean other words",
        )?;
        Ok((model, meta))
    }

    /// Refuses a corpus whose tokenizer (the one the run's config makes from it) is not the
    /// run's: its ids would mean other words, and its perplexity would not be comparable.
    pub fn check_corpus(&self, data_dir: &DataDir) -> Result<(), TrainError> {
        let train = data_dir.read_split(Split::Train)?;
        let tokenizer = corpus_tokenizer(data_dir, self.config.data(), &train)?;
        self.check_corpus_tokenizer(data_dir, &tokenizer.fingerprint()?)
    }

    /// The run's token streams from `data_dir`, refused unless the corpus gives the run's
    /// tokenizer.
    pub fn data(&self, data_dir: &DataDir) -> Result<TrainData, TrainError> {
        let data = TrainData::prepare(data_dir, self.config.data())?;
        self.check_corpus_tokenizer(data_dir, &data.tokenizer.fingerprint()?)?;
        Ok(data)
    }

    /// The run's summary, when it has one.
    pub fn summary(&self) -> Result<Option<RunSummary>, RunDirError> {
        RunSummary::read(&self.dir.summary())
    }

    fn check_corpus_tokenizer(&self, data_dir: &DataDir, found: &str) -> Result<(), TrainError> {
        same_tokenizer(
            format!("run {}", self.dir.root().display()),
            &self.fingerprint,
            format!("the corpus in {}", data_dir.root().display()),
            found,
            "this corpus's tokenizer is not the run's, and perplexity is only comparable \
             under one tokenizer. Point --data-dir (or PERPLEX_DATA_DIR) at the corpus the run \
             was trained on",
        )?;
        Ok(())
    }
}
