//! Training perplex models.
//!
//! - [`config`]: the run's TOML config, overrides and validation;
//! - [`data`] and [`data_check`]: the token streams of a run and the hygiene check at its start;
//! - [`device`]: `--device` names to Burn devices;
//! - [`lr_find`]: the learning-rate range test (`perplex lr-find`);
//! - [`lr_schedule`]: warmup + cosine learning rate (Burn's schedulers);
//! - [`optim`]: AdamW with 2-D-only weight decay and global gradient clipping;
//! - [`trainer`]: one optimizer step;
//! - [`progress`]: what a run has measured so far (best, timers, the monitor), saved with it;
//! - [`run`]: the training loop, its evaluations, checkpoints, events and resume;
//! - [`evaluate`]: the exact validation pass;
//! - [`checkpoint`], [`state`], [`run_dir`], [`summary`]: what a run leaves on disk;
//! - [`generate`]: sampling text from a trained model.
//!
//! Timing steps (`perplex bench`) lives in the binary: what users link holds no benchmark.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod data_check;
pub mod device;
pub mod error;
pub mod evaluate;
pub mod export;
pub mod generate;
pub mod lr_find;
pub mod lr_schedule;
pub mod memory;
pub mod mismatch;
pub mod optim;
pub mod progress;
pub mod run;
pub mod run_dir;
pub mod state;
pub mod summary;
pub mod trainer;

pub use config::{ConfigError, RunConfig};
pub use data::TrainData;
pub use device::{open_device, parse_device};
pub use error::{OverlapFound, TrainError};
pub use mismatch::Mismatch;
pub use perplex_monitor::{StopDecision, StopReason};
pub use run::{Control, resume, train};
pub use run_dir::{CheckpointKind, NewRun, OpenRun, RunDir, RunDirError, RunLock};
pub use summary::RunSummary;
