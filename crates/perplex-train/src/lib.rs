//! Training perplex models.
//!
//! - [`config`]: the run's TOML config, overrides and validation;
//! - [`device`]: `--device` names to Burn devices;
//! - [`schedule`]: warmup + cosine learning rate (Burn's schedulers);
//! - [`optim`]: AdamW with 2-D-only weight decay and global gradient clipping;
//! - [`trainer`]: the loop, its metrics and checkpoints;
//! - [`evaluate`]: the exact validation pass;
//! - [`checkpoint`], [`state`] and [`run_dir`]: what a run leaves on disk;
//! - [`hygiene`]: the data check at the start of a run;
//! - [`generate`]: sampling text from a trained model;
//! - [`bench`]: timing training steps.

pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod evaluate;
pub mod generate;
pub mod hygiene;
pub mod monitoring;
pub mod optim;
pub mod run_dir;
pub mod schedule;
pub mod state;
pub mod trainer;

pub use config::{ConfigError, DataConfig, MonitorConfig, RunConfig, TrainConfig};
pub use device::{open_device, parse_device};
pub use run_dir::{CheckpointKind, RunDir};
pub use trainer::{
    Control, RunSummary, StopReason, TrainData, Trainer, corpus_tokenizer, resume, train,
};

use std::path::PathBuf;

/// Everything that can stop a training, evaluation or generation run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or encoding the corpus failed.
    #[error(transparent)]
    Data(#[from] perplex_data::DataError),
    /// The config cannot make a run.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    /// `metrics.jsonl` could not be written or read.
    #[error(transparent)]
    Metrics(#[from] perplex_monitor::metrics::MetricsError),
    /// A file of the run directory could not be written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A value is inconsistent with the data or the model.
    #[error("{0}")]
    Invalid(String),
    /// The training loss or gradient became NaN or infinite.
    #[error(
        "training stopped at step {step}: the loss or gradient norm is not finite (NaN or \
         inf); the best checkpoint is untouched. Try a lower train.lr or train.grad_clip = 1.0"
    )]
    NonFinite { step: u64 },
    /// SIGINT or SIGTERM stopped the run after saving its state.
    #[error(
        "interrupted after step {step}; the state is saved, continue with `perplex train --resume <run dir>`"
    )]
    Interrupted { step: u64 },
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
