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

use std::path::{Path, PathBuf};

/// Which checkpoint of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointKind {
    /// The weights with the lowest validation loss.
    Best,
    /// The latest weights.
    Last,
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
        let name = match kind {
            CheckpointKind::Best => "best.safetensors",
            CheckpointKind::Last => "last.safetensors",
        };
        self.checkpoints().join(name)
    }
}
