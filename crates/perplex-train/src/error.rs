//! What can stop a training, evaluation or generation run, one type per concern, gathered in
//! [`TrainError`] for callers that only report.

use std::path::PathBuf;

use perplex_model::GptConfig;

use crate::checkpoint::CheckpointError;
use crate::config::ConfigError;
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

/// Two things that must agree and do not.
#[derive(Debug, thiserror::Error)]
pub enum Mismatch {
    /// Token ids from one tokenizer would mean other words under the other.
    #[error(
        "{what}: made with tokenizer {exp} but {other} is tokenizer {fnd}; {advice}",
        exp = short(.expected),
        fnd = short(.found)
    )]
    Tokenizer {
        /// What was made with the expected tokenizer (a checkpoint, a run's state, a run).
        what: String,
        /// sha256 of the tokenizer it was made with.
        expected: String,
        /// What holds the other tokenizer (a run's `tokenizer.json`, a corpus).
        other: String,
        /// sha256 of that tokenizer.
        found: String,
        /// What to do about it.
        advice: &'static str,
    },
    /// Saved weights do not fit the shape the config describes.
    #[error("{path}: the saved model shape {saved:?} differs from the run's config {config:?}")]
    Shape {
        path: PathBuf,
        saved: Box<GptConfig>,
        config: Box<GptConfig>,
    },
    /// The corpus gives another token stream than the run was trained on (same tokenizer,
    /// other text): its best loss and curves would mix two datasets.
    #[error(
        "{path}: the run's {split} stream was {saved_short} but this corpus gives {found_short}: \
         the same vocabulary, other text. Point --data-dir at the corpus the run was trained \
         on, or start a new run",
        saved_short = short(.saved),
        found_short = short(.found)
    )]
    Stream {
        path: PathBuf,
        split: &'static str,
        saved: String,
        found: String,
    },
    /// `model.vocab_size` is set and is not the tokenizer's size.
    #[error(
        "model.vocab_size = {configured} but the tokenizer has {tokenizer} types; remove the \
         key, it is taken from the tokenizer"
    )]
    Vocab { configured: usize, tokenizer: usize },
}

/// The first 12 hex digits of a fingerprint (enough to tell two apart in a message).
fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

/// Refuses `found` unless it is the `expected` tokenizer fingerprint.
pub fn same_tokenizer(
    what: impl Into<String>,
    expected: &str,
    other: impl Into<String>,
    found: &str,
    advice: &'static str,
) -> Result<(), Mismatch> {
    if expected == found {
        return Ok(());
    }
    Err(Mismatch::Tokenizer {
        what: what.into(),
        expected: expected.to_owned(),
        other: other.into(),
        found: found.to_owned(),
        advice,
    })
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
