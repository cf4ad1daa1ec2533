//! Watching a training run: the numbers that say how it is going.
//!
//! This crate never imports Burn: it takes plain numbers (summed losses, token counts, steps)
//! and returns decisions and records, so it is fast to test and can watch any run.
//!
//! - [`nll`]: per-token negative log-likelihood and perplexity, from one sum and one count;
//! - [`schedule`]: when to validate and when to log;
//! - [`metrics`]: the records of `metrics.jsonl` and the sink that appends them;
//! - [`signals`]: the detectors that name a run's state (healthy, plateau, overfitting,
//!   leak suspected, unstable, non-finite) with their evidence;
//! - [`stopping`]: early stopping with Lightning's and Keras's knobs, plus overfitting;
//! - [`samples`]: repetition diagnostics of generated text;
//! - [`health`]: the 0–100 health score;
//! - [`history`]: a run's curves and landmarks read back from its records (for reports);
//! - [`tensorboard`]: TensorBoard event files (scalars and text), written by hand;
//! - [`watch`]: the same detectors over a log perplex did not write (JSON lines or CSV).

pub mod health;
pub mod history;
pub mod metrics;
pub mod nll;
pub mod samples;
pub mod schedule;
pub mod signals;
pub mod stopping;
pub mod tensorboard;
pub mod watch;

pub use metrics::{MetricKind, MetricRecord, MetricsSink, Reading, read_metrics};
pub use nll::NllSum;
pub use samples::{Repetition, Sample};
pub use schedule::Schedule;
pub use signals::{Detector, DetectorConfig, EvalPoint, Signal, SignalKind};
pub use stopping::{EarlyStopping, EarlyStoppingConfig, StopCause, StopDecision};
