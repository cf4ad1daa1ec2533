//! What can stop a training, evaluation or generation run, one type per concern, gathered in
//! [`TrainError`] for callers that only report.

use std::path::PathBuf;

use crate::checkpoint::CheckpointError;
use crate::config::ConfigError;
use crate::mismatch::Mismatch;
use crate::run_dir::RunDirError;

/// Everything that can stop a training, evaluation or generation run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or encoding the corpus failed.
    #[error(transparent)]
    Data(#[from] perplex_data::DataError),
    /// The config cannot make a run.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The run directory is missing, taken, or not a run.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// A checkpoint or state file could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// `metrics.jsonl`, `metrics.csv` or an event file could not be written or read.
    #[error(transparent)]
    Metrics(#[from] perplex_monitor::SinkError),
    /// A model that cannot be exported as asked.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// `train.precision` asks for a number format this machine cannot run.
    #[error("train.precision: {0}")]
    Precision(#[from] perplex_model::PrecisionError),
    /// Two things that must agree (tokenizers, model shapes) do not.
    #[error(transparent)]
    Mismatch(#[from] Mismatch),
    /// `data.tokenizer` names a file that does not exist.
    #[error(
        "{path}: no such tokenizer (data.tokenizer = {name:?}, relative to the data directory); \
         make one with `perplex tokenizer train --input {train} --kind bpe --out {path}`"
    )]
    NoTokenizer {
        path: PathBuf,
        name: PathBuf,
        train: PathBuf,
    },
    /// A file of the run directory could not be written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `data.strict` refused a corpus whose held-out text overlaps train.
    #[error("{0}; refusing to train because data.strict = true")]
    Overlap(OverlapFound),
    /// A training step would need more memory than the machine has available.
    #[error(
        "a training step of {batch} sequences needs about {needed_mib} MiB, but only \
         {available_mib} MiB are available; the largest train.batch_size that fits is \
         {largest} (or shorten model.ctx, or use a smaller model)"
    )]
    Memory {
        needed_mib: u64,
        available_mib: u64,
        batch: usize,
        largest: usize,
    },
}

impl TrainError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// The data check found more of the held-out text in train than `data.max_overlap` allows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "data check: overlap with train is past data.max_overlap = {limit_pct:.2}% ({dir}); \
     validation loss will be optimistic. Deduplicate the splits (`perplex data split` assigns \
     lines by hash) or raise data.max_overlap",
    dir = .dir.display()
)]
pub struct OverlapFound {
    /// The corpus directory.
    pub dir: PathBuf,
    /// `data.max_overlap`, percent.
    pub limit_pct: f64,
}
